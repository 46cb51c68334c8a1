// sse/impl/namespace_membership.hpp - who is in a namespace: admission, joins and leaves,
// disconnects, and what the app can ask about them. Included by impl/namespace.hpp.
#ifndef SSE_IMPL_NAMESPACE_MEMBERSHIP_HPP
#define SSE_IMPL_NAMESPACE_MEMBERSHIP_HPP

#include <algorithm>
#include <stdexcept>

namespace sse {

// ---- admission --------------------------------------------------------------------------

inline namespace_::admission_result namespace_::admit(client& c) {
    // The response header and first events are queued under the log lock, so no event can
    // reach the client before them.
    std::string head = detail::response_head(opts_, c.handshake());
    if (opts_.retry.count() > 0) head += "retry: " + std::to_string(opts_.retry.count()) + "\n\n";
    std::shared_ptr<encoded_event> hello;
    if (opts_.connection_event)
        hello = encoded_event::make("connection", nlohmann::json{{"clientId", c.id()}});
    auto head_event = encoded_event::raw(std::move(head));

    // A shared-history id (another node's, maybe newer than any here): this node's ids go on
    // after it (lock order: the emit lock, then the log lock). An id further ahead of this
    // clock than clocks differ is forged or broken: it gets a reset (fetch_replay).
    std::unique_lock<std::mutex> ids;
    std::uint64_t seen = 0;
    if (sequenced_.load() && wants_replay(c)) {
        auto const id = detail::parse_event_id(c.last_event_id());
        if (id && !shared_id_ahead(*id)) {
            ids = std::unique_lock<std::mutex>(emit_mutex_);
            seen = *id;
            last_id_ = std::max(last_id_, seen);
        }
    }
    std::lock_guard<std::mutex> lock(log_mutex_);
    if (closed_.load() || c.close_started_.load()) return admission_result::gone;
    if (opts_.max_clients != 0 && all_.size() >= opts_.max_clients) return admission_result::full;
    std::size_t* per_address = nullptr;
    if (opts_.max_clients_per_address != 0) {
        auto const address = c.handshake().remote_endpoint().address().to_string();
        auto it = per_address_.find(address);
        if (it != per_address_.end() && it->second >= opts_.max_clients_per_address)
            return admission_result::full;
        if (!admissions_.try_take(detail::token_bucket::clock::now()))
            return admission_result::rate_limited;
        per_address = &per_address_[address]; // only now: a refused address leaves no entry
    } else if (!admissions_.try_take(detail::token_bucket::clock::now())) {
        return admission_result::rate_limited;
    }
    if (per_address) ++*per_address;
    {
        std::lock_guard<detail::word_mutex> q(c.queue_mutex_);
        c.state_.store(client::state::open);
        // Nothing leaves before the on_connection handlers ran (they may join rooms the
        // client expects to be in once it sees its first event).
        c.hold_writes_ = true;
    }
    c.enqueue(head_event);
    if (hello) c.enqueue(hello);
    if (!pass_ex_) pass_ex_ = detail::unstranded(c.get_executor().get_inner_executor());
    c.all_index_ = static_cast<std::uint32_t>(all_.size());
    all_.push_back(c.shared_from_this());

    // Its position: the head, or with a replay from the logs here, its Last-Event-ID. A
    // shared-history replay (sequencing adapter) is fetched after the handlers instead.
    bool const replay = wants_replay(c);
    std::optional<std::string_view> last;
    if (replay && !sequenced_.load()) last = client::sent_last_event_id(c.handshake());
    auto const why = core_.admit(state_of(c), c.id(), last, detail::log_clock::now());
    (void)why;      // a reset is sent by the first plan, and counted there
    c.held_ = true; // until end_admission
    c.admitted_head_ = core_.head();
    core_.resume_after(state_of(c), seen); // live events at or below it: it has them
    if (replay && sequenced_.load()) c.replay_ = client::replay_state::pending;
    if (adapter_interest_) adapter_interest_->room_added(name_, c.id());
    auto pending = c.pending_rooms_.take();
    for (auto const& room : pending)
        join_locked(c, room);
    connections_.fetch_add(1, std::memory_order_relaxed);
    return admission_result::admitted;
}

inline namespace_::admission_result namespace_::probe(client const& c) const {
    std::lock_guard<std::mutex> lock(log_mutex_);
    if (closed_.load() || c.close_started_.load()) return admission_result::gone;
    if (opts_.max_clients != 0 && all_.size() >= opts_.max_clients) return admission_result::full;
    if (opts_.max_clients_per_address != 0) {
        auto it = per_address_.find(c.handshake().remote_endpoint().address().to_string());
        if (it != per_address_.end() && it->second >= opts_.max_clients_per_address)
            return admission_result::full;
    }
    if (!admissions_.available(detail::token_bucket::clock::now()))
        return admission_result::rate_limited;
    return admission_result::admitted;
}

inline void namespace_::set_admission_rate(sse::admission_rate r) {
    detail::check_admission_rate(r);
    std::lock_guard<std::mutex> lock(log_mutex_);
    admissions_ = detail::token_bucket(r.per_second, r.burst, detail::token_bucket::clock::now());
}

inline void namespace_::end_admission(client& c) {
    bool fetch = false; // a shared-history replay: fetched outside the lock
    {
        std::lock_guard<std::mutex> lock(log_mutex_);
        if (!state_of(c).registered()) return;
        // A replay from the logs here, unless the joins made it a reset.
        if (wants_replay(c) && !sequenced_.load() &&
            state_of(c).pending_reset() == detail::reset_reason::none)
            replays_.fetch_add(1, std::memory_order_relaxed);
        fetch = c.replay_ == client::replay_state::pending;
        if (!fetch) {
            c.held_ = false; // its first plan: the replay (or reset), then live events
            core_.wake(state_of(c));
            post_flush_pass();
        }
        std::unique_lock<detail::word_mutex> q(c.queue_mutex_);
        c.hold_writes_ = false;
        if (!c.writing_ && c.queue_.has_pending()) c.start_write_locked(q);
    }
    if (fetch) fetch_replay(c);
}

inline bool namespace_::wants_replay(client const& c) const {
    return (!c.last_event_id().empty() || c.last_event_id_malformed_) && replay_enabled_.load() &&
           history_opts_.max_events > 0;
}

inline event_ptr namespace_::make_reset(client const& c, char const* why, std::uint64_t id) const {
    auto ev = encoded_event::make(
        opts_.reset_event, nlohmann::json{{"reason", why}, {"lastEventId", c.last_event_id()}});
    if (id != 0) ev->stamp(id); // moves the browser's lastEventId to where live events resume
    return ev;
}

// ---- registry changes -------------------------------------------------------------------

inline void namespace_::unregister(client& c, bool plan_first) {
    std::lock_guard<std::mutex> lock(log_mutex_);
    auto& s = state_of(c);
    if (!s.registered()) {
        c.pending_rooms_.clear();
        return;
    }
    auto const now = detail::log_clock::now();
    if (plan_first && !c.held_) plan_client(c, now, nullptr);
    // Rooms it leaves empty: the adapter loses interest in them.
    std::vector<std::string> emptied;
    if (adapter_interest_)
        for (auto const& m : s.memberships())
            if (m.room->members().size() == 1) emptied.push_back(m.room->name());
    core_.remove(s, now);
    replay_windows_.close(&c);
    if (c.queued_for_plan_) { // in the pass in progress: it must not be visited
        c.queued_for_plan_ = false;
        auto it = std::find(to_plan_.begin() + static_cast<std::ptrdiff_t>(to_plan_next_),
                            to_plan_.end(), &s);
        if (it != to_plan_.end()) *it = nullptr;
    }
    if (adapter_interest_) {
        for (auto const& room : emptied)
            if (!watched(room)) adapter_interest_->room_removed(name_, room);
        adapter_interest_->room_removed(name_, c.id());
    }
    if (opts_.max_clients_per_address != 0) {
        auto it = per_address_.find(c.handshake().remote_endpoint().address().to_string());
        if (it != per_address_.end() && --it->second == 0) per_address_.erase(it);
    }
    // Swap-remove from the flat list of all clients (the caller holds a reference).
    std::size_t const i = c.all_index_;
    if (i + 1 != all_.size()) {
        all_[i] = std::move(all_.back());
        all_[i]->all_index_ = static_cast<std::uint32_t>(i);
    }
    all_.pop_back();
}

inline void namespace_::check_room_limit(client const& c, std::size_t adding) const {
    auto const& s = static_cast<detail::client_state const&>(c);
    std::size_t const has = s.registered() ? s.memberships().size() : c.pending_rooms_.size();
    if (has + adding > opts_.max_rooms_per_client)
        throw std::length_error("[sse.too_many_rooms] a client may join at most "
                                "options::max_rooms_per_client rooms");
}

inline void namespace_::join(client& c, std::string_view room) {
    std::lock_guard<std::mutex> lock(log_mutex_);
    if (c.close_started_.load()) return;
    join_locked(c, room);
}

inline void namespace_::join_all(client& c, std::vector<std::string> const& rooms) {
    std::lock_guard<std::mutex> lock(log_mutex_);
    if (c.close_started_.load()) return;
    auto const& s = state_of(c);
    std::size_t adding = 0;
    for (std::size_t k = 0; k < rooms.size(); ++k) {
        auto const& r = rooms[k];
        auto const first = rooms.begin(), here = first + static_cast<std::ptrdiff_t>(k);
        bool const dup =
            r == c.id() || std::find(first, here, r) != here ||
            (s.registered() ? s.in_room(r)
                            : std::find(c.pending_rooms_.begin(), c.pending_rooms_.end(), r) !=
                                  c.pending_rooms_.end());
        if (!dup) ++adding;
    }
    check_room_limit(c, adding);
    for (auto const& r : rooms)
        join_locked(c, r);
}

inline void namespace_::join_locked(client& c, std::string_view room) {
    if (room == c.id()) return; // the private room is implicit
    auto& s = state_of(c);
    if (!s.registered()) {
        // Not admitted yet: remember the room, join it on admission.
        auto const& pending = c.pending_rooms_;
        if (std::find(pending.begin(), pending.end(), room) != pending.end()) return;
        check_room_limit(c, 1);
        c.pending_rooms_.get().emplace_back(room);
        return;
    }
    if (s.in_room(room)) return;
    check_room_limit(c, 1);
    // The core decides what of the room it is owed (a reconnect's missed events, in order, or
    // a reset); the flush pass sends it.
    core_.join(s, room, detail::log_clock::now());
    if (adapter_interest_) {
        auto const* r = core_.clients().find_room(std::string(room));
        if (r && r->members().size() == 1) {
            adapter_interest_->room_added(name_, room);
            if (sequenced_.load()) catch_up_room(c, room);
        }
    }
    if (c.replay_ == client::replay_state::done)
        fetch_late_join(c, room, detail::parse_event_id(c.last_event_id()).value_or(0));
    if (!c.held_) post_flush_pass();
}

inline void namespace_::leave(client& c, std::string_view room) {
    std::lock_guard<std::mutex> lock(log_mutex_);
    auto& s = state_of(c);
    if (!s.registered()) {
        if (c.pending_rooms_.empty()) return;
        auto& pending = c.pending_rooms_.get();
        pending.erase(std::remove(pending.begin(), pending.end(), room), pending.end());
        return;
    }
    auto const* r = core_.clients().find_room(std::string(room));
    bool const last = r && r->members().size() == 1 && s.in_room(room);
    if (core_.leave(s, room, detail::log_clock::now()) && last && adapter_interest_ &&
        !watched(room))
        adapter_interest_->room_removed(name_, room);
}

inline std::vector<std::string> namespace_::rooms_of(client const& c) const {
    std::lock_guard<std::mutex> lock(log_mutex_);
    auto const& s = static_cast<detail::client_state const&>(c);
    std::vector<std::string> out;
    out.push_back(c.id());
    if (!s.registered()) {
        out.insert(out.end(), c.pending_rooms_.begin(), c.pending_rooms_.end());
        return out;
    }
    for (auto const& m : s.memberships())
        out.push_back(m.room->name());
    return out;
}

// ---- introspection ----------------------------------------------------------------------

inline std::size_t namespace_::client_count() const {
    std::lock_guard<std::mutex> lock(log_mutex_);
    return all_.size();
}

inline std::vector<client_ptr> namespace_::clients() const {
    std::lock_guard<std::mutex> lock(log_mutex_);
    return all_;
}

inline client_ptr namespace_::find_client(std::string_view id) const {
    std::lock_guard<std::mutex> lock(log_mutex_);
    auto* s = core_.clients().find(id);
    return s ? client_of(*s).shared_from_this() : nullptr;
}

inline std::vector<std::string> namespace_::rooms() const {
    std::lock_guard<std::mutex> lock(log_mutex_);
    std::vector<std::string> out;
    core_.clients().for_each_room([&](detail::room const& r) {
        if (!r.members().empty()) out.push_back(r.name());
    });
    std::sort(out.begin(), out.end());
    return out;
}

inline std::vector<client_ptr> namespace_::room(std::string_view name) const {
    std::lock_guard<std::mutex> lock(log_mutex_);
    std::vector<client_ptr> out;
    if (auto const* r = core_.clients().find_room(std::string(name))) {
        out.reserve(r->members().size());
        for (auto* s : r->members())
            out.push_back(client_of(*s).shared_from_this());
    } else if (auto* s = core_.clients().find(name)) {
        out.push_back(client_of(*s).shared_from_this());
    }
    return out;
}

inline namespace_stats namespace_::stats() const {
    namespace_stats s;
    {
        std::lock_guard<std::mutex> lock(log_mutex_);
        s.clients = all_.size();
        core_.clients().for_each_room([&](detail::room const& r) {
            if (!r.members().empty()) ++s.rooms;
        });
        s.history_events = core_.history_events(detail::log_clock::now());
    }
    {
        std::lock_guard<std::mutex> lock(emit_mutex_);
        s.last_event_id = last_id_;
    }
    s.connections = connections_.load();
    s.rejected = rejected_.load();
    s.refused_full = refused_full_.load();
    s.refused_rate = refused_rate_.load();
    s.handler_errors = handler_errors_.load();
    s.tap_dropped = tap_.dropped();
    s.events_emitted = events_emitted_.load();
    s.deliveries = deliveries_.load();
    s.slow_consumers = slow_consumers_.load();
    s.oversized_events = oversized_events_.load();
    s.replays = replays_.load();
    s.resets = resets_.load();
    s.late_events = late_events_.load();
    s.queued_bytes = meters_->sample_peak();
    s.queued_bytes_peak = std::max(meters_->peak(), s.queued_bytes);
    s.write_latency = meters_->latency();
    return s;
}

} // namespace sse

#endif
