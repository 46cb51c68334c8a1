// Unit tests of the wire message codec and the channel names (no server).
#include <sse/detail/redis_message.hpp>

#include "support/catch.hpp"

#include <random>
#include <string>
#include <vector>

using sse::detail::decode_redis_message;
using sse::detail::decode_status;
using sse::detail::encode_redis_message;
using sse::detail::redis_channel;
using sse::detail::redis_channel_matches;
using sse::detail::redis_message;
using sse::detail::set_redis_message_channel_number;
using sse::detail::set_redis_message_sequence;

namespace {

std::string const body = "event: score_update\ndata: {\"home\":2}\n\n";

std::string sample(std::uint64_t seq = 7) {
    auto m =
        encode_redis_message(42, "node-A", "/football", {"arsenal", "chelsea"}, {"muted"}, body);
    set_redis_message_sequence(m, seq);
    return m;
}

decode_status decode(std::string_view bytes) {
    redis_message m;
    return decode_redis_message(bytes, m);
}

} // namespace

TEST_CASE("redis message: encode then decode gives every field back", "[redis][message]") {
    auto bytes = sample(0x0102030405060708ull);
    redis_message m;
    REQUIRE(decode_redis_message(bytes, m) == decode_status::ok);
    CHECK(m.version == 1);
    CHECK(m.numbered);
    CHECK(m.channel_number == 0);
    CHECK(m.sequence == 0x0102030405060708ull);
    CHECK(m.event_id == 42);
    CHECK(m.origin == "node-A");
    CHECK(m.nsp == "/football");
    CHECK(m.rooms == std::vector<std::string>{"arsenal", "chelsea"});
    CHECK(m.except == std::vector<std::string>{"muted"});
    CHECK(m.event == "score_update");
    CHECK(m.body == body);
}

TEST_CASE("redis message: namespace-wide, no except, multi-line data, big numbers",
          "[redis][message]") {
    std::string b = "event: e\ndata: line 1\ndata: line 2\ndata:\n\n";
    auto bytes = encode_redis_message(~0ull, "n", "/", {}, {}, b);
    set_redis_message_sequence(bytes, ~0ull);
    redis_message m;
    REQUIRE(decode_redis_message(bytes, m) == decode_status::ok);
    CHECK(m.sequence == ~0ull);
    CHECK(m.event_id == ~0ull);
    CHECK(m.rooms.empty());
    CHECK(m.except.empty());
    CHECK(m.event == "e");
    CHECK(m.body == b);
}

TEST_CASE("redis message: the encoding is compact", "[redis][message]") {
    // magic+version 4, sequence 8, channel number 8, id 1, origin 1+6, nsp 1+9, rooms 1+8+8,
    // except 1+6
    CHECK(sample().size() == 4 + 8 + 8 + 1 + 7 + 10 + 17 + 7 + body.size());
}

TEST_CASE("redis message: the channel number, and the older form without it", "[redis][message]") {
    auto bytes = sample(9);
    set_redis_message_channel_number(bytes, 0x1122334455667788ull);
    CHECK(static_cast<unsigned char>(bytes[3]) == 0x05);
    redis_message m;
    REQUIRE(decode_redis_message(bytes, m) == decode_status::ok);
    CHECK(m.numbered);
    CHECK(m.channel_number == 0x1122334455667788ull);
    CHECK(m.sequence == 9);
    CHECK(m.body == body);
    // What builds before channel numbers send: still read, with no number.
    auto old = encode_redis_message(42, "node-A", "/football", {"arsenal"}, {}, body,
                                    sse::detail::redis_message_version, false);
    set_redis_message_sequence(old, 3);
    set_redis_message_channel_number(old, 5); // no room for one: nothing written
    CHECK(static_cast<unsigned char>(old[3]) == 0x01);
    REQUIRE(decode_redis_message(old, m) == decode_status::ok);
    CHECK_FALSE(m.numbered);
    CHECK(m.channel_number == 0);
    CHECK(m.sequence == 3);
    CHECK(m.rooms == std::vector<std::string>{"arsenal"});
    // The shared-history and lost-notice kinds carry the bit the same way.
    auto shared = encode_redis_message(42, "n", "/f", {}, {}, body,
                                       sse::detail::redis_message_shared_id_version);
    CHECK(static_cast<unsigned char>(shared[3]) == 0x86);
    REQUIRE(decode_redis_message(shared, m) == decode_status::ok);
    CHECK(m.version == sse::detail::redis_message_shared_id_version);
    CHECK(m.numbered);
}

TEST_CASE("redis message: foreign and unknown versions are told apart", "[redis][message]") {
    CHECK(decode("") == decode_status::foreign);
    CHECK(decode("hello world") == decode_status::foreign);
    CHECK(decode("ss") == decode_status::foreign);
    CHECK(decode("sse") == decode_status::truncated);
    auto v2 = sample();
    v2[3] = 2;
    CHECK(decode(v2) == decode_status::unsupported_version);
    v2[3] = 0;
    CHECK(decode(v2) == decode_status::unsupported_version);
}

TEST_CASE("redis message: every truncation is malformed, never a crash", "[redis][message]") {
    auto bytes = sample();
    for (std::size_t n = 0; n < bytes.size(); ++n) {
        INFO("length " << n);
        CHECK(decode(std::string_view(bytes).substr(0, n)) != decode_status::ok);
    }
    CHECK(decode(bytes) == decode_status::ok);
}

TEST_CASE("redis message: lying lengths and counts", "[redis][message]") {
    std::string head = "sse\x01" + std::string(8, '\0');
    SECTION("an origin longer than the message") {
        CHECK(decode(head + "\x00\x7f" + "abc") == decode_status::truncated);
    }
    SECTION("a varint of 11 bytes") {
        CHECK(decode(head + std::string(11, '\xff')) == decode_status::bad_varint);
    }
    SECTION("a varint past 64 bits in its 10th byte") {
        CHECK(decode(head + std::string(9, '\xff') + "\x02") == decode_status::bad_varint);
    }
    SECTION("a room count of 2^63 does not allocate") {
        auto m = head + std::string("\x00\x01n\x02/a", 6) + std::string(9, '\xff') + "\x01";
        CHECK(decode(m) == decode_status::truncated);
    }
    SECTION("empty origin") {
        CHECK(decode(head + std::string("\x00\x00\x02/a\x00\x00", 7) + body) ==
              decode_status::bad_origin);
    }
    SECTION("empty namespace") {
        CHECK(decode(head + std::string("\x00\x01n\x00\x00\x00", 6) + body) ==
              decode_status::bad_namespace);
    }
}

TEST_CASE("redis message: rooms must be valid room names", "[redis][message]") {
    for (std::string bad :
         {std::string(), std::string("a\nb"), std::string("a\rb"), std::string("a\0b", 3),
          std::string("\xff\xfe"), std::string(sse::max_name_length + 1, 'r')}) {
        INFO("room '" << bad << "'");
        CHECK(decode(encode_redis_message(1, "n", "/a", {bad}, {}, body)) ==
              decode_status::bad_room);
        CHECK(decode(encode_redis_message(1, "n", "/a", {}, {bad}, body)) ==
              decode_status::bad_room);
    }
    CHECK(decode(encode_redis_message(1, "n", "/a", {std::string(sse::max_name_length, 'r')}, {},
                                      body)) == decode_status::ok);
}

TEST_CASE("redis message: a body must be exactly one event of event and data lines",
          "[redis][message]") {
    auto with_body = [](std::string b) {
        return decode(encode_redis_message(1, "n", "/a", {"r"}, {}, b));
    };
    CHECK(with_body("event: x\ndata: 1\n\n") == decode_status::ok);
    CHECK(with_body("event: x\ndata:1\ndata: 2\n\n") == decode_status::ok);
    // Field injection and other shapes a browser would read differently:
    CHECK(with_body("") == decode_status::bad_body);
    CHECK(with_body("data: 1\n\n") == decode_status::bad_body);             // no event
    CHECK(with_body("event: x\n\n") == decode_status::bad_body);            // no data
    CHECK(with_body("event: x\ndata: 1\n") == decode_status::bad_body);     // unterminated
    CHECK(with_body("event: x\ndata: 1\n\n\n") == decode_status::bad_body); // two blanks
    CHECK(with_body("event: x\ndata: 1\n\nevent: y\ndata: 2\n\n") == decode_status::bad_body);
    CHECK(with_body("event: x\nid: 999\ndata: 1\n\n") == decode_status::bad_body); // id injection
    CHECK(with_body("event: x\nretry: 1\ndata: 1\n\n") == decode_status::bad_body);
    CHECK(with_body("event: x\ndata: 1\r\n\n") == decode_status::bad_body); // CR
    CHECK(with_body(std::string("event: x\ndata: \0\n\n", 18)) == decode_status::bad_body);
    CHECK(with_body("event: x\ndata: \xc3\x28\n\n") == decode_status::bad_body); // not UTF-8
    CHECK(with_body("event: \ndata: 1\n\n") == decode_status::bad_body);         // empty name
    CHECK(with_body("event: " + std::string(sse::max_name_length + 1, 'e') + "\ndata: 1\n\n") ==
          decode_status::bad_body);
}

TEST_CASE("redis message: bodies made by encoded_event always decode", "[redis][message]") {
    for (auto const& e :
         {sse::encoded_event::make("score", nlohmann::json{{"a", "b\nc"}}),
          sse::encoded_event::make("t", sse::text("one\r\ntwo\rthree\nfour")),
          sse::encoded_event::make("u", sse::text("")),
          sse::encoded_event::make("\xc3\xa9v\xc3\xa9nement", sse::text("d\xc3\xa9j\xc3\xa0"))}) {
        redis_message m;
        auto const bytes = encode_redis_message(1, "n", "/a", {}, {}, e->body()); // m views it
        REQUIRE(decode_redis_message(bytes, m) == decode_status::ok);
        CHECK(m.event == e->name());
        auto rebuilt = sse::encoded_event::from_body(m.event, m.body);
        CHECK(rebuilt->body() == e->body());
        CHECK(rebuilt->name() == e->name());
    }
}

TEST_CASE("redis message: random bytes and mutations decode or fail, never crash",
          "[redis][message]") {
    std::mt19937_64 rng(20240601);
    auto const valid = sample();
    std::size_t ok = 0;
    for (int i = 0; i < 100000; ++i) {
        std::string bytes;
        if (i % 2 == 0) {
            bytes = valid; // flip, insert or delete a few bytes of a valid message
            int edits = 1 + static_cast<int>(rng() % 4);
            for (int e = 0; e < edits && !bytes.empty(); ++e) {
                std::size_t at = rng() % bytes.size();
                switch (rng() % 3) {
                case 0:
                    bytes[at] = static_cast<char>(rng());
                    break;
                case 1:
                    bytes.insert(bytes.begin() + static_cast<long>(at), static_cast<char>(rng()));
                    break;
                default:
                    bytes.erase(at, 1);
                    break;
                }
            }
        } else {
            bytes.resize(rng() % 64);
            for (auto& c : bytes)
                c = static_cast<char>(rng());
            if (i % 4 == 1 && bytes.size() >= 4) bytes.replace(0, 4, "sse\x01");
        }
        redis_message m;
        auto st = decode_redis_message(bytes, m);
        if (st == decode_status::ok) {
            ++ok;
            // Whatever decodes is safe to hand to a browser.
            REQUIRE(sse::detail::redis_message_impl::parse_body(m.body, m.event));
            REQUIRE(m.body.find("\nid:") == std::string_view::npos);
        }
    }
    CHECK(ok < 100000);
}

TEST_CASE("redis channel names", "[redis][message]") {
    CHECK(redis_channel("sse", "/football", "") == "sse#/football#");
    CHECK(redis_channel("sse", "/football", "arsenal") == "sse#/football#arsenal");
    CHECK(redis_channel("app", "/", "r#1") == "app#/#r#1");
    // '#' and '\' in a namespace are escaped, so no two (namespace, room) pairs collide.
    CHECK(redis_channel("sse", "/a#b", "c") == "sse#/a\\#b#c");
    CHECK(redis_channel("sse", "/a", "b#c") == "sse#/a#b#c");
    CHECK(redis_channel("sse", "/a\\", "") == "sse#/a\\\\#");

    for (auto const& [nsp, room] :
         std::vector<std::pair<std::string, std::string>>{{"/football", ""},
                                                          {"/football", "arsenal"},
                                                          {"/a#b", "c"},
                                                          {"/a", "b#c"},
                                                          {"/a\\", ""},
                                                          {"/a\\#", "#"}}) {
        auto ch = redis_channel("sse", nsp, room);
        INFO(ch);
        CHECK(redis_channel_matches(ch, "sse", nsp, room));
        CHECK_FALSE(redis_channel_matches(ch, "ss", nsp, room));
        CHECK_FALSE(redis_channel_matches(ch, "sse", nsp + "x", room));
        CHECK_FALSE(redis_channel_matches(ch, "sse", nsp, room + "x"));
        CHECK_FALSE(redis_channel_matches(ch + "x", "sse", nsp, room));
        std::string parsed_nsp, parsed_room;
        CHECK(sse::detail::parse_redis_channel(ch, "sse", parsed_nsp, parsed_room));
        CHECK(parsed_nsp == nsp);
        CHECK(parsed_room == room);
        CHECK_FALSE(sse::detail::parse_redis_channel(ch, "ssx", parsed_nsp, parsed_room));
    }
    std::string n, r;
    CHECK_FALSE(sse::detail::parse_redis_channel("sse#/a", "sse", n, r));   // no room separator
    CHECK_FALSE(sse::detail::parse_redis_channel("sse##r", "sse", n, r));   // no namespace
    CHECK_FALSE(sse::detail::parse_redis_channel("sse#/a\\", "sse", n, r)); // cut escape
    CHECK_FALSE(redis_channel_matches("sse#/a#b#c", "sse", "/a#b", "c"));
    CHECK_FALSE(redis_channel_matches("", "sse", "/a", ""));
    CHECK_FALSE(redis_channel_matches("sse", "sse", "/a", ""));
}

TEST_CASE("redis message: a channel's mark carries the last message's number, sequence and id",
          "[redis][message]") {
    namespace d = sse::detail;
    auto const bytes = d::encode_redis_mark("node-a", "/football", "arsenal", 7, 41, 1234, true);
    CHECK(d::redis_message_is_mark(bytes));
    CHECK_FALSE(d::redis_message_is_mark(sample()));
    redis_message m;
    REQUIRE(decode_redis_message(bytes, m) == decode_status::ok);
    CHECK(m.version == d::redis_message_mark_version);
    CHECK(m.numbered);
    CHECK(static_cast<unsigned char>(bytes[3]) == 0x8c);
    CHECK(m.channel_number == 7);
    CHECK(m.sequence == 41);
    CHECK(m.event_id == 1234);
    CHECK(m.origin == "node-a");
    CHECK(m.nsp == "/football");
    CHECK(m.rooms == std::vector<std::string>{"arsenal"});
    CHECK(m.event == "mark");
    CHECK(d::redis_mark_is_shared(m));
    REQUIRE(decode_redis_message(d::encode_redis_mark("n", "/f", "", 1, 1, 0, false), m) ==
            decode_status::ok);
    CHECK(m.rooms.empty());
    CHECK_FALSE(d::redis_mark_is_shared(m));
    // The fields read without decoding.
    CHECK(d::redis_message_event_id(bytes) == 1234);
    CHECK(d::redis_message_channel_number(bytes) == 7);
    auto const plain = sample();
    REQUIRE(decode_redis_message(plain, m) == decode_status::ok);
    CHECK(d::redis_message_event_id(plain) == m.event_id);
    CHECK(d::redis_message_event_id("sse") == 0);
}
