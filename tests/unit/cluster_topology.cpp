// Unit: sse/detail/cluster_topology.hpp - CLUSTER SLOTS and CLUSTER SHARDS replies to slot maps,
// including the odd endpoints Redis documents and replies that are not what they should be.
// (tests/redis/redis_cluster_topology.cpp parses a real cluster's replies.)
#include <sse/detail/cluster_topology.hpp>

#include "support/catch.hpp"

#include <functional>
#include <random>
#include <string>
#include <vector>

using sse::detail::cluster_reply;
using sse::detail::parse_cluster_shards;
using sse::detail::parse_cluster_slots;
using reply_kind = cluster_reply::kind;

namespace {

cluster_reply reply_int(long long v) {
    cluster_reply r;
    r.type = reply_kind::integer;
    r.integer = v;
    return r;
}
cluster_reply reply_str(std::string s) {
    cluster_reply r;
    r.type = reply_kind::string;
    r.text = std::move(s);
    return r;
}
cluster_reply reply_nil() {
    return {};
}
cluster_reply reply_array(std::vector<cluster_reply> e) {
    cluster_reply r;
    r.type = reply_kind::array;
    r.elements = std::move(e);
    return r;
}
cluster_reply slots_node(cluster_reply host, long long port) {
    return reply_array({std::move(host), reply_int(port), reply_str("id" + std::to_string(port)),
                        reply_array({})});
}
cluster_reply slots_entry(long long first, long long last, std::vector<cluster_reply> nodes) {
    std::vector<cluster_reply> e{reply_int(first), reply_int(last)};
    for (auto& n : nodes)
        e.push_back(std::move(n));
    return reply_array(std::move(e));
}
// The shape `redis-cli --cluster create --cluster-replicas 1` gives on three masters.
cluster_reply three_shard_slots() {
    return reply_array({slots_entry(0, 5460,
                                    {slots_node(reply_str("127.0.0.1"), 7000),
                                     slots_node(reply_str("127.0.0.1"), 7004)}),
                        slots_entry(5461, 10922,
                                    {slots_node(reply_str("127.0.0.1"), 7001),
                                     slots_node(reply_str("127.0.0.1"), 7005)}),
                        slots_entry(10923, 16383,
                                    {slots_node(reply_str("127.0.0.1"), 7002),
                                     slots_node(reply_str("127.0.0.1"), 7003)})});
}

cluster_reply shards_node(std::string ip, long long port, std::string role, std::string health) {
    return reply_array({reply_str("id"), reply_str("n" + std::to_string(port)), reply_str("port"),
                        reply_int(port), reply_str("ip"), reply_str(ip), reply_str("endpoint"),
                        reply_str(ip), reply_str("hostname"), reply_str(""), reply_str("role"),
                        reply_str(std::move(role)), reply_str("replication-offset"), reply_int(1),
                        reply_str("health"), reply_str(std::move(health))});
}
cluster_reply shards_entry(std::vector<long long> slots, std::vector<cluster_reply> nodes) {
    std::vector<cluster_reply> s;
    for (auto v : slots)
        s.push_back(reply_int(v));
    return reply_array({reply_str("slots"), reply_array(std::move(s)), reply_str("nodes"),
                        reply_array(std::move(nodes))});
}

} // namespace

TEST_CASE("cluster_topology: a CLUSTER SLOTS reply becomes a full slot map", "[cluster]") {
    std::string why;
    auto m = parse_cluster_slots(three_shard_slots(), "seed", &why);
    REQUIRE(m);
    CHECK(why.empty());
    CHECK(m->covers_all_slots());
    CHECK(m->node_for_slot(0)->endpoint() == "127.0.0.1:7000");
    CHECK(m->node_for_slot(0)->id == "id7000");
    CHECK(m->node_for_slot(10922)->port == 7001);
    CHECK(m->node_for_slot(16383)->port == 7002);
    REQUIRE(m->shard_for_slot(16383)->replicas.size() == 1);
    CHECK(m->shard_for_slot(16383)->replicas[0].port == 7003);
    CHECK(m->shards().size() == 3);
}

TEST_CASE("cluster_topology: NULL/\"\" endpoints mean the seed host; \"?\" means unknown",
          "[cluster]") {
    auto reply = reply_array(
        {slots_entry(0, 99, {slots_node(reply_nil(), 7000), slots_node(reply_str("?"), 7003)}),
         slots_entry(100, 199, {slots_node(reply_str(""), 7001)}),
         slots_entry(200, 16383, {slots_node(reply_str("?"), 7002)}),
         slots_entry(300, 300, {})}); // a range with no master: malformed
    std::string why;
    CHECK_FALSE(parse_cluster_slots(reply, "redis.example", &why));
    CHECK(why.find("malformed slot range") != std::string::npos);

    reply.elements.pop_back();
    auto m = parse_cluster_slots(reply, "redis.example", &why);
    REQUIRE(m);
    CHECK(m->node_for_slot(0)->endpoint() == "redis.example:7000");
    CHECK(m->shard_for_slot(0)->replicas.empty()); // the "?" replica is left out
    CHECK(m->node_for_slot(150)->endpoint() == "redis.example:7001");
    CHECK(m->node_for_slot(200) == nullptr); // an unreachable master: no owner, refresh later
    CHECK(m->assigned_slots() == 200);
    CHECK_FALSE(m->covers_all_slots());
}

TEST_CASE("cluster_topology: malformed CLUSTER SLOTS replies give a reason, never a map",
          "[cluster]") {
    auto with = [](cluster_reply entry) { return reply_array({std::move(entry)}); };
    auto good_node = slots_node(reply_str("127.0.0.1"), 7000);
    std::vector<cluster_reply> bad = {
        reply_str("ERR This instance has cluster support disabled"),
        reply_nil(),
        with(reply_int(5)),
        with(reply_array({reply_int(0), reply_int(10)})),                 // no master
        with(slots_entry(10, 5, {good_node})),                            // last < first
        with(slots_entry(-1, 5, {good_node})),                            // negative slot
        with(slots_entry(0, 16384, {good_node})),                         // past the last slot
        with(reply_array({reply_str("zero"), reply_int(5), good_node})),  // slot not a number
        with(slots_entry(0, 5, {reply_str("127.0.0.1:7000")})),           // node not an array
        with(slots_entry(0, 5, {reply_array({reply_str("127.0.0.1")})})), // node without a port
        with(slots_entry(0, 5, {slots_node(reply_str("127.0.0.1"), 0)})), // port 0
        with(slots_entry(0, 5, {slots_node(reply_str("127.0.0.1"), 70000)})),
        with(slots_entry(0, 5, {slots_node(reply_int(1), 7000)})), // host not a string
        reply_array({slots_entry(0, 5, {good_node}), slots_entry(5, 9, {good_node})}), // overlap
    };
    for (std::size_t i = 0; i < bad.size(); ++i) {
        INFO("case " << i);
        std::string why;
        CHECK_FALSE(parse_cluster_slots(bad[i], "h", &why));
        CHECK_FALSE(why.empty());
    }
    // Numbers as strings are accepted (some proxies send them), a port as text too.
    auto text_numbers = with(reply_array(
        {reply_str("0"), reply_str("16383"), reply_array({reply_str("h"), reply_str("7000")})}));
    auto m = parse_cluster_slots(text_numbers, "seed");
    REQUIRE(m);
    CHECK(m->node_for_slot(9999)->endpoint() == "h:7000");
}

TEST_CASE("cluster_topology: random reply trees never throw", "[cluster]") {
    std::mt19937 rng(1616);
    std::function<cluster_reply(int)> random_tree = [&](int depth) {
        switch (rng() % 5) {
        case 0:
            return reply_int(static_cast<long long>(rng() % 20000) - 100);
        case 1:
            return reply_str(std::to_string(rng() % 70000));
        case 2:
            return reply_nil();
        case 3:
            return reply_str(rng() % 2 ? "slots" : rng() % 2 ? "nodes" : "?");
        default: {
            std::vector<cluster_reply> e;
            if (depth < 4)
                for (unsigned n = rng() % 6; n > 0; --n)
                    e.push_back(random_tree(depth + 1));
            return reply_array(std::move(e));
        }
        }
    };
    for (int i = 0; i < 3000; ++i) {
        auto tree = random_tree(0);
        CHECK_NOTHROW(parse_cluster_slots(tree, "h"));
        CHECK_NOTHROW(parse_cluster_shards(tree, "h"));
    }
}

TEST_CASE("cluster_topology: a CLUSTER SHARDS reply, the online master serving each shard",
          "[cluster]") {
    auto reply = reply_array({
        shards_entry({0, 100, 200, 5460}, {shards_node("127.0.0.1", 7000, "master", "online"),
                                           shards_node("127.0.0.1", 7003, "replica", "online")}),
        // After a failover: the old master is a failed replica, its replica the master.
        shards_entry({101, 199, 5461, 16383},
                     {shards_node("127.0.0.1", 7001, "replica", "failed"),
                      shards_node("127.0.0.1", 7004, "master", "online"),
                      shards_node("127.0.0.1", 7005, "replica", "loading")}),
        shards_entry({}, {shards_node("127.0.0.1", 7009, "master", "online")}), // no slots yet
    });
    std::string why;
    auto m = parse_cluster_shards(reply, "seed", &why);
    INFO(why);
    REQUIRE(m);
    CHECK(m->covers_all_slots());
    CHECK(m->node_for_slot(0)->port == 7000);
    CHECK(m->node_for_slot(0)->id == "n7000");
    CHECK(m->node_for_slot(150)->port == 7004);
    CHECK(m->node_for_slot(5460)->port == 7000);
    CHECK(m->node_for_slot(9000)->port == 7004);
    REQUIRE(m->shard_for_slot(9000)->replicas.empty()); // failed and loading: not listed
    REQUIRE(m->shard_for_slot(0)->replicas.size() == 1);
    CHECK(m->shards().size() == 2);

    std::vector<cluster_reply> bad = {
        reply_str("x"),
        reply_array({reply_array({reply_str("slots"), reply_array({reply_int(0)}),
                                  reply_str("nodes"), reply_array({})})}), // odd slots
        reply_array({reply_array({reply_str("nodes"), reply_array({})})}), // no slots
        reply_array(
            {shards_entry({0, 5}, {reply_array({reply_str("port"), reply_str("x")})})}), // bad port
        reply_array({shards_entry({5, 0}, {shards_node("h", 1, "master", "online")})}),
        reply_array({shards_entry({0, 5}, {shards_node("h", 1, "master", "online")}),
                     shards_entry({5, 9}, {shards_node("h", 2, "master", "online")})}),
    };
    for (std::size_t i = 0; i < bad.size(); ++i) {
        INFO("case " << i);
        CHECK_FALSE(parse_cluster_shards(bad[i], "h", &why));
    }
}
