// Redis Cluster: sse nodes with the Redis adapter pointed at one node of a real cluster (3
// masters, 3 replicas; redis_cluster_fixture.sh), with the same URL form as a single server.
// Emits cross nodes exactly once, the shared history replays across nodes, the cluster-wide
// operations work, and a master that dies mid-stream costs at most a counted loss or a reset.
// Rooms travel sharded pub/sub: each channel on its slot's master, one SPUBLISH per emit.
#include "cluster_adapter_support.hpp"

#include <sse/detail/cluster_slots.hpp>

#include <csignal>
#include <future>

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
    // crossed shards came after a newer one (never out of order, never twice). A reset covers
    // every id up to its own: the events it covers do not follow it (on a slow machine, under
    // ASan, one reset covered the last event), so after one the stream may end early.
    std::uint64_t last = 0;
    std::set<int> got;
    int resets = 0;
    while (!got.count(n - 1)) {
        auto e = on_b.reader.next_event(resets > 0 ? 3s : 10s);
        if (!e && resets > 0) break; // the reset covered the rest
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
            if (e->has_id) {
                CHECK(std::stoull(e->id) > last);
                last = std::stoull(e->id);
            }
            continue;
        }
        REQUIRE(e->event == "e");
        auto const id = std::stoull(e->id);
        CHECK(id > last);
        last = id;
        CHECK(got.insert(std::stoi(e->data)).second);
    }
    INFO("resets: " << resets);
    if (resets == 0) CHECK(static_cast<int>(got.size()) == n);
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
