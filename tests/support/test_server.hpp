// tests/support/test_server.hpp - an in-process Beast HTTP listener for tests (header-only).
//
// Plays the application's own server: it binds 127.0.0.1:0, accepts, reads ONE request per
// connection with `beast::tcp_stream` (or `beast::ssl_stream<beast::tcp_stream>` after a TLS
// handshake with a self-signed certificate made at start-up), and hands stream and request to
// the test's route, which typically calls `ns.connect(std::move(stream), std::move(req))`.
//
//     sse_test::test_server ts;                          // io_context on 1 thread (or N)
//     sse::server io{ts.get_executor()};                 // declared after ts: destroyed first
//     auto& ns = io.of("/s");
//     ts.listen([&](auto&& stream, auto&& req) { ns.connect(std::move(stream), std::move(req)); });
//     sse_test::sse_reader r(ts.port(), "/s");
//
// The io_context runs on its own threads from construction until `stop()` (or destruction).
// Each accepted connection gets its own strand, as Beast's examples do.
#ifndef SSE_TESTS_SUPPORT_TEST_SERVER_HPP
#define SSE_TESTS_SUPPORT_TEST_SERVER_HPP

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <future>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <type_traits>
#include <vector>

namespace sse_test {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = net::ssl;

using request = http::request<http::string_body>;
using plain_stream = beast::tcp_stream;
using tls_stream = beast::ssl_stream<beast::tcp_stream>;
using plain_route = std::function<void(plain_stream&&, request&&)>;
using tls_route = std::function<void(tls_stream&&, request&&)>;

/** Puts a fresh self-signed certificate for "localhost"/127.0.0.1 (EC P-256, valid for a
    day) and its key into `ctx`. Made with OpenSSL's APIs in a millisecond, so no key or
    certificate file lives in the repository. Throws `std::runtime_error` on failure.
*/
inline void use_self_signed_certificate(ssl::context& ctx) {
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
        EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"), &EVP_PKEY_free);
    std::unique_ptr<X509, decltype(&X509_free)> cert(X509_new(), &X509_free);
    if (!key || !cert) throw std::runtime_error("test_server: key generation failed");
    X509_set_version(cert.get(), 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), 24 * 3600);
    X509_set_pubkey(cert.get(), key.get());
    X509_NAME* name = X509_get_subject_name(cert.get());
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<unsigned char const*>("localhost"), -1, -1, 0);
    X509_set_issuer_name(cert.get(), name);
    if (X509_sign(cert.get(), key.get(), EVP_sha256()) <= 0 ||
        SSL_CTX_use_certificate(ctx.native_handle(), cert.get()) != 1 ||
        SSL_CTX_use_PrivateKey(ctx.native_handle(), key.get()) != 1)
        throw std::runtime_error("test_server: could not install the self-signed certificate");
}

/** The application's HTTP server, in-process: an io_context on N threads and listeners. */
class test_server {
public:
    /// Starts an io_context on `threads` threads (at least 1). Nothing listens yet.
    explicit test_server(std::size_t threads = 1)
        : work_(net::make_work_guard(ioc_)) {
        if (threads == 0) threads = 1;
        for (std::size_t i = 0; i < threads; ++i)
            threads_.emplace_back([this] { ioc_.run(); });
    }

    test_server(test_server const&) = delete;
    test_server& operator=(test_server const&) = delete;

    /// Stops and joins (see `stop`).
    ~test_server() { stop(); }

    /// Listens on 127.0.0.1:0 for plain HTTP; returns the port. Every request read on it is
    /// handed to `route` on the connection's strand.
    unsigned short listen(plain_route route) {
        auto l = std::make_shared<listener>(*this);
        l->plain = std::move(route);
        return start(std::move(l));
    }

    /// Listens on 127.0.0.1:0 for HTTPS (self-signed certificate); returns the port.
    unsigned short listen_tls(tls_route route) {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (!tls_ctx_) {
                tls_ctx_.emplace(ssl::context::tls_server);
                use_self_signed_certificate(*tls_ctx_);
            }
        }
        auto l = std::make_shared<listener>(*this);
        l->tls = std::move(route);
        return start(std::move(l));
    }

    /// The port of the first listener (plain or TLS).
    unsigned short port() const {
        std::lock_guard<std::mutex> lock(mutex_);
        if (listeners_.empty()) throw std::logic_error("test_server: call listen() first");
        return listeners_.front()->port;
    }

    net::io_context& context() noexcept { return ioc_; }
    net::any_io_executor get_executor() noexcept { return ioc_.get_executor(); }
    std::size_t thread_count() const noexcept { return threads_.size(); }

    /// Runs `f` on the io_context and returns its result (or rethrows its exception). Throws
    /// `std::runtime_error` if it has not run within `timeout`.
    template <class F>
    auto run(F&& f, std::chrono::milliseconds timeout = std::chrono::seconds(5))
        -> std::invoke_result_t<F&> {
        using result = std::invoke_result_t<F&>;
        auto p = std::make_shared<std::promise<result>>();
        auto fut = p->get_future();
        net::post(ioc_, [p, fn = std::forward<F>(f)]() mutable {
            try {
                if constexpr (std::is_void_v<result>) {
                    fn();
                    p->set_value();
                } else {
                    p->set_value(fn());
                }
            } catch (...) {
                p->set_exception(std::current_exception());
            }
        });
        if (fut.wait_for(timeout) != std::future_status::ready)
            throw std::runtime_error("test_server::run: the io_context did not run the function");
        return fut.get();
    }

    /// Closes the listeners, stops the io_context and joins its threads. Handlers still
    /// pending are destroyed with the io_context. Idempotent.
    void stop() {
        std::vector<std::thread> threads;
        std::vector<std::shared_ptr<listener>> listeners;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            threads.swap(threads_);
            listeners = listeners_;
        }
        if (!threads.empty()) {
            // Close the acceptors on their strands while the io_context still runs.
            for (auto const& l : listeners) {
                auto done = std::make_shared<std::promise<void>>();
                net::post(l->acceptor.get_executor(), [l, done] {
                    beast::error_code ignored;
                    l->acceptor.close(ignored);
                    done->set_value();
                });
                done->get_future().wait_for(std::chrono::seconds(2));
            }
        }
        work_.reset();
        ioc_.stop();
        for (auto& t : threads)
            if (t.joinable()) t.join();
    }

    /// Connections accepted so far (all listeners).
    std::size_t accepted() const noexcept { return accepted_.load(); }

private:
    struct listener : std::enable_shared_from_this<listener> {
        explicit listener(test_server& s)
            : owner(s)
            , acceptor(net::make_strand(s.ioc_)) {}

        void do_accept() {
            acceptor.async_accept(
                net::make_strand(owner.ioc_),
                [self = shared_from_this()](beast::error_code ec, net::ip::tcp::socket socket) {
                    if (ec) return; // closed by stop()
                    ++self->owner.accepted_;
                    self->on_accept(std::move(socket));
                    self->do_accept();
                });
        }

        void on_accept(net::ip::tcp::socket socket) {
            if (plain) {
                auto s = std::make_shared<session<plain_stream>>(std::move(socket), plain);
                s->do_read();
            } else {
                auto s =
                    std::make_shared<session<tls_stream>>(std::move(socket), tls, *owner.tls_ctx_);
                s->do_handshake();
            }
        }

        test_server& owner;
        net::ip::tcp::acceptor acceptor;
        unsigned short port = 0;
        plain_route plain;
        tls_route tls;
    };

    template <class Stream>
    struct session : std::enable_shared_from_this<session<Stream>> {
        using route_type = std::function<void(Stream&&, request&&)>;

        session(net::ip::tcp::socket socket, route_type const& r)
            : stream(std::move(socket))
            , route(r) {}
        session(net::ip::tcp::socket socket, route_type const& r, ssl::context& ctx)
            : stream(std::move(socket), ctx)
            , route(r) {}

        void do_handshake() {
            beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(5));
            stream.async_handshake(ssl::stream_base::server,
                                   [self = this->shared_from_this()](beast::error_code ec) {
                                       if (!ec) self->do_read();
                                   });
        }

        void do_read() {
            beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(5));
            http::async_read(stream, buffer, req,
                             [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                                 if (ec) return; // the test's client went away or sent junk
                                 try {
                                     self->route(std::move(self->stream), std::move(self->req));
                                 } catch (std::exception const& e) {
                                     std::cerr << "test_server: route threw: " << e.what() << '\n';
                                 }
                             });
        }

        Stream stream;
        beast::flat_buffer buffer;
        request req;
        route_type route;
    };

    unsigned short start(std::shared_ptr<listener> l) {
        net::ip::tcp::endpoint ep(net::ip::make_address("127.0.0.1"), 0);
        l->acceptor.open(ep.protocol());
        l->acceptor.set_option(net::socket_base::reuse_address(true));
        l->acceptor.bind(ep);
        l->acceptor.listen(net::socket_base::max_listen_connections);
        l->port = l->acceptor.local_endpoint().port();
        {
            std::lock_guard<std::mutex> lock(mutex_);
            listeners_.push_back(l);
        }
        net::post(l->acceptor.get_executor(), [l] { l->do_accept(); });
        return l->port;
    }

    net::io_context ioc_;
    net::executor_work_guard<net::io_context::executor_type> work_;
    mutable std::mutex mutex_;
    std::vector<std::thread> threads_;
    std::vector<std::shared_ptr<listener>> listeners_;
    std::optional<ssl::context> tls_ctx_;
    std::atomic<std::size_t> accepted_{0};
};

} // namespace sse_test

#endif
