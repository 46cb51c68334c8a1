// Integration: Last-Event-ID replay on one node, from the in-memory history (issue #6, items
// 1-5; tests "one node", "the seam" and "history bounds").
//
// Ids are the namespace's sequence 1, 2, 3... Every test emits from one thread at a time
// (and no personal events unless it says so), so the n-th emit has id n: `tick()` returns
// the id from `stats().last_event_id`, and expectations are written as exact id lists.
// Events are compared as "name:id" strings, so a reset, a duplicate or a gap shows in the
// diff. "Nothing in between" is proved by a live event emitted afterwards arriving next.
#include "fixture.hpp"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <random>
#include <sstream>

using namespace sse_test;

namespace {

using seq = std::vector<std::string>;

sse::options replay_options(std::size_t max_events = 1000,
                            std::chrono::milliseconds max_age = std::chrono::minutes(5)) {
    auto o = quiet_options();
    o.history.max_events = max_events;
    o.history.max_age = max_age;
    return o;
}

/// "name:id" of an event ("name:" when it carries no id of its own).
std::string tag(sse_event const& e) {
    return e.event + ":" + (e.has_id ? e.id : std::string());
}

/// The next `n` events as "name:id" (fewer when the deadline passes first).
seq take(sse_reader& r, std::size_t n, std::chrono::milliseconds timeout = 3s) {
    seq out;
    for (auto const& e : r.events(n, timeout))
        out.push_back(tag(e));
    return out;
}

/// "tick:<id>" for each id.
seq ticks(std::initializer_list<std::uint64_t> ids) {
    seq out;
    for (auto id : ids)
        out.push_back("tick:" + std::to_string(id));
    return out;
}

/// Emits a "tick" through `op` (a namespace or a broadcast operator); returns its id.
template <class Target>
std::uint64_t tick(sse::namespace_& ns, Target&& op) {
    auto const before = ns.stats().last_event_id;
    op.emit("tick", {{"before", before}});
    auto const id = ns.stats().last_event_id;
    REQUIRE(id == before + 1);
    return id;
}

/// Routes every stream to its namespace and, right after connect(), joins the rooms named
/// (comma-separated) in the request's `X-Rooms` header: the documented way to join.
void join_rooms_in_route(fixture& f) {
    f.route_hook = [&f](plain_stream&& s, request&& r) {
        if (!f.io) return;
        std::string const rooms(r["X-Rooms"]);
        std::string const path(r.target().substr(0, r.target().find('?')));
        auto c = f.io->of(path).connect(std::move(s), std::move(r));
        std::stringstream in(rooms);
        for (std::string room; std::getline(in, room, ',');)
            if (!room.empty()) c->join(room);
    };
}

header_list with_rooms(std::string const& rooms, std::string const& last = {}) {
    header_list h{{"X-Rooms", rooms}};
    if (!last.empty()) h.emplace_back("Last-Event-ID", last);
    return h;
}

/// Closes a reader and waits until the namespace has let its client go.
void disconnect(fixture& f, opened& o) {
    o.reader.close();
    REQUIRE(eventually([&] { return !f.ns("/s").find_client(o.id); }));
}

/// Resident set size of this process, in bytes.
std::size_t resident_bytes() {
    std::ifstream statm("/proc/self/statm");
    std::size_t pages = 0, resident = 0;
    statm >> pages >> resident;
    return resident * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

} // namespace

// ---- item 3: replay on reconnect ------------------------------------------------------------

TEST_CASE("reconnect with the last id: exactly the missed events in order, then live",
          "[replay][one-node]") {
    fixture f(replay_options());
    join_rooms_in_route(f);
    auto& ns = f.ns("/s");

    auto first = f.open("/s", with_rooms("match"));
    for (int i = 1; i <= 5; ++i)
        tick(ns, ns.to("match"));
    CHECK(take(first.reader, 5) == ticks({1, 2, 3, 4, 5}));
    CHECK(first.reader.last_event_id() == "5");
    disconnect(f, first);

    // Missed: four to the room and one namespace-wide broadcast (included), plus two the
    // client would not have received (another room).
    tick(ns, ns.to("match"));            // 6
    tick(ns, ns.to("other"));            // 7 (not for it)
    tick(ns, ns.to("match"));            // 8
    tick(ns, ns);                        // 9 (namespace-wide)
    tick(ns, ns.to("match"));            // 10
    tick(ns, ns.to({"other", "match"})); // 11
    tick(ns, ns.to("other"));            // 12 (not for it)

    auto const stats_before = ns.stats();
    std::string target = "/s";
    header_list headers = with_rooms("match");
    SECTION("Last-Event-ID header") {
        headers.emplace_back("Last-Event-ID", "5");
    }
    SECTION("lastEventId query parameter") {
        target = "/s?lastEventId=5";
    }

    auto again = f.open(target, headers);
    CHECK(take(again.reader, 5) == ticks({6, 8, 9, 10, 11}));
    auto const live = tick(ns, ns.to("match")); // 13
    CHECK(take(again.reader, 1) == ticks({live}));
    CHECK(again.reader.last_event_id() == std::to_string(live));
    CHECK(ns.stats().replays == stats_before.replays + 1);
    CHECK(ns.stats().resets == stats_before.resets);
    // The replayed events are byte-identical to what live recipients got.
    CHECK(again.reader.wire().find("\n\nid: 6\nevent: tick\ndata: {\"before\":5}\n\n") !=
          std::string_view::npos);
}

TEST_CASE("several rooms joined in the route: each missed event once, in id order; except "
          "rules apply",
          "[replay][one-node]") {
    fixture f(replay_options());
    join_rooms_in_route(f);
    auto& ns = f.ns("/s");

    auto ab = f.open("/s", with_rooms("a,b"));
    auto c = f.open("/s", with_rooms("c"));
    tick(ns, ns); // 1
    CHECK(take(ab.reader, 1) == ticks({1}));
    CHECK(take(c.reader, 1) == ticks({1}));
    disconnect(f, ab);
    disconnect(f, c);

    tick(ns, ns.to("a"));                         // 2   ab
    tick(ns, ns.to("b"));                         // 3   ab
    tick(ns, ns.to({"a", "b"}));                  // 4   ab (once)
    tick(ns, ns.to("c"));                         // 5   c
    tick(ns, ns);                                 // 6   ab, c
    tick(ns, ns.to("a").except("b"));             // 7   nobody (ab is in b)
    tick(ns, ns.to("c").except("a"));             // 8   c
    tick(ns, ns.to({"a", "c"}));                  // 9   ab, c
    tick(ns, ns.to("b").except("c"));             // 10  ab
    tick(ns, ns.except("b"));                     // 11  c
    tick(ns, ns.to({"a", "b", "c"}).except("z")); // 12  ab, c

    auto ab2 = f.open("/s", with_rooms("a,b", "1"));
    auto c2 = f.open("/s", with_rooms("c", "1"));
    CHECK(take(ab2.reader, 7) == ticks({2, 3, 4, 6, 9, 10, 12}));
    CHECK(take(c2.reader, 6) == ticks({5, 6, 8, 9, 11, 12}));
    auto const live = tick(ns, ns); // 13
    CHECK(take(ab2.reader, 1) == ticks({live}));
    CHECK(take(c2.reader, 1) == ticks({live}));
    CHECK(ns.stats().resets == 0);
}

TEST_CASE("rooms joined in middleware are replayed too", "[replay][one-node]") {
    fixture f(replay_options());
    auto& ns = f.ns("/s");
    ns.use([](sse::client& c, sse::next next) {
        c.join({"a", "b"});
        next();
    });
    auto first = f.open("/s");
    tick(ns, ns.to("a")); // 1
    CHECK(take(first.reader, 1) == ticks({1}));
    disconnect(f, first);
    tick(ns, ns.to("b")); // 2
    tick(ns, ns.to("x")); // 3
    tick(ns, ns.to("a")); // 4
    auto again = f.open("/s", {{"Last-Event-ID", "1"}});
    CHECK(take(again.reader, 2) == ticks({2, 4}));
    CHECK(take(again.reader, 1, 0ms).empty());
    auto const live = tick(ns, ns.to("b"));
    CHECK(take(again.reader, 1) == ticks({live}));
}

TEST_CASE("a room joined after the replay ran: its missed events older than what the client "
          "has become a reset, never out of order",
          "[replay][one-node][late-join]") {
    fixture f(replay_options(), 2);
    join_rooms_in_route(f);
    auto& ns = f.ns("/s");

    auto first = f.open("/s", with_rooms("a"));
    tick(ns, ns.to("a")); // 1
    CHECK(take(first.reader, 1) == ticks({1}));
    disconnect(f, first);

    tick(ns, ns.to("a"));             // 2  replayed at reconnect
    tick(ns, ns.to("b"));             // 3  missed in b: older than 9 when b is joined
    tick(ns, ns.to({"a", "b"}));      // 4  replayed at reconnect only
    tick(ns, ns);                     // 5  replayed at reconnect only
    tick(ns, ns.to("b"));             // 6  missed in b: older than 9 when b is joined
    tick(ns, ns.to("b").except("a")); // 7  never (it is in a)
    tick(ns, ns.to("c"));             // 8  never

    auto again = f.open("/s", with_rooms("a", "1"));
    CHECK(take(again.reader, 3) == ticks({2, 4, 5}));
    auto const live_a = tick(ns, ns.to("a")); // 9
    CHECK(take(again.reader, 1) == ticks({live_a}));

    auto c = ns.find_client(again.id);
    REQUIRE(c);
    std::thread([c] { c->join("b"); }).join(); // the replay ran long ago
    // 3 and 6 after 9 would move the browser's lastEventId backwards (and a reconnect would
    // replay duplicates): the client is told to refetch instead. Its id stays 9 (nothing
    // newer was delivered), so a reconnect resumes after 9.
    auto reset = again.reader.next_event();
    REQUIRE(reset);
    CHECK(reset->event == "reset");
    CHECK(json_of(*reset).at("reason") == "history_gap");
    CHECK_FALSE(reset->has_id);

    auto const live_b = tick(ns, ns.to("b"));         // 10
    auto const live_ab = tick(ns, ns.to({"a", "b"})); // 11
    CHECK(take(again.reader, 2) == ticks({live_b, live_ab}));
    // Joining again, or another room, replays nothing: nothing older than the reset is owed.
    c->join("b");
    c->join("quiet");
    auto const marker = tick(ns, ns);
    CHECK(take(again.reader, 1) == ticks({marker}));
    CHECK(ns.stats().resets == 1);
}

TEST_CASE("a late join whose missed events are all newer than what the client has replays "
          "them, in order, before live ones",
          "[replay][one-node][late-join]") {
    fixture f(replay_options());
    join_rooms_in_route(f);
    auto& ns = f.ns("/s");

    auto first = f.open("/s", with_rooms("a"));
    tick(ns, ns.to("a")); // 1
    CHECK(take(first.reader, 1) == ticks({1}));
    disconnect(f, first);
    tick(ns, ns.to("b"));             // 2 missed in b
    tick(ns, ns.to("c"));             // 3 not for it
    tick(ns, ns.to("b").except("a")); // 4 never (it is in a)
    tick(ns, ns.to("b"));             // 5 missed in b

    auto again = f.open("/s", with_rooms("a", "1"));
    auto c = ns.find_client(again.id);
    REQUIRE(c);
    REQUIRE(eventually([&] { return ns.stats().replays == 1; }));
    c->join("b"); // nothing newer than 1 was sent to it: b's missed events can follow
    CHECK(take(again.reader, 2) == ticks({2, 5}));
    auto const live = tick(ns, ns.to("b"));
    CHECK(take(again.reader, 1) == ticks({live}));
    CHECK(ns.stats().resets == 0);
}

TEST_CASE("a late join after an admission reset replays nothing older than the reset",
          "[replay][one-node][late-join][reset]") {
    fixture f(replay_options(2));
    join_rooms_in_route(f);
    auto& ns = f.ns("/s");

    auto first = f.open("/s", with_rooms("a"));
    tick(ns, ns.to("a")); // 1
    CHECK(take(first.reader, 1) == ticks({1}));
    disconnect(f, first);
    for (int i = 2; i <= 4; ++i)
        tick(ns, ns.to("a")); // a keeps 3, 4: 2 is gone, so id 1 gets a reset
    tick(ns, ns.to("b"));     // 5: b still holds it

    auto again = f.open("/s", with_rooms("a", "1"));
    CHECK(take(again.reader, 1) == seq{"reset:5"});
    auto c = ns.find_client(again.id);
    REQUIRE(c);
    c->join("b"); // 5 is no newer than the reset's id: not owed
    auto const live = tick(ns, ns.to("b"));
    CHECK(take(again.reader, 1) == ticks({live}));
    CHECK(ns.stats().resets == 1);
}

TEST_CASE("a late join never sends what the client got, or was excluded from, by its own id",
          "[replay][one-node][late-join]") {
    fixture f(replay_options());
    join_rooms_in_route(f);
    auto& ns = f.ns("/s");

    auto first = f.open("/s", with_rooms("a"));
    tick(ns, ns.to("a")); // 1
    CHECK(take(first.reader, 1) == ticks({1}));
    disconnect(f, first);
    tick(ns, ns.to("b")); // 2: missed, in b's log

    auto again = f.open("/s", with_rooms("a", "1"));
    auto const live_a = tick(ns, ns.to("a")); // 3
    CHECK(take(again.reader, 1) == ticks({live_a}));
    auto const direct = tick(ns, ns.to("b").to(again.id)); // 4: reaches it as its own id
    CHECK(take(again.reader, 1) == ticks({direct}));

    tick(ns, ns.to("b").except(again.id)); // 5: it was excluded by its own id

    auto c = ns.find_client(again.id);
    REQUIRE(c);
    c->join("b");
    // It missed 2 (in b) but has 4 already: 2 now would send ids backwards, so a reset
    // (stamped 5, the newest delivered) replaces it; neither 4 again nor 5 is sent.
    CHECK(take(again.reader, 1) == seq{"reset:5"});
    auto const marker = tick(ns, ns);
    CHECK(take(again.reader, 1) == ticks({marker}));
}

// ---- the seam between replay and live -----------------------------------------------------

TEST_CASE("the seam: emits from another thread during repeated reconnects are neither lost "
          "nor duplicated",
          "[replay][one-node][seam]") {
    auto const threads = GENERATE(as<std::size_t>{}, 2, 4);
    CAPTURE(threads);
    auto opts = replay_options(std::size_t(1) << 18);
    opts.max_buffered_bytes = 64 * 1024 * 1024; // a descheduled reader must not be cut off
    opts.heartbeat_interval = std::chrono::milliseconds(5); // pings in the held queue too
    fixture f(opts, threads);
    join_rooms_in_route(f);
    auto& ns = f.ns("/s");

    // Event n goes to: 0 everyone, 1-2 room "a" (every reader is in it), 3 room "b" (none).
    auto const kind_of = [](std::uint64_t id) { return id % 4; };
    auto const for_readers = [&](std::uint64_t id) { return kind_of(id) != 3; };
    std::uint64_t constexpr max_events = 200000; // stays within the history kept

    thread_group emitter;
    std::atomic<std::uint64_t> emitted{0};
    emitter.spawn([&] {
        // Bursts of 64 back to back, paced to about 12k events a second overall.
        auto const start = std::chrono::steady_clock::now();
        for (std::uint64_t id = 1; id <= max_events && !emitter.stop; ++id) {
            switch (kind_of(id)) {
            case 0:
                ns.emit("tick", {{"n", id}});
                break;
            case 3:
                ns.to("b").emit("tick", {{"n", id}});
                break;
            default:
                ns.to("a").emit("tick", {{"n", id}});
                break;
            }
            emitted.store(id);
            if (id % 64 == 0)
                std::this_thread::sleep_until(start + std::chrono::microseconds(id * 80));
        }
    });

    struct reader_state {
        std::vector<std::uint64_t> got;
        std::string last;
        std::vector<std::string> problems;
        int connects = 0;
    };
    int constexpr readers = 4;
    int constexpr reconnects = 150;
    std::vector<reader_state> state(readers);

    // One connection: read what arrives for a while, record it, end it one of three ways.
    auto const session = [&](reader_state& s, std::mt19937& rng) {
        ++s.connects;
        sse_reader r(f.port, "/s", with_rooms("a", s.last));
        if (r.status() != 200) {
            s.problems.push_back("status " + std::to_string(r.status()));
            return;
        }
        auto hello = r.next_event();
        if (!hello || hello->event != "connection") {
            s.problems.push_back("no connection event");
            return;
        }
        auto const client_id = json_of(*hello).at("clientId").get<std::string>();
        auto record = [&](sse_event const& e) {
            if (e.event != "tick" || !e.has_id) {
                s.problems.push_back("unexpected " + tag(e) + " " + e.data);
                return;
            }
            auto const id = std::stoull(e.id);
            if (json_of(e).at("n").get<std::uint64_t>() != id)
                s.problems.push_back("id " + e.id + " carries " + e.data);
            s.got.push_back(id);
            s.last = e.id;
        };
        std::size_t const want = std::uniform_int_distribution<std::size_t>(0, 40)(rng);
        for (std::size_t i = 0; i < want && emitted.load() < max_events; ++i) {
            auto e = r.next_event(5s);
            if (!e) {
                s.problems.push_back("stream stalled after id " + s.last);
                return;
            }
            record(*e);
        }
        switch (std::uniform_int_distribution<int>(0, 2)(rng)) {
        case 0:
            r.close();
            break; // FIN; whatever was in flight is lost to this connection
        case 1:
            r.reset();
            break; // RST
        default:   // the server ends it: queued events are flushed first
            if (auto c = ns.find_client(client_id)) c->disconnect();
            for (auto const until = std::chrono::steady_clock::now() + 5s;
                 std::chrono::steady_clock::now() < until;) {
                auto e = r.next_event(1s);
                if (!e) break;
                record(*e);
            }
            if (!r.closed(1s)) s.problems.push_back("server-side disconnect did not end");
            break;
        }
        std::this_thread::sleep_for(
            std::chrono::microseconds(std::uniform_int_distribution<int>(0, 1500)(rng)));
    };

    {
        thread_group clients;
        for (int k = 0; k < readers; ++k) {
            clients.spawn([&, k] {
                std::mt19937 rng(static_cast<unsigned>(1234 + k));
                auto& s = state[static_cast<std::size_t>(k)];
                try {
                    for (int i = 0; i < reconnects; ++i)
                        session(s, rng);
                } catch (std::exception const& e) {
                    s.problems.push_back(std::string("exception: ") + e.what());
                }
            });
        }
    }
    emitter.join();
    auto const total = emitted.load();
    REQUIRE(ns.stats().last_event_id == total);
    std::uint64_t last_for_readers = total;
    while (last_for_readers > 0 && !for_readers(last_for_readers))
        --last_for_readers;

    for (int k = 0; k < readers; ++k) {
        CAPTURE(k);
        auto& s = state[static_cast<std::size_t>(k)];
        // A last reconnect collects the rest, which the history still holds.
        sse_reader r(f.port, "/s", with_rooms("a", s.last));
        REQUIRE(r.status() == 200);
        REQUIRE(r.next_event());
        while (s.last != std::to_string(last_for_readers)) {
            auto e = r.next_event(5s);
            if (!e) break;
            if (e->event != "tick" || !e->has_id) {
                s.problems.push_back("unexpected " + tag(*e));
                break;
            }
            s.got.push_back(std::stoull(e->id));
            s.last = e->id;
        }
        CHECK(s.problems.empty());
        for (auto const& p : s.problems)
            UNSCOPED_INFO(p);
        REQUIRE(!s.got.empty());

        // Everything for the readers from the first id it saw to the end, once, in order.
        std::vector<std::uint64_t> expected;
        for (std::uint64_t id = s.got.front(); id <= total; ++id)
            if (for_readers(id)) expected.push_back(id);
        CHECK(s.got.size() == expected.size());
        auto const diverge =
            std::mismatch(s.got.begin(), s.got.end(), expected.begin(), expected.end());
        if (diverge.first != s.got.end() || diverge.second != expected.end()) {
            auto const at = static_cast<std::size_t>(diverge.first - s.got.begin());
            FAIL("reader " << k << " diverges at index " << at << ": got "
                           << (diverge.first != s.got.end() ? std::to_string(*diverge.first)
                                                            : std::string("<end>"))
                           << ", expected "
                           << (diverge.second != expected.end() ? std::to_string(*diverge.second)
                                                                : std::string("<end>")));
        }
        CHECK(s.connects == reconnects);
    }
    CHECK(total > 1000); // the emitter really ran during the reconnects
    CHECK(ns.stats().resets == 0);
    CHECK(ns.stats().replays >= static_cast<std::uint64_t>(readers * reconnects / 2));
}

// ---- item 4: reset when history cannot cover the gap ---------------------------------------

TEST_CASE("an id older than the history kept gets one reset event, whose id resumes replay",
          "[replay][one-node][reset]") {
    fixture f(replay_options(3));
    join_rooms_in_route(f);
    auto& ns = f.ns("/s");

    auto first = f.open("/s", with_rooms("match"));
    tick(ns, ns.to("match")); // 1
    tick(ns, ns.to("match")); // 2
    CHECK(take(first.reader, 2) == ticks({1, 2}));
    disconnect(f, first);
    for (int i = 3; i <= 10; ++i)
        tick(ns, ns.to("match")); // the room keeps 8, 9, 10
    CHECK(ns.stats().history_events == 3);

    auto again = f.open("/s", with_rooms("match", "2"));
    auto reset = again.reader.next_event();
    REQUIRE(reset);
    CHECK(reset->event == "reset");
    CHECK(json_of(*reset) == nlohmann::json{{"reason", "history_gap"}, {"lastEventId", "2"}});
    CHECK(reset->has_id);
    CHECK(reset->id == "10"); // the newest id when it was admitted: live resumes after it
    CHECK(ns.stats().resets == 1);
    // No partial replay after the reset: the next event is live.
    auto const live = tick(ns, ns.to("match")); // 11
    CHECK(take(again.reader, 1) == ticks({live}));
    disconnect(f, again);

    // An id still kept replays; the reset's own id (for a client that dropped right after
    // the reset) replays from where live events resumed, without a second reset.
    auto dropped = f.open("/s", with_rooms("match", "8"));
    CHECK(take(dropped.reader, 3) == ticks({9, 10, 11}));
    disconnect(f, dropped);
    auto const resets_before = ns.stats().resets;
    tick(ns, ns.to("match")); // 12
    auto resumed = f.open("/s", with_rooms("match", reset->id));
    CHECK(take(resumed.reader, 2) == ticks({11, 12}));
    CHECK(ns.stats().resets == resets_before);
}

TEST_CASE("the namespace-wide broadcast log is bounded too: older than kept resets",
          "[replay][one-node][reset]") {
    fixture f(replay_options(4));
    auto& ns = f.ns("/s");
    auto first = f.open("/s");
    tick(ns, ns); // 1
    CHECK(take(first.reader, 1) == ticks({1}));
    disconnect(f, first);
    for (int i = 2; i <= 9; ++i)
        tick(ns, ns); // the broadcast log keeps 6..9

    auto gap = f.open("/s", {{"Last-Event-ID", "1"}});
    CHECK(take(gap.reader, 1) == seq{"reset:9"});
    auto kept = f.open("/s", {{"Last-Event-ID", "5"}});
    CHECK(take(kept.reader, 4) == ticks({6, 7, 8, 9}));
    auto const live = tick(ns, ns);
    CHECK(take(gap.reader, 1) == ticks({live}));
    CHECK(take(kept.reader, 1) == ticks({live}));
}

namespace {

struct bad_id {
    char const* what;
    std::string target;  // the request target
    header_list headers; // besides X-Rooms
};

} // namespace

TEST_CASE("an unknown or malformed Last-Event-ID gets a reset, never a crash",
          "[replay][one-node][reset]") {
    fixture f(replay_options());
    join_rooms_in_route(f);
    auto& ns = f.ns("/s");
    for (int i = 1; i <= 10; ++i)
        tick(ns, ns.to("match"));

    auto const id_header = [](std::string v) { return header_list{{"Last-Event-ID", v}}; };
    auto const c = GENERATE_COPY(
        bad_id{"ahead of the newest", "/s", id_header("11")},
        bad_id{"far ahead", "/s", id_header("18446744073709551615")},
        bad_id{"past 64 bits", "/s", id_header("18446744073709551616")},
        bad_id{"not a number", "/s", id_header("abc")}, bad_id{"signed", "/s", id_header("-1")},
        bad_id{"decimal", "/s", id_header("5.0")}, bad_id{"spaces inside", "/s", id_header("5 6")},
        bad_id{"another server's format", "/s", id_header("1700000000000-0")},
        bad_id{"ahead, in the query", "/s?lastEventId=99", {}},
        bad_id{"not a number, in the query", "/s?lastEventId=x%20y", {}},
        bad_id{"too long (a thousand digits)", "/s", id_header(std::string(1000, '7'))},
        bad_id{"too long, in the query", "/s?lastEventId=" + std::string(5000, '1'), {}},
        bad_id{"a line feed, in the query", "/s?lastEventId=5%0A", {}},
        bad_id{"only a line feed, in the query", "/s?lastEventId=%0A", {}},
        bad_id{"CR LF and a header, in the query", "/s?lastEventId=5%0D%0AX-Evil:%201", {}},
        bad_id{"a NUL, in the query", "/s?lastEventId=5%00", {}},
        bad_id{"not UTF-8, in the query", "/s?lastEventId=%FF%FE", {}},
        bad_id{"not UTF-8, in the header", "/s", id_header("5\xC3")});
    CAPTURE(c.what);
    auto headers = c.headers;
    headers.emplace_back("X-Rooms", "match");
    auto const resets_before = ns.stats().resets;

    auto o = f.open(c.target, headers);
    auto reset = o.reader.next_event();
    REQUIRE(reset);
    CHECK(reset->event == "reset");
    auto const data = json_of(*reset);
    CHECK(data.at("reason") == "unknown_id");
    CHECK(data.at("lastEventId").is_string());
    CHECK(data.at("lastEventId").get<std::string>().find_first_of("\r\n") == std::string::npos);
    CHECK(reset->id == "10");
    CHECK(ns.stats().resets == resets_before + 1);
    auto const live = tick(ns, ns.to("match"));
    CHECK(take(o.reader, 1) == ticks({live}));
    // The server is fine: a well-formed reconnect replays.
    auto ok = f.open("/s", with_rooms("match", std::to_string(live - 1)));
    CHECK(take(ok.reader, 1) == ticks({live}));
}

TEST_CASE("an unparsable id echoes back in the reset's data", "[replay][one-node][reset]") {
    fixture f(replay_options());
    auto& ns = f.ns("/s");
    tick(ns, ns); // 1
    auto o = f.open("/s", {{"Last-Event-ID", "a\"b\\c<x>"}});
    auto reset = o.reader.next_event();
    REQUIRE(reset);
    CHECK(json_of(*reset) ==
          nlohmann::json{{"reason", "unknown_id"}, {"lastEventId", "a\"b\\c<x>"}});
    CHECK(reset->id == "1");
}

TEST_CASE("the id of a personal event is a known id", "[replay][one-node][reset]") {
    // client->emit() takes an id from the namespace's sequence; a reconnect naming it must
    // not be told that its id is unknown.
    fixture f(replay_options());
    join_rooms_in_route(f);
    auto& ns = f.ns("/s");
    auto first = f.open("/s", with_rooms("match"));
    tick(ns, ns.to("match")); // 1
    auto c = ns.find_client(first.id);
    REQUIRE(c);
    c->emit("welcome", {{"hello", true}}); // 2
    auto got = take(first.reader, 2);
    CHECK(got == seq{"tick:1", "welcome:2"});
    disconnect(f, first);

    auto again = f.open("/s", with_rooms("match", "2"));
    auto const live = tick(ns, ns.to("match")); // 3
    CHECK(take(again.reader, 1) == ticks({live}));
    CHECK(ns.stats().resets == 0);
}

TEST_CASE("no history kept yet: a client naming id 0 or a known id gets a replay, not a reset",
          "[replay][one-node][reset]") {
    fixture f(replay_options());
    auto& ns = f.ns("/s");
    auto zero = f.open("/s", {{"Last-Event-ID", "0"}});
    auto const live = tick(ns, ns); // 1
    CHECK(take(zero.reader, 1) == ticks({live}));
    CHECK(ns.stats().resets == 0);
    CHECK(ns.stats().replays == 1);
}

TEST_CASE("the reset event's name is options::reset_event", "[replay][one-node][reset]") {
    auto opts = replay_options(2);
    opts.reset_event = "refetch";
    fixture f(opts);
    auto& ns = f.ns("/s");
    for (int i = 1; i <= 5; ++i)
        tick(ns, ns);
    auto o = f.open("/s", {{"Last-Event-ID", "1"}});
    CHECK(take(o.reader, 1) == seq{"refetch:5"});
}

// ---- item 5: replay off, last_event_id() in middleware -------------------------------------

TEST_CASE("replay turned off: no replay and no reset, history still kept", "[replay][one-node]") {
    fixture f(replay_options());
    join_rooms_in_route(f);
    auto& ns = f.ns("/s");
    CHECK(ns.replay_enabled());
    ns.set_replay(false);
    CHECK(!ns.replay_enabled());

    auto first = f.open("/s", with_rooms("match"));
    for (int i = 1; i <= 5; ++i)
        tick(ns, ns.to("match"));
    CHECK(take(first.reader, 5) == ticks({1, 2, 3, 4, 5}));
    disconnect(f, first);
    for (int i = 6; i <= 10; ++i)
        tick(ns, ns.to("match"));

    auto off = f.open("/s", with_rooms("match", "5"));
    auto unknown = f.open("/s", with_rooms("match", "junk"));
    auto const live = tick(ns, ns.to("match")); // 11
    CHECK(take(off.reader, 1) == ticks({live}));
    CHECK(take(unknown.reader, 1) == ticks({live}));
    CHECK(ns.stats().replays == 0);
    CHECK(ns.stats().resets == 0);
    CHECK(ns.stats().history_events == 11);

    // Turned back on, the same reconnect replays from the history kept meanwhile.
    ns.set_replay(true);
    auto on = f.open("/s", with_rooms("match", "5"));
    CHECK(take(on.reader, 6) == ticks({6, 7, 8, 9, 10, 11}));
}

TEST_CASE("history off (the default): Last-Event-ID is ignored", "[replay][one-node]") {
    fixture f; // quiet_options(): history.max_events == 0
    auto& ns = f.ns("/s");
    for (int i = 1; i <= 3; ++i)
        tick(ns, ns);
    auto o = f.open("/s", {{"Last-Event-ID", "1"}});
    auto const live = tick(ns, ns);
    CHECK(take(o.reader, 1) == ticks({live}));
    CHECK(ns.stats().history_events == 0);
    CHECK(ns.stats().replays == 0);
    CHECK(ns.stats().resets == 0);

    // Turned on later with set_history: kept from then on, replayed.
    ns.set_history({100, std::chrono::minutes(1)});
    auto const kept = tick(ns, ns);
    auto again = f.open("/s", {{"Last-Event-ID", std::to_string(live)}});
    CHECK(take(again.reader, 1) == ticks({kept}));
}

TEST_CASE("middleware reads last_event_id() and may send its own snapshot instead",
          "[replay][one-node][middleware]") {
    fixture f(replay_options());
    auto& ns = f.ns("/s");
    auto seen = std::make_shared<std::vector<std::string>>();
    auto seen_mutex = std::make_shared<std::mutex>();
    ns.use([seen, seen_mutex](sse::client& c, sse::next next) {
        {
            std::lock_guard<std::mutex> lock(*seen_mutex);
            seen->emplace_back(c.last_event_id());
        }
        next();
    });
    auto const seen_last = [&] {
        std::lock_guard<std::mutex> lock(*seen_mutex);
        return seen->back();
    };
    for (int i = 1; i <= 3; ++i)
        tick(ns, ns);

    { auto o = f.open("/s"); }
    CHECK(seen_last().empty());
    { auto o = f.open("/s", {{"Last-Event-ID", "2"}}); }
    CHECK(seen_last() == "2");
    { auto o = f.open("/s?lastEventId=3"); }
    CHECK(seen_last() == "3");
    { auto o = f.open("/s?lastEventId=3", {{"Last-Event-ID", "1"}}); }
    CHECK(seen_last() == "1"); // the header wins
    { auto o = f.open("/s", {{"Last-Event-ID", "not-an-id"}}); }
    CHECK(seen_last() == "not-an-id");
    { auto o = f.open("/s?lastEventId=1%0AX"); }
    CHECK(seen_last().empty()); // unsafe: reads as empty

    // An app that answers with its own snapshot: replay off, state sent on connection.
    ns.set_replay(false);
    ns.on_connection([](sse::client_ptr c) {
        if (!c->last_event_id().empty())
            c->emit("snapshot", {{"since", std::string(c->last_event_id())}});
    });
    auto o = f.open("/s", {{"Last-Event-ID", "2"}});
    auto snap = o.reader.next_event();
    REQUIRE(snap);
    CHECK(snap->event == "snapshot");
    CHECK(json_of(*snap) == nlohmann::json{{"since", "2"}});
}

// ---- history bounds: age and memory ----------------------------------------------------------

TEST_CASE("events older than max_age are forgotten: an id before them resets",
          "[replay][one-node][history]") {
    SECTION("with heartbeats") {
        auto opts = replay_options(1000, 200ms);
        opts.heartbeat_interval = 20ms;
        fixture f(opts);
        join_rooms_in_route(f);
        auto& ns = f.ns("/s");
        auto first = f.open("/s", with_rooms("match"));
        tick(ns, ns.to("match")); // 1
        tick(ns, ns.to("match")); // 2
        CHECK(take(first.reader, 2) == ticks({1, 2}));
        disconnect(f, first);
        tick(ns, ns.to("match")); // 3
        // Within max_age, a reconnect replays.
        auto young = f.open("/s", with_rooms("match", "2"));
        CHECK(take(young.reader, 1) == ticks({3}));
        REQUIRE(eventually([&] { return ns.stats().history_events == 0; }, 3s));

        auto old = f.open("/s", with_rooms("match", "2"));
        auto reset = old.reader.next_event();
        REQUIRE(reset);
        CHECK(reset->event == "reset");
        CHECK(json_of(*reset).at("reason") == "history_gap");
        CHECK(reset->id == "3");
        // Up to date: nothing was missed, nothing to reset.
        auto current = f.open("/s", with_rooms("match", "3"));
        auto const live = tick(ns, ns.to("match"));
        CHECK(take(current.reader, 1) == ticks({live}));
        CHECK(take(old.reader, 1) == ticks({live}));
    }
    SECTION("expired on its own timer, without heartbeats") {
        fixture f(replay_options(1000, 200ms));
        join_rooms_in_route(f);
        auto& ns = f.ns("/s");
        for (int i = 1; i <= 3; ++i)
            tick(ns, ns.to({"short-lived-" + std::to_string(i)}));
        CHECK(ns.stats().history_events == 3);
        // No heartbeat and no further emit: the expiry timer alone lets them go.
        REQUIRE(eventually([&] { return ns.stats().history_events == 0; }, 5s));
        // It missed event 2 of short-lived-2, which is gone: a reset, not a silent skip.
        auto old = f.open("/s", with_rooms("short-lived-2", "1"));
        CHECK(take(old.reader, 1) == seq{"reset:3"});
    }
    SECTION("dropped by the next event of the room (no heartbeat)") {
        fixture f(replay_options(1000, 200ms));
        join_rooms_in_route(f);
        auto& ns = f.ns("/s");
        for (int i = 1; i <= 3; ++i)
            tick(ns, ns.to("match"));
        std::this_thread::sleep_for(300ms); // let them age past max_age
        tick(ns, ns.to("match"));           // 4: 1..3 are dropped
        CHECK(ns.stats().history_events == 1);
        auto old = f.open("/s", with_rooms("match", "1"));
        CHECK(take(old.reader, 1) == seq{"reset:4"});
        auto kept = f.open("/s", with_rooms("match", "3"));
        CHECK(take(kept.reader, 1) == ticks({4}));
        auto const live = tick(ns, ns); // nothing else before it: no reset for `kept`
        CHECK(take(kept.reader, 1) == ticks({live}));
        CHECK(take(old.reader, 1) == ticks({live}));
        CHECK(ns.stats().resets == 1);
    }
}

TEST_CASE("bounded memory: far more events than the bound keep count and RSS flat",
          "[replay][one-node][history]") {
    std::size_t constexpr bound = 100;
    int constexpr rooms = 5;
    fixture f(replay_options(bound));
    join_rooms_in_route(f);
    auto& ns = f.ns("/s");
    std::string const payload(200, 'x'); // ~250 bytes per event on the wire
    auto const room = [](int i) { return "r" + std::to_string(i % rooms); };

    auto const burst = [&](int n) {
        for (int i = 0; i < n; ++i)
            ns.to(room(i)).emit("tick", {{"p", payload}});
        for (int i = 0; i < n / 10; ++i)
            ns.emit("tick", {{"p", payload}}); // the broadcast log is bounded too
    };
    burst(20000); // warm up allocator and logs
    auto const rss_before = resident_bytes();
    burst(200000);
    auto const rss_after = resident_bytes();
    auto const s = ns.stats();
    CHECK(s.history_events <= bound * (rooms + 1));
    CHECK(s.history_events == bound * (rooms + 1));
    CAPTURE(rss_before, rss_after);
    // Unbounded, 220k events of ~300 bytes would add ~70 MB. (ASan's quarantine keeps freed
    // memory resident, so the RSS bound is checked in normal builds only; the count above is
    // checked everywhere.)
#ifndef __SANITIZE_ADDRESS__
    CHECK(rss_after < rss_before + 8 * 1024 * 1024);
#endif

    // What is kept is exact: the newest ids of a room replay, older ones reset.
    // The newest ids are broadcasts (the end of the last burst); r0's own are older.
    auto const newest = s.last_event_id;
    auto recent = f.open("/s", with_rooms("r0", std::to_string(newest - 20)));
    auto const live = tick(ns, ns.to("r0"));
    seq expected;
    for (auto id = newest - 19; id <= newest; ++id)
        expected.push_back("tick:" + std::to_string(id));
    expected.push_back("tick:" + std::to_string(live));
    CHECK(take(recent.reader, expected.size()) == expected);
    auto stale = f.open("/s", with_rooms("r0", std::to_string(newest - 100000)));
    auto reset = stale.reader.next_event();
    REQUIRE(reset);
    CHECK(reset->event == "reset");
    CHECK(json_of(*reset).at("reason") == "history_gap");
}
