// Integration: the plain-TCP transport where a send does not go through at once. On Linux a
// plain-TCP stream leaves Asio after its request (detail::fd_client): a send the socket does
// not take whole waits for the readiness watch to report room, and a peer that closes while
// such a write waits must still end the stream and release what was queued for it.
#include "fixture.hpp"

using namespace sse_test;

namespace {

constexpr int burst_events = 500;
constexpr std::size_t burst_size = 4000;

/// Options with room for a 2 MB backlog.
sse::options roomy_options() {
    auto opts = quiet_options();
    opts.max_buffered_bytes = 8 * 1024 * 1024;
    return opts;
}

/** Opens a stream whose reader does not read, in room "room", and emits 2 MB to it against
    socket buffers of some tens of KB (16 KiB to send, 4 KiB to receive): the sends stop
    taking bytes, and the rest waits in the client's queue for the socket to have room.
    Returns once the writer waits. */
opened open_stalled(fixture& f, sse::client_ptr& c) {
    f.route_hook = [&f](plain_stream&& s, request&& r) {
        s.socket().set_option(net::socket_base::send_buffer_size(16 * 1024));
        f.io->of("/s").connect(std::move(s), std::move(r));
    };
    auto& ns = f.ns("/s");
    reader_options tiny;
    tiny.receive_buffer = 4096;
    tiny.timeout = 10s;
    auto r = f.open("/s", {}, tiny);
    c = ns.find_client(r.id);
    REQUIRE(c);
    c->join("room");
    std::string const payload(burst_size, 'q');
    for (int i = 0; i < burst_events; ++i)
        ns.to("room").emit("chunk", sse::text(std::to_string(i) + ":" + payload));
    REQUIRE(eventually([&] { return c->buffered_bytes() > 0; }));
    std::this_thread::sleep_for(100ms); // the writer is now waiting for room, not sending
    REQUIRE(c->buffered_bytes() > 0);
    REQUIRE(ns.stats().queued_bytes > 0);
    return r;
}

} // namespace

TEST_CASE("a reader that stalls past its socket buffers gets every event once, in order, "
          "when it reads again",
          "[transport]") {
    fixture f(roomy_options());
    auto& ns = f.ns("/s");
    sse::client_ptr c;
    auto r = open_stalled(f, c);

    std::string last_id;
    for (int i = 0; i < burst_events; ++i) {
        auto e = r.reader.next_event();
        REQUIRE(e);
        REQUIRE(e->event == "chunk");
        REQUIRE(e->data.substr(0, e->data.find(':')) == std::to_string(i));
        REQUIRE(e->data.size() == std::to_string(i).size() + 1 + burst_size);
        if (!last_id.empty()) REQUIRE(std::stoull(e->id) > std::stoull(last_id));
        last_id = e->id;
    }
    CHECK(eventually([&] { return c->buffered_bytes() == 0; }));
    CHECK(eventually([&] { return ns.stats().queued_bytes == 0; }));
    CHECK(c->connected());

    // Live events go on, written through again.
    ns.to("room").emit("after", {{"n", 1}});
    auto e = r.reader.next_event();
    REQUIRE(e);
    CHECK(e->event == "after");
}

TEST_CASE("a peer that closes while a write waits for room is noticed, and its queue released",
          "[transport]") {
    fixture f(roomy_options());
    auto& ns = f.ns("/s");
    sse::client_ptr c;
    auto r = open_stalled(f, c);
    auto const reason = std::make_shared<std::atomic<int>>(-1);
    c->on_disconnect([reason](std::error_code ec) { *reason = ec.value(); });

    auto const t0 = std::chrono::steady_clock::now();
    r.reader.close();
    REQUIRE(eventually([&] { return !c->connected(); }, 5s));
    CHECK(std::chrono::steady_clock::now() - t0 < 2s);
    CHECK(eventually([&] { return *reason != -1; }));
    CHECK(ns.client_count() == 0);
    // Nothing stays accounted for a stream that is gone (once nothing holds its client: the
    // queue goes with the object).
    c.reset();
    CHECK(eventually([&] { return ns.stats().queued_bytes == 0; }));
}

TEST_CASE("streams on several io threads close and send independently", "[transport]") {
    // Many plain-TCP streams share one readiness watch per io_context: peers that close at
    // once, on 4 io threads, each end their own stream and no other.
    auto opts = quiet_options();
    fixture f(opts, 4);
    auto& ns = f.ns("/s");
    std::vector<opened> streams;
    for (int i = 0; i < 40; ++i)
        streams.push_back(f.open("/s"));
    REQUIRE(eventually([&] { return ns.client_count() == 40; }));
    for (std::size_t i = 0; i < streams.size(); i += 2)
        streams[i].reader.close();
    REQUIRE(eventually([&] { return ns.client_count() == 20; }));
    ns.emit("left", {{"n", 20}});
    for (std::size_t i = 1; i < streams.size(); i += 2) {
        auto e = streams[i].reader.next_event();
        REQUIRE(e);
        CHECK(e->event == "left");
    }
    CHECK(ns.client_count() == 20);
}
