// emit_api.hpp - POST /emit/{sport}[/{match}]: an event from outside (a feed, a curl), checked
// against the sport's typed events before anything is sent.
#ifndef SPORTS_EMIT_API_HPP
#define SPORTS_EMIT_API_HPP

#include "answers.hpp"
#include "app.hpp"

#include <sse/server.hpp>

#include <nlohmann/json.hpp>

#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

namespace sports {

/// Checks that a room name is usable; "" when it is, else why not (quoting nothing raw).
inline std::string room_problem(std::string const& match) {
    try {
        sse::validate_room_name(match);
    } catch (std::invalid_argument const& e) {
        return printable(e.what());
    }
    return {};
}

template <class T>
struct events_of;
template <class Events>
struct events_of<sse::typed_namespace<Events>> {
    using type = Events;
};

/// Names the first field of `data` that does not fit event `E` ("" when all fit).
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
        if (!shape.contains(key))
            return std::string(E::name) + ": unexpected field '" + printable(key) + "'";
    return {};
}

/// Rules beyond the JSON shape, e.g. a boundary is worth 4 or 6.
inline std::string domain_problem(boundary const& b) {
    return b.runs == 4 || b.runs == 6 ? "" : "boundary.runs must be 4 or 6";
}
template <class E>
std::string domain_problem(E const&) {
    return {};
}

/// POST /emit/{sport}[/{match}]; `seg` is the path, split and decoded.
inline http::message_generator handle_emit(app& a, request const& req,
                                           std::vector<std::string> const& seg) {
    responder r(a, req);
    std::string const& sport = seg[1];
    if (!known_sport(sport))
        return r.error(http::status::not_found, "unknown sport '" + printable(sport) + "'");
    if (auto refused = admin_refusal(a, req, "emits")) return std::move(*refused);
    std::string match = seg.size() > 2 ? seg[2] : std::string();
    if (seg.size() > 2) {
        if (auto why = room_problem(match); !why.empty())
            return r.error(http::status::bad_request, "bad match name: " + why);
    }

    json body;
    try {
        body = json::parse(req.body());
    } catch (json::exception const& e) {
        // parse_error quotes the bytes it read (maybe not UTF-8); out_of_range is a number
        // like 1e400 that no double holds.
        return r.error(http::status::bad_request, "invalid JSON: " + printable(e.what()));
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

    std::string why;
    bool ok = false;
    json names = json::array();
    a.for_namespace(sport, [&](auto& ns) {
        using list = typename events_of<std::decay_t<decltype(ns)>>::type;
        for (auto n : list::names())
            names.push_back(n);
        bool known = list::visit(event, [&](auto tag) {
            // Decoded first: what is not one of the sport's events is a 400, never sent.
            // The app's tap records what is sent for /matches.
            using event_type = typename decltype(tag)::type;
            event_type e{};
            why = field_problem<event_type>(data);
            if (!why.empty()) return;
            if (!sse::decode_event(data, e, why)) return;
            why = domain_problem(e);
            if (!why.empty()) return;
            try {
                if (!match.empty())
                    ok = ns.emit_checked(ns.untyped().to(match), event, data, why);
                else
                    ok = ns.emit_checked(event, data, why);
            } catch (std::logic_error const& e) {
                // The library refuses at the call what it cannot send (an event too large for
                // a client's queue, say): the sender hears why.
                why = e.what();
            }
        });
        if (!known) why = "unknown event '" + printable(event) + "' for " + sport;
    });
    if (!ok)
        return r.error(http::status::bad_request, printable(why),
                       {{"event", event}, {"events", names}});
    return r.json_body(http::status::accepted,
                       {{"status", "accepted"},
                        {"event", event},
                        {"sport", sport},
                        {"room", match.empty() ? json(nullptr) : json(match)}});
}

} // namespace sports

#endif
