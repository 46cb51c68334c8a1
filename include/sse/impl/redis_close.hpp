// sse/impl/redis_close.hpp - how a Redis adapter closes: delivery to the host stops at once,
// what this node emitted before still goes out for up to `close_drain`, then everything is
// released on the strand (included by impl/redis_adapter.hpp).
#ifndef SSE_IMPL_REDIS_CLOSE_HPP
#define SSE_IMPL_REDIS_CLOSE_HPP

namespace sse::detail {

inline void redis_adapter_impl::close() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (closed_) return;
        closed_ = true;
        closed_flag_.store(true, std::memory_order_release);
        // intake_ stays: begin_close publishes it (redis_options::close_drain).
    }
    // A delivery in progress on the strand finishes before close() returns; none starts
    // after. From inside the strand (an app closing from a delivery) there is nothing to
    // wait for but ourselves.
    if (!strand_.running_in_this_thread()) {
        std::lock_guard<std::mutex> wait_for_delivery(deliver_gate_);
    }
    net::post(strand_, [self = shared_from_this()] { self->begin_close(); });
}

// After close(): this node stops hearing from Redis at once (no delivery reaches the
// host any more), but what it emitted before still goes out, for up to close_drain: a
// swap hands its emits to Redis instead of dropping them.
inline void redis_adapter_impl::begin_close() {
    stop_hearing();
    subscription_answered(true); // the reads waiting for it fail now (closed)
    on_intake();                 // the emits made before close() join the queue and go out
    if (unpublished() == 0 || opts_.close_drain.count() <= 0) return teardown();
    draining_ = true;
    drain_timer_.expires_after(opts_.close_drain);
    drain_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
        if (!ec) self->teardown();
    });
    notify_state();
}

// Nothing from Redis reaches the host any more: the subscriber goes, reads fail, what
// waited for a read is dropped.
inline void redis_adapter_impl::stop_hearing() {
    for (auto const& s : shards_) {
        act(s->sub, s->sub.fsm.close());
        s->answered = s->asked; // the reads waiting for it fail now (closed)
    }
    act(sub_, sub_.fsm.close());
    free_given(sub_);
    sub_up_.store(false, std::memory_order_release);
    fail_fetches();
    recovery_.drop_waiting();
    recovery_results_.clear();
    host_.reset();
}

inline void redis_adapter_impl::teardown() {
    if (std::exchange(torn_down_, true)) return;
    drain_timer_.cancel();
    mark_timer_.cancel();
    channel_marks_.clear();
    if (auto const left = queue_.pending() + queue_.in_flight() + shard_copies(); left > 0) {
        dropped_at_close_.fetch_add(left, std::memory_order_relaxed);
        log(redis_log_level::warning,
            "closed with " + std::to_string(left) +
                " emits not published: Redis did not take them within close_drain");
    }
    stop_hearing();
    for (auto const& s : shards_) {
        act(s->pub, s->pub.fsm.close());
        s->out.clear();
    }
    act(pub_, pub_.fsm.close());
    free_given(pub_);
    queue_.clear();
    queue_pending_.store(0, std::memory_order_relaxed);
    pub_up_.store(false, std::memory_order_release);
    notify_state();
}

} // namespace sse::detail

#endif
