// routes.hpp - what the demo does with one parsed request, with no socket: either an answer
// to write, an answer that comes later (it asks the other nodes), or "this is a stream of
// sport S for match M" for the session to hand to sse.
// The session (http_session.hpp) and the fuzz target (tests/fuzz/fuzz_demo_http.cpp) both
// drive it; nothing here may throw on what a peer sends.
//
//   GET  /                            the web page (assets embedded at build time)
//   GET  /static/{file}               its CSS and JavaScript
//   GET  /stream/{football|cricket}/{match}   SSE: the client joins room {match}
//   HEAD /stream/{football|cricket}/{match}   the head the GET would get, no body
//   OPTIONS (any route, with --cors-origin)   the CORS preflight answer (sse::cors_preflight)
//   POST /emit/{sport}/{match}        {"event":"score_update","data":{...}} to one match (202)
//   POST /emit/{sport}                the same, to every client of the sport (202)
//   GET  /matches                     the matches known so far, with their scores and how many
//                                     watch each ("watching", on every node) (JSON)
//   GET  /admin/{sport}/{match}/clients          the match room's clients on every node (JSON)
//   POST /admin/{sport}/{match}/disconnect       ends their streams, on every node (202)
//   POST /admin/{sport}/{match}/join?room=R      they join room R, on every node (202)
//   POST /admin/{sport}/{match}/leave?room=R     they leave room R, on every node (202)
//                                     (/emit and /admin need --admin-token's token when it is set)
//   GET  /healthz                     200 while serving
//   GET  /metrics                     Prometheus text
#ifndef SPORTS_ROUTES_HPP
#define SPORTS_ROUTES_HPP

#include "admin_api.hpp"
#include "answers.hpp"
#include "app.hpp"
#include "emit_api.hpp"
#include "metrics.hpp"
#include "static_assets.hpp" // generated from static/ by embed_static.cmake

#include <boost/beast/http.hpp>

#include <algorithm>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace sports {

/// The largest request body read (an emit); a larger one is answered 413.
constexpr std::size_t max_body = 64 * 1024;

/// The limits every request is read with (the header limit is Beast's default, 8 KiB).
inline void limit_request(http::request_parser<http::string_body>& parser) {
    parser.body_limit(max_body);
}

/// The answer to a request whose body passed `max_body` (what was read of it is in `req`);
/// the connection closes after it (the rest of the body is not read).
inline http::message_generator body_too_large(app const& a, request const& req) {
    return responder(a, req, true)
        .error(http::status::payload_too_large,
               "request body larger than " + std::to_string(max_body) + " bytes");
}

inline std::string percent_decode(std::string_view in) {
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

/// Splits "/a/b/c?x" into {"a","b","c"}, each percent-decoded.
inline std::vector<std::string> path_segments(std::string_view target) {
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

/// The value of the first `name=` parameter of the target's query, percent-decoded; nothing
/// when there is none.
inline std::optional<std::string> query_param(std::string_view target, std::string_view name) {
    auto q = target.find('?');
    if (q == std::string_view::npos) return std::nullopt;
    auto query = target.substr(q + 1);
    while (!query.empty()) {
        auto end = std::min(query.find('&'), query.size());
        auto pair = query.substr(0, end);
        auto eq = pair.find('=');
        if (pair.substr(0, eq) == name)
            return percent_decode(eq == std::string_view::npos ? std::string_view()
                                                               : pair.substr(eq + 1));
        query.remove_prefix(std::min(end + 1, query.size()));
    }
    return std::nullopt;
}

/// A request for an event stream: the session hands its socket to `sport`'s namespace, and
/// the client joins room `match` (a valid room name).
struct stream_route {
    std::string sport;
    std::string match;
};

/// What to do with one request: write an answer now, write one later, or hand over a stream.
using route = std::variant<http::message_generator, deferred_answer, stream_route>;

/// Everything that is not a stream: answers one request.
inline route answer(app& a, request const& req, std::vector<std::string> const& seg) {
    responder r(a, req);
    bool get = req.method() == http::verb::get;
    auto only = [&](bool allowed, char const* methods) -> std::optional<http::message_generator> {
        if (allowed) return std::nullopt;
        return method_not_allowed(req, methods);
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
        return r.json_body(http::status::ok, a.matches());
    }
    if (seg[0] == "admin" && seg.size() >= 3) {
        auto next = handle_admin(a, req, seg, query_param(req.target(), "room"));
        return std::visit([](auto& x) -> route { return std::move(x); }, next);
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
            return r.error(http::status::not_found, "unknown sport '" + printable(seg[1]) + "'");
        if (seg.size() == 3) return std::move(*only(false, "GET, HEAD"));
    }
    return r.error(http::status::not_found, "not found");
}

/// Routes one request: a stream to hand over, or the answer to write.
inline route route_request(app& a, request const& req) {
    auto seg = path_segments(req.target());
    // HEAD too: the library answers the head the GET would get, then closes.
    if (seg.size() == 3 && seg[0] == "stream" && known_sport(seg[1]) &&
        (req.method() == http::verb::get || req.method() == http::verb::head)) {
        if (auto why = room_problem(seg[2]); !why.empty())
            return responder(a, req, true)
                .error(http::status::bad_request, "bad match name: " + why);
        return stream_route{seg[1], seg[2]};
    }
    return answer(a, req, seg);
}

} // namespace sports

#endif
