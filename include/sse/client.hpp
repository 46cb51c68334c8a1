// sse/client.hpp - one open event stream: its id, handshake, rooms, and its own emits.
#ifndef SSE_CLIENT_HPP
#define SSE_CLIENT_HPP

#include <sse/detail/flush_queue.hpp>
#include <sse/detail/lazy_vector.hpp>
#include <sse/detail/meters.hpp>
#include <sse/detail/registry.hpp>
#include <sse/detail/strand_pool.hpp>
#include <sse/detail/word_mutex.hpp>
#include <sse/detail/write_queue.hpp>
#include <sse/error.hpp>
#include <sse/event.hpp>
#include <sse/handshake.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace sse {

class namespace_;
namespace detail {
struct admission;
} // namespace detail

/** One client: an open `text/event-stream` response over a Beast stream (plain or TLS).

    Created by `namespace_::connect`. Every client is also in a private room named by its id,
    so `ns.to(client->id()).emit(...)` reaches it from any node.

    @par Thread Safety
    Every member function is safe to call from any thread, at any time, also after the
    stream has ended (calls on an ended client are silent no-ops).
*/
class client : public std::enable_shared_from_this<client>,
               private detail::client_state { // what the delivery core keeps for it
public:
    client(client const&) = delete;
    client& operator=(client const&) = delete;
    virtual ~client();

    /// Unique, unguessable id: 22 characters of [0-9A-Za-z].
    std::string const& id() const noexcept { return id_; }
    /// The request that opened the stream.
    sse::handshake const& handshake() const noexcept { return handshake_; }
    /// The `Last-Event-ID` the browser sent when reconnecting ("" on a first connect).
    /// Also taken from a `lastEventId` query parameter, for clients that cannot set headers.
    std::string_view last_event_id() const noexcept;
    /// Name of the namespace this client belongs to.
    std::string const& nsp() const noexcept { return context_->name; }
    /// True from admission until the stream ends.
    bool connected() const noexcept { return state_.load() == state::open; }
    /// Why the stream ended; empty while it is open or pending.
    std::error_code disconnect_reason() const;

    /// Joins a room (created on first join). Before admission, joins are remembered and
    /// applied on admission. @throws std::invalid_argument for a bad room name.
    void join(std::string_view room);
    void join(std::initializer_list<std::string_view> rooms);
    void join(std::vector<std::string> const& rooms);
    /// Leaves a room (removed when its last client leaves). Leaving the private room is ignored.
    void leave(std::string_view room);
    /// The rooms this client is in, its private room (its id) first.
    std::vector<std::string> rooms() const;

    /// Sends an event to this client only (not through the adapter).
    /// @throws std::invalid_argument for a bad event name or data (`[sse.invalid_data]`: not
    /// UTF-8); std::length_error (`[sse.event_too_large]`) for an event larger than
    /// `options::max_buffered_bytes`. Nothing is sent then.
    void emit(std::string_view event, nlohmann::json const& data);
    void emit(std::string_view event, text data);

    /// Ends the stream: the client leaves every room and `on_disconnect` handlers run.
    /// Already queued events are flushed first (bounded by `options::close_timeout`).
    void disconnect();

    /// Runs `handler` once when the stream ends (at once if it already has), on the
    /// client's strand.
    void on_disconnect(std::function<void()> handler);
    void on_disconnect(std::function<void(std::error_code)> handler);

    /// Bytes queued for this client and not yet written.
    std::size_t buffered_bytes() const;

    /// The strand on which this client's socket work runs.
    net::strand<net::any_io_executor> const& get_executor() const noexcept { return *strand_; }

protected:
    enum class state : std::uint8_t { pending, open, closing, closed };

    /// What every client of one namespace shares, made once by the namespace: one pointer per
    /// client instead of copies of each part. It outlives the namespace while a client holds
    /// it (a stream may end after its namespace).
    struct context {
        std::string name;                   // nsp()
        std::weak_ptr<namespace_> ns;       // the namespace, while it exists
        detail::flush_queue<client>* flush; // the namespace's; used only while it calls us
        std::shared_ptr<detail::namespace_meters> meters;
        std::size_t max_buffered_bytes;          // options::max_buffered_bytes
        std::chrono::milliseconds close_timeout; // options::close_timeout
    };

    client(std::shared_ptr<detail::client_strand const> strand,
           std::shared_ptr<namespace_> const& ns, sse::handshake hs);

    // The transport, implemented per stream type by detail::stream_client.
    virtual void do_read() = 0;
    virtual void do_write(std::vector<net::const_buffer> const& buffers) = 0;
    // Ends the connection. `drain`: shut down sending, then read and drop what the peer still
    // sends (bounded in bytes and time) before closing, so that the bytes just written are
    // not lost to the reset a close with unread bytes causes. Called again (the close
    // deadline), it closes at once.
    virtual void do_close(bool drain) = 0;
    // A non-blocking gather send from the calling thread (plain TCP only, see
    // write_through_): the bytes taken, or would_block / an error. Never blocks.
    virtual std::size_t write_now(detail::buffer_range buffers, std::error_code& ec) = 0;

    // Called by the transport, on the strand (with an error, from anywhere). False: stop
    // reading, the stream is closing.
    bool on_read(std::error_code ec, std::size_t n);
    void on_write(std::error_code ec);
    // On the strand, while writing asynchronously: the transport wrote the first `n` bytes
    // of the in-flight batch and waits to write the rest (write_on_strand resumes it).
    void consume_written(std::size_t n);
    // On the strand: writes the in-flight batch left half-written, else the next one.
    void write_on_strand();
    // On the strand, once do_close(true) shut down sending and set draining_: the drain
    // ends after close_timeout at most (do_close(false) then closes).
    void arm_drain_deadline();

private:
    friend class namespace_;
    friend struct detail::admission;
    friend class detail::flush_queue<client>;

    // Queue an event (several: in one lock); false when the client is not taking events (or
    // just overflowed: then it is closing as a slow consumer, or conflated what it could).
    bool enqueue(event_ptr const& e);
    // `must_start` non-null: an idle writer is not started here; *must_start says whether the
    // caller must call begin_write() (outside its locks).
    bool enqueue_all(std::vector<event_ptr> const& events, bool* must_start = nullptr);
    void begin_write(); // writing_ set by enqueue_all: send now (plain TCP) or on the strand
    bool push_locked(event_ptr const& e, std::unique_lock<detail::word_mutex>& lock);
    // Starts writing the queued events: through the namespace's flush queue when the socket
    // can be written from any thread, else on the strand. Unlocks.
    void start_write_locked(std::unique_lock<detail::word_mutex>& lock);
    void post_write_on_strand();
    // The flush queue's turn: send the backlog now, non-blocking; what the socket does not
    // take goes on asynchronously, on the strand.
    void flush_ready();
    // Ends the stream once, from any thread: the work is posted to the strand.
    // True for the call that started the close.
    bool close(error reason, bool graceful, event_ptr last = nullptr);
    struct queued_close; // the posted half of close()
    void close_on_strand(error reason, bool graceful, event_ptr last);
    void fire_disconnect();
    void drop_disconnect_handlers() noexcept;
    void arm_close_deadline();
    // The queue's byte count changed: the namespace's queued-bytes meter follows (once per
    // batch, not per event). queue_mutex_ held.
    void account_locked() noexcept;
    // A socket write of the first `k` backlog events (or of the in-flight batch) starts: its
    // latency is observed (one clock read). queue_mutex_ held.
    void observe_write_locked(std::chrono::steady_clock::time_point oldest) noexcept;
    // The Last-Event-ID header, else the lastEventId query parameter, as sent.
    static std::string_view sent_last_event_id(sse::handshake const& hs) noexcept;

    // The small fields first: they fill the tail of client_state (its last word) and pack
    // into the next. An object of this class exists per connection: each word counts (see
    // bench/RESULTS.md, "Idle footprint").
    // Guarded by queue_mutex_.
    bool writing_ = false;
    bool hold_writes_ = false; // until admitted: the head leaves with the first events
    bool flush_then_close_ = false;
    std::atomic<state> state_{state::pending};
    std::atomic<bool> close_started_{false};
    bool last_event_id_malformed_ = false; // replay answers it with a reset
    // Guarded by the namespace's log lock.
    bool held_ = true; // not planned until admitted (and a shared-history replay merged)
    bool queued_for_plan_ = false; // in the namespace's pass in progress
    enum class replay_state : std::uint8_t { none, pending, done };
    replay_state replay_ = replay_state::none; // a shared-history (adapter) replay
    mutable detail::word_mutex queue_mutex_;
    std::uint32_t bytes_read_ = 0; // on the strand; capped at max_inbound_bytes
    std::uint32_t all_index_ = 0;  // guarded by the namespace's log lock

protected:
    // Set by the transport when write_now() may be used: queued events then leave from the
    // namespace's flush queue, with no strand hop, composed write or completion per client.
    bool write_through_ = false;
    // The transport's, on the strand: closing, it reads and drops what the peer still sends
    // (see do_close). Here rather than in the transport, where it would take a word of its own.
    bool draining_ = false;
    std::chrono::milliseconds close_timeout() const noexcept { return context_->close_timeout; }

private:
    std::string id_;
    sse::handshake handshake_;

protected:
    /// What only a stream that ends (or that someone watches end) needs: allocated on first
    /// use, so that an open stream carries one pointer for all of it.
    struct closing_state {
        std::error_code reason;                                                // queue_mutex_
        std::vector<std::function<void(std::error_code)>> disconnect_handlers; // queue_mutex_
        // On the strand, only while closing: the close deadline (client), and the drain's
        // deadline and byte count (the transport's do_close).
        std::unique_ptr<net::steady_timer> close_timer;
        std::unique_ptr<net::steady_timer> drain_timer;
        std::size_t drained = 0;
    };
    // The closing state, allocated if needed; safe from any thread (each field is guarded as
    // its comment says).
    closing_state& closing();

    // Its own strand (TLS, or a stream on an executor we cannot see through), or one of the
    // namespace's pooled strands (plain TCP on an io_context): see detail::strand_pool.
    std::shared_ptr<detail::client_strand const> strand_;
    std::shared_ptr<context const> context_; // the namespace's, shared by its clients

private:
    std::uint64_t admitted_head_ = 0; // log lock: the namespace's head at admission

    // Guarded by queue_mutex_.
    detail::write_queue queue_;
    std::size_t accounted_bytes_ = 0; // queue_.bytes() as the meters last heard it

    // Null until closing() (an idle open stream never needs it).
    std::atomic<closing_state*> closing_{nullptr};

    // Guarded by the namespace's log lock: rooms joined before admission, joined on it.
    detail::lazy_vector<std::string> pending_rooms_;
};

/// Shared ownership of a client.
using client_ptr = std::shared_ptr<client>;

} // namespace sse

// The bodies need namespace_, whose header includes them at its foot.
#include <sse/namespace.hpp>

#endif
