// sse/impl/namespace_flush.hpp - the flush pass: from the logs to the write queues. A pass
// takes the clients an append woke, plans each one's events (delivery_core::plan) into its
// queue under the log lock, and starts the writes it made due outside it. Included by
// impl/namespace.hpp.
#ifndef SSE_IMPL_NAMESPACE_FLUSH_HPP
#define SSE_IMPL_NAMESPACE_FLUSH_HPP

#include <boost/asio/post.hpp>

#include <algorithm>
#include <vector>

namespace sse {

inline void namespace_::post_flush_pass() {
    if (pass_posted_ || !pass_ex_) return;
    pass_posted_ = true;
    net::post(pass_ex_, [self = shared_from_this()] { self->run_flush_pass(); });
}

inline void namespace_::run_flush_pass() {
    // One batch of the clients to plan, under the log lock; the next batch is posted first,
    // so that emits append between batches and another io thread takes it. A batch starts
    // the writes it made due right after the lock is released, on this thread: no second
    // task, no flush-queue push per client.
    // The batch is small because every other handler on this io thread waits for it: an
    // HTTP exchange (read, emit, answer, read again) takes a batch per hop. Smaller batches
    // answer a publisher sooner, so more of its events meet a client in one send; at 256 a
    // closed-loop publisher waited ~5 ms per POST and throughput fell (bench/RESULTS.md,
    // run 12: 64 gives more deliveries/s and fewer sends than 256 or 128).
    constexpr std::size_t batch = 64;
    std::vector<client_ptr> to_send;
    {
        std::lock_guard<std::mutex> lock(log_mutex_);
        pass_posted_ = false;
        auto const now = detail::log_clock::now();
        if (to_plan_next_ == to_plan_.size()) { // the last pass is done: take the next one
            to_plan_next_ = 0;
            unplanned_bytes_ = 0;
            core_.take_woken(to_plan_, now);
            for (detail::client_state* s : to_plan_)
                client_of(*s).queued_for_plan_ = true;
        }
        std::size_t const end = std::min(to_plan_next_ + batch, to_plan_.size());
        // More of this pass, or wake-ups that came while it ran (their emits found a pass
        // posted and did not post one): another run.
        if (end < to_plan_.size() || core_.woken_any()) post_flush_pass();
        to_send.reserve(end - to_plan_next_);
        for (; to_plan_next_ < end; ++to_plan_next_) {
            detail::client_state* s = to_plan_[to_plan_next_];
            if (!s) continue; // disconnected since it was taken
            client& c = client_of(*s);
            c.queued_for_plan_ = false;
            if (!c.held_) plan_client(c, now, &to_send);
        }
        // The batch is queued and none of it written yet: the queues' high point.
        if (!to_send.empty()) meters_->sample_peak();
    }
    for (auto const& c : to_send)
        c->begin_write();
}

inline void namespace_::plan_client(client& c, detail::log_clock::time_point now,
                                    std::vector<client_ptr>* to_send) {
    // Planned and queued under the log lock: a client's events enter its queue in id order
    // whichever pass (or io thread) plans it.
    planned_.clear();
    auto p = core_.plan(state_of(c), detail::plan_limits{}, planned_, now);
    if (p.slow_consumer) {
        // A log dropped events it was not sent yet (it was not planned for too long).
        if (policies_.get() == sse::slow_consumer_policy::disconnect) {
            if (c.close(error::slow_consumer, true, encoded_event::raw("retry: 3000\n\n")))
                count_slow_consumer();
            return;
        }
        core_.reset(state_of(c), detail::reset_reason::slow_consumer);
        p = core_.plan(state_of(c), detail::plan_limits{}, planned_, now);
    }
    if (p.reset != detail::reset_reason::none) {
        resets_.fetch_add(1, std::memory_order_relaxed);
        c.replay_ = client::replay_state::none; // nothing older is owed after a reset
        c.enqueue(make_reset(c, detail::to_string(p.reset), p.reset_id));
        return;
    }
    if (planned_.empty()) return;
    bool start = false; // an idle writer: the caller starts its write outside the lock
    if (c.enqueue_all(planned_, to_send ? &start : nullptr))
        deliveries_.fetch_add(planned_.size(), std::memory_order_relaxed);
    if (start) to_send->push_back(c.shared_from_this());
    planned_.clear();
}

inline void namespace_::plan_woken_now(detail::log_clock::time_point now) {
    unplanned_bytes_ = 0;
    core_.take_woken(woken_, now);
    for (detail::client_state* s : woken_)
        if (!client_of(*s).held_) plan_client(client_of(*s), now, nullptr); // flush queue sends
    woken_.clear();
    meters_->sample_peak();
}

} // namespace sse

#endif // SSE_IMPL_NAMESPACE_FLUSH_HPP
