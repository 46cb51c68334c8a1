// coroutines_server - the same server written with C++20 coroutines: net::co_spawn and
// net::awaitable, in the shape of Beast's example/http/server/awaitable.
//
//   coroutines_server <address> <port> <threads>
//   coroutines_server 127.0.0.1 8080 1          then: curl -N http://127.0.0.1:8080/events
//
// One coroutine per connection reads requests in a loop; the one for /events hands its stream
// to sse and ends. Another coroutine emits a tick a second. Port 0 picks a free port; the line
// "listening on <address>:<port>" says which.
#include <sse/server.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/version.hpp>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

// A tcp_stream whose operations default to use_awaitable, as in Beast's awaitable example:
// `co_await stream.async_read_some(...)` needs no token. sse takes it as it is.
using tcp_stream = beast::tcp_stream::rebind_executor<
    net::use_awaitable_t<>::executor_with_default<net::any_io_executor>>::other;

char const page[] = R"(<!doctype html><meta charset="utf-8"><title>coroutines</title>
<pre id="log"></pre><script>
new EventSource("/events").addEventListener("tick", (e) => {
  document.getElementById("log").textContent += e.data + "\n";
});
</script>
)";

// Every other request: the page at "/", 404 elsewhere.
http::message_generator handle_request(http::request<http::string_body>&& req) {
    bool const found = req.target() == "/";
    http::response<http::string_body> res{found ? http::status::ok : http::status::not_found,
                                          req.version()};
    res.set(http::field::server, BOOST_BEAST_VERSION_STRING);
    res.set(http::field::content_type, found ? "text/html; charset=utf-8" : "text/plain");
    res.keep_alive(req.keep_alive());
    res.body() = found ? page : "not found\n";
    res.prepare_payload();
    if (req.method() == http::verb::head) res.body().clear(); // the length stays, as HTTP says
    return res;
}

net::awaitable<void> do_session(tcp_stream stream, sse::namespace_& events) {
    beast::flat_buffer buffer;
    for (;;) {
        stream.expires_after(std::chrono::seconds(30));
        http::request<http::string_body> req;
        // as_tuple: a closed connection is an error code here, not an exception.
        auto [ec, n] =
            co_await http::async_read(stream, buffer, req, net::as_tuple(net::use_awaitable));
        if (ec) break; // end_of_stream, timeout, or a bad request: nothing to answer

        // sse: the stream and the request now belong to `events`; this coroutine ends.
        if (req.target() == "/events") {
            events.connect(std::move(stream), std::move(req));
            co_return;
        }

        http::message_generator msg = handle_request(std::move(req));
        bool const keep_alive = msg.keep_alive();
        co_await beast::async_write(stream, std::move(msg), net::use_awaitable);
        if (!keep_alive) break;
    }
    beast::error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
}

net::awaitable<void> do_listen(tcp::endpoint endpoint, sse::namespace_& events) {
    auto acceptor =
        net::use_awaitable.as_default_on(tcp::acceptor(co_await net::this_coro::executor));
    acceptor.open(endpoint.protocol());
    acceptor.set_option(net::socket_base::reuse_address(true));
    acceptor.bind(endpoint);
    acceptor.listen(net::socket_base::max_listen_connections);
    std::cout << "listening on " << endpoint.address() << ":" << acceptor.local_endpoint().port()
              << std::endl;
    for (;;)
        net::co_spawn(acceptor.get_executor(),
                      do_session(tcp_stream(co_await acceptor.async_accept()), events),
                      [](std::exception_ptr e) {
                          try {
                              if (e) std::rethrow_exception(e);
                          } catch (std::exception const& x) {
                              std::cerr << "session: " << x.what() << "\n";
                          }
                      });
}

// sse: something to stream - a tick a second, to everyone on /events.
net::awaitable<void> do_ticks(sse::namespace_& events) {
    net::steady_timer timer{co_await net::this_coro::executor};
    for (int n = 1;; ++n) {
        events.emit("tick", {{"n", n}});
        timer.expires_after(std::chrono::seconds(1));
        co_await timer.async_wait(net::use_awaitable);
    }
}

int main(int argc, char* argv[]) {
    if (argc != 4) {
        std::cerr << "Usage: coroutines_server <address> <port> <threads>\n"
                  << "Example:\n    coroutines_server 127.0.0.1 8080 1\n";
        return EXIT_FAILURE;
    }
    auto const address = net::ip::make_address(argv[1]);
    auto const port = static_cast<unsigned short>(std::atoi(argv[2]));
    auto const threads = std::max<int>(1, std::atoi(argv[3]));

    net::io_context ioc{threads};
    sse::server io{ioc.get_executor()};
    sse::namespace_& events = io.of("/events");

    // A failure to listen (say the port is taken) ends the program with the reason.
    int status = EXIT_SUCCESS;
    net::co_spawn(ioc, do_listen(tcp::endpoint{address, port}, events), [&](std::exception_ptr e) {
        try {
            if (e) std::rethrow_exception(e);
        } catch (std::exception const& x) {
            std::cerr << "listen: " << x.what() << "\n";
            status = EXIT_FAILURE;
            io.close();
            ioc.stop();
        }
    });
    net::co_spawn(ioc, do_ticks(events), net::detached);

    net::signal_set signals{ioc, SIGINT, SIGTERM};
    signals.async_wait([&](beast::error_code, int) {
        io.close();
        ioc.stop();
    });

    std::vector<std::thread> v;
    v.reserve(threads - 1);
    for (auto i = threads - 1; i > 0; --i)
        v.emplace_back([&ioc] { ioc.run(); });
    ioc.run();
    for (auto& t : v)
        t.join();
    return status;
}
