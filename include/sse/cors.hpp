// sse/cors.hpp - cross-origin answers: which origin a response may name, and the answer to a
// browser's preflight (OPTIONS) for a stream route.
#ifndef SSE_CORS_HPP
#define SSE_CORS_HPP

#include <sse/options.hpp>

#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/message.hpp>

#include <algorithm>
#include <string>
#include <string_view>

namespace sse {

namespace detail {

/// A header value we may echo: printable, no line breaks (header injection).
inline bool safe_header_value(std::string_view v) noexcept {
    for (char c : v)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
    return !v.empty() && v.size() <= 1024;
}

/// The `Access-Control-Allow-Origin` value for a request from `origin`, or "" for none
/// (the browser then blocks the response).
inline std::string cors_allow_origin(cors_options const& cors, std::string_view origin) {
    std::string allow;
    if (!cors.allowed_origins.empty()) {
        if (std::find(cors.allowed_origins.begin(), cors.allowed_origins.end(), origin) !=
            cors.allowed_origins.end())
            allow = std::string(origin);
    } else if (cors.origin == "*" && cors.credentials) {
        allow = std::string(origin); // browsers refuse "*" together with credentials
    } else {
        allow = cors.origin;
    }
    return safe_header_value(allow) ? allow : std::string();
}

} // namespace detail

/** The answer to a CORS preflight (`OPTIONS` with `Access-Control-Request-Method`).

    A browser sends one before an EventSource (or fetch) whose request is not "simple", e.g.
    with an `Authorization` header. The answer is `204 No Content` with `Vary: Origin` and,
    when `cors` allows the request's `Origin` (the same rule as the stream's own response,
    allow-list included): `Access-Control-Allow-Origin`, `-Credentials` (with
    `cors.credentials`), `-Allow-Methods: GET, HEAD, OPTIONS` plus `extra_methods` (e.g.
    "POST" for the app's own routes), `-Allow-Headers: Last-Event-ID, Authorization,
    Cache-Control` plus `extra_headers` (e.g. "Content-Type"), and `-Max-Age:
    cors.preflight_max_age`. An origin not allowed gets none of them: the browser then stops.
    Never throws on what the request holds. Set `keep_alive` as for any other answer.

        if (req.method() == http::verb::options) {
            auto res = sse::cors_preflight(*opts.cors, req, "POST", "Content-Type");
            res.keep_alive(req.keep_alive());
            return send(std::move(res));
        }
*/
inline beast::http::response<beast::http::empty_body>
cors_preflight(cors_options const& cors, beast::http::request_header<> const& req,
               std::string_view extra_methods = {}, std::string_view extra_headers = {}) {
    namespace http = beast::http;
    http::response<http::empty_body> res{http::status::no_content, req.version()};
    res.set(http::field::vary, "Origin");
    std::string const allow = detail::cors_allow_origin(cors, req[http::field::origin]);
    if (allow.empty()) return res;
    res.set(http::field::access_control_allow_origin, allow);
    if (cors.credentials) res.set(http::field::access_control_allow_credentials, "true");
    std::string methods = "GET, HEAD, OPTIONS";
    if (detail::safe_header_value(extra_methods)) methods.append(", ").append(extra_methods);
    res.set(http::field::access_control_allow_methods, methods);
    std::string headers = "Last-Event-ID, Authorization, Cache-Control";
    if (detail::safe_header_value(extra_headers)) headers.append(", ").append(extra_headers);
    res.set(http::field::access_control_allow_headers, headers);
    res.set(http::field::access_control_max_age, std::to_string(cors.preflight_max_age.count()));
    return res;
}

} // namespace sse

#endif
