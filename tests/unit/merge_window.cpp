// Unit: sse/detail/hybrid_id.hpp (ids that order across nodes) and sse/detail/merge_window.hpp
// (several nodes' events back in id order), driven with made-up times.
#include <sse/detail/hybrid_id.hpp>
#include <sse/detail/merge_window.hpp>

#include "support/catch.hpp"

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

using sse::detail::hybrid_id_at;
using sse::detail::hybrid_id_unix_us;
using sse::detail::merge_window;
using sse::detail::next_hybrid_id;

namespace {
std::uint64_t const unix_t0 = 1796515200000000ULL; // 2026-12-06, Unix µs
using mw_verdict = merge_window<int>::verdict;
} // namespace

TEST_CASE("hybrid ids: times in order, never back, the node's tag, below 2^53", "[hybrid_id]") {
    auto const a = next_hybrid_id(0, unix_t0, 3);
    CHECK(a % 16 == 3);
    CHECK(hybrid_id_unix_us(a) <= unix_t0);
    CHECK(unix_t0 - hybrid_id_unix_us(a) < 4);
    // The same instant twice: the next slot, same tag.
    auto const b = next_hybrid_id(a, unix_t0, 3);
    CHECK(b > a);
    CHECK(b % 16 == 3);
    // A clock that steps back: still above the last id.
    auto const c = next_hybrid_id(b, unix_t0 - 5'000'000, 3);
    CHECK(c > b);
    // Two nodes in the same microsecond: different tags, different ids.
    CHECK(next_hybrid_id(0, unix_t0, 1) != next_hybrid_id(0, unix_t0, 2));
    // An id seen from another node moves this node's next ids past it.
    auto const remote = next_hybrid_id(0, unix_t0 + 1000, 9);
    CHECK(next_hybrid_id(remote, unix_t0, 3) > remote);
    // 2^53 (exact in JavaScript and as a Redis score) holds until 2091.
    std::uint64_t const year_2091 = 3818448000000000ULL;
    CHECK(hybrid_id_at(year_2091) < (std::uint64_t(1) << 53));
    CHECK(hybrid_id_at(0) == 0);
}

TEST_CASE("merge window: one origin is never held", "[merge_window]") {
    merge_window<int> w(20'000);
    std::uint64_t last = 0;
    for (int i = 0; i < 100; ++i) {
        last = next_hybrid_id(last, unix_t0 + i, 1);
        CHECK(w.offer(last, "A", unix_t0 + i) == mw_verdict::deliver);
    }
    CHECK(w.held() == 0);
    // An id at or below one delivered is late.
    CHECK(w.offer(last, "A", unix_t0 + 200) == mw_verdict::late);
}

TEST_CASE("merge window: with `always` (sharded pub/sub), one origin's events that arrive out "
          "of order are held and released in id order",
          "[merge_window]") {
    merge_window<int> w(20'000);
    std::uint64_t const a = next_hybrid_id(0, unix_t0, 1);
    std::uint64_t const b = next_hybrid_id(a, unix_t0 + 100, 1);
    std::uint64_t const c = next_hybrid_id(b, unix_t0 + 200, 1);
    // c came first (its room's shard was faster), then a and b: one origin, all held.
    CHECK(w.offer(c, "A", unix_t0 + 300, true) == mw_verdict::held);
    w.hold(c, 3);
    CHECK(w.offer(a, "A", unix_t0 + 400, true) == mw_verdict::held);
    w.hold(a, 1);
    CHECK(w.offer(b, "A", unix_t0 + 500, true) == mw_verdict::held);
    w.hold(b, 2);
    std::vector<int> out;
    w.release(unix_t0 + 10'000, [&](std::uint64_t, int v) { out.push_back(v); });
    CHECK(out.empty()); // not due yet
    w.release(unix_t0 + 20'300, [&](std::uint64_t, int v) { out.push_back(v); });
    CHECK(out == std::vector<int>{1, 2, 3});
    // Without `always`, the same arrivals deliver c at once and find a and b late.
    merge_window<int> plain(20'000);
    CHECK(plain.offer(c, "A", unix_t0 + 300) == mw_verdict::deliver);
    CHECK(plain.offer(a, "A", unix_t0 + 400) == mw_verdict::late);
    CHECK(plain.offer(b, "A", unix_t0 + 500) == mw_verdict::late);
}

TEST_CASE("merge window: two origins are released in id order once their time is up",
          "[merge_window]") {
    merge_window<int> w(20'000);
    auto const a1 = next_hybrid_id(0, unix_t0, 1);
    REQUIRE(w.offer(a1, "", unix_t0) == mw_verdict::deliver);
    // B's event, emitted 100 µs after a1, arrives 500 µs later: holding starts.
    auto const b1 = next_hybrid_id(0, unix_t0 + 100, 2);
    REQUIRE(w.offer(b1, "B", unix_t0 + 600) == mw_verdict::held);
    w.hold(b1, 1);
    // A local event emitted at 700 µs, and B's next one, emitted at 650 µs, arriving at 900.
    auto const a2 = next_hybrid_id(a1, unix_t0 + 700, 1);
    REQUIRE(w.offer(a2, "", unix_t0 + 700) == mw_verdict::held);
    w.hold(a2, 2);
    auto const b2 = next_hybrid_id(b1, unix_t0 + 650, 2);
    REQUIRE(w.offer(b2, "B", unix_t0 + 900) == mw_verdict::held);
    w.hold(b2, 3);
    std::vector<int> out;
    auto take = [&](std::uint64_t, int& v) { out.push_back(v); };
    w.release(unix_t0 + 10'000, take); // nothing due yet
    CHECK(out.empty());
    REQUIRE(w.next_due_us());
    CHECK(*w.next_due_us() >= unix_t0 + 20'000);
    w.release(unix_t0 + 30'000, take);
    CHECK(out == std::vector<int>{1, 3, 2}); // b1, b2, a2: id order
    CHECK(w.held() == 0);
    // Later than the window: late.
    CHECK(w.offer(next_hybrid_id(0, unix_t0 + 500, 2), "B", unix_t0 + 40'000) == mw_verdict::late);
    // Still holding: a new event waits for its time.
    CHECK(w.offer(next_hybrid_id(a2, unix_t0 + 40'000, 1), "", unix_t0 + 40'000) ==
          mw_verdict::held);
}

TEST_CASE("merge window: width 0 never holds; the held bound releases the oldest",
          "[merge_window]") {
    merge_window<int> none(0);
    CHECK(none.offer(next_hybrid_id(0, unix_t0, 1), "A", unix_t0) == mw_verdict::deliver);
    CHECK(none.offer(next_hybrid_id(0, unix_t0 + 10, 2), "B", unix_t0 + 10) == mw_verdict::deliver);

    merge_window<int> small(20'000, 60'000'000, 4);
    REQUIRE(small.offer(next_hybrid_id(0, unix_t0, 1), "A", unix_t0) == mw_verdict::deliver);
    std::uint64_t last = 0;
    for (int i = 0; i < 6; ++i) {
        last = next_hybrid_id(last, unix_t0 + 10 + i, 2);
        REQUIRE(small.offer(last, "B", unix_t0 + 10 + i) == mw_verdict::held);
        small.hold(last, i);
    }
    std::vector<int> out;
    small.release(unix_t0 + 20, [&](std::uint64_t, int& v) { out.push_back(v); });
    CHECK(out == std::vector<int>{0, 1}); // down to the bound of 4
}

TEST_CASE("merge window: random arrivals within the window come out in id order, none late",
          "[merge_window]") {
    // Reference model: every event reaches the window less than `width` after its id's
    // time; then the output is exactly the events sorted by id. Seeded; a failure names it.
    for (std::uint32_t seed = 1; seed <= 200; ++seed) {
        INFO("seed " << seed);
        std::mt19937 rng(seed);
        std::uint64_t const width = 2'000;
        merge_window<int> w(width);
        struct arrival {
            std::uint64_t at, id;
            char origin;
        };
        std::vector<arrival> arrivals;
        std::uint64_t last[3] = {0, 0, 0};
        std::uint64_t arrived[3] = {0, 0, 0};
        for (int i = 0; i < 300; ++i) {
            unsigned node = rng() % 3;
            std::uint64_t const emitted = unix_t0 + i * 37 + rng() % 30;
            last[node] = next_hybrid_id(last[node], emitted, node);
            // Node 0 is this one; the others' events take up to width - 100 µs, and one
            // origin's keep their order (one connection each way).
            std::uint64_t const delay = node == 0 ? 0 : rng() % (width - 100);
            arrived[node] = std::max(arrived[node], emitted + delay);
            arrivals.push_back({arrived[node], last[node], static_cast<char>('A' + node)});
        }
        std::stable_sort(arrivals.begin(), arrivals.end(),
                         [](arrival const& x, arrival const& y) { return x.at < y.at; });
        std::vector<std::uint64_t> out;
        auto take = [&](std::uint64_t id, int&) { out.push_back(id); };
        std::size_t late = 0;
        std::uint64_t second_origin_at = 0; // when holding starts
        for (auto const& a : arrivals) {
            if (second_origin_at == 0 && a.origin != arrivals.front().origin)
                second_origin_at = a.at;
            w.release(a.at, take);
            std::string_view origin(&a.origin, 1);
            auto v = w.offer(a.id, origin, a.at);
            if (v == mw_verdict::deliver) out.push_back(a.id);
            if (v == mw_verdict::held) w.hold(a.id, 0);
            if (v == mw_verdict::late) {
                ++late;
                // Before holding started events went out at once, so the ones in flight
                // then may come late; from one window after it on, none may.
                INFO("late id " << a.id << " arriving at " << a.at - unix_t0);
                CHECK(a.at < second_origin_at + width);
            }
        }
        w.release(unix_t0 + 10'000'000, take);
        for (std::size_t i = 1; i < out.size(); ++i)
            REQUIRE(out[i] > out[i - 1]);
        CHECK(out.size() + late == arrivals.size());
    }
}
