// libFuzzer target: the sports demo's request handling, from raw bytes, in-process. The bytes
// go through Beast's request parser with the limits the demo's session reads with (pipelined
// requests one after another, as the session would), and each request through the demo's
// router (examples/sports/routes.hpp) into an app whose io_context runs only to deliver a
// deferred answer (GET /admin/.../clients: the memory adapter answers at once). Any answer must
// serialize into one well-formed HTTP response, a JSON one must be JSON in valid UTF-8 (an
// error one {"error": ..., "status": <its status>}), a stream decision must name a known sport
// and a valid room, a deferred answer must come exactly once, and nothing may throw.
//
// Each input runs against two apps: a plain one, and one with --cors-origin, --auth-token and
// --admin-token set (token "secret", so seeds can pass the checks).
#include <sse/event.hpp>

#include "routes.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/beast/http.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <optional>
#include <string>
#include <string_view>

namespace {

namespace http = boost::beast::http;
using boost::beast::error_code;

[[noreturn]] void fail(char const* what, std::string_view detail = {}) {
    std::fprintf(stderr, "fuzz_demo_http: %s%s%.*s\n", what, detail.empty() ? "" : ": ",
                 static_cast<int>(std::min<std::size_t>(detail.size(), 2000)), detail.data());
    std::abort();
}

std::string serialize(http::message_generator& answer) {
    std::string wire;
    while (!answer.is_done()) {
        error_code ec;
        auto buffers = answer.prepare(ec);
        if (ec) fail("an answer did not serialize", ec.message());
        std::size_t n = 0;
        for (auto const& b : buffers) {
            wire.append(static_cast<char const*>(b.data()), b.size());
            n += b.size();
        }
        answer.consume(n);
    }
    return wire;
}

// The answer, read back as a client would: one whole response, nothing after it.
void check_answer(http::message_generator& answer, sports::request const& req) {
    bool const keep_alive = answer.keep_alive();
    std::string const wire = serialize(answer);
    http::response_parser<http::string_body> parser;
    parser.body_limit(16 * 1024 * 1024);
    parser.skip(req.method() == http::verb::head);
    parser.eager(true);
    error_code ec;
    std::size_t used = parser.put(boost::asio::buffer(wire), ec);
    if (ec || !parser.is_done() || used != wire.size())
        fail("the answer is not one HTTP response", wire);
    auto const& res = parser.get();
    if (res.keep_alive() != keep_alive) fail("keep-alive differs from the generator's", wire);
    if (res.version() != req.version())
        fail("the answer's HTTP version is not the request's", wire);

    auto const type = res[http::field::content_type];
    if (req.method() == http::verb::head) {
        if (!res.body().empty()) fail("an answer to HEAD has a body", wire);
    } else if (type.substr(0, 16) == "application/json") {
        if (!sse::is_valid_utf8(res.body())) fail("a JSON answer is not UTF-8", wire);
        auto const body = nlohmann::json::parse(res.body(), nullptr, false);
        if (body.is_discarded()) fail("a JSON answer does not parse", wire);
        if (res.result_int() >= 400) {
            if (!body.is_object() || !body.contains("error") || !body["error"].is_string() ||
                body.value("status", 0u) != res.result_int())
                fail("an error answer is not {\"error\": ..., \"status\": <status>}", wire);
        }
    }
}

void check_stream(sports::stream_route const& to, sports::request const& req) {
    if (req.method() != http::verb::get) fail("a stream for a method other than GET");
    if (!sports::known_sport(to.sport)) fail("a stream for an unknown sport", to.sport);
    try {
        sse::validate_room_name(to.match);
    } catch (std::invalid_argument const&) {
        fail("a stream for a room name the library refuses", to.match);
    }
}

// Starts a deferred answer and runs the app's io_context until it comes (the memory adapter's
// fetch_clients posts its handler: no other node to wait for). It must come exactly once.
http::message_generator wait_for(sports::deferred_answer& later, boost::asio::io_context& ioc) {
    std::optional<http::message_generator> answer;
    int calls = 0;
    later.start([&](http::message_generator m) {
        if (++calls == 1) answer.emplace(std::move(m));
    });
    for (int i = 0; i < 100 && calls == 0; ++i) {
        ioc.restart();
        ioc.poll();
    }
    if (calls == 0) fail("a deferred answer never came");
    ioc.restart();
    ioc.poll(); // a second call would be posted by now
    if (calls != 1) fail("a deferred answer came twice");
    return std::move(*answer);
}

void run(sports::config cfg, std::string_view bytes) {
    boost::asio::io_context ioc; // run only for deferred answers: the router does no I/O
    sports::app a(ioc, std::move(cfg));
    // As the session reads: one request after another while the answers keep the connection.
    while (!bytes.empty()) {
        http::request_parser<http::string_body> parser;
        sports::limit_request(parser);
        parser.eager(true);
        error_code ec;
        while (!parser.is_done() && !bytes.empty()) {
            std::size_t n = parser.put(boost::asio::buffer(bytes.data(), bytes.size()), ec);
            bytes.remove_prefix(n);
            if (ec || n == 0) break;
        }
        if (ec == http::error::need_more || (!ec && !parser.is_done())) {
            parser.put_eof(ec); // the peer closed here
            if (!parser.is_done()) return;
        }
        try {
            if (ec == http::error::body_limit) {
                auto answer = sports::body_too_large(a, parser.get());
                check_answer(answer, parser.get());
                return; // the session closes after it
            }
            if (ec) return; // the session drops a request Beast refuses
            auto next = sports::route_request(a, parser.get());
            if (auto* stream = std::get_if<sports::stream_route>(&next)) {
                check_stream(*stream, parser.get());
                return; // the connection belongs to the library now
            }
            if (auto* later = std::get_if<sports::deferred_answer>(&next))
                next = wait_for(*later, ioc);
            auto& answer = std::get<http::message_generator>(next);
            bool const keep_alive = answer.keep_alive();
            check_answer(answer, parser.get());
            if (!keep_alive) return;
        } catch (std::exception const& e) {
            fail("the router threw", e.what());
        }
    }
    if (a.board.size("football") > sports::scoreboard::max_matches ||
        a.board.size("cricket") > sports::scoreboard::max_matches)
        fail("the scoreboard outgrew its bound");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    std::string_view const bytes(reinterpret_cast<char const*>(data), size);
    run(sports::config{}, bytes);
    sports::config locked;
    locked.cors_origin = "*";
    locked.auth_token = "secret";
    locked.admin_token = "secret";
    run(locked, bytes);
    return 0;
}
