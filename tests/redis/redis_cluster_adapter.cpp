// Redis Cluster: sse nodes with the Redis adapter pointed at one node of a real cluster (3
// masters, 3 replicas; redis_cluster_fixture.sh), with the same URL form as a single server.
// Emits cross nodes exactly once, the shared history replays across nodes, the cluster-wide
// operations work, and a master that dies mid-stream costs at most a counted loss or a reset.
// Rooms travel sharded pub/sub: each channel on its slot's master, one SPUBLISH per emit.
#include "nodes_support.hpp"

#include <sse/detail/cluster_slots.hpp>
#include <sse/detail/random_id.hpp>
#include <sse/detail/redis_message.hpp>

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <future>
#include <map>
#include <set>
#include <sstream>

using namespace redis_test;
using namespace std::chrono_literals;

namespace cluster_adapter_test {

std::vector<unsigned short> cluster_ports() {
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

std::string url_of(unsigned short port) {
    return "redis://127.0.0.1:" + std::to_string(port);
}

// The port of the master that serves `key`'s slot now, asked of any live node.
unsigned short master_of(std::string const& key, std::vector<unsigned short> const& ports) {
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
void expect_through_failover(two_nodes& f, client& on_b, std::string const& room) {
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
int process_id(unsigned short port) {
    auto const info = redis_command(port, {"INFO", "server"});
    auto const at = info.find("process_id:");
    REQUIRE(at != std::string::npos);
    return std::stoi(info.substr(at + 11));
}

} // namespace cluster_adapter_test

using namespace cluster_adapter_test;

TEST_CASE("redis cluster adapter: the same URL works; emits cross nodes exactly once, in order",
          "[redis][cluster][cluster_adapter]") {
    auto const ports = cluster_ports();
    // Each node seeded with a different cluster node, neither of them necessarily the one
    // that owns the history's slot.
    two_nodes f(sse::history_options{}, ports[0], ports[1]);
    client on_a(f.a, "m"), on_b(f.b, "m");
    REQUIRE(eventually([&] { return f.a.synced(3) && f.b.synced(3); }, 10s));
    for (int i = 0; i < 20; ++i)
        (i % 2 ? f.a : f.b).ns->to("m").emit("goal", i);
    for (auto* cl : {&on_a, &on_b}) {
        std::vector<int> got;
        for (int i = 0; i < 20; ++i)
            got.push_back(cl->expect("goal").second.get<int>());
        // Each node's own emits in order; every emit once.
        std::vector<int> odd, even;
        for (int v : got)
            (v % 2 ? odd : even).push_back(v);
        CHECK(odd == std::vector<int>{1, 3, 5, 7, 9, 11, 13, 15, 17, 19});
        CHECK(even == std::vector<int>{0, 2, 4, 6, 8, 10, 12, 14, 16, 18});
    }
    // The cluster-wide operations ride the same connections.
    REQUIRE(eventually([&] { return f.a.io->peer_nodes().size() == 1; }));
    CHECK(eventually([&] { return f.a.ns->presence("m") == 2; }));
}

TEST_CASE("redis cluster adapter: shared history on a cluster replays across nodes",
          "[redis][cluster][cluster_adapter]") {
    auto const ports = cluster_ports();
    two_nodes f(history(), ports[2], ports[3]);
    client on_a(f.a, "r");
    REQUIRE(eventually([&] { return f.a.synced(3); }, 10s));
    std::uint64_t last = 0;
    for (int i = 0; i < 5; ++i)
        f.b.ns->to("r").emit("e", i);
    for (int i = 0; i < 5; ++i) {
        auto [id, data] = on_a.expect("e");
        CHECK(data == i);
        CHECK(id > last);
        last = id;
    }
    // Every history key lives in the slot of the adapter's hash tag: the history is there.
    auto const tag = "{" + f.prefix + "#h}";
    auto const owner = master_of(tag, ports);
    REQUIRE(owner != 0);
    auto const keys = redis_command(
        owner, {"CLUSTER", "COUNTKEYSINSLOT", std::to_string(sse::detail::key_slot(tag))});
    CHECK(std::stoi(keys) >= 3);
    // A client that comes back to B with the id of event 1 gets 2, 3, 4 from the history.
    on_a.reader.close();
    f.a.ns->to("r").emit("e", 5);
    client back(f.b, "r", std::to_string(last - 0)); // after the last: only 5 is new
    CHECK(back.expect("e").second == 5);
}

TEST_CASE("redis cluster adapter: the history's master dies mid-stream; delivery resumes after "
          "the failover, with no silent loss",
          "[redis][cluster][cluster_adapter][failover]") {
    auto const ports = cluster_ports();
    two_nodes f(history(), ports[0], ports[4]);
    client on_b(f.b, "r");
    REQUIRE(eventually([&] { return f.b.synced(3); }, 10s));
    f.a.ns->to("r").emit("e", 0);
    CHECK(on_b.expect("e").second == 0);

    auto const tag = "{" + f.prefix + "#h}";
    auto const owner = master_of(tag, ports);
    REQUIRE(owner != 0);
    auto const victim = process_id(owner);
    // Kill it: its replica takes over after cluster-node-timeout. It comes back (as a
    // replica) when the test ends, so that the fixture's cluster is whole for the next test.
    node_restart restart(owner);
    REQUIRE(::kill(victim, SIGKILL) == 0);
    expect_through_failover(f, on_b, "r");
    CHECK(f.a.redis->state().cluster);
}

TEST_CASE("redis cluster adapter: the cluster-wide operations across three nodes, one of them "
          "cut off",
          "[redis][cluster][cluster_adapter][nodes]") {
    auto const ports = cluster_ports();
    nodes_test::three_nodes f("cl", ports);
    client a1(f.a, "m"), b1(f.b, "m"), c1(f.c, "m");
    CHECK(eventually([&] { return f.a.ns->presence("m") == 3 && f.c.ns->presence("m") == 3; }));
    auto r = nodes_test::fetch(f.b.ns->in("m"));
    CHECK(r.clients.size() == 3);
    CHECK(r.missing_nodes.empty());
    f.a.ns->in("m").join("x");
    CHECK(eventually([&] { return nodes_test::in_room(f.c, "x") == 1; }));

    f.cut_off_c();
    auto const start = std::chrono::steady_clock::now();
    r = nodes_test::fetch(f.a.ns->in("m"));
    CHECK(std::chrono::steady_clock::now() - start < 2500ms); // never past the timeout
    CHECK(r.clients.size() == 2);
    if (!r.missing_nodes.empty())
        CHECK(r.missing_nodes == std::vector<std::string>{std::string(f.c.redis->node_id())});
    CHECK(eventually([&] { return f.a.ns->presence("m") == 2; }));
}

namespace cluster_adapter_test {

// Sum of `calls` of one command in INFO commandstats over the given nodes.
long long command_calls(std::vector<unsigned short> const& ports, std::string const& name) {
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
std::vector<unsigned short> masters(std::vector<unsigned short> const& ports) {
    std::vector<unsigned short> out;
    for (auto p : ports)
        if (redis_command(p, {"ROLE"}).rfind("master", 0) == 0) out.push_back(p);
    return out;
}

// Room names whose channels (`<prefix>#/s#<room>`) cover every master `per_master` times:
// rooms spread over shards by their slots.
std::vector<std::string> rooms_on_every_shard(std::string const& prefix,
                                              std::vector<unsigned short> const& ports,
                                              int per_master,
                                              std::map<unsigned short, std::set<std::string>>& at) {
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

std::set<std::string> words(std::string const& text) {
    std::istringstream in(text);
    std::set<std::string> out;
    for (std::string w; in >> w;)
        out.insert(w);
    return out;
}

} // namespace cluster_adapter_test

TEST_CASE("redis cluster adapter: sharded pub/sub: each room's channel is on its slot's master "
          "(PUBSUB SHARDCHANNELS), rooms spread over every shard, one SPUBLISH per emit, "
          "exactly once",
          "[redis][cluster][cluster_adapter][sharded]") {
    auto const ports = cluster_ports();
    two_nodes f(sse::history_options{}, ports[1], ports[5]);
    std::map<unsigned short, std::set<std::string>> channels_at;
    auto const rooms = rooms_on_every_shard(f.prefix, ports, 3, channels_at);
    std::string list;
    for (auto const& r : rooms)
        list += (list.empty() ? "" : ",") + r;
    client on_a(f.a, list), on_b(f.b, list);
    REQUIRE(eventually([&] { return f.a.synced(10) && f.b.synced(10); }, 10s));
    CHECK(f.a.redis->state().shards == 3);

    // Where Redis has each node's subscriptions: on the master of each channel's slot, as
    // shard channels; the namespace channel too.
    // The namespace channel and each client's own room (its id) too.
    for (auto const& room : {std::string(), on_a.id, on_b.id}) {
        auto const channel = sse::detail::redis_channel(f.prefix, "/s", room);
        channels_at[master_of(channel, ports)].insert(channel);
    }
    for (auto const& [master, expected] : channels_at) {
        INFO("master " << master);
        CHECK(words(redis_command(master, {"PUBSUB", "SHARDCHANNELS", f.prefix + "#/s#*"})) ==
              expected);
    }

    // One emit to one room: one SPUBLISH, on one shard, whatever the number of nodes and
    // shards; no classic PUBLISH for it.
    auto const spublish_before = command_calls(ports, "spublish");
    for (std::size_t i = 0; i < rooms.size(); ++i)
        (i % 2 ? f.a : f.b).ns->to(rooms[i]).emit("e", static_cast<int>(i));
    // Each client is in every room: each emit once.
    for (auto* cl : {&on_a, &on_b}) {
        std::set<int> got;
        for (std::size_t i = 0; i < rooms.size(); ++i) {
            auto const v = cl->expect("e").second.get<int>();
            CHECK(got.insert(v).second);
        }
        CHECK(got.size() == rooms.size());
    }
    CHECK(eventually([&] {
        return command_calls(ports, "spublish") - spublish_before ==
               static_cast<long long>(rooms.size());
    }));
    auto const s = f.a.redis->state();
    CHECK(s.duplicates == 0);
    CHECK(s.channel_gaps == 0);
    CHECK(s.dropped == 0);
}

TEST_CASE("redis cluster adapter: sharded pub/sub with shared history: per emit one script and "
          "one SPUBLISH, ids increase across rooms on different shards",
          "[redis][cluster][cluster_adapter][sharded]") {
    auto const ports = cluster_ports();
    two_nodes f(history(), ports[3], ports[4]);
    std::map<unsigned short, std::set<std::string>> channels_at;
    auto const rooms = rooms_on_every_shard(f.prefix, ports, 1, channels_at);
    std::string list;
    for (auto const& r : rooms)
        list += (list.empty() ? "" : ",") + r;
    client on_b(f.b, list);
    REQUIRE(eventually([&] { return f.b.synced(4); }, 10s));
    auto const scripts_before = command_calls(ports, "evalsha");
    auto const spublish_before = command_calls(ports, "spublish");
    int const n = 30;
    for (int i = 0; i < n; ++i)
        f.a.ns->to(rooms[static_cast<std::size_t>(i) % rooms.size()]).emit("e", i);
    // B's client gets all 30, each once, ids increasing; or resets where an event that
    // crossed shards came after a newer one (never out of order, never twice).
    std::uint64_t last = 0;
    std::set<int> got;
    int resets = 0;
    while (static_cast<int>(got.size()) + resets < n) {
        auto e = on_b.reader.next_event(10s);
        if (!e) {
            auto const st = f.b.redis->state();
            auto const sa = f.a.redis->state();
            INFO("got " << got.size() << " resets " << resets << "; B: received " << st.received
                        << " delivered " << st.delivered << " dup " << st.duplicates << " gaps "
                        << st.channel_gaps << " recoveries " << st.recoveries << "; A: published "
                        << sa.published << " sequenced " << sa.sequenced << " pending "
                        << sa.pending << " dropped " << sa.dropped << " last error "
                        << sa.last_error);
            REQUIRE(e);
        }
        if (e->event == "reset") {
            ++resets;
            UNSCOPED_INFO("reset " << e->id << " " << e->data);
            continue;
        }
        REQUIRE(e->event == "e");
        auto const id = std::stoull(e->id);
        CHECK(id > last);
        last = id;
        CHECK(got.insert(std::stoi(e->data)).second);
        if (got.count(n - 1)) break;
    }
    CHECK(got.count(n - 1) == 1);
    INFO("resets: " << resets);
    CHECK(eventually([&] {
        return command_calls(ports, "spublish") - spublish_before == n &&
               command_calls(ports, "evalsha") - scripts_before >= n;
    }));
    CHECK(command_calls(ports, "evalsha") - scripts_before <= n + 4); // + B's catch-up reads
}

TEST_CASE("redis cluster adapter: sharded pub/sub: the master of a room's shard dies "
          "mid-stream; the room moves to the promoted replica, no silent loss",
          "[redis][cluster][cluster_adapter][sharded][failover]") {
    auto const ports = cluster_ports();
    two_nodes f(history(), ports[2], ports[0]);
    // A room whose channel lives on another master than the history: killing it leaves the
    // scripts running, and only the room's shard fails over.
    auto const history_master = master_of("{" + f.prefix + "#h}", ports);
    REQUIRE(history_master != 0);
    std::string room;
    unsigned short victim_port = 0;
    for (int i = 0; victim_port == 0; ++i) {
        REQUIRE(i < 1000);
        auto const candidate = "room" + std::to_string(i);
        auto const owner = master_of(sse::detail::redis_channel(f.prefix, "/s", candidate), ports);
        if (owner != 0 && owner != history_master) {
            room = candidate;
            victim_port = owner;
        }
    }
    client on_b(f.b, room);
    REQUIRE(eventually([&] { return f.b.synced(3); }, 10s));
    f.a.ns->to(room).emit("e", 0);
    CHECK(on_b.expect("e").second == 0);
    auto const shards_before = f.b.redis->state().shards;

    auto const victim = process_id(victim_port);
    node_restart restart(victim_port);
    REQUIRE(::kill(victim, SIGKILL) == 0);
    expect_through_failover(f, on_b, room);
    auto const new_master = master_of(sse::detail::redis_channel(f.prefix, "/s", room), ports);
    CHECK(new_master != victim_port);
    CHECK(words(redis_command(new_master, {"PUBSUB", "SHARDCHANNELS", f.prefix + "#/s#" + room}))
              .count(sse::detail::redis_channel(f.prefix, "/s", room)) == 1);
    CHECK(f.b.redis->state().shards == shards_before);
}
