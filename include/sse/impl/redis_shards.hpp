// sse/impl/redis_shards.hpp - sharded pub/sub on a Redis Cluster (included by
// impl/redis_adapter.hpp; every function runs on the adapter's strand).
//
// Classic PUBLISH on a cluster is broadcast to every node, so every shard carries every
// message. With `redis_options::sharded_pubsub`, each room and namespace channel lives on the
// shard that owns its slot (CRC16 of the channel name, detail/cluster_slots.hpp): the adapter
// keeps, per shard it needs, a publisher that writes `SPUBLISH` and a subscriber that holds
// that shard's `SSUBSCRIBE`s, each connected on first use. Rooms spread over shards by their
// names' slots; a namespace-wide emit travels its namespace channel's shard.
//
// - Publishing. A plain emit's copies (one per target channel) go to their shards' queues as
//   soon as the main publisher takes them; a shared-history emit's copies go once the append
//   script stored it (the script then publishes nothing itself: a script may only touch its
//   own slot). So a copy that arrives is always in the history already, and a receiver's
//   recovery reads never miss one. Each shard queue is bounded (`max_pending_emits` +
//   `max_in_flight`); a copy dropped there shows as a hole in its channel's numbers at the
//   receivers, which read it back or reset (redis_recovery.hpp).
// - Order. One channel is one shard: one origin's copies on it travel one publisher and one
//   subscriber connection, in order. Across channels (two shards) they may arrive in either
//   order: the per-origin copy filter keeps a window (detail/redis_sequence_filter.hpp) and
//   the namespace's merge window and late-event check keep every client's ids increasing.
// - Moves. A `MOVED` answer moves its slot in the map and sends the copy to the new owner; a
//   shard connection that fails asks for a new map (CLUSTER SHARDS on the main publisher).
//   With a new map, the channels and queued copies of a shard whose master is gone (a
//   failover) or whose slots moved (a resharding) go to their new shards. A subscriber that
//   was lost, a shard retired with its subscriptions, or a server that dropped a channel
//   (`sunsubscribe` after a slot moved) is a broker gap: the recovery reads it back.
// - The node channels (cluster-wide operations) stay classic, on the main subscriber.
#ifndef SSE_IMPL_REDIS_SHARDS_HPP
#define SSE_IMPL_REDIS_SHARDS_HPP

#include <charconv>

namespace sse::detail {

inline redis_adapter_impl::shard* redis_adapter_impl::shard_of(redis_connection& c) const noexcept {
    for (auto const& s : shards_)
        if (s->pub.conn.get() == &c || s->sub.conn.get() == &c) return s.get();
    return nullptr;
}

// The shard that owns `channel`'s slot now (made on first use).
inline redis_adapter_impl::shard& redis_adapter_impl::shard_for(std::string_view channel) {
    auto const* owner = slot_map_.node_for_slot(key_slot(channel));
    if (owner == nullptr) owner = &cluster_nodes_.front(); // the map covers every slot
    for (auto const& s : shards_)
        if (s->master.same_address(*owner)) return *s;
    shards_.push_back(std::make_shared<shard>(*owner, endpoint_, opts_, strand_));
    shard_count_.store(shards_.size(), std::memory_order_relaxed);
    return *shards_.back();
}

inline void redis_adapter_impl::apply_slot_map(cluster_slot_map map) {
    slot_map_ = std::move(map);
    have_slot_map_ = true;
    sharded_flag_.store(sharded(), std::memory_order_relaxed);
    cluster_nodes_.clear();
    for (auto const& s : slot_map_.shards()) {
        cluster_nodes_.push_back(s.master);
        cluster_nodes_.insert(cluster_nodes_.end(), s.replicas.begin(), s.replicas.end());
    }
    if (sharded()) reroute();
}

// Something may have moved (a shard connection failed, a MOVED, a dropped channel): one new
// look at the map at a time, on the main publisher.
inline void redis_adapter_impl::request_topology() {
    if (topology_asked_ || !pub_.conn || !pub_.conn->ready()) return;
    if (pub_.conn->command(tag_topology_refresh, {"CLUSTER", "SHARDS"})) topology_asked_ = true;
}

inline void redis_adapter_impl::on_topology_refresh(redisReply const& reply) {
    topology_asked_ = false;
    auto const tree = to_cluster_reply(reply);
    if (tree.type == cluster_reply::kind::error) return;
    std::string why;
    auto map = parse_cluster_shards(tree, pub_.target.host, &why);
    if (!map) map = parse_cluster_slots(tree, pub_.target.host, &why);
    if (map && map->covers_all_slots()) apply_slot_map(std::move(*map));
}

// The channels and waiting copies of each shard go where the map says now. A shard whose
// master is no master any more is closed; the messages its subscriber would have carried
// until the new one confirms are a broker gap.
inline void redis_adapter_impl::reroute() {
    auto const masters = slot_map_.shards();
    auto is_master = [&](cluster_node const& n) {
        return std::any_of(masters.begin(), masters.end(),
                           [&](cluster_shard const& m) { return m.master.same_address(n); });
    };
    auto owned_by = [&](std::string const& channel, shard const& s) {
        auto const* owner = slot_map_.node_for_slot(key_slot(channel));
        return owner != nullptr && s.master.same_address(*owner);
    };
    std::vector<std::string> channels;
    std::vector<std::pair<std::string, std::string>> copies;
    bool gap = false;
    for (auto it = shards_.begin(); it != shards_.end();) {
        shard& s = **it;
        bool const retire = !is_master(s.master);
        std::vector<std::string> leaving;
        s.subs.for_each_wanted([&](std::string const& ch) {
            if (retire || !owned_by(ch, s)) leaving.push_back(ch);
        });
        for (auto const& ch : leaving) {
            if (!retire) s.subs.remove(ch);
            channels.push_back(ch);
        }
        // Copies on the wire stay: their answers come back (a MOVED sends them on).
        for (std::size_t i = retire ? 0 : s.written; i < s.out.size();) {
            if (retire || !owned_by(s.out[i].first, s)) {
                copies.push_back(std::move(s.out[i]));
                s.out.erase(s.out.begin() + static_cast<std::ptrdiff_t>(i));
            } else {
                ++i;
            }
        }
        if (!retire) {
            ++it;
            continue;
        }
        // Its subscriber carried channels until now, or lost them before (a dead master):
        // what they missed is read back once their new shard confirms them.
        gap |= s.gap || (!leaving.empty() && s.sub.conn && s.sub.conn->ready());
        log(redis_log_level::info, "shard " + s.master.endpoint() + " is no master any more");
        act(s.pub, s.pub.fsm.close());
        act(s.sub, s.sub.fsm.close());
        it = shards_.erase(it);
    }
    if (gap) {
        mark_gap_start(); // the earliest start is kept
        std::lock_guard<std::mutex> lock(mutex_);
        if (!sequenced_nsps_.empty()) recovery_.subscriber_back();
    }
    for (auto const& ch : channels)
        shard_for(ch).subs.add(ch);
    for (auto& [ch, payload] : copies)
        shard_publish(ch, std::move(payload));
    for (auto const& s : shards_) {
        flush_shard(*s);
        write_shard(*s);
    }
    shard_count_.store(shards_.size(), std::memory_order_relaxed);
    run_settled_reads(); // a retired shard answers nothing more
    update_shard_gauges();
    maybe_start_recovery();
}

// ---- connections ----------------------------------------------------------------------

inline void redis_adapter_impl::on_shard_ready(shard& s, redis_connection& c) {
    bool const is_pub = s.pub.conn.get() == &c;
    link& l = is_pub ? s.pub : s.sub;
    l.fsm.on_connected();
    log(redis_log_level::info, std::string(l.role) + " connected to " + c.target());
    if (is_pub) {
        s.written = 0; // what was on the old connection goes again
        write_shard(s);
    } else {
        s.subscribed = 0;
        s.answered = s.asked;
        s.expected.clear();
        // A new connection: its channels' numbers start over, and what it missed is the
        // broker-gap recovery's (as for the main subscriber).
        s.subs.for_each_wanted([&](std::string const& ch) { channel_numbers_seen_.forget(ch); });
        if (std::exchange(s.gap, false)) {
            std::lock_guard<std::mutex> lock(mutex_);
            if (!sequenced_nsps_.empty()) recovery_.subscriber_back();
        }
        s.subs.reset();
        // Its own classic channel first: hiredis stays in subscribed mode with it (see
        // shard_marker_channel).
        c.command(tag_subscription, {"SUBSCRIBE", shard_marker_channel()});
        c.command(tag_subscription, {"PSUBSCRIBE", shard_marker_channel()});
        flush_shard(s);
        run_settled_reads();
        maybe_start_recovery();
    }
    update_shard_gauges();
    notify_state();
}

inline void redis_adapter_impl::on_shard_down(shard& s, redis_connection& c,
                                              std::string const& reason) {
    bool const is_pub = s.pub.conn.get() == &c;
    link& l = is_pub ? s.pub : s.sub;
    auto keep = std::move(l.conn); // destroyed when this returns, outside hiredis
    bool const was_up = l.fsm.current() == redis_reconnect::state::connected;
    if (is_pub) {
        s.written = 0;
    } else {
        s.subscribed = 0;
        s.answered = s.asked;
        s.expected.clear();
        if (was_up && s.subs.wanted_count() > 0) {
            mark_gap_start();
            s.gap = true;
        }
        run_settled_reads();
    }
    if (!was_up) connect_failures_.fetch_add(1, std::memory_order_relaxed);
    bool const repeat = !was_up && reason == l.last_failure;
    l.last_failure = was_up ? std::string() : reason;
    if (!repeat) record_error(std::string(l.role) + " " + s.master.endpoint() + ": " + reason);
    log(repeat ? redis_log_level::debug : redis_log_level::warning,
        std::string(l.role) + " " + s.master.endpoint() + ": " + reason);
    request_topology(); // its master may have died: a replica takes its slots
    act(l, was_up ? l.fsm.on_lost(unit()) : l.fsm.on_connect_failed(unit()));
    update_shard_gauges();
    notify_state();
}

// ---- publishing -----------------------------------------------------------------------

inline void redis_adapter_impl::shard_publish(std::string const& channel, std::string payload) {
    auto& s = shard_for(channel);
    if (s.out.size() >= opts_.max_pending_emits + opts_.max_in_flight) {
        // Its receivers see the hole in the channel's numbers.
        if (shard_dropped_.fetch_add(1, std::memory_order_relaxed) == 0)
            log(redis_log_level::warning,
                "shard " + s.master.endpoint() + " does not take copies fast enough: dropping");
        return;
    }
    s.out.emplace_back(channel, std::move(payload));
    start_link(s.pub);
    write_shard(s);
}

inline void redis_adapter_impl::write_shard(shard& s) {
    if (s.pub.conn && s.pub.conn->ready()) {
        std::size_t const window = std::max<std::size_t>(1, opts_.max_in_flight);
        while (s.written < s.out.size() && s.written < window) {
            auto const& [ch, payload] = s.out[s.written];
            if (!s.pub.conn->command(tag_shard_publish, {"SPUBLISH", ch, payload})) {
                s.pub.conn->abort("could not write SPUBLISH");
                break;
            }
            ++s.written;
        }
    }
    shard_pending_.store(shard_copies(), std::memory_order_relaxed);
}

// A shared-history emit was stored: one copy per channel, each with its channel's number
// (the arguments the script would have used: see redis_publish.hpp).
inline void redis_adapter_impl::publish_script_copies(redis_outgoing const& m) {
    auto const& a = m.script_args;
    std::size_t rooms = 0;
    if (a.size() < 12 ||
        std::from_chars(a[10].data(), a[10].data() + a[10].size(), rooms).ec != std::errc())
        return;
    std::size_t const c = m.channels.size();
    bool const numbered = a.size() >= 12 + rooms + 2 * c && redis_message_is_numbered(a[8]);
    for (std::size_t i = 0; i < c; ++i) {
        std::string copy = a[8];
        if (numbered) copy.replace(redis_message_channel_number_offset, 8, a[12 + rooms + c + i]);
        shard_publish(m.channels[i], std::move(copy));
    }
    note_written(m);
}

// ---- subscribing ----------------------------------------------------------------------

inline void redis_adapter_impl::route_subscriptions(redis_subscriptions::changes const& ch) {
    for (auto const& c : ch.unsubscribe)
        for (auto const& s : shards_)
            if (s->subs.wants(c)) s->subs.remove(c);
    for (auto const& c : ch.subscribe)
        shard_for(c).subs.add(c);
    for (auto const& s : shards_)
        flush_shard(*s);
}

// One channel per command (a cluster refuses channels of two slots in one), so one answer
// each. hiredis 0.14 knows only classic pub/sub: it delivers a push to the callback of the
// channel it names, registered by a classic SUBSCRIBE, and an SSUBSCRIBE's own callback may be
// taken by a message that arrives before its answer (it assumes answers come first). So each
// channel also gets a classic SUBSCRIBE (on a shard channel nobody PUBLISHes to: it only
// registers the name), the connection keeps one classic channel of its own for good (hiredis
// would leave subscribed mode without one), and an error answer, which hiredis then drops,
// is found by a PING after each batch: an expected answer before its ["pong", <own channel>]
// that did not come was refused. hiredis looks a "pong" it has no callback for up among the
// patterns ('p'), so the own channel is also a pattern (PSUBSCRIBE; no glob characters, so it
// matches itself only): the pong always reaches us.
inline std::string redis_adapter_impl::shard_marker_channel() const {
    return "sse#:shard#" + node_id_; // not the prefix: it may hold glob characters
}

inline void redis_adapter_impl::flush_shard(shard& s) {
    if (!s.sub.conn || !s.sub.conn->ready()) {
        if (s.subs.wanted_count() > 0) start_link(s.sub); // the tracker is sent on ready
        return;
    }
    auto const ch = s.subs.take_changes();
    if (ch.empty()) return;
    using answer = shard::answer;
    auto& c = *s.sub.conn;
    bool ok = true;
    for (auto const& name : ch.subscribe) {
        ok = ok && c.command(tag_subscription, {"SSUBSCRIBE", name});
        s.expected.emplace_back(answer::subscribed, name);
        ++s.asked;
    }
    for (auto const& name : ch.unsubscribe) {
        ok = ok && c.command(tag_subscription, {"SUNSUBSCRIBE", name});
        s.expected.emplace_back(answer::unsubscribed, name);
        ++s.asked;
    }
    // The classic registrations take any slots at once: one command per batch (written
    // before any answer is read, so a message never comes before its name is registered).
    ok = ok && send_classic(c, "SUBSCRIBE", ch.subscribe) &&
         send_classic(c, "UNSUBSCRIBE", ch.unsubscribe);
    ok = ok && c.command(tag_subscription, {"PING", shard_marker_channel()});
    s.expected.emplace_back(answer::pong, std::string());
    update_pending_subscriptions();
    if (!ok) c.abort("could not write SSUBSCRIBE/SUNSUBSCRIBE");
}

// ---- answers --------------------------------------------------------------------------

inline void redis_adapter_impl::on_shard_reply(shard& s, redis_connection& c,
                                               redisReply const& reply, int tag) {
    if (tag != tag_shard_publish) return on_shard_push(s, reply);
    if (s.written == 0 || s.out.empty()) return;
    if (reply.type == REDIS_REPLY_ERROR && reply.str != nullptr) {
        std::string_view const e(reply.str, reply.len);
        auto const moved = parse_cluster_redirect(e, s.master.host);
        if (moved && moved->type == cluster_redirect::kind::moved) {
            // The slot is elsewhere now: this copy goes there (the ones after it on this
            // channel get the same answer, in order, and follow).
            slot_map_.move_slot(moved->slot, moved->target);
            auto copy = std::move(s.out.front());
            s.out.pop_front();
            --s.written;
            request_topology();
            shard_publish(copy.first, std::move(copy.second));
            return;
        }
        for (std::string_view retry :
             {"CLUSTERDOWN", "TRYAGAIN", "MASTERDOWN", "LOADING", "ASK ", "READONLY"})
            if (e.substr(0, retry.size()) == retry)
                return c.abort("Redis Cluster: " + std::string(e)); // sent again after backoff
        // Anything else (an ACL without SPUBLISH...): this copy is lost, and its channel's
        // receivers see the hole by its number.
        shard_dropped_.fetch_add(1, std::memory_order_relaxed);
        std::string why = "Redis refused an SPUBLISH: " + std::string(e);
        if (why != last_publish_error_) {
            log(redis_log_level::error, why);
            record_error(why);
            last_publish_error_ = std::move(why);
        }
    }
    s.out.pop_front();
    --s.written;
    write_shard(s);
    if (draining_ && unpublished() == 0) teardown(); // the last one is out
}

// On a shard's subscriber: ["smessage", channel, payload], ["ssubscribe"/"sunsubscribe",
// channel, count], ["pong", marker], an error answering an SSUBSCRIBE (a MOVED), or the
// classic pushes of the names registered for hiredis (ignored).
inline void redis_adapter_impl::on_shard_push(shard& s, redisReply const& r) {
    using answer = shard::answer;
    if (r.type == REDIS_REPLY_ERROR) {
        // Delivered only when hiredis still had the command's callback: the oldest unanswered.
        std::string_view const e(r.str != nullptr ? r.str : "", r.len);
        if (!s.expected.empty() && s.expected.front().first != answer::pong) {
            s.expected.pop_front();
            ++s.answered;
        }
        request_topology();
        if (auto const moved = parse_cluster_redirect(e, s.master.host)) {
            // Its slot is elsewhere: the channel moves to that shard (unsubscribed here).
            slot_map_.move_slot(moved->slot, moved->target);
            return reroute(); // may retire `s`
        }
        return shard_refused(s, e);
    }
    if (r.type != REDIS_REPLY_ARRAY || r.elements < 2 || r.element[0] == nullptr ||
        r.element[0]->type != REDIS_REPLY_STRING || r.element[1] == nullptr ||
        r.element[1]->type != REDIS_REPLY_STRING)
        return;
    std::string_view const kind(r.element[0]->str, r.element[0]->len);
    std::string_view const channel(r.element[1]->str, r.element[1]->len);
    if (kind == "smessage") {
        if (r.elements < 3 || r.element[2] == nullptr || r.element[2]->type != REDIS_REPLY_STRING)
            return;
        return on_message(channel, std::string_view(r.element[2]->str, r.element[2]->len));
    }
    answer got;
    if (kind == "ssubscribe")
        got = answer::subscribed;
    else if (kind == "sunsubscribe")
        got = answer::unsubscribed;
    else if (kind == "pong")
        got = answer::pong;
    else
        return; // a classic (un)subscribe of a registered name
    if (got != answer::pong && r.elements >= 3 && r.element[2] != nullptr &&
        r.element[2]->type == REDIS_REPLY_INTEGER && r.element[2]->integer >= 0)
        s.subscribed = static_cast<std::size_t>(r.element[2]->integer);
    // Answers come in order: the ones expected before this one were refused (their error
    // answers did not reach us).
    auto it = std::find_if(s.expected.begin(), s.expected.end(), [&](auto const& x) {
        return x.first == got && (got == answer::pong || x.second == channel);
    });
    if (it == s.expected.end()) {
        if (got != answer::unsubscribed) return;
        // The server dropped it: its slot moved (a failover, a resharding). What passes
        // until it is subscribed where it lives now is a broker gap.
        channel_numbers_seen_.forget(channel);
        if (s.subs.lost(std::string(channel))) {
            mark_gap_start();
            std::lock_guard<std::mutex> lock(mutex_);
            if (!sequenced_nsps_.empty()) recovery_.subscriber_back();
        }
        request_topology(); // the new map sends it to its new shard
        flush_shard(s);     // until then, here again (a MOVED answer sends it on)
        return;
    }
    std::size_t refused = 0;
    for (auto i = s.expected.begin(); i != it; ++i)
        if (i->first != answer::pong) {
            ++refused;
            ++s.answered;
            if (i->first == answer::subscribed) s.subs.lost(i->second);
        }
    if (got != answer::pong) {
        ++s.answered;
        if (got == answer::unsubscribed) channel_numbers_seen_.forget(channel);
    }
    s.expected.erase(s.expected.begin(), std::next(it));
    run_settled_reads();
    update_shard_gauges();
    if (refused > 0) return shard_refused(s, "a subscription was refused");
    if (pending_subscriptions_.load(std::memory_order_relaxed) == 0) maybe_start_recovery();
}

// An SSUBSCRIBE refused for another reason than a move (an ACL, a cluster not ready): this
// shard's subscriber starts over after its backoff, with a new look at the map.
inline void redis_adapter_impl::shard_refused(shard& s, std::string_view why) {
    request_topology();
    if (s.sub.conn) s.sub.conn->abort("shard " + s.master.endpoint() + ": " + std::string(why));
}

// ---- gauges ---------------------------------------------------------------------------

inline bool redis_adapter_impl::subscribers_ready() const noexcept {
    if (!sub_.conn || !sub_.conn->ready()) return false;
    for (auto const& s : shards_)
        if (s->subs.wanted_count() > 0 && !(s->sub.conn && s->sub.conn->ready())) return false;
    return true;
}

inline std::size_t redis_adapter_impl::shard_copies() const noexcept {
    std::size_t n = 0;
    for (auto const& s : shards_)
        n += s->out.size();
    return n;
}

inline void redis_adapter_impl::update_shard_gauges() noexcept {
    std::size_t up = 0, subscribed = 0;
    for (auto const& s : shards_) {
        up += (s->pub.conn && s->pub.conn->ready()) + (s->sub.conn && s->sub.conn->ready());
        subscribed += s->subscribed;
    }
    shard_connections_.store(up, std::memory_order_relaxed);
    shard_pending_.store(shard_copies(), std::memory_order_relaxed);
    if (sharded()) subscribed_.store(subscribed, std::memory_order_relaxed);
}

inline void redis_adapter_impl::update_pending_subscriptions() noexcept {
    std::uint64_t n = subscriptions_asked_ - subscriptions_answered_;
    for (auto const& s : shards_)
        n += s->asked - s->answered;
    pending_subscriptions_.store(static_cast<std::size_t>(n), std::memory_order_relaxed);
}

} // namespace sse::detail

#endif
