// events.hpp - the typed events of the sports demo, one struct per event.
//
// Each struct carries its wire name; NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE gives the JSON field
// names, so `football.to("ars-vs-che").emit(score_update{...})` is checked by the compiler and
// `emit_checked` can validate an event that arrives over HTTP against the same types.
#ifndef SPORTS_EVENTS_HPP
#define SPORTS_EVENTS_HPP

#include <sse/server.hpp>

#include <nlohmann/json.hpp>

#include <string>

namespace sports {

// Both namespaces.
struct announcement {
    static constexpr char name[] = "announcement";
    std::string message;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(announcement, message)

// Football. `match` is also the room of the match, e.g. "ars-vs-che".
struct score_update {
    static constexpr char name[] = "score_update";
    std::string match;
    int homeScore = 0;
    int awayScore = 0;
    int minute = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(score_update, match, homeScore, awayScore, minute)

struct red_card {
    static constexpr char name[] = "red_card";
    std::string match;
    std::string player;
    std::string team;
    int minute = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(red_card, match, player, team, minute)

struct match_end {
    static constexpr char name[] = "match_end";
    std::string match;
    std::string finalScore;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(match_end, match, finalScore)

// Cricket.
struct wicket {
    static constexpr char name[] = "wicket";
    std::string match;
    std::string player;
    std::string team;
    int totalWickets = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(wicket, match, player, team, totalWickets)

struct boundary {
    static constexpr char name[] = "boundary";
    std::string match;
    std::string player;
    int runs = 4; // 4 or 6
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(boundary, match, player, runs)

struct over_complete {
    static constexpr char name[] = "over_complete";
    std::string match;
    int oversPlayed = 0;
    int runsInOver = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(over_complete, match, oversPlayed, runsInOver)

using football_events = sse::events<score_update, red_card, match_end, announcement>;
using cricket_events = sse::events<wicket, boundary, over_complete, announcement>;

} // namespace sports

#endif
