// libFuzzer target: Last-Event-ID parsing and replay planning.
//
// The input is a small program: record events into rooms, let time pass, expire, and ask for
// what a client missed after some Last-Event-ID (given as the header's text, or relative to
// the newest id). The planner (sse::detail::delivery_core: a reconnect is admitted at that
// id, joins the asked rooms, and its first plan is the replay) must answer either "replay
// exactly these", where exactly means every recorded event after that id of the asked rooms
// and of the namespace-wide broadcasts, each once, in strictly increasing id order, or
// "reset"; a reset only when something could have been dropped, or the id is ahead of every
// id recorded. The reference is the plain list of everything ever recorded.
// The id text must be read as the rules say: decimal digits only, 1 to 20 of them, within
// 64 bits, for parse_event_id; bounded, one line of UTF-8, for usable_last_event_id.
#include <sse/detail/delivery_core.hpp>
#include <sse/namespace.hpp> // detail::usable_last_event_id

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace {

[[noreturn]] void fail(char const* what) {
    std::fprintf(stderr, "fuzz_replay: %s\n", what);
    std::abort();
}

// The input, a byte at a time; zeros once it is used up.
struct program {
    std::string_view in;
    std::uint8_t next() {
        if (in.empty()) return 0;
        auto b = static_cast<std::uint8_t>(in.front());
        in.remove_prefix(1);
        return b;
    }
    std::string_view text(std::size_t n) {
        auto s = in.substr(0, n);
        in.remove_prefix(s.size());
        return s;
    }
};

// Four rooms; a mask of 0 records a namespace-wide broadcast.
char const* const room_names[] = {"a", "b", "c", "d"};
std::vector<std::string> rooms_of(unsigned mask) {
    std::vector<std::string> out;
    for (unsigned i = 0; i < 4; ++i)
        if (mask & (1u << i)) out.emplace_back(room_names[i]);
    return out;
}

struct recorded {
    std::uint64_t id;
    unsigned mask; // 0: broadcast
};

void check_id_rules(std::string_view text) {
    bool digits =
        !text.empty() && text.size() <= 20 &&
        std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
    std::uint64_t want = 0;
    if (digits) {
        auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), want);
        digits = ec == std::errc() && end == text.data() + text.size();
    }
    auto const got = sse::detail::parse_event_id(text);
    if (got.has_value() != digits || (got && *got != want)) fail("parse_event_id broke its rules");

    bool const usable =
        !text.empty() && text.size() <= sse::max_name_length &&
        text.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos &&
        sse::is_valid_utf8(text);
    if (sse::detail::usable_last_event_id(text) != usable)
        fail("usable_last_event_id broke its rules");
}

// The planner under test and how to ask it; the rest of the target does not know its type.
struct planner {
    sse::detail::delivery_core core;

    static sse::detail::delivery_options options_of(sse::history_options o) {
        sse::detail::delivery_options d;
        d.logs.history_events = o.max_events;
        d.logs.history_age = o.max_age;
        return d;
    }
    explicit planner(sse::history_options o)
        : core(options_of(o)) {}
    void record(std::uint64_t id, std::vector<std::string> const& rooms,
                std::chrono::steady_clock::time_point now) {
        auto e = sse::encoded_event::make("e", nlohmann::json(0));
        e->stamp(id);
        if (!core.append(sse::detail::make_record(e, rooms, {}, now), now))
            fail("an increasing id was refused");
    }
    void expire(std::chrono::steady_clock::time_point now) { core.expire(now); }
    /// Ids to replay after `after` (text: as the header said it), or false for a reset.
    bool plan(std::string_view after, std::vector<std::string> const& rooms,
              std::chrono::steady_clock::time_point now, std::vector<std::uint64_t>& ids) {
        sse::detail::client_state c;
        bool ok = core.admit(c, "fuzz", after, now) == sse::detail::reset_reason::none;
        for (auto const& r : rooms)
            ok = core.join(c, r, now) == sse::detail::reset_reason::none && ok;
        std::vector<sse::event_ptr> out;
        auto const p = core.plan(c, sse::detail::plan_limits{}, out, now);
        core.remove(c, now);
        if ((p.reset != sse::detail::reset_reason::none) == ok)
            fail("admit/join and the first plan disagree about a reset");
        if (!ok) return false;
        if (p.slow_consumer) fail("a slow consumer at its first plan");
        ids.clear();
        for (auto const& e : out)
            ids.push_back(e->id());
        return true;
    }
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    program p{std::string_view(reinterpret_cast<char const*>(data), size)};
    sse::history_options o;
    o.max_events = 1 + p.next() % 6;
    o.max_age = std::chrono::seconds(1 + p.next() % 16);
    planner plan(o);

    auto now = std::chrono::steady_clock::time_point{} + std::chrono::hours(1);
    std::vector<recorded> all; // the reference: everything, forever
    std::vector<unsigned> per_room(5, 0);
    bool may_have_dropped = false; // a log passed max_events, or an entry passed max_age
    std::uint64_t newest = 0;
    auto first_at = now;

    for (int steps = 0; !p.in.empty() && steps < 512; ++steps) {
        switch (p.next() % 5) {
        case 0: { // an emit
            newest += 1 + p.next() % 4;
            unsigned const mask = p.next() % 16;
            plan.record(newest, rooms_of(mask), now);
            if (all.empty()) first_at = now;
            all.push_back({newest, mask});
            for (unsigned i = 0; i < 5; ++i)
                if ((i == 4 && mask == 0) || (i < 4 && (mask & (1u << i))))
                    may_have_dropped |= ++per_room[i] > o.max_events;
            break;
        }
        case 1: { // time passes
            now += std::chrono::seconds(p.next() % 8);
            may_have_dropped |=
                !all.empty() && now - first_at >= o.max_age; // the core: at max_age it is gone
            break;
        }
        case 2:
            plan.expire(now);
            break;
        case 3:
        case 4: { // a client comes back
            std::string after_text;
            if (p.next() % 2 == 0) {
                auto const text = p.text(p.next() % 24);
                check_id_rules(text);
                if (!sse::detail::parse_event_id(text) || !sse::detail::usable_last_event_id(text))
                    break;
                after_text = std::string(text);
            } else {
                std::uint64_t const back = p.next() % 8;
                after_text = std::to_string(newest > back ? newest - back : 0);
            }
            std::uint64_t const after = *sse::detail::parse_event_id(after_text);
            unsigned const asked = p.next() % 16;
            std::vector<std::uint64_t> ids;
            if (!plan.plan(after_text, rooms_of(asked), now, ids)) {
                if (after > newest) break; // not one of ours: a reset is the answer
                if (!may_have_dropped) fail("a reset though nothing was dropped");
                if (newest <= after) fail("a reset for a client that missed nothing");
                break;
            }
            if (after > newest) fail("an id ahead of every id replayed instead of a reset");
            std::vector<std::uint64_t> want;
            for (auto const& r : all)
                if (r.id > after && ((r.mask & asked) != 0 || r.mask == 0)) want.push_back(r.id);
            for (std::size_t i = 1; i < ids.size(); ++i)
                if (ids[i - 1] >= ids[i]) fail("replay ids not strictly increasing");
            if (ids != want) fail("replay is not exactly the missed events of the asked rooms");
            break;
        }
        }
    }
    return 0;
}
