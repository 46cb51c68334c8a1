// Channel numbers and marks (issue 17): Redis pub/sub delivers at most once, so each node
// numbers what it publishes per channel, and marks a channel that went quiet; a receiving node
// that sees a hole reads the lost messages back from the shared history, or resets the room's
// clients. Real redis-server, real Beast listeners, real SSE clients; the lost message is
// played by a feed that stores an emit through the real script without publishing it.
#include "local_first_support.hpp"

#include <sse/detail/random_id.hpp>

#include <hiredis/hiredis.h>

#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

using namespace redis_test;

namespace {

// A plain SUBSCRIBE on one channel (blocking hiredis): what Redis carries there, as sent.
struct raw_subscriber {
    raw_subscriber(unsigned short port, std::string const& channel) {
        timeval tv{2, 0};
        c = redisConnectWithTimeout("127.0.0.1", port, tv);
        REQUIRE(c != nullptr);
        REQUIRE(c->err == 0);
        redisSetTimeout(c, tv);
        auto* r = static_cast<redisReply*>(
            redisCommand(c, "SUBSCRIBE %b", channel.data(), channel.size()));
        REQUIRE(r != nullptr);
        freeReplyObject(r);
    }
    ~raw_subscriber() { redisFree(c); }
    raw_subscriber(raw_subscriber const&) = delete;
    raw_subscriber& operator=(raw_subscriber const&) = delete;

    // The next message's payload, or nothing within `within`.
    std::optional<std::string> next(std::chrono::milliseconds within) {
        timeval tv{static_cast<long>(within.count() / 1000),
                   static_cast<long>(within.count() % 1000) * 1000};
        redisSetTimeout(c, tv);
        void* reply = nullptr;
        if (redisGetReply(c, &reply) != REDIS_OK || reply == nullptr) {
            c->err = 0; // a timeout: the connection stays usable
            return std::nullopt;
        }
        auto* r = static_cast<redisReply*>(reply);
        std::optional<std::string> out;
        if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 && r->element[2]->str)
            out.emplace(r->element[2]->str, r->element[2]->len);
        freeReplyObject(r);
        return out;
    }

    redisContext* c = nullptr;
};

} // namespace

TEST_CASE("channel gaps: a message pub/sub lost is seen by its number and read back from the "
          "history, in order, on every node",
          "[redis][local_first][channel_gaps]") {
    two_nodes f("match");
    feed_node feed(f.server.port(), f.prefix, "/s");
    feed.emit("match", 1, 1);
    CHECK(f.read_a("goal", 1) == std::vector<int>{1});
    CHECK(f.read_b("goal", 1) == std::vector<int>{1});
    feed.emit("match", 2, 2, false); // stored, never heard
    feed.emit("match", 3, 3);
    // Both nodes missed 2: each sees the hole at 3 and reads 2 back before delivering 3.
    // Before channel numbers: 1, 3, with nothing said.
    CHECK(f.read_a("goal", 2) == range(2, 4));
    CHECK(!f.reset);
    CHECK(f.read_b("goal", 2) == range(2, 4));
    CHECK(!f.reset);
    for (auto* n : {&f.a, &f.b}) {
        auto const s = n->redis->state();
        CHECK(s.channel_gaps == 1);
        CHECK(s.recovered_events >= 1);
        CHECK(s.history_resets == 0);
    }
    // Then delivery goes on as before, from the feed and from the nodes.
    feed.emit("match", 4, 4);
    f.a.ns->to("match").emit("goal", 5);
    CHECK(f.read_a("goal", 2) == range(4, 6));
    CHECK(f.read_b("goal", 2) == range(4, 6));
    CHECK(f.b.redis->state().channel_gaps == 1);
}

TEST_CASE("channel gaps: a lost message the history no longer holds resets the room's clients",
          "[redis][local_first][channel_gaps]") {
    two_nodes f("match");
    feed_node feed(f.server.port(), f.prefix, "/s");
    feed.emit("match", 1, 1);
    CHECK(f.read_b("goal", 1) == std::vector<int>{1});
    feed.emit("match", 2, 2, false);
    // The room's log forgets everything up to 2 (as max_events would).
    auto const log = sse::detail::redis_channel(f.prefix, "/s", {}) + "match#z";
    REQUIRE(redis_command(f.server.port(), {"DEL", log}) == "1");
    REQUIRE(redis_command(f.server.port(), {"SET", log + "f", std::to_string(feed.last_id)}) ==
            "OK");
    feed.emit("match", 3, 3);
    CHECK(f.read_b("goal", 1).empty());
    CHECK(f.reset); // told to refetch instead of a silent hole
    CHECK(f.read_b("goal", 1) == std::vector<int>{3});
    CHECK(f.b.redis->state().history_resets == 1);
}

TEST_CASE("channel gaps: without shared history a lost message resets the room's clients",
          "[redis][local_first][channel_gaps]") {
    redis_process server;
    REQUIRE(server.start());
    std::string const prefix = "cg" + sse::detail::random_id(8);
    auto o = test_options(server.url(), prefix);
    o.shared_history = false;
    history_node b(o, history());
    client on_b(b, "match");
    REQUIRE(eventually([&] { return b.synced(2); }));
    namespace d = sse::detail;
    auto const channel = d::redis_channel(prefix, "/s", "match");
    auto publish = [&](int data, std::uint64_t number) {
        auto msg = d::encode_redis_message(0, "feed", "/s", {"match"}, {},
                                           "event: goal\ndata: " + std::to_string(data) + "\n\n");
        d::set_redis_message_sequence(msg, static_cast<std::uint64_t>(data));
        d::set_redis_message_channel_number(msg, number);
        REQUIRE(redis_command(server.port(), {"PUBLISH", channel, msg}) == "1");
    };
    bool reset = false;
    std::uint64_t last = 0;
    publish(1, 1);
    CHECK(read_until(on_b, "goal", 1, reset, last) == std::vector<int>{1});
    publish(3, 3); // 2 was lost on the way
    CHECK(read_until(on_b, "goal", 1, reset, last).empty());
    CHECK(reset);
    CHECK(read_until(on_b, "goal", 1, reset, last) == std::vector<int>{3});
    CHECK(b.redis->state().channel_gaps == 1);

    // 4, the last of its burst, is lost too: the feed's mark says 4 went out there.
    auto const mark = d::encode_redis_mark("feed", "/s", "match", 4, 4, 0, false);
    REQUIRE(redis_command(server.port(), {"PUBLISH", channel, mark}) == "1");
    CHECK(read_until(on_b, "goal", 1, reset, last).empty());
    CHECK(reset);
    CHECK(b.redis->state().channel_gaps == 2);
    publish(5, 5);
    CHECK(read_until(on_b, "goal", 1, reset, last) == std::vector<int>{5});
    CHECK(b.redis->state().channel_gaps == 2);
}

TEST_CASE("channel gaps: none where nothing was lost: several rooms at once, leaving and "
          "joining again",
          "[redis][local_first][channel_gaps]") {
    two_nodes f("x,y,z");
    std::vector<std::vector<std::string>> const targets = {{"x"},           {"y"}, {"x", "y"},
                                                           {"x", "y", "z"}, {"z"}, {"y", "z"}};
    int n = 0;
    for (int round = 0; round < 5; ++round)
        for (auto const& rooms : targets) {
            auto b = f.a.ns->to(rooms[0]);
            for (std::size_t i = 1; i < rooms.size(); ++i)
                b = b.to(rooms[i]);
            b.emit("goal", n++);
        }
    CHECK(f.read_b("goal", static_cast<std::size_t>(n)) == range(0, n));
    // B's only client leaves: B unsubscribes every room; A goes on emitting meanwhile.
    f.on_b.reader.close();
    REQUIRE(eventually([&] { return f.b.io->of("/s").client_count() == 0; }));
    REQUIRE(eventually([&] { return f.b.synced(1) && f.b.redis->state().wanted_channels == 1; }));
    for (int i = 0; i < 5; ++i)
        f.a.ns->to("x").emit("goal", n++);
    // (Past the second a late join reads back, so that only the next emit is due.)
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    client again(f.b, "x");
    REQUIRE(eventually([&] { return f.b.synced(2); }));
    f.a.ns->to("x").emit("goal", n);
    std::uint64_t last = 0;
    CHECK(read_until(again, "goal", 1, f.reset, last) == std::vector<int>{n});
    CHECK(!f.reset);
    CHECK(f.b.redis->state().channel_gaps == 0);
    CHECK(f.a.redis->state().channel_gaps == 0);
}

TEST_CASE("channel marks: the last message of a burst that pub/sub lost is seen by its origin's "
          "mark and read back from the history",
          "[redis][local_first][channel_gaps]") {
    two_nodes f("match");
    feed_node feed(f.server.port(), f.prefix, "/s");
    feed.emit("match", 1, 1);
    CHECK(f.read_a("goal", 1) == std::vector<int>{1});
    CHECK(f.read_b("goal", 1) == std::vector<int>{1});
    feed.emit("match", 2, 2, false); // the burst's last message: stored, never heard
    feed.mark("match", 2);           // what the feed's adapter sends once the room is quiet
    // Before marks: nothing more came, and nobody was told.
    CHECK(f.read_a("goal", 1) == std::vector<int>{2});
    CHECK(!f.reset);
    CHECK(f.read_b("goal", 1) == std::vector<int>{2});
    CHECK(!f.reset);
    // A mark of what did arrive is no gap; delivery goes on.
    feed.mark("match", 2);
    feed.emit("match", 3, 3);
    CHECK(f.read_a("goal", 1) == std::vector<int>{3});
    CHECK(f.read_b("goal", 1) == std::vector<int>{3});
    for (auto* n : {&f.a, &f.b}) {
        auto const s = n->redis->state();
        CHECK(s.channel_gaps == 1);
        CHECK(s.recovered_events >= 1);
        CHECK(s.history_resets == 0);
    }
}

TEST_CASE("channel marks: a node marks a channel once it is quiet, with its last message's "
          "number, once per quiet spell",
          "[redis][local_first][channel_gaps]") {
    redis_process server;
    REQUIRE(server.start());
    std::string const prefix = "cm" + sse::detail::random_id(8);
    auto o = test_options(server.url(), prefix);
    o.channel_mark_after = std::chrono::milliseconds(200);
    history_node a(o, history());
    client on_a(a, "match");
    REQUIRE(eventually([&] { return a.synced(2); }));
    namespace d = sse::detail;
    raw_subscriber sub(server.port(), d::redis_channel(prefix, "/s", "match"));
    for (int i = 1; i <= 3; ++i)
        a.ns->to("match").emit("goal", i);
    d::redis_message last;
    std::string last_bytes;
    for (std::uint64_t i = 1; i <= 3; ++i) {
        auto m = sub.next(std::chrono::seconds(2));
        REQUIRE(m);
        last_bytes = *m;
        REQUIRE(d::decode_redis_message(last_bytes, last) == d::decode_status::ok);
        CHECK(last.version == d::redis_message_shared_id_version);
        CHECK(last.channel_number == i);
    }
    auto const started = std::chrono::steady_clock::now();
    auto m = sub.next(std::chrono::seconds(2));
    REQUIRE(m);
    CHECK(std::chrono::steady_clock::now() - started < std::chrono::milliseconds(1000));
    d::redis_message mark;
    REQUIRE(d::decode_redis_message(*m, mark) == d::decode_status::ok);
    CHECK(mark.version == d::redis_message_mark_version);
    CHECK(mark.channel_number == 3);
    CHECK(mark.sequence == last.sequence);
    CHECK(mark.event_id == last.event_id);
    CHECK(mark.origin == last.origin);
    CHECK(d::redis_mark_is_shared(mark));
    CHECK(mark.rooms == std::vector<std::string>{"match"});
    // One per quiet spell: nothing more while the room stays quiet; its own mark is no
    // message for A.
    CHECK(!sub.next(std::chrono::milliseconds(700)));
    CHECK(a.redis->state().channel_marks == 1);
    CHECK(a.redis->state().channel_gaps == 0);
    // The next burst gets its own.
    a.ns->to("match").emit("goal", 4);
    REQUIRE(sub.next(std::chrono::seconds(2)));
    auto again = sub.next(std::chrono::seconds(2));
    REQUIRE(again);
    REQUIRE(d::decode_redis_message(*again, mark) == d::decode_status::ok);
    CHECK(mark.version == d::redis_message_mark_version);
    CHECK(mark.channel_number == 4);
}
