// sse/detail/cluster_slots.hpp - which Redis Cluster hash slot a key or shard channel lives in
// (pure, no I/O).
//
// Redis Cluster splits the key space into 16384 slots: slot = CRC16(key) mod 16384, where CRC16
// is the XMODEM variant (polynomial 0x1021, initial value 0, no reflection, no final xor; the
// check value of "123456789" is 0x31C3). When a key holds a hash tag, only the tag is hashed:
// the bytes between the first '{' and the first '}' after it, provided there is at least one
// byte between them ("{user1000}.following" hashes "user1000"; "foo{}{bar}" hashes the whole
// key; "foo{{bar}}" hashes "{bar"). Sharded pub/sub channels (SSUBSCRIBE/SPUBLISH) use the
// same rule. `key_slot` must agree with the server's CLUSTER KEYSLOT for every key, or every
// command would be redirected: tests/redis/redis_cluster_topology.cpp checks it against one.
//
// Room channels on a cluster (cluster_channel): a room's channel is `{<tag>}<channel>`, where
// `<channel>` is the name used on a single server (redis_channel(prefix, nsp, room)) and
// `<tag>` is 8 hex digits of a 32-bit FNV-1a hash of that name. The leading tag decides the
// slot, so rooms spread evenly over the slots (and so over the shards, in proportion to the
// slots each owns) whatever the room names are: braces in a room name or in the channel
// prefix cannot pin many rooms to one slot, because only the first tag counts. Every node
// computes the same name, with no knowledge of the topology.
#ifndef SSE_DETAIL_CLUSTER_SLOTS_HPP
#define SSE_DETAIL_CLUSTER_SLOTS_HPP

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace sse::detail {

/// Number of hash slots in a Redis Cluster (fixed by the protocol).
inline constexpr std::uint16_t cluster_slot_count = 16384;

namespace cluster_slots_impl {

// One entry per leading byte: the CRC of that byte shifted through the register.
constexpr std::array<std::uint16_t, 256> make_crc16_table() noexcept {
    std::array<std::uint16_t, 256> table{};
    for (unsigned byte = 0; byte < 256; ++byte) {
        unsigned reg = byte << 8;
        for (int bit = 0; bit < 8; ++bit)
            reg = (reg & 0x8000u) ? ((reg << 1) ^ 0x1021u) : (reg << 1);
        table[byte] = static_cast<std::uint16_t>(reg & 0xFFFFu);
    }
    return table;
}

inline constexpr std::array<std::uint16_t, 256> crc16_table = make_crc16_table();

} // namespace cluster_slots_impl

/// CRC16/XMODEM of `bytes`, as Redis Cluster computes it.
constexpr std::uint16_t cluster_crc16(std::string_view bytes) noexcept {
    unsigned reg = 0;
    for (char c : bytes) {
        unsigned const index = ((reg >> 8) ^ static_cast<unsigned char>(c)) & 0xFFu;
        reg = ((reg << 8) ^ cluster_slots_impl::crc16_table[index]) & 0xFFFFu;
    }
    return static_cast<std::uint16_t>(reg);
}

/// The part of `key` that decides its slot: the hash tag when there is a non-empty one, else
/// the whole key.
constexpr std::string_view cluster_hash_tag(std::string_view key) noexcept {
    auto const open = key.find('{');
    if (open == std::string_view::npos) return key;
    auto const close = key.find('}', open + 1);
    if (close == std::string_view::npos || close == open + 1) return key;
    return key.substr(open + 1, close - open - 1);
}

/// The slot of `key` (0..16383), hash tags included: what CLUSTER KEYSLOT answers.
constexpr std::uint16_t key_slot(std::string_view key) noexcept {
    return static_cast<std::uint16_t>(cluster_crc16(cluster_hash_tag(key)) &
                                      (cluster_slot_count - 1));
}

/// The name under which `channel` travels on a cluster: `{<8 hex digits>}<channel>` (see the
/// comment at the top). Distinct channels stay distinct; only their slot is chosen by the tag.
inline std::string cluster_channel(std::string_view channel) {
    std::uint32_t hash = 2166136261u; // FNV-1a, 32 bits: well mixed and cheap
    for (char c : channel) {
        hash ^= static_cast<unsigned char>(c);
        hash *= 16777619u;
    }
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(channel.size() + 10);
    out += '{';
    for (int shift = 28; shift >= 0; shift -= 4)
        out += digits[(hash >> shift) & 0xFu];
    out += '}';
    out.append(channel.data(), channel.size());
    return out;
}

} // namespace sse::detail

#endif
