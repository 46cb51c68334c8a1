// Integration: emits the library refuses at the call (issue #13, items 1 and 4). Data that is
// not UTF-8 and events no client's queue could hold throw where the app can catch them, send
// nothing, and leave every client connected; the next good emit is each client's next event.
#include "fixture.hpp"

using namespace sse_test;

namespace refused_emits_test {

struct notice {
    static constexpr char name[] = "notice";
    std::string message;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(notice, message)
using notice_events = sse::events<notice>;

/// Three clients in room "m" of `nsp`.
struct room_of_three {
    explicit room_of_three(fixture& f, std::string const& nsp = "/s")
        : ns(f.ns(nsp)) {
        for (int i = 0; i < 3; ++i) {
            clients.push_back(f.open(nsp));
            auto c = ns.find_client(clients.back().id);
            REQUIRE(c);
            c->join("m");
            handles.push_back(c);
        }
    }

    /// Every client's next event is a marker emitted now: nothing was sent before it, and
    /// every client is still connected.
    void expect_nothing_sent() {
        ns.emit("marker", {{"n", ++round}});
        for (auto& c : clients) {
            auto e = c.reader.next_event();
            REQUIRE(e);
            CHECK(e->event == "marker");
            CHECK(json_of(*e)["n"] == round);
        }
        CHECK(ns.client_count() == 3);
        CHECK(ns.stats().slow_consumers == 0);
    }

    sse::namespace_& ns;
    std::vector<opened> clients;
    std::vector<sse::client_ptr> handles;
    int round = 0;
};

} // namespace refused_emits_test

using refused_emits_test::room_of_three;

TEST_CASE("JSON data with a string that is not UTF-8 throws [sse.invalid_data] at every emit call",
          "[emit][b13]") {
    fixture f;
    room_of_three r(f);
    nlohmann::json const bad = {{"message", "a\xff\xfe"
                                            "b"}};
    auto expect_invalid_data = [](auto&& emit) {
        try {
            emit();
            FAIL("the emit did not throw");
        } catch (std::invalid_argument const& e) {
            CHECK(std::string(e.what()).rfind("[sse.invalid_data]", 0) == 0);
        }
    };
    expect_invalid_data([&] { r.ns.emit("announcement", bad); });
    expect_invalid_data([&] { r.ns.to("m").emit("announcement", bad); });
    expect_invalid_data([&] { r.ns.except("x").emit("announcement", bad); });
    expect_invalid_data([&] { r.handles[0]->emit("announcement", bad); });
    auto& typed = f.io->of<refused_emits_test::notice_events>("/s");
    expect_invalid_data([&] { typed.emit(refused_emits_test::notice{"a\xff"}); });
    r.expect_nothing_sent();

    // The checked form, for data taken from a request: false and why, never a throw.
    std::string why;
    CHECK_FALSE(typed.emit_checked("notice", bad, why));
    CHECK(why.rfind("[sse.invalid_data]", 0) == 0);
    r.expect_nothing_sent();
}

TEST_CASE("an event larger than max_buffered_bytes throws [sse.event_too_large] and drops nobody",
          "[emit][b13]") {
    fixture f;
    room_of_three r(f);
    std::string const two_mib(2 * 1024 * 1024, 'x');
    CHECK_THROWS_AS(r.ns.to("m").emit("big", {{"blob", two_mib}}), std::length_error);
    try {
        r.ns.emit("big", sse::text{two_mib});
        FAIL("the emit did not throw");
    } catch (std::length_error const& e) {
        CHECK(std::string(e.what()).rfind("[sse.event_too_large]", 0) == 0);
    }
    CHECK_THROWS_AS(r.handles[1]->emit("big", {{"blob", two_mib}}), std::length_error);
    std::string why;
    auto& typed = f.io->of<refused_emits_test::notice_events>("/s");
    CHECK_FALSE(typed.emit_checked(r.ns.to("m"), "notice", {{"message", two_mib}}, why));
    CHECK(why.rfind("[sse.event_too_large]", 0) == 0);
    CHECK(r.ns.stats().oversized_events == 4);
    r.expect_nothing_sent();

    // Large but within the bound (more than half of it: a write batch still takes it whole).
    std::string const large(700 * 1024, 'y');
    r.ns.to("m").emit("large", sse::text{large});
    for (auto& c : r.clients) {
        auto e = c.reader.next_event(10s);
        REQUIRE(e);
        CHECK(e->event == "large");
        CHECK(e->data == large);
    }
    r.expect_nothing_sent();
}
