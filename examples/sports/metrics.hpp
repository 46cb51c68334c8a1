// metrics.hpp - GET /metrics: the library's Prometheus text (every namespace, and Redis when
// the demo uses it: sse/metrics.hpp) plus the demo's own series.
#ifndef SPORTS_METRICS_HPP
#define SPORTS_METRICS_HPP

#include "app.hpp"

#include <sse/metrics.hpp>
#if SSE_DEMO_WITH_REDIS
#include <sse/redis_metrics.hpp>
#endif

#include <string>

namespace sports {

// GET /metrics
inline std::string metrics_text(app& a) {
    std::string out;
#if SSE_DEMO_WITH_REDIS
    if (a.redis)
        sse::append_prometheus(out, sse::collect(a.io, *a.redis));
    else
#endif
        sse::append_prometheus(out, sse::collect(a.io));
    // The demo's own series.
    out += "# HELP sports_matches Matches known to this node.\n# TYPE sports_matches gauge\n";
    for (auto sport : {"football", "cricket"})
        out += std::string("sports_matches{sport=\"") + sport + "\"} " +
               std::to_string(a.board.size(sport)) + "\n";
    if (a.redis_state() == "disabled") // the library writes it (1 or 0) for a Redis adapter
        out += "# HELP sse_redis_adapter_up Whether the Redis adapter is connected (1), "
               "disconnected (0), or not used (-1).\n# TYPE sse_redis_adapter_up gauge\n"
               "sse_redis_adapter_up -1\n";
    out += "# HELP sports_request_errors_total Requests whose handling failed (answered 500).\n"
           "# TYPE sports_request_errors_total counter\nsports_request_errors_total " +
           std::to_string(a.request_errors.load()) + "\n";
    return out;
}

} // namespace sports

#endif
