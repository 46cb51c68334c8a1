// Unit: the node messages of the cluster-wide operations (sse/detail/node_message.hpp), the
// directory of live nodes and their presence counts, and what an announce carries
// (sse/detail/node_directory.hpp). No sockets: time is an argument.
#include <sse/detail/node_directory.hpp>
#include <sse/detail/node_message.hpp>

#include "support/catch.hpp"

#include <random>
#include <string>

using namespace std::chrono_literals;
namespace d = sse::detail;

namespace node_message_test {

d::node_message round_trip(d::node_message const& m) {
    auto back = d::decode_node_message(d::encode_node_message(m));
    REQUIRE(back);
    CHECK(back->type == m.type);
    CHECK(back->from == m.from);
    return *back;
}

std::uint64_t total(d::node_directory const& dir, char const* room) {
    return dir.presence("/s", room);
}

} // namespace node_message_test

using namespace node_message_test;

TEST_CASE("node messages: every kind survives encode and decode", "[unit][nodes]") {
    using kind = d::node_message::kind;
    d::node_message hello;
    hello.type = kind::hello;
    hello.from = "n1";
    hello.ttl = 3000ms;
    hello.full = true;
    hello.presence = {{"/s", "m", 3}, {"/s", "x", 0}, {"/t", "m", 7}};
    auto h = round_trip(hello);
    CHECK(h.ttl == 3000ms);
    CHECK(h.full);
    REQUIRE(h.presence.size() == 3);

    d::node_message fetch;
    fetch.type = kind::fetch;
    fetch.from = "n2";
    fetch.request = 42;
    fetch.nsp = "/football";
    fetch.rooms = {"a", "b"};
    fetch.except = {"muted"};
    auto f = round_trip(fetch);
    CHECK(f.request == 42);
    CHECK(f.nsp == "/football");
    CHECK(f.rooms == fetch.rooms);
    CHECK(f.except == fetch.except);

    d::node_message clients;
    clients.type = kind::clients;
    clients.from = "n3";
    clients.request = 42;
    clients.truncated = true;
    clients.clients = {{"id1", "", {"id1", "a"}, "127.0.0.1", "/stream/x", "curl/8"}};
    auto c = round_trip(clients);
    REQUIRE(c.clients.size() == 1);
    CHECK(c.clients[0].id == "id1");
    CHECK(c.clients[0].rooms == std::vector<std::string>{"id1", "a"});
    CHECK(c.clients[0].user_agent == "curl/8");
    CHECK(c.truncated);

    d::node_message join;
    join.type = kind::join;
    join.from = "n4";
    join.nsp = "/s";
    join.rooms = {"m"};
    join.room = "extra";
    CHECK(round_trip(join).room == "extra");

    d::node_message emit;
    emit.type = kind::emit;
    emit.from = "n5";
    emit.event = "cache_flush";
    emit.data = {{"k", "v"}, {"n", 1}};
    CHECK(round_trip(emit).data == emit.data);

    d::node_message bye;
    bye.type = kind::bye;
    bye.from = "n6";
    round_trip(bye);
}

TEST_CASE("node messages: anything that is not a valid one is refused, never thrown",
          "[unit][nodes]") {
    std::vector<std::string> const bad_messages = {
        "",
        "[]",
        "null",
        "{",
        R"({"v":1})",
        R"({"v":"1","t":"bye","from":"a"})",
        R"({"v":1,"t":"bye","from":""})",
        R"({"v":1,"t":"nope","from":"a"})",
        R"({"v":1,"t":"hello","from":"a"})",
        R"({"v":1,"t":"hello","from":"a","ttl":0})",
        R"({"v":1,"t":"hello","from":"a","ttl":5,"presence":[]})",
        R"({"v":1,"t":"hello","from":"a","ttl":5,"presence":{"s":{"m":1}}})",
        R"({"v":1,"t":"hello","from":"a","ttl":5,"presence":{"/s":{"m":1.5}}})",
        R"({"v":1,"t":"hello","from":"a","ttl":5,"presence":{"/s":{"m":99999999999}}})",
        R"({"v":1,"t":"fetch","from":"a","nsp":"/s"})",
        R"({"v":1,"t":"fetch","from":"a","request":1,"nsp":"s"})",
        R"({"v":1,"t":"join","from":"a","nsp":"/s","rooms":["a"]})",
        R"({"v":1,"t":"join","from":"a","nsp":"/s","rooms":[1],"room":"x"})",
        R"({"v":1,"t":"leave","from":"a","nsp":"/s","room":""})",
        R"({"v":1,"t":"clients","from":"a","request":1,"clients":[{"id":"x"}]})",
        R"({"v":1,"t":"emit","from":"a","event":"bad name\n","data":1})",
        R"({"v":1,"t":"emit","from":"a","event":"ok"})",
        std::string("{\"v\":1,\"t\":\"bye\",\"from\":\"\xc3\"}")};
    for (auto const& bad : bad_messages)
        CHECK_FALSE(d::decode_node_message(bad));
    // Random bytes and random cuts of a valid message.
    d::node_message m;
    m.type = d::node_message::kind::fetch;
    m.from = "n";
    m.request = 7;
    m.nsp = "/s";
    m.rooms = {"r"};
    auto const good = d::encode_node_message(m);
    std::mt19937 rng(7);
    for (int i = 0; i < 2000; ++i) {
        std::string s = good.substr(0, rng() % (good.size() + 1));
        if (!s.empty() && i % 2) s[rng() % s.size()] = static_cast<char>(rng());
        CHECK_NOTHROW(d::decode_node_message(s));
    }
}

TEST_CASE("node directory: alive until the TTL, presence summed over live nodes", "[unit][nodes]") {
    d::node_directory dir;
    auto const t0 = d::node_directory::clock::now();
    dir.heard("a", t0, 1000ms);
    dir.heard("b", t0, 1000ms);
    dir.report("a", true, {{"/s", "m", 3}, {"/s", "x", 1}});
    dir.report("b", true, {{"/s", "m", 2}});
    CHECK(total(dir, "m") == 5);
    CHECK(dir.alive(t0 + 500ms) == std::vector<std::string>{"a", "b"});

    // A change, then a room emptied.
    dir.report("a", false, {{"/s", "m", 4}, {"/s", "x", 0}});
    CHECK(total(dir, "m") == 6);
    CHECK(total(dir, "x") == 0);
    // A full report replaces everything the node said before.
    dir.report("b", true, {{"/s", "y", 1}});
    CHECK(total(dir, "m") == 4);
    CHECK(total(dir, "y") == 1);
    // Counts from a node never heard of are ignored (its full announce comes soon).
    dir.report("z", true, {{"/s", "m", 100}});
    CHECK(total(dir, "m") == 4);

    // b keeps announcing, a stops: a expires with its counts.
    dir.heard("b", t0 + 900ms, 1000ms);
    CHECK(dir.expire(t0 + 1000ms) == std::vector<std::string>{"a"});
    CHECK(total(dir, "m") == 0);
    CHECK(dir.alive(t0 + 1500ms) == std::vector<std::string>{"b"});
    dir.forget("b");
    CHECK(dir.alive(t0 + 1500ms).empty());
    CHECK(total(dir, "y") == 0);
}

TEST_CASE("node directory: bounded whatever is announced", "[unit][nodes]") {
    d::node_directory dir;
    auto const t0 = d::node_directory::clock::now();
    for (std::size_t i = 0; i < d::node_directory::max_nodes + 10; ++i)
        dir.heard("n" + std::to_string(i), t0, 1000ms);
    CHECK(dir.alive(t0).size() == d::node_directory::max_nodes);
    std::vector<d::presence_entry> many;
    for (std::size_t i = 0; i < d::node_directory::max_rooms_per_node + 10; ++i)
        many.push_back({"/s", "r" + std::to_string(i), 1});
    dir.report("n0", true, many);
    CHECK(dir.presence("/s", "r0") == 1);
    CHECK(dir.presence("/s", "r" + std::to_string(d::node_directory::max_rooms_per_node + 5)) == 0);
}

TEST_CASE("presence announcer: changes only, with a full announce every few", "[unit][nodes]") {
    d::presence_announcer ann(3);
    bool full = false;
    auto first = ann.next({{"/s", "m", 2}, {"/s", "x", 1}}, full);
    CHECK(full);
    CHECK(first.size() == 2);
    // Nothing changed: nothing to say.
    CHECK(ann.next({{"/s", "m", 2}, {"/s", "x", 1}}, full).empty());
    CHECK_FALSE(full);
    // m changed, x emptied.
    auto delta = ann.next({{"/s", "m", 3}}, full);
    REQUIRE(delta.size() == 2);
    std::map<std::string, std::uint32_t> said;
    for (auto const& e : delta)
        said[e.room] = e.count;
    CHECK(said == std::map<std::string, std::uint32_t>{{"m", 3}, {"x", 0}});
    // The third: full again, whatever changed.
    auto again = ann.next({{"/s", "m", 3}}, full);
    CHECK(full);
    CHECK(again.size() == 1);

    // A receiver that applies every announce ends with the sender's counts, even when
    // it missed some: the next full one sets it right.
    d::node_directory dir;
    auto const t0 = d::node_directory::clock::now();
    dir.heard("a", t0, 10s);
    d::presence_announcer sender(4);
    std::mt19937 rng(11);
    std::map<std::string, std::uint32_t> truth;
    for (int tick = 0; tick < 400; ++tick) {
        truth["r" + std::to_string(rng() % 6)] = rng() % 4; // 0: the room emptied
        std::vector<d::presence_entry> now;
        for (auto const& [room, n] : truth)
            if (n > 0) now.push_back({"/s", room, n});
        auto said = sender.next(now, full);
        if (rng() % 5 == 0 && !full) continue; // pub/sub lost it
        dir.report("a", full, said);
        if (full)
            for (auto const& [room, n] : truth)
                CHECK(dir.presence("/s", room) == n);
    }
}
