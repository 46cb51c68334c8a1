// Redis Cluster: the sans-I/O cluster parts (slot hashing, topology, redirections) against a
// real cluster of 3 masters and 3 replicas, which redis_cluster_fixture.sh starts and whose
// ports it writes to $SSE_TEST_REDIS_CLUSTER_PORTS_FILE (seed first). Synchronous hiredis, its
// replies turned into trees by redis_cluster_reply.hpp: what is checked here is the parsing and
// the routing, not the I/O.
#include <sse/detail/cluster_redirect.hpp>
#include <sse/detail/cluster_slots.hpp>
#include <sse/detail/cluster_topology.hpp>
#include <sse/detail/redis_cluster_reply.hpp>

#include "support/catch.hpp"

#include <hiredis/hiredis.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

using sse::detail::cluster_node;
using sse::detail::cluster_redirect_policy;
using sse::detail::cluster_reply;
using sse::detail::cluster_shard;
using sse::detail::cluster_slot_map;
using sse::detail::key_slot;

std::vector<std::uint16_t> cluster_ports() {
    char const* file = std::getenv("SSE_TEST_REDIS_CLUSTER_PORTS_FILE");
    if (!file || !*file)
        FAIL("SSE_TEST_REDIS_CLUSTER_PORTS_FILE is not set: run through ctest, whose fixture "
             "(tests/redis/redis_cluster_fixture.sh) starts the cluster");
    std::ifstream in(file);
    std::vector<std::uint16_t> ports;
    unsigned p = 0;
    while (in >> p)
        ports.push_back(static_cast<std::uint16_t>(p));
    REQUIRE(ports.size() == 6);
    return ports;
}

struct context_deleter {
    void operator()(redisContext* c) const noexcept { redisFree(c); }
};

class sync_node {
public:
    explicit sync_node(std::uint16_t port)
        : port_(port) {
        timeval tv{2, 0};
        ctx_.reset(redisConnectWithTimeout("127.0.0.1", port, tv));
        REQUIRE(ctx_);
        INFO("connecting to 127.0.0.1:" << port << ": " << ctx_->errstr);
        REQUIRE(ctx_->err == 0);
        redisSetTimeout(ctx_.get(), tv);
    }
    std::uint16_t port() const noexcept { return port_; }

    cluster_reply command(std::vector<std::string> const& args) {
        append(args);
        return read();
    }
    /// For cleanup: runs a command and ignores what happens (never throws).
    void quietly(std::vector<std::string> const& args) noexcept {
        std::vector<char const*> argv;
        std::vector<std::size_t> lens;
        for (auto const& a : args) {
            argv.push_back(a.data());
            lens.push_back(a.size());
        }
        void* reply =
            redisCommandArgv(ctx_.get(), static_cast<int>(args.size()), argv.data(), lens.data());
        if (reply) freeReplyObject(reply);
    }
    void append(std::vector<std::string> const& args) {
        std::vector<char const*> argv;
        std::vector<std::size_t> lens;
        for (auto const& a : args) {
            argv.push_back(a.data());
            lens.push_back(a.size());
        }
        REQUIRE(redisAppendCommandArgv(ctx_.get(), static_cast<int>(args.size()), argv.data(),
                                       lens.data()) == REDIS_OK);
    }
    cluster_reply read() {
        void* raw = nullptr;
        INFO("port " << port_ << ": " << ctx_->errstr);
        REQUIRE(redisGetReply(ctx_.get(), &raw) == REDIS_OK);
        REQUIRE(raw != nullptr);
        auto tree = sse::detail::to_cluster_reply(*static_cast<redisReply*>(raw));
        freeReplyObject(raw);
        return tree;
    }

private:
    std::uint16_t port_;
    std::unique_ptr<redisContext, context_deleter> ctx_;
};

// CLUSTER NODES, parsed as the fixture (and redis-cli) shows it: per master port, its slot
// ranges and its replicas' ports.
struct nodes_view {
    std::map<std::uint16_t, std::vector<std::pair<unsigned, unsigned>>> master_ranges;
    std::map<std::uint16_t, std::set<std::uint16_t>> replicas;
};

nodes_view cluster_nodes(sync_node& node) {
    auto reply = node.command({"CLUSTER", "NODES"});
    REQUIRE(reply.type == cluster_reply::kind::string);
    std::map<std::string, std::uint16_t> port_of_id;
    std::vector<std::vector<std::string>> lines;
    std::istringstream in(reply.text);
    for (std::string line; std::getline(in, line);) {
        std::istringstream fields(line);
        std::vector<std::string> f;
        for (std::string w; fields >> w;)
            f.push_back(w);
        REQUIRE(f.size() >= 8);
        auto const colon = f[1].find(':');
        port_of_id[f[0]] = static_cast<std::uint16_t>(std::stoul(f[1].substr(colon + 1)));
        lines.push_back(std::move(f));
    }
    nodes_view v;
    for (auto const& f : lines) {
        auto const port = port_of_id[f[0]];
        if (f[2].find("master") != std::string::npos) {
            auto& ranges = v.master_ranges[port];
            for (std::size_t i = 8; i < f.size(); ++i) {
                auto const dash = f[i].find('-');
                unsigned first = std::stoul(f[i].substr(0, dash));
                unsigned last =
                    dash == std::string::npos ? first : std::stoul(f[i].substr(dash + 1));
                ranges.emplace_back(first, last);
            }
        } else {
            v.replicas[port_of_id.at(f[3])].insert(port);
        }
    }
    return v;
}

cluster_slot_map slots_from(sync_node& node) {
    std::string why;
    auto map =
        sse::detail::parse_cluster_slots(node.command({"CLUSTER", "SLOTS"}), "127.0.0.1", &why);
    INFO(why);
    REQUIRE(map);
    return *map;
}

} // namespace

TEST_CASE("redis cluster: key_slot agrees with CLUSTER KEYSLOT", "[redis][cluster]") {
    auto ports = cluster_ports();
    sync_node seed(ports[0]);
    std::vector<std::string> keys = {"",
                                     "123456789",
                                     "somekey",
                                     "foo{hash_tag}",
                                     "{user1000}.following",
                                     "foo{}{bar}",
                                     "foo{{bar}}zap",
                                     "foo{bar}{zap}",
                                     "{",
                                     "}",
                                     "{}",
                                     "}{",
                                     "{{}}",
                                     "a{b",
                                     "a}b{c}",
                                     std::string("\0{\0}\0", 5),
                                     "\xff{\xfe}",
                                     std::string(1000, 'x'),
                                     "sse#/#room"};
    std::mt19937 rng(0xC1u);
    char const alphabet[] = "ab{}{}#/\\ \x01\x80\xff"
                            "0123456789";
    for (int i = 0; i < 3000; ++i) {
        std::string k(rng() % 24, '\0');
        for (auto& c : k)
            c = i % 2 ? alphabet[rng() % (sizeof alphabet - 1)] : static_cast<char>(rng());
        keys.push_back(std::move(k));
    }
    for (int i = 0; i < 200; ++i)
        keys.push_back(sse::detail::cluster_channel("sse#/#room-" + std::to_string(i)));

    for (auto const& k : keys) // pipelined: one round trip's worth of waiting
        seed.append({"CLUSTER", "KEYSLOT", k});
    int mismatches = 0;
    for (auto const& k : keys) {
        auto r = seed.read();
        REQUIRE(r.type == cluster_reply::kind::integer);
        if (r.integer != key_slot(k) && ++mismatches <= 5)
            FAIL_CHECK("key of " << k.size() << " bytes: server " << r.integer << ", ours "
                                 << key_slot(k));
    }
    CHECK(mismatches == 0);
}

TEST_CASE("redis cluster: CLUSTER SLOTS and CLUSTER SHARDS give the map CLUSTER NODES shows",
          "[redis][cluster]") {
    auto ports = cluster_ports();
    sync_node seed(ports[0]);
    auto map = slots_from(seed);
    CHECK(map.covers_all_slots());
    auto shards = map.shards();
    REQUIRE(shards.size() == 3);

    auto view = cluster_nodes(seed);
    REQUIRE(view.master_ranges.size() == 3);
    std::set<std::uint16_t> const fixture_ports(ports.begin(), ports.end());
    for (auto const& shard : shards) {
        INFO("master " << shard.master.endpoint());
        CHECK(shard.master.host == "127.0.0.1");
        CHECK(fixture_ports.count(shard.master.port) == 1);
        CHECK(shard.master.id.size() == 40);
        REQUIRE(view.master_ranges.count(shard.master.port) == 1);
        for (auto [first, last] : view.master_ranges[shard.master.port])
            for (unsigned s = first; s <= last; ++s)
                REQUIRE(map.node_for_slot(static_cast<std::uint16_t>(s))->port ==
                        shard.master.port);
        std::set<std::uint16_t> replicas;
        for (auto const& r : shard.replicas)
            replicas.insert(r.port);
        CHECK(replicas == view.replicas[shard.master.port]);
        CHECK(replicas.size() == 1);
    }

    // CLUSTER SHARDS says the same, and so does every node.
    std::string why;
    auto by_shards =
        sse::detail::parse_cluster_shards(seed.command({"CLUSTER", "SHARDS"}), "127.0.0.1", &why);
    INFO(why);
    REQUIRE(by_shards);
    for (auto const p : ports) {
        sync_node node(p);
        auto other = slots_from(node);
        for (unsigned s = 0; s < sse::detail::cluster_slot_count; ++s) {
            auto const slot = static_cast<std::uint16_t>(s);
            REQUIRE(other.node_for_slot(slot)->port == map.node_for_slot(slot)->port);
            REQUIRE(by_shards->node_for_slot(slot)->port == map.node_for_slot(slot)->port);
        }
    }
}

TEST_CASE("redis cluster: a real MOVED is followed to the right master", "[redis][cluster]") {
    auto ports = cluster_ports();
    sync_node seed(ports[0]);
    auto const truth = slots_from(seed);
    std::map<std::uint16_t, std::unique_ptr<sync_node>> links;
    auto link = [&](cluster_node const& n) -> sync_node& {
        REQUIRE(n.host == "127.0.0.1");
        auto& l = links[n.port];
        if (!l) l = std::make_unique<sync_node>(n.port);
        return *l;
    };

    // A stale map that puts every slot on one master, as if the others had just appeared.
    cluster_slot_map stale;
    REQUIRE(stale.add(0, 16383, cluster_shard{*truth.node_for_slot(0), {}}));
    int redirected = 0;
    for (int i = 0; i < 300; ++i) {
        auto const key = "cluster-moved-" + std::to_string(i);
        auto const value = "v" + std::to_string(i);
        cluster_redirect_policy policy(3);
        cluster_node target = *stale.node_for_key(key);
        cluster_reply reply;
        for (;;) {
            reply = link(target).command({"SET", key, value});
            if (reply.type != cluster_reply::kind::error) break;
            auto action = policy.on_error(reply.text, target.host, stale);
            INFO(key << ": " << reply.text);
            REQUIRE(action.type == cluster_redirect_policy::action::retry); // MOVED, parsed
            CHECK(action.refresh_topology);
            CHECK(action.target.port == truth.node_for_key(key)->port);
            target = action.target;
            ++redirected;
        }
        INFO(key);
        CHECK(reply.text == "OK");
        CHECK(policy.followed() <= 1);
        CHECK(target.port == truth.node_for_key(key)->port);
        CHECK(stale.node_for_key(key)->port == truth.node_for_key(key)->port); // map corrected
        CHECK(link(*truth.node_for_key(key)).command({"GET", key}).text == value);
    }
    CHECK(redirected > 100); // about 2/3 of the keys live on the other two masters
}

TEST_CASE("redis cluster: a real ASK (slot migrating) is followed once with ASKING",
          "[redis][cluster]") {
    auto ports = cluster_ports();
    sync_node seed(ports[0]);
    auto map = slots_from(seed);
    std::string const key = "cluster-ask-probe";
    auto const slot = key_slot(key);
    auto const owner = *map.node_for_slot(slot);
    cluster_node importer;
    for (auto const& s : map.shards())
        if (!s.master.same_address(owner)) importer = s.master;
    REQUIRE(importer.port != 0);

    sync_node from(owner.port), to(importer.port);
    auto const slot_text = std::to_string(slot);
    // Whatever happens below, the slot ends stable: later tests share this cluster.
    struct stabilize {
        sync_node& a;
        sync_node& b;
        std::string slot;
        ~stabilize() {
            for (auto* n : {&a, &b})
                n->quietly({"CLUSTER", "SETSLOT", slot, "STABLE"});
        }
    } guard{from, to, slot_text};
    REQUIRE(to.command({"CLUSTER", "SETSLOT", slot_text, "IMPORTING", owner.id}).text == "OK");
    REQUIRE(from.command({"CLUSTER", "SETSLOT", slot_text, "MIGRATING", importer.id}).text == "OK");
    // A key absent from the migrating source is asked of the importer.
    auto reply = from.command({"GET", key});
    cluster_redirect_policy policy(3);
    auto action = policy.on_error(reply.text, owner.host, map);
    INFO(reply.text);
    CHECK(action.type == cluster_redirect_policy::action::retry_asking);
    CHECK(action.target.port == importer.port);
    CHECK(map.node_for_slot(slot)->port == owner.port); // ASK leaves the map alone

    // Without ASKING the importer refuses with MOVED; with it, the command runs.
    CHECK(to.command({"GET", key}).text.rfind("MOVED ", 0) == 0);
    to.append({"ASKING"});
    to.append({"GET", key});
    CHECK(to.read().text == "OK");
    CHECK(to.read().type == cluster_reply::kind::nil);
}
