// Integration: exceptions thrown by the app's callbacks (issue 13, item 1). Nothing escapes
// io_context::run(), no client is left half-admitted, every one is counted.
#include "integration/fixture.hpp"

using namespace sse_test;

TEST_CASE("an on_connection handler that throws: the client is dropped, the server goes on",
          "[handler_errors]") {
    fixture f;
    auto& ns = f.ns("/s");
    auto reason = std::make_shared<std::atomic<int>>(0);
    auto later_handler = make_counter();
    ns.on_connection([reason](sse::client_ptr c) {
        if (!c->handshake().has_query("bad")) return;
        c->on_disconnect([reason](std::error_code ec) { *reason = ec.value(); });
        c->join("bad\nroom"); // std::invalid_argument: a room name with a line break
    });
    ns.on_connection([n = later_handler](sse::client_ptr c) {
        if (c->handshake().has_query("bad")) ++*n;
    });

    sse_reader bad(f.port, "/s?bad");
    // It was admitted (its head and first event were queued) and is then disconnected.
    REQUIRE(bad.status() == 200);
    CHECK(bad.closed(5s));
    REQUIRE(eventually([&] { return *reason != 0; }));
    std::error_code const ec(*reason, sse::error_category());
    CHECK(ec == sse::error::handler_failed);
    CHECK(ec == sse::condition::closed_by_server);
    CHECK(*later_handler == 0); // the handlers after the one that threw do not run
    CHECK(eventually([&] { return ns.client_count() == 0; }));
    CHECK(ns.stats().handler_errors == 1);
    CHECK(ns.rooms().empty());

    // The io_context still runs: another client is admitted and served.
    auto good = f.open("/s");
    ns.emit("x", {{"n", 1}});
    auto e = good.reader.next_event();
    REQUIRE(e);
    CHECK(e->event == "x");
    CHECK(ns.client_count() == 1);
}

TEST_CASE("a middleware that throws: 500, never admitted, counted", "[handler_errors]") {
    fixture f;
    auto& ns = f.ns("/s");
    auto connections = make_counter();
    ns.use([](sse::client& c, sse::next next) {
        if (c.handshake().has_query("bad")) throw std::runtime_error("app bug");
        next();
    });
    ns.on_connection([n = connections](sse::client_ptr) { ++*n; });
    sse_reader bad(f.port, "/s?bad");
    REQUIRE(bad.status() == 500);
    CHECK(bad.closed(5s));
    CHECK(ns.stats().handler_errors == 1);
    CHECK(ns.stats().rejected == 1);
    CHECK(*connections == 0);
    auto good = f.open("/s");
    CHECK(*connections == 1);
    CHECK(ns.client_count() == 1);
}

TEST_CASE("an on_disconnect handler that throws is counted; the server goes on",
          "[handler_errors]") {
    fixture f;
    auto& ns = f.ns("/s");
    ns.on_connection(
        [](sse::client_ptr c) { c->on_disconnect([] { throw std::runtime_error("app bug"); }); });
    {
        auto first = f.open("/s");
        first.reader.close();
    }
    REQUIRE(eventually([&] { return ns.stats().handler_errors == 1; }));
    CHECK(eventually([&] { return ns.client_count() == 0; }));
    auto second = f.open("/s");
    ns.emit("x", {{"n", 2}});
    auto e = second.reader.next_event();
    REQUIRE(e);
    CHECK(e->event == "x");
}
