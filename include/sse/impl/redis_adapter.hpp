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
// back from the history: impl/redis_recovery.hpp.
//
// This file holds the adapter's state and the public class; the code is split by concept:
//   impl/redis_links.hpp         the publisher and subscriber connections, reply routing
//   impl/redis_publish.hpp       this node's emits on their way to Redis
//   impl/redis_receive.hpp       other nodes' messages: checks, copies, holes
//   impl/redis_subscribe.hpp     interest to (un)subscriptions, node channels, confirmations
//   impl/redis_fetch.hpp         history reads
//   impl/redis_recovery.hpp      broker gaps and channel gaps read back
//   impl/redis_cluster_mode.hpp  Redis Cluster discovery, keys, redirections
//   impl/redis_shards.hpp        sharded pub/sub on a cluster
//   impl/redis_close.hpp         close, drain, teardown
//   impl/redis_stats.hpp         state()
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
#include <sse/detail/redis_channel_marks.hpp>
#include <sse/detail/redis_channel_sequence.hpp>
#include <sse/detail/redis_cluster_reply.hpp>
#include <sse/detail/redis_gap_recovery.hpp>
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
#include <charconv>
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
        , drain_timer_(strand_)
        , mark_timer_(strand_) {
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
                       history_options const& h, std::function<void(history_result)> done);

    void interest(std::string_view nsp, std::string_view room, bool add);

    // Before attach (server_core::set_adapter): posted first, so it is in place before any
    // subscription exists, hence before any message from `previous` can arrive.
    void succeed(std::string_view previous) {
        net::post(strand_, [self = shared_from_this(), p = std::string(previous)]() mutable {
            if (self->predecessors_.size() == max_predecessors)
                self->predecessors_.erase(self->predecessors_.begin());
            self->predecessors_.push_back(std::move(p));
        });
    }

    void close();

    redis_state state() const;

    // ---- redis_connection_handler (strand) ------------------------------------------------

    void on_connection_ready(redis_connection& c) override;

    void on_connection_down(redis_connection& c, std::string const& reason) override;

    void on_connection_reply(redis_connection& c, redisReply const& reply, int tag) override;

    // ---- strand ---------------------------------------------------------------------------

private:
    static constexpr int tag_publish = 0;
    static constexpr int tag_subscription = 1;
    static constexpr int tag_claim_id_tag = 2;
    static constexpr int tag_node_message = 3;
    static constexpr int tag_topology = 4;         // CLUSTER SHARDS / SLOTS (publisher placing)
    static constexpr int tag_topology_refresh = 5; // the same, to follow a change of the map
    static constexpr int tag_shard_publish = 6;    // SPUBLISH on a shard's publisher
    static constexpr int tag_lost_told = 7;        // the last command telling a lost emit
    static constexpr int tag_fetch_first = 8;      // history reads: one tag each
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

    void start_fetch(std::string const& nsp, std::vector<std::string> const& rooms,
                     std::uint64_t after, std::chrono::milliseconds age, fetch_callback cb,
                     std::optional<std::uint64_t> appended_before = std::nullopt,
                     bool subscribed = false, unsigned redirects = 0);

    void on_fetch_reply(redisReply const& reply, int tag);

    void run_waiting_fetches();

    void fail_fetches(bool keep_redirected = false);
    void keep_fetches_for_redirect();
    void rewrite_redirected_fetches();

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

    void maybe_start_recovery();
    void mark_gap_start();
    void give_up_recovery();
    void finish_recovery();
    void check_channel_number(std::string_view channel, std::string_view room, bool sequenced);
    void on_channel_gap(std::string_view channel, std::string_view room, bool sequenced,
                        redis_channel_gaps::observation const& seen, std::uint64_t upto);
    void start_channel_recovery();
    void finish_channel_recovery(std::uint64_t id, redis_fetch_reply r);
    bool lost_on(redis_channel_gap const& g, history_event const& e) const;
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

    void on_start();

    void act(link& l, redis_reconnect::action a);

    void on_attach(std::weak_ptr<adapter_host> host);

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

    void flush_subscriptions();

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

    void subscribe_node_channels(redis_connection& c);

public:
    void send_to_nodes(std::string to, std::string payload);

private:
    bool send_channels(std::string_view verb, std::vector<std::string> const& channels);

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

    void when_subscribed(std::function<void()> read);

    bool subscriptions_settled() const noexcept;

    void subscription_answered(bool all);

    void run_settled_reads();

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

    // Emits of a namespace that never reached Redis: told to the others once what was kept
    // is out (tell_lost_namespaces).
    struct lost_emits {
        bool sequenced = false; // shared history: the rooms' replay floors rise to max_id
        bool whole = false;     // a namespace-wide emit among them, or too many rooms
        std::set<std::string, std::less<>> rooms;
        std::uint64_t max_id = 0;
    };

    // ---- publishing (strand; impl/redis_publish.hpp) ----
    void on_intake();
    void number_channels(redis_outgoing& m);
    void drain_publishes();
    void note_published(std::uint64_t sequence) noexcept;
    // Lost emits: the other nodes are told.
    void note_lost(redis_outgoing const& m);
    void note_lost_locked(std::string_view nsp, std::vector<std::string> const& rooms,
                          std::uint64_t id, bool sequenced);
    void tell_lost_namespaces(redis_connection& c);
    void raise_history_floor(redis_connection& c, std::string const& nsp, lost_emits const& l,
                             int tag);
    void retell_lost();
    void add_own_lost(std::string const& nsp, std::vector<std::string> const& rooms,
                      std::uint64_t after, redis_fetch_reply& r);
    void tell_lost(redis_connection& c, redis_outgoing const& m);
    void publish_lost(redis_connection& c, std::string_view nsp,
                      std::vector<std::string> const& rooms,
                      std::vector<std::string> const& channels,
                      int last_tag = redis_connection::tag_ignore);
    // Channel marks (impl/redis_marks.hpp).
    void note_written(redis_outgoing const& m);
    void arm_mark_timer();
    void send_marks();
    void on_channel_mark(std::string_view channel, std::string_view room);

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

    void begin_close();

    void stop_hearing();

    std::size_t unpublished() const noexcept {
        return queue_.pending() + queue_.in_flight() + node_messages_in_flight_ + shard_copies();
    }

    void teardown();

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
    std::atomic<unsigned> id_tag_{0};
    bool id_tag_claimed_ = false; // strand
    redis_message msg_;           // reused: its vectors keep their capacity
    std::minstd_rand rng_;
    std::string last_publish_error_;
    // A history read written on the publisher, with what it takes to write it again.
    struct fetch_in_flight {
        std::string nsp;
        std::vector<std::string> rooms;
        std::uint64_t after = 0;
        std::chrono::milliseconds age{0};
        std::uint64_t appended_before = 0;
        fetch_callback cb;
        unsigned redirects = 0; // times a cluster sent it elsewhere
    };
    std::map<int, fetch_in_flight> fetches_;
    // Reads a cluster redirected (MOVED, ASK, TRYAGAIN...): written again once the publisher
    // is placed anew, at most max_fetch_redirects times each; failed if it cannot connect.
    static constexpr unsigned max_fetch_redirects = 8;
    std::vector<fetch_in_flight> redirected_fetches_;
    bool redirected_ = false;           // the publisher goes because the cluster redirected it
    bool sub_connected_before_ = false; // the main subscriber had a connection (strand)
    int next_fetch_tag_ = tag_fetch_first;
    std::set<std::string, std::less<>> sequenced_nsps_seen_;
    struct recovery_result {
        std::string nsp;
        std::vector<std::string> rooms;
        redis_fetch_reply reply;
    };
    // Which history reads are wanted or running, what is held meanwhile.
    redis_gap_recovery<held_message> recovery_;
    std::vector<recovery_result> recovery_results_; // the broker read's answers so far
    redis_channel_counters channel_counters_;       // this node's numbers, per channel
    redis_channel_gaps channel_numbers_seen_;       // other nodes' numbers, as received
    redis_channel_marks channel_marks_;             // channels owed a mark (this node's)
    bool mark_timer_armed_ = false;
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
    net::steady_timer mark_timer_;

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
    std::atomic<std::uint64_t> channel_marks_sent_{0};
    bool emit_refused_ = false; // strand: the oldest in flight
    // Emits that never reached Redis, by namespace (under mutex_).
    std::map<std::string, lost_emits, std::less<>> lost_emits_;
    // Strand: told, not yet answered (tag_lost_told), oldest first; back into lost_emits_ if
    // the publisher drops before Redis answered (the told commands may not have run).
    std::deque<std::pair<std::string, lost_emits>> lost_told_;
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

#include <sse/impl/redis_close.hpp>
#include <sse/impl/redis_cluster_mode.hpp>
#include <sse/impl/redis_fetch.hpp>
#include <sse/impl/redis_links.hpp>
#include <sse/impl/redis_marks.hpp>
#include <sse/impl/redis_publish.hpp>
#include <sse/impl/redis_receive.hpp>
#include <sse/impl/redis_recovery.hpp>
#include <sse/impl/redis_shards.hpp>
#include <sse/impl/redis_stats.hpp>
#include <sse/impl/redis_subscribe.hpp>

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
