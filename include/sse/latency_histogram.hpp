// sse/latency_histogram.hpp - a histogram of emit-to-socket-write latency (struct form).
#ifndef SSE_LATENCY_HISTOGRAM_HPP
#define SSE_LATENCY_HISTOGRAM_HPP

#include <array>
#include <cstddef>
#include <cstdint>

namespace sse {

/// A histogram of emit-to-socket-write latency (seconds), Prometheus-style: `buckets[i]`
/// counts the writes that took at most `bounds[i]` (cumulative); the last bucket is +Inf and
/// equals `count`.
struct latency_histogram {
    /// Upper bounds, in seconds (and as the `le` labels write them).
    static constexpr std::size_t size = 17;
    static constexpr std::array<double, size> bounds = {
        0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
        0.05,    0.1,    0.25,    0.5,    1.0,   2.5,    5.0,   10.0};
    static constexpr std::array<char const*, size> bound_labels = {
        "5e-05", "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025",
        "0.05",  "0.1",    "0.25",    "0.5",    "1.0",   "2.5",    "5.0",   "10.0"};
    std::array<std::uint64_t, size + 1> buckets{}; ///< cumulative; [size] is +Inf
    std::uint64_t count = 0;                       ///< writes observed
    double sum = 0;                                ///< their latencies added, seconds
};

} // namespace sse

#endif
