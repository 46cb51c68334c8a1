// Integration: adapters (issue #3, behaviour 14) and threads: emits from foreign threads while
// clients come and go, a 4-thread io_context, and adapter swaps under load.
#include "fixture.hpp"

#include <map>
#include <set>

using namespace sse_test;

namespace {

/// A real adapter: records what passes through it and delivers locally.
class counting_adapter final : public sse::adapter {
public:
    struct packet {
        std::string nsp;
        std::vector<std::string> rooms, except;
        std::uint64_t id;
        std::string name, wire;
    };

    void attach(std::weak_ptr<sse::adapter_host> h) override {
        std::lock_guard<std::mutex> lock(m);
        ++attached;
        host = std::move(h);
    }
    void broadcast(sse::broadcast_packet const& p, sse::local_delivery& local) override {
        {
            std::lock_guard<std::mutex> lock(m);
            packets.push_back({std::string(p.nsp), p.rooms, p.except, p.event->id(),
                               std::string(p.event->name()), std::string(p.event->wire())});
        }
        local.deliver(p);
    }
    void namespace_added(std::string_view nsp) override {
        std::lock_guard<std::mutex> lock(m);
        namespaces.insert(std::string(nsp));
    }
    void room_added(std::string_view nsp, std::string_view room) override {
        std::lock_guard<std::mutex> lock(m);
        rooms[std::string(nsp)].insert(std::string(room));
        log.push_back("+" + std::string(room));
    }
    void room_removed(std::string_view nsp, std::string_view room) override {
        std::lock_guard<std::mutex> lock(m);
        rooms[std::string(nsp)].erase(std::string(room));
        log.push_back("-" + std::string(room));
    }
    std::string_view node_id() const noexcept override { return "counting-node"; }
    void close() override { ++closed; }

    std::size_t packet_count() const {
        std::lock_guard<std::mutex> lock(m);
        return packets.size();
    }
    std::set<std::string> rooms_of(std::string const& nsp) const {
        std::lock_guard<std::mutex> lock(m);
        auto it = rooms.find(nsp);
        return it == rooms.end() ? std::set<std::string>{} : it->second;
    }

    mutable std::mutex m;
    int attached = 0;
    std::atomic<int> closed{0};
    std::weak_ptr<sse::adapter_host> host;
    std::vector<packet> packets;
    std::set<std::string> namespaces;
    std::map<std::string, std::set<std::string>> rooms;
    std::vector<std::string> log;
};

} // namespace

TEST_CASE("every broadcast passes through the adapter with its targets and bytes",
          "[adapter][b14]") {
    fixture f;
    auto counting = std::make_shared<counting_adapter>();
    f.io->adapter(counting);
    CHECK(f.io->adapter() == counting);
    CHECK(counting->attached == 1);
    auto& ns = f.ns("/s");
    CHECK(counting->namespaces.count("/s") == 1);
    auto c = f.open("/s");
    auto client = ns.find_client(c.id);
    client->join("a");

    ns.emit("all", {{"n", 1}});
    ns.to("a").to("b").except("muted").emit("targeted", sse::text("t"));
    auto e1 = c.reader.next_event();
    auto e2 = c.reader.next_event();
    REQUIRE(e1);
    REQUIRE(e2);
    REQUIRE(counting->packet_count() == 2);
    {
        std::lock_guard<std::mutex> lock(counting->m);
        auto const& p0 = counting->packets[0];
        CHECK(p0.nsp == "/s");
        CHECK(p0.rooms.empty());
        CHECK(p0.except.empty());
        CHECK(p0.name == "all");
        CHECK(std::to_string(p0.id) == e1->id);
        auto const& p1 = counting->packets[1];
        CHECK(p1.rooms == std::vector<std::string>{"a", "b"});
        CHECK(p1.except == std::vector<std::string>{"muted"});
        CHECK(p1.name == "targeted");
        CHECK(std::to_string(p1.id) == e2->id);
        // The adapter saw exactly the bytes the client received.
        CHECK(c.reader.wire().substr(c.reader.wire().size() - p1.wire.size()) == p1.wire);
    }
    // client->emit is for a local client: it does not go through the adapter.
    client->emit("direct", {{"n", 2}});
    REQUIRE(c.reader.next_event());
    CHECK(counting->packet_count() == 2);
}

TEST_CASE("the adapter hears room interest and can deliver remote events", "[adapter][b14]") {
    fixture f;
    auto counting = std::make_shared<counting_adapter>();
    f.io->adapter(counting);
    auto& ns = f.ns("/s");
    auto c = f.open("/s");
    auto client = ns.find_client(c.id);
    CHECK(counting->rooms_of("/s") == std::set<std::string>{c.id}); // its private room
    client->join("a");
    client->join("b");
    CHECK(counting->rooms_of("/s") == std::set<std::string>{c.id, "a", "b"});
    client->leave("a");
    CHECK(counting->rooms_of("/s") == std::set<std::string>{c.id, "b"});

    auto host = counting->host.lock();
    REQUIRE(host);
    auto interests = host->local_interests();
    std::set<std::pair<std::string, std::string>> got(interests.begin(), interests.end());
    CHECK(got.count({"/s", ""}) == 1);
    CHECK(got.count({"/s", "b"}) == 1);
    CHECK(got.count({"/s", c.id}) == 1);
    CHECK(got.count({"/s", "a"}) == 0);

    // An event from "another node": delivered here with this namespace's next id.
    ns.emit("local", {{"n", 1}});
    host->deliver_remote("/s", {"b"}, {}, sse::encoded_event::make("remote", {{"from", "node2"}}));
    host->deliver_remote("/s", {"b"}, {c.id}, sse::encoded_event::make("excluded", {{"n", 0}}));
    host->deliver_remote("/nowhere", {}, {}, sse::encoded_event::make("lost", {{"n", 0}}));
    ns.emit("marker", {{"n", 2}});
    auto events = c.reader.events(3);
    REQUIRE(events.size() == 3);
    CHECK(events[0].event == "local");
    CHECK(events[1].event == "remote");
    CHECK(json_of(events[1]) == nlohmann::json{{"from", "node2"}});
    CHECK(std::stoull(events[1].id) > std::stoull(events[0].id));
    CHECK(events[2].event == "marker");

    c.reader.close();
    REQUIRE(eventually([&] { return ns.client_count() == 0; }));
    CHECK(counting->rooms_of("/s").empty()); // every room it was in was released
}

TEST_CASE("swapping the adapter at run time keeps delivery working", "[adapter][b14]") {
    fixture f(quiet_options(), 2);
    auto& ns = f.ns("/s");
    auto c = f.open("/s");
    ns.find_client(c.id)->join("room");
    std::atomic<int> emitted{0};
    thread_group emitter;
    emitter.spawn([&] {
        while (!emitter.stop) {
            if (emitted % 2)
                ns.emit("n", {{"i", emitted.load()}});
            else
                ns.to("room").emit("n", {{"i", emitted.load()}});
            ++emitted;
            if (emitted % 16 == 0) std::this_thread::sleep_for(1ms);
        }
    });
    std::vector<std::shared_ptr<counting_adapter>> installed;
    int mark = 0;
    for (int i = 0; i < 10; ++i) {
        // At least 20 emits through each adapter: counted from the last swap, not from the
        // start, since the emitter may run ahead of this thread (emits write through now).
        REQUIRE(eventually([&] { return emitted >= mark + 20; }));
        if (i % 2 == 0) {
            installed.push_back(std::make_shared<counting_adapter>());
            f.io->adapter(installed.back());
            // The new adapter learnt what is live right away.
            CHECK(installed.back()->rooms_of("/s").count("room") == 1);
        } else {
            f.io->adapter(std::make_shared<sse::memory_adapter>());
        }
        mark = emitted.load();
    }
    emitter.join();
    int const total = emitted.load();
    auto events = c.reader.events(static_cast<std::size_t>(total), 5s);
    REQUIRE(events.size() == static_cast<std::size_t>(total));
    for (int i = 0; i < total; ++i) {
        CHECK(json_of(events[static_cast<std::size_t>(i)])["i"] == i); // nothing lost, in order
        CHECK(events[static_cast<std::size_t>(i)].id == std::to_string(i + 1));
    }
    std::size_t through_counting = 0;
    for (auto const& a : installed) {
        CHECK(a->closed == 1); // each was closed when replaced
        CHECK(a->packet_count() > 0);
        through_counting += a->packet_count();
    }
    CHECK(through_counting < static_cast<std::size_t>(total));
}

TEST_CASE("io.close() closes the adapter", "[adapter][b12][b14]") {
    fixture f;
    auto counting = std::make_shared<counting_adapter>();
    f.io->adapter(counting);
    auto c = f.open("/s");
    f.io->close();
    CHECK(c.reader.closed());
    CHECK(counting->closed == 1);
    f.io->close();
    CHECK(counting->closed == 1);
    CHECK_THROWS_AS(f.io->adapter(nullptr), std::invalid_argument);
}

TEST_CASE("emits from foreign threads while clients connect and leave", "[threads]") {
    fixture f(quiet_options(), 4);
    auto& ns = f.ns("/s");
    ns.use([](sse::client& c, sse::next next) {
        if (auto room = c.handshake().query("room"); !room.empty()) c.join(room);
        next();
    });
    auto stable = f.open("/s?room=main");
    std::atomic<int> emitted{0};
    std::mutex order; // one emit at a time, so `i` is also the delivery order
    thread_group emitters;
    for (int t = 0; t < 3; ++t) {
        emitters.spawn([&, t] {
            while (!emitters.stop) {
                {
                    std::lock_guard<std::mutex> lock(order);
                    int const i = emitted++;
                    if (t == 0)
                        ns.emit("e", {{"i", i}});
                    else if (t == 1)
                        ns.to("main").emit("e", {{"i", i}});
                    else
                        ns.to({"main", "churn"}).except("nobody").emit("e", {{"i", i}});
                }
                std::this_thread::yield();
            }
        });
    }
    for (int round = 0; round < 30; ++round) {
        auto churn = f.open(round % 2 ? "/s?room=churn" : "/s?room=main");
        auto e = churn.reader.next_event();
        REQUIRE(e);
        CHECK(e->event == "e");
        if (round % 3 == 0) ns.find_client(churn.id)->disconnect();
        // else the reader closes when it goes out of scope
    }
    emitters.join();
    int const total = emitted.load();
    auto events = stable.reader.events(static_cast<std::size_t>(total), 5s);
    REQUIRE(events.size() == static_cast<std::size_t>(total));
    std::uint64_t last = 0;
    for (int i = 0; i < total; ++i) {
        auto const& e = events[static_cast<std::size_t>(i)];
        CHECK(json_of(e)["i"] == i);
        CHECK(std::stoull(e.id) > last);
        last = std::stoull(e.id);
    }
    REQUIRE(eventually([&] { return ns.client_count() == 1; }));
    CHECK(ns.rooms() == std::vector<std::string>{"main"});
}

TEST_CASE("a 4-thread io_context fans out to many clients in order", "[threads]") {
    fixture f(quiet_options(), 4);
    auto& ns = f.ns("/s");
    constexpr int clients = 24, per_room = 40;
    std::vector<opened> os;
    for (int i = 0; i < clients; ++i) {
        os.push_back(f.open("/s"));
        ns.find_client(os.back().id)->join("r" + std::to_string(i % 4));
    }
    std::mutex order;
    std::vector<std::thread> emitters;
    for (int t = 0; t < 2; ++t) {
        emitters.emplace_back([&, t] {
            for (int i = 0; i < per_room; ++i) {
                std::lock_guard<std::mutex> lock(order);
                if (t == 0) {
                    for (int r = 0; r < 4; ++r)
                        ns.to("r" + std::to_string(r)).emit("room", {{"r", r}, {"i", i}});
                } else {
                    ns.emit("all", {{"i", i}});
                }
            }
        });
    }
    for (auto& t : emitters)
        t.join();
    for (int i = 0; i < clients; ++i) {
        auto& r = os[static_cast<std::size_t>(i)].reader;
        auto events = r.events(2 * per_room);
        REQUIRE(events.size() == 2 * per_room);
        int room_next = 0, all_next = 0;
        std::uint64_t last = 0;
        for (auto const& e : events) {
            auto j = json_of(e);
            if (e.event == "room") {
                CHECK(j["r"] == i % 4);
                CHECK(j["i"] == room_next++);
            } else {
                CHECK(j["i"] == all_next++);
            }
            CHECK(std::stoull(e.id) > last);
            last = std::stoull(e.id);
        }
        r.pump_for(0ms);
        CHECK(r.pending_events().empty());
    }
    CHECK(ns.stats().deliveries == static_cast<std::uint64_t>(clients * 2 * per_room));
}
