// sse/impl/redis_cluster_mode.hpp - the Redis adapter on a Redis Cluster (included by
// impl/redis_adapter.hpp; every function runs on the adapter's strand).
//
// The same URL works against a single server and a cluster node. Each time the publisher
// connects, it asks CLUSTER SHARDS: "cluster support disabled" means a single server (asked
// once); a map means a cluster. Then:
// - every shared-history key carries one hash tag, `{<channel_prefix>#h}`, so that each
//   script touches one slot, declared as its key; the publisher moves to that slot's master,
//   which runs every script (and, for plain namespaces, every PUBLISH);
// - the subscriber (node channels: classic pub/sub, which reaches every node) may use any
//   node;
// - a MOVED (failover, resharding), CLUSTERDOWN or TRYAGAIN answer sends the unanswered
//   commands again on a new connection, after a new look at the map (the append script runs
//   once per origin sequence, so a second run stores nothing twice);
// - a node that cannot be reached: the link tries the next node of the last map.
// - rooms and namespaces travel on sharded pub/sub, on their slot's shard
//   (impl/redis_shards.hpp); the node channels stay classic (PUBLISH reaches every node).
// What this does not do yet (README "Redis Cluster"): history spread over shards.
#ifndef SSE_IMPL_REDIS_CLUSTER_MODE_HPP
#define SSE_IMPL_REDIS_CLUSTER_MODE_HPP

namespace sse::detail {

// The publisher is where it must be: load the scripts, publish what waits.
inline void redis_adapter_impl::publisher_placed(redis_connection& c) {
    pub_placed_ = true;
    pub_up_.store(true, std::memory_order_release);
    if (opts_.shared_history) {
        c.command(redis_connection::tag_ignore, {"SCRIPT", "LOAD", redis_append_script});
        c.command(redis_connection::tag_ignore, {"SCRIPT", "LOAD", redis_fetch_script});
        // A tag of its own for the ids this node assigns (until then: one from its random
        // node id). Claimed once: 16 nodes in a row get different ones.
        if (!id_tag_claimed_) {
            auto key = opts_.channel_prefix + "#id-tags";
            if (topology_ == redis_topology::cluster) key = history_tag() + key;
            c.command(tag_claim_id_tag, {"INCR", key});
        }
    }
    queue_.set_connected(true);
    // The topology is known now: rooms waiting for it subscribe, before any read goes.
    flush_subscriptions();
    drain_publishes();
    rewrite_redirected_fetches();
    run_waiting_fetches();
    if (queue_.pending() == 0 && queue_.in_flight() == 0) tell_lost_namespaces(c);
    maybe_start_recovery();
    notify_state();
}

// The host part of a connection's "host:port".
inline std::string_view host_of(redis_connection const& c) {
    std::string_view t = c.target();
    return t.substr(0, t.rfind(':'));
}

inline void redis_adapter_impl::on_topology_reply(redis_connection& c, redisReply const& reply) {
    auto const tree = to_cluster_reply(reply);
    if (tree.type == cluster_reply::kind::error) {
        if (tree.text.find("cluster support disabled") != std::string::npos) {
            topology_ = redis_topology::single;
            return publisher_placed(c);
        }
        // Redis 6 has no CLUSTER SHARDS.
        if (tree.text.find("nknown subcommand") != std::string::npos &&
            tree.text.find("SLOTS") == std::string::npos)
            return (void)c.command(tag_topology, {"CLUSTER", "SLOTS"});
        // CLUSTERDOWN, LOADING...: look again on a new connection, after the backoff.
        return c.abort("Redis Cluster is not ready: " + tree.text);
    }
    std::string why;
    // A node that does not know its own address answers "" for it: the one we reached.
    auto map = parse_cluster_shards(tree, host_of(c), &why);
    if (!map) map = parse_cluster_slots(tree, host_of(c), &why);
    if (!map || !map->covers_all_slots())
        return c.abort("Redis Cluster map unusable: " +
                       (why.empty() ? std::string("not every slot is served") : why));
    if (topology_ != redis_topology::cluster)
        log(redis_log_level::info, "Redis Cluster at " + c.target() + ": " +
                                       std::to_string(map->shards().size()) + " shards");
    topology_ = redis_topology::cluster;
    cluster_mode_.store(true, std::memory_order_relaxed);
    auto const* owner = map->node_for_key(history_tag());
    auto const owner_node = owner ? std::optional<cluster_node>(*owner) : std::nullopt;
    apply_slot_map(std::move(*map));
    owner = owner_node ? &*owner_node : nullptr;
    bool const app_connections = opts_.connect || given_contexts_;
    if (owner == nullptr || app_connections ||
        (owner->host == pub_.target.host && owner->port == pub_.target.port))
        return publisher_placed(c);
    // Elsewhere: move there (quietly; this is no failure).
    pub_.target.host = owner->host;
    pub_.target.port = owner->port;
    moving_ = true;
    c.abort("moving to " + owner->endpoint() + ", the master of the shared history's slot");
}

// A cluster's answer that means "not here" or "not now": true when handled (the
// connection goes, and what it did not answer is sent again on the next).
inline bool redis_adapter_impl::follow_cluster_error(redis_connection& c, redisReply const& r) {
    if (topology_ != redis_topology::cluster || r.type != REDIS_REPLY_ERROR || r.str == nullptr)
        return false;
    std::string_view const e(r.str, r.len);
    auto const moved = parse_cluster_redirect(e, pub_.target.host);
    if (moved && moved->type == cluster_redirect::kind::moved) {
        pub_.target.host = moved->target.host;
        pub_.target.port = moved->target.port;
        redirected_ = true;
        c.abort("Redis Cluster moved the shared history's slot to " + moved->target.endpoint());
        return true;
    }
    // A script that met a key its slot's migration took away ran no write (the scripts
    // touch every key first): as TRYAGAIN. ASK: not followed with ASKING, tried again
    // after the backoff until the migration ends and the slot answers MOVED (the scripts
    // keep one origin's emits in order on one connection; an importer would refuse a
    // script whose keys are still half on the source with TRYAGAIN anyway).
    for (std::string_view retry : {"CLUSTERDOWN", "TRYAGAIN", "READONLY", "MASTERDOWN", "ASK ",
                                   "ERR Script attempted to access a non local key"})
        if (e.substr(0, retry.size()) == retry) {
            redirected_ = true;
            c.abort("Redis Cluster: " + std::string(e));
            return true;
        }
    return false;
}

// The link's node cannot be reached: the next one the last map listed (its master may have
// died; a replica, once promoted, takes its slots).
inline void redis_adapter_impl::turn_to_next_node(link& l) {
    if (cluster_nodes_.empty()) return;
    auto const& next = cluster_nodes_[next_node_++ % cluster_nodes_.size()];
    l.target.host = next.host;
    l.target.port = next.port;
}

// {"1", key, base}: the script's key count, its one declared key and its hash-tagged base
// (every key it makes starts with the base, so all share the tag's slot).
inline std::array<std::string, 3> redis_adapter_impl::script_keys(std::string const& base) const {
    auto tagged = history_tag() + base;
    return {"1", tagged + "#seq", std::move(tagged)};
}

// EVALSHA sha 0 base ... -> EVALSHA sha 1 key tagged-base ...
inline void redis_adapter_impl::place_script_keys(std::vector<std::string>& args) const {
    auto keys = script_keys(args[3]);
    args[2] = std::move(keys[0]);
    args[3] = std::move(keys[2]);
    args.insert(args.begin() + 3, std::move(keys[1]));
}

} // namespace sse::detail

#endif
