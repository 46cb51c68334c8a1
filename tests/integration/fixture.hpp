// tests/integration/fixture.hpp - what every integration test sets up: the app's Beast
// listener (sse_test::test_server), an sse::server on its io_context, and helpers to open
// streams with sse_test::sse_reader and to wait for server-side facts with a deadline.
#ifndef SSE_TESTS_INTEGRATION_FIXTURE_HPP
#define SSE_TESTS_INTEGRATION_FIXTURE_HPP

#include <sse/server.hpp>

#include "support/catch.hpp"
#include "support/sse_reader.hpp"
#include "support/test_server.hpp"

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace sse_test {

using namespace std::chrono_literals;

/// Options for tests: no heartbeat unless a test asks (keeps the wire deterministic).
inline sse::options quiet_options() {
    sse::options o;
    o.heartbeat_interval = std::chrono::milliseconds(0);
    return o;
}

/// Polls `pred` until it holds or `timeout` passes; for server-side state that has no
/// event to wait on (client_count, stats). Returns `pred()`.
template <class Pred>
bool eventually(Pred&& pred, std::chrono::milliseconds timeout = 3s) {
    auto const deadline = std::chrono::steady_clock::now() + timeout;
    while (!pred()) {
        if (std::chrono::steady_clock::now() >= deadline) return pred();
        std::this_thread::sleep_for(1ms);
    }
    return true;
}

/// A stream opened and admitted: the reader, and the id from its `connection` event.
struct opened {
    sse_reader reader;
    std::string id;
};

/** The app: a test_server whose plain listener streams every request whose path names a
    namespace ("/chat?x=1" -> io.of("/chat")), except paths under "/app/" which get a plain
    404 from the "app" (they never reach connect). `route_hook`, when set, replaces that. */
struct fixture {
    explicit fixture(sse::options opts = quiet_options(), std::size_t threads = 1)
        : ts(threads)
        , io(std::make_unique<sse::server>(ts.get_executor(), opts)) {
        port =
            ts.listen([this](plain_stream&& s, request&& r) { route(std::move(s), std::move(r)); });
    }

    ~fixture() {
        // The server goes first, while the io_context still runs: streams end under load.
        destroy_server();
        ts.stop();
    }

    sse::namespace_& ns(std::string_view name = "/s") { return io->of(name); }

    /// Destroys the sse::server now (connections still open); later requests get 503.
    void destroy_server() {
        std::lock_guard<std::mutex> lock(mutex);
        io.reset();
    }

    /// Opens `target` and requires `200` and a `connection` event; returns reader and id.
    opened open(std::string const& target = "/s", header_list const& headers = {},
                reader_options ro = {}) {
        sse_reader r(port, target, headers, ro);
        REQUIRE(r.status() == 200);
        auto hello = r.next_event();
        REQUIRE(hello);
        REQUIRE(hello->event == "connection");
        auto id = nlohmann::json::parse(hello->data).at("clientId").get<std::string>();
        return {std::move(r), id};
    }

    void route(plain_stream&& s, request&& r) {
        std::lock_guard<std::mutex> lock(mutex);
        if (route_hook) {
            route_hook(std::move(s), std::move(r));
            return;
        }
        std::string path(r.target().substr(0, r.target().find('?')));
        if (path.rfind("/app/", 0) == 0 || !io) {
            unsigned status = io ? 404 : 503;
            std::string body = io ? "not a stream" : "gone";
            std::string res =
                "HTTP/1.1 " + std::to_string(status) +
                " X\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) +
                "\r\nConnection: close\r\n\r\n" + body;
            boost::beast::error_code ec;
            net::write(s, net::buffer(res), ec);
            s.socket().shutdown(net::socket_base::shutdown_send, ec);
            return;
        }
        io->of(path).connect(std::move(s), std::move(r));
    }

    test_server ts;
    std::mutex mutex; // guards io against destroy_server() racing a route
    std::unique_ptr<sse::server> io;
    plain_route route_hook;
    unsigned short port = 0;
};

/** A counter that handlers capture by value (`[n = hits] { ++*n; }`).

    Handlers such as on_disconnect may still run while the fixture tears the server down, after
    a failed REQUIRE has unwound the test's locals: they must never point into the stack. */
using counter = std::shared_ptr<std::atomic<int>>;
inline counter make_counter() {
    return std::make_shared<std::atomic<int>>(0);
}

/** Threads of a test, told to stop (`stop`) and joined when the group goes, also when a
    failed REQUIRE unwinds the test. Declare it after the fixture: it then goes first. */
struct thread_group {
    template <class F>
    void spawn(F&& f) {
        threads.emplace_back(std::forward<F>(f));
    }
    void join() {
        stop = true;
        for (auto& t : threads)
            if (t.joinable()) t.join();
    }
    ~thread_group() { join(); }

    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
};

/// The event's JSON data.
inline nlohmann::json json_of(sse_event const& e) {
    return nlohmann::json::parse(e.data);
}

} // namespace sse_test

#endif
