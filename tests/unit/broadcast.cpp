// Unit: sse/broadcast.hpp - building emit targets.
#include <sse/broadcast.hpp>

#include "support/catch.hpp"

#include <sse/server.hpp>

#include <boost/asio/io_context.hpp>

TEST_CASE("broadcast: to() and except() collect rooms without duplicates", "[broadcast]") {
    boost::asio::io_context ioc;
    sse::server io{ioc.get_executor()};
    auto& ns = io.of("/s");
    auto op = ns.to("a").to("b").to("a").except("x").except("x").except("y");
    CHECK(op.target_rooms() == std::vector<std::string>{"a", "b"});
    CHECK(op.except_rooms() == std::vector<std::string>{"x", "y"});
    auto list = ns.to({"a", "b", "b"});
    CHECK(list.target_rooms() == std::vector<std::string>{"a", "b"});
    auto ex = ns.except({"x", "y"});
    CHECK(ex.target_rooms().empty());
    CHECK(ex.except_rooms() == std::vector<std::string>{"x", "y"});
    CHECK(ns.to(std::vector<std::string>{"c", "d"}).target_rooms() ==
          std::vector<std::string>{"c", "d"});
}

TEST_CASE("broadcast: a kept operator is not changed by chaining from it", "[broadcast]") {
    boost::asio::io_context ioc;
    sse::server io{ioc.get_executor()};
    auto const base = io.of("/s").to("a");
    auto wider = base.to("b");
    auto narrower = base.except("c");
    CHECK(base.target_rooms() == std::vector<std::string>{"a"});
    CHECK(base.except_rooms().empty());
    CHECK(wider.target_rooms() == std::vector<std::string>{"a", "b"});
    CHECK(narrower.except_rooms() == std::vector<std::string>{"c"});
}

TEST_CASE("broadcast: bad room names throw at the call", "[broadcast]") {
    boost::asio::io_context ioc;
    sse::server io{ioc.get_executor()};
    auto& ns = io.of("/s");
    CHECK_THROWS_AS(ns.to(""), std::invalid_argument);
    CHECK_THROWS_AS(ns.to("a").to("b\r\n"), std::invalid_argument);
    CHECK_THROWS_AS(ns.to("a").except(std::string("\0", 1)), std::invalid_argument);
    CHECK_THROWS_AS(ns.to({"ok", ""}), std::invalid_argument);
}

TEST_CASE("broadcast: an operator that outlives its server emits nothing", "[broadcast]") {
    boost::asio::io_context ioc;
    auto io = std::make_unique<sse::server>(ioc.get_executor());
    auto op = io->of("/s").to("a");
    io.reset();
    CHECK_NOTHROW(op.emit("late", {{"n", 1}}));
    CHECK_THROWS_AS(op.emit("bad\n", {{"n", 1}}), std::invalid_argument); // still checked
}
