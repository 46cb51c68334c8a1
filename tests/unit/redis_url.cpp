// Unit tests of redis:// URL parsing (no server).
#include <sse/detail/redis_url.hpp>

#include "support/catch.hpp"

using sse::detail::parse_redis_url;
using sse::detail::redis_endpoint;

namespace {

redis_endpoint parse_ok(std::string_view url) {
    redis_endpoint ep;
    std::string error;
    INFO(url);
    REQUIRE(parse_redis_url(url, ep, error));
    CHECK(error.empty());
    return ep;
}

std::string parse_error(std::string_view url) {
    redis_endpoint ep;
    ep.host = "untouched";
    std::string error;
    INFO(url);
    REQUIRE_FALSE(parse_redis_url(url, ep, error));
    CHECK(ep.host == "untouched"); // a failed parse leaves the output alone
    CHECK(error.rfind("[sse.redis_url] ", 0) == 0);
    return error;
}

} // namespace

TEST_CASE("redis url: host, port, database", "[redis][url]") {
    auto ep = parse_ok("redis://127.0.0.1:6379");
    CHECK(ep.host == "127.0.0.1");
    CHECK(ep.port == 6379);
    CHECK(ep.db == 0);
    CHECK_FALSE(ep.has_password);
    CHECK(ep.username.empty());

    ep = parse_ok("redis://cache.internal");
    CHECK(ep.host == "cache.internal");
    CHECK(ep.port == 6379);

    ep = parse_ok("REDIS://h:1/15");
    CHECK(ep.host == "h");
    CHECK(ep.port == 1);
    CHECK(ep.db == 15);

    ep = parse_ok("redis://h:65535/");
    CHECK(ep.port == 65535);
    CHECK(ep.db == 0);

    ep = parse_ok("redis://[::1]:7000/2");
    CHECK(ep.host == "::1");
    CHECK(ep.port == 7000);
    CHECK(ep.db == 2);

    ep = parse_ok("redis://[::1]");
    CHECK(ep.host == "::1");
    CHECK(ep.port == 6379);
}

TEST_CASE("redis url: passwords and ACL users", "[redis][url]") {
    auto ep = parse_ok("redis://:secret@host:6379/2");
    CHECK(ep.has_password);
    CHECK(ep.username.empty());
    CHECK(ep.password == "secret");
    CHECK(ep.host == "host");
    CHECK(ep.db == 2);

    ep = parse_ok("redis://alice:s3cret@host");
    CHECK(ep.username == "alice");
    CHECK(ep.password == "s3cret");

    // Percent-encoding, and a raw '@' or ':' in the password (the last '@' ends it).
    ep = parse_ok("redis://:p%40ss%3Aw%2Fd@h");
    CHECK(ep.password == "p@ss:w/d");
    ep = parse_ok("redis://:p@ss:w@h:1");
    CHECK(ep.password == "p@ss:w");
    CHECK(ep.host == "h");
    CHECK(ep.port == 1);

    // An empty password given explicitly still sends AUTH.
    ep = parse_ok("redis://:@h");
    CHECK(ep.has_password);
    CHECK(ep.password.empty());
}

TEST_CASE("redis url: clear errors", "[redis][url]") {
    CHECK_THAT(parse_error(""), Catch::Matchers::Contains("empty"));
    CHECK_THAT(parse_error("127.0.0.1:6379"),
               Catch::Matchers::Contains("must start with redis://"));
    CHECK_THAT(parse_error("http://h"), Catch::Matchers::Contains("must start with redis://"));
    CHECK_THAT(parse_error("rediss://h"), Catch::Matchers::Contains("TLS"));
    CHECK_THAT(parse_error("unix:///tmp/redis.sock"), Catch::Matchers::Contains("Unix socket"));
    CHECK_THAT(parse_error("redis://"), Catch::Matchers::Contains("no host"));
    CHECK_THAT(parse_error("redis://:pw@"), Catch::Matchers::Contains("no host"));
    CHECK_THAT(parse_error("redis://h:"), Catch::Matchers::Contains("empty port"));
    CHECK_THAT(parse_error("redis://h:0"), Catch::Matchers::Contains("1..65535"));
    CHECK_THAT(parse_error("redis://h:65536"), Catch::Matchers::Contains("1..65535"));
    CHECK_THAT(parse_error("redis://h:63x"), Catch::Matchers::Contains("'63x'"));
    CHECK_THAT(parse_error("redis://h/db"), Catch::Matchers::Contains("database 'db'"));
    CHECK_THAT(parse_error("redis://h/-1"), Catch::Matchers::Contains("database"));
    CHECK_THAT(parse_error("redis://h/99999999999"), Catch::Matchers::Contains("database"));
    CHECK_THAT(parse_error("redis://h?db=1"), Catch::Matchers::Contains("query"));
    CHECK_THAT(parse_error("redis://[::1"), Catch::Matchers::Contains("IPv6"));
    CHECK_THAT(parse_error("redis://[::1]x"), Catch::Matchers::Contains("IPv6"));
    CHECK_THAT(parse_error("redis://ho st"), Catch::Matchers::Contains("invalid character"));
    CHECK_THAT(parse_error("redis://user@h"), Catch::Matchers::Contains("no password"));
    CHECK_THAT(parse_error("redis://:%zz@h"), Catch::Matchers::Contains("percent-encoding"));
    CHECK_THAT(parse_error("redis://:%4@h"), Catch::Matchers::Contains("percent-encoding"));
    // The password never appears in an error.
    CHECK(parse_error("redis://:hunter2@h:bad").find("hunter2") == std::string::npos);
}

TEST_CASE("redis url: without a host when the application makes the connections", "[redis][url]") {
    sse::detail::redis_endpoint ep;
    std::string error;
    REQUIRE(sse::detail::parse_redis_url("redis://:secret@/2", ep, error, true));
    CHECK(ep.host.empty());
    CHECK(ep.password == "secret");
    CHECK(ep.db == 2);
    REQUIRE(sse::detail::parse_redis_url("redis://", ep, error, true));
    CHECK_FALSE(ep.has_password);
    CHECK(ep.db == 0);
    CHECK_FALSE(sse::detail::parse_redis_url("redis://:secret@/x", ep, error, true));
    CHECK_THAT(error, Catch::Matchers::Contains("database 'x'"));
}
