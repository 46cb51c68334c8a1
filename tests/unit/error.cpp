// Unit: sse/error.hpp - error codes, their category, and the coarse conditions.
#include <sse/error.hpp>

#include "support/catch.hpp"

#include <set>

TEST_CASE("error: codes convert implicitly and carry the sse category", "[error]") {
    std::error_code ec = sse::error::peer_closed;
    CHECK(ec);
    CHECK(ec.category() == sse::error_category());
    CHECK(std::string(ec.category().name()) == "sse");
    CHECK(ec.value() == static_cast<int>(sse::error::peer_closed));
    CHECK(ec == sse::make_error_code(sse::error::peer_closed));
    CHECK(ec != sse::error::disconnected);
    CHECK(std::string(sse::condition_category().name()) == "sse.condition");
}

TEST_CASE("error: every code has its own message", "[error]") {
    std::set<std::string> messages;
    for (auto e : {sse::error::peer_closed, sse::error::disconnected, sse::error::server_closed,
                   sse::error::slow_consumer, sse::error::write_failed, sse::error::rejected,
                   sse::error::protocol_violation, sse::error::handler_failed}) {
        auto m = sse::make_error_code(e).message();
        CHECK_FALSE(m.empty());
        messages.insert(m);
    }
    CHECK(messages.size() == 8);
    CHECK(sse::make_error_code(sse::error::slow_consumer).message().find("slow") !=
          std::string::npos);
}

TEST_CASE("error: codes compare equal to their conditions", "[error]") {
    using sse::condition;
    using sse::error;
    struct row {
        error e;
        condition c;
    };
    for (auto r : {row{error::peer_closed, condition::peer_gone},
                   row{error::write_failed, condition::peer_gone},
                   row{error::protocol_violation, condition::peer_gone},
                   row{error::slow_consumer, condition::overloaded},
                   row{error::disconnected, condition::closed_by_server},
                   row{error::server_closed, condition::closed_by_server},
                   row{error::rejected, condition::closed_by_server},
                   row{error::handler_failed, condition::closed_by_server}}) {
        std::error_code ec = r.e;
        CAPTURE(ec.message());
        CHECK(ec == r.c);
        for (auto other :
             {condition::peer_gone, condition::overloaded, condition::closed_by_server})
            if (other != r.c) CHECK(ec != other);
    }
    // Unrelated codes are none of them.
    std::error_code io = std::make_error_code(std::errc::connection_reset);
    CHECK(io != condition::peer_gone);
    CHECK(std::error_code() != condition::peer_gone);
}

TEST_CASE("error: conditions have messages", "[error]") {
    for (auto c : {sse::condition::peer_gone, sse::condition::overloaded,
                   sse::condition::closed_by_server}) {
        std::error_condition cond = c;
        CHECK(cond.category() == sse::condition_category());
        CHECK_FALSE(cond.message().empty());
    }
}
