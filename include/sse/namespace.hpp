// sse/namespace.hpp - a namespace: its clients, rooms, middleware and emits.
#ifndef SSE_NAMESPACE_HPP
#define SSE_NAMESPACE_HPP

#include <sse/adapter.hpp>
#include <sse/broadcast.hpp>
#include <sse/client.hpp>
#include <sse/cluster.hpp>
#include <sse/detail/delivery_core.hpp>
#include <sse/detail/event_tap.hpp>
#include <sse/detail/merge_window.hpp>
#include <sse/detail/meters.hpp>
#include <sse/detail/node_plane.hpp>
#include <sse/detail/replay_windows.hpp>
#include <sse/detail/slow_consumer_policies.hpp>
#include <sse/detail/token_bucket.hpp>
#include <sse/middleware.hpp>
#include <sse/options.hpp>
#include <sse/tapped_event.hpp>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/http/message.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace sse {

namespace detail {
class server_core;
} // namespace detail

/// Counters of one namespace, read with `namespace_::stats()`.
struct namespace_stats {
    std::size_t clients = 0;            ///< admitted clients now
    std::size_t rooms = 0;              ///< rooms with at least one client (private ones aside)
    std::uint64_t connections = 0;      ///< clients admitted since start
    std::uint64_t rejected = 0;         ///< clients refused: middleware, overload, closed namespace
    std::uint64_t refused_full = 0;     ///< of those: at max_clients or max_clients_per_address
    std::uint64_t refused_rate = 0;     ///< of those: past the admission rate
    std::uint64_t handler_errors = 0;   ///< exceptions thrown by middleware or handlers, caught
    std::uint64_t events_emitted = 0;   ///< emits that passed through this namespace
    std::uint64_t deliveries = 0;       ///< events queued to a client (one per recipient)
    std::uint64_t slow_consumers = 0;   ///< clients dropped for passing max_buffered_bytes
    std::uint64_t oversized_events = 0; ///< events refused for being larger than a client's
                                        ///< queue (max_buffered_bytes): at emit, or from a node
    std::uint64_t last_event_id = 0;    ///< id of the newest event
    std::uint64_t replays = 0;          ///< reconnects served from history
    std::uint64_t resets = 0;           ///< reconnects told to reset (gap or unknown id)
    std::uint64_t late_events = 0;      ///< other nodes' events that came after newer ids had
                                        ///< been sent: their recipients got a reset instead
    std::size_t history_events = 0;     ///< entries kept for replay, over all rooms
    std::uint64_t tap_dropped = 0;      ///< events not tapped: the tap's handler fell behind
    /// Bytes queued to clients, not yet written.
    std::uint64_t queued_bytes = 0;
    /// The most queued_bytes seen (sampled after each flush pass and by stats()).
    std::uint64_t queued_bytes_peak = 0;
    /// Emit-to-socket-write latency: one observation per socket write that carries emitted
    /// events, from the emit of the oldest of them (heartbeats and resets alone: none).
    latency_histogram write_latency;
};

/** A namespace ("/football"): clients grouped in rooms, a middleware chain, and emits.

    Obtained from `server::of(name)`; the same name gives the same namespace. Namespaces are
    isolated: an emit never reaches another namespace's clients.

    @par Thread Safety
    Every member function is safe to call from any thread. Emits to one namespace are
    ordered: every recipient sees them in the order of their (strictly increasing) ids.
*/
class namespace_ final : public std::enable_shared_from_this<namespace_>, private local_delivery {
    struct private_tag {};

public:
    namespace_(private_tag, std::string name, options const& opts, std::shared_ptr<adapter> a);
    namespace_(namespace_ const&) = delete;
    namespace_& operator=(namespace_ const&) = delete;
    ~namespace_() = default;

    /// The namespace's name, e.g. "/football".
    std::string const& name() const noexcept { return name_; }

    /// Adds a middleware; middlewares run in registration order before a client is admitted.
    void use(middleware mw);

    /// Runs `handler` for each admitted client, on that client's strand, after its response
    /// header and first events are queued. A handler that throws is caught: the client is
    /// disconnected (`error::handler_failed`), the later handlers do not run, and
    /// `stats().handler_errors` counts it.
    void on_connection(std::function<void(client_ptr)> handler);

    /** Takes over `stream` to serve an event stream for `req`; returns the new client.

        Call it from the app's own request handler once it has read `req` (the app decides
        which targets are streams). The middleware chain runs first; then the client gets
        `200 OK` with `Content-Type: text/event-stream` and stays open until either side
        closes. A rejected client gets the rejection's status and is closed. A client refused
        for overload (max_clients, max_clients_per_address, the admission rate) gets the
        answer of `options::refusal`. A `HEAD` request runs the middleware and gets the head
        a `GET` would get, with no body, and is closed: it is never admitted.

        @param stream a `beast::tcp_stream` or `beast::ssl_stream<beast::tcp_stream>` (any
        stream whose lowest layer is a `beast::basic_stream`), with the request already read.
    */
    template <class Stream, class Body, class Fields>
    client_ptr connect(Stream&& stream, beast::http::request<Body, Fields>&& req);

    /// Targets `room` (or several); chain `to`, `except`, then `emit`.
    broadcast_operator to(std::string_view room);
    broadcast_operator to(std::initializer_list<std::string_view> rooms);
    broadcast_operator to(std::vector<std::string> const& rooms);
    /// Targets everyone except the clients of `room`.
    broadcast_operator except(std::string_view room);
    broadcast_operator except(std::initializer_list<std::string_view> rooms);

    /// Socket.IO's name for `to`: `ns.in(room).fetch_clients(...)` reads better.
    broadcast_operator in(std::string_view room);

    /** Clients in `room` on every node: this node's exact count plus what the other nodes
        last announced (at most `options::cluster.announce_interval` old; a node gone for
        `node_ttl` counts no more). Cheap: a lookup, no Redis round trip. */
    std::uint64_t presence(std::string_view room) const;

    /// `to()` with no room: every client of the namespace, on every node (see
    /// broadcast_operator::fetch_clients).
    void fetch_clients(std::function<void(fetch_result)> handler);

    /// Sends an event to every client of the namespace (on every node).
    /// @throws std::invalid_argument for a bad event name or data (`[sse.invalid_data]`: not
    /// UTF-8); std::length_error (`[sse.event_too_large]`) for an event whose encoded size
    /// passes `options::max_buffered_bytes` (it could never fit a client's queue). Nothing is
    /// sent then, and no client is disconnected.
    void emit(std::string_view event, nlohmann::json const& data);
    void emit(std::string_view event, text data);

    /// Admitted clients on this node.
    std::size_t client_count() const;
    std::vector<client_ptr> clients() const;
    /// The client with this id on this node, or null.
    client_ptr find_client(std::string_view id) const;
    /// Names of the shared rooms that have clients on this node (private id rooms aside).
    std::vector<std::string> rooms() const;
    /// The clients of `room` on this node (a client id gives that client).
    std::vector<client_ptr> room(std::string_view name) const;

    namespace_stats stats() const;

    /** Sets how many recent events each room keeps for replay (overrides options::history).
        With history on, a client that reconnects with `Last-Event-ID` first receives the
        events of its rooms (and namespace-wide ones) that it missed, in id order, then live
        events; or the `options::reset_event` when the gap is older than the history kept.
    */
    void set_history(history_options h);
    /// Turns replay off (or back on) for this namespace; history is still recorded.
    void set_replay(bool enabled) noexcept { replay_enabled_.store(enabled); }
    bool replay_enabled() const noexcept { return replay_enabled_.load(); }

    /** Admissions per second for this namespace (overrides options::admission_rate); a
        connect past it is refused as `options::refusal` says. Starts with a full bucket.
        @throws std::invalid_argument when per_second is negative or not finite. */
    void set_admission_rate(sse::admission_rate r);

    /// What happens to this namespace's clients that fall behind (overrides the option).
    void set_slow_consumer_policy(slow_consumer_policy p);
    sse::slow_consumer_policy slow_consumer_policy() const noexcept { return policies_.get(); }
    /** The policy for events sent to `room`, overriding the namespace's for that room: e.g.
        conflate a match's score room, keep its commentary room lossless. An event sent to
        several rooms is conflated only when all of them conflate. Applies to events emitted
        from then on. Throws std::invalid_argument on a bad room name. */
    void set_slow_consumer_policy(std::string_view room, sse::slow_consumer_policy p);
    /// Removes `room`'s override (rooms of finished matches need not stay in memory).
    void clear_slow_consumer_policy(std::string_view room);
    /// `room`'s policy: its override, else the namespace's.
    sse::slow_consumer_policy slow_consumer_policy(std::string_view room) const;

    /** Calls `handler` for every event this namespace delivers on this node: its own emits
        and, through the adapter, other nodes' (once each, however many copies came), in id
        order, one call at a time, on the thread that emitted or delivered it, after the
        namespace's locks are released (the handler may emit). For state that must follow
        the events, like a scoreboard. An exception is caught and counted in
        `stats().handler_errors`. A handler slower than the emits: past 65 536 events waiting,
        events are not tapped (`stats().tap_dropped`). Empty: no tap (the default, at no
        cost). Cost with a tap: one copy of the room lists per event.
    */
    void tap(std::function<void(tapped_event const&)> handler);

    /** This node hears `room`'s events from other nodes even while none of its clients is in
        the room (an adapter routes by interest: by default a node only subscribes to the
        rooms its clients are in), so that the tap sees them. Events to a room nobody here is
        in reach no client; the tap gets them. `unwatch` undoes it. */
    void watch(std::string_view room);
    void unwatch(std::string_view room);

    /** Disconnects every client of this namespace. Later connects get an empty stream with a
        `retry:` hint from the close window (not a 503, on which EventSource gives up). */
    void close();

private:
    friend class client;
    friend class broadcast_operator;
    friend class detail::server_core;
    friend struct detail::admission;

    // ---- emits: stamp the next id and hand the packet to the adapter, in id order ----
    void emit_event(std::vector<std::string> const& rooms, std::vector<std::string> const& except,
                    std::shared_ptr<encoded_event> ev);
    void emit_to_client(client& c, std::shared_ptr<encoded_event> ev);
    /// Throws std::length_error (and counts it) for an event no client's queue could hold.
    void check_event_size(encoded_event const& ev);
    /// The same test for an event from another node: true (and counted) when it is dropped.
    bool drop_oversized(encoded_event const& ev);
    void deliver_remote(std::vector<std::string> const& rooms,
                        std::vector<std::string> const& except, std::shared_ptr<encoded_event> ev);
    void deliver_sequenced(std::vector<std::string> const& rooms,
                           std::vector<std::string> const& except,
                           std::shared_ptr<encoded_event> ev, std::uint64_t id,
                           std::string_view origin);
    // A shared-history event (this node's, origin "", or another's) through the merge
    // window: delivered in id order, held, or late (emit lock held).
    void offer_shared(std::vector<std::string> const& rooms, std::vector<std::string> const& except,
                      event_ptr const& ev, std::string_view origin);
    // Appends it, or resets its recipients when newer ids went out already (emit lock held).
    void deliver_shared(std::vector<std::string> const& rooms,
                        std::vector<std::string> const& except, event_ptr const& ev);
    void arm_merge_timer(); // emit lock held
    void on_merge_timer();
    std::uint64_t last_delivered() const;
    std::vector<std::string> watched_rooms() const;
    bool watched(std::string_view room) const; // log lock held
    // Runs the tap on what this thread (or another) pushed, when its locks are gone: declared
    // before the first lock of an entry point, so that it runs after they are released.
    struct tap_after {
        namespace_& ns;
        ~tap_after() {
            ns.tap_.run([this] { ns.handler_errors_.fetch_add(1, std::memory_order_relaxed); });
        }
    };
    void reset_clients(std::vector<std::string> const& rooms, std::string_view reason);
    bool sequenced() const;            // emit lock held
    std::uint64_t merge_width() const; // µs the merge window holds (emit lock held)
    /// The adapter's local delivery: one append to the logs, then a flush pass.
    void deliver(broadcast_packet const& packet) override;
    void append(broadcast_packet const& p); // log lock held
    // `fn(client&)` for each client of `rooms` once, every client when empty, skipping the
    // clients in a room of `except` (log lock held). `ids_too`: a name that is no room may be
    // a client's id (its private room).
    template <class Fn>
    void for_each_recipient(std::vector<std::string> const& rooms,
                            std::vector<std::string> const& except, bool ids_too, Fn&& fn);

    // ---- the flush pass: moves what the logs hold for each woken client to its queue ----
    void post_flush_pass(); // log lock held
    void run_flush_pass();
    // Plans `c` into its queue (log lock held). A write it makes due is started by the caller
    // (`to_send`, after the lock) or, when null, through the flush queue.
    void plan_client(client& c, detail::log_clock::time_point now,
                     std::vector<client_ptr>* to_send);
    void plan_woken_now(detail::log_clock::time_point now); // log lock held

    // ---- registry changes, called by client and admission ----
    enum class admission_result { admitted, gone, full, rate_limited };
    admission_result admit(client& c);
    // What admit() would answer now, taking nothing (for HEAD).
    admission_result probe(client const& c) const;
    // After the on_connection handlers: the client's first plan may run.
    void end_admission(client& c);
    // `plan_first`: what the logs hold for `c` goes to its queue first (a graceful close).
    void unregister(client& c, bool plan_first);
    void join(client& c, std::string_view room);
    void join_all(client& c, std::vector<std::string> const& rooms);
    void check_room_limit(client const& c, std::size_t adding) const; // log lock held
    void join_locked(client& c, std::string_view room);               // log lock held
    void leave(client& c, std::string_view room);
    std::vector<std::string> rooms_of(client const& c) const;
    static detail::client_state& state_of(client& c) noexcept { return c; }
    static client& client_of(detail::client_state& s) noexcept { return static_cast<client&>(s); }

    // ---- cluster-wide operations (impl/namespace_cluster.hpp) ----
    std::vector<client_ptr> matching(std::vector<std::string> const& rooms,
                                     std::vector<std::string> const& except) const;
    void fetch(std::vector<std::string> rooms, std::vector<std::string> except,
               std::chrono::milliseconds timeout, std::function<void(fetch_result)> handler);
    // Here, then on the other nodes.
    void room_operation(detail::node_message::kind k, broadcast_operator const& target,
                        std::string_view room);
    std::vector<client_summary> summaries(detail::node_message const& target, std::size_t max,
                                          bool& truncated) const;
    void apply_room_operation(detail::node_message const& op) const;
    void presence_counts(std::vector<detail::presence_entry>& out) const;

    // ---- replay from an adapter's shared history (sequenced namespaces) ----
    bool wants_replay(client const& c) const;
    static bool shared_id_ahead(std::uint64_t id); // a Last-Event-ID no node can have given
    void fetch_replay(client& c);                  // the first one, after admission
    void finish_replay(client& c, history_result r, std::vector<std::string> const& fetched);
    void deliver_read_ahead(client& c, std::vector<history_event> events);       // log lock held
    void fetch_late_join(client& c, std::string_view room, std::uint64_t after); // log lock held
    void catch_up_room(client& c, std::string_view room);                        // log lock held
    void finish_catch_up(std::string const& room, std::string const& here, history_result r,
                         adapter const* asked);
    void catch_up_namespace(); // no lock held
    void finish_late_join(client& c, history_result r, std::uint64_t upto,
                          std::vector<std::string> const& had);
    event_ptr make_reset(client const& c, char const* why, std::uint64_t id) const;

    void heartbeat(event_ptr const& ping);
    void expire_history(); // the expiry timer's tick
    void set_adapter(std::shared_ptr<adapter> a);
    void close_all(error reason);
    void count_handler_error() noexcept { handler_errors_.fetch_add(1, std::memory_order_relaxed); }
    void count_slow_consumer() noexcept { slow_consumers_.fetch_add(1, std::memory_order_relaxed); }
    detail::delivery_options delivery_options_for(history_options const& h) const;

    std::string const name_;
    std::weak_ptr<detail::node_plane> plane_; // set once by server_core::of, before sharing
    options const opts_;
    std::atomic<bool> closed_{false};

    // Lock order, outermost first (a lock is only ever taken with those above it held):
    //   emit_mutex_          ids stamped and packets handed to the adapter, one at a time
    //   -> log_mutex_        the delivery core: clients, rooms, logs, positions
    //     -> client::queue_mutex_  one client's write queue (released before writing)
    //       -> flush_queue's mutex
    // handlers_mutex_ (and the policies' own) are never held with another. No socket I/O
    // happens under any of them: an emit appends to the logs; a flush pass plans each woken
    // client's events into its queue; the flush queue or the strand writes.
    mutable std::mutex emit_mutex_;
    std::uint64_t last_id_ = 0;
    std::shared_ptr<adapter> adapter_;
    // Shared-history events of several nodes, back in id order (detail/merge_window.hpp).
    struct held_event {
        std::vector<std::string> rooms;
        std::vector<std::string> except;
        event_ptr event;
    };
    detail::merge_window<held_event> window_;
    // Its own strand and timer, typed (not an any_io_executor copy of the server's strand:
    // Boost 1.81 frees such a shared copy without the ordering TSan needs).
    using merge_strand = net::strand<net::any_io_executor>;
    using merge_timer =
        net::basic_waitable_timer<std::chrono::steady_clock,
                                  net::wait_traits<std::chrono::steady_clock>, merge_strand>;
    std::optional<merge_strand> merge_strand_; // set once by the server, before any emit
    std::shared_ptr<merge_timer> merge_timer_; // on merge_strand_, made when first needed
    bool merge_timer_armed_ = false;
    history_options history_opts_; // a copy readable under the emit lock

    detail::strand_pools strands_; // of plain-TCP clients, per io_context

    // What its clients share (client::context), made by the first connect, which has the
    // namespace's shared_ptr for it.
    std::shared_ptr<client::context const> client_context();
    std::once_flag context_once_;
    std::shared_ptr<client::context const> context_;

    // Clients with bytes queued (plain TCP): sent in passes, outside every lock here.
    std::shared_ptr<detail::flush_queue<client>> const flush_ =
        std::make_shared<detail::flush_queue<client>>();
    // Queued bytes and write latency, in per-thread shards; clients keep a reference.
    std::shared_ptr<detail::namespace_meters> const meters_ =
        std::make_shared<detail::namespace_meters>();

    // The delivery core and what lives under its lock.
    mutable std::mutex log_mutex_;
    detail::delivery_core core_;
    std::vector<client_ptr> all_;                // keeps the registered clients alive
    std::shared_ptr<adapter> adapter_interest_;  // adapter_ as seen under the log lock
    net::any_io_executor pass_ex_;               // where flush passes run (an io thread)
    bool pass_posted_ = false;                   // a pass is queued and has not taken yet
    std::size_t unplanned_bytes_ = 0;            // appended since the last take of the woken
    std::vector<detail::client_state*> woken_;   // scratch of take_woken (back-pressure)
    std::vector<detail::client_state*> to_plan_; // the pass in progress (null: gone since)
    std::size_t to_plan_next_ = 0;               // its first client not planned yet
    std::vector<event_ptr> planned_;             // scratch of one plan
    detail::replay_windows replay_windows_;      // reconnects' missed windows (shared replay)
    std::atomic<bool> sequenced_{false}; // the adapter orders and keeps this namespace's events
    std::atomic<bool> replay_enabled_{true};
    std::set<std::string, std::less<>> watched_; // rooms heard without a client here
    detail::event_tap tap_;
    detail::slow_consumer_policies policies_;
    std::unordered_map<std::string, std::size_t> per_address_; // only with a per-address limit
    detail::token_bucket admissions_;                          // options::admission_rate

    // Copy-on-write so that connects read them without holding a lock while running them.
    mutable std::mutex handlers_mutex_;
    std::shared_ptr<std::vector<middleware> const> middleware_;
    std::shared_ptr<std::vector<std::function<void(client_ptr)>> const> connection_handlers_;

    std::atomic<std::uint64_t> connections_{0};
    std::atomic<std::uint64_t> rejected_{0};
    std::atomic<std::uint64_t> refused_full_{0};
    std::atomic<std::uint64_t> refused_rate_{0};
    std::atomic<std::uint64_t> handler_errors_{0};
    std::atomic<std::uint64_t> events_emitted_{0};
    std::atomic<std::uint64_t> deliveries_{0};
    std::atomic<std::uint64_t> slow_consumers_{0};
    std::atomic<std::uint64_t> oversized_events_{0};
    std::atomic<std::uint64_t> replays_{0};
    std::atomic<std::uint64_t> resets_{0};
    std::atomic<std::uint64_t> late_events_{0}; // another node's, behind newer ids: reset
};

} // namespace sse

#include <sse/impl/client.hpp>
#include <sse/impl/namespace.hpp>
#include <sse/impl/namespace_cluster.hpp>

#endif
