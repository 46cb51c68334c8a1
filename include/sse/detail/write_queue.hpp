// sse/detail/write_queue.hpp - a client's bounded queue of shared events (sans-I/O).
#ifndef SSE_DETAIL_WRITE_QUEUE_HPP
#define SSE_DETAIL_WRITE_QUEUE_HPP

#include <sse/event.hpp>

#include <boost/asio/buffer.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace sse::detail {

/** Events waiting for one client's socket: references to shared bytes, never copies.

    While a write is in flight, new events wait in `pending_`; `prepare()` moves all of them
    into one gather write, so a burst leaves in one system call. Vectors keep their capacity,
    so a steady stream allocates nothing. Not thread-safe: the owner locks.
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
    bool in_flight() const noexcept { return !inflight_.empty(); }
    /// Bytes queued or being written.
    std::size_t bytes() const noexcept { return bytes_; }

    /// Moves pending events (the oldest first, at least one, about `batch_limit` bytes at
    /// most) into the in-flight batch and returns its gather buffers. Call only when nothing
    /// is in flight. The cap keeps part of the byte budget for pending events: a stalled
    /// reader's batch never holds the whole budget, so conflating its pending events can
    /// always make room for the newest ones.
    std::vector<net::const_buffer> const&
    prepare(std::size_t batch_limit = static_cast<std::size_t>(-1)) {
        buffers_.clear();
        std::size_t taken = 0, batch = 0;
        while (taken < pending_.size()) {
            auto n = pending_[taken]->wire().size();
            if (taken > 0 && batch + n > batch_limit) break;
            batch += n;
            ++taken;
        }
        if (taken == pending_.size()) {
            inflight_.swap(pending_);
        } else {
            inflight_.assign(std::make_move_iterator(pending_.begin()),
                             std::make_move_iterator(pending_.begin() + taken));
            pending_.erase(pending_.begin(), pending_.begin() + taken);
        }
        for (auto const& e : inflight_) {
            auto w = e->wire();
            buffers_.emplace_back(w.data(), w.size());
        }
        return buffers_;
    }

    /// The in-flight batch has been written: release its references.
    void commit() noexcept {
        for (auto const& e : inflight_)
            bytes_ -= e->wire().size();
        inflight_.clear();
        buffers_.clear();
    }

    /// Rewrites the events not yet in flight (replay merges missed events in before them).
    /// `fn(std::vector<event_ptr>&)` may reorder, add and drop; byte accounting follows.
    template <class Fn>
    void rewrite_pending(Fn&& fn) {
        for (auto const& e : pending_)
            bytes_ -= e->wire().size();
        fn(pending_);
        for (auto const& e : pending_)
            bytes_ += e->wire().size();
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
        inflight_.clear();
        buffers_.clear();
        bytes_ = 0;
    }

private:
    std::vector<event_ptr> pending_;
    std::vector<event_ptr> inflight_;
    std::vector<net::const_buffer> buffers_;
    std::size_t bytes_ = 0;
};

} // namespace sse::detail

#endif
