// sse/impl/broadcast.hpp - bodies of sse/broadcast.hpp (included by impl/namespace.hpp).
#ifndef SSE_IMPL_BROADCAST_HPP
#define SSE_IMPL_BROADCAST_HPP

#include <algorithm>

namespace sse {

// ---- broadcast_operator ----------------------------------------------------------------

inline broadcast_operator broadcast_operator::to(std::string_view room) const& {
    return broadcast_operator(*this).to(room);
}
inline broadcast_operator broadcast_operator::to(std::string_view room) && {
    validate_room_name(room);
    if (std::find(rooms_.begin(), rooms_.end(), room) == rooms_.end()) rooms_.emplace_back(room);
    return std::move(*this);
}
inline broadcast_operator broadcast_operator::to(std::initializer_list<std::string_view> rooms) && {
    for (auto r : rooms)
        *this = std::move(*this).to(r);
    return std::move(*this);
}
inline broadcast_operator broadcast_operator::except(std::string_view room) const& {
    return broadcast_operator(*this).except(room);
}
inline broadcast_operator broadcast_operator::except(std::string_view room) && {
    validate_room_name(room);
    if (std::find(except_.begin(), except_.end(), room) == except_.end())
        except_.emplace_back(room);
    return std::move(*this);
}
inline broadcast_operator
broadcast_operator::except(std::initializer_list<std::string_view> rooms) && {
    for (auto r : rooms)
        *this = std::move(*this).except(r);
    return std::move(*this);
}

inline void broadcast_operator::emit(std::string_view event, nlohmann::json const& data) const {
    emit_encoded(encoded_event::make(event, data));
}
inline void broadcast_operator::emit(std::string_view event, text data) const {
    emit_encoded(encoded_event::make(event, data));
}
inline void broadcast_operator::emit_encoded(std::shared_ptr<encoded_event> ev) const {
    if (auto ns = ns_.lock()) ns->emit_event(rooms_, except_, std::move(ev));
}

} // namespace sse

#endif
