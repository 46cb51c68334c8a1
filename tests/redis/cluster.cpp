// Several sse::server nodes joined by sse::redis_adapter through a real redis-server. Each
// node is what an app would run: its own io_context and thread, a real Beast listener on
// 127.0.0.1:0 (tests/support/test_server.hpp), and real SSE clients reading over sockets
// (tests/support/sse_reader.hpp).
//
// "X does not get event E" is checked with a marker: after E, the same node emits a
// namespace-wide event; a client that was not meant to get E must see the marker as its next
// event. (Order is per origin node: a marker from another node proves nothing.)
#include <sse/redis_adapter.hpp>
#include <sse/server.hpp>

#include "support/catch.hpp"
#include "support/sse_reader.hpp"
#include "support/test_server.hpp"

#include "history_support.hpp"
#include "redis_support.hpp"

#include <sse/detail/random_id.hpp>

#include <nlohmann/json.hpp>

#include <future>
#include <set>

using namespace redis_test;
using sse_test::sse_event;
using sse_test::sse_reader;

namespace {

// One node of the cluster: a history_node (history_support.hpp) with history off.
struct server_node : history_node {
    explicit server_node(sse::redis_options ro)
        : history_node(std::move(ro), {}) {}
};

// A connected SSE client and its id.
struct sse_client {
    sse_client(server_node& n, std::string const& rooms = {})
        : reader(n.port, rooms.empty() ? "/s" : "/s?rooms=" + rooms) {
        REQUIRE(reader.status() == 200);
        auto hello = reader.next_event();
        REQUIRE(hello);
        REQUIRE(hello->event == "connection");
        id = nlohmann::json::parse(hello->data).at("clientId").get<std::string>();
    }

    /// The data of the next event, which must be called `name`.
    nlohmann::json expect(std::string const& name) {
        auto e = reader.next_event();
        REQUIRE(e);
        INFO("got event '" << e->event << "' data " << e->data);
        REQUIRE(e->event == name);
        return nlohmann::json::parse(e->data);
    }

    sse_reader reader;
    std::string id;
};

// Three nodes on the shared redis-server, with a channel prefix of their own.
struct cluster {
    cluster()
        : prefix("c" + sse::detail::random_id(8))
        , a(test_options(shared_redis_url(), prefix))
        , b(test_options(shared_redis_url(), prefix))
        , c(test_options(shared_redis_url(), prefix)) {}

    std::string prefix;
    server_node a, b, c;
};

} // namespace

TEST_CASE("redis cluster: room emit, namespace broadcast, except, client id, across nodes",
          "[redis][cluster]") {
    cluster k;
    sse_client a1(k.a, "match");
    sse_client b1(k.b, "match,muted");
    sse_client b2(k.b);
    sse_client c1(k.c, "other");
    // Channels: namespace + rooms + one private room per client.
    REQUIRE(eventually(
        [&] { return k.a.synced(1 + 1 + 1) && k.b.synced(1 + 2 + 2) && k.c.synced(1 + 1 + 1); }));

    SECTION("an emit to a room reaches its clients on every node, and no one else") {
        k.a.ns->to("match").emit("goal", {{"minute", 67}});
        k.a.ns->emit("marker", 1);
        CHECK(a1.expect("goal")["minute"] == 67);
        CHECK(b1.expect("goal")["minute"] == 67);
        for (auto* cl : {&a1, &b1, &b2, &c1})
            cl->expect("marker");
    }
    SECTION("a namespace broadcast from any node reaches everyone once") {
        k.b.ns->emit("announcement", "var suspended");
        k.b.ns->emit("marker", 1);
        for (auto* cl : {&a1, &b1, &b2, &c1}) {
            CHECK(cl->expect("announcement") == "var suspended");
            cl->expect("marker");
        }
    }
    SECTION("except wins over the target rooms, on remote nodes too") {
        k.a.ns->to("match").except("muted").emit("flash", 1);
        k.a.ns->except("muted").emit("wide-flash", 2);
        k.a.ns->emit("marker", 3);
        a1.expect("flash");
        a1.expect("wide-flash");
        a1.expect("marker");
        b1.expect("marker"); // in match but muted: neither flash
        b2.expect("wide-flash");
        b2.expect("marker");
        c1.expect("wide-flash");
        c1.expect("marker");
    }
    SECTION("an emit to a client id reaches that client on its node only") {
        k.a.ns->to(b2.id).emit("personal", {{"for", b2.id}});
        k.a.ns->emit("marker", 1);
        CHECK(b2.expect("personal")["for"] == b2.id);
        for (auto* cl : {&a1, &b1, &b2, &c1})
            cl->expect("marker");
        k.c.ns->to(a1.id).emit("personal", {{"for", a1.id}});
        k.c.ns->emit("marker", 2);
        CHECK(a1.expect("personal")["for"] == a1.id);
        for (auto* cl : {&a1, &b1, &b2, &c1})
            cl->expect("marker");
    }
}

TEST_CASE("redis cluster: a client in several target rooms gets one copy", "[redis][cluster]") {
    cluster k;
    sse_client b1(k.b, "x,y,z");
    sse_client c1(k.c, "y");
    REQUIRE(eventually(
        [&] { return k.a.synced(1) && k.b.synced(1 + 3 + 1) && k.c.synced(1 + 1 + 1); }));
    k.a.ns->to({"x", "y", "z"}).emit("multi", 1);
    k.a.ns->to("x").to("y").to("x").emit("chained", 2);
    k.a.ns->emit("marker", 3);
    b1.expect("multi");
    b1.expect("chained");
    b1.expect("marker");
    c1.expect("multi");
    c1.expect("chained");
    c1.expect("marker");
    CHECK(k.b.redis->state().duplicates >= 3); // heard on x, y and z; kept once
}

TEST_CASE("redis cluster: 1000 events from each of two nodes arrive in emit order",
          "[redis][cluster]") {
    cluster k;
    sse_client b1(k.b, "live");
    sse_client c1(k.c, "live");
    REQUIRE(eventually([&] { return k.a.synced(1) && k.b.synced(3) && k.c.synced(3); }));
    constexpr int n = 1000;
    // A and C emit at the same time from their own threads.
    std::thread from_c([&] {
        for (int i = 0; i < n; ++i)
            k.c.ns->to("live").emit("from-c", i);
    });
    for (int i = 0; i < n; ++i)
        k.a.ns->to("live").emit("from-a", i);
    from_c.join();
    for (auto* cl : {&b1, &c1}) {
        auto events = cl->reader.events(2 * n, std::chrono::seconds(20));
        REQUIRE(events.size() == 2 * n);
        int next_a = 0, next_c = 0;
        std::uint64_t last_id = 0;
        for (auto const& e : events) {
            int v = std::stoi(e.data);
            if (e.event == "from-a")
                REQUIRE(v == next_a++);
            else
                REQUIRE(v == next_c++);
            // Ids stay strictly increasing on each stream, whichever node emitted.
            auto id = std::stoull(e.id);
            REQUIRE(id > last_id);
            last_id = id;
        }
        CHECK(next_a == n);
        CHECK(next_c == n);
    }
    CHECK(k.a.redis->state().dropped == 0);
    CHECK(k.c.redis->state().dropped == 0);
}

TEST_CASE("redis cluster: a node with no clients in a room receives none of its traffic",
          "[redis][cluster]") {
    cluster k;
    sse_client b1(k.b, "busy");
    sse_client c1(k.c, "quiet");
    REQUIRE(eventually([&] { return k.a.synced(1) && k.b.synced(3) && k.c.synced(3); }));
    auto const before_b = k.b.redis->state().received;
    auto const before_c = k.c.redis->state().received;
    for (int i = 0; i < 200; ++i)
        k.a.ns->to("busy").emit("tick", i);
    k.a.ns->emit("marker", 0);
    for (int i = 0; i < 200; ++i)
        b1.expect("tick");
    b1.expect("marker");
    c1.expect("marker");
    // Messages that reached each node from Redis: B heard the 200 ticks and the marker,
    // C only the marker.
    CHECK(k.b.redis->state().received - before_b == 201);
    CHECK(k.c.redis->state().received - before_c == 1);
    // Redis agrees: only B subscribes to the room's channel.
    CHECK(redis_command(shared_redis_port(), {"PUBSUB", "NUMSUB", k.prefix + "#/s#busy"}) ==
          k.prefix + "#/s#busy 1");

    // When the room empties on B, B unsubscribes.
    b1.reader = sse_reader(k.b.port, "/s"); // closes the old stream
    REQUIRE(eventually([&] {
        return redis_command(shared_redis_port(), {"PUBSUB", "NUMSUB", k.prefix + "#/s#busy"}) ==
               k.prefix + "#/s#busy 0";
    }));
}

TEST_CASE("redis cluster: garbage published with redis-cli is counted and ignored",
          "[redis][cluster]") {
    cluster k;
    sse_client b1(k.b, "r");
    REQUIRE(eventually([&] { return k.a.synced(1) && k.b.synced(3) && k.c.synced(1); }));
    for (auto const& channel : {k.prefix + "#/s#", k.prefix + "#/s#r"}) {
        std::string cli = "redis-cli -p " + std::to_string(shared_redis_port()) + " PUBLISH '" +
                          channel + "' $'\\xde\\xad garbage\\r\\nid: 1\\n\\n' > /dev/null";
        REQUIRE(std::system(("bash -c \"" + cli + "\"").c_str()) == 0);
    }
    REQUIRE(eventually([&] { return k.b.redis->state().malformed == 2; }));
    REQUIRE(eventually(
        [&] { return k.a.redis->state().malformed == 1 && k.c.redis->state().malformed == 1; }));
    k.a.ns->to("r").emit("still-fine", 1);
    CHECK(b1.expect("still-fine") == 1);
}

TEST_CASE("redis cluster: Redis killed and restarted mid-stream", "[redis][cluster][restart]") {
    redis_process server;
    auto prefix = "r" + sse::detail::random_id(8);
    server_node a(test_options(server.url(), prefix));
    server_node b(test_options(server.url(), prefix));
    sse_client a1(a, "live");
    sse_client b1(b, "live");
    REQUIRE(eventually([&] { return a.synced(3) && b.synced(3); }));
    for (int i = 0; i < 5; ++i)
        a.ns->to("live").emit("score", i);
    for (int i = 0; i < 5; ++i)
        CHECK(b1.expect("score") == i);

    server.kill();
    REQUIRE(eventually([&] { return !a.redis->state().connected && !b.redis->state().connected; }));
    // While Redis is away: local clients still get everything at once; remote ones later.
    for (int i = 5; i < 10; ++i)
        a.ns->to("live").emit("score", i);
    for (int i = 0; i < 10; ++i)
        CHECK(a1.expect("score") == i);
    REQUIRE(eventually([&] { return a.redis->state().pending == 5; }));

    // B back and resubscribed before A publishes what it kept (Redis stores nothing for a
    // subscriber that is not there yet): hold A's io_context meanwhile.
    std::promise<void> release, held;
    net::post(a.ts.context(), [&] {
        held.set_value();
        release.get_future().wait();
    });
    held.get_future().wait();
    REQUIRE(server.start());
    REQUIRE(eventually([&] { return b.synced(3); }));
    release.set_value();

    for (int i = 5; i < 10; ++i)
        CHECK(b1.expect("score") == i); // kept emits, in order
    for (int i = 10; i < 15; ++i)
        a.ns->to("live").emit("score", i);
    for (int i = 10; i < 15; ++i)
        CHECK(b1.expect("score") == i); // live again
    CHECK(a.redis->state().dropped == 0);
    CHECK(eventually([&] { return a.redis->state().reconnects >= 2; }));
}

TEST_CASE("redis cluster: a wrong password is a clear error; the node still serves locally",
          "[redis][cluster]") {
    redis_process server({"--requirepass", "sesame"});
    auto o = test_options("redis://:open@127.0.0.1:" + std::to_string(server.port()),
                          "w" + sse::detail::random_id(8));
    server_node a(o);
    sse_client a1(a, "r");
    REQUIRE(eventually([&] { return !a.redis->state().last_error.empty(); }));
    auto s = a.redis->state();
    CHECK_FALSE(s.connected);
    CHECK_THAT(s.last_error, Catch::Matchers::Contains("refused AUTH"));
    a.ns->to("r").emit("local", 1);
    CHECK(a1.expect("local") == 1);
}
