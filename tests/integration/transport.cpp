// Integration: the plain-TCP transport where a send does not go through at once. On Linux a
// plain-TCP stream leaves Asio after its request (detail::fd_client): a send the socket does
// not take whole waits for the readiness watch to report room, and a peer that closes while
// such a write waits must still end the stream and release what was queued for it.
#include "fixture.hpp"

#include <future>

#include <sys/socket.h>
#include <sys/time.h>

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

TEST_CASE("once io.close() has ended every stream, the io_context runs out of work",
          "[transport]") {
    // The graceful shutdown of an Asio app: close the server and the acceptor, then let
    // run() return when the last connection is done. Streams that wait for their peer are
    // work (as Asio's own pending reads are); nothing may remain once they have ended.
    using tcp = net::ip::tcp;
    net::io_context ioc;
    auto opts = quiet_options();
    opts.close_retry_min = std::chrono::milliseconds(0);
    opts.close_retry_max = std::chrono::milliseconds(0);
    auto io = std::make_unique<sse::server>(ioc.get_executor(), opts);
    tcp::socket peer(ioc);
    {
        // One stream, accepted by hand: the io_context has no acceptor or work of its own.
        tcp::acceptor acceptor(ioc, {net::ip::make_address("127.0.0.1"), 0});
        peer.connect(acceptor.local_endpoint());
        plain_stream stream(acceptor.accept());
        request req{http::verb::get, "/s", 11};
        io->of("/s").connect(std::move(stream), std::move(req));
    }
    timeval five_seconds{5, 0}; // a read that would hang fails instead
    ::setsockopt(peer.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &five_seconds, sizeof five_seconds);
    auto ran = std::async(std::launch::async, [&ioc] { ioc.run(); });

    std::string seen;
    boost::system::error_code ec;
    net::read_until(peer, net::dynamic_buffer(seen), "event: connection", ec);
    REQUIRE_FALSE(ec); // admitted
    io->close();
    // The server ends the stream (our FIN); the peer, as a browser would, closes too.
    for (;;) {
        std::array<char, 1024> buffer;
        peer.read_some(net::buffer(buffer), ec);
        if (ec) break;
    }
    CHECK(ec == net::error::eof);
    peer.close();

    bool const returned = ran.wait_for(5s) == std::future_status::ready;
    CHECK(returned);
    if (!returned) ioc.stop();
    ran.get();
    io.reset(); // before the io_context, as the README asks
}
