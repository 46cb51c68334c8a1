// Unit: sse/handshake.hpp - the request snapshot: headers, query decoding, target, endpoint.
#include <sse/handshake.hpp>

#include "support/catch.hpp"

#include <boost/beast/http/string_body.hpp>

namespace http = boost::beast::http;
using boost::asio::ip::tcp;

namespace {

sse::handshake snapshot(std::string target,
                        std::vector<std::pair<std::string, std::string>> headers = {}) {
    http::request<http::string_body> req{http::verb::get, target, 11};
    for (auto const& [k, v] : headers)
        req.insert(k, v);
    return sse::handshake(req.base(),
                          tcp::endpoint(boost::asio::ip::make_address("192.0.2.7"), 54321));
}

} // namespace

TEST_CASE("handshake: headers are found in any case, listed lower-cased in order", "[handshake]") {
    auto hs = snapshot("/s", {{"Authorization", "Bearer t0k"},
                              {"X-Custom", "one"},
                              {"x-custom", "two"},
                              {"Last-Event-ID", "17"}});
    CHECK(hs.header("authorization") == "Bearer t0k");
    CHECK(hs.header("AUTHORIZATION") == "Bearer t0k");
    CHECK(hs.header("aUtHoRiZaTiOn") == "Bearer t0k");
    CHECK(hs.has_header("last-event-id"));
    CHECK(hs.header("x-custom") == "one"); // the first one
    CHECK_FALSE(hs.has_header("cookie"));
    CHECK(hs.header("cookie").empty());
    REQUIRE(hs.headers().size() == 4);
    CHECK(hs.headers()[0] == std::pair<std::string, std::string>{"authorization", "Bearer t0k"});
    CHECK(hs.headers()[3].first == "last-event-id");
}

TEST_CASE("handshake: query parameters are percent-decoded", "[handshake]") {
    auto hs = snapshot("/stream/football?token=a%20b%2Bc&name=J%C3%BCrgen+Klopp&flag&empty="
                       "&dup=1&dup=2&%6B%65%79=v&bad=%zz%4&pct=100%25#fragment");
    CHECK(hs.query("token") == "a b+c");
    CHECK(hs.query("name") == "J\xC3\xBCrgen Klopp");
    CHECK(hs.has_query("flag"));
    CHECK(hs.query("flag").empty());
    CHECK(hs.has_query("empty"));
    CHECK(hs.query("dup") == "1");
    CHECK(hs.query("key") == "v");     // keys are decoded too
    CHECK(hs.query("bad") == "%zz%4"); // bad escapes stay literal
    CHECK(hs.query("pct") == "100%");
    CHECK_FALSE(hs.has_query("fragment"));
    CHECK_FALSE(hs.has_query("missing"));
    CHECK(hs.query_params().size() == 9);
    CHECK(hs.query_params()[4] == std::pair<std::string, std::string>{"dup", "1"});
    CHECK(hs.query_params()[5] == std::pair<std::string, std::string>{"dup", "2"});
}

TEST_CASE("handshake: target, path, method, version, remote endpoint", "[handshake]") {
    auto hs = snapshot("/stream/football/ars-che?token=abc");
    CHECK(hs.target() == "/stream/football/ars-che?token=abc");
    CHECK(hs.path() == "/stream/football/ars-che");
    CHECK(hs.method() == "GET");
    CHECK(hs.version() == 11);
    CHECK(hs.remote_endpoint().address().to_string() == "192.0.2.7");
    CHECK(hs.remote_endpoint().port() == 54321);
    auto plain = snapshot("/s");
    CHECK(plain.path() == "/s");
    CHECK(plain.query_params().empty());
    sse::handshake empty;
    CHECK(empty.target().empty());
    CHECK(empty.header("x").empty());
}

TEST_CASE("handshake: percent_decode and iequals", "[handshake]") {
    using sse::detail::percent_decode;
    CHECK(percent_decode("a+b%20c", true) == "a b c");
    CHECK(percent_decode("a+b%20c", false) == "a+b c");
    CHECK(percent_decode("%41%62%63", false) == "Abc");
    CHECK(percent_decode("%", false) == "%");
    CHECK(percent_decode("%4", false) == "%4");
    CHECK(percent_decode("%G1", false) == "%G1");
    CHECK(percent_decode("%00", false) == std::string("\0", 1));
    CHECK(percent_decode("", true).empty());
    CHECK(sse::detail::iequals("Content-Type", "content-TYPE"));
    CHECK_FALSE(sse::detail::iequals("Content-Type", "Content-Typ"));
    CHECK_FALSE(sse::detail::iequals("a", "b"));
}

TEST_CASE("handshake: past 64 KiB of headers the offsets widen", "[handshake]") {
    std::string const big(40000, 'v'); // Beast takes values up to 64 KiB: two make it pass
    auto hs = snapshot("/s?after=big",
                       {{"X-Before", "1"}, {"X-Big", big}, {"X-Big-Too", big}, {"X-After", "2"}});
    CHECK(hs.header("x-before") == "1");
    CHECK(hs.header("x-big") == big);
    CHECK(hs.header("x-big-too") == big);
    CHECK(hs.header("x-after") == "2");
    CHECK(hs.query("after") == "big");
    CHECK(hs.target() == "/s?after=big");
    REQUIRE(hs.headers().size() == 4);
    CHECK(hs.headers()[3].second == "2");
}

TEST_CASE("handshake: copies and moves keep every field", "[handshake]") {
    auto hs = snapshot("/s?k=v", {{"A", "1"}});
    CHECK(hs.headers().size() == 1); // the lists exist before the copy
    sse::handshake copy(hs);
    sse::handshake moved(std::move(hs));
    for (auto const* h : {&copy, &moved}) {
        CHECK(h->header("a") == "1");
        CHECK(h->query("k") == "v");
        CHECK(h->headers().size() == 1);
        CHECK(h->query_params().size() == 1);
        CHECK(h->remote_endpoint().port() == 54321);
    }
    sse::handshake assigned;
    assigned = copy;
    CHECK(assigned.header("a") == "1");
    assigned = sse::handshake();
    CHECK(assigned.header("a").empty());
    CHECK(assigned.headers().empty());
}

TEST_CASE("handshake: a copy keeps a decoded query whole (its block was sized before decoding)",
          "[handshake]") {
    // Decoding shortens "%41%42" to "AB": the snapshot's block is longer than its bytes, and a
    // copy takes the bytes its table says, up to the end of the last value.
    auto hs = snapshot("/s?a=%41%42&b=c+d&last=%7E", {{"X-One", "1"}, {"X-Two", "22"}});
    sse::handshake copy(hs);
    hs = sse::handshake(); // the copy owns its own bytes
    CHECK(copy.query("a") == "AB");
    CHECK(copy.query("b") == "c d");
    CHECK(copy.query("last") == "~");
    CHECK(copy.header("x-two") == "22");
    CHECK(copy.target() == "/s?a=%41%42&b=c+d&last=%7E");
    sse::handshake again(copy);
    CHECK(again.query("last") == "~");
    CHECK(again.query_params().size() == 3);
}
