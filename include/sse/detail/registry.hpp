// sse/detail/registry.hpp - clients, rooms, memberships and positions of one namespace,
// and the logs they read (sans-I/O).
#ifndef SSE_DETAIL_REGISTRY_HPP
#define SSE_DETAIL_REGISTRY_HPP

#include <sse/detail/event_log.hpp>
#include <sse/detail/id_index.hpp>
#include <sse/detail/small_vector.hpp>

#include <algorithm>
#include <cassert>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace sse::detail {

/// Why a client is told to refetch its state instead of getting the events it missed.
enum class reset_reason : std::uint8_t {
    none,
    history_gap,       ///< the history no longer holds every event after its position
    unknown_id,        ///< its Last-Event-ID is malformed or ahead of the namespace
    history_too_large, ///< the replay would be larger than the replay bound
    slow_consumer,     ///< it fell off a log's tail and the policy is "reset"
    lost_events,       ///< the adapter lost events it cannot recover (broker gap)
    late_event,        ///< another node's event came after newer ids were sent: out of order
};

/// The `reason` field of the reset event.
inline char const* to_string(reset_reason r) noexcept {
    switch (r) {
    case reset_reason::none:
        return "none";
    case reset_reason::history_gap:
        return "history_gap";
    case reset_reason::unknown_id:
        return "unknown_id";
    case reset_reason::history_too_large:
        return "history_too_large";
    case reset_reason::slow_consumer:
        return "slow_consumer";
    case reset_reason::lost_events:
        return "lost_events";
    case reset_reason::late_event:
        return "late_event";
    }
    return "none";
}

class registry;
class room;

/** What the delivery core keeps per client: its position (the last id it was sent), its rooms
    and its private log. Embedded in the connection object (no allocation of its own); only
    `registry` writes it, everyone else reads. 88 bytes plus 24 per room joined.
*/
class client_state {
public:
    /// One room joined: entries of the room with id <= `from` are not for this client.
    struct membership {
        sse::detail::room* room;
        std::uint32_t index; // of this client in the room's member list
        std::uint64_t from;
    };

    client_state() = default;
    client_state(client_state const&) = delete;
    client_state& operator=(client_state const&) = delete;

    /// The client's id, which is also the name of its private room.
    std::string_view id() const noexcept { return {id_, id_size_}; }
    /// The last id this client was sent (or skipped past).
    std::uint64_t position() const noexcept { return position_; }
    /// The last id it was really sent (<= position): a late join may still merge after it.
    std::uint64_t sent() const noexcept { return sent_; }
    /// A reset the next plan starts with.
    reset_reason pending_reset() const noexcept { return pending_reset_; }
    bool registered() const noexcept { return registered_; }
    /// A reconnect's missed window (its Last-Event-ID, the head when it came back]: the
    /// events of that window in any room it joins are owed to it. Empty (from == head) for
    /// a new stream, and once a reset was sent.
    std::uint64_t resumed_from() const noexcept { return resumed_from_; }
    std::uint64_t resumed_head() const noexcept { return resumed_head_; }

    small_vector<membership> const& memberships() const noexcept { return memberships_; }
    /// Events emitted to this client alone, not yet sent (null when none).
    event_log const* private_log() const noexcept { return private_log_.get(); }

    /// Whether the client is in `name` (its private room included).
    bool in_room(std::string_view name) const noexcept;
    /// The position a room log is read from: entries at or below it are not for this client.
    std::uint64_t read_from(membership const& m) const noexcept {
        return std::max(position_, m.from);
    }

private:
    friend class registry;

    // The connection's own id (it outlives the registration), as a pointer and a 32-bit
    // size, which pack with index_: a client_state exists per connection.
    char const* id_ = nullptr;
    std::uint64_t position_ = 0;
    std::uint64_t sent_ = 0;
    std::uint64_t resumed_from_ = 0; // the missed window of a reconnect (see resumed_from)
    std::uint64_t resumed_head_ = 0;
    std::unique_ptr<event_log> private_log_;
    small_vector<membership> memberships_; // most clients are in one room: in place
    std::uint32_t index_ = 0;              // in registry::clients()
    std::uint32_t id_size_ = 0;
    reset_reason pending_reset_ = reset_reason::none;
    bool registered_ = false;
    bool woken_ = false; // in registry::wake_ (or being collected by take_woken)
};

/// A room: its members and its log. Exists while it has members or keeps history.
class room {
public:
    explicit room(std::string name, std::uint64_t forgotten)
        : name_(std::move(name))
        , log_(forgotten) {}
    std::string const& name() const noexcept { return name_; }
    std::vector<client_state*> const& members() const noexcept { return members_; }
    event_log const& log() const noexcept { return log_; }

private:
    friend class registry;
    std::string name_;
    std::vector<client_state*> members_;
    event_log log_;
    bool dirty_ = false; // appended to since the last take_woken
};

inline bool client_state::in_room(std::string_view name) const noexcept {
    if (name == id()) return true;
    for (auto const& m : memberships_)
        if (m.room->name() == name) return true;
    return false;
}

/** The clients, rooms and logs of one namespace.

    The only writer of `client_state`. A room exists while it has members or entries: with
    history off a room without members keeps nothing, so it goes at once. A room forgotten
    with entries once in it leaves its newest id in `forgotten_upto()`: a room log created
    later cannot tell whether it missed events up to there, and says so (`dropped_upto`).
    Not thread-safe: the delivery core's owner locks (see delivery_core.hpp).
*/
class registry {
public:
    explicit registry(log_limits limits = {})
        : limits_(limits) {}
    registry(registry const&) = delete;
    registry& operator=(registry const&) = delete;
    // Registered clients must be removed before their client_state dies (the connection's
    // close does it); the registry never touches a client_state after its own end.

    log_limits const& limits() const noexcept { return limits_; }
    void set_limits(log_limits l) noexcept { limits_ = l; }

    // ---- clients ----

    /// Registers `c` (whose id is `id`, kept as a view) at `position`.
    void add(client_state& c, std::string_view id, std::uint64_t position) {
        c.id_ = id.data();
        c.id_size_ = static_cast<std::uint32_t>(id.size());
        c.position_ = c.sent_ = position;
        c.pending_reset_ = reset_reason::none;
        c.resumed_from_ = c.resumed_head_ = 0;
        c.index_ = static_cast<std::uint32_t>(all_.size());
        all_.push_back(&c);
        try {
            by_id_.insert(&c);
        } catch (...) {
            all_.pop_back();
            throw;
        }
        c.registered_ = true;
    }

    /// Unregisters `c`: it leaves its rooms, its private log goes.
    void remove(client_state& c, log_clock::time_point now) noexcept {
        if (!c.registered_) return;
        while (!c.memberships_.empty())
            remove_member(c, c.memberships_.size() - 1, now);
        c.private_log_.reset();
        if (c.woken_) {
            wake_.erase(std::find(wake_.begin(), wake_.end(), &c));
            c.woken_ = false;
        }
        by_id_.erase(c.id());
        std::size_t const i = c.index_;
        if (i + 1 != all_.size()) {
            all_[i] = all_.back();
            all_[i]->index_ = static_cast<std::uint32_t>(i);
        }
        all_.pop_back();
        c.registered_ = false;
    }

    client_state* find(std::string_view id) const noexcept {
        auto it = by_id_.find(id);
        return it == by_id_.end() ? nullptr : it->second;
    }
    std::vector<client_state*> const& clients() const noexcept { return all_; }

    void set_position(client_state& c, std::uint64_t position) noexcept { c.position_ = position; }
    void set_sent(client_state& c, std::uint64_t sent) noexcept { c.sent_ = sent; }

    void set_pending_reset(client_state& c, reset_reason r) noexcept { c.pending_reset_ = r; }
    /// The window of events `c` missed while disconnected (empty: from >= head).
    void set_resumed(client_state& c, std::uint64_t from, std::uint64_t head) noexcept {
        c.resumed_from_ = from;
        c.resumed_head_ = head;
    }
    /// The membership of `c` in `r` reads after `from`.
    void set_from(client_state& c, room const& r, std::uint64_t from) noexcept {
        for (auto& m : c.memberships_)
            if (m.room == &r) m.from = from;
    }
    /// Every membership of `c` reads from `from` (a reconnect moved its position back).
    void rebase_memberships(client_state& c, std::uint64_t from) noexcept {
        for (auto& m : c.memberships_)
            m.from = from;
    }

    // ---- rooms ----

    /// Adds `c` to `name`, reading its log after `from`. False when already a member.
    bool join(client_state& c, std::string_view name, std::uint64_t from) {
        assert(c.registered_ && "join after admit: the wiring keeps earlier joins until then");
        if (c.in_room(name)) return false;
        room& r = room_for(std::string(name));
        c.memberships_.reserve(c.memberships_.size() + 1); // may throw; nothing changed yet
        r.members_.reserve(r.members_.size() + 1);
        c.memberships_.push_back(
            client_state::membership{&r, static_cast<std::uint32_t>(r.members_.size()), from});
        r.members_.push_back(&c);
        return true;
    }

    /// Removes `c` from `name`. False when not a member.
    bool leave(client_state& c, std::string_view name, log_clock::time_point now) noexcept {
        for (std::size_t k = 0; k < c.memberships_.size(); ++k)
            if (c.memberships_[k].room->name() == name) {
                remove_member(c, k, now);
                return true;
            }
        return false;
    }

    room const* find_room(std::string const& name) const noexcept {
        auto it = rooms_.find(name);
        return it == rooms_.end() ? nullptr : it->second.get();
    }
    std::size_t room_count() const noexcept { return rooms_.size(); }
    template <class Fn>
    void for_each_room(Fn&& fn) const {
        for (auto const& kv : rooms_)
            fn(*kv.second);
    }

    // ---- logs ----

    event_log const& namespace_log() const noexcept { return namespace_log_; }
    std::uint64_t forgotten_upto() const noexcept { return forgotten_upto_; }

    /// Appends to the namespace-wide log. O(1): its readers are visited by the flush pass
    /// (take_woken), which trims it too.
    void append_namespace(record_ptr const& r) {
        namespace_log_.append(r, limits_);
        namespace_dirty_ = true;
    }

    /// Appends to the log of room `name`. A room without members is created only to keep
    /// history. Returns whether the entry was kept.
    bool append_room(std::string const& name, record_ptr const& r, log_clock::time_point now) {
        room* rm = nullptr;
        auto it = rooms_.find(name);
        if (it != rooms_.end())
            rm = it->second.get();
        else if (limits_.history())
            rm = &room_for(name);
        else
            return false;
        if (rm->log_.last_id() >= r->id) return true; // a room named twice in one emit
        rm->log_.append(r, limits_);
        if (rm->members_.empty()) {
            // Nobody to visit: only the history window bounds it (no reader to scan).
            if (rm->log_.scan_due(limits_))
                rm->log_.trim(std::numeric_limits<std::uint64_t>::max(), limits_, now);
        } else if (!rm->dirty_) {
            dirty_rooms_.push_back(rm);
            rm->dirty_ = true;
        }
        return true;
    }

    /// Appends to the private log of `c` (created on demand).
    void append_private(client_state& c, record_ptr const& r) {
        if (!c.private_log_) c.private_log_ = std::make_unique<event_log>(c.position_);
        if (c.private_log_->last_id() >= r->id) return; // named twice in one emit
        c.private_log_->append(r, private_limits());
        wake(c);
    }

    // ---- wake-ups: whom a flush pass visits ----

    /// `c` has something new to plan (a private event, a reset, a replay).
    void wake(client_state& c) {
        if (c.woken_) return;
        wake_.push_back(&c);
        c.woken_ = true;
    }

    /// Whether take_woken would hand out anyone (or trim a log): a flush pass is due.
    bool woken_any() const noexcept {
        return !wake_.empty() || !dirty_rooms_.empty() || namespace_dirty_;
    }

    /** Moves into `out` every client with something appended for it since the last call:
        those woken one by one, the members of the rooms appended to, and everyone after a
        namespace-wide append. Each client once. The cost is that of the fan-out itself,
        paid by the flush pass, not by the emits (an emit only marks its logs). The logs
        appended to are trimmed here too, to their readers' positions (the amortised scan).
    */
    void take_woken(std::vector<client_state*>& out, log_clock::time_point now) {
        for (room* r : dirty_rooms_)
            if (r->log_.scan_due(limits_)) trim_room(*r, now);
        if (namespace_dirty_ && namespace_log_.scan_due(limits_)) trim_namespace(now);
        out.clear();
        out.swap(wake_); // all marked woken_ already
        // wake_ has out's storage now, empty: a fan-out to every client of a large namespace
        // would keep a slot per client in it for good (the caller's list keeps its own).
        if (wake_.capacity() > kept_wake_capacity) std::vector<client_state*>().swap(wake_);
        if (namespace_dirty_) {
            for (client_state* c : all_)
                if (!c->woken_) {
                    c->woken_ = true;
                    out.push_back(c);
                }
        } else {
            for (room* r : dirty_rooms_)
                for (client_state* c : r->members_)
                    if (!c->woken_) {
                        c->woken_ = true;
                        out.push_back(c);
                    }
        }
        for (room* r : dirty_rooms_)
            r->dirty_ = false;
        dirty_rooms_.clear();
        namespace_dirty_ = false;
        for (client_state* c : out)
            c->woken_ = false;
    }

    /// After `c` advanced: its private log lets go of what it was sent, and goes when empty.
    void trim_private(client_state& c, log_clock::time_point now) noexcept {
        if (!c.private_log_) return;
        c.private_log_->trim(c.position_, private_limits(), now);
        if (c.private_log_->empty()) c.private_log_.reset();
    }

    /// The smallest position the readers of room `r` read it from (UINT64_MAX: no reader).
    static std::uint64_t slowest_reader(room const& r) noexcept {
        std::uint64_t s = std::numeric_limits<std::uint64_t>::max();
        for (client_state const* c : r.members_)
            for (auto const& m : c->memberships_)
                if (m.room == &r) s = std::min(s, c->read_from(m));
        return s;
    }
    std::uint64_t slowest_client() const noexcept {
        std::uint64_t s = std::numeric_limits<std::uint64_t>::max();
        for (client_state const* c : all_)
            s = std::min(s, c->position_);
        return s;
    }

    void trim_namespace(log_clock::time_point now) noexcept {
        namespace_log_.trim(slowest_client(), limits_, now);
    }

    /// Every log lets go of what no reader needs and what history no longer keeps (age
    /// included: this is the expiry timer's work, whether heartbeats run or not); rooms
    /// left empty and without members go.
    void expire(log_clock::time_point now) noexcept {
        trim_namespace(now);
        for (auto it = rooms_.begin(); it != rooms_.end();) {
            room& r = *it->second;
            r.log_.trim(slowest_reader(r), limits_, now);
            if (r.members_.empty() && r.log_.empty()) {
                forget(r);
                it = rooms_.erase(it);
            } else {
                ++it;
            }
        }
    }

    /// Drops every entry up to `id` in every log (broker gap); readers behind see a gap.
    void drop_through(std::uint64_t id) noexcept {
        namespace_log_.drop_through(id);
        for (auto const& kv : rooms_)
            kv.second->log_.drop_through(id);
        forgotten_upto_ = std::max(forgotten_upto_, id);
    }

private:
    log_limits private_limits() const noexcept {
        log_limits l = limits_;
        l.history_events = 0; // a private room dies with its connection: nothing to replay
        return l;
    }

    room& room_for(std::string const& name) {
        auto it = rooms_.find(name);
        if (it != rooms_.end()) return *it->second;
        // With history off a new log cannot have missed anything its readers want (they
        // read from the head); with history on it may have been forgotten up to here.
        auto r = std::make_unique<room>(name, forgotten_upto_);
        room& ref = *r;
        rooms_.emplace(name, std::move(r));
        return ref;
    }

    void trim_room(room& r, log_clock::time_point now) noexcept {
        r.log_.trim(slowest_reader(r), limits_, now);
    }

    void forget(room const& r) noexcept {
        forgotten_upto_ = std::max(forgotten_upto_, r.log_.dropped_upto());
        if (r.dirty_) dirty_rooms_.erase(std::find(dirty_rooms_.begin(), dirty_rooms_.end(), &r));
    }

    void remove_member(client_state& c, std::size_t k, log_clock::time_point now) noexcept {
        auto const m = c.memberships_[k];
        c.memberships_.erase(k);
        c.memberships_.shrink(); // back in place at one room
        room& r = *m.room;
        // Swap-remove, then fix the index the moved member keeps for this room.
        if (m.index + 1 != r.members_.size()) {
            client_state* moved = r.members_.back();
            r.members_[m.index] = moved;
            for (auto& mm : moved->memberships_)
                if (mm.room == &r) mm.index = m.index;
        }
        r.members_.pop_back();
        if (!r.members_.empty()) return;
        // Nobody reads it now: only history keeps entries.
        r.log_.trim(std::numeric_limits<std::uint64_t>::max(), limits_, now);
        if (r.log_.empty()) {
            forget(r);
            rooms_.erase(rooms_.find(r.name_)); // by iterator: the key dies with the room
        }
    }

    log_limits limits_;
    std::unordered_map<std::string, std::unique_ptr<room>> rooms_;
    std::vector<client_state*> all_;
    id_index<client_state> by_id_;
    event_log namespace_log_;
    std::uint64_t forgotten_upto_ = 0;
    static constexpr std::size_t kept_wake_capacity = 1024;
    std::vector<client_state*> wake_; // woken one by one
    std::vector<room*> dirty_rooms_;  // appended to since the last take_woken
    bool namespace_dirty_ = false;
};

} // namespace sse::detail

#endif
