// sse/redis_adapter.hpp - scaling out: every node's emits reach every node's clients through
// Redis pub/sub (hiredis, driven by the server's own Asio executor).
//
// @code
//   #include <sse/redis_adapter.hpp>   // CMake target sse::redis (links hiredis)
//   sse::redis_options ro;
//   ro.url = "redis://:secret@10.0.0.5:6379/2";
//   io.adapter(std::make_shared<sse::redis_adapter>(ioc.get_executor(), ro));
// @endcode
//
// How it works (details in impl/redis_adapter.hpp):
//   - one publishing and one subscribing connection per adapter, both on one strand of the
//     executor you give: no thread, no libevent or libuv;
//   - the origin node delivers to its own clients at once and publishes the emit once (per
//     target channel, pipelined), tagged with its node id and a sequence number;
//   - routing by interest: channel `<prefix>#<nsp>#` carries namespace-wide emits, channel
//     `<prefix>#<nsp>#<room>` carries emits to a room; a node subscribes only to the
//     namespaces it serves and the rooms it has local clients in (a client id is a room too);
//   - an emit to several rooms goes to each room's channel; a node that hears it twice keeps
//     the first copy (same origin and sequence) and resolves its own recipients once from the
//     full room and except lists, so every client gets it exactly once;
//   - Redis keeps the order of one connection, so emits from one node to one room arrive in
//     emit order on every node;
//   - when Redis goes away the adapter reconnects with backoff, resubscribes, and publishes
//     the emits it kept meanwhile (up to `max_pending_emits`; beyond that, dropped and
//     counted). Local delivery never stops.
//   - shared history (`redis_options::shared_history`, on by default, for namespaces with
//     history on): the emitting node gives each such emit an id that orders across nodes and
//     delivers it locally at once; a script stores it in the room's history in Redis and
//     publishes it; every node uses the same id. So any node can replay a reconnecting
//     client's `Last-Event-ID` from Redis, and a node whose subscriber was cut reads back
//     what it missed (detail/redis_history.hpp).
#ifndef SSE_REDIS_ADAPTER_HPP
#define SSE_REDIS_ADAPTER_HPP

#include <sse/adapter.hpp>
#include <sse/detail/config.hpp>

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

struct redisAsyncContext; // hiredis (<hiredis/async.h>)

namespace sse {

namespace detail {
class redis_adapter_impl;
} // namespace detail

/// Which of a Redis adapter's two connections.
enum class redis_role { publisher, subscriber };

/// Makes a hiredis connection for a Redis adapter: see `redis_options::connect`.
using redis_connect_function = std::function<redisAsyncContext*(redis_role)>;

/// How much a Redis adapter log line matters.
enum class redis_log_level { debug, info, warning, error };

/** A snapshot of a Redis adapter's links and counters (see `redis_adapter::state`).

    Counters only grow; they count since the adapter was created.
*/
struct redis_state {
    /// Both connections are up (connected, authenticated, database selected).
    bool connected = false;
    bool publisher_connected = false;
    bool subscriber_connected = false;
    /// The adapter was closed.
    bool closed = false;
    /// The URL points at a Redis Cluster (learnt when the publisher first connects).
    bool cluster = false;
    /// On a cluster with `redis_options::sharded_pubsub`: the shards this node has
    /// connections to (one publisher and one subscriber each, opened as needed), and how many
    /// of those connections are up.
    std::size_t shards = 0;
    std::size_t shard_connections = 0;

    /// Times a connection that had been up came back up.
    std::uint64_t reconnects = 0;
    /// Connection attempts that failed (refused, timed out, AUTH or SELECT refused).
    std::uint64_t connect_failures = 0;

    /// Emits whose PUBLISH commands Redis acknowledged (with sharded pub/sub, a plain emit
    /// counts once its copies are in their shards' queues; see `dropped`).
    std::uint64_t published = 0;
    /// Messages that arrived on our channels, whatever they held.
    std::uint64_t received = 0;
    /// Messages from other nodes handed to the local server.
    std::uint64_t delivered = 0;
    /// Our own emits coming back (dropped: the origin already delivered them).
    std::uint64_t echoes = 0;
    /// Second copies of an emit (heard on two room channels, or republished after a
    /// reconnect), dropped.
    std::uint64_t duplicates = 0;
    /// Emits not published because `max_pending_emits` was reached while Redis was away
    /// or slow, or because `close_drain` ran out after `close()`.
    std::uint64_t dropped = 0;
    /// Emits Redis answered with an error (out of memory, read-only replica, an ACL...): the
    /// other nodes never got them, and were sent a notice to reset those rooms' clients.
    std::uint64_t refused = 0;
    /// Notices received that another node lost emits (refused, or past `max_pending_emits`):
    /// the clients of their rooms here got the reset event (`lost_events`).
    std::uint64_t lost_notices = 0;
    /// Undecodable or foreign messages on our channels, ignored.
    std::uint64_t malformed = 0;
    /// Of those: our magic, but a message format this build does not know (a node of
    /// another sse version: see README "Rolling upgrade"). Logged once per format.
    std::uint64_t unsupported_versions = 0;
    /// Messages longer than `redis_options::max_message_bytes`, ignored before decoding.
    std::uint64_t oversized = 0;
    /// Messages that Redis pub/sub lost on their way here, seen by their channel numbers
    /// (`redis_options::channel_numbers`). With shared history the node reads them back
    /// (`recovered_events`) or resets the room's clients; without, it resets them
    /// (`lost_events`). Logged once per gap.
    std::uint64_t channel_gaps = 0;
    /// Marks this node published: a channel quiet for `redis_options::channel_mark_after`
    /// after one of its messages gets one, so that a loss of that last message is seen too.
    std::uint64_t channel_marks = 0;

    /// Emits waiting to be published (on a cluster with sharded pub/sub, also the copies
    /// waiting for their shard: one per target channel).
    std::size_t pending = 0;
    /// Channels this node wants (namespaces served, rooms with local clients).
    std::size_t wanted_channels = 0;
    /// Channels Redis confirmed on the current subscriber connection (with sharded pub/sub:
    /// on the shards' subscriber connections together).
    std::size_t subscribed_channels = 0;
    /// SUBSCRIBE/UNSUBSCRIBE confirmations still awaited.
    std::size_t pending_subscriptions = 0;

    /// Shared history (`redis_options::shared_history`): emits stored by the script, replay
    /// reads answered, and broker gaps recovered: times
    /// the subscriber came back and the events published meanwhile were read back from the
    /// history and delivered (`recovered_events` of them), or could not be
    /// (`history_resets`: namespaces or rooms whose clients were told to reset).
    std::uint64_t sequenced = 0;
    std::uint64_t history_reads = 0;
    std::uint64_t recoveries = 0;
    std::uint64_t recovered_events = 0;
    std::uint64_t history_resets = 0;

    /// How far behind the subscriber is: how long this node's last own message that came
    /// back on the subscriber connection took from its publish (PUBLISH queued) to its
    /// receipt, on this node's clock. Zero until one came back (a node hears its own
    /// messages only on channels it subscribes to: rooms with local clients, its namespaces).
    std::chrono::microseconds subscriber_lag{0};

    /// The last error, for humans; empty when none happened yet. It is kept after recovery.
    std::string last_error;
};

/** Options of a Redis adapter. An aggregate: set the fields you need.

    @code
    sse::redis_options o;                         // C++17
    o.url = "redis://:secret@127.0.0.1:6379/2";
    auto a = std::make_shared<sse::redis_adapter>(ioc.get_executor(), o);
    // C++20: sse::redis_options{.url = "redis://127.0.0.1:6379"}
    @endcode
*/
struct redis_options {
    /** Where Redis is: `redis://[[user]:password@]host[:port][/db]`.

        `redis://:secret@host` sends `AUTH secret`; `redis://user:secret@host` sends
        `AUTH user secret` (Redis 6 ACL). Percent-encode `@ : /` in the password. The port
        defaults to 6379, the database to 0. A host name is resolved asynchronously; an IPv6
        address goes in brackets. `rediss://` (TLS) is not supported. A URL that does not parse
        leaves the adapter disconnected with the reason in `redis_state::last_error`. With
        `connect` (connections you make), only its credentials and database are used and the
        host may be left out: `redis://:secret@/2`.
    */
    std::string url = "redis://127.0.0.1:6379";

    /// First part of every channel name (`<prefix>#<nsp>#<room>`). Apps that share a Redis
    /// but must not hear each other use different prefixes.
    std::string channel_prefix = "sse";

    /// Delay before the first reconnect attempt (jittered: between half and all of it); it
    /// doubles after each failure, up to `reconnect_max`.
    std::chrono::milliseconds reconnect_min = std::chrono::milliseconds(100);
    std::chrono::milliseconds reconnect_max = std::chrono::seconds(5);

    /// Longest time from starting an attempt (resolve, connect, AUTH, SELECT) to ready.
    /// 0 disables (not recommended: a black-holed host then waits for the OS, minutes).
    std::chrono::milliseconds connect_timeout = std::chrono::seconds(5);

    /// Emits kept while the publisher is away (or Redis is slower than the emits), published
    /// in order on reconnect. Past it a new emit is not published (it is still delivered
    /// locally) and `redis_state::dropped` grows. 0 keeps nothing.
    std::size_t max_pending_emits = 10000;

    /// PUBLISH commands written but not yet answered: the pipelining window. Larger helps a
    /// far-away Redis; it bounds what is written again after a reconnect.
    std::size_t max_in_flight = 4096;

    /// A message on our channels longer than this is counted (`redis_state::oversized`) and
    /// ignored unread. The default leaves room for an event as large as the default
    /// `options::max_buffered_bytes` (1 MiB, the largest event an emit accepts) plus its room
    /// lists. hiredis still reads the whole reply first; Redis itself disconnects a subscriber
    /// more than 32 MB behind (`client-output-buffer-limit pubsub`), which bounds that.
    std::size_t max_message_bytes = 2 * 1024 * 1024;

    /// An emit to more rooms than this is published once on the namespace-wide channel
    /// instead of once per room channel (every node serving the namespace then hears it and
    /// delivers to the rooms it has). 0 means "always per room".
    std::size_t max_room_channels = 16;

    /** Keep the history of namespaces with history on (`history_options::max_events > 0`)
        in Redis, shared by every node, with ids that hold on every node.

        The emitting node gives each such emit an id that orders across nodes (microseconds
        since 2020, never at or below an id the node has seen: detail/hybrid_id.hpp) and
        delivers it to its own clients at once, Redis or not. One script per emit (pipelined,
        no round trip waited for) then stores it in the history of each target room (a sorted
        set by id, trimmed to `max_events` and `max_age`) and publishes it; the other nodes
        deliver it with the same id. Guarantees: every client's ids strictly increase; a
        client that reconnects to any node with `Last-Event-ID` gets every event it missed,
        in id order, once, while the history holds them (else the reset event); an event
        that reaches a node after newer ids went out there is not sent out of order: its
        recipients get the reset event (`late_event`, counted in
        `namespace_stats::late_events`). While two nodes emit to one namespace at once,
        `merge_window` holds events so that this stays rare.

        While Redis is away local delivery goes on; emits wait for it (up to
        `max_pending_emits`, then they are dropped and counted) and reach the other nodes
        when it is back. After a subscriber outage the node reads what it missed from the
        history (see `redis_state::recoveries`).

        Needs Redis >= 7.0 and node clocks that agree within a second (NTP): ids are times.
        Do not let Redis evict keys (`maxmemory-policy noeviction` or a `volatile-*` policy).
        false: events are numbered per node and replay serves only from each node's memory.
    */
    bool shared_history = true;

    /** While two or more nodes emit to one namespace with shared history, each node holds
        events this long past their id's time and then delivers them in id order, so that an
        event from another node, which arrives a Redis round trip late, still goes out before
        the newer local ones (detail/merge_window.hpp). Nothing is held while a single node
        emits: holding starts when events from a second node come in (the first few may then
        come late) and stops a minute after the last change of origin. About the time an event takes
       from one node to another, plus the clocks' difference; 0: never hold (more `late_event`
        resets when nodes emit at once).
    */
    std::chrono::microseconds merge_window = std::chrono::milliseconds(20);

    /** Number each node's messages per channel, so that a receiving node sees one Redis
        pub/sub lost (pub/sub delivers at most once: a message can vanish without the
        subscriber being disconnected, e.g. on a Redis failover). Counted in
        `redis_state::channel_gaps`; see there for what follows. Costs 8 bytes per message.
        Nodes of builds without it cannot read numbered messages: turn it off on the new
        nodes while a rolling upgrade from such a build runs (README: Rolling upgrade).
    */
    bool channel_numbers = true;

    /** A channel number shows a lost message when a later one comes on its channel; the
        last message of a burst has none. So a channel quiet for this long after this node's
        message there gets a mark: a small message with that message's number, from which a
        receiver that missed it sees the loss (and reads it back, or resets the room). A loss
        is then seen within about twice this, unless the mark is lost too. One mark per quiet
        spell: a channel with steady traffic gets none. Needs `channel_numbers`; 0: no marks.
        Nodes of builds without marks count them as an unknown format (README: Rolling
        upgrade).
    */
    std::chrono::milliseconds channel_mark_after = std::chrono::seconds(1);

    /** On a Redis Cluster, carry rooms and namespaces on sharded pub/sub (Redis 7):
        `SPUBLISH`/`SSUBSCRIBE` on the master of each channel's slot, so that a room's traffic
        stays on its shard and the cluster's capacity grows with its shards. Classic `PUBLISH`
        is broadcast to every node of a cluster. Ignored on a single server. Nodes that share
        a prefix must agree on it (a node with it off does not hear one with it on): turn it
        off on the new nodes while a rolling upgrade from a build without it runs (README:
        Redis Cluster). Not available with `connect` or given contexts (classic then).
    */
    bool sharded_pubsub = true;

    /** How long a closed adapter keeps publishing what this node emitted before the close.

        `close()` (an adapter swap with `io.adapter(...)`, `io.close()`, the destructor) stops
        delivery to this node at once, but the emits still waiting for Redis (queued, or sent
        and not yet answered) are published first, reconnecting if need be, for up to this
        long; what is left then is counted in `dropped` and logged. The io_context must keep
        running meanwhile. 0: drop them at once.
    */
    std::chrono::milliseconds close_drain = std::chrono::seconds(2);

    /// Called on the adapter's strand when `connected` changes or an error is recorded, in the
    /// order of the changes, each after the change it reports: another thread's `state()` may
    /// show a change a moment before its callback runs. Must not block; may call
    /// `redis_adapter::state()`.
    std::function<void(redis_state const&)> on_state_change = {};

    /// Log sink, called on the adapter's strand. When empty, warnings and errors go to
    /// `std::cerr` prefixed with `[sse.redis]`; set a no-op to silence them.
    std::function<void(redis_log_level, std::string_view)> log = {};

    /** Connections the application makes, instead of the adapter connecting to `url`: for a
        Unix socket, TLS (hiredis_ssl), a bind address, a master found through Sentinel...

        Called on the adapter's strand for each connection attempt of each link (the first
        one and every reconnect), it returns a new context from `redisAsyncConnect*` (the
        connect may still be in progress), or nullptr for "not now" (counted as a failed
        attempt, retried with backoff). It must not block: pass an address, not a host name
        (hiredis resolves names synchronously). An exception counts as a failed attempt.

        The context must be fresh: no event library attached (the adapter attaches Asio), no
        connect or disconnect callback, `data` unset. Commands already queued on it (an AUTH of
        your own) go first. From then on the adapter owns it: it frees it when the connection
        drops or closes; do not use or free it. A context that breaks these rules is refused
        (a failed attempt, with the reason in `last_error`) and freed, except one with an event
        library attached, which is left alone.

        `url` still gives the handshake: its password (AUTH) and database (SELECT) are sent on
        every such context; its host and port are not used (`redis://:secret@/2` will do).
        hiredis' own timeouts are not used (there is no timer hook): `connect_timeout` applies.

        @code
        o.connect = [](sse::redis_role) { return redisAsyncConnectUnix("/run/redis.sock"); };
        @endcode
    */
    redis_connect_function connect = {};
};

/** Two hiredis contexts an application already made, given to a `redis_adapter` (see its
    constructor). Each must satisfy what `redis_options::connect` asks of its contexts.
*/
struct redis_contexts {
    redisAsyncContext* publisher = nullptr;
    redisAsyncContext* subscriber = nullptr;
};

/** An `sse::adapter` that connects the nodes of a cluster through Redis pub/sub.

    Install it on each node with `server::adapter(...)`. It connects as soon as it is built,
    reconnects by itself, and is closed by `io.close()` (or its destructor).

    @par Thread Safety
    Every member function is safe to call from any thread. All Redis I/O runs on one strand of
    the executor given to the constructor; the executor's io_context must be running for
    anything to reach Redis (local delivery does not depend on it).

    @par Delivery guarantees
    Namespaces with history on and `shared_history` (see there): local delivery never waits
    for Redis; every client's ids strictly increase, on every node; each node's own emits keep
    their emit order; a replay after `Last-Event-ID` on any node is complete while the history
    holds the missed events (else the reset event); a subscriber outage is filled from the
    history (else the affected clients get the reset event); an event that cannot be sent in
    order any more is replaced by the reset event (`late_event`), never sent out of order.

    Other namespaces: exactly once per client for every emit that Redis carries, in emit order
    per origin node and room. Redis pub/sub stores nothing: a node whose subscriber is disconnected
   misses what is published meanwhile, and emits kept while the publisher was away reach only the
   nodes already resubscribed when they are published. Redis also cuts a subscriber that falls too
    far behind (`client-output-buffer-limit pubsub`, 32 MB by default): the adapter reconnects
    and says so in `state()` and the log; raise that limit for heavy traffic.

    @note Destroy the adapter (or call `close()` and let the io_context run) before destroying
    its io_context.
*/
class redis_adapter final : public adapter {
public:
    /// Type of the executor given to the constructor.
    using executor_type = net::any_io_executor;

    /** Starts connecting to Redis.

        @param ex Executor of the io_context the Redis I/O runs on (usually the server's).
        @param opts Options; see `redis_options`. Errors in them (a bad URL) are reported
        through `state().last_error` and the log, never thrown.
    */
    explicit redis_adapter(executor_type ex, redis_options opts = {});

    /** Starts with connections the application already made.

        The adapter takes both contexts at once (it frees them, even if it never uses them)
        and uses them for the first connection of each link. The adapter cannot make a
        context like yours by itself: when one of these connections is lost, the link is
        reconnected with `opts.connect` if set, else it stays down (local delivery goes on;
        `state()` and the log say so). Prefer `opts.connect` alone unless the contexts must
        exist before the adapter.

        @throws std::invalid_argument (`[sse.redis_contexts]`) when a context is null or both
        are the same; the contexts are then still yours.
    */
    redis_adapter(executor_type ex, redis_contexts contexts, redis_options opts = {});

    /// Closes (see `close`).
    ~redis_adapter() override;

    redis_adapter(redis_adapter const&) = delete;
    redis_adapter& operator=(redis_adapter const&) = delete;

    void attach(std::weak_ptr<adapter_host> host) override;
    void broadcast(broadcast_packet const& packet, local_delivery& local) override;
    bool sequences(history_options const& h) const noexcept override;
    std::chrono::microseconds merge_window() const noexcept override;
    /// True on a Redis Cluster with `redis_options::sharded_pubsub` (once discovered).
    bool reorders_origins() const noexcept override;
    unsigned id_tag() const noexcept override;
    void fetch_history(std::string_view nsp, std::vector<std::string> rooms, std::uint64_t after,
                       history_options const& h, std::function<void(history_result)> done) override;
    void namespace_added(std::string_view nsp) override;
    void room_added(std::string_view nsp, std::string_view room) override;
    void room_removed(std::string_view nsp, std::string_view room) override;
    std::string_view node_id() const noexcept override;
    void succeed(std::string_view previous_node_id) override;
    /// Node messages go through `<channel_prefix>#:nodes#` (every node) and
    /// `<channel_prefix>#:nodes#<node_id>` (one node), with PUBLISH on the publisher link.
    bool reaches_nodes() const noexcept override;
    void send_to_nodes(std::string_view to, std::string payload) override;

    /** Stops: no new publish, and no delivery to the host after this returns (one in
        progress on the adapter's strand is waited for, unless `close` is called from inside
        it). The emits made before it that Redis has not taken yet are still published, for
        up to `redis_options::close_drain` (the io_context must keep running); what is left
        then is counted in `redis_state::dropped`. The connections, timers and descriptors
        are released on the strand after that. Idempotent.
    */
    void close() override;

    /// A snapshot of links and counters.
    redis_state state() const;

    /// The options in use.
    redis_options const& options() const noexcept;

private:
    std::shared_ptr<detail::redis_adapter_impl> impl_;
};

} // namespace sse

#include <sse/impl/redis_adapter.hpp>

#endif
