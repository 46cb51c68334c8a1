// Security: field and header injection (issue #8, item 1, first bullet; SECURITY.md "A
// client cannot inject fields or events" and "cannot inject response headers").
//
// Every bad value is tried on every public entry point that takes it; each attempt must throw
// std::invalid_argument with the documented stable id, and a connected reader in every room
// must receive no byte from it: its wire is compared before and after, and the next good
// event carries the next id (the failed calls consumed none).
#include "integration/fixture.hpp"
#include "security/security_support.hpp"

#include <functional>

using namespace sse_test;

namespace {

/// Names an attacker would like to get through: field breaks, NUL, too long, not UTF-8.
std::vector<std::string> hostile_names() {
    return {
        "",
        "x\ndata: injected",
        "x\r\nid: 999",
        "x\rretry: 1",
        "x\n\nevent: evil\ndata: {}\n\n",
        "\n",
        "\r",
        std::string("nul\0name", 8),
        std::string(1, '\0'),
        std::string(sse::max_name_length + 1, 'n'),
        std::string(1 << 20, 'n'),               // 1 MiB
        "\xFF\xFE",                              // not UTF-8 at all
        "\xC0\xAF",                              // overlong '/'
        "\xED\xA0\x80",                          // a UTF-16 surrogate
        "\xF4\x90\x80\x80",                      // past U+10FFFF
        "caf\xC3",                               // truncated sequence
        "\xE2\x82",                              // truncated at the end
        std::string("ok\xE2\x80\xA8", 5) + "\n", // U+2028 is fine, the LF is not
    };
}

std::string printable(std::string const& s) {
    std::string out;
    for (unsigned char c : s.substr(0, 40)) {
        if (c >= 0x20 && c < 0x7f) {
            out += static_cast<char>(c);
        } else {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02X", c);
            out += buf;
        }
    }
    if (s.size() > 40) out += "...(" + std::to_string(s.size()) + " bytes)";
    return out;
}

/// Runs `fn`, which must throw std::invalid_argument whose message starts with `id`.
void expect_rejected(std::string const& id, std::function<void()> const& fn) {
    try {
        fn();
        FAIL("accepted a bad value (expected " << id << ")");
    } catch (std::invalid_argument const& e) {
        INFO("what(): " << e.what());
        CHECK(std::string_view(e.what()).substr(0, id.size()) == id);
    }
}

/// Two readers: one in "room", one in no room. Their wires must not move on failed calls.
struct watched {
    explicit watched(fixture& f)
        : ns(f.ns("/s"))
        , in_room(f.open("/s"))
        , outside(f.open("/s")) {
        member = ns.find_client(in_room.id);
        REQUIRE(member);
        member->join("room");
        ns.emit("first", {{"n", 1}});
        REQUIRE(in_room.reader.next_event());
        REQUIRE(outside.reader.next_event());
        before_in = in_room.reader.wire().size();
        before_out = outside.reader.wire().size();
        last_id = ns.stats().last_event_id;
    }

    /// Nothing arrived since construction; then a good event arrives with the next id.
    void expect_untouched() {
        in_room.reader.pump_for(50ms);
        outside.reader.pump_for(10ms);
        CHECK(in_room.reader.wire().size() == before_in);
        CHECK(outside.reader.wire().size() == before_out);
        CHECK(ns.stats().last_event_id == last_id);
        ns.to("room").emit("after", {{"n", 2}});
        auto e = in_room.reader.next_event();
        REQUIRE(e);
        CHECK(e->event == "after");
        CHECK(e->id == std::to_string(last_id + 1));
        std::string const expected =
            "id: " + std::to_string(last_id + 1) + "\nevent: after\ndata: {\"n\":2}\n\n";
        CHECK(in_room.reader.wire().substr(before_in) == expected);
        CHECK(member->rooms() == std::vector<std::string>{member->id(), "room"});
    }

    sse::namespace_& ns;
    opened in_room;
    opened outside;
    sse::client_ptr member;
    std::size_t before_in = 0;
    std::size_t before_out = 0;
    std::uint64_t last_id = 0;
};

} // namespace

TEST_CASE("hostile event names: every emit path throws [sse.invalid_event_name], no byte leaves",
          "[security][injection]") {
    fixture f;
    watched w(f);
    for (auto const& name : hostile_names()) {
        CAPTURE(printable(name));
        std::string const id = "[sse.invalid_event_name]";
        expect_rejected(id, [&] { w.ns.emit(name, {{"n", 1}}); });
        expect_rejected(id, [&] { w.ns.emit(name, sse::text("x")); });
        expect_rejected(id, [&] { w.ns.to("room").emit(name, {{"n", 1}}); });
        expect_rejected(id, [&] { w.ns.to({"room", "other"}).emit(name, sse::text("x")); });
        expect_rejected(id, [&] { w.ns.except("other").emit(name, {{"n", 1}}); });
        expect_rejected(id, [&] { w.ns.to(w.member->id()).emit(name, {{"n", 1}}); });
        expect_rejected(id, [&] { w.member->emit(name, {{"n", 1}}); });
        expect_rejected(id, [&] { w.member->emit(name, sse::text("x")); });
    }
    w.expect_untouched();
}

TEST_CASE("hostile room names: join, leave-then-join, to, except throw [sse.invalid_room_name]",
          "[security][injection]") {
    fixture f;
    watched w(f);
    std::string const id = "[sse.invalid_room_name]";
    for (auto const& room : hostile_names()) {
        CAPTURE(printable(room));
        expect_rejected(id, [&] { w.member->join(room); });
        // A list with one bad name joins none of them (validated before any join).
        expect_rejected(id, [&] {
            w.member->join({std::string_view("fresh"), std::string_view(room)});
        });
        expect_rejected(id, [&] { w.member->join(std::vector<std::string>{"fresh2", room}); });
        expect_rejected(id, [&] { w.ns.to(room).emit("x", {{"n", 1}}); });
        expect_rejected(id, [&] {
            w.ns.to({std::string_view("room"), std::string_view(room)}).emit("x", {{"n", 1}});
        });
        expect_rejected(id, [&] { w.ns.except(room).emit("x", {{"n", 1}}); });
        expect_rejected(id, [&] { w.ns.to("room").except(room).emit("x", sse::text("y")); });
        expect_rejected(id, [&] {
            w.ns.to(std::vector<std::string>{"room", room}).emit("x", {{"n", 1}});
        });
        // Leaving a room that cannot exist is harmless.
        w.member->leave(room);
    }
    CHECK(w.ns.rooms() == std::vector<std::string>{"room"});
    w.expect_untouched();
}

TEST_CASE("hostile event ids are refused by validate_event_id with [sse.invalid_event_id]",
          "[security][injection]") {
    for (auto const& id : hostile_names()) {
        if (id.empty()) continue; // an empty id is legal: it resets the browser's lastEventId
        CAPTURE(printable(id));
        expect_rejected("[sse.invalid_event_id]", [&] { sse::validate_event_id(id); });
    }
    CHECK_NOTHROW(sse::validate_event_id(""));
    CHECK_NOTHROW(sse::validate_event_id(std::string(sse::max_name_length, '9')));
}

TEST_CASE("hostile namespace names are refused; no namespace is created", "[security][injection]") {
    fixture f;
    f.ns("/good");
    auto const before = f.io->namespaces();
    for (auto const& name : hostile_names()) {
        CAPTURE(printable(name));
        // A name without the leading '/' is [sse.invalid_namespace]; a '/' followed by a bad
        // name is refused by the room-name rules (CR, LF, NUL, length, UTF-8).
        expect_rejected("[sse.invalid_namespace]", [&] { f.io->of(name); });
        if (!name.empty()) expect_rejected("[sse.invalid_", [&] { f.io->of("/" + name); });
    }
    CHECK(f.io->namespaces() == before);
    // A client can only reach a namespace the app created: a bad path from a request that the
    // app turns into a namespace name throws in its handler (the fixture's route logs it and
    // the connection is dropped), and the server keeps serving.
    sse_reader r = sse_reader::raw(f.port, "GET /%0Aevil HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(r.status() == 200); // "/%0Aevil" is a literal, valid name: no decoding happens
    auto ok = f.open("/good");
    CHECK(ok.reader.is_closed() == false);
}

TEST_CASE("raw text data cannot start a field or an event", "[security][injection]") {
    fixture f;
    watched w(f);
    std::vector<std::string> const payloads = {
        "a\n\nid: 999\nevent: evil\ndata: x\n\n",
        "a\r\rretry: 1\r\r",
        "a\r\n\r\n: comment\r\nevent: evil\r\n\r\n",
        "\n\n\n",
        "data: x",
        "\nid: 7",
    };
    std::uint64_t expected_id = w.last_id;
    for (auto const& p : payloads) {
        CAPTURE(printable(p));
        w.ns.to("room").emit("t", sse::text(p));
        auto e = w.in_room.reader.next_event();
        REQUIRE(e);
        CHECK(e->event == "t");
        CHECK(e->id == std::to_string(++expected_id));
        // The browser's view of the data: the input with line breaks normalised to LF.
        std::string normalised;
        for (std::size_t i = 0; i < p.size(); ++i) {
            if (p[i] == '\r') {
                normalised += '\n';
                if (i + 1 < p.size() && p[i + 1] == '\n') ++i;
            } else {
                normalised += p[i];
            }
        }
        CHECK(e->data == normalised);
        CHECK(w.in_room.reader.pending_events().empty());
        CHECK(w.in_room.reader.pending_retries().empty());
    }
    // Through JSON, the same strings stay on one data line.
    w.ns.to("room").emit("j", payloads.front());
    auto e = w.in_room.reader.next_event();
    REQUIRE(e);
    CHECK(e->event == "j");
    CHECK(nlohmann::json::parse(e->data).get<std::string>() == payloads.front());
    CHECK(w.in_room.reader.pending_events().empty());
}

TEST_CASE("response headers: no injection through CORS origins or rejections",
          "[security][injection]") {
    SECTION("'*' with credentials does not echo an Origin with a control character") {
        auto opts = quiet_options();
        opts.cors = sse::cors_options{"*", true};
        fixture f(opts);
        sse_reader r(f.port, "/s", {{"Origin", "https://a.example\tSet-Cookie: x=1"}});
        REQUIRE(r.status() == 200);
        CHECK(r.header_count("Access-Control-Allow-Origin") == 0);
        CHECK(r.header_count("Set-Cookie") == 0);
        sse_reader ok(f.port, "/s", {{"Origin", "https://a.example"}});
        REQUIRE(ok.status() == 200);
        CHECK(ok.header("Access-Control-Allow-Origin") == "https://a.example");
    }
    SECTION("an allow list echoes only a byte-for-byte match") {
        auto opts = quiet_options();
        opts.cors = sse::cors_options::allow_list({"https://a.example"});
        fixture f(opts);
        for (std::string origin :
             {"https://a.example.evil", "https://A.example", "https://a.example/", "null"}) {
            CAPTURE(origin);
            sse_reader r(f.port, "/s", {{"Origin", origin}});
            REQUIRE(r.status() == 200);
            CHECK(r.header_count("Access-Control-Allow-Origin") == 0);
        }
    }
    SECTION("an app-configured origin with CR LF is never written as a header") {
        auto opts = quiet_options();
        opts.cors = sse::cors_options{"https://a.example\r\nSet-Cookie: x=1"};
        fixture f(opts);
        sse_reader r(f.port, "/s");
        REQUIRE(r.status() == 200);
        CHECK(r.header_count("Set-Cookie") == 0);
        CHECK(r.header_count("Access-Control-Allow-Origin") == 0);
        CHECK(r.raw().find("Set-Cookie") == std::string::npos);
    }
    SECTION("a rejection's content type with CR LF falls back to text/plain; status is clamped") {
        fixture f;
        auto& ns = f.ns("/s");
        ns.use([](sse::client& c, sse::next next) {
            if (c.handshake().query("case") == "type")
                return next(sse::reject(403, "no", "text/html\r\nSet-Cookie: x=1"));
            return next(sse::reject(1234, "odd"));
        });
        sse_reader a(f.port, "/s?case=type");
        REQUIRE(a.status() == 403);
        CHECK(a.header("Content-Type") == "text/plain");
        CHECK(a.raw().find("Set-Cookie") == std::string::npos);
        CHECK(a.read_body() == "no");
        sse_reader b(f.port, "/s?case=status");
        CHECK(b.status() == 500);
    }
}
