// existing_app - Beast's http_server_async, with one route handed to sse.
//
//   existing_app <address> <port> <doc_root> <threads>
//   existing_app 127.0.0.1 8080 . 1      then: curl -N http://127.0.0.1:8080/events
//
// This is the shape of Beast's own example/http/server/async (listener, session, do_/on_
// pairs, handle_request serving files under doc_root). The lines marked `// sse:` are what a
// stream adds; README.md ("Adding a stream to Beast's http_server_async") lists them as a
// diff. Two more things are not in Beast's example: the line "listening on <address>:<port>"
// (port 0 picks a free port, and scripts read which), and a clean shutdown on SIGINT/SIGTERM.
#include <sse/server.hpp> // sse:

#include <boost/asio/dispatch.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp> // sse: for the tick
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/version.hpp>

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

// The content type of a file, from its extension.
beast::string_view mime_type(beast::string_view path) {
    auto const dot = path.rfind('.');
    auto const ext = dot == beast::string_view::npos ? beast::string_view{} : path.substr(dot);
    if (beast::iequals(ext, ".html") || beast::iequals(ext, ".htm")) return "text/html";
    if (beast::iequals(ext, ".css")) return "text/css";
    if (beast::iequals(ext, ".js")) return "application/javascript";
    if (beast::iequals(ext, ".json")) return "application/json";
    if (beast::iequals(ext, ".txt")) return "text/plain";
    if (beast::iequals(ext, ".png")) return "image/png";
    if (beast::iequals(ext, ".svg")) return "image/svg+xml";
    return "application/octet-stream";
}

// doc_root followed by the request's path.
std::string path_cat(beast::string_view base, beast::string_view path) {
    std::string result(base);
    if (!result.empty() && result.back() == '/') result.pop_back();
    result.append(path.data(), path.size());
    return result;
}

// The answer to an ordinary request: a file under doc_root, or an error page.
template <class Body, class Allocator>
http::message_generator handle_request(beast::string_view doc_root,
                                       http::request<Body, http::basic_fields<Allocator>>&& req) {
    auto const answer = [&req](http::status status, std::string body) {
        http::response<http::string_body> res{status, req.version()};
        res.set(http::field::server, BOOST_BEAST_VERSION_STRING);
        res.set(http::field::content_type, "text/html");
        res.keep_alive(req.keep_alive());
        res.body() = std::move(body);
        res.prepare_payload();
        return res;
    };

    if (req.method() != http::verb::get && req.method() != http::verb::head)
        return answer(http::status::bad_request, "Unknown HTTP-method");
    if (req.target().empty() || req.target()[0] != '/' ||
        req.target().find("..") != beast::string_view::npos)
        return answer(http::status::bad_request, "Illegal request-target");

    std::string path = path_cat(doc_root, req.target());
    if (req.target().back() == '/') path.append("index.html");

    beast::error_code ec;
    http::file_body::value_type body;
    body.open(path.c_str(), beast::file_mode::scan, ec);
    if (ec == beast::errc::no_such_file_or_directory)
        return answer(http::status::not_found,
                      "The resource '" + std::string(req.target()) + "' was not found.");
    if (ec)
        return answer(http::status::internal_server_error, "An error occurred: " + ec.message());

    auto const size = body.size();
    if (req.method() == http::verb::head) {
        http::response<http::empty_body> res{http::status::ok, req.version()};
        res.set(http::field::server, BOOST_BEAST_VERSION_STRING);
        res.set(http::field::content_type, mime_type(path));
        res.content_length(size);
        res.keep_alive(req.keep_alive());
        return res;
    }
    http::response<http::file_body> res{std::piecewise_construct, std::make_tuple(std::move(body)),
                                        std::make_tuple(http::status::ok, req.version())};
    res.set(http::field::server, BOOST_BEAST_VERSION_STRING);
    res.set(http::field::content_type, mime_type(path));
    res.content_length(size);
    res.keep_alive(req.keep_alive());
    return res;
}

void fail(beast::error_code ec, char const* what) {
    std::cerr << what << ": " << ec.message() << "\n";
}

// One HTTP connection: reads requests and answers them, one at a time.
class session : public std::enable_shared_from_this<session> {
    beast::tcp_stream stream_;
    beast::flat_buffer buffer_;
    std::shared_ptr<std::string const> doc_root_;
    http::request<http::string_body> req_;
    sse::namespace_& events_; // sse:

public:
    session(tcp::socket&& socket, std::shared_ptr<std::string const> const& doc_root,
            sse::namespace_& events) // sse:
        : stream_(std::move(socket))
        , doc_root_(doc_root)
        , events_(events) {} // sse:

    // Starts on the connection's strand, so the session needs no lock.
    void run() {
        net::dispatch(stream_.get_executor(),
                      beast::bind_front_handler(&session::do_read, shared_from_this()));
    }

    void do_read() {
        req_ = {};
        stream_.expires_after(std::chrono::seconds(30));
        http::async_read(stream_, buffer_, req_,
                         beast::bind_front_handler(&session::on_read, shared_from_this()));
    }

    void on_read(beast::error_code ec, std::size_t) {
        if (ec == http::error::end_of_stream) return do_close();
        if (ec) return fail(ec, "read");

        // sse: this route is a stream; the stream and the request now belong to `events_`,
        // and this session ends here (nothing else refers to it).
        if (req_.target() == "/events") {
            events_.connect(std::move(stream_), std::move(req_));
            return;
        }

        send_response(handle_request(*doc_root_, std::move(req_)));
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
        beast::error_code ec;
        stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    }
};

// Accepts connections and starts a session for each, each on its own strand.
class listener : public std::enable_shared_from_this<listener> {
    net::io_context& ioc_;
    tcp::acceptor acceptor_;
    std::shared_ptr<std::string const> doc_root_;
    sse::namespace_& events_; // sse:

public:
    listener(net::io_context& ioc, tcp::endpoint endpoint,
             std::shared_ptr<std::string const> const& doc_root,
             sse::namespace_& events) // sse:
        : ioc_(ioc)
        , acceptor_(net::make_strand(ioc))
        , doc_root_(doc_root)
        , events_(events) { // sse:
        beast::error_code ec;
        acceptor_.open(endpoint.protocol(), ec);
        if (ec) {
            fail(ec, "open");
            return;
        }
        acceptor_.set_option(net::socket_base::reuse_address(true), ec);
        if (ec) {
            fail(ec, "set_option");
            return;
        }
        acceptor_.bind(endpoint, ec);
        if (ec) {
            fail(ec, "bind");
            return;
        }
        acceptor_.listen(net::socket_base::max_listen_connections, ec);
        if (ec) {
            fail(ec, "listen");
            return;
        }
        // For scripts (port 0 picks one): not part of Beast's example, nor needed by sse.
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
        if (ec) return fail(ec, "accept"); // stop here rather than spin on a broken acceptor
        std::make_shared<session>(std::move(socket), doc_root_, events_)->run(); // sse: events_
        do_accept();
    }
};

int main(int argc, char* argv[]) {
    if (argc != 5) {
        std::cerr << "Usage: existing_app <address> <port> <doc_root> <threads>\n"
                  << "Example:\n    existing_app 127.0.0.1 8080 . 1\n";
        return EXIT_FAILURE;
    }
    auto const address = net::ip::make_address(argv[1]);
    auto const port = static_cast<unsigned short>(std::atoi(argv[2]));
    auto const doc_root = std::make_shared<std::string>(argv[3]);
    auto const threads = std::max<int>(1, std::atoi(argv[4]));

    net::io_context ioc{threads};

    // sse: the server and the namespace the /events route streams.
    sse::server io{ioc.get_executor()};
    sse::namespace_& events = io.of("/events");

    std::make_shared<listener>(ioc, tcp::endpoint{address, port}, doc_root, events) // sse: events
        ->run();

    // sse: something to stream - a tick a second, to everyone on /events. emit() may be
    // called from any thread; here it runs on one of the io_context's.
    net::steady_timer timer{ioc};
    int ticks = 0;
    std::function<void(beast::error_code)> tick = [&](beast::error_code ec) {
        if (ec) return;
        events.emit("tick", {{"n", ++ticks}});
        timer.expires_after(std::chrono::seconds(1));
        timer.async_wait(tick);
    };
    tick({});

    // On SIGINT/SIGTERM, io.close() sends every stream a reconnect hint and ends it; then the
    // threads return from run() and are joined (Beast's example never stops).
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
    return EXIT_SUCCESS;
}
