// Unit: sse/detail/cluster_slots.hpp - Redis Cluster's CRC16, hash tags and key slots, checked
// against the cluster spec's published values (tests/redis/redis_cluster_topology.cpp checks
// thousands more against a real server's CLUSTER KEYSLOT).
#include <sse/detail/cluster_slots.hpp>

#include "support/catch.hpp"

#include <cstdint>
#include <map>
#include <random>
#include <string>

using sse::detail::cluster_channel;
using sse::detail::cluster_crc16;
using sse::detail::cluster_hash_tag;
using sse::detail::cluster_slot_count;
using sse::detail::key_slot;

namespace {

// The CRC16/XMODEM definition, one bit at a time: what the table-driven code must equal.
std::uint16_t bitwise_xmodem(std::string const& bytes) {
    std::uint32_t crc = 0;
    for (unsigned char byte : bytes) {
        crc ^= std::uint32_t(byte) << 8;
        for (int i = 0; i < 8; ++i)
            crc = (crc & 0x8000) ? ((crc << 1) ^ 0x1021) & 0xFFFF : (crc << 1) & 0xFFFF;
    }
    return static_cast<std::uint16_t>(crc);
}

} // namespace

TEST_CASE("cluster_slots: CRC16 is XMODEM (check value 0x31C3)", "[cluster]") {
    STATIC_REQUIRE(cluster_crc16("123456789") == 0x31C3);
    CHECK(cluster_crc16("") == 0);
    CHECK(cluster_crc16(std::string(1, '\0')) == 0);
    CHECK(cluster_crc16("A") == 0x58E5);

    std::mt19937 rng(16);
    for (int i = 0; i < 2000; ++i) {
        std::string s(rng() % 40, '\0');
        for (auto& c : s)
            c = static_cast<char>(rng() & 0xFF); // every byte value, high bit included
        INFO("length " << s.size());
        REQUIRE(cluster_crc16(s) == bitwise_xmodem(s));
    }
}

TEST_CASE("cluster_slots: key slots as the spec and CLUSTER KEYSLOT document", "[cluster]") {
    STATIC_REQUIRE(key_slot("123456789") == 0x31C3); // 12739 < 16384: the CRC itself
    CHECK(key_slot("somekey") == 11058);
    CHECK(key_slot("foo{hash_tag}") == 2515);
    CHECK(key_slot("bar{hash_tag}") == 2515);
    CHECK(key_slot("{user1000}.following") == 3443);
    CHECK(key_slot("{user1000}.followers") == 3443);
    CHECK(key_slot("") == 0);
    for (auto const* k : {"a", "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz", "\xff\xfe", "{}"})
        CHECK(key_slot(k) < cluster_slot_count);
}

TEST_CASE("cluster_slots: hash tags, first '{' to the first '}' after it, non-empty", "[cluster]") {
    // The spec's examples.
    CHECK(cluster_hash_tag("{user1000}.following") == "user1000");
    CHECK(cluster_hash_tag("foo{}{bar}") == "foo{}{bar}"); // empty first tag: whole key
    CHECK(cluster_hash_tag("foo{{bar}}zap") == "{bar");
    CHECK(cluster_hash_tag("foo{bar}{zap}") == "bar");
    CHECK(key_slot("foo{{bar}}zap") == key_slot("{bar"));
    CHECK(key_slot("foo{bar}{zap}") == key_slot("bar"));
    CHECK(key_slot("foo{}{bar}") == (cluster_crc16("foo{}{bar}") & 0x3FFF));
    // No tag at all.
    CHECK(cluster_hash_tag("plain") == "plain");
    CHECK(cluster_hash_tag("open{only") == "open{only");
    CHECK(cluster_hash_tag("close}only") == "close}only");
    CHECK(cluster_hash_tag("}{") == "}{");
    CHECK(cluster_hash_tag("{") == "{");
    CHECK(cluster_hash_tag("{}") == "{}");
    // A tag anywhere, the rest ignored.
    CHECK(cluster_hash_tag("}x{y}") == "y");
    CHECK(cluster_hash_tag("{a}") == "a");
    CHECK(key_slot("prefix{a}suffix") == key_slot("a"));
    CHECK(key_slot("x{a}") == key_slot("y{a}z"));
}

TEST_CASE("cluster_slots: room channels carry their own tag and spread over the shards",
          "[cluster]") {
    auto const ch = cluster_channel("sse#/#match-1");
    REQUIRE(ch.size() == 10 + std::string("sse#/#match-1").size());
    CHECK(ch.front() == '{');
    CHECK(ch[9] == '}');
    CHECK(ch.substr(10) == "sse#/#match-1");
    for (char c : ch.substr(1, 8))
        CHECK(((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')));
    CHECK(key_slot(ch) == key_slot(ch.substr(1, 8)));
    CHECK(cluster_channel("sse#/#match-1") == ch); // every node computes the same name
    CHECK(cluster_channel("sse#/#match-2") != ch);

    // Braces in the prefix or room name do not choose the slot: our tag comes first. Without
    // it, a prefix "{app}" would put every room of the application on one slot.
    CHECK(key_slot("{app}#/#r1") == key_slot("{app}#/#r2"));
    CHECK(key_slot(cluster_channel("{app}#/#r1")) != key_slot(cluster_channel("{app}#/#r2")));

    // 3000 rooms over the three equal shards `redis-cli --cluster create` makes.
    std::map<int, int> per_shard;
    for (int i = 0; i < 3000; ++i) {
        auto slot = key_slot(cluster_channel("{app}#/#room-" + std::to_string(i)));
        ++per_shard[slot <= 5460 ? 0 : slot <= 10922 ? 1 : 2];
    }
    for (auto [shard, rooms] : per_shard) {
        INFO("shard " << shard);
        CHECK(rooms > 850);
        CHECK(rooms < 1150);
    }
}
