// Unit: sse/detail/response_head.hpp - the bytes a stream answers with before any event.
#include <sse/detail/response_head.hpp>
#include <sse/server.hpp>

#include "support/catch.hpp"

#include <boost/beast/http/empty_body.hpp>

#include <string>

namespace http = boost::beast::http;

namespace {
sse::handshake head_request(std::string const& accept, std::string const& origin = {}) {
    http::request<http::empty_body> req{http::verb::get, "/s", 11};
    if (!accept.empty()) req.set(http::field::accept, accept);
    if (!origin.empty()) req.set(http::field::origin, origin);
    return sse::handshake(req.base(), {});
}
bool has_line(std::string const& s, std::string const& line) {
    return s.find(line + "\r\n") != std::string::npos;
}
} // namespace

TEST_CASE("response_head: a stream's 200, with CORS only when configured", "[response_head]") {
    sse::options o;
    auto plain = sse::detail::response_head(o, head_request("text/event-stream"));
    CHECK(plain.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
    CHECK(has_line(plain, "Content-Type: text/event-stream"));
    CHECK(has_line(plain, "Cache-Control: no-cache"));
    CHECK(has_line(plain, "X-Accel-Buffering: no"));
    CHECK(plain.find("Access-Control") == std::string::npos);
    CHECK(plain.size() >= 4);
    CHECK(plain.substr(plain.size() - 4) == "\r\n\r\n");

    o.cors = sse::cors_options::allow_list({"https://a.example"}, true);
    auto listed = sse::detail::response_head(o, head_request("", "https://a.example"));
    CHECK(has_line(listed, "Access-Control-Allow-Origin: https://a.example"));
    CHECK(has_line(listed, "Access-Control-Allow-Credentials: true"));
    CHECK(has_line(listed, "Vary: Origin"));
    auto other = sse::detail::response_head(o, head_request("", "https://evil.example"));
    CHECK(other.find("Access-Control") == std::string::npos);
    CHECK(has_line(other, "Vary: Origin"));
}

TEST_CASE("response_head: a rejection carries its status, length and type; HEAD has no body",
          "[response_head]") {
    sse::options o;
    auto hs = head_request("");
    auto r = sse::detail::rejection_response(o, sse::reject(401, "who are you?\n"), hs);
    CHECK(r.rfind("HTTP/1.1 401 Unauthorized\r\n", 0) == 0);
    CHECK(has_line(r, "Content-Length: 13"));
    CHECK(has_line(r, "Connection: close"));
    CHECK(r.substr(r.size() - 13) == "who are you?\n");
    auto head = sse::detail::rejection_response(o, sse::reject(401, "who are you?\n"), hs, true);
    CHECK(has_line(head, "Content-Length: 13"));
    CHECK(head.substr(head.size() - 4) == "\r\n\r\n"); // no body
    // A status outside 200..599 is a 500; a 204 has no body and no length.
    CHECK(sse::detail::rejection_response(o, sse::reject(42), hs).rfind("HTTP/1.1 500", 0) == 0);
    auto stop = sse::detail::rejection_response(o, sse::reject(204, "ignored"), hs);
    CHECK(stop.find("Content-Length") == std::string::npos);
    CHECK(stop.find("ignored") == std::string::npos);
}

TEST_CASE("response_head: an overload refusal tells EventSource to retry later, others get "
          "Retry-After",
          "[response_head]") {
    sse::options o;
    o.refusal.retry_min = std::chrono::milliseconds(2000);
    o.refusal.retry_max = std::chrono::milliseconds(2000);
    auto es = sse::detail::refusal_response(o, head_request("text/event-stream"), false);
    CHECK(es.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
    CHECK(es.substr(es.size() - 13) == "retry: 2000\n\n");
    auto curl = sse::detail::refusal_response(o, head_request("*/*"), false);
    CHECK(curl.rfind("HTTP/1.1 503 Service Unavailable\r\n", 0) == 0);
    CHECK(has_line(curl, "Retry-After: 2"));
    o.refusal.mode = sse::refusal_mode::status_only;
    o.refusal.status = 429;
    auto strict = sse::detail::refusal_response(o, head_request("text/event-stream"), false);
    CHECK(strict.rfind("HTTP/1.1 429 Too Many Requests\r\n", 0) == 0);
}

TEST_CASE("response_head: Accept names text/event-stream only explicitly, q=0 refuses",
          "[response_head]") {
    using sse::detail::accepts_event_stream;
    CHECK(accepts_event_stream("text/event-stream"));
    CHECK(accepts_event_stream("text/html, Text/Event-Stream;q=0.5"));
    CHECK_FALSE(accepts_event_stream("*/*"));
    CHECK_FALSE(accepts_event_stream("text/*"));
    CHECK_FALSE(accepts_event_stream("text/event-stream;q=0"));
    CHECK_FALSE(accepts_event_stream(""));
}

TEST_CASE("response_head: the close hint falls in the window, or is empty", "[response_head]") {
    sse::options o;
    o.close_retry_min = std::chrono::milliseconds(100);
    o.close_retry_max = std::chrono::milliseconds(300);
    for (int i = 0; i < 50; ++i) {
        auto hint = sse::detail::close_retry_hint(o);
        REQUIRE(hint.rfind("retry: ", 0) == 0);
        auto const ms = std::stoll(hint.substr(7));
        CHECK(ms >= 100);
        CHECK(ms <= 300);
    }
    o.close_retry_min = o.close_retry_max = std::chrono::milliseconds(0);
    CHECK(sse::detail::close_retry_hint(o).empty());
}
