// sse/redis_metrics.hpp - sse/metrics.hpp with a Redis adapter's series (target sse::redis).
//
//   auto text = sse::to_prometheus(sse::collect(server, *redis));
#ifndef SSE_REDIS_METRICS_HPP
#define SSE_REDIS_METRICS_HPP

#include <sse/metrics.hpp>
#include <sse/redis_adapter.hpp>

namespace sse {

/// A Redis adapter's state as metrics.
inline redis_metrics to_metrics(redis_state const& s) {
    redis_metrics r;
    r.up = s.connected;
    r.reconnects = s.reconnects;
    r.connect_failures = s.connect_failures;
    r.published = s.published;
    r.refused = s.refused;
    r.received = s.received;
    r.delivered = s.delivered;
    r.dropped = s.dropped;
    r.malformed = s.malformed;
    r.lost_notices = s.lost_notices;
    r.channel_gaps = s.channel_gaps;
    r.pending = s.pending;
    r.subscriber_lag_seconds = static_cast<double>(s.subscriber_lag.count()) / 1e6;
    return r;
}

/// `collect(server)` plus the state of `redis` (one `redis_adapter::state()`).
template <class Executor>
metrics_snapshot collect(basic_server<Executor> const& srv, redis_adapter const& redis) {
    auto m = collect(srv);
    m.redis = to_metrics(redis.state());
    return m;
}

} // namespace sse

#endif
