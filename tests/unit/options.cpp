// Unit: sse/options.hpp - defaults a user gets without setting anything.
#include <sse/options.hpp>

#include "support/catch.hpp"

TEST_CASE("options: usable defaults", "[options]") {
    sse::options o;
    CHECK(o.heartbeat_interval == std::chrono::seconds(15));
    CHECK(o.retry.count() == 0);
    CHECK(o.connection_event);
    CHECK_FALSE(o.cors);
    CHECK(o.max_buffered_bytes == 1024 * 1024);
    CHECK(o.close_retry_min <= o.close_retry_max);
    CHECK(o.close_retry_min.count() > 0);
    CHECK(o.close_timeout.count() > 0);
}

TEST_CASE("options: CORS helpers", "[options]") {
    sse::cors_options fixed("https://scores.example", true);
    CHECK(fixed.origin == "https://scores.example");
    CHECK(fixed.credentials);
    CHECK(fixed.allowed_origins.empty());
    auto list = sse::cors_options::allow_list({"https://a.example", "https://b.example"});
    CHECK(list.origin.empty());
    CHECK_FALSE(list.credentials);
    CHECK(list.allowed_origins.size() == 2);
    static_assert(!std::is_convertible_v<std::string, sse::cors_options>,
                  "a string must not silently become a CORS policy");
}
