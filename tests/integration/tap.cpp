// Integration: namespace_::tap, the hook that lets application state follow the events a node
// delivers (the sports demo's scoreboard), over a real Beast server and real SSE clients.
#include "fixture.hpp"

#include <sse/tapped_event.hpp>

#include <mutex>
#include <thread>

using namespace sse_test;

namespace tap_test {

struct seen_event {
    std::string name, data;
    std::vector<std::string> rooms;
    std::uint64_t id;
};

// What a tap saw, from any thread.
struct tap_log {
    std::mutex m;
    std::vector<seen_event> events;
    void add(sse::tapped_event const& e) {
        std::lock_guard<std::mutex> lock(m);
        events.push_back({std::string(e.event.name()), e.event.data(), e.rooms, e.event.id()});
    }
    std::vector<seen_event> copy() {
        std::lock_guard<std::mutex> lock(m);
        return events;
    }
};

TEST_CASE("tap: every emit once, in id order, with its name, data and rooms", "[tap]") {
    fixture f;
    auto& ns = f.ns();
    tap_log log;
    ns.tap([&](sse::tapped_event const& e) { log.add(e); });
    auto watcher = f.open();
    ns.emit("score", {{"home", 1}});
    ns.to("m1").emit("score", {{"home", 2}});
    ns.to("m2").to("m3").except("muted").emit("goal", sse::text{"line 1\nline 2"});
    auto const got = log.copy(); // the tap ran inside each emit, before it returned
    REQUIRE(got.size() == 3);
    CHECK(got[0].name == "score");
    CHECK(got[0].data == R"({"home":1})");
    CHECK(got[0].rooms.empty());
    CHECK(got[1].rooms == std::vector<std::string>{"m1"});
    CHECK(got[2].name == "goal");
    CHECK(got[2].data == "line 1\nline 2");
    CHECK(got[2].rooms == std::vector<std::string>{"m2", "m3"});
    CHECK(got[0].id < got[1].id);
    CHECK(got[1].id < got[2].id);
    // The client gets what it is due, as always, with the ids the tap saw.
    auto e = watcher.reader.next_event();
    REQUIRE(e);
    CHECK(e->event == "score");
    CHECK(e->id == std::to_string(got[0].id));
}

TEST_CASE("tap: the handler may emit; one that throws is counted and the tap goes on", "[tap]") {
    fixture f;
    auto& ns = f.ns();
    tap_log log;
    ns.tap([&](sse::tapped_event const& e) {
        log.add(e);
        if (e.event.name() == "ping") ns.emit("pong", {{"for", e.event.id()}}); // no deadlock
        if (e.event.name() == "bad") throw std::runtime_error("the app's bug");
    });
    auto c = f.open();
    ns.emit("ping", 1);
    ns.emit("bad", 2);
    ns.emit("after", 3);
    auto const got = log.copy();
    REQUIRE(got.size() == 4);
    CHECK(got[0].name == "ping");
    CHECK(got[1].name == "pong"); // tapped after ping, in id order
    CHECK(got[2].name == "bad");
    CHECK(got[3].name == "after");
    CHECK(ns.stats().handler_errors == 1);
    for (auto const* name : {"ping", "pong", "bad", "after"}) {
        auto e = c.reader.next_event();
        REQUIRE(e);
        CHECK(e->event == name);
    }
    // Removed: no more calls.
    ns.tap({});
    ns.emit("unseen", 4);
    CHECK(log.copy().size() == 4);
}

TEST_CASE("tap: emits from many threads are tapped once each, one call at a time, in id order",
          "[tap]") {
    fixture f(quiet_options(), 2);
    auto& ns = f.ns();
    std::atomic<int> inside{0};
    std::atomic<bool> overlapped{false};
    tap_log log;
    ns.tap([&](sse::tapped_event const& e) {
        if (inside.fetch_add(1) != 0) overlapped = true;
        log.add(e);
        inside.fetch_sub(1);
    });
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&ns, t] {
            for (int i = 0; i < 250; ++i)
                ns.to("r" + std::to_string(t)).emit("e", i);
        });
    for (auto& t : threads)
        t.join();
    auto const got = log.copy();
    REQUIRE(got.size() == 1000);
    CHECK_FALSE(overlapped.load());
    for (std::size_t i = 1; i < got.size(); ++i)
        REQUIRE(got[i - 1].id < got[i].id);
}

} // namespace tap_test
