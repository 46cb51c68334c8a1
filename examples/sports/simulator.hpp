// simulator.hpp - plausible live feeds for a few football and cricket matches.
//
// Shared by `sports_demo --simulate` and the football_feed / cricket_feed publishers. A
// simulator knows nothing about the network: each `tick()` advances every match by one step
// (a minute of football, a ball of cricket) and hands the events to `emit(room, event)`, where
// an empty room means the whole namespace.
#ifndef SPORTS_SIMULATOR_HPP
#define SPORTS_SIMULATOR_HPP

#include "events.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstddef>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sports {

struct team {
    std::string_view code;
    std::string_view name;
    std::array<std::string_view, 6> players;
};

inline std::vector<team> const& teams() {
    static std::vector<team> const all = {
        {"ars", "Arsenal", {"Saka", "Odegaard", "Rice", "Havertz", "Saliba", "Martinelli"}},
        {"che", "Chelsea", {"Palmer", "Enzo", "Caicedo", "Jackson", "James", "Madueke"}},
        {"liv", "Liverpool", {"Salah", "Van Dijk", "Szoboszlai", "Diaz", "Gakpo", "Mac Allister"}},
        {"mci", "Manchester City", {"Haaland", "Foden", "Rodri", "Bernardo", "Dias", "Doku"}},
        {"rma",
         "Real Madrid",
         {"Vinicius", "Bellingham", "Mbappe", "Valverde", "Rudiger", "Rodrygo"}},
        {"bar", "Barcelona", {"Lewandowski", "Yamal", "Pedri", "Raphinha", "Gavi", "Araujo"}},
        {"bay", "Bayern", {"Kane", "Musiala", "Sane", "Kimmich", "Upamecano", "Coman"}},
        {"bvb", "Dortmund", {"Brandt", "Adeyemi", "Guirassy", "Sabitzer", "Schlotterbeck", "Can"}},
        {"new", "Newcastle", {"Isak", "Gordon", "Guimaraes", "Tonali", "Trippier", "Barnes"}},
        {"tot", "Tottenham", {"Son", "Maddison", "Solanke", "Kulusevski", "Romero", "Porro"}},
        {"ind", "India", {"Rohit", "Kohli", "Gill", "Pant", "Jadeja", "Pandya"}},
        {"aus", "Australia", {"Head", "Warner", "Smith", "Marsh", "Maxwell", "Carey"}},
        {"eng", "England", {"Root", "Buttler", "Stokes", "Brook", "Bairstow", "Salt"}},
        {"nz",
         "New Zealand",
         {"Williamson", "Conway", "Mitchell", "Latham", "Phillips", "Ravindra"}},
        {"pak", "Pakistan", {"Babar", "Rizwan", "Fakhar", "Shadab", "Iftikhar", "Saim"}},
        {"sa", "South Africa", {"Markram", "de Kock", "Klaasen", "Miller", "Bavuma", "Stubbs"}},
    };
    return all;
}

/// The team with this code, or null.
inline team const* find_team(std::string_view code) {
    for (auto const& t : teams())
        if (t.code == code) return &t;
    return nullptr;
}

/// Display names of the two sides of a match id such as "ars-vs-che" ("" when not of that form).
inline std::pair<std::string, std::string> sides_of(std::string_view match) {
    auto at = match.find("-vs-");
    if (at == std::string_view::npos) return {};
    auto name = [](std::string_view code) {
        if (auto const* t = find_team(code)) return std::string(t->name);
        std::string up(code);
        for (auto& c : up)
            c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        return up;
    };
    return {name(match.substr(0, at)), name(match.substr(at + 4))};
}

inline std::vector<std::string> const& football_fixtures() {
    static std::vector<std::string> const ids = {"ars-vs-che", "liv-vs-mci", "rma-vs-bar",
                                                 "bay-vs-bvb"};
    return ids;
}

inline std::vector<std::string> const& cricket_fixtures() {
    static std::vector<std::string> const ids = {"ind-vs-aus", "eng-vs-nz", "pak-vs-sa"};
    return ids;
}

/// The first `count` fixtures, or those named in `wanted` (comma-separated) when not empty.
inline std::vector<std::string> pick_fixtures(std::vector<std::string> const& all,
                                              std::string const& wanted, std::size_t count) {
    std::vector<std::string> out;
    if (!wanted.empty()) {
        std::size_t pos = 0;
        while (pos <= wanted.size()) {
            auto end = std::min(wanted.find(',', pos), wanted.size());
            if (end > pos) out.push_back(wanted.substr(pos, end - pos));
            pos = end + 1;
        }
        return out;
    }
    out.assign(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(std::min(count, all.size())));
    return out;
}

/// Ninety minutes in ninety ticks: goals, red cards, a clock update every five minutes, the
/// final whistle, then a short break and a new kick-off.
class football_simulator {
public:
    using events = football_events;
    static constexpr char nsp[] = "/football";

    explicit football_simulator(std::vector<std::string> ids,
                                unsigned seed = std::random_device{}())
        : rng_(seed) {
        for (auto& id : ids) {
            match m;
            m.id = std::move(id);
            auto at = m.id.find("-vs-");
            m.home = at == std::string::npos ? nullptr : find_team(m.id.substr(0, at));
            m.away = at == std::string::npos ? nullptr : find_team(m.id.substr(at + 4));
            // Start the matches at different minutes so that the demo looks live at once.
            m.minute = static_cast<int>(std::uniform_int_distribution<>(0, 60)(rng_));
            matches_.push_back(std::move(m));
        }
    }

    std::vector<std::string> ids() const {
        std::vector<std::string> out;
        for (auto const& m : matches_)
            out.push_back(m.id);
        return out;
    }

    /// Advances every match by one minute. `emit(room, event)`; room "" = whole namespace.
    template <class Emit>
    void tick(Emit&& emit) {
        for (auto& m : matches_)
            step(m, emit);
    }

private:
    struct match {
        std::string id;
        team const* home = nullptr;
        team const* away = nullptr;
        int minute = 0;
        int home_score = 0;
        int away_score = 0;
        int break_left = 0;
        bool started = false;
    };

    bool chance(double p) { return std::bernoulli_distribution(p)(rng_); }
    std::string player_of(team const* t) {
        if (!t) return "Player " + std::to_string(std::uniform_int_distribution<>(2, 11)(rng_));
        return std::string(t->players[std::uniform_int_distribution<std::size_t>(0, 5)(rng_)]);
    }
    static std::string name_of(team const* t, std::string_view fallback) {
        return t ? std::string(t->name) : std::string(fallback);
    }

    template <class Emit>
    void step(match& m, Emit& emit) {
        if (m.break_left > 0) {
            if (--m.break_left == 0) {
                m = match{m.id, m.home, m.away};
                emit(std::string_view(), announcement{"Kick-off: " + name_of(m.home, "Home") +
                                                      " vs " + name_of(m.away, "Away")});
            }
            return;
        }
        if (!m.started) {
            m.started = true;
            emit(m.id, score_update{m.id, m.home_score, m.away_score, m.minute});
            return;
        }
        ++m.minute;
        bool changed = m.minute % 5 == 0;
        if (chance(0.017)) ++m.home_score, changed = true;
        if (chance(0.013)) ++m.away_score, changed = true;
        if (changed) emit(m.id, score_update{m.id, m.home_score, m.away_score, m.minute});
        if (chance(0.006)) {
            bool home = chance(0.5);
            auto* t = home ? m.home : m.away;
            emit(m.id, red_card{m.id, player_of(t), name_of(t, home ? "Home" : "Away"), m.minute});
        }
        if (m.minute >= 90 + static_cast<int>(m.id.size() % 4)) {
            auto final_score = std::to_string(m.home_score) + "-" + std::to_string(m.away_score);
            emit(m.id, match_end{m.id, final_score});
            emit(std::string_view(), announcement{"Full time: " + name_of(m.home, "Home") + " " +
                                                  final_score + " " + name_of(m.away, "Away")});
            m.break_left = 15;
        }
    }

    std::mt19937 rng_;
    std::vector<match> matches_;
};

/// T20 innings, one ball per tick: boundaries and wickets as they fall, `over_complete` after
/// each six balls, then the other side bats.
class cricket_simulator {
public:
    using events = cricket_events;
    static constexpr char nsp[] = "/cricket";

    explicit cricket_simulator(std::vector<std::string> ids, unsigned seed = std::random_device{}())
        : rng_(seed) {
        for (auto& id : ids) {
            match m;
            m.id = std::move(id);
            auto at = m.id.find("-vs-");
            m.sides[0] = at == std::string::npos ? nullptr : find_team(m.id.substr(0, at));
            m.sides[1] = at == std::string::npos ? nullptr : find_team(m.id.substr(at + 4));
            m.ball = static_cast<int>(std::uniform_int_distribution<>(0, 5)(rng_));
            matches_.push_back(std::move(m));
        }
    }

    std::vector<std::string> ids() const {
        std::vector<std::string> out;
        for (auto const& m : matches_)
            out.push_back(m.id);
        return out;
    }

    /// Bowls one ball in every match. `emit(room, event)`; room "" = whole namespace.
    template <class Emit>
    void tick(Emit&& emit) {
        for (auto& m : matches_)
            step(m, emit);
    }

private:
    struct match {
        std::string id;
        std::array<team const*, 2> sides{};
        int batting = 0;
        int ball = 0; // in the current over
        int overs = 0;
        int runs = 0;
        int wickets = 0;
        int runs_in_over = 0;
        int break_left = 0;
    };

    bool chance(double p) { return std::bernoulli_distribution(p)(rng_); }
    std::string batter(match const& m) {
        auto* t = m.sides[static_cast<std::size_t>(m.batting)];
        auto i = static_cast<std::size_t>(std::min(m.wickets, 5)) +
                 std::uniform_int_distribution<std::size_t>(0, 1)(rng_);
        if (!t) return "Batter " + std::to_string(i + 1);
        return std::string(t->players[std::min<std::size_t>(i, 5)]);
    }
    static std::string name_of(team const* t, std::string_view fallback) {
        return t ? std::string(t->name) : std::string(fallback);
    }

    template <class Emit>
    void step(match& m, Emit& emit) {
        if (m.break_left > 0) {
            if (--m.break_left == 0) {
                m.batting = 1 - m.batting;
                m.ball = m.overs = m.runs = m.wickets = m.runs_in_over = 0;
                emit(std::string_view(),
                     announcement{name_of(m.sides[static_cast<std::size_t>(m.batting)], "Team") +
                                  " are batting in " + m.id});
            }
            return;
        }
        auto* batting = m.sides[static_cast<std::size_t>(m.batting)];
        double r = std::uniform_real_distribution<>(0, 1)(rng_);
        if (r < 0.045) {
            ++m.wickets;
            emit(m.id, wicket{m.id, batter(m), name_of(batting, "Batting side"), m.wickets});
        } else if (r < 0.085) {
            m.runs_in_over += 6;
            emit(m.id, boundary{m.id, batter(m), 6});
        } else if (r < 0.2) {
            m.runs_in_over += 4;
            emit(m.id, boundary{m.id, batter(m), 4});
        } else {
            m.runs_in_over += std::discrete_distribution<>({30, 40, 15, 5})(rng_); // 0..3 runs
        }
        bool all_out = m.wickets >= 10;
        if (++m.ball == 6 || all_out) {
            ++m.overs;
            m.runs += m.runs_in_over;
            emit(m.id, over_complete{m.id, m.overs, m.runs_in_over});
            m.ball = 0;
            m.runs_in_over = 0;
        }
        if (all_out || m.overs >= 20) {
            emit(std::string_view(),
                 announcement{"Innings complete in " + m.id + ": " +
                              name_of(batting, "Batting side") + " " + std::to_string(m.runs) +
                              "/" + std::to_string(m.wickets)});
            m.break_left = 10;
        }
    }

    std::mt19937 rng_;
    std::vector<match> matches_;
};

} // namespace sports

#endif
