// Unit: sse/detail/random_id.hpp - client and node ids.
#include <sse/detail/random_id.hpp>

#include "support/catch.hpp"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <thread>
#include <vector>

TEST_CASE("random_id: 22 alphanumeric characters by default", "[random_id]") {
    for (int i = 0; i < 100; ++i) {
        auto id = sse::detail::random_id();
        CHECK(id.size() == 22);
        CHECK(std::all_of(id.begin(), id.end(),
                          [](char c) { return std::isalnum(static_cast<unsigned char>(c)); }));
    }
    CHECK(sse::detail::random_id(1).size() == 1);
    CHECK(sse::detail::random_id(64).size() == 64);
    CHECK(sse::detail::random_id(0).empty());
}

TEST_CASE("random_id: unique across threads", "[random_id]") {
    std::vector<std::vector<std::string>> per_thread(4);
    std::vector<std::thread> threads;
    for (auto& out : per_thread)
        threads.emplace_back([&out] {
            for (int i = 0; i < 5000; ++i)
                out.push_back(sse::detail::random_id());
        });
    for (auto& t : threads)
        t.join();
    std::set<std::string> all;
    for (auto const& v : per_thread)
        all.insert(v.begin(), v.end());
    CHECK(all.size() == 20000);
}

TEST_CASE("random_id: every character of the alphabet, evenly", "[random_id]") {
    std::map<char, int> counts;
    constexpr int ids = 3000;
    for (int i = 0; i < ids; ++i)
        for (char c : sse::detail::random_id())
            ++counts[c];
    CHECK(counts.size() == 62);
    // 66000 draws over 62 symbols: about 1065 each. A biased draw (e.g. modulo 62 of a
    // 6-bit value) would give some symbols twice as many.
    for (auto const& [c, n] : counts) {
        CAPTURE(c);
        CHECK(n > 850);
        CHECK(n < 1300);
    }
    // Positions are independent: the first character is spread too.
    std::set<char> firsts;
    for (int i = 0; i < 2000; ++i)
        firsts.insert(sse::detail::random_id().front());
    CHECK(firsts.size() > 55);
}
