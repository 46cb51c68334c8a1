// sse/impl/redis_stats.hpp - the Redis adapter's snapshot of links and counters
// (`redis_adapter::state()`), read from any thread (included by impl/redis_adapter.hpp).
#ifndef SSE_IMPL_REDIS_STATS_HPP
#define SSE_IMPL_REDIS_STATS_HPP

namespace sse::detail {

inline redis_state redis_adapter_impl::state() const {
    redis_state s;
    s.publisher_connected = pub_up_.load(std::memory_order_acquire);
    s.subscriber_connected = sub_up_.load(std::memory_order_acquire);
    s.connected = s.publisher_connected && s.subscriber_connected;
    s.reconnects = reconnects_.load(std::memory_order_relaxed);
    s.connect_failures = connect_failures_.load(std::memory_order_relaxed);
    s.published = published_.load(std::memory_order_relaxed);
    s.received = received_.load(std::memory_order_relaxed);
    s.delivered = delivered_.load(std::memory_order_relaxed);
    s.echoes = echoes_.load(std::memory_order_relaxed);
    s.duplicates = duplicates_.load(std::memory_order_relaxed);
    s.dropped = intake_dropped_.load(std::memory_order_relaxed) +
                queue_dropped_.load(std::memory_order_relaxed) +
                dropped_at_close_.load(std::memory_order_relaxed);
    s.malformed = malformed_.load(std::memory_order_relaxed);
    s.refused = refused_.load(std::memory_order_relaxed);
    s.lost_notices = lost_notices_.load(std::memory_order_relaxed);
    s.channel_gaps = channel_gaps_total_.load(std::memory_order_relaxed);
    s.channel_marks = channel_marks_sent_.load(std::memory_order_relaxed);
    s.unsupported_versions = unsupported_versions_.load(std::memory_order_relaxed);
    s.oversized = oversized_.load(std::memory_order_relaxed);
    s.sequenced = sequenced_.load(std::memory_order_relaxed);
    s.history_reads = history_reads_.load(std::memory_order_relaxed);
    s.recoveries = recoveries_.load(std::memory_order_relaxed);
    s.recovered_events = recovered_events_.load(std::memory_order_relaxed);
    s.history_resets = history_resets_.load(std::memory_order_relaxed);
    s.subscribed_channels = subscribed_.load(std::memory_order_relaxed);
    s.pending_subscriptions = pending_subscriptions_.load(std::memory_order_relaxed);
    s.pending = queue_pending_.load(std::memory_order_relaxed);
    s.subscriber_lag =
        std::chrono::microseconds(subscriber_lag_us_.load(std::memory_order_relaxed));
    std::lock_guard<std::mutex> lock(mutex_);
    s.closed = closed_;
    s.cluster = cluster_mode_.load(std::memory_order_relaxed);
    s.shards = shard_count_.load(std::memory_order_relaxed);
    s.shard_connections = shard_connections_.load(std::memory_order_relaxed);
    s.pending += shard_pending_.load(std::memory_order_relaxed);
    s.dropped += shard_dropped_.load(std::memory_order_relaxed);
    s.pending += intake_.size();
    s.wanted_channels = subs_.wanted_count();
    s.last_error = last_error_;
    return s;
}

} // namespace sse::detail

#endif
