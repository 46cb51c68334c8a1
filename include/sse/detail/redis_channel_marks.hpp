// sse/detail/redis_channel_marks.hpp - which channels are owed a mark: a short message that
// repeats the last channel number an origin published there (pure, no I/O).
//
// A channel number shows a loss only when a later message comes on the same channel
// (detail/redis_channel_sequence.hpp). The last message of a burst has none: if pub/sub lost
// it, no receiver would ever know. So once a channel has been quiet for a while after a
// message, its origin publishes a mark there, with that message's number, origin sequence
// and event id, and a receiver that last saw a lower number knows what it lost.
//
// A channel is noted when its message is written to Redis (so a mark, written after it on the
// same connection, never overtakes it) and is owed one mark per quiet spell: a channel with
// steady traffic gets none. At most `max_channels` are owed one at once (past that, a channel
// new to the list is not: a loss there waits for its next message, as before marks).
#ifndef SSE_DETAIL_REDIS_CHANNEL_MARKS_HPP
#define SSE_DETAIL_REDIS_CHANNEL_MARKS_HPP

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace sse::detail {

class redis_channel_marks {
public:
    /// What a mark says about one channel.
    struct mark {
        std::string channel;
        std::uint64_t number = 0;   ///< the last channel number written there
        std::uint64_t sequence = 0; ///< that message's origin sequence
        std::uint64_t event_id = 0; ///< that message's event id
        bool shared = false;        ///< a shared-history message (its loss can be read back)
    };

    explicit redis_channel_marks(std::size_t max_channels = 65536) noexcept
        : max_channels_(max_channels > 0 ? max_channels : 1) {}

    /// Message `number` (origin `sequence`, `event_id`) was written on `channel` at `now_us`.
    void written(std::string const& channel, std::uint64_t number, std::uint64_t sequence,
                 std::uint64_t event_id, bool shared, std::int64_t now_us) {
        if (number == 0) return;
        auto it = owed_.find(channel);
        if (it == owed_.end()) {
            if (owed_.size() >= max_channels_) return;
            owed_.emplace(channel, note{number, sequence, event_id, now_us, shared});
            return;
        }
        auto& n = it->second;
        n.at_us = now_us;
        // A message written again after a reconnect keeps the newest numbers.
        if (sequence < n.sequence) return;
        n.number = number;
        n.sequence = sequence;
        n.event_id = event_id;
        n.shared = shared;
    }

    /// The marks owed at `now_us`: channels with no message for `quiet_us`. They are no longer
    /// owed once taken.
    std::vector<mark> take_due(std::int64_t now_us, std::int64_t quiet_us) {
        std::vector<mark> out;
        for (auto it = owed_.begin(); it != owed_.end();) {
            if (now_us - it->second.at_us < quiet_us) {
                ++it;
                continue;
            }
            auto const& n = it->second;
            out.push_back(mark{it->first, n.number, n.sequence, n.event_id, n.shared});
            it = owed_.erase(it);
        }
        return out;
    }

    /// Channels that will be owed a mark.
    std::size_t size() const noexcept { return owed_.size(); }
    bool empty() const noexcept { return owed_.empty(); }
    void clear() noexcept { owed_.clear(); }

private:
    struct note {
        std::uint64_t number;
        std::uint64_t sequence;
        std::uint64_t event_id;
        std::int64_t at_us;
        bool shared;
    };

    std::size_t max_channels_;
    std::unordered_map<std::string, note> owed_;
};

} // namespace sse::detail

#endif
