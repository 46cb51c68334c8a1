// Unit: sse/detail/admission.hpp - a pending client's middleware chain (chain_position) and
// the checks of the admission settings. The chain itself, with sockets, is in
// tests/integration/middleware.cpp.
#include <sse/server.hpp>

#include "support/catch.hpp"

#include <atomic>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using sse::detail::chain_position;

namespace {
/// The message of the std::invalid_argument `fn` throws ("" when it throws nothing).
template <class Fn>
std::string invalid_argument_of(Fn&& fn) {
    try {
        fn();
    } catch (std::invalid_argument const& e) {
        return e.what();
    }
    return {};
}
} // namespace

TEST_CASE("admission: each step runs once, in order, and only after the step before passed",
          "[admission]") {
    chain_position p;
    CHECK_FALSE(p.advance(2)); // step 1 has not run: step 2 may not
    CHECK(p.advance(1));       // step 0 passed
    CHECK_FALSE(p.advance(1)); // its next() called twice: the second call is ignored
    CHECK(p.advance(2));
    CHECK_FALSE(p.refuse(2)); // a late refusal of step 1, after it passed: ignored
    CHECK_FALSE(p.is_finished());
    CHECK(p.refuse(3)); // step 2 refuses
    CHECK(p.is_finished());
    CHECK_FALSE(p.advance(3)); // nothing runs after a refusal
    CHECK_FALSE(p.refuse(3));  // and it is refused once
}

TEST_CASE("admission: a refusal and a next() of the same step race; exactly one wins",
          "[admission][threads]") {
    // A middleware may answer from another thread (a token check on a thread pool) while a
    // timeout of its own refuses: the client is admitted or refused, never both, never twice.
    for (int round = 0; round < 2000; ++round) {
        chain_position p;
        REQUIRE(p.advance(1));
        std::atomic<int> passed{0}, refused{0};
        std::atomic<bool> go{false};
        std::vector<std::thread> threads;
        for (int t = 0; t < 4; ++t) {
            threads.emplace_back([&, t] {
                while (!go.load()) {
                }
                if (t % 2 == 0) {
                    if (p.advance(2)) ++passed;
                } else {
                    if (p.refuse(2)) ++refused;
                }
            });
        }
        go.store(true);
        for (auto& th : threads)
            th.join();
        REQUIRE(passed.load() + refused.load() == 1);
        CHECK(p.is_finished() == (refused.load() == 1));
    }
}

TEST_CASE("admission: an admission rate that is not a rate is refused with a clear error",
          "[admission]") {
    sse::admission_rate r;
    r.per_second = 10;
    CHECK_NOTHROW(sse::detail::check_admission_rate(r));
    r.per_second = 0; // unlimited
    CHECK_NOTHROW(sse::detail::check_admission_rate(r));
    for (double bad : {-1.0, std::nan(""), std::numeric_limits<double>::infinity()}) {
        r.per_second = bad;
        CHECK(invalid_argument_of([&] {
                  sse::detail::check_admission_rate(r);
              }).find("[sse.invalid_admission_rate]") == 0);
    }
}

TEST_CASE("admission: refusal options that cannot be answered are refused with a clear error",
          "[admission]") {
    sse::refusal_options r;
    CHECK_NOTHROW(sse::detail::check_refusal(r));
    auto bad_status = r;
    bad_status.status = 200; // a 200 would be a stream, not a refusal
    CHECK(invalid_argument_of([&] {
              sse::detail::check_refusal(bad_status);
          }).find("[sse.invalid_refusal]") == 0);
    auto backwards = r;
    backwards.retry_min = std::chrono::milliseconds(5000);
    backwards.retry_max = std::chrono::milliseconds(1000);
    CHECK(invalid_argument_of([&] {
              sse::detail::check_refusal(backwards);
          }).find("[sse.invalid_refusal]") == 0);
    auto zero = r;
    zero.retry_min = std::chrono::milliseconds(0);
    zero.retry_max = std::chrono::milliseconds(0);
    CHECK(invalid_argument_of([&] {
              sse::detail::check_refusal(zero);
          }).find("[sse.invalid_refusal]") == 0);
}
