// Unit: sse/detail/event_log.hpp - a bounded ring of emitted events in id order (sans-I/O).
#include <sse/detail/event_log.hpp>

#include "support/catch.hpp"

#include <chrono>
#include <string>

using sse::detail::event_log;
using sse::detail::log_clock;
using sse::detail::log_limits;
using sse::detail::make_record;

namespace {

log_clock::time_point log_t0() {
    return log_clock::time_point{} + std::chrono::hours(1);
}

// A record of exactly `bytes` wire bytes, stamped `id`, appended at `at`.
sse::detail::record_ptr log_record(std::uint64_t id, std::size_t bytes = 40,
                                   log_clock::time_point at = log_t0()) {
    // "id: <id>\nevent: e\ndata: <x...>\n\n" is exactly `bytes` long.
    std::size_t const overhead = 22 + std::to_string(id).size();
    auto ev = sse::encoded_event::make("e", sse::text(std::string(bytes - overhead, 'x')));
    ev->stamp(id);
    auto r = make_record(ev, {}, {}, at);
    REQUIRE(r->bytes == bytes);
    return r;
}

} // namespace

TEST_CASE("event_log: appends in id order and finds where a reader continues", "[event_log]") {
    event_log log;
    log_limits const lim;
    CHECK(log.empty());
    CHECK(log.last_id() == 0);
    for (std::uint64_t id : {3, 5, 9, 10})
        log.append(log_record(id), lim);
    CHECK(log.size() == 4);
    CHECK(log.bytes() == 160);
    CHECK(log.front().id == 3);
    CHECK(log.back().id == 10);
    CHECK(log.last_id() == 10);
    CHECK(log.first_after(0) == 0);
    CHECK(log.first_after(3) == 1);
    CHECK(log.first_after(4) == 1);
    CHECK(log.first_after(9) == 3);
    CHECK(log.first_after(10) == 4);
    CHECK(log.dropped_upto() == 0);
}

TEST_CASE("event_log: the byte bound drops the oldest, keeps the newest, records the gap",
          "[event_log]") {
    event_log log;
    log_limits lim;
    lim.max_bytes = 100;
    CHECK(log.append(log_record(1), lim) == 0);
    CHECK(log.append(log_record(2), lim) == 0);
    CHECK(log.append(log_record(3), lim) == 1); // 120 > 100: id 1 goes
    CHECK(log.front().id == 2);
    CHECK(log.dropped_upto() == 1);
    // One event larger than the bound still stays (it must be delivered).
    log.append(log_record(4, 200), lim);
    CHECK(log.size() == 1);
    CHECK(log.front().id == 4);
    CHECK(log.dropped_upto() == 3);
}

TEST_CASE("event_log: trim keeps what a reader needs and the history window", "[event_log]") {
    log_limits lim;
    lim.history_events = 2;
    lim.history_age = std::chrono::seconds(10);
    event_log log;
    for (std::uint64_t id = 1; id <= 6; ++id)
        log.append(log_record(id), lim);
    // The slowest reader is at 3: 4..6 are needed; 1..3 are beyond the 2-entry window.
    CHECK(log.trim(3, lim, log_t0()) == 3);
    CHECK(log.front().id == 4);
    CHECK(log.dropped_upto() == 3);
    // Everyone has everything: only the window stays.
    CHECK(log.trim(6, lim, log_t0()) == 1);
    CHECK(log.size() == 2);
    // Age: ten seconds later the window is empty too.
    CHECK(log.trim(6, lim, log_t0() + std::chrono::seconds(10)) == 2);
    CHECK(log.empty());
    CHECK(log.last_id() == 6); // an empty log still knows where it stands
}

TEST_CASE("event_log: with history off, trim keeps only what some reader has not had",
          "[event_log]") {
    log_limits lim; // history_events = 0
    event_log log;
    for (std::uint64_t id = 1; id <= 4; ++id)
        log.append(log_record(id), lim);
    CHECK(log.trim(2, lim, log_t0()) == 2);
    CHECK(log.front().id == 3);
    CHECK(log.trim(UINT64_MAX, lim, log_t0()) == 2); // no reader at all
    CHECK(log.empty());
}

TEST_CASE("event_log: a scan is due only after enough appends (amortised)", "[event_log]") {
    log_limits lim;
    event_log log;
    for (std::uint64_t id = 1; id <= 15; ++id)
        log.append(log_record(id), lim);
    CHECK_FALSE(log.scan_due(lim));
    log.append(log_record(16), lim);
    CHECK(log.scan_due(lim));
    log.trim(0, lim, log_t0()); // nobody could let go: the next scan waits for 16 more
    for (std::uint64_t id = 17; id <= 31; ++id)
        log.append(log_record(id), lim);
    CHECK_FALSE(log.scan_due(lim));
}

TEST_CASE("event_log: the ring wraps, grows and shrinks without losing order", "[event_log]") {
    log_limits lim;
    event_log log;
    std::uint64_t next = 1;
    for (int round = 0; round < 50; ++round) {
        for (int k = 0; k < 7; ++k)
            log.append(log_record(next++), lim);
        log.trim(next - 3, lim, log_t0()); // keep the newest two
        REQUIRE(log.size() == 2);
        CHECK(log[0].id == next - 2);
        CHECK(log[1].id == next - 1);
    }
    for (int k = 0; k < 1000; ++k)
        log.append(log_record(next++), lim);
    log.trim(next - 2, lim, log_t0());
    CHECK(log.size() == 1);
    CHECK(log.capacity_bytes() <= 16 * sizeof(event_log::entry));
}

TEST_CASE("event_log: drop_through forgets entries whoever needs them", "[event_log]") {
    log_limits lim;
    event_log log;
    for (std::uint64_t id = 1; id <= 4; ++id)
        log.append(log_record(id), lim);
    log.drop_through(2);
    CHECK(log.front().id == 3);
    CHECK(log.dropped_upto() == 2);
    event_log later(7); // created after ids up to 7 may have been forgotten
    CHECK(later.dropped_upto() == 7);
    CHECK(later.first_after(0) == 0);
}
