// sse/impl/error.hpp - the error categories of sse/error.hpp.
#ifndef SSE_IMPL_ERROR_HPP
#define SSE_IMPL_ERROR_HPP

namespace sse {
namespace detail {

class error_category_impl final : public std::error_category {
public:
    char const* name() const noexcept override { return "sse"; }
    std::string message(int ev) const override {
        switch (static_cast<error>(ev)) {
        case error::peer_closed:
            return "the client closed the stream";
        case error::disconnected:
            return "the application disconnected the client";
        case error::server_closed:
            return "the server was closed";
        case error::slow_consumer:
            return "the client read too slowly (queue limit passed)";
        case error::write_failed:
            return "writing to the client failed";
        case error::rejected:
            return "the client was refused before admission";
        case error::protocol_violation:
            return "the client sent data the stream does not allow";
        case error::handler_failed:
            return "an on_connection handler threw";
        }
        return "sse error";
    }
    std::error_condition default_error_condition(int ev) const noexcept override {
        switch (static_cast<error>(ev)) {
        case error::peer_closed:
        case error::write_failed:
        case error::protocol_violation:
            return make_error_condition(condition::peer_gone);
        case error::slow_consumer:
            return make_error_condition(condition::overloaded);
        case error::disconnected:
        case error::server_closed:
        case error::rejected:
        case error::handler_failed:
            return make_error_condition(condition::closed_by_server);
        }
        return {ev, *this};
    }
};

class condition_category_impl final : public std::error_category {
public:
    char const* name() const noexcept override { return "sse.condition"; }
    std::string message(int ev) const override {
        switch (static_cast<condition>(ev)) {
        case condition::peer_gone:
            return "the client went away";
        case condition::overloaded:
            return "the client could not keep up";
        case condition::closed_by_server:
            return "the server ended the stream";
        }
        return "sse condition";
    }
};

} // namespace detail

inline std::error_category const& error_category() noexcept {
    static detail::error_category_impl const instance;
    return instance;
}
inline std::error_category const& condition_category() noexcept {
    static detail::condition_category_impl const instance;
    return instance;
}

} // namespace sse

#endif
