// sse/detail/meters.hpp - a namespace's write-path meters: queued bytes and emit-to-write
// latency, in per-thread shards summed when read (sse/metrics.hpp).
#ifndef SSE_DETAIL_METERS_HPP
#define SSE_DETAIL_METERS_HPP

#include <sse/latency_histogram.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace sse {

namespace detail {

/// Shards of the meters: a thread adds to its own, a reader sums them all.
inline constexpr std::size_t meter_shards = 16;

/// This thread's shard (threads are numbered as they first meter anything).
inline std::size_t this_thread_shard() noexcept {
    static std::atomic<std::size_t> next{0};
    thread_local std::size_t const shard =
        next.fetch_add(1, std::memory_order_relaxed) % meter_shards;
    return shard;
}

/** What a namespace's write path measures, read by `namespace_::stats()`.

    Nothing is counted per recipient on the emit path. Queued bytes change once per batch
    of events queued to a client (a flush pass's plan) and once per batch written; latency
    is observed once per socket write (one clock read), as the age of the oldest event of
    the write. Each goes to the calling thread's shard, a cache line no other io thread
    writes (unless more than `meter_shards` threads meter), so the relaxed adds never bounce
    a line between cores; a reader sums the shards.
*/
class namespace_meters {
public:
    using clock = std::chrono::steady_clock;

    /// The bytes queued to clients changed by `delta`.
    void queued(std::int64_t delta) noexcept {
        if (delta != 0)
            shards_[this_thread_shard()].queued.fetch_add(delta, std::memory_order_relaxed);
    }

    /// A socket write of events, the oldest emitted at `emitted`, starts now.
    void observe_write(clock::time_point emitted) noexcept {
        auto const ns =
            std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now() - emitted).count();
        std::uint64_t const v = ns > 0 ? static_cast<std::uint64_t>(ns) : 0;
        std::size_t i = 0;
        while (i < bounds_ns.size() && v > bounds_ns[i])
            ++i;
        auto& s = shards_[this_thread_shard()];
        s.buckets[i].fetch_add(1, std::memory_order_relaxed);
        s.sum_ns.fetch_add(v, std::memory_order_relaxed);
    }

    /// Bytes queued to this namespace's clients now (events not yet written).
    std::uint64_t queued_now() const noexcept {
        std::int64_t sum = 0;
        for (auto const& s : shards_)
            sum += s.queued.load(std::memory_order_relaxed);
        return sum > 0 ? static_cast<std::uint64_t>(sum) : 0;
    }

    /// Samples queued_now() into the peak (after a flush pass, and when stats are read).
    std::uint64_t sample_peak() noexcept {
        auto const now = queued_now();
        auto peak = peak_.load(std::memory_order_relaxed);
        while (now > peak && !peak_.compare_exchange_weak(peak, now, std::memory_order_relaxed))
            ;
        return now;
    }

    std::uint64_t peak() const noexcept { return peak_.load(std::memory_order_relaxed); }

    /// The histogram of every shard, summed (cumulative buckets).
    latency_histogram latency() const noexcept {
        latency_histogram h;
        std::uint64_t sum_ns = 0;
        for (auto const& s : shards_) {
            for (std::size_t i = 0; i < h.buckets.size(); ++i)
                h.buckets[i] += s.buckets[i].load(std::memory_order_relaxed);
            sum_ns += s.sum_ns.load(std::memory_order_relaxed);
        }
        for (std::size_t i = 1; i < h.buckets.size(); ++i)
            h.buckets[i] += h.buckets[i - 1];
        h.count = h.buckets.back();
        h.sum = static_cast<double>(sum_ns) / 1e9;
        return h;
    }

private:
    static constexpr std::array<std::uint64_t, latency_histogram::size> bounds_ns = {
        50'000,      100'000,       250'000,       500'000,       1'000'000,     2'500'000,
        5'000'000,   10'000'000,    25'000'000,    50'000'000,    100'000'000,   250'000'000,
        500'000'000, 1'000'000'000, 2'500'000'000, 5'000'000'000, 10'000'000'000};

    struct alignas(64) shard {
        std::atomic<std::int64_t> queued{0};
        std::array<std::atomic<std::uint64_t>, latency_histogram::size + 1> buckets{};
        std::atomic<std::uint64_t> sum_ns{0};
    };
    std::array<shard, meter_shards> shards_{};
    std::atomic<std::uint64_t> peak_{0};
};

} // namespace detail
} // namespace sse

#endif
