// Support for the local-first Redis tests (local_first.cpp, channel_gaps.cpp): two nodes on a
// redis-server of their own, a third node the test plays itself, and reading a client's
// events in order.
#ifndef SSE_TESTS_REDIS_LOCAL_FIRST_SUPPORT_HPP
#define SSE_TESTS_REDIS_LOCAL_FIRST_SUPPORT_HPP

#include <sse/redis_adapter.hpp>
#include <sse/server.hpp>

#include "support/catch.hpp"
#include "support/sse_reader.hpp"

#include "history_support.hpp"
#include "redis_support.hpp"

#include <sse/detail/hybrid_id.hpp>
#include <sse/detail/redis_history.hpp>
#include <sse/detail/redis_message.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace redis_test {

using steady = std::chrono::steady_clock;

// Reads events of `c` until `n` named `name` came or a reset did: their data, in order.
// Ids must strictly increase on the way. `reset` says whether the reset came instead.
inline std::vector<int> read_until(client& c, std::string const& name, std::size_t n, bool& reset,
                                   std::uint64_t& last_id) {
    std::vector<int> got;
    reset = false;
    while (got.size() < n) {
        auto e = c.reader.next_event();
        REQUIRE(e);
        INFO("event '" << e->event << "' id " << e->id << " data " << e->data);
        if (e->has_id) {
            auto const id = std::stoull(e->id);
            REQUIRE(id > last_id);
            last_id = id;
        }
        if (e->event == "reset") {
            reset = true;
            break;
        }
        REQUIRE(e->event == name);
        got.push_back(nlohmann::json::parse(e->data).get<int>());
    }
    return got;
}

inline std::vector<int> range(int from, int to) {
    std::vector<int> v;
    for (int i = from; i < to; ++i)
        v.push_back(i);
    return v;
}

// Two nodes on a redis-server of their own (the tests stop, pause or fill it), each with a
// client in one room, synced. `tune_a` (`tune_b`) adjusts node A's (B's) adapter options.
struct two_nodes {
    explicit two_nodes(std::string const& room, sse::history_options h = history(),
                       void (*tune_a)(sse::redis_options&) = nullptr,
                       void (*tune_b)(sse::redis_options&) = nullptr)
        : a(options(tune_a), h)
        , b(options(tune_b), h)
        , on_a(a, room)
        , on_b(b, room) {
        // Every room's channel, not just the first: the node's own channel, the namespace's
        // and one per room (a client in "x,y,z" joins them one after the other).
        auto const wanted =
            2 + static_cast<std::size_t>(std::count(room.begin(), room.end(), ',')) + 1;
        REQUIRE(eventually([&] { return a.synced(wanted) && b.synced(wanted); }));
        REQUIRE(a.redis->state().wanted_channels == wanted);
    }

    sse::redis_options options(void (*tune)(sse::redis_options&)) {
        auto o = test_options(server.url(), prefix);
        if (tune) tune(o);
        return o;
    }

    // The next `n` events named `name` of A's (B's) client, or fewer and `reset` set.
    std::vector<int> read_a(std::string const& name, std::size_t n) {
        return read_until(on_a, name, n, reset, last_a);
    }
    std::vector<int> read_b(std::string const& name, std::size_t n) {
        return read_until(on_b, name, n, reset, last_b);
    }

    redis_process server;
    std::string prefix = "lf" + sse::detail::random_id(8);
    history_node a, b;
    client on_a, on_b;
    std::uint64_t last_a = 0, last_b = 0;
    bool reset = false;
};

// A third node that the test plays itself ("feed"): its emits go through the real append
// script on the real redis-server, so the test decides which copies pub/sub carries. A
// message it stores but does not publish is what a pub/sub loss leaves behind: in the
// history, never heard. (Redis loses pub/sub messages on failovers and on network faults
// that do not close the subscriber's connection: nothing a test can trigger at will.)
struct feed_node {
    feed_node(unsigned short port, std::string prefix, std::string nsp)
        : port(port)
        , prefix(std::move(prefix))
        , nsp(std::move(nsp)) {}

    // Emits `data` as event "goal" to `room`: stored, and published with channel number
    // `number` unless `published` is false.
    void emit(std::string const& room, int data, std::uint64_t number, bool published = true) {
        namespace d = sse::detail;
        last_id = d::next_hybrid_id(last_id, d::unix_us_now() - clock_behind_us, 5);
        auto msg = d::encode_redis_message(last_id, "feed", nsp, {room}, {},
                                           "event: goal\ndata: " + std::to_string(data) + "\n\n",
                                           d::redis_message_shared_id_version);
        d::set_redis_message_sequence(msg, ++sequence);
        std::vector<std::string> args = {
            "EVAL", d::redis_append_script,   "0",   d::redis_channel(prefix, nsp, {}),
            "feed", std::to_string(sequence), "100", "60000",
            msg,    std::to_string(last_id),  "1",   room};
        if (published) {
            args.insert(args.end(), {"1", d::redis_channel(prefix, nsp, room),
                                     d::redis_channel_number_bytes(number)});
        } else {
            args.emplace_back("0");
        }
        REQUIRE(redis_command(port, args) == "1");
    }

    // Publishes the mark its adapter would send once `room` is quiet: its last message there
    // was number `number` (the last emit's sequence and id).
    void mark(std::string const& room, std::uint64_t number) {
        namespace d = sse::detail;
        REQUIRE(redis_command(port, {"PUBLISH", d::redis_channel(prefix, nsp, room),
                                     d::encode_redis_mark("feed", nsp, room, number, sequence,
                                                          last_id, true)}) != "");
    }

    unsigned short port;
    std::string prefix, nsp;
    std::uint64_t last_id = 0, sequence = 0;
    std::uint64_t clock_behind_us = 0; // this node's clock, behind the others' by this much
};

} // namespace redis_test

#endif
