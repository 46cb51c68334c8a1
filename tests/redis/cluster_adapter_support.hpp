// What the cluster adapter tests share: the fixture's ports, which master serves a key, a
// killed node restarted as it was, two sse nodes on the cluster, the failover check, and
// INFO/PUBSUB helpers.
#ifndef SSE_TEST_REDIS_CLUSTER_ADAPTER_SUPPORT_HPP
#define SSE_TEST_REDIS_CLUSTER_ADAPTER_SUPPORT_HPP

#include "nodes_support.hpp"

#include <sse/detail/random_id.hpp>
#include <sse/detail/redis_message.hpp>

#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

namespace cluster_adapter_test {

using namespace redis_test;
using namespace std::chrono_literals;

inline std::vector<unsigned short> cluster_ports() {
    char const* file = std::getenv("SSE_TEST_REDIS_CLUSTER_PORTS_FILE");
    if (!file || !*file) FAIL("SSE_TEST_REDIS_CLUSTER_PORTS_FILE is not set: run through ctest");
    std::ifstream in(file);
    std::vector<unsigned short> ports;
    unsigned p = 0;
    while (in >> p)
        ports.push_back(static_cast<unsigned short>(p));
    REQUIRE(ports.size() == 6);
    return ports;
}

inline std::string url_of(unsigned short port) {
    return "redis://127.0.0.1:" + std::to_string(port);
}

// The port of the master that serves `key`'s slot now, asked of any live node.
inline unsigned short master_of(std::string const& key, std::vector<unsigned short> const& ports) {
    for (auto p : ports) {
        // A node that does not serve the slot answers MOVED with the one that does.
        auto const reply = redis_command(p, {"GET", key});
        if (reply.empty()) { // nil: served here, if this is a master (and alive at all)
            if (redis_command(p, {"ROLE"}).rfind("master", 0) == 0) return p;
            continue;
        }
        if (reply.rfind("MOVED ", 0) == 0)
            return static_cast<unsigned short>(std::stoi(reply.substr(reply.rfind(':') + 1)));
    }
    return 0;
}

// Restarts a fixture node (killed by the test) with its own settings when it goes: it
// rejoins with its nodes.conf, as a replica of whoever took its slots.
struct node_restart {
    explicit node_restart(unsigned short port)
        : port(port) {
        auto get = [&](char const* name) {
            // CONFIG GET answers [name, value]; redis_command joins them with a space.
            auto r = redis_command(port, {"CONFIG", "GET", name});
            return r.substr(r.find(' ') + 1);
        };
        dir = get("dir");
        bus = get("cluster-port");
        timeout = get("cluster-node-timeout");
    }
    ~node_restart() {
        auto const cmd = "cd '" + dir + "' && redis-server --port " + std::to_string(port) +
                         " --cluster-port " + bus +
                         " --bind 127.0.0.1 --save '' --appendonly no --daemonize yes"
                         " --cluster-enabled yes --cluster-config-file nodes.conf"
                         " --cluster-node-timeout " +
                         timeout +
                         " --repl-diskless-sync-delay 0 --repl-ping-replica-period 1"
                         " --shutdown-timeout 0 --pidfile '" +
                         dir + "/redis.pid' --dir '" + dir + "' --logfile '" + dir +
                         "/redis.log' >/dev/null";
        if (std::system(cmd.c_str()) != 0) return;
        // Back once it knows it is a replica now (it starts as the master its nodes.conf
        // remembers, until the cluster tells it otherwise) and has synced.
        eventually(
            [&] {
                auto const role = redis_command(port, {"ROLE"});
                return role.rfind("slave", 0) == 0 && role.find("connected") != std::string::npos;
            },
            20s);
        // ... and every node sees 3 masters and 3 replicas, none failing, again.
        eventually(
            [&] {
                for (auto p : cluster_ports()) {
                    std::istringstream nodes(redis_command(p, {"CLUSTER", "NODES"}));
                    int masters = 0, replicas = 0;
                    for (std::string line; std::getline(nodes, line);) {
                        if (line.find("fail") != std::string::npos) return false;
                        masters += line.find("master") != std::string::npos;
                        replicas += line.find("slave") != std::string::npos;
                    }
                    if (masters != 3 || replicas != 3) return false;
                    // CLUSTER SHARDS lists a replica only once its health is "online"
                    // (synced): the next test reads the map from it.
                    auto const cmd = "redis-cli -p " + std::to_string(p) +
                                     " CLUSTER SHARDS | grep -qx online && test \"$(redis-cli -p " +
                                     std::to_string(p) + " CLUSTER SHARDS | grep -cx online)\" = 6";
                    if (std::system(cmd.c_str()) != 0) return false;
                }
                return true;
            },
            30s);
    }
    unsigned short port;
    std::string dir, bus, timeout;
};

struct two_nodes {
    explicit two_nodes(sse::history_options h, unsigned short seed_a, unsigned short seed_b)
        : prefix("rc" + sse::detail::random_id(6))
        , a(test_options(url_of(seed_a), prefix), h, nodes_test::quick())
        , b(test_options(url_of(seed_b), prefix), h, nodes_test::quick()) {
        REQUIRE(eventually([&] { return a.synced(1) && b.synced(1); }, 10s));
        CHECK(a.redis->state().cluster);
        CHECK(b.redis->state().cluster);
    }
    std::string prefix;
    history_node a, b;
};

// Emits 1-5 on A while a master is dead, then 6: B's client gets 1-5 in order or a reset in
// their place (never a silent hole), then 6 live again, each event newer than the last.
inline void expect_through_failover(two_nodes& f, client& on_b, std::string const& room) {
    for (int i = 1; i <= 5; ++i) {
        f.a.ns->to(room).emit("e", i);
        std::this_thread::sleep_for(100ms);
    }
    std::vector<int> got;
    bool reset = false;
    while (got.size() < 5 && !reset) {
        auto e = on_b.reader.next_event(25s);
        if (!e) {
            for (auto* n : {&f.a, &f.b}) {
                auto const st = n->redis->state();
                UNSCOPED_INFO("shards " << st.shards << " up " << st.shard_connections
                                        << " pending " << st.pending << " dropped " << st.dropped
                                        << " gaps " << st.channel_gaps << " recoveries "
                                        << st.recoveries << " resets " << st.history_resets
                                        << " subscribed " << st.subscribed_channels << "/"
                                        << st.wanted_channels << " pending subs "
                                        << st.pending_subscriptions << " error " << st.last_error);
            }
        }
        REQUIRE(e);
        if (e->event == "reset") {
            reset = true;
            break;
        }
        REQUIRE(e->event == "e");
        got.push_back(std::stoi(e->data));
    }
    if (!reset) CHECK(got == std::vector<int>{1, 2, 3, 4, 5});
    // Then live again. (After a reset, what was still on its way may follow it: each event
    // newer than the last, never one twice.)
    f.a.ns->to(room).emit("e", 6);
    int last = got.empty() ? 0 : got.back();
    for (int n = 0; n < 10; ++n) {
        auto e = on_b.reader.next_event(25s);
        REQUIRE(e);
        if (e->event == "reset") continue;
        REQUIRE(e->event == "e");
        int const v = std::stoi(e->data);
        CHECK(v > last);
        last = v;
        if (v == 6) break;
    }
    CHECK(last == 6);
}

// The process id of the redis-server on `port`.
inline int process_id(unsigned short port) {
    auto const info = redis_command(port, {"INFO", "server"});
    auto const at = info.find("process_id:");
    REQUIRE(at != std::string::npos);
    return std::stoi(info.substr(at + 11));
}

// Sum of `calls` of one command in INFO commandstats over the given nodes.
inline long long command_calls(std::vector<unsigned short> const& ports, std::string const& name) {
    long long n = 0;
    for (auto p : ports) {
        auto const stats = redis_command(p, {"INFO", "commandstats"});
        auto const key = "cmdstat_" + name + ":calls=";
        auto const at = stats.find(key);
        if (at != std::string::npos) n += std::stoll(stats.substr(at + key.size()));
    }
    return n;
}

// The masters of the cluster now (one per shard).
inline std::vector<unsigned short> masters(std::vector<unsigned short> const& ports) {
    std::vector<unsigned short> out;
    for (auto p : ports)
        if (redis_command(p, {"ROLE"}).rfind("master", 0) == 0) out.push_back(p);
    return out;
}

// Room names whose channels (`<prefix>#/s#<room>`) cover every master `per_master` times:
// rooms spread over shards by their slots.
inline std::vector<std::string>
rooms_on_every_shard(std::string const& prefix, std::vector<unsigned short> const& ports,
                     int per_master, std::map<unsigned short, std::set<std::string>>& at) {
    std::vector<std::string> rooms;
    auto const m = masters(ports);
    REQUIRE(m.size() == 3);
    for (int i = 0; rooms.size() < m.size() * static_cast<std::size_t>(per_master); ++i) {
        REQUIRE(i < 1000);
        auto const room = "room" + std::to_string(i);
        auto const channel = sse::detail::redis_channel(prefix, "/s", room);
        auto const owner = master_of(channel, ports);
        if (at[owner].size() >= static_cast<std::size_t>(per_master)) continue;
        at[owner].insert(channel);
        rooms.push_back(room);
    }
    return rooms;
}

inline std::set<std::string> words(std::string const& text) {
    std::istringstream in(text);
    std::set<std::string> out;
    for (std::string w; in >> w;)
        out.insert(w);
    return out;
}

} // namespace cluster_adapter_test

#endif
