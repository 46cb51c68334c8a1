// sse::redis_adapter against a real redis-server, with a recording adapter_host standing in
// for the server (so every delivery and counter can be asserted exactly). Each node has its
// own io_context and thread, as separate processes would. cluster.cpp does the same with
// real sse::server nodes and SSE clients.
#include <sse/redis_adapter.hpp>
#include <sse/redis_metrics.hpp>
#include <sse/server.hpp>

#include "support/catch.hpp"

#include "redis_support.hpp"

#include <sse/detail/random_id.hpp>

#include <future>
#include <mutex>

using namespace redis_test;

namespace {

struct delivery {
    std::string nsp;
    std::vector<std::string> rooms;
    std::vector<std::string> except;
    std::string name;
    std::string body;
};

// The server side of a node, reduced to a record of what reached it.
struct recording_host final : sse::adapter_host {
    void deliver_remote(std::string_view nsp, std::vector<std::string> const& rooms,
                        std::vector<std::string> const& except,
                        std::shared_ptr<sse::encoded_event> event) override {
        {
            std::lock_guard<std::mutex> lock(mutex);
            got.push_back({std::string(nsp), rooms, except, std::string(event->name()),
                           std::string(event->body())});
        }
        if (on_deliver) on_deliver();
    }
    // The sequenced (shared history) path is not used by redis_adapter (sequences() is false).
    void deliver_sequenced(std::string_view, std::vector<std::string> const&,
                           std::vector<std::string> const&, std::shared_ptr<sse::encoded_event>,
                           std::uint64_t, std::string_view) override {
        ++unexpected_calls;
    }
    std::uint64_t last_delivered(std::string_view) const override { return 0; }
    void reset_clients(std::string_view, std::vector<std::string> const&,
                       std::string_view) override {
        ++unexpected_calls;
    }
    std::vector<std::pair<std::string, std::string>> local_interests() const override {
        std::lock_guard<std::mutex> lock(mutex);
        return interests;
    }
    std::vector<delivery> deliveries() const {
        std::lock_guard<std::mutex> lock(mutex);
        return got;
    }
    std::size_t count() const {
        std::lock_guard<std::mutex> lock(mutex);
        return got.size();
    }

    mutable std::mutex mutex;
    std::vector<delivery> got;
    std::vector<std::pair<std::string, std::string>> interests;
    std::atomic<int> unexpected_calls{0};
    std::function<void()> on_deliver; // set before the adapter is attached
};

sse::history_options const no_history{};

struct counting_local final : sse::local_delivery {
    void deliver(sse::broadcast_packet const&) override { ++count; }
    std::atomic<int> count{0};
};

// One node: io_context + thread, adapter, host.
struct node : adapter_node<recording_host, counting_local> {
    explicit node(sse::redis_options o)
        : adapter_node([&o](net::any_io_executor ex) {
            return std::make_shared<sse::redis_adapter>(ex, std::move(o));
        }) {}

    /// Connected, and every wanted channel confirmed by Redis.
    bool synced() const {
        auto s = state();
        return s.connected && s.pending_subscriptions == 0 && s.wanted_channels > 0 &&
               s.subscribed_channels == s.wanted_channels;
    }

    void emit(std::string const& nsp, std::vector<std::string> rooms,
              std::vector<std::string> except, std::string const& name, nlohmann::json data) {
        auto ev = sse::encoded_event::make(name, data);
        ev->stamp(++last_id);
        sse::event_ptr shared = std::move(ev);
        adapter->broadcast(sse::broadcast_packet{nsp, rooms, except, shared, no_history}, local);
    }

    std::atomic<std::uint64_t> last_id{0};
};

std::string fresh_prefix() {
    return "t" + sse::detail::random_id(8);
}

} // namespace

TEST_CASE("redis adapter: options are an aggregate usable in C++17", "[redis][adapter]") {
    sse::redis_options o;
    o.url = "redis://127.0.0.1:6379";
    CHECK(o.channel_prefix == "sse");
    CHECK(o.max_pending_emits == 10000);
    CHECK(o.reconnect_min < o.reconnect_max);
    sse::redis_options braced{"redis://h:1", "app"};
    CHECK(braced.channel_prefix == "app");
#if __cplusplus >= 202002L
    // The issue's one-liner, warning-free under -Wextra (every field has a default).
    auto designated = sse::redis_options{.url = "redis://127.0.0.1:6379"};
    CHECK(designated.reconnect_max == std::chrono::seconds(5));
#endif
}

TEST_CASE("redis adapter: local first, one publish, remote delivery, own echo dropped",
          "[redis][adapter]") {
    auto prefix = fresh_prefix();
    node a(test_options(shared_redis_url(), prefix));
    node b(test_options(shared_redis_url(), prefix));
    a.adapter->namespace_added("/n");
    b.adapter->namespace_added("/n");
    REQUIRE(eventually([&] { return a.synced() && b.synced(); }));
    CHECK(a.adapter->node_id() != b.adapter->node_id());

    a.emit("/n", {}, {"muted"}, "hello", {{"x", 1}});
    CHECK(a.local.count == 1); // delivered here before anything went to Redis
    REQUIRE(eventually([&] { return b.host->count() == 1; }));
    auto d = b.host->deliveries().front();
    CHECK(d.nsp == "/n");
    CHECK(d.rooms.empty());
    CHECK(d.except == std::vector<std::string>{"muted"});
    CHECK(d.name == "hello");
    CHECK(d.body == "event: hello\ndata: {\"x\":1}\n\n");

    REQUIRE(eventually([&] { return a.state().echoes == 1 && a.state().published == 1; }));
    CHECK(a.host->count() == 0); // its own emit never comes back to the origin's clients
    // b counts a delivery after handing it to its host: the count may trail the host's.
    REQUIRE(eventually([&] { return b.state().delivered == 1; }));
    CHECK(b.state().received == 1);
    CHECK(b.state().published == 0);
}

TEST_CASE("redis adapter: interest routing, a node hears only its rooms", "[redis][adapter]") {
    auto prefix = fresh_prefix();
    node a(test_options(shared_redis_url(), prefix));
    node b(test_options(shared_redis_url(), prefix));
    node c(test_options(shared_redis_url(), prefix));
    for (auto* n : {&a, &b, &c})
        n->adapter->namespace_added("/n");
    b.adapter->room_added("/n", "x");
    c.adapter->room_added("/n", "y");
    REQUIRE(eventually([&] { return a.synced() && b.synced() && c.synced(); }));
    CHECK(b.state().subscribed_channels == 2);

    for (int i = 0; i < 10; ++i)
        a.emit("/n", {"x"}, {}, "to-x", i);
    REQUIRE(eventually([&] { return b.host->count() == 10; }));
    a.emit("/n", {}, {}, "everyone", 0); // a marker all nodes hear, after the room traffic
    REQUIRE(eventually([&] { return b.host->count() == 11 && c.host->count() == 1; }));
    CHECK(b.state().received == 11);
    CHECK(c.state().received == 1); // none of the 10 room-x messages reached C
    CHECK(c.host->deliveries().front().name == "everyone");
    // A is subscribed to the namespace only: it heard its own marker, not its room traffic.
    REQUIRE(eventually([&] { return a.state().echoes == 1; }));
    CHECK(a.state().received == 1);

    // Interest goes away with the room.
    b.adapter->room_removed("/n", "x");
    REQUIRE(eventually([&] { return b.synced() && b.state().subscribed_channels == 1; }));
    a.emit("/n", {"x"}, {}, "to-x", 99);
    a.emit("/n", {}, {}, "everyone", 1);
    REQUIRE(eventually([&] { return b.host->count() == 12; }));
    CHECK(b.host->deliveries().back().name == "everyone");
}

TEST_CASE("redis adapter: a multi-room emit is delivered once per node", "[redis][adapter]") {
    auto prefix = fresh_prefix();
    node a(test_options(shared_redis_url(), prefix));
    node b(test_options(shared_redis_url(), prefix));
    a.adapter->namespace_added("/n");
    b.adapter->namespace_added("/n");
    for (auto const* r : {"x", "y", "z"})
        b.adapter->room_added("/n", r);
    REQUIRE(eventually([&] { return a.synced() && b.synced(); }));

    a.emit("/n", {"x", "y", "z", "x", "elsewhere"}, {"muted"}, "multi", 1);
    a.emit("/n", {}, {}, "marker", 2);
    REQUIRE(eventually([&] { return b.host->count() == 2; }));
    auto d = b.host->deliveries();
    CHECK(d[0].name == "multi");
    CHECK(d[0].rooms == std::vector<std::string>{"x", "y", "z", "x", "elsewhere"});
    CHECK(d[0].except == std::vector<std::string>{"muted"});
    CHECK(d[1].name == "marker");
    // Published on x, y, z and "elsewhere" (4 channels; the repeated x once): B heard 3 copies.
    CHECK(b.state().received == 4);
    CHECK(b.state().duplicates == 2);
    CHECK(b.state().delivered == 2);
}

TEST_CASE("redis adapter: an emit to many rooms, per room channel", "[redis][adapter]") {
    auto prefix = fresh_prefix();
    auto o = test_options(shared_redis_url(), prefix);
    o.max_room_channels = 0; // always one PUBLISH per distinct room
    node a(o);
    node b(test_options(shared_redis_url(), prefix));
    a.adapter->namespace_added("/n");
    b.adapter->namespace_added("/n");
    b.adapter->room_added("/n", "r5");
    b.adapter->room_added("/n", "r30");
    REQUIRE(eventually([&] { return a.synced() && b.synced(); }));
    std::vector<std::string> rooms;
    for (int i = 0; i < 40; ++i)
        rooms.push_back("r" + std::to_string(i));
    for (int i = 0; i < 40; ++i)
        rooms.push_back("r" + std::to_string(i)); // each twice
    a.emit("/n", rooms, {}, "many", 1);
    a.emit("/n", {}, {}, "marker", 2);
    REQUIRE(eventually([&] { return b.host->count() == 2; }));
    CHECK(b.state().received == 3); // r5, r30, then the marker
    CHECK(b.state().duplicates == 1);
    CHECK(b.host->deliveries()[0].rooms.size() == 80);
    // 40 distinct room channels + the marker; nobody else listens on the other 38.
    REQUIRE(eventually([&] { return a.state().published == 2; }));
}

TEST_CASE("redis adapter: emits to many rooms fall back to the namespace channel",
          "[redis][adapter]") {
    auto prefix = fresh_prefix();
    auto o = test_options(shared_redis_url(), prefix);
    o.max_room_channels = 2;
    node a(o);
    node b(test_options(shared_redis_url(), prefix));
    a.adapter->namespace_added("/n");
    b.adapter->namespace_added("/n");
    b.adapter->room_added("/n", "r1");
    REQUIRE(eventually([&] { return a.synced() && b.synced(); }));
    a.emit("/n", {"r1", "r2", "r3"}, {}, "wide", 1);
    REQUIRE(eventually([&] { return b.host->count() == 1; }));
    CHECK(b.host->deliveries().front().rooms == std::vector<std::string>{"r1", "r2", "r3"});
    CHECK(b.state().received == 1); // one copy, on the namespace channel
    REQUIRE(eventually([&] { return a.state().published == 1; }));
}

TEST_CASE("redis adapter: attach subscribes to what the server already has", "[redis][adapter]") {
    auto prefix = fresh_prefix();
    auto host = std::make_shared<recording_host>();
    host->interests = {{"/n", ""}, {"/n", "live-room"}, {"/other", ""}};
    io_thread io;
    auto a = std::make_shared<sse::redis_adapter>(io.get_executor(),
                                                  test_options(shared_redis_url(), prefix));
    a->attach(host);
    REQUIRE(eventually([&] {
        auto s = a->state();
        return s.connected && s.wanted_channels == 3 && s.subscribed_channels == 3;
    }));
    auto numsub =
        redis_command(shared_redis_port(), {"PUBSUB", "NUMSUB", prefix + "#/n#live-room"});
    CHECK(numsub == prefix + "#/n#live-room 1");
    a->close();
}

TEST_CASE("redis adapter: 1000 emits arrive in emit order", "[redis][adapter]") {
    auto prefix = fresh_prefix();
    node a(test_options(shared_redis_url(), prefix));
    node b(test_options(shared_redis_url(), prefix));
    for (auto* n : {&a, &b}) {
        n->adapter->namespace_added("/n");
        n->adapter->namespace_added("/m");
    }
    b.adapter->room_added("/n", "r");
    REQUIRE(eventually([&] { return a.synced() && b.synced(); }));
    // From two threads at once (two namespaces: one namespace's broadcasts never overlap, by
    // contract): per target, order is each emitter's order.
    std::thread other([&] {
        for (int i = 0; i < 1000; ++i)
            a.emit("/m", {}, {}, "wide", i);
    });
    for (int i = 0; i < 1000; ++i)
        a.emit("/n", {"r"}, {}, "room", i);
    other.join();
    REQUIRE(eventually([&] { return b.host->count() == 2000; }, 10s));
    int next_room = 0, next_wide = 0;
    for (auto const& d : b.host->deliveries()) {
        auto data = nlohmann::json::parse(d.body.substr(d.body.find("data: ") + 6));
        if (d.name == "room")
            REQUIRE(data.get<int>() == next_room++);
        else
            REQUIRE(data.get<int>() == next_wide++);
    }
    CHECK(b.state().dropped == 0);
}

TEST_CASE("redis adapter: emits are pipelined, no round trip each, within the window",
          "[redis][adapter][restart]") {
    redis_process server;
    auto o = test_options(server.url(), fresh_prefix());
    o.max_in_flight = 64;
    node a(o);
    a.adapter->namespace_added("/n");
    REQUIRE(eventually([&] { return a.synced(); }));
    server.pause(); // Redis answers nothing from now on
    for (int i = 0; i < 100; ++i)
        a.emit("/n", {}, {}, "e", i);
    // 64 written without waiting for any reply; the other 36 wait for room in the window.
    REQUIRE(eventually([&] { return a.state().pending == 36; }));
    CHECK(a.state().published == 0);
    server.resume();
    REQUIRE(eventually([&] { return a.state().published == 100; }));
    CHECK(a.state().pending == 0);
    CHECK(a.state().dropped == 0);
}

TEST_CASE("redis adapter: garbage on our channels is counted and ignored", "[redis][adapter]") {
    auto prefix = fresh_prefix();
    node a(test_options(shared_redis_url(), prefix));
    node b(test_options(shared_redis_url(), prefix));
    a.adapter->namespace_added("/n");
    b.adapter->namespace_added("/n");
    b.adapter->room_added("/n", "r");
    REQUIRE(eventually([&] { return a.synced() && b.synced(); }));
    auto channel = prefix + "#/n#";
    // Published by redis-cli, as an operator or another app would.
    std::string cli = "redis-cli -p " + std::to_string(shared_redis_port()) + " PUBLISH '" +
                      channel + "' 'not an sse message' > /dev/null";
    REQUIRE(std::system(cli.c_str()) == 0);
    // A well-formed message on a channel its targets do not name (room r's channel, but
    // addressed to room "q") is foreign too.
    auto forged =
        sse::detail::encode_redis_message(1, "forger", "/n", {"q"}, {}, "event: x\ndata: 1\n\n");
    CHECK(redis_command(shared_redis_port(), {"PUBLISH", prefix + "#/n#r", forged}) == "1");
    REQUIRE(eventually([&] { return b.state().malformed == 2; }));
    CHECK(b.host->count() == 0);
    // And the node still works.
    a.emit("/n", {"r"}, {}, "after", 1);
    REQUIRE(eventually([&] { return b.host->count() == 1; }));
    CHECK(b.state().received == 3);
}

TEST_CASE("redis adapter: a message format this build does not know is counted and said clearly",
          "[redis][adapter]") {
    auto prefix = fresh_prefix();
    std::mutex m;
    std::vector<std::string> errors;
    auto o = test_options(shared_redis_url(), prefix);
    o.log = [&](sse::redis_log_level level, std::string_view text) {
        std::lock_guard<std::mutex> lock(m);
        if (level == sse::redis_log_level::error) errors.emplace_back(text);
    };
    node b(o);
    b.adapter->namespace_added("/n");
    REQUIRE(eventually([&] { return b.synced(); }));
    // What a node of an older build (ids from Redis, format 0x81) publishes, twice.
    auto old = sse::detail::encode_redis_message(7, "older", "/n", {}, {}, "event: x\ndata: 1\n\n");
    old[3] = static_cast<char>(0x81);
    for (int i = 0; i < 2; ++i)
        CHECK(redis_command(shared_redis_port(), {"PUBLISH", prefix + "#/n#", old}) == "1");
    REQUIRE(eventually([&] { return b.state().unsupported_versions == 2; }));
    CHECK(b.state().malformed == 2);
    CHECK(b.host->count() == 0);
    std::lock_guard<std::mutex> lock(m);
    REQUIRE(errors.size() == 1); // once per format
    CHECK_THAT(errors[0], Catch::Matchers::Contains("format 0x81"));
    CHECK_THAT(errors[0], Catch::Matchers::Contains("Rolling upgrade"));
}

TEST_CASE("redis adapter: a message longer than max_message_bytes is counted and ignored",
          "[redis][adapter]") {
    auto prefix = fresh_prefix();
    auto o = test_options(shared_redis_url(), prefix);
    o.max_message_bytes = 64 * 1024;
    node a(test_options(shared_redis_url(), prefix));
    node b(o);
    a.adapter->namespace_added("/n");
    b.adapter->namespace_added("/n");
    b.adapter->room_added("/n", "r");
    REQUIRE(eventually([&] { return a.synced() && b.synced(); }));
    // Well formed, on its own channel, from a node without the limit: only its size is wrong.
    auto big = sse::detail::encode_redis_message(1, "other-node", "/n", {"r"}, {},
                                                 "event: x\ndata: " + std::string(100 * 1024, 'x') +
                                                     "\n\n");
    CHECK(redis_command(shared_redis_port(), {"PUBLISH", prefix + "#/n#r", big}) == "1");
    REQUIRE(eventually([&] { return b.state().oversized == 1; }));
    CHECK(b.state().malformed == 0);
    CHECK(b.host->count() == 0);
    // The node still works, and a message within the bound from that origin is delivered.
    a.emit("/n", {"r"}, {}, "after", 1);
    REQUIRE(eventually([&] { return b.host->count() == 1; }));
    auto small = sse::detail::encode_redis_message(2, "other-node", "/n", {"r"}, {},
                                                   "event: x\ndata: 1\n\n");
    CHECK(redis_command(shared_redis_port(), {"PUBLISH", prefix + "#/n#r", small}) == "1");
    REQUIRE(eventually([&] { return b.host->count() == 2; }));
}

TEST_CASE("redis adapter: a bad URL is a clear error and local delivery goes on",
          "[redis][adapter]") {
    std::mutex m;
    std::vector<std::string> logged;
    std::atomic<int> changes{0};
    auto o = test_options("http://127.0.0.1:6379", fresh_prefix());
    o.log = [&](sse::redis_log_level level, std::string_view text) {
        std::lock_guard<std::mutex> lock(m);
        if (level >= sse::redis_log_level::warning) logged.emplace_back(text);
    };
    o.on_state_change = [&](sse::redis_state const& s) {
        if (!s.last_error.empty()) ++changes;
    };
    node a(o);
    REQUIRE(eventually([&] { return !a.state().last_error.empty(); }));
    CHECK_THAT(a.state().last_error, Catch::Matchers::Contains("must start with redis://"));
    CHECK_FALSE(a.state().connected);
    CHECK(changes >= 1);
    {
        std::lock_guard<std::mutex> lock(m);
        REQUIRE(logged.size() == 1);
        CHECK_THAT(logged[0], Catch::Matchers::Contains("[sse.redis_url]"));
    }
    a.emit("/n", {}, {}, "still-local", 1);
    CHECK(a.local.count == 1);
}

TEST_CASE("redis adapter: no Redis yet, retried with backoff until it appears",
          "[redis][adapter][restart]") {
    redis_process server(redis_process::deferred{}, free_port());
    std::mutex m;
    std::vector<bool> connected_changes;
    auto o = test_options(server.url(), fresh_prefix());
    o.on_state_change = [&](sse::redis_state const& s) {
        std::lock_guard<std::mutex> lock(m);
        if (connected_changes.empty() || connected_changes.back() != s.connected)
            connected_changes.push_back(s.connected);
    };
    node a(o);
    a.adapter->namespace_added("/n");
    REQUIRE(eventually([&] { return a.state().connect_failures >= 4; }));
    CHECK_THAT(a.state().last_error, Catch::Matchers::Contains("Connection refused"));
    CHECK_THAT(a.state().last_error,
               Catch::Matchers::Contains("127.0.0.1:" + std::to_string(server.port())));
    REQUIRE(server.start());
    REQUIRE(eventually([&] { return a.synced(); }));
    CHECK(a.state().reconnects == 0); // a first connect, however late, is not a reconnect
    // The callback runs after the change it reports: state() may show it first (issue #17's
    // flake read the log as soon as synced() held).
    REQUIRE(eventually([&] {
        std::lock_guard<std::mutex> lock(m);
        return !connected_changes.empty() && connected_changes.back();
    }));
    std::lock_guard<std::mutex> lock(m);
    CHECK(connected_changes == std::vector<bool>{false, true});
}

TEST_CASE("redis adapter: a refused password is a clear error, retried with backoff",
          "[redis][adapter]") {
    redis_process server({"--requirepass", "right"});
    auto o =
        test_options("redis://:wrong@127.0.0.1:" + std::to_string(server.port()), fresh_prefix());
    node a(o);
    REQUIRE(eventually([&] { return a.state().connect_failures >= 4; }));
    auto s = a.state();
    CHECK_FALSE(s.connected);
    CHECK_THAT(s.last_error, Catch::Matchers::Contains("refused AUTH"));
    CHECK_THAT(s.last_error, Catch::Matchers::Contains("WRONGPASS"));
    CHECK(s.last_error.find("wrong") == std::string::npos); // never repeats the password

    node ok(test_options("redis://:right@127.0.0.1:" + std::to_string(server.port()) + "/3",
                         fresh_prefix()));
    REQUIRE(eventually([&] { return ok.state().connected; }));
}

TEST_CASE("redis adapter: Redis killed and restarted, delivery resumes, kept emits arrive",
          "[redis][adapter][restart]") {
    redis_process server;
    auto prefix = fresh_prefix();
    node a(test_options(server.url(), prefix));
    node b(test_options(server.url(), prefix));
    a.adapter->namespace_added("/n");
    b.adapter->namespace_added("/n");
    b.adapter->room_added("/n", "r");
    REQUIRE(eventually([&] { return a.synced() && b.synced(); }));
    a.emit("/n", {"r"}, {}, "before", 0);
    REQUIRE(eventually([&] { return b.host->count() == 1; }));

    server.kill();
    REQUIRE(eventually([&] { return !a.state().publisher_connected && !b.state().connected; }));
    for (int i = 1; i <= 5; ++i)
        a.emit("/n", {"r"}, {}, "while-down", i);
    CHECK(a.local.count == 6); // local delivery never waits for Redis
    REQUIRE(eventually([&] { return a.state().pending == 5; }));

    // Hold A's io_context so that B is back and resubscribed before A publishes what it kept
    // (Redis keeps nothing for a subscriber that is not there yet).
    std::promise<void> release;
    std::promise<void> held;
    net::post(a.io.context(), [&] {
        held.set_value();
        release.get_future().wait();
    });
    held.get_future().wait();
    REQUIRE(server.start());
    REQUIRE(eventually([&] { return b.synced(); }));
    release.set_value();

    REQUIRE(eventually([&] { return b.host->count() == 6; }));
    auto d = b.host->deliveries();
    for (int i = 1; i <= 5; ++i) {
        CHECK(d[static_cast<std::size_t>(i)].name == "while-down");
        CHECK(d[static_cast<std::size_t>(i)].body ==
              "event: while-down\ndata: " + std::to_string(i) + "\n\n");
    }
    a.emit("/n", {"r"}, {}, "after", 6);
    REQUIRE(eventually([&] { return b.host->count() == 7; }));
    // Both links of both nodes came back (A's subscriber may still be on its way).
    CHECK(eventually([&] { return a.state().reconnects == 2 && b.state().reconnects == 2; }));
    CHECK(a.state().dropped == 0);
    CHECK(a.state().pending == 0);
    CHECK(b.state().duplicates == 0);
}

TEST_CASE("redis adapter: beyond max_pending_emits emits are dropped and counted",
          "[redis][adapter][restart]") {
    redis_process server;
    auto o = test_options(server.url(), fresh_prefix());
    o.max_pending_emits = 3;
    node a(o);
    a.adapter->namespace_added("/n");
    REQUIRE(eventually([&] { return a.synced(); }));
    server.kill();
    REQUIRE(eventually([&] { return !a.state().publisher_connected; }));
    for (int i = 0; i < 5; ++i)
        a.emit("/n", {}, {}, "e", i);
    REQUIRE(eventually([&] { return a.state().dropped == 2; }));
    CHECK(a.state().pending == 3);
    CHECK(a.local.count == 5);
    REQUIRE(server.start());
    REQUIRE(eventually([&] { return a.state().published == 3 && a.state().pending == 0; }));
    CHECK(a.state().dropped == 2);
}

TEST_CASE("redis adapter: close releases connections and descriptors; no delivery after",
          "[redis][adapter]") {
    auto prefix = fresh_prefix();
    node b(test_options(shared_redis_url(), prefix));
    b.adapter->namespace_added("/n");
    REQUIRE(eventually([&] { return b.synced(); }));

    io_thread io;
    io.run([&] { net::steady_timer warm_up(io.context()); }); // Asio's own descriptors
    std::size_t const before = fd_count();
    auto host = std::make_shared<recording_host>();
    auto a = std::make_shared<sse::redis_adapter>(io.get_executor(),
                                                  test_options(shared_redis_url(), prefix));
    a->attach(host);
    a->namespace_added("/n");
    REQUIRE(
        eventually([&] { return a->state().connected && a->state().subscribed_channels == 1; }));
    CHECK(fd_count() == before + 2); // one publishing, one subscribing connection

    a->close();
    a->close(); // idempotent
    CHECK(a->state().closed);
    REQUIRE(eventually([&] { return fd_count() == before; }));
    CHECK_FALSE(a->state().connected);
    b.emit("/n", {}, {}, "after-close", 1);
    REQUIRE(eventually([&] { return b.state().echoes == 1; }));
    CHECK(host->count() == 0);
    counting_local local;
    auto ev = sse::encoded_event::make("x", 1);
    sse::event_ptr p = std::move(ev);
    std::vector<std::string> none;
    a->broadcast(sse::broadcast_packet{"/n", none, none, p, no_history},
                 local); // still local, no publish
    CHECK(local.count == 1);
    CHECK(a->state().pending == 0);
    a.reset();
    CHECK(io.drain()); // no timer or wait left behind
    CHECK(fd_count() == before);
}

TEST_CASE("redis adapter: closing from inside a delivery neither deadlocks nor delivers more",
          "[redis][adapter]") {
    auto prefix = fresh_prefix();
    node a(test_options(shared_redis_url(), prefix));
    io_thread io;
    auto host = std::make_shared<recording_host>();
    auto b = std::make_shared<sse::redis_adapter>(io.get_executor(),
                                                  test_options(shared_redis_url(), prefix));
    host->on_deliver = [raw = b.get()] { raw->close(); }; // the app shuts down on an event
    b->attach(host);
    a.adapter->namespace_added("/n");
    b->namespace_added("/n");
    REQUIRE(eventually([&] {
        auto s = b->state();
        return a.synced() && s.connected && s.subscribed_channels == 1;
    }));
    for (int i = 0; i < 3; ++i)
        a.emit("/n", {}, {}, "e", i);
    REQUIRE(eventually([&] { return b->state().closed; }));
    REQUIRE(eventually([&] { return a.state().published == 3; }));
    CHECK(host->count() == 1);
    b.reset();
    CHECK(io.drain());
}

TEST_CASE("redis adapter: destroyed without close, nothing leaks", "[redis][adapter]") {
    io_thread io;
    io.run([&] { net::steady_timer warm_up(io.context()); });
    std::size_t const before = fd_count();
    {
        auto a = std::make_shared<sse::redis_adapter>(
            io.get_executor(), test_options(shared_redis_url(), fresh_prefix()));
        a->namespace_added("/n");
        REQUIRE(eventually([&] { return a->state().connected; }));
    }
    REQUIRE(eventually([&] { return fd_count() == before; }));
    CHECK(io.drain());
}

TEST_CASE("redis adapter: metrics, the adapter's state and subscriber lag (issue 15)",
          "[redis][adapter][metrics]") {
    auto prefix = fresh_prefix();
    node a(test_options(shared_redis_url(), prefix));
    a.adapter->namespace_added("/n");
    REQUIRE(eventually([&] { return a.synced(); }));
    CHECK(a.state().subscriber_lag == std::chrono::microseconds(0)); // nothing came back yet
    for (int i = 0; i < 3; ++i)
        a.emit("/n", {}, {}, "hello", {{"i", i}});
    REQUIRE(eventually([&] { return a.state().echoes == 3 && a.state().published == 3; }));
    auto const s = a.state();
    // Publish to return on one loopback Redis: more than nothing, far less than a second.
    CHECK(s.subscriber_lag > std::chrono::microseconds(0));
    CHECK(s.subscriber_lag < std::chrono::seconds(1));

    sse::metrics_snapshot m;
    m.redis = sse::to_metrics(s);
    CHECK(m.redis->up);
    CHECK(m.redis->published == 3);
    CHECK(m.redis->subscriber_lag_seconds == Approx(double(s.subscriber_lag.count()) / 1e6));
    auto const text = sse::to_prometheus(m);
    CHECK(text.find("# TYPE sse_redis_adapter_up gauge\nsse_redis_adapter_up 1\n") !=
          std::string::npos);
    CHECK(text.find("\nsse_redis_published_total 3\n") != std::string::npos);
    CHECK(text.find("# TYPE sse_redis_subscriber_lag_seconds gauge\n") != std::string::npos);
}

TEST_CASE("redis adapter: collect(server, adapter) adds the Redis series to the namespaces'",
          "[redis][adapter][metrics]") {
    io_thread io;
    auto adapter = std::make_shared<sse::redis_adapter>(
        io.get_executor(), test_options(shared_redis_url(), fresh_prefix()));
    {
        sse::server srv{io.get_executor()};
        srv.adapter(adapter);
        srv.of("/n");
        REQUIRE(eventually([&] { return adapter->state().connected; }));
        auto const m = sse::collect(srv, *adapter);
        REQUIRE(m.namespaces.size() == 1);
        CHECK(m.namespaces[0].name == "/n");
        REQUIRE(m.redis);
        CHECK(m.redis->up);
        auto const text = sse::to_prometheus(m);
        CHECK(text.find("sse_connected_clients{namespace=\"/n\"} 0\n") != std::string::npos);
        CHECK(text.find("\nsse_redis_adapter_up 1\n") != std::string::npos);
    }
    CHECK(io.drain());
}
