// sse/detail/redis_channel_sequence.hpp - per-channel message numbers, so that a node sees a
// message that Redis pub/sub lost (pure, no I/O).
//
// Redis pub/sub delivers at most once, and a node subscribes to only some of the channels an
// origin publishes on, so the origin's own sequence (one per emit) has holes at every
// receiver and cannot show a loss. Each origin therefore also numbers what it publishes on
// each channel, 1, 2, 3...: one origin's messages on one channel travel one publishing
// connection and one subscribing connection, in order, so a receiver that sees 5 after 3 on
// a channel from an origin has lost 4.
//
// Copies and new starts. A publisher that reconnects sends its unanswered messages again:
// a number at or below the last one is a copy when its origin sequence (one per emit, across
// channels) is not newer either. A newer message with such a number is a new start: the
// origin keeps a counter per channel it published on, at most `max_channels`, and past that
// starts every channel again at 1 (a loss at that moment is not seen). The receiver keeps the last
// number per (channel, origin), at most `max_entries`, and forgets a channel when it is
// unsubscribed (what it misses until it subscribes again is not a loss) and everything when its
// subscriber reconnects (the broker-gap recovery covers that gap).
#ifndef SSE_DETAIL_REDIS_CHANNEL_SEQUENCE_HPP
#define SSE_DETAIL_REDIS_CHANNEL_SEQUENCE_HPP

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace sse::detail {

/// The origin's side: the next number of each channel it publishes on.
class redis_channel_counters {
public:
    explicit redis_channel_counters(std::size_t max_channels = 65536) noexcept
        : max_channels_(max_channels > 0 ? max_channels : 1) {}

    /// The number of the next message on `channel` (1 for the first).
    std::uint64_t next(std::string const& channel) {
        auto it = counters_.find(channel);
        if (it != counters_.end()) return ++it->second;
        if (counters_.size() >= max_channels_) counters_.clear(); // everyone starts again at 1
        counters_.emplace(channel, 1);
        return 1;
    }

    std::size_t size() const noexcept { return counters_.size(); }

private:
    std::size_t max_channels_;
    std::unordered_map<std::string, std::uint64_t> counters_;
};

/// The receiver's side: what each (channel, origin) last numbered.
class redis_channel_gaps {
public:
    enum class kind {
        first,  ///< nothing known of this (channel, origin) yet, or it started again
        next,   ///< the number after the last one
        repeat, ///< at or below the last one: a copy re-published after a reconnect
        gap,    ///< `missed` messages before this one never arrived
        none,   ///< the message carries no number (an older node's format)
    };

    struct observation {
        kind what = kind::none;
        std::uint64_t missed = 0;
        /// For a gap: the event id of the last message that did arrive on the channel from
        /// that origin (the lost ones come after it, in that origin's order).
        std::uint64_t last_event_id = 0;
    };

    explicit redis_channel_gaps(std::size_t max_entries = 65536) noexcept
        : max_entries_(max_entries > 0 ? max_entries : 1) {}

    /// Message number `number` from `origin` on `channel`, with that origin's `sequence`
    /// (redis_message::sequence) and event id `event_id`.
    observation observe(std::string_view channel, std::string_view origin, std::uint64_t number,
                        std::uint64_t sequence, std::uint64_t event_id) {
        if (number == 0) return {};
        auto* known = note(channel, origin, number, sequence, event_id);
        if (known == nullptr) return {kind::first, 0, 0};
        auto& s = *known;
        if (sequence <= s.sequence) return {kind::repeat, 0, 0};
        auto const last = std::exchange(s, seen{number, sequence, event_id});
        if (number == last.number + 1) return {kind::next, 0, 0};
        if (number <= last.number) return {kind::first, 0, 0}; // the origin started again
        return {kind::gap, number - last.number - 1, last.event_id};
    }

    /** A mark from `origin` on `channel` (detail/redis_channel_marks.hpp): its last message
        there was number `number`, with `sequence` and `event_id`. A gap when a lower number
        is the last that arrived: `missed` messages up to and including that one were lost.
        Nothing known yet: noted, as a first message would be.
    */
    observation observe_mark(std::string_view channel, std::string_view origin,
                             std::uint64_t number, std::uint64_t sequence, std::uint64_t event_id) {
        if (number == 0) return {};
        auto* known = note(channel, origin, number, sequence, event_id);
        if (known == nullptr) return {kind::first, 0, 0};
        auto& s = *known;
        if (sequence <= s.sequence) return {kind::repeat, 0, 0}; // nothing after what came
        auto const last = std::exchange(s, seen{number, sequence, event_id});
        if (number <= last.number) return {kind::first, 0, 0}; // the origin started again
        return {kind::gap, number - last.number, last.event_id};
    }

    /// `channel` was unsubscribed: its next message is a first one again.
    void forget(std::string_view channel) {
        for (auto it = last_.begin(); it != last_.end();) {
            std::string_view k = it->first;
            if (k.size() > channel.size() && k[channel.size()] == '\0' &&
                k.substr(0, channel.size()) == channel)
                it = last_.erase(it);
            else
                ++it;
        }
    }

    /// The subscriber reconnected: everything starts again.
    void clear() noexcept { last_.clear(); }

    std::size_t size() const noexcept { return last_.size(); }

private:
    struct seen {
        std::uint64_t number;
        std::uint64_t sequence;
        std::uint64_t event_id;
    };

    // What (channel, origin) last numbered; nullptr when nothing was known (now noted).
    seen* note(std::string_view channel, std::string_view origin, std::uint64_t number,
               std::uint64_t sequence, std::uint64_t event_id) {
        key_.assign(channel.data(), channel.size());
        key_ += '\0';
        key_.append(origin.data(), origin.size());
        auto it = last_.find(key_);
        if (it != last_.end()) return &it->second;
        if (last_.size() >= max_entries_) last_.clear();
        last_.emplace(key_, seen{number, sequence, event_id});
        return nullptr;
    }
    std::size_t max_entries_;
    std::string key_;
    std::unordered_map<std::string, seen> last_;
};

} // namespace sse::detail

#endif
