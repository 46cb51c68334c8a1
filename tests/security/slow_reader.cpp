// Security: clients that stop reading (issue #8, items 1 and 2; SECURITY.md "stop reading").
//
// A stalled reader is a socket with a tiny receive buffer that the test does not read. With
// the disconnect policy it must be dropped once its queue would pass max_buffered_bytes,
// counted, and told `retry:`; with the conflate policy it keeps only the newest event per
// (event name, rooms) and stays. Either way the process's memory stays flat while many MB
// are emitted, and the other clients of the room get every event, in order.
#include "integration/fixture.hpp"
#include "security/security_support.hpp"

#include <charconv>
#include <map>

using namespace sse_test;

namespace {

/// Joins every client to `rooms` in a middleware and keeps a handle and its end reason.
/// The log lives in a shared state that the handlers reach through a weak_ptr: the fixture's
/// server (declared first) outlives this object, and its last disconnects must not write here.
struct tracked {
    struct state {
        mutable std::mutex m;
        std::vector<std::error_code> reasons;
        std::vector<sse::client_ptr> clients;
    };

    tracked(sse::namespace_& ns, std::vector<std::string> rooms) {
        std::weak_ptr<state> weak = s_;
        ns.use([weak, rooms](sse::client& c, sse::next next) {
            c.join(rooms);
            c.on_disconnect([weak](std::error_code ec) {
                if (auto s = weak.lock()) {
                    std::lock_guard<std::mutex> lock(s->m);
                    s->reasons.push_back(ec);
                }
            });
            if (auto s = weak.lock()) {
                std::lock_guard<std::mutex> lock(s->m);
                s->clients.push_back(c.shared_from_this());
            }
            next();
        });
    }
    std::size_t ended() const {
        std::lock_guard<std::mutex> lock(s_->m);
        return s_->reasons.size();
    }
    std::size_t ended_with(sse::error e) const {
        std::lock_guard<std::mutex> lock(s_->m);
        return static_cast<std::size_t>(
            std::count(s_->reasons.begin(), s_->reasons.end(), make_error_code(e)));
    }
    std::size_t max_buffered() const {
        std::lock_guard<std::mutex> lock(s_->m);
        std::size_t most = 0;
        for (auto const& c : s_->clients)
            most = std::max(most, c->buffered_bytes());
        return most;
    }

private:
    std::shared_ptr<state> s_ = std::make_shared<state>();
};

/// "<key> <seq> <padding>" -> (key, seq).
std::pair<std::string, long> key_seq(std::string const& data) {
    auto sp1 = data.find(' ');
    auto sp2 = data.find(' ', sp1 + 1);
    long seq = -1;
    std::from_chars(data.data() + sp1 + 1, data.data() + sp2, seq);
    return {data.substr(0, sp1), seq};
}

std::uint64_t id_of(sse_event const& e) {
    return std::stoull(e.id);
}

/// A reader that stopped reading, and how many events flooded it.
struct stalled {
    opened slow;
    int sent = 0;
};

/** Opens a reader of "/s" that stops reading (a 4 KiB receive buffer), runs `prime(reader)`,
    then floods: `emit(seq)` for seq = 0, 1, ... until the server has dropped one more slow
    consumer, or `limit` times.
*/
template <class Emit, class Prime>
stalled stall_and_flood(fixture& f, tracked const& t, int limit, Emit&& emit, Prime&& prime,
                        reader_options ro = {}) {
    ro.receive_buffer = 4096;
    stalled s{f.open("/s", {}, ro)};
    prime(s.slow);
    auto const dropped = t.ended_with(sse::error::slow_consumer);
    for (; s.sent < limit && t.ended_with(sse::error::slow_consumer) == dropped; ++s.sent)
        emit(s.sent);
    return s;
}

template <class Emit>
stalled stall_and_flood(fixture& f, tracked const& t, int limit, Emit&& emit) {
    return stall_and_flood(f, t, limit, std::forward<Emit>(emit), [](opened&) {});
}

} // namespace

TEST_CASE(
    "stalled readers are dropped at max_buffered_bytes and counted; RSS stays flat over 64 MiB",
    "[security][slow]") {
    auto opts = quiet_options();
    opts.max_buffered_bytes = 256 * 1024;
    fixture f(opts, 2);
    auto& ns = f.ns("/s");
    tracked t(ns, {"room"});

    constexpr int stalled_count = 16;
    std::vector<std::unique_ptr<lean_reader>> stalled;
    for (int i = 0; i < stalled_count; ++i) {
        stalled.push_back(std::make_unique<lean_reader>(f.port, "/s", nullptr, 4096));
        REQUIRE(stalled.back()->status() == 200); // then never read again
    }
    lean_reader fast(f.port, "/s");
    REQUIRE(fast.status() == 200);
    REQUIRE(eventually([&] { return ns.client_count() == stalled_count + 1; }));
    auto first = fast.next_event();
    REQUIRE(first);
    REQUIRE(first->event == "connection");

    std::string const payload(16 * 1024, 'p');
    constexpr int events = 4096; // 64 MiB of data
    auto const rss_before = rss_bytes();
    std::size_t rss_peak = rss_before;
    std::uint64_t last_id = 0;
    std::size_t most_buffered = 0;
    for (int i = 0; i < events; ++i) {
        ns.to("room").emit("big", sse::text(payload));
        auto e = fast.next_event();
        REQUIRE(e);
        REQUIRE(e->data.size() == payload.size());
        auto const id = id_of(*e);
        REQUIRE(id == last_id + 1); // nothing lost, nothing reordered for the reader that keeps up
        last_id = id;
        if (i % 64 == 0) {
            most_buffered = std::max(most_buffered, t.max_buffered());
            rss_peak = std::max(rss_peak, rss_bytes());
        }
    }
    REQUIRE(eventually([&] { return t.ended() == stalled_count; }));
    auto const rss_after = rss_bytes();
    rss_peak = std::max(rss_peak, rss_after);
    CHECK(t.ended_with(sse::error::slow_consumer) == stalled_count);
    CHECK(ns.stats().slow_consumers == stalled_count);
    CHECK(ns.client_count() == 1);
    CHECK(most_buffered <= opts.max_buffered_bytes);
    auto const grown = rss_peak - std::min(rss_peak, rss_before);
    WARN("slow readers: emitted " << events << " x 16 KiB to " << stalled_count + 1
                                  << " clients; RSS before " << mib(rss_before) << " MiB, peak "
                                  << mib(rss_peak) << " MiB, after " << mib(rss_after)
                                  << " MiB; largest queue " << most_buffered / 1024 << " KiB");
    // Unbounded queues would hold all 64 MiB (shared by the stalled clients).
    if (!sanitized) CHECK(grown < 24u * 1024 * 1024);
}

TEST_CASE("the disconnect policy ends the stream with a retry hint at an event boundary",
          "[security][slow]") {
    auto opts = quiet_options();
    opts.max_buffered_bytes = 64 * 1024;
    opts.close_timeout = std::chrono::seconds(20); // time for the reader to wake up
    fixture f(opts);
    auto& ns = f.ns("/s");
    tracked t(ns, {"room"});
    std::string const payload(8 * 1024, 'q');
    reader_options ro;
    ro.timeout = 10s; // for its reads once it wakes up
    auto s = stall_and_flood(
        f, t, 4999, [&](int) { ns.to("room").emit("big", sse::text(payload)); },
        [&](opened& r) {
            // One event surely on its way (in the kernel) before the flood: on a loaded machine
            // the flood can otherwise fill the queue before the first write starts, and all is
            // dropped.
            auto c = ns.find_client(r.id);
            REQUIRE(c);
            ns.to("room").emit("big", sse::text(payload));
            REQUIRE(eventually([&] { return c->buffered_bytes() == 0; }));
        },
        ro);
    auto& slow = s.slow;
    int const sent = 1 + s.sent;
    REQUIRE(eventually([&] { return t.ended() == 1; }));
    CHECK(t.ended_with(sse::error::slow_consumer) == 1);
    CHECK(ns.stats().slow_consumers == 1);

    // The reader wakes up: it gets what was already on its way, then the hint, then EOF.
    REQUIRE(slow.reader.closed(15s));
    auto const wire = slow.reader.wire();
    INFO("emitted " << sent << ", received " << slow.reader.events_seen() << " events, "
                    << wire.size() << " bytes");
    CHECK(slow.reader.retries_seen() == 1);
    REQUIRE(!slow.reader.pending_retries().empty());
    CHECK(slow.reader.pending_retries().back() == 3000);
    std::string_view const hint = "\n\nretry: 3000\n\n";
    REQUIRE(wire.size() > hint.size());
    CHECK(wire.substr(wire.size() - hint.size()) == hint); // whole events, then the hint
    // Whatever arrived arrived whole and in order.
    std::uint64_t last = 0;
    std::size_t whole = 0;
    for (auto const& e : slow.reader.pending_events()) {
        if (e.event != "big") continue;
        CHECK(e.data.size() == payload.size());
        auto const id = id_of(e);
        CHECK(id == last + 1);
        last = id;
        ++whole;
    }
    CHECK(whole > 0);
    CHECK(whole < static_cast<std::size_t>(sent)); // the rest was dropped, not kept for it
}

TEST_CASE("conflate: a stalled reader keeps the newest event per (event name, rooms) and stays",
          "[security][slow][conflate]") {
    auto opts = quiet_options();
    opts.max_buffered_bytes = 64 * 1024;
    bool const by_option = GENERATE(true, false);
    CAPTURE(by_option);
    if (by_option) opts.slow_consumer = sse::slow_consumer_policy::conflate;
    fixture f(opts, 2);
    auto& ns = f.ns("/s");
    // Small kernel buffers on both sides, so that what the stalled reader gets is decided by
    // the queue and its policy, not by megabytes parked in the kernel (an app may set them).
    f.route_hook = [&ns](plain_stream&& s, request&& r) {
        if (r.target().find("stalled") != beast::string_view::npos)
            s.socket().set_option(net::socket_base::send_buffer_size(4096));
        ns.connect(std::move(s), std::move(r));
    };
    tracked t(ns, {"r", "s"});
    reader_options tiny;
    tiny.receive_buffer = 4096;
    tiny.timeout = 10s;
    auto slow = f.open("/s?stalled", {}, tiny);
    lean_reader fast(f.port, "/s");
    REQUIRE(fast.status() == 200);
    REQUIRE(fast.next_event()); // connection
    if (!by_option) ns.set_slow_consumer_policy(sse::slow_consumer_policy::conflate);
    CHECK(ns.slow_consumer_policy() == sse::slow_consumer_policy::conflate);

    // Four conflation keys: the same name to other rooms, or another name, is another key.
    struct key {
        std::string name;
        std::vector<std::string> rooms;
        std::string tag;
    };
    std::vector<key> const keys = {{"price", {"r"}, "price@r"},
                                   {"score", {"r"}, "score@r"},
                                   {"price", {"r", "s"}, "price@r+s"},
                                   {"price", {"s"}, "price@s"}};
    std::string const padding(1024, '.');
    constexpr long rounds = 2000; // 8000 events, ~8.5 MiB
    auto const rss_before = rss_bytes();
    std::size_t most_buffered = 0;
    std::uint64_t fast_last = 0;
    for (long seq = 0; seq < rounds; ++seq) {
        for (auto const& k : keys) {
            ns.to(k.rooms).emit(k.name,
                                sse::text(k.tag + " " + std::to_string(seq) + " " + padding));
            // The reader that keeps up gets every event, in order: it is never conflated.
            auto e = fast.next_event();
            REQUIRE(e);
            REQUIRE(key_seq(e->data) == std::make_pair(k.tag, seq));
            REQUIRE(id_of(*e) > fast_last);
            fast_last = id_of(*e);
        }
        if (seq % 50 == 0) most_buffered = std::max(most_buffered, t.max_buffered());
    }
    auto const rss_after = rss_bytes();
    CHECK(most_buffered <= opts.max_buffered_bytes);
    CHECK(t.ended() == 0);
    CHECK(ns.stats().slow_consumers == 0);

    // The stalled reader resumes: it must end up with the newest value of every key.
    std::map<std::string, long> newest;
    std::map<std::string, std::vector<long>> seen;
    std::uint64_t last_id = 0;
    std::size_t received = 0;
    bool ids_increase = true;
    auto const all_newest = [&] {
        for (auto& e : slow.reader.pending_events()) {
            if (e.event == "connection") continue;
            auto [tag, seq] = key_seq(e.data);
            seen[tag].push_back(seq);
            newest[tag] = seq;
            ids_increase = ids_increase && id_of(e) > last_id;
            last_id = id_of(e);
            ++received;
        }
        slow.reader.pending_events().clear();
        if (newest.size() != keys.size()) return false;
        for (auto const& kv : newest)
            if (kv.second != rounds - 1) return false;
        return true;
    };
    int const big = 4 * 1024 * 1024; // reads at full speed again
    ::setsockopt(slow.reader.native_handle(), SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    REQUIRE(slow.reader.wait_until(all_newest, 20s));
    CHECK(ids_increase);
    for (auto const& [tag, seqs] : seen) {
        CAPTURE(tag);
        CHECK(std::is_sorted(seqs.begin(), seqs.end()));
        CHECK(std::adjacent_find(seqs.begin(), seqs.end()) == seqs.end());
    }
    auto const emitted = static_cast<std::size_t>(rounds) * keys.size();
    WARN("conflate: emitted " << emitted << " events, the stalled reader got " << received
                              << "; largest queue " << most_buffered / 1024 << " KiB; RSS "
                              << mib(rss_before) << " -> " << mib(rss_after) << " MiB");
    // What reached it: the kernel's few KiB, the batch in flight, and the conflated queue
    // (at most max_buffered_bytes): a few hundred events of ~1 KiB, not 8000.
    CHECK(received < 400);
    for (auto const& [tag, seqs] : seen) {
        CAPTURE(tag);
        CHECK(seqs.size() < static_cast<std::size_t>(rounds) / 10);
    }
    CHECK(t.ended() == 0);

    // Once it keeps up again, nothing is conflated: every new event arrives.
    for (long seq = rounds; seq < rounds + 20; ++seq) {
        for (auto const& k : keys) {
            ns.to(k.rooms).emit(k.name, sse::text(k.tag + " " + std::to_string(seq) + " x"));
            auto e = slow.reader.next_event();
            REQUIRE(e);
            CHECK(key_seq(e->data) == std::make_pair(k.tag, seq));
            REQUIRE(fast.next_event());
        }
    }
    CHECK(t.ended() == 0);
    CHECK(ns.stats().slow_consumers == 0);
}

TEST_CASE("conflate: events without a key (personal emits) are never dropped silently",
          "[security][slow][conflate]") {
    // client->emit events carry no conflation key: a stalled reader whose queue fills with
    // them cannot be conflated and must be disconnected (and counted), not grow.
    auto opts = quiet_options();
    opts.max_buffered_bytes = 64 * 1024;
    opts.slow_consumer = sse::slow_consumer_policy::conflate;
    fixture f(opts);
    auto& ns = f.ns("/s");
    tracked t(ns, {"r"});
    std::string const payload(8 * 1024, 'x');
    sse::client_ptr c;
    auto const kept = stall_and_flood(
        f, t, 5000,
        [&](int) {
            c->emit("personal", sse::text(payload));
            CHECK(c->buffered_bytes() <= opts.max_buffered_bytes);
        },
        [&](opened& r) {
            c = ns.find_client(r.id);
            REQUIRE(c);
        });
    REQUIRE(eventually([&] { return t.ended() == 1; }));
    CHECK(t.ended_with(sse::error::slow_consumer) == 1);
    CHECK(ns.stats().slow_consumers == 1);
}

TEST_CASE("per-room policy: a conflated score room keeps a lagging reader, a lossless room "
          "drops it",
          "[security][slow][conflate]") {
    // The namespace disconnects laggards; the "score" room conflates. A stalled reader in both
    // rooms survives any number of score updates, but not a flood of commentary (or of events
    // to score+commentary: an event is conflated only when all its rooms conflate).
    auto opts = quiet_options();
    opts.max_buffered_bytes = 64 * 1024;
    fixture f(opts, 2);
    auto& ns = f.ns("/s");
    f.route_hook = [&ns](plain_stream&& s, request&& r) {
        s.socket().set_option(net::socket_base::send_buffer_size(4096));
        ns.connect(std::move(s), std::move(r));
    };
    ns.set_slow_consumer_policy("score", sse::slow_consumer_policy::conflate);
    CHECK(ns.slow_consumer_policy("score") == sse::slow_consumer_policy::conflate);
    CHECK(ns.slow_consumer_policy("commentary") == sse::slow_consumer_policy::disconnect);
    CHECK(ns.slow_consumer_policy() == sse::slow_consumer_policy::disconnect);
    CHECK_THROWS_AS(ns.set_slow_consumer_policy("bad\nroom", sse::slow_consumer_policy::conflate),
                    std::invalid_argument);

    tracked t(ns, {"score", "commentary"});
    std::string const padding(1024, '.');
    // A stalled reader, then ~2 MiB (32 times the budget) to `rooms`, or until one more slow
    // consumer was dropped.
    auto flood = [&](std::vector<std::string> const& rooms, std::string const& tag) {
        auto emit = [&](int seq) {
            ns.to(rooms).emit("update", sse::text(tag + " " + std::to_string(seq) + " " + padding));
            if (seq % 100 == 0) CHECK(t.max_buffered() <= opts.max_buffered_bytes);
        };
        return stall_and_flood(f, t, 2000, emit).slow;
    };

    {
        auto slow = flood({"score"}, "score");
        CHECK(t.ended() == 0);
        // It resumes and ends up with the newest score.
        int const big = 4 * 1024 * 1024;
        ::setsockopt(slow.reader.native_handle(), SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
        long newest = -1;
        REQUIRE(slow.reader.wait_until(
            [&] {
                for (auto& e : slow.reader.pending_events())
                    if (e.event == "update") newest = key_seq(e.data).second;
                slow.reader.pending_events().clear();
                return newest == 1999;
            },
            10s));
    }
    REQUIRE(eventually([&] { return t.ended() == 1; })); // it left by itself
    CHECK(t.ended_with(sse::error::slow_consumer) == 0);

    {
        // Commentary is not conflated: a stalled reader is dropped.
        auto slow = flood({"commentary"}, "commentary");
        REQUIRE(eventually([&] { return t.ended_with(sse::error::slow_consumer) == 1; }));
        CHECK(slow.reader.closed(5s));
    }
    {
        // An event to both rooms is not conflated either.
        auto slow = flood({"score", "commentary"}, "both");
        REQUIRE(eventually([&] { return t.ended_with(sse::error::slow_consumer) == 2; }));
    }
    // Without the override, score updates are no longer conflated.
    ns.clear_slow_consumer_policy("score");
    CHECK(ns.slow_consumer_policy("score") == sse::slow_consumer_policy::disconnect);
    {
        auto slow = flood({"score"}, "score");
        REQUIRE(eventually([&] { return t.ended_with(sse::error::slow_consumer) == 3; }));
    }
    CHECK(ns.stats().slow_consumers == 3);
}
