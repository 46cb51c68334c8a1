// Unit: sse/detail/cluster_redirect.hpp - MOVED/ASK parsing (malformed lines included) and the
// per-command redirect policy.
#include <sse/detail/cluster_redirect.hpp>

#include "support/catch.hpp"

#include <string>

using sse::detail::cluster_node;
using sse::detail::cluster_redirect;
using sse::detail::cluster_redirect_policy;
using sse::detail::cluster_shard;
using sse::detail::cluster_slot_map;
using sse::detail::parse_cluster_redirect;
using redirect_action = cluster_redirect_policy::action;

namespace {
cluster_slot_map redirect_map() {
    cluster_slot_map m;
    REQUIRE(m.add(0, 8191, cluster_shard{cluster_node{"127.0.0.1", 7000, ""}, {}}));
    REQUIRE(m.add(8192, 16383, cluster_shard{cluster_node{"127.0.0.1", 7001, ""}, {}}));
    return m;
}
} // namespace

TEST_CASE("cluster_redirect: MOVED and ASK lines", "[cluster]") {
    auto moved = parse_cluster_redirect("MOVED 3999 127.0.0.1:6381", "seed");
    REQUIRE(moved);
    CHECK(moved->type == cluster_redirect::kind::moved);
    CHECK(moved->slot == 3999);
    CHECK(moved->target.endpoint() == "127.0.0.1:6381");

    auto ask = parse_cluster_redirect("ASK 16383 redis-2.example:7002", "seed");
    REQUIRE(ask);
    CHECK(ask->type == cluster_redirect::kind::ask);
    CHECK(ask->slot == 16383);
    CHECK(ask->target.host == "redis-2.example");
    CHECK(ask->target.port == 7002);

    auto same_host = parse_cluster_redirect("MOVED 0 :6380", "10.1.2.3");
    REQUIRE(same_host);
    CHECK(same_host->target.endpoint() == "10.1.2.3:6380");

    auto v6 = parse_cluster_redirect("MOVED 12 ::1:7000", "seed");
    REQUIRE(v6);
    CHECK(v6->target.host == "::1");
    CHECK(v6->target.port == 7000);
    auto bracketed = parse_cluster_redirect("ASK 12 [::1]:7000", "seed");
    REQUIRE(bracketed);
    CHECK(bracketed->target.host == "::1");
}

TEST_CASE("cluster_redirect: malformed redirections are not redirections", "[cluster]") {
    for (char const* line : {"",
                             "MOVED",
                             "MOVED ",
                             "MOVED 1",
                             "MOVED 1 ",
                             "MOVED x 1.2.3.4:5",
                             "MOVED 1 host",
                             "MOVED 16384 h:1",
                             "MOVED 99999 h:1",
                             "MOVED 123456 h:1",
                             "MOVED -1 h:1",
                             "MOVED +1 h:1",
                             "MOVED 1 h:0",
                             "MOVED 1 h:65536",
                             "MOVED 1 h:",
                             "MOVED 1 h:+80",
                             "MOVED 1 h:80 extra",
                             "MOVED 1 ho st:80",
                             "MOVED  1 h:80",
                             "MOVED 1  h:80",
                             "moved 1 h:80",
                             "MOVEDX 1 h:80",
                             "ASK",
                             "ASK 1",
                             "ASK 1 h:x",
                             "ASKING 1 h:1",
                             "ERR unknown command",
                             "CLUSTERDOWN The cluster is down",
                             "TRYAGAIN Multiple keys request during rehashing of slot",
                             "CROSSSLOT Keys in request don't hash to the same slot",
                             "MOVED 1 h\t:80",
                             "MOVED 1 h\n:80"}) {
        INFO("'" << line << "'");
        CHECK_FALSE(parse_cluster_redirect(line, "seed"));
    }
    CHECK_FALSE(parse_cluster_redirect(std::string("MOVED 1 h\0x:80", 15), "seed"));
    CHECK(parse_cluster_redirect("MOVED 1 h:65535", "seed"));
}

TEST_CASE("cluster_redirect: MOVED updates the map, retries and asks for a refresh", "[cluster]") {
    auto map = redirect_map();
    cluster_redirect_policy policy(3);
    auto a = policy.on_error("MOVED 100 127.0.0.1:7001", "127.0.0.1", map);
    CHECK(a.type == redirect_action::retry);
    CHECK(a.target.endpoint() == "127.0.0.1:7001");
    CHECK(a.refresh_topology);
    CHECK(map.node_for_slot(100)->port == 7001); // the next command goes straight there
    CHECK(map.node_for_slot(101)->port == 7000); // only that slot is known to have moved
    CHECK(policy.followed() == 1);
}

TEST_CASE("cluster_redirect: ASK retries once with ASKING and leaves the map", "[cluster]") {
    auto map = redirect_map();
    cluster_redirect_policy policy(3);
    auto a = policy.on_error("ASK 100 127.0.0.1:7001", "127.0.0.1", map);
    CHECK(a.type == redirect_action::retry_asking);
    CHECK(a.target.port == 7001);
    CHECK_FALSE(a.refresh_topology);
    CHECK(map.node_for_slot(100)->port == 7000); // migration in progress: still the owner
}

TEST_CASE("cluster_redirect: other errors are not redirections", "[cluster]") {
    auto map = redirect_map();
    cluster_redirect_policy policy;
    for (char const* e : {"CLUSTERDOWN Hash slot not served", "MOVED 1 h:0", "ERR x"}) {
        auto a = policy.on_error(e, "127.0.0.1", map);
        CHECK(a.type == redirect_action::not_redirect);
        CHECK_FALSE(a.refresh_topology);
    }
    CHECK(policy.followed() == 0);
    CHECK(map.node_for_slot(1)->port == 7000);
}

TEST_CASE("cluster_redirect: gives up after N redirections with a clear error", "[cluster]") {
    auto map = redirect_map();
    cluster_redirect_policy policy(2);
    CHECK(policy.on_error("MOVED 5 127.0.0.1:7001", "127.0.0.1", map).type ==
          redirect_action::retry);
    CHECK(policy.on_error("ASK 5 127.0.0.1:7000", "127.0.0.1", map).type ==
          redirect_action::retry_asking);
    auto a = policy.on_error("MOVED 5 127.0.0.1:7000", "127.0.0.1", map);
    CHECK(a.type == redirect_action::give_up);
    CHECK(a.refresh_topology);
    CHECK(a.error == "redis cluster: gave up after 2 redirections (last: MOVED 5 127.0.0.1:7000)");
    CHECK(map.node_for_slot(5)->port == 7001); // the refused redirection changed nothing
    CHECK(policy.followed() == 2);

    cluster_redirect_policy zero(0); // 0 counts as 1
    CHECK(zero.on_error("MOVED 5 h:1", "x", map).type == redirect_action::retry);
    CHECK(zero.on_error("MOVED 5 h:1", "x", map).type == redirect_action::give_up);
}
