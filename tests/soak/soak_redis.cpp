// Soak with Redis faults (issue #8, item 7): two nodes (each its own io_context) joined by
// the Redis adapter on a redis-server of the test's own, which the test kills and restarts
// twice while clients churn on both nodes and four threads emit (two per node).
//
// Every event's data is "<origin node> <room> <seq>" (room -1: namespace-wide), one sequence
// per origin and room, each owned by one emitting thread. Every client checks, while it runs:
//   - ids strictly increase (a node stamps remote events with its own ids);
//   - it only gets events of its rooms;
//   - per origin and room: no duplicate, no reordering; no gap at all in its own node's
//     events (local delivery never stops); a gap in the other node's events is recorded.
// One probe client per node stays in every room all along: it sees each of the other node's
// emits unless it was lost. After the run:
//   - every seq missing in a gap lies inside an outage window (after what the other node had
//     received at the kill, up to the moment cross-node delivery was seen again), so losses
//     happen only across an outage;
//   - each node's probe missed at least what the other node's adapter counts as dropped (a
//     drop is a real loss, and it is counted) and at most what was emitted in the windows;
//   - each probe kept receiving its own node's events during the outages;
//   - a final event per origin and room reaches every surviving client on both nodes;
//   - each adapter reconnected both links after each restart, pending never passed its
//     bound, and descriptors come back once the clients leave.
//
// Environment: SSE_SOAK_REDIS_SECONDS, else SSE_SOAK_SECONDS (scripts/sanitize.sh sets it),
// else 40: the run's length (set-up and the end add a few seconds); SSE_SOAK_CLIENTS
// (concurrent clients over both nodes, default 200).
#include "redis/redis_support.hpp"
#include "security/security_support.hpp"
#include "soak/soak_client.hpp"

#include <sse/redis_adapter.hpp>

#include <array>
#include <charconv>
#include <iostream>
#include <random>

using namespace sse_test;
using namespace sse_test::soak;

namespace {

constexpr int node_count = 2;
constexpr int room_count = 12;
constexpr int slots = room_count + 1;
// Index of (origin, room) in per-client tables.
constexpr std::size_t key(int origin, int room) {
    return static_cast<std::size_t>(origin) * slots + slot(room);
}
constexpr std::size_t keys = node_count * slots;

/// One client of node `node`, whose events carry "<origin> <room> <seq>".
class soak_client final : public stream_client {
public:
    soak_client(net::io_context& ioc, soak_totals& totals, int node, unsigned short port,
                std::vector<int> pre, std::vector<int> post)
        : stream_client(ioc, totals, port, room_count, std::move(pre), std::move(post))
        , node_(node)
        , last_(keys, -1) {}

    std::uint64_t local_events() const noexcept { return local_events_; }
    std::uint64_t remote_events() const noexcept { return remote_events_; }
    long last(int origin, int room) const { return last_[key(origin, room)]; }

    /// Saw `final[k]` for every (origin, room) of its rooms.
    bool complete(std::vector<long> const& final) const {
        for (int o = 0; o < node_count; ++o)
            for (int r = broadcast_room; r < room_count; ++r)
                if (joined(r) && last_[key(o, r)] != final[key(o, r)]) return false;
        return true;
    }
    std::string describe(std::vector<long> const& final) const {
        std::string out = "node " + std::to_string(node_) + ":";
        for (int o = 0; o < node_count; ++o)
            for (int r = broadcast_room; r < room_count; ++r)
                if (joined(r) && last_[key(o, r)] != final[key(o, r)])
                    out += " origin " + std::to_string(o) + " room " + std::to_string(r) +
                           ": last " + std::to_string(last_[key(o, r)]) + " of " +
                           std::to_string(final[key(o, r)]) + ";";
        return out + end_state();
    }

private:
    void on_data(std::string const& data) override {
        int origin = -1, room = -2;
        long seq = -1;
        char const* p = data.data();
        char const* end = p + data.size();
        p = std::from_chars(p, end, origin).ptr;
        if (p < end) p = std::from_chars(p + 1, end, room).ptr;
        if (p < end) std::from_chars(p + 1, end, seq);
        if (origin < 0 || origin >= node_count || room < broadcast_room || room >= room_count ||
            seq < 0) {
            totals_.error("malformed data '" + data + "'");
            return;
        }
        if (!joined(room)) {
            totals_.error("event of room " + std::to_string(room) + " not joined");
            return;
        }
        (origin == node_ ? local_events_ : remote_events_)++;
        long& last = last_[key(origin, room)];
        if (last >= 0 && seq <= last) {
            totals_.error("origin " + std::to_string(origin) + " room " + std::to_string(room) +
                          ": seq " + std::to_string(seq) + " after " + std::to_string(last));
        } else if (last >= 0 && seq != last + 1) {
            if (origin == node_)
                totals_.error("local events lost: room " + std::to_string(room) + " seq " +
                              std::to_string(seq) + " after " + std::to_string(last));
            else
                totals_.record({origin, room, last, seq});
        }
        last = std::max(last, seq);
    }

    int node_;
    std::vector<long> last_;
    std::uint64_t local_events_ = 0;
    std::uint64_t remote_events_ = 0;
};

/// One node: the app (fixture: server, listener, io_context on its own thread) and its
/// Redis adapter.
struct soak_node {
    soak_node(std::string const& url, std::string const& prefix, std::size_t max_pending)
        : f(std::make_unique<fixture>(options(), 1)) {
        sse::redis_options o;
        o.url = url;
        o.channel_prefix = prefix;
        o.reconnect_min = std::chrono::milliseconds(50);
        o.reconnect_max = std::chrono::milliseconds(400);
        o.max_pending_emits = max_pending;
        o.log = [](sse::redis_log_level, std::string_view) {}; // the figures say enough
        adapter = std::make_shared<sse::redis_adapter>(f->ts.get_executor(), o);
        f->io->adapter(adapter);
        ns = &f->ns("/soak");
        install_room_joins(*ns, room_count);
    }
    static sse::options options() {
        auto o = quiet_options();
        o.heartbeat_interval = std::chrono::milliseconds(500);
        return o;
    }
    std::unique_ptr<fixture> f;
    std::shared_ptr<sse::redis_adapter> adapter;
    sse::namespace_* ns = nullptr;
};

/// Seqs of the other node's emits that may be missing: (at_kill, at_resume] per key.
struct outage_window {
    std::vector<long> at_kill;
    std::vector<long> at_resume;
};

} // namespace

TEST_CASE("soak: Redis killed and restarted under churn and emits from two nodes",
          "[soak][redis]") {
    raise_fd_limit();
    auto const seconds = env_or("SSE_SOAK_REDIS_SECONDS", env_or("SSE_SOAK_SECONDS", 40));
    auto const target = static_cast<std::size_t>(env_or("SSE_SOAK_CLIENTS", 200));
    std::size_t const stayers = std::max<std::size_t>(10, target / 4);
    std::size_t const max_pending = 500; // small: an outage overflows it
    auto const outage = 2s;
    constexpr int restarts = 2;

    redis_test::redis_process redis;
    auto const prefix = "soak" + std::to_string(::getpid());
    std::array<std::unique_ptr<soak_node>, node_count> nodes;
    for (auto& n : nodes)
        n = std::make_unique<soak_node>(redis.url(), prefix, max_pending);
    auto up = [&] {
        for (auto& n : nodes)
            if (!n->adapter->state().connected) return false;
        return true;
    };
    REQUIRE(eventually(up, 10s));

    client_side cs;
    soak_totals totals;

    // ---- probes: one per node, in every room, for the whole run ------------------------------
    std::vector<int> all_rooms;
    for (int r = 0; r < room_count; ++r)
        all_rooms.push_back(r);
    std::array<std::shared_ptr<soak_client>, node_count> probes;
    cs.run([&] {
        for (int i = 0; i < node_count; ++i) {
            probes[static_cast<std::size_t>(i)] = std::make_shared<soak_client>(
                cs.ioc, totals, i, nodes[static_cast<std::size_t>(i)]->f->port, all_rooms,
                std::vector<int>{});
            probes[static_cast<std::size_t>(i)]->start(0ms, false);
            probes[static_cast<std::size_t>(i)]->keep();
            probes[static_cast<std::size_t>(i)]->expect_open_ = true;
        }
        return 0;
    });
    REQUIRE(eventually(
        [&] { return cs.run([&] { return probes[0]->admitted() && probes[1]->admitted(); }); }));
    // The probes' rooms are subscribed on both nodes before anything is emitted.
    REQUIRE(eventually(
        [&] {
            for (auto& n : nodes) {
                auto s = n->adapter->state();
                if (!s.connected || s.pending_subscriptions != 0 ||
                    s.subscribed_channels < static_cast<std::size_t>(room_count + 1))
                    return false;
            }
            return true;
        },
        10s));

    auto const fds_baseline = fd_count();
    auto const rss_baseline = rss_bytes();
    std::size_t fds_peak = fds_baseline, rss_peak = rss_baseline;

    // ---- churn on both nodes (client thread) ---------------------------------------------------
    std::mt19937 rng(4242);
    churn<soak_client> churning(cs, target, 20, [&](bool stays) {
        auto [pre, post] = random_rooms(rng, room_count, 3);
        int const node = std::uniform_int_distribution<int>(0, 1)(rng);
        auto c = std::make_shared<soak_client>(
            cs.ioc, totals, node, nodes[static_cast<std::size_t>(node)]->f->port, pre, post);
        start_churned(*c, rng, stays);
        return c;
    });
    churning.start(stayers);

    // ---- emitters: two threads per node; thread k of a node owns rooms r % 2 == k -----------
    std::vector<std::atomic<long>> seq(keys); // last seq emitted, per (origin, room)
    for (auto& s : seq)
        s = -1;
    auto emit = [&](int origin, int room) {
        long const s = ++seq[key(origin, room)];
        // sse::text views its argument: the string must outlive the emit.
        std::string const data =
            std::to_string(origin) + " " + std::to_string(room) + " " + std::to_string(s);
        auto& ns = *nodes[static_cast<std::size_t>(origin)]->ns;
        if (room == broadcast_room)
            ns.emit("e", sse::text(data));
        else
            ns.to(room_name(room)).emit("e", sse::text(data));
    };
    std::atomic<bool> emitting{true};
    std::atomic<std::uint64_t> emitted{0};
    std::vector<std::thread> emitters;
    for (int origin = 0; origin < node_count; ++origin) {
        for (int k = 0; k < 2; ++k) {
            emitters.emplace_back([&, origin, k] {
                std::mt19937 r(static_cast<unsigned>(origin * 2 + k + 1));
                std::vector<int> owned;
                for (int room = 0; room < room_count; ++room)
                    if (room % 2 == k) owned.push_back(room);
                std::uniform_int_distribution<std::size_t> pick(0, owned.size() - 1);
                for (std::uint64_t i = 0; emitting.load(); ++i) {
                    emit(origin, k == 0 && i % 25 == 0 ? broadcast_room : owned[pick(r)]);
                    ++emitted;
                    std::this_thread::sleep_for(std::chrono::microseconds(2500));
                }
            });
        }
    }
    auto snapshot = [&] {
        std::vector<long> out(keys);
        for (std::size_t i = 0; i < keys; ++i)
            out[i] = seq[i].load();
        return out;
    };
    auto sample = [&] {
        fds_peak = std::max(fds_peak, fd_count());
        rss_peak = std::max(rss_peak, rss_bytes());
    };

    // ---- the run: churn, with Redis killed and restarted `restarts` times ------------------
    auto const start = std::chrono::steady_clock::now();
    auto const end = start + std::chrono::seconds(seconds);
    std::vector<outage_window> windows;
    std::size_t pending_peak = 0;
    std::uint64_t local_during_outages[node_count] = {0, 0};
    bool resumed_every_time = true;
    for (int i = 0; i < restarts && totals.errors == 0; ++i) {
        // Kill at 1/4 and 3/5 of the run.
        auto const kill_at =
            start + std::chrono::seconds(seconds) * (i == 0 ? 1 : 3) / (i == 0 ? 4 : 5);
        while (std::chrono::steady_clock::now() < kill_at && totals.errors == 0) {
            std::this_thread::sleep_for(100ms);
            sample();
        }
        // The window starts after what each node had received from the other at the kill
        // (emits still on their way then may be lost with the connection).
        outage_window w;
        w.at_kill = cs.run([&] {
            std::vector<long> v(keys);
            for (int o = 0; o < node_count; ++o)
                for (int r = broadcast_room; r < room_count; ++r)
                    v[key(o, r)] = probes[static_cast<std::size_t>(1 - o)]->last(o, r);
            return v;
        });
        auto const local_before = cs.run([&] {
            return std::array{probes[0]->local_events(), probes[1]->local_events()};
        });
        redis.kill();
        auto const outage_end = std::chrono::steady_clock::now() + outage;
        while (std::chrono::steady_clock::now() < outage_end) {
            std::this_thread::sleep_for(50ms);
            for (auto& n : nodes)
                pending_peak = std::max(pending_peak, n->adapter->state().pending);
            sample();
        }
        auto const local_after = cs.run([&] {
            return std::array{probes[0]->local_events(), probes[1]->local_events()};
        });
        for (std::size_t k = 0; k < node_count; ++k)
            local_during_outages[k] += local_after[k] - local_before[k];
        REQUIRE(redis.start());
        // Resumed: both nodes connected, what they kept published, and each probe has seen
        // an event the other node emitted after that.
        bool const reconnected = eventually(
            [&] {
                for (auto& n : nodes) {
                    auto s = n->adapter->state();
                    pending_peak = std::max(pending_peak, s.pending);
                    // (Subscriptions churn with the clients: the probes prove the rest.)
                    if (!s.connected || s.pending != 0) return false;
                }
                return true;
            },
            15s);
        auto const mark = snapshot();
        bool const crossed =
            reconnected && eventually(
                               [&] {
                                   return cs.run([&] {
                                       return probes[0]->last(1, 0) > mark[key(1, 0)] &&
                                              probes[1]->last(0, 0) > mark[key(0, 0)];
                                   });
                               },
                               15s);
        resumed_every_time = resumed_every_time && crossed;
        w.at_resume = snapshot();
        windows.push_back(std::move(w));
        if (!crossed) break;
    }
    CHECK(resumed_every_time);
    while (std::chrono::steady_clock::now() < end && totals.errors == 0) {
        std::this_thread::sleep_for(100ms);
        sample();
    }

    // ---- the end: stop, then one final event per origin and room -----------------------------
    std::vector<std::shared_ptr<soak_client>> const probe_list(probes.begin(), probes.end());
    churning.spawning = false;
    emitting = false;
    for (auto& t : emitters)
        t.join();
    auto survivors = churning.survivors(probe_list);
    for (int origin = 0; origin < node_count; ++origin)
        for (int room = broadcast_room; room < room_count; ++room)
            emit(origin, room);
    auto const final = snapshot();
    bool const all_complete = survivors_complete(cs, survivors, final);

    // ---- losses: where, how many, counted ----------------------------------------------------
    std::uint64_t gaps_outside = 0;
    std::size_t gap_count = 0;
    std::uint64_t probe_missed[node_count] = {0, 0};
    std::uint64_t emitted_in_windows[node_count] = {0, 0}; // by origin
    for (auto const& w : windows)
        for (int o = 0; o < node_count; ++o)
            for (int r = broadcast_room; r < room_count; ++r)
                emitted_in_windows[o] +=
                    static_cast<std::uint64_t>(w.at_resume[key(o, r)] - w.at_kill[key(o, r)]);
    {
        std::lock_guard<std::mutex> lock(totals.m);
        gap_count = totals.gaps.size();
        for (auto const& g : totals.gaps) {
            // Every missing seq (after, before) must lie in an outage window.
            bool inside = true;
            auto const k = key(g.origin, g.room);
            for (long m = g.after + 1; m < g.before && inside; ++m)
                inside = std::any_of(windows.begin(), windows.end(), [&](auto const& w) {
                    return m > w.at_kill[k] && m <= w.at_resume[k];
                });
            if (!inside) {
                ++gaps_outside;
                if (totals.samples.size() < 20)
                    totals.samples.push_back(
                        "gap outside the outages: origin " + std::to_string(g.origin) + " room " +
                        std::to_string(g.room) + " seqs " + std::to_string(g.after) + ".." +
                        std::to_string(g.before));
            }
        }
    }
    // A probe's misses: the other node's final seqs it should have seen, minus those it saw.
    auto const probe_seen = cs.run([&] {
        return std::array{probes[0]->remote_events(), probes[1]->remote_events()};
    });
    std::array<sse::redis_state, node_count> states{nodes[0]->adapter->state(),
                                                    nodes[1]->adapter->state()};
    for (int p = 0; p < node_count; ++p) {
        int const other = 1 - p;
        std::uint64_t total = 0;
        for (int r = broadcast_room; r < room_count; ++r)
            total += static_cast<std::uint64_t>(final[key(other, r)] + 1);
        probe_missed[p] = total - probe_seen[static_cast<std::size_t>(p)];
    }
    auto const stats0 = nodes[0]->ns->stats();
    auto const stats1 = nodes[1]->ns->stats();
    auto const survivor_count = survivors.size();

    // ---- everyone leaves ---------------------------------------------------------------------
    churning.end(probe_list);
    auto survivors_kept = std::move(survivors);
    survivors.clear();
    bool const drained = eventually(
        [&] { return nodes[0]->ns->client_count() == 0 && nodes[1]->ns->client_count() == 0; },
        30s);
    if (!drained) {
        std::cout << "not drained: client side has " << cs.run([&] {
            std::size_t open = 0;
            for (auto& c : survivors_kept)
                open += c->done() ? 0 : 1;
            return open;
        }) << " of "
                  << survivors_kept.size() << " survivors not done\n";
        for (auto& n : nodes) {
            bool responsive = true;
            try {
                n->f->ts.run([] {}, 2s);
            } catch (std::exception const&) {
                responsive = false;
            }
            std::cout << "not drained: node has " << n->ns->client_count()
                      << " clients, io_context " << (responsive ? "responsive" : "STUCK") << "\n";
        }
    }
    bool const fds_back = eventually([&] { return fd_count() <= fds_baseline; }, 30s);
    auto const fds_final = fd_count();
    auto const rss_final = rss_bytes();
    auto const elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

    totals.report();
    CHECK(totals.errors == 0);
    CHECK(gaps_outside == 0);
    CHECK(all_complete);
    CHECK(drained);
    CHECK(fds_back);
    CHECK(windows.size() == static_cast<std::size_t>(restarts));
    for (int p = 0; p < node_count; ++p) {
        int const other = 1 - p;
        CHECK(local_during_outages[p] > 0); // local delivery went on while Redis was away
        CHECK(probe_missed[p] >= states[static_cast<std::size_t>(other)].dropped);
        CHECK(probe_missed[p] <= emitted_in_windows[other]);
        CHECK(states[static_cast<std::size_t>(p)].reconnects == 2u * restarts);
        CHECK(states[static_cast<std::size_t>(p)].connected);
        CHECK(states[static_cast<std::size_t>(p)].malformed == 0);
    }
    // What waits is bounded: the queue (max_pending_emits) plus the intake not yet moved
    // to it (its hard bound: max_pending_emits + max_in_flight + 1).
    CHECK(pending_peak <= 2 * max_pending + sse::redis_options{}.max_in_flight + 1);
    std::size_t const rss_bound = 64u * 1024 * 1024;
    if (!sanitized) CHECK(rss_final < rss_baseline + rss_bound);

    // The figures, as the test's last lines.
    std::cout << "soak redis: " << elapsed << " s, 2 nodes (io_context on 1 thread each), "
              << target << " concurrent clients (" << stayers
              << " staying) + 2 probes, 4 emitter threads, redis-server killed and restarted "
              << windows.size() << " times (" << std::chrono::duration<double>(outage).count()
              << " s down each)\n"
              << "soak redis: connections handled " << stats0.connections + stats1.connections
              << " (client connects " << totals.connects << ")\n"
              << "soak redis: events emitted " << stats0.events_emitted + stats1.events_emitted
              << ", deliveries " << stats0.deliveries + stats1.deliveries
              << ", events received and checked " << totals.events << ", survivors complete "
              << survivor_count << "\n"
              << "soak redis: published " << states[0].published << " + " << states[1].published
              << ", delivered cross-node " << states[0].delivered << " + " << states[1].delivered
              << ", reconnects " << states[0].reconnects << " + " << states[1].reconnects
              << ", connect failures " << states[0].connect_failures << " + "
              << states[1].connect_failures << "\n"
              << "soak redis: dropped (counted, max_pending_emits " << max_pending << ") "
              << states[0].dropped << " + " << states[1].dropped
              << "; missed by the probes (from the other node) " << probe_missed[1] << " + "
              << probe_missed[0] << " of " << emitted_in_windows[0] << " + "
              << emitted_in_windows[1] << " emitted in the outage windows; pending peak "
              << pending_peak << "; client gaps " << gap_count << " (outside the outages "
              << gaps_outside << ")\n"
              << "soak redis: local events seen by the probes during the outages "
              << local_during_outages[0] << " + " << local_during_outages[1] << ", errors "
              << totals.errors << ", slow consumers "
              << stats0.slow_consumers + stats1.slow_consumers << "\n"
              << "soak redis: RSS baseline " << mib(rss_baseline) << " MiB, peak " << mib(rss_peak)
              << " MiB, final " << mib(rss_final) << " MiB; descriptors baseline " << fds_baseline
              << ", peak " << fds_peak << ", final " << fds_final << std::endl;

    for (auto& n : nodes)
        n->f->io->close();
}
