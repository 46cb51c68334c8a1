// Integration: the middleware chain decides admission before any response byte (issue #3,
// behaviour 4).
#include "fixture.hpp"

#include <condition_variable>
#include <vector>

using namespace sse_test;

namespace {

/// Thread-safe record of what happened, in order.
struct journal {
    void add(std::string s) {
        std::lock_guard<std::mutex> lock(m);
        entries.push_back(std::move(s));
    }
    std::vector<std::string> get() const {
        std::lock_guard<std::mutex> lock(m);
        return entries;
    }
    std::size_t size() const { return get().size(); }
    mutable std::mutex m;
    std::vector<std::string> entries;
};

/// Holds a `next` handed out by a middleware until the test releases it.
struct parked {
    void park(sse::next n, sse::client& c) {
        std::lock_guard<std::mutex> lock(m);
        next.emplace(std::move(n));
        who = c.shared_from_this();
        cv.notify_all();
    }
    bool wait(std::chrono::milliseconds timeout = 3s) {
        std::unique_lock<std::mutex> lock(m);
        return cv.wait_for(lock, timeout, [&] { return next.has_value(); });
    }
    std::optional<sse::next> take() {
        std::lock_guard<std::mutex> lock(m);
        auto n = std::move(next);
        next.reset();
        return n;
    }
    std::mutex m;
    std::condition_variable cv;
    std::optional<sse::next> next;
    std::weak_ptr<sse::client> who;
};

} // namespace

TEST_CASE("middlewares run in registration order, then on_connection", "[middleware][b4]") {
    fixture f;
    auto& ns = f.ns("/s");
    journal j;
    ns.use([&](sse::client&, sse::next next) {
        j.add("mw1");
        next();
    });
    ns.use([&](sse::client&, sse::next next) {
        j.add("mw2");
        next();
    });
    ns.use([&](sse::client&, sse::next next) {
        j.add("mw3");
        next();
    });
    ns.on_connection([&](sse::client_ptr) { j.add("connection"); });
    auto c = f.open("/s");
    REQUIRE(eventually([&] { return j.size() == 4; }));
    CHECK(j.get() == std::vector<std::string>{"mw1", "mw2", "mw3", "connection"});
}

TEST_CASE("no response byte is written while a middleware is pending", "[middleware][b4]") {
    fixture f;
    auto& ns = f.ns("/s");
    parked p;
    journal j;
    ns.use([&](sse::client& c, sse::next next) { p.park(std::move(next), c); });
    ns.use([&](sse::client&, sse::next next) {
        j.add("mw2");
        next();
    });
    sse_reader r(f.port, "/s");
    REQUIRE(p.wait());
    r.pump_for(100ms);
    CHECK(r.raw().empty());
    CHECK(j.size() == 0);
    CHECK(ns.client_count() == 0);

    // next() from a thread that is not the io_context's.
    auto n = p.take();
    REQUIRE(n);
    std::thread([n = *n] { n(); }).join();
    REQUIRE(r.status() == 200);
    auto e = r.next_event();
    REQUIRE(e);
    CHECK(e->event == "connection");
    CHECK(j.get() == std::vector<std::string>{"mw2"});
    CHECK(ns.client_count() == 1);
}

TEST_CASE("next() called later from another thread admits the client", "[middleware][b4]") {
    fixture f;
    auto& ns = f.ns("/s");
    std::atomic<int> connections{0};
    thread_group helpers;
    std::mutex helpers_mutex;
    ns.use([&](sse::client&, sse::next next) {
        std::lock_guard<std::mutex> lock(helpers_mutex);
        helpers.spawn([next] {
            std::this_thread::sleep_for(20ms); // an auth service answering later
            next();
        });
    });
    ns.on_connection([&](sse::client_ptr) { ++connections; });
    auto a = f.open("/s");
    auto b = f.open("/s");
    CHECK(a.id != b.id);
    CHECK(eventually([&] { return connections == 2; }));
    std::lock_guard<std::mutex> lock(helpers_mutex);
    helpers.join();
}

TEST_CASE("calling next() twice admits once", "[middleware][b4]") {
    fixture f;
    auto& ns = f.ns("/s");
    std::atomic<int> second_mw{0}, connections{0};
    ns.use([&](sse::client&, sse::next next) {
        next();
        next();
        next(sse::reject(403, "too late")); // ignored: the chain already moved on
    });
    ns.use([&](sse::client&, sse::next next) {
        ++second_mw;
        next();
    });
    ns.on_connection([&](sse::client_ptr) { ++connections; });
    auto c = f.open("/s");
    REQUIRE(eventually([&] { return connections == 1; }));
    c.reader.pump_for(50ms);
    CHECK(second_mw == 1);
    CHECK(connections == 1);
    CHECK(ns.client_count() == 1);
    CHECK(c.reader.events_seen() == 1);
}

namespace {

struct rejection_case {
    unsigned status;
    std::string body;
    std::string content_type;
};

/// Rejects every client with `r`, counting later middlewares and connections.
struct rejecting {
    explicit rejecting(fixture& f, sse::reject r)
        : ns(f.ns("/s")) {
        ns.use([this, r](sse::client& c, sse::next next) {
            c.on_disconnect([d = disconnects] { ++*d; });
            next(r);
        });
        ns.use([this](sse::client&, sse::next next) {
            ++later_middleware;
            next();
        });
        ns.on_connection([this](sse::client_ptr) { ++connections; });
    }
    sse::namespace_& ns;
    std::atomic<int> later_middleware{0}, connections{0};
    counter disconnects = make_counter();
};

} // namespace

TEST_CASE("next(reject) answers a real HTTP error and closes, before any 200", "[middleware][b4]") {
    auto const c =
        GENERATE(rejection_case{401, "Unauthorized", "text/plain; charset=utf-8"},
                 rejection_case{403, "Forbidden: not a subscriber", "text/plain; charset=utf-8"},
                 rejection_case{429, R"({"error":"slow down"})", "application/json"});
    CAPTURE(c.status);
    fixture f;
    rejecting rj(f, sse::reject(c.status, c.body, c.content_type));
    sse_reader r(f.port, "/s");
    REQUIRE(r.status() == c.status);
    CHECK(r.header("Content-Type") == c.content_type);
    CHECK(r.header("Content-Length") == std::to_string(c.body.size()));
    CHECK(r.read_body() == c.body);
    CHECK(r.closed());
    CHECK(r.raw().find("text/event-stream") == std::string::npos);
    CHECK(r.raw().find("200 OK") == std::string::npos);
    CHECK(r.events_seen() == 0);

    CHECK(rj.later_middleware == 0);
    CHECK(rj.ns.client_count() == 0);
    CHECK(rj.ns.stats().rejected == 1);
    CHECK(rj.ns.stats().connections == 0);
    // A rejected client is never registered: nothing the namespace sends reaches it.
    CHECK(eventually([&] { return *rj.disconnects == 1; }));
    CHECK(rj.connections == 0);
}

TEST_CASE("reject(204) tells EventSource to stop: 204 with no body", "[middleware][b4]") {
    fixture f;
    rejecting rj(f, sse::reject(204, "ignored body"));
    sse_reader r(f.port, "/s");
    REQUIRE(r.status() == 204);
    CHECK(r.closed());
    CHECK(r.wire().empty());
    CHECK_FALSE(r.header("Content-Type"));
    auto cl = r.header("Content-Length");
    CHECK((!cl || *cl == "0"));
    CHECK(rj.connections == 0);
    CHECK(rj.ns.client_count() == 0);
}

TEST_CASE("a middleware that throws is a 500 rejection", "[middleware][b4]") {
    fixture f;
    auto& ns = f.ns("/s");
    std::atomic<int> connections{0}, later{0};
    ns.use([](sse::client&, sse::next) { throw std::runtime_error("database down"); });
    ns.use([&](sse::client&, sse::next next) {
        ++later;
        next();
    });
    ns.on_connection([&](sse::client_ptr) { ++connections; });
    sse_reader r(f.port, "/s");
    REQUIRE(r.status() == 500);
    CHECK(r.closed());
    CHECK(r.raw().find("database down") == std::string::npos); // no internals leak out
    CHECK(later == 0);
    CHECK(connections == 0);
    CHECK(ns.client_count() == 0);
    CHECK(ns.stats().rejected == 1);
}

TEST_CASE("a rejection decided later on another thread", "[middleware][b4]") {
    fixture f;
    auto& ns = f.ns("/s");
    parked p;
    ns.use([&](sse::client& c, sse::next next) { p.park(std::move(next), c); });
    sse_reader r(f.port, "/s");
    REQUIRE(p.wait());
    r.pump_for(50ms);
    CHECK(r.raw().empty());
    auto n = p.take();
    std::thread([n = *n] { n(sse::reject(401, "Unauthorized")); }).join();
    CHECK(r.status() == 401);
    CHECK(r.read_body() == "Unauthorized");
    CHECK(r.closed());
    CHECK(ns.client_count() == 0);
}

TEST_CASE("a client whose socket closes while its middleware is pending is never registered",
          "[middleware][b4]") {
    fixture f;
    auto& ns = f.ns("/s");
    parked p;
    std::atomic<int> connections{0};
    auto disconnects = make_counter();
    ns.use([&](sse::client& c, sse::next next) {
        c.on_disconnect([disconnects] { ++*disconnects; });
        p.park(std::move(next), c);
    });
    ns.on_connection([&](sse::client_ptr) { ++connections; });
    {
        sse_reader r(f.port, "/s");
        REQUIRE(p.wait());
        r.close();
    }
    // The pending read notices the close.
    REQUIRE(eventually([&] { return *disconnects == 1; }));
    auto n = p.take();
    REQUIRE(n);
    (*n)(); // the auth service answers after the browser left
    n.reset();
    ns.emit("after", {{"n", 1}});

    CHECK(ns.client_count() == 0);
    CHECK(ns.clients().empty());
    CHECK(ns.stats().connections == 0);
    CHECK(ns.stats().deliveries == 0);
    // Nothing keeps the client alive any more: no leak.
    CHECK(eventually([&] { return p.who.expired(); }));
    CHECK(connections == 0);
    CHECK(*disconnects == 1);
}

TEST_CASE("rooms joined in a middleware apply on admission", "[middleware][b4]") {
    fixture f;
    auto& ns = f.ns("/s");
    ns.use([](sse::client& c, sse::next next) {
        c.join("vip");
        c.join({"football", "arsenal"});
        CHECK(c.rooms() == std::vector<std::string>{c.id(), "vip", "football", "arsenal"});
        next();
    });
    std::atomic<bool> rooms_ok{false};
    ns.on_connection([&](sse::client_ptr c) {
        auto r = c->rooms();
        rooms_ok = r.size() == 4 && std::find(r.begin(), r.end(), "vip") != r.end();
    });
    auto c = f.open("/s");
    CHECK(eventually([&] { return rooms_ok.load(); }));
    CHECK(ns.rooms() == std::vector<std::string>{"arsenal", "football", "vip"});
    auto vip = ns.room("vip");
    REQUIRE(vip.size() == 1);
    CHECK(vip.front()->id() == c.id);
    ns.to("vip").emit("welcome", {{"tier", "gold"}});
    auto e = c.reader.next_event();
    REQUIRE(e);
    CHECK(e->event == "welcome");
}

TEST_CASE("rooms joined by a rejected client are never created", "[middleware][b4]") {
    fixture f;
    auto& ns = f.ns("/s");
    ns.use([](sse::client& c, sse::next next) {
        c.join("secret");
        next(sse::reject(403, "Forbidden"));
    });
    sse_reader r(f.port, "/s");
    REQUIRE(r.status() == 403);
    CHECK(r.closed());
    CHECK(ns.rooms().empty());
    CHECK(ns.room("secret").empty());
}

TEST_CASE("a closed namespace tells new clients to come back later, not 503",
          "[middleware][b4][b12]") {
    auto opts = quiet_options();
    opts.close_retry_min = 3000ms;
    opts.close_retry_max = 4000ms;
    fixture f(opts);
    auto& ns = f.ns("/s");
    std::atomic<int> mw{0}, connections{0};
    ns.use([&](sse::client&, sse::next next) {
        ++mw;
        next();
    });
    ns.on_connection([&](sse::client_ptr) { ++connections; });
    ns.close();
    sse_reader r(f.port, "/s");
    // EventSource keeps reconnecting after a 200 stream that ends; a 503 would stop it for good.
    CHECK(r.status() == 200);
    CHECK(r.header("Content-Type") == "text/event-stream");
    REQUIRE(r.closed(5s));
    auto hint = r.next_retry(0ms);
    REQUIRE(hint);
    CHECK(*hint >= 3000);
    CHECK(*hint <= 4000);
    CHECK(r.events_seen() == 0);
    CHECK(mw == 0);
    CHECK(connections == 0);
    CHECK(ns.client_count() == 0);
}

TEST_CASE("rejections carry the CORS headers so the page can read the status", "[middleware][b9]") {
    auto opts = quiet_options();
    opts.cors = sse::cors_options("https://scores.example", true);
    fixture f(opts);
    f.ns("/s").use([](sse::client&, sse::next next) { next(sse::reject(401, "Unauthorized")); });
    sse_reader r(f.port, "/s", {{"Origin", "https://scores.example"}});
    REQUIRE(r.status() == 401);
    CHECK(r.header("Access-Control-Allow-Origin") == "https://scores.example");
    CHECK(r.header("Access-Control-Allow-Credentials") == "true");
    CHECK(r.header("Vary") == "Origin");
    CHECK(r.read_body() == "Unauthorized");
}
