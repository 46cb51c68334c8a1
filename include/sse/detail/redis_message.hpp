// sse/detail/redis_message.hpp - the message one node publishes to the others, and the Redis
// channel names it travels on (pure, no I/O).
//
// Wire layout, version 1 (all integers unsigned; "varint" is LEB128, at most 10 bytes):
//
//     "sse"            3 bytes, magic: anything else on our channels is foreign
//     version          1 byte: the kind, 0x01 for an emit; 0x82 for an emit of a namespace
//                      with shared history; 0x83 for a notice that the origin lost emits to
//                      these rooms; 0x88 for a channel's mark, always numbered (0x8c):
//                      the origin's last message on that channel was this number
//                      (detail/redis_channel_marks.hpp) (0x81, from builds where Redis
//                      assigned the ids, is refused). Bit 0x04 set: a channel number follows
//                      the sequence (0x05, 0x86, 0x87, 0x8c: what this build writes; it reads
//                      both forms)
//     sequence         8 bytes little-endian: per origin node, +1 per emit (dedup and order)
//     channel number   8 bytes little-endian, only with bit 0x04: per origin and channel,
//                      +1 per message published on that channel (a receiver sees what pub/sub
//                      lost, detail/redis_channel_sequence.hpp); 0 in a stored copy
//     event id         varint: the id the origin stamped. In a 0x01 message for diagnostics
//                      (receivers stamp their own); in a 0x82 message the event's id on every
//                      node (detail/hybrid_id.hpp)
//     origin           varint length + bytes: the publishing node's id
//     namespace        varint length + bytes
//     rooms            varint count, then per room varint length + bytes; 0 = whole namespace
//     except           varint count, then per room varint length + bytes
//     body             every remaining byte: the SSE event without its id line,
//                      "event: <name>\n" then one or more "data: ...\n" lines then "\n"
//
// The event name is not repeated: it is the body's first line. The sequence and the channel
// number sit at fixed offsets so that a message can be encoded outside the publisher's lock
// and numbered under it, and the Lua script can write each channel's number into its copy.
//
// Decoding is total: any bytes give either a message or a `decode_status` saying why not. The
// body is checked to be exactly the shape the encoder writes (UTF-8, no CR or NUL, no field but
// `event` and `data`, one blank line at its end), because it is sent to browsers unchanged: a
// forged message must not be able to inject `id:`/`retry:` fields or extra events.
#ifndef SSE_DETAIL_REDIS_MESSAGE_HPP
#define SSE_DETAIL_REDIS_MESSAGE_HPP

#include <sse/event.hpp>

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace sse::detail {

/// Current version of the wire layout.
inline constexpr std::uint8_t redis_message_version = 1;
/// The version byte of an emit whose id the origin assigned for every node (shared history).
inline constexpr std::uint8_t redis_message_shared_id_version = 0x82;
/// The version byte of a notice: emits of the origin to these rooms (none: the whole
/// namespace) were lost before Redis had them; receivers reset those clients. Same layout.
inline constexpr std::uint8_t redis_message_lost_version = 0x83;
/// The version byte of a channel's mark: the origin's last message on the channel it comes
/// on had this channel number, sequence and event id. Body: `event: mark`, `data: shared` for
/// a namespace with shared history, `data: local` otherwise. Same layout, always numbered.
inline constexpr std::uint8_t redis_message_mark_version = 0x88;
/// Version bit: the message carries a channel number.
inline constexpr std::uint8_t redis_message_numbered = 0x04;
/// Offset of the 8-byte sequence number in an encoded message.
inline constexpr std::size_t redis_message_sequence_offset = 4;
/// Offset of the 8-byte channel number (in a numbered message).
inline constexpr std::size_t redis_message_channel_number_offset = 12;
/// Longest origin id and namespace name accepted when decoding.
inline constexpr std::size_t redis_message_max_origin = 256;
inline constexpr std::size_t redis_message_max_nsp = 4096;

/// A decoded message. Views point into the decoded bytes.
struct redis_message {
    std::uint8_t version = 0; ///< the kind (0x01, 0x82, 0x83, 0x88), without the numbered bit
    bool numbered = false;    ///< whether it carried a channel number
    std::uint64_t sequence = 0;
    std::uint64_t channel_number = 0; ///< 0: none
    std::uint64_t event_id = 0;
    std::string_view origin;
    std::string_view nsp;
    std::vector<std::string> rooms; ///< empty: the whole namespace
    std::vector<std::string> except;
    std::string_view event; ///< the event name (from the body's first line)
    std::string_view body;  ///< as `encoded_event::body()`: no id line
};

/// Why bytes did not decode.
enum class decode_status {
    ok,
    foreign,             ///< not our magic: someone else's message on our channel
    unsupported_version, ///< our magic, a version this build does not know
    truncated,           ///< a length or count runs past the end
    bad_varint,          ///< a varint longer than 10 bytes or past 64 bits
    bad_origin,          ///< empty or too long origin id
    bad_namespace,       ///< empty, too long, not UTF-8, or CR/LF/NUL in the namespace
    bad_room,            ///< a room (or except room) that is not a valid room name
    bad_body             ///< the body is not a single well-formed event
};

/// A short description of `s` for logs and counters.
inline char const* to_string(decode_status s) noexcept {
    switch (s) {
    case decode_status::ok:
        return "ok";
    case decode_status::foreign:
        return "foreign message (no sse magic)";
    case decode_status::unsupported_version:
        return "unsupported message version";
    case decode_status::truncated:
        return "truncated message";
    case decode_status::bad_varint:
        return "bad varint";
    case decode_status::bad_origin:
        return "bad origin id";
    case decode_status::bad_namespace:
        return "bad namespace";
    case decode_status::bad_room:
        return "bad room name";
    case decode_status::bad_body:
        return "bad event body";
    }
    return "unknown";
}

namespace redis_message_impl {

inline void put_varint(std::string& out, std::uint64_t v) {
    while (v >= 0x80) {
        out += static_cast<char>(static_cast<unsigned char>(v | 0x80));
        v >>= 7;
    }
    out += static_cast<char>(static_cast<unsigned char>(v));
}

inline std::size_t varint_size(std::uint64_t v) noexcept {
    std::size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        ++n;
    }
    return n;
}

inline void put_bytes(std::string& out, std::string_view s) {
    put_varint(out, s.size());
    out.append(s.data(), s.size());
}

// A cursor over untrusted bytes; every read is bounds-checked.
struct reader {
    std::string_view in;
    std::size_t pos = 0;

    std::size_t left() const noexcept { return in.size() - pos; }

    decode_status varint(std::uint64_t& v) noexcept {
        v = 0;
        for (unsigned shift = 0, i = 0; i < 10; ++i, shift += 7) {
            if (pos >= in.size()) return decode_status::truncated;
            auto b = static_cast<unsigned char>(in[pos++]);
            // The 10th byte may only carry the top bit of a 64-bit value.
            if (i == 9 && b > 1) return decode_status::bad_varint;
            v |= static_cast<std::uint64_t>(b & 0x7F) << shift;
            if ((b & 0x80) == 0) return decode_status::ok;
        }
        return decode_status::bad_varint;
    }

    decode_status bytes(std::string_view& s) noexcept {
        std::uint64_t n = 0;
        if (auto st = varint(n); st != decode_status::ok) return st;
        if (n > left()) return decode_status::truncated;
        s = in.substr(pos, static_cast<std::size_t>(n));
        pos += static_cast<std::size_t>(n);
        return decode_status::ok;
    }
};

// is_valid_utf8 with an ASCII fast path: 8 bytes at a time until a byte has its top bit set,
// then the exact check from there (an all-ASCII prefix ends on a character boundary).
inline bool valid_utf8(std::string_view s) noexcept {
    std::size_t i = 0;
    for (; i + 8 <= s.size(); i += 8) {
        std::uint64_t w;
        std::memcpy(&w, s.data() + i, 8);
        if ((w & 0x8080808080808080ull) != 0) break;
    }
    return is_valid_utf8(s.substr(i));
}

inline bool no_line_breaks_or_nul(std::string_view s) noexcept {
    return s.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

inline bool valid_room(std::string_view r) noexcept {
    return !r.empty() && r.size() <= max_name_length && no_line_breaks_or_nul(r) && valid_utf8(r);
}

inline decode_status rooms(reader& rd, std::vector<std::string>& out) {
    std::uint64_t count = 0;
    if (auto st = rd.varint(count); st != decode_status::ok) return st;
    // Each room takes at least two bytes (length and one character): a count beyond that is a
    // lie, refused before reserving anything.
    if (count > rd.left() / 2) return decode_status::truncated;
    out.clear();
    out.reserve(static_cast<std::size_t>(count));
    for (std::uint64_t i = 0; i < count; ++i) {
        std::string_view r;
        if (auto st = rd.bytes(r); st != decode_status::ok) return st;
        if (!valid_room(r)) return decode_status::bad_room;
        out.emplace_back(r);
    }
    return decode_status::ok;
}

// Checks that `body` is `event: NAME\n` then one or more `data: ...\n` lines then `\n`,
// and returns NAME.
inline bool parse_body(std::string_view body, std::string_view& name) noexcept {
    if (!valid_utf8(body)) return false;
    // Two memchr passes beat one find_first_of loop.
    if (body.find('\r') != std::string_view::npos || body.find('\0') != std::string_view::npos)
        return false;
    constexpr std::string_view event_field = "event: ";
    constexpr std::string_view data_field = "data:";
    if (body.substr(0, event_field.size()) != event_field) return false;
    std::size_t eol = body.find('\n');
    if (eol == std::string_view::npos) return false;
    name = body.substr(event_field.size(), eol - event_field.size());
    if (name.empty() || name.size() > max_name_length) return false;
    std::size_t pos = eol + 1;
    std::size_t data_lines = 0;
    for (;;) {
        if (pos >= body.size()) return false; // no blank line at the end
        eol = body.find('\n', pos);
        if (eol == std::string_view::npos) return false;
        std::string_view line = body.substr(pos, eol - pos);
        pos = eol + 1;
        if (line.empty()) break; // the blank line ends the event
        if (line.substr(0, data_field.size()) != data_field) return false;
        ++data_lines;
    }
    return data_lines > 0 && pos == body.size();
}

inline void put_u64_at(std::string& out, std::size_t at, std::uint64_t v) noexcept {
    if (out.size() < at + 8) return;
    for (std::size_t i = 0; i < 8; ++i)
        out[at + i] = static_cast<char>((v >> (8 * i)) & 0xFF);
}
inline std::uint64_t get_u64_at(std::string_view in, std::size_t at) noexcept {
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < 8; ++i)
        v |= static_cast<std::uint64_t>(static_cast<unsigned char>(in[at + i])) << (8 * i);
    return v;
}

} // namespace redis_message_impl

/** Encodes one emit. The sequence and the channel number are written as 0; set them with
    `set_redis_message_sequence` and `set_redis_message_channel_number`.

    @param body The event as `encoded_event::body()` gives it (event and data lines, blank line).
    @param kind redis_message_version, redis_message_shared_id_version,
                redis_message_lost_version or redis_message_mark_version.
    @param numbered Whether to leave room for a channel number (older builds cannot read it).
*/
inline std::string encode_redis_message(std::uint64_t event_id, std::string_view origin,
                                        std::string_view nsp, std::vector<std::string> const& rooms,
                                        std::vector<std::string> const& except,
                                        std::string_view body,
                                        std::uint8_t kind = redis_message_version,
                                        bool numbered = true) {
    using namespace redis_message_impl;
    std::size_t size =
        20 + varint_size(event_id) + 10 + origin.size() + 10 + nsp.size() + 20 + body.size();
    for (auto const& r : rooms)
        size += 10 + r.size();
    for (auto const& r : except)
        size += 10 + r.size();
    std::string out;
    out.reserve(size);
    out.append("sse", 3);
    out += static_cast<char>(numbered ? kind | redis_message_numbered : kind);
    out.append(numbered ? 16 : 8, '\0');
    put_varint(out, event_id);
    put_bytes(out, origin);
    put_bytes(out, nsp);
    put_varint(out, rooms.size());
    for (auto const& r : rooms)
        put_bytes(out, r);
    put_varint(out, except.size());
    for (auto const& r : except)
        put_bytes(out, r);
    out.append(body.data(), body.size());
    return out;
}

/// Writes `seq` into an encoded message (little-endian, at its fixed offset).
inline void set_redis_message_sequence(std::string& encoded, std::uint64_t seq) noexcept {
    redis_message_impl::put_u64_at(encoded, redis_message_sequence_offset, seq);
}

/// Whether an encoded message has room for a channel number.
inline bool redis_message_is_numbered(std::string_view encoded) noexcept {
    return encoded.size() >= redis_message_channel_number_offset + 8 &&
           (static_cast<unsigned char>(encoded[3]) & redis_message_numbered) != 0;
}

/// Writes the channel number `n` into a numbered message (no-op for an unnumbered one).
inline void set_redis_message_channel_number(std::string& encoded, std::uint64_t n) noexcept {
    if (redis_message_is_numbered(encoded))
        redis_message_impl::put_u64_at(encoded, redis_message_channel_number_offset, n);
}

/// The channel number as 8 little-endian bytes (what the append script writes into a copy).
inline std::string redis_channel_number_bytes(std::uint64_t n) {
    std::string out(8, '\0');
    redis_message_impl::put_u64_at(out, 0, n);
    return out;
}

/// Whether encoded bytes say they are a channel's mark (before decoding them).
inline bool redis_message_is_mark(std::string_view encoded) noexcept {
    return encoded.size() >= 4 && encoded.substr(0, 3) == "sse" &&
           (static_cast<unsigned char>(encoded[3]) & ~redis_message_numbered) ==
               redis_message_mark_version;
}

/// The event id of an encoded message (0 if it is not one): read without decoding the rest.
inline std::uint64_t redis_message_event_id(std::string_view encoded) noexcept {
    if (encoded.size() < redis_message_sequence_offset + 8) return 0;
    std::size_t const head = redis_message_is_numbered(encoded)
                                 ? redis_message_channel_number_offset + 8
                                 : redis_message_sequence_offset + 8;
    redis_message_impl::reader rd{encoded, head};
    std::uint64_t id = 0;
    return rd.varint(id) == decode_status::ok ? id : 0;
}

/// The channel number of a numbered encoded message (0 if none).
inline std::uint64_t redis_message_channel_number(std::string_view encoded) noexcept {
    return redis_message_is_numbered(encoded)
               ? redis_message_impl::get_u64_at(encoded, redis_message_channel_number_offset)
               : 0;
}

/** Decodes `bytes` into `out`. Never throws on any input except `std::bad_alloc`.

    On failure `out` holds partial data and must not be used.
*/
inline decode_status decode_redis_message(std::string_view bytes, redis_message& out) {
    using namespace redis_message_impl;
    if (bytes.size() < 3 || bytes.substr(0, 3) != "sse") return decode_status::foreign;
    if (bytes.size() < 4) return decode_status::truncated;
    auto const raw = static_cast<std::uint8_t>(bytes[3]);
    out.numbered = (raw & redis_message_numbered) != 0;
    out.version = static_cast<std::uint8_t>(raw & ~redis_message_numbered);
    // 0x82: the same layout, whose event id holds on every node (detail/redis_history.hpp).
    // 0x81 (older nodes, Redis-assigned ids) cannot be mixed with it: refused, and counted.
    if (out.version != redis_message_version && out.version != redis_message_shared_id_version &&
        out.version != redis_message_lost_version && out.version != redis_message_mark_version)
        return decode_status::unsupported_version;
    std::size_t const head =
        out.numbered ? redis_message_channel_number_offset + 8 : redis_message_sequence_offset + 8;
    if (bytes.size() < head) return decode_status::truncated;
    out.sequence = get_u64_at(bytes, redis_message_sequence_offset);
    out.channel_number = out.numbered ? get_u64_at(bytes, redis_message_channel_number_offset) : 0;
    reader rd{bytes, head};
    if (auto st = rd.varint(out.event_id); st != decode_status::ok) return st;
    if (auto st = rd.bytes(out.origin); st != decode_status::ok) return st;
    if (out.origin.empty() || out.origin.size() > redis_message_max_origin ||
        !no_line_breaks_or_nul(out.origin))
        return decode_status::bad_origin;
    if (auto st = rd.bytes(out.nsp); st != decode_status::ok) return st;
    if (out.nsp.empty() || out.nsp.size() > redis_message_max_nsp ||
        !no_line_breaks_or_nul(out.nsp) || !valid_utf8(out.nsp))
        return decode_status::bad_namespace;
    if (auto st = rooms(rd, out.rooms); st != decode_status::ok) return st;
    if (auto st = rooms(rd, out.except); st != decode_status::ok) return st;
    out.body = bytes.substr(rd.pos);
    if (!parse_body(out.body, out.event)) return decode_status::bad_body;
    return decode_status::ok;
}

/** The Redis channel for namespace-wide emits (`room` empty) or for one room.

    Layout: `<prefix>#<nsp>#<room>`, with `\` and `#` in the namespace escaped as `\\` and `\#`
    so that no two (namespace, room) pairs share a channel: the namespace-wide channel of
    "/football" is `sse#/football#`, its room "arsenal" is `sse#/football#arsenal`.
*/
inline std::string redis_channel(std::string_view prefix, std::string_view nsp,
                                 std::string_view room) {
    std::string out;
    out.reserve(prefix.size() + nsp.size() + room.size() + 2);
    out.append(prefix.data(), prefix.size());
    out += '#';
    for (char c : nsp) {
        if (c == '\\' || c == '#') out += '\\';
        out += c;
    }
    out += '#';
    out.append(room.data(), room.size());
    return out;
}

/// Whether `channel` is `redis_channel(prefix, nsp, room)`, without building it.
inline bool redis_channel_matches(std::string_view channel, std::string_view prefix,
                                  std::string_view nsp, std::string_view room) noexcept {
    if (channel.substr(0, prefix.size()) != prefix) return false;
    std::size_t pos = prefix.size();
    if (pos >= channel.size() || channel[pos] != '#') return false;
    ++pos;
    for (char c : nsp) {
        if (c == '\\' || c == '#') {
            if (pos >= channel.size() || channel[pos] != '\\') return false;
            ++pos;
        }
        if (pos >= channel.size() || channel[pos] != c) return false;
        ++pos;
    }
    if (pos >= channel.size() || channel[pos] != '#') return false;
    return channel.substr(pos + 1) == room;
}

/** The namespace and room (empty: the namespace channel) of a channel that
    `redis_channel(prefix, ...)` named. False when `channel` is not one of them.
*/
inline bool parse_redis_channel(std::string_view channel, std::string_view prefix, std::string& nsp,
                                std::string& room) {
    if (channel.substr(0, prefix.size()) != prefix || channel.size() <= prefix.size() ||
        channel[prefix.size()] != '#')
        return false;
    nsp.clear();
    for (std::size_t pos = prefix.size() + 1; pos < channel.size(); ++pos) {
        char const c = channel[pos];
        if (c == '\\') {
            if (++pos == channel.size()) return false;
            nsp += channel[pos];
        } else if (c == '#') {
            room.assign(channel.substr(pos + 1));
            return !nsp.empty();
        } else {
            nsp += c;
        }
    }
    return false;
}

/** Encodes a channel's mark (redis_message_mark_version): `origin`'s last message on the
    channel of (`nsp`, `room`) had channel number `number`, origin `sequence` and `event_id`.
*/
inline std::string encode_redis_mark(std::string_view origin, std::string_view nsp,
                                     std::string_view room, std::uint64_t number,
                                     std::uint64_t sequence, std::uint64_t event_id, bool shared) {
    std::vector<std::string> rooms;
    if (!room.empty()) rooms.emplace_back(room);
    auto out = encode_redis_message(event_id, origin, nsp, rooms, {},
                                    shared ? "event: mark\ndata: shared\n\n"
                                           : "event: mark\ndata: local\n\n",
                                    redis_message_mark_version, true);
    set_redis_message_sequence(out, sequence);
    set_redis_message_channel_number(out, number);
    return out;
}

/// Whether a decoded mark is for a namespace with shared history.
inline bool redis_mark_is_shared(redis_message const& m) noexcept {
    return m.body == "event: mark\ndata: shared\n\n";
}

} // namespace sse::detail

#endif
