// sse/detail/redis_gap_recovery.hpp - when the Redis adapter holds live messages and reads
// the shared history back: the broker-gap and channel-gap recovery as a state machine with
// no I/O, no clock and no locks.
//
// Redis pub/sub is at most once. Two kinds of holes, one way out:
// - a broker gap: a subscriber went away and came back; what was published meanwhile is
//   read back after the last id delivered when it went (one read per sequenced namespace);
// - a channel gap: a channel's numbers show that a message of one origin was lost while
//   the subscriber stayed; the history is read after the last id that did arrive there.
// While a read is wanted, running or queued, the live messages of sequenced namespaces are
// held, so that what a read finds reaches the clients before what arrived after it. Once
// none is left, what was held goes out in arrival order. Too much held while no read runs
// (the publisher stays away) gives up: the caller resets the clients, then releases.
//
// The adapter (impl/redis_recovery.hpp) feeds it what happened and does what it answers;
// the cross-node simulation (tests/unit/cross_node_sim.cpp) drives this same class.
//
// States, for one machine:
//   idle ──subscriber_back / channel_gap_found──▶ holding
//   holding: broker read wanted ─begin_broker_read─▶ running ─last answer─▶ (release_due?)
//            channel gaps queued, read one at a time, in turn (channel_read_due / answered)
//   release_due() ⇔ no broker read wanted or running and no channel gap queued.
#ifndef SSE_DETAIL_REDIS_GAP_RECOVERY_HPP
#define SSE_DETAIL_REDIS_GAP_RECOVERY_HPP

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sse::detail {

// A lost message of one origin on one channel (seen by its number), to read back.
struct redis_channel_gap {
    std::uint64_t id = 0; // this gap's number (a read answers the gap it was for)
    std::string nsp;
    std::string channel;     // where it went missing
    std::string room;        // the channel's room; "" for the namespace channel
    std::string origin;      // whose messages
    std::uint64_t after = 0; // the last event id that did arrive there from that origin
    std::uint64_t upto = 0;  // below it: the id of the message that showed the gap (a mark: +1)
};

// `Held` is what the caller keeps of a held message (the adapter's has its namespace).
template <class Held>
class redis_gap_recovery {
public:
    using gap_starts = std::map<std::string, std::uint64_t, std::less<>>;

    // Channel gaps waiting for their read; past it the caller resets instead.
    static constexpr std::size_t max_channel_gaps = 64;

    // ---- broker gaps ------------------------------------------------------------------

    // A subscriber went away while `nsp` had delivered up to `last_delivered`: its read
    // starts there. The earliest start is kept (another subscriber may go away meanwhile).
    void gap_started(std::string_view nsp, std::uint64_t last_delivered) {
        if (gap_from_.find(nsp) == gap_from_.end())
            gap_from_.emplace(std::string(nsp), last_delivered);
    }

    // Where the read of `nsp` will start, if a gap started for it.
    std::optional<std::uint64_t> gap_start(std::string_view nsp) const {
        auto it = gap_from_.find(nsp);
        if (it == gap_from_.end()) return std::nullopt;
        return it->second;
    }

    // A subscriber is back (or a channel moved) while some namespace is sequenced: read
    // back what passed meanwhile, and hold the live messages until then.
    void subscriber_back() { want_broker_read_ = holding_ = true; }

    // Whether a broker read should start (the caller also checks that its links are ready).
    bool broker_read_due() const { return want_broker_read_ && reads_left_ == 0; }
    bool broker_reading() const { return reads_left_ != 0; }

    // The broker read starts as `reads` history reads (one per sequenced namespace). With
    // at least one, it takes the recorded gap starts: a later outage records its own.
    gap_starts begin_broker_read(std::size_t reads) {
        assert(broker_read_due());
        want_broker_read_ = false;
        reads_left_ = reads;
        if (reads == 0) return {};
        return std::exchange(gap_from_, {});
    }

    // One of its reads answered. True for the last: the caller delivers what they found,
    // then asks release_due().
    bool broker_read_answered() {
        assert(reads_left_ != 0);
        return --reads_left_ == 0;
    }

    // ---- channel gaps -----------------------------------------------------------------

    bool channel_gaps_full() const { return channel_gaps_.size() >= max_channel_gaps; }

    // A hole to read back (the caller checked channel_gaps_full): hold from now on. `g.id`
    // is assigned here.
    void channel_gap_found(redis_channel_gap g) {
        assert(!channel_gaps_full());
        g.id = ++channel_gap_ids_;
        channel_gaps_.push_back(std::move(g));
        holding_ = true; // the message that showed it and the next ones wait for the read
    }

    // The gap whose read should start now, if any: one read at a time, in turn.
    redis_channel_gap const* channel_read_due() const {
        if (channel_read_running_ || channel_gaps_.empty()) return nullptr;
        return &channel_gaps_.front();
    }
    void channel_read_started() { channel_read_running_ = true; }

    // The read for gap `id` answered: that gap, done, or nothing when it was given up
    // meanwhile (its answer is stale).
    std::optional<redis_channel_gap> channel_read_answered(std::uint64_t id) {
        channel_read_running_ = false;
        if (channel_gaps_.empty() || channel_gaps_.front().id != id) return std::nullopt;
        auto g = std::move(channel_gaps_.front());
        channel_gaps_.pop_front();
        return g;
    }

    // ---- holding ----------------------------------------------------------------------

    bool holding() const { return holding_; }
    std::size_t held() const { return held_.size(); }

    // Holds a message (the caller checked holding()). True when more than `bound` are
    // held and no read is running that would end it: the caller gives up.
    bool hold(Held m, std::size_t bound) {
        assert(holding_);
        held_.push_back(std::move(m));
        return held_.size() > bound && reads_left_ == 0;
    }

    // Gives the recovery up: no read is wanted, the queued channel gaps are dropped (the
    // caller resets their clients) and the next outage starts from what it sees then.
    void give_up() {
        want_broker_read_ = false;
        channel_gaps_.clear();
        gap_from_.clear();
    }

    // Whether what was held may go out: no read wanted, running or queued.
    bool release_due() const {
        return !want_broker_read_ && reads_left_ == 0 && channel_gaps_.empty();
    }

    // Stops holding: what was held, in arrival order.
    std::vector<Held> release() {
        holding_ = false;
        return std::exchange(held_, {});
    }

    // Nothing reaches the host any more (the adapter closes): drop what waits.
    void drop_waiting() {
        held_.clear();
        channel_gaps_.clear();
    }

    // Whether anything is held, wanted or running (the simulation's quiescence check).
    bool busy() const { return holding_ || reads_left_ != 0 || channel_read_running_; }

private:
    gap_starts gap_from_;
    bool want_broker_read_ = false;
    std::size_t reads_left_ = 0;
    bool holding_ = false;
    std::vector<Held> held_;
    std::deque<redis_channel_gap> channel_gaps_;
    std::uint64_t channel_gap_ids_ = 0;
    bool channel_read_running_ = false;
};

} // namespace sse::detail

#endif
