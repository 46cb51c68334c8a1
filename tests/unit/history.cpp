// Unit: sse/detail/history.hpp - recent events per room, for Last-Event-ID replay (sans-I/O).
#include <sse/detail/history.hpp>

#include "support/catch.hpp"

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace {

std::vector<std::uint64_t> ids_of(std::vector<sse::detail::history_entry const*> const& found) {
    std::vector<std::uint64_t> out;
    for (auto const* e : found)
        out.push_back(e->id);
    return out;
}

} // namespace

TEST_CASE("history: replays the asked rooms' events after an id, in order, each once",
          "[history]") {
    sse::history_options o;
    o.max_events = 10;
    o.max_age = std::chrono::hours(1);
    sse::detail::history h(o);
    auto ev = sse::encoded_event::make("e", nlohmann::json(0));
    auto now = std::chrono::steady_clock::now();
    h.record(1, ev, {"a"}, {"a"}, {}, now);
    h.record(2, ev, {"a", "b"}, {"a", "b"}, {}, now);
    h.record(3, ev, {}, {}, {}, now); // to everyone
    h.record(4, ev, {"c"}, {"c"}, {}, now);
    std::vector<sse::detail::history_entry const*> found;
    REQUIRE(h.collect(0, {"a", "b"}, true, found) == sse::detail::history::verdict::replay);
    CHECK(ids_of(found) == std::vector<std::uint64_t>{1, 2, 3});
    REQUIRE(h.collect(1, {"b"}, false, found) == sse::detail::history::verdict::replay);
    CHECK(ids_of(found) == std::vector<std::uint64_t>{2});
}

// Found by the fuzz target `replay` (tests/fuzz/corpus/replay/regression-forgotten-log): a
// room's log that expired and was forgotten, then written again, replayed the new events
// and silently skipped the ones it had dropped.
TEST_CASE("history: a log forgotten and written again still resets a client it dropped events "
          "for",
          "[history]") {
    sse::history_options o;
    o.max_events = 10;
    o.max_age = std::chrono::seconds(4);
    sse::detail::history h(o);
    auto ev = sse::encoded_event::make("e", nlohmann::json(0));
    auto now = std::chrono::steady_clock::now();
    h.record(4, ev, {"a"}, {"a"}, {}, now);
    now += std::chrono::seconds(5);
    h.expire(now); // drops 4 (too old), then forgets the empty, cold log of "a"
    h.record(7, ev, {"a"}, {"a"}, {}, now);
    std::vector<sse::detail::history_entry const*> found;
    // A client that last saw 0 missed 4, which is gone: it must be told to reset.
    CHECK(h.collect(0, {"a"}, false, found) == sse::detail::history::verdict::reset);
    // One that saw 4 missed only 7.
    REQUIRE(h.collect(4, {"a"}, false, found) == sse::detail::history::verdict::replay);
    CHECK(ids_of(found) == std::vector<std::uint64_t>{7});
}
