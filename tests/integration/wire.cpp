// Integration: the bytes on the wire (issue #3, behaviour 7; typed emits of behaviour 13).
#include "fixture.hpp"

#include <thread>

using namespace sse_test;

namespace {

/// What a browser makes of a text with CR, LF and CRLF line breaks: LF everywhere.
std::string normalized(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\r') {
            out += '\n';
            if (i + 1 < s.size() && s[i + 1] == '\n') ++i;
        } else {
            out += s[i];
        }
    }
    return out;
}

/// Counts its conversions to JSON.
struct counted {
    int value = 0;
};
std::atomic<int> to_json_calls{0};
void to_json(nlohmann::json& j, counted const& c) {
    ++to_json_calls;
    j = nlohmann::json{{"value", c.value}};
}

} // namespace

TEST_CASE("a JSON emit is exactly id, event, data and a blank line", "[wire][b7]") {
    fixture f;
    auto& ns = f.ns("/s");
    auto c = f.open("/s");
    std::size_t const before = c.reader.wire().size();
    ns.emit("score_update", {{"homeScore", 2}, {"awayScore", 1}, {"minute", 67}});
    auto e = c.reader.next_event();
    REQUIRE(e);
    CHECK(c.reader.wire().substr(before) ==
          "id: 1\nevent: score_update\ndata: {\"awayScore\":1,\"homeScore\":2,\"minute\":67}\n\n");
    CHECK(e->id == "1");
    CHECK(e->has_id);
    CHECK(e->event == "score_update");
    CHECK(json_of(*e) == nlohmann::json{{"homeScore", 2}, {"awayScore", 1}, {"minute", 67}});
    CHECK(c.reader.last_event_id() == "1");
}

TEST_CASE("text data with line breaks is split over data lines and reassembles exactly",
          "[wire][b7]") {
    fixture f;
    auto& ns = f.ns("/s");
    auto c = f.open("/s");
    std::vector<std::string> const inputs = {
        "single line",
        "two\nlines",
        "crlf\r\nlines",
        "cr\rlines",
        "mixed\nbreaks\r\nof\revery\r\rkind",
        "trailing newline\n",
        "\nleading newline",
        "\n",
        "\r\n\r\n",
        "",
        "  spaces kept  ",
        ": not a comment\ndata: not a field\nid: 999\nevent: evil",
        "unicode \xE2\x9C\x93 \xF0\x9F\x8F\x86\nsecond",
    };
    std::size_t const before = c.reader.wire().size();
    for (auto const& in : inputs)
        ns.emit("text", sse::text(in));
    for (auto const& in : inputs) {
        CAPTURE(in);
        auto e = c.reader.next_event();
        REQUIRE(e);
        CHECK(e->event == "text");
        CHECK(e->data == normalized(in));
    }
    std::string_view body = c.reader.wire().substr(before);
    CHECK(body.find('\r') == std::string_view::npos); // every break became its own data line
    CHECK(body.find("\ndata: two\ndata: lines\n\n") != std::string_view::npos);
    CHECK(body.find("\ndata: \ndata: leading newline\n\n") != std::string_view::npos);
    // The injection attempt stayed inside data lines: last event id is still ours.
    CHECK(c.reader.last_event_id() == std::to_string(inputs.size()));
}

TEST_CASE("JSON strings with line breaks stay on one data line", "[wire][b7]") {
    fixture f;
    auto& ns = f.ns("/s");
    auto c = f.open("/s");
    nlohmann::json const payload = {{"text", "line1\nline2\r\nline3\r"}, {"nested", {{"x", "\n"}}}};
    std::size_t const before = c.reader.wire().size();
    ns.emit("msg", payload);
    auto e = c.reader.next_event();
    REQUIRE(e);
    CHECK(json_of(*e) == payload);
    std::string_view body = c.reader.wire().substr(before);
    CHECK(std::count(body.begin(), body.end(), '\n') == 4); // id, event, data, blank line
}

TEST_CASE("JSON data is serialized once per emit, whatever the number of recipients",
          "[wire][b7]") {
    fixture f;
    auto& ns = f.ns("/s");
    std::vector<opened> cs;
    for (int i = 0; i < 5; ++i) {
        cs.push_back(f.open("/s"));
        ns.find_client(cs.back().id)->join("room");
    }
    auto const before = ns.stats();
    to_json_calls = 0;
    ns.to("room").emit("counted", counted{42});
    ns.emit("counted", counted{43});
    CHECK(to_json_calls == 2);
    std::vector<std::string> bytes;
    for (auto& c : cs) {
        for (int v : {42, 43}) {
            auto e = c.reader.next_event();
            REQUIRE(e);
            CHECK(json_of(*e) == nlohmann::json{{"value", v}});
        }
        bytes.emplace_back(c.reader.wire().substr(c.reader.wire().find("id: ")));
    }
    for (auto const& b : bytes)
        CHECK(b == bytes.front()); // every recipient got the same bytes
    CHECK(ns.stats().events_emitted == before.events_emitted + 2);
    CHECK(ns.stats().deliveries == before.deliveries + 10);
}

TEST_CASE("bad event names throw std::invalid_argument and nothing is written", "[wire][b7]") {
    fixture f;
    auto& ns = f.ns("/s");
    auto c = f.open("/s");
    auto client = ns.find_client(c.id);
    REQUIRE(client);
    client->join("room");
    ns.emit("first", {{"n", 1}});
    REQUIRE(c.reader.next_event());
    std::size_t const before = c.reader.wire().size();

    std::vector<std::string> const bad = {
        "",
        "x\ndata: injected",
        "x\r\nid: 999",
        "x\rretry: 1",
        std::string("nul\0name", 8),
        std::string(sse::max_name_length + 1, 'n'),
        "\xFF\xFE",
    };
    for (auto const& name : bad) {
        CAPTURE(name);
        auto expect_throw = [&](auto&& fn) {
            try {
                fn();
                FAIL("a bad event name was accepted");
            } catch (std::invalid_argument const& e) {
                CHECK(std::string(e.what()).rfind("[sse.invalid_event_name]", 0) == 0);
            }
        };
        expect_throw([&] { ns.emit(name, {{"n", 1}}); });
        expect_throw([&] { ns.emit(name, sse::text("x")); });
        expect_throw([&] { ns.to("room").emit(name, {{"n", 1}}); });
        expect_throw([&] { ns.except("other").emit(name, sse::text("x")); });
        expect_throw([&] { client->emit(name, {{"n", 1}}); });
    }
    auto expect_bad_data = [&](auto&& fn) {
        try {
            fn();
            FAIL("bad data was accepted");
        } catch (std::invalid_argument const& e) {
            CHECK(std::string(e.what()).rfind("[sse.invalid_data]", 0) == 0);
        }
    };
    expect_bad_data([&] { ns.emit("ok", sse::text(std::string("nul\0data", 8))); });
    expect_bad_data([&] { ns.emit("ok", sse::text("\xC0\xAF")); });
    expect_bad_data([&] { ns.emit("ok", nlohmann::json("\xFF")); }); // not type_error 316

    ns.emit("after", {{"n", 2}});
    auto e = c.reader.next_event();
    REQUIRE(e);
    CHECK(e->event == "after");
    CHECK(e->id == "2"); // the failed emits consumed no id
    CHECK(c.reader.wire().substr(before) == "id: 2\nevent: after\ndata: {\"n\":2}\n\n");
}

TEST_CASE("ids increase strictly within a namespace, under concurrent emits", "[wire][b7]") {
    fixture f(quiet_options(), 2);
    auto& ns = f.ns("/s");
    auto c = f.open("/s");
    auto client = ns.find_client(c.id);
    REQUIRE(client);
    client->join("room");
    constexpr int per_thread = 100;
    std::vector<std::thread> emitters;
    for (int t = 0; t < 4; ++t) {
        emitters.emplace_back([&, t] {
            for (int i = 0; i < per_thread; ++i) {
                switch ((t + i) % 4) {
                case 0:
                    ns.emit("e", {{"t", t}, {"i", i}});
                    break;
                case 1:
                    ns.to("room").emit("e", {{"t", t}, {"i", i}});
                    break;
                case 2:
                    client->emit("e", {{"t", t}, {"i", i}});
                    break;
                default:
                    ns.to(c.id).except("nobody").emit("e", sse::text("x"));
                    break;
                }
            }
        });
    }
    for (auto& t : emitters)
        t.join();
    auto events = c.reader.events(4 * per_thread);
    REQUIRE(events.size() == 4 * per_thread);
    std::uint64_t last = 0;
    for (auto const& e : events) {
        REQUIRE(e.has_id);
        auto id = std::stoull(e.id);
        CHECK(id == last + 1); // strictly increasing, and no gap: the client got every emit
        last = id;
    }
    CHECK(ns.stats().last_event_id == last);
    // Another namespace counts on its own.
    auto& other = f.ns("/other");
    auto oc = f.open("/other");
    other.emit("e", {{"n", 1}});
    auto oe = oc.reader.next_event();
    REQUIRE(oe);
    CHECK(oe->id == "1");
}

namespace {
struct score_update {
    static constexpr char name[] = "score_update";
    std::string match;
    int homeScore = 0, awayScore = 0, minute = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(score_update, match, homeScore, awayScore, minute)
struct red_card {
    static constexpr char name[] = "red_card";
    std::string player;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(red_card, player)
using football_events = sse::events<score_update, red_card>;
} // namespace

TEST_CASE("typed namespaces emit the type's name and JSON", "[wire][typed][b13]") {
    fixture f;
    auto& typed = f.io->of<football_events>("/football");
    CHECK(&typed.untyped() == &f.ns("/football"));
    CHECK(&f.io->of<football_events>("/football") == &typed);
    auto c = f.open("/football");
    f.ns("/football").find_client(c.id)->join("ars-che");

    typed.to("ars-che").emit(score_update{"Arsenal vs Chelsea", 2, 1, 67});
    typed.emit(red_card{"Player X"});
    auto e1 = c.reader.next_event();
    REQUIRE(e1);
    CHECK(e1->event == "score_update");
    CHECK(json_of(*e1) ==
          nlohmann::json{
              {"match", "Arsenal vs Chelsea"}, {"homeScore", 2}, {"awayScore", 1}, {"minute", 67}});
    auto e2 = c.reader.next_event();
    REQUIRE(e2);
    CHECK(e2->event == "red_card");

    std::string why;
    CHECK(typed.emit_checked("red_card", {{"player", "Y"}}, why));
    CHECK_FALSE(typed.emit_checked("red_card", {{"player", 7}}, why));
    CHECK_FALSE(why.empty());
    CHECK_FALSE(typed.emit_checked("unknown", {{"player", "Y"}}, why));
    CHECK(why.find("unknown event") != std::string::npos);
    typed.emit(*typed.clients().front(), red_card{"Z"});
    auto e3 = c.reader.next_event();
    REQUIRE(e3);
    CHECK(json_of(*e3) == nlohmann::json{{"player", "Y"}});
    auto e4 = c.reader.next_event();
    REQUIRE(e4);
    CHECK(json_of(*e4) == nlohmann::json{{"player", "Z"}});
}
