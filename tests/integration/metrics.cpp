// Integration: sse/metrics.hpp on a real server (issue 15): the struct form and its
// Prometheus text agree with what clients saw; queued bytes follow a reader that stalls.
#include <sse/metrics.hpp>

#include "fixture.hpp"

#include <algorithm>

using namespace sse_test;

namespace {

std::string metrics_line(std::string const& name, std::string const& labels, std::uint64_t v) {
    return "\n" + name + "{" + labels + "} " + std::to_string(v) + "\n";
}

} // namespace

TEST_CASE("metrics: clients, emits, deliveries and one latency observation per write",
          "[integration][metrics]") {
    fixture f;
    constexpr int n = 3;
    constexpr int e = 5;
    std::vector<opened> clients;
    for (int i = 0; i < n; ++i)
        clients.push_back(f.open("/m"));
    auto other = f.open("/other");
    auto& ns = f.ns("/m");
    // The head and the `connection` event were written, but no emit: nothing observed yet.
    CHECK(ns.stats().write_latency.count == 0);
    for (int k = 0; k < e; ++k) {
        ns.emit("tick", {{"k", k}});
        // Each client's copy arrives before the next emit: one event, one write, each.
        for (auto& c : clients) {
            auto ev = c.reader.next_event();
            REQUIRE(ev);
            CHECK(ev->event == "tick");
        }
    }
    REQUIRE(eventually([&] { return ns.stats().queued_bytes == 0; }));

    auto const m = sse::collect(*f.io);
    REQUIRE(m.namespaces.size() == 2);
    CHECK(m.namespaces[0].name == "/m"); // by name
    CHECK(m.namespaces[1].name == "/other");
    auto const& s = m.namespaces[0].stats;
    CHECK(s.clients == n);
    CHECK(s.connections == n);
    CHECK(s.events_emitted == e);
    CHECK(s.deliveries == n * e);
    CHECK(s.queued_bytes == 0);
    CHECK(s.queued_bytes_peak > 0); // each emit sat in the queues before its writes
    auto const& h = s.write_latency;
    CHECK(h.count == n * e);
    CHECK(h.buckets.back() == h.count);
    CHECK(std::is_sorted(h.buckets.begin(), h.buckets.end())); // cumulative
    CHECK(h.sum > 0);
    CHECK(h.sum < 10.0 * n * e); // seconds: every write well under the last bound
    CHECK(m.namespaces[1].stats.clients == 1);
    CHECK(m.namespaces[1].stats.write_latency.count == 0);
    CHECK(!m.redis);

    auto const text = sse::to_prometheus(m);
    CHECK(text.rfind("# HELP sse_connected_clients ", 0) == 0);
    CHECK(text.find("\n# TYPE sse_connected_clients gauge\n") != std::string::npos);
    std::string const lm = "namespace=\"/m\"";
    CHECK(text.find(metrics_line("sse_connected_clients", lm, n)) != std::string::npos);
    CHECK(text.find(metrics_line("sse_events_emitted_total", lm, e)) != std::string::npos);
    CHECK(text.find(metrics_line("sse_deliveries_total", lm, n * e)) != std::string::npos);
    CHECK(text.find("\n# TYPE sse_emit_to_write_seconds histogram\n") != std::string::npos);
    CHECK(text.find(metrics_line("sse_emit_to_write_seconds_bucket", lm + ",le=\"+Inf\"", n * e)) !=
          std::string::npos);
    CHECK(text.find(metrics_line("sse_emit_to_write_seconds_count", lm, n * e)) !=
          std::string::npos);
    CHECK(text.find(metrics_line("sse_connected_clients", "namespace=\"/other\"", 1)) !=
          std::string::npos);
    CHECK(text.find("sse_redis") == std::string::npos); // no adapter given
    CHECK(text.back() == '\n');
}

TEST_CASE("metrics: queued bytes rise while a reader stalls and fall to 0 when it goes",
          "[integration][metrics]") {
    auto opts = quiet_options();
    opts.max_buffered_bytes = 64 * 1024 * 1024; // room to queue while the socket is full
    fixture f(opts);
    auto stalled = f.open("/q");
    auto& ns = f.ns("/q");
    std::string const big(256 * 1024, 'x');
    // The reader reads nothing more: the kernel's buffers fill, then the client's queue.
    for (int i = 0; i < 200 && ns.stats().queued_bytes == 0; ++i) {
        ns.emit("big", sse::text(big));
        std::this_thread::sleep_for(2ms);
    }
    auto const s = ns.stats();
    REQUIRE(s.queued_bytes > 0);
    CHECK(s.queued_bytes_peak >= s.queued_bytes);
    CHECK(s.queued_bytes <= opts.max_buffered_bytes);
    stalled.reader.close();
    // The client goes (peer closed): what it still had queued leaves the gauge with it.
    REQUIRE(eventually([&] { return ns.stats().clients == 0; }));
    CHECK(eventually([&] { return ns.stats().queued_bytes == 0; }));
    CHECK(ns.stats().queued_bytes_peak >= s.queued_bytes);
}
