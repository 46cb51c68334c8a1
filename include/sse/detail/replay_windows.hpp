// sse/detail/replay_windows.hpp - which events of a shared-history replay's window a
// reconnected client has, so that one reaching Redis after the read is not lost (sans-I/O).
//
// A client that comes back with Last-Event-ID L is admitted at this node's head H and its
// missed events, (L, H], are read from Redis once. Another node's event in that window can
// reach Redis after the read (its clock behind, or its publish slow): it is in no replay, and
// when it arrives live it is below the head, so it cannot be sent in order. Its rooms'
// members since before it get the reset event (delivery_core::owed), but the reconnected
// client joined its rooms at H, after it in id order. This keeps, per such client, the
// window and the ids its read found: an id of the window the read did not find is owed, and
// the client gets the reset too. One that comes while the read runs is decided when it
// answers. A window is forgotten `keep_us` after its read answered: past the ids' clock
// agreement, no event of it is still on its way.
#ifndef SSE_DETAIL_REPLAY_WINDOWS_HPP
#define SSE_DETAIL_REPLAY_WINDOWS_HPP

#include <algorithm>
#include <cstdint>
#include <unordered_map>
#include <utility>
#include <vector>

namespace sse::detail {

class replay_windows {
public:
    using key = void const*; // a client, for as long as it is registered

    explicit replay_windows(std::uint64_t keep_us = 2000000)
        : keep_us_(keep_us) {}

    /// `k`'s replay of (after, upto] is being read.
    void open(key k, std::uint64_t after, std::uint64_t upto) {
        if (after >= upto) return; // nothing missed here: nothing to lose
        auto& w = windows_[k];
        w = window{};
        w.after = after;
        w.upto = upto;
    }

    /// Its read answered with `found` (the ids it read, any order). True when an event owed
    /// to `k` came late while it ran and is not among them: the caller resets `k`.
    bool read(key k, std::vector<std::uint64_t> found, std::uint64_t now_us) {
        auto it = windows_.find(k);
        if (it == windows_.end()) return false;
        auto& w = it->second;
        std::sort(found.begin(), found.end());
        w.found = std::move(found);
        w.expires_us = now_us + keep_us_;
        bool missed = false;
        for (auto id : w.late)
            missed = missed || !std::binary_search(w.found.begin(), w.found.end(), id);
        w.late.clear();
        w.late.shrink_to_fit();
        return missed;
    }

    /// A late event `id` (below the head, not in the logs) for a room `k` is in: whether `k`
    /// is owed it by its replay window. While the read runs, it is noted and `read` decides.
    bool owes(key k, std::uint64_t id) {
        auto it = windows_.find(k);
        if (it == windows_.end()) return false;
        auto& w = it->second;
        if (id <= w.after || id > w.upto) return false;
        if (w.expires_us == 0) { // still being read
            w.late.push_back(id);
            return false;
        }
        return !std::binary_search(w.found.begin(), w.found.end(), id);
    }

    /// `k` left. (Not on a reset: an event of the window that reaches Redis after the reset
    /// has an id below it, yet came after it, and is owed another.)
    void close(key k) { windows_.erase(k); }

    /// Forgets the windows whose late events can no longer come.
    void expire(std::uint64_t now_us) {
        for (auto it = windows_.begin(); it != windows_.end();) {
            if (it->second.expires_us != 0 && it->second.expires_us <= now_us)
                it = windows_.erase(it);
            else
                ++it;
        }
    }

    std::size_t size() const noexcept { return windows_.size(); }

private:
    struct window {
        std::uint64_t after = 0, upto = 0;
        std::uint64_t expires_us = 0;     // 0 while the read runs
        std::vector<std::uint64_t> found; // ascending, once read
        std::vector<std::uint64_t> late;  // owed ids that came while it was read
    };

    std::uint64_t keep_us_;
    std::unordered_map<key, window> windows_;
};

} // namespace sse::detail

#endif // SSE_DETAIL_REPLAY_WINDOWS_HPP
