// simulation.hpp - sports_demo --simulate: the feeds' simulators, one step a second, emitted
// in-process through the app.
#ifndef SPORTS_SIMULATION_HPP
#define SPORTS_SIMULATION_HPP

#include "app.hpp"
#include "simulator.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>

#include <chrono>
#include <memory>
#include <string_view>

namespace sports {

// --simulate: the built-in feeds, one step a second, emitted in-process.
class simulation : public std::enable_shared_from_this<simulation> {
public:
    simulation(boost::asio::io_context& ioc, std::shared_ptr<app> a)
        : timer_(boost::asio::make_strand(ioc))
        , app_(std::move(a))
        , football_(football_fixtures())
        , cricket_(cricket_fixtures()) {}

    void run() {
        for (auto const& id : football_.ids())
            app_->board.add("football", id);
        for (auto const& id : cricket_.ids())
            app_->board.add("cricket", id);
        on_tick({});
    }
    void stop() {
        boost::asio::dispatch(timer_.get_executor(),
                              [self = shared_from_this()] { self->timer_.cancel(); });
    }

private:
    void on_tick(boost::beast::error_code ec) {
        if (ec) return;
        auto& a = *app_;
        football_.tick(
            [&](std::string_view room, auto const& e) { a.publish(a.football, room, e); });
        cricket_.tick([&](std::string_view room, auto const& e) { a.publish(a.cricket, room, e); });
        timer_.expires_after(std::chrono::seconds(1));
        timer_.async_wait(
            boost::beast::bind_front_handler(&simulation::on_tick, shared_from_this()));
    }

    boost::asio::steady_timer timer_;
    std::shared_ptr<app> app_;
    football_simulator football_;
    cricket_simulator cricket_;
};

} // namespace sports

#endif
