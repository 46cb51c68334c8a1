// Integration: who receives an emit (issue #3, behaviour 6).
//
// "Did not receive" is asserted with a marker: after the emit under test, a `marker` event
// goes to everyone. Emits of one namespace arrive in order, so a client's next event is the
// tested one (if it was a recipient) and then the marker, or directly the marker.
#include "fixture.hpp"

using namespace sse_test;

namespace {

/// Five clients in rooms:  c0: a      c1: a, b      c2: b      c3: b, muted      c4: (none)
struct roomed {
    explicit roomed(fixture& f, std::string const& nsp = "/s")
        : ns(f.ns(nsp)) {
        std::vector<std::vector<std::string>> const rooms = {
            {"a"}, {"a", "b"}, {"b"}, {"b", "muted"}, {}};
        for (auto const& r : rooms) {
            clients.push_back(f.open(nsp));
            auto c = ns.find_client(clients.back().id);
            REQUIRE(c);
            c->join(r);
            handles.push_back(c);
        }
    }

    /// Emits `marker` to all, then checks which clients got `event` (exactly once) first.
    void expect_recipients(std::string const& event, std::vector<int> const& expected) {
        std::string const tag = event + "-" + std::to_string(++round);
        ns.emit("marker", {{"tag", tag}});
        for (int i = 0; i < static_cast<int>(clients.size()); ++i) {
            CAPTURE(event, i);
            bool const should = std::find(expected.begin(), expected.end(), i) != expected.end();
            auto e = clients[static_cast<std::size_t>(i)].reader.next_event();
            REQUIRE(e);
            if (should) {
                CHECK(e->event == event);
                e = clients[static_cast<std::size_t>(i)].reader.next_event();
                REQUIRE(e);
            }
            CHECK(e->event == "marker"); // not the event a second time, nor when not targeted
            CHECK(json_of(*e)["tag"] == tag);
        }
    }

    sse::namespace_& ns;
    std::vector<opened> clients;
    std::vector<sse::client_ptr> handles;
    int round = 0;
};

} // namespace

TEST_CASE("ns.emit reaches every client of the namespace", "[emit][b6]") {
    fixture f;
    roomed r(f);
    r.ns.emit("all", {{"n", 1}});
    r.expect_recipients("all", {0, 1, 2, 3, 4});
}

TEST_CASE("to(room) reaches the room only", "[emit][b6]") {
    fixture f;
    roomed r(f);
    r.ns.to("a").emit("to-a", {{"n", 1}});
    r.expect_recipients("to-a", {0, 1});
}

TEST_CASE("to({rooms}) is a union with one copy per client", "[emit][b6]") {
    fixture f;
    roomed r(f);
    r.ns.to({"a", "b"}).emit("to-ab", {{"n", 1}});
    r.expect_recipients("to-ab", {0, 1, 2, 3}); // c1 is in both: one copy
    r.ns.to(std::vector<std::string>{"a", "b", "a"}).emit("to-vec", {{"n", 2}});
    r.expect_recipients("to-vec", {0, 1, 2, 3});
}

TEST_CASE("to().to() chains into a union", "[emit][b6]") {
    fixture f;
    roomed r(f);
    r.ns.to("a").to("b").emit("chained", {{"n", 1}});
    r.expect_recipients("chained", {0, 1, 2, 3});
    // A partly built operator can be kept and reused.
    auto const to_a = r.ns.to("a");
    to_a.to("muted").emit("reuse1", {{"n", 2}});
    r.expect_recipients("reuse1", {0, 1, 3});
    to_a.emit("reuse2", {{"n", 3}});
    r.expect_recipients("reuse2", {0, 1});
}

TEST_CASE("except(room) reaches everyone but the room", "[emit][b6]") {
    fixture f;
    roomed r(f);
    r.ns.except("muted").emit("not-muted", {{"n", 1}});
    r.expect_recipients("not-muted", {0, 1, 2, 4});
    r.ns.except({"a", "muted"}).emit("not-a-muted", {{"n", 2}});
    r.expect_recipients("not-a-muted", {2, 4});
}

TEST_CASE("to().except(): exclusion wins", "[emit][b6]") {
    fixture f;
    roomed r(f);
    r.ns.to("b").except("muted").emit("b-not-muted", {{"n", 1}});
    r.expect_recipients("b-not-muted", {1, 2});
    r.ns.to({"a", "b"}).except("a").emit("ab-not-a", {{"n", 2}});
    r.expect_recipients("ab-not-a", {2, 3});
    // A client's private room works in both positions.
    r.ns.to("a").except(r.clients[0].id).emit("a-not-c0", {{"n", 3}});
    r.expect_recipients("a-not-c0", {1});
    r.ns.except(r.clients[4].id).to(r.clients[4].id).emit("nobody", {{"n", 4}});
    r.expect_recipients("nobody", {});
}

TEST_CASE("client->emit reaches that client only", "[emit][b6]") {
    fixture f;
    roomed r(f);
    r.handles[2]->emit("personal", {{"for", "c2"}});
    r.expect_recipients("personal", {2});
    r.handles[2]->emit("personal-text", sse::text("hi"));
    r.expect_recipients("personal-text", {2});
}

TEST_CASE("to(ghost room) sends nothing", "[emit][b6]") {
    fixture f;
    roomed r(f);
    auto before = r.ns.stats();
    r.ns.to("ghost-room").emit("ghost", {{"n", 1}});
    CHECK(r.ns.stats().deliveries == before.deliveries);
    r.expect_recipients("ghost", {});
    CHECK(r.ns.rooms() == std::vector<std::string>{"a", "b", "muted"}); // no room was created
}

TEST_CASE("emitting on a closed namespace or to a gone client is a silent no-op", "[emit][b6]") {
    fixture f;
    auto& ns = f.ns("/s");
    auto a = f.open("/s");
    auto ca = ns.find_client(a.id);
    REQUIRE(ca);
    auto disconnects = make_counter();
    ca->on_disconnect([disconnects] { ++*disconnects; });

    SECTION("client gone") {
        a.reader.close();
        REQUIRE(eventually([&] { return *disconnects == 1; }));
        auto const before = ns.stats();
        CHECK_NOTHROW(ca->emit("late", {{"n", 1}}));
        CHECK_NOTHROW(ca->emit("late", sse::text("x")));
        CHECK_NOTHROW(ns.to(a.id).emit("late", {{"n", 1}}));
        CHECK(ns.stats().deliveries == before.deliveries);
        CHECK_FALSE(ca->connected());
    }
    SECTION("namespace closed") {
        ns.close();
        REQUIRE(a.reader.closed());
        auto const before = ns.stats();
        CHECK_NOTHROW(ns.emit("late", {{"n", 1}}));
        CHECK_NOTHROW(ns.to("a").except("b").emit("late", sse::text("x")));
        CHECK_NOTHROW(ca->emit("late", {{"n", 1}}));
        CHECK(ns.stats().events_emitted == before.events_emitted);
        CHECK(ns.stats().deliveries == before.deliveries);
        // Bad names are still programmer errors, closed or not.
        CHECK_THROWS_AS(ns.emit("bad\nname", {{"n", 1}}), std::invalid_argument);
    }
}

TEST_CASE("namespaces are isolated", "[emit][b6]") {
    fixture f;
    auto& football = f.ns("/football");
    auto& tennis = f.ns("/tennis");
    auto fc = f.open("/football");
    auto tc = f.open("/tennis");
    football.find_client(fc.id)->join("final");
    tennis.find_client(tc.id)->join("final");

    football.emit("goal", {{"n", 1}});
    football.to("final").emit("goal-final", {{"n", 2}});
    football.to(tc.id).emit("wrong-ns", {{"n", 3}}); // an id of another namespace is a ghost
    tennis.emit("marker", {{"n", 4}});

    auto e = tc.reader.next_event();
    REQUIRE(e);
    CHECK(e->event == "marker");
    CHECK(tennis.stats().events_emitted == 1);
    for (char const* name : {"goal", "goal-final"}) {
        auto g = fc.reader.next_event();
        REQUIRE(g);
        CHECK(g->event == name);
    }
    CHECK(football.client_count() == 1);
    CHECK(tennis.client_count() == 1);
    CHECK(football.find_client(tc.id) == nullptr);
    // Ids are per namespace: both start from 1.
    CHECK(e->id == "1");
}
