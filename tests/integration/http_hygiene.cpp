// Integration: HEAD on a stream route and the CORS preflight answer (issue 13, item 5).
#include "integration/fixture.hpp"

#include <sse/cors.hpp>

#include <boost/beast/http/write.hpp>

using namespace sse_test;

namespace {
sse_reader send_raw(unsigned short port, std::string const& method, std::string const& target,
                    std::string const& more_headers = {}) {
    return sse_reader::raw(port,
                           method + " " + target +
                               " HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n" +
                               more_headers + "\r\n");
}
} // namespace

TEST_CASE("HEAD on a stream route: the stream's head, no body, closed, never admitted",
          "[hygiene][head]") {
    auto opts = quiet_options();
    opts.retry = std::chrono::milliseconds(1500);
    opts.cors = sse::cors_options("https://scores.example");
    fixture f(opts);
    auto& ns = f.ns("/s");
    auto connections = make_counter();
    auto middleware_runs = make_counter();
    ns.use([m = middleware_runs](sse::client& c, sse::next next) {
        ++*m;
        c.join("room");
        next();
    });
    ns.on_connection([n = connections](sse::client_ptr) { ++*n; });

    auto r = send_raw(f.port, "HEAD", "/s");
    REQUIRE(r.status() == 200);
    CHECK(r.header("Content-Type") == "text/event-stream");
    CHECK(r.header("Cache-Control") == "no-cache");
    CHECK(r.header("Access-Control-Allow-Origin") == "https://scores.example");
    CHECK(r.closed(5s));
    CHECK(r.wire().empty()); // no retry:, no connection event
    CHECK(*middleware_runs == 1);
    CHECK(*connections == 0);
    auto s = ns.stats();
    CHECK(s.connections == 0);
    CHECK(s.rejected == 0);
    CHECK(ns.client_count() == 0);
    CHECK(ns.rooms().empty());

    // The same route still streams for a GET.
    auto got = f.open("/s");
    CHECK(*connections == 1);
}

TEST_CASE("HEAD gets the status a GET would get after the middleware, without the body",
          "[hygiene][head]") {
    fixture f;
    auto& ns = f.ns("/s");
    ns.use([](sse::client& c, sse::next next) {
        if (c.handshake().header("authorization") != "Bearer ok")
            return next(sse::reject(401, "token needed"));
        next();
    });
    auto denied = send_raw(f.port, "HEAD", "/s");
    REQUIRE(denied.status() == 401);
    CHECK(denied.header("Content-Length") == "12"); // the GET's body length
    CHECK(denied.closed(5s));
    CHECK(denied.wire().empty());
    CHECK(ns.stats().rejected == 1);

    auto allowed = send_raw(f.port, "HEAD", "/s", "Authorization: Bearer ok\r\n");
    CHECK(allowed.status() == 200);
    CHECK(allowed.closed(5s));
    CHECK(allowed.wire().empty());

    auto get = sse_reader(f.port, "/s"); // the GET: the same 401, with its body
    REQUIRE(get.status() == 401);
    CHECK(get.read_body() == "token needed");
}

TEST_CASE("cors_preflight answers OPTIONS on a real socket, honouring the allow-list",
          "[hygiene][cors]") {
    auto opts = quiet_options();
    opts.cors = sse::cors_options::allow_list({"https://a.example"}, true);
    fixture f(opts);
    f.route_hook = [&](plain_stream&& s, request&& req) {
        if (req.method() == http::verb::options) {
            auto res = sse::cors_preflight(*opts.cors, req, "POST", "Content-Type");
            res.keep_alive(false);
            beast::error_code ec;
            http::write(s, res, ec);
            s.socket().shutdown(net::socket_base::shutdown_send, ec);
            return;
        }
        f.io->of("/s").connect(std::move(s), std::move(req));
    };
    auto ok = send_raw(f.port, "OPTIONS", "/s",
                       "Origin: https://a.example\r\nAccess-Control-Request-Method: GET\r\n"
                       "Access-Control-Request-Headers: authorization, last-event-id\r\n");
    REQUIRE(ok.status() == 204);
    CHECK(ok.header("Access-Control-Allow-Origin") == "https://a.example");
    CHECK(ok.header("Access-Control-Allow-Credentials") == "true");
    CHECK(ok.header("Access-Control-Allow-Methods") == "GET, HEAD, OPTIONS, POST");
    CHECK(ok.header("Access-Control-Allow-Headers") ==
          "Last-Event-ID, Authorization, Cache-Control, Content-Type");
    CHECK(ok.header("Access-Control-Max-Age") == "600");
    CHECK(ok.header("Vary") == "Origin");

    auto no = send_raw(f.port, "OPTIONS", "/s",
                       "Origin: https://b.example\r\nAccess-Control-Request-Method: GET\r\n");
    REQUIRE(no.status() == 204);
    CHECK_FALSE(no.header("Access-Control-Allow-Origin"));
    CHECK_FALSE(no.header("Access-Control-Allow-Methods"));

    // The stream itself follows the same rule.
    sse_reader stream(f.port, "/s", {{"Origin", "https://a.example"}});
    REQUIRE(stream.status() == 200);
    CHECK(stream.header("Access-Control-Allow-Origin") == "https://a.example");
}
