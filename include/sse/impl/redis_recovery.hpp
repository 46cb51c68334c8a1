// sse/impl/redis_recovery.hpp - how the Redis adapter makes up for what pub/sub did not
// bring (included by impl/redis_adapter.hpp; every function runs on the adapter's strand).
//
// Two kinds of holes, one way out: hold the live messages of sequenced namespaces, read the
// history after the hole, deliver what was missing in id order, then what was held. Which
// reads are wanted, running or queued, and what is held, is detail/redis_gap_recovery.hpp's
// (recovery_); this file does the reads and the deliveries it asks for.
//
// Broker gaps. When the subscriber comes back, for each namespace known to be sequenced the
// adapter reads the history after the last id delivered when it went away (its own emits
// since then do not count; a second back at least, for other nodes' clocks), for the rooms it has
// local clients in and the namespace log, once Redis confirmed the subscriptions (so a message is
// either in that read or arrives live) and the publisher is up. One that is older than what the
// node delivered meanwhile reaches its clients as a reset (late_event). Where the history cannot
// cover the gap the affected clients are told to reset.
//
// Channel gaps. Pub/sub may lose a message while the subscriber stays connected. Each
// origin numbers its messages per channel (detail/redis_channel_sequence.hpp), so the next
// message on that channel shows the hole. Without shared history nothing can be read back:
// the channel's clients get the reset event (`lost_events`). With it, the channel's room
// (or, for the namespace channel, every local room and the namespace log) is read after
// the last id that did arrive there from that origin. That origin's events in the hole
// that travel on that channel are the lost ones: they go to the namespace as they are
// (its logs drop a copy; one that newer ids overtook resets only the clients it was for),
// since the per-origin filter may already have passed newer ids of that origin from other
// channels. The read's other events are left alone: they arrived live, or are held or on
// their way (found by the cross-node simulation: through the filter, a read event moved it
// past a held message of its origin, which was then dropped as a copy).
#ifndef SSE_IMPL_REDIS_RECOVERY_HPP
#define SSE_IMPL_REDIS_RECOVERY_HPP

#include <sse/detail/hybrid_id.hpp>

#include <algorithm>

namespace sse::detail {

// ---- broker gaps ----------------------------------------------------------------------

inline void redis_adapter_impl::maybe_start_recovery() {
    if (!recovery_.broker_read_due() || closed_flag_.load(std::memory_order_acquire)) return;
    if (!subscribers_ready() || !pub_.conn || !pub_.conn->ready()) return;
    if (pending_subscriptions_.load(std::memory_order_relaxed) != 0) return;
    auto host = host_.lock();
    if (!host) return;
    std::map<std::string, std::chrono::milliseconds, std::less<>> nsps;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        nsps = sequenced_nsps_;
    }
    // Read once, here; a later outage marks its own start. (Cleared before it was read, the
    // recovery read after the head instead: this node's own emits during the outage moved it
    // past what the other nodes published meanwhile, which was then never read.)
    auto const gap_from = recovery_.begin_broker_read(nsps.size());
    if (nsps.empty()) return finish_recovery();
    auto interests = host->local_interests(); // takes the server's locks, not ours
    recovery_results_.clear();
    for (auto const& [nsp, age] : nsps) {
        std::vector<std::string> rooms;
        for (auto const& [n, room] : interests)
            if (n == nsp && !room.empty()) rooms.push_back(room);
        auto const gap = gap_from.find(nsp);
        auto const after = gap != gap_from.end() ? gap->second : host->last_delivered(nsp);
        start_fetch(nsp, rooms, after, age,
                    [self = shared_from_this(), nsp = nsp, rooms](redis_fetch_reply r) {
                        self->recovery_results_.push_back({nsp, rooms, std::move(r)});
                        if (self->recovery_.broker_read_answered()) {
                            self->finish_recovery();
                            self->maybe_start_recovery(); // a newer subscriber's turn
                        }
                    });
    }
}

// The subscriber went away: what other nodes emit from now on is read back from the
// history once it returns, after the last id delivered now (not after the ids this node
// emits meanwhile: they do not say that other nodes' events up to them arrived), and at
// least a second back (the clock agreement the ids assume): another node's event stamped
// before that head (its clock behind, or its publish slow) can reach Redis only after the
// subscriber went. Read, it is delivered or resets the clients it was for (it cannot follow
// newer ids in order); the copies the read also finds are dropped by the sequence filter.
// Found by the simulation's strict_recovery_skew case.
inline void redis_adapter_impl::mark_gap_start() {
    auto host = host_.lock();
    if (!host) return;
    std::map<std::string, std::chrono::milliseconds, std::less<>> nsps;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        nsps = sequenced_nsps_;
    }
    auto const second_back = hybrid_id_at(unix_us_now() - max_clock_skew_us);
    for (auto const& kv : nsps) // the earliest start is kept
        recovery_.gap_started(kv.first, std::min(host->last_delivered(kv.first), second_back));
}

// The history cannot be read in time (the publisher stays away while messages pile up):
// deliver what was held and tell every client of the sequenced namespaces to refetch.
// A SUBSCRIBE Redis has not confirmed yet: what its channel carries until then reaches no
// read and no client, and the resets went out before it. So a new gap starts now, read
// once the subscriptions are in place and the publisher is back (found by the simulation's
// strict_give_up case: such events were neither delivered nor reset).
inline void redis_adapter_impl::give_up_recovery() {
    recovery_.give_up(); // queued channel gaps: their namespaces reset below
    recovery_results_.clear();
    {
        std::lock_guard<std::mutex> lock(mutex_);
        for (auto const& kv : sequenced_nsps_) {
            redis_fetch_reply r;
            r.status = "history_unavailable";
            recovery_results_.push_back({kv.first, {}, std::move(r)});
        }
    }
    finish_recovery();
    if (pending_subscriptions_.load(std::memory_order_relaxed) == 0) return;
    mark_gap_start();
    recovery_.subscriber_back();
}

inline void redis_adapter_impl::finish_recovery() {
    auto host = host_.lock();
    auto results = std::move(recovery_results_);
    recovery_results_.clear();
    if (!host || closed_flag_.load(std::memory_order_acquire)) {
        recovery_.release(); // nobody to deliver to
        return;
    }
    std::uint64_t recovered = 0;
    std::unique_lock<std::mutex> gate(deliver_gate_);
    if (closed_flag_.load(std::memory_order_acquire)) return;
    for (auto& res : results) {
        auto& r = res.reply;
        if (!r.status.empty()) {
            // The gap cannot be covered: every client of the namespace must refetch.
            log(redis_log_level::warning,
                "lost events of namespace '" + res.nsp + "' during a Redis outage: " + r.status);
            host->reset_clients(res.nsp, {}, r.status);
            history_resets_.fetch_add(1, std::memory_order_relaxed);
            continue;
        }
        for (auto& e : r.events) {
            if (is_own(e.origin)) continue; // delivered here when it was emitted
            if (deliver_shared(*host, e.origin, res.nsp, e.rooms, e.except, std::move(e.event),
                               e.id))
                ++recovered;
        }
        reset_gapped(*host, res.nsp, r.gapped);
    }
    if (!results.empty()) recoveries_.fetch_add(1, std::memory_order_relaxed);
    recovered_events_.fetch_add(recovered, std::memory_order_relaxed);
    gate.unlock();
    // Else a newer subscriber, or a channel's read, is waiting its turn.
    if (recovery_.release_due()) release_held();
}

// The logs a read found gapped ("" = the namespace log) cannot be made up: their clients
// reset (the namespace's all of them when its log is among them).
inline void redis_adapter_impl::reset_gapped(adapter_host& host, std::string const& nsp,
                                             std::vector<std::string> const& gapped) {
    if (gapped.empty()) return;
    bool const all = std::find(gapped.begin(), gapped.end(), std::string()) != gapped.end();
    host.reset_clients(nsp, all ? std::vector<std::string>{} : gapped, "history_gap");
    history_resets_.fetch_add(1, std::memory_order_relaxed);
}

// Delivers what arrived while a read was running, in arrival order (copies dropped).
inline void redis_adapter_impl::release_held() {
    auto held = recovery_.release();
    auto host = host_.lock();
    if (!host) return;
    std::lock_guard<std::mutex> gate(deliver_gate_);
    if (closed_flag_.load(std::memory_order_acquire)) return;
    for (auto& m : held) {
        if (deliver_shared(*host, m.origin, m.nsp, m.rooms, m.except, std::move(m.event), m.id))
            delivered_.fetch_add(1, std::memory_order_relaxed);
    }
}

// ---- channel gaps -------------------------------------------------------------------------

// The message in msg_ came on `channel` (for `room`; "" the namespace channel) with a
// channel number: a hole before it means pub/sub lost messages of its origin there.
inline void redis_adapter_impl::check_channel_number(std::string_view channel,
                                                     std::string_view room, bool sequenced) {
    auto const seen = channel_numbers_seen_.observe(channel, msg_.origin, msg_.channel_number,
                                                    msg_.sequence, msg_.event_id);
    if (seen.what == redis_channel_gaps::kind::gap)
        on_channel_gap(channel, room, sequenced, seen, msg_.event_id);
}

// Pub/sub lost `seen.missed` messages of msg_'s origin on `channel`, with ids after
// `seen.last_event_id` and below `upto` (seen by a later message, or by a mark).
inline void redis_adapter_impl::on_channel_gap(std::string_view channel, std::string_view room,
                                               bool sequenced,
                                               redis_channel_gaps::observation const& seen,
                                               std::uint64_t upto) {
    auto const total = channel_gaps_total_.fetch_add(seen.missed, std::memory_order_relaxed);
    std::vector<std::string> rooms;
    if (!room.empty()) rooms.emplace_back(room);
    bool const read_back = sequenced && !recovery_.channel_gaps_full();
    log(total == 0 ? redis_log_level::warning : redis_log_level::debug,
        "Redis pub/sub lost " + std::to_string(seen.missed) + " message(s) of node " +
            std::string(msg_.origin) + " on channel '" + std::string(channel) + "': " +
            (read_back ? "reading them back from the history"
                       : "the clients of its room reset (lost_events)"));
    if (!read_back) {
        auto host = host_.lock();
        if (!host) return;
        std::lock_guard<std::mutex> gate(deliver_gate_);
        if (closed_flag_.load(std::memory_order_acquire)) return;
        host->reset_clients(msg_.nsp, rooms, "lost_events");
        return;
    }
    recovery_.channel_gap_found({0, std::string(msg_.nsp), std::string(channel), std::string(room),
                                 std::string(msg_.origin), seen.last_event_id, upto});
    start_channel_recovery(); // this message and the next ones wait for the read
}

inline void redis_adapter_impl::start_channel_recovery() {
    auto const* due = recovery_.channel_read_due();
    if (due == nullptr) return;
    auto host = host_.lock();
    if (!host) return;
    auto const& g = *due;
    std::vector<std::string> rooms;
    if (!g.room.empty())
        rooms.push_back(g.room);
    else
        for (auto const& [n, r] : host->local_interests()) // the server's locks, not ours
            if (n == g.nsp && !r.empty()) rooms.push_back(r);
    std::chrono::milliseconds age{0};
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (auto it = sequenced_nsps_.find(g.nsp); it != sequenced_nsps_.end()) age = it->second;
    }
    recovery_.channel_read_started();
    start_fetch(g.nsp, rooms, g.after, age,
                [self = shared_from_this(), id = g.id](redis_fetch_reply r) {
                    self->finish_channel_recovery(id, std::move(r));
                });
}

inline void redis_adapter_impl::finish_channel_recovery(std::uint64_t id, redis_fetch_reply r) {
    auto const done = recovery_.channel_read_answered(id);
    if (!done) return start_channel_recovery(); // given up meanwhile
    auto const& g = *done;
    if (auto host = host_.lock(); host && !closed_flag_.load(std::memory_order_acquire)) {
        std::lock_guard<std::mutex> gate(deliver_gate_);
        std::vector<std::string> rooms;
        if (!g.room.empty()) rooms.push_back(g.room);
        if (!r.status.empty()) {
            log(redis_log_level::warning, "could not read back what pub/sub lost on channel '" +
                                              g.channel + "': " + r.status);
            host->reset_clients(g.nsp, rooms, r.status);
            history_resets_.fetch_add(1, std::memory_order_relaxed);
        } else if (!closed_flag_.load(std::memory_order_acquire)) {
            std::uint64_t recovered = 0;
            for (auto& e : r.events) {
                // Only the lost ones. The others arrived live, or are held or on their way:
                // through the per-origin filter they would move it past the held messages
                // of their origin, which would then be dropped as copies.
                if (is_own(e.origin) || !lost_on(g, e)) continue;
                host->deliver_sequenced(g.nsp, e.rooms, e.except, std::move(e.event), e.id,
                                        e.origin);
                ++recovered;
            }
            reset_gapped(*host, g.nsp, r.gapped);
            recoveries_.fetch_add(1, std::memory_order_relaxed);
            recovered_events_.fetch_add(recovered, std::memory_order_relaxed);
        }
    }
    if (recovery_.channel_read_due() != nullptr) return start_channel_recovery();
    if (recovery_.release_due()) release_held();
}

// Whether `e` is one of the messages `g` lost: from that origin, inside the hole, and
// published on that channel.
inline bool redis_adapter_impl::lost_on(redis_channel_gap const& g, history_event const& e) const {
    if (e.origin != g.origin || e.id <= g.after || e.id >= g.upto) return false;
    auto const channels = channels_for(g.nsp, e.rooms);
    return std::find(channels.begin(), channels.end(), g.channel) != channels.end();
}

} // namespace sse::detail

#endif
