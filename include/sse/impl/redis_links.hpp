// sse/impl/redis_links.hpp - the Redis adapter's own two connections, the publisher and the
// subscriber: starting them, reconnecting with backoff (detail/redis_reconnect.hpp), and what
// each connection event means (included by impl/redis_adapter.hpp; strand). Replies are
// routed here by tag to the publishing, receiving, history-read and cluster parts; the
// shards' connections are impl/redis_shards.hpp's.
#ifndef SSE_IMPL_REDIS_LINKS_HPP
#define SSE_IMPL_REDIS_LINKS_HPP

namespace sse::detail {

inline void redis_adapter_impl::on_start() {
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

inline void redis_adapter_impl::act(link& l, redis_reconnect::action a) {
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
            strand_, std::weak_ptr<redis_connection_handler>(shared_from_this()), std::move(name));
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

inline void redis_adapter_impl::on_connection_ready(redis_connection& c) {
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
        // The first connection missed nothing (what was published before its SUBSCRIBEs is
        // the catch-up reads' to find); a later one missed what passed since the last.
        bool const again = std::exchange(sub_connected_before_, true);
        {
            std::lock_guard<std::mutex> lock(mutex_);
            subs_.reset(); // the tracker is the replay list
            if (again && !sequenced_nsps_.empty()) {
                // Hold sequenced messages until what was missed meanwhile is read back.
                recovery_.subscriber_back();
            }
        }
        flush_subscriptions();
        maybe_start_recovery();
    }
    notify_state();
}

inline void redis_adapter_impl::on_connection_down(redis_connection& c, std::string const& reason) {
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
        queue_.set_connected(false);                   // unacknowledged emits go back to the front
        for (auto const& m : queue_.take_overflowed()) // past max_pending_emits then: lost
            note_lost(m);
        retell_lost();
        queue_dropped_.store(queue_.dropped(), std::memory_order_relaxed);
        queue_pending_.store(queue_.pending(), std::memory_order_relaxed);
        // Sent elsewhere by the cluster (or moved on purpose): the reads go again there.
        bool const redirect = std::exchange(redirected_, false) || moving;
        if (redirect) keep_fetches_for_redirect();
        fail_fetches(redirect);
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

inline void redis_adapter_impl::on_connection_reply(redis_connection& c, redisReply const& reply,
                                                    int tag) {
    if (tag == tag_topology) return on_topology_reply(c, reply);
    if (tag == tag_topology_refresh) return on_topology_refresh(reply);
    if (tag == tag_shard_publish || (tag == tag_subscription && which(c) == nullptr)) {
        if (auto* s = shard_of(c)) on_shard_reply(*s, c, reply, tag);
        return;
    }
    // A cluster moved the history's slot (a failover, a resharding) or is not ready:
    // what was not answered goes again on a new connection, to the right master.
    // (A read stays in fetches_: written again on the new connection.)
    if ((tag == tag_publish || tag >= tag_fetch_first) && follow_cluster_error(c, reply)) return;
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
    if (tag == tag_lost_told) {
        if (!lost_told_.empty()) lost_told_.pop_front();
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

} // namespace sse::detail

#endif
