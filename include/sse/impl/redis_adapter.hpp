// sse/impl/redis_adapter.hpp - bodies of sse/redis_adapter.hpp.
//
// Threads. Public calls come from any thread: `broadcast` and the interest calls take `mutex_`
// for a few pointer moves and post to the strand at most once per batch. Everything that
// touches hiredis, the publish queue or the links runs on `strand_`.
//
// Publishing. `broadcast` delivers locally first, encodes the message (outside the lock),
// then numbers it and appends it to `intake_` under the lock, so sequence order is intake
// order is publish order. The strand moves the intake into the publish queue and writes
// PUBLISH commands while the in-flight window has room; hiredis gathers every command written
// in one strand turn into one socket write. Replies acknowledge in order.
//
// Routing (the channel layout is in detail/redis_message.hpp). An emit is published:
//   - to the namespace channel when it has no target room (a namespace-wide emit, with or
//     without except rooms) or more target rooms than `max_room_channels`;
//   - otherwise once to each distinct target room's channel.
// A node subscribes to the namespace channel of each namespace it serves and to the channel
// of each room with a local client. Each copy carries the whole room and except lists, so a
// receiving node resolves its recipients from the full emit, once.
//
// Exactly once. The origin delivers locally and drops its echo (origin id). Every other node
// N gets at least one copy if it has a matching client: that client's namespace (namespace
// channel) or one of its target rooms (room channel) is subscribed on N. N may get several
// copies (several target rooms live on N, or a replay after the publisher reconnected); all
// carry the same (origin, sequence), and since one origin's messages reach N in the origin's
// publishing order (one publishing connection; Redis keeps per-connection order; N has one
// subscribing connection), N keeps a message only if its sequence is above the highest it has
// seen from that origin. The local server then gives each client one copy.
// Pub/sub itself delivers at most once: each copy also carries its channel's number (per
// origin, detail/redis_channel_sequence.hpp), so a hole shows a message lost on the way.
//
// Order. One origin's emits to one room travel one channel through one connection in both
// directions, in sequence order, and are delivered on N's strand in that order.
//
// Shared history (redis_options::shared_history, namespaces with history on; the scripts and
// keys are in detail/redis_history.hpp). The namespace stamps an id that orders across nodes
// (detail/hybrid_id.hpp) and its clients get the event at once, Redis or not. Then
// `broadcast_sequenced` queues one EVAL of the append script instead of PUBLISHes, through
// the same queue and window. The script stores the emit under its id and publishes it as a
// 0x82 message; every other node hands it to `deliver_sequenced` once (copies dropped by
// (origin, namespace, id)). A script re-sent after a reconnect is recognised by its (origin,
// sequence) and not run twice. Replay reads (`fetch_history`)
// run the fetch script on the publishing connection, tagged so their replies find their
// callback; a callback pending when that connection drops is answered "history_unavailable".
//
// New rooms. A room's channel is subscribed when it gets its first local client; until
// Redis confirms it, that room's messages pass this node by. So a history read
// (`fetch_history`) waits until Redis answered every SUBSCRIBE sent before it
// (`when_subscribed`), and the namespace reads a new room's recent history that way
// (namespace_::catch_up_room) and delivers what it lacks.
//
// What pub/sub did not bring (a subscriber that was away, a message lost on its way) is read
// back from the history: impl/redis_recovery.hpp. The code is split by concept: publishing
// in impl/redis_publish.hpp, receiving in impl/redis_receive.hpp; the links, subscriptions,
// history reads and closing stay here.
//
// Faults. Each link (publisher, subscriber) has its own reconnect state machine. While the
// publisher is away emits wait in the queue (bounded); on reconnect the unacknowledged ones
// and the waiting ones are published in order. The subscriber replays the subscription
// tracker on each reconnect.
#ifndef SSE_IMPL_REDIS_ADAPTER_HPP
#define SSE_IMPL_REDIS_ADAPTER_HPP

#include <sse/detail/cluster_redirect.hpp>
#include <sse/detail/cluster_topology.hpp>
#include <sse/detail/hiredis_asio.hpp>
#include <sse/detail/random_id.hpp>
#include <sse/detail/redis_channel_sequence.hpp>
#include <sse/detail/redis_cluster_reply.hpp>
#include <sse/detail/redis_history.hpp>
#include <sse/detail/redis_message.hpp>
#include <sse/detail/redis_publish_queue.hpp>
#include <sse/detail/redis_reconnect.hpp>
#include <sse/detail/redis_subscriptions.hpp>
#include <sse/detail/redis_url.hpp>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <deque>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

namespace sse {
namespace detail {

/// What the URL points at: learnt from the first answer to CLUSTER SHARDS.
enum class redis_topology { unknown, single, cluster };

class redis_adapter_impl final : public redis_connection_handler,
                                 public std::enable_shared_from_this<redis_adapter_impl> {
public:
    redis_adapter_impl(net::any_io_executor ex, redis_options opts)
        : opts_(std::move(opts))
        , strand_(net::make_strand(std::move(ex)))
        , node_id_(random_id(12))
        , queue_(opts_.max_pending_emits, opts_.max_in_flight)
        , pub_("publisher", "pub", opts_, strand_)
        , sub_("subscriber", "sub", opts_, strand_)
        , rng_(std::random_device{}())
        , drain_timer_(strand_) {
        id_tag_.store(static_cast<unsigned char>(node_id_.back()) % 16u);
    }

    // The application's own contexts (redis_adapter(ex, redis_contexts, opts)), used for
    // the first connection of each link.
    redis_adapter_impl(net::any_io_executor ex, redis_contexts given, redis_options opts)
        : redis_adapter_impl(std::move(ex), std::move(opts)) {
        pub_.given = given.publisher;
        sub_.given = given.subscriber;
        given_contexts_ = true;
    }

    ~redis_adapter_impl() {
        // Contexts given and never used (closed first): never attached, freed here.
        free_given(pub_);
        free_given(sub_);
    }

    void start() {
        net::post(strand_, [self = shared_from_this()] { self->on_start(); });
    }

    std::string_view node_id() const noexcept { return node_id_; }
    bool reorders_origins() const noexcept { return sharded_flag_.load(std::memory_order_relaxed); }
    unsigned id_tag() const noexcept { return id_tag_.load(std::memory_order_relaxed); }
    redis_options const& options() const noexcept { return opts_; }

    // ---- any thread ----------------------------------------------------------------------

    void attach(std::weak_ptr<adapter_host> host) {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (closed_) return;
            snapshot_pending_ = true;
            removed_during_snapshot_.clear();
        }
        net::post(strand_, [self = shared_from_this(), host = std::move(host)]() mutable {
            self->on_attach(std::move(host));
        });
    }

    // Publishing (impl/redis_publish.hpp).
    void broadcast(broadcast_packet const& packet);
    void broadcast_sequenced(broadcast_packet const& packet);

    bool sequences(history_options const& h) const noexcept {
        return opts_.shared_history && h.max_events > 0;
    }

    void fetch_history(std::string_view nsp, std::vector<std::string> rooms, std::uint64_t after,
                       history_options const& h, std::function<void(history_result)> done) {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (!closed_) learn(nsp, h.max_age);
        }
        if (closed_flag_.load(std::memory_order_acquire)) {
            done(history_result{"history_unavailable", {}});
            return;
        }
        net::post(strand_,
                  [self = shared_from_this(), nsp = std::string(nsp), rooms = std::move(rooms),
                   after, age = h.max_age, done = std::move(done)]() mutable {
                      auto read = [self, nsp = std::move(nsp), rooms = std::move(rooms), after, age,
                                   done = std::move(done)]() mutable {
                          self->start_fetch(nsp, rooms, after, age,
                                            [done = std::move(done)](redis_fetch_reply r) {
                                                history_result out;
                                                if (!r.status.empty())
                                                    out.reset_reason = std::move(r.status);
                                                else if (!r.gapped.empty())
                                                    out.reset_reason = "history_gap";
                                                else
                                                    out.events = std::move(r.events);
                                                done(std::move(out));
                                            });
                      };
                      self->when_subscribed(std::move(read));
                  });
    }

    void interest(std::string_view nsp, std::string_view room, bool add) {
        auto channel = redis_channel(opts_.channel_prefix, nsp, room);
        std::lock_guard<std::mutex> lock(mutex_);
        if (closed_) return;
        bool changed = add ? subs_.add(channel) : subs_.remove(channel);
        if (!add && snapshot_pending_) removed_during_snapshot_.insert(channel);
        if (changed) schedule_subscription_flush();
    }

    // Before attach (server_core::set_adapter): posted first, so it is in place before any
    // subscription exists, hence before any message from `previous` can arrive.
    void succeed(std::string_view previous) {
        net::post(strand_, [self = shared_from_this(), p = std::string(previous)]() mutable {
            if (self->predecessors_.size() == max_predecessors)
                self->predecessors_.erase(self->predecessors_.begin());
            self->predecessors_.push_back(std::move(p));
        });
    }

    void close() {
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

    redis_state state() const {
        redis_state s;
        s.publisher_connected = pub_up_.load(std::memory_order_acquire);
        s.subscriber_connected = sub_up_.load(std::memory_order_acquire);
        s.connected = s.publisher_connected && s.subscriber_connected;
        s.reconnects = reconnects_.load(std::memory_order_relaxed);
        s.connect_failures = connect_failures_.load(std::memory_order_relaxed);
        s.published = published_.load(std::memory_order_relaxed);
        s.received = received_.load(std::memory_order_relaxed);
        s.delivered = delivered_.load(std::memory_order_relaxed);
        s.echoes = echoes_.load(std::memory_order_relaxed);
        s.duplicates = duplicates_.load(std::memory_order_relaxed);
        s.dropped = intake_dropped_.load(std::memory_order_relaxed) +
                    queue_dropped_.load(std::memory_order_relaxed) +
                    dropped_at_close_.load(std::memory_order_relaxed);
        s.malformed = malformed_.load(std::memory_order_relaxed);
        s.refused = refused_.load(std::memory_order_relaxed);
        s.lost_notices = lost_notices_.load(std::memory_order_relaxed);
        s.channel_gaps = channel_gaps_total_.load(std::memory_order_relaxed);
        s.unsupported_versions = unsupported_versions_.load(std::memory_order_relaxed);
        s.oversized = oversized_.load(std::memory_order_relaxed);
        s.sequenced = sequenced_.load(std::memory_order_relaxed);
        s.history_reads = history_reads_.load(std::memory_order_relaxed);
        s.recoveries = recoveries_.load(std::memory_order_relaxed);
        s.recovered_events = recovered_events_.load(std::memory_order_relaxed);
        s.history_resets = history_resets_.load(std::memory_order_relaxed);
        s.subscribed_channels = subscribed_.load(std::memory_order_relaxed);
        s.pending_subscriptions = pending_subscriptions_.load(std::memory_order_relaxed);
        s.pending = queue_pending_.load(std::memory_order_relaxed);
        s.subscriber_lag =
            std::chrono::microseconds(subscriber_lag_us_.load(std::memory_order_relaxed));
        std::lock_guard<std::mutex> lock(mutex_);
        s.closed = closed_;
        s.cluster = cluster_mode_.load(std::memory_order_relaxed);
        s.shards = shard_count_.load(std::memory_order_relaxed);
        s.shard_connections = shard_connections_.load(std::memory_order_relaxed);
        s.pending += shard_pending_.load(std::memory_order_relaxed);
        s.dropped += shard_dropped_.load(std::memory_order_relaxed);
        s.pending += intake_.size();
        s.wanted_channels = subs_.wanted_count();
        s.last_error = last_error_;
        return s;
    }

    // ---- redis_connection_handler (strand) ------------------------------------------------

    void on_connection_ready(redis_connection& c) override {
        link* lp = which(c);
        if (lp == nullptr) {
            if (auto* s = shard_of(c)) on_shard_ready(*s, c);
            return;
        }
        link& l = *lp;
        l.fsm.on_connected();
        reconnects_.store(pub_.fsm.reconnects() + sub_.fsm.reconnects(), std::memory_order_relaxed);
        log(redis_log_level::info, std::string(l.role) + " connected to Redis at " + c.target());
        if (&l == &pub_) {
            moving_ = false;
            // A single server, known from before: publish. Else ask which kind of server
            // this is first (impl/redis_cluster_mode.hpp).
            if (topology_ == redis_topology::single) return publisher_placed(c);
            c.command(tag_topology, {"CLUSTER", "SHARDS"});
        } else {
            sub_up_.store(true, std::memory_order_release);
            if (!sharded()) subscribed_.store(0, std::memory_order_relaxed);
            subscription_answered(true);
            channel_numbers_seen_.clear(); // a new connection: the broker-gap recovery's turn
            subscribe_node_channels(c);
            {
                std::lock_guard<std::mutex> lock(mutex_);
                subs_.reset(); // the tracker is the replay list
                if (!sequenced_nsps_.empty()) {
                    // Hold sequenced messages until what was missed meanwhile is read back.
                    want_recovery_ = true;
                    holding_ = true;
                }
            }
            flush_subscriptions();
            maybe_start_recovery();
        }
        notify_state();
    }

    void on_connection_down(redis_connection& c, std::string const& reason) override {
        link* lp = which(c);
        if (lp == nullptr) {
            if (auto* s = shard_of(c)) on_shard_down(*s, c, reason);
            return;
        }
        link& l = *lp;
        auto keep = std::move(l.conn); // destroyed when this returns, outside hiredis
        bool const was_up = l.fsm.current() == redis_reconnect::state::connected;
        bool const moving = &l == &pub_ && std::exchange(moving_, false);
        if (!moving) record_error(reason);
        // On a cluster, a node that cannot be reached: try the next one it knew of.
        if (!was_up && topology_ == redis_topology::cluster) turn_to_next_node(l);
        if (&l == &pub_) {
            pub_up_.store(false, std::memory_order_release);
            pub_placed_ = false;
            topology_asked_ = false;
            queue_.set_connected(false); // unacknowledged emits go back to the front
            queue_dropped_.store(queue_.dropped(), std::memory_order_relaxed);
            queue_pending_.store(queue_.pending(), std::memory_order_relaxed);
            fail_fetches();
            node_messages_in_flight_ = 0; // lost with the connection (at most once)
        } else {
            sub_up_.store(false, std::memory_order_release);
            if (!sharded()) subscribed_.store(0, std::memory_order_relaxed);
            if (was_up) mark_gap_start();
            subscription_answered(true); // the recovery covers what it misses from now on
        }
        if (!was_up) connect_failures_.fetch_add(1, std::memory_order_relaxed);
        // Repeated identical failures while retrying are logged once.
        bool const repeat = !was_up && reason == l.last_failure;
        l.last_failure = was_up ? std::string() : reason;
        log(repeat || moving ? redis_log_level::debug : redis_log_level::warning,
            std::string(l.role) + ": " + reason);
        auto a = was_up ? l.fsm.on_lost(unit()) : l.fsm.on_connect_failed(unit());
        act(l, a);
        notify_state();
    }

    void on_connection_reply(redis_connection& c, redisReply const& reply, int tag) override {
        if (tag == tag_topology) return on_topology_reply(c, reply);
        if (tag == tag_topology_refresh) return on_topology_refresh(reply);
        if (tag == tag_shard_publish || (tag == tag_subscription && which(c) == nullptr)) {
            if (auto* s = shard_of(c)) on_shard_reply(*s, c, reply, tag);
            return;
        }
        // A cluster moved the history's slot (a failover, a resharding) or is not ready:
        // what was not answered goes again on a new connection, to the right master.
        if ((tag == tag_publish || tag >= tag_fetch_first) && follow_cluster_error(c, reply)) {
            if (tag >= tag_fetch_first) on_fetch_reply(reply, tag);
            return;
        }
        if (tag == tag_publish) {
            if (noscript(reply)) {
                // Not run: this emit and the ones after it go again on a new connection.
                c.abort("Redis lost the sequencing script (SCRIPT FLUSH?)");
                return;
            }
            if (reply.type == REDIS_REPLY_INTEGER && reply.integer > 0)
                sequenced_.fetch_add(1, std::memory_order_relaxed);
            // Stored: now its copies go to the shards of its channels (a script re-sent
            // after a reconnect stores nothing twice, but its copies may not have gone out).
            if (reply.type != REDIS_REPLY_ERROR && sharded())
                if (auto const* m = queue_.oldest_in_flight()) publish_script_copies(*m);
            if (reply.type == REDIS_REPLY_ERROR) {
                // E.g. an ACL without PUBLISH rights: the emit is lost; say so once per reason.
                std::string e = "Redis refused an emit: " + std::string(reply.str, reply.len);
                if (e != last_publish_error_) {
                    log(redis_log_level::error, e);
                    record_error(e);
                    last_publish_error_ = std::move(e);
                    notify_state();
                }
                if (!emit_refused_) {
                    emit_refused_ = true;
                    if (auto const* m = queue_.oldest_in_flight()) tell_lost(c, *m);
                }
            }
            if (queue_.acknowledge()) {
                (emit_refused_ ? refused_ : published_).fetch_add(1, std::memory_order_relaxed);
                emit_refused_ = false;
                // What was kept is out: now the notices for what was not.
                if (queue_.pending() == 0 && queue_.in_flight() == 0) tell_lost_namespaces(c);
            }
            if (queue_.pending() > 0) drain_publishes();
            if (draining_ && unpublished() == 0) teardown(); // the last one is out
            return;
        }
        if (tag == tag_claim_id_tag) {
            if (reply.type == REDIS_REPLY_INTEGER && reply.integer > 0) {
                id_tag_.store(static_cast<unsigned>(reply.integer % 16), std::memory_order_relaxed);
                id_tag_claimed_ = true;
            }
            return;
        }
        if (tag == tag_node_message) {
            if (node_messages_in_flight_ > 0) --node_messages_in_flight_;
            if (draining_ && unpublished() == 0) teardown();
            return;
        }
        if (tag == tag_subscription) on_subscription_push(c, reply);
        if (tag >= tag_fetch_first) {
            on_fetch_reply(reply, tag);
            if (noscript(reply)) c.abort("Redis lost the history script (SCRIPT FLUSH?)");
        }
    }

    // ---- strand ---------------------------------------------------------------------------

private:
    static constexpr int tag_publish = 0;
    static constexpr int tag_subscription = 1;
    static constexpr int tag_claim_id_tag = 2;
    static constexpr int tag_node_message = 3;
    static constexpr int tag_topology = 4;         // CLUSTER SHARDS / SLOTS (publisher placing)
    static constexpr int tag_topology_refresh = 5; // the same, to follow a change of the map
    static constexpr int tag_shard_publish = 6;    // SPUBLISH on a shard's publisher
    static constexpr int tag_fetch_first = 7;      // history reads: one tag each
    static constexpr std::size_t channels_per_command = 256;

    struct link {
        link(char const* r, char const* n, redis_options const& o, redis_strand const& s)
            : role(r)
            , name(n)
            , fsm(o.reconnect_min, o.reconnect_max)
            , timer(s) {}
        char const* role;
        char const* name; // the connection's CLIENT SETNAME suffix
        redis_reconnect fsm;
        net::steady_timer timer;
        std::shared_ptr<redis_connection> conn;
        redis_endpoint target; // the URL's server; on a cluster, the node this link uses
        std::string last_failure;
        redisAsyncContext* given = nullptr; ///< the app's, not used yet (ours to free)
    };

    // One shard of a Redis Cluster, for sharded pub/sub (impl/redis_shards.hpp): its
    // master, a publisher for SPUBLISH and a subscriber for SSUBSCRIBE, each connected on
    // first use. A channel lives on the shard that owns its slot, so one channel's messages
    // travel one connection each way, in order.
    struct shard {
        shard(cluster_node m, redis_endpoint const& url, redis_options const& o,
              redis_strand const& s)
            : master(std::move(m))
            , pub("shard publisher", "spub", o, s)
            , sub("shard subscriber", "ssub", o, s) {
            pub.target = sub.target = url;
            pub.target.host = sub.target.host = master.host;
            pub.target.port = sub.target.port = master.port;
        }
        cluster_node master;
        link pub;
        link sub;
        redis_subscriptions subs; // this shard's channels
        // Copies to SPUBLISH, oldest first: (channel, payload). The first `written` are on
        // the connection, unanswered; a new connection writes them again (receivers drop
        // the copies they had).
        std::deque<std::pair<std::string, std::string>> out;
        std::size_t written = 0;
        std::uint64_t asked = 0; // SSUBSCRIBE/SUNSUBSCRIBE written on the subscriber
        std::uint64_t answered = 0;
        // What the subscriber's answers will be, in order (impl/redis_shards.hpp).
        enum class answer { subscribed, unsubscribed, pong };
        std::deque<std::pair<answer, std::string>> expected;
        std::size_t subscribed = 0; // confirmed on the current subscriber connection
        bool gap = false;           // the subscriber was lost while it carried channels
    };

    static void free_given(link& l) noexcept {
        if (auto* ac = std::exchange(l.given, nullptr)) redisAsyncFree(ac);
    }

    link* which(redis_connection& c) noexcept {
        if (pub_.conn.get() == &c) return &pub_;
        if (sub_.conn.get() == &c) return &sub_;
        return nullptr; // a connection we already let go of
    }

    double unit() { return std::uniform_real_distribution<double>(0.0, 1.0)(rng_); }

    // Under mutex_: `nsp` is sequenced (its max_age, for broker-gap recovery).
    void learn(std::string_view nsp, std::chrono::milliseconds max_age) {
        auto it = sequenced_nsps_.find(nsp);
        if (it == sequenced_nsps_.end())
            sequenced_nsps_.emplace(std::string(nsp), max_age);
        else
            it->second = max_age;
    }

    using fetch_callback = std::function<void(redis_fetch_reply)>;

    // The scripts go by their SHA-1 (EVALSHA): each publisher connection loads them first
    // (SCRIPT LOAD, ahead of every EVALSHA on that connection). A NOSCRIPT answer (someone
    // ran SCRIPT FLUSH) drops the connection: the reconnect loads them again and re-sends
    // the unanswered emits, which the script runs once (origin sequence).
    static std::string const& append_sha() {
        static std::string const sha = redis_script_sha1(redis_append_script);
        return sha;
    }
    static std::string const& fetch_sha() {
        static std::string const sha = redis_script_sha1(redis_fetch_script);
        return sha;
    }
    static bool noscript(redisReply const& r) noexcept {
        return r.type == REDIS_REPLY_ERROR && r.len >= 8 &&
               std::string_view(r.str, 8) == "NOSCRIPT";
    }

    // Strand. Runs the fetch script on the publisher; `cb` is called exactly once, on the
    // strand (maybe before this returns).
    //
    // A read must see this node's own emits made before it: their appends go on the same
    // connection, which Redis runs in order, so the read is written after every append
    // queued before it (`appended_before`: how many had been queued). One still waiting for
    // the pipelining window holds the read back; so does a publisher still connecting.
    void start_fetch(std::string const& nsp, std::vector<std::string> const& rooms,
                     std::uint64_t after, std::chrono::milliseconds age, fetch_callback cb,
                     std::optional<std::uint64_t> appended_before = std::nullopt,
                     bool subscribed = false) {
        auto fail = [&cb] {
            redis_fetch_reply r;
            r.status = "history_unavailable";
            cb(std::move(r));
        };
        if (closed_flag_.load(std::memory_order_acquire)) return fail();
        auto const need = appended_before.value_or(enqueued_);
        bool const connecting = !publisher_ready();
        if (connecting || enqueued_ - queue_.pending() < need) {
            // Without a connection under way (between retries) it fails now.
            if ((connecting && !pub_.conn) || waiting_fetches_.size() >= max_pending_fetches)
                return fail();
            waiting_fetches_.push_back(
                [this, nsp, rooms, after, age, cb = std::move(cb), need, subscribed]() mutable {
                    start_fetch(nsp, rooms, after, age, std::move(cb), need, subscribed);
                });
            return;
        }
        // Also when it is written: rooms wait for the publisher to learn the topology, so
        // their subscriptions may have been sent after the read was asked for.
        if (!subscribed && !subscriptions_settled()) {
            return when_subscribed(
                [this, nsp, rooms, after, age, cb = std::move(cb), need]() mutable {
                    start_fetch(nsp, rooms, after, age, std::move(cb), need, true);
                });
        }
        std::vector<std::string> args;
        args.reserve(6 + rooms.size());
        args.emplace_back("EVALSHA");
        args.push_back(fetch_sha());
        args.emplace_back("0");
        args.push_back(redis_channel(opts_.channel_prefix, nsp, {}));
        if (topology_ == redis_topology::cluster) place_script_keys(args);
        args.push_back(std::to_string(after));
        args.push_back(std::to_string(std::max<std::int64_t>(0, age.count())));
        for (auto const& r : rooms)
            if (!r.empty() && std::find(args.begin() + 6, args.end(), r) == args.end())
                args.push_back(r);
        std::vector<char const*> argv;
        std::vector<std::size_t> lens;
        for (auto const& x : args) {
            argv.push_back(x.data());
            lens.push_back(x.size());
        }
        int const tag = next_fetch_tag_;
        next_fetch_tag_ = next_fetch_tag_ >= (1 << 30) ? tag_fetch_first : next_fetch_tag_ + 1;
        if (!pub_.conn->command(tag, static_cast<int>(argv.size()), argv.data(), lens.data()))
            return fail();
        fetches_.emplace(tag, std::move(cb));
    }

    void on_fetch_reply(redisReply const& reply, int tag) {
        auto it = fetches_.find(tag);
        if (it == fetches_.end()) return;
        auto cb = std::move(it->second);
        fetches_.erase(it);
        redis_fetch_reply r;
        if (!decode_redis_fetch_reply(reply, r) && reply.type == REDIS_REPLY_ERROR) {
            std::string e = "Redis refused a history read: " + std::string(reply.str, reply.len);
            log(redis_log_level::error, e);
            record_error(e);
        }
        if (r.malformed > 0) malformed_.fetch_add(r.malformed, std::memory_order_relaxed);
        history_reads_.fetch_add(1, std::memory_order_relaxed);
        cb(std::move(r));
    }

    // The publisher is placed or wrote more appends (the reads that may go, go), or it is
    // gone (they fail).
    void run_waiting_fetches() {
        auto due = std::move(waiting_fetches_);
        waiting_fetches_.clear();
        for (auto& f : due)
            f();
    }

    // The publisher is gone (or we close): every read waiting for it is answered.
    void fail_fetches() {
        run_waiting_fetches(); // the publisher is gone: they fail
        auto waiting = std::move(fetches_);
        fetches_.clear();
        for (auto& [tag, cb] : waiting) {
            redis_fetch_reply r;
            r.status = "history_unavailable";
            cb(std::move(r));
        }
    }

    // ---- recovery of what pub/sub did not bring (strand; impl/redis_recovery.hpp) ----

    // A message that arrived while a history read runs: delivered after it.
    struct held_message {
        std::string origin;
        std::string nsp;
        std::vector<std::string> rooms;
        std::vector<std::string> except;
        std::shared_ptr<encoded_event> event;
        std::uint64_t id;
    };

    // A lost message of one origin on one channel (seen by its number), to read back.
    struct channel_gap {
        std::uint64_t id; // this gap's number (a read answers the gap it was for)
        std::string nsp;
        std::string channel; // where it went missing
        std::string room;    // the channel's room; "" for the namespace channel
        std::string origin;  // whose messages
        std::uint64_t after; // the last event id that did arrive there from that origin
        std::uint64_t upto;  // the event id of the message that showed the gap
    };

    void maybe_start_recovery();
    void mark_gap_start();
    void give_up_recovery();
    void finish_recovery();
    void check_channel_number(std::string_view channel, std::string_view room, bool sequenced);
    void start_channel_recovery();
    void finish_channel_recovery(std::uint64_t id, redis_fetch_reply r);
    bool lost_on(channel_gap const& g, history_event const& e) const;
    void release_held();
    void reset_gapped(adapter_host& host, std::string const& nsp,
                      std::vector<std::string> const& gapped);

    std::vector<std::string> channels_for(broadcast_packet const& p) const {
        return channels_for(p.nsp, p.rooms);
    }

    std::vector<std::string> channels_for(std::string_view nsp,
                                          std::vector<std::string> const& rooms) const {
        std::vector<std::string> out;
        std::size_t const limit = opts_.max_room_channels;
        if (rooms.empty()) {
            out.push_back(redis_channel(opts_.channel_prefix, nsp, {}));
            return out;
        }
        out.reserve(std::min(rooms.size(), limit == 0 ? rooms.size() : limit));
        // The same room twice (to("a").to("a")) is one channel. Few rooms: a linear scan;
        // many (e.g. a list of client ids): a set, so the cost stays linear.
        std::unordered_set<std::string_view> seen;
        bool const use_set = rooms.size() > 16;
        for (std::size_t i = 0; i < rooms.size(); ++i) {
            bool const repeat =
                use_set ? !seen.insert(rooms[i]).second
                        : std::find(rooms.begin(), rooms.begin() + static_cast<std::ptrdiff_t>(i),
                                    rooms[i]) != rooms.begin() + static_cast<std::ptrdiff_t>(i);
            if (repeat) continue;
            if (limit != 0 && out.size() == limit) {
                out.clear();
                out.push_back(redis_channel(opts_.channel_prefix, nsp, {}));
                return out;
            }
            out.push_back(redis_channel(opts_.channel_prefix, nsp, rooms[i]));
        }
        return out;
    }

    void on_start() {
        if (closed_flag_.load(std::memory_order_acquire)) return;
        std::string error;
        bool const app_connections = opts_.connect || given_contexts_;
        if (!parse_redis_url(opts_.url, endpoint_, error, app_connections)) {
            record_error(error);
            log(redis_log_level::error, error);
            notify_state();
            return; // nothing to connect to; local delivery goes on
        }
        pub_.target = sub_.target = endpoint_;
        act(pub_, pub_.fsm.start());
        act(sub_, sub_.fsm.start());
    }

    void act(link& l, redis_reconnect::action a) {
        switch (a.type) {
        case redis_reconnect::action::none:
            break;
        case redis_reconnect::action::connect: {
            bool const pub = &l == &pub_;
            if (l.given == nullptr && !opts_.connect && given_contexts_) {
                // The app's connection is gone and we cannot make one like it: stay down.
                std::string e = std::string(l.role) +
                                ": the connection given by the application was lost and "
                                "redis_options::connect is not set; not reconnecting";
                record_error(e);
                log(redis_log_level::error, e);
                notify_state();
                break;
            }
            std::string name = "sse:" + node_id_ + ":" + l.name;
            l.conn = std::make_shared<redis_connection>(
                strand_, std::weak_ptr<redis_connection_handler>(shared_from_this()),
                std::move(name));
            if (auto* ac = std::exchange(l.given, nullptr)) {
                l.conn->start(ac, endpoint_, opts_.connect_timeout);
            } else if (opts_.connect) {
                redisAsyncContext* ac = nullptr;
                std::string error;
                try {
                    ac = opts_.connect(pub ? redis_role::publisher : redis_role::subscriber);
                } catch (std::exception const& e) {
                    error = e.what();
                } catch (...) {
                    error = "unknown exception";
                }
                if (error.empty())
                    l.conn->start(ac, endpoint_, opts_.connect_timeout);
                else
                    l.conn->abort("redis_options::connect threw: " + error);
            } else {
                l.conn->start(l.target, opts_.connect_timeout);
            }
            break;
        }
        case redis_reconnect::action::wait:
            l.timer.expires_after(a.delay);
            l.timer.async_wait([self = shared_from_this(), &l](boost::system::error_code ec) {
                // A closed adapter's publisher still reconnects while it drains.
                if (ec || self->torn_down_) return;
                self->act(l, l.fsm.on_timer());
            });
            break;
        case redis_reconnect::action::stop:
            l.timer.cancel();
            if (auto c = std::move(l.conn)) c->close();
            break;
        }
    }

    void on_attach(std::weak_ptr<adapter_host> host) {
        host_ = std::move(host);
        auto h = host_.lock();
        std::vector<std::pair<std::string, std::string>> live;
        if (h) live = h->local_interests(); // outside our lock: it takes the server's
        std::lock_guard<std::mutex> lock(mutex_);
        if (closed_) return;
        bool changed = false;
        for (auto const& [nsp, room] : live) {
            auto channel = redis_channel(opts_.channel_prefix, nsp, room);
            // A room that emptied while the snapshot was taken must not come back.
            if (removed_during_snapshot_.count(channel) != 0) continue;
            changed |= subs_.add(channel);
        }
        snapshot_pending_ = false;
        removed_during_snapshot_.clear();
        if (changed) schedule_subscription_flush();
        maybe_start_recovery_later();
    }

    // From under mutex_ or outside: a recovery waiting for the host may start now.
    void maybe_start_recovery_later() {
        net::post(strand_, [self = shared_from_this()] { self->maybe_start_recovery(); });
    }

    // Under mutex_.
    void schedule_subscription_flush() {
        if (subscribe_posted_) return;
        subscribe_posted_ = true;
        net::post(strand_, [self = shared_from_this()] { self->flush_subscriptions(); });
    }

    // Until the publisher learnt what the URL points at, rooms wait: on a cluster their
    // channels go to the shards' subscribers (impl/redis_shards.hpp), elsewhere to ours.
    void flush_subscriptions() {
        redis_subscriptions::changes ch;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            subscribe_posted_ = false;
            if (closed_ || topology_ == redis_topology::unknown) return;
            if (!sharded() && (!sub_.conn || !sub_.conn->ready())) return; // replayed on ready
            ch = subs_.take_changes();
        }
        if (sharded()) return route_subscriptions(ch);
        if (!send_channels("SUBSCRIBE", ch.subscribe) ||
            !send_channels("UNSUBSCRIBE", ch.unsubscribe)) {
            // hiredis refused a command: our view of the subscriptions is no longer the
            // server's. Start over on a new connection (the tracker replays everything).
            if (sub_.conn) sub_.conn->abort("could not write SUBSCRIBE/UNSUBSCRIBE");
        }
    }

    // ---- node messages (sse/cluster.hpp): two channels of their own, outside the tracker ----

    // `<prefix>#:nodes#` for every node, `<prefix>#:nodes#<id>` for this one. No namespace
    // channel looks like these: namespace names start with '/'.
    std::string node_channel(std::string_view to) const {
        std::string out = opts_.channel_prefix + "#:nodes#";
        out.append(to.data(), to.size());
        return out;
    }
    bool is_node_channel(std::string_view channel) const noexcept {
        auto const& p = opts_.channel_prefix;
        return channel.size() >= p.size() + 8 && channel.compare(0, p.size(), p) == 0 &&
               channel.compare(p.size(), 8, "#:nodes#") == 0;
    }

    // Sent first on each subscriber connection, so that their confirmations (counted apart:
    // state().subscribed_channels shows the rooms' channels) come before the rooms'.
    void subscribe_node_channels(redis_connection& c) {
        node_subscriptions_ = 0;
        auto const all = node_channel({});
        auto const mine = node_channel(node_id_);
        c.command(tag_subscription, {"SUBSCRIBE", all, mine});
    }

public:
    void send_to_nodes(std::string to, std::string payload) {
        net::post(strand_, [self = shared_from_this(), to = std::move(to),
                            payload = std::move(payload)] {
            // Not refused once closed: a closing server's goodbye is posted just before.
            auto const& c = self->pub_.conn;
            if (!c || !c->ready() ||
                !c->command(tag_node_message, {"PUBLISH", self->node_channel(to), payload}))
                return (void)self->node_messages_dropped_.fetch_add(1, std::memory_order_relaxed);
            ++self->node_messages_in_flight_; // a closing node's goodbye is waited for
        });
    }

private:
    bool send_channels(std::string_view verb, std::vector<std::string> const& channels) {
        std::vector<char const*> argv;
        std::vector<std::size_t> lens;
        for (std::size_t i = 0; i < channels.size(); i += channels_per_command) {
            std::size_t n = std::min(channels_per_command, channels.size() - i);
            argv.assign(1, verb.data());
            lens.assign(1, verb.size());
            for (std::size_t j = i; j < i + n; ++j) {
                argv.push_back(channels[j].data());
                lens.push_back(channels[j].size());
            }
            if (!sub_.conn->command(tag_subscription, static_cast<int>(argv.size()), argv.data(),
                                    lens.data()))
                return false;
            subscriptions_asked_ += n;
            update_pending_subscriptions();
        }
        return true;
    }

    // A history read runs once Redis answered every SUBSCRIBE sent before it was asked for
    // (the room a client just joined, or reconnects into, is among them: its subscription
    // was flushed to this strand before the read was posted). Otherwise an event published
    // between the read and the subscription would be in neither. Redis answers in order.
    // With sharded pub/sub, each shard's subscriber answers in its own order: the read
    // waits for every shard's answers up to what it had been asked then.
    struct subscribe_mark {
        std::uint64_t ours = 0; // on sub_
        std::vector<std::pair<std::shared_ptr<shard>, std::uint64_t>> shards;
        std::function<void()> read;
    };

    void when_subscribed(std::function<void()> read) {
        subscribe_mark m;
        if (subscriptions_answered_ < subscriptions_asked_) m.ours = subscriptions_asked_;
        for (auto const& s : shards_)
            if (s->answered < s->asked) m.shards.emplace_back(s, s->asked);
        if (m.ours == 0 && m.shards.empty()) return read();
        m.read = std::move(read);
        after_subscribe_.push_back(std::move(m));
    }

    bool subscriptions_settled() const noexcept {
        if (subscriptions_answered_ < subscriptions_asked_) return false;
        for (auto const& s : shards_)
            if (s->answered < s->asked) return false;
        return true;
    }

    // Redis answered one more (un)subscription; or, with `all`, the subscriber connection
    // came or went (nothing is pending on it any more).
    void subscription_answered(bool all) {
        subscriptions_answered_ = all ? subscriptions_asked_ : subscriptions_answered_ + 1;
        run_settled_reads();
    }

    void run_settled_reads() {
        update_pending_subscriptions();
        std::vector<std::function<void()>> due;
        for (auto it = after_subscribe_.begin(); it != after_subscribe_.end();) {
            bool done = subscriptions_answered_ >= it->ours;
            for (auto const& [s, asked] : it->shards)
                done = done && s->answered >= asked;
            if (!done) {
                ++it;
                continue;
            }
            due.push_back(std::move(it->read));
            it = after_subscribe_.erase(it);
        }
        for (auto& read : due)
            read();
    }

    // ---- sharded pub/sub on a cluster (strand; impl/redis_shards.hpp) ----
    bool sharded() const noexcept {
        return topology_ == redis_topology::cluster && opts_.sharded_pubsub && !opts_.connect &&
               !given_contexts_ && have_slot_map_;
    }
    shard* shard_of(redis_connection& c) const noexcept;
    shard& shard_for(std::string_view channel);
    void apply_slot_map(cluster_slot_map map);
    void request_topology();
    void on_topology_refresh(redisReply const& reply);
    void on_shard_ready(shard& s, redis_connection& c);
    void on_shard_down(shard& s, redis_connection& c, std::string const& reason);
    void on_shard_reply(shard& s, redis_connection& c, redisReply const& reply, int tag);
    void on_shard_push(shard& s, redisReply const& r);
    void route_subscriptions(redis_subscriptions::changes const& ch);
    void reroute();
    void flush_shard(shard& s);
    void shard_refused(shard& s, std::string_view why);
    bool send_classic(redis_connection& c, std::string_view verb,
                      std::vector<std::string> const& channels);
    std::string shard_marker_channel() const;
    void shard_publish(std::string const& channel, std::string payload);
    void write_shard(shard& s);
    void publish_script_copies(redis_outgoing const& m);
    bool subscribers_ready() const noexcept;
    std::size_t shard_copies() const noexcept;
    void update_shard_gauges() noexcept;
    void update_pending_subscriptions() noexcept;
    void start_link(link& l) {
        if (l.fsm.current() == redis_reconnect::state::idle) act(l, l.fsm.start());
    }

    // ---- publishing (strand; impl/redis_publish.hpp) ----
    void on_intake();
    void number_channels(redis_outgoing& m);
    void drain_publishes();
    void note_published(std::uint64_t sequence) noexcept;
    // Lost emits: the other nodes are told.
    void note_lost(redis_outgoing const& m);
    void tell_lost_namespaces(redis_connection& c);
    void tell_lost(redis_connection& c, redis_outgoing const& m);
    void publish_lost(redis_connection& c, std::string_view nsp,
                      std::vector<std::string> const& rooms,
                      std::vector<std::string> const& channels);

    // ---- receiving (strand; impl/redis_receive.hpp) ----
    void on_subscription_push(redis_connection&, redisReply const& r);
    void on_message(std::string_view channel, std::string_view payload);
    // Cluster mode (impl/redis_cluster_mode.hpp).
    void on_topology_reply(redis_connection& c, redisReply const& reply);
    void publisher_placed(redis_connection& c);
    bool follow_cluster_error(redis_connection& c, redisReply const& reply);
    void turn_to_next_node(link& l);
    std::string history_tag() const { return "{" + opts_.channel_prefix + "#h}"; }
    std::array<std::string, 3> script_keys(std::string const& base) const;
    void place_script_keys(std::vector<std::string>& args) const;
    bool publisher_ready() const noexcept { return pub_placed_ && pub_.conn && pub_.conn->ready(); }
    void on_node_message(std::string_view channel, std::string_view payload);
    void on_sequenced_message();
    bool deliver_shared(adapter_host& host, std::string_view origin, std::string_view nsp,
                        std::vector<std::string> const& rooms,
                        std::vector<std::string> const& except,
                        std::shared_ptr<encoded_event> event, std::uint64_t id);
    void note_echo(std::uint64_t sequence) noexcept;
    void unsupported(std::string_view channel, std::string_view payload);
    void on_lost_notice();
    void malformed(std::string_view channel, char const* why);

    static std::int64_t steady_us() noexcept {
        return std::chrono::duration_cast<std::chrono::microseconds>(
                   std::chrono::steady_clock::now().time_since_epoch())
            .count();
    }

    // This adapter's emits, or those a previous adapter of this server still publishes.
    bool is_own(std::string_view origin) const {
        return origin == node_id_ ||
               std::find(predecessors_.begin(), predecessors_.end(), origin) != predecessors_.end();
    }

    // After close(): this node stops hearing from Redis at once (no delivery reaches the
    // host any more), but what it emitted before still goes out, for up to close_drain: a
    // swap hands its emits to Redis instead of dropping them.
    void begin_close() {
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
    void stop_hearing() {
        for (auto const& s : shards_) {
            act(s->sub, s->sub.fsm.close());
            s->answered = s->asked; // the reads waiting for it fail now (closed)
        }
        act(sub_, sub_.fsm.close());
        free_given(sub_);
        sub_up_.store(false, std::memory_order_release);
        fail_fetches();
        held_.clear();
        recovery_results_.clear();
        channel_gaps_.clear();
        host_.reset();
    }

    std::size_t unpublished() const noexcept {
        return queue_.pending() + queue_.in_flight() + node_messages_in_flight_ + shard_copies();
    }

    void teardown() {
        if (std::exchange(torn_down_, true)) return;
        drain_timer_.cancel();
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

    void record_error(std::string const& e) {
        std::lock_guard<std::mutex> lock(mutex_);
        last_error_ = e;
    }

    void notify_state() {
        if (opts_.on_state_change) opts_.on_state_change(state());
    }

    void log(redis_log_level level, std::string const& text) {
        if (opts_.log) {
            opts_.log(level, text);
            return;
        }
        if (level >= redis_log_level::warning) std::cerr << "[sse.redis] " << text << '\n';
    }

    redis_options opts_;
    bool given_contexts_ = false; // built with the app's contexts
    redis_strand strand_;
    std::string node_id_;
    redis_endpoint endpoint_;

    // Guarded by mutex_ (any thread).
    mutable std::mutex mutex_;
    bool closed_ = false;
    std::uint64_t sequence_ = 0;
    std::vector<redis_outgoing> intake_;
    bool publish_posted_ = false;
    bool subscribe_posted_ = false;
    redis_subscriptions subs_;
    bool snapshot_pending_ = false;
    std::unordered_set<std::string> removed_during_snapshot_;
    std::string last_error_;
    // Namespaces known to be sequenced, and their max_age (0: the one Redis has).
    std::map<std::string, std::chrono::milliseconds, std::less<>> sequenced_nsps_;

    // Held by the strand around each delivery to the host, and by close() (see there).
    std::mutex deliver_gate_;

    // Strand only.
    redis_publish_queue queue_;
    std::vector<redis_outgoing> batch_;
    link pub_;
    link sub_;
    std::weak_ptr<adapter_host> host_;
    redis_sequence_filter filter_;
    redis_sequence_filter shared_filter_; // by (origin, namespace), on shared-history ids
    std::string shared_key_;              // scratch of deliver_shared
    // Per namespace with shared history: the last id delivered when the subscriber went
    // away; its recovery reads the history after it (local emits go on meanwhile).
    std::map<std::string, std::uint64_t, std::less<>> gap_from_;
    std::atomic<unsigned> id_tag_{0};
    bool id_tag_claimed_ = false; // strand
    redis_message msg_;           // reused: its vectors keep their capacity
    std::minstd_rand rng_;
    std::string last_publish_error_;
    std::map<int, fetch_callback> fetches_;
    int next_fetch_tag_ = tag_fetch_first;
    std::set<std::string, std::less<>> sequenced_nsps_seen_;
    struct recovery_result {
        std::string nsp;
        std::vector<std::string> rooms;
        redis_fetch_reply reply;
    };
    bool want_recovery_ = false;
    bool recovery_running_ = false;
    bool holding_ = false;
    std::size_t recovery_left_ = 0;
    std::vector<recovery_result> recovery_results_;
    std::vector<held_message> held_;
    static constexpr std::size_t max_channel_gaps = 64; // reads waiting; past it: resets
    redis_channel_counters channel_counters_;           // this node's numbers, per channel
    redis_channel_gaps channel_numbers_seen_;           // other nodes' numbers, as received
    std::deque<channel_gap> channel_gaps_;              // holes to read back, in turn
    std::uint64_t channel_gap_ids_ = 0;
    bool channel_read_running_ = false;
    std::string numbered_copy_;             // one channel's copy of a message published on several
    std::uint64_t subscriptions_asked_ = 0; // channels in SUBSCRIBE/UNSUBSCRIBE commands sent
    std::uint64_t subscriptions_answered_ = 0;
    // History reads waiting for the answers up to their number (when_subscribed).
    std::vector<subscribe_mark> after_subscribe_;
    static constexpr std::size_t max_predecessors = 4;
    std::vector<std::string> predecessors_; // node ids of the adapters this one replaced
    bool draining_ = false;                 // closed, publishing what is left (begin_close)
    bool torn_down_ = false;                // nothing runs any more
    net::steady_timer drain_timer_;

    // Read by state() from any thread.
    std::atomic<bool> closed_flag_{false};
    std::atomic<bool> pub_up_{false};
    std::atomic<bool> sub_up_{false};
    std::atomic<std::uint64_t> reconnects_{0};
    std::atomic<std::uint64_t> connect_failures_{0};
    std::atomic<std::uint64_t> published_{0};
    std::atomic<std::uint64_t> received_{0};
    std::atomic<std::uint64_t> delivered_{0};
    std::atomic<std::uint64_t> echoes_{0};
    // Subscriber lag: when each of the last `lag_ring` own messages was queued for
    // PUBLISH (written under mutex_, read on the strand when the message comes back).
    static constexpr std::size_t lag_ring = 64;
    struct published_at {
        std::atomic<std::uint64_t> sequence{0};
        std::atomic<std::int64_t> at_us{0}; // steady clock
    };
    std::array<published_at, lag_ring> published_at_{};
    std::atomic<std::int64_t> subscriber_lag_us_{0};
    std::atomic<std::uint64_t> duplicates_{0};
    std::atomic<std::uint64_t> intake_dropped_{0};
    std::atomic<std::uint64_t> queue_dropped_{0};
    std::atomic<std::uint64_t> dropped_at_close_{0};
    std::atomic<std::uint64_t> malformed_{0};
    std::atomic<std::uint64_t> refused_{0};
    std::atomic<std::uint64_t> lost_notices_{0};
    std::atomic<std::uint64_t> channel_gaps_total_{0};
    bool emit_refused_ = false;                          // strand: the oldest in flight
    std::set<std::string, std::less<>> lost_namespaces_; // under mutex_: told on reconnect
    std::atomic<std::uint64_t> unsupported_versions_{0};
    std::set<unsigned char> versions_reported_; // strand
    std::atomic<std::uint64_t> oversized_{0};
    std::atomic<std::uint64_t> sequenced_{0};
    std::atomic<std::uint64_t> history_reads_{0};
    std::atomic<std::uint64_t> recoveries_{0};
    std::atomic<std::uint64_t> recovered_events_{0};
    std::atomic<std::uint64_t> history_resets_{0};
    std::atomic<std::size_t> queue_pending_{0};
    std::atomic<std::size_t> subscribed_{0};
    std::size_t node_subscriptions_ = 0; // node channels confirmed on this connection (strand)
    std::atomic<std::uint64_t> node_messages_dropped_{0};
    std::size_t node_messages_in_flight_ = 0; // strand
    // History reads asked while the publisher connects (strand; run by publisher_placed).
    static constexpr std::size_t max_pending_fetches = 4096;
    std::vector<std::function<void()>> waiting_fetches_;
    std::uint64_t enqueued_ = 0; // emits ever taken by queue_ (strand)
    // Cluster mode (impl/redis_cluster_mode.hpp), strand.
    redis_topology topology_ = redis_topology::unknown;
    bool pub_placed_ = false; // on the node that runs the scripts (any node for PUBLISH)
    bool moving_ = false;     // the publisher is being moved to another node on purpose
    std::vector<cluster_node> cluster_nodes_; // of the last map: where to turn on failures
    std::size_t next_node_ = 0;
    std::atomic<bool> cluster_mode_{false};
    std::atomic<std::size_t> pending_subscriptions_{0};
    // Sharded pub/sub (impl/redis_shards.hpp), strand.
    cluster_slot_map slot_map_;
    bool have_slot_map_ = false;
    bool topology_asked_ = false; // a CLUSTER SHARDS of request_topology() is unanswered
    std::vector<std::shared_ptr<shard>> shards_;
    std::atomic<std::size_t> shard_count_{0};
    std::atomic<std::size_t> shard_connections_{0};
    std::atomic<std::size_t> shard_pending_{0};
    std::atomic<std::uint64_t> shard_dropped_{0};
    std::atomic<bool> sharded_flag_{false}; // sharded(), for other threads
};

} // namespace detail
} // namespace sse

#include <sse/impl/redis_cluster_mode.hpp>
#include <sse/impl/redis_publish.hpp>
#include <sse/impl/redis_receive.hpp>
#include <sse/impl/redis_recovery.hpp>
#include <sse/impl/redis_shards.hpp>

namespace sse {

inline redis_adapter::redis_adapter(executor_type ex, redis_options opts)
    : impl_(std::make_shared<detail::redis_adapter_impl>(std::move(ex), std::move(opts))) {
    impl_->start();
}

inline redis_adapter::redis_adapter(executor_type ex, redis_contexts contexts, redis_options opts) {
    if (contexts.publisher == nullptr || contexts.subscriber == nullptr)
        throw std::invalid_argument("[sse.redis_contexts] both hiredis contexts are needed "
                                    "(publisher and subscriber); use redis_options::connect "
                                    "to make them on demand");
    if (contexts.publisher == contexts.subscriber)
        throw std::invalid_argument("[sse.redis_contexts] the publisher and the subscriber "
                                    "must be two different hiredis contexts");
    impl_ = std::make_shared<detail::redis_adapter_impl>(std::move(ex), contexts, std::move(opts));
    impl_->start();
}

inline redis_adapter::~redis_adapter() {
    impl_->close();
}

inline void redis_adapter::attach(std::weak_ptr<adapter_host> host) {
    impl_->attach(std::move(host));
}

inline void redis_adapter::broadcast(broadcast_packet const& packet, local_delivery& local) {
    local.deliver(packet); // this node's clients first, without waiting for Redis
    if (packet.sequenced)
        impl_->broadcast_sequenced(packet); // stored in the shared history, then published
    else
        impl_->broadcast(packet);
}

inline bool redis_adapter::sequences(history_options const& h) const noexcept {
    return impl_->sequences(h);
}

inline std::chrono::microseconds redis_adapter::merge_window() const noexcept {
    return impl_->options().merge_window;
}

inline bool redis_adapter::reorders_origins() const noexcept {
    return impl_->reorders_origins();
}

inline unsigned redis_adapter::id_tag() const noexcept {
    return impl_->id_tag();
}

inline void redis_adapter::fetch_history(std::string_view nsp, std::vector<std::string> rooms,
                                         std::uint64_t after, history_options const& h,
                                         std::function<void(history_result)> done) {
    impl_->fetch_history(nsp, std::move(rooms), after, h, std::move(done));
}

inline void redis_adapter::namespace_added(std::string_view nsp) {
    impl_->interest(nsp, {}, true);
}

inline void redis_adapter::room_added(std::string_view nsp, std::string_view room) {
    impl_->interest(nsp, room, true);
}

inline void redis_adapter::room_removed(std::string_view nsp, std::string_view room) {
    impl_->interest(nsp, room, false);
}

inline std::string_view redis_adapter::node_id() const noexcept {
    return impl_->node_id();
}

inline bool redis_adapter::reaches_nodes() const noexcept {
    return true;
}

inline void redis_adapter::send_to_nodes(std::string_view to, std::string payload) {
    impl_->send_to_nodes(std::string(to), std::move(payload));
}

inline void redis_adapter::close() {
    impl_->close();
}

inline void redis_adapter::succeed(std::string_view previous_node_id) {
    impl_->succeed(previous_node_id);
}

inline redis_state redis_adapter::state() const {
    return impl_->state();
}

inline redis_options const& redis_adapter::options() const noexcept {
    return impl_->options();
}

} // namespace sse

#endif
