// Security: the limits of SECURITY.md's table (issue #8, item 3): their defaults, max_clients
// and max_clients_per_address (here with refusal_mode::status_only: 503 before any stream byte;
// the default answer, which browsers retry, is refusals.cpp's subject), max_rooms_per_client
// (std::length_error "[sse.too_many_rooms]"), and the replay size bound.
#include "integration/fixture.hpp"
#include "security/security_support.hpp"

using namespace sse_test;

namespace {

/// A refused connect: a complete 503 response, no stream byte, then the close.
void expect_503(sse_reader& r) {
    REQUIRE(r.status() == 503);
    CHECK(r.raw().rfind("HTTP/1.1 503 ", 0) == 0);
    CHECK(r.header("Connection") == "close");
    CHECK(r.header("Retry-After"));
    CHECK(r.header_count("Content-Type") == 1);
    CHECK(r.header("Content-Type") != "text/event-stream");
    CHECK(r.raw().find("text/event-stream") == std::string::npos);
    CHECK(r.raw().find("event:") == std::string::npos);
    CHECK(r.closed(5s));
}

void expect_length_error(std::function<void()> const& fn) {
    try {
        fn();
        FAIL("join past max_rooms_per_client was accepted");
    } catch (std::length_error const& e) {
        CHECK(std::string_view(e.what()).substr(0, 20) == "[sse.too_many_rooms]");
    }
}

} // namespace

TEST_CASE("limits: the defaults are those of SECURITY.md's table", "[security][limits]") {
    sse::options const o;
    CHECK(o.max_buffered_bytes == 1024 * 1024);
    CHECK(o.slow_consumer == sse::slow_consumer_policy::disconnect);
    CHECK(o.max_clients == 0);
    CHECK(o.max_clients_per_address == 0);
    CHECK(o.max_rooms_per_client == 1024);
    CHECK(sse::max_name_length == 256);
    CHECK(o.history.max_events == 0);
    CHECK(o.history.max_age == std::chrono::minutes(5));
    CHECK(o.close_timeout == std::chrono::seconds(2));
}

TEST_CASE("max_clients: the client past the limit gets 503 before any stream byte",
          "[security][limits]") {
    auto opts = quiet_options();
    opts.refusal.mode = sse::refusal_mode::status_only;
    opts.max_clients = 3;
    fixture f(opts);
    auto& ns = f.ns("/s");
    std::vector<opened> admitted;
    for (int i = 0; i < 3; ++i)
        admitted.push_back(f.open("/s"));
    sse_reader refused(f.port, "/s");
    expect_503(refused);
    CHECK(ns.client_count() == 3);
    CHECK(ns.stats().rejected == 1);
    CHECK(ns.stats().refused_full == 1);
    CHECK(ns.stats().connections == 3);
    // Another namespace has its own count.
    auto other = f.open("/other");
    CHECK(f.ns("/other").client_count() == 1);
    // A slot frees when a client leaves.
    admitted.front().reader.close();
    REQUIRE(eventually([&] { return ns.client_count() == 2; }));
    auto again = f.open("/s");
    CHECK(ns.client_count() == 3);
    sse_reader refused2(f.port, "/s");
    expect_503(refused2);
    // The admitted ones were never disturbed.
    ns.emit("x", {{"n", 1}});
    for (std::size_t i = 1; i < admitted.size(); ++i) {
        auto e = admitted[i].reader.next_event();
        REQUIRE(e);
        CHECK(e->event == "x");
    }
}

TEST_CASE("max_clients holds under a burst of concurrent connects", "[security][limits]") {
    auto opts = quiet_options();
    opts.refusal.mode = sse::refusal_mode::status_only;
    opts.max_clients = 5;
    fixture f(opts, 2);
    auto& ns = f.ns("/s");
    constexpr int burst = 40;
    std::vector<std::thread> threads;
    std::atomic<int> ok{0}, full{0}, other{0};
    std::vector<std::unique_ptr<sse_reader>> readers(burst);
    for (int i = 0; i < burst; ++i) {
        threads.emplace_back([&, i] {
            readers[static_cast<std::size_t>(i)] = std::make_unique<sse_reader>(f.port, "/s");
            auto s = readers[static_cast<std::size_t>(i)]->status();
            (s == 200 ? ok : s == 503 ? full : other)++;
        });
    }
    for (auto& t : threads)
        t.join();
    CHECK(ok == 5);
    CHECK(full == burst - 5);
    CHECK(other == 0);
    CHECK(ns.client_count() == 5);
    CHECK(ns.stats().rejected == burst - 5);
}

TEST_CASE("max_clients_per_address: counted per remote IP, per namespace", "[security][limits]") {
    auto opts = quiet_options();
    opts.refusal.mode = sse::refusal_mode::status_only;
    opts.max_clients_per_address = 2;
    fixture f(opts);
    auto& ns = f.ns("/s");
    lean_reader a1(f.port, "/s", "127.0.0.1");
    lean_reader a2(f.port, "/s", "127.0.0.1");
    REQUIRE(a1.status() == 200);
    REQUIRE(a2.status() == 200);
    lean_reader a3(f.port, "/s", "127.0.0.1");
    CHECK(a3.status() == 503);
    CHECK(a3.head().find("Connection: close") != std::string::npos);
    CHECK(a3.head().find("text/event-stream") == std::string::npos);
    CHECK(a3.closed());
    // Another address is not affected.
    lean_reader b1(f.port, "/s", "127.0.0.2");
    CHECK(b1.status() == 200);
    // Another namespace has its own count.
    lean_reader o1(f.port, "/other", "127.0.0.1");
    CHECK(o1.status() == 200);
    CHECK(ns.client_count() == 3);
    // A slot of the address frees when one of its clients leaves.
    a1.close();
    REQUIRE(eventually([&] { return ns.client_count() == 2; }));
    lean_reader a4(f.port, "/s", "127.0.0.1");
    CHECK(a4.status() == 200);
    lean_reader a5(f.port, "/s", "127.0.0.1");
    CHECK(a5.status() == 503);
    CHECK(ns.stats().rejected == 2);
}

TEST_CASE("max_rooms_per_client: join past it throws std::length_error [sse.too_many_rooms]",
          "[security][limits]") {
    auto opts = quiet_options();
    opts.max_rooms_per_client = 4;
    fixture f(opts);
    auto& ns = f.ns("/s");
    auto c = f.open("/s");
    auto client = ns.find_client(c.id);
    REQUIRE(client);
    client->join({"r1", "r2", "r3", "r4"});
    expect_length_error([&] { client->join("r5"); });
    CHECK_NOTHROW(client->join("r1"));  // already in: not a new room
    CHECK(client->rooms().size() == 5); // its private room + 4
    client->leave("r1");
    CHECK_NOTHROW(client->join("r5"));
    expect_length_error([&] { client->join("r6"); });
    CHECK(ns.rooms() == std::vector<std::string>{"r2", "r3", "r4", "r5"});
    ns.to("r5").emit("x", {{"n", 1}});
    auto e = c.reader.next_event();
    REQUIRE(e);
    CHECK(e->event == "x");

    SECTION("the limit applies before admission too (rooms joined in a middleware)") {
        ns.use([](sse::client& cl, sse::next next) {
            if (!cl.handshake().has_query("many")) return next();
            try {
                for (int i = 0; i < 5; ++i)
                    cl.join("m" + std::to_string(i));
            } catch (std::length_error const&) {
                return next(sse::reject(400, "too many rooms"));
            }
            next();
        });
        sse_reader r(f.port, "/s?many");
        CHECK(r.status() == 400);
        CHECK(r.read_body() == "too many rooms");
        CHECK(ns.room("m0").empty());
    }
}

TEST_CASE("max_rooms_per_client: the default of 1024", "[security][limits]") {
    fixture f;
    auto& ns = f.ns("/s");
    auto c = f.open("/s");
    auto client = ns.find_client(c.id);
    REQUIRE(client);
    for (int i = 0; i < 1024; ++i)
        client->join("room" + std::to_string(i));
    expect_length_error([&] { client->join("room1024"); });
    CHECK(ns.rooms().size() == 1024);
}

TEST_CASE("replay is bounded by half of max_buffered_bytes, else a reset event",
          "[security][limits]") {
    auto opts = quiet_options();
    opts.max_buffered_bytes = 64 * 1024;
    fixture f(opts);
    auto& ns = f.ns("/s");
    ns.set_history(sse::history_options{1000, std::chrono::minutes(5)});
    ns.use([](sse::client& c, sse::next next) {
        c.join("room");
        next();
    });
    auto first = f.open("/s");
    std::string const payload(1024, 'h');
    for (int i = 0; i < 48; ++i)
        ns.to("room").emit("h", sse::text(payload)); // ~50 KiB
    auto events = first.reader.events(48);
    REQUIRE(events.size() == 48);

    // Missed ~50 KiB > 32 KiB: reset instead of a replay that would trip the queue bound.
    auto far = f.open("/s", {{"Last-Event-ID", events.front().id}});
    auto e = far.reader.next_event();
    REQUIRE(e);
    CHECK(e->event == "reset");
    CHECK(json_of(*e)["reason"] == "history_too_large");

    // Missed ~10 KiB: replayed.
    auto near = f.open("/s", {{"Last-Event-ID", events[37].id}});
    auto replayed = near.reader.events(10);
    REQUIRE(replayed.size() == 10);
    CHECK(replayed.front().id == events[38].id);
    CHECK(replayed.back().id == events.back().id);
    CHECK(ns.stats().resets == 1);
    CHECK(ns.stats().replays == 1);
}
