// Unit: sse/detail/small_vector.hpp - a vector whose first element lives in place.
#include <sse/detail/small_vector.hpp>

#include "support/catch.hpp"

#include <memory>
#include <string>

using sse::detail::small_vector;

TEST_CASE("small_vector: one element in place, more on the heap, in order", "[small_vector]") {
    small_vector<std::shared_ptr<int>> v;
    CHECK(v.empty());
    CHECK(v.capacity() == 1);
    auto one = std::make_shared<int>(1);
    v.push_back(one);
    CHECK_FALSE(v.on_heap()); // no allocation for the first element
    CHECK(one.use_count() == 2);
    for (int i = 2; i <= 9; ++i)
        v.push_back(std::make_shared<int>(i));
    CHECK(v.on_heap());
    REQUIRE(v.size() == 9);
    for (int i = 0; i < 9; ++i)
        CHECK(*v[static_cast<std::size_t>(i)] == i + 1);
    CHECK(one.use_count() == 2); // moved, never copied
    v.erase_front(7);
    REQUIRE(v.size() == 2);
    CHECK(*v[0] == 8);
    CHECK(*v[1] == 9);
    CHECK(one.use_count() == 1); // erased elements are destroyed
    v.erase(0);
    REQUIRE(v.size() == 1);
    CHECK(*v[0] == 9);
    v.shrink(); // one element fits in place again
    CHECK_FALSE(v.on_heap());
    REQUIRE(v.size() == 1);
    CHECK(*v[0] == 9);
}

TEST_CASE("small_vector: heap storage stays until shrink", "[small_vector]") {
    small_vector<std::string> v;
    v.push_back("a long string that lives on the heap, beyond the small buffer");
    v.push_back("b");
    CHECK(v.on_heap());
    v.clear();
    CHECK(v.empty());
    CHECK(v.on_heap());
    v.reserve(3);
    CHECK(v.capacity() >= 3);
    v.shrink();
    CHECK_FALSE(v.on_heap());
    CHECK(v.capacity() == 1);
    v.push_back("c");
    v.push_back("d");
    v.swap_remove(0);
    REQUIRE(v.size() == 1);
    CHECK(v[0] == "d");
}

TEST_CASE("small_vector: spare bits survive growth and shrinking", "[small_vector]") {
    small_vector<int> v;
    v.set_spare(2);
    for (int i = 0; i < 5; ++i)
        v.push_back(i);
    CHECK(v.spare() == 2);
    v.clear();
    v.shrink();
    CHECK(v.spare() == 2);
    CHECK(sizeof(small_vector<std::shared_ptr<int>>) == sizeof(std::shared_ptr<int>) + 8);
}
