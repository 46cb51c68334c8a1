// Unit: sse/detail/token_bucket.hpp - the admission rate, driven with made-up time points.
#include <sse/detail/token_bucket.hpp>

#include <limits>

#include "support/catch.hpp"

using sse::detail::token_bucket;
using namespace std::chrono_literals;

namespace {
token_bucket::clock::time_point const t0{std::chrono::hours(1)};
}

TEST_CASE("token_bucket: unlimited by default and with a rate of 0", "[token_bucket]") {
    token_bucket none;
    CHECK(none.unlimited());
    token_bucket zero(0, 5, t0);
    CHECK(zero.unlimited());
    for (int i = 0; i < 10000; ++i)
        REQUIRE(zero.try_take(t0));
}

TEST_CASE("token_bucket: starts full, then admits at the rate", "[token_bucket]") {
    token_bucket b(10, 3, t0);
    CHECK(b.available(t0));
    CHECK(b.try_take(t0));
    CHECK(b.try_take(t0));
    CHECK(b.try_take(t0));
    CHECK_FALSE(b.try_take(t0)); // the burst is spent
    CHECK_FALSE(b.available(t0 + 99ms));
    CHECK_FALSE(b.try_take(t0 + 99ms)); // 0.99 of a token
    CHECK(b.try_take(t0 + 100ms));      // one token per 100 ms
    CHECK_FALSE(b.try_take(t0 + 150ms));
    CHECK(b.try_take(t0 + 200ms));
}

TEST_CASE("token_bucket: saves up to the burst, no more", "[token_bucket]") {
    token_bucket b(10, 3, t0);
    for (int i = 0; i < 3; ++i)
        REQUIRE(b.try_take(t0));
    auto const later = t0 + 1h; // an hour idle saves 3 tokens, not 36 000
    int taken = 0;
    while (b.try_take(later))
        ++taken;
    CHECK(taken == 3);
}

TEST_CASE("token_bucket: burst 0 means max(1, ceil(rate))", "[token_bucket]") {
    CHECK(token_bucket(500, 0, t0).capacity() == 500);
    CHECK(token_bucket(2.5, 0, t0).capacity() == 3);
    CHECK(token_bucket(0.2, 0, t0).capacity() == 1);
    token_bucket slow(0.5, 0, t0); // one admission every two seconds
    CHECK(slow.try_take(t0));
    CHECK_FALSE(slow.try_take(t0 + 1999ms));
    CHECK(slow.try_take(t0 + 2s));
}

TEST_CASE("token_bucket: a storm is admitted at the rate", "[token_bucket]") {
    // 5 tries every millisecond for 10 s against 500/s with a burst of 500.
    token_bucket b(500, 500, t0);
    int admitted = 0;
    for (int ms = 0; ms < 10000; ++ms)
        for (int k = 0; k < 5; ++k) // 5 000 tries a second
            if (b.try_take(t0 + std::chrono::milliseconds(ms))) ++admitted;
    // 500 at once, then 500 a second over the 9.999 s that follow.
    CHECK(admitted >= 500 + 4999);
    CHECK(admitted <= 500 + 5000);
}

TEST_CASE("token_bucket: a clock that goes back adds nothing", "[token_bucket]") {
    token_bucket b(1, 1, t0 + 10s);
    CHECK(b.try_take(t0 + 10s));
    CHECK_FALSE(b.try_take(t0));
    CHECK_FALSE(b.try_take(t0 + 10s));
    CHECK(b.try_take(t0 + 11s));
}

TEST_CASE("token_bucket: a rate that is not a number is unlimited", "[token_bucket]") {
    CHECK(token_bucket(-1, 0, t0).unlimited());
    CHECK(token_bucket(std::numeric_limits<double>::infinity(), 0, t0).unlimited());
    CHECK(token_bucket(std::numeric_limits<double>::quiet_NaN(), 0, t0).unlimited());
}
