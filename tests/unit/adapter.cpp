// Unit: sse/adapter.hpp - the adapter interface and the in-memory adapter.
#include <sse/adapter.hpp>

#include "support/catch.hpp"

#include <cctype>
#include <set>

namespace {

struct recording_delivery final : sse::local_delivery {
    void deliver(sse::broadcast_packet const& p) override {
        ++calls;
        nsp = std::string(p.nsp);
        rooms = p.rooms;
        except = p.except;
        event = p.event;
    }
    int calls = 0;
    std::string nsp;
    std::vector<std::string> rooms, except;
    sse::event_ptr event;
};

} // namespace

TEST_CASE("memory_adapter delivers every packet locally, as it is", "[adapter]") {
    sse::memory_adapter a;
    recording_delivery local;
    std::vector<std::string> const rooms{"a", "b"}, except{"x"};
    auto e = sse::encoded_event::make("goal", nlohmann::json{{"n", 1}});
    e->stamp(9);
    sse::event_ptr ev = e;
    sse::history_options const history;
    a.broadcast(sse::broadcast_packet{"/football", rooms, except, ev, history, false}, local);
    CHECK(local.calls == 1);
    CHECK(local.nsp == "/football");
    CHECK(local.rooms == rooms);
    CHECK(local.except == except);
    CHECK(local.event == ev); // the same shared bytes, not a copy
    // Interest calls and close are harmless no-ops.
    a.namespace_added("/football");
    a.room_added("/football", "a");
    a.room_removed("/football", "a");
    a.close();
    a.close();
}

TEST_CASE("memory_adapter node ids are unique and alphanumeric", "[adapter]") {
    std::set<std::string> ids;
    for (int i = 0; i < 100; ++i) {
        sse::memory_adapter a;
        std::string id(a.node_id());
        CHECK(id.size() >= 12);
        CHECK(std::all_of(id.begin(), id.end(),
                          [](char c) { return std::isalnum(static_cast<unsigned char>(c)); }));
        ids.insert(id);
    }
    CHECK(ids.size() == 100);
}
