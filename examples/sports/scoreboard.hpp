// scoreboard.hpp - what GET /matches shows.
#ifndef SPORTS_SCOREBOARD_HPP
#define SPORTS_SCOREBOARD_HPP

#include "simulator.hpp" // sides_of

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

namespace sports {

using json = nlohmann::json;

// What /matches shows: the state of every match an event has been seen for, kept from the
// events themselves (the same rules the page applies).
// At most `max_matches` per sport: a new match beyond that replaces the one updated longest
// ago, so emits naming ever new matches cannot grow the board (or /matches) without bound.
class scoreboard {
public:
    static constexpr std::size_t max_matches = 1000;

    void record(std::string const& sport, std::string const& match, std::string_view event,
                json const& data) {
        std::lock_guard<std::mutex> lock(mutex_);
        auto& m = entry(sport, match);
        // value(): what another node sent is read defensively (a type error throws).
        auto num = [&](char const* key) { return data.is_object() ? data.value(key, 0) : 0; };
        if (event == "score_update") {
            if (m["status"] == "finished") m["redCards"] = 0;
            m.update({{"homeScore", num("homeScore")},
                      {"awayScore", num("awayScore")},
                      {"minute", num("minute")},
                      {"status", "live"}});
        } else if (event == "red_card") {
            m["redCards"] = m["redCards"].get<int>() + 1;
            m["minute"] = num("minute");
        } else if (event == "match_end") {
            m["status"] = "finished";
        } else if (event == "wicket") {
            int w = num("totalWickets");
            if (w < m["wickets"].get<int>()) new_innings(m);
            m["wickets"] = w;
            m["batting"] = data.value("team", "");
        } else if (event == "boundary") {
            m["overRuns"] = m["overRuns"].get<int>() + num("runs");
        } else if (event == "over_complete") {
            int overs = num("oversPlayed");
            if (overs < m["overs"].get<int>()) new_innings(m);
            m["overs"] = overs;
            m["runs"] = m["runs"].get<int>() + num("runsInOver");
            m["overRuns"] = 0;
        }
        if (event != "announcement") {
            auto& recent = m["recent"];
            recent.push_back({{"event", event}, {"data", data}});
            if (recent.size() > 8) recent.erase(recent.begin());
        }
        m["updated"] = ++sequence_;
    }

    /// Lists a match before its first event (the simulated fixtures).
    void add(std::string const& sport, std::string const& match) {
        std::lock_guard<std::mutex> lock(mutex_);
        entry(sport, match)["updated"] = ++sequence_;
    }

    json snapshot() const {
        std::lock_guard<std::mutex> lock(mutex_);
        json out = {{"football", json::array()}, {"cricket", json::array()}};
        for (auto const& [sport, matches] : matches_)
            for (auto const& [id, m] : matches)
                out[sport].push_back(m);
        return out;
    }

    std::size_t size(std::string const& sport) const {
        std::lock_guard<std::mutex> lock(mutex_);
        auto it = matches_.find(sport);
        return it == matches_.end() ? 0 : it->second.size();
    }

private:
    json& entry(std::string const& sport, std::string const& match) {
        auto& matches = matches_[sport];
        if (matches.size() >= max_matches && matches.count(match) == 0) {
            auto oldest = std::min_element(matches.begin(), matches.end(), [](auto& a, auto& b) {
                return a.second.value("updated", std::uint64_t{0}) <
                       b.second.value("updated", std::uint64_t{0});
            });
            matches.erase(oldest);
        }
        auto& m = matches[match];
        if (m.is_null()) {
            auto [home, away] = sports::sides_of(match);
            m = {{"id", match}, {"home", home}, {"away", away}, {"status", "live"}};
            if (sport == "football")
                m.update({{"homeScore", 0}, {"awayScore", 0}, {"minute", 0}, {"redCards", 0}});
            else
                m.update({{"runs", 0}, {"wickets", 0}, {"overs", 0}, {"overRuns", 0}});
            m["recent"] = json::array();
        }
        return m;
    }

    static void new_innings(json& m) {
        m.update({{"runs", 0}, {"wickets", 0}, {"overs", 0}, {"overRuns", 0}});
        m.erase("batting");
    }

    mutable std::mutex mutex_;
    std::map<std::string, std::map<std::string, json>> matches_;
    std::uint64_t sequence_ = 0;
};

} // namespace sports

#endif
