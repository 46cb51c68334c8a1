// tls_server - an HTTPS server in the shape of Beast's example/http/server/async-ssl, with /events
// handed to sse as a beast::ssl_stream<beast::tcp_stream>.
//
//   tls_server <address> <port> <certificate.pem> <private-key.pem>
//
//   openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost
//       -addext subjectAltName=IP:127.0.0.1,DNS:localhost -keyout key.pem -out cert.pem
//       (one command)
//   tls_server 127.0.0.1 8443 cert.pem key.pem
//   curl -N --cacert cert.pem https://127.0.0.1:8443/events
//
// The session does the TLS handshake, then reads requests; the one for /events gives its
// stream (TLS and all) to sse, which writes events through it and ends it with a TLS close.
// Port 0 picks a free port; the line "listening on <address>:<port>" says which.
#include <sse/server.hpp>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/version.hpp>

#include <cstdlib>
#include <functional>
#include <iostream>
#include <memory>
#include <string>

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

// Every other request: a short text at "/", 404 elsewhere.
http::message_generator handle_request(http::request<http::string_body>&& req) {
    bool const found = req.target() == "/";
    http::response<http::string_body> res{found ? http::status::ok : http::status::not_found,
                                          req.version()};
    res.set(http::field::server, BOOST_BEAST_VERSION_STRING);
    res.set(http::field::content_type, "text/plain");
    res.keep_alive(req.keep_alive());
    res.body() = found ? "the stream is at /events\n" : "not found\n";
    res.prepare_payload();
    if (req.method() == http::verb::head) res.body().clear(); // the length stays, as HTTP says
    return res;
}

void fail(beast::error_code ec, char const* what) {
    // A peer that goes without a TLS close_notify is common and harmless for us: every
    // message we read has its own length.
    if (ec == net::ssl::error::stream_truncated) return;
    std::cerr << what << ": " << ec.message() << "\n";
}

class session : public std::enable_shared_from_this<session> {
    beast::ssl_stream<beast::tcp_stream> stream_;
    beast::flat_buffer buffer_;
    http::request<http::string_body> req_;
    sse::namespace_& events_;

public:
    session(tcp::socket&& socket, ssl::context& ctx, sse::namespace_& events)
        : stream_(std::move(socket), ctx)
        , events_(events) {}

    void run() {
        net::dispatch(stream_.get_executor(),
                      beast::bind_front_handler(&session::on_run, shared_from_this()));
    }

    void on_run() {
        beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(30));
        stream_.async_handshake(
            ssl::stream_base::server,
            beast::bind_front_handler(&session::on_handshake, shared_from_this()));
    }

    void on_handshake(beast::error_code ec) {
        if (ec) return fail(ec, "handshake");
        do_read();
    }

    void do_read() {
        req_ = {};
        beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(30));
        http::async_read(stream_, buffer_, req_,
                         beast::bind_front_handler(&session::on_read, shared_from_this()));
    }

    void on_read(beast::error_code ec, std::size_t) {
        if (ec == http::error::end_of_stream) return do_close();
        if (ec) return fail(ec, "read");

        // sse: the TLS stream and the request now belong to `events_`; this session ends.
        if (req_.target() == "/events") {
            events_.connect(std::move(stream_), std::move(req_));
            return;
        }

        send_response(handle_request(std::move(req_)));
    }

    void send_response(http::message_generator&& msg) {
        bool keep_alive = msg.keep_alive();
        beast::async_write(
            stream_, std::move(msg),
            beast::bind_front_handler(&session::on_write, shared_from_this(), keep_alive));
    }

    void on_write(bool keep_alive, beast::error_code ec, std::size_t) {
        if (ec) return fail(ec, "write");
        if (!keep_alive) return do_close();
        do_read();
    }

    void do_close() {
        beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(30));
        stream_.async_shutdown(
            beast::bind_front_handler(&session::on_shutdown, shared_from_this()));
    }

    void on_shutdown(beast::error_code ec) {
        if (ec) fail(ec, "shutdown");
    }
};

class listener : public std::enable_shared_from_this<listener> {
    net::io_context& ioc_;
    ssl::context& ctx_;
    tcp::acceptor acceptor_;
    sse::namespace_& events_;

public:
    listener(net::io_context& ioc, ssl::context& ctx, tcp::endpoint endpoint,
             sse::namespace_& events)
        : ioc_(ioc)
        , ctx_(ctx)
        , acceptor_(net::make_strand(ioc))
        , events_(events) {
        acceptor_.open(endpoint.protocol());
        acceptor_.set_option(net::socket_base::reuse_address(true));
        acceptor_.bind(endpoint); // throws, with the reason, when the port is taken
        acceptor_.listen(net::socket_base::max_listen_connections);
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
        std::make_shared<session>(std::move(socket), ctx_, events_)->run();
        do_accept();
    }
};

int main(int argc, char* argv[]) {
    if (argc != 5) {
        std::cerr << "Usage: tls_server <address> <port> <certificate.pem> <private-key.pem>\n"
                  << "Example:\n    tls_server 127.0.0.1 8443 cert.pem key.pem\n";
        return EXIT_FAILURE;
    }
    auto const address = net::ip::make_address(argv[1]);
    auto const port = static_cast<unsigned short>(std::atoi(argv[2]));

    ssl::context ctx{ssl::context::tls_server};
    ctx.set_options(ssl::context::default_workarounds | ssl::context::no_tlsv1 |
                    ssl::context::no_tlsv1_1);
    beast::error_code ec;
    ctx.use_certificate_chain_file(argv[3], ec);
    if (!ec) ctx.use_private_key_file(argv[4], ssl::context::pem, ec);
    if (ec) {
        std::cerr << "tls: cannot load " << argv[3] << " / " << argv[4] << ": " << ec.message()
                  << "\n";
        return EXIT_FAILURE;
    }

    net::io_context ioc;
    sse::server io{ioc.get_executor()};
    sse::namespace_& events = io.of("/events");

    std::make_shared<listener>(ioc, ctx, tcp::endpoint{address, port}, events)->run();

    // Something to stream: a tick a second, to everyone on /events.
    net::steady_timer timer{ioc};
    int ticks = 0;
    std::function<void(beast::error_code)> tick = [&](beast::error_code ec) {
        if (ec) return;
        events.emit("tick", {{"n", ++ticks}});
        timer.expires_after(std::chrono::seconds(1));
        timer.async_wait(tick);
    };
    tick({});

    net::signal_set signals{ioc, SIGINT, SIGTERM};
    signals.async_wait([&](beast::error_code, int) {
        io.close();
        ioc.stop();
    });
    ioc.run();
    return EXIT_SUCCESS;
}
