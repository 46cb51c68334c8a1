// sse/detail/cluster_topology.hpp - which Redis Cluster node owns each hash slot, built from
// a CLUSTER SLOTS or CLUSTER SHARDS reply (sans-I/O: no hiredis, no sockets).
//
// The caller converts the server's reply into a `cluster_reply` tree (the adapter does it from
// hiredis' redisReply) and gets a `cluster_slot_map`: per slot, the shard whose master serves it
// and that master's replicas. A reply that does not have the documented shape gives no map and
// a reason (the caller keeps its previous map), never an exception and never a half-built map.
//
// Endpoints: an endpoint that is NULL or "" means "the host you asked, at this port" (Redis's
// rule for nodes behind a load balancer), so it becomes `seed_host`; "?" means the node has no
// known endpoint. Such a master's slots stay unassigned (covers_all_slots() is then false and
// the caller should refresh later); such a replica is left out.
#ifndef SSE_DETAIL_CLUSTER_TOPOLOGY_HPP
#define SSE_DETAIL_CLUSTER_TOPOLOGY_HPP

#include <sse/detail/cluster_slot_map.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sse::detail {

/// A server reply as a plain tree (RESP2 shapes; a status reply counts as a string).
struct cluster_reply {
    enum class kind { nil, integer, string, array, error };
    kind type = kind::nil;
    long long integer = 0;
    std::string text;                    ///< string and error
    std::vector<cluster_reply> elements; ///< array
};

namespace cluster_topology_impl {

// Records why a reply was refused; returns the "no map" result.
inline std::nullopt_t fail(std::string* why, std::string text) {
    if (why) *why = std::move(text);
    return std::nullopt;
}

inline std::optional<long long> as_integer(cluster_reply const& r) {
    if (r.type == cluster_reply::kind::integer) return r.integer;
    if (r.type != cluster_reply::kind::string || r.text.empty() || r.text.size() > 18)
        return std::nullopt;
    long long v = 0;
    for (char c : r.text) {
        if (c < '0' || c > '9') return std::nullopt;
        v = v * 10 + (c - '0');
    }
    return v;
}

enum class endpoint_status { ok, unknown, malformed };

// Fills node.host/port from an endpoint reply and a port reply (rules at the top).
inline endpoint_status read_endpoint(cluster_reply const* host, cluster_reply const* port,
                                     std::string_view seed_host, cluster_node& node) {
    auto const p = port ? as_integer(*port) : std::nullopt;
    if (!p || *p <= 0 || *p > 65535) return endpoint_status::malformed;
    node.port = static_cast<std::uint16_t>(*p);
    if (!host || host->type == cluster_reply::kind::nil) {
        node.host = std::string(seed_host);
        return endpoint_status::ok;
    }
    if (host->type != cluster_reply::kind::string) return endpoint_status::malformed;
    if (host->text == "?") return endpoint_status::unknown;
    if (host->text.empty()) {
        node.host = std::string(seed_host);
        return endpoint_status::ok;
    }
    node.host = host->text;
    return endpoint_status::ok;
}

inline bool slot_bounds(cluster_reply const& a, cluster_reply const& b, std::uint16_t& first,
                        std::uint16_t& last) {
    auto const x = as_integer(a), y = as_integer(b);
    if (!x || !y || *x < 0 || *y < *x || *y >= cluster_slot_count) return false;
    first = static_cast<std::uint16_t>(*x);
    last = static_cast<std::uint16_t>(*y);
    return true;
}

// In a RESP2 map (a flat key/value array), the value under `key`, or nullptr.
inline cluster_reply const* field(cluster_reply const& map, std::string_view key) {
    if (map.type != cluster_reply::kind::array) return nullptr;
    for (std::size_t i = 0; i + 1 < map.elements.size(); i += 2)
        if (map.elements[i].type == cluster_reply::kind::string && map.elements[i].text == key)
            return &map.elements[i + 1];
    return nullptr;
}

inline std::string_view text_of(cluster_reply const* r) {
    return r && r->type == cluster_reply::kind::string ? std::string_view(r->text)
                                                       : std::string_view();
}

} // namespace cluster_topology_impl

/// Parses a CLUSTER SLOTS reply: [[first, last, [host, port, id, ...] (master), replicas...]...].
inline std::optional<cluster_slot_map> parse_cluster_slots(cluster_reply const& reply,
                                                           std::string_view seed_host,
                                                           std::string* why = nullptr) {
    using namespace cluster_topology_impl;
    using kind = cluster_reply::kind;
    if (reply.type != kind::array) return fail(why, "CLUSTER SLOTS: not an array");
    cluster_slot_map map;
    for (auto const& entry : reply.elements) {
        std::uint16_t first = 0, last = 0;
        if (entry.type != kind::array || entry.elements.size() < 3 ||
            !slot_bounds(entry.elements[0], entry.elements[1], first, last))
            return fail(why, "CLUSTER SLOTS: malformed slot range");
        auto const range = std::to_string(first) + "-" + std::to_string(last);
        cluster_shard shard;
        bool master_known = false;
        for (std::size_t i = 2; i < entry.elements.size(); ++i) {
            auto const& n = entry.elements[i];
            if (n.type != kind::array || n.elements.size() < 2)
                return fail(why, "CLUSTER SLOTS: malformed node in slots " + range);
            cluster_node node;
            auto const st = read_endpoint(&n.elements[0], &n.elements[1], seed_host, node);
            if (st == endpoint_status::malformed)
                return fail(why, "CLUSTER SLOTS: malformed node in slots " + range);
            if (n.elements.size() >= 3) node.id = text_of(&n.elements[2]);
            if (i == 2) {
                master_known = st == endpoint_status::ok;
                shard.master = std::move(node);
            } else if (st == endpoint_status::ok) {
                shard.replicas.push_back(std::move(node));
            }
        }
        if (master_known && !map.add(first, last, shard))
            return fail(why, "CLUSTER SLOTS: slots " + range + " claimed twice");
    }
    return map;
}

/// Parses a CLUSTER SHARDS reply (Redis 7): [["slots", [first, last, ...], "nodes", [[k, v,
/// ...]...]]...]. The online master serves the shard's slots (any master when none is online);
/// online replicas are listed. Shards without slots are skipped.
inline std::optional<cluster_slot_map> parse_cluster_shards(cluster_reply const& reply,
                                                            std::string_view seed_host,
                                                            std::string* why = nullptr) {
    using namespace cluster_topology_impl;
    using kind = cluster_reply::kind;
    if (reply.type != kind::array) return fail(why, "CLUSTER SHARDS: not an array");
    cluster_slot_map map;
    for (auto const& entry : reply.elements) {
        auto const* slots = field(entry, "slots");
        auto const* nodes = field(entry, "nodes");
        if (!slots || !nodes || slots->type != kind::array || nodes->type != kind::array ||
            slots->elements.size() % 2 != 0)
            return fail(why, "CLUSTER SHARDS: malformed shard");
        if (slots->elements.empty()) continue;
        cluster_shard shard;
        int master_rank = 0; // 2: online master, 1: other master
        for (auto const& n : nodes->elements) {
            cluster_node node;
            auto const* endpoint = field(n, "endpoint");
            auto st = read_endpoint(endpoint ? endpoint : field(n, "ip"), field(n, "port"),
                                    seed_host, node);
            if (st == endpoint_status::malformed)
                return fail(why, "CLUSTER SHARDS: malformed node");
            node.id = text_of(field(n, "id"));
            bool const online = text_of(field(n, "health")) == "online";
            if (text_of(field(n, "role")) == "master") {
                int const rank = st == endpoint_status::ok ? (online ? 2 : 1) : 0;
                if (rank > master_rank) shard.master = std::move(node), master_rank = rank;
            } else if (online && st == endpoint_status::ok) {
                shard.replicas.push_back(std::move(node));
            }
        }
        if (master_rank == 0) continue; // no reachable master: its slots stay unassigned
        for (std::size_t i = 0; i < slots->elements.size(); i += 2) {
            std::uint16_t first = 0, last = 0;
            if (!slot_bounds(slots->elements[i], slots->elements[i + 1], first, last))
                return fail(why, "CLUSTER SHARDS: malformed slot range");
            if (!map.add(first, last, shard))
                return fail(why, "CLUSTER SHARDS: slots " + std::to_string(first) + "-" +
                                     std::to_string(last) + " claimed twice");
        }
    }
    return map;
}

} // namespace sse::detail

#endif
