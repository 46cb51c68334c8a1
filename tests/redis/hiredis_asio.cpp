// The hiredis <-> Asio glue against a real redis-server: connect, handshake, pipelined
// PUBLISH, SUBSCRIBE pushes, big replies, errors, timeouts, and descriptors given back.
#include <sse/detail/hiredis_asio.hpp>

#include "support/catch.hpp"

#include "redis_support.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <mutex>
#include <string>
#include <vector>

using namespace redis_test;
using sse::detail::redis_connection;
using sse::detail::redis_endpoint;
using sse::detail::redis_strand;

namespace {

// Records what a connection reports. Callbacks arrive on the strand; the test reads under the
// mutex.
struct recorder final : sse::detail::redis_connection_handler {
    void on_connection_ready(redis_connection&) override {
        std::lock_guard<std::mutex> lock(mutex);
        ++ready;
    }
    void on_connection_down(redis_connection&, std::string const& reason) override {
        std::lock_guard<std::mutex> lock(mutex);
        downs.push_back(reason);
    }
    void on_connection_reply(redis_connection&, redisReply const& r, int tag) override {
        std::lock_guard<std::mutex> lock(mutex);
        ++replies;
        if (tag == 1 && r.type == REDIS_REPLY_ARRAY && r.elements == 3 &&
            std::string_view(r.element[0]->str, r.element[0]->len) == "message")
            messages.emplace_back(r.element[2]->str, r.element[2]->len);
        if (tag == 1 && r.type == REDIS_REPLY_ARRAY && r.elements == 3 &&
            std::string_view(r.element[0]->str, r.element[0]->len) == "subscribe")
            ++subscribed;
        if (tag == 0 && r.type == REDIS_REPLY_INTEGER) ++publish_acks;
    }

    template <class T>
    T get(T recorder::*field) {
        std::lock_guard<std::mutex> lock(mutex);
        return this->*field;
    }

    std::mutex mutex;
    int ready = 0;
    int subscribed = 0;
    std::size_t replies = 0;
    std::size_t publish_acks = 0;
    std::vector<std::string> downs;
    std::vector<std::string> messages;
};

redis_endpoint endpoint(unsigned short port, std::string host = "127.0.0.1") {
    redis_endpoint ep;
    ep.host = std::move(host);
    ep.port = port;
    return ep;
}

// One connection, created, used and destroyed on the io_context's thread.
struct test_link {
    test_link(io_thread& io, redis_endpoint const& ep, std::chrono::milliseconds timeout = 2s)
        : io(io)
        , strand(net::make_strand(io.get_executor()))
        , rec(std::make_shared<recorder>()) {
        io.run([&] {
            conn = std::make_shared<redis_connection>(strand, rec, "sse:test");
            conn->start(ep, timeout);
        });
    }
    ~test_link() {
        io.run([&] {
            if (conn) conn->close();
            conn.reset();
        });
    }
    test_link(test_link const&) = delete;
    test_link& operator=(test_link const&) = delete;

    // Runs a command on the io thread; true when hiredis took it.
    bool command(int tag, std::initializer_list<std::string_view> args) {
        bool ok = false;
        io.run([&] { ok = conn->command(tag, args); });
        return ok;
    }

    io_thread& io;
    redis_strand strand;
    std::shared_ptr<recorder> rec;
    std::shared_ptr<redis_connection> conn;
};

std::string first_down(recorder& r) {
    std::lock_guard<std::mutex> lock(r.mutex);
    return r.downs.empty() ? std::string() : r.downs.front();
}

} // namespace

TEST_CASE("hiredis on asio: pipelined PUBLISH reaches a SUBSCRIBE, in order", "[redis][glue]") {
    io_thread io;
    test_link sub(io, endpoint(shared_redis_port()));
    test_link pub(io, endpoint(shared_redis_port()));
    REQUIRE(eventually([&] { return sub.rec->get(&recorder::ready) == 1; }));
    REQUIRE(eventually([&] { return pub.rec->get(&recorder::ready) == 1; }));

    std::string const channel = "glue-test-" + std::to_string(::getpid());
    REQUIRE(sub.command(1, {"SUBSCRIBE", channel}));
    REQUIRE(eventually([&] { return sub.rec->get(&recorder::subscribed) == 1; }));

    constexpr int n = 10000;
    // All written in one strand turn: hiredis sends them in as few writes as the socket takes.
    int written = 0;
    io.run([&] {
        for (int i = 0; i < n; ++i)
            written += pub.conn->command(0, {"PUBLISH", channel, std::to_string(i)}) ? 1 : 0;
    });
    REQUIRE(written == n);
    REQUIRE(eventually([&] { return pub.rec->get(&recorder::publish_acks) == n; }));
    REQUIRE(eventually([&] { return sub.rec->get(&recorder::messages).size() == n; }));
    auto got = sub.rec->get(&recorder::messages);
    for (int i = 0; i < n; ++i)
        REQUIRE(got[static_cast<std::size_t>(i)] == std::to_string(i));
    CHECK(sub.rec->get(&recorder::downs).empty());
    CHECK(pub.rec->get(&recorder::downs).empty());
}

TEST_CASE("hiredis on asio: replies far larger than one read arrive whole", "[redis][glue]") {
    io_thread io;
    test_link sub(io, endpoint(shared_redis_port()));
    test_link pub(io, endpoint(shared_redis_port()));
    REQUIRE(eventually([&] {
        return sub.rec->get(&recorder::ready) == 1 && pub.rec->get(&recorder::ready) == 1;
    }));
    std::string const channel = "glue-big-" + std::to_string(::getpid());
    REQUIRE(sub.command(1, {"SUBSCRIBE", channel}));
    REQUIRE(eventually([&] { return sub.rec->get(&recorder::subscribed) == 1; }));

    // hiredis reads 16 KiB at a time: 3 MiB of messages must not stall on the last bytes.
    std::string big(1 << 20, 'x');
    for (char c : {'a', 'b', 'c'}) {
        big[0] = c;
        REQUIRE(pub.command(0, {"PUBLISH", channel, big}));
    }
    REQUIRE(eventually([&] { return sub.rec->get(&recorder::messages).size() == 3; }));
    auto got = sub.rec->get(&recorder::messages);
    for (std::size_t i = 0; i < 3; ++i) {
        CHECK(got[i].size() == big.size());
        CHECK(got[i][0] == "abc"[i]);
    }
}

TEST_CASE("hiredis on asio: a host name is resolved without blocking", "[redis][glue]") {
    io_thread io;
    test_link l(io, endpoint(shared_redis_port(), "localhost"));
    REQUIRE(eventually([&] { return l.rec->get(&recorder::ready) == 1; }));
}

TEST_CASE("hiredis on asio: connection refused is reported, not thrown", "[redis][glue]") {
    io_thread io;
    test_link l(io, endpoint(free_port()));
    REQUIRE(eventually([&] { return !l.rec->get(&recorder::downs).empty(); }));
    CHECK(l.rec->get(&recorder::ready) == 0);
    CHECK_THAT(first_down(*l.rec), Catch::Matchers::Contains("Connection refused"));
    CHECK_THAT(first_down(*l.rec),
               Catch::Matchers::Contains("cannot connect to Redis at 127.0.0.1:"));
}

TEST_CASE("hiredis on asio: a refused AUTH is a clear error", "[redis][glue]") {
    redis_process server({"--requirepass", "right"});
    io_thread io;
    auto ep = endpoint(server.port());
    ep.has_password = true;
    ep.password = "wrong";
    test_link l(io, ep);
    REQUIRE(eventually([&] { return !l.rec->get(&recorder::downs).empty(); }));
    CHECK(l.rec->get(&recorder::ready) == 0);
    CHECK_THAT(first_down(*l.rec), Catch::Matchers::Contains("refused AUTH"));
    CHECK_THAT(first_down(*l.rec), Catch::Matchers::Contains("WRONGPASS"));

    ep.password = "right";
    ep.db = 3;
    test_link ok(io, ep);
    REQUIRE(eventually([&] { return ok.rec->get(&recorder::ready) == 1; }));
}

TEST_CASE("hiredis on asio: a server that never answers times out", "[redis][glue]") {
    io_thread io;
    // Accepts in the kernel (listen backlog) but never reads: the handshake hangs.
    net::ip::tcp::acceptor silent(io.context(), {net::ip::make_address("127.0.0.1"), 0});
    test_link l(io, endpoint(silent.local_endpoint().port()), 300ms);
    REQUIRE(eventually([&] { return !l.rec->get(&recorder::downs).empty(); }, 3s));
    CHECK(l.rec->get(&recorder::ready) == 0);
    CHECK_THAT(first_down(*l.rec), Catch::Matchers::Contains("timed out after 300 ms"));
    io.run([&] { silent.close(); });
}

TEST_CASE("hiredis on asio: a killed connection is reported once", "[redis][glue]") {
    io_thread io;
    test_link l(io, endpoint(shared_redis_port()));
    REQUIRE(eventually([&] { return l.rec->get(&recorder::ready) == 1; }));
    std::string const name = "sse-glue-kill-" + std::to_string(::getpid());
    l.command(-1, {"CLIENT", "SETNAME", name});
    REQUIRE(eventually([&] {
        return redis_command(shared_redis_port(), {"CLIENT", "LIST"}).find(name) !=
               std::string::npos;
    }));
    // CLIENT KILL by address would need it; by name is not in Redis 7.0: kill via the list.
    auto list = redis_command(shared_redis_port(), {"CLIENT", "LIST"});
    auto at = list.find("name=" + name);
    REQUIRE(at != std::string::npos);
    auto line_start = list.rfind("id=", at);
    auto id = list.substr(line_start + 3, list.find(' ', line_start) - line_start - 3);
    CHECK(redis_command(shared_redis_port(), {"CLIENT", "KILL", "ID", id}) == "1");
    REQUIRE(eventually([&] { return !l.rec->get(&recorder::downs).empty(); }));
    CHECK_THAT(first_down(*l.rec), Catch::Matchers::Contains("lost the connection"));
    CHECK_FALSE(l.command(0, {"PING"}));
    CHECK(l.rec->get(&recorder::downs).size() == 1);
}

TEST_CASE("hiredis on asio: closing gives every descriptor back", "[redis][glue]") {
    io_thread io;
    // Asio opens its reactor's descriptors (epoll, eventfd, timerfd) with the first I/O object.
    io.run([&] { net::steady_timer warm_up(io.context()); });
    std::size_t const before = fd_count();
    std::vector<std::unique_ptr<test_link>> links;
    for (int i = 0; i < 20; ++i)
        links.push_back(std::make_unique<test_link>(io, endpoint(shared_redis_port())));
    REQUIRE(eventually([&] {
        for (auto& l : links)
            if (l->rec->get(&recorder::ready) != 1) return false;
        return true;
    }));
    CHECK(fd_count() >= before + 20);
    // Half closed explicitly, half destroyed (the destructor frees the context).
    io.run([&] {
        for (std::size_t i = 0; i < links.size(); i += 2)
            links[i]->conn->close();
    });
    io.run([&] {
        for (auto& l : links)
            l->conn.reset();
    });
    links.clear();
    REQUIRE(eventually([&] { return fd_count() == before; }));
    INFO("descriptors before " << before << ", after " << fd_count());
}
