// sse/impl/redis_publish.hpp - how the Redis adapter publishes this node's emits: numbered
// under its lock on any thread, queued and written on its strand, and what it tells the
// other nodes about emits that never reach Redis (included by impl/redis_adapter.hpp).
#ifndef SSE_IMPL_REDIS_PUBLISH_HPP
#define SSE_IMPL_REDIS_PUBLISH_HPP

namespace sse::detail {

inline void redis_adapter_impl::broadcast(broadcast_packet const& packet) {
    if (closed_flag_.load(std::memory_order_acquire)) return;
    redis_outgoing m;
    m.channels = channels_for(packet);
    m.payload =
        encode_redis_message(packet.event->id(), node_id_, packet.nsp, packet.rooms, packet.except,
                             packet.event->body(), redis_message_version, opts_.channel_numbers);
    std::lock_guard<std::mutex> lock(mutex_);
    if (closed_) return;
    // A hard bound for a strand that does not keep up; the queue applies the real one.
    if (intake_.size() >= opts_.max_pending_emits + opts_.max_in_flight + 1) {
        intake_dropped_.fetch_add(1, std::memory_order_relaxed);
        note_lost_locked(packet.nsp, packet.rooms, packet.event->id(), false);
        return;
    }
    m.sequence = ++sequence_;
    set_redis_message_sequence(m.payload, m.sequence);
    note_published(m.sequence);
    intake_.push_back(std::move(m));
    if (!publish_posted_) {
        publish_posted_ = true;
        net::post(strand_, [self = shared_from_this()] { self->on_intake(); });
    }
}

inline void redis_adapter_impl::broadcast_sequenced(broadcast_packet const& packet) {
    if (closed_flag_.load(std::memory_order_acquire)) return;
    redis_outgoing m;
    m.channels = channels_for(packet);
    auto const base = redis_channel(opts_.channel_prefix, packet.nsp, {});
    std::vector<std::string_view> rooms;
    for (auto const& r : packet.rooms)
        if (std::find(rooms.begin(), rooms.end(), r) == rooms.end()) rooms.push_back(r);
    auto& a = m.script_args;
    a.reserve(12 + rooms.size() + 2 * m.channels.size());
    a.emplace_back("EVALSHA");
    a.push_back(append_sha());
    a.emplace_back("0");
    a.push_back(base);
    a.push_back(node_id_);
    a.emplace_back(); // the origin sequence, under the lock
    a.push_back(std::to_string(packet.history.max_events));
    a.push_back(std::to_string(std::max<std::int64_t>(1, packet.history.max_age.count())));
    a.push_back(encode_redis_message(packet.event->id(), node_id_, packet.nsp, packet.rooms,
                                     packet.except, packet.event->body(),
                                     redis_message_shared_id_version, opts_.channel_numbers));
    a.push_back(std::to_string(packet.event->id()));
    a.push_back(std::to_string(rooms.size()));
    for (auto r : rooms)
        a.emplace_back(r);
    a.push_back(std::to_string(m.channels.size()));
    for (auto const& ch : m.channels)
        a.push_back(ch);
    // The channel numbers follow, on the strand (number_channels).
    std::lock_guard<std::mutex> lock(mutex_);
    if (closed_) return;
    learn(packet.nsp, packet.history.max_age);
    if (intake_.size() >= opts_.max_pending_emits + opts_.max_in_flight) {
        intake_dropped_.fetch_add(1, std::memory_order_relaxed);
        note_lost_locked(packet.nsp, packet.rooms, packet.event->id(), true);
        return;
    }
    m.sequence = ++sequence_;
    a[5] = std::to_string(m.sequence);
    set_redis_message_sequence(a[8], m.sequence);
    note_published(m.sequence);
    intake_.push_back(std::move(m));
    if (!publish_posted_) {
        publish_posted_ = true;
        net::post(strand_, [self = shared_from_this()] { self->on_intake(); });
    }
}

// Own message `sequence` is queued for PUBLISH now (mutex_ held).
inline void redis_adapter_impl::note_published(std::uint64_t sequence) noexcept {
    auto& slot = published_at_[sequence % lag_ring];
    slot.at_us.store(steady_us(), std::memory_order_relaxed);
    slot.sequence.store(sequence, std::memory_order_release);
}

inline void redis_adapter_impl::on_intake() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        publish_posted_ = false;
        intake_.swap(batch_);
    }
    // Write as we go: the pending bound then only counts emits that could not go out.
    for (auto& m : batch_) {
        number_channels(m);
        if (!queue_.push(std::move(m)))
            note_lost(m); // not moved from when refused
        else
            ++enqueued_;
        drain_publishes();
    }
    batch_.clear();
    queue_dropped_.store(queue_.dropped(), std::memory_order_relaxed);
}

// Strand, in publish order: each channel's next number, written where the message says
// (one channel: into the payload; several: kept, written into each copy as it goes
// out; a script: as arguments, the script writes them). A message dropped after this
// leaves a gap its receivers see: it is lost.
inline void redis_adapter_impl::number_channels(redis_outgoing& m) {
    if (!opts_.channel_numbers) return;
    if (!m.script_args.empty()) {
        for (auto const& ch : m.channels)
            m.script_args.push_back(redis_channel_number_bytes(channel_counters_.next(ch)));
        return;
    }
    if (m.channels.size() == 1) {
        set_redis_message_channel_number(m.payload, channel_counters_.next(m.channels[0]));
        return;
    }
    m.channel_numbers.reserve(m.channels.size());
    for (auto const& ch : m.channels)
        m.channel_numbers.push_back(channel_counters_.next(ch));
}

inline void redis_adapter_impl::drain_publishes() {
    if (publisher_ready()) {
        while (auto const* m = queue_.start_next()) {
            if (!m->script_args.empty()) {
                std::vector<char const*> argv;
                std::vector<std::size_t> lens;
                argv.reserve(m->script_args.size() + 1);
                lens.reserve(m->script_args.size() + 1);
                for (auto const& x : m->script_args) {
                    argv.push_back(x.data());
                    lens.push_back(x.size());
                }
                if (sharded()) {
                    // The script stores it and publishes nothing (its channels are other
                    // slots): the copies go to their shards once it answers
                    // (publish_script_copies). Its arguments end at the channel count, 0.
                    std::size_t const count_at =
                        11 + (argv.size() > 10 ? std::strtoul(argv[10], nullptr, 10) : 0);
                    if (count_at < argv.size()) {
                        argv.resize(count_at + 1);
                        lens.resize(count_at + 1);
                        argv[count_at] = "0";
                        lens[count_at] = 1;
                    }
                }
                // On a cluster the keys are hash-tagged, one declared (place_script_keys);
                // hiredis copies the arguments before this scope ends.
                std::array<std::string, 3> placed;
                if (topology_ == redis_topology::cluster) {
                    placed = script_keys(m->script_args[3]);
                    argv[2] = placed[0].data();
                    lens[2] = placed[0].size();
                    argv[3] = placed[2].data();
                    lens[3] = placed[2].size();
                    argv.insert(argv.begin() + 3, placed[1].data());
                    lens.insert(lens.begin() + 3, placed[1].size());
                }
                if (!pub_.conn->command(tag_publish, static_cast<int>(argv.size()), argv.data(),
                                        lens.data())) {
                    pub_.conn->abort("could not write EVAL");
                    queue_pending_.store(queue_.pending(), std::memory_order_relaxed);
                    return;
                }
                if (!sharded()) note_written(*m); // sharded: its copies go on its answer
                continue;
            }
            if (sharded()) {
                // Each copy goes to its channel's shard, which answers for it there.
                for (std::size_t i = 0; i < m->channels.size(); ++i) {
                    std::string copy = m->payload;
                    if (i < m->channel_numbers.size())
                        set_redis_message_channel_number(copy, m->channel_numbers[i]);
                    shard_publish(m->channels[i], std::move(copy));
                }
                note_written(*m);
                // The last acknowledge frees `m`: count first.
                for (std::size_t i = 0, n = m->channels.size(); i < n; ++i)
                    if (queue_.acknowledge()) published_.fetch_add(1, std::memory_order_relaxed);
                if (queue_.pending() == 0 && queue_.in_flight() == 0)
                    tell_lost_namespaces(*pub_.conn);
                continue;
            }
            for (std::size_t i = 0; i < m->channels.size(); ++i) {
                auto const& ch = m->channels[i];
                std::string const* payload = &m->payload;
                if (i < m->channel_numbers.size()) { // hiredis copies it as it is now
                    numbered_copy_ = m->payload;
                    set_redis_message_channel_number(numbered_copy_, m->channel_numbers[i]);
                    payload = &numbered_copy_;
                }
                char const* argv[3] = {"PUBLISH", ch.data(), payload->data()};
                std::size_t lens[3] = {7, ch.size(), payload->size()};
                if (!pub_.conn->command(tag_publish, 3, argv, lens)) {
                    pub_.conn->abort("could not write PUBLISH");
                    queue_pending_.store(queue_.pending(), std::memory_order_relaxed);
                    return;
                }
            }
            note_written(*m);
        }
    }
    queue_pending_.store(queue_.pending(), std::memory_order_relaxed);
    if (!waiting_fetches_.empty() && publisher_ready()) run_waiting_fetches();
}

// An emit that will never reach Redis (past max_pending_emits, or past it when a dropped link
// sends the unanswered ones back to the queue): its namespace's clients on the other nodes
// are told once the emits kept meanwhile are out (a notice after them). Pub/sub does not keep
// the notice for a node whose subscriber is away then, so with shared history the loss is
// also written into the history (raise_history_floor), where that node's reads find it.
inline void redis_adapter_impl::note_lost(redis_outgoing const& m) {
    redis_message d;
    auto const& bytes = m.script_args.empty() ? m.payload : m.script_args[8];
    if (decode_redis_message(bytes, d) != decode_status::ok) return;
    std::lock_guard<std::mutex> lock(mutex_);
    note_lost_locked(d.nsp, d.rooms, d.event_id, d.version == redis_message_shared_id_version);
}

// mutex_ held. At most 1 024 namespaces and 256 rooms each are told apart (then: the whole
// namespace).
inline void redis_adapter_impl::note_lost_locked(std::string_view nsp,
                                                 std::vector<std::string> const& rooms,
                                                 std::uint64_t id, bool sequenced) {
    auto it = lost_emits_.find(nsp);
    if (it == lost_emits_.end()) {
        if (lost_emits_.size() >= 1024) return;
        it = lost_emits_.emplace(std::string(nsp), lost_emits{}).first;
    }
    auto& l = it->second;
    l.sequenced = l.sequenced || sequenced;
    l.max_id = std::max(l.max_id, id);
    if (rooms.empty() || l.rooms.size() + rooms.size() > 256) l.whole = true;
    if (!l.whole) l.rooms.insert(rooms.begin(), rooms.end());
}

inline void redis_adapter_impl::tell_lost_namespaces(redis_connection& c) {
    std::map<std::string, lost_emits, std::less<>> lost;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        lost.swap(lost_emits_);
    }
    static std::vector<std::string> const none;
    for (auto& [nsp, l] : lost) {
        bool const floor = l.sequenced && l.max_id > 0;
        if (floor)
            raise_history_floor(c, nsp, l,
                                sharded() ? tag_lost_told : redis_connection::tag_ignore);
        publish_lost(c, nsp, none, {redis_channel(opts_.channel_prefix, nsp, {})},
                     sharded() ? redis_connection::tag_ignore : tag_lost_told);
        // Kept until the told command answers (its shard link resends a sharded notice).
        if (floor || !sharded()) lost_told_.emplace_back(nsp, std::move(l));
    }
}

// The publisher dropped: what was told and not answered may not have run; told again with
// the next notices.
inline void redis_adapter_impl::retell_lost() {
    if (lost_told_.empty()) return;
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto const& [nsp, l] : lost_told_) {
        auto& into = lost_emits_[nsp];
        into.sequenced = into.sequenced || l.sequenced;
        into.whole = into.whole || l.whole;
        into.max_id = std::max(into.max_id, l.max_id);
        into.rooms.insert(l.rooms.begin(), l.rooms.end());
    }
    lost_told_.clear();
}

// The lost emits' rooms (the namespace log, if one was namespace-wide) get a replay floor at
// their highest id, and the history's head rises to it (redis_lost_script): a history read
// after an id below it, by any node and at any time while the logs live, finds the room
// gapped and resets its clients instead of a silent hole.
inline void redis_adapter_impl::raise_history_floor(redis_connection& c, std::string const& nsp,
                                                    lost_emits const& l, int tag) {
    std::vector<std::string> args = {"EVAL", redis_lost_script, "0",
                                     redis_channel(opts_.channel_prefix, nsp, {}),
                                     std::to_string(l.max_id)};
    if (!l.whole)
        for (auto const& r : l.rooms)
            args.push_back(r);
    if (topology_ == redis_topology::cluster) place_script_keys(args);
    std::vector<char const*> argv;
    std::vector<std::size_t> lens;
    for (auto const& a : args) {
        argv.push_back(a.data());
        lens.push_back(a.size());
    }
    c.command(tag, static_cast<int>(argv.size()), argv.data(), lens.data());
}

// Redis refused `m`: the nodes that would have received it are told to reset its rooms.
inline void redis_adapter_impl::tell_lost(redis_connection& c, redis_outgoing const& m) {
    redis_message d;
    auto const& bytes = m.script_args.empty() ? m.payload : m.script_args[8];
    if (decode_redis_message(bytes, d) != decode_status::ok) return;
    publish_lost(c, d.nsp, d.rooms, m.channels);
}

inline void redis_adapter_impl::publish_lost(redis_connection& c, std::string_view nsp,
                                             std::vector<std::string> const& rooms,
                                             std::vector<std::string> const& channels,
                                             int last_tag) {
    static std::vector<std::string> const none;
    auto const notice =
        encode_redis_message(0, node_id_, nsp, rooms, none, "event: lost\ndata: 1\n\n",
                             redis_message_lost_version, opts_.channel_numbers);
    for (std::size_t i = 0; i < channels.size(); ++i) {
        if (sharded())
            shard_publish(channels[i], notice);
        else
            c.command(i + 1 == channels.size() ? last_tag : redis_connection::tag_ignore,
                      {"PUBLISH", channels[i], notice});
    }
}

} // namespace sse::detail

#endif
