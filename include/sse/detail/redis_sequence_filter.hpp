// sse/detail/redis_sequence_filter.hpp - drops the copies of a message a node already
// delivered, per origin, whatever order the copies come in (sans-I/O).
//
// One emit can reach a node several times: once per target room channel it has, and again
// when the origin's publisher re-sends what Redis had not answered before a reconnect. On one
// Redis server an origin's messages arrive in its publishing order (one connection each way),
// so "at or below the highest seen" meant "a copy". On a Redis Cluster with sharded pub/sub
// each shard is a connection of its own: an origin's messages on two channels of two shards
// can arrive in either order, and the older one is no copy. So the filter remembers the last
// `window` values it accepted per origin: a value among them is a copy, a value below all of
// them is taken for one (older than `window` newer messages of its origin: far beyond any
// reordering between shards), and anything else is new.
#ifndef SSE_DETAIL_REDIS_SEQUENCE_FILTER_HPP
#define SSE_DETAIL_REDIS_SEQUENCE_FILTER_HPP

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_map>

namespace sse::detail {

class redis_sequence_filter {
public:
    /// At most `max_origins` origins (forgetting the least recently heard), `window` values
    /// each (2 KiB per origin at the default).
    explicit redis_sequence_filter(std::size_t max_origins = 1024, std::size_t window = 256)
        : max_origins_(max_origins > 0 ? max_origins : 1)
        , window_(window > 0 ? window : 1) {}

    /// True the first time (origin, value) is seen; false for a copy.
    bool accept(std::string_view origin, std::uint64_t value) {
        ++clock_;
        key_.assign(origin.data(), origin.size());
        auto it = origins_.find(key_);
        if (it == origins_.end()) {
            if (origins_.size() >= max_origins_) forget_least_recent();
            it = origins_.emplace(key_, origin_state{}).first;
        }
        auto& o = it->second;
        o.last_heard = clock_;
        auto& seen = o.recent; // ascending
        if (seen.empty() || value > seen.back()) {
            seen.push_back(value); // the usual case: in order
        } else {
            if (seen.size() >= window_ && value < seen.front()) return false;
            auto const at = std::lower_bound(seen.begin(), seen.end(), value);
            if (at != seen.end() && *at == value) return false;
            seen.insert(at, value); // an older message that came after a newer one
        }
        if (seen.size() > window_) seen.pop_front();
        return true;
    }

    std::size_t size() const noexcept { return origins_.size(); }

private:
    struct origin_state {
        std::deque<std::uint64_t> recent; // pops at the front, pushes at the back
        std::uint64_t last_heard = 0;
    };

    void forget_least_recent() {
        // Rare (a new node after many restarts): linear is fine.
        auto oldest = origins_.begin();
        for (auto i = origins_.begin(); i != origins_.end(); ++i)
            if (i->second.last_heard < oldest->second.last_heard) oldest = i;
        origins_.erase(oldest);
    }

    std::size_t max_origins_;
    std::size_t window_;
    std::unordered_map<std::string, origin_state> origins_;
    std::string key_; // reused lookup key: no allocation per message for usual id lengths
    std::uint64_t clock_ = 0;
};

} // namespace sse::detail

#endif
