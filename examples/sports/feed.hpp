// feed.hpp - the body of football_feed and cricket_feed: run a simulator and publish what it
// produces, either through Redis (as one more node of the cluster, serving no client) or by
// POSTing to a sports_demo's /emit endpoint.
#ifndef SPORTS_FEED_HPP
#define SPORTS_FEED_HPP

#include "cli.hpp"
#include "events.hpp"
#include "simulator.hpp"

#include <sse/server.hpp>
#if SSE_DEMO_WITH_REDIS
#include <sse/redis_adapter.hpp>
#endif

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <iostream>
#include <optional>
#include <string>

namespace sports {

namespace net = boost::asio;
namespace beast = boost::beast;

/// POSTs events to a sports_demo over one keep-alive connection, reconnecting when needed.
class http_publisher {
public:
    http_publisher(net::io_context& ioc, feed_config const& cfg, std::string sport)
        : resolver_(ioc)
        , stream_(ioc)
        , cfg_(cfg)
        , sport_(std::move(sport)) {
        std::string rest = cfg.target;
        if (rest.rfind("http://", 0) == 0) rest = rest.substr(7);
        rest = rest.substr(0, rest.find('/'));
        auto colon = rest.rfind(':');
        host_ = colon == std::string::npos ? rest : rest.substr(0, colon);
        port_ = colon == std::string::npos ? "80" : rest.substr(colon + 1);
    }

    /// Sends one event; `room` empty means the whole sport. Returns false when it failed.
    bool post(std::string_view room, std::string_view event, nlohmann::json data) {
        namespace http = beast::http;
        http::request<http::string_body> req{
            http::verb::post, "/emit/" + sport_ + (room.empty() ? "" : "/") + std::string(room),
            11};
        req.set(http::field::host, host_ + ":" + port_);
        req.set(http::field::content_type, "application/json");
        if (!cfg_.admin_token.empty())
            req.set(http::field::authorization, "Bearer " + cfg_.admin_token);
        req.body() = nlohmann::json{{"event", event}, {"data", std::move(data)}}.dump();
        req.prepare_payload();
        for (int attempt = 0; attempt < 2; ++attempt) {
            try {
                if (!connected_) {
                    stream_.expires_after(std::chrono::seconds(5));
                    stream_.connect(resolver_.resolve(host_, port_));
                    connected_ = true;
                }
                http::write(stream_, req);
                http::response<http::string_body> res;
                http::read(stream_, buffer_, res);
                if (!res.keep_alive()) disconnect();
                if (res.result() != http::status::accepted) {
                    std::cerr << "emit " << event << " to " << (room.empty() ? sport_ : room)
                              << ": " << res.result_int() << " " << res.body();
                    return false;
                }
                return true;
            } catch (std::exception const& e) {
                disconnect();
                if (attempt == 1)
                    std::cerr << "emit to " << cfg_.target << ": " << e.what() << "\n";
            }
        }
        return false;
    }

private:
    void disconnect() {
        beast::error_code ec;
        stream_.socket().close(ec);
        buffer_.clear();
        connected_ = false;
    }

    net::ip::tcp::resolver resolver_;
    beast::tcp_stream stream_;
    beast::flat_buffer buffer_;
    feed_config const& cfg_;
    std::string sport_;
    std::string host_;
    std::string port_;
    bool connected_ = false;
};

/// The whole feed program for one simulator type.
template <class Simulator>
int run_feed(int argc, char** argv, char const* sport, std::vector<std::string> const& fixtures) {
    feed_config cfg;
    try {
        if (auto code = parse_feed(argc, argv, cfg, sport)) return *code;
    } catch (std::exception const& e) {
        std::cerr << argv[0] << ": " << e.what() << "\n";
        feed_usage(std::cerr, argv[0], sport);
        return 2;
    }
    std::size_t count = fixtures.size();
    std::string ids;
    // A count: more digits than any real count are read as "all of them" (stoul would throw).
    if (!cfg.matches.empty() && cfg.matches.find_first_not_of("0123456789") == std::string::npos)
        count = cfg.matches.size() > 6 ? count : std::stoul(cfg.matches);
    else
        ids = cfg.matches;
    Simulator sim(pick_fixtures(fixtures, ids, count));

    net::io_context ioc;
    using events = typename Simulator::events;
    // Each step's events go to `publish(room, event)`, through Redis or over HTTP.
    std::optional<http_publisher> http;
    std::optional<sse::server> io;
#if SSE_DEMO_WITH_REDIS
    std::shared_ptr<sse::redis_adapter> redis;
#endif
    if (!cfg.redis.empty()) {
#if SSE_DEMO_WITH_REDIS
        // A node of the cluster that serves no client: its emits only travel through Redis.
        sse::options opts;
        opts.heartbeat_interval = std::chrono::milliseconds(0);
        // The same history as the sports_demo nodes: with Redis, its emits are then numbered
        // and stored by Redis like theirs (shared ids, replayable on any node).
        opts.history.max_events = 2000;
        opts.history.max_age = std::chrono::hours(3);
        io.emplace(ioc.get_executor(), opts);
        sse::redis_options ro;
        ro.url = cfg.redis;
        redis = std::make_shared<sse::redis_adapter>(ioc.get_executor(), ro);
        io->adapter(redis);
#else
        std::cerr << argv[0]
                  << ": --redis: built without Redis support (hiredis or the "
                     "sse::redis target was not found when it was configured); use --target\n";
        return 2;
#endif
    } else {
        http.emplace(ioc, cfg, sport);
    }

    std::cout << argv[0] << ": " << sport << " feed for";
    for (auto const& id : sim.ids())
        std::cout << " " << id;
    std::cout << (cfg.redis.empty() ? " -> " + cfg.target : " -> " + cfg.redis) << std::endl;

    long failures = 0;
    auto publish = [&](std::string_view room, auto const& event) {
        using event_type = std::decay_t<decltype(event)>;
        if (io) {
            auto& ns = io->template of<events>(Simulator::nsp);
            if (room.empty())
                ns.emit(event);
            else
                ns.to(room).emit(event);
        } else if (!http->post(room, event_type::name, nlohmann::json(event))) {
            ++failures;
        }
    };

    net::steady_timer timer(ioc);
    net::signal_set signals(ioc, SIGINT, SIGTERM);
    long done = 0;
    bool stopping = false;
    auto deadline = std::chrono::steady_clock::now();
    std::function<void()> close_when_flushed = [&] {
#if SSE_DEMO_WITH_REDIS
        // Let the adapter publish what it still holds (for a few seconds at most).
        auto st = redis->state();
        if (!(st.connected && st.pending == 0) && std::chrono::steady_clock::now() < deadline) {
            timer.expires_after(std::chrono::milliseconds(20));
            return timer.async_wait([&](beast::error_code) { close_when_flushed(); });
        }
#endif
        io->close();
    };
    auto finish = [&] {
        stopping = true;
        timer.cancel();
        signals.cancel();
        deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        if (io) close_when_flushed();
    };
    std::function<void(beast::error_code)> on_tick = [&](beast::error_code ec) {
        if (ec || stopping) return;
        sim.tick(publish);
        if (cfg.ticks > 0 && ++done >= cfg.ticks) return finish();
        timer.expires_after(std::chrono::milliseconds(cfg.interval_ms));
        timer.async_wait(on_tick);
    };
    signals.async_wait([&](beast::error_code ec, int) {
        if (!ec && !stopping) finish();
    });
    on_tick({});
    ioc.run(); // returns when the feed is done
    return failures == 0 ? 0 : 1;
}

} // namespace sports

#endif
