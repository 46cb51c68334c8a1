// sse/detail/redis_subscriptions.hpp - which channels this node wants, which it told the server
// about, and what to send to make the two agree (sans-I/O).
//
// Interest arrives from any thread (room added, room removed); the subscriber link asks for the
// difference when it can write (`take_changes`), and after a reconnect it calls `reset()` so that
// every wanted channel is sent again: the tracker is the replay list. Flapping interest costs
// nothing on the wire: join, leave and join again before the next flush send nothing.
#ifndef SSE_DETAIL_REDIS_SUBSCRIPTIONS_HPP
#define SSE_DETAIL_REDIS_SUBSCRIPTIONS_HPP

#include <cstddef>
#include <string>
#include <unordered_map>
#include <vector>

namespace sse::detail {

class redis_subscriptions {
public:
    struct changes {
        std::vector<std::string> subscribe;
        std::vector<std::string> unsubscribe;
        bool empty() const noexcept { return subscribe.empty() && unsubscribe.empty(); }
    };

    /// Wants `channel`. Returns true when a flush is needed.
    bool add(std::string const& channel) {
        auto& e = entries_[channel];
        if (e.wanted) return false;
        e.wanted = true;
        return mark_dirty(channel, e);
    }

    /// No longer wants `channel`. Returns true when a flush is needed.
    bool remove(std::string const& channel) {
        auto it = entries_.find(channel);
        if (it == entries_.end() || !it->second.wanted) return false;
        it->second.wanted = false;
        return mark_dirty(channel, it->second);
    }

    bool wants(std::string const& channel) const {
        auto it = entries_.find(channel);
        return it != entries_.end() && it->second.wanted;
    }

    /// Channels wanted now.
    std::size_t wanted_count() const noexcept { return wanted_; }

    /// The connection is gone: the server knows none of our channels any more. Every wanted
    /// channel will be in the next `take_changes().subscribe`.
    void reset() {
        dirty_.clear();
        for (auto it = entries_.begin(); it != entries_.end();) {
            it->second.sent = false;
            it->second.dirty = false;
            if (!it->second.wanted) {
                it = entries_.erase(it);
                continue;
            }
            it->second.dirty = true;
            dirty_.push_back(it->first);
            ++it;
        }
    }

    /// What to send now so that the server matches what is wanted; records it as sent.
    changes take_changes() {
        changes c;
        for (auto& name : dirty_) {
            auto it = entries_.find(name);
            if (it == entries_.end()) continue;
            auto& e = it->second;
            e.dirty = false;
            if (e.wanted && !e.sent) {
                e.sent = true;
                c.subscribe.push_back(name);
            } else if (!e.wanted && e.sent) {
                e.sent = false;
                c.unsubscribe.push_back(name);
            }
            if (!e.wanted && !e.sent) entries_.erase(it);
        }
        dirty_.clear();
        return c;
    }

    /// The server dropped `channel` on its own (a Redis Cluster sends `sunsubscribe` when the
    /// channel's slot moves away): it is sent again by the next `take_changes`. Returns true
    /// when a flush is needed.
    bool lost(std::string const& channel) {
        auto it = entries_.find(channel);
        if (it == entries_.end() || !it->second.wanted || !it->second.sent) return false;
        it->second.sent = false;
        if (it->second.dirty) return false;
        it->second.dirty = true;
        dirty_.push_back(channel);
        return true;
    }

    /// Calls `fn(channel)` for each wanted channel (copy what you keep: `fn` must not change
    /// the tracker).
    template <class Fn>
    void for_each_wanted(Fn&& fn) const {
        for (auto const& [name, e] : entries_)
            if (e.wanted) fn(name);
    }

    /// Whether `take_changes` would return something.
    bool has_changes() const noexcept { return !dirty_.empty(); }

private:
    struct entry {
        bool wanted = false; ///< interest from the local server
        bool sent = false;   ///< SUBSCRIBE written on the current connection (and not undone)
        bool dirty = false;  ///< in dirty_
    };

    bool mark_dirty(std::string const& channel, entry& e) {
        if (e.wanted)
            ++wanted_;
        else
            --wanted_;
        if (e.dirty) return false;
        e.dirty = true;
        dirty_.push_back(channel);
        return true;
    }

    std::unordered_map<std::string, entry> entries_;
    std::vector<std::string> dirty_;
    std::size_t wanted_ = 0;
};

} // namespace sse::detail

#endif
