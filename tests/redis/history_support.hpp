// Shared-history test nodes (redis_options::shared_history): a Beast listener with namespace
// "/s" and the Redis adapter, and an SSE client of it. Used by replay.cpp and local_first.cpp.
#ifndef SSE_TEST_REDIS_HISTORY_SUPPORT_HPP
#define SSE_TEST_REDIS_HISTORY_SUPPORT_HPP

#include <sse/redis_adapter.hpp>
#include <sse/server.hpp>

#include "support/catch.hpp"
#include "support/sse_reader.hpp"
#include "support/test_server.hpp"

#include "redis_support.hpp"

#include <nlohmann/json.hpp>

#include <memory>
#include <sstream>
#include <string>
#include <utility>

namespace redis_test {

inline sse::history_options history(std::size_t max_events = 100,
                                    std::chrono::milliseconds max_age = std::chrono::seconds(60)) {
    sse::history_options h;
    h.max_events = max_events;
    h.max_age = max_age;
    return h;
}

// One node: a Beast listener, namespace "/s" with history on, the Redis adapter.
struct history_node {
    history_node(sse::redis_options ro, sse::history_options h, sse::cluster_options cluster = {}) {
        sse::options o;
        o.heartbeat_interval = std::chrono::milliseconds(0);
        o.history = h;
        o.cluster = cluster;
        io = std::make_unique<sse::server>(ts.get_executor(), o);
        redis = std::make_shared<sse::redis_adapter>(ts.get_executor(), std::move(ro));
        io->adapter(redis);
        ns = &io->of("/s");
        // "/s?rooms=a,b" streams and joins rooms a and b.
        port = ts.listen([this](sse_test::plain_stream&& s, sse_test::request&& r) {
            std::string target(r.target());
            auto c = ns->connect(std::move(s), std::move(r));
            auto q = target.find("rooms=");
            if (q == std::string::npos) return;
            std::string rooms = target.substr(q + 6);
            for (std::size_t at = 0; at <= rooms.size();) {
                auto comma = rooms.find(',', at);
                if (comma == std::string::npos) comma = rooms.size();
                if (comma > at) c->join(std::string_view(rooms).substr(at, comma - at));
                at = comma + 1;
            }
        });
    }
    ~history_node() {
        io->close();
        CHECK(eventually([&] { return !redis->state().connected; }));
        ts.stop();
    }

    bool synced(std::size_t wanted) const {
        auto s = redis->state();
        return s.connected && s.pending_subscriptions == 0 && s.wanted_channels >= wanted &&
               s.subscribed_channels == s.wanted_channels;
    }

    sse_test::test_server ts;
    std::unique_ptr<sse::server> io;
    std::shared_ptr<sse::redis_adapter> redis;
    sse::namespace_* ns = nullptr;
    unsigned short port = 0;
};

// A client: connects, checks the connection event.
struct client {
    client(history_node& n, std::string const& rooms, std::string const& last_id = {})
        : reader(n.port, "/s?rooms=" + rooms,
                 last_id.empty() ? sse_test::header_list{}
                                 : sse_test::header_list{{"Last-Event-ID", last_id}}) {
        REQUIRE(reader.status() == 200);
        auto hello = reader.next_event();
        REQUIRE(hello);
        REQUIRE(hello->event == "connection");
        id = nlohmann::json::parse(hello->data).at("clientId").get<std::string>();
    }

    // The next event: its name must be `name`; returns (id, data).
    std::pair<std::uint64_t, nlohmann::json> expect(std::string const& name) {
        auto e = reader.next_event();
        REQUIRE(e);
        INFO("got event '" << e->event << "' id " << e->id << " data " << e->data);
        REQUIRE(e->event == name);
        return {e->has_id ? std::stoull(e->id) : 0, nlohmann::json::parse(e->data)};
    }

    sse_test::sse_reader reader;
    std::string id;
};

// The Redis client id of the connection named `name` (CLIENT LIST), or "".
inline std::string redis_client_id(unsigned short port, std::string const& name) {
    std::istringstream list(redis_command(port, {"CLIENT", "LIST"}));
    std::string line;
    while (std::getline(list, line)) {
        if (line.find(" name=" + name + " ") == std::string::npos) continue;
        auto at = line.find("id=");
        if (at == std::string::npos) continue;
        return line.substr(at + 3, line.find(' ', at) - at - 3);
    }
    return {};
}

} // namespace redis_test

#endif
