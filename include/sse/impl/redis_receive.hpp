// sse/impl/redis_receive.hpp - what the Redis adapter does with each message its subscriber
// receives: checks, drops copies and echoes, sees holes, hands the rest to the server
// (included by impl/redis_adapter.hpp; every function runs on the adapter's strand).
#ifndef SSE_IMPL_REDIS_RECEIVE_HPP
#define SSE_IMPL_REDIS_RECEIVE_HPP

namespace sse::detail {

inline void redis_adapter_impl::on_subscription_push(redis_connection&, redisReply const& r) {
    // ["message", channel, payload] | ["subscribe"/"unsubscribe", channel, count]
    if (r.type != REDIS_REPLY_ARRAY || r.elements < 3 || r.element[0] == nullptr ||
        r.element[0]->type != REDIS_REPLY_STRING || r.element[1] == nullptr ||
        r.element[2] == nullptr)
        return;
    std::string_view kind(r.element[0]->str, r.element[0]->len);
    if (kind == "message") {
        auto const* ch = r.element[1];
        auto const* payload = r.element[2];
        if (ch->type != REDIS_REPLY_STRING || payload->type != REDIS_REPLY_STRING) return;
        std::string_view const channel(ch->str, ch->len);
        if (is_node_channel(channel))
            return on_node_message(channel, std::string_view(payload->str, payload->len));
        on_message(channel, std::string_view(payload->str, payload->len));
    } else if ((kind == "subscribe" || kind == "unsubscribe") &&
               r.element[1]->type == REDIS_REPLY_STRING &&
               is_node_channel(std::string_view(r.element[1]->str, r.element[1]->len))) {
        if (kind == "subscribe") ++node_subscriptions_; // not a room's: the tracker never asked
    } else if (kind == "subscribe" || kind == "unsubscribe") {
        // Unsubscribed: what passes by until it is subscribed again is not a loss.
        if (kind == "unsubscribe" && r.element[1]->type == REDIS_REPLY_STRING)
            channel_numbers_seen_.forget(std::string_view(r.element[1]->str, r.element[1]->len));
        if (r.element[2]->type == REDIS_REPLY_INTEGER && r.element[2]->integer >= 0)
            subscribed_.store(
                static_cast<std::size_t>(r.element[2]->integer) -
                    std::min(node_subscriptions_, static_cast<std::size_t>(r.element[2]->integer)),
                std::memory_order_relaxed);
        subscription_answered(false);
        if (pending_subscriptions_.load(std::memory_order_relaxed) == 0) maybe_start_recovery();
    }
}

// A message for the servers' cluster-wide operations: handed over as it is (the server
// checks it; node_message.hpp), after the same size bound as an emit's.
inline void redis_adapter_impl::on_node_message(std::string_view channel,
                                                std::string_view payload) {
    received_.fetch_add(1, std::memory_order_relaxed);
    if (payload.size() > opts_.max_message_bytes) {
        oversized_.fetch_add(1, std::memory_order_relaxed);
        return log(redis_log_level::debug,
                   "ignored an oversized node message on channel '" + std::string(channel) + "'");
    }
    if (auto host = host_.lock()) host->on_node_message(payload);
}

// Own message `sequence` came back on the subscriber connection (strand). A slot already
// reused by a newer message, or one not written yet, is skipped.
inline void redis_adapter_impl::note_echo(std::uint64_t sequence) noexcept {
    auto const& slot = published_at_[sequence % lag_ring];
    if (slot.sequence.load(std::memory_order_acquire) != sequence) return;
    auto const at = slot.at_us.load(std::memory_order_relaxed);
    if (slot.sequence.load(std::memory_order_acquire) != sequence) return;
    subscriber_lag_us_.store(std::max<std::int64_t>(0, steady_us() - at),
                             std::memory_order_relaxed);
}

inline void redis_adapter_impl::on_message(std::string_view channel, std::string_view payload) {
    if (!redis_message_is_mark(payload)) received_.fetch_add(1, std::memory_order_relaxed);
    if (payload.size() > opts_.max_message_bytes) {
        auto n = oversized_.fetch_add(1, std::memory_order_relaxed) + 1;
        log(n == 1 ? redis_log_level::warning : redis_log_level::debug,
            "ignored a " + std::to_string(payload.size()) + "-byte message on channel '" +
                std::string(channel) + "': longer than redis_options::max_message_bytes");
        return;
    }
    auto st = decode_redis_message(payload, msg_);
    if (st == decode_status::unsupported_version) return unsupported(channel, payload);
    if (st != decode_status::ok) return malformed(channel, to_string(st));
    bool const sequenced = msg_.version == redis_message_shared_id_version;
    if (is_own(msg_.origin)) { // delivered here when it was emitted
        if (msg_.version == redis_message_mark_version) return;
        echoes_.fetch_add(1, std::memory_order_relaxed);
        // A predecessor's (adapter::succeed) numbers its own sequence: not ours to time.
        if (msg_.origin == node_id_) note_echo(msg_.sequence);
        return;
    }
    // A message must be on a channel its own target names: else it was crafted or
    // misrouted (a foreign publisher reusing our prefix). `via`: that room ("" the
    // namespace channel).
    std::string_view via;
    bool on_its_channel = redis_channel_matches(channel, opts_.channel_prefix, msg_.nsp, {});
    for (std::size_t i = 0; !on_its_channel && i < msg_.rooms.size(); ++i)
        if (redis_channel_matches(channel, opts_.channel_prefix, msg_.nsp, msg_.rooms[i])) {
            on_its_channel = true;
            via = msg_.rooms[i];
        }
    if (!on_its_channel) return malformed(channel, "message on a channel it does not target");
    if (msg_.version == redis_message_lost_version) return on_lost_notice();
    if (msg_.version == redis_message_mark_version) return on_channel_mark(channel, via);
    if (msg_.channel_number != 0) check_channel_number(channel, via, sequenced);
    if (sequenced) return on_sequenced_message();
    if (!filter_.accept(msg_.origin, msg_.sequence)) {
        duplicates_.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    auto host = host_.lock();
    if (!host) return; // not attached yet, or the server is gone
    auto event = encoded_event::from_body(msg_.event, msg_.body);
    std::lock_guard<std::mutex> gate(deliver_gate_);
    if (closed_flag_.load(std::memory_order_acquire)) return;
    host->deliver_remote(msg_.nsp, msg_.rooms, msg_.except, std::move(event));
    delivered_.fetch_add(1, std::memory_order_relaxed);
}

// Another node's emit of a namespace with shared history, with the id its origin gave it.
// Copies (one per target room channel, or read back by a recovery) are dropped by id.
inline void redis_adapter_impl::on_sequenced_message() {
    if (msg_.event_id == 0) return malformed({}, "shared-history message without an id");
    if (sequenced_nsps_seen_.find(msg_.nsp) == sequenced_nsps_seen_.end()) {
        sequenced_nsps_seen_.emplace(msg_.nsp);
        std::lock_guard<std::mutex> lock(mutex_);
        if (sequenced_nsps_.find(msg_.nsp) == sequenced_nsps_.end())
            sequenced_nsps_.emplace(std::string(msg_.nsp), std::chrono::milliseconds(0));
    }
    auto event = encoded_event::from_body(msg_.event, msg_.body);
    if (recovery_.holding()) {
        if (recovery_.hold({std::string(msg_.origin), std::string(msg_.nsp), msg_.rooms,
                            msg_.except, std::move(event), msg_.event_id},
                           opts_.max_pending_emits))
            give_up_recovery();
        return;
    }
    auto host = host_.lock();
    if (!host) return;
    std::lock_guard<std::mutex> gate(deliver_gate_);
    if (closed_flag_.load(std::memory_order_acquire)) return;
    if (deliver_shared(*host, msg_.origin, msg_.nsp, msg_.rooms, msg_.except, std::move(event),
                       msg_.event_id))
        delivered_.fetch_add(1, std::memory_order_relaxed);
}

// Hands another node's shared-history event to the host once: one origin's ids increase
// in the order it published them, so an id at or below the last one from that origin (in
// that namespace) is a copy. Strand, deliver_gate_ held.
inline bool redis_adapter_impl::deliver_shared(adapter_host& host, std::string_view origin,
                                               std::string_view nsp,
                                               std::vector<std::string> const& rooms,
                                               std::vector<std::string> const& except,
                                               std::shared_ptr<encoded_event> event,
                                               std::uint64_t id) {
    shared_key_.assign(origin.data(), origin.size());
    shared_key_ += '\0';
    shared_key_.append(nsp.data(), nsp.size());
    if (!shared_filter_.accept(shared_key_, id)) {
        duplicates_.fetch_add(1, std::memory_order_relaxed);
        return false;
    }
    host.deliver_sequenced(nsp, rooms, except, std::move(event), id, origin);
    return true;
}

// A message of a format this build does not know: a node of another version shares the
// channels. Counted (also as malformed), and said clearly once per format.
inline void redis_adapter_impl::unsupported(std::string_view channel, std::string_view payload) {
    unsupported_versions_.fetch_add(1, std::memory_order_relaxed);
    auto const version = static_cast<unsigned char>(payload[3]);
    bool const first = versions_reported_.insert(version).second;
    static char const hex[] = "0123456789abcdef";
    std::string const v = {'0', 'x', hex[version >> 4], hex[version & 15]};
    malformed_.fetch_add(1, std::memory_order_relaxed);
    log(first ? redis_log_level::error : redis_log_level::debug,
        "ignored a message in format " + v + " on channel '" + std::string(channel) +
            "': a node of another sse version publishes here (this one reads 0x01, 0x82, "
            "0x83 and 0x88, with or without a channel number); upgrade every node that shares "
            "a history together (README: Rolling upgrade)");
}

inline void redis_adapter_impl::on_lost_notice() {
    lost_notices_.fetch_add(1, std::memory_order_relaxed);
    log(redis_log_level::warning, "node " + std::string(msg_.origin) +
                                      " lost emits of namespace '" + std::string(msg_.nsp) +
                                      "' before Redis had them: their clients here reset");
    auto host = host_.lock();
    if (!host) return;
    std::lock_guard<std::mutex> gate(deliver_gate_);
    if (closed_flag_.load(std::memory_order_acquire)) return;
    host->reset_clients(msg_.nsp, msg_.rooms, "lost_events");
}

inline void redis_adapter_impl::malformed(std::string_view channel, char const* why) {
    auto n = malformed_.fetch_add(1, std::memory_order_relaxed) + 1;
    // The first one is worth a warning; a flood is not worth a flood of logs.
    log(n == 1 ? redis_log_level::warning : redis_log_level::debug,
        "ignored a malformed message on channel '" + std::string(channel) + "': " + why);
}

} // namespace sse::detail

#endif
