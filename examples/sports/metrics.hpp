// metrics.hpp - GET /metrics: Prometheus text for both namespaces, Redis, and the demo's own
// series. (Issue 15 moves the library's part into sse/metrics.hpp.)
#ifndef SPORTS_METRICS_HPP
#define SPORTS_METRICS_HPP

#include "app.hpp"

#include <sse/server.hpp>

#include <cstdint>
#include <string>

namespace sports {

// GET /metrics
inline std::string metrics_text(app& a) {
    std::string out;
    auto family = [&](char const* name, char const* type, char const* help, auto value) {
        out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
        for (auto const* ns : {&a.football.untyped(), &a.cricket.untyped()}) {
            auto s = ns->stats();
            out += std::string(name) + "{namespace=\"" + ns->name() + "\"} " +
                   std::to_string(value(s)) + "\n";
        }
    };
    using stats = sse::namespace_stats;
    family("sse_connected_clients", "gauge", "Clients connected now.",
           [](stats const& s) { return s.clients; });
    family("sse_rooms", "gauge", "Rooms with at least one client on this node.",
           [](stats const& s) { return s.rooms; });
    family("sse_connections_total", "counter", "Clients admitted since start.",
           [](stats const& s) { return s.connections; });
    family("sse_rejected_total", "counter", "Clients refused (auth, overload, closed).",
           [](stats const& s) { return s.rejected; });
    family("sse_refused_full_total", "counter",
           "Clients told to come back later: max clients reached.",
           [](stats const& s) { return s.refused_full; });
    family("sse_refused_rate_total", "counter",
           "Clients told to come back later: past the admission rate.",
           [](stats const& s) { return s.refused_rate; });
    family("sse_handler_errors_total", "counter",
           "Exceptions thrown by middleware or handlers, caught.",
           [](stats const& s) { return s.handler_errors; });
    family("sse_oversized_events_total", "counter",
           "Events refused for being larger than a client's queue.",
           [](stats const& s) { return s.oversized_events; });
    family("sse_events_emitted_total", "counter", "Events emitted through the namespace.",
           [](stats const& s) { return s.events_emitted; });
    family("sse_deliveries_total", "counter", "Events queued to a client, one per recipient.",
           [](stats const& s) { return s.deliveries; });
    family("sse_slow_consumers_dropped_total", "counter",
           "Clients disconnected for falling too far behind.",
           [](stats const& s) { return s.slow_consumers; });
    out += "# HELP sports_matches Matches known to this node.\n# TYPE sports_matches gauge\n";
    for (auto sport : {"football", "cricket"})
        out += std::string("sports_matches{sport=\"") + sport + "\"} " +
               std::to_string(a.board.size(sport)) + "\n";
    auto state = a.redis_state();
    out += "# HELP sse_redis_adapter_up Whether the Redis adapter is connected (1), "
           "disconnected (0), or not used (-1).\n# TYPE sse_redis_adapter_up gauge\n";
    out += std::string("sse_redis_adapter_up ") +
           (state == "connected"  ? "1"
            : state == "disabled" ? "-1"
                                  : "0") +
           "\n";
#if SSE_DEMO_WITH_REDIS
    if (a.redis) {
        auto st = a.redis->state();
        auto counter = [&](char const* name, char const* help, std::uint64_t v) {
            out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " counter\n" +
                   name + " " + std::to_string(v) + "\n";
        };
        counter("sse_redis_reconnects_total", "Redis connections re-established.", st.reconnects);
        counter("sse_redis_connect_failures_total", "Failed Redis connection attempts.",
                st.connect_failures);
        counter("sse_redis_published_total", "Emits published to Redis.", st.published);
        counter("sse_redis_received_total", "Messages received from Redis.", st.received);
        counter("sse_redis_delivered_total", "Emits from other nodes delivered here.",
                st.delivered);
        counter("sse_redis_dropped_total", "Emits not published (pending bound reached).",
                st.dropped);
        counter("sse_redis_malformed_total", "Undecodable messages ignored.", st.malformed);
        out += "# HELP sse_redis_pending Emits waiting to be published.\n# TYPE sse_redis_pending "
               "gauge\nsse_redis_pending " +
               std::to_string(st.pending) + "\n";
    }
#endif
    out += "# HELP sports_request_errors_total Requests whose handling failed (answered 500).\n"
           "# TYPE sports_request_errors_total counter\nsports_request_errors_total " +
           std::to_string(a.request_errors.load()) + "\n";
    return out;
}

} // namespace sports

#endif
