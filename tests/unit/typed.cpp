// Unit: sse/typed.hpp - event sets, visit, strict decoding, typed namespace views.
#include <sse/typed.hpp>

#include "support/catch.hpp"

#include <sse/server.hpp>

#include <boost/asio/io_context.hpp>

namespace {

struct score_update {
    static constexpr char name[] = "score_update";
    std::string match;
    int homeScore = 0, awayScore = 0, minute = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(score_update, match, homeScore, awayScore, minute)

struct red_card {
    static constexpr char name[] = "red_card";
    std::string player;
    int minute = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(red_card, player, minute)

struct match_end {
    static constexpr char name[] = "match_end";
    std::string result;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(match_end, result)

struct not_in_set {
    static constexpr char name[] = "not_in_set";
};

using football_events = sse::events<score_update, red_card, match_end>;

} // namespace

TEST_CASE("typed: events<...>::contains", "[typed]") {
    static_assert(football_events::contains<score_update>);
    static_assert(football_events::contains<match_end>);
    static_assert(!football_events::contains<not_in_set>);
    static_assert(!football_events::contains<int>);
    CHECK(football_events::names() ==
          std::vector<std::string_view>{"score_update", "red_card", "match_end"});
}

TEST_CASE("typed: visit finds the type by its wire name", "[typed]") {
    std::string found;
    CHECK(football_events::visit("red_card", [&](auto tag) {
        using E = typename decltype(tag)::type;
        found = E::name;
    }));
    CHECK(found == "red_card");
    int calls = 0;
    CHECK_FALSE(football_events::visit("unknown", [&](auto) { ++calls; }));
    CHECK_FALSE(football_events::visit("", [&](auto) { ++calls; }));
    CHECK_FALSE(football_events::visit("red_car", [&](auto) { ++calls; }));
    CHECK(calls == 0);
}

TEST_CASE("typed: decode_event is strict", "[typed]") {
    std::string why;
    score_update s;
    SECTION("a payload of the right shape") {
        REQUIRE(sse::decode_event(
            {{"match", "A v B"}, {"homeScore", 2}, {"awayScore", 1}, {"minute", 67}}, s, why));
        CHECK(s.match == "A v B");
        CHECK(s.homeScore == 2);
        CHECK(s.minute == 67);
    }
    SECTION("a missing field") {
        CHECK_FALSE(sse::decode_event({{"match", "A v B"}, {"homeScore", 2}}, s, why));
        CHECK_FALSE(why.empty());
    }
    SECTION("a field of the wrong type") {
        CHECK_FALSE(sse::decode_event(
            {{"match", "A v B"}, {"homeScore", "two"}, {"awayScore", 1}, {"minute", 67}}, s, why));
        CHECK_FALSE(why.empty());
    }
    SECTION("a float where an int is expected") {
        CHECK_FALSE(sse::decode_event(
            {{"match", "A v B"}, {"homeScore", 2.5}, {"awayScore", 1}, {"minute", 67}}, s, why));
        CHECK(why.find("score_update") != std::string::npos);
    }
    SECTION("an extra key") {
        CHECK_FALSE(sse::decode_event({{"match", "A v B"},
                                       {"homeScore", 2},
                                       {"awayScore", 1},
                                       {"minute", 67},
                                       {"extra", true}},
                                      s, why));
    }
    SECTION("not an object") {
        CHECK_FALSE(sse::decode_event(nlohmann::json::array({1, 2}), s, why));
        CHECK_FALSE(sse::decode_event(nlohmann::json(), s, why));
    }
}

TEST_CASE("typed: a typed view shares the namespace and checks emits at run time", "[typed]") {
    boost::asio::io_context ioc; // never run: no socket is involved
    sse::server io{ioc.get_executor()};
    auto& typed = io.of<football_events>("/football");
    CHECK(&typed.untyped() == &io.of("/football"));
    CHECK(&io.of<football_events>("/football") == &typed);
    CHECK(typed.name() == "/football");

    typed.emit(score_update{"A v B", 1, 0, 10});
    typed.to("room").emit(red_card{"X", 12});
    typed.to({"a", "b"}).except("c").emit(match_end{"1-0"});
    CHECK(typed.stats().events_emitted == 3);
    CHECK(typed.stats().last_event_id == 3);

    std::string why;
    CHECK(typed.emit_checked("match_end", {{"result", "2-2"}}, why));
    CHECK(typed.stats().events_emitted == 4);
    CHECK_FALSE(typed.emit_checked("match_end", {{"result", 22}}, why));
    CHECK_FALSE(typed.emit_checked("goal", {{"result", "x"}}, why));
    CHECK(why == "unknown event 'goal' for namespace /football");
    CHECK_FALSE(typed.emit_checked(io.of("/football").to("r"), "red_card", {{"player", "x"}}, why));
    CHECK(typed.stats().events_emitted == 4); // refused emits sent nothing
    CHECK(typed.client_count() == 0);
    CHECK(typed.rooms().empty());
}
