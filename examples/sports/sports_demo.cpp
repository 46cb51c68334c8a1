// sports_demo - a live football and cricket score centre over Server-Sent Events.
//
// An ordinary Boost.Beast HTTP server (one listener, one session per connection) that hands
// the requests for /stream/... to the sse library and serves everything else itself:
//
//   GET  /                            the web page (assets embedded at build time)
//   GET  /static/{file}               its CSS and JavaScript
//   GET  /stream/{football|cricket}/{match}   SSE: the client joins room {match}
//   HEAD /stream/{football|cricket}/{match}   the head the GET would get, no body
//   OPTIONS (any route, with --cors-origin)   the CORS preflight answer (sse::cors_preflight)
//   POST /emit/{sport}/{match}        {"event":"score_update","data":{...}} to one match (202)
//   POST /emit/{sport}                the same, to every client of the sport (202)
//   GET  /matches                     the matches known so far, with their scores (JSON)
//   GET  /healthz                     200 while serving
//   GET  /metrics                     Prometheus text
//
//   sports_demo --simulate                       everything in memory, on http://127.0.0.1:8080
//   sports_demo --redis redis://127.0.0.1:6379   one of several nodes behind a load balancer
#include "events.hpp"
#include "simulator.hpp"
#include "static_assets.hpp" // generated from static/ by embed_static.cmake

#include <sse/server.hpp>
#if SSE_DEMO_WITH_REDIS
#include <sse/redis_adapter.hpp>
#endif

#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <deque>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using json = nlohmann::json;

//------------------------------------------------------------------------------

struct config {
    std::string bind = "127.0.0.1";
    unsigned short port = 8080;
    std::string redis;
    bool simulate = false;
    long heartbeat_ms = 15000;
    std::string cors_origin;
    std::string auth_token;
    std::string admin_token;
    int threads = 1;
    std::size_t max_clients = 0; // per namespace; 0: no limit
    double admit_rate = 0;       // admissions per second per namespace; 0: no limit
};

constexpr std::size_t max_body = 64 * 1024;
constexpr auto read_timeout = std::chrono::seconds(30);

void fail(beast::error_code ec, char const* what) {
    std::cerr << what << ": " << ec.message() << "\n";
}

// Compares secrets in time independent of where they differ.
bool same_secret(std::string_view a, std::string_view b) {
    unsigned char diff = a.size() == b.size() ? 0 : 1;
    for (std::size_t i = 0; i < a.size(); ++i)
        diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
    return diff == 0;
}

std::string percent_decode(std::string_view in) {
    std::string out;
    for (std::size_t i = 0; i < in.size(); ++i) {
        auto hex = [](char c) {
            if (c >= '0' && c <= '9') return c - '0';
            if (c >= 'a' && c <= 'f') return c - 'a' + 10;
            if (c >= 'A' && c <= 'F') return c - 'A' + 10;
            return -1;
        };
        if (in[i] == '%' && i + 2 < in.size() + 0 && hex(in[i + 1]) >= 0 && hex(in[i + 2]) >= 0) {
            out.push_back(static_cast<char>(hex(in[i + 1]) * 16 + hex(in[i + 2])));
            i += 2;
        } else {
            out.push_back(in[i]);
        }
    }
    return out;
}

//------------------------------------------------------------------------------

// What /matches shows: the state of every match an event has been seen for, kept from the
// events themselves (the same rules the page applies).
class scoreboard {
public:
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
        auto& m = matches_[sport][match];
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

//------------------------------------------------------------------------------

#if SSE_DEMO_WITH_REDIS
// Wraps the Redis adapter to keep /matches complete on every node: it records the events that
// other nodes (or a feed) send here, and keeps this node subscribed to the rooms of the known
// fixtures even when no fan of this node watches them. Without it, interest routing would
// (rightly) bring a node only the matches its own clients follow.
class scoreboard_tap final : public sse::adapter,
                             public sse::adapter_host,
                             public std::enable_shared_from_this<scoreboard_tap> {
public:
    scoreboard_tap(std::shared_ptr<sse::adapter> inner, scoreboard& board)
        : inner_(std::move(inner))
        , board_(board) {}

    // sse::adapter: forward, adding the fixtures' rooms to this node's interest.
    void attach(std::weak_ptr<sse::adapter_host> host) override {
        host_ = std::move(host);
        inner_->attach(weak_from_this());
    }
    void broadcast(sse::broadcast_packet const& p, sse::local_delivery& local) override {
        inner_->broadcast(p, local);
    }
    bool sequences(sse::history_options const& h) const noexcept override {
        return inner_->sequences(h);
    }
    void fetch_history(std::string_view nsp, std::vector<std::string> rooms, std::uint64_t after,
                       sse::history_options const& h,
                       std::function<void(sse::history_result)> done) override {
        inner_->fetch_history(nsp, std::move(rooms), after, h, std::move(done));
    }
    void namespace_added(std::string_view nsp) override {
        inner_->namespace_added(nsp);
        for (auto const& room : fixtures(nsp))
            inner_->room_added(nsp, room);
    }
    void room_added(std::string_view nsp, std::string_view room) override {
        inner_->room_added(nsp, room);
    }
    void room_removed(std::string_view nsp, std::string_view room) override {
        auto const& pinned = fixtures(nsp);
        if (std::find(pinned.begin(), pinned.end(), room) == pinned.end())
            inner_->room_removed(nsp, room);
    }
    std::string_view node_id() const noexcept override { return inner_->node_id(); }
    void close() override { inner_->close(); }

    // sse::adapter_host: note what arrives, then hand it to the server.
    void deliver_remote(std::string_view nsp, std::vector<std::string> const& rooms,
                        std::vector<std::string> const& except,
                        std::shared_ptr<sse::encoded_event> event) override {
        record(nsp, event->body());
        if (auto host = host_.lock()) host->deliver_remote(nsp, rooms, except, std::move(event));
    }
    void deliver_sequenced(std::string_view nsp, std::vector<std::string> const& rooms,
                           std::vector<std::string> const& except,
                           std::shared_ptr<sse::encoded_event> event, std::uint64_t id) override {
        record(nsp, event->body());
        if (auto host = host_.lock())
            host->deliver_sequenced(nsp, rooms, except, std::move(event), id);
    }
    std::uint64_t last_delivered(std::string_view nsp) const override {
        auto host = host_.lock();
        return host ? host->last_delivered(nsp) : 0;
    }
    void reset_clients(std::string_view nsp, std::vector<std::string> const& rooms,
                       std::string_view reason) override {
        if (auto host = host_.lock()) host->reset_clients(nsp, rooms, reason);
    }
    std::vector<std::pair<std::string, std::string>> local_interests() const override {
        std::vector<std::pair<std::string, std::string>> out;
        if (auto host = host_.lock()) out = host->local_interests();
        for (auto nsp : {"/football", "/cricket"})
            for (auto const& room : fixtures(nsp))
                out.emplace_back(nsp, room);
        return out;
    }

private:
    static std::vector<std::string> const& fixtures(std::string_view nsp) {
        static std::vector<std::string> const none;
        if (nsp == "/football") return sports::football_fixtures();
        if (nsp == "/cricket") return sports::cricket_fixtures();
        return none;
    }

    // `body` is "event: <name>\ndata: <json>\n\n" (one data line: JSON has no raw newline).
    void record(std::string_view nsp, std::string_view body) {
        std::string_view name, data;
        while (!body.empty()) {
            auto eol = body.find('\n');
            auto line = body.substr(0, eol);
            if (line.rfind("event: ", 0) == 0) name = line.substr(7);
            if (line.rfind("data: ", 0) == 0) data = line.substr(6);
            body = eol == std::string_view::npos ? std::string_view() : body.substr(eol + 1);
        }
        auto json_data = json::parse(data, nullptr, false);
        if (name.empty() || name == "announcement" || !json_data.is_object() ||
            !json_data.contains("match") || !json_data["match"].is_string())
            return;
        try {
            board_.record(std::string(nsp.substr(1)), json_data["match"], name, json_data);
        } catch (json::exception const&) {
            // Not one of our events: the board ignores it (the clients still get it).
        }
    }

    std::shared_ptr<sse::adapter> inner_;
    scoreboard& board_;
    std::weak_ptr<sse::adapter_host> host_;
};
#endif

// The library objects and the state every session shares.
struct app {
    app(net::io_context& ioc, config c)
        : cfg(std::move(c))
        , io(ioc.get_executor(), make_options(cfg))
        , football(io.of<sports::football_events>("/football"))
        , cricket(io.of<sports::cricket_events>("/cricket")) {
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
    void publish(Namespace& ns, std::string const& sport, std::string_view room, Event const& e) {
        if (room.empty()) return ns.emit(e);
        board.record(sport, std::string(room), Event::name, json(e));
        ns.to(room).emit(e);
    }

    std::string redis_state() const {
#if SSE_DEMO_WITH_REDIS
        if (redis) return redis->state().connected ? "connected" : "disconnected";
#endif
        return "disabled";
    }

    config cfg;
    sse::server io;
    sse::typed_namespace<sports::football_events>& football;
    sse::typed_namespace<sports::cricket_events>& cricket;
    scoreboard board;
#if SSE_DEMO_WITH_REDIS
    std::shared_ptr<sse::redis_adapter> redis;
#endif
};

//------------------------------------------------------------------------------

// Splits "/a/b/c?x" into {"a","b","c"}.
std::vector<std::string> path_segments(std::string_view target) {
    target = target.substr(0, target.find('?'));
    std::vector<std::string> out;
    std::size_t pos = 1;
    while (pos <= target.size() && target.size() > 1) {
        auto end = std::min(target.find('/', pos), target.size());
        out.push_back(percent_decode(target.substr(pos, end - pos)));
        pos = end + 1;
    }
    return out;
}

template <class Namespace>
void for_namespace(app& a, std::string const& sport, Namespace&& fn) {
    if (sport == "football") fn(a.football);
    if (sport == "cricket") fn(a.cricket);
}

template <class T>
struct events_of;
template <class Events>
struct events_of<sse::typed_namespace<Events>> {
    using type = Events;
};

bool known_sport(std::string const& s) {
    return s == "football" || s == "cricket";
}

// Checks that a room name is usable; "" when it is, else why not.
std::string room_problem(std::string const& match) {
    try {
        sse::validate_room_name(match);
    } catch (std::invalid_argument const& e) {
        return e.what();
    }
    return {};
}

// Names the first field of `data` that does not fit event `E` ("" when all fit).
template <class E>
std::string field_problem(json const& data) {
    auto kind = [](json const& v) {
        if (v.is_number_integer()) return "an integer";
        if (v.is_string()) return "a string";
        return "something else";
    };
    json const shape = E{};
    for (auto const& [key, want] : shape.items()) {
        if (!data.contains(key)) return std::string(E::name) + ": missing field '" + key + "'";
        auto const& got = data[key];
        bool fits = want.is_string() ? got.is_string() : got.is_number_integer();
        if (!fits)
            return std::string(E::name) + ": field '" + key + "' must be " + kind(want) + ", not " +
                   std::string(got.type_name()) + (got.is_number_float() ? " (a fraction)" : "");
    }
    for (auto const& [key, value] : data.items())
        if (!shape.contains(key)) return std::string(E::name) + ": unexpected field '" + key + "'";
    return {};
}

// Rules beyond the JSON shape, e.g. a boundary is worth 4 or 6.
std::string domain_problem(sports::boundary const& b) {
    return b.runs == 4 || b.runs == 6 ? "" : "boundary.runs must be 4 or 6";
}
template <class E>
std::string domain_problem(E const&) {
    return {};
}

class responder {
public:
    responder(app const& a, http::request<http::string_body> const& req)
        : app_(a)
        , req_(req) {}

    http::message_generator text(http::status s, std::string_view type, std::string body) const {
        http::response<http::string_body> res{s, req_.version()};
        res.set(http::field::server, "sse-sports-demo");
        res.set(http::field::content_type, type);
        res.set(http::field::cache_control, "no-store");
        if (!app_.cfg.cors_origin.empty()) {
            res.set(http::field::access_control_allow_origin, app_.cfg.cors_origin);
            res.set(http::field::vary, "Origin");
        }
        res.keep_alive(req_.keep_alive());
        res.body() = std::move(body);
        res.prepare_payload();
        return res;
    }
    http::message_generator json_body(http::status s, json const& body) const {
        return text(s, "application/json", body.dump() + "\n");
    }
    http::message_generator error(http::status s, std::string message, json extra = {}) const {
        json body = {{"error", std::move(message)}, {"status", static_cast<unsigned>(s)}};
        if (extra.is_object()) body.update(extra);
        return json_body(s, body);
    }

private:
    app const& app_;
    http::request<http::string_body> const& req_;
};

// POST /emit/{sport}[/{match}]
http::message_generator handle_emit(app& a, http::request<http::string_body> const& req,
                                    std::vector<std::string> const& seg) {
    responder r(a, req);
    std::string const& sport = seg[1];
    if (!known_sport(sport))
        return r.error(http::status::not_found, "unknown sport '" + sport + "'");
    if (!a.cfg.admin_token.empty()) {
        auto auth = req[http::field::authorization];
        bool ok = auth.size() > 7 && auth.substr(0, 7) == "Bearer " &&
                  same_secret(auth.substr(7), a.cfg.admin_token);
        if (!ok) {
            auto res = http::response<http::string_body>{http::status::unauthorized, req.version()};
            res.set(http::field::content_type, "application/json");
            res.set(http::field::www_authenticate, "Bearer");
            res.body() =
                R"({"error":"unauthorized: emits need Authorization: Bearer <admin token>","status":401})"
                "\n";
            res.keep_alive(req.keep_alive());
            res.prepare_payload();
            return res;
        }
    }
    std::string match = seg.size() > 2 ? seg[2] : std::string();
    if (seg.size() > 2) {
        if (auto why = room_problem(match); !why.empty())
            return r.error(http::status::bad_request, "bad match name: " + why);
    }

    json body;
    try {
        body = json::parse(req.body());
    } catch (json::parse_error const& e) {
        return r.error(http::status::bad_request, std::string("invalid JSON: ") + e.what());
    }
    if (!body.is_object() || !body.contains("event") || !body["event"].is_string())
        return r.error(
            http::status::bad_request,
            R"(the body must be {"event": "<name>", "data": {...}}: "event" is missing or not a string)");
    if (!body.contains("data") || !body["data"].is_object())
        return r.error(
            http::status::bad_request,
            R"(the body must be {"event": "<name>", "data": {...}}: "data" is missing or not an object)");
    std::string const event = body["event"];
    json const& data = body["data"];
    if (!match.empty() && data.contains("match") && data["match"] != match)
        return r.error(http::status::bad_request,
                       "data.match must name the match of the URL ('" + match + "')");

    // The record for /matches: the URL's match, or data.match for a sport-wide emit.
    std::string board_match = match;
    if (board_match.empty() && data.contains("match") && data["match"].is_string() &&
        room_problem(data["match"]).empty())
        board_match = data["match"];

    std::string why;
    bool ok = false;
    json names = json::array();
    for_namespace(a, sport, [&](auto& ns) {
        using list = typename events_of<std::decay_t<decltype(ns)>>::type;
        for (auto n : list::names())
            names.push_back(n);
        bool known = list::visit(event, [&](auto tag) {
            // Decode first, so that the board records only what is really emitted, and
            // before the emit, so that a /matches read after an event already includes it.
            using event_type = typename decltype(tag)::type;
            event_type e{};
            why = field_problem<event_type>(data);
            if (!why.empty()) return;
            if (!sse::decode_event(data, e, why)) return;
            why = domain_problem(e);
            if (!why.empty()) return;
            if (!board_match.empty() && event != "announcement")
                a.board.record(sport, board_match, event, data);
            if (!match.empty())
                ok = ns.emit_checked(ns.untyped().to(match), event, data, why);
            else
                ok = ns.emit_checked(event, data, why);
        });
        if (!known) why = "unknown event '" + event + "' for " + sport;
    });
    if (!ok) return r.error(http::status::bad_request, why, {{"event", event}, {"events", names}});
    return r.json_body(http::status::accepted,
                       {{"status", "accepted"},
                        {"event", event},
                        {"sport", sport},
                        {"room", match.empty() ? json(nullptr) : json(match)}});
}

// GET /metrics
std::string metrics_text(app& a) {
    std::string out;
    auto family = [&](char const* name, char const* type, char const* help, auto value) {
        out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
        for (auto const* ns : {&a.football.untyped(), &a.cricket.untyped()}) {
            auto s = ns->stats();
            out += std::string(name) + "{namespace=\"" + ns->name() + "\"} " +
                   std::to_string(value(s)) + "\n";
        }
    };
    using stats = sse::namespace_stats;
    family("sse_connected_clients", "gauge", "Clients connected now.",
           [](stats const& s) { return s.clients; });
    family("sse_rooms", "gauge", "Rooms with at least one client on this node.",
           [](stats const& s) { return s.rooms; });
    family("sse_connections_total", "counter", "Clients admitted since start.",
           [](stats const& s) { return s.connections; });
    family("sse_rejected_total", "counter", "Clients refused (auth, closed).",
           [](stats const& s) { return s.rejected; });
    family("sse_events_emitted_total", "counter", "Events emitted through the namespace.",
           [](stats const& s) { return s.events_emitted; });
    family("sse_deliveries_total", "counter", "Events queued to a client, one per recipient.",
           [](stats const& s) { return s.deliveries; });
    family("sse_slow_consumers_dropped_total", "counter",
           "Clients disconnected for falling too far behind.",
           [](stats const& s) { return s.slow_consumers; });
    out += "# HELP sports_matches Matches known to this node.\n# TYPE sports_matches gauge\n";
    for (auto sport : {"football", "cricket"})
        out += std::string("sports_matches{sport=\"") + sport + "\"} " +
               std::to_string(a.board.size(sport)) + "\n";
    auto state = a.redis_state();
    out += "# HELP sse_redis_adapter_up Whether the Redis adapter is connected (1), "
           "disconnected (0), or not used (-1).\n# TYPE sse_redis_adapter_up gauge\n";
    out += std::string("sse_redis_adapter_up ") +
           (state == "connected"  ? "1"
            : state == "disabled" ? "-1"
                                  : "0") +
           "\n";
#if SSE_DEMO_WITH_REDIS
    if (a.redis) {
        auto st = a.redis->state();
        auto counter = [&](char const* name, char const* help, std::uint64_t v) {
            out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " counter\n" +
                   name + " " + std::to_string(v) + "\n";
        };
        counter("sse_redis_reconnects_total", "Redis connections re-established.", st.reconnects);
        counter("sse_redis_connect_failures_total", "Failed Redis connection attempts.",
                st.connect_failures);
        counter("sse_redis_published_total", "Emits published to Redis.", st.published);
        counter("sse_redis_received_total", "Messages received from Redis.", st.received);
        counter("sse_redis_delivered_total", "Emits from other nodes delivered here.",
                st.delivered);
        counter("sse_redis_dropped_total", "Emits not published (pending bound reached).",
                st.dropped);
        counter("sse_redis_malformed_total", "Undecodable messages ignored.", st.malformed);
        out += "# HELP sse_redis_pending Emits waiting to be published.\n# TYPE sse_redis_pending "
               "gauge\nsse_redis_pending " +
               std::to_string(st.pending) + "\n";
    }
#endif
    return out;
}

// Everything that is not a stream: answers one request.
http::message_generator handle_request(app& a, http::request<http::string_body> const& req) {
    responder r(a, req);
    auto seg = path_segments(req.target());
    bool get = req.method() == http::verb::get;
    auto only = [&](bool allowed, char const* methods) -> std::optional<http::message_generator> {
        if (allowed) return std::nullopt;
        auto res =
            http::response<http::string_body>{http::status::method_not_allowed, req.version()};
        res.set(http::field::allow, methods);
        res.set(http::field::content_type, "application/json");
        res.body() = R"({"error":"method not allowed","status":405})"
                     "\n";
        res.keep_alive(req.keep_alive());
        res.prepare_payload();
        return http::message_generator(std::move(res));
    };

    if (req.method() == http::verb::options && !a.cfg.cors_origin.empty()) {
        // The stream routes' methods and headers, and POST with Content-Type for /emit.
        auto res = sse::cors_preflight(*a.io.get_options().cors, req, "POST", "Content-Type");
        res.keep_alive(req.keep_alive());
        return res;
    }

    if (seg.empty() || (seg.size() == 2 && seg[0] == "static")) {
        if (auto m = only(get, "GET")) return std::move(*m);
        auto const* asset = sports_static::find(seg.empty() ? "index.html" : seg[1]);
        if (!asset) return r.error(http::status::not_found, "no such file");
        return r.text(http::status::ok, asset->type, std::string(asset->body));
    }
    if (seg[0] == "emit" && (seg.size() == 2 || seg.size() == 3)) {
        if (auto m = only(req.method() == http::verb::post, "POST")) return std::move(*m);
        return handle_emit(a, req, seg);
    }
    if (seg.size() == 1 && seg[0] == "matches") {
        if (auto m = only(get, "GET")) return std::move(*m);
        return r.json_body(http::status::ok, a.board.snapshot());
    }
    if (seg.size() == 1 && seg[0] == "healthz") {
        if (auto m = only(get, "GET")) return std::move(*m);
        return r.json_body(http::status::ok, {{"status", "ok"},
                                              {"redis", a.redis_state()},
                                              {"clients",
                                               {{"football", a.football.client_count()},
                                                {"cricket", a.cricket.client_count()}}}});
    }
    if (seg.size() == 1 && seg[0] == "metrics") {
        if (auto m = only(get, "GET")) return std::move(*m);
        return r.text(http::status::ok, "text/plain; version=0.0.4; charset=utf-8",
                      metrics_text(a));
    }
    if (seg[0] == "stream") {
        if (seg.size() == 3 && !known_sport(seg[1]))
            return r.error(http::status::not_found, "unknown sport '" + seg[1] + "'");
        if (seg.size() == 3) return std::move(*only(false, "GET, HEAD"));
    }
    return r.error(http::status::not_found, "not found");
}

//------------------------------------------------------------------------------

// One HTTP connection: reads requests and answers them, until a stream request hands the
// socket over to the library.
class session : public std::enable_shared_from_this<session> {
public:
    session(tcp::socket&& socket, std::shared_ptr<app> a)
        : stream_(std::move(socket))
        , app_(std::move(a)) {}

    void run() {
        net::dispatch(stream_.get_executor(),
                      beast::bind_front_handler(&session::do_read, shared_from_this()));
    }

private:
    void do_read() {
        parser_.emplace();
        parser_->body_limit(max_body);
        stream_.expires_after(read_timeout);
        http::async_read(stream_, buffer_, *parser_,
                         beast::bind_front_handler(&session::on_read, shared_from_this()));
    }

    void on_read(beast::error_code ec, std::size_t) {
        if (ec == http::error::end_of_stream) return do_close();
        if (ec == http::error::body_limit) {
            responder r(*app_, parser_->get());
            return send(r.error(http::status::payload_too_large,
                                "request body larger than " + std::to_string(max_body) + " bytes"),
                        false);
        }
        if (ec == beast::error::timeout) return do_close();
        if (ec) return fail(ec, "read");

        auto& req = parser_->get();
        auto seg = path_segments(req.target());
        if (seg.size() == 3 && seg[0] == "stream" && known_sport(seg[1]) &&
            (req.method() == http::verb::get || req.method() == http::verb::head))
            return do_stream(seg[1], seg[2]); // HEAD: the library answers the head and closes
        send(handle_request(*app_, req), req.keep_alive());
    }

    // Hands the connection to the sport's namespace; the client joins the match's room.
    void do_stream(std::string const& sport, std::string const& match) {
        if (auto why = room_problem(match); !why.empty()) {
            responder r(*app_, parser_->get());
            return send(r.error(http::status::bad_request, "bad match name: " + why), false);
        }
        for_namespace(*app_, sport, [&](auto& ns) {
            auto client = ns.connect(std::move(stream_), parser_->release());
            client->join(match);
        });
    }

    void send(http::message_generator&& msg, bool keep_alive) {
        beast::async_write(
            stream_, std::move(msg),
            beast::bind_front_handler(&session::on_write, shared_from_this(), keep_alive));
    }

    void on_write(bool keep_alive, beast::error_code ec, std::size_t) {
        if (ec) return fail(ec, "write");
        if (!keep_alive) return do_close();
        do_read();
    }

    // Sends FIN, then drains what the peer still sends (e.g. the rest of a refused body) so
    // that it reads our answer instead of a reset.
    void do_close() {
        beast::error_code ec;
        stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
        stream_.expires_after(std::chrono::seconds(5));
        drain_ = std::make_unique<std::array<char, 4096>>();
        stream_.async_read_some(net::buffer(*drain_),
                                beast::bind_front_handler(&session::on_drain, shared_from_this()));
    }

    void on_drain(beast::error_code ec, std::size_t) {
        if (!ec)
            return stream_.async_read_some(
                net::buffer(*drain_),
                beast::bind_front_handler(&session::on_drain, shared_from_this()));
        stream_.close();
    }

    beast::tcp_stream stream_;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
    std::shared_ptr<app> app_;
    // Only while closing: a session that becomes an event stream never needs it, and 4 KiB
    // in every session in flight fragments the heap between the clients' long-lived objects.
    std::unique_ptr<std::array<char, 4096>> drain_;
};

//------------------------------------------------------------------------------

// Accepts connections and starts a session for each.
class listener : public std::enable_shared_from_this<listener> {
public:
    listener(net::io_context& ioc, tcp::endpoint endpoint, std::shared_ptr<app> a)
        : ioc_(ioc)
        , acceptor_(net::make_strand(ioc))
        , app_(std::move(a)) {
        acceptor_.open(endpoint.protocol());
        acceptor_.set_option(net::socket_base::reuse_address(true));
        acceptor_.bind(endpoint);
        acceptor_.listen(net::socket_base::max_listen_connections);
    }

    tcp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }

    void run() { do_accept(); }

    void stop() {
        net::dispatch(acceptor_.get_executor(), [self = shared_from_this()] {
            beast::error_code ec;
            self->acceptor_.close(ec);
        });
    }

private:
    void do_accept() {
        acceptor_.async_accept(net::make_strand(ioc_),
                               beast::bind_front_handler(&listener::on_accept, shared_from_this()));
    }

    void on_accept(beast::error_code ec, tcp::socket socket) {
        if (ec == net::error::operation_aborted) return;
        if (ec)
            fail(ec, "accept");
        else
            std::make_shared<session>(std::move(socket), app_)->run();
        do_accept();
    }

    net::io_context& ioc_;
    tcp::acceptor acceptor_;
    std::shared_ptr<app> app_;
};

//------------------------------------------------------------------------------

// --simulate: the built-in feeds, one step a second, emitted in-process.
class simulation : public std::enable_shared_from_this<simulation> {
public:
    simulation(net::io_context& ioc, std::shared_ptr<app> a)
        : timer_(net::make_strand(ioc))
        , app_(std::move(a))
        , football_(sports::football_fixtures())
        , cricket_(sports::cricket_fixtures()) {}

    void run() {
        for (auto const& id : football_.ids())
            app_->board.add("football", id);
        for (auto const& id : cricket_.ids())
            app_->board.add("cricket", id);
        on_tick({});
    }
    void stop() {
        net::dispatch(timer_.get_executor(),
                      [self = shared_from_this()] { self->timer_.cancel(); });
    }

private:
    void on_tick(beast::error_code ec) {
        if (ec) return;
        auto& a = *app_;
        football_.tick([&](std::string_view room, auto const& e) {
            a.publish(a.football, "football", room, e);
        });
        cricket_.tick([&](std::string_view room, auto const& e) {
            a.publish(a.cricket, "cricket", room, e);
        });
        timer_.expires_after(std::chrono::seconds(1));
        timer_.async_wait(beast::bind_front_handler(&simulation::on_tick, shared_from_this()));
    }

    net::steady_timer timer_;
    std::shared_ptr<app> app_;
    sports::football_simulator football_;
    sports::cricket_simulator cricket_;
};

//------------------------------------------------------------------------------

void usage(std::ostream& os) {
    os << "Usage: sports_demo [options]\n"
          "  --port N            port to listen on (default 8080; 0 picks a free one)\n"
          "  --bind ADDR         address to listen on (default 127.0.0.1)\n"
          "  --redis URL         share emits with other nodes through Redis, e.g. "
          "redis://127.0.0.1:6379\n"
          "  --simulate          run the built-in football and cricket feeds in-process\n"
          "  --heartbeat-ms N    ': ping' on every stream this often (default 15000; 0 disables)\n"
          "  --cors-origin O     allow this origin (e.g. https://scores.example, or *)\n"
          "  --auth-token T      stream clients must send 'Authorization: Bearer T' or ?token=T\n"
          "  --admin-token T     POST /emit needs 'Authorization: Bearer T'\n"
          "  --threads N         threads running the server (default 1)\n"
          "  --max-clients N     streams per sport beyond which fans are told to come back "
          "later (default 0: no limit)\n"
          "  --admit-rate R      streams admitted per second per sport, bursts of R; the rest "
          "are told to come back later (default 0: no limit)\n"
          "  --help              this text\n";
}

// Parses the command line; returns an exit code when the program should stop.
std::optional<int> parse(int argc, char** argv, config& cfg) {
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        std::optional<std::string> inline_value;
        if (auto eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string::npos) {
            inline_value = arg.substr(eq + 1);
            arg.resize(eq);
        }
        auto value = [&]() -> std::string {
            if (inline_value) return *inline_value;
            if (i + 1 >= argc) throw std::invalid_argument(arg + " needs a value");
            return argv[++i];
        };
        auto number = [&](long lo, long hi) {
            auto v = value();
            std::size_t used = 0;
            long n = std::stol(v, &used);
            if (used != v.size() || n < lo || n > hi)
                throw std::invalid_argument(arg + ": '" + v + "' is not a number in [" +
                                            std::to_string(lo) + ", " + std::to_string(hi) + "]");
            return n;
        };
        if (arg == "--help" || arg == "-h") {
            usage(std::cout);
            return 0;
        } else if (arg == "--port") {
            cfg.port = static_cast<unsigned short>(number(0, 65535));
        } else if (arg == "--bind") {
            cfg.bind = value();
        } else if (arg == "--redis") {
            cfg.redis = value();
        } else if (arg == "--simulate") {
            cfg.simulate = true;
        } else if (arg == "--heartbeat-ms") {
            cfg.heartbeat_ms = number(0, 24L * 3600 * 1000);
        } else if (arg == "--cors-origin") {
            cfg.cors_origin = value();
        } else if (arg == "--auth-token") {
            cfg.auth_token = value();
        } else if (arg == "--admin-token") {
            cfg.admin_token = value();
        } else if (arg == "--threads") {
            cfg.threads = static_cast<int>(number(1, 256));
        } else if (arg == "--max-clients") {
            cfg.max_clients = static_cast<std::size_t>(number(0, 100000000));
        } else if (arg == "--admit-rate") {
            auto v = value();
            std::size_t used = 0;
            double r = std::stod(v, &used);
            if (used != v.size() || !(r >= 0) || r > 1e6)
                throw std::invalid_argument(arg + ": '" + v +
                                            "' is not a rate in [0, 1000000] per second");
            cfg.admit_rate = r;
        } else {
            throw std::invalid_argument("unknown option '" + arg + "'");
        }
    }
    return std::nullopt;
}

int main(int argc, char** argv) {
    config cfg;
    try {
        if (auto code = parse(argc, argv, cfg)) return *code;
    } catch (std::exception const& e) {
        std::cerr << "sports_demo: " << e.what() << "\n";
        usage(std::cerr);
        return 2;
    }
#if !SSE_DEMO_WITH_REDIS
    if (!cfg.redis.empty()) {
        std::cerr << "sports_demo: --redis: this sports_demo was built without Redis support "
                     "(hiredis or the sse::redis target was not found when it was configured)\n";
        return 2;
    }
#endif

    net::io_context ioc{cfg.threads};
    auto a = std::make_shared<app>(ioc, cfg);
#if SSE_DEMO_WITH_REDIS
    if (!cfg.redis.empty()) {
        sse::redis_options ro;
        ro.url = cfg.redis;
        a->redis = std::make_shared<sse::redis_adapter>(ioc.get_executor(), ro);
        a->io.adapter(std::make_shared<scoreboard_tap>(a->redis, a->board));
    }
#endif

    std::shared_ptr<listener> l;
    try {
        l = std::make_shared<listener>(ioc,
                                       tcp::endpoint{net::ip::make_address(cfg.bind), cfg.port}, a);
    } catch (std::exception const& e) {
        std::cerr << "sports_demo: cannot listen on " << cfg.bind << ":" << cfg.port << ": "
                  << e.what() << "\n";
        return 1;
    }
    auto ep = l->local_endpoint();
    std::cout << "listening on " << ep.address().to_string() << ":" << ep.port() << std::endl;
    std::cout << "open http://" << ep.address().to_string() << ":" << ep.port() << "/ in a browser"
              << (cfg.simulate ? " (simulated matches are live)" : "")
              << (cfg.redis.empty() ? "" : ", sharing events through " + cfg.redis) << std::endl;
    l->run();

    std::shared_ptr<simulation> sim;
    if (cfg.simulate) {
        sim = std::make_shared<simulation>(ioc, a);
        sim->run();
    }

    // Ctrl+C: stop accepting, tell every stream when to come back, then stop.
    net::signal_set signals(ioc, SIGINT, SIGTERM);
    net::steady_timer stop_timer(ioc);
    signals.async_wait([&](beast::error_code, int) {
        std::cout << "shutting down" << std::endl;
        l->stop();
        if (sim) sim->stop();
        a->io.close();
        stop_timer.expires_after(a->io.get_options().close_timeout +
                                 std::chrono::milliseconds(500));
        stop_timer.async_wait([&](beast::error_code) { ioc.stop(); });
    });

    std::vector<std::thread> pool;
    for (int i = 1; i < cfg.threads; ++i)
        pool.emplace_back([&ioc] { ioc.run(); });
    ioc.run();
    for (auto& t : pool)
        t.join();
    return 0;
}
