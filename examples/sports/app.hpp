// app.hpp - the sse part of the demo: one server, a namespace per sport, an auth middleware,
// replay history, the typed emit the feeds and the simulation use, and the tap that keeps
// /matches in step. Everything else in this folder is an ordinary Beast server around it.
#ifndef SPORTS_APP_HPP
#define SPORTS_APP_HPP

#include "cli.hpp"
#include "events.hpp"
#include "scoreboard.hpp"

#include <sse/server.hpp>
#include <sse/tapped_event.hpp>
#if SSE_DEMO_WITH_REDIS
#include <sse/redis_adapter.hpp>
#endif

#include <boost/asio/io_context.hpp>

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace sports {

/// Compares secrets in time independent of where they differ.
inline bool same_secret(std::string_view a, std::string_view b) {
    unsigned char diff = a.size() == b.size() ? 0 : 1;
    for (std::size_t i = 0; i < a.size(); ++i)
        diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
    return diff == 0;
}

/// The library objects and the state every session shares.
struct app {
    app(boost::asio::io_context& ioc, config c)
        : cfg(std::move(c))
        , io(ioc.get_executor(), make_options(cfg))
        , football(io.of<football_events>("/football"))
        , cricket(io.of<cricket_events>("/cricket")) {
        if (!cfg.auth_token.empty()) {
            auto require_token = [token = cfg.auth_token](sse::client& c, sse::next next) {
                auto const& hs = c.handshake();
                auto auth = hs.header("authorization");
                bool bearer = auth.size() > 7 && auth.substr(0, 7) == "Bearer ";
                if ((bearer && same_secret(auth.substr(7), token)) ||
                    (hs.has_query("token") && same_secret(hs.query("token"), token)))
                    return next();
                next(sse::reject(401, R"({"error":"unauthorized: a valid token is required"})",
                                 "application/json"));
            };
            football.use(require_token);
            cricket.use(require_token);
        }
        follow(football.untyped(), "football", football_fixtures());
        follow(cricket.untyped(), "cricket", cricket_fixtures());
    }

    // /matches follows every event this node delivers: its own emits and, with Redis, the
    // other nodes'. The fixtures' rooms are watched, so that a node hears the matches none of
    // its fans follow (a node otherwise subscribes only to its clients' rooms).
    void follow(sse::namespace_& ns, std::string sport, std::vector<std::string> const& fixtures) {
        for (auto const& room : fixtures)
            ns.watch(room);
        ns.tap([this, sport = std::move(sport)](sse::tapped_event const& e) {
            if (e.event.name() == "announcement") return;
            auto data = nlohmann::json::parse(e.event.data(), nullptr, false);
            // The match: the room it went to, or data.match for a sport-wide emit.
            std::string match = e.rooms.size() == 1 ? e.rooms[0] : std::string();
            if (match.empty() && data.is_object() && data.contains("match") &&
                data["match"].is_string())
                match = data["match"];
            if (match.empty() || !data.is_object()) return;
            try {
                sse::validate_room_name(match); // a match name /matches can show
                board.record(sport, match, e.event.name(), data);
            } catch (std::exception const&) {
                // Not one of our events (another node's app): its clients still get it.
            }
        });
    }

    static sse::options make_options(config const& cfg) {
        sse::options o;
        o.heartbeat_interval = std::chrono::milliseconds(cfg.heartbeat_ms);
        o.retry = std::chrono::milliseconds(2000);
        // Replay on both namespaces: a match yields a few hundred events, so 2 000 per match
        // room over 3 hours covers a whole match; a reconnecting page misses nothing.
        o.history.max_events = 2000;
        o.history.max_age = std::chrono::hours(3);
        if (!cfg.cors_origin.empty()) o.cors = sse::cors_options{cfg.cors_origin, false};
        // Over either limit, a browser is told to come back in 2-10 s (options::refusal).
        o.max_clients = cfg.max_clients;
        o.admission_rate = {cfg.admit_rate, static_cast<std::size_t>(std::ceil(cfg.admit_rate))};
        return o;
    }

    /// Emits a typed event to a match (or to the whole sport when `room` is empty).
    template <class Namespace, class Event>
    void publish(Namespace& ns, std::string_view room, Event const& e) {
        if (room.empty()) return ns.emit(e);
        ns.to(room).emit(e); // the tap records it for /matches
    }

    /// Calls `fn` with the typed namespace of `sport` (nothing for an unknown sport).
    template <class Fn>
    void for_namespace(std::string_view sport, Fn&& fn) {
        if (sport == "football") fn(football);
        if (sport == "cricket") fn(cricket);
    }

    /// GET /matches: the board, each match with "watching": the clients of its room on every
    /// node (presence: this node's exact count, the others' as last announced, about 1 s old).
    nlohmann::json matches() {
        auto all = board.snapshot();
        for (auto sport = all.begin(); sport != all.end(); ++sport)
            for_namespace(sport.key(), [&](auto& ns) {
                for (auto& m : sport.value())
                    m["watching"] = ns.untyped().presence(m.value("id", std::string()));
            });
        return all;
    }

    std::string redis_state() const {
#if SSE_DEMO_WITH_REDIS
        if (redis) return redis->state().connected ? "connected" : "disconnected";
#endif
        return "disabled";
    }

    config cfg;
    sse::server io;
    sse::typed_namespace<football_events>& football;
    sse::typed_namespace<cricket_events>& cricket;
    scoreboard board;
    /// Requests whose handling threw (answered 500): a bug in the demo, never expected.
    std::atomic<std::uint64_t> request_errors{0};
#if SSE_DEMO_WITH_REDIS
    std::shared_ptr<sse::redis_adapter> redis;
#endif
};

inline bool known_sport(std::string_view s) {
    return s == "football" || s == "cricket";
}

} // namespace sports

#endif
