// Unit: sse/detail/id_index.hpp - admitted clients by id, in one flat table (sans-I/O).
#include <sse/detail/id_index.hpp>

#include "support/catch.hpp"

#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace {

struct idx_item {
    std::string name;
    std::string const& id() const noexcept { return name; }
};

} // namespace

TEST_CASE("id_index: find, count, erase", "[id_index]") {
    sse::detail::id_index<idx_item> index;
    idx_item a{"a"}, b{"b"};
    CHECK(index.find("a") == index.end());
    index.insert(&a);
    index.insert(&b);
    CHECK(index.size() == 2);
    REQUIRE(index.find("a") != index.end());
    CHECK(index.find("a")->second == &a);
    CHECK(index.count("b") == 1);
    CHECK(index.count("c") == 0);
    index.erase("a");
    index.erase("c"); // absent: nothing happens
    CHECK(index.find("a") == index.end());
    CHECK(index.find("b")->second == &b);
    CHECK(index.size() == 1);
}

TEST_CASE("id_index: agrees with a map through growth, collisions and shrinking", "[id_index]") {
    sse::detail::id_index<idx_item> index;
    std::map<std::string, idx_item*> model;
    std::vector<std::unique_ptr<idx_item>> items;
    std::mt19937 rng(7);
    auto check_all = [&] {
        REQUIRE(index.size() == model.size());
        for (auto const& [id, p] : model) {
            auto it = index.find(id);
            REQUIRE(it != index.end());
            CHECK(it->second == p);
        }
    };
    for (int round = 0; round < 3; ++round) {
        for (int i = 0; i < 3000; ++i) {
            auto id = std::to_string(rng() % 5000);
            if (model.count(id)) {
                index.erase(id);
                model.erase(id);
            } else {
                items.push_back(std::make_unique<idx_item>(idx_item{id}));
                index.insert(items.back().get());
                model.emplace(id, items.back().get());
            }
        }
        check_all();
        CHECK(index.count("absent") == 0);
        // Mostly empty again: the table shrinks, every entry stays findable.
        while (model.size() > 10) {
            index.erase(model.begin()->first);
            model.erase(model.begin());
        }
        check_all();
    }
}
