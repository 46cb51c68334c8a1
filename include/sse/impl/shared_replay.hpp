// sse/impl/shared_replay.hpp - namespace_'s replay from an adapter's shared history
// (a sequencing adapter: Redis with shared_history). Included by impl/namespace.hpp.
#ifndef SSE_IMPL_SHARED_REPLAY_HPP
#define SSE_IMPL_SHARED_REPLAY_HPP

#include <boost/asio/post.hpp>

#include <algorithm>
#include <optional>

namespace sse {

// ---- replay from an adapter's shared history ----------------------------------------------
// The logs here hold only what this node received; a sequencing adapter (Redis) keeps every
// room's events. Its replay is fetched, then queued in front of the client's first plan:
// the client stays held (not planned) meanwhile, at the head it was admitted at, so the
// missed events (at most that head) and the live ones (after it) cannot interleave.

inline bool namespace_::shared_id_ahead(std::uint64_t id) {
    // A larger lead than the clocks' agreement is not an id any node gave out, and must not
    // move this node's ids ahead for good.
    return detail::hybrid_id_unix_ms(id) > detail::unix_ms_now() + detail::max_clock_skew_us / 1000;
}

inline void namespace_::fetch_replay(client& c) {
    std::vector<std::string> rooms;
    std::shared_ptr<adapter> a;
    history_options h;
    std::optional<std::uint64_t> after;
    {
        std::lock_guard<std::mutex> lock(log_mutex_);
        if (!state_of(c).registered() || c.replay_ != client::replay_state::pending) return;
        for (auto const& m : state_of(c).memberships())
            rooms.push_back(m.room->name());
        after = detail::parse_event_id(c.last_event_id());
        a = adapter_interest_;
        h = history_opts_;
    }
    if (!after || !a || shared_id_ahead(*after))
        return finish_replay(c, history_result{"unknown_id", {}}, rooms);
    {
        std::lock_guard<std::mutex> lock(log_mutex_);
        if (!state_of(c).registered()) return; // gone meanwhile: its window would stay
        replay_windows_.open(&c, *after, c.admitted_head_);
    }
    a->fetch_history(
        name_, rooms, *after, h,
        [self = shared_from_this(), who = c.shared_from_this(), rooms](history_result r) mutable {
            net::post(who->get_executor(),
                      [self, who, rooms = std::move(rooms), r = std::move(r)]() {
                          self->finish_replay(*who, r, rooms);
                      });
        });
}

inline void namespace_::finish_replay(client& c, history_result r,
                                      std::vector<std::string> const& fetched) {
    std::lock_guard<std::mutex> lock(log_mutex_);
    if (!state_of(c).registered() || c.replay_ != client::replay_state::pending) return;
    auto const upto = c.admitted_head_;
    auto const after = detail::parse_event_id(c.last_event_id()).value_or(0);
    std::vector<event_ptr> missed;
    std::vector<history_event> above; // after the head at admission
    std::size_t bytes = 0;
    std::string why = r.reset_reason;
    std::vector<std::uint64_t> found; // the window's ids Redis had (detail/replay_windows.hpp)
    if (why.empty()) {
        for (auto& e : r.events) {
            if (!e.event || e.id <= after) continue;
            if (e.id <= upto) found.push_back(e.id);
            if (e.id > upto) { // later ones come live (see deliver_read_ahead)
                above.push_back(std::move(e));
                continue;
            }
            bool excluded = false;
            for (auto const& x : e.except)
                excluded = excluded || state_of(c).in_room(x);
            if (excluded) continue;
            e.event->stamp(e.id);
            bytes += e.event->wire().size();
            missed.push_back(std::move(e.event));
        }
        if (bytes > opts_.max_buffered_bytes / 2) why = "history_too_large";
    }
    // An event of the window that came late while this was read (below the head, so not
    // sent) and that the read did not find: the client is told after what it is sent now.
    // The window stays (also after a reset): one that comes later still is owed a reset.
    bool const late_missed =
        replay_windows_.read(&c, std::move(found), detail::unix_us_now()) && why.empty();
    if (!why.empty()) {
        resets_.fetch_add(1, std::memory_order_relaxed);
        c.replay_ = client::replay_state::none; // nothing older is owed after a reset
        // Stamped at least with its Last-Event-ID (admission skips live events up to it):
        // a head below it, on a node behind the one it came from, would move the browser's
        // lastEventId back, and its next reconnect would replay what it had. And with the
        // history's head when it was read: what Redis had then and this node never received
        // (stored before it subscribed) cannot come after the reset in order; the reset
        // covers it, and nothing at or below the stamp is sent after it.
        auto stamp = shared_id_ahead(after) ? upto : std::max(upto, after);
        if (!shared_id_ahead(r.head)) stamp = std::max(stamp, r.head);
        core_.resume_after(state_of(c), stamp);
        c.enqueue(make_reset(c, why.c_str(), stamp));
    } else {
        replays_.fetch_add(1, std::memory_order_relaxed);
        c.replay_ = client::replay_state::done;
        if (!missed.empty()) c.enqueue_all(missed);
        if (late_missed) core_.reset(state_of(c), detail::reset_reason::late_event);
    }
    c.held_ = false;
    core_.wake(state_of(c));
    post_flush_pass();
    // Rooms joined while the fetch ran: their missed events are a late join's.
    if (c.replay_ == client::replay_state::done)
        for (auto const& m : state_of(c).memberships())
            if (std::find(fetched.begin(), fetched.end(), m.room->name()) == fetched.end())
                fetch_late_join(c, m.room->name(), after);
    if (c.replay_ == client::replay_state::done) deliver_read_ahead(c, std::move(above));
}

// Events a replay read found above the head at admission come live, except those Redis had
// before this node subscribed to their channels. When the head is below the Last-Event-ID
// (a new or idle node; the client comes from a node that was ahead) such events may be
// above both, and nothing would send them (found by the cross-node simulation,
// strict_replay_upto). So they go through the live path now, as a catch-up's do: a copy of one that
// came is dropped, one that newer ids overtook resets the clients it was for. Posted: this holds
// the log lock, and delivery takes the emit lock first.
inline void namespace_::deliver_read_ahead(client& c, std::vector<history_event> events) {
    auto a = adapter_interest_;
    if (events.empty() || !a) return;
    net::post(c.get_executor(), [self = shared_from_this(), here = std::string(a->node_id()),
                                 events = std::move(events)]() mutable {
        for (auto& e : events) {
            if (e.origin == here) continue; // emitted here: in the logs already
            self->deliver_sequenced(e.rooms, e.except, std::move(e.event), e.id, e.origin);
        }
    });
}

inline void namespace_::fetch_late_join(client& c, std::string_view room, std::uint64_t after) {
    // The rooms it had besides this one (an event also sent to one of them reached it).
    std::vector<std::string> had{c.id()};
    for (auto const& m : state_of(c).memberships())
        if (m.room->name() != room) had.push_back(m.room->name());
    auto a = adapter_interest_;
    if (!a) return;
    auto const upto = c.admitted_head_;
    net::post(c.get_executor(), [self = shared_from_this(), who = c.shared_from_this(), a,
                                 room = std::string(room), after, upto, h = history_opts_,
                                 had = std::move(had)]() mutable {
        a->fetch_history(self->name_, {room}, after, h,
                         [self, who, upto, had = std::move(had)](history_result r) mutable {
                             net::post(who->get_executor(),
                                       [self, who, upto, had = std::move(had), r = std::move(r)]() {
                                           self->finish_late_join(*who, r, upto, had);
                                       });
                         });
    });
}

// A room new to this node: the adapter subscribes to it asynchronously, so what other nodes
// publish to it until Redis confirms the subscription would reach no client here. Once the
// subscription is in place (the adapter runs the read only then), the room's history after
// the head at the join is read: what is missing is delivered, in id order (a copy of a live
// message is dropped; one that newer ids overtook resets the clients it was for). If the
// history no longer covers it, the room's clients get the reset event.
inline void namespace_::catch_up_room(client& c, std::string_view room) {
    auto a = adapter_interest_;
    // What would have reached the room had its subscription been instant: ids above the head
    // at the join (smaller ones could not go to its clients), emitted at most a second (the
    // clock agreement the ids assume) before the join (an idle node's head may be old: the
    // room's whole history is not owed).
    auto const after = std::max(
        core_.head(), detail::hybrid_id_at(detail::unix_us_now() - detail::max_clock_skew_us));
    // Posted: the answer may come at once, and it takes the emit lock (taken before this one).
    net::post(c.get_executor(),
              [self = shared_from_this(), a, room = std::string(room), after, h = history_opts_]() {
                  a->fetch_history(self->name_, {room}, after, h,
                                   [self, room, here = std::string(a->node_id()),
                                    asked = a.get()](history_result r) {
                                       self->finish_catch_up(room, here, std::move(r), asked);
                                   });
              });
}

// The same for the namespace channel, when the namespace is new to the node or gets a new
// adapter: what other nodes published namespace-wide before Redis confirmed it would reach
// no client admitted meanwhile (found by the simulation's strict_startup case). The read
// (its namespace log; a second back at most) runs once the subscription is in place.
inline void namespace_::catch_up_namespace() {
    std::shared_ptr<adapter> a;
    std::uint64_t after = 0;
    history_options h;
    {
        std::lock_guard<std::mutex> lock(log_mutex_);
        if (!sequenced_.load() || !adapter_interest_ || !merge_strand_) return;
        a = adapter_interest_;
        h = history_opts_;
        after = std::max(core_.head(),
                         detail::hybrid_id_at(detail::unix_us_now() - detail::max_clock_skew_us));
    }
    net::post(*merge_strand_, [self = shared_from_this(), a, after, h]() {
        a->fetch_history(
            self->name_, {}, after, h,
            [self, here = std::string(a->node_id()), asked = a.get()](history_result r) {
                self->finish_catch_up({}, here, std::move(r), asked);
            });
    });
}

// `room` "" is the namespace log: its clients are every client.
inline void namespace_::finish_catch_up(std::string const& room, std::string const& here,
                                        history_result r, adapter const* asked) {
    // A read that failed (the publisher is away) is not tried again: when only the publisher
    // went, nothing would read what passed before the subscription was confirmed, so the
    // room's clients are told (found by the simulation's strict_catch_up case). Not when the
    // adapter was swapped out meanwhile (its reads fail as it closes; the new one carries on).
    if (r.reset_reason == "history_unavailable") {
        std::lock_guard<std::mutex> lock(log_mutex_);
        if (adapter_interest_.get() != asked) return;
    }
    if (!r.reset_reason.empty()) {
        reset_clients(room.empty() ? std::vector<std::string>{} : std::vector<std::string>{room},
                      r.reset_reason);
        return;
    }
    for (auto& e : r.events) {
        if (e.origin == here) continue; // emitted here: in the logs already
        deliver_sequenced(e.rooms, e.except, std::move(e.event), e.id, e.origin);
    }
}

inline void namespace_::finish_late_join(client& c, history_result r, std::uint64_t upto,
                                         std::vector<std::string> const& had) {
    std::lock_guard<std::mutex> lock(log_mutex_);
    if (!state_of(c).registered() || c.replay_ != client::replay_state::done) return;
    // Owed: the room's events it missed while disconnected (up to its admission) that no room
    // it had carried. It has newer ids already, so they cannot follow in order: a reset.
    bool owed = !r.reset_reason.empty();
    auto const after = detail::parse_event_id(c.last_event_id()).value_or(0);
    for (auto const& e : r.events) {
        if (owed) break;
        if (e.id <= after || e.id > upto || e.rooms.empty()) continue;
        bool had_it = false;
        for (auto const& room : e.rooms)
            had_it = had_it || std::find(had.begin(), had.end(), room) != had.end();
        for (auto const& x : e.except)
            had_it = had_it || state_of(c).in_room(x);
        owed = !had_it;
    }
    if (!owed) return;
    c.replay_ = client::replay_state::none;
    core_.reset(state_of(c), detail::reset_reason::history_gap);
    post_flush_pass();
}

} // namespace sse

#endif
