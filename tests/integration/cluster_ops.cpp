// Integration: the cluster-wide operations (sse/cluster.hpp) on one node with the in-memory
// adapter, over a real Beast server and real SSE clients: fetch_clients, join, leave,
// disconnect and presence act on this node; server_side_emit goes nowhere and says so.
// tests/redis/nodes.cpp runs the same calls across three nodes.
#include "fixture.hpp"

#include <sse/cluster.hpp>

#include <future>
#include <map>
#include <thread>

using namespace sse_test;

namespace cluster_ops_test {

sse::fetch_result fetch(sse::broadcast_operator const& target) {
    auto done = std::make_shared<std::promise<sse::fetch_result>>();
    auto answer = done->get_future();
    auto const caller = std::this_thread::get_id();
    auto same_thread = std::make_shared<bool>(false);
    target.fetch_clients([done, caller, same_thread](sse::fetch_result r) {
        *same_thread = std::this_thread::get_id() == caller;
        done->set_value(std::move(r));
    });
    REQUIRE(answer.wait_for(2s) == std::future_status::ready);
    CHECK_FALSE(*same_thread); // never inside the call
    return answer.get();
}

} // namespace cluster_ops_test

using namespace cluster_ops_test;

TEST_CASE("one node: fetch_clients lists this node's matching clients at once", "[cluster_ops]") {
    fixture f;
    auto& ns = f.ns();
    auto a = f.open("/s", {{"User-Agent", "fan-browser/1"}});
    auto b = f.open();
    auto c = f.open();
    ns.find_client(a.id)->join("m");
    ns.find_client(b.id)->join({"m", "muted"});
    auto r = fetch(ns.in("m"));
    CHECK(r.missing_nodes.empty());
    REQUIRE(r.clients.size() == 2);
    std::map<std::string, sse::client_summary> by_id;
    for (auto const& s : r.clients)
        by_id[s.id] = s;
    CHECK(by_id[a.id].node == f.io->adapter()->node_id());
    CHECK(by_id[a.id].user_agent == "fan-browser/1");
    CHECK(by_id[a.id].address == "127.0.0.1");
    CHECK(by_id[b.id].rooms == std::vector<std::string>{b.id, "m", "muted"});
    CHECK(fetch(ns.in("m").except("muted")).clients.size() == 1);
    CHECK(fetch(ns.to({})).clients.size() == 3);
    CHECK(fetch(ns.in(c.id)).clients.size() == 1);
    CHECK(fetch(ns.in("nobody")).clients.empty());
}

TEST_CASE("one node: join, leave and disconnect through a target", "[cluster_ops]") {
    fixture f;
    auto& ns = f.ns();
    auto a = f.open();
    auto b = f.open();
    ns.find_client(a.id)->join("m");
    ns.find_client(b.id)->join("other");
    ns.in("m").join("extra");
    CHECK(ns.room("extra").size() == 1);
    ns.to("extra").emit("news", 1);
    auto e = a.reader.next_event();
    REQUIRE(e);
    CHECK(e->event == "news");
    ns.in("m").leave("extra");
    CHECK(ns.room("extra").empty());
    CHECK_THROWS_AS(ns.in("m").join("bad\nroom"), std::invalid_argument);

    ns.in("m").disconnect();
    CHECK_FALSE(a.reader.next_event()); // its stream ends
    CHECK(eventually([&] { return ns.client_count() == 1; }));
    CHECK(ns.clients()[0]->id() == b.id);
}

TEST_CASE("one node: presence is the room's client count here", "[cluster_ops][presence]") {
    fixture f;
    auto& ns = f.ns();
    CHECK(ns.presence("m") == 0);
    auto a = f.open();
    auto b = f.open();
    ns.find_client(a.id)->join("m");
    ns.find_client(b.id)->join("m");
    CHECK(ns.presence("m") == 2);
    a.reader.close();
    CHECK(eventually([&] { return ns.presence("m") == 1; }));
}

TEST_CASE("one node: server_side_emit checks its input and reaches no handler", "[cluster_ops]") {
    fixture f;
    auto hits = make_counter();
    f.io->on_server_event([hits](sse::server_event const&) { ++*hits; });
    f.io->server_side_emit("cache_flush", {{"k", 1}});
    CHECK_THROWS_AS(f.io->server_side_emit("", 1), std::invalid_argument);
    CHECK_THROWS_AS(f.io->server_side_emit("x", std::string("\xc3")), std::invalid_argument);
    std::this_thread::sleep_for(50ms);
    CHECK(*hits == 0); // not to itself, and there is no other node
    CHECK(f.io->peer_nodes().empty());
    CHECK(f.io->cluster_stats().peers == 0);
}

TEST_CASE("fetch_clients after the server is gone still answers", "[cluster_ops]") {
    fixture f;
    auto& ns = f.ns();
    auto target = ns.in("m");
    f.destroy_server();
    auto done = std::make_shared<std::promise<sse::fetch_result>>();
    auto answer = done->get_future();
    target.fetch_clients([done](sse::fetch_result r) { done->set_value(std::move(r)); });
    REQUIRE(answer.wait_for(2s) == std::future_status::ready);
    CHECK(answer.get().clients.empty());
}
