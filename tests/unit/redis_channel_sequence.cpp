// Unit: sse/detail/redis_channel_sequence.hpp (per-channel numbers that reveal a message Redis
// pub/sub lost), driven with made-up channels and origins.
#include <sse/detail/redis_channel_marks.hpp>
#include <sse/detail/redis_channel_sequence.hpp>

#include "support/catch.hpp"

#include <string>

namespace channel_sequence_test {

using sse::detail::redis_channel_counters;
using sse::detail::redis_channel_gaps;
using sse::detail::redis_channel_marks;
using seen = redis_channel_gaps::kind;

TEST_CASE("channel counters: each channel counts on its own, from 1", "[channel_sequence]") {
    redis_channel_counters c;
    CHECK(c.next("a") == 1);
    CHECK(c.next("a") == 2);
    CHECK(c.next("b") == 1);
    CHECK(c.next("a") == 3);
    CHECK(c.size() == 2);
}

TEST_CASE("channel counters: past the bound every channel starts again at 1",
          "[channel_sequence]") {
    redis_channel_counters c(2);
    c.next("a");
    c.next("a");
    c.next("b");
    CHECK(c.next("c") == 1);
    CHECK(c.size() == 1);
    CHECK(c.next("a") == 1);
}

// Arguments: channel, origin, channel number, origin sequence, event id.
TEST_CASE("channel gaps: in order is quiet, a hole is counted with the last id before it",
          "[channel_sequence]") {
    redis_channel_gaps g;
    CHECK(g.observe("ch", "A", 1, 10, 100).what == seen::first);
    CHECK(g.observe("ch", "A", 2, 12, 110).what == seen::next); // 11 went to another channel
    auto const hole = g.observe("ch", "A", 5, 20, 140);
    CHECK(hole.what == seen::gap);
    CHECK(hole.missed == 2);
    CHECK(hole.last_event_id == 110);
    CHECK(g.observe("ch", "A", 6, 21, 150).what == seen::next);
}

TEST_CASE("channel gaps: origins and channels are apart; a first message can start anywhere",
          "[channel_sequence]") {
    redis_channel_gaps g;
    CHECK(g.observe("ch", "A", 7, 1, 1).what == seen::first); // subscribed in the middle
    CHECK(g.observe("ch", "B", 3, 1, 2).what == seen::first);
    CHECK(g.observe("other", "A", 1, 2, 3).what == seen::first);
    CHECK(g.observe("ch", "A", 8, 3, 4).what == seen::next);
    CHECK(g.observe("ch", "B", 4, 2, 5).what == seen::next);
    CHECK(g.observe("other", "A", 2, 4, 6).what == seen::next);
}

TEST_CASE("channel gaps: copies re-sent after a reconnect, new starts, old formats",
          "[channel_sequence]") {
    redis_channel_gaps g;
    g.observe("ch", "A", 1, 1, 1);
    g.observe("ch", "A", 2, 2, 2);
    CHECK(g.observe("ch", "A", 2, 2, 2).what == seen::repeat); // re-published
    CHECK(g.observe("ch", "A", 1, 1, 1).what == seen::repeat);
    CHECK(g.observe("ch", "A", 0, 9, 9).what == seen::none); // no number: an older node
    CHECK(g.observe("ch", "A", 3, 3, 3).what == seen::next); // the copies changed nothing
    // A newer message with a small number: the origin started its numbers again.
    CHECK(g.observe("ch", "A", 1, 10, 10).what == seen::first);
    CHECK(g.observe("ch", "A", 2, 11, 11).what == seen::next);
    // The copy of a message whose original was lost is the first to arrive: no gap.
    CHECK(g.observe("ch", "A", 3, 12, 12).what == seen::next);
}

TEST_CASE("channel gaps: unsubscribed channels and reconnects are forgotten",
          "[channel_sequence]") {
    redis_channel_gaps g;
    g.observe("ch", "A", 1, 1, 1);
    g.observe("ch2", "A", 1, 2, 2);
    g.forget("ch"); // what passes by until it is subscribed again is no gap
    CHECK(g.size() == 1);
    CHECK(g.observe("ch", "A", 40, 50, 50).what == seen::first);
    // A channel whose name starts like another one is not forgotten with it.
    g.forget("ch2");
    CHECK(g.observe("ch", "A", 41, 51, 51).what == seen::next);
    g.clear();
    CHECK(g.observe("ch", "A", 50, 60, 60).what == seen::first);
}

TEST_CASE("channel gaps: memory stays bounded", "[channel_sequence]") {
    redis_channel_gaps g(3);
    for (int i = 0; i < 10; ++i)
        g.observe("ch" + std::to_string(i), "A", 1, static_cast<std::uint64_t>(i), 1);
    CHECK(g.size() <= 3);
}

TEST_CASE("channel gaps: a mark of the last number that arrived is quiet; a higher one is a gap "
          "that includes the marked message",
          "[channel_sequence]") {
    redis_channel_gaps g;
    CHECK(g.observe("ch", "a", 1, 1, 100).what == seen::first);
    CHECK(g.observe("ch", "a", 2, 2, 200).what == seen::next);
    CHECK(g.observe_mark("ch", "a", 2, 2, 200).what == seen::repeat); // nothing after 2
    auto const lost = g.observe_mark("ch", "a", 4, 4, 400);           // 3 and 4 never came
    CHECK(lost.what == seen::gap);
    CHECK(lost.missed == 2);
    CHECK(lost.last_event_id == 200);
    CHECK(g.observe_mark("ch", "a", 4, 4, 400).what == seen::repeat); // told once
    CHECK(g.observe("ch", "a", 5, 5, 500).what == seen::next);
    // Nothing known: a mark is noted like a first message, so the next hole shows.
    CHECK(g.observe_mark("other", "a", 9, 9, 900).what == seen::first);
    CHECK(g.observe("other", "a", 11, 11, 1100).what == seen::gap);
    CHECK(g.observe_mark("ch", "a", 0, 6, 600).what == seen::none);
}

TEST_CASE("channel marks: a quiet channel is owed one mark with its newest number",
          "[channel_sequence]") {
    redis_channel_marks m;
    m.written("a", 1, 10, 100, true, 0);
    m.written("a", 2, 11, 110, true, 500);
    m.written("b", 1, 12, 120, false, 600);
    CHECK(m.take_due(1000, 1000).empty()); // "a" is quiet for 500 only
    auto due = m.take_due(1500, 1000);
    REQUIRE(due.size() == 1);
    CHECK(due[0].channel == "a");
    CHECK(due[0].number == 2);
    CHECK(due[0].sequence == 11);
    CHECK(due[0].event_id == 110);
    CHECK(due[0].shared);
    CHECK(m.take_due(1500, 1000).empty()); // once per quiet spell
    // A message written again after a reconnect does not move the numbers back.
    m.written("b", 2, 13, 130, false, 700);
    m.written("b", 1, 12, 120, false, 800);
    due = m.take_due(5000, 1000);
    REQUIRE(due.size() == 1);
    CHECK(due[0].number == 2);
    CHECK_FALSE(due[0].shared);
    CHECK(m.empty());
    m.written("c", 0, 1, 1, true, 0); // unnumbered: nothing to mark
    CHECK(m.empty());
}

TEST_CASE("channel marks: memory stays bounded", "[channel_sequence]") {
    redis_channel_marks m(2);
    m.written("a", 1, 1, 1, true, 0);
    m.written("b", 1, 2, 2, true, 0);
    m.written("c", 1, 3, 3, true, 0); // past the bound: not owed one
    CHECK(m.size() == 2);
    m.written("a", 2, 4, 4, true, 10); // a channel already owed one is kept up to date
    CHECK(m.size() == 2);
    CHECK(m.take_due(100, 50).size() == 2);
}

} // namespace channel_sequence_test
