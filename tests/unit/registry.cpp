// Unit: sse/detail/registry.hpp - clients, rooms, memberships, positions and their logs.
#include <sse/detail/registry.hpp>

#include "support/catch.hpp"

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

using sse::detail::client_state;
using sse::detail::log_clock;
using sse::detail::log_limits;
using sse::detail::registry;

namespace {

log_clock::time_point reg_t0() {
    return log_clock::time_point{} + std::chrono::hours(1);
}

sse::detail::record_ptr reg_record(std::uint64_t id, std::vector<std::string> rooms = {},
                                   log_clock::time_point at = reg_t0()) {
    auto ev = sse::encoded_event::make("e", sse::text("payload"));
    ev->stamp(id);
    return sse::detail::make_record(ev, std::move(rooms), {}, at);
}

} // namespace

TEST_CASE("registry: clients are found by id and removed with their memberships", "[registry]") {
    registry reg;
    client_state a, b, c;
    reg.add(a, "a", 0);
    reg.add(b, "b", 0);
    reg.add(c, "c", 0);
    CHECK(reg.find("b") == &b);
    CHECK(reg.find("zz") == nullptr);
    CHECK(reg.join(a, "room", 0));
    CHECK(reg.join(b, "room", 0));
    CHECK(reg.join(c, "room", 0));
    CHECK_FALSE(reg.join(c, "room", 0)); // already in it
    CHECK_FALSE(reg.join(c, "c", 0));    // its private room is implicit
    CHECK(c.in_room("c"));
    CHECK(c.in_room("room"));
    REQUIRE(reg.find_room("room") != nullptr);
    CHECK(reg.find_room("room")->members().size() == 3);

    reg.remove(a, reg_t0()); // swap-remove: c moves into a's slot
    CHECK_FALSE(a.registered());
    CHECK(reg.find("a") == nullptr);
    CHECK(reg.clients().size() == 2);
    CHECK(reg.find_room("room")->members().size() == 2);
    // The moved member's index was fixed: leaving by it finds the right slot.
    CHECK(reg.leave(c, "room", reg_t0()));
    CHECK(reg.find_room("room")->members() == std::vector<client_state*>{&b});
    CHECK_FALSE(reg.leave(c, "room", reg_t0()));
    reg.remove(b, reg_t0());
    reg.remove(c, reg_t0());
    CHECK(reg.room_count() == 0); // history off: a room without members holds nothing
}

TEST_CASE("registry: with history off a room without members keeps nothing", "[registry]") {
    registry reg; // history off
    auto const now = reg_t0();
    CHECK_FALSE(reg.append_room("nobody", reg_record(1, {"nobody"}), now));
    CHECK(reg.room_count() == 0);
    client_state a;
    reg.add(a, "a", 1);
    reg.join(a, "r", 1);
    CHECK(reg.append_room("r", reg_record(2, {"r"}), now));
    CHECK(reg.find_room("r")->log().size() == 1);
    reg.leave(a, "r", now); // its last reader left: the entry goes, then the room
    CHECK(reg.room_count() == 0);
    reg.remove(a, now);
}

TEST_CASE("registry: with history on a room lives while it keeps history, then expires",
          "[registry]") {
    log_limits lim;
    lim.history_events = 10;
    lim.history_age = std::chrono::seconds(5);
    registry reg(lim);
    auto const now = reg_t0();
    CHECK(reg.append_room("r", reg_record(3, {"r"}, now), now)); // no member: kept for replay
    CHECK(reg.room_count() == 1);
    reg.expire(now + std::chrono::seconds(4));
    CHECK(reg.room_count() == 1);
    // The expiry call alone (no heartbeat) ages it out, and the room with it.
    reg.expire(now + std::chrono::seconds(5));
    CHECK(reg.room_count() == 0);
    // A room created later cannot tell whether it had events up to 3: it says so.
    CHECK(reg.forgotten_upto() == 3);
    client_state a;
    reg.add(a, "a", 3);
    reg.join(a, "r", 1);
    CHECK(reg.find_room("r")->log().dropped_upto() == 3);
    reg.remove(a, now);
}

TEST_CASE("registry: a private log exists only while it holds unsent events", "[registry]") {
    registry reg;
    client_state a;
    reg.add(a, "a", 5);
    CHECK(a.private_log() == nullptr);
    reg.append_private(a, reg_record(6, {"a"}));
    reg.append_private(a, reg_record(7, {"a"}));
    REQUIRE(a.private_log() != nullptr);
    CHECK(a.private_log()->size() == 2);
    reg.set_position(a, 6);
    reg.trim_private(a, reg_t0());
    CHECK(a.private_log()->size() == 1);
    reg.set_position(a, 7);
    reg.trim_private(a, reg_t0());
    CHECK(a.private_log() == nullptr);
    reg.remove(a, reg_t0());
}

TEST_CASE("registry: logs are trimmed to the slowest reader", "[registry]") {
    registry reg; // history off
    client_state a, b;
    reg.add(a, "a", 0);
    reg.add(b, "b", 0);
    reg.join(a, "r", 0);
    reg.join(b, "r", 4); // joined later: reads r after 4
    auto const now = reg_t0();
    for (std::uint64_t id = 1; id <= 8; ++id)
        reg.append_room("r", reg_record(id, {"r"}), now);
    auto const* r = reg.find_room("r");
    CHECK(registry::slowest_reader(*r) == 0);
    reg.set_position(a, 6);
    CHECK(registry::slowest_reader(*r) == 4); // b reads from max(0, 4)
    reg.expire(now);
    CHECK(r->log().front().id == 5);
    reg.set_position(b, 8);
    reg.expire(now);
    CHECK(r->log().front().id == 7);
    // The namespace log goes by every client's position.
    reg.append_namespace(reg_record(9));
    CHECK(reg.slowest_client() == 6);
    reg.remove(a, now);
    reg.remove(b, now);
}

TEST_CASE("registry: per-client state stays small", "[registry]") {
    // Position, missed window, id view, private log pointer, memberships (the first one in
    // place: 8 bytes more here than a std::vector, and no 32-byte chunk for a client in one
    // room), index and flags.
    CHECK(sizeof(client_state) <= 96);
    CHECK(sizeof(client_state::membership) <= 24);
}

TEST_CASE("registry: a flush pass visits each client with something new, once", "[registry]") {
    registry reg;
    client_state a, b, c;
    reg.add(a, "a", 0);
    reg.add(b, "b", 0);
    reg.add(c, "c", 0);
    reg.join(a, "x", 0);
    reg.join(a, "y", 0);
    reg.join(b, "y", 0);
    auto const now = reg_t0();
    std::vector<client_state*> woken;
    reg.take_woken(woken, now);
    CHECK(woken.empty());

    reg.append_room("x", reg_record(1, {"x", "y"}), now);
    reg.append_room("y", reg_record(1, {"x", "y"}), now);
    reg.append_private(c, reg_record(2, {"c"}));
    reg.take_woken(woken, now);
    std::sort(woken.begin(), woken.end());
    std::vector<client_state*> want{&a, &b, &c};
    std::sort(want.begin(), want.end());
    CHECK(woken == want); // a once, though in both rooms
    reg.take_woken(woken, now);
    CHECK(woken.empty()); // nothing new since

    reg.append_namespace(reg_record(3));
    reg.take_woken(woken, now);
    CHECK(woken.size() == 3); // everyone

    // A client that goes while woken is not visited.
    reg.wake(b);
    reg.remove(b, now);
    reg.take_woken(woken, now);
    CHECK(woken.empty());
    reg.remove(a, now);
    reg.remove(c, now);
}
