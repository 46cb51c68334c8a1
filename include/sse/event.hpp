// sse/event.hpp - the wire encoding of one Server-Sent Event (pure, no I/O).
//
// An event is encoded once, per emit, into immutable bytes that every recipient shares:
//
//     id: 42\n
//     event: score_update\n
//     data: {"homeScore":2}\n
//     \n
//
// See https://html.spec.whatwg.org/multipage/server-sent-events.html#parsing-an-event-stream
#ifndef SSE_EVENT_HPP
#define SSE_EVENT_HPP

#include <sse/detail/config.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>

namespace sse {

/// Raw text to send as an event's data, instead of JSON.
///
/// Line breaks (`\n`, `\r\n`, `\r`) split the text over several `data:` lines, which a browser
/// joins back with `\n`. The text must be valid UTF-8.
struct text {
    // A template, so that a braced JSON initializer such as {{"a", 1}} never picks this type.
    template <class S, std::enable_if_t<std::is_convertible_v<S const&, std::string_view>, int> = 0>
    explicit text(S const& s) noexcept
        : value(s) {}
    std::string_view value;
};

/// Longest event name, id or room name accepted (bytes).
inline constexpr std::size_t max_name_length = 256;

/// Whether `s` is well-formed UTF-8 (no overlongs, no surrogates, nothing past U+10FFFF).
bool is_valid_utf8(std::string_view s) noexcept;

/// Throws `std::invalid_argument` ("[sse.invalid_event_name] ...") unless `name` is a usable
/// event name: 1..max_name_length bytes of UTF-8 without CR, LF or NUL.
void validate_event_name(std::string_view name);

/// Throws `std::invalid_argument` ("[sse.invalid_room_name] ...") unless `room` is 1..
/// max_name_length bytes of UTF-8 without CR, LF or NUL.
void validate_room_name(std::string_view room);

/// Throws `std::invalid_argument` ("[sse.invalid_event_id] ...") unless `id` may be written as
/// an `id:` field: at most max_name_length bytes of UTF-8 without CR, LF or NUL.
void validate_event_id(std::string_view id);

/** One event, encoded once and shared by every recipient.

    The bytes are laid out with room in front for the `id:` line, which the namespace writes
    (`stamp`) just before delivery, under the lock that orders its emits. After stamping the
    object is never modified again, so any number of clients may write it concurrently.
*/
class encoded_event {
public:
    /// Room kept in front of the body for "id: <20 digits>\n".
    static constexpr std::size_t id_headroom = 32;

    /// Encodes `event: name` and `data:` lines from JSON (serialized once, here).
    /// @throws std::invalid_argument on a bad name, or on data holding a string that is not
    /// UTF-8 (`[sse.invalid_data]`).
    static std::shared_ptr<encoded_event> make(std::string_view name, const nlohmann::json& data);

    /// Encodes `event: name` and one `data:` line per line of `data`.
    /// @throws std::invalid_argument on a bad name or data that is not UTF-8.
    static std::shared_ptr<encoded_event> make(std::string_view name, text data);

    /// Wraps an already encoded body (event and data lines and the blank line, no id),
    /// e.g. one received from another node. The body is trusted to be well formed.
    static std::shared_ptr<encoded_event> from_body(std::string_view name, std::string_view body);

    /// Wraps bytes that are sent exactly as given (comments, retry fields, HTTP headers).
    static std::shared_ptr<encoded_event> raw(std::string bytes);

    /// Writes the `id:` line in front of the body. Called once, before the event is shared.
    void stamp(std::uint64_t id) noexcept;

    /// The bytes to put on the wire (id line included once stamped).
    std::string_view wire() const noexcept { return std::string_view(buffer_).substr(begin_); }
    /// The event and data lines and the terminating blank line, without the id line.
    std::string_view body() const noexcept { return std::string_view(buffer_).substr(body_begin_); }
    /// The event name ("" for raw bytes).
    std::string_view name() const noexcept {
        return std::string_view(buffer_).substr(name_begin_, name_size_);
    }
    /// The id stamped on this event, 0 when none.
    std::uint64_t id() const noexcept { return id_; }
    /// The data as emitted, as a browser's `event.data` has it: the `data:` lines of the
    /// body joined by '\n' (line breaks in text data come back as '\n'). O(size): for taps
    /// and tools, not the delivery path.
    std::string data() const;

    /// Which queued events a newer one may replace under the conflate policy: events with the
    /// same key (same event name, same target rooms). 0 = never replaced.
    std::uint64_t conflation_key() const noexcept { return conflation_key_; }
    void set_conflation_key(std::uint64_t key) noexcept { conflation_key_ = key; }

    /// When the event was emitted on this node (steady clock; set by the namespace under its
    /// emit lock, before the event is shared), or the epoch for bytes that were never emitted
    /// (heartbeats, resets). A write measures its latency from it (sse/metrics.hpp).
    std::chrono::steady_clock::time_point emitted_at() const noexcept {
        return std::chrono::steady_clock::time_point(std::chrono::steady_clock::duration(emitted_));
    }
    void set_emitted_at(std::chrono::steady_clock::time_point t) noexcept {
        emitted_ = t.time_since_epoch().count();
    }

private:
    encoded_event() = default;
    void begin_body(std::string_view name, std::size_t data_size_hint);
    void append_data_lines(std::string_view data);

    std::string buffer_;
    std::uint32_t begin_ = 0;
    std::uint32_t body_begin_ = 0;
    std::uint32_t name_begin_ = 0;
    std::uint32_t name_size_ = 0;
    std::uint64_t id_ = 0;
    std::uint64_t conflation_key_ = 0;
    std::chrono::steady_clock::rep emitted_ = 0;
};

/// A shared, immutable encoded event.
using event_ptr = std::shared_ptr<const encoded_event>;

} // namespace sse

#include <sse/impl/event.hpp>

#endif
