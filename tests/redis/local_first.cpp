// Local-first with a shared history (issue 17): an emit reaches this node's clients without
// waiting for Redis, through Redis outages, stalls and refusals; what the other nodes missed
// meanwhile reaches them once, in order, or as a reset; a client that moves to the other node
// resumes exactly. Real redis-server processes (killed, stopped, out of memory), real Beast
// listeners, real SSE clients.
#include "local_first_support.hpp"

#include <sse/detail/random_id.hpp>

#include <hiredis/async.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace redis_test;

TEST_CASE("local first: Redis stopped, the emitting node's clients still get every emit; "
          "restarted, the other node gets them or a reset; then both ways, and a move",
          "[redis][local_first]") {
    two_nodes f("match");
    f.a.ns->to("match").emit("goal", 0);
    CHECK(f.read_a("goal", 1) == std::vector<int>{0});
    CHECK(f.read_b("goal", 1) == std::vector<int>{0});

    f.server.kill();
    REQUIRE(eventually([&] { return !f.a.redis->state().connected; }));
    // Without Redis: each of 5 emits reaches A's own client at once (well within 2 s), once,
    // in order. Before local-first, nothing arrived until Redis came back.
    for (int i = 1; i <= 5; ++i) {
        auto const t = steady::now();
        f.a.ns->to("match").emit("goal", i);
        CHECK(f.read_a("goal", 1) == std::vector<int>{i});
        CHECK(!f.reset);
        CHECK(steady::now() - t < std::chrono::seconds(2));
    }

    // Redis is back (empty: no persistence here). B gets the 5, once, in order, or a reset.
    REQUIRE(f.server.start());
    auto got = f.read_b("goal", 5);
    bool const b_reset = f.reset;
    if (!b_reset) CHECK(got == range(1, 6));
    REQUIRE(eventually([&] { return f.a.synced(3) && f.b.synced(3); }));
    if (b_reset) {
        // After a reset, B's recovery may still be settling: more resets, and those of the 5
        // that A published after one (their ids above it) may still come, in order, once each.
        // Read until B's stream has been quiet for a second.
        int late_next = got.empty() ? 1 : got.back() + 1;
        while (auto e = f.on_b.reader.next_event(std::chrono::seconds(1))) {
            INFO("event '" << e->event << "' id " << e->id << " data " << e->data);
            if (e->has_id) {
                auto const id = std::stoull(e->id);
                REQUIRE(id > f.last_b);
                f.last_b = id;
            }
            if (e->event == "reset") continue;
            REQUIRE(e->event == "goal");
            int const v = nlohmann::json::parse(e->data).get<int>();
            CHECK(v >= late_next);
            CHECK(v <= 5);
            late_next = v + 1;
        }
    }

    // Then emits from either node reach both, once each, in order.
    for (int i = 6; i < 10; ++i) {
        (i % 2 == 0 ? f.a : f.b).ns->to("match").emit("goal", i);
        CHECK(f.read_a("goal", 1) == std::vector<int>{i});
        CHECK(f.read_b("goal", 1) == std::vector<int>{i});
    }

    // A's client moves to B with its last id, having missed two emits (one from each node):
    // it gets exactly those, then live ones.
    f.on_a.reader.close();
    f.a.ns->to("match").emit("goal", 10);
    f.b.ns->to("match").emit("goal", 11);
    CHECK(f.read_b("goal", 2) == range(10, 12));
    client moved(f.b, "match", std::to_string(f.last_a));
    std::uint64_t last_moved = f.last_a;
    CHECK(read_until(moved, "goal", 2, f.reset, last_moved) == range(10, 12));
    CHECK(!f.reset);
    f.a.ns->to("match").emit("goal", 12);
    CHECK(read_until(moved, "goal", 1, f.reset, last_moved) == std::vector<int>{12});
}

TEST_CASE("local first: Redis stalled (SIGSTOP), local delivery goes on; resumed, the other "
          "node catches up in order",
          "[redis][local_first]") {
    two_nodes f("r");

    f.server.pause();
    for (int i = 0; i < 5; ++i) {
        f.a.ns->to("r").emit("e", i);
        CHECK(f.read_a("e", 1) == std::vector<int>{i});
    }
    f.server.resume();
    auto got = f.read_b("e", 5);
    if (!f.reset) CHECK(got == range(0, 5));
    f.b.ns->to("r").emit("e", 5);
    CHECK(f.read_a("e", 1) == std::vector<int>{5});
}

namespace {
void one_in_flight(sse::redis_options& o) {
    o.max_in_flight = 1; // the pipelining window: one append written at a time
}
} // namespace

TEST_CASE("local first: a replay on the emitting node waits for its own appends still queued",
          "[redis][local_first][own_appends]") {
    two_nodes f("r", history(), one_in_flight);
    f.a.ns->to("r").emit("e", 0);
    CHECK(f.read_a("e", 1) == std::vector<int>{0});
    auto const seen = f.last_a;
    f.on_a.reader.close();

    // Redis stalls: A delivers 1-5 to nobody here (its client left), and queues their
    // appends; one is written, four wait for the window.
    f.server.pause();
    for (int i = 1; i <= 5; ++i)
        f.a.ns->to("r").emit("e", i);
    // The client comes back to A with its last id while they wait. Its replay must not be
    // read before them: Redis would run it between the first and the rest, and the client
    // would never get 2-5 (delivered here before it came back, so not sent live either).
    client back(f.a, "r", std::to_string(seen));
    f.server.resume();
    std::uint64_t last = seen;
    bool reset = false;
    CHECK(read_until(back, "e", 5, reset, last) == range(1, 6));
    CHECK(!reset);
    f.a.ns->to("r").emit("e", 6);
    CHECK(read_until(back, "e", 1, reset, last) == std::vector<int>{6});
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
    two_nodes f("r");
    f.a.ns->to("r").emit("e", 0);
    CHECK(f.read_b("e", 1) == std::vector<int>{0});

    REQUIRE(redis_command(f.server.port(), {"CONFIG", "SET", "maxmemory", "1"}) == "OK");
    f.a.ns->to("r").emit("e", 1);
    CHECK(f.read_a("e", 2) == range(0, 2)); // local first, as ever
    REQUIRE(eventually([&] { return f.a.redis->state().refused == 1; }));
    CHECK_THAT(f.a.redis->state().last_error, Catch::Matchers::Contains("OOM"));
    // B's client never gets event 1: it is told to refetch instead.
    f.read_b("e", 1);
    CHECK(f.reset);
    CHECK(f.b.redis->state().lost_notices >= 1);

    REQUIRE(redis_command(f.server.port(), {"CONFIG", "SET", "maxmemory", "0"}) == "OK");
    f.a.ns->to("r").emit("e", 2);
    CHECK(f.read_b("e", 1) == std::vector<int>{2});
}

TEST_CASE("local first: emits beyond max_pending_emits while Redis stalls are counted, and the "
          "other node's clients get a reset once it answers again",
          "[redis][local_first]") {
    two_nodes f("r", history(), [](sse::redis_options& o) {
        o.max_pending_emits = 2;
        o.max_in_flight = 1;
    });

    // Redis holds every write for 1.5 s; B's subscriber stays connected meanwhile.
    REQUIRE(redis_command(f.server.port(), {"CLIENT", "PAUSE", "1500", "WRITE"}) == "OK");
    for (int i = 0; i < 6; ++i)
        f.a.ns->to("r").emit("e", i);
    CHECK(f.read_a("e", 6) == range(0, 6));                               // all of them, locally
    REQUIRE(eventually([&] { return f.a.redis->state().dropped == 3; })); // 1 in flight, 2 kept
    // B gets kept ones, in order, once, and a reset (lost_events) for the rest: never silence.
    auto got = f.read_b("e", 4);
    CHECK(f.reset);
    for (std::size_t i = 0; i < got.size(); ++i)
        CHECK(got[i] == static_cast<int>(i));
    CHECK(f.b.redis->state().lost_notices == 1);
    // And on from there. (The reset does not wait for kept events still being planned: those
    // may follow it, in order, before the next one. And the next message shows B the hole the
    // dropped emits left in the channel's numbers; its read back meets the floor they raised
    // in the history: told once more.)
    f.a.ns->to("r").emit("e", 6);
    int resets = 1;
    for (;;) {
        auto more = f.read_b("e", 1);
        if (f.reset) {
            REQUIRE(++resets <= 2);
            continue;
        }
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
    // A keeps 1 emit in flight: the others wait in the adapter's queue, not in a socket.
    two_nodes f("r", shared ? history() : sse::history_options{},
                [](sse::redis_options& o) { o.max_in_flight = 1; });

    f.server.pause();
    for (int i = 0; i < 5; ++i) {
        f.a.ns->to("r").emit("e", i);
        CHECK(f.read_a("e", 1) == std::vector<int>{i});
    }
    // A swaps adapters (a configuration reload) while its old one holds 1 emit in flight and
    // 4 queued. Before the drain, close() cleared them: B never got 1 to 4, and no reset.
    auto old = f.a.redis;
    f.a.redis = std::make_shared<sse::redis_adapter>(f.a.ts.get_executor(),
                                                     test_options(f.server.url(), f.prefix));
    f.a.io->adapter(f.a.redis);
    CHECK(old->state().closed);
    f.server.resume();
    CHECK(f.read_b("e", 5) == range(0, 5));
    CHECK(!f.reset);
    REQUIRE(eventually([&] { return !old->state().publisher_connected; })); // drained, closed
    CHECK(old->state().dropped == 0);
    CHECK(old->state().published == 5);

    // The new adapter carries on, both ways.
    REQUIRE(eventually([&] { return f.a.synced(3) && f.b.synced(3); }));
    f.a.ns->to("r").emit("e", 5);
    CHECK(f.read_a("e", 1) == std::vector<int>{5});
    CHECK(f.read_b("e", 1) == std::vector<int>{5});
    f.b.ns->to("r").emit("e", 6);
    CHECK(f.read_a("e", 1) == std::vector<int>{6});
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
    CHECK(eventually([&] { return !old->state().publisher_connected; }));
    server.resume();
}

TEST_CASE("late join: a room new to a node loses nothing published before Redis confirmed its "
          "subscription",
          "[redis][local_first][late_join]") {
    redis_process server;
    auto prefix = "lj" + sse::detail::random_id(8);
    history_node a(test_options(server.url(), prefix), history());
    history_node b(test_options(server.url(), prefix), history());
    client on_b(b, "other");
    REQUIRE(eventually([&] { return a.synced(1) && b.synced(3); }));

    // Redis holds every command for 300 ms, then runs them in the order they came: A's emit
    // to room x first, then B's SUBSCRIBE to x, sent for a client that joins x meanwhile. The
    // emit is after the join in id order (B has delivered nothing newer), so it is owed to
    // the client. Before the catch-up read, B never heard of it, and nobody was told.
    REQUIRE(redis_command(server.port(), {"CLIENT", "PAUSE", "300", "ALL"}) == "OK");
    a.ns->to("x").emit("e", 1);
    REQUIRE(eventually([&] { return a.redis->state().pending == 0; })); // written
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    client joiner(b, "x");
    std::uint64_t last = 0;
    bool reset = false;
    CHECK(read_until(joiner, "e", 1, reset, last) == std::vector<int>{1});
    CHECK(!reset);
    // Then live, once each, in order.
    REQUIRE(eventually([&] { return b.synced(5); }));
    a.ns->to("x").emit("e", 2);
    b.ns->to("x").emit("e", 3);
    CHECK(read_until(joiner, "e", 2, reset, last) == range(2, 4));
    CHECK(!reset);
    CHECK(b.ns->stats().late_events == 0);
}

namespace {

// While set, node A's subscriber cannot reconnect (its redis_options::connect refuses), and
// its publisher can.
std::atomic<bool> refuse_subscriber{false};

void subscriber_can_be_refused(sse::redis_options& o) {
    auto const port = static_cast<int>(std::stoi(o.url.substr(o.url.rfind(':') + 1)));
    o.connect = [port](sse::redis_role role) -> redisAsyncContext* {
        if (role == sse::redis_role::subscriber && refuse_subscriber.load())
            throw std::runtime_error("held down by the test");
        return redisAsyncConnect("127.0.0.1", port);
    };
}

// Cuts node A's subscriber connection and keeps it from coming back (until
// refuse_subscriber is cleared); its publisher stays up.
void hold_a_subscriber_away(two_nodes& f) {
    refuse_subscriber = true;
    auto const sub =
        redis_client_id(f.server.port(), "sse:" + std::string(f.a.redis->node_id()) + ":sub");
    REQUIRE(!sub.empty());
    CHECK(redis_command(f.server.port(), {"CLIENT", "KILL", "ID", sub}) == "1");
    REQUIRE(eventually([&] { return !f.a.redis->state().subscriber_connected; }));
}

// What `c` reads next is the reset event, sent for an event of `n` that came late.
void expect_late_reset(client& c, history_node& n) {
    auto e = c.reader.next_event();
    REQUIRE(e);
    CHECK(e->event == "reset");
    CHECK(n.ns->stats().late_events >= 1);
}

} // namespace

TEST_CASE("local first: emits dropped past max_pending_emits reset the clients of a node whose "
          "subscriber was away when the notice went out: the loss is in the history",
          "[redis][local_first][gap]") {
    refuse_subscriber = false;
    two_nodes f("r", history(), subscriber_can_be_refused, [](sse::redis_options& o) {
        o.max_pending_emits = 2;
        o.max_in_flight = 1;
    });
    f.b.ns->to("r").emit("e", 0);
    CHECK(f.read_a("e", 1) == std::vector<int>{0});
    auto const before_loss = f.last_a;
    hold_a_subscriber_away(f);

    // Redis holds every write for 1.5 s: B keeps 3 of its 6 emits and drops the rest. It
    // tells once Redis answers again, while A cannot hear it.
    REQUIRE(redis_command(f.server.port(), {"CLIENT", "PAUSE", "1500", "WRITE"}) == "OK");
    for (int i = 1; i <= 6; ++i)
        f.b.ns->to("r").emit("e", i);
    CHECK(f.read_b("e", 7) == range(0, 7));
    REQUIRE(eventually([&] { return f.b.redis->state().dropped == 3; }));
    // The loss is written where reads look: the room's replay floor, at the highest lost id.
    auto const floor_key = sse::detail::redis_channel(f.prefix, "/s", {}) + "r#zf";
    auto const floor = [&] { return redis_command(f.server.port(), {"GET", floor_key}); };
    CHECK(eventually([&] { return !floor().empty(); }, std::chrono::seconds(10)));
    CHECK(floor() == std::to_string(f.last_b));
    CHECK(f.a.redis->state().lost_notices == 0);

    // A's subscriber returns: its recovery reads the kept emits back and finds the room
    // gapped. Before, it delivered the kept ones and never told the client of the others.
    refuse_subscriber = false;
    auto got = f.read_a("e", 6);
    CHECK(f.reset);
    CHECK(got.size() <= 3);
    for (std::size_t i = 0; i < got.size(); ++i)
        CHECK(got[i] == static_cast<int>(i) + 1);

    // A client that comes back later with an id from before the loss is reset too.
    client again(f.a, "r", std::to_string(before_loss));
    std::uint64_t last = 0;
    bool reset = false;
    auto replayed = read_until(again, "e", 6, reset, last);
    CHECK(reset);
    CHECK(replayed.size() <= 3);
}

TEST_CASE("subscriber gap: a client replayed from Redis while its node's subscriber is away "
          "gets nothing twice when the subscriber recovers",
          "[redis][local_first][gap]") {
    refuse_subscriber = false;
    two_nodes f("r", history(), subscriber_can_be_refused);
    f.b.ns->to("r").emit("e", 0);
    CHECK(f.read_a("e", 1) == std::vector<int>{0});
    auto const seen = f.last_a;
    f.on_a.reader.close();

    // A's subscriber goes and stays away; B emits 1-3, which A does not hear of.
    hold_a_subscriber_away(f);
    for (int i = 1; i <= 3; ++i)
        f.b.ns->to("r").emit("e", i);
    CHECK(f.read_b("e", 4) == range(0, 4));

    // The client comes back to A with its last id: A's history read (its publisher is up)
    // replays 1-3.
    client back(f.a, "r", std::to_string(seen));
    std::uint64_t last = seen;
    bool reset = false;
    CHECK(read_until(back, "e", 3, reset, last) == range(1, 4));
    CHECK(!reset);

    // The subscriber returns and A's recovery reads 1-3 again: the client must not get them
    // twice (nor a reset), and the next live event follows.
    refuse_subscriber = false;
    REQUIRE(eventually([&] { return f.a.redis->state().recoveries >= 1; }));
    f.b.ns->to("r").emit("e", 4);
    CHECK(read_until(back, "e", 1, reset, last) == std::vector<int>{4});
    CHECK(!reset);
}

TEST_CASE("subscriber gap: another node's emits while the subscriber is away are read back "
          "after the gap's start, though this node emitted newer ids meanwhile",
          "[redis][local_first][gap]") {
    refuse_subscriber = false;
    two_nodes f("r", history(), subscriber_can_be_refused);
    f.b.ns->to("r").emit("e", 0);
    CHECK(f.read_a("e", 1) == std::vector<int>{0});

    // A's subscriber goes and stays away. B emits 1; then A emits 2, which A's client gets
    // at once (local first), with a newer id than B's 1.
    hold_a_subscriber_away(f);
    f.b.ns->to("r").emit("e", 1);
    CHECK(f.read_b("e", 2) == range(0, 2));
    std::this_thread::sleep_for(std::chrono::milliseconds(5)); // A's id is the newer one
    f.a.ns->to("r").emit("e", 2);
    CHECK(f.read_a("e", 1) == std::vector<int>{2});

    // The subscriber returns: A's recovery reads after the last id delivered when it went
    // away (0), not after A's own 2, so B's 1 is found. It cannot follow 2 in order: A's
    // client is told to reset. Reading after 2, it was never found: the client got nothing.
    refuse_subscriber = false;
    REQUIRE(eventually([&] { return f.a.redis->state().recoveries >= 1; }));
    expect_late_reset(f.on_a, f.a);
}

TEST_CASE("replay: another node's event of a reconnect's missed window that reaches Redis only "
          "after the replay read resets the client",
          "[redis][local_first][replay]") {
    two_nodes f("r");
    f.b.ns->to("r").emit("e", 0);
    CHECK(f.read_a("e", 1) == std::vector<int>{0});
    auto const seen = f.last_a;
    f.on_a.reader.close();
    std::this_thread::sleep_for(std::chrono::milliseconds(800));

    // While the client is away A emits 1; once A delivered it (another client of the room
    // got it: past the merge window), the client comes back to A with its last id. It is
    // admitted at A's head, 1, and its replay read finds 1.
    client watcher(f.a, "r");
    REQUIRE(eventually([&] { return f.a.synced(3); }));
    f.a.ns->to("r").emit("e", 1);
    std::uint64_t watched = 0;
    CHECK(read_until(watcher, "e", 1, f.reset, watched) == std::vector<int>{1});
    REQUIRE(eventually([&] { return f.a.redis->state().pending == 0; }));
    client back(f.a, "r", std::to_string(seen));
    std::uint64_t last = seen;
    bool reset = false;
    CHECK(read_until(back, "e", 1, reset, last) == std::vector<int>{1});
    CHECK(!reset);

    // Then a third node whose clock is 400 ms behind publishes to the room: its id is between
    // the client's Last-Event-ID and 1, in the window the replay covered, but Redis got it
    // after the read. It cannot follow 1: the client must be told. (It joined the room at
    // the head, after the event in id order, so before it was owed nothing and got nothing.)
    feed_node feed(f.server.port(), f.prefix, "/s");
    feed.clock_behind_us = 400000;
    feed.emit("r", 2, 1);
    REQUIRE(feed.last_id > seen);
    REQUIRE(feed.last_id < last);
    expect_late_reset(back, f.a);
}

TEST_CASE("subscriber gap: another node's event stamped before the gap's start, which reaches "
          "Redis while the subscriber is away, is read back: the clients it was for are told",
          "[redis][local_first][gap]") {
    refuse_subscriber = false;
    two_nodes f("r", history(), subscriber_can_be_refused);
    f.b.ns->to("r").emit("e", 0);
    CHECK(f.read_a("e", 1) == std::vector<int>{0});
    std::this_thread::sleep_for(std::chrono::milliseconds(800));

    // A emits 1 (its client gets it at once), then its subscriber goes and stays away. Then a
    // third node whose clock is 500 ms behind (the ids assume agreement within a second)
    // publishes to the room: its id is below A's 1, though Redis gets it after the gap began.
    f.a.ns->to("r").emit("e", 1);
    CHECK(f.read_a("e", 1) == std::vector<int>{1});
    hold_a_subscriber_away(f);
    feed_node feed(f.server.port(), f.prefix, "/s");
    feed.clock_behind_us = 500000;
    feed.emit("r", 2, 1);
    REQUIRE(feed.last_id < f.last_a);

    // The subscriber returns. A's recovery reads a second back from the gap's start, finds
    // the feed's event and, as it cannot follow 1 in order, tells the client to reset (it
    // read after 1 before: the client got neither the event nor a reset).
    refuse_subscriber = false;
    REQUIRE(eventually([&] { return f.a.redis->state().recoveries >= 1; }));
    expect_late_reset(f.on_a, f.a);
}

TEST_CASE("a failed replay's reset never moves the browser's Last-Event-ID back",
          "[redis][local_first][replay]") {
    redis_process server;
    auto prefix = "rw" + sse::detail::random_id(8);
    history_node a(test_options(server.url(), prefix), history());
    history_node b(test_options(server.url(), prefix), history());
    client on_a(a, "r");
    REQUIRE(eventually([&] { return a.synced(3) && b.synced(1); }));
    a.ns->to("r").emit("e", 1); // B has nobody in r: it never hears of it
    auto const [seen, data] = on_a.expect("e");
    REQUIRE(seen != 0);
    server.kill(); // B's replay read fails
    REQUIRE(eventually([&] { return !b.redis->state().connected; }));
    client moved(b, "r", std::to_string(seen));
    auto e = moved.reader.next_event();
    REQUIRE(e);
    CHECK(e->event == "reset");
    REQUIRE(e->has_id);
    // Before: stamped with B's head at admission (below `seen`), so the browser's next
    // reconnect would have asked for what it had.
    CHECK(std::stoull(e->id) >= seen);
}
