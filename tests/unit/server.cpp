// Unit: sse/server.hpp - namespaces, ids and close, without sockets (the io_context never runs).
#include <sse/server.hpp>

#include "support/catch.hpp"

#include <boost/asio/io_context.hpp>

TEST_CASE("server: of() creates a namespace once per name", "[server]") {
    boost::asio::io_context ioc;
    sse::server io{ioc.get_executor()};
    auto& a = io.of("/football");
    CHECK(&io.of("/football") == &a);
    CHECK(&io.of("/tennis") != &a);
    CHECK(a.name() == "/football");
    auto names = io.namespaces();
    std::sort(names.begin(), names.end());
    CHECK(names == std::vector<std::string>{"/football", "/tennis"});
    for (std::string const& bad :
         std::vector<std::string>{"", "football", std::string("/a\nb"), std::string("/a\0b", 4)}) {
        CAPTURE(bad);
        CHECK_THROWS_AS(io.of(bad), std::invalid_argument);
    }
    try {
        io.of("nope");
        FAIL("accepted a namespace without '/'");
    } catch (std::invalid_argument const& e) {
        CHECK(std::string(e.what()).rfind("[sse.invalid_namespace]", 0) == 0);
    }
}

TEST_CASE("server: ids increase per namespace; failed emits take none", "[server]") {
    boost::asio::io_context ioc;
    sse::server io{ioc.get_executor()};
    auto& ns = io.of("/s");
    auto& other = io.of("/t");
    CHECK(ns.stats().last_event_id == 0);
    ns.emit("a", {{"n", 1}});
    ns.to("room").emit("b", sse::text("x"));
    ns.except("room").emit("c", {{"n", 1}});
    CHECK(ns.stats().last_event_id == 3);
    CHECK(ns.stats().events_emitted == 3);
    CHECK(ns.stats().deliveries == 0); // nobody connected
    CHECK_THROWS_AS(ns.emit("bad\nname", {{"n", 1}}), std::invalid_argument);
    CHECK_THROWS_AS(ns.to("room").emit("", sse::text("x")), std::invalid_argument);
    CHECK(ns.stats().last_event_id == 3);
    other.emit("a", {{"n", 1}});
    CHECK(other.stats().last_event_id == 1);
    CHECK(ns.stats().last_event_id == 3);
}

TEST_CASE("server: close() makes emits no-ops and is idempotent", "[server]") {
    boost::asio::io_context ioc;
    sse::server io{ioc.get_executor()};
    auto& ns = io.of("/s");
    ns.emit("a", {{"n", 1}});
    io.close();
    io.close();
    ns.emit("a", {{"n", 1}});
    CHECK(ns.stats().events_emitted == 1);
    auto& later = io.of("/created-after-close");
    later.emit("a", {{"n", 1}});
    CHECK(later.stats().events_emitted == 0);
}

TEST_CASE("server: options are kept; the default adapter is in-memory", "[server]") {
    boost::asio::io_context ioc;
    sse::options opts;
    opts.heartbeat_interval = std::chrono::milliseconds(0);
    opts.retry = std::chrono::milliseconds(2500);
    sse::server io{ioc.get_executor(), opts};
    CHECK(io.get_options().retry == std::chrono::milliseconds(2500));
    CHECK(io.get_options().heartbeat_interval.count() == 0);
    auto a = io.adapter();
    REQUIRE(a);
    CHECK(dynamic_cast<sse::memory_adapter*>(a.get()) != nullptr);
    CHECK_FALSE(a->node_id().empty());
    CHECK(io.get_executor() == ioc.get_executor());
}
