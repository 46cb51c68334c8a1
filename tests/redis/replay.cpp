// Shared history through Redis (redis_options::shared_history): ids that every node agrees on,
// replay of missed events on any node from Last-Event-ID, resets where history cannot cover a
// gap, and recovery of what a node missed while its subscriber was away. Real redis-server,
// real Beast listeners, real SSE clients (as in cluster.cpp).
#include <sse/redis_adapter.hpp>
#include <sse/server.hpp>

#include "support/catch.hpp"
#include "support/sse_reader.hpp"
#include "support/test_server.hpp"

#include "history_support.hpp"
#include "redis_support.hpp"

#include <sse/detail/hybrid_id.hpp>
#include <sse/detail/random_id.hpp>
#include <sse/detail/redis_history.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdlib>
#include <future>
#include <sstream>
#include <thread>

using namespace redis_test;
using sse_test::sse_event;
using sse_test::sse_reader;

TEST_CASE("redis replay: missed events from two nodes replayed on the other node, in order, once",
          "[redis][replay]") {
    auto prefix = "h" + sse::detail::random_id(8);
    history_node a(test_options(shared_redis_url(), prefix), history());
    history_node b(test_options(shared_redis_url(), prefix), history());
    REQUIRE(a.redis->sequences(history()));
    client a1(a, "live");
    client watch(b, "live"); // sees everything, in the shared order
    REQUIRE(eventually([&] { return a.synced(3) && b.synced(3); }));

    std::uint64_t last = 0;
    for (int i = 0; i < 3; ++i)
        a.ns->to("live").emit("score", i);
    for (int i = 0; i < 3; ++i) {
        auto [id, data] = a1.expect("score"); // the origin delivers at once
        CHECK(data == i);
        CHECK(id > last);
        last = id;
        CHECK(watch.expect("score").first == id); // same id on both nodes
    }
    a1.reader.close();

    // Missed: 3..5 from A, 6..7 from B, one namespace-wide from A, one for another room.
    std::vector<std::uint64_t> missed;
    for (int i = 3; i < 6; ++i)
        a.ns->to("live").emit("score", i);
    for (int i = 3; i < 6; ++i) {
        auto [id, data] = watch.expect("score");
        CHECK(data == i);
        missed.push_back(id);
    }
    for (int i = 6; i < 8; ++i)
        b.ns->to("live").emit("score", i);
    for (int i = 6; i < 8; ++i) {
        auto [id, data] = watch.expect("score");
        CHECK(data == i);
        missed.push_back(id);
    }
    a.ns->to("elsewhere").emit("score", -1);
    a.ns->emit("all", 8);
    missed.push_back(watch.expect("all").first);

    client back(b, "live", std::to_string(last));
    for (std::size_t i = 0; i < missed.size(); ++i) {
        auto [id, data] = back.expect(i + 1 == missed.size() ? "all" : "score");
        CHECK(id == missed[i]);
        CHECK(data == static_cast<int>(i) + 3);
    }
    a.ns->to("live").emit("score", 9); // then live, no duplicate
    auto [id, data] = back.expect("score");
    CHECK(data == 9);
    CHECK(id > missed.back());
    CHECK(watch.expect("score").first == id);
}

TEST_CASE("redis replay: two nodes emitting to one room at once; ids increase, nothing is "
          "lost silently, replay gives the one order",
          "[redis][replay]") {
    auto prefix = "h" + sse::detail::random_id(8);
    history_node a(test_options(shared_redis_url(), prefix), history(1000));
    history_node b(test_options(shared_redis_url(), prefix), history(1000));
    std::vector<std::unique_ptr<client>> clients;
    clients.push_back(std::make_unique<client>(a, "r"));
    clients.push_back(std::make_unique<client>(a, "r,x"));
    clients.push_back(std::make_unique<client>(b, "r"));
    clients.push_back(std::make_unique<client>(b, "x,r"));
    REQUIRE(eventually([&] { return a.synced(5) && b.synced(5); }));

    // Each node emits once first: both now know another node emits here, and hold events
    // for the merge window (the events around that first change of origin may come late).
    a.ns->to("r").emit("warm", 0);
    for (auto& c : clients)
        c->expect("warm");
    b.ns->to("r").emit("warm", 1);
    for (auto& c : clients)
        c->expect("warm");

    int const per_node = 300;
    std::promise<void> go;
    auto start = go.get_future().share();
    auto emitter = [&](history_node& n, std::string const& tag) {
        return std::thread([&n, tag, start, per_node] {
            start.wait();
            for (int i = 0; i < per_node; ++i)
                n.ns->to(i % 3 == 0 ? std::vector<std::string>{"r", "x"}
                                    : std::vector<std::string>{"r"})
                    .emit("e", tag + std::to_string(i));
        });
    };
    auto const before = sse::detail::hybrid_id_at(sse::detail::unix_us_now()); // ids are times
    auto ta = emitter(a, "a");
    auto tb = emitter(b, "b");
    go.set_value();
    ta.join();
    tb.join();
    // Once both nodes have everything, one more emit: nothing can overtake it any more.
    REQUIRE(eventually([&] {
        return a.redis->state().delivered >= per_node && b.redis->state().delivered >= per_node;
    }));
    a.ns->to("r").emit("done", 0);

    // What each client saw: every id strictly increasing (resets included), and each event
    // either received or covered by a reset (a late event from the other node).
    std::vector<std::vector<std::pair<std::uint64_t, std::string>>> seen(clients.size());
    std::vector<int> resets(clients.size());
    for (std::size_t c = 0; c < clients.size(); ++c) {
        std::uint64_t last = 0;
        for (;;) {
            auto e = clients[c]->reader.next_event();
            REQUIRE(e);
            INFO("client " << c << " event '" << e->event << "' data " << e->data);
            // A reset takes the newest id when the client does not have it yet, else none.
            REQUIRE((e->has_id || e->event == "reset"));
            auto const id = e->has_id ? std::stoull(e->id) : last + 1;
            INFO("id " << id << " after " << last);
            REQUIRE(id > last);
            if (e->has_id) last = id;
            if (e->event == "done") break;
            if (e->event == "reset") {
                CHECK(nlohmann::json::parse(e->data).at("reason") == "late_event");
                ++resets[c];
                continue;
            }
            seen[c].emplace_back(id, nlohmann::json::parse(e->data).get<std::string>());
        }
        if (resets[c] == 0) CHECK(seen[c].size() == 2u * per_node);
    }
    auto late = a.ns->stats().late_events + b.ns->stats().late_events;
    INFO("late events: " << late << "; resets per client " << resets[0] << " " << resets[1] << " "
                         << resets[2] << " " << resets[3]);
    CHECK((late == 0) == (resets[0] + resets[1] + resets[2] + resets[3] == 0));

    // The one order: the shared history, read back on either node, gives every
    // event after it exactly once, in id order, each node's own in its emit
    // order.
    client from_start(b, "r", std::to_string(before));
    std::vector<std::pair<std::uint64_t, std::string>> all;
    while (all.size() < 2u * per_node) {
        auto [id, data] = from_start.expect("e");
        REQUIRE((all.empty() || id > all.back().first));
        all.emplace_back(id, data.get<std::string>());
    }
    int next_a = 0, next_b = 0;
    for (auto const& [id, d] : all) {
        if (d[0] == 'a') CHECK(d == "a" + std::to_string(next_a++));
        if (d[0] == 'b') CHECK(d == "b" + std::to_string(next_b++));
    }
    CHECK(next_a == per_node);
    CHECK(next_b == per_node);
    // Whatever a client received is that order, with holes only where it got a
    // reset.
    for (std::size_t c = 0; c < clients.size(); ++c)
        for (auto const& ev : seen[c])
            CHECK(std::binary_search(all.begin(), all.end(), ev));
}

TEST_CASE("redis replay: resets when history cannot cover the gap", "[redis][replay]") {
    auto prefix = "h" + sse::detail::random_id(8);
    history_node a(test_options(shared_redis_url(), prefix), history(5));
    history_node b(test_options(shared_redis_url(), prefix), history(5));
    client watch(b, "r");
    REQUIRE(eventually([&] { return a.synced(1) && b.synced(3); }));
    a.ns->to("r").emit("e", 0);
    auto first = watch.expect("e").first;

    SECTION("older than max_events") {
        for (int i = 1; i <= 6; ++i)
            a.ns->to("r").emit("e", i);
        std::vector<std::uint64_t> ids{first};
        for (int i = 1; i <= 6; ++i)
            ids.push_back(watch.expect("e").first);
        auto const last = ids.back();
        {
            client back(b, "r", std::to_string(first));
            auto [id, data] = back.expect("reset");
            CHECK(data.at("reason") == "history_gap");
            a.ns->to("r").emit("e", 7);
            auto live = back.expect("e");
            CHECK(live.second == 7);
            CHECK(live.first > last);
        }
        // Within the bound: replayed.
        client ok(b, "r", std::to_string(ids[4]));
        CHECK(ok.expect("e").second == 5);
        CHECK(ok.expect("e").second == 6);
        CHECK(ok.expect("e").second == 7);
    }
    SECTION("an id the namespace never reached, or not an id") {
        // An hour ahead of every clock: no node gave it out.
        auto const in_an_hour =
            sse::detail::hybrid_id_at(sse::detail::unix_us_now() + 3600000000ull);
        client ahead(a, "r", std::to_string(std::max(first, in_an_hour)));
        CHECK(ahead.expect("reset").second.at("reason") == "unknown_id");
        client garbage(a, "r", "not-an-id");
        CHECK(garbage.expect("reset").second.at("reason") == "unknown_id");
        client current(a, "r", std::to_string(first)); // nothing missed: no reset
        a.ns->to("r").emit("e", 1);
        auto const [id, data] = current.expect("e");
        CHECK(data == 1);
        CHECK(id < in_an_hour); // the forged id did not move A's ids ahead
    }
}

TEST_CASE("redis replay: history unavailable while Redis is down", "[redis][replay]") {
    redis_process server;
    auto prefix = "h" + sse::detail::random_id(8);
    history_node a(test_options(server.url(), prefix), history());
    client watch(a, "r");
    REQUIRE(eventually([&] { return a.synced(2); }));
    a.ns->to("r").emit("e", 0);
    auto first = watch.expect("e").first;
    server.kill();
    REQUIRE(eventually([&] { return !a.redis->state().connected; }));
    client back(a, "r", std::to_string(first));
    CHECK(back.expect("reset").second.at("reason") == "history_unavailable");
}

TEST_CASE("redis replay: a node whose subscriber dropped recovers what it missed",
          "[redis][replay][gap]") {
    auto prefix = "h" + sse::detail::random_id(8);
    history_node a(test_options(shared_redis_url(), prefix), history());
    history_node b(test_options(shared_redis_url(), prefix), history());
    client b1(b, "r");
    client b2(b, "q");
    REQUIRE(eventually([&] { return a.synced(1) && b.synced(5); }));
    for (int i = 0; i < 5; ++i)
        a.ns->to("r").emit("e", i);
    a.ns->emit("all", 0);
    for (int i = 0; i < 5; ++i)
        CHECK(b1.expect("e").second == i);
    CHECK(b1.expect("all").second == 0);
    CHECK(b2.expect("all").second == 0);

    auto const sub =
        redis_client_id(shared_redis_port(), "sse:" + std::string(b.redis->node_id()) + ":sub");
    REQUIRE(!sub.empty());
    // Hold B while its subscriber is cut and A emits: B cannot resubscribe before they pass.
    std::promise<void> release, held;
    net::post(b.ts.context(), [&] {
        held.set_value();
        release.get_future().wait();
    });
    held.get_future().wait();
    REQUIRE(eventually([&] { return a.redis->state().sequenced == 6; }));
    CHECK(redis_command(shared_redis_port(), {"CLIENT", "KILL", "ID", sub}) == "1");
    auto const before = a.redis->state().sequenced;
    for (int i = 5; i < 10; ++i)
        a.ns->to("r").emit("e", i);
    a.ns->to("q").emit("e", 100);
    REQUIRE(eventually([&] { return a.redis->state().sequenced == before + 6; }));
    release.set_value();
    // Live emits while B reconnects and recovers: the seam must neither lose nor repeat.
    for (int i = 10; i < 20; ++i) {
        a.ns->to("r").emit("e", i);
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    for (int i = 5; i < 20; ++i)
        CHECK(b1.expect("e").second == i);
    CHECK(b2.expect("e").second == 100);
    a.ns->emit("all", 1); // nothing else was queued before it, for either client
    CHECK(b1.expect("all").second == 1);
    CHECK(b2.expect("all").second == 1);
    auto s = b.redis->state();
    CHECK(s.recoveries >= 1);
    CHECK(s.recovered_events >= 6);
    CHECK(s.history_resets == 0);
}

TEST_CASE("redis replay: a room joined later never sends ids backwards (a reset instead), never "
          "a broadcast twice",
          "[redis][replay]") {
    auto prefix = "h" + sse::detail::random_id(8);
    history_node a(test_options(shared_redis_url(), prefix), history());
    history_node b(test_options(shared_redis_url(), prefix), history());
    client watch(b, "r,late");
    REQUIRE(eventually([&] { return a.synced(1) && b.synced(4); }));
    a.ns->to("r").emit("e", "r0");
    auto const last = watch.expect("e").first;
    a.ns->to("r").emit("e", "r1");
    a.ns->to("late").emit("e", "l1");
    a.ns->emit("all", "n1");
    CHECK(watch.expect("e").second == "r1");
    CHECK(watch.expect("e").second == "l1");
    CHECK(watch.expect("all").second == "n1");

    client c(b, "r", std::to_string(last));
    CHECK(c.expect("e").second == "r1");
    CHECK(c.expect("all").second == "n1");
    auto cp = b.ns->find_client(c.id);
    REQUIRE(cp);
    cp->join("late");
    // l1 is older than n1, which it has: sent now it would move ids backwards, so the
    // client gets the reset instead (nothing newer was delivered: it carries no id).
    auto reset = c.reader.next_event();
    REQUIRE(reset);
    CHECK(reset->event == "reset");
    CHECK(nlohmann::json::parse(reset->data).at("reason") == "history_gap");
    CHECK_FALSE(reset->has_id);
    a.ns->emit("all", "n2");
    CHECK(c.expect("all").second == "n2"); // n1 not again
}

TEST_CASE("redis replay: scripts go by SHA-1; a SCRIPT FLUSH loses no emit", "[redis][replay]") {
    redis_process server;
    CHECK(redis_command(server.port(), {"SCRIPT", "LOAD", sse::detail::redis_append_script}) ==
          sse::detail::redis_script_sha1(sse::detail::redis_append_script));
    CHECK(sse::detail::redis_script_sha1("abc") == "a9993e364706816aba3e25717850c26c9cd0d89d");
    auto prefix = "h" + sse::detail::random_id(8);
    history_node a(test_options(server.url(), prefix), history());
    history_node b(test_options(server.url(), prefix), history());
    client watch(b, "r");
    REQUIRE(eventually([&] { return a.synced(1) && b.synced(3); }));
    for (int i = 0; i < 5; ++i)
        a.ns->to("r").emit("e", i);
    for (int i = 0; i < 5; ++i)
        CHECK(watch.expect("e").second == i);
    CHECK(redis_command(server.port(), {"SCRIPT", "FLUSH"}) == "OK");
    std::uint64_t last = 0;
    for (int i = 5; i < 10; ++i)
        a.ns->to("r").emit("e", i);
    for (int i = 5; i < 10; ++i) {
        auto [id, data] = watch.expect("e");
        CHECK(data == i);
        CHECK(id > last);
        last = id;
    }
    CHECK(a.redis->state().reconnects >= 1);
    CHECK(eventually([&] { return a.redis->state().sequenced == 10; }));
}

TEST_CASE("redis replay: a subscriber gap longer than the history resets only that room",
          "[redis][replay][gap]") {
    auto prefix = "h" + sse::detail::random_id(8);
    history_node a(test_options(shared_redis_url(), prefix), history(3));
    history_node b(test_options(shared_redis_url(), prefix), history(3));
    client b1(b, "r");
    client b2(b, "q");
    REQUIRE(eventually([&] { return a.synced(1) && b.synced(5); }));
    a.ns->to("r").emit("e", 0);
    CHECK(b1.expect("e").second == 0);

    auto const sub =
        redis_client_id(shared_redis_port(), "sse:" + std::string(b.redis->node_id()) + ":sub");
    REQUIRE(!sub.empty());
    std::promise<void> release, held;
    net::post(b.ts.context(), [&] {
        held.set_value();
        release.get_future().wait();
    });
    held.get_future().wait();
    REQUIRE(eventually([&] { return a.redis->state().sequenced == 1; }));
    CHECK(redis_command(shared_redis_port(), {"CLIENT", "KILL", "ID", sub}) == "1");
    auto const before = a.redis->state().sequenced;
    for (int i = 1; i <= 6; ++i) // r's log keeps 3: three are lost for B
        a.ns->to("r").emit("e", i);
    a.ns->to("q").emit("e", 100); // q's log covers its gap
    REQUIRE(eventually([&] { return a.redis->state().sequenced == before + 7; }));
    release.set_value();

    CHECK(b1.expect("reset").second.at("reason") == "history_gap");
    CHECK(b2.expect("e").second == 100);
    REQUIRE(eventually([&] { return b.redis->state().recoveries >= 1; }));
    a.ns->to("r").emit("e", 7);
    CHECK(b1.expect("e").second == 7);
    CHECK(b.redis->state().history_resets >= 1);
}

TEST_CASE("redis replay: an emit from a node with history off takes none of the shared ids",
          "[redis][replay]") {
    auto prefix = "h" + sse::detail::random_id(8);
    history_node plain(test_options(shared_redis_url(), prefix), history(0));
    history_node b(test_options(shared_redis_url(), prefix), history());
    client watch(b, "r");
    REQUIRE(eventually([&] { return plain.synced(1) && b.synced(3); }));
    plain.ns->to("r").emit("e", "plain");
    auto e = watch.reader.next_event();
    REQUIRE(e);
    CHECK(e->data == "\"plain\"");
    CHECK(!e->has_id); // delivered, not numbered
    b.ns->to("r").emit("e", "shared");
    auto [id, data] = watch.expect("e");
    CHECK(data == "shared");
    // The namespace's first shared id, not dropped: one of now (ids are the emit time).
    auto const at = static_cast<std::int64_t>(sse::detail::hybrid_id_unix_ms(id));
    CHECK(std::abs(at - static_cast<std::int64_t>(sse::detail::unix_ms_now())) < 60000);
}

// A node whose head is below the client's Last-Event-ID (new, or idle in that namespace):
// what Redis had before the node subscribed, above both, comes neither live nor (older than
// the catch-up's second) by the room's catch-up. The replay read has it: it must reach the
// client, once, in order. (Before: cut at the head at admission, silently lost. Found by the
// cross-node simulation's strict_replay_upto case.)
TEST_CASE("redis replay: a fresh node replays what Redis had before it subscribed, above its "
          "own head",
          "[redis][replay]") {
    auto prefix = "h" + sse::detail::random_id(8);
    history_node a(test_options(shared_redis_url(), prefix), history());
    client on_a(a, "r");
    REQUIRE(eventually([&] { return a.synced(3); }));
    std::vector<std::uint64_t> ids;
    for (int i = 0; i < 3; ++i) {
        a.ns->to("r").emit("score", i);
        auto const [id, data] = on_a.expect("score");
        CHECK(data == i);
        ids.push_back(id);
    }
    // Older than the second a room's catch-up reads back.
    std::this_thread::sleep_for(std::chrono::milliseconds(1200));
    history_node b(test_options(shared_redis_url(), prefix), history()); // head 0
    REQUIRE(eventually([&] { return b.synced(1); }));
    client moved(b, "r", std::to_string(ids[0]));
    for (int i = 1; i < 3; ++i) {
        auto const [id, data] = moved.expect("score");
        CHECK(data == i);
        CHECK(id == ids[static_cast<std::size_t>(i)]);
    }
    a.ns->to("r").emit("score", 3); // then live, once
    auto const [id, data] = moved.expect("score");
    CHECK(data == 3);
    CHECK(id > ids.back());
}

// The same node when the history cannot cover the gap: the reset must cover what Redis had
// (stamped with at least the history's head), since none of it can follow in order. Before,
// it was stamped with the Last-Event-ID, and the newer events Redis had never came.
TEST_CASE("redis replay: a reset from a fresh node is stamped with the history's head",
          "[redis][replay]") {
    auto prefix = "h" + sse::detail::random_id(8);
    history_node a(test_options(shared_redis_url(), prefix), history(2)); // keeps 2 events
    client on_a(a, "r");
    REQUIRE(eventually([&] { return a.synced(3); }));
    std::vector<std::uint64_t> ids;
    for (int i = 0; i < 5; ++i) {
        a.ns->to("r").emit("score", i);
        ids.push_back(on_a.expect("score").first);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1200));
    history_node b(test_options(shared_redis_url(), prefix), history(2));
    REQUIRE(eventually([&] { return b.synced(1); }));
    client moved(b, "r", std::to_string(ids[0])); // 1..2 were trimmed: a gap
    auto e = moved.reader.next_event();
    REQUIRE(e);
    CHECK(e->event == "reset");
    REQUIRE(e->has_id);
    CHECK(std::stoull(e->id) >= ids.back());
    a.ns->to("r").emit("score", 5); // then live, once, above the reset
    auto const [id, data] = moved.expect("score");
    CHECK(data == 5);
    CHECK(id > ids.back());
}
