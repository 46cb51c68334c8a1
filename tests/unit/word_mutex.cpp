// Unit: sse/detail/word_mutex.hpp - the 4-byte lock of a client's write queue: one holder at a
// time under contention (waiters asleep, not only spinning), try_lock, and the wake-up.
#include <sse/detail/word_mutex.hpp>

#include "support/catch.hpp"

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

static_assert(sizeof(sse::detail::word_mutex) == 4, "a client's queue lock is one 32-bit word");

TEST_CASE("word_mutex: one holder at a time, under contention", "[word_mutex]") {
    sse::detail::word_mutex m;
    long counter = 0; // guarded by nothing but m: a broken lock loses increments
    std::atomic<int> inside{0};
    std::atomic<int> overlaps{0};
    constexpr int threads = 4, rounds = 20000;
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
        pool.emplace_back([&] {
            for (int i = 0; i < rounds; ++i) {
                std::lock_guard<sse::detail::word_mutex> lock(m);
                if (inside.fetch_add(1) != 0) overlaps.fetch_add(1);
                ++counter;
                // Now and then a long hold, so that the others go past their spin and sleep.
                if (i % 2000 == 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
                inside.fetch_sub(1);
            }
        });
    for (auto& t : pool)
        t.join();
    CHECK(overlaps.load() == 0);
    CHECK(counter == long{threads} * rounds);
}

TEST_CASE("word_mutex: try_lock fails while another thread holds it", "[word_mutex]") {
    sse::detail::word_mutex m;
    m.lock();
    bool got = true;
    std::thread([&] { got = m.try_lock(); }).join();
    CHECK_FALSE(got);
    m.unlock();
    bool later = false;
    std::thread([&] {
        later = m.try_lock();
        if (later) m.unlock();
    }).join();
    CHECK(later);
}

TEST_CASE("word_mutex: an unlock wakes a waiter that sleeps", "[word_mutex]") {
    sse::detail::word_mutex m;
    std::atomic<bool> done{false};
    m.lock();
    std::thread waiter([&] {
        std::lock_guard<sse::detail::word_mutex> lock(m);
        done = true;
    });
    // Long past the spin: the waiter sleeps in the kernel by now. Without the wake-up in
    // unlock(), the join below never returns (ctest's timeout fails the test).
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    CHECK_FALSE(done.load());
    m.unlock();
    waiter.join();
    CHECK(done.load());
}
