// sse/detail/redis_history.hpp - the shared history of the Redis adapter: the two Lua scripts
// that store and read events, and the decoding of their replies (no I/O).
//
// Ids. The emitting node assigns an event's id (detail/hybrid_id.hpp: its time in 4 µs
// slots since 2020 and the node's tag, below 2^53) and delivers it to its own clients at
// once; the append script only stores and publishes it. Every node and every replay then
// uses that id, so a client that moves to another node resumes from the same number.
//
// Keys (for namespace N under channel prefix P; `base` is N's namespace channel, `P#N#` with
// N escaped as in redis_channel, so keys of two namespaces never collide):
//
//     base#seq           hash, field `id`: the highest event id stored, field `age`: the
//                        max_age of the last emit. Never expires.
//     base<room>#z       sorted set: the events emitted to <room>, score = event id, member =
//                        the published message; at most max_events, none older than max_age
//                        (by the id's time); expires max_age after its last write
//     base#z             sorted set: the namespace-wide emits (no target room), same layout
//     base<room>#zf      string: the highest id trimmed from that log (its replay floor)
//     base#o#<origin>    string: the highest per-origin sequence already stored (makes a
//                        script re-sent after a reconnect run once); expires
//
// Every log key ends in `#z` and every floor key in `#zf`, and no other key does, so no room
// name can reach another key.
//
// Replay. A replay after id A can be served from a log exactly when the log's floor is <= A
// and A is younger than max_age: an expired log (a cold room) only held events older than
// max_age. Events arrive at Redis in the order their scripts run, not always in id order
// (two nodes emit at once); a sorted set keeps each log in id order anyway.
//
// Ids ride in the score as text: Lua numbers are doubles, exact below 2^53, but Redis turns
// a Lua number argument into text with 14 digits, so the scripts pass the strings on.
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

/** Stores and publishes one emit, atomically.

    ARGV: base, origin, origin sequence, max_events, max_age (ms), message (a 0x82 message as
    the node encoded it), the event id, room count n, the n distinct target rooms, channel
    count c, the c channels to publish on, then (a numbered message) each channel's number
    as 8 bytes, which the copy published there carries (the stored copy keeps 0). Returns 1,
    or 0 when this origin sequence was already stored.

    It first touches every key it may use (EXISTS), before any write: while a resharding
    migrates the slot, a key missing on the old master fails the script there ("non local
    key") with nothing stored yet, so the adapter can send it again (redis_cluster_mode.hpp).
    Without that, a floor key created halfway failed the script after the event was stored
    and its origin mark set, and the emit was taken for lost.
*/
inline constexpr char const* redis_append_script = R"lua(
local base = ARGV[1]
local okey = base .. '#o#' .. ARGV[2]
local n = tonumber(ARGV[8])
local keys = {okey, base .. '#seq'}
if n == 0 then
  keys[3] = base .. '#z'
  keys[4] = base .. '#zf'
else
  for i = 1, n do
    keys[#keys + 1] = base .. ARGV[8 + i] .. '#z'
    keys[#keys + 1] = base .. ARGV[8 + i] .. '#zf'
  end
end
for i = 1, #keys, 1000 do redis.call('EXISTS', unpack(keys, i, math.min(i + 999, #keys))) end
local age = tonumber(ARGV[5])
local last = redis.call('GET', okey)
if last and tonumber(last) >= tonumber(ARGV[3]) then return 0 end
redis.call('SET', okey, ARGV[3], 'PX', math.max(age, 60000))
local sid = ARGV[7]
local id = tonumber(sid)
local seq = tonumber(redis.call('HGET', base .. '#seq', 'id') or '0')
if id > seq then redis.call('HSET', base .. '#seq', 'id', sid) end
redis.call('HSET', base .. '#seq', 'age', ARGV[5])
local tm = redis.call('TIME')
local now = tonumber(tm[1]) * 1000 + math.floor(tonumber(tm[2]) / 1000)
local oldest = (now - age - 1577836800000) * 4000
local msg = ARGV[6]
local maxev = tonumber(ARGV[4])
local function raise_floor(f, v)
  local old = redis.call('GET', f)
  if not old or tonumber(old) < tonumber(v) then redis.call('SET', f, v) end
end
local function append(room)
  local k = base .. room .. '#z'
  local f = k .. 'f'
  redis.call('ZADD', k, sid, msg)
  local n = redis.call('ZCARD', k)
  if n > maxev then
    local cut = redis.call('ZRANGE', k, n - maxev - 1, n - maxev - 1, 'WITHSCORES')
    redis.call('ZREMRANGEBYRANK', k, 0, n - maxev - 1)
    raise_floor(f, cut[2])
  end
  if oldest > 0 then
    local cut = redis.call('ZRANGEBYSCORE', k, '-inf', '(' .. string.format('%d', oldest),
                           'WITHSCORES')
    if #cut > 0 then
      redis.call('ZREMRANGEBYSCORE', k, '-inf', '(' .. string.format('%d', oldest))
      raise_floor(f, cut[#cut])
    end
  end
  redis.call('PEXPIRE', k, age)
  redis.call('PEXPIRE', f, age)
end
if n == 0 then
  append('')
else
  for i = 1, n do append(ARGV[8 + i]) end
end
local c = tonumber(ARGV[9 + n])
local numbered = #ARGV >= 9 + n + 2 * c
for i = 1, c do
  local out = msg
  if numbered then out = string.sub(msg, 1, 12) .. ARGV[9 + n + c + i] .. string.sub(msg, 21) end
  redis.call('PUBLISH', ARGV[9 + n + i], out)
end
return 1
)lua";

/** Writes into the history that emits of this namespace were lost before Redis had them
    (dropped by their origin past max_pending_emits), so that reads find them as a gap.

    ARGV: base, the highest lost id, then the rooms they were for (none: the namespace log).
    Each of those logs' replay floor rises to that id, for the logs' lifetime (the last
    emit's max_age) plus 2 s: the lost id's clock may be up to a second ahead of Redis's, and
    a read's id as well. The history's head (`#seq` id) rises to it too: else a read after an
    id between the stored head and it would answer "ok" with nothing. A read after an id below
    it then reports those logs gapped, and their clients reset. Returns 1.
*/
inline constexpr char const* redis_lost_script = R"lua(
local base = ARGV[1]
local sid = ARGV[2]
local id = tonumber(sid)
local meta = redis.call('HMGET', base .. '#seq', 'id', 'age')
if id > tonumber(meta[1] or '0') then redis.call('HSET', base .. '#seq', 'id', sid) end
local age = math.max(tonumber(meta[2] or '60000'), 1) + 2000
local function raise(room)
  local f = base .. room .. '#zf'
  local old = redis.call('GET', f)
  if not old or tonumber(old) < id then redis.call('SET', f, sid, 'PX', age) end
end
if #ARGV == 2 then
  raise('')
else
  for i = 3, #ARGV do raise(ARGV[i]) end
end
return 1
)lua";

/** Reads the events after an id.

    ARGV: base, after, max_age (ms; 0: the one the last emit stored), then the rooms (the
    namespace log is always read).
    Returns {status, seq, g, g gapped rooms ("" = the namespace log), messages...}; status is
    "ok", "unknown_id" (after is more than a minute ahead of Redis's clock) or "history_gap"
    (after is older than max_age). A gapped room's messages are not returned. An id above
    every stored one (its emit is still on its way to Redis) has nothing after it yet: "ok".
*/
inline constexpr char const* redis_fetch_script = R"lua(
local base = ARGV[1]
local after = tonumber(ARGV[2])
local meta = redis.call('HMGET', base .. '#seq', 'id', 'age')
local seq = tonumber(meta[1] or '0')
local age = tonumber(ARGV[3])
if age <= 0 then age = tonumber(meta[2] or '0') end
local tm = redis.call('TIME')
local now = tonumber(tm[1]) * 1000 + math.floor(tonumber(tm[2]) / 1000)
local at = math.floor(after / 4000) + 1577836800000
if at > now + 60000 then return {'unknown_id', seq, 0} end
if after >= seq then return {'ok', seq, 0} end
if now - at > age then return {'history_gap', seq, 0} end
local gaps = {}
local msgs = {}
local function scan(room, k)
  local floor = redis.call('GET', k .. 'f')
  if floor and tonumber(floor) > after then
    gaps[#gaps + 1] = room
    return
  end
  local r = redis.call('ZRANGEBYSCORE', k, '(' .. ARGV[2], '+inf')
  for _, m in ipairs(r) do msgs[#msgs + 1] = m end
end
scan('', base .. '#z')
for i = 4, #ARGV do scan(ARGV[i], base .. ARGV[i] .. '#z') end
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
            m.version != redis_message_shared_id_version || m.event_id == 0) {
            ++out.malformed;
            continue;
        }
        history_event e;
        e.id = m.event_id;
        e.origin = std::string(m.origin);
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
