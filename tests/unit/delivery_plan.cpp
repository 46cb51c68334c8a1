// Unit: sse/detail/delivery_plan.hpp - one flush: the merge of a client's logs after its
// position, each id once, within a byte budget.
#include <sse/detail/delivery_plan.hpp>

#include "support/catch.hpp"

#include <chrono>
#include <string>
#include <vector>

using sse::detail::client_state;
using sse::detail::delivery_planner;
using sse::detail::flush_plan;
using sse::detail::log_clock;
using sse::detail::plan_limits;
using sse::detail::registry;
using sse::detail::reset_reason;

namespace {

log_clock::time_point plan_t0() {
    return log_clock::time_point{} + std::chrono::hours(1);
}

sse::detail::record_ptr plan_record(std::uint64_t id, std::vector<std::string> rooms = {},
                                    std::vector<std::string> except = {},
                                    std::uint64_t conflation_key = 0) {
    auto ev = sse::encoded_event::make("e", sse::text("0123456789"));
    ev->stamp(id);
    ev->set_conflation_key(conflation_key);
    return sse::detail::make_record(ev, std::move(rooms), std::move(except), plan_t0());
}

std::vector<std::uint64_t> plan_ids(std::vector<sse::event_ptr> const& out) {
    std::vector<std::uint64_t> ids;
    for (auto const& e : out)
        ids.push_back(e->id());
    return ids;
}

// A namespace with clients a (rooms x, y) and b (room y), and these emits:
//   1 everyone, 2 x, 3 x+y, 4 private a, 5 y except x, 6 y except b, 7 z
struct plan_fixture {
    registry reg;
    client_state a, b;
    std::uint64_t head = 0;
    plan_fixture() {
        reg.add(a, "a", 0);
        reg.add(b, "b", 0);
        reg.join(a, "x", 0);
        reg.join(a, "y", 0);
        reg.join(b, "y", 0);
        auto const now = plan_t0();
        reg.append_namespace(plan_record(1));
        auto r2 = plan_record(2, {"x"});
        reg.append_room("x", r2, now);
        auto r3 = plan_record(3, {"x", "y"}); // one record, two logs
        reg.append_room("x", r3, now);
        reg.append_room("y", r3, now);
        reg.append_private(a, plan_record(4, {"a"}));
        reg.append_room("y", plan_record(5, {"y"}, {"x"}), now);
        reg.append_room("y", plan_record(6, {"y"}, {"b"}), now);
        reg.append_room("z", plan_record(7, {"z"}), now); // nobody in z: not kept
        head = 7;
    }
    ~plan_fixture() {
        reg.remove(a, plan_t0());
        reg.remove(b, plan_t0());
    }
};

} // namespace

TEST_CASE("delivery_plan: the merge of a client's logs, in id order, each id once, less "
          "except",
          "[delivery_plan]") {
    plan_fixture f;
    delivery_planner planner;
    std::vector<sse::event_ptr> out;
    auto p = planner.plan(f.a, f.reg.namespace_log(), f.head, {}, out);
    // a: 1 (everyone), 2 (x), 3 once (x and y), 4 (private), not 5 (except x: a is in x),
    // 6 (except b), not 7 (z).
    CHECK(plan_ids(out) == std::vector<std::uint64_t>{1, 2, 3, 4, 6});
    CHECK_FALSE(p.more);
    CHECK_FALSE(p.slow_consumer);
    CHECK(p.reset == reset_reason::none);
    CHECK(p.events == 5);
    CHECK(p.position == 7); // done: up to the head, though 7 was not for it

    out.clear();
    p = planner.plan(f.b, f.reg.namespace_log(), f.head, {}, out);
    CHECK(plan_ids(out) == std::vector<std::uint64_t>{1, 3, 5}); // 6 excludes b by id
}

TEST_CASE("delivery_plan: the budget stops a plan; the rest waits in the logs", "[delivery_plan]") {
    plan_fixture f;
    delivery_planner planner;
    std::vector<sse::event_ptr> out;
    std::size_t const one = plan_record(9)->bytes; // every record here has this size
    plan_limits lim;
    lim.budget = 2 * one + 1;
    auto p = planner.plan(f.a, f.reg.namespace_log(), f.head, lim, out);
    CHECK(plan_ids(out) == std::vector<std::uint64_t>{1, 2});
    CHECK(p.more);
    CHECK(p.position == 2);
    CHECK(p.bytes == 2 * one);
    // A budget smaller than one event still moves: the first event is always taken.
    out.clear();
    lim.budget = 1;
    p = planner.plan(f.a, f.reg.namespace_log(), f.head, lim, out);
    CHECK(plan_ids(out) == std::vector<std::uint64_t>{1});
    CHECK(p.more);
}

TEST_CASE("delivery_plan: a log that dropped an unsent entry makes a slow consumer",
          "[delivery_plan]") {
    plan_fixture f;
    delivery_planner planner;
    std::vector<sse::event_ptr> out;
    f.reg.drop_through(2); // x lost 2, which a (at 0) was never sent
    auto p = planner.plan(f.a, f.reg.namespace_log(), f.head, {}, out);
    CHECK(p.slow_consumer);
    CHECK(out.empty());
    CHECK(p.position == 0); // unchanged: the caller applies its policy
}

TEST_CASE("delivery_plan: a pending reset is all a plan gives; it takes the head's id",
          "[delivery_plan]") {
    plan_fixture f;
    delivery_planner planner;
    std::vector<sse::event_ptr> out;
    f.reg.set_pending_reset(f.a, reset_reason::history_gap);
    auto p = planner.plan(f.a, f.reg.namespace_log(), f.head, {}, out);
    CHECK(out.empty());
    CHECK(p.reset == reset_reason::history_gap);
    CHECK(p.reset_id == 7);
    CHECK(p.position == 7);
    // At the head already: the reset takes no id (the client has that one).
    f.reg.set_position(f.b, 7);
    f.reg.set_pending_reset(f.b, reset_reason::lost_events);
    p = planner.plan(f.b, f.reg.namespace_log(), f.head, {}, out);
    CHECK(p.reset_id == 0);
}

TEST_CASE("delivery_plan: conflation keeps the newest event of each key", "[delivery_plan]") {
    registry reg;
    client_state a;
    reg.add(a, "a", 0);
    auto const now = plan_t0();
    reg.append_namespace(plan_record(1, {}, {}, 42));
    reg.append_namespace(plan_record(2, {}, {}, 0)); // unkeyed: always kept
    reg.append_namespace(plan_record(3, {}, {}, 42));
    reg.append_namespace(plan_record(4, {}, {}, 7));
    delivery_planner planner;
    std::vector<sse::event_ptr> out;
    plan_limits lim;
    lim.conflate = true;
    auto p = planner.plan(a, reg.namespace_log(), 4, lim, out);
    CHECK(plan_ids(out) == std::vector<std::uint64_t>{2, 3, 4});
    CHECK(p.superseded == 1);
    CHECK(p.position == 4);
    reg.remove(a, now);
}
