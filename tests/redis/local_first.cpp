// Local-first with a shared history (issue 17): an emit reaches this node's clients without
// waiting for Redis, through Redis outages, stalls and refusals; what the other nodes missed
// meanwhile reaches them once, in order, or as a reset; a client that moves to the other node
// resumes exactly. Real redis-server processes (killed, stopped, out of memory), real Beast
// listeners, real SSE clients.
#include <sse/redis_adapter.hpp>
#include <sse/server.hpp>

#include "support/catch.hpp"
#include "support/sse_reader.hpp"

#include "history_support.hpp"
#include "redis_support.hpp"

#include <sse/detail/random_id.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <string>
#include <vector>

using namespace redis_test;

namespace {

using steady = std::chrono::steady_clock;

// Reads events of `c` until `n` named `name` came or a reset did: their data, in order.
// Ids must strictly increase on the way. `reset` says whether the reset came instead.
std::vector<int> read_until(client& c, std::string const& name, std::size_t n, bool& reset,
                            std::uint64_t& last_id) {
    std::vector<int> got;
    reset = false;
    while (got.size() < n) {
        auto e = c.reader.next_event();
        REQUIRE(e);
        INFO("event '" << e->event << "' id " << e->id << " data " << e->data);
        if (e->has_id) {
            auto const id = std::stoull(e->id);
            REQUIRE(id > last_id);
            last_id = id;
        }
        if (e->event == "reset") {
            reset = true;
            break;
        }
        REQUIRE(e->event == name);
        got.push_back(nlohmann::json::parse(e->data).get<int>());
    }
    return got;
}

std::vector<int> range(int from, int to) {
    std::vector<int> v;
    for (int i = from; i < to; ++i)
        v.push_back(i);
    return v;
}

} // namespace

TEST_CASE("local first: Redis stopped, the emitting node's clients still get every emit; "
          "restarted, the other node gets them or a reset; then both ways, and a move",
          "[redis][local_first]") {
    redis_process server;
    auto prefix = "lf" + sse::detail::random_id(8);
    history_node a(test_options(server.url(), prefix), history());
    history_node b(test_options(server.url(), prefix), history());
    client on_a(a, "match");
    client on_b(b, "match");
    REQUIRE(eventually([&] { return a.synced(3) && b.synced(3); }));
    std::uint64_t last_a = 0, last_b = 0;
    bool reset = false;
    a.ns->to("match").emit("goal", 0);
    CHECK(read_until(on_a, "goal", 1, reset, last_a) == std::vector<int>{0});
    CHECK(read_until(on_b, "goal", 1, reset, last_b) == std::vector<int>{0});

    server.kill();
    REQUIRE(eventually([&] { return !a.redis->state().connected; }));
    // Without Redis: each of 5 emits reaches A's own client at once (well within 2 s), once,
    // in order. Before local-first, nothing arrived until Redis came back.
    for (int i = 1; i <= 5; ++i) {
        auto const t = steady::now();
        a.ns->to("match").emit("goal", i);
        CHECK(read_until(on_a, "goal", 1, reset, last_a) == std::vector<int>{i});
        CHECK(!reset);
        CHECK(steady::now() - t < std::chrono::seconds(2));
    }

    // Redis is back (empty: no persistence here). B gets the 5, once, in order, or a reset.
    REQUIRE(server.start());
    auto got = read_until(on_b, "goal", 5, reset, last_b);
    if (!reset) CHECK(got == range(1, 6));
    REQUIRE(eventually([&] { return a.synced(3) && b.synced(3); }));

    // Then emits from either node reach both, once each, in order.
    for (int i = 6; i < 10; ++i) {
        (i % 2 == 0 ? a : b).ns->to("match").emit("goal", i);
        CHECK(read_until(on_a, "goal", 1, reset, last_a) == std::vector<int>{i});
        CHECK(read_until(on_b, "goal", 1, reset, last_b) == std::vector<int>{i});
    }

    // A's client moves to B with its last id, having missed two emits (one from each node):
    // it gets exactly those, then live ones.
    on_a.reader.close();
    a.ns->to("match").emit("goal", 10);
    b.ns->to("match").emit("goal", 11);
    CHECK(read_until(on_b, "goal", 2, reset, last_b) == range(10, 12));
    client moved(b, "match", std::to_string(last_a));
    std::uint64_t last_moved = last_a;
    CHECK(read_until(moved, "goal", 2, reset, last_moved) == range(10, 12));
    CHECK(!reset);
    a.ns->to("match").emit("goal", 12);
    CHECK(read_until(moved, "goal", 1, reset, last_moved) == std::vector<int>{12});
}

TEST_CASE("local first: Redis stalled (SIGSTOP), local delivery goes on; resumed, the other "
          "node catches up in order",
          "[redis][local_first]") {
    redis_process server;
    auto prefix = "lf" + sse::detail::random_id(8);
    history_node a(test_options(server.url(), prefix), history());
    history_node b(test_options(server.url(), prefix), history());
    client on_a(a, "r");
    client on_b(b, "r");
    REQUIRE(eventually([&] { return a.synced(3) && b.synced(3); }));
    std::uint64_t last_a = 0, last_b = 0;
    bool reset = false;

    server.pause();
    for (int i = 0; i < 5; ++i) {
        a.ns->to("r").emit("e", i);
        CHECK(read_until(on_a, "e", 1, reset, last_a) == std::vector<int>{i});
    }
    server.resume();
    auto got = read_until(on_b, "e", 5, reset, last_b);
    if (!reset) CHECK(got == range(0, 5));
    b.ns->to("r").emit("e", 5);
    CHECK(read_until(on_a, "e", 1, reset, last_a) == std::vector<int>{5});
}

TEST_CASE("local first: a namespace that turns on the shared history after local emits keeps "
          "delivering, ids still increasing",
          "[redis][local_first]") {
    auto prefix = "lf" + sse::detail::random_id(8);
    history_node a(test_options(shared_redis_url(), prefix), history());
    history_node b(test_options(shared_redis_url(), prefix), history());
    // A starts in memory: ids 1, 2, 3 (its Redis adapter closed by the swap).
    a.io->adapter(std::make_shared<sse::memory_adapter>());
    client on_a(a, "r");
    std::uint64_t last_a = 0, last_b = 0;
    bool reset = false;
    for (int i = 0; i < 3; ++i) {
        a.ns->to("r").emit("e", i);
        CHECK(read_until(on_a, "e", 1, reset, last_a) == std::vector<int>{i});
    }
    CHECK(last_a == 3);
    // Then Redis with the shared history: the next emits reach A's client (and B's). Before
    // issue 17 the shared ids restarted at 1 and A dropped every one at or below 3.
    a.redis = std::make_shared<sse::redis_adapter>(a.ts.get_executor(),
                                                   test_options(shared_redis_url(), prefix));
    a.io->adapter(a.redis);
    client on_b(b, "r");
    REQUIRE(eventually([&] { return a.synced(3) && b.synced(3); }));
    for (int i = 3; i < 6; ++i) {
        a.ns->to("r").emit("e", i);
        CHECK(read_until(on_a, "e", 1, reset, last_a) == std::vector<int>{i});
        CHECK(read_until(on_b, "e", 1, reset, last_b) == std::vector<int>{i});
    }
}

TEST_CASE("local first: emits Redis refuses (out of memory) are counted, and the other node's "
          "clients get a reset instead of silence",
          "[redis][local_first]") {
    redis_process server;
    auto prefix = "lf" + sse::detail::random_id(8);
    history_node a(test_options(server.url(), prefix), history());
    history_node b(test_options(server.url(), prefix), history());
    client on_a(a, "r");
    client on_b(b, "r");
    REQUIRE(eventually([&] { return a.synced(3) && b.synced(3); }));
    std::uint64_t last_a = 0, last_b = 0;
    bool reset = false;
    a.ns->to("r").emit("e", 0);
    CHECK(read_until(on_b, "e", 1, reset, last_b) == std::vector<int>{0});

    REQUIRE(redis_command(server.port(), {"CONFIG", "SET", "maxmemory", "1"}) == "OK");
    a.ns->to("r").emit("e", 1);
    CHECK(read_until(on_a, "e", 2, reset, last_a) == range(0, 2)); // local first, as ever
    REQUIRE(eventually([&] { return a.redis->state().refused == 1; }));
    CHECK_THAT(a.redis->state().last_error, Catch::Matchers::Contains("OOM"));
    // B's client never gets event 1: it is told to refetch instead.
    read_until(on_b, "e", 1, reset, last_b);
    CHECK(reset);
    CHECK(b.redis->state().lost_notices >= 1);

    REQUIRE(redis_command(server.port(), {"CONFIG", "SET", "maxmemory", "0"}) == "OK");
    a.ns->to("r").emit("e", 2);
    CHECK(read_until(on_b, "e", 1, reset, last_b) == std::vector<int>{2});
}

TEST_CASE("local first: emits beyond max_pending_emits while Redis stalls are counted, and the "
          "other node's clients get a reset once it answers again",
          "[redis][local_first]") {
    redis_process server;
    auto prefix = "lf" + sse::detail::random_id(8);
    auto small = test_options(server.url(), prefix);
    small.max_pending_emits = 2;
    small.max_in_flight = 1;
    history_node a(small, history());
    history_node b(test_options(server.url(), prefix), history());
    client on_a(a, "r");
    client on_b(b, "r");
    REQUIRE(eventually([&] { return a.synced(3) && b.synced(3); }));
    std::uint64_t last_a = 0, last_b = 0;
    bool reset = false;

    // Redis holds every write for 1.5 s; B's subscriber stays connected meanwhile.
    REQUIRE(redis_command(server.port(), {"CLIENT", "PAUSE", "1500", "WRITE"}) == "OK");
    for (int i = 0; i < 6; ++i)
        a.ns->to("r").emit("e", i);
    CHECK(read_until(on_a, "e", 6, reset, last_a) == range(0, 6));      // all of them, locally
    REQUIRE(eventually([&] { return a.redis->state().dropped == 3; })); // 1 in flight, 2 kept
    // B gets kept ones, in order, once, and a reset (lost_events) for the rest: never silence.
    auto got = read_until(on_b, "e", 4, reset, last_b);
    CHECK(reset);
    for (std::size_t i = 0; i < got.size(); ++i)
        CHECK(got[i] == static_cast<int>(i));
    CHECK(b.redis->state().lost_notices == 1);
    // And on from there. (The reset does not wait for kept events still being planned: those
    // may follow it, in order, before the next one.)
    a.ns->to("r").emit("e", 6);
    for (;;) {
        auto more = read_until(on_b, "e", 1, reset, last_b);
        REQUIRE(more.size() == 1);
        if (more[0] == 6) break;
        CHECK(more[0] == static_cast<int>(got.size()));
        got.push_back(more[0]);
    }
    CHECK(got.size() <= 3);
}

TEST_CASE("adapter swap: the emits the old Redis adapter still holds are published before it "
          "closes",
          "[redis][local_first][swap]") {
    bool const shared = GENERATE(true, false);
    CAPTURE(shared);
    redis_process server;
    auto prefix = "sw" + sse::detail::random_id(8);
    auto h = shared ? history() : sse::history_options{};
    auto one_at_a_time = test_options(server.url(), prefix);
    one_at_a_time.max_in_flight = 1; // the others wait in the adapter's queue, not in a socket
    history_node a(one_at_a_time, h);
    history_node b(test_options(server.url(), prefix), h);
    client on_a(a, "r");
    client on_b(b, "r");
    REQUIRE(eventually([&] { return a.synced(3) && b.synced(3); }));
    std::uint64_t last_a = 0, last_b = 0;
    bool reset = false;

    server.pause();
    for (int i = 0; i < 5; ++i) {
        a.ns->to("r").emit("e", i);
        CHECK(read_until(on_a, "e", 1, reset, last_a) == std::vector<int>{i});
    }
    // A swaps adapters (a configuration reload) while its old one holds 1 emit in flight and
    // 4 queued. Before the drain, close() cleared them: B never got 1 to 4, and no reset.
    auto old = a.redis;
    a.redis = std::make_shared<sse::redis_adapter>(a.ts.get_executor(),
                                                   test_options(server.url(), prefix));
    a.io->adapter(a.redis);
    CHECK(old->state().closed);
    server.resume();
    CHECK(read_until(on_b, "e", 5, reset, last_b) == range(0, 5));
    CHECK(!reset);
    REQUIRE(eventually([&] { return !old->state().publisher_connected; })); // drained, closed
    CHECK(old->state().dropped == 0);
    CHECK(old->state().published == 5);

    // The new adapter carries on, both ways.
    REQUIRE(eventually([&] { return a.synced(3) && b.synced(3); }));
    a.ns->to("r").emit("e", 5);
    CHECK(read_until(on_a, "e", 1, reset, last_a) == std::vector<int>{5});
    CHECK(read_until(on_b, "e", 1, reset, last_b) == std::vector<int>{5});
    b.ns->to("r").emit("e", 6);
    CHECK(read_until(on_a, "e", 1, reset, last_a) == std::vector<int>{6});
}

TEST_CASE("adapter swap: what Redis does not take within close_drain is counted as dropped",
          "[redis][local_first][swap]") {
    redis_process server;
    auto prefix = "sw" + sse::detail::random_id(8);
    auto short_drain = test_options(server.url(), prefix);
    short_drain.max_in_flight = 1;
    short_drain.close_drain = std::chrono::milliseconds(200);
    history_node a(short_drain, history());
    client on_a(a, "r");
    REQUIRE(eventually([&] { return a.synced(2); }));
    std::uint64_t last_a = 0;
    bool reset = false;

    server.pause();
    for (int i = 0; i < 3; ++i)
        a.ns->to("r").emit("e", i);
    CHECK(read_until(on_a, "e", 3, reset, last_a) == range(0, 3));
    auto old = a.redis;
    a.io->adapter(std::make_shared<sse::memory_adapter>());
    // Local delivery goes on through the swap, and the 3 are counted once the drain gives up.
    a.ns->to("r").emit("e", 3);
    CHECK(read_until(on_a, "e", 1, reset, last_a) == std::vector<int>{3});
    CHECK(eventually([&] { return old->state().dropped == 3; }));
    CHECK(!old->state().publisher_connected);
    server.resume();
}
