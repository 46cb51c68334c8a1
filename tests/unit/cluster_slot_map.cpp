// Unit: sse/detail/cluster_slot_map.hpp - slot ownership: ranges, lookups, MOVED updates and
// the bound on remembered shards.
#include <sse/detail/cluster_slot_map.hpp>

#include "support/catch.hpp"

#include <string>

using sse::detail::cluster_node;
using sse::detail::cluster_shard;
using sse::detail::cluster_slot_map;
using sse::detail::key_slot;

namespace {

cluster_shard slot_map_shard(std::uint16_t master_port, std::uint16_t replica_port) {
    cluster_shard s;
    s.master = cluster_node{"127.0.0.1", master_port, "m" + std::to_string(master_port)};
    s.replicas.push_back(cluster_node{"127.0.0.1", replica_port, ""});
    return s;
}

cluster_slot_map three_shards() {
    cluster_slot_map m;
    REQUIRE(m.add(0, 5460, slot_map_shard(7000, 7003)));
    REQUIRE(m.add(5461, 10922, slot_map_shard(7001, 7004)));
    REQUIRE(m.add(10923, 16383, slot_map_shard(7002, 7005)));
    return m;
}

} // namespace

TEST_CASE("cluster_slot_map: each slot's master and replicas", "[cluster]") {
    cluster_slot_map empty;
    CHECK(empty.node_for_slot(0) == nullptr);
    CHECK(empty.assigned_slots() == 0);
    CHECK_FALSE(empty.covers_all_slots());

    auto m = three_shards();
    CHECK(m.covers_all_slots());
    REQUIRE(m.node_for_slot(0) != nullptr);
    CHECK(m.node_for_slot(0)->port == 7000);
    CHECK(m.node_for_slot(5460)->port == 7000);
    CHECK(m.node_for_slot(5461)->port == 7001);
    CHECK(m.node_for_slot(16383)->port == 7002);
    CHECK(m.node_for_slot(16384) == nullptr); // out of range: no owner, no crash
    CHECK(m.node_for_slot(0xFFFF) == nullptr);
    CHECK(m.node_for_slot(100)->endpoint() == "127.0.0.1:7000");
    CHECK(m.node_for_slot(100)->id == "m7000");
    REQUIRE(m.shard_for_slot(12000)->replicas.size() == 1);
    CHECK(m.shard_for_slot(12000)->replicas[0].port == 7005);
    CHECK(m.node_for_key("somekey")->port == 7002);              // slot 11058
    CHECK(m.node_for_key("{user1000}.following")->port == 7000); // slot 3443

    auto shards = m.shards();
    REQUIRE(shards.size() == 3);
    CHECK(shards[1].master.port == 7001);
    auto ranges = m.ranges();
    REQUIRE(ranges.size() == 3);
    CHECK(ranges[2].first == 10923);
    CHECK(ranges[2].last == 16383);
    CHECK(ranges[2].master.port == 7002);
}

TEST_CASE("cluster_slot_map: bad or overlapping ranges are refused", "[cluster]") {
    cluster_slot_map m;
    CHECK_FALSE(m.add(10, 5, slot_map_shard(7000, 7003)));
    CHECK_FALSE(m.add(0, 16384, slot_map_shard(7000, 7003)));
    CHECK(m.assigned_slots() == 0);
    CHECK(m.add(0, 100, slot_map_shard(7000, 7003)));
    CHECK_FALSE(m.add(100, 200, slot_map_shard(7001, 7004))); // slot 100 taken
    CHECK(m.node_for_slot(150) == nullptr);                   // nothing half-applied
    CHECK(m.add(101, 200, slot_map_shard(7000, 7003)));       // one master, two ranges
    CHECK(m.shards().size() == 1);
    CHECK(m.ranges().size() == 1); // 0-200 in one run
    CHECK(m.assigned_slots() == 201);
}

TEST_CASE("cluster_slot_map: MOVED reassigns one slot, to a known or a new master", "[cluster]") {
    auto m = three_shards();
    m.move_slot(42, cluster_node{"127.0.0.1", 7001, ""});
    CHECK(m.node_for_slot(42)->port == 7001);
    CHECK(m.node_for_slot(42)->id == "m7001"); // the known shard, replicas and all
    CHECK(m.node_for_slot(41)->port == 7000);
    CHECK(m.ranges().size() == 5);

    m.move_slot(43, cluster_node{"127.0.0.2", 7000, ""}); // same port, other host: new master
    CHECK(m.node_for_slot(43)->host == "127.0.0.2");
    CHECK(m.shards().size() == 4);
    m.move_slot(16384, cluster_node{"127.0.0.1", 7001, ""}); // ignored
    CHECK(m.covers_all_slots());
}

TEST_CASE("cluster_slot_map: MOVED to ever new addresses keeps memory bounded", "[cluster]") {
    auto m = three_shards();
    for (unsigned i = 0; i < 20000; ++i)
        m.move_slot(7, cluster_node{"10.0.0." + std::to_string(i % 250),
                                    static_cast<std::uint16_t>(1000 + i), ""});
    CHECK(m.node_for_slot(7)->port == 1000 + 19999);
    CHECK(m.node_for_slot(8)->port == 7000);
    CHECK(m.shards().size() == 4);
    CHECK(m.covers_all_slots());
}
