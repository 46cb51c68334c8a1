// Unit: sse/detail/delivery_core.hpp - live delivery and replay as one mechanism.
#include <sse/detail/delivery_core.hpp>

#include "support/catch.hpp"

#include <chrono>
#include <string>
#include <vector>

using sse::detail::client_state;
using sse::detail::delivery_core;
using sse::detail::delivery_options;
using sse::detail::log_clock;
using sse::detail::plan_limits;
using sse::detail::reset_reason;

namespace {

log_clock::time_point core_t0() {
    return log_clock::time_point{} + std::chrono::hours(1);
}

// Emits like a namespace does: stamps head()+1 and appends.
std::uint64_t core_emit(delivery_core& core, std::vector<std::string> rooms = {},
                        std::vector<std::string> except = {},
                        log_clock::time_point at = core_t0()) {
    auto ev = sse::encoded_event::make("e", sse::text("data"));
    auto const id = core.head() + 1;
    ev->stamp(id);
    REQUIRE(core.append(sse::detail::make_record(ev, std::move(rooms), std::move(except), at), at));
    return id;
}

std::vector<std::uint64_t> core_flush(delivery_core& core, client_state& c,
                                      reset_reason* reset = nullptr) {
    std::vector<sse::event_ptr> out;
    auto p = core.plan(c, plan_limits{}, out, core_t0());
    std::vector<std::uint64_t> ids;
    if (p.reset != reset_reason::none) ids.push_back(p.reset_id);
    if (reset) *reset = p.reset;
    for (auto const& e : out)
        ids.push_back(e->id());
    return ids;
}

delivery_options with_history(std::size_t events = 100) {
    delivery_options o;
    o.logs.history_events = events;
    return o;
}

using ids = std::vector<std::uint64_t>;

} // namespace

TEST_CASE("delivery_core: an emit appends once; each member reads it at its flush",
          "[delivery_core]") {
    delivery_core core;
    std::vector<client_state> clients(50);
    std::vector<std::string> names; // a client_state views its id: the owner keeps it
    for (std::size_t i = 0; i < clients.size(); ++i)
        names.push_back("c" + std::to_string(i));
    for (std::size_t i = 0; i < clients.size(); ++i) {
        core.admit(clients[i], names[i], std::nullopt);
        core.join(clients[i], "room");
    }
    auto const id = core_emit(core, {"room"});
    // One entry in one log, whatever the audience.
    CHECK(core.clients().find_room("room")->log().size() == 1);
    for (auto& c : clients)
        CHECK(core_flush(core, c) == ids{id});
    for (auto& c : clients)
        core.remove(c, core_t0());
}

TEST_CASE("delivery_core: ids from an adapter must increase; duplicates are dropped",
          "[delivery_core]") {
    delivery_core core;
    client_state a;
    core.admit(a, "a", std::nullopt);
    auto stamped = [](std::uint64_t id) {
        auto ev = sse::encoded_event::make("e", sse::text("x"));
        ev->stamp(id);
        return sse::detail::make_record(ev);
    };
    CHECK(core.append(stamped(10), core_t0()));       // ids assigned elsewhere: gaps are fine
    CHECK_FALSE(core.append(stamped(10), core_t0())); // the same event from a second channel
    CHECK_FALSE(core.append(stamped(7), core_t0()));  // a late copy
    CHECK(core.append(stamped(12), core_t0()));
    CHECK(core.head() == 12);
    CHECK(core_flush(core, a) == ids{10, 12});
    core.remove(a, core_t0());
}

TEST_CASE("delivery_core: a reconnect replays its rooms in id order, then goes live",
          "[delivery_core]") {
    delivery_core core(with_history());
    core_emit(core, {"a"}); // 1
    core_emit(core);        // 2
    auto const e3 = core_emit(core, {"b"});
    auto const e4 = core_emit(core, {"b"});
    auto const e5 = core_emit(core, {"a"});
    client_state c;
    CHECK(core.admit(c, "c", std::string_view("2")) == reset_reason::none);
    core.join(c, "a"); // joined before its first flush: part of the replay
    core.join(c, "b");
    CHECK(core_flush(core, c) == ids{e3, e4, e5});
    auto const e6 = core_emit(core, {"b"});
    CHECK(core_flush(core, c) == ids{e6});
    core.remove(c, core_t0());
}

TEST_CASE("delivery_core: a late join never sends an id older than one the client has",
          "[delivery_core]") {
    // The seam of tests/integration/replay.cpp: 9 was sent, then a join of b replayed 3, 6.
    delivery_core core(with_history());
    core_emit(core);        // 1
    core_emit(core);        // 2
    core_emit(core, {"b"}); // 3
    core_emit(core);        // 4
    core_emit(core);        // 5
    core_emit(core, {"b"}); // 6
    core_emit(core);        // 7
    core_emit(core);        // 8
    core_emit(core, {"a"}); // 9
    client_state c;
    core.admit(c, "c", std::string_view("2")); // it missed 3..9
    core.join(c, "a");
    CHECK(core_flush(core, c) == ids{4, 5, 7, 8, 9}); // namespace-wide and a, after 2
    // b joined after 9 was sent: its missed 3 and 6 cannot come in order any more.
    CHECK(core.join(c, "b") == reset_reason::history_gap);
    reset_reason why{};
    CHECK(core_flush(core, c, &why) == ids{0}); // no id: it has the head's (9) already
    CHECK(why == reset_reason::history_gap);
    // After the reset nothing older is owed: a later join is live.
    core_emit(core, {"d"});
    CHECK(core.join(c, "d") == reset_reason::none);
    auto const e11 = core_emit(core, {"d"});
    CHECK(core_flush(core, c) == ids{e11});
    core.remove(c, core_t0());
}

TEST_CASE("delivery_core: a reconnect's late join merges what it missed when it still can",
          "[delivery_core]") {
    delivery_core core(with_history());
    core_emit(core); // 1
    core_emit(core); // 2
    core_emit(core); // 3
    auto const e4 = core_emit(core, {"b"});
    client_state c;
    core.admit(c, "c", std::string_view("1")); // missed 2..4
    // Its first flush stops at the budget: the replay is not over.
    std::vector<sse::event_ptr> out;
    plan_limits lim;
    lim.budget = 1;
    auto p = core.plan(c, lim, out, core_t0());
    CHECK(p.more);
    CHECK(p.position == 2);
    // b joins now: 4 is after its position, so it still comes, in order.
    CHECK(core.join(c, "b") == reset_reason::none);
    auto const e5 = core_emit(core, {"b"});
    CHECK(core_flush(core, c) == ids{3, e4, e5});
    // A room without events in the missed window joins without a reset, live.
    CHECK(core.join(c, "quiet") == reset_reason::none);
    auto const e6 = core_emit(core, {"quiet"});
    CHECK(core_flush(core, c) == ids{e6});
    core.remove(c, core_t0());
}

TEST_CASE("delivery_core: a live join gets the room's events from the join on", "[delivery_core]") {
    delivery_core core(with_history());
    client_state c;
    core.admit(c, "c", std::nullopt);
    core_emit(core, {"r"}); // before the join: not for c (membership at emit time)
    core.join(c, "r");
    auto const after = core_emit(core, {"r"});
    CHECK(core_flush(core, c) == ids{after});
    core.remove(c, core_t0());
}

TEST_CASE("delivery_core: a late join after a reset replays nothing older than the reset",
          "[delivery_core]") {
    delivery_core core(with_history(2));
    for (int i = 0; i < 5; ++i)
        core_emit(core, {"r"});
    client_state c;
    // An id ahead of everything this namespace sent (another server's, a stale tab).
    CHECK(core.admit(c, "c", std::string_view("99")) == reset_reason::unknown_id);
    CHECK(core.join(c, "r") == reset_reason::none);
    reset_reason why{};
    CHECK(core_flush(core, c, &why) == ids{5}); // the reset, with the head's id
    CHECK(why == reset_reason::unknown_id);
    auto const e6 = core_emit(core, {"r"});
    CHECK(core_flush(core, c) == ids{e6});
    core.remove(c, core_t0());
}

TEST_CASE("delivery_core: reconnects the history cannot serve get a reset", "[delivery_core]") {
    SECTION("malformed Last-Event-ID") {
        delivery_core core(with_history());
        core_emit(core);
        client_state c;
        CHECK(core.admit(c, "c", std::string_view("abc")) == reset_reason::unknown_id);
        core.remove(c, core_t0());
    }
    SECTION("the room's log dropped events after it") {
        delivery_core core(with_history(2));
        for (int i = 0; i < 6; ++i)
            core_emit(core, {"r"});
        core.expire(core_t0()); // nobody reads r: only the newest two stay
        client_state c;
        CHECK(core.admit(c, "c", std::string_view("1")) == reset_reason::none);
        CHECK(core.join(c, "r") == reset_reason::history_gap);
        reset_reason why{};
        CHECK(core_flush(core, c, &why) == ids{6});
        CHECK(why == reset_reason::history_gap);
        core.remove(c, core_t0());
    }
    SECTION("the replay is larger than the bound") {
        auto o = with_history();
        o.max_replay_bytes = 100;
        delivery_core core(o);
        for (int i = 0; i < 10; ++i)
            core_emit(core);
        client_state c;
        CHECK(core.admit(c, "c", std::string_view("1")) == reset_reason::history_too_large);
        core.remove(c, core_t0());
    }
}

TEST_CASE("delivery_core: with history off Last-Event-ID starts at the head and logs keep "
          "only what members lack",
          "[delivery_core]") {
    delivery_core core; // history off
    client_state a, b;
    core.admit(a, "a", std::nullopt);
    core.admit(b, "b", std::string_view("1")); // ignored: no history, no reset
    core.join(a, "r");
    core.join(b, "r");
    core_emit(core, {"nobody"}); // no members, no history: kept nowhere
    CHECK(core.clients().find_room("nobody") == nullptr);
    for (int i = 0; i < 40; ++i)
        core_emit(core, {"r"});
    core_flush(core, a);
    core_flush(core, b);
    core.expire(core_t0());
    CHECK(core.clients().find_room("r")->log().empty());
    CHECK(core.clients().namespace_log().empty());
    core.remove(a, core_t0());
    core.remove(b, core_t0());
    CHECK(core.clients().room_count() == 0);
}

TEST_CASE("delivery_core: a client that falls off a log's tail is a slow consumer",
          "[delivery_core]") {
    delivery_options o;
    o.logs.max_bytes = 200;
    delivery_core core(o);
    client_state fast, slow;
    core.admit(fast, "fast", std::nullopt);
    core.admit(slow, "slow", std::nullopt);
    for (int i = 0; i < 20; ++i) {
        core_emit(core);
        core_flush(core, fast);
    }
    std::vector<sse::event_ptr> out;
    auto p = core.plan(slow, plan_limits{}, out, core_t0());
    CHECK(p.slow_consumer);
    CHECK(out.empty());
    // The reset policy: the next plan is the reset, and it is live again after it.
    core.reset(slow, reset_reason::slow_consumer);
    reset_reason why{};
    CHECK(core_flush(core, slow, &why) == ids{20});
    CHECK(why == reset_reason::slow_consumer);
    auto const next = core_emit(core);
    CHECK(core_flush(core, slow) == ids{next});
    core.remove(fast, core_t0());
    core.remove(slow, core_t0());
}

TEST_CASE("delivery_core: history expires on its own call, heartbeats or not", "[delivery_core]") {
    auto o = with_history();
    o.logs.history_age = std::chrono::seconds(30);
    delivery_core core(o);
    for (int i = 0; i < 100; ++i)
        core_emit(core, {"room" + std::to_string(i)}); // many short-lived rooms
    CHECK(core.clients().room_count() == 100);
    core.expire(core_t0() + std::chrono::seconds(29));
    CHECK(core.clients().room_count() == 100);
    core.expire(core_t0() + std::chrono::seconds(30));
    CHECK(core.clients().room_count() == 0);
}

TEST_CASE("delivery_core: a broker gap resets the members of a room", "[delivery_core]") {
    delivery_core core;
    client_state a, b;
    core.admit(a, "a", std::nullopt);
    core.admit(b, "b", std::nullopt);
    core.join(a, "r");
    core_emit(core);
    core.reset_room("r", reset_reason::lost_events);
    reset_reason why{};
    CHECK(core_flush(core, a, &why) == ids{1});
    CHECK(why == reset_reason::lost_events);
    CHECK(core_flush(core, b, &why) == ids{1});
    CHECK(why == reset_reason::none);
    core.remove(a, core_t0());
    core.remove(b, core_t0());
}

TEST_CASE("delivery_core: a slow consumer is visible before its write ends", "[delivery_core]") {
    delivery_options o;
    o.logs.max_bytes = 200;
    delivery_core core(o);
    client_state busy;
    core.admit(busy, "busy", std::nullopt);
    core.join(busy, "r");
    core_flush(core, busy);
    CHECK_FALSE(core.fell_behind(busy));
    for (int i = 0; i < 20; ++i) // its write is in flight: nobody plans for it meanwhile
        core_emit(core, {"r"});
    CHECK(core.fell_behind(busy));
    core.remove(busy, core_t0());
}

TEST_CASE("delivery_core: a room named twice in one emit is delivered once", "[delivery_core]") {
    delivery_core core;
    client_state a;
    core.admit(a, "a", std::nullopt);
    core.join(a, "r");
    auto const id = core_emit(core, {"r", "r", "a", "a"});
    CHECK(core_flush(core, a) == ids{id});
    core.remove(a, core_t0());
}
