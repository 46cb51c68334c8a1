// Cluster-wide operations over a real redis-server (sse/cluster.hpp): three nodes, each a
// Beast listener with the Redis adapter, and real SSE clients. fetch_clients, join, leave,
// disconnect, server_side_emit, presence, and what happens when a node stops answering.
#include "nodes_support.hpp"

#include <sse/cluster.hpp>

#include <algorithm>
#include <atomic>
#include <future>
#include <mutex>
#include <set>

using namespace redis_test;
using namespace std::chrono_literals;

using namespace nodes_test;

TEST_CASE("fetch_clients lists the matching clients of every node, with their node and rooms",
          "[redis][nodes]") {
    three_nodes f("f", {shared_redis_port()});
    client a1(f.a, "m"), a2(f.a, "m,x"), b1(f.b, "m"), b2(f.b, "other"), c1(f.c, "m");

    auto r = fetch(f.a.ns->in("m"));
    CHECK(r.missing_nodes.empty());
    CHECK(!r.truncated);
    std::map<std::string, sse::client_summary> by_id;
    for (auto const& s : r.clients)
        by_id[s.id] = s;
    REQUIRE(by_id.size() == 4);
    REQUIRE(r.clients.size() == 4); // each once
    CHECK(by_id.count(b2.id) == 0);
    CHECK(by_id[a1.id].node == f.a.redis->node_id());
    CHECK(by_id[b1.id].node == f.b.redis->node_id());
    CHECK(by_id[c1.id].node == f.c.redis->node_id());
    CHECK(by_id[a2.id].rooms == std::vector<std::string>{a2.id, "m", "x"});
    CHECK(by_id[c1.id].address == "127.0.0.1");
    CHECK(by_id[c1.id].path == "/s");

    // except, and a client id as a target, as an emit takes them.
    r = fetch(f.b.ns->in("m").except("x"));
    CHECK(r.clients.size() == 3);
    r = fetch(f.c.ns->in(b2.id));
    REQUIRE(r.clients.size() == 1);
    CHECK(r.clients[0].id == b2.id);
    // The whole namespace.
    auto whole = std::make_shared<std::promise<sse::fetch_result>>();
    auto answer = whole->get_future();
    f.c.ns->fetch_clients([whole](sse::fetch_result x) { whole->set_value(std::move(x)); });
    REQUIRE(answer.wait_for(5s) == std::future_status::ready);
    CHECK(answer.get().clients.size() == 5);
}

TEST_CASE("join, leave and disconnect reach the matching clients of every node", "[redis][nodes]") {
    three_nodes f("j", {shared_redis_port()});
    client a1(f.a, "m"), b1(f.b, "m"), b2(f.b, "other"), c1(f.c, "m");

    f.b.ns->in("m").join("extra");
    // Applied at once on the node that asked, soon on the others.
    CHECK(in_room(f.b, "extra") == 1);
    REQUIRE(eventually([&] { return in_room(f.a, "extra") == 1 && in_room(f.c, "extra") == 1; }));
    CHECK(in_room(f.b, "other") == 1);
    CHECK(f.b.ns->room("extra")[0]->id() == b1.id);
    // The room works like any other: an emit to it reaches all three.
    f.c.ns->to("extra").emit("news", 1);
    for (auto* cl : {&a1, &b1, &c1})
        CHECK(cl->expect("news").second == 1);

    f.a.ns->in("extra").leave("extra");
    REQUIRE(eventually([&] {
        return in_room(f.a, "extra") + in_room(f.b, "extra") + in_room(f.c, "extra") == 0;
    }));

    // Disconnect: every stream of room m ends within 2 s, wherever it is; b2 stays.
    auto const start = std::chrono::steady_clock::now();
    f.c.ns->in("m").disconnect();
    for (auto* cl : {&a1, &b1, &c1}) {
        auto e = cl->reader.next_event();
        CHECK(!e); // the stream ended
    }
    CHECK(std::chrono::steady_clock::now() - start < 2s);
    CHECK(eventually([&] { return f.a.ns->client_count() + f.c.ns->client_count() == 0; }));
    CHECK(f.b.ns->client_count() == 1);
    CHECK(f.b.ns->clients()[0]->id() == b2.id);
}

TEST_CASE("server_side_emit reaches every other node's handlers, not its own", "[redis][nodes]") {
    three_nodes f("s", {shared_redis_port()});
    std::mutex m;
    std::vector<std::pair<std::string, sse::server_event>> got;
    auto record = [&](char const* where) {
        return [&, where](sse::server_event const& e) {
            std::lock_guard<std::mutex> lock(m);
            got.emplace_back(where, e);
        };
    };
    f.a.io->on_server_event(record("a"));
    f.b.io->on_server_event(record("b"));
    f.c.io->on_server_event(record("c"));
    f.b.io->on_server_event([](sse::server_event const&) { throw std::runtime_error("x"); });
    f.a.io->server_side_emit("cache_flush", {{"key", "fixtures"}});
    REQUIRE(eventually([&] {
        std::lock_guard<std::mutex> lock(m);
        return got.size() >= 2;
    }));
    std::this_thread::sleep_for(200ms); // nothing more comes: not to a itself
    std::lock_guard<std::mutex> lock(m);
    REQUIRE(got.size() == 2);
    std::set<std::string> where;
    for (auto const& [w, e] : got) {
        where.insert(w);
        CHECK(e.name == "cache_flush");
        CHECK(e.data == nlohmann::json{{"key", "fixtures"}});
        CHECK(e.node == f.a.redis->node_id());
    }
    CHECK(where == std::set<std::string>{"b", "c"});
    CHECK_THROWS_AS(f.a.io->server_side_emit("bad\nname", 1), std::invalid_argument);
    CHECK_THROWS_AS(f.a.io->server_side_emit("ok", std::string("\xff")), std::invalid_argument);
}

TEST_CASE("presence counts a room's clients on every node, and follows changes",
          "[redis][nodes][presence]") {
    three_nodes f("p", {shared_redis_port()});
    auto all_see = [&](std::uint64_t n) {
        return eventually([&] {
            return f.a.ns->presence("m") == n && f.b.ns->presence("m") == n &&
                   f.c.ns->presence("m") == n;
        });
    };
    auto a1 = std::make_unique<client>(f.a, "m");
    client a2(f.a, "m"), b1(f.b, "m"), c1(f.c, "other");
    CHECK(all_see(3));
    CHECK(f.c.ns->presence("other") == 1); // C's own: exact at once
    // C's count reaches A with its next announce (m's count above needed none of C's).
    CHECK(eventually([&] { return f.a.ns->presence("other") == 1; }));
    a1.reset(); // a fan closes the page
    CHECK(all_see(2));
    f.a.ns->in("m").join("x"); // presence of a room made by a cluster-wide join
    CHECK(eventually([&] { return f.c.ns->presence("x") == 2; }));
}

TEST_CASE("a node that stops answering is listed as missing, and nothing waits past the "
          "timeout",
          "[redis][nodes][missing]") {
    three_nodes f("k", {shared_redis_port()});
    client a1(f.a, "m"), b1(f.b, "m"), c1(f.c, "m");
    CHECK(eventually([&] { return f.a.ns->presence("m") == 3; }));
    f.cut_off_c();

    // C is still thought alive (its TTL runs): the request waits for it, then gives up.
    auto const start = std::chrono::steady_clock::now();
    auto done = std::make_shared<std::promise<sse::fetch_result>>();
    auto answer = done->get_future();
    f.a.ns->in("m").fetch_clients([done](sse::fetch_result r) { done->set_value(std::move(r)); },
                                  800ms);
    REQUIRE(answer.wait_for(3s) == std::future_status::ready);
    auto const took = std::chrono::steady_clock::now() - start;
    auto r = answer.get();
    CHECK(took < 2s);
    std::set<std::string> nodes;
    for (auto const& s : r.clients)
        nodes.insert(s.node);
    CHECK(nodes == std::set<std::string>{std::string(f.a.redis->node_id()),
                                         std::string(f.b.redis->node_id())});
    // Either C was still expected (missing) or its TTL had already run out (not waited for).
    if (!r.missing_nodes.empty())
        CHECK(r.missing_nodes == std::vector<std::string>{std::string(f.c.redis->node_id())});

    // After its TTL, C is gone: requests stop waiting for it, and its fans leave presence.
    REQUIRE(eventually(
        [&] { return f.a.io->peer_nodes().size() == 1 && f.b.io->peer_nodes().size() == 1; }));
    CHECK(eventually([&] { return f.a.ns->presence("m") == 2 && f.b.ns->presence("m") == 2; }));
    auto const quick_start = std::chrono::steady_clock::now();
    r = fetch(f.b.ns->in("m"));
    CHECK(std::chrono::steady_clock::now() - quick_start <
          1200ms); // below the timeout: not waited for
    CHECK(r.missing_nodes.empty());
    CHECK(r.clients.size() == 2);

    // C comes back: it is counted again.
    cut_c = false;
    CHECK(eventually([&] { return f.a.io->peer_nodes().size() == 2; }));
    CHECK(eventually([&] { return f.b.ns->presence("m") == 3; }));
}

TEST_CASE("a node closing says goodbye: the others stop waiting for it at once", "[redis][nodes]") {
    // A TTL far longer than the wait: only the goodbye can make C go this soon.
    auto slow_ttl = quick();
    slow_ttl.node_ttl = 10s;
    three_nodes f("b", {shared_redis_port()}, {}, slow_ttl);
    client b1(f.b, "m");
    f.c.io->close();
    REQUIRE(eventually([&] { return f.a.io->peer_nodes().size() == 1; }, 3s));
    auto r = fetch(f.a.ns->in("m"), 1s);
    CHECK(r.missing_nodes.empty());
    CHECK(r.clients.size() == 1);
}

TEST_CASE("node messages that are not ours are counted and ignored", "[redis][nodes]") {
    three_nodes f("x", {shared_redis_port()});
    client a1(f.a, "m");
    auto const port = shared_redis_port();
    std::vector<std::string> const bad_messages = {
        "",
        "not json",
        R"({"v":1})",
        R"({"v":2,"t":"hello","from":"z","ttl":1})",
        R"({"v":1,"t":"hello","from":"z","ttl":1000,"presence":{"/s":{"m":-5}}})",
        R"({"v":1,"t":"join","from":"z","nsp":"/s","rooms":["m"],"room":"bad\nroom"})",
        R"({"v":1,"t":"fetch","from":"z","nsp":"/s"})",
        std::string("{\"v\":1,\"t\":\"emit\",\"from\":\"\xff\"}")};
    for (auto const& bad : bad_messages)
        redis_command(port, {"PUBLISH", f.prefix + "#:nodes#", bad});
    // A valid one after them still works: the plane is alive.
    f.b.ns->in("m").join("after");
    CHECK(eventually([&] { return in_room(f.a, "after") == 1; }));
    CHECK(f.a.ns->presence("m") == 1); // the bad hello added nothing
    CHECK(f.a.io->peer_nodes().size() == 2);
    CHECK(f.a.io->cluster_stats().malformed_messages >= 7);
}
