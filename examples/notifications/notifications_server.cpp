// notifications_server - per-user notification streams: every tab of a user in room user:<id>.
//
//   notifications_server <address> <port>
//
//   curl -X POST 'http://127.0.0.1:8080/login?user=42&ttl=3600'   # {"token":"...",...}
//   curl -N -H 'Authorization: Bearer <token>' http://127.0.0.1:8080/events     # a tab of 42
//   curl -N 'http://127.0.0.1:8080/events?token=<token>'       # another (as EventSource does)
//   curl -d 'hello' 'http://127.0.0.1:8080/notify?user=42'     # both tabs get it
//   curl -X POST -H 'Authorization: Bearer <token>' http://127.0.0.1:8080/logout   # both end
//   open http://127.0.0.1:8080/?token=<token>                  # a page that shows them
//
// Routes: GET / (the page), GET /events (the stream), POST /login?user=<id>&ttl=<seconds>
// (a token; ttl 1..86400, default 3600), POST /notify?user=<id> (the body becomes a
// `notification` event to that user's streams), POST /logout (with the token: the user's
// tokens are revoked and their streams end). Events: `notification`, `auth_expired`,
// `logged_out`. Port 0 picks a free port; the line "listening on <address>:<port>" says which.
//
// /login trusts the `user` it is given: it stands for the app's real sign-in. /notify is open:
// it stands for the app's own backend (a queue consumer, a service call).
#include "token_store.hpp"

#include <sse/server.hpp>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <cctype>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

// ---- the sse part -----------------------------------------------------------------------------

// A stream's token: `Authorization: Bearer <token>`, else the `token` query parameter, because
// a browser's EventSource cannot set headers. (A URL reaches access logs: keep such tokens
// short-lived.)
std::string_view token_of(std::string_view authorization, std::string_view query_token) {
    constexpr std::string_view scheme = "Bearer ";
    if (authorization.size() > scheme.size() &&
        beast::iequals(authorization.substr(0, scheme.size()), scheme))
        return authorization.substr(scheme.size());
    return query_token;
}

std::string_view token_of(sse::handshake const& hs) {
    return token_of(hs.header("Authorization"), hs.query("token"));
}

std::string room_of(std::string_view user) {
    return "user:" + std::string(user);
}

// Tells a stream why it ends, then ends it (its queued events are sent first).
void end_stream(sse::client& c, std::string_view event, std::string_view reason) {
    c.emit(event, {{"reason", reason}});
    c.disconnect();
}

void serve_notifications(sse::namespace_& events, token_store& tokens) {
    // Auth: no valid token, no stream. The 401 is final for a browser: EventSource reconnects
    // only after a stream ends; an answer that is not `200 text/event-stream` (401, 403, 204...)
    // "fails the connection": readyState CLOSED, no retry (WHATWG HTML, server-sent events,
    // processing model). So a tab whose token expired or was logged out, reconnecting after
    // its stream ended, is told to stop here instead of retrying forever.
    events.use([&tokens](sse::client& c, sse::next next) {
        auto const who = tokens.find(token_of(c.handshake()));
        if (!who) return next(sse::reject(401, "invalid or expired token\n"));
        c.join(room_of(who->user)); // every tab of the user: to(room_of(user)) reaches them all
        next();
    });

    // Expiry: `auth_expired`, then the end of the stream, when the token runs out.
    events.on_connection([&tokens](sse::client_ptr c) {
        auto const who = tokens.find(token_of(c->handshake()));
        // Logged out (or expired) since the middleware ran. Admission joined the room before
        // this runs, and logout revokes before it walks the room: one of them sees the other.
        if (!who) return end_stream(*c, "logged_out", "logged out");
        auto timer = std::make_shared<net::steady_timer>(c->get_executor(), who->expires);
        timer->async_wait([timer, weak = std::weak_ptr<sse::client>(c)](beast::error_code ec) {
            if (auto c = weak.lock(); c && !ec) end_stream(*c, "auth_expired", "token expired");
        });
        c->on_disconnect([timer] { timer->cancel(); });
    });
}

// Log out everywhere: revoke the user's tokens (first, so that a tab reconnecting now gets
// its 401), then end every stream of the user. Returns how many ended.
std::size_t log_out(sse::namespace_& events, token_store& tokens, std::string const& user) {
    tokens.revoke_user(user);
    // This node's streams only: ending a room's streams on every node comes with the
    // cluster-wide operations (issue #16).
    auto const streams = events.room(room_of(user));
    for (auto const& c : streams)
        end_stream(*c, "logged_out", "logged out");
    return streams.size();
}

// ---- the app's own routes ---------------------------------------------------------------------

char const page[] = R"(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>notifications</title><link rel="icon" href="data:,">
</head><body><h1>Notifications</h1><p>Stream: <span id="state">connecting</span></p><ul id="log"></ul>
<script>
var token = new URLSearchParams(location.search).get("token") || "";
var es = new EventSource("/events?token=" + encodeURIComponent(token));
var log = document.getElementById("log"), states = [];
function state(s) { states.push(s); document.getElementById("state").textContent = s; }
function show(text) { var li = document.createElement("li"); li.textContent = text; log.prepend(li); }
es.onopen = function () { state("connected"); };
es.addEventListener("notification", function (e) { show(JSON.parse(e.data).text); });
es.addEventListener("auth_expired", function () { show("session expired: log in again"); });
es.addEventListener("logged_out", function () { show("logged out"); });
// After a stream ends EventSource reconnects by itself. With a token that is no longer valid
// the server answers 401, and EventSource stops for good (readyState CLOSED).
es.onerror = function () { state(es.readyState === EventSource.CLOSED ? "stopped" : "reconnecting"); };
</script></body></html>
)";

// The raw value of query parameter `key` in `target` ("" when absent); ours need no decoding.
std::string_view query_param(std::string_view target, std::string_view key) {
    auto const q = target.find('?');
    if (q == std::string_view::npos) return {};
    auto rest = target.substr(q + 1);
    while (!rest.empty()) {
        auto const amp = rest.find('&');
        auto const pair = rest.substr(0, amp);
        if (pair.size() > key.size() && pair.substr(0, key.size()) == key &&
            pair[key.size()] == '=')
            return pair.substr(key.size() + 1);
        if (amp == std::string_view::npos) break;
        rest = rest.substr(amp + 1);
    }
    return {};
}

// A user id: 1 to 64 of [A-Za-z0-9_-].
bool valid_user(std::string_view user) {
    if (user.empty() || user.size() > 64) return false;
    for (char ch : user)
        if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '_' && ch != '-') return false;
    return true;
}

struct app {
    sse::namespace_& events;
    token_store& tokens;
};

http::response<http::string_body> handle_request(app& self,
                                                 http::request<http::string_body> const& req) {
    auto answer = [&](http::status status, std::string type, std::string body) {
        http::response<http::string_body> res{status, req.version()};
        res.set(http::field::content_type, type);
        res.keep_alive(req.keep_alive());
        res.body() = std::move(body);
        res.prepare_payload();
        return res;
    };
    auto json = [&](http::status status, nlohmann::json const& body) {
        return answer(status, "application/json", body.dump() + "\n");
    };
    auto const target = std::string_view(req.target().data(), req.target().size());
    auto const path = target.substr(0, target.find('?'));
    auto const post = req.method() == http::verb::post;

    if (path == "/" && req.method() == http::verb::get)
        return answer(http::status::ok, "text/html; charset=utf-8", page);

    if (path == "/login" && post) {
        auto const user = query_param(target, "user");
        if (!valid_user(user))
            return json(http::status::bad_request, {{"error", "user: 1 to 64 of [A-Za-z0-9_-]"}});
        long ttl = 3600;
        if (auto const t = query_param(target, "ttl"); !t.empty()) {
            char* end = nullptr;
            std::string const s(t);
            ttl = std::strtol(s.c_str(), &end, 10);
            if (*end != '\0' || ttl < 1 || ttl > 86400)
                return json(http::status::bad_request, {{"error", "ttl: 1 to 86400 seconds"}});
        }
        auto token = self.tokens.issue(std::string(user), std::chrono::seconds(ttl));
        if (!token)
            return json(http::status::service_unavailable, {{"error", "too many sessions"}});
        return json(http::status::ok, {{"token", *token}, {"user", user}, {"expires_in", ttl}});
    }

    if (path == "/notify" && post) {
        auto const user = query_param(target, "user");
        if (!valid_user(user))
            return json(http::status::bad_request, {{"error", "user: 1 to 64 of [A-Za-z0-9_-]"}});
        try {
            self.events.to(room_of(user)).emit("notification", {{"text", req.body()}});
        } catch (std::invalid_argument const& e) { // the body is not UTF-8
            return json(http::status::bad_request, {{"error", e.what()}});
        } catch (std::length_error const& e) { // too large for a client's queue, once encoded
            return json(http::status::payload_too_large, {{"error", e.what()}});
        }
        return json(http::status::accepted, {{"user", user}});
    }

    if (path == "/logout" && post) {
        auto const auth = req[http::field::authorization];
        auto const who = self.tokens.find(
            token_of(std::string_view(auth.data(), auth.size()), query_param(target, "token")));
        if (!who) return json(http::status::unauthorized, {{"error", "invalid or expired token"}});
        auto const ended = log_out(self.events, self.tokens, who->user);
        return json(http::status::ok, {{"user", who->user}, {"streams_ended", ended}});
    }

    return json(http::status::not_found, {{"error", "not found"}});
}

// ---- Beast's listener and session -------------------------------------------------------------

void fail(beast::error_code ec, char const* what) {
    std::cerr << what << ": " << ec.message() << "\n";
}

class session : public std::enable_shared_from_this<session> {
    beast::tcp_stream stream_;
    beast::flat_buffer buffer_;
    http::request<http::string_body> req_;
    app& app_;

public:
    session(tcp::socket&& socket, app& a)
        : stream_(std::move(socket))
        , app_(a) {}

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
        auto const target = std::string_view(req_.target().data(), req_.target().size());
        if (target.substr(0, target.find('?')) == "/events") {
            app_.events.connect(std::move(stream_), std::move(req_)); // the middleware decides
            return;
        }
        auto res = handle_request(app_, req_);
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
    app& app_;

public:
    listener(net::io_context& ioc, tcp::endpoint endpoint, app& a)
        : ioc_(ioc)
        , acceptor_(net::make_strand(ioc), endpoint) // throws, with the reason, if taken
        , app_(a) {
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
        std::make_shared<session>(std::move(socket), app_)->run();
        do_accept();
    }
};

int main(int argc, char* argv[]) {
    if (argc != 3) {
        std::cerr << "Usage: notifications_server <address> <port>\n"
                  << "Example:\n    notifications_server 127.0.0.1 8080\n";
        return EXIT_FAILURE;
    }
    auto const address = net::ip::make_address(argv[1]);
    auto const port = static_cast<unsigned short>(std::atoi(argv[2]));

    // Two io threads: end_stream()'s emit then disconnect() hold on any number of threads
    // (a graceful close sends what was emitted to the client before it ends the stream).
    net::io_context ioc;
    sse::options opts;
    opts.retry = std::chrono::seconds(1); // how soon a tab comes back after its stream ends
    sse::server io{ioc.get_executor(), opts};
    token_store tokens{100000};
    app self{io.of("/notifications"), tokens};
    serve_notifications(self.events, tokens);

    std::make_shared<listener>(ioc, tcp::endpoint{address, port}, self)->run();

    net::signal_set signals{ioc, SIGINT, SIGTERM};
    signals.async_wait([&](beast::error_code, int) {
        io.close();
        ioc.stop();
    });
    std::thread second([&ioc] { ioc.run(); });
    ioc.run();
    second.join();
    return EXIT_SUCCESS;
}
