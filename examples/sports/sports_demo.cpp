// sports_demo - a live football and cricket score centre over Server-Sent Events.
//
// An ordinary Boost.Beast HTTP server that hands the requests for /stream/... to the sse
// library and serves everything else itself. Read it by role, like Beast's chat-multi:
//
//   app.hpp            the sse part: server, namespaces, auth middleware, typed emits,
//                      the tap that keeps /matches in step (on every node, with --redis)
//   routes.hpp         one request -> an answer, or a stream to hand to sse (the route table)
//   emit_api.hpp       POST /emit: events from outside, checked against the typed events
//   admin_api.hpp      /admin: a match's clients on every node; disconnect, join, leave
//   answers.hpp        HTTP answers that cannot throw on what the peer sent
//   scoreboard.hpp     GET /matches;  metrics.hpp: GET /metrics
//   http_session.hpp   one connection;  listener.hpp: accepts them
//   simulation.hpp     --simulate;  cli.hpp: the command line (shared with the feeds)
//
//   sports_demo --simulate                       everything in memory, on http://127.0.0.1:8080
//   sports_demo --redis redis://127.0.0.1:6379   one of several nodes behind a load balancer
#include "app.hpp"
#include "cli.hpp"
#include "listener.hpp"
#include "simulation.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <iostream>
#include <memory>
#include <thread>
#include <vector>

using namespace sports;

int main(int argc, char** argv) {
    config cfg;
    try {
        if (auto code = parse(argc, argv, cfg)) return *code;
    } catch (std::exception const& e) {
        std::cerr << "sports_demo: " << e.what() << "\n";
        usage(std::cerr);
        return 2;
    }
#if !SSE_DEMO_WITH_REDIS
    if (!cfg.redis.empty()) {
        std::cerr << "sports_demo: --redis: this sports_demo was built without Redis support "
                     "(hiredis or the sse::redis target was not found when it was configured)\n";
        return 2;
    }
#endif

    net::io_context ioc{cfg.threads};
    auto a = std::make_shared<app>(ioc, cfg);
#if SSE_DEMO_WITH_REDIS
    if (!cfg.redis.empty()) {
        sse::redis_options ro;
        ro.url = cfg.redis;
        a->redis = std::make_shared<sse::redis_adapter>(ioc.get_executor(), ro);
        a->io.adapter(a->redis);
    }
#endif

    std::shared_ptr<listener> l;
    try {
        l = std::make_shared<listener>(ioc,
                                       tcp::endpoint{net::ip::make_address(cfg.bind), cfg.port}, a);
    } catch (std::exception const& e) {
        std::cerr << "sports_demo: cannot listen on " << cfg.bind << ":" << cfg.port << ": "
                  << e.what() << "\n";
        return 1;
    }
    auto ep = l->local_endpoint();
    std::cout << "listening on " << ep.address().to_string() << ":" << ep.port() << std::endl;
    std::cout << "open http://" << ep.address().to_string() << ":" << ep.port() << "/ in a browser"
              << (cfg.simulate ? " (simulated matches are live)" : "")
              << (cfg.redis.empty() ? "" : ", sharing events through " + cfg.redis) << std::endl;
    l->run();

    std::shared_ptr<simulation> sim;
    if (cfg.simulate) {
        sim = std::make_shared<simulation>(ioc, a);
        sim->run();
    }

    // Ctrl+C: stop accepting, tell every stream when to come back, then stop.
    net::signal_set signals(ioc, SIGINT, SIGTERM);
    net::steady_timer stop_timer(ioc);
    signals.async_wait([&](beast::error_code, int) {
        std::cout << "shutting down" << std::endl;
        l->stop();
        if (sim) sim->stop();
        a->io.close();
        stop_timer.expires_after(a->io.get_options().close_timeout +
                                 std::chrono::milliseconds(500));
        stop_timer.async_wait([&](beast::error_code) { ioc.stop(); });
    });

    std::vector<std::thread> pool;
    for (int i = 1; i < cfg.threads; ++i)
        pool.emplace_back([&ioc] { ioc.run(); });
    ioc.run();
    for (auto& t : pool)
        t.join();
    return 0;
}
