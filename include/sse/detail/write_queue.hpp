// sse/detail/write_queue.hpp - a client's bounded queue of shared events (sans-I/O).
#ifndef SSE_DETAIL_WRITE_QUEUE_HPP
#define SSE_DETAIL_WRITE_QUEUE_HPP

#include <sse/detail/small_vector.hpp>
#include <sse/event.hpp>

#include <boost/asio/buffer.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <vector>

namespace sse::detail {

/// Some of an array of buffers, as an Asio buffer sequence (a gather send takes it as is).
struct buffer_range {
    net::const_buffer const* first;
    net::const_buffer const* last;
    net::const_buffer const* begin() const noexcept { return first; }
    net::const_buffer const* end() const noexcept { return last; }
};

/** Events waiting for one client's socket: references to shared bytes, never copies.

    While a write is in flight, new events wait in `pending_`; `prepare()` moves all of them
    into one gather write, so a burst leaves in one system call. The backlog holds one event
    in place, so a stream that receives one event at a time never allocates; a backlog that
    needed the heap gives it back when it first empties (an idle stream's last write is often
    its admission: the response head and one event), then keeps it, so a bursty stream
    allocates nothing either. The in-flight batch is allocated by the first prepare(): a queue
    sent from with peek()/pop() alone (write-through) never needs it, and one exists per
    connection. Not thread-safe: the owner locks.
*/
class write_queue {
public:
    /// Adds `e` unless the queued bytes would pass `limit`; false means "over the limit".
    bool push(event_ptr e, std::size_t limit) {
        std::size_t n = e->wire().size();
        if (bytes_ + n > limit) return false;
        bytes_ += n;
        pending_.push_back(std::move(e));
        return true;
    }

    bool has_pending() const noexcept { return !pending_.empty(); }
    bool in_flight() const noexcept { return flight_ && !flight_->events.empty(); }
    /// Bytes queued or being written.
    std::size_t bytes() const noexcept { return bytes_; }

    /// Moves the pending events, oldest first, into the in-flight batch and returns its gather
    /// buffers: all of them, or as many as fit in `max_bytes` (at least one). What stays pending
    /// can still be conflated or dropped; a batch in flight cannot. Call only when nothing is
    /// in flight.
    /// Write-through without an in-flight copy: the first events of the backlog as buffers,
    /// at most `N` of them and `max_bytes` (at least one). Returns how many; `bytes` is their
    /// size. An idle plain-TCP client so keeps no in-flight or buffer vector at all.
    template <std::size_t N>
    std::size_t peek(std::array<net::const_buffer, N>& out, std::size_t max_bytes,
                     std::size_t& bytes) const noexcept {
        std::size_t k = 0;
        bytes = 0;
        for (; k < pending_.size() && k < N; ++k) {
            auto const w = pending_[k]->wire();
            if (k > 0 && bytes + w.size() > max_bytes) break;
            out[k] = net::const_buffer(w.data(), w.size());
            bytes += w.size();
        }
        return k;
    }

    /// When the oldest emitted event among the first `k` of the backlog was emitted; the
    /// epoch when none of them was (heartbeats, raw bytes). Events queue in id order, so
    /// this is nearly always the first one.
    std::chrono::steady_clock::time_point first_emitted(std::size_t k) const noexcept {
        return first_emitted_of(pending_, k);
    }
    /// The same for the whole in-flight batch.
    std::chrono::steady_clock::time_point inflight_first_emitted() const noexcept {
        if (!flight_) return {};
        return first_emitted_of(flight_->events, flight_->events.size());
    }

    /// The first `k` events of the backlog were written whole (see peek).
    void pop(std::size_t k) noexcept {
        for (std::size_t i = 0; i < k; ++i)
            bytes_ -= pending_[i]->wire().size();
        pending_.erase_front(k);
        emptied();
    }

    /// Whether the backlog holds heap storage (an idle stream should not; see the class).
    bool backlog_on_heap() const noexcept { return pending_.on_heap(); }

    std::vector<net::const_buffer> const& prepare(std::size_t max_bytes = SIZE_MAX,
                                                  std::size_t max_events = SIZE_MAX) {
        std::size_t k = 0;
        for (std::size_t batch = 0; k < pending_.size() && k < max_events; ++k) {
            std::size_t const n = pending_[k]->wire().size();
            if (k > 0 && batch + n > max_bytes) break;
            batch += n;
        }
        if (!flight_) flight_ = std::make_unique<in_flight_batch>();
        auto& f = *flight_;
        f.events.assign(std::make_move_iterator(pending_.begin()),
                        std::make_move_iterator(pending_.begin() + k));
        pending_.erase_front(k);
        emptied();
        f.buffers.clear();
        for (auto const& e : f.events) {
            auto w = e->wire();
            f.buffers.emplace_back(w.data(), w.size());
        }
        return f.buffers;
    }

    /// `n` more bytes of the in-flight batch were written (a non-blocking send may take part
    /// of it): `inflight_buffers()` is then what remains. The events stay referenced until
    /// commit(), but their written bytes no longer count in bytes().
    void consume(std::size_t n) noexcept {
        if (!flight_) return; // nothing in flight: nothing was written
        auto& buffers = flight_->buffers;
        bytes_ -= n;
        flight_->written += n;
        std::size_t done = 0;
        while (n > 0 && done < buffers.size()) {
            std::size_t const size = buffers[done].size();
            if (n < size) {
                buffers[done] += n;
                break;
            }
            n -= size;
            ++done;
        }
        buffers.erase(buffers.begin(), buffers.begin() + static_cast<std::ptrdiff_t>(done));
    }

    /// True when the whole in-flight batch has been consumed.
    bool inflight_written() const noexcept { return !flight_ || flight_->buffers.empty(); }

    /// The gather buffers of the in-flight batch (valid until commit()).
    std::vector<net::const_buffer> const& inflight_buffers() const noexcept {
        static std::vector<net::const_buffer> const none;
        return flight_ ? flight_->buffers : none;
    }

    /// The in-flight batch has been written: release its references.
    void commit() noexcept {
        if (!flight_) return;
        auto& f = *flight_;
        for (auto const& e : f.events)
            bytes_ -= e->wire().size();
        bytes_ += f.written; // consume() already took these off
        f.written = 0;
        f.events.clear();
        f.buffers.clear();
    }

    /// Rewrites the events not yet in flight (replay merges missed events in before them).
    /// `fn(std::vector<event_ptr>&)` may reorder, add and drop; byte accounting follows.
    template <class Fn>
    void rewrite_pending(Fn&& fn) {
        std::vector<event_ptr> events; // rare (overflow, replay): a vector to work on
        events.reserve(pending_.size());
        for (auto& e : pending_) {
            bytes_ -= e->wire().size();
            events.push_back(std::move(e));
        }
        pending_.clear();
        fn(events);
        for (auto& e : events) {
            bytes_ += e->wire().size();
            pending_.push_back(std::move(e));
        }
    }

    /// Drops the events not yet in flight.
    void drop_pending() noexcept {
        for (auto const& e : pending_)
            bytes_ -= e->wire().size();
        pending_.clear();
    }

    /// Keeps only the newest pending event of each conflation key (see
    /// encoded_event::conflation_key); events without a key stay. Order is kept. Returns
    /// whether any event was dropped.
    bool conflate() {
        bool keyed = std::any_of(pending_.begin(), pending_.end(),
                                 [](event_ptr const& e) { return e->conflation_key() != 0; });
        if (!keyed) return false; // the common case under the disconnect policy: no work
        auto const before = pending_.size();
        rewrite_pending([](std::vector<event_ptr>& pending) {
            std::vector<event_ptr> kept;
            kept.reserve(pending.size());
            // Walk from the newest; a key already seen means a newer event replaces this one.
            std::vector<std::uint64_t> seen;
            for (auto it = pending.rbegin(); it != pending.rend(); ++it) {
                auto key = (*it)->conflation_key();
                if (key != 0) {
                    if (std::find(seen.begin(), seen.end(), key) != seen.end()) continue;
                    seen.push_back(key);
                }
                kept.push_back(std::move(*it));
            }
            std::reverse(kept.begin(), kept.end());
            pending.swap(kept);
        });
        return pending_.size() != before;
    }

    /// Drops everything (the stream is gone).
    void clear() noexcept {
        pending_.clear();
        flight_.reset();
        bytes_ = 0;
    }

private:
    // The backlog just emptied: its heap storage goes back the first time (see the class).
    // Its spare bits: released (once), then kept.
    static constexpr unsigned released = 1, kept = 2;
    void emptied() noexcept {
        if (!pending_.empty() || !pending_.on_heap() || pending_.spare() == kept) return;
        if (pending_.spare() == released) {
            pending_.set_spare(kept);
            return;
        }
        pending_.shrink();
        pending_.set_spare(released);
    }

    template <class Events>
    static std::chrono::steady_clock::time_point first_emitted_of(Events const& events,
                                                                  std::size_t k) noexcept {
        for (std::size_t i = 0; i < k && i < events.size(); ++i) {
            auto const t = events[i]->emitted_at();
            if (t != std::chrono::steady_clock::time_point{}) return t;
        }
        return {};
    }

    // The batch being written, with its gather buffers (what remains of them, see consume).
    struct in_flight_batch {
        std::vector<event_ptr> events;
        std::vector<net::const_buffer> buffers;
        std::size_t written = 0; // bytes of the batch already consumed
    };

    small_vector<event_ptr> pending_; // spare bits: see emptied()
    std::size_t bytes_ = 0;
    std::unique_ptr<in_flight_batch> flight_; // made by the first prepare(), then kept
};

} // namespace sse::detail

#endif
