// sse/metrics.hpp - a whole server's metrics: a struct snapshot and its Prometheus text.
//
//   // GET /metrics
//   auto text = sse::to_prometheus(sse::collect(server));      // every namespace
//   // with a Redis adapter (target sse::redis): #include <sse/redis_metrics.hpp>
//   auto text = sse::to_prometheus(sse::collect(server, *redis));
//
// Serve it with `Content-Type: text/plain; version=0.0.4`. The series are listed in the
// README ("Metrics"). See https://prometheus.io/docs/instrumenting/exposition_formats/
#ifndef SSE_METRICS_HPP
#define SSE_METRICS_HPP

#include <sse/latency_histogram.hpp>
#include <sse/namespace.hpp>
#include <sse/server.hpp>

#include <array>
#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace sse {

/// One namespace's counters, by name ("/football").
struct namespace_metrics {
    std::string name;
    namespace_stats stats;
};

/// A Redis adapter's state as metrics (filled by `collect` of <sse/redis_metrics.hpp>; this
/// header does not depend on hiredis).
struct redis_metrics {
    bool up = false;              ///< both connections up
    std::uint64_t reconnects = 0; ///< connections re-established
    std::uint64_t connect_failures = 0;
    std::uint64_t published = 0;       ///< emits Redis acknowledged
    std::uint64_t refused = 0;         ///< emits Redis answered with an error
    std::uint64_t received = 0;        ///< messages on our channels
    std::uint64_t delivered = 0;       ///< other nodes' emits handed to this server
    std::uint64_t dropped = 0;         ///< emits not published (max_pending_emits)
    std::uint64_t malformed = 0;       ///< undecodable or foreign messages, ignored
    std::uint64_t lost_notices = 0;    ///< other nodes' notices that they lost emits
    std::uint64_t channel_gaps = 0;    ///< messages pub/sub lost on the way here
    std::uint64_t pending = 0;         ///< emits waiting to be published
    double subscriber_lag_seconds = 0; ///< see redis_state::subscriber_lag
};

/// What `to_prometheus` writes: every namespace of a server, and its Redis adapter if given.
struct metrics_snapshot {
    std::vector<namespace_metrics> namespaces; ///< sorted by name
    std::optional<redis_metrics> redis;
    /// The cluster-wide operations (sse/cluster.hpp): peers alive, refused node messages.
    std::optional<cluster_stats> cluster;
};

/** Reads the counters of every namespace of `server` (each namespace's locks, one at a
    time; nothing is reset). Safe to call from any thread; cost: one `namespace_::stats()` per
    namespace (a walk over its rooms, and 16 shards of the write meters). */
template <class Executor>
metrics_snapshot collect(basic_server<Executor> const& srv) {
    metrics_snapshot m;
    for (auto& kv : srv.stats())
        m.namespaces.push_back(namespace_metrics{kv.first, kv.second});
    m.cluster = srv.cluster_stats();
    return m;
}

/// Appends the Prometheus text exposition (format 0.0.4) of `m` to `out`.
inline void append_prometheus(std::string& out, metrics_snapshot const& m);

/// The Prometheus text exposition (format 0.0.4) of `m`.
inline std::string to_prometheus(metrics_snapshot const& m) {
    std::string out;
    append_prometheus(out, m);
    return out;
}

namespace detail {

/// A label value as the text format wants it: backslash, double quote and line feed escaped.
inline void append_label_value(std::string& out, std::string_view v) {
    for (char c : v) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '"')
            out += "\\\"";
        else if (c == '\n')
            out += "\\n";
        else
            out += c;
    }
}

inline void append_number(std::string& out, std::uint64_t v) {
    std::array<char, 24> buf;
    auto const r = std::to_chars(buf.data(), buf.data() + buf.size(), v);
    out.append(buf.data(), r.ptr);
}

// Locale-independent (a printf would write "0,5" under a German LC_NUMERIC).
inline void append_number(std::string& out, double v) {
    std::array<char, 32> buf;
    auto const r = std::to_chars(buf.data(), buf.data() + buf.size(), v);
    if (r.ec != std::errc()) {
        out += "NaN";
        return;
    }
    out.append(buf.data(), r.ptr);
}

inline void append_family_head(std::string& out, char const* name, char const* type,
                               char const* help) {
    out += "# HELP ";
    out += name;
    out += ' ';
    out += help; // ours: no backslash or line feed to escape
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type;
    out += '\n';
}

inline void append_ns_sample(std::string& out, char const* name, char const* suffix,
                             std::string const& ns, char const* le) {
    out += name;
    out += suffix;
    out += "{namespace=\"";
    append_label_value(out, ns);
    out += '"';
    if (le) {
        out += ",le=\"";
        out += le;
        out += '"';
    }
    out += "} ";
}

} // namespace detail

inline void append_prometheus(std::string& out, metrics_snapshot const& m) {
    using detail::append_family_head;
    using detail::append_ns_sample;
    using detail::append_number;
    // One family of one value per namespace.
    auto family = [&](char const* name, char const* type, char const* help, auto value) {
        append_family_head(out, name, type, help);
        for (auto const& ns : m.namespaces) {
            append_ns_sample(out, name, "", ns.name, nullptr);
            append_number(out, static_cast<std::uint64_t>(value(ns.stats)));
            out += '\n';
        }
    };
    using st = namespace_stats const&;
    family("sse_connected_clients", "gauge", "Clients connected now.",
           [](st s) { return s.clients; });
    family("sse_rooms", "gauge", "Rooms with at least one client on this node.",
           [](st s) { return s.rooms; });
    family("sse_connections_total", "counter", "Clients admitted since start.",
           [](st s) { return s.connections; });
    family("sse_rejected_total", "counter",
           "Clients refused (middleware, overload, closed namespace).",
           [](st s) { return s.rejected; });
    family("sse_refused_full_total", "counter",
           "Clients told to come back later: max clients reached.",
           [](st s) { return s.refused_full; });
    family("sse_refused_rate_total", "counter",
           "Clients told to come back later: past the admission rate.",
           [](st s) { return s.refused_rate; });
    family("sse_handler_errors_total", "counter",
           "Exceptions thrown by middleware or handlers, caught.",
           [](st s) { return s.handler_errors; });
    family("sse_events_emitted_total", "counter", "Events emitted through the namespace.",
           [](st s) { return s.events_emitted; });
    family("sse_deliveries_total", "counter", "Events queued to a client, one per recipient.",
           [](st s) { return s.deliveries; });
    family("sse_oversized_events_total", "counter",
           "Events refused for being larger than a client's queue.",
           [](st s) { return s.oversized_events; });
    family("sse_slow_consumers_dropped_total", "counter",
           "Clients disconnected for falling too far behind (a reset under a policy is counted in "
           "the resets).",
           [](st s) { return s.slow_consumers; });
    family("sse_replays_total", "counter", "Reconnects served from history.",
           [](st s) { return s.replays; });
    family("sse_resets_total", "counter",
           "Clients told to reset (a gap in history, an unknown id, a late event).",
           [](st s) { return s.resets; });
    family("sse_late_events_total", "counter",
           "Other nodes' events that came after newer ids had been sent.",
           [](st s) { return s.late_events; });
    family("sse_history_events", "gauge", "Events kept for replay, over all rooms.",
           [](st s) { return s.history_events; });
    family("sse_queued_bytes", "gauge", "Bytes queued to clients and not yet written.",
           [](st s) { return s.queued_bytes; });
    family("sse_queued_peak_bytes", "gauge", "The most bytes queued to clients at once.",
           [](st s) { return s.queued_bytes_peak; });

    char const* const h = "sse_emit_to_write_seconds";
    append_family_head(out, h, "histogram",
                       "Time from an emit to the socket write that carries it (once per "
                       "write, from its oldest event).");
    for (auto const& ns : m.namespaces) {
        auto const& w = ns.stats.write_latency;
        for (std::size_t i = 0; i < latency_histogram::size; ++i) {
            append_ns_sample(out, h, "_bucket", ns.name, latency_histogram::bound_labels[i]);
            append_number(out, w.buckets[i]);
            out += '\n';
        }
        append_ns_sample(out, h, "_bucket", ns.name, "+Inf");
        append_number(out, w.buckets[latency_histogram::size]);
        out += '\n';
        append_ns_sample(out, h, "_sum", ns.name, nullptr);
        append_number(out, w.sum);
        out += '\n';
        append_ns_sample(out, h, "_count", ns.name, nullptr);
        append_number(out, w.count);
        out += '\n';
    }

    auto one = [&](char const* name, char const* type, char const* help, auto v) {
        append_family_head(out, name, type, help);
        out += name;
        out += ' ';
        append_number(out, v);
        out += '\n';
    };
    if (m.cluster) {
        auto const& c = *m.cluster;
        one("sse_cluster_peers", "gauge",
            "Other nodes alive (announced within options::cluster.node_ttl).",
            std::uint64_t(c.peers));
        one("sse_cluster_malformed_messages_total", "counter",
            "Node messages refused as malformed (ignored).", c.malformed_messages);
        one("sse_cluster_handler_errors_total", "counter",
            "fetch_clients or server-event handlers that threw (caught).", c.handler_errors);
    }

    if (!m.redis) return;
    auto const& r = *m.redis;
    one("sse_redis_adapter_up", "gauge", "Whether the Redis adapter is connected (1) or not (0).",
        std::uint64_t(r.up ? 1 : 0));
    one("sse_redis_reconnects_total", "counter", "Redis connections re-established.", r.reconnects);
    one("sse_redis_connect_failures_total", "counter", "Failed Redis connection attempts.",
        r.connect_failures);
    one("sse_redis_published_total", "counter", "Emits published to Redis.", r.published);
    one("sse_redis_refused_total", "counter",
        "Emits Redis answered with an error (the other nodes were told to reset).", r.refused);
    one("sse_redis_received_total", "counter", "Messages received from Redis.", r.received);
    one("sse_redis_delivered_total", "counter", "Emits from other nodes delivered here.",
        r.delivered);
    one("sse_redis_dropped_total", "counter", "Emits not published (pending bound reached).",
        r.dropped);
    one("sse_redis_malformed_total", "counter", "Undecodable messages ignored.", r.malformed);
    one("sse_redis_lost_notices_total", "counter",
        "Notices from other nodes that they lost emits (their rooms' clients were reset).",
        r.lost_notices);
    one("sse_redis_channel_gaps_total", "counter",
        "Messages Redis pub/sub lost on their way to this node (seen by channel numbers).",
        r.channel_gaps);
    one("sse_redis_pending", "gauge", "Emits waiting to be published.", r.pending);
    one("sse_redis_subscriber_lag_seconds", "gauge",
        "How long this node's last own message took from publish to its return on the "
        "subscriber connection.",
        r.subscriber_lag_seconds);
}

} // namespace sse

#endif
