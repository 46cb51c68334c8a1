// Unit tests of the sans-I/O parts of the Redis adapter: the reconnect state machine, the
// subscription tracker, the publish queue and the sequence filter (no server).
#include <sse/detail/redis_publish_queue.hpp>
#include <sse/detail/redis_reconnect.hpp>
#include <sse/detail/redis_subscriptions.hpp>

#include "support/catch.hpp"

#include <algorithm>
#include <random>

using namespace std::chrono_literals;
using sse::detail::redis_outgoing;
using sse::detail::redis_publish_queue;
using sse::detail::redis_reconnect;
using sse::detail::redis_sequence_filter;
using sse::detail::redis_subscriptions;
using action = redis_reconnect::action;
using state = redis_reconnect::state;

TEST_CASE("reconnect: connect, fail with growing backoff, succeed, lose, reconnect",
          "[redis][reconnect]") {
    redis_reconnect r(100ms, 1000ms);
    CHECK(r.current() == state::idle);
    CHECK(r.start().type == action::connect);
    CHECK(r.current() == state::connecting);

    // Failures: the delay's ceiling doubles up to max; with jitter in [half, all] of it.
    std::vector<std::chrono::milliseconds> ceilings = {100ms, 200ms, 400ms, 800ms, 1000ms, 1000ms};
    for (auto ceiling : ceilings) {
        auto low = r.on_connect_failed(0.0);
        REQUIRE(low.type == action::wait);
        CHECK(low.delay == ceiling / 2);
        CHECK(r.current() == state::waiting);
        CHECK(r.on_timer().type == action::connect);
    }
    auto high = r.on_connect_failed(0.999);
    CHECK(high.delay <= 1000ms);
    CHECK(high.delay >= 999ms);
    CHECK(r.on_timer().type == action::connect);

    CHECK(r.on_connected().type == action::none);
    CHECK(r.current() == state::connected);
    CHECK(r.failures() == 0);
    CHECK(r.reconnects() == 0); // the first connect is not a reconnect

    auto lost = r.on_lost(0.0);
    REQUIRE(lost.type == action::wait);
    CHECK(lost.delay == 50ms); // back to the minimum after having been up
    CHECK(r.on_timer().type == action::connect);
    CHECK(r.on_connected().type == action::none);
    CHECK(r.reconnects() == 1);
}

TEST_CASE("reconnect: events in the wrong state are ignored; close is final",
          "[redis][reconnect]") {
    redis_reconnect r(10ms, 20ms);
    CHECK(r.on_timer().type == action::none);
    CHECK(r.on_connected().type == action::none);
    CHECK(r.on_lost(0.5).type == action::none);
    CHECK(r.on_connect_failed(0.5).type == action::none);
    CHECK(r.current() == state::idle);
    r.start();
    CHECK(r.start().type == action::none);
    CHECK(r.on_lost(0.5).type == action::none); // not connected yet
    CHECK(r.close().type == action::stop);
    CHECK(r.current() == state::closed);
    CHECK(r.close().type == action::none);
    CHECK(r.on_connected().type == action::none);
    CHECK(r.on_connect_failed(0.5).type == action::none);
    CHECK(r.on_timer().type == action::none);
    CHECK(r.current() == state::closed);
}

TEST_CASE("reconnect: odd settings stay sane", "[redis][reconnect]") {
    redis_reconnect zero(0ms, 0ms); // would spin: treated as 1 ms
    zero.start();
    CHECK(zero.on_connect_failed(0.0).delay >= 1ms);
    redis_reconnect inverted(500ms, 100ms); // max below min: min wins
    inverted.start();
    CHECK(inverted.on_connect_failed(0.999).delay <= 500ms);
    CHECK(inverted.ceiling(10) == 500ms);
    redis_reconnect r(100ms, 5000ms);
    r.start();
    CHECK(r.on_connect_failed(-1.0).delay == 50ms); // bad jitter input is clamped
    r.on_timer();
    CHECK(r.on_connect_failed(7.0).delay <= 200ms);
    CHECK(r.ceiling(1000) == 5000ms); // no overflow after many failures
}

TEST_CASE("subscriptions: the difference between wanted and sent", "[redis][subscriptions]") {
    redis_subscriptions s;
    CHECK(s.add("a"));
    CHECK_FALSE(s.add("a")); // already wanted
    CHECK(s.add("b"));
    CHECK(s.wanted_count() == 2);
    auto c = s.take_changes();
    std::sort(c.subscribe.begin(), c.subscribe.end());
    CHECK(c.subscribe == std::vector<std::string>{"a", "b"});
    CHECK(c.unsubscribe.empty());
    CHECK(s.take_changes().empty());

    CHECK(s.remove("a"));
    CHECK_FALSE(s.remove("a"));
    CHECK_FALSE(s.remove("never"));
    c = s.take_changes();
    CHECK(c.subscribe.empty());
    CHECK(c.unsubscribe == std::vector<std::string>{"a"});
    CHECK(s.wanted_count() == 1);
}

TEST_CASE("subscriptions: flapping interest costs nothing on the wire", "[redis][subscriptions]") {
    redis_subscriptions s;
    s.add("x");
    s.remove("x");
    s.add("x");
    s.remove("x");
    CHECK(s.take_changes().empty());

    s.add("y");
    s.take_changes(); // sent
    s.remove("y");
    s.add("y");
    CHECK(s.take_changes().empty()); // still subscribed: nothing to do
    CHECK(s.wants("y"));
}

TEST_CASE("subscriptions: a reconnect replays every wanted channel", "[redis][subscriptions]") {
    redis_subscriptions s;
    s.add("a");
    s.add("b");
    s.add("c");
    s.take_changes();
    s.remove("b"); // not yet sent when the link drops
    s.add("d");
    s.reset(); // new connection: the server knows nothing
    auto c = s.take_changes();
    std::sort(c.subscribe.begin(), c.subscribe.end());
    CHECK(c.subscribe == std::vector<std::string>{"a", "c", "d"});
    CHECK(c.unsubscribe.empty());
    CHECK(s.wanted_count() == 3);
    CHECK_FALSE(s.has_changes());
}

namespace {
redis_outgoing msg(std::uint64_t seq, std::size_t channels = 1) {
    redis_outgoing m;
    m.sequence = seq;
    m.payload = "p" + std::to_string(seq);
    for (std::size_t i = 0; i < channels; ++i)
        m.channels.push_back("c" + std::to_string(i));
    return m;
}
} // namespace

TEST_CASE("publish queue: kept while down, bounded, tail dropped", "[redis][queue]") {
    redis_publish_queue q(3, 100);
    CHECK(q.push(msg(1)));
    CHECK(q.push(msg(2)));
    CHECK(q.push(msg(3)));
    CHECK_FALSE(q.push(msg(4))); // full: the newest is dropped, the kept prefix is unbroken
    CHECK(q.dropped() == 1);
    CHECK(q.start_next() == nullptr); // down: nothing goes out
    q.set_connected(true);
    std::vector<std::uint64_t> sent;
    while (auto const* m = q.start_next())
        sent.push_back(m->sequence);
    CHECK(sent == std::vector<std::uint64_t>{1, 2, 3});
    CHECK(q.in_flight() == 3);
    CHECK(q.acknowledge());
    CHECK(q.in_flight() == 2);
}

TEST_CASE("publish queue: the window bounds commands in flight", "[redis][queue]") {
    redis_publish_queue q(100, 4);
    q.set_connected(true);
    for (std::uint64_t i = 1; i <= 3; ++i)
        q.push(msg(i, 2)); // 2 PUBLISH each
    REQUIRE(q.start_next() != nullptr);
    REQUIRE(q.start_next() != nullptr);
    CHECK(q.start_next() == nullptr); // 4 commands in flight: full
    CHECK(q.in_flight_commands() == 4);
    CHECK_FALSE(q.acknowledge());     // first of two channels of emit 1
    CHECK(q.start_next() == nullptr); // 3 + 2 > 4
    CHECK(q.acknowledge());           // emit 1 complete
    auto const* m = q.start_next();
    REQUIRE(m != nullptr);
    CHECK(m->sequence == 3);

    // An emit to more channels than the window still goes out when nothing is in flight.
    redis_publish_queue small(10, 2);
    small.set_connected(true);
    small.push(msg(1, 5));
    REQUIRE(small.start_next() != nullptr);
    CHECK(small.in_flight_commands() == 5);
}

TEST_CASE("publish queue: a lost link puts unacknowledged emits back in order", "[redis][queue]") {
    redis_publish_queue q(4, 100);
    q.set_connected(true);
    for (std::uint64_t i = 1; i <= 3; ++i)
        q.push(msg(i));
    while (q.start_next()) {
    }
    q.acknowledge(); // 1 done; 2 and 3 unacknowledged
    q.set_connected(false);
    q.push(msg(4));
    q.push(msg(5));
    CHECK_FALSE(q.push(msg(6))); // 2, 3, 4, 5 kept: full
    q.set_connected(true);
    std::vector<std::uint64_t> sent;
    while (auto const* m = q.start_next())
        sent.push_back(m->sequence);
    CHECK(sent == std::vector<std::uint64_t>{2, 3, 4, 5});

    // Requeueing beyond the bound drops the newest.
    redis_publish_queue r(2, 100);
    r.set_connected(true);
    for (std::uint64_t i = 1; i <= 3; ++i) {
        REQUIRE(r.push(msg(i))); // each goes out at once: the bound does not apply
        REQUIRE(r.start_next() != nullptr);
    }
    CHECK(r.set_connected(false) == 1);
    CHECK(r.pending() == 2);
    CHECK(r.dropped() == 1);
}

TEST_CASE("publish queue: max_pending 0 keeps nothing while down but publishes while up",
          "[redis][queue]") {
    redis_publish_queue q(0, 2);
    CHECK_FALSE(q.push(msg(1)));
    q.set_connected(true);
    CHECK(q.push(msg(2)));
    REQUIRE(q.start_next() != nullptr);
    CHECK(q.push(msg(3)));
    REQUIRE(q.start_next() != nullptr);
    CHECK_FALSE(q.push(msg(4))); // window full and nothing may wait
    CHECK(q.dropped() == 2);
    CHECK(q.clear() == 2);
}

TEST_CASE("sequence filter: an older message that comes after a newer one is no copy (two "
          "shards of a cluster)",
          "[redis][queue]") {
    redis_sequence_filter f(4, 3);
    CHECK(f.accept("A", 10));
    CHECK(f.accept("A", 8)); // sent before 10, on a channel of a slower shard
    CHECK_FALSE(f.accept("A", 8));
    CHECK_FALSE(f.accept("A", 10));
    CHECK(f.accept("A", 9));
    // The window holds the last 3 accepted (8, 9, 10 then 9, 10, 11): below it, a copy.
    CHECK(f.accept("A", 11));
    CHECK_FALSE(f.accept("A", 8));
    CHECK_FALSE(f.accept("A", 7));
    CHECK_FALSE(f.accept("A", 9));
    // Seeded: every value of a shuffled stream once, each copy refused, while the disorder
    // stays inside the window.
    std::mt19937 rng(7);
    redis_sequence_filter g(4, 64);
    std::vector<std::uint64_t> order;
    for (std::uint64_t v = 1; v <= 2000; ++v)
        order.push_back(v);
    for (std::size_t i = 0; i + 32 <= order.size(); i += 32)
        std::shuffle(order.begin() + static_cast<std::ptrdiff_t>(i),
                     order.begin() + static_cast<std::ptrdiff_t>(i + 32), rng);
    for (auto v : order) {
        CHECK(g.accept("B", v));
        CHECK_FALSE(g.accept("B", v));
    }
}

TEST_CASE("sequence filter: per origin, copies and replays are dropped", "[redis][queue]") {
    redis_sequence_filter f(2);
    CHECK(f.accept("A", 1));
    CHECK_FALSE(f.accept("A", 1)); // the same emit via a second room channel
    CHECK(f.accept("A", 2));
    CHECK(f.accept("B", 1)); // origins are independent
    CHECK_FALSE(f.accept("A", 2));
    CHECK(f.accept("A", 5));       // gaps are fine (emits to rooms this node does not have)
    CHECK_FALSE(f.accept("A", 5)); // a replay after the publisher reconnected
    CHECK(f.size() == 2);
    CHECK(f.accept("C", 1)); // a third origin evicts the least recently heard (B)
    CHECK(f.size() == 2);
    CHECK_FALSE(f.accept("A", 5));
    CHECK(f.accept("B", 1)); // B was forgotten
}

TEST_CASE("subscriptions: a channel the server dropped on its own is sent again",
          "[redis][subscriptions]") {
    redis_subscriptions s;
    CHECK_FALSE(s.lost("a")); // unknown
    s.add("a");
    CHECK_FALSE(s.lost("a")); // not sent yet: nothing to send again
    CHECK(s.take_changes().subscribe == std::vector<std::string>{"a"});
    CHECK(s.lost("a"));
    CHECK_FALSE(s.lost("a")); // already waiting to be sent again
    auto c = s.take_changes();
    CHECK(c.subscribe == std::vector<std::string>{"a"});
    CHECK(c.unsubscribe.empty());
    CHECK(s.wanted_count() == 1);
    std::vector<std::string> wanted;
    s.for_each_wanted([&](std::string const& ch) { wanted.push_back(ch); });
    CHECK(wanted == std::vector<std::string>{"a"});
    s.remove("a");
    CHECK_FALSE(s.lost("a")); // no longer wanted
}
