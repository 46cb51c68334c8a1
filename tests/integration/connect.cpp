// Integration: what a client sees when it connects (issue #3, behaviours 1, 2, 3, 9, 10).
#include "fixture.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <set>

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/socket.h>

using namespace sse_test;

TEST_CASE("connect answers 200 with the event-stream headers and stays open", "[connect][b1]") {
    fixture f;
    f.ns("/s");
    sse_reader r(f.port, "/s");
    REQUIRE(r.status() == 200);
    CHECK(r.header("Content-Type") == "text/event-stream");
    CHECK(r.header("Cache-Control") == "no-cache");
    CHECK(r.header("X-Accel-Buffering") == "no");
    CHECK_FALSE(r.header("Content-Length"));
    CHECK_FALSE(r.header("Transfer-Encoding")); // the body is the raw stream, not chunked
    CHECK(r.raw().rfind("HTTP/1.1 200 OK\r\n", 0) == 0);

    // Still open a while later, and still delivering.
    r.pump_for(150ms);
    CHECK_FALSE(r.is_closed());
    f.ns("/s").emit("later", {{"n", 1}});
    std::optional<sse_event> e;
    do
        e = r.next_event();
    while (e && e->event == "connection");
    REQUIRE(e);
    CHECK(e->event == "later");
    CHECK_FALSE(r.is_closed());
}

TEST_CASE("the app's routing decides which requests reach connect", "[connect][b1]") {
    fixture f;
    auto& ns = f.ns("/s");
    sse_reader other(f.port, "/app/page");
    CHECK(other.status() == 404);
    CHECK(other.read_body() == "not a stream");
    CHECK(ns.stats().connections == 0);
    CHECK(ns.stats().rejected == 0);

    auto c = f.open("/s");
    CHECK(ns.stats().connections == 1);
}

TEST_CASE("the first event is `connection` with the client id", "[connect][b2]") {
    fixture f;
    std::mutex m;
    std::string seen_id;
    f.ns("/s").on_connection([&](sse::client_ptr c) {
        std::lock_guard<std::mutex> lock(m);
        seen_id = c->id();
    });
    sse_reader r(f.port, "/s");
    REQUIRE(r.status() == 200);
    auto e = r.next_event();
    REQUIRE(e);
    CHECK(e->event == "connection");
    auto data = nlohmann::json::parse(e->data);
    REQUIRE(data.is_object());
    CHECK(data.size() == 1);
    REQUIRE(eventually([&] {
        std::lock_guard<std::mutex> lock(m);
        return !seen_id.empty();
    }));
    std::lock_guard<std::mutex> lock(m);
    CHECK(data.at("clientId") == seen_id);
    // Exactly this on the wire, nothing before it.
    CHECK(r.wire() == "event: connection\ndata: {\"clientId\":\"" + seen_id + "\"}\n\n");
}

TEST_CASE("opts.retry adds a retry field before the first event", "[connect][b2]") {
    auto opts = quiet_options();
    opts.retry = 1500ms;
    fixture f(opts);
    auto c = f.open("/s");
    CHECK(c.reader.retries_seen() == 1);
    REQUIRE(!c.reader.pending_retries().empty());
    CHECK(c.reader.pending_retries().front() == 1500);
    CHECK(c.reader.wire().rfind("retry: 1500\n\nevent: connection\n", 0) == 0);
}

TEST_CASE("no retry field when opts.retry is zero", "[connect][b2]") {
    fixture f;
    auto c = f.open("/s");
    CHECK(c.reader.retries_seen() == 0);
    CHECK(c.reader.wire().find("retry:") == std::string_view::npos);
}

TEST_CASE("the connection event can be turned off", "[connect][b2]") {
    auto opts = quiet_options();
    opts.connection_event = false;
    fixture f(opts);
    auto& ns = f.ns("/s");
    sse_reader r(f.port, "/s");
    REQUIRE(r.status() == 200);
    REQUIRE(eventually([&] { return ns.client_count() == 1; }));
    ns.emit("first", {{"n", 1}});
    auto e = r.next_event();
    REQUIRE(e);
    CHECK(e->event == "first");
    CHECK(r.wire().find("connection") == std::string_view::npos);
}

TEST_CASE("client ids are unique, long, alphanumeric and unrelated", "[connect][b3]") {
    fixture f;
    auto& ns = f.ns("/s");
    std::vector<opened> clients;
    std::set<std::string> ids;
    for (int i = 0; i < 40; ++i) {
        clients.push_back(f.open("/s"));
        ids.insert(clients.back().id);
    }
    CHECK(ids.size() == clients.size());
    for (auto const& id : ids) {
        CHECK(id.size() >= 20);
        CHECK(std::all_of(id.begin(), id.end(),
                          [](char ch) { return std::isalnum(static_cast<unsigned char>(ch)); }));
    }
    // Consecutive ids share no structure: the same character at the same position happens by
    // chance (1 in 62), so over 39 pairs of 22 characters about 14 coincidences are expected.
    // A counter, a clock or a common prefix would give hundreds.
    std::size_t same = 0, positions = 0;
    for (std::size_t i = 1; i < clients.size(); ++i) {
        auto const& a = clients[i - 1].id;
        auto const& b = clients[i].id;
        for (std::size_t k = 0; k < std::min(a.size(), b.size()); ++k, ++positions)
            same += a[k] == b[k] ? 1 : 0;
    }
    CHECK(same < positions / 10);
    CHECK(ns.client_count() == clients.size());
}

TEST_CASE("every client is in a private room named by its id", "[connect][b3]") {
    fixture f;
    auto& ns = f.ns("/s");
    auto a = f.open("/s");
    auto b = f.open("/s");

    auto in_a = ns.room(a.id);
    REQUIRE(in_a.size() == 1);
    CHECK(in_a.front()->id() == a.id);
    REQUIRE(ns.find_client(a.id));
    CHECK(ns.find_client(a.id)->rooms().front() == a.id);
    CHECK(ns.rooms().empty()); // private rooms are not listed as shared rooms

    ns.to(a.id).emit("private", {{"to", "a"}});
    ns.emit("marker", {{"n", 1}});
    auto ea = a.reader.next_event();
    REQUIRE(ea);
    CHECK(ea->event == "private");
    CHECK(json_of(*ea) == nlohmann::json{{"to", "a"}});
    auto eb = b.reader.next_event();
    REQUIRE(eb);
    CHECK(eb->event == "marker"); // b never saw a's private event
}

TEST_CASE("handshake snapshot: headers, decoded query, target, remote endpoint", "[connect][b10]") {
    fixture f;
    std::mutex m;
    sse::handshake hs;
    std::string last_event_id;
    f.ns("/s").use([&](sse::client& c, sse::next next) {
        {
            std::lock_guard<std::mutex> lock(m);
            hs = c.handshake();
            last_event_id = std::string(c.last_event_id());
        }
        next();
    });
    std::string const target = "/s?token=a%20b%2Bc&name=J%C3%BCrgen+Klopp&flag&dup=1&dup=2";
    auto c = f.open(target, {{"X-Custom-Header", "Value 1"}, {"Last-Event-ID", "41"}});
    std::lock_guard<std::mutex> lock(m);
    CHECK(hs.header("x-custom-header") == "Value 1");
    CHECK(hs.header("X-CUSTOM-HEADER") == "Value 1");
    CHECK(hs.has_header("x-Custom-header"));
    CHECK(hs.header("accept") == "text/event-stream");
    CHECK_FALSE(hs.has_header("authorization"));
    CHECK(hs.header("authorization").empty());
    CHECK(hs.query("token") == "a b+c");
    CHECK(hs.query("name") == "J\xC3\xBCrgen Klopp");
    CHECK(hs.has_query("flag"));
    CHECK(hs.query("flag").empty());
    CHECK(hs.query("dup") == "1");
    CHECK_FALSE(hs.has_query("missing"));
    CHECK(hs.target() == target);
    CHECK(hs.path() == "/s");
    CHECK(hs.method() == "GET");
    CHECK(hs.version() == 11);
    CHECK(hs.remote_endpoint().address().to_string() == "127.0.0.1");
    CHECK(hs.remote_endpoint().port() == c.reader.local_port());
    CHECK(last_event_id == "41");
}

TEST_CASE("Last-Event-ID may come from the lastEventId query parameter", "[connect][b10]") {
    fixture f;
    std::mutex m;
    std::string last;
    f.ns("/s").on_connection([&](sse::client_ptr c) {
        std::lock_guard<std::mutex> lock(m);
        last = std::string(c->last_event_id());
    });
    auto c = f.open("/s?lastEventId=77");
    REQUIRE(eventually([&] {
        std::lock_guard<std::mutex> lock(m);
        return last == "77";
    }));
}

namespace {
sse::options with_cors(sse::cors_options c) {
    auto o = quiet_options();
    o.cors = std::move(c);
    return o;
}
} // namespace

TEST_CASE("CORS: no header when not configured", "[connect][b9]") {
    fixture f;
    auto c = f.open("/s", {{"Origin", "https://evil.example"}});
    CHECK_FALSE(c.reader.header("Access-Control-Allow-Origin"));
    CHECK_FALSE(c.reader.header("Access-Control-Allow-Credentials"));
    CHECK_FALSE(c.reader.header("Vary"));
}

TEST_CASE("CORS: a fixed origin", "[connect][b9]") {
    fixture f(with_cors(sse::cors_options("https://scores.example")));
    auto c = f.open("/s", {{"Origin", "https://scores.example"}});
    CHECK(c.reader.header("Access-Control-Allow-Origin") == "https://scores.example");
    CHECK_FALSE(c.reader.header("Access-Control-Allow-Credentials"));
    CHECK(c.reader.header("Vary") == "Origin");
    CHECK(c.reader.header_count("Access-Control-Allow-Origin") == 1);
}

TEST_CASE("CORS: credentials", "[connect][b9]") {
    fixture f(with_cors(sse::cors_options("https://scores.example", true)));
    auto c = f.open("/s", {{"Origin", "https://scores.example"}});
    CHECK(c.reader.header("Access-Control-Allow-Origin") == "https://scores.example");
    CHECK(c.reader.header("Access-Control-Allow-Credentials") == "true");
    CHECK(c.reader.header("Vary") == "Origin");
}

TEST_CASE("CORS: '*' with credentials echoes the request's origin", "[connect][b9]") {
    fixture f(with_cors(sse::cors_options("*", true)));
    auto c = f.open("/s", {{"Origin", "https://a.example"}});
    CHECK(c.reader.header("Access-Control-Allow-Origin") == "https://a.example");
    CHECK(c.reader.header("Access-Control-Allow-Credentials") == "true");
}

TEST_CASE("CORS: an allowed list echoes a listed origin only", "[connect][b9]") {
    fixture f(with_cors(sse::cors_options::allow_list({"https://a.example", "https://b.example"})));
    SECTION("listed") {
        auto c = f.open("/s", {{"Origin", "https://b.example"}});
        CHECK(c.reader.header("Access-Control-Allow-Origin") == "https://b.example");
        CHECK(c.reader.header("Vary") == "Origin");
    }
    SECTION("not listed") {
        auto c = f.open("/s", {{"Origin", "https://evil.example"}});
        CHECK_FALSE(c.reader.header("Access-Control-Allow-Origin"));
        CHECK(c.reader.header("Vary") == "Origin");
    }
    SECTION("no Origin header") {
        auto c = f.open("/s");
        CHECK_FALSE(c.reader.header("Access-Control-Allow-Origin"));
    }
}

TEST_CASE("same namespace name gives the same namespace", "[connect]") {
    fixture f;
    CHECK(&f.ns("/s") == &f.ns("/s"));
    CHECK(&f.ns("/s") != &f.ns("/t"));
    CHECK_THROWS_AS(f.io->of("no-slash"), std::invalid_argument);
}

namespace {
/// The flags of this process's descriptor for the accepted end of `reader`'s connection
/// (found in /proc/self/fd by its addresses), or -1 if there is none.
int server_end_fd_flags(sse_reader const& reader) {
    sockaddr_in mine{};
    socklen_t len = sizeof mine;
    if (::getsockname(reader.native_handle(), reinterpret_cast<sockaddr*>(&mine), &len) != 0)
        return -1;
    for (auto const& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
        int const fd = std::atoi(entry.path().filename().c_str());
        sockaddr_in peer{};
        socklen_t plen = sizeof peer;
        if (fd == reader.native_handle() ||
            ::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &plen) != 0 ||
            peer.sin_family != AF_INET || peer.sin_port != mine.sin_port)
            continue;
        return ::fcntl(fd, F_GETFD);
    }
    return -1;
}
} // namespace

TEST_CASE("a stream's socket is not inherited by a child the app execs", "[connect]") {
    fixture f;
    f.ns("/s");
    sse_reader r(f.port, "/s");
    REQUIRE(r.status() == 200);
    int const flags = server_end_fd_flags(r);
    REQUIRE(flags != -1);
    CHECK((flags & FD_CLOEXEC) != 0);
}
