// sse/impl/redis_subscribe.hpp - what the Redis adapter subscribes to: the server's interest
// (namespaces served, rooms with local clients) turned into SUBSCRIBE/UNSUBSCRIBE batches (or,
// on a sharded cluster, into the shards' trackers), the node channels of the cluster-wide
// operations, and the wait for confirmations that history reads need (included by
// impl/redis_adapter.hpp).
#ifndef SSE_IMPL_REDIS_SUBSCRIBE_HPP
#define SSE_IMPL_REDIS_SUBSCRIBE_HPP

namespace sse::detail {

inline void redis_adapter_impl::interest(std::string_view nsp, std::string_view room, bool add) {
    auto channel = redis_channel(opts_.channel_prefix, nsp, room);
    std::lock_guard<std::mutex> lock(mutex_);
    if (closed_) return;
    bool changed = add ? subs_.add(channel) : subs_.remove(channel);
    if (!add && snapshot_pending_) removed_during_snapshot_.insert(channel);
    if (changed) schedule_subscription_flush();
}

inline void redis_adapter_impl::on_attach(std::weak_ptr<adapter_host> host) {
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

// Until the publisher learnt what the URL points at, rooms wait: on a cluster their
// channels go to the shards' subscribers (impl/redis_shards.hpp), elsewhere to ours.
inline void redis_adapter_impl::flush_subscriptions() {
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

// Sent first on each subscriber connection, so that their confirmations (counted apart:
// state().subscribed_channels shows the rooms' channels) come before the rooms'.
inline void redis_adapter_impl::subscribe_node_channels(redis_connection& c) {
    node_subscriptions_ = 0;
    auto const all = node_channel({});
    auto const mine = node_channel(node_id_);
    c.command(tag_subscription, {"SUBSCRIBE", all, mine});
}

inline void redis_adapter_impl::send_to_nodes(std::string to, std::string payload) {
    net::post(
        strand_, [self = shared_from_this(), to = std::move(to), payload = std::move(payload)] {
            // Not refused once closed: a closing server's goodbye is posted just before.
            auto const& c = self->pub_.conn;
            if (!c || !c->ready() ||
                !c->command(tag_node_message, {"PUBLISH", self->node_channel(to), payload}))
                return (void)self->node_messages_dropped_.fetch_add(1, std::memory_order_relaxed);
            ++self->node_messages_in_flight_; // a closing node's goodbye is waited for
        });
}

// Classic SUBSCRIBE/UNSUBSCRIBE of any channels, up to channels_per_command per command.
inline bool redis_adapter_impl::send_classic(redis_connection& c, std::string_view verb,
                                             std::vector<std::string> const& channels) {
    std::vector<char const*> argv;
    std::vector<std::size_t> lens;
    for (std::size_t i = 0; i < channels.size(); i += channels_per_command) {
        std::size_t const n = std::min(channels_per_command, channels.size() - i);
        argv.assign(1, verb.data());
        lens.assign(1, verb.size());
        for (std::size_t j = i; j < i + n; ++j) {
            argv.push_back(channels[j].data());
            lens.push_back(channels[j].size());
        }
        if (!c.command(tag_subscription, static_cast<int>(argv.size()), argv.data(), lens.data()))
            return false;
    }
    return true;
}

inline bool redis_adapter_impl::send_channels(std::string_view verb,
                                              std::vector<std::string> const& channels) {
    // Each channel's confirmation comes back on its own; the ones asked for are counted
    // (a failed write drops the connection, which answers them all).
    if (!send_classic(*sub_.conn, verb, channels)) return false;
    subscriptions_asked_ += channels.size();
    update_pending_subscriptions();
    return true;
}

inline void redis_adapter_impl::when_subscribed(std::function<void()> read) {
    subscribe_mark m;
    if (subscriptions_answered_ < subscriptions_asked_) m.ours = subscriptions_asked_;
    for (auto const& s : shards_)
        if (s->answered < s->asked) m.shards.emplace_back(s, s->asked);
    if (m.ours == 0 && m.shards.empty()) return read();
    m.read = std::move(read);
    after_subscribe_.push_back(std::move(m));
}

inline bool redis_adapter_impl::subscriptions_settled() const noexcept {
    if (subscriptions_answered_ < subscriptions_asked_) return false;
    for (auto const& s : shards_)
        if (s->answered < s->asked) return false;
    return true;
}

// Redis answered one more (un)subscription; or, with `all`, the subscriber connection
// came or went (nothing is pending on it any more).
inline void redis_adapter_impl::subscription_answered(bool all) {
    subscriptions_answered_ = all ? subscriptions_asked_ : subscriptions_answered_ + 1;
    run_settled_reads();
}

inline void redis_adapter_impl::run_settled_reads() {
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

} // namespace sse::detail

#endif
