// redis_node - one of several processes that share their events through one Redis.
//
//   redis_node <address> <port> <redis-url> <node-name>
//
//   redis-server --port 6379 &
//   redis_node 127.0.0.1 8080 redis://127.0.0.1:6379 A &
//   redis_node 127.0.0.1 8081 redis://127.0.0.1:6379 B &
//   curl -N http://127.0.0.1:8081/events &                      # a client of B
//   curl -d 'hello from A' http://127.0.0.1:8080/emit           # an emit on A reaches it
//
// Routes: GET /events (the stream), POST /emit (the body becomes a `message` event on every
// node), GET /health (this node's Redis link, as JSON: ready once Redis confirmed our
// subscriptions, so a load balancer or a test knows when emits elsewhere will reach us).
// Port 0 picks a free port; the line "listening on <address>:<port>" says which.
#include <sse/redis_adapter.hpp>
#include <sse/server.hpp>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <cstdlib>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

// What a node's sessions share.
struct node {
    std::string name;
    sse::namespace_& events;
    std::shared_ptr<sse::redis_adapter> redis;
};

// The answer to every request but the stream.
http::response<http::string_body> handle_request(node& self,
                                                 http::request<http::string_body> const& req) {
    auto answer = [&](http::status status, std::string type, std::string body) {
        http::response<http::string_body> res{status, req.version()};
        res.set(http::field::content_type, type);
        res.keep_alive(req.keep_alive());
        res.body() = std::move(body);
        res.prepare_payload();
        return res;
    };
    if (req.target() == "/emit" && req.method() == http::verb::post) {
        try {
            // Delivered to this node's clients now, and published for the other nodes'.
            self.events.emit("message", {{"from", self.name}, {"text", req.body()}});
        } catch (std::invalid_argument const& e) { // the body is not UTF-8
            return answer(http::status::bad_request, "text/plain", e.what() + std::string("\n"));
        } catch (std::length_error const& e) { // too large for a client's queue, once encoded
            return answer(http::status::payload_too_large, "text/plain",
                          e.what() + std::string("\n"));
        }
        return answer(http::status::accepted, "text/plain", "emitted\n");
    }
    if (req.target() == "/health" && req.method() == http::verb::get) {
        sse::redis_state s = self.redis->state();
        bool ready = s.connected && s.subscribed_channels > 0 && s.pending_subscriptions == 0;
        nlohmann::json body = {{"node", self.name}, {"redis", s.connected}, {"ready", ready}};
        return answer(http::status::ok, "application/json", body.dump() + "\n");
    }
    return answer(http::status::not_found, "text/plain", "not found\n");
}

void fail(beast::error_code ec, char const* what) {
    std::cerr << what << ": " << ec.message() << "\n";
}

class session : public std::enable_shared_from_this<session> {
    beast::tcp_stream stream_;
    beast::flat_buffer buffer_;
    http::request<http::string_body> req_;
    node& node_;

public:
    session(tcp::socket&& socket, node& n)
        : stream_(std::move(socket))
        , node_(n) {}

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
        if (ec == http::error::end_of_stream) return do_close();
        if (ec) return fail(ec, "read");
        if (req_.target() == "/events") {
            node_.events.connect(std::move(stream_), std::move(req_));
            return;
        }
        auto res = handle_request(node_, req_);
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
};

class listener : public std::enable_shared_from_this<listener> {
    net::io_context& ioc_;
    tcp::acceptor acceptor_;
    node& node_;

public:
    listener(net::io_context& ioc, tcp::endpoint endpoint, node& n)
        : ioc_(ioc)
        , acceptor_(net::make_strand(ioc), endpoint) // throws, with the reason, if taken
        , node_(n) {
        std::cout << "listening on " << endpoint.address() << ":"
                  << acceptor_.local_endpoint().port() << std::endl;
    }

    void run() { do_accept(); }

private:
    void do_accept() {
        acceptor_.async_accept(net::make_strand(ioc_),
                               beast::bind_front_handler(&listener::on_accept, shared_from_this()));
    }

    void on_accept(beast::error_code ec, tcp::socket socket) {
        if (ec) return fail(ec, "accept");
        std::make_shared<session>(std::move(socket), node_)->run();
        do_accept();
    }
};

int main(int argc, char* argv[]) {
    if (argc != 5) {
        std::cerr << "Usage: redis_node <address> <port> <redis-url> <node-name>\n"
                  << "Example:\n    redis_node 127.0.0.1 8080 redis://127.0.0.1:6379 A\n";
        return EXIT_FAILURE;
    }
    auto const address = net::ip::make_address(argv[1]);
    auto const port = static_cast<unsigned short>(std::atoi(argv[2]));

    net::io_context ioc;
    sse::server io{ioc.get_executor()};

    // The one difference from a single node: an adapter that carries every emit through
    // Redis. A Redis that is down or restarts is retried; local delivery never waits for it.
    sse::redis_options ro;
    ro.url = argv[3];
    auto redis = std::make_shared<sse::redis_adapter>(ioc.get_executor(), ro);
    io.adapter(redis);

    node self{argv[4], io.of("/events"), redis};
    std::make_shared<listener>(ioc, tcp::endpoint{address, port}, self)->run();

    net::signal_set signals{ioc, SIGINT, SIGTERM};
    signals.async_wait([&](beast::error_code, int) {
        io.close(); // ends the streams and closes both Redis connections
        ioc.stop();
    });
    ioc.run();
    return EXIT_SUCCESS;
}
