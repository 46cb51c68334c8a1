// Redis Cluster resharding under traffic: the slot of the shared history's keys, then the slot
// of a room's channel, move to another master the way `redis-cli --cluster reshard` moves
// them (IMPORTING/MIGRATING, MIGRATE of each key, SETSLOT NODE on every master), while node A
// emits. The adapter meets TRYAGAIN and ASK during the move and MOVED after it; its own
// clients get every emit at once, the other node's get every one once, in order.
#include "cluster_adapter_support.hpp"

#include <sse/detail/cluster_slots.hpp>

#include <cstdint>
#include <string>
#include <vector>

using namespace cluster_adapter_test;

namespace {

// One slot moved from master `from` to master `to`, in the steps of a resharding. A test that
// stops half-way leaves the slot stable where it was (later tests share this cluster).
class slot_move {
public:
    slot_move(std::uint16_t slot, unsigned short from, unsigned short to,
              std::vector<unsigned short> masters)
        : slot_(std::to_string(slot))
        , from_(from)
        , to_(to)
        , masters_(std::move(masters)) {}
    slot_move(slot_move const&) = delete;
    slot_move& operator=(slot_move const&) = delete;
    ~slot_move() {
        if (begun_ && !done_)
            for (auto p : {from_, to_})
                redis_command(p, {"CLUSTER", "SETSLOT", slot_, "STABLE"});
    }

    void begin() {
        begun_ = true;
        REQUIRE(redis_command(to_, {"CLUSTER", "SETSLOT", slot_, "IMPORTING", id(from_)}) == "OK");
        REQUIRE(redis_command(from_, {"CLUSTER", "SETSLOT", slot_, "MIGRATING", id(to_)}) == "OK");
    }

    // Moves every key of the slot (MIGRATE ... KEYS), as the resharding tool does.
    std::size_t move_keys() {
        std::size_t moved = 0;
        for (;;) {
            auto const keys =
                words(redis_command(from_, {"CLUSTER", "GETKEYSINSLOT", slot_, "100"}));
            if (keys.empty()) return moved;
            std::vector<std::string> cmd = {"MIGRATE", "127.0.0.1", std::to_string(to_), "", "0",
                                            "5000",    "KEYS"};
            cmd.insert(cmd.end(), keys.begin(), keys.end());
            REQUIRE(redis_command(from_, cmd) == "OK");
            moved += keys.size();
        }
    }

    // The slot is `to`'s: told to the importer, the source, then every other master.
    void finish() {
        auto const owner = id(to_);
        REQUIRE(redis_command(to_, {"CLUSTER", "SETSLOT", slot_, "NODE", owner}) == "OK");
        REQUIRE(redis_command(from_, {"CLUSTER", "SETSLOT", slot_, "NODE", owner}) == "OK");
        for (auto p : masters_)
            if (p != from_ && p != to_)
                redis_command(p, {"CLUSTER", "SETSLOT", slot_, "NODE", owner});
        done_ = true;
    }

private:
    static std::string id(unsigned short port) { return redis_command(port, {"CLUSTER", "MYID"}); }

    std::string slot_;
    unsigned short from_, to_;
    std::vector<unsigned short> masters_;
    bool begun_ = false, done_ = false;
};

// The next events of `c` are exactly `from`..`to` - 1, in order, with increasing ids.
void expect_exactly(client& c, std::uint64_t& last_id, int from, int to, history_node& node) {
    for (int want = from; want < to; ++want) {
        auto e = c.reader.next_event(25s);
        if (!e) {
            auto const st = node.redis->state();
            INFO("waiting for " << want << "; pending " << st.pending << " dropped " << st.dropped
                                << " gaps " << st.channel_gaps << " recoveries " << st.recoveries
                                << " resets " << st.history_resets << " subscribed "
                                << st.subscribed_channels << "/" << st.wanted_channels
                                << " last error " << st.last_error);
            REQUIRE(e);
        }
        INFO("event '" << e->event << "' id " << e->id << " data " << e->data);
        REQUIRE(e->event == "e");
        CHECK(std::stoi(e->data) == want);
        auto const id = std::stoull(e->id);
        CHECK(id > last_id);
        last_id = id;
    }
}

} // namespace

TEST_CASE("redis cluster adapter: a resharding moves the history's slot, then a room's, while "
          "emitting: every emit reaches this node at once and the other once, in order",
          "[redis][cluster][cluster_adapter][sharded][resharding]") {
    auto const ports = cluster_ports();
    auto const all_masters = masters(ports);
    REQUIRE(all_masters.size() == 3);
    two_nodes f(history(), ports[0], ports[1]);
    std::string const room = "match";
    client on_a(f.a, room), on_b(f.b, room);
    REQUIRE(eventually([&] { return f.a.synced(3) && f.b.synced(3); }, 10s));
    int next = 0;
    auto emit = [&] { f.a.ns->to(room).emit("e", next++); };
    std::uint64_t last_a = 0, last_b = 0;
    emit();
    expect_exactly(on_a, last_a, 0, 1, f.a);
    expect_exactly(on_b, last_b, 0, 1, f.b);

    std::string const history_key = "{" + f.prefix + "#h}";
    std::string const channel = sse::detail::redis_channel(f.prefix, "/s", room);
    for (auto const& key : {history_key, channel}) {
        INFO("moving the slot of " << key);
        auto const from = master_of(key, ports);
        REQUIRE(from != 0);
        unsigned short to = 0;
        for (auto p : all_masters)
            if (p != from) to = p;
        slot_move move(sse::detail::key_slot(key), from, to, all_masters);
        int const first = next;
        move.begin();
        emit(); // the keys are still on the source: it runs there
        auto const moved = move.move_keys();
        if (key == history_key) CHECK(moved > 0); // the sequence, the room log, ...
        emit(); // the keys are gone from the source: ASK to the importer
        emit();
        // Local first: this node's client has them at once, whatever Redis answers.
        expect_exactly(on_a, last_a, first, next, f.a);
        std::this_thread::sleep_for(300ms);
        move.finish();
        emit(); // MOVED where the old owner is asked
        expect_exactly(on_a, last_a, next - 1, next, f.a);
        expect_exactly(on_b, last_b, first, next, f.b);
        CHECK(master_of(key, ports) == to);
    }
    // Settled: both ways again, once each, in order.
    emit();
    expect_exactly(on_a, last_a, next - 1, next, f.a);
    expect_exactly(on_b, last_b, next - 1, next, f.b);
    f.b.ns->to(room).emit("e", next++);
    expect_exactly(on_b, last_b, next - 1, next, f.b);
    expect_exactly(on_a, last_a, next - 1, next, f.a);
    CHECK(f.b.redis->state().history_resets == 0);
    CHECK(f.a.redis->state().dropped == 0);
}
