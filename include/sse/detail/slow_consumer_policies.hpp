// sse/detail/slow_consumer_policies.hpp - what happens to a lagging client: the namespace's
// policy, per-room overrides, and the conflation key an emit carries because of them.
#ifndef SSE_DETAIL_SLOW_CONSUMER_POLICIES_HPP
#define SSE_DETAIL_SLOW_CONSUMER_POLICIES_HPP

#include <sse/options.hpp>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace sse::detail {

/// Events with equal keys replace each other in a lagging client's queue (conflate policy).
inline std::uint64_t conflation_key(std::string_view name, std::vector<std::string> const& rooms) {
    std::uint64_t h = std::hash<std::string_view>{}(name);
    for (auto const& r : rooms) // order-independent: to(a).to(b) and to(b).to(a) conflate
        h += std::hash<std::string>{}(r)*0x9E3779B97F4A7C15ull;
    return h == 0 ? 1 : h;
}

/** A namespace's slow-consumer policy and its per-room overrides. Thread-safe: emits read it
    from any thread, and skip the lock while no room has an override.
*/
class slow_consumer_policies {
public:
    explicit slow_consumer_policies(slow_consumer_policy p)
        : policy_(p) {}

    slow_consumer_policy get() const noexcept { return policy_.load(); }
    void set(slow_consumer_policy p) noexcept { policy_.store(p); }

    /// `room`'s policy: its override, else the namespace's.
    slow_consumer_policy get(std::string_view room) const {
        std::lock_guard<std::mutex> lock(mutex_);
        auto it = rooms_.find(std::string(room));
        return it == rooms_.end() ? policy_.load() : it->second;
    }
    void set(std::string_view room, slow_consumer_policy p) {
        std::lock_guard<std::mutex> lock(mutex_);
        rooms_.insert_or_assign(std::string(room), p);
        has_rooms_.store(true, std::memory_order_release);
    }
    void clear(std::string_view room) {
        std::lock_guard<std::mutex> lock(mutex_);
        rooms_.erase(std::string(room));
        has_rooms_.store(!rooms_.empty(), std::memory_order_release);
    }

    /// Non-zero when an event named `event` to `rooms` may be conflated: its policy (the
    /// namespace's for a namespace-wide emit) is conflate, for every one of its rooms.
    std::uint64_t conflation_key_for(std::string_view event,
                                     std::vector<std::string> const& rooms) const {
        auto const fallback = policy_.load();
        bool conflate = fallback == slow_consumer_policy::conflate;
        if (!rooms.empty() && has_rooms_.load(std::memory_order_acquire)) {
            std::lock_guard<std::mutex> lock(mutex_);
            conflate = std::all_of(rooms.begin(), rooms.end(), [&](std::string const& r) {
                auto it = rooms_.find(r);
                auto p = it == rooms_.end() ? fallback : it->second;
                return p == slow_consumer_policy::conflate;
            });
        }
        return conflate ? conflation_key(event, rooms) : 0;
    }

private:
    std::atomic<slow_consumer_policy> policy_;
    mutable std::mutex mutex_; // guards rooms_
    std::unordered_map<std::string, slow_consumer_policy> rooms_;
    std::atomic<bool> has_rooms_{false};
};

} // namespace sse::detail

#endif
