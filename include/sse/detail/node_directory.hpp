// sse/detail/node_directory.hpp - the other nodes this one has heard from lately, and the
// client counts they reported per room (presence). Pure: time comes in as an argument.
//
// A node is alive until its last announce's TTL runs out; then it drops out of requests'
// expected answers and its counts out of presence. Every table here is bounded, so that a
// flood of crafted announces cannot grow memory without limit.
#ifndef SSE_DETAIL_NODE_DIRECTORY_HPP
#define SSE_DETAIL_NODE_DIRECTORY_HPP

#include <sse/detail/node_message.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace sse::detail {

class node_directory {
public:
    using clock = std::chrono::steady_clock;
    static constexpr std::size_t max_nodes = 1024;
    static constexpr std::size_t max_rooms_per_node = 65536;

    /// Node `id` announced itself: alive until `now + ttl`. False when the table is full.
    bool heard(std::string const& id, clock::time_point now, std::chrono::milliseconds ttl) {
        auto it = nodes_.find(id);
        if (it == nodes_.end()) {
            if (nodes_.size() >= max_nodes) return false;
            it = nodes_.emplace(id, peer{}).first;
        }
        it->second.until = now + ttl;
        return true;
    }

    /// Applies `id`'s reported counts: all of its rooms when `full`, else only the changes.
    /// Ignored for a node not heard of (or expired): its next announce is full anyway.
    void report(std::string const& id, bool full, std::vector<presence_entry> const& entries) {
        auto it = nodes_.find(id);
        if (it == nodes_.end()) return;
        auto& counts = it->second.counts;
        if (full) {
            for (auto const& [key, n] : counts)
                subtract(key, n);
            counts.clear();
        }
        for (auto const& e : entries) {
            auto key = presence_key(e.nsp, e.room);
            auto c = counts.find(key);
            if (c != counts.end()) {
                subtract(key, c->second);
                if (e.count == 0) {
                    counts.erase(c);
                    continue;
                }
                c->second = e.count;
            } else {
                if (e.count == 0 || counts.size() >= max_rooms_per_node) continue;
                counts.emplace(key, e.count);
            }
            totals_[key] += e.count;
        }
    }

    /// Forgets node `id` (it said goodbye).
    void forget(std::string const& id) {
        auto it = nodes_.find(id);
        if (it != nodes_.end()) drop(it);
    }

    /// Drops the nodes whose TTL ran out; returns their ids.
    std::vector<std::string> expire(clock::time_point now) {
        std::vector<std::string> gone;
        for (auto it = nodes_.begin(); it != nodes_.end();) {
            if (it->second.until > now) {
                ++it;
                continue;
            }
            gone.push_back(it->first);
            it = drop(it);
        }
        return gone;
    }

    /// The nodes alive at `now`, in id order.
    std::vector<std::string> alive(clock::time_point now) const {
        std::vector<std::string> out;
        for (auto const& [id, p] : nodes_)
            if (p.until > now) out.push_back(id);
        return out;
    }

    bool knows(std::string const& id) const { return nodes_.count(id) != 0; }

    /// Clients of `room` in `nsp` on the other nodes, as last reported.
    std::uint64_t presence(std::string_view nsp, std::string_view room) const {
        auto it = totals_.find(presence_key(nsp, room));
        return it == totals_.end() ? 0 : it->second;
    }

    static std::string presence_key(std::string_view nsp, std::string_view room) {
        std::string key(nsp);
        key += '\0';
        key.append(room.data(), room.size());
        return key;
    }

private:
    struct peer {
        clock::time_point until;
        std::unordered_map<std::string, std::uint32_t> counts; // presence_key -> clients
    };

    void subtract(std::string const& key, std::uint64_t n) {
        auto t = totals_.find(key);
        if (t == totals_.end()) return;
        t->second -= std::min(t->second, n);
        if (t->second == 0) totals_.erase(t);
    }

    std::map<std::string, peer>::iterator drop(std::map<std::string, peer>::iterator it) {
        for (auto const& [key, n] : it->second.counts)
            subtract(key, n);
        return nodes_.erase(it);
    }

    std::map<std::string, peer> nodes_;
    std::unordered_map<std::string, std::uint64_t> totals_;
};

/// What this node last announced, so that the next announce carries only the changes.
class presence_announcer {
public:
    /// Every `full_every`-th announce carries every room, so that a lost one (pub/sub is at
    /// most once) or a node that just started is right within that many intervals.
    explicit presence_announcer(unsigned full_every = 5) noexcept
        : full_every_(full_every == 0 ? 1 : full_every) {}

    /// From this node's counts now (rooms with clients), the entries of the next announce,
    /// and whether it is a full one.
    std::vector<presence_entry> next(std::vector<presence_entry> now, bool& full) {
        full = tick_++ % full_every_ == 0;
        std::unordered_map<std::string, std::uint32_t> current;
        current.reserve(now.size());
        for (auto const& e : now)
            current.emplace(node_directory::presence_key(e.nsp, e.room), e.count);
        std::vector<presence_entry> out;
        if (full) {
            out = std::move(now);
        } else {
            for (auto& e : now) {
                auto it = sent_.find(node_directory::presence_key(e.nsp, e.room));
                if (it == sent_.end() || it->second != e.count) out.push_back(std::move(e));
            }
            for (auto const& [key, n] : sent_)
                if (current.count(key) == 0) {
                    auto cut = key.find('\0');
                    out.push_back({key.substr(0, cut), key.substr(cut + 1), 0});
                }
        }
        sent_ = std::move(current);
        return out;
    }

private:
    unsigned full_every_;
    unsigned tick_ = 0;
    std::unordered_map<std::string, std::uint32_t> sent_;
};

} // namespace sse::detail

#endif
