// admin_api.hpp - /admin/{sport}/{match}/...: the clients of a match's room on every node, and
// what to do with them there (the library's cluster-wide operations: with --redis they act on
// every node sharing the Redis server, else on this node alone).
//
//   GET  /admin/{sport}/{match}/clients         200 {"clients":[{"id","node","rooms"}],
//                                                    "missingNodes":[...]}
//   POST /admin/{sport}/{match}/disconnect      202: every client of the room is disconnected
//   POST /admin/{sport}/{match}/join?room=R     202: every client of the room joins R
//   POST /admin/{sport}/{match}/leave?room=R    202: every client of the room leaves R
#ifndef SPORTS_ADMIN_API_HPP
#define SPORTS_ADMIN_API_HPP

#include "answers.hpp"
#include "app.hpp"
#include "emit_api.hpp" // room_problem

#include <sse/server.hpp>

#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace sports {

/// `fetch_clients`' answer as GET /admin/.../clients shows it.
inline json clients_json(sse::fetch_result const& r) {
    json clients = json::array();
    for (auto const& c : r.clients)
        clients.push_back({{"id", c.id}, {"node", c.node}, {"rooms", c.rooms}});
    return {{"clients", std::move(clients)}, {"missingNodes", r.missing_nodes}};
}

/// GET /admin/{sport}/{match}/clients: answered once every node has (or the library's
/// request timeout, options::cluster.request_timeout, has passed).
inline deferred_answer fetch_clients_later(app& a, request const& req, std::string sport,
                                           std::string match) {
    // The request's head alone, for the answer's version, keep-alive and HEAD rule.
    auto head = std::make_shared<request const>(req.base());
    return {[&a, head, sport = std::move(sport),
             match = std::move(match)](deferred_answer::done_fn done) {
        auto reply = [&a, head, done = std::move(done)](sse::fetch_result r) {
            std::optional<http::message_generator> res;
            try {
                res.emplace(responder(a, *head).json_body(http::status::ok, clients_json(r)));
            } catch (std::exception const&) {
                ++a.request_errors;
                res.emplace(responder(a, *head, true)
                                .error(http::status::internal_server_error, "internal error"));
            }
            done(std::move(*res));
        };
        a.for_namespace(sport,
                        [&](auto& ns) { ns.untyped().in(match).fetch_clients(std::move(reply)); });
    }};
}

/// /admin/{sport}/{match}/{clients|disconnect|join|leave}; `seg` is the path, split and
/// decoded, `room` the query's room parameter, decoded.
inline std::variant<http::message_generator, deferred_answer>
handle_admin(app& a, request const& req, std::vector<std::string> const& seg,
             std::optional<std::string> const& room) {
    responder r(a, req);
    std::string const action = seg.size() == 4 ? seg[3] : std::string();
    bool const get = action == "clients";
    if (!get && action != "disconnect" && action != "join" && action != "leave")
        return r.error(http::status::not_found, "not found");
    if (req.method() != (get ? http::verb::get : http::verb::post))
        return method_not_allowed(req, get ? "GET" : "POST");
    std::string const& sport = seg[1];
    if (!known_sport(sport))
        return r.error(http::status::not_found, "unknown sport '" + printable(sport) + "'");
    if (auto refused = admin_refusal(a, req, "admin routes")) return std::move(*refused);
    std::string const& match = seg[2];
    if (auto why = room_problem(match); !why.empty())
        return r.error(http::status::bad_request, "bad match name: " + why);

    if (get) return fetch_clients_later(a, req, sport, match);

    json accepted = {
        {"status", "accepted"}, {"action", action}, {"sport", sport}, {"match", match}};
    if (action == "disconnect") {
        a.for_namespace(sport, [&](auto& ns) { ns.untyped().in(match).disconnect(); });
        return r.json_body(http::status::accepted, accepted);
    }
    if (!room) return r.error(http::status::bad_request, action + " needs the room: ?room=<name>");
    if (auto why = room_problem(*room); !why.empty())
        return r.error(http::status::bad_request, "bad room name: " + why);
    a.for_namespace(sport, [&](auto& ns) {
        if (action == "join")
            ns.untyped().in(match).join(*room);
        else
            ns.untyped().in(match).leave(*room);
    });
    accepted["room"] = *room;
    return r.json_body(http::status::accepted, accepted);
}

} // namespace sports

#endif
