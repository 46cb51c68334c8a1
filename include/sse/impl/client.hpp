// sse/impl/client.hpp - bodies of sse/client.hpp (included at the foot of sse/namespace.hpp).
#ifndef SSE_IMPL_CLIENT_HPP
#define SSE_IMPL_CLIENT_HPP

#include <sse/detail/random_id.hpp>

#include <boost/asio/post.hpp>

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

inline client::client(net::any_io_executor ex, std::shared_ptr<namespace_> const& ns,
                      sse::handshake hs)
    : id_(detail::random_id())
    , nsp_name_(ns->shared_name_)
    , handshake_(std::move(hs))
    , ns_(ns)
    , strand_(net::make_strand(std::move(ex)))
    , max_buffered_bytes_(ns->opts_.max_buffered_bytes)
    , close_timeout_(ns->opts_.close_timeout) {
    std::string_view const last = sent_last_event_id(handshake_);
    last_event_id_malformed_ = !last.empty() && !detail::usable_last_event_id(last);
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

inline std::string_view client::membership::name() const noexcept {
    return room ? std::string_view(room->name) : std::string_view(*pending);
}

inline std::error_code client::disconnect_reason() const {
    std::lock_guard<std::mutex> lock(queue_mutex_);
    return reason_;
}

inline void client::join(std::string_view room) {
    validate_room_name(room);
    if (auto ns = ns_.lock()) ns->join(*this, room);
}

inline void client::join(std::initializer_list<std::string_view> rooms) {
    join(std::vector<std::string>(rooms.begin(), rooms.end()));
}

inline void client::join(std::vector<std::string> const& rooms) {
    for (auto const& r : rooms)
        validate_room_name(r);
    // All or nothing: the room limit is checked for the whole list before any join.
    if (auto ns = ns_.lock()) ns->join_all(*this, rooms);
}

inline void client::leave(std::string_view room) {
    if (auto ns = ns_.lock()) ns->leave(*this, room);
}

inline std::vector<std::string> client::rooms() const {
    if (auto ns = ns_.lock()) return ns->rooms_of(*this);
    return {};
}

inline void client::emit(std::string_view event, nlohmann::json const& data) {
    auto ev = encoded_event::make(event, data);
    if (auto ns = ns_.lock()) ns->emit_to_client(*this, std::move(ev));
}

inline void client::emit(std::string_view event, text data) {
    auto ev = encoded_event::make(event, data);
    if (auto ns = ns_.lock()) ns->emit_to_client(*this, std::move(ev));
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
    std::unique_lock<std::mutex> lock(queue_mutex_);
    if (state_.load() != state::closed) {
        disconnect_handlers_.push_back(std::move(handler));
        return;
    }
    auto reason = reason_;
    lock.unlock();
    handler(reason); // the stream already ended: run now rather than never
}

inline std::size_t client::buffered_bytes() const {
    std::lock_guard<std::mutex> lock(queue_mutex_);
    return queue_.bytes();
}

inline bool client::enqueue(event_ptr const& e, bool write_through) {
    std::unique_lock<std::mutex> lock(queue_mutex_);
    if (state_.load(std::memory_order_relaxed) != state::open) return false;
    if (write_through && write_through_ && !writing_ && !hold_writes_ && !queue_.has_pending() &&
        e->wire().size() <= max_buffered_bytes_) {
        // Idle: send now, from this thread. Nothing else writes this socket while writing_ is
        // false, and holding queue_mutex_ keeps later events (and the close, which takes this
        // mutex before the socket may be closed) behind this send. The send never blocks
        // (MSG_DONTWAIT semantics), so the lock is held for one system call at most.
        auto const w = e->wire();
        std::error_code ec;
        std::size_t const n = write_now(w, ec);
        if (!ec && n == w.size()) return true;
        if (ec && ec != std::errc::operation_would_block) {
            lock.unlock();
            close(error::write_failed, false);
            return false;
        }
        // The socket buffer is full: the rest goes the asynchronous way, ahead of later events.
        writing_ = true;
        queue_.prepare_rest(e, ec ? 0 : n);
        lock.unlock();
        net::post(strand_, [self = shared_from_this()] {
            std::unique_lock<std::mutex> l(self->queue_mutex_);
            auto const& buffers = self->queue_.inflight_buffers();
            l.unlock();
            self->do_write(buffers);
        });
        return true;
    }
    if (!queue_.push(e, max_buffered_bytes_)) {
        // Conflate: a newer score replaces the queued one nobody has seen yet. Only events
        // sent under the conflate policy (of their namespace or rooms) carry a key.
        if (queue_.conflate() && queue_.push(e, max_buffered_bytes_)) {
            if (!writing_ && !hold_writes_) start_write_locked(lock);
            return true;
        }
        lock.unlock();
        // Its unsent events are dropped and a retry hint sent: it comes back (with
        // Last-Event-ID) once it can read again, instead of holding memory here.
        if (close(error::slow_consumer, true, encoded_event::raw("retry: 3000\n\n"))) {
            if (auto ns = ns_.lock()) ns->count_slow_consumer(); // once, by the closing thread
        }
        return false;
    }
    if (!writing_ && !hold_writes_) start_write_locked(lock);
    return true;
}

inline void client::start_write_locked(std::unique_lock<std::mutex>& lock) {
    writing_ = true;
    lock.unlock();
    // The socket is touched only on the strand; a write in flight picks up later events
    // itself, so this post happens once per burst, not once per event.
    net::post(strand_, [self = shared_from_this()] {
        std::unique_lock<std::mutex> l(self->queue_mutex_);
        auto const& buffers = self->queue_.prepare(self->max_buffered_bytes_ / 2);
        l.unlock(); // never hold the lock while the socket is written
        self->do_write(buffers);
    });
}

inline void client::on_write(std::error_code ec) {
    std::unique_lock<std::mutex> lock(queue_mutex_);
    queue_.commit();
    if (ec) {
        writing_ = false;
        lock.unlock();
        close(error::write_failed, false);
        return;
    }
    auto const s = state_.load();
    bool const more = queue_.has_pending() && (s == state::open || flush_then_close_);
    if (more) {
        auto const& buffers = queue_.prepare(max_buffered_bytes_ / 2);
        lock.unlock();
        do_write(buffers);
        return;
    }
    writing_ = false;
    bool const finish = flush_then_close_;
    lock.unlock();
    if (finish) {
        do_close();
        if (close_timer_) close_timer_->cancel();
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

inline bool client::close(error reason, bool graceful, event_ptr last) {
    if (close_started_.exchange(true)) return false;
    net::post(strand_, [self = shared_from_this(), reason, graceful, last = std::move(last)] {
        self->close_on_strand(reason, graceful, last);
    });
    return true;
}

inline void client::close_on_strand(error reason, bool graceful, event_ptr last) {
    state_.store(state::closing);
    if (auto ns = ns_.lock()) ns->unregister(*this);

    std::unique_lock<std::mutex> lock(queue_mutex_);
    reason_ = make_error_code(reason);
    if (reason == error::slow_consumer) queue_.drop_pending();
    if (graceful && last) queue_.push(std::move(last), std::numeric_limits<std::size_t>::max());
    bool shutdown_now = true;
    if (graceful && (writing_ || queue_.has_pending())) {
        // Flush what is queued, then close; a stuck peer is cut off after close_timeout.
        flush_then_close_ = true;
        shutdown_now = false;
        if (!writing_) {
            writing_ = true;
            auto const& buffers = queue_.prepare(max_buffered_bytes_ / 2);
            lock.unlock();
            do_write(buffers);
        } else {
            lock.unlock();
        }
        arm_close_deadline();
    } else {
        lock.unlock();
    }
    if (shutdown_now) do_close();
    fire_disconnect();
}

inline void client::arm_close_deadline() {
    // A timer only while closing: an open stream needs none (heartbeats find dead peers).
    close_timer_ = std::make_unique<net::steady_timer>(strand_, close_timeout_);
    close_timer_->async_wait([self = shared_from_this()](boost::system::error_code ec) {
        if (!ec) self->do_close();
    });
}

inline void client::fire_disconnect() {
    std::unique_lock<std::mutex> lock(queue_mutex_);
    state_.store(state::closed);
    auto handlers = std::move(disconnect_handlers_);
    disconnect_handlers_.clear();
    auto reason = reason_;
    lock.unlock();
    for (auto& h : handlers) {
        try {
            h(reason);
        } catch (...) {
            // A throwing handler must not take the server down; the stream is gone anyway.
        }
    }
}

} // namespace sse

#endif
