// sse/detail/delivery_core.hpp - live delivery and replay of one namespace, as one mechanism
// (sans-I/O): emits append to logs, clients read them from their position.
#ifndef SSE_DETAIL_DELIVERY_CORE_HPP
#define SSE_DETAIL_DELIVERY_CORE_HPP

#include <sse/detail/delivery_plan.hpp>
#include <sse/detail/event_log.hpp>
#include <sse/detail/registry.hpp>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sse::detail {

/// The bounds of one namespace's delivery core.
struct delivery_options {
    log_limits logs;
    /// A reconnect whose replay would pass this many bytes of one log (the namespace log,
    /// or a room it joins) gets a reset (history_too_large) instead. 0: no bound.
    std::size_t max_replay_bytes = 0;
};

/** The delivery core of one namespace: every log, every client's position, and the rules
    that make live delivery and replay the same thing.

    - An emit appends one shared record to the log of each target (the namespace log when it
      names no room; a client's private log for a room that is a client's id): the cost
      depends on the number of target rooms, never on the audience.
    - A client holds a position: the last id it was sent. `plan` merges the logs it reads
      after that position, each id once, in id order, and moves the position.
    - A reconnect with Last-Event-ID sets the position (`admit`); the reset event replaces
      what the logs can no longer give.
    - A client that a log left behind (its entries dropped before it was sent them) is a
      slow consumer: `plan` says so; the caller disconnects it or `reset`s it.

    Ids come from outside (the namespace stamps local emits, an adapter stamps its own) and
    must increase: `append` drops an id not above `head()` (an adapter may deliver the same
    event once per room channel).

    @par Thread Safety
    Not thread-safe. Its owner (namespace_) holds ONE lock per namespace, the log lock,
    around every call here, briefly, and never does socket I/O under it. Lock order,
    outermost first:
    @code
        emit order  (namespace_: stamps head()+1, hands the packet to the adapter; a
                     sequencing adapter's deliveries come back already stamped)
          -> log lock  (this core: append, admit, join, leave, remove, reset, take_woken,
                        plan, expire)
            -> a client's queue lock (the plan's events are pushed to its write queue
                                      under the log lock: a client's events enter its
                                      queue in id order, whichever thread plans it)
    @endcode

    @par Wiring (what namespace_ does with it, impl/namespace*.hpp)
    - emit / deliver_remote / deliver_sequenced: under the emit order, stamp; lock;
      `append` (false = a duplicate, dropped); post ONE flush pass if none is queued;
      unlock. When the appends not yet planned pass a quarter of a log's byte bound, the
      emitting thread runs the pass itself (back-pressure instead of drops).
    - admission: lock; `admit(c, id, Last-Event-ID)`; `join` each room asked for before;
      unlock. The client is held (not planned) until the on_connection handlers ran; then
      `wake`, and its first plan sends the replay, or the reset, then live events.
    - flush pass (an io thread): lock; `take_woken`; unlock. In batches of 64 (later
      batches posted, so other io threads share them): lock; for each client `plan` with
      no budget into a scratch vector and push it to the client's write queue (whose byte
      bound and conflation apply the slow-consumer policy); unlock. The socket write
      happens later, outside every lock (flush queue or strand).
    - a `slow_consumer` plan (a log dropped what the client was not sent: it was held too
      long) is a disconnect under that policy, else a `reset`.
    - a timer (its own, not the heartbeat): lock; `expire(now)`; unlock.
    - disconnect: lock; `remove`; unlock.
    - per-client bytes that are not events (the response head, `retry:`, the connection
      event, pings, resets) never enter a log: they go straight to the write queue.
    - a sequencing adapter (Redis shared history): the logs keep no history (the adapter
      does); a reconnect is admitted at the head and held while its missed events are
      fetched, which are then queued before its first plan (impl/shared_replay.hpp).
    `take_woken` hands out `client_state*`: the connection is a client_state (a private
    base), which only the registry writes.
*/
class delivery_core {
public:
    explicit delivery_core(delivery_options opts = {})
        : opts_(opts)
        , registry_(opts.logs) {}

    delivery_options const& options() const noexcept { return opts_; }
    /// New bounds (set_history): logs apply them from their next append or trim.
    void configure(delivery_options opts) noexcept {
        opts_ = opts;
        registry_.set_limits(opts.logs);
    }
    registry const& clients() const noexcept { return registry_; }
    /// The newest id appended: the next local emit takes head() + 1.
    std::uint64_t head() const noexcept { return head_; }

    // ---- emits (origins: local emits, per-client emits, an adapter's deliveries) ----

    /** Appends one stamped emit to the logs of its targets. False, and nothing kept, when
        its id is not above head() (a duplicate or late copy from an adapter). An emit for
        rooms that have no log keeps nothing with history off: nobody could read it.
        Returns true when the id was accepted (head() moved), whether or not a log kept it.
    */
    bool append(record_ptr const& r, log_clock::time_point now) {
        clock(now);
        if (!r || r->id <= head_) return false;
        head_ = r->id;
        if (r->rooms.empty()) {
            registry_.append_namespace(r);
            return true;
        }
        // A name is a room's, or else a client's private room (its id), as in Socket.IO.
        for (auto const& room : r->rooms) {
            client_state* c = registry_.find_room(room) ? nullptr : registry_.find(room);
            if (c)
                registry_.append_private(*c, r);
            else
                registry_.append_room(room, r, now);
        }
        return true;
    }

    // ---- clients ----

    /** Registers `c` (id `id`, viewed, not copied) and sets its position: the head for a
        new stream; with history on and a `last_event_id`, that id, so that its first flush
        replays what it missed. Returns the reset it will get, if any: unknown_id (malformed,
        or ahead of the head), history_gap (the namespace log dropped entries after it),
        history_too_large (more than max_replay_bytes to replay).
        Rooms are joined after this (`join`), and replay too (see there).
    */
    reset_reason admit(client_state& c, std::string_view id,
                       std::optional<std::string_view> last_event_id,
                       log_clock::time_point now = {}) {
        now = clock(now);
        registry_.add(c, id, head_);
        registry_.wake(c); // its first flush
        if (!last_event_id || !opts_.logs.history()) return reset_reason::none;
        auto const last = parse_event_id(*last_event_id);
        if (!last || *last > head_) return set_reset(c, reset_reason::unknown_id);
        registry_.set_position(c, *last);
        registry_.set_sent(c, *last);
        registry_.set_resumed(c, *last, head_);
        auto const& log = registry_.namespace_log();
        if (log.replay_floor(opts_.logs, now) > *last)
            return set_pending(c, reset_reason::history_gap);
        return check_size(c, log, *last);
    }

    /** Adds `c` to `room`. Which of the room's events it gets:
        - the events emitted after this join (as Socket.IO: membership at emit time
          decides), so an event older than one it has can never come;
        - and for a reconnect, the room's events it missed while disconnected (after its
          Last-Event-ID L, up to the head H0 when it came back): while its replay is not
          past H0 they are merged in order (from its position on); the ones it can no
          longer be sent in order (it has newer ids already), or that the log no longer
          holds, make it a reset (history_gap) instead. After a reset nothing older than
          the reset is owed.
        Returns the reset this join caused (none mostly). Already a member: none.
    */
    reset_reason join(client_state& c, std::string_view room, log_clock::time_point now = {}) {
        now = clock(now);
        if (!registry_.join(c, room, head_)) return reset_reason::none;
        auto const from = c.resumed_from(), upto = c.resumed_head();
        if (c.pending_reset() != reset_reason::none || from >= upto) return reset_reason::none;
        registry_.wake(c);
        sse::detail::room const* r = nullptr;
        for (auto const& m : c.memberships())
            if (m.room->name() == room) r = m.room;
        event_log const& log = r->log();
        if (log.replay_floor(opts_.logs, now) > from)
            return set_pending(c, reset_reason::history_gap);
        auto const position = c.position(), sent = c.sent();
        std::size_t const first = log.first_after(from);
        if (first == log.size() || log[first].id > upto) return reset_reason::none; // none missed
        // Missed events at or below what it was sent cannot follow any more: ids must increase.
        if (log[first].id <= sent) return set_pending(c, reset_reason::history_gap);
        if (sent < position) {
            // It was planned past ids it was not sent (not for it): move its position back to
            // what it was sent, so that the missed events merge in order, when nothing else
            // it reads would then come twice or wrongly.
            if (!can_rebase(c, *r, sent, position, upto))
                return set_pending(c, reset_reason::history_gap);
            for (auto const& m : c.memberships())
                if (m.room != r) registry_.set_from(c, *m.room, std::max(m.from, position));
            registry_.set_position(c, sent);
        }
        registry_.set_from(c, *r, sent);
        return check_size(c, log, sent);
    }

    /// Removes `c` from `room`: its events not yet sent to `c` are no longer for it.
    bool leave(client_state& c, std::string_view room, log_clock::time_point now) {
        return registry_.leave(c, room, now);
    }

    /// Unregisters `c` (disconnect).
    void remove(client_state& c, log_clock::time_point now) { registry_.remove(c, now); }

    /// `c` already has `id`, which this node may not have delivered yet (a shared-history id
    /// from another node): nothing at or below it is sent to `c` any more.
    void resume_after(client_state& c, std::uint64_t id) {
        if (id <= c.position()) return;
        registry_.set_position(c, id);
        registry_.set_sent(c, id);
    }

    /// `c` is due a plan (its planning was held, or it has bytes outside the logs).
    void wake(client_state& c) { registry_.wake(c); }

    /// The next plan of `c` is a reset (slow consumer policy, an adapter's broker gap).
    void reset(client_state& c, reset_reason why) {
        if (c.pending_reset() == reset_reason::none) registry_.set_pending_reset(c, why);
        registry_.wake(c);
    }

    /// Every member of `room` (every client when empty) gets a reset: the adapter lost events.
    void reset_room(std::string const& room, reset_reason why) {
        if (room.empty()) {
            for (client_state* c : registry_.clients())
                reset(*c, why);
        } else if (auto const* r = registry_.find_room(room)) {
            for (client_state* c : r->members())
                reset(*c, why);
        } else if (client_state* c = registry_.find(room)) {
            reset(*c, why);
        }
    }

    // ---- the flush pass ----

    /// Whether a flush pass has anyone to take (see registry::woken_any).
    bool woken_any() const noexcept { return registry_.woken_any(); }

    /** The clients a flush pass must visit: everyone with something appended for it since
        the last call (see registry::take_woken). A client whose last plan said `more`, or
        whose write is still in flight, is the caller's to come back to.
    */
    void take_woken(std::vector<client_state*>& out, log_clock::time_point now) {
        registry_.take_woken(out, now);
    }

    /** Plans the next flush of `c` into `out` and moves its position past what it planned
        (see flush_plan). The caller writes `out` after releasing the lock; what did not fit
        the budget stays in the logs for the next plan (nothing is copied).
    */
    flush_plan plan(client_state& c, plan_limits const& limits, std::vector<event_ptr>& out,
                    log_clock::time_point now) {
        clock(now);
        flush_plan p = planner_.plan(c, registry_.namespace_log(), head_, limits, out);
        if (p.slow_consumer) return p;
        if (p.reset != reset_reason::none) {
            registry_.set_pending_reset(c, reset_reason::none);
            registry_.set_resumed(c, 0, 0); // the app refetches: nothing older is owed
        }
        registry_.set_position(c, p.position);
        if (p.reset != reset_reason::none)
            registry_.set_sent(c, p.position);
        else if (p.last_sent != 0)
            registry_.set_sent(c, p.last_sent);
        registry_.trim_private(c, now);
        return p;
    }

    /** Whether a log `c` reads dropped an entry it was not sent yet: what `plan` would call
        a slow consumer. For the flush pass to apply the policy to a woken client whose write
        is still in flight (so not planned now) without waiting for that write to end.
    */
    bool fell_behind(client_state const& c) const noexcept {
        if (registry_.namespace_log().dropped_upto() > c.position()) return true;
        if (c.private_log() && c.private_log()->dropped_upto() > c.position()) return true;
        for (auto const& m : c.memberships())
            if (m.room->log().dropped_upto() > c.read_from(m)) return true;
        return false;
    }

    /** Whether the logs here already hold event `id` for `rooms` (the namespace log when
        `rooms` is empty). An adapter may bring an event twice (a catch-up read and the live
        message): a copy must not count as late. As far as the logs reach back.
    */
    bool holds(std::vector<std::string> const& rooms, std::uint64_t id) const noexcept {
        auto in = [id](event_log const& log) {
            auto const i = log.first_after(id - 1);
            return i < log.size() && log[i].id == id;
        };
        if (rooms.empty()) return in(registry_.namespace_log());
        for (auto const& room : rooms)
            if (auto const* r = registry_.find_room(room); r && in(r->log())) return true;
        return false;
    }

    /** Whether an event `id` for `rooms` was for `c`: namespace-wide, to its private room, or
        to a room it joined before `id` (in id order). A late event that `c` joined after is
        not owed to it, so it need not be reset for it.
    */
    static bool owed(client_state const& c, std::vector<std::string> const& rooms,
                     std::uint64_t id) noexcept {
        if (rooms.empty()) return true;
        for (auto const& room : rooms) {
            if (room == c.id()) return true;
            for (auto const& m : c.memberships())
                if (m.from < id && m.room->name() == room) return true;
        }
        return false;
    }

    /// Entries a replay may still send (the namespace log and every room's history window).
    std::size_t history_events(log_clock::time_point now) const noexcept {
        std::size_t n = registry_.namespace_log().replayable(opts_.logs, now);
        registry_.for_each_room([&](room const& r) { n += r.log().replayable(opts_.logs, now); });
        return n;
    }

    /// The expiry timer's work (history age, empty rooms), with or without heartbeats.
    void expire(log_clock::time_point now) { registry_.expire(clock(now)); }

    /// The adapter cannot recover events up to `id`: every log forgets them (clients behind
    /// become slow consumers; reconnects older than it get history_gap).
    void drop_through(std::uint64_t id) { registry_.drop_through(std::min(id, head_)); }

private:
    // The time the caller last gave (the core has no clock of its own: simulations drive it);
    // `now` when given.
    log_clock::time_point clock(log_clock::time_point now) noexcept {
        if (now != log_clock::time_point{} && now > now_) now_ = now;
        return now == log_clock::time_point{} ? now_ : now;
    }

    // Whether the position of `c` may move back from `position` to `sent` for a late join of
    // `joined`: the logs read from the position (namespace, private) hold nothing in between
    // (what is there was excluded, and would be judged again), still hold what follows, and
    // the joined room has no event after the missed window up to the position (emitted while
    // it was not a member: not for it).
    bool can_rebase(client_state const& c, room const& joined, std::uint64_t sent,
                    std::uint64_t position, std::uint64_t upto) const noexcept {
        auto clean = [&](event_log const& log) {
            std::size_t const i = log.first_after(sent);
            return log.dropped_upto() <= sent && (i == log.size() || log[i].id > position);
        };
        if (!clean(registry_.namespace_log())) return false;
        if (c.private_log() && !clean(*c.private_log())) return false;
        auto const& log = joined.log();
        std::size_t const i = log.first_after(upto);
        return i == log.size() || log[i].id > position;
    }

    reset_reason set_reset(client_state& c, reset_reason why) {
        registry_.set_position(c, head_); // never ahead of the head, even briefly
        registry_.set_pending_reset(c, why);
        return why;
    }

    // A replay after `from` out of `log`: a reset when it is larger than the bound.
    reset_reason check_size(client_state& c, event_log const& log, std::uint64_t from) {
        if (opts_.max_replay_bytes != 0) {
            std::size_t bytes = 0;
            for (std::size_t i = log.first_after(from); i < log.size(); ++i) {
                bytes += log[i].record->bytes;
                if (bytes > opts_.max_replay_bytes)
                    return set_pending(c, reset_reason::history_too_large);
            }
        }
        return reset_reason::none;
    }
    reset_reason set_pending(client_state& c, reset_reason why) {
        registry_.set_pending_reset(c, why);
        return why;
    }

    delivery_options opts_;
    registry registry_;
    delivery_planner planner_;
    std::uint64_t head_ = 0;
    log_clock::time_point now_{};
};

} // namespace sse::detail

#endif
