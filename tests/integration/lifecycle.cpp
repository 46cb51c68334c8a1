// Integration: heartbeats, disconnects, server close and destruction, slow consumers
// (issue #3, behaviours 8, 11, 12 and the queue bound).
#include "fixture.hpp"

#include <set>

using namespace sse_test;

namespace {

sse::options with_heartbeat(std::chrono::milliseconds every) {
    auto o = quiet_options();
    o.heartbeat_interval = every;
    return o;
}

/// Records on_disconnect calls of one client. The handler shares the record (it may run
/// during teardown, after this object is gone).
struct disconnect_log {
    struct record {
        std::mutex m;
        std::vector<std::error_code> reasons;
    };
    void attach(sse::client& c) {
        c.on_disconnect([r = rec](std::error_code ec) {
            std::lock_guard<std::mutex> lock(r->m);
            r->reasons.push_back(ec);
        });
    }
    std::size_t count() const {
        std::lock_guard<std::mutex> lock(rec->m);
        return rec->reasons.size();
    }
    std::error_code first() const {
        std::lock_guard<std::mutex> lock(rec->m);
        return rec->reasons.empty() ? std::error_code() : rec->reasons.front();
    }
    std::shared_ptr<record> rec = std::make_shared<record>();
};

} // namespace

// ---- heartbeat (behaviour 8) ------------------------------------------------------------

TEST_CASE("heartbeat: `: ping` on every open stream each interval", "[lifecycle][b8]") {
    fixture f(with_heartbeat(50ms));
    auto a = f.open("/s");
    auto b = f.open("/other"); // every namespace
    for (auto* r : {&a.reader, &b.reader}) {
        auto first = r->next_comment(1s);
        REQUIRE(first);
        CHECK(*first == "ping");
        auto second = r->next_comment(1s);
        REQUIRE(second);
        CHECK(r->wire().find("\n\n: ping\n\n") != std::string_view::npos);
    }
    // Pings are comments: no event is dispatched for them.
    CHECK(a.reader.pending_events().empty());
}

TEST_CASE("heartbeat: none when the interval is 0", "[lifecycle][b8]") {
    fixture f(with_heartbeat(0ms));
    auto a = f.open("/s");
    a.reader.pump_for(250ms);
    CHECK(a.reader.comments_seen() == 0);
    CHECK(a.reader.wire().find("ping") == std::string_view::npos);
}

TEST_CASE("heartbeat: none after close", "[lifecycle][b8][b12]") {
    auto opts = with_heartbeat(30ms);
    opts.close_timeout = 2s;
    fixture f(opts);
    auto a = f.open("/s");
    REQUIRE(a.reader.next_comment(1s));
    f.io->close();
    REQUIRE(a.reader.closed(2s));
    // After the closing retry hint nothing else was sent: not even a ping.
    std::string_view wire = a.reader.wire();
    auto hint = wire.rfind("retry: ");
    REQUIRE(hint != std::string_view::npos);
    CHECK(wire.substr(hint).find(": ping") == std::string_view::npos);
    CHECK(wire.substr(wire.size() - 2) == "\n\n");
    // And a client that disconnected gets no more pings either.
    fixture g(with_heartbeat(30ms));
    auto b = g.open("/s");
    g.ns("/s").find_client(b.id)->disconnect();
    REQUIRE(b.reader.closed(2s));
    auto const size = b.reader.raw().size();
    b.reader.pump_for(100ms);
    CHECK(b.reader.raw().size() == size);
}

// ---- disconnect (behaviour 11) ----------------------------------------------------------

TEST_CASE("a peer that closes is noticed promptly and leaves everything", "[lifecycle][b11]") {
    fixture f;
    auto& ns = f.ns("/s");
    auto a = f.open("/s");
    auto b = f.open("/s");
    auto ca = ns.find_client(a.id);
    REQUIRE(ca);
    ca->join({"r1", "r2"});
    ns.find_client(b.id)->join("r1");
    disconnect_log log;
    log.attach(*ca);
    CHECK(ns.client_count() == 2);

    auto const t0 = std::chrono::steady_clock::now();
    a.reader.close();
    REQUIRE(eventually([&] { return log.count() == 1; }, 1s));
    CHECK(std::chrono::steady_clock::now() - t0 < 500ms); // a read was pending: no heartbeat needed
    CHECK(log.first() == sse::error::peer_closed);
    CHECK(log.first() == sse::condition::peer_gone);
    CHECK(ns.client_count() == 1);
    CHECK(ns.find_client(a.id) == nullptr);
    CHECK(ns.room(a.id).empty());
    CHECK(ns.rooms() == std::vector<std::string>{"r1"});
    CHECK(ns.room("r1").size() == 1);
    CHECK_FALSE(ca->connected());
    CHECK(ca->disconnect_reason() == sse::error::peer_closed);

    // Emits go on for the others.
    ns.emit("still", {{"n", 1}});
    auto e = b.reader.next_event();
    REQUIRE(e);
    CHECK(e->event == "still");
    b.reader.pump_for(50ms);
    CHECK(log.count() == 1);
}

TEST_CASE("a reset (RST) is a disconnect too", "[lifecycle][b11]") {
    fixture f;
    auto& ns = f.ns("/s");
    auto a = f.open("/s");
    disconnect_log log;
    log.attach(*ns.find_client(a.id));
    a.reader.reset();
    REQUIRE(eventually([&] { return log.count() == 1; }, 1s));
    CHECK(log.first() == sse::condition::peer_gone);
    CHECK(ns.client_count() == 0);
}

TEST_CASE("on_disconnect fires once when disconnect() is called twice", "[lifecycle][b11]") {
    fixture f;
    auto& ns = f.ns("/s");
    auto a = f.open("/s");
    auto ca = ns.find_client(a.id);
    disconnect_log log;
    log.attach(*ca);
    auto plain = make_counter();
    ca->on_disconnect([plain] { ++*plain; });
    ca->emit("last", {{"n", 1}}); // queued before the disconnect: flushed first
    ca->disconnect();
    ca->disconnect();
    REQUIRE(a.reader.closed());
    auto e = a.reader.next_event(0ms);
    REQUIRE(e);
    CHECK(e->event == "last");
    REQUIRE(eventually([&] { return log.count() == 1; }));
    CHECK(log.first() == sse::error::disconnected);
    CHECK(log.first() == sse::condition::closed_by_server);
    ca->disconnect();
    a.reader.pump_for(20ms);
    CHECK(log.count() == 1);
    CHECK(*plain == 1);
    CHECK(ns.client_count() == 0);
    // A handler added after the end runs at once, with the reason.
    auto late = std::make_shared<std::error_code>();
    ca->on_disconnect([late](std::error_code ec) { *late = ec; });
    CHECK(*late == sse::error::disconnected);
}

TEST_CASE("on_disconnect fires once when both ends close at once", "[lifecycle][b11]") {
    fixture f(quiet_options(), 2);
    auto& ns = f.ns("/s");
    constexpr int rounds = 20;
    std::vector<std::unique_ptr<disconnect_log>> logs;
    std::vector<opened> os;
    std::vector<sse::client_ptr> cs;
    for (int i = 0; i < rounds; ++i) {
        os.push_back(f.open("/s"));
        cs.push_back(ns.find_client(os.back().id));
        REQUIRE(cs.back());
        logs.push_back(std::make_unique<disconnect_log>());
        logs.back()->attach(*cs.back());
    }
    for (int i = 0; i < rounds; ++i) {
        std::atomic<bool> go{false};
        std::thread server_side([&] {
            while (!go) {
            }
            cs[i]->disconnect();
        });
        go = true;
        os[i].reader.close();
        server_side.join();
    }
    REQUIRE(eventually([&] { return ns.client_count() == 0; }));
    for (auto& l : logs) {
        REQUIRE(eventually([&] { return l->count() >= 1; }));
    }
    std::this_thread::sleep_for(50ms); // give a second (wrong) call the time to happen
    for (auto& l : logs)
        CHECK(l->count() == 1);
}

TEST_CASE("client_count follows connects and disconnects", "[lifecycle][b11]") {
    fixture f;
    auto& ns = f.ns("/s");
    std::vector<opened> os;
    for (std::size_t i = 1; i <= 5; ++i) {
        os.push_back(f.open("/s"));
        CHECK(ns.client_count() == i);
        CHECK(ns.clients().size() == i);
        CHECK(ns.stats().clients == i);
    }
    for (std::size_t i = 0; i < 5; ++i) {
        os[i].reader.close();
        REQUIRE(eventually([&] { return ns.client_count() == 4 - i; }));
    }
    CHECK(ns.stats().connections == 5);
}

TEST_CASE("a client sending junk after its request is cut off", "[lifecycle][b11]") {
    fixture f;
    auto& ns = f.ns("/s");
    auto a = f.open("/s");
    disconnect_log log;
    log.attach(*ns.find_client(a.id));
    // A little (pipelining) is tolerated...
    a.reader.send("GET /s HTTP/1.1\r\nHost: x\r\n\r\n");
    a.reader.pump_for(50ms);
    CHECK(ns.client_count() == 1);
    // ...a flood is not.
    std::string junk(16 * 1024, 'j');
    for (int i = 0; i < 8 && !a.reader.is_closed(); ++i) {
        try {
            a.reader.send(junk);
        } catch (std::runtime_error const&) {
            break; // the server already closed
        }
    }
    REQUIRE(eventually([&] { return log.count() == 1; }));
    CHECK(log.first() == sse::error::protocol_violation);
    CHECK(ns.client_count() == 0);
}

// ---- io.close() and destruction (behaviour 12) -------------------------------------------

TEST_CASE("io.close() sends a spread retry hint, then closes every stream", "[lifecycle][b12]") {
    auto opts = quiet_options();
    opts.close_retry_min = 1000ms;
    opts.close_retry_max = 10000ms;
    fixture f(opts);
    auto& ns = f.ns("/s");
    auto& other = f.ns("/other");
    std::vector<opened> os;
    std::vector<std::unique_ptr<disconnect_log>> logs;
    for (int i = 0; i < 10; ++i) {
        os.push_back(f.open(i % 2 ? "/s" : "/other"));
        auto c = (i % 2 ? ns : other).find_client(os.back().id);
        REQUIRE(c);
        logs.push_back(std::make_unique<disconnect_log>());
        logs.back()->attach(*c);
    }
    f.io->close();
    std::set<std::uint64_t> hints;
    for (auto& o : os) {
        auto hint = o.reader.next_retry();
        REQUIRE(hint);
        CHECK(*hint >= 1000);
        CHECK(*hint <= 10000);
        hints.insert(*hint);
        CHECK(o.reader.closed());
    }
    CHECK(hints.size() >= 2); // spread, not one value for everyone
    for (auto& l : logs) {
        REQUIRE(eventually([&] { return l->count() == 1; }));
        CHECK(l->first() == sse::error::server_closed);
    }
    CHECK(ns.client_count() == 0);
    CHECK(other.client_count() == 0);

    // Afterwards: emits are no-ops, a connect is told to come back later (EventSource would
    // stop for good on a 503), close is idempotent.
    CHECK_NOTHROW(ns.emit("late", {{"n", 1}}));
    sse_reader late(f.port, "/s");
    CHECK(late.status() == 200);
    CHECK(late.closed());
    auto late_hint = late.next_retry(0ms);
    REQUIRE(late_hint);
    CHECK(*late_hint >= 1000);
    CHECK(*late_hint <= 10000);
    CHECK(late.events_seen() == 0);
    CHECK_NOTHROW(f.io->close());
}

TEST_CASE("io.close() with no window sends no retry hint", "[lifecycle][b12]") {
    auto opts = quiet_options();
    opts.close_retry_min = 0ms;
    opts.close_retry_max = 0ms;
    fixture f(opts);
    auto a = f.open("/s");
    f.io->close();
    REQUIRE(a.reader.closed());
    CHECK(a.reader.retries_seen() == 0);
}

TEST_CASE("io.close() flushes events queued before it", "[lifecycle][b12]") {
    fixture f;
    auto& ns = f.ns("/s");
    auto a = f.open("/s");
    for (int i = 0; i < 20; ++i)
        ns.emit("burst", {{"i", i}});
    f.io->close();
    REQUIRE(a.reader.closed());
    auto events = a.reader.events(20, 0ms);
    CHECK(events.size() == 20);
    CHECK(a.reader.retries_seen() == 1);
}

TEST_CASE("destroying a server with live connections is safe", "[lifecycle][b12]") {
    fixture f(with_heartbeat(10ms), 2);
    auto& ns = f.ns("/s");
    std::mutex m;
    std::vector<sse::next> pending;
    ns.use([&](sse::client& c, sse::next next) {
        if (c.handshake().has_query("hold")) {
            std::lock_guard<std::mutex> lock(m);
            pending.push_back(std::move(next));
            return;
        }
        next();
    });
    std::vector<opened> os;
    for (int i = 0; i < 5; ++i) {
        os.push_back(f.open("/s"));
        ns.find_client(os.back().id)->join("room");
    }
    sse_reader held(f.port, "/s?hold=1");
    REQUIRE(eventually([&] {
        std::lock_guard<std::mutex> lock(m);
        return pending.size() == 1;
    }));
    thread_group emitter;
    // Keeps emitting through a handle that outlives the server: a silent no-op then.
    emitter.spawn([&stop = emitter.stop, op = ns.to("room")] {
        while (!stop)
            op.emit("tick", sse::text(std::string(512, 'x')));
    });
    std::this_thread::sleep_for(20ms);
    f.destroy_server();
    for (auto& o : os)
        CHECK(o.reader.closed());
    emitter.join();
    {
        std::lock_guard<std::mutex> lock(m);
        for (auto& n : pending)
            n(); // admission after the server is gone
    }
    // Never admitted: no `connection` event, only the "come back later" answer.
    CHECK(held.closed());
    CHECK(held.events_seen() == 0);
    if (held.status() == 200) CHECK(held.next_retry(0ms));
}

TEST_CASE("stopping the io_context, then destroying the server, is safe", "[lifecycle][b12]") {
    // An app's shutdown: ioc.stop(), then its objects go in reverse order. (Asio requires
    // I/O objects to go before their io_context, so the server is destroyed before it.)
    auto ts = std::make_unique<test_server>(2);
    auto io = std::make_unique<sse::server>(ts->get_executor(), with_heartbeat(10ms));
    auto& ns = io->of("/s");
    auto port =
        ts->listen([&](plain_stream&& s, request&& r) { ns.connect(std::move(s), std::move(r)); });
    std::vector<sse_reader> rs;
    for (int i = 0; i < 3; ++i) {
        rs.emplace_back(port, "/s");
        REQUIRE(rs.back().status() == 200);
    }
    ns.emit("x", {{"n", 1}});
    ts->stop();
    CHECK_NOTHROW(ns.emit("after", {{"n", 2}})); // queued on a stopped io_context
    io.reset();
    ts.reset(); // handlers still pending, holding clients, are destroyed here
    for (auto& r : rs)
        CHECK(r.closed());
}

TEST_CASE("a close still queued when the io_context stops does not keep its client alive",
          "[lifecycle][b12]") {
    auto ts = std::make_unique<test_server>(1);
    auto io = std::make_unique<sse::server>(ts->get_executor(), quiet_options());
    auto& ns = io->of("/s");
    auto port =
        ts->listen([&](plain_stream&& s, request&& r) { ns.connect(std::move(s), std::move(r)); });
    sse_reader r(port, "/s");
    REQUIRE(r.status() == 200);
    REQUIRE(eventually([&] { return ns.client_count() == 1; }));
    auto c = ns.clients().front();
    std::weak_ptr<sse::client> watch = c;
    // A handler that holds its own client: a cycle that only the handler's end breaks.
    c->on_disconnect([c](std::error_code) { (void)c->id(); });
    ts->stop();
    c->disconnect(); // posted to a stopped io_context: never runs
    c.reset();
    io.reset();
    ts.reset(); // the queued close is destroyed here, and with it the handler
    CHECK(watch.expired());
}

// ---- slow consumers ---------------------------------------------------------------------

TEST_CASE("a client that never reads is dropped at max_buffered_bytes; others keep receiving",
          "[lifecycle][slow]") {
    auto opts = quiet_options();
    opts.max_buffered_bytes = 64 * 1024;
    fixture f(opts);
    auto& ns = f.ns("/s");
    reader_options tiny;
    tiny.receive_buffer = 4096;
    auto slow = f.open("/s", {}, tiny);
    auto fast = f.open("/s");
    auto slow_client = ns.find_client(slow.id);
    REQUIRE(slow_client);
    slow_client->join("room");
    ns.find_client(fast.id)->join("room");
    disconnect_log log;
    log.attach(*slow_client);

    std::string const payload(16 * 1024, 'p');
    int sent = 0;
    // One event at a time, each read by the fast client before the next: only the slow
    // client's queue grows (its socket buffers fill first, then its queue).
    while (log.count() == 0 && sent < 2000) {
        ns.to("room").emit("big", sse::text(payload));
        ++sent;
        auto e = fast.reader.next_event();
        REQUIRE(e);
        REQUIRE(e->data.size() == payload.size());
        REQUIRE(slow_client->buffered_bytes() <= opts.max_buffered_bytes);
    }
    REQUIRE(log.count() == 1);
    CHECK(log.first() == sse::error::slow_consumer);
    CHECK(log.first() == sse::condition::overloaded);
    CHECK(ns.stats().slow_consumers == 1);
    CHECK(ns.client_count() == 1);
    CHECK(ns.room("room").size() == 1);

    // The fast client goes on as before (still one event at a time: a burst of 10 x 16 KiB
    // would pass its own 64 KiB bound, legitimately).
    for (int i = 0; i < 10; ++i) {
        ns.to("room").emit("big", sse::text(payload));
        auto e = fast.reader.next_event();
        REQUIRE(e);
        CHECK(e->data.size() == payload.size());
    }
    CHECK(ns.stats().slow_consumers == 1);
    auto fast_client = ns.find_client(fast.id);
    REQUIRE(fast_client);
    CHECK(fast_client->connected());
    INFO("events sent before the slow client was dropped: " << sent);
}
