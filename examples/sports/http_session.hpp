// http_session.hpp - one HTTP connection: reads requests and answers them (routes.hpp), until
// a stream request hands the socket over to the library.
#ifndef SPORTS_HTTP_SESSION_HPP
#define SPORTS_HTTP_SESSION_HPP

#include "app.hpp"
#include "routes.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <array>
#include <chrono>
#include <iostream>
#include <memory>
#include <optional>
#include <variant>

namespace sports {

namespace beast = boost::beast;
namespace net = boost::asio;
using tcp = net::ip::tcp;

inline void fail(beast::error_code ec, char const* what) {
    std::cerr << what << ": " << ec.message() << "\n";
}

/// How long a connection may take to send a whole request.
constexpr auto read_timeout = std::chrono::seconds(30);

class http_session : public std::enable_shared_from_this<http_session> {
public:
    http_session(tcp::socket&& socket, std::shared_ptr<app> a)
        : stream_(std::move(socket))
        , app_(std::move(a)) {}

    void run() {
        net::dispatch(stream_.get_executor(),
                      beast::bind_front_handler(&http_session::do_read, shared_from_this()));
    }

private:
    void do_read() {
        parser_.emplace();
        limit_request(*parser_);
        stream_.expires_after(read_timeout);
        http::async_read(stream_, buffer_, *parser_,
                         beast::bind_front_handler(&http_session::on_read, shared_from_this()));
    }

    void on_read(beast::error_code ec, std::size_t) {
        if (ec == http::error::end_of_stream) return do_close();
        if (ec == beast::error::timeout) return do_close();
        if (ec && ec != http::error::body_limit) return fail(ec, "read");
        // The routes are written not to throw on anything a peer sends (the fuzz target
        // demo_http holds them to it); this is the last resort should one still do so.
        try {
            if (ec == http::error::body_limit) return send(body_too_large(*app_, parser_->get()));
            auto next = route_request(*app_, parser_->get());
            if (auto* stream = std::get_if<stream_route>(&next)) return do_stream(*stream);
            if (auto* later = std::get_if<deferred_answer>(&next)) return do_later(*later);
            send(std::move(std::get<http::message_generator>(next)));
        } catch (std::exception const& e) {
            internal_error(e.what());
        } catch (...) {
            internal_error("unknown exception");
        }
    }

    // Hands the connection to the sport's namespace; the client joins the match's room.
    void do_stream(stream_route const& to) {
        app_->for_namespace(to.sport, [&](auto& ns) {
            handed_over_ = true;
            auto client = ns.connect(std::move(stream_), parser_->release());
            client->join(to.match);
        });
    }

    // An answer that comes later (from another thread, maybe): it is written on this session's
    // strand. Until then nothing is read (a pipelined request waits in buffer_) and the
    // handler's copy of `self` keeps the session alive; then the connection goes on as after
    // any answer (keep-alive or close).
    void do_later(deferred_answer& later) {
        later.start([self = shared_from_this()](http::message_generator answer) {
            net::post(self->stream_.get_executor(), [self, answer = std::move(answer)]() mutable {
                self->send(std::move(answer));
            });
        });
    }

    // Counts and logs a request whose handling threw, and answers 500 if the socket is ours.
    void internal_error(char const* what) noexcept {
        ++app_->request_errors;
        try {
            std::cerr << "request failed: " << what << "\n";
            if (handed_over_) return;
            http::response<http::string_body> res{http::status::internal_server_error, 11};
            res.set(http::field::content_type, "application/json");
            res.body() = "{\"error\":\"internal error\",\"status\":500}\n";
            res.keep_alive(false);
            res.prepare_payload();
            send(std::move(res));
        } catch (...) {
            beast::error_code ignored;
            stream_.socket().close(ignored);
        }
    }

    void send(http::message_generator&& msg) {
        bool const keep_alive = msg.keep_alive();
        beast::async_write(
            stream_, std::move(msg),
            beast::bind_front_handler(&http_session::on_write, shared_from_this(), keep_alive));
    }

    void on_write(bool keep_alive, beast::error_code ec, std::size_t) {
        if (ec) return fail(ec, "write");
        if (!keep_alive) return do_close();
        do_read();
    }

    // Sends FIN, then drains what the peer still sends (e.g. the rest of a refused body) so
    // that it reads our answer instead of a reset.
    void do_close() {
        beast::error_code ec;
        stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
        stream_.expires_after(std::chrono::seconds(5));
        drain_ = std::make_unique<std::array<char, 4096>>();
        stream_.async_read_some(
            net::buffer(*drain_),
            beast::bind_front_handler(&http_session::on_drain, shared_from_this()));
    }

    void on_drain(beast::error_code ec, std::size_t) {
        if (!ec)
            return stream_.async_read_some(
                net::buffer(*drain_),
                beast::bind_front_handler(&http_session::on_drain, shared_from_this()));
        stream_.close();
    }

    beast::tcp_stream stream_;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
    std::shared_ptr<app> app_;
    bool handed_over_ = false; // the socket belongs to the library now
    // Only while closing: a session that becomes an event stream never needs it, and 4 KiB
    // in every session in flight fragments the heap between the clients' long-lived objects.
    std::unique_ptr<std::array<char, 4096>> drain_;
};

} // namespace sports

#endif
