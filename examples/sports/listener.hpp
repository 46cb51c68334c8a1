// listener.hpp - accepts connections and starts an http_session for each.
#ifndef SPORTS_LISTENER_HPP
#define SPORTS_LISTENER_HPP

#include "app.hpp"
#include "http_session.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>

#include <memory>

namespace sports {

class listener : public std::enable_shared_from_this<listener> {
public:
    listener(net::io_context& ioc, tcp::endpoint endpoint, std::shared_ptr<app> a)
        : ioc_(ioc)
        , acceptor_(net::make_strand(ioc))
        , app_(std::move(a)) {
        acceptor_.open(endpoint.protocol());
        acceptor_.set_option(net::socket_base::reuse_address(true));
        acceptor_.bind(endpoint);
        acceptor_.listen(net::socket_base::max_listen_connections);
    }

    tcp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }

    void run() { do_accept(); }

    void stop() {
        net::dispatch(acceptor_.get_executor(), [self = shared_from_this()] {
            beast::error_code ec;
            self->acceptor_.close(ec);
        });
    }

private:
    void do_accept() {
        acceptor_.async_accept(net::make_strand(ioc_),
                               beast::bind_front_handler(&listener::on_accept, shared_from_this()));
    }

    void on_accept(beast::error_code ec, tcp::socket socket) {
        if (ec == net::error::operation_aborted) return;
        if (ec)
            fail(ec, "accept"); // e.g. out of descriptors: keep accepting once some free up
        else
            std::make_shared<http_session>(std::move(socket), app_)->run();
        do_accept();
    }

    net::io_context& ioc_;
    tcp::acceptor acceptor_;
    std::shared_ptr<app> app_;
};

} // namespace sports

#endif
