// sse/detail/cluster_slot_map.hpp - the owner of each Redis Cluster hash slot: a master
// and its replicas per slot (pure, no I/O).
//
// Built from the server's CLUSTER SLOTS/SHARDS reply (cluster_topology.hpp), corrected in place
// by MOVED redirections (cluster_redirect.hpp) until the next refresh replaces it. One owner
// index per slot (32 KiB) makes a lookup one array read.
#ifndef SSE_DETAIL_CLUSTER_SLOT_MAP_HPP
#define SSE_DETAIL_CLUSTER_SLOT_MAP_HPP

#include <sse/detail/cluster_slots.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sse::detail {

/// A node's address as clients should use it.
struct cluster_node {
    std::string host;
    std::uint16_t port = 0;
    std::string id; ///< the 40-character node id, when the reply gave one

    /// "host:port", the form MOVED/ASK use.
    std::string endpoint() const { return host + ':' + std::to_string(port); }
    /// Same address (ids are informational: a MOVED target has none).
    bool same_address(cluster_node const& o) const noexcept {
        return port == o.port && host == o.host;
    }
};

/// A master and its replicas.
struct cluster_shard {
    cluster_node master;
    std::vector<cluster_node> replicas;
};

/// The owner of every slot. Copyable value: build a new one on refresh and swap it in.
class cluster_slot_map {
public:
    /// Marks a slot that no known master serves.
    static constexpr std::uint16_t unassigned = 0xFFFF;

    cluster_slot_map()
        : owner_(cluster_slot_count, unassigned) {}

    /// Makes `shard` the owner of slots [first, last]. False when the range is invalid or a
    /// slot in it already has an owner (a reply never claims a slot twice).
    bool add(std::uint16_t first, std::uint16_t last, cluster_shard const& shard) {
        if (first > last || last >= cluster_slot_count) return false;
        for (unsigned s = first; s <= last; ++s)
            if (owner_[s] != unassigned) return false;
        auto const index = shard_index(shard.master);
        if (shards_[index].replicas.empty()) shards_[index].replicas = shard.replicas;
        for (unsigned s = first; s <= last; ++s)
            owner_[s] = index;
        return true;
    }

    /// After `MOVED <slot> <node>`: `node` now serves `slot`, whatever the map said.
    void move_slot(std::uint16_t slot, cluster_node const& node) {
        if (slot >= cluster_slot_count) return;
        owner_[slot] = shard_index(node);
    }

    /// The master serving `slot`, or nullptr when none is known.
    cluster_node const* node_for_slot(std::uint16_t slot) const noexcept {
        auto const* s = shard_for_slot(slot);
        return s ? &s->master : nullptr;
    }
    cluster_shard const* shard_for_slot(std::uint16_t slot) const noexcept {
        if (slot >= cluster_slot_count || owner_[slot] == unassigned) return nullptr;
        return &shards_[owner_[slot]];
    }
    cluster_node const* node_for_key(std::string_view key) const noexcept {
        return node_for_slot(key_slot(key));
    }

    std::size_t assigned_slots() const noexcept {
        std::size_t n = 0;
        for (auto o : owner_)
            n += o != unassigned;
        return n;
    }
    bool covers_all_slots() const noexcept { return assigned_slots() == cluster_slot_count; }

    /// The shards that own at least one slot, masters first seen first.
    std::vector<cluster_shard> shards() const {
        std::vector<bool> used(shards_.size(), false);
        for (auto o : owner_)
            if (o != unassigned) used[o] = true;
        std::vector<cluster_shard> out;
        for (std::size_t i = 0; i < shards_.size(); ++i)
            if (used[i]) out.push_back(shards_[i]);
        return out;
    }

    /// Contiguous runs of slots with one owner: {first, last, master}. For logs and tests.
    struct slot_range {
        std::uint16_t first;
        std::uint16_t last;
        cluster_node master;
    };
    std::vector<slot_range> ranges() const {
        std::vector<slot_range> out;
        for (unsigned s = 0; s < cluster_slot_count;) {
            unsigned e = s;
            while (e + 1 < cluster_slot_count && owner_[e + 1] == owner_[s])
                ++e;
            if (owner_[s] != unassigned)
                out.push_back({std::uint16_t(s), std::uint16_t(e), shards_[owner_[s]].master});
            s = e + 1;
        }
        return out;
    }

private:
    // The index of the shard whose master is at `node`'s address, added when new. Shards no
    // slot points to are dropped first when they pile up (MOVED to ever new addresses), so
    // memory stays bounded by the slot count.
    std::uint16_t shard_index(cluster_node const& node) {
        for (std::size_t i = 0; i < shards_.size(); ++i)
            if (shards_[i].master.same_address(node)) return static_cast<std::uint16_t>(i);
        if (shards_.size() >= 1024) compact();
        shards_.push_back(cluster_shard{node, {}});
        return static_cast<std::uint16_t>(shards_.size() - 1);
    }

    void compact() {
        std::vector<std::uint16_t> remap(shards_.size(), unassigned);
        std::vector<cluster_shard> kept;
        for (auto& o : owner_) {
            if (o == unassigned) continue;
            if (remap[o] == unassigned) {
                remap[o] = static_cast<std::uint16_t>(kept.size());
                kept.push_back(std::move(shards_[o]));
            }
            o = remap[o];
        }
        shards_ = std::move(kept);
    }

    std::vector<std::uint16_t> owner_; // slot -> index into shards_
    std::vector<cluster_shard> shards_;
};

} // namespace sse::detail

#endif
