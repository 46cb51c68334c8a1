// The three-node fixture of the cluster-wide operation tests (sse/cluster.hpp): nodes.cpp runs
// it on one redis-server, redis_cluster_adapter.cpp on a Redis Cluster. Each node is a
// history_node (history_support.hpp); node C can be cut off from Redis without a goodbye.
#ifndef SSE_TEST_REDIS_NODES_SUPPORT_HPP
#define SSE_TEST_REDIS_NODES_SUPPORT_HPP

#include "history_support.hpp"

#include <sse/cluster.hpp>
#include <sse/detail/random_id.hpp>

#include <atomic>
#include <chrono>
#include <future>
#include <set>
#include <string>
#include <vector>

namespace nodes_test {

using namespace redis_test;
using namespace std::chrono_literals;

// Announces 10x faster than the default, so that a test waits fractions of a second.
inline sse::cluster_options quick() {
    sse::cluster_options c;
    c.announce_interval = 100ms;
    c.node_ttl = 600ms;
    c.request_timeout = 1500ms;
    return c;
}

// While set, node C's connections cannot come back (its redis_options::connect refuses).
inline std::atomic<bool> cut_c{false};

struct three_nodes {
    // `ports`: the Redis server, or every node of a cluster (the URL names the first).
    three_nodes(std::string const& tag, std::vector<unsigned short> ports,
                sse::history_options h = {}, sse::cluster_options cl = quick())
        : ports(std::move(ports))
        , prefix("nd" + tag + sse::detail::random_id(6))
        , a(test_options(url(), prefix), h, cl)
        , b(test_options(url(), prefix), h, cl)
        , c(c_options(), h, cl) {
        cut_c = false;
        // Every node knows the two others.
        REQUIRE(eventually(
            [&] {
                return a.io->peer_nodes().size() == 2 && b.io->peer_nodes().size() == 2 &&
                       c.io->peer_nodes().size() == 2;
            },
            10s));
    }
    ~three_nodes() { cut_c = false; }

    std::string url() const { return "redis://127.0.0.1:" + std::to_string(ports.front()); }

    sse::redis_options c_options() const {
        auto o = test_options(url(), prefix);
        // (On a cluster, connections the app makes stay where they are made: fine for
        // these tests, which use no shared history: PUBLISH reaches every node.)
        o.connect = [port = ports.front()](sse::redis_role) -> redisAsyncContext* {
            if (cut_c.load()) throw std::runtime_error("held down by the test");
            return redisAsyncConnect("127.0.0.1", port);
        };
        return o;
    }

    // Node C stops hearing and saying anything (as if its process hung or its network
    // went), without a goodbye.
    void cut_off_c() {
        cut_c = true;
        auto const id = std::string(c.redis->node_id());
        int killed = 0;
        for (auto port : ports)
            for (char const* role : {":sub", ":pub"}) {
                auto const client = redis_client_id(port, "sse:" + id + role);
                if (client.empty()) continue;
                killed += redis_command(port, {"CLIENT", "KILL", "ID", client}) == "1";
            }
        REQUIRE(killed == 2);
        REQUIRE(eventually([&] { return !c.redis->state().connected; }));
    }

    std::vector<unsigned short> ports;
    std::string prefix;
    history_node a, b, c;
};

// Runs fetch_clients and waits for its answer (at most `limit`).
inline sse::fetch_result fetch(sse::broadcast_operator const& target,
                               std::chrono::milliseconds limit = 5s) {
    auto done = std::make_shared<std::promise<sse::fetch_result>>();
    auto answer = done->get_future();
    target.fetch_clients([done](sse::fetch_result r) { done->set_value(std::move(r)); });
    REQUIRE(answer.wait_for(limit) == std::future_status::ready);
    return answer.get();
}

inline std::size_t in_room(history_node& n, std::string const& room) {
    return n.ns->room(room).size();
}

} // namespace nodes_test

#endif
