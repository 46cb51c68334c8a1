// sse/impl/client.hpp - bodies of sse/client.hpp (included at the foot of sse/namespace.hpp).
#ifndef SSE_IMPL_CLIENT_HPP
#define SSE_IMPL_CLIENT_HPP

#include <sse/detail/random_id.hpp>

#include <boost/asio/post.hpp>

#include <algorithm>
#include <array>
#include <limits>

namespace sse {

namespace detail {
/// A Last-Event-ID we can safely keep: bounded, one line, UTF-8. Anything else is "unknown".
inline bool usable_last_event_id(std::string_view v) noexcept {
    return !v.empty() && v.size() <= max_name_length &&
           v.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos &&
           is_valid_utf8(v);
}

/// Bytes a client may send after its request before it is cut off (pipelined junk).
inline constexpr std::size_t max_inbound_bytes = 64 * 1024;
} // namespace detail

inline client::client(std::shared_ptr<detail::client_strand const> strand,
                      std::shared_ptr<namespace_> const& ns, sse::handshake hs)
    : id_(detail::random_id())
    , handshake_(std::move(hs))
    , strand_(std::move(strand))
    , context_(ns->client_context()) {
    std::string_view const last = sent_last_event_id(handshake_);
    last_event_id_malformed_ = !last.empty() && !detail::usable_last_event_id(last);
}

inline client::~client() {
    // Its queue goes with it: what the meters still count of it leaves them.
    if (accounted_bytes_ != 0)
        context_->meters->queued(-static_cast<std::int64_t>(accounted_bytes_));
    delete closing_.load(std::memory_order_acquire);
}

inline client::closing_state& client::closing() {
    closing_state* s = closing_.load(std::memory_order_acquire);
    if (s) return *s;
    // The first use, maybe on two threads at once (an on_disconnect and the strand's close):
    // one allocation wins, the other is dropped.
    auto fresh = std::make_unique<closing_state>();
    if (closing_.compare_exchange_strong(s, fresh.get(), std::memory_order_acq_rel,
                                         std::memory_order_acquire))
        return *fresh.release();
    return *s;
}

inline void client::account_locked() noexcept {
    auto const now = queue_.bytes();
    if (now == accounted_bytes_) return;
    context_->meters->queued(static_cast<std::int64_t>(now) -
                             static_cast<std::int64_t>(accounted_bytes_));
    accounted_bytes_ = now;
}

inline void client::observe_write_locked(std::chrono::steady_clock::time_point oldest) noexcept {
    if (oldest != std::chrono::steady_clock::time_point{}) context_->meters->observe_write(oldest);
}

inline std::string_view client::sent_last_event_id(sse::handshake const& hs) noexcept {
    std::string_view last = hs.header("last-event-id");
    if (last.empty()) last = hs.query("lastEventId");
    return last;
}

inline std::string_view client::last_event_id() const noexcept {
    // Read from the handshake, which the client keeps anyway, rather than kept twice.
    std::string_view const last = sent_last_event_id(handshake_);
    return last_event_id_malformed_ ? std::string_view{} : last;
}

inline std::error_code client::disconnect_reason() const {
    std::lock_guard<detail::word_mutex> lock(queue_mutex_);
    auto const* s = closing_.load(std::memory_order_acquire);
    return s ? s->reason : std::error_code{};
}

inline void client::join(std::string_view room) {
    validate_room_name(room);
    if (auto ns = context_->ns.lock()) ns->join(*this, room);
}

inline void client::join(std::initializer_list<std::string_view> rooms) {
    join(std::vector<std::string>(rooms.begin(), rooms.end()));
}

inline void client::join(std::vector<std::string> const& rooms) {
    for (auto const& r : rooms)
        validate_room_name(r);
    // All or nothing: the room limit is checked for the whole list before any join.
    if (auto ns = context_->ns.lock()) ns->join_all(*this, rooms);
}

inline void client::leave(std::string_view room) {
    if (auto ns = context_->ns.lock()) ns->leave(*this, room);
}

inline std::vector<std::string> client::rooms() const {
    if (auto ns = context_->ns.lock()) return ns->rooms_of(*this);
    return {};
}

inline void client::emit(std::string_view event, nlohmann::json const& data) {
    auto ev = encoded_event::make(event, data);
    if (auto ns = context_->ns.lock()) ns->emit_to_client(*this, std::move(ev));
}

inline void client::emit(std::string_view event, text data) {
    auto ev = encoded_event::make(event, data);
    if (auto ns = context_->ns.lock()) ns->emit_to_client(*this, std::move(ev));
}

inline void client::disconnect() {
    close(error::disconnected, true);
}

inline void client::on_disconnect(std::function<void()> handler) {
    if (!handler) return;
    on_disconnect([h = std::move(handler)](std::error_code) { h(); });
}

inline void client::on_disconnect(std::function<void(std::error_code)> handler) {
    if (!handler) return;
    std::unique_lock<detail::word_mutex> lock(queue_mutex_);
    auto& s = closing();
    if (state_.load() != state::closed) {
        s.disconnect_handlers.push_back(std::move(handler));
        return;
    }
    auto reason = s.reason;
    lock.unlock();
    handler(reason); // the stream already ended: run now rather than never
}

inline std::size_t client::buffered_bytes() const {
    std::lock_guard<detail::word_mutex> lock(queue_mutex_);
    return queue_.bytes();
}

inline bool client::enqueue(event_ptr const& e) {
    std::unique_lock<detail::word_mutex> lock(queue_mutex_);
    if (state_.load(std::memory_order_relaxed) != state::open) return false;
    if (!push_locked(e, lock)) return false;
    account_locked();
    if (!writing_ && !hold_writes_) start_write_locked(lock);
    return true;
}

inline bool client::enqueue_all(std::vector<event_ptr> const& events, bool* must_start) {
    std::unique_lock<detail::word_mutex> lock(queue_mutex_);
    if (state_.load(std::memory_order_relaxed) != state::open) return false;
    for (auto const& e : events)
        if (!push_locked(e, lock)) return false;
    account_locked(); // once per batch
    if (writing_ || hold_writes_ || !queue_.has_pending()) return true;
    if (must_start) {
        writing_ = true; // the caller's turn: begin_write()
        *must_start = true;
        return true;
    }
    start_write_locked(lock);
    return true;
}

inline void client::begin_write() {
    if (write_through_)
        flush_ready();
    else
        post_write_on_strand();
}

inline bool client::push_locked(event_ptr const& e, std::unique_lock<detail::word_mutex>& lock) {
    if (queue_.push(e, context_->max_buffered_bytes)) return true;
    // Conflate: a newer score replaces the queued one nobody has seen yet. Only events sent
    // under the conflate policy (of their namespace or rooms) carry a key.
    if (queue_.conflate() && queue_.push(e, context_->max_buffered_bytes)) return true;
    lock.unlock();
    // Its unsent events are dropped and a retry hint sent: it comes back (with Last-Event-ID)
    // once it can read again, instead of holding memory here.
    if (close(error::slow_consumer, true, encoded_event::raw("retry: 3000\n\n"))) {
        if (auto ns = context_->ns.lock()) ns->count_slow_consumer(); // once, by the closing thread
    }
    return false;
}

inline void client::start_write_locked(std::unique_lock<detail::word_mutex>& lock) {
    // From here until the write ends, whoever holds the turn (the flush queue or the strand)
    // is the only writer of this socket; later events wait in the queue and leave with it.
    writing_ = true;
    lock.unlock();
    if (write_through_) {
        context_->flush->push(shared_from_this(), strand_->get_inner_executor());
        return;
    }
    // The socket is touched only on the strand; this post happens once per burst.
    post_write_on_strand();
}

inline void client::post_write_on_strand() {
    net::post(*strand_, [self = shared_from_this()] { self->write_on_strand(); });
}

inline void client::write_on_strand() {
    std::unique_lock<detail::word_mutex> lock(queue_mutex_);
    // A batch left half-written by flush_ready() goes first (its write was observed there);
    // else the next one.
    bool const resumed = queue_.in_flight();
    auto const& buffers =
        resumed ? queue_.inflight_buffers() : queue_.prepare(context_->max_buffered_bytes / 2);
    if (!resumed) observe_write_locked(queue_.inflight_first_emitted());
    lock.unlock(); // never hold the lock while the socket is written asynchronously
    do_write(buffers);
}

inline void client::arm_drain_deadline() {
    auto& timer = closing().drain_timer;
    timer = std::make_unique<net::steady_timer>(*strand_, close_timeout());
    timer->async_wait([self = shared_from_this()](boost::system::error_code ec) {
        if (!ec) self->do_close(false);
    });
}

inline void client::consume_written(std::size_t n) {
    std::lock_guard<detail::word_mutex> lock(queue_mutex_);
    queue_.consume(n);
}

inline void client::flush_ready() {
    std::unique_lock<detail::word_mutex> lock(queue_mutex_);
    // Only an open stream is written from here: once a close has begun, the strand owns
    // the socket (it may close it at any moment) and on_write() finishes the close.
    if (state_.load() == state::open) {
        // The lock is held across each send: the close takes it before the socket may be
        // closed. The send never blocks, so that is one system call per batch at most.
        while (queue_.has_pending()) {
            // Sent straight from the backlog; only a send the kernel does not take whole
            // moves its events to the in-flight list, for the strand to finish.
            std::array<net::const_buffer, 64> buffers; // Asio sends at most 64 at once
            std::size_t bytes = 0;
            std::size_t const k = queue_.peek(buffers, context_->max_buffered_bytes / 2, bytes);
            std::error_code ec;
            std::size_t n = write_now({buffers.data(), buffers.data() + k}, ec);
            if (ec == std::errc::operation_would_block) {
                n = 0;
            } else if (ec) {
                writing_ = false;
                account_locked();
                lock.unlock();
                close(error::write_failed, false);
                return;
            }
            if (n > 0) observe_write_locked(queue_.first_emitted(k));
            if (n == bytes) {
                queue_.pop(k);
                continue;
            }
            // The socket buffer is full: the rest of these k events waits on the strand.
            queue_.prepare(context_->max_buffered_bytes / 2, k);
            queue_.consume(n);
            account_locked();
            lock.unlock();
            post_write_on_strand();
            return;
        }
        writing_ = false;
        account_locked(); // once per flushed batch
        return;
    }
    lock.unlock();
    post_write_on_strand();
}

inline void client::on_write(std::error_code ec) {
    std::unique_lock<detail::word_mutex> lock(queue_mutex_);
    queue_.commit();
    account_locked();
    if (ec) {
        writing_ = false;
        lock.unlock();
        close(error::write_failed, false);
        return;
    }
    auto const s = state_.load();
    bool const more = queue_.has_pending() && (s == state::open || flush_then_close_);
    if (more) {
        auto const& buffers = queue_.prepare(context_->max_buffered_bytes / 2);
        observe_write_locked(queue_.inflight_first_emitted());
        lock.unlock();
        do_write(buffers);
        return;
    }
    writing_ = false;
    bool const finish = flush_then_close_;
    lock.unlock();
    if (finish) {
        do_close(true);
        if (auto* s = closing_.load(std::memory_order_acquire); s && s->close_timer)
            s->close_timer->cancel();
    }
}

inline bool client::on_read(std::error_code ec, std::size_t n) {
    if (ec) {
        close(error::peer_closed, false);
        return false;
    }
    // Nothing is expected after the request; tolerate a little (pipelining), then cut off.
    bytes_read_ += n;
    if (bytes_read_ > detail::max_inbound_bytes) {
        close(error::protocol_violation, false);
        return false;
    }
    return true;
}

/// If the io_context stops before this runs, its destruction drops the disconnect handlers:
/// they can never run then, and one that holds the client (directly or through what it
/// captures) would keep it, and everything it holds, alive for good.
struct client::queued_close {
    std::shared_ptr<client> self;
    error reason;
    bool graceful;
    event_ptr last;

    queued_close(std::shared_ptr<client> c, error r, bool g, event_ptr l)
        : self(std::move(c))
        , reason(r)
        , graceful(g)
        , last(std::move(l)) {}
    queued_close(queued_close&&) noexcept = default;
    queued_close& operator=(queued_close&&) = delete;
    ~queued_close() {
        if (self) self->drop_disconnect_handlers(); // never ran
    }
    void operator()() {
        auto c = std::move(self); // ran: the destructor has nothing to drop
        c->close_on_strand(reason, graceful, std::move(last));
    }
};

inline bool client::close(error reason, bool graceful, event_ptr last) {
    if (close_started_.exchange(true)) return false;
    net::post(*strand_, queued_close(shared_from_this(), reason, graceful, std::move(last)));
    return true;
}

inline void client::drop_disconnect_handlers() noexcept {
    std::vector<std::function<void(std::error_code)>> handlers;
    {
        std::lock_guard<detail::word_mutex> lock(queue_mutex_);
        if (auto* s = closing_.load(std::memory_order_acquire))
            handlers.swap(s->disconnect_handlers);
    }
    // Destroyed here, outside the lock: they may release the last reference to anything.
}

inline void client::close_on_strand(error reason, bool graceful, event_ptr last) {
    // A graceful close first plans what the logs already hold for it (an emit made just
    // before disconnect() is sent before the stream ends), while the stream is still open.
    if (auto ns = context_->ns.lock())
        ns->unregister(*this, graceful && reason != error::slow_consumer);
    state_.store(state::closing);

    std::unique_lock<detail::word_mutex> lock(queue_mutex_);
    closing().reason = make_error_code(reason);
    if (reason == error::slow_consumer) queue_.drop_pending();
    if (graceful && last) queue_.push(std::move(last), std::numeric_limits<std::size_t>::max());
    account_locked();
    bool shutdown_now = true;
    if (graceful && (writing_ || queue_.has_pending())) {
        // Flush what is queued, then close; a stuck peer is cut off after close_timeout.
        flush_then_close_ = true;
        shutdown_now = false;
        if (!writing_) {
            writing_ = true;
            auto const& buffers = queue_.prepare(context_->max_buffered_bytes / 2);
            observe_write_locked(queue_.inflight_first_emitted());
            lock.unlock();
            do_write(buffers);
        } else {
            lock.unlock();
        }
        arm_close_deadline();
    } else {
        lock.unlock();
    }
    // A stream that ended with nothing left to send: the peer's unread bytes are drained
    // too, so that a last answer already sent is not lost to a reset.
    if (shutdown_now) do_close(graceful);
    fire_disconnect();
}

inline void client::arm_close_deadline() {
    // A timer only while closing: an open stream needs none (heartbeats find dead peers).
    auto& timer = closing().close_timer;
    timer = std::make_unique<net::steady_timer>(*strand_, close_timeout());
    timer->async_wait([self = shared_from_this()](boost::system::error_code ec) {
        if (!ec) self->do_close(false); // the peer does not read: no use waiting longer
    });
}

inline void client::fire_disconnect() {
    std::unique_lock<detail::word_mutex> lock(queue_mutex_);
    state_.store(state::closed);
    auto& s = closing(); // made by close_on_strand, which set the reason
    std::vector<std::function<void(std::error_code)>> handlers;
    handlers.swap(s.disconnect_handlers);
    auto reason = s.reason;
    lock.unlock();
    for (auto& h : handlers) {
        try {
            h(reason);
        } catch (...) {
            // A throwing handler must not take the server down; the stream is gone anyway.
            if (auto ns = context_->ns.lock()) ns->count_handler_error();
        }
    }
}

} // namespace sse

#endif
