// sse/detail/hybrid_id.hpp - event ids that the emitting node assigns and that order across
// nodes: a hybrid logical clock packed in an integer (pure, no I/O).
//
// id = microseconds since 2020-01-01 UTC, and never at or below the last one seen
//
// - The emitting node knows the id at once, so its own clients get the event without waiting
//   for Redis (local-first), shared history included.
// - Ids of events emitted at different times on different nodes order by time (as far as the
//   nodes' clocks agree), and a node never hands out an id at or below one it has seen: the
//   clock is max(last + 1, now), and every id a node receives or a client brings back
//   (Last-Event-ID) moves `last`.
// - Microseconds, so that two emits on two nodes a fraction of a millisecond apart (a test,
//   a client that moved) still order by time; a burst of more than one per microsecond
//   borrows from the next ones.
// - Below 2^53 until the year 2305, so JavaScript's Number and a Redis sorted-set score hold
//   every id exactly.
#ifndef SSE_DETAIL_HYBRID_ID_HPP
#define SSE_DETAIL_HYBRID_ID_HPP

#include <chrono>
#include <cstdint>

namespace sse::detail {

inline constexpr std::uint64_t hybrid_id_epoch_us = 1577836800000000ULL; // 2020-01-01T00:00Z

/// The id of the Unix time `unix_us` (0 before the epoch).
constexpr std::uint64_t hybrid_id_at(std::uint64_t unix_us) noexcept {
    return unix_us <= hybrid_id_epoch_us ? 0 : unix_us - hybrid_id_epoch_us;
}

/// The Unix time (ms) an id was assigned at, by its origin's clock.
constexpr std::uint64_t hybrid_id_unix_ms(std::uint64_t id) noexcept {
    return (id + hybrid_id_epoch_us) / 1000;
}

inline std::uint64_t unix_us_now() noexcept {
    using namespace std::chrono;
    return static_cast<std::uint64_t>(
        duration_cast<microseconds>(system_clock::now().time_since_epoch()).count());
}
inline std::uint64_t unix_ms_now() noexcept {
    return unix_us_now() / 1000;
}

/// The next id after `last` at wall-clock time `unix_us`: never at or below `last`.
constexpr std::uint64_t next_hybrid_id(std::uint64_t last, std::uint64_t unix_us) noexcept {
    auto const now = hybrid_id_at(unix_us);
    return now > last ? now : last + 1;
}

} // namespace sse::detail

#endif
