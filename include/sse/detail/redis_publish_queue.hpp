// sse/detail/redis_publish_queue.hpp - emits on their way to Redis (sans-I/O).
//
// Two lists, in sequence order:
//   pending    encoded emits not yet written (waiting for the link, or for room in the window),
//              at most `max_pending`; beyond it a new emit is dropped and counted (tail drop:
//              what is kept is an unbroken prefix, in order);
//   in flight  emits written to the connection whose PUBLISH replies have not all come back,
//              at most `max_in_flight` PUBLISH commands (pipelining with a bound).
// Redis answers in order, so each reply acknowledges the oldest in-flight command. When the
// link drops, in-flight emits go back to the front of pending and are written again after the
// reconnect; receivers drop the copies they already had by (origin, sequence).
#ifndef SSE_DETAIL_REDIS_PUBLISH_QUEUE_HPP
#define SSE_DETAIL_REDIS_PUBLISH_QUEUE_HPP

#include <sse/detail/redis_sequence_filter.hpp>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace sse::detail {

/// One emit, encoded, and the channels it is published on (one PUBLISH each).
struct redis_outgoing {
    std::uint64_t sequence = 0;
    std::string payload;
    std::vector<std::string> channels;
    /// When not empty: the number of the copy on each channel (a payload published on
    /// several channels; with one channel it is in the payload already).
    std::vector<std::uint64_t> channel_numbers;
    /// When not empty: one command (EVAL of the sequencing script, which publishes itself)
    /// instead of one PUBLISH per channel.
    std::vector<std::string> script_args;

    /// Commands this emit takes in the pipelining window.
    std::size_t commands() const noexcept { return script_args.empty() ? channels.size() : 1; }
};

class redis_publish_queue {
public:
    redis_publish_queue(std::size_t max_pending, std::size_t max_in_flight) noexcept
        : max_pending_(max_pending)
        , max_in_flight_(max_in_flight > 0 ? max_in_flight : 1) {}

    /** Queues `m`. Returns false (and counts it) when it cannot be kept: pending is full and
        `m` cannot go out at once (the link is down, or others wait before it, or the window is
        full). So `max_pending == 0` still publishes while the link is up and keeps up.
    */
    bool push(redis_outgoing&& m) {
        bool const goes_out_now =
            connected_ && pending_.empty() &&
            (in_flight_commands_ == 0 || in_flight_commands_ + m.commands() <= max_in_flight_);
        if (!goes_out_now && pending_.size() >= max_pending_) {
            ++dropped_;
            return false;
        }
        pending_.push_back(std::move(m));
        return true;
    }

    /** The link came up (true) or went down (false). Going down requeues the in-flight emits
        (see `requeue_in_flight`) and returns how many emits that dropped.
    */
    std::size_t set_connected(bool up) {
        connected_ = up;
        return up ? 0 : requeue_in_flight();
    }

    bool connected() const noexcept { return connected_; }

    /** The next emit to write, moved to in-flight, or nullptr when the link is down, none is
        pending or the window is full. The pointer stays valid until the emit is acknowledged or
        requeued.

        The window admits an emit whose channels overflow it when nothing is in flight, so an
        emit to more rooms than the window still goes out.
    */
    redis_outgoing const* start_next() {
        if (!connected_ || pending_.empty()) return nullptr;
        std::size_t n = pending_.front().commands();
        if (in_flight_commands_ > 0 && in_flight_commands_ + n > max_in_flight_) return nullptr;
        in_flight_.push_back({std::move(pending_.front()), n});
        pending_.pop_front();
        in_flight_commands_ += n;
        if (n == 0) { // nothing to publish: done at once
            in_flight_.pop_back();
            return nullptr;
        }
        return &in_flight_.back().msg;
    }

    /// One PUBLISH reply arrived. Returns true when it completed an emit.
    bool acknowledge() noexcept {
        if (in_flight_.empty()) return false;
        --in_flight_commands_;
        if (--in_flight_.front().unacked > 0) return false;
        in_flight_.pop_front();
        return true;
    }

    /// The link is gone: in-flight emits go back to the front of pending, in order. If that
    /// overflows the bound, the newest pending emits are dropped. Returns how many.
    std::size_t requeue_in_flight() {
        while (!in_flight_.empty()) {
            pending_.push_front(std::move(in_flight_.back().msg));
            in_flight_.pop_back();
        }
        in_flight_commands_ = 0;
        std::size_t n = 0;
        while (pending_.size() > max_pending_ && !pending_.empty()) {
            overflowed_.push_back(std::move(pending_.back()));
            pending_.pop_back();
            ++n;
        }
        dropped_ += n;
        return n;
    }

    /// Drops everything (closing). Returns how many emits were discarded.
    std::size_t clear() noexcept {
        std::size_t n = pending_.size() + in_flight_.size();
        pending_.clear();
        in_flight_.clear();
        overflowed_.clear();
        in_flight_commands_ = 0;
        return n;
    }

    /// The emit the next reply is for (nullptr when none is in flight).
    redis_outgoing const* oldest_in_flight() const noexcept {
        return in_flight_.empty() ? nullptr : &in_flight_.front().msg;
    }

    std::size_t pending() const noexcept { return pending_.size(); }
    std::size_t in_flight() const noexcept { return in_flight_.size(); }
    std::size_t in_flight_commands() const noexcept { return in_flight_commands_; }
    std::uint64_t dropped() const noexcept { return dropped_; }

    /// The emits the last requeues dropped (newest first), so that the caller can tell the
    /// others they are lost; emptied by the call.
    std::vector<redis_outgoing> take_overflowed() { return std::exchange(overflowed_, {}); }
    std::size_t max_pending() const noexcept { return max_pending_; }

private:
    struct flight {
        redis_outgoing msg;
        std::size_t unacked;
    };

    std::size_t max_pending_;
    std::size_t max_in_flight_;
    std::deque<redis_outgoing> pending_;
    std::deque<flight> in_flight_;
    std::size_t in_flight_commands_ = 0;
    std::uint64_t dropped_ = 0;
    std::vector<redis_outgoing> overflowed_;
    bool connected_ = false;
};

} // namespace sse::detail

#endif
