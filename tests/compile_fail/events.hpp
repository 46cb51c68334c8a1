// tests/compile_fail/events.hpp - the typed namespace every compile-fail test starts from.
#ifndef SSE_TESTS_COMPILE_FAIL_EVENTS_HPP
#define SSE_TESTS_COMPILE_FAIL_EVENTS_HPP

#include <sse/server.hpp>

#include <string>

namespace cf {

struct score_update {
    static constexpr char name[] = "score_update";
    std::string match;
    int homeScore = 0, awayScore = 0, minute = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(score_update, match, homeScore, awayScore, minute)

struct match_end {
    static constexpr char name[] = "match_end";
    std::string result;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(match_end, result)

/// A well-formed event type that is NOT in football_events.
struct red_card {
    static constexpr char name[] = "red_card";
    std::string player;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(red_card, player)

using football_events = sse::events<score_update, match_end>;

} // namespace cf

#endif
