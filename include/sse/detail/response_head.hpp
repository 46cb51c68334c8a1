// sse/detail/response_head.hpp - the bytes a stream answers with before any event: the 200
// head, a rejection, an overload refusal, a close hint (pure; no I/O).
#ifndef SSE_DETAIL_RESPONSE_HEAD_HPP
#define SSE_DETAIL_RESPONSE_HEAD_HPP

#include <sse/cors.hpp>
#include <sse/handshake.hpp>
#include <sse/middleware.hpp>
#include <sse/options.hpp>

#include <algorithm>
#include <random>
#include <string>
#include <string_view>

namespace sse::detail {

/// A random whole number in [lo, hi] (hi below lo counts as lo).
inline long long random_between(long long lo, long long hi) {
    thread_local std::minstd_rand spread(std::random_device{}());
    std::uniform_int_distribution<long long> d(lo, std::max(lo, hi));
    return d(spread);
}

inline char const* reason_phrase(unsigned status) {
    switch (status) {
    case 200:
        return "OK";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    default:
        return "Error";
    }
}

// Whether an Accept header names `text/event-stream` (with a q above 0). Every EventSource
// sends exactly that; a wildcard (text/*, */*) does not count: the clients that send one
// (curl, fetch, monitors) read a status and Retry-After better than an empty stream.
inline bool accepts_event_stream(std::string_view accept) noexcept {
    auto trim = [](std::string_view v) {
        while (!v.empty() && (v.front() == ' ' || v.front() == '\t'))
            v.remove_prefix(1);
        while (!v.empty() && (v.back() == ' ' || v.back() == '\t'))
            v.remove_suffix(1);
        return v;
    };
    while (!accept.empty()) {
        auto const comma = accept.find(',');
        std::string_view range = accept.substr(0, comma);
        accept = comma == std::string_view::npos ? std::string_view{} : accept.substr(comma + 1);
        auto semi = range.find(';');
        if (!iequals(trim(range.substr(0, semi)), "text/event-stream")) continue;
        bool refused = false; // q=0 means "not acceptable"
        while (semi != std::string_view::npos) {
            range = range.substr(semi + 1);
            semi = range.find(';');
            auto const param = trim(range.substr(0, semi));
            if (param.size() >= 2 && (param[0] == 'q' || param[0] == 'Q') && param[1] == '=') {
                auto const q = param.substr(2);
                refused = !q.empty() && q.find_first_not_of("0.") == std::string_view::npos;
            }
        }
        if (!refused) return true;
    }
    return false;
}

/// The head of an admitted stream: 200, text/event-stream, no caching or proxy buffering,
/// and the CORS lines `opts.cors` asks for.
inline std::string response_head(options const& opts, handshake const& hs) {
    std::string head = "HTTP/1.1 200 OK\r\n"
                       "Content-Type: text/event-stream\r\n"
                       "Cache-Control: no-cache\r\n"
                       "X-Accel-Buffering: no\r\n";
    if (opts.cors) {
        auto const& cors = *opts.cors;
        std::string const allow = cors_allow_origin(cors, hs.header("origin"));
        if (!allow.empty()) {
            head += "Access-Control-Allow-Origin: " + allow + "\r\n";
            if (cors.credentials) head += "Access-Control-Allow-Credentials: true\r\n";
        }
        head += "Vary: Origin\r\n";
    }
    head += "\r\n";
    return head;
}

/// A middleware's rejection (or a 500): its status, body and content type, with the CORS
/// lines so that the page can read the status. `head_only`: the answer to a HEAD (no body).
/// `extra` are more header lines.
inline std::string rejection_response(options const& opts, reject const& r, handshake const& hs,
                                      bool head_only = false, std::string_view extra = {}) {
    unsigned status = (r.status >= 200 && r.status <= 599) ? r.status : 500;
    std::string body = status == 204 ? std::string() : r.body;
    std::string head = response_head(opts, hs);
    auto cors_begin = head.find("Access-Control");
    std::string cors = cors_begin == std::string::npos
                           ? std::string()
                           : head.substr(cors_begin, head.size() - 2 - cors_begin);
    if (cors.empty() && head.find("Vary: Origin") != std::string::npos) cors = "Vary: Origin\r\n";
    std::string out = "HTTP/1.1 " + std::to_string(status) + " " + reason_phrase(status) + "\r\n";
    if (status != 204) {
        std::string type = safe_header_value(r.content_type) ? r.content_type : "text/plain";
        out += "Content-Type: " + type + "\r\n";
        out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    }
    out += "Cache-Control: no-cache\r\nConnection: close\r\n";
    out += extra;
    out += cors;
    out += "\r\n";
    if (!head_only) out += body; // a HEAD answer has the length of the body, not the body
    return out;
}

/// The answer to a connect refused for overload (options::refusal).
inline std::string refusal_response(options const& opts, handshake const& hs, bool head_only) {
    auto const& r = opts.refusal;
    auto const delay = random_between(r.retry_min.count(), r.retry_max.count());
    if (r.mode == refusal_mode::retry_later && accepts_event_stream(hs.header("accept"))) {
        // EventSource retries a 200 stream that ends, after its `retry:`; it gives up for good
        // on any other status.
        std::string answer = response_head(opts, hs);
        if (!head_only) answer += "retry: " + std::to_string(delay) + "\n\n";
        return answer;
    }
    auto const seconds = std::max<long long>(1, (delay + 999) / 1000);
    return rejection_response(
        opts, reject(r.status, std::string(reason_phrase(r.status)) + ": retry later\n"), hs,
        head_only, "Retry-After: " + std::to_string(seconds) + "\r\n");
}

/// "retry: <random in the close window>\n\n", or "" when the window is empty: spreads the
/// reconnects of a closing node's browsers.
inline std::string close_retry_hint(options const& opts) {
    auto lo = opts.close_retry_min.count();
    auto hi = std::max(lo, opts.close_retry_max.count());
    if (hi <= 0) return {};
    return "retry: " + std::to_string(random_between(lo, hi)) + "\n\n";
}

} // namespace sse::detail

#endif
