// sse/impl/event.hpp - bodies of sse/event.hpp.
#ifndef SSE_IMPL_EVENT_HPP
#define SSE_IMPL_EVENT_HPP

#include <cstring>

namespace sse {

inline bool is_valid_utf8(std::string_view s) noexcept {
    auto const* p = reinterpret_cast<unsigned char const*>(s.data());
    auto const* const end = p + s.size();
    while (p < end) {
        unsigned char c = *p;
        if (c < 0x80) {
            ++p;
            continue;
        }
        std::size_t len;
        std::uint32_t cp;
        if ((c & 0xE0) == 0xC0) {
            len = 2;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3;
            cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (static_cast<std::size_t>(end - p) < len) return false;
        for (std::size_t i = 1; i < len; ++i) {
            if ((p[i] & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (p[i] & 0x3F);
        }
        // Overlong forms, UTF-16 surrogates and code points past U+10FFFF are not UTF-8.
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
            return false;
        p += len;
    }
    return true;
}

namespace detail {

inline void validate_field(std::string_view value, char const* what, bool allow_empty) {
    auto fail = [&](char const* why) {
        throw std::invalid_argument(std::string("[sse.invalid_") + what + "] " + what + " " + why);
    };
    if (value.empty() && !allow_empty) fail("must not be empty");
    if (value.size() > max_name_length) fail("is longer than sse::max_name_length bytes");
    if (value.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos)
        fail("must not contain CR, LF or NUL (they would break the event stream)");
    if (!is_valid_utf8(value)) fail("is not valid UTF-8");
}

inline char* write_decimal(char* end, std::uint64_t v) noexcept {
    do {
        *--end = static_cast<char>('0' + v % 10);
        v /= 10;
    } while (v != 0);
    return end;
}

} // namespace detail

inline void validate_event_name(std::string_view name) {
    detail::validate_field(name, "event_name", false);
}
inline void validate_room_name(std::string_view room) {
    detail::validate_field(room, "room_name", false);
}
inline void validate_event_id(std::string_view id) {
    detail::validate_field(id, "event_id", true);
}

inline void encoded_event::begin_body(std::string_view name, std::size_t data_size_hint) {
    buffer_.reserve(id_headroom + 8 + name.size() + 8 + data_size_hint + 8);
    buffer_.assign(id_headroom, ' ');
    begin_ = body_begin_ = static_cast<std::uint32_t>(id_headroom);
    if (!name.empty()) {
        buffer_ += "event: ";
        name_begin_ = static_cast<std::uint32_t>(buffer_.size());
        name_size_ = static_cast<std::uint32_t>(name.size());
        buffer_ += name;
        buffer_ += '\n';
    }
}

inline void encoded_event::append_data_lines(std::string_view data) {
    // One `data:` line per line of input; CR, LF and CRLF all end a line (WHATWG).
    std::size_t start = 0;
    for (;;) {
        std::size_t eol = data.find_first_of("\r\n", start);
        buffer_ += "data: ";
        buffer_.append(data.data() + start,
                       (eol == std::string_view::npos ? data.size() : eol) - start);
        buffer_ += '\n';
        if (eol == std::string_view::npos) break;
        start = eol + 1;
        if (data[eol] == '\r' && start < data.size() && data[start] == '\n') ++start;
    }
    buffer_ += '\n';
}

inline std::shared_ptr<encoded_event> encoded_event::make(std::string_view name,
                                                          const nlohmann::json& data) {
    validate_event_name(name);
    // Serialize once; the JSON text has no raw line breaks, so it is a single data line.
    // nlohmann_json refuses a string that is not UTF-8 only while dumping (type_error 316):
    // that becomes the same error as for text data, at the emit call, before anything queues.
    std::string json;
    try {
        json = data.dump();
    } catch (nlohmann::json::type_error const&) {
        throw std::invalid_argument(
            "[sse.invalid_data] event data holds a JSON string that is not valid UTF-8");
    }
    std::shared_ptr<encoded_event> e(new encoded_event());
    e->begin_body(name, json.size());
    e->buffer_ += "data: ";
    e->buffer_ += json;
    e->buffer_ += "\n\n";
    return e;
}

inline std::shared_ptr<encoded_event> encoded_event::make(std::string_view name, text data) {
    validate_event_name(name);
    if (!is_valid_utf8(data.value))
        throw std::invalid_argument("[sse.invalid_data] event data is not valid UTF-8");
    if (data.value.find('\0') != std::string_view::npos)
        throw std::invalid_argument("[sse.invalid_data] event data must not contain NUL");
    std::shared_ptr<encoded_event> e(new encoded_event());
    e->begin_body(name, data.value.size());
    e->append_data_lines(data.value);
    return e;
}

inline std::string encoded_event::data() const {
    std::string out;
    bool first = true;
    auto rest = body();
    while (!rest.empty()) {
        auto const eol = rest.find('\n');
        auto const line = rest.substr(0, eol);
        rest = eol == std::string_view::npos ? std::string_view() : rest.substr(eol + 1);
        if (line.substr(0, 5) != "data:") continue;
        auto value = line.substr(5);
        if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
        if (!first) out += '\n';
        out.append(value.data(), value.size());
        first = false;
    }
    return out;
}

inline std::shared_ptr<encoded_event> encoded_event::from_body(std::string_view name,
                                                               std::string_view body) {
    std::shared_ptr<encoded_event> e(new encoded_event());
    e->buffer_.reserve(id_headroom + body.size());
    e->buffer_.assign(id_headroom, ' ');
    e->begin_ = e->body_begin_ = static_cast<std::uint32_t>(id_headroom);
    e->buffer_ += body;
    // The name is a view into the body's "event: " line when there is one.
    constexpr std::string_view prefix = "event: ";
    if (!name.empty() && body.substr(0, prefix.size()) == prefix &&
        body.substr(prefix.size(), name.size()) == name) {
        e->name_begin_ = static_cast<std::uint32_t>(id_headroom + prefix.size());
        e->name_size_ = static_cast<std::uint32_t>(name.size());
    }
    return e;
}

inline std::shared_ptr<encoded_event> encoded_event::raw(std::string bytes) {
    std::shared_ptr<encoded_event> e(new encoded_event());
    e->buffer_ = std::move(bytes);
    return e;
}

inline void encoded_event::stamp(std::uint64_t id) noexcept {
    if (body_begin_ < 8) return; // raw bytes have no headroom and take no id
    char digits[24];
    char* const end = digits + sizeof(digits);
    char* first = detail::write_decimal(end, id);
    std::size_t n = static_cast<std::size_t>(end - first);
    std::size_t line = 4 + n + 1; // "id: " digits "\n"
    std::size_t at = body_begin_ - line;
    std::memcpy(&buffer_[at], "id: ", 4);
    std::memcpy(&buffer_[at + 4], first, n);
    buffer_[at + 4 + n] = '\n';
    begin_ = static_cast<std::uint32_t>(at);
    id_ = id;
}

} // namespace sse

#endif
