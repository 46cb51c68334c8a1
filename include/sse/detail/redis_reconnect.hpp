// sse/detail/redis_reconnect.hpp - when to (re)connect a Redis link: a sans-I/O state machine.
//
// The link feeds it what happened (connected, failed, lost, timer fired, closed) and does what
// the returned action says (connect now, wait this long, nothing, stop). It owns no socket and
// no timer, so every path is unit-tested without a server.
//
//   idle --start--> connecting --ready--> connected --lost--> waiting --timer--> connecting
//                        |                                       ^
//                        +------------------failed---------------+
//   any --close--> closed (final)
//
// Backoff: the n-th consecutive failure waits min(max, min * 2^n) with "equal jitter" (half fixed,
// half random), so a fleet of nodes that lost the same Redis does not return in the same
// millisecond. A lost connection that had been up waits one jittered `min` first.
#ifndef SSE_DETAIL_REDIS_RECONNECT_HPP
#define SSE_DETAIL_REDIS_RECONNECT_HPP

#include <chrono>
#include <cstdint>

namespace sse::detail {

class redis_reconnect {
public:
    using duration = std::chrono::milliseconds;

    enum class state { idle, connecting, connected, waiting, closed };

    struct action {
        enum kind { none, connect, wait, stop };
        kind type = none;
        duration delay{0}; ///< for `wait`
    };

    /// Zero or negative delays count as 1 ms; `max` below `min` counts as `min`.
    redis_reconnect(duration min, duration max) noexcept
        : min_(min.count() > 0 ? min : duration(1))
        , max_(max > min_ ? max : min_) {}

    state current() const noexcept { return state_; }
    /// Consecutive failed attempts since the last success.
    unsigned failures() const noexcept { return failures_; }
    /// Times a link that had been up came back up.
    std::uint64_t reconnects() const noexcept { return reconnects_; }

    /// Begins: connect now.
    action start() noexcept {
        if (state_ != state::idle) return {};
        state_ = state::connecting;
        return {action::connect};
    }

    /// The attempt succeeded (handshake included).
    action on_connected() noexcept {
        if (state_ != state::connecting) return {};
        state_ = state::connected;
        failures_ = 0;
        if (was_up_) ++reconnects_;
        was_up_ = true;
        return {};
    }

    /// The attempt failed. `unit` in [0, 1) draws the jitter.
    action on_connect_failed(double unit) noexcept {
        if (state_ != state::connecting) return {};
        state_ = state::waiting;
        action a{action::wait, backoff(failures_, unit)};
        if (failures_ < 64) ++failures_;
        return a;
    }

    /// A connection that was up went down. `unit` in [0, 1) draws the jitter.
    action on_lost(double unit) noexcept {
        if (state_ != state::connected) return {};
        state_ = state::waiting;
        failures_ = 0;
        return {action::wait, backoff(0, unit)};
    }

    /// The wait is over.
    action on_timer() noexcept {
        if (state_ != state::waiting) return {};
        state_ = state::connecting;
        return {action::connect};
    }

    /// Final: whatever the state, stop.
    action close() noexcept {
        if (state_ == state::closed) return {};
        state_ = state::closed;
        return {action::stop};
    }

    /// The delay after `n` consecutive failures, before jitter, in whole milliseconds.
    duration ceiling(unsigned n) const noexcept {
        auto d = min_;
        for (unsigned i = 0; i < n && d < max_; ++i)
            d *= 2;
        return d < max_ ? d : max_;
    }

private:
    duration backoff(unsigned n, double unit) const noexcept {
        if (!(unit >= 0.0)) unit = 0.0; // NaN and negatives
        if (unit >= 1.0) unit = 0.999999;
        auto d = ceiling(n);
        auto half = d / 2;
        auto jitter =
            duration(static_cast<duration::rep>(static_cast<double>((d - half).count()) * unit));
        auto r = half + jitter;
        return r.count() > 0 ? r : duration(1);
    }

    duration min_;
    duration max_;
    state state_ = state::idle;
    unsigned failures_ = 0;
    bool was_up_ = false;
    std::uint64_t reconnects_ = 0;
};

} // namespace sse::detail

#endif
