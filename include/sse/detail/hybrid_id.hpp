// sse/detail/hybrid_id.hpp - event ids that the emitting node assigns and that order across
// nodes: a hybrid logical clock packed in an integer (pure, no I/O).
//
// id = (4-microsecond slots since 2020-01-01 UTC) * 16 + the node's tag (0..15),
//      and never at or below the last id the node has seen
//
// - The emitting node knows the id at once, so its own clients get the event without waiting
//   for Redis (local-first), shared history included.
// - Ids of events emitted at different times on different nodes order by time (as far as the
//   nodes' clocks agree), and a node never hands out an id at or below one it has seen: the
//   clock is max(last + 1 slot, now), and every id a node receives or a client brings back
//   (Last-Event-ID) moves `last`.
// - The tag keeps two nodes that emit in the same slot from giving out the same id: the Redis
//   adapter claims one per node (INCR), so up to 16 live nodes never share one.
// - Slots of 4 µs: emits a fraction of a millisecond apart on two nodes still order by time;
//   a burst of more than one emit per slot borrows from the next slots.
// - Below 2^53 until the year 2091, so JavaScript's Number and a Redis sorted-set score hold
//   every id exactly.
#ifndef SSE_DETAIL_HYBRID_ID_HPP
#define SSE_DETAIL_HYBRID_ID_HPP

#include <chrono>
#include <cstdint>

namespace sse::detail {

inline constexpr std::uint64_t hybrid_id_epoch_us = 1577836800000000ULL; // 2020-01-01T00:00Z
inline constexpr std::uint64_t hybrid_id_slot_us = 4;
inline constexpr std::uint64_t hybrid_id_tags = 16;
/// Node clocks agree within this (NTP does far better): ids from other nodes are trusted as
/// far as it, and a catch-up read reaches back this far.
inline constexpr std::uint64_t max_clock_skew_us = 1000000;

/// The first id of the slot of Unix time `unix_us` (0 before the epoch).
constexpr std::uint64_t hybrid_id_at(std::uint64_t unix_us) noexcept {
    return unix_us <= hybrid_id_epoch_us
               ? 0
               : (unix_us - hybrid_id_epoch_us) / hybrid_id_slot_us * hybrid_id_tags;
}

/// The Unix time (µs) an id was assigned at, by its origin's clock.
constexpr std::uint64_t hybrid_id_unix_us(std::uint64_t id) noexcept {
    return id / hybrid_id_tags * hybrid_id_slot_us + hybrid_id_epoch_us;
}

/// The Unix time (ms) an id was assigned at, by its origin's clock.
constexpr std::uint64_t hybrid_id_unix_ms(std::uint64_t id) noexcept {
    return hybrid_id_unix_us(id) / 1000;
}

inline std::uint64_t unix_us_now() noexcept {
    using namespace std::chrono;
    return static_cast<std::uint64_t>(
        duration_cast<microseconds>(system_clock::now().time_since_epoch()).count());
}
inline std::uint64_t unix_ms_now() noexcept {
    return unix_us_now() / 1000;
}

/// The next id of the node tagged `tag` after `last`, at Unix time `unix_us`: above `last`,
/// and ending in the node's tag.
constexpr std::uint64_t next_hybrid_id(std::uint64_t last, std::uint64_t unix_us,
                                       unsigned tag = 0) noexcept {
    auto const t = tag % hybrid_id_tags;
    auto const now = hybrid_id_at(unix_us) + t;
    return now > last ? now : (last / hybrid_id_tags + 1) * hybrid_id_tags + t;
}

} // namespace sse::detail

#endif
