// hello_server - the smallest useful sse server: a page with an EventSource, and a tick a second.
//
//   hello_server [--port 8080] [--bind 127.0.0.1]     then open http://127.0.0.1:8080/
//
// An ordinary Beast server (listener, session, do_/on_ pairs, fail()); the only sse parts are
// `io.of("/hello")`, `connect(std::move(stream_), ...)` and `emit`.
#include <sse/server.hpp>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <chrono>
#include <ctime>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

char const page[] = R"(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>sse hello</title><link rel="icon" href="data:,">
<style>body{font:16px system-ui,sans-serif;max-width:40em;margin:3em auto;color:#1e293b}
#state{font-weight:600}#log{font-family:monospace;background:#f1f5f9;padding:1em;border-radius:8px}</style>
</head><body><h1>Hello, Server-Sent Events</h1><p>Stream: <span id="state">connecting</span></p>
<div id="log"></div><script>
var es = new EventSource("/events"), log = document.getElementById("log");
es.onopen = function () { document.getElementById("state").textContent = "connected"; };
es.onerror = function () { document.getElementById("state").textContent = "reconnecting"; };
es.addEventListener("tick", function (e) {
  var d = JSON.parse(e.data), line = document.createElement("div");
  line.textContent = "tick " + d.n + " at " + d.time;
  log.prepend(line);
  while (log.children.length > 10) log.lastChild.remove();
});
</script></body></html>
)";

void fail(beast::error_code ec, char const* what) {
    std::cerr << what << ": " << ec.message() << "\n";
}

class session : public std::enable_shared_from_this<session> {
public:
    session(tcp::socket&& socket, sse::namespace_& hello)
        : stream_(std::move(socket))
        , hello_(hello) {}

    void run() {
        net::dispatch(stream_.get_executor(),
                      beast::bind_front_handler(&session::do_read, shared_from_this()));
    }

private:
    void do_read() {
        req_ = {};
        stream_.expires_after(std::chrono::seconds(30));
        http::async_read(stream_, buffer_, req_,
                         beast::bind_front_handler(&session::on_read, shared_from_this()));
    }

    void on_read(beast::error_code ec, std::size_t) {
        if (ec == http::error::end_of_stream || ec == beast::error::timeout) return do_close();
        if (ec) return fail(ec, "read");

        // The one sse call: the stream now belongs to the namespace.
        if (req_.target() == "/events") {
            hello_.connect(std::move(stream_), std::move(req_));
            return;
        }
        bool found = req_.target() == "/";
        http::response<http::string_body> res{found ? http::status::ok : http::status::not_found,
                                              req_.version()};
        res.set(http::field::content_type, found ? "text/html; charset=utf-8" : "text/plain");
        res.body() = found ? page : "not found\n";
        res.keep_alive(req_.keep_alive());
        res.prepare_payload();
        if (req_.method() == http::verb::head) res.body().clear(); // headers only, as HTTP says
        bool keep_alive = res.keep_alive();
        beast::async_write(
            stream_, http::message_generator(std::move(res)),
            beast::bind_front_handler(&session::on_write, shared_from_this(), keep_alive));
    }

    void on_write(bool keep_alive, beast::error_code ec, std::size_t) {
        if (ec) return fail(ec, "write");
        if (!keep_alive) return do_close();
        do_read();
    }

    void do_close() {
        beast::error_code ec;
        stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    }

    beast::tcp_stream stream_;
    beast::flat_buffer buffer_;
    http::request<http::string_body> req_;
    sse::namespace_& hello_;
};

class listener : public std::enable_shared_from_this<listener> {
public:
    listener(net::io_context& ioc, tcp::endpoint endpoint, sse::namespace_& hello)
        : ioc_(ioc)
        , acceptor_(net::make_strand(ioc), endpoint)
        , hello_(hello) {}

    tcp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }
    void run() { do_accept(); }

private:
    void do_accept() {
        acceptor_.async_accept(net::make_strand(ioc_),
                               beast::bind_front_handler(&listener::on_accept, shared_from_this()));
    }

    void on_accept(beast::error_code ec, tcp::socket socket) {
        if (ec == net::error::operation_aborted || !acceptor_.is_open()) return;
        if (ec)
            fail(ec, "accept"); // e.g. out of descriptors: keep accepting once some free up
        else
            std::make_shared<session>(std::move(socket), hello_)->run();
        do_accept();
    }

    net::io_context& ioc_;
    tcp::acceptor acceptor_;
    sse::namespace_& hello_;
};

int main(int argc, char** argv) {
    std::string bind = "127.0.0.1";
    unsigned short port = 8080;
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string arg = argv[i];
        if (arg == "--port")
            port = static_cast<unsigned short>(std::stoi(argv[i + 1]));
        else if (arg == "--bind")
            bind = argv[i + 1];
    }

    net::io_context ioc;
    sse::server io{ioc.get_executor()};
    auto& hello = io.of("/hello");

    auto l =
        std::make_shared<listener>(ioc, tcp::endpoint{net::ip::make_address(bind), port}, hello);
    std::cout << "listening on " << bind << ":" << l->local_endpoint().port() << std::endl;
    l->run();

    // A tick a second, to everyone on /hello.
    net::steady_timer timer(ioc);
    int n = 0;
    std::function<void(beast::error_code)> tick = [&](beast::error_code ec) {
        if (ec) return;
        std::time_t now = std::time(nullptr);
        char time[16];
        std::strftime(time, sizeof time, "%H:%M:%S", std::localtime(&now));
        hello.emit("tick", {{"n", ++n}, {"time", time}});
        timer.expires_after(std::chrono::seconds(1));
        timer.async_wait(tick);
    };
    tick({});

    net::signal_set signals(ioc, SIGINT, SIGTERM);
    signals.async_wait([&](beast::error_code, int) {
        io.close();
        ioc.stop();
    });
    ioc.run();
}
