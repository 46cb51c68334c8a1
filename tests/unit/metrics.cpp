// sse/metrics.hpp: the Prometheus text of a snapshot built by hand (issue 15).
#include <sse/metrics.hpp>

#include "support/catch.hpp"

#include <string>

namespace {

sse::metrics_snapshot metrics_unit_snapshot(std::string name) {
    sse::metrics_snapshot m;
    sse::namespace_stats s;
    s.clients = 2;
    s.events_emitted = 7;
    s.queued_bytes = 10;
    s.queued_bytes_peak = 4096;
    s.write_latency.buckets = {0, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3};
    s.write_latency.count = 3;
    s.write_latency.sum = 12.5;
    m.namespaces.push_back({std::move(name), s});
    return m;
}

} // namespace

TEST_CASE("metrics: families with HELP and TYPE, _total counters, base units", "[unit][metrics]") {
    auto const text = sse::to_prometheus(metrics_unit_snapshot("/football"));
    CHECK(text.find("# HELP sse_connected_clients Clients connected now.\n"
                    "# TYPE sse_connected_clients gauge\n"
                    "sse_connected_clients{namespace=\"/football\"} 2\n") != std::string::npos);
    CHECK(text.find("# TYPE sse_events_emitted_total counter\n"
                    "sse_events_emitted_total{namespace=\"/football\"} 7\n") != std::string::npos);
    CHECK(text.find("sse_queued_bytes{namespace=\"/football\"} 10\n") != std::string::npos);
    CHECK(text.find("sse_queued_peak_bytes{namespace=\"/football\"} 4096\n") != std::string::npos);
    CHECK(
        text.find("sse_emit_to_write_seconds_bucket{namespace=\"/football\",le=\"5e-05\"} 0\n"
                  "sse_emit_to_write_seconds_bucket{namespace=\"/football\",le=\"0.0001\"} 1\n") !=
        std::string::npos);
    CHECK(text.find("sse_emit_to_write_seconds_bucket{namespace=\"/football\",le=\"10.0\"} 2\n"
                    "sse_emit_to_write_seconds_bucket{namespace=\"/football\",le=\"+Inf\"} 3\n"
                    "sse_emit_to_write_seconds_sum{namespace=\"/football\"} 12.5\n"
                    "sse_emit_to_write_seconds_count{namespace=\"/football\"} 3\n") !=
          std::string::npos);
    // Every counter family ends in _total; every line ends in a line feed.
    std::size_t at = 0;
    while ((at = text.find("# TYPE ", at)) != std::string::npos) {
        auto const end = text.find('\n', at);
        auto const line = text.substr(at, end - at);
        if (line.size() > 8 && line.compare(line.size() - 8, 8, " counter") == 0)
            CHECK(line.find("_total counter") != std::string::npos);
        at = end;
    }
    CHECK(text.back() == '\n');
    CHECK(text.find("sse_redis") == std::string::npos);
}

TEST_CASE("metrics: label values escape backslash, double quote and line feed", "[unit][metrics]") {
    auto const text = sse::to_prometheus(metrics_unit_snapshot("/a\"b\\c\nd"));
    CHECK(text.find("sse_connected_clients{namespace=\"/a\\\"b\\\\c\\nd\"} 2\n") !=
          std::string::npos);
}

TEST_CASE("metrics: the cluster series, when the snapshot has them", "[unit][metrics]") {
    sse::metrics_snapshot m;
    CHECK(sse::to_prometheus(m).find("sse_cluster_peers") == std::string::npos);
    m.cluster = sse::cluster_stats{2, 3, 1};
    auto const text = sse::to_prometheus(m);
    CHECK(text.find("# TYPE sse_cluster_peers gauge\nsse_cluster_peers 2\n") != std::string::npos);
    CHECK(text.find("\nsse_cluster_malformed_messages_total 3\n") != std::string::npos);
    CHECK(text.find("\nsse_cluster_handler_errors_total 1\n") != std::string::npos);
}

TEST_CASE("metrics: the Redis series, when the snapshot has them", "[unit][metrics]") {
    sse::metrics_snapshot m;
    sse::redis_metrics r;
    r.up = true;
    r.reconnects = 2;
    r.dropped = 1;
    r.subscriber_lag_seconds = 0.0025;
    m.redis = r;
    auto const text = sse::to_prometheus(m);
    CHECK(text.find("# TYPE sse_redis_adapter_up gauge\nsse_redis_adapter_up 1\n") !=
          std::string::npos);
    CHECK(text.find("# TYPE sse_redis_reconnects_total counter\nsse_redis_reconnects_total 2\n") !=
          std::string::npos);
    CHECK(text.find("\nsse_redis_dropped_total 1\n") != std::string::npos);
    CHECK(text.find("\nsse_redis_subscriber_lag_seconds 0.0025\n") != std::string::npos);
    // No namespace: the families are still declared, with no samples.
    CHECK(text.find("# TYPE sse_connected_clients gauge\n# HELP") != std::string::npos);
}
