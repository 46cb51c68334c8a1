// detail::replay_windows: which events of a reconnect's missed window its replay read found,
// so that one reaching Redis after the read is owed a reset (sans-I/O).
#include <sse/detail/replay_windows.hpp>

#include "support/catch.hpp"

using sse::detail::replay_windows;

namespace {
int a = 0, b = 0; // two clients: their addresses are the keys
} // namespace

TEST_CASE("replay_windows: an id of the window the read did not find is owed", "[replay_windows]") {
    replay_windows w(1000);
    w.open(&a, 20, 20); // nothing missed: no window
    CHECK(w.size() == 0);
    w.open(&a, 10, 20);
    CHECK_FALSE(w.read(&a, {15, 12}, 100));
    CHECK(w.owes(&a, 11));       // in (10, 20], not found
    CHECK_FALSE(w.owes(&a, 12)); // found: the replay sent it
    CHECK_FALSE(w.owes(&a, 10)); // at the Last-Event-ID: it had it
    CHECK_FALSE(w.owes(&a, 21)); // above the head: comes live
    CHECK(w.owes(&a, 20));
    CHECK_FALSE(w.owes(&b, 11)); // no window
}

TEST_CASE("replay_windows: a late id that came while the read ran is decided by its answer",
          "[replay_windows]") {
    replay_windows w(1000);
    w.open(&a, 10, 20);
    CHECK_FALSE(w.owes(&a, 13)); // noted, not yet owed: the read may hold it
    CHECK_FALSE(w.read(&a, {13}, 100));
    w.open(&b, 10, 20);
    CHECK_FALSE(w.owes(&b, 14));
    CHECK(w.read(&b, {13}, 100)); // 14 came late and the read did not have it: reset
}

TEST_CASE("replay_windows: windows go when their client leaves or they expire",
          "[replay_windows]") {
    replay_windows w(1000);
    w.open(&a, 10, 20);
    w.open(&b, 10, 20);
    CHECK(w.size() == 2);
    w.read(&a, {}, 100);
    w.expire(1099);
    CHECK(w.size() == 2);
    w.expire(1100); // a's read answered at 100: forgotten 1 000 us later
    CHECK(w.size() == 1);
    CHECK_FALSE(w.owes(&a, 11));
    w.expire(1000000); // b's read never answered: kept until it leaves
    CHECK(w.size() == 1);
    w.close(&b);
    CHECK(w.size() == 0);
}
