// Unit: the Redis adapter's gap recovery as a state machine (detail/redis_gap_recovery.hpp):
// when live messages are held, which history reads are due, when what was held goes out.
// No Redis: the adapter's I/O is the test's calls.
#include <sse/detail/redis_gap_recovery.hpp>

#include "support/catch.hpp"

#include <cstdint>
#include <cstdlib>
#include <deque>
#include <random>
#include <string>
#include <vector>

using sse::detail::redis_channel_gap;
using recovery = sse::detail::redis_gap_recovery<int>;

namespace {

redis_channel_gap gap(std::string channel, std::uint64_t after, std::uint64_t upto) {
    return {0, "/s", std::move(channel), "r", "node-b", after, upto};
}

} // namespace

TEST_CASE("gap recovery: at rest nothing is held or due", "[unit][redis][gap_recovery]") {
    recovery r;
    CHECK(!r.holding());
    CHECK(!r.broker_read_due());
    CHECK(!r.broker_reading());
    CHECK(r.channel_read_due() == nullptr);
    CHECK(r.release_due());
    CHECK(!r.busy());
}

TEST_CASE("gap recovery: a subscriber back holds live messages until its read answered, "
          "from the earliest gap start",
          "[unit][redis][gap_recovery]") {
    recovery r;
    r.gap_started("/a", 5);
    r.gap_started("/a", 9); // another subscriber went away later: the earliest is kept
    r.gap_started("/b", 2);
    CHECK(r.gap_start("/a") == 5u);
    r.subscriber_back();
    CHECK(r.holding());
    CHECK(r.broker_read_due());
    CHECK(!r.release_due());
    CHECK(!r.hold(1, 10));

    auto const starts = r.begin_broker_read(2);
    CHECK(starts.size() == 2);
    CHECK(starts.at("/a") == 5);
    CHECK(starts.at("/b") == 2);
    CHECK(!r.gap_start("/a")); // taken: a later outage records its own
    CHECK(r.broker_reading());
    CHECK(!r.broker_read_due());
    // Past the bound while the read runs: no give-up, the read ends it.
    CHECK(!r.hold(2, 1));
    CHECK(!r.hold(3, 1));
    CHECK(!r.broker_read_answered());
    CHECK(!r.release_due());
    CHECK(r.broker_read_answered());
    REQUIRE(r.release_due());
    CHECK(r.release() == std::vector<int>{1, 2, 3});
    CHECK(!r.holding());
    CHECK(!r.busy());
}

TEST_CASE("gap recovery: a subscriber back again during a read gets a read of its own after it",
          "[unit][redis][gap_recovery]") {
    recovery r;
    r.subscriber_back();
    r.begin_broker_read(1);
    r.gap_started("/a", 7); // it went away and came back while the read ran
    r.subscriber_back();
    CHECK(!r.broker_read_due()); // one read at a time
    CHECK(!r.hold(1, 100));
    CHECK(r.broker_read_answered());
    CHECK(!r.release_due()); // the newer subscriber's read first
    REQUIRE(r.broker_read_due());
    CHECK(r.begin_broker_read(1).at("/a") == 7);
    CHECK(r.broker_read_answered());
    CHECK(r.release_due());
    CHECK(r.release() == std::vector<int>{1});
}

TEST_CASE("gap recovery: with no sequenced namespace a read has nothing to do and keeps the "
          "gap starts",
          "[unit][redis][gap_recovery]") {
    recovery r;
    r.gap_started("/a", 3);
    r.subscriber_back();
    CHECK(r.begin_broker_read(0).empty());
    CHECK(!r.broker_reading());
    CHECK(r.gap_start("/a") == 3u);
    CHECK(r.release_due());
}

TEST_CASE("gap recovery: channel gaps are read one at a time, in turn, and hold meanwhile",
          "[unit][redis][gap_recovery]") {
    recovery r;
    r.channel_gap_found(gap("c1", 1, 4));
    r.channel_gap_found(gap("c2", 2, 6));
    CHECK(r.holding());
    auto const* first = r.channel_read_due();
    REQUIRE(first != nullptr);
    CHECK(first->channel == "c1");
    CHECK(first->after == 1);
    CHECK(first->upto == 4);
    auto const first_id = first->id;
    r.channel_read_started();
    CHECK(r.channel_read_due() == nullptr);
    CHECK(!r.hold(10, 100));
    auto done = r.channel_read_answered(first_id);
    REQUIRE(done);
    CHECK(done->channel == "c1");
    CHECK(!r.release_due());
    auto const* second = r.channel_read_due();
    REQUIRE(second != nullptr);
    CHECK(second->channel == "c2");
    CHECK(second->id != first_id);
    auto const second_id = second->id;
    r.channel_read_started();
    REQUIRE(r.channel_read_answered(second_id));
    CHECK(r.release_due());
    CHECK(r.release() == std::vector<int>{10});
}

TEST_CASE("gap recovery: too much held with no read running gives up; a read answering after "
          "it is stale",
          "[unit][redis][gap_recovery]") {
    recovery r;
    r.gap_started("/a", 1);
    r.channel_gap_found(gap("c1", 1, 4));
    auto const id = r.channel_read_due()->id;
    r.channel_read_started();
    r.subscriber_back(); // wanted, not running: the publisher is away
    CHECK(!r.hold(1, 1));
    CHECK(r.hold(2, 1)); // over the bound: give up
    r.give_up();
    CHECK(!r.broker_read_due());
    CHECK(!r.gap_start("/a")); // everyone resets: the next outage starts afresh
    CHECK(r.release_due());
    CHECK(r.release() == std::vector<int>{1, 2});
    CHECK(!r.channel_read_answered(id)); // given up meanwhile
    CHECK(!r.busy());
}

TEST_CASE("gap recovery: the channel gap queue is bounded; closing drops what waits",
          "[unit][redis][gap_recovery]") {
    recovery r;
    for (std::size_t i = 0; i < recovery::max_channel_gaps; ++i) {
        CHECK(!r.channel_gaps_full());
        r.channel_gap_found(gap("c", i, i + 2));
    }
    CHECK(r.channel_gaps_full());
    CHECK(!r.hold(1, 100));
    r.drop_waiting();
    CHECK(r.held() == 0);
    CHECK(r.channel_read_due() == nullptr);
    CHECK(!r.channel_gaps_full());
}

// A seeded random walk against a reference model: what is held comes out once each, in
// arrival order, and only when no read is wanted, running or queued. SSE_GAP_SEED replays one.
TEST_CASE("gap recovery: random schedules against a reference model",
          "[unit][redis][gap_recovery]") {
    std::uint64_t first = 1, last = 400;
    if (char const* s = std::getenv("SSE_GAP_SEED")) first = last = std::strtoull(s, nullptr, 10);
    for (std::uint64_t seed = first; seed <= last; ++seed) {
        INFO("seed " << seed << " (SSE_GAP_SEED=" << seed << " replays it)");
        std::mt19937_64 rng(seed);
        recovery r;
        // The model.
        bool want = false, holding = false;
        std::size_t running = 0;
        std::deque<std::uint64_t> gaps; // their ids, in turn
        bool channel_running = false;
        std::vector<int> held, released;
        int next = 0;
        std::size_t const bound = 1 + rng() % 8;
        for (int step = 0; step < 300; ++step) {
            switch (rng() % 8) {
            case 0: // a subscriber back
                r.subscriber_back();
                want = holding = true;
                break;
            case 1: // a broker read starts when due
                if (want && running == 0) {
                    REQUIRE(r.broker_read_due());
                    running = 1 + rng() % 3;
                    r.begin_broker_read(running);
                    want = false;
                } else {
                    REQUIRE(!r.broker_read_due());
                }
                break;
            case 2: // one of its reads answers
                if (running != 0) {
                    --running;
                    REQUIRE(r.broker_read_answered() == (running == 0));
                }
                break;
            case 3: // a channel gap
                if (r.channel_gaps_full()) break;
                r.channel_gap_found(gap("c", 0, 1));
                gaps.push_back(0);
                holding = true;
                break;
            case 4: // its read starts
                if (auto const* g = r.channel_read_due()) {
                    REQUIRE(!channel_running);
                    REQUIRE(!gaps.empty());
                    gaps.front() = g->id;
                    r.channel_read_started();
                    channel_running = true;
                } else {
                    REQUIRE((channel_running || gaps.empty()));
                }
                break;
            case 5: // and answers
                if (channel_running) {
                    channel_running = false;
                    REQUIRE(r.channel_read_answered(gaps.front()));
                    gaps.pop_front();
                }
                break;
            default: // a message arrives
                if (r.holding()) {
                    REQUIRE(holding);
                    held.push_back(next);
                    bool const give_up = r.hold(next, bound);
                    REQUIRE(give_up == (held.size() > bound && running == 0));
                    if (give_up) {
                        r.give_up();
                        want = false;
                        gaps.clear();
                        if (channel_running) { // its answer comes, stale
                            channel_running = false;
                            REQUIRE(!r.channel_read_answered(0));
                        }
                    }
                } else {
                    REQUIRE(!holding);
                    released.push_back(next);
                }
                ++next;
            }
            bool const due = !want && running == 0 && gaps.empty();
            REQUIRE(r.release_due() == due);
            if (due && holding) {
                for (int m : r.release())
                    released.push_back(m);
                held.clear();
                holding = false;
            }
            REQUIRE(r.holding() == holding);
            REQUIRE(r.held() == held.size());
        }
        // Everything that arrived came out once, in order, or is still held.
        for (int m : held)
            released.push_back(m);
        REQUIRE(static_cast<int>(released.size()) == next);
        for (int i = 0; i < next; ++i)
            REQUIRE(released[static_cast<std::size_t>(i)] == i);
    }
}
