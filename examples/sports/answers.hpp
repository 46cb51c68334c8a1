// answers.hpp - the demo's HTTP answers, built so that they cannot throw whatever the request
// held: JSON is dumped with invalid UTF-8 replaced, and text quoted from the peer is made
// valid UTF-8 and bounded before it goes into an error message.
#ifndef SPORTS_ANSWERS_HPP
#define SPORTS_ANSWERS_HPP

#include "app.hpp"

#include <sse/event.hpp>

#include <boost/beast/http.hpp>

#include <nlohmann/json.hpp>

#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace sports {

namespace http = boost::beast::http;
using request = http::request<http::string_body>;

/** `text` as it may appear in an answer: each byte that is not part of valid UTF-8 becomes
    U+FFFD, and more than `max_bytes` is cut (at a character boundary) and ends in "...".
    Peer input (a path segment, a parser's message quoting the body) goes through this before
    it is quoted back. */
inline std::string printable(std::string_view text, std::size_t max_bytes = 200) {
    std::string out;
    out.reserve(std::min(text.size(), max_bytes) + 3);
    for (std::size_t i = 0; i < text.size();) {
        if (out.size() >= max_bytes) {
            out += "...";
            break;
        }
        auto const c = static_cast<unsigned char>(text[i]);
        std::size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : 4;
        if (len <= text.size() - i && sse::is_valid_utf8(text.substr(i, len))) {
            out.append(text.data() + i, len);
            i += len;
        } else {
            out += "\xEF\xBF\xBD"; // U+FFFD REPLACEMENT CHARACTER
            ++i;
        }
    }
    return out;
}

/// `j` as JSON text; invalid UTF-8 in its strings becomes U+FFFD instead of a type_error.
inline std::string dump_json(nlohmann::json const& j) {
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

/// Sets the Content-Length of `res`; the answer to a HEAD keeps it but sends no body (a body
/// would be read as the start of the next response on the connection).
inline http::message_generator finish(http::response<http::string_body>&& res, request const& req) {
    res.prepare_payload();
    if (req.method() == http::verb::head) res.body().clear();
    return std::move(res);
}

/// Builds the answers to one request (its HTTP version, keep-alive, CORS headers).
class responder {
public:
    /// The answers keep the connection open as the request asks, unless `close` is set.
    responder(app const& a, request const& req, bool close = false)
        : app_(a)
        , req_(req)
        , keep_alive_(!close && req.keep_alive()) {}

    http::message_generator text(http::status s, std::string_view type, std::string body) const {
        http::response<http::string_body> res{s, req_.version()};
        res.set(http::field::server, "sse-sports-demo");
        res.set(http::field::content_type, type);
        res.set(http::field::cache_control, "no-store");
        if (!app_.cfg.cors_origin.empty()) {
            res.set(http::field::access_control_allow_origin, app_.cfg.cors_origin);
            res.set(http::field::vary, "Origin");
        }
        res.keep_alive(keep_alive_);
        res.body() = std::move(body);
        return finish(std::move(res), req_);
    }
    http::message_generator json_body(http::status s, nlohmann::json const& body) const {
        return text(s, "application/json", dump_json(body) + "\n");
    }
    /// `{"error": message, "status": s, ...extra}`; quote peer input with `printable`.
    http::message_generator error(http::status s, std::string message,
                                  nlohmann::json extra = {}) const {
        nlohmann::json body = {{"error", std::move(message)}, {"status", static_cast<unsigned>(s)}};
        if (extra.is_object()) body.update(extra);
        return json_body(s, body);
    }

private:
    app const& app_;
    request const& req_;
    bool keep_alive_;
};

/// An answer with a fixed JSON body and its own headers (405, the admin routes' 401).
inline http::message_generator
fixed_json(request const& req, http::status s, std::string_view body,
           std::initializer_list<std::pair<http::field, char const*>> headers = {}) {
    http::response<http::string_body> res{s, req.version()};
    for (auto const& [field, value] : headers)
        res.set(field, value);
    res.set(http::field::content_type, "application/json");
    res.body() = std::string(body);
    res.keep_alive(req.keep_alive());
    return finish(std::move(res), req);
}

/** An answer that comes later, e.g. once the other nodes have answered a question. The session
    calls `start` once, with `done`; `start` arranges for `done` to be called exactly once with
    the answer, from any thread, later or inside the call. The session keeps itself alive and
    reads nothing more until then. What `start` keeps must not refer to the request: copy
    what the answer needs from it. */
struct deferred_answer {
    using done_fn = std::function<void(http::message_generator)>;
    std::function<void(done_fn)> start;
};

/// 405, naming the methods the route takes (`methods`: the Allow header).
inline http::message_generator method_not_allowed(request const& req, char const* methods) {
    return fixed_json(req, http::status::method_not_allowed,
                      R"({"error":"method not allowed","status":405})"
                      "\n",
                      {{http::field::allow, methods}});
}

/** The check of the routes that act on other people's streams (`POST /emit`, `/admin`): with
    --admin-token they need `Authorization: Bearer <token>` (never a query parameter, which
    ends up in logs). Nothing when the request may go on, else the 401 to answer. */
/// `what` names the routes in the error ("emits", "admin routes"), as earlier versions did.
inline std::optional<http::message_generator> admin_refusal(app const& a, request const& req,
                                                            std::string_view what) {
    if (a.cfg.admin_token.empty()) return std::nullopt;
    auto auth = req[http::field::authorization];
    if (auth.size() > 7 && auth.substr(0, 7) == "Bearer " &&
        same_secret(auth.substr(7), a.cfg.admin_token))
        return std::nullopt;
    std::string body = R"({"error":"unauthorized: )";
    body.append(what.data(), what.size());
    body += R"( need Authorization: Bearer <admin token>","status":401})"
            "\n";
    return fixed_json(req, http::status::unauthorized, body,
                      {{http::field::www_authenticate, "Bearer"}});
}

} // namespace sports

#endif
