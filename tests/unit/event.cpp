// Unit: sse/event.hpp - wire encoding, validation, UTF-8 (pure, no I/O). The encoded bytes are
// read back through the WHATWG parser of tests/support/sse_reader.hpp, as a browser would.
#include <sse/event.hpp>

#include "support/catch.hpp"
#include "support/sse_reader.hpp"

#include <limits>
#include <type_traits>

using sse::encoded_event;
using sse_test::event_stream_parser;

namespace {

/// What a browser makes of text data: every CR, LF or CRLF becomes LF.
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

/// Parses `bytes` fed in pieces of `step` bytes.
event_stream_parser parse(std::string_view bytes, std::size_t step = 0) {
    event_stream_parser p;
    if (step == 0) {
        p.feed(bytes);
    } else {
        for (std::size_t i = 0; i < bytes.size(); i += step)
            p.feed(bytes.substr(i, step));
    }
    return p;
}

template <class Fn>
std::string thrown_message(Fn&& fn) {
    try {
        fn();
    } catch (std::invalid_argument const& e) {
        return e.what();
    }
    return "(nothing thrown)";
}

bool starts_with(std::string const& s, std::string_view prefix) {
    return s.compare(0, prefix.size(), prefix) == 0;
}

} // namespace

TEST_CASE("event: JSON encodes as event and data lines, id in front once stamped", "[event]") {
    auto e = encoded_event::make("score_update", nlohmann::json{{"homeScore", 2}});
    CHECK(e->body() == "event: score_update\ndata: {\"homeScore\":2}\n\n");
    CHECK(e->wire() == e->body());
    CHECK(e->id() == 0);
    CHECK(e->name() == "score_update");
    e->stamp(42);
    CHECK(e->wire() == "id: 42\nevent: score_update\ndata: {\"homeScore\":2}\n\n");
    CHECK(e->body() == "event: score_update\ndata: {\"homeScore\":2}\n\n");
    CHECK(e->id() == 42);
    CHECK(e->name() == "score_update");

    auto p = parse(e->wire());
    REQUIRE(p.events().size() == 1);
    CHECK(p.events().front().id == "42");
    CHECK(p.events().front().has_id);
    CHECK(p.events().front().event == "score_update");
    CHECK(nlohmann::json::parse(p.events().front().data) == nlohmann::json{{"homeScore", 2}});
}

TEST_CASE("event: the largest id fits its headroom", "[event]") {
    auto e = encoded_event::make("x", nlohmann::json(1));
    auto const max = std::numeric_limits<std::uint64_t>::max();
    e->stamp(max);
    CHECK(e->wire() == "id: " + std::to_string(max) + "\nevent: x\ndata: 1\n\n");
    CHECK(e->id() == max);
}

TEST_CASE("event: JSON data with line breaks in strings is one data line", "[event]") {
    nlohmann::json const data = {{"t", "a\nb\r\nc\rd"}, {"u", "\xE2\x9C\x93"}};
    auto e = encoded_event::make("m", data);
    auto body = e->body();
    CHECK(std::count(body.begin(), body.end(), '\n') == 3); // event, data, blank line
    CHECK(body.find('\r') == std::string_view::npos);
    auto p = parse(e->wire());
    REQUIRE(p.events().size() == 1);
    CHECK(nlohmann::json::parse(p.events().front().data) == data);
}

TEST_CASE("event: text data is split over data lines and reassembles exactly", "[event]") {
    auto const input =
        GENERATE(as<std::string>{}, "", "one", "a\nb", "a\r\nb", "a\rb", "a\n", "\n", "\r", "\r\n",
                 "\n\n\n", "a\r\r\nb", "x\n\ry", "  pad  ", "data: fake\nid: 9\n\nevent: evil",
                 ": comment-like", "\xF0\x9F\x8F\x86 trophy\r\n\xC3\xA9t\xC3\xA9");
    CAPTURE(input);
    auto e = encoded_event::make("text", sse::text(input));
    e->stamp(7);
    std::string const wire(e->wire());
    CHECK(wire.find('\r') == std::string::npos);
    CHECK(wire.size() >= 2);
    CHECK(wire.substr(wire.size() - 2) == "\n\n");
    for (std::size_t step : {std::size_t(0), std::size_t(1), std::size_t(3)}) {
        auto p = parse(wire, step);
        REQUIRE(p.events().size() == 1);
        CHECK(p.events().front().data == normalized(input));
        CHECK(p.events().front().event == "text");
        CHECK(p.events().front().id == "7");
    }
}

TEST_CASE("event: exact data lines for each kind of line break", "[event]") {
    CHECK(encoded_event::make("t", sse::text("a\nb"))->body() == "event: t\ndata: a\ndata: b\n\n");
    CHECK(encoded_event::make("t", sse::text("a\r\nb"))->body() ==
          "event: t\ndata: a\ndata: b\n\n");
    CHECK(encoded_event::make("t", sse::text("a\rb"))->body() == "event: t\ndata: a\ndata: b\n\n");
    CHECK(encoded_event::make("t", sse::text("a\n"))->body() == "event: t\ndata: a\ndata: \n\n");
    CHECK(encoded_event::make("t", sse::text(""))->body() == "event: t\ndata: \n\n");
}

TEST_CASE("event: sse::text is explicit and never picked for a JSON initializer", "[event]") {
    static_assert(!std::is_convertible_v<std::string, sse::text>);
    static_assert(!std::is_convertible_v<char const*, sse::text>);
    static_assert(std::is_constructible_v<sse::text, std::string>);
    static_assert(std::is_constructible_v<sse::text, std::string_view>);
    auto e = encoded_event::make("x", {{"a", 1}}); // a braced initializer is JSON
    CHECK(e->body() == "event: x\ndata: {\"a\":1}\n\n");
}

TEST_CASE("event: bad names throw with [sse.invalid_event_name]", "[event]") {
    auto const name =
        GENERATE(as<std::string>{}, "", "a\nb", "a\rb", "a\r\nb", "\n", std::string("a\0b", 3),
                 std::string(sse::max_name_length + 1, 'x'), "\xFF", "\xC0\x80", "\xED\xA0\x80");
    CAPTURE(name);
    auto msg = thrown_message([&] { sse::validate_event_name(name); });
    CHECK(starts_with(msg, "[sse.invalid_event_name] "));
    CHECK(starts_with(thrown_message([&] { encoded_event::make(name, nlohmann::json(1)); }),
                      "[sse.invalid_event_name] "));
    CHECK(starts_with(thrown_message([&] { encoded_event::make(name, sse::text("x")); }),
                      "[sse.invalid_event_name] "));
}

TEST_CASE("event: the messages say what is wrong", "[event]") {
    CHECK(thrown_message([] { sse::validate_event_name(""); }) ==
          "[sse.invalid_event_name] event_name must not be empty");
    CHECK(thrown_message([] { sse::validate_event_name("a\nb"); }).find("CR, LF or NUL") !=
          std::string::npos);
    CHECK(thrown_message([] { sse::validate_event_name("\xFF"); }).find("UTF-8") !=
          std::string::npos);
    CHECK(thrown_message([] {
              sse::validate_event_name(std::string(sse::max_name_length + 1, 'x'));
          }).find("longer") != std::string::npos);
}

TEST_CASE("event: good names pass", "[event]") {
    for (std::string const& name : std::vector<std::string>{
             "a", "score_update", "with space", "caf\xC3\xA9", ":colon:", "\xF0\x9F\x8F\x86",
             std::string(sse::max_name_length, 'n')}) {
        CAPTURE(name);
        CHECK_NOTHROW(sse::validate_event_name(name));
        CHECK_NOTHROW(sse::validate_room_name(name));
        CHECK_NOTHROW(sse::validate_event_id(name));
    }
}

TEST_CASE("event: room names and ids have their own stable ids", "[event]") {
    CHECK(starts_with(thrown_message([] { sse::validate_room_name(""); }),
                      "[sse.invalid_room_name] "));
    CHECK(starts_with(thrown_message([] { sse::validate_room_name("r\n"); }),
                      "[sse.invalid_room_name] "));
    CHECK(starts_with(thrown_message([] { sse::validate_room_name(std::string("r\0", 2)); }),
                      "[sse.invalid_room_name] "));
    // An empty id is allowed: "id:" with no value resets a browser's last event id.
    CHECK_NOTHROW(sse::validate_event_id(""));
    for (std::string const& id : std::vector<std::string>{"1\n", "1\r", std::string("1\0", 2),
                                                          std::string(257, '1'), "\xFF"}) {
        CAPTURE(id);
        CHECK(starts_with(thrown_message([&] { sse::validate_event_id(id); }),
                          "[sse.invalid_event_id] "));
    }
}

TEST_CASE("event: text data must be UTF-8 without NUL", "[event]") {
    CHECK(starts_with(thrown_message([] { encoded_event::make("x", sse::text("\xC3\x28")); }),
                      "[sse.invalid_data] "));
    CHECK(starts_with(
        thrown_message([] { encoded_event::make("x", sse::text(std::string("a\0b", 3))); }),
        "[sse.invalid_data] "));
    // JSON data too: the same error at the call, not nlohmann's type_error 316 (issue #13).
    CHECK(starts_with(thrown_message([] { encoded_event::make("x", nlohmann::json("\xC3\x28")); }),
                      "[sse.invalid_data] "));
    CHECK(starts_with(thrown_message([] {
                          encoded_event::make("x", nlohmann::json{{"m", {"ok", "a\xff\xfe"}}});
                      }),
                      "[sse.invalid_data] "));
}

TEST_CASE("event: is_valid_utf8", "[event][utf8]") {
    CHECK(sse::is_valid_utf8(""));
    CHECK(sse::is_valid_utf8("plain ascii"));
    CHECK(sse::is_valid_utf8("\xC3\xA9"));                   // U+00E9
    CHECK(sse::is_valid_utf8("\xE2\x82\xAC"));               // U+20AC
    CHECK(sse::is_valid_utf8("\xF0\x9F\x98\x80"));           // U+1F600
    CHECK(sse::is_valid_utf8("\xF4\x8F\xBF\xBF"));           // U+10FFFF, the last one
    CHECK(sse::is_valid_utf8("\xEF\xBB\xBF"));               // BOM is a character
    CHECK(sse::is_valid_utf8(std::string("\0", 1)));         // NUL is UTF-8 (rejected elsewhere)
    CHECK_FALSE(sse::is_valid_utf8("\x80"));                 // lone continuation
    CHECK_FALSE(sse::is_valid_utf8("\xC3"));                 // truncated
    CHECK_FALSE(sse::is_valid_utf8("\xE2\x82"));             // truncated
    CHECK_FALSE(sse::is_valid_utf8("\xC3\x28"));             // bad continuation
    CHECK_FALSE(sse::is_valid_utf8("\xC0\xAF"));             // overlong '/'
    CHECK_FALSE(sse::is_valid_utf8("\xE0\x80\xAF"));         // overlong
    CHECK_FALSE(sse::is_valid_utf8("\xF0\x80\x80\xAF"));     // overlong
    CHECK_FALSE(sse::is_valid_utf8("\xED\xA0\x80"));         // surrogate U+D800
    CHECK_FALSE(sse::is_valid_utf8("\xED\xBF\xBF"));         // surrogate U+DFFF
    CHECK_FALSE(sse::is_valid_utf8("\xF4\x90\x80\x80"));     // U+110000
    CHECK_FALSE(sse::is_valid_utf8("\xF8\x88\x80\x80\x80")); // 5-byte form
    CHECK_FALSE(sse::is_valid_utf8("\xFF"));
    CHECK_FALSE(sse::is_valid_utf8("ok\xFE"));
}

TEST_CASE("event: raw bytes are sent as given and take no id", "[event]") {
    auto r = encoded_event::raw(": ping\n\n");
    CHECK(r->wire() == ": ping\n\n");
    r->stamp(5);
    CHECK(r->wire() == ": ping\n\n");
    CHECK(r->id() == 0);
    CHECK(r->name().empty());
    auto p = parse(r->wire());
    CHECK(p.events().empty());
    REQUIRE(p.comments().size() == 1);
    CHECK(p.comments().front() == "ping");
}

TEST_CASE("event: from_body wraps another node's bytes and takes this node's id", "[event]") {
    auto original = encoded_event::make("goal", nlohmann::json{{"n", 1}});
    original->stamp(900);
    auto copy = encoded_event::from_body("goal", original->body());
    CHECK(copy->name() == "goal");
    CHECK(copy->body() == original->body());
    copy->stamp(3);
    CHECK(copy->wire() == "id: 3\nevent: goal\ndata: {\"n\":1}\n\n");
}

// ---- the test parser itself (tests/support/sse_reader.hpp) ------------------------------

TEST_CASE("parser: WHATWG field rules", "[event][parser]") {
    SECTION("data without a space, with two spaces, and a bare field name") {
        auto p = parse("data:a\ndata:  b\ndata\n\n");
        REQUIRE(p.events().size() == 1);
        CHECK(p.events().front().data == "a\n b\n");
        CHECK(p.events().front().event == "message");
    }
    SECTION("a block without data dispatches nothing, but its id sticks") {
        auto p = parse("id: 5\nevent: x\n\ndata: d\n\n");
        REQUIRE(p.events().size() == 1);
        CHECK(p.events().front().event == "message"); // the type was reset with the block
        CHECK(p.events().front().id == "5");
        CHECK_FALSE(p.events().front().has_id);
        CHECK(p.last_event_id() == "5");
    }
    SECTION("an id with NUL is ignored; an empty id resets") {
        static constexpr char stream[] = "id: 1\ndata: a\n\nid: 2\0x\ndata: b\n\nid\ndata: c\n\n";
        auto p = parse(std::string_view(stream, sizeof stream - 1));
        REQUIRE(p.events().size() == 3);
        CHECK(p.events()[0].id == "1");
        CHECK(p.events()[1].id == "1");
        CHECK(p.events()[2].id == "");
    }
    SECTION("retry takes digits only") {
        auto p = parse("retry: 1500\nretry: 15x\nretry:\nretry: 200\n\n");
        CHECK(p.retries() == std::deque<std::uint64_t>{1500, 200});
        CHECK(p.reconnection_time() == 200);
    }
    SECTION("comments, unknown fields") {
        auto p = parse(": ping\n:raw\nfoo: bar\ndata: x\n\n");
        CHECK(p.comments() == std::deque<std::string>{"ping", "raw"});
        REQUIRE(p.events().size() == 1);
        CHECK(p.events().front().data == "x");
    }
    SECTION("CRLF split across feeds is one line end") {
        event_stream_parser p;
        p.feed("data: a\r");
        p.feed("\ndata: b\r");
        p.feed("\n\r");
        p.feed("\n");
        REQUIRE(p.events().size() == 1);
        CHECK(p.events().front().data == "a\nb");
    }
    SECTION("a leading BOM is skipped, even split") {
        event_stream_parser p;
        p.feed("\xEF");
        p.feed("\xBB\xBF");
        p.feed("data: x\n\n");
        REQUIRE(p.events().size() == 1);
        CHECK(p.events().front().data == "x");
    }
    SECTION("an incomplete block at EOF is discarded") {
        event_stream_parser p;
        p.feed("data: complete\n\ndata: incomplete\n");
        p.finish();
        REQUIRE(p.events().size() == 1);
        CHECK(p.events().front().data == "complete");
    }
}
