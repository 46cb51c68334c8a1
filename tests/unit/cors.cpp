// Unit: sse/cors.hpp - the preflight answer and the allowed origin, without a socket.
#include <sse/cors.hpp>

#include "support/catch.hpp"

#include <boost/beast/http/string_body.hpp>

namespace http = boost::beast::http;

namespace {
http::request<http::string_body> preflight(std::string const& origin) {
    http::request<http::string_body> req{http::verb::options, "/stream/football/m1", 11};
    if (!origin.empty()) req.set(http::field::origin, origin);
    req.set(http::field::access_control_request_method, "GET");
    req.set(http::field::access_control_request_headers, "authorization");
    return req;
}
} // namespace

TEST_CASE("cors_preflight: a fixed origin, with the app's methods and headers", "[cors]") {
    sse::cors_options cors("https://scores.example");
    auto res =
        sse::cors_preflight(cors, preflight("https://elsewhere.example"), "POST", "Content-Type");
    CHECK(res.result() == http::status::no_content);
    CHECK(res[http::field::access_control_allow_origin] == "https://scores.example");
    CHECK(res[http::field::access_control_allow_methods] == "GET, HEAD, OPTIONS, POST");
    CHECK(res[http::field::access_control_allow_headers] ==
          "Last-Event-ID, Authorization, Cache-Control, Content-Type");
    CHECK(res[http::field::access_control_max_age] == "600");
    CHECK(res[http::field::vary] == "Origin");
    CHECK(res.count(http::field::access_control_allow_credentials) == 0);
}

TEST_CASE("cors_preflight: the allow-list echoes a listed origin only", "[cors]") {
    auto cors = sse::cors_options::allow_list({"https://a.example", "https://b.example"}, true);
    cors.preflight_max_age = std::chrono::seconds(60);
    auto ok = sse::cors_preflight(cors, preflight("https://b.example"));
    CHECK(ok[http::field::access_control_allow_origin] == "https://b.example");
    CHECK(ok[http::field::access_control_allow_credentials] == "true");
    CHECK(ok[http::field::access_control_allow_methods] == "GET, HEAD, OPTIONS");
    CHECK(ok[http::field::access_control_allow_headers] ==
          "Last-Event-ID, Authorization, Cache-Control");
    CHECK(ok[http::field::access_control_max_age] == "60");
    for (std::string origin : {"https://c.example", "", "https://a.example.evil"}) {
        auto no = sse::cors_preflight(cors, preflight(origin));
        CAPTURE(origin);
        CHECK(no.result() == http::status::no_content);
        CHECK(no.count(http::field::access_control_allow_origin) == 0);
        CHECK(no.count(http::field::access_control_allow_methods) == 0);
        CHECK(no[http::field::vary] == "Origin");
    }
}

TEST_CASE("cors_preflight: '*' with credentials echoes the origin; bad values are dropped",
          "[cors]") {
    sse::cors_options star("*", true);
    auto res = sse::cors_preflight(star, preflight("https://x.example"), "POST\r\nX-Evil: 1");
    CHECK(res[http::field::access_control_allow_origin] == "https://x.example");
    CHECK(res[http::field::access_control_allow_methods] == "GET, HEAD, OPTIONS");
    sse::cors_options any("*");
    CHECK(sse::cors_preflight(any, preflight(""))[http::field::access_control_allow_origin] == "*");
}
