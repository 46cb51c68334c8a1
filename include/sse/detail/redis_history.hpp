// sse/detail/redis_history.hpp - the shared history of the Redis adapter: the two Lua scripts
// that sequence, store and read events, and the decoding of their replies (no I/O).
//
// Keys (for namespace N under channel prefix P; `base` is N's namespace channel, `P#N#` with
// N escaped as in redis_channel, so keys of two namespaces never collide):
//
//     base#seq           hash, field `id`: the namespace's last event id (HINCRBY), field
//                        `age`: the max_age of the last emit. Never expires: ids must not
//                        restart while nodes remember higher ones.
//     base#t             list: the emit time (ms, Redis clock) of ids seq-len+1 .. seq, one per
//                        id in order; trimmed by age a little per write; expires after max_age
//     base<room>#h       stream: the events emitted to <room>, entry id `<event id>-0`, fields
//                        `m` (the published message) and `t` (emit time, ms); at most
//                        max_events entries; expires max_age after its last write
//     base#h             stream: the namespace-wide emits (no target room), same layout
//     base#o#<origin>    string: the highest per-origin sequence already sequenced (makes a
//                        script re-sent after a reconnect run once); expires
//
// Every stream key ends in `#h` and no other key does, so no room name can reach another key.
//
// Ids. An event id is the namespace's sequence at the time the script ran: 1, 2, 3... in the
// order Redis ran the emits' scripts, whatever node emitted them. Redis runs scripts one at a
// time and sends pub/sub messages to each subscriber in the order they were published, so
// every node receives a namespace's events in id order, and every client (on any node) sees
// the events meant for it in the same total order: strictly increasing ids.
//
// Trimming. A log keeps exactly its newest max_events entries: the script deletes the oldest
// with XDEL, which makes Redis (>= 7.0) remember the newest deleted id in the stream's
// `max-deleted-entry-id`. A replay after id A can be served from a log exactly when that id
// is <= A. An expired log (a cold room) can only hold events older than max_age, so the
// fetch script decides about those from the namespace's time list: if the first event after
// A is older than max_age (or its time is gone), the answer is "history_gap".
#ifndef SSE_DETAIL_REDIS_HISTORY_HPP
#define SSE_DETAIL_REDIS_HISTORY_HPP

#include <sse/adapter.hpp>
#include <sse/detail/redis_message.hpp>

#include <hiredis/hiredis.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sse::detail {

/// Version byte of a sequenced message: version 1 with the high bit set. Its 8-byte sequence
/// field holds the namespace event id that Redis assigned (not a per-origin sequence).
inline constexpr std::uint8_t redis_message_sequenced_flag = 0x80;

/** Sequences, stores and publishes one emit, atomically.

    ARGV: base, origin, origin sequence, max_events, max_age (ms), message (version 1 as the
    node encoded it), room count n, the n distinct target rooms, then the channels to publish
    on. Returns the event id, or 0 when this origin sequence was already sequenced.
*/
inline constexpr char const* redis_append_script = R"lua(
local base = ARGV[1]
local okey = base .. '#o#' .. ARGV[2]
local age = tonumber(ARGV[5])
local last = redis.call('GET', okey)
if last and tonumber(last) >= tonumber(ARGV[3]) then return 0 end
redis.call('SET', okey, ARGV[3], 'PX', math.max(age, 60000))
local id = redis.call('HINCRBY', base .. '#seq', 'id', 1)
redis.call('HSET', base .. '#seq', 'age', ARGV[5])
local tm = redis.call('TIME')
local now = tonumber(tm[1]) * 1000 + math.floor(tonumber(tm[2]) / 1000)
local nows = string.format('%d', now)
local v = id
local le = {}
for i = 1, 8 do
  le[i] = string.char(v % 256)
  v = math.floor(v / 256)
end
local p = ARGV[6]
local msg = 'sse' .. string.char(129) .. table.concat(le) .. string.sub(p, 13)
local tkey = base .. '#t'
redis.call('RPUSH', tkey, nows)
for i = 1, 2 do
  local head = redis.call('LINDEX', tkey, 0)
  if head and now - tonumber(head) > age then redis.call('LPOP', tkey) else break end
end
redis.call('PEXPIRE', tkey, age)
local maxev = tonumber(ARGV[4])
local sid = string.format('%d', id) .. '-0'
local function append(k)
  redis.call('XADD', k, sid, 'm', msg, 't', nows)
  for i = 1, 2 do
    if redis.call('XLEN', k) <= maxev then break end
    local first = redis.call('XRANGE', k, '-', '+', 'COUNT', 1)
    redis.call('XDEL', k, first[1][1])
  end
  redis.call('PEXPIRE', k, age)
end
local n = tonumber(ARGV[7])
if n == 0 then
  append(base .. '#h')
else
  for i = 1, n do append(base .. ARGV[7 + i] .. '#h') end
end
for i = 8 + n, #ARGV do redis.call('PUBLISH', ARGV[i], msg) end
return id
)lua";

/** Reads the events after an id.

    ARGV: base, after, max_age (ms; 0: the one the last emit stored), then the rooms (the
    namespace log is always read).
    Returns {status, seq, g, g gapped rooms ("" = the namespace log), messages...}; status is
    "ok", "unknown_id" (after > seq) or "history_gap" (the first missed event is older than
    max_age, or its time is gone). A gapped room's messages are not returned.
*/
inline constexpr char const* redis_fetch_script = R"lua(
local base = ARGV[1]
local after = tonumber(ARGV[2])
local meta = redis.call('HMGET', base .. '#seq', 'id', 'age')
local seq = tonumber(meta[1] or '0')
local age = tonumber(ARGV[3])
if age <= 0 then age = tonumber(meta[2] or '0') end
if after > seq then return {'unknown_id', seq, 0} end
if after == seq then return {'ok', seq, 0} end
local tkey = base .. '#t'
local len = redis.call('LLEN', tkey)
local idx = (after + 1) - (seq - len + 1)
local t = false
if idx >= 0 then t = redis.call('LINDEX', tkey, idx) end
local tm = redis.call('TIME')
local now = tonumber(tm[1]) * 1000 + math.floor(tonumber(tm[2]) / 1000)
if not t or now - tonumber(t) > age then return {'history_gap', seq, 0} end
local gaps = {}
local msgs = {}
local from = string.format('%d', after + 1)
local function scan(room, k)
  if redis.call('EXISTS', k) == 0 then return end
  local info = redis.call('XINFO', 'STREAM', k)
  for i = 1, #info, 2 do
    if info[i] == 'max-deleted-entry-id' then
      local d = tonumber(string.match(info[i + 1], '^(%d+)'))
      if d and d > after then
        gaps[#gaps + 1] = room
        return
      end
    end
  end
  local r = redis.call('XRANGE', k, from, '+')
  for _, e in ipairs(r) do
    local f = e[2]
    for j = 1, #f, 2 do
      if f[j] == 'm' then msgs[#msgs + 1] = f[j + 1] end
    end
  end
end
scan('', base .. '#h')
for i = 4, #ARGV do scan(ARGV[i], base .. ARGV[i] .. '#h') end
local out = {'ok', seq, #gaps}
for _, g in ipairs(gaps) do out[#out + 1] = g end
for _, m in ipairs(msgs) do out[#out + 1] = m end
return out
)lua";

/// SHA-1 of `text` as 40 lowercase hex digits: the name Redis gives a script (EVALSHA).
inline std::string redis_script_sha1(std::string_view text) {
    std::uint32_t h[5] = {0x67452301u, 0xEFCDAB89u, 0x98BADCFEu, 0x10325476u, 0xC3D2E1F0u};
    std::string m(text);
    std::uint64_t const bits = static_cast<std::uint64_t>(text.size()) * 8;
    m += static_cast<char>(0x80);
    while (m.size() % 64 != 56)
        m += '\0';
    for (int i = 7; i >= 0; --i)
        m += static_cast<char>((bits >> (8 * i)) & 0xFF);
    auto rol = [](std::uint32_t v, int n) { return (v << n) | (v >> (32 - n)); };
    for (std::size_t off = 0; off < m.size(); off += 64) {
        std::uint32_t w[80];
        for (int i = 0; i < 16; ++i)
            w[i] = static_cast<std::uint32_t>(static_cast<unsigned char>(m[off + 4 * i])) << 24 |
                   static_cast<std::uint32_t>(static_cast<unsigned char>(m[off + 4 * i + 1]))
                       << 16 |
                   static_cast<std::uint32_t>(static_cast<unsigned char>(m[off + 4 * i + 2])) << 8 |
                   static_cast<std::uint32_t>(static_cast<unsigned char>(m[off + 4 * i + 3]));
        for (int i = 16; i < 80; ++i)
            w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
        std::uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
        for (int i = 0; i < 80; ++i) {
            std::uint32_t f = 0, k = 0;
            if (i < 20) {
                f = (b & c) | (~b & d);
                k = 0x5A827999u;
            } else if (i < 40) {
                f = b ^ c ^ d;
                k = 0x6ED9EBA1u;
            } else if (i < 60) {
                f = (b & c) | (b & d) | (c & d);
                k = 0x8F1BBCDCu;
            } else {
                f = b ^ c ^ d;
                k = 0xCA62C1D6u;
            }
            std::uint32_t t = rol(a, 5) + f + e + k + w[i];
            e = d;
            d = c;
            c = rol(b, 30);
            b = a;
            a = t;
        }
        h[0] += a;
        h[1] += b;
        h[2] += c;
        h[3] += d;
        h[4] += e;
    }
    static char const hex[] = "0123456789abcdef";
    std::string out;
    for (auto v : h)
        for (int i = 7; i >= 0; --i)
            out += hex[(v >> (4 * i)) & 0xF];
    return out;
}

/// A decoded reply of `redis_fetch_script`.
struct redis_fetch_reply {
    /// "" when the events can be replayed, else the reset reason.
    std::string status;
    std::uint64_t seq = 0;
    /// Logs that dropped an event after the id ("" = the namespace log).
    std::vector<std::string> gapped;
    std::vector<history_event> events; ///< ascending, one per id
    std::size_t malformed = 0;         ///< entries that did not decode (ignored)
};

/// Decodes a reply of the fetch script; false (with `out.status` set) when it is not one.
inline bool decode_redis_fetch_reply(redisReply const& r, redis_fetch_reply& out) {
    out = {};
    if (r.type == REDIS_REPLY_ERROR) {
        out.status = "history_unavailable";
        return false;
    }
    auto str = [](redisReply const* e) {
        return e != nullptr && (e->type == REDIS_REPLY_STRING || e->type == REDIS_REPLY_STATUS)
                   ? std::string_view(e->str, e->len)
                   : std::string_view();
    };
    if (r.type != REDIS_REPLY_ARRAY || r.elements < 3 || r.element[1] == nullptr ||
        r.element[1]->type != REDIS_REPLY_INTEGER || r.element[2] == nullptr ||
        r.element[2]->type != REDIS_REPLY_INTEGER || r.element[2]->integer < 0) {
        out.status = "history_unavailable";
        return false;
    }
    auto status = str(r.element[0]);
    out.seq = static_cast<std::uint64_t>(r.element[1]->integer);
    if (status != "ok") {
        out.status = status.empty() ? std::string("history_unavailable") : std::string(status);
        return true;
    }
    auto const ngap = static_cast<std::size_t>(r.element[2]->integer);
    if (3 + ngap > r.elements) {
        out.status = "history_unavailable";
        return false;
    }
    for (std::size_t i = 3; i < 3 + ngap; ++i)
        out.gapped.emplace_back(str(r.element[i]));
    redis_message m;
    for (std::size_t i = 3 + ngap; i < r.elements; ++i) {
        auto bytes = str(r.element[i]);
        if (decode_redis_message(bytes, m) != decode_status::ok ||
            (m.version & redis_message_sequenced_flag) == 0 || m.sequence == 0) {
            ++out.malformed;
            continue;
        }
        history_event e;
        e.id = m.sequence;
        e.rooms = std::move(m.rooms);
        e.except = std::move(m.except);
        e.event = encoded_event::from_body(m.event, m.body);
        out.events.push_back(std::move(e));
        m.rooms = {};
        m.except = {};
    }
    std::sort(out.events.begin(), out.events.end(),
              [](history_event const& a, history_event const& b) { return a.id < b.id; });
    out.events.erase(
        std::unique(out.events.begin(), out.events.end(),
                    [](history_event const& a, history_event const& b) { return a.id == b.id; }),
        out.events.end());
    return true;
}

} // namespace sse::detail

#endif
