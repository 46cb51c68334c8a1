// Integration: rooms are created on first join and removed when empty; client->rooms() and
// ns.room(r) agree (issue #3, behaviour 5).
#include "fixture.hpp"

#include <algorithm>
#include <map>
#include <set>

using namespace sse_test;

namespace {

sse::client_ptr client_of(sse::namespace_& ns, opened const& o) {
    auto c = ns.find_client(o.id);
    REQUIRE(c);
    return c;
}

std::set<std::string> ids_in(sse::namespace_& ns, std::string_view room) {
    std::set<std::string> out;
    for (auto const& c : ns.room(room))
        out.insert(c->id());
    return out;
}

/// Every shared room lists exactly the clients whose rooms() name it, and back.
void check_registry_agrees(sse::namespace_& ns) {
    std::map<std::string, std::set<std::string>> from_clients;
    for (auto const& c : ns.clients()) {
        auto rooms = c->rooms();
        REQUIRE(!rooms.empty());
        CHECK(rooms.front() == c->id()); // the private room comes first
        for (std::size_t i = 1; i < rooms.size(); ++i)
            from_clients[rooms[i]].insert(c->id());
    }
    std::map<std::string, std::set<std::string>> from_rooms;
    for (auto const& r : ns.rooms())
        from_rooms[r] = ids_in(ns, r);
    CHECK(from_clients == from_rooms);
}

} // namespace

TEST_CASE("a room exists from its first join until its last member leaves", "[rooms][b5]") {
    fixture f;
    auto& ns = f.ns("/s");
    auto a = f.open("/s");
    auto b = f.open("/s");
    auto ca = client_of(ns, a);
    auto cb = client_of(ns, b);
    CHECK(ns.rooms().empty());
    CHECK(ns.stats().rooms == 0);

    ca->join("match");
    CHECK(ns.rooms() == std::vector<std::string>{"match"});
    CHECK(ns.stats().rooms == 1);
    cb->join("match");
    CHECK(ids_in(ns, "match") == std::set<std::string>{a.id, b.id});

    ca->leave("match");
    CHECK(ns.rooms() == std::vector<std::string>{"match"});
    CHECK(ids_in(ns, "match") == std::set<std::string>{b.id});
    cb->leave("match");
    CHECK(ns.rooms().empty());
    CHECK(ns.room("match").empty());
    CHECK(ns.stats().rooms == 0);

    // Leaving a room one is not in, twice, or the private room: harmless.
    cb->leave("match");
    cb->leave("never-joined");
    cb->leave(b.id);
    CHECK(cb->rooms() == std::vector<std::string>{b.id});
    CHECK(ns.room(b.id).size() == 1);
    // Joining twice is one membership.
    ca->join("x");
    ca->join("x");
    CHECK(ca->rooms() == std::vector<std::string>{a.id, "x"});
    CHECK(ns.room("x").size() == 1);
}

TEST_CASE("a client in many rooms; client->rooms() and ns.room() agree", "[rooms][b5]") {
    fixture f;
    auto& ns = f.ns("/s");
    std::vector<opened> os;
    for (int i = 0; i < 6; ++i)
        os.push_back(f.open("/s"));
    std::vector<sse::client_ptr> cs;
    for (auto const& o : os)
        cs.push_back(client_of(ns, o));

    cs[0]->join({"a", "b", "c"});
    cs[1]->join(std::vector<std::string>{"b", "c"});
    cs[2]->join("c");
    cs[3]->join({"a", "d"});
    cs[4]->join("d");
    CHECK(cs[0]->rooms() == std::vector<std::string>{os[0].id, "a", "b", "c"});
    CHECK(ns.rooms() == std::vector<std::string>{"a", "b", "c", "d"});
    check_registry_agrees(ns);

    cs[0]->leave("b");
    cs[3]->leave("a");
    cs[4]->leave("d");
    check_registry_agrees(ns);
    CHECK(ns.rooms() == std::vector<std::string>{"a", "b", "c", "d"});
    CHECK(ids_in(ns, "a") == std::set<std::string>{os[0].id});
    CHECK(ids_in(ns, "d") == std::set<std::string>{os[3].id});

    // A disconnect leaves every room.
    os[0].reader.close();
    REQUIRE(eventually([&] { return ns.client_count() == 5; }));
    CHECK(ns.rooms() == std::vector<std::string>{"b", "c", "d"});
    check_registry_agrees(ns);
    CHECK(cs[0]->rooms().size() <= 1);
}

TEST_CASE("room membership survives members leaving in any order", "[rooms][b5]") {
    // Members are kept in flat arrays with swap-removal; each removal moves another member.
    fixture f;
    auto& ns = f.ns("/s");
    std::vector<opened> os;
    std::vector<sse::client_ptr> cs;
    for (int i = 0; i < 5; ++i) {
        os.push_back(f.open("/s"));
        cs.push_back(client_of(ns, os.back()));
        cs.back()->join({"r1", "r2"});
    }
    std::vector<std::size_t> still = {0, 1, 2, 3, 4};
    for (std::size_t gone : {1u, 4u, 0u, 2u}) {
        cs[gone]->leave("r1");
        still.erase(std::find(still.begin(), still.end(), gone));
        std::set<std::string> expected;
        for (auto i : still)
            expected.insert(os[i].id);
        CHECK(ids_in(ns, "r1") == expected);
        check_registry_agrees(ns);

        std::string const tag = "after-" + std::to_string(gone);
        ns.to("r1").emit("tick", {{"tag", tag}});
        ns.emit("marker", {{"tag", tag}});
        for (std::size_t i = 0; i < os.size(); ++i) {
            bool const member = std::find(still.begin(), still.end(), i) != still.end();
            auto e = os[i].reader.next_event();
            REQUIRE(e);
            if (member) {
                CHECK(e->event == "tick");
                e = os[i].reader.next_event();
                REQUIRE(e);
            }
            CHECK(e->event == "marker");
            CHECK(json_of(*e)["tag"] == tag);
        }
    }
    CHECK(ids_in(ns, "r2").size() == 5);
}

TEST_CASE("joins after a disconnect are ignored", "[rooms][b5]") {
    fixture f;
    auto& ns = f.ns("/s");
    auto a = f.open("/s");
    auto ca = client_of(ns, a);
    ca->disconnect();
    REQUIRE(eventually([&] { return ns.client_count() == 0; }));
    ca->join("late");
    CHECK(ns.rooms().empty());
    CHECK(ns.room("late").empty());
}

TEST_CASE("bad room names throw with a stable id", "[rooms][b5]") {
    fixture f;
    auto& ns = f.ns("/s");
    auto a = f.open("/s");
    auto ca = client_of(ns, a);
    auto check_bad = [&](std::string const& room) {
        try {
            ca->join(room);
            FAIL("join accepted a bad room name");
        } catch (std::invalid_argument const& e) {
            CHECK(std::string(e.what()).rfind("[sse.invalid_room_name]", 0) == 0);
        }
        CHECK_THROWS_AS(ns.to(room), std::invalid_argument);
        CHECK_THROWS_AS(ns.except(room), std::invalid_argument);
    };
    check_bad("");
    check_bad("a\nb");
    check_bad("a\rb");
    check_bad(std::string("a\0b", 3));
    check_bad(std::string(sse::max_name_length + 1, 'r'));
    check_bad("\xC3\x28");
    // A list with one bad name joins none of them.
    CHECK_THROWS_AS(ca->join({"ok", "bad\n"}), std::invalid_argument);
    CHECK(ns.rooms().empty());
    CHECK(ca->rooms() == std::vector<std::string>{a.id});
}
