// sse/detail/delivery_plan.hpp - what one flush sends one client: the merge of the logs it
// reads, after its position, each id once (sans-I/O).
#ifndef SSE_DETAIL_DELIVERY_PLAN_HPP
#define SSE_DETAIL_DELIVERY_PLAN_HPP

#include <sse/detail/event_log.hpp>
#include <sse/detail/registry.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

namespace sse::detail {

/** The outcome of planning one flush for one client.

    Exactly one of three shapes:
    - a reset: `reset != none`; the caller sends the reset event (stamped `reset_id` when not
      0) and nothing else; the position jumped to the head;
    - a slow consumer: a log it reads dropped an entry it had not been sent; nothing planned,
      the position unchanged; the caller applies its policy (disconnect, or `reset`);
    - events: `events` (shared bytes, in strictly increasing id order) appended to the
      caller's vector; `more` when the budget stopped the plan before the end.
*/
struct flush_plan {
    reset_reason reset = reset_reason::none;
    std::uint64_t reset_id = 0;
    bool slow_consumer = false;
    bool more = false;
    std::size_t events = 0;      ///< how many were appended to the output
    std::size_t bytes = 0;       ///< their wire bytes
    std::uint64_t position = 0;  ///< the client's position after this plan
    std::uint64_t last_sent = 0; ///< the id of the last event planned (0: none)
    std::size_t superseded = 0;  ///< entries left out by conflation
};

/// How one plan may read.
struct plan_limits {
    /// Wire bytes one plan may take (the first event is taken whatever its size).
    std::size_t budget = std::numeric_limits<std::size_t>::max();
    /// Leave out a keyed event (encoded_event::conflation_key) when a newer one with the same
    /// key is also due: for a lagging client under the conflate policy.
    bool conflate = false;
};

/** Plans flushes. Holds scratch space only, reused between plans so that a steady stream
    allocates nothing; one per namespace, used under its lock. A plan reads the client and
    the logs and changes nothing: `delivery_core::plan` commits the new position.
*/
class delivery_planner {
public:
    /** Appends to `out` the events `c` is due after its position, in id order, each id once:
        the namespace-wide log, its private log and the log of each room it is in (from
        `client_state::read_from`), less the entries whose `except` names a room the client
        is in now (or its id). `head` is the newest id appended to any log of the namespace.
    */
    flush_plan plan(client_state const& c, event_log const& namespace_log, std::uint64_t head,
                    plan_limits const& limits, std::vector<event_ptr>& out) {
        flush_plan p;
        p.position = c.position();
        if (c.pending_reset() != reset_reason::none) {
            p.reset = c.pending_reset();
            // (A client may stand past the head: it brought a shared-history id from
            // another node, delivery_core::resume_after.)
            p.position = std::max(head, c.position());
            // The reset takes the head's id, so that a reconnect resumes after it; never an
            // id the client already has (ids on a stream strictly increase). An unknown
            // Last-Event-ID is replaced by the head's, even when that is lower.
            if (head != 0 && (head > c.position() || p.reset == reset_reason::unknown_id))
                p.reset_id = head;
            return p;
        }
        cursors_.clear();
        auto const position = c.position();
        if (!open(namespace_log, position) ||
            (c.private_log() && !open(*c.private_log(), position))) {
            p.slow_consumer = true;
            return p;
        }
        for (auto const& m : c.memberships())
            if (!open(m.room->log(), c.read_from(m))) {
                p.slow_consumer = true;
                return p;
            }
        if (limits.conflate) return plan_conflated(c, head, limits, out, p);

        std::uint64_t last = position;
        for (;;) {
            emit_record const* r = next();
            if (r == nullptr) break;
            if (excluded(c, *r)) continue;
            if (p.events > 0 && p.bytes + r->bytes > limits.budget) {
                p.more = true;
                break;
            }
            out.push_back(r->event);
            ++p.events;
            p.bytes += r->bytes;
            last = r->id;
        }
        // Done: everything up to the head has been seen (ids skipped were not for it).
        p.position = p.more ? last : std::max(head, position);
        if (p.events > 0) p.last_sent = last;
        return p;
    }

private:
    struct cursor {
        event_log const* log;
        std::size_t next;
    };

    // False when the log has dropped an entry after `from`: the client cannot be served.
    bool open(event_log const& log, std::uint64_t from) {
        if (log.dropped_upto() > from) return false;
        std::size_t const i = log.first_after(from);
        if (i < log.size()) cursors_.push_back(cursor{&log, i});
        return true;
    }

    // The entry with the smallest id among the cursors, each id once; null at the end.
    emit_record const* next() noexcept {
        emit_record const* best = nullptr;
        std::uint64_t best_id = std::numeric_limits<std::uint64_t>::max();
        for (auto const& k : cursors_) {
            if (k.next == k.log->size()) continue;
            auto const& e = (*k.log)[k.next];
            if (e.id < best_id) {
                best_id = e.id;
                best = e.record.get();
            }
        }
        if (best == nullptr) return nullptr;
        for (auto& k : cursors_) // the same emit in several logs is taken once
            if (k.next < k.log->size() && (*k.log)[k.next].id == best_id) ++k.next;
        return best;
    }

    static bool excluded(client_state const& c, emit_record const& r) noexcept {
        for (auto const& x : r.except)
            if (c.in_room(x)) return true;
        return false;
    }

    flush_plan& plan_conflated(client_state const& c, std::uint64_t head, plan_limits const& limits,
                               std::vector<event_ptr>& out, flush_plan& p) {
        // Everything due, then keep only the newest of each key, then apply the budget.
        due_.clear();
        for (emit_record const* r = next(); r != nullptr; r = next())
            if (!excluded(c, *r)) due_.push_back(r);
        keys_.clear();
        for (auto it = due_.rbegin(); it != due_.rend(); ++it) {
            auto const key = (*it)->event->conflation_key();
            if (key == 0) continue;
            if (std::find(keys_.begin(), keys_.end(), key) != keys_.end()) {
                *it = nullptr;
                ++p.superseded;
            } else {
                keys_.push_back(key);
            }
        }
        std::uint64_t last = c.position();
        for (emit_record const* r : due_) {
            if (r == nullptr) continue;
            if (p.events > 0 && p.bytes + r->bytes > limits.budget) {
                p.more = true;
                break;
            }
            out.push_back(r->event);
            ++p.events;
            p.bytes += r->bytes;
            last = r->id;
        }
        p.position = p.more ? last : std::max(head, c.position());
        if (p.events > 0) p.last_sent = last;
        return p;
    }

    std::vector<cursor> cursors_;
    std::vector<emit_record const*> due_;
    std::vector<std::uint64_t> keys_;
};

} // namespace sse::detail

#endif
