// Integration: TLS streams (beast::ssl_stream<beast::tcp_stream>), alone and sharing rooms
// with plain clients (issue #3, "Streams").
#include "fixture.hpp"

using namespace sse_test;

namespace {

reader_options tls_reader() {
    reader_options o;
    o.tls = true;
    return o;
}

/// A fixture whose app also listens for HTTPS and streams it into the same server.
struct tls_fixture : fixture {
    explicit tls_fixture(sse::options opts = quiet_options())
        : fixture(opts) {
        tls_port = ts.listen_tls([this](tls_stream&& s, request&& r) {
            std::lock_guard<std::mutex> lock(mutex);
            if (!io) return;
            std::string path(r.target().substr(0, r.target().find('?')));
            io->of(path).connect(std::move(s), std::move(r));
        });
    }

    opened open_tls(std::string const& target = "/s") {
        sse_reader r(tls_port, target, {}, tls_reader());
        REQUIRE(r.status() == 200);
        auto hello = r.next_event();
        REQUIRE(hello);
        REQUIRE(hello->event == "connection");
        return {std::move(r), json_of(*hello).at("clientId").get<std::string>()};
    }

    unsigned short tls_port = 0;
};

} // namespace

TEST_CASE("a TLS client gets the same stream as a plain one", "[tls][b1][b2]") {
    tls_fixture f;
    auto c = f.open_tls("/s");
    CHECK(c.reader.header("Content-Type") == "text/event-stream");
    CHECK_FALSE(c.reader.header("Content-Length"));
    CHECK(c.id.size() >= 20);
    auto& ns = f.ns("/s");
    auto h = ns.find_client(c.id);
    REQUIRE(h);
    CHECK(h->handshake().remote_endpoint().port() == c.reader.local_port());
    ns.emit("hello", sse::text("over\ntls"));
    auto e = c.reader.next_event();
    REQUIRE(e);
    CHECK(e->data == "over\ntls");
}

TEST_CASE("TLS and plain clients share one namespace and one room", "[tls][b6]") {
    tls_fixture f;
    auto& ns = f.ns("/s");
    auto secure = f.open_tls("/s");
    auto plain = f.open("/s");
    auto other = f.open("/s");
    ns.find_client(secure.id)->join("room");
    ns.find_client(plain.id)->join("room");
    CHECK(ns.room("room").size() == 2);

    for (int i = 0; i < 50; ++i)
        ns.to("room").emit("tick", {{"i", i}});
    ns.emit("marker", {{"n", 1}});
    for (auto* r : {&secure.reader, &plain.reader}) {
        auto events = r->events(51);
        REQUIRE(events.size() == 51);
        for (int i = 0; i < 50; ++i)
            CHECK(json_of(events[static_cast<std::size_t>(i)])["i"] == i);
        CHECK(events.back().event == "marker");
    }
    auto e = other.reader.next_event();
    REQUIRE(e);
    CHECK(e->event == "marker");
    // Both kinds get byte-identical events.
    auto from_id = [](sse_reader& r) {
        return std::string(r.wire().substr(r.wire().find("id: ")));
    };
    CHECK(from_id(secure.reader) == from_id(plain.reader));
}

TEST_CASE("a TLS peer's close is noticed; a TLS client can be rejected", "[tls][b4][b11]") {
    tls_fixture f;
    auto& ns = f.ns("/s");
    ns.use([](sse::client& c, sse::next next) {
        if (c.handshake().has_query("deny")) return next(sse::reject(401, "Unauthorized"));
        next();
    });
    auto c = f.open_tls("/s");
    auto gone = make_counter();
    ns.find_client(c.id)->on_disconnect([gone] { ++*gone; });
    c.reader.close();
    REQUIRE(eventually([&] { return *gone == 1; }, 1s));
    CHECK(ns.client_count() == 0);

    sse_reader denied(f.tls_port, "/s?deny=1", {}, tls_reader());
    CHECK(denied.status() == 401);
    CHECK(denied.read_body() == "Unauthorized");
    CHECK(denied.closed());
}

TEST_CASE("io.close() ends TLS streams with the retry hint", "[tls][b12]") {
    auto opts = quiet_options();
    opts.close_retry_min = 200ms;
    opts.close_retry_max = 400ms;
    tls_fixture f(opts);
    auto c = f.open_tls("/s");
    f.io->close();
    auto hint = c.reader.next_retry();
    REQUIRE(hint);
    CHECK(*hint >= 200);
    CHECK(*hint <= 400);
    CHECK(c.reader.closed());
}
