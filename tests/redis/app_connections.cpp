// Connections the application makes (issue #4): `redis_options::connect` (a factory called
// for every connection attempt) and `redis_adapter(ex, redis_contexts, opts)` (two contexts
// made beforehand), against real redis-servers: Unix socket, restart, handshake from the
// URL, contexts the adapter must refuse, ownership and descriptors.
#include <sse/redis_adapter.hpp>

#include "support/catch.hpp"

#include "redis_support.hpp"

#include <sse/detail/random_id.hpp>

#include <hiredis/async.h>

#include <cstdio>
#include <mutex>
#include <stdexcept>

using namespace redis_test;

namespace {

// The server side of a node, reduced to a count of the remote emits that reached it.
struct counting_host final : sse::adapter_host {
    void deliver_remote(std::string_view, std::vector<std::string> const&,
                        std::vector<std::string> const&,
                        std::shared_ptr<sse::encoded_event> event) override {
        std::lock_guard<std::mutex> lock(mutex);
        names.emplace_back(event->name());
    }
    void deliver_sequenced(std::string_view, std::vector<std::string> const&,
                           std::vector<std::string> const&, std::shared_ptr<sse::encoded_event>,
                           std::uint64_t) override {}
    std::uint64_t last_delivered(std::string_view) const override { return 0; }
    void reset_clients(std::string_view, std::vector<std::string> const&,
                       std::string_view) override {}
    std::vector<std::pair<std::string, std::string>> local_interests() const override { return {}; }
    std::size_t count() const {
        std::lock_guard<std::mutex> lock(mutex);
        return names.size();
    }
    mutable std::mutex mutex;
    std::vector<std::string> names;
};

struct no_local final : sse::local_delivery {
    void deliver(sse::broadcast_packet const&) override {}
};

// One node whose adapter is made by `make` (so each test picks the constructor).
struct app_node {
    template <class Make>
    explicit app_node(Make&& make)
        : host(std::make_shared<counting_host>()) {
        adapter = make(io.get_executor());
        adapter->attach(host);
        adapter->namespace_added("/n");
    }
    ~app_node() {
        adapter->close();
        CHECK(io.drain());
        adapter.reset();
    }
    sse::redis_state state() const { return adapter->state(); }
    bool synced() const {
        auto s = state();
        return s.connected && s.pending_subscriptions == 0 && s.subscribed_channels == 1;
    }
    void emit(std::string const& name) {
        sse::event_ptr ev = sse::encoded_event::make(name, 1);
        std::vector<std::string> none;
        adapter->broadcast(sse::broadcast_packet{"/n", none, none, ev, {}}, local);
    }

    io_thread io;
    std::shared_ptr<counting_host> host;
    std::shared_ptr<sse::redis_adapter> adapter;
    no_local local;
};

sse::redis_options quiet_options(std::string const& prefix) {
    sse::redis_options o;
    o.channel_prefix = prefix;
    o.reconnect_min = std::chrono::milliseconds(20);
    o.reconnect_max = std::chrono::milliseconds(200);
    o.log = [](sse::redis_log_level, std::string_view) {};
    return o;
}

std::string fresh_prefix() {
    return "a" + sse::detail::random_id(8);
}

std::string unix_socket_path() {
    return "/tmp/sse-redis-test-" + sse::detail::random_id(8) + ".sock";
}

// A factory to 127.0.0.1:port counting its calls per role.
struct tcp_factory {
    unsigned short port;
    std::shared_ptr<std::atomic<int>> publisher_calls = std::make_shared<std::atomic<int>>(0);
    std::shared_ptr<std::atomic<int>> subscriber_calls = std::make_shared<std::atomic<int>>(0);

    redisAsyncContext* operator()(sse::redis_role role) const {
        ++*(role == sse::redis_role::publisher ? publisher_calls : subscriber_calls);
        return redisAsyncConnect("127.0.0.1", port);
    }
};

} // namespace

TEST_CASE("redis app connections: a factory on a Unix socket talks to a node on TCP",
          "[redis][app_connections]") {
    auto const path = unix_socket_path();
    redis_process server({"--unixsocket", path, "--unixsocketperm", "700"});
    auto const prefix = fresh_prefix();
    std::atomic<int> calls{0};
    app_node a([&](net::any_io_executor ex) {
        auto o = quiet_options(prefix);
        o.connect = [&calls, path](sse::redis_role) {
            ++calls;
            return redisAsyncConnectUnix(path.c_str());
        };
        return std::make_shared<sse::redis_adapter>(ex, std::move(o));
    });
    app_node b([&](net::any_io_executor ex) {
        auto o = quiet_options(prefix);
        o.url = server.url();
        return std::make_shared<sse::redis_adapter>(ex, std::move(o));
    });
    REQUIRE(eventually([&] { return a.synced() && b.synced(); }));
    CHECK(calls == 2); // one context per link
    a.emit("from-unix");
    b.emit("from-tcp");
    REQUIRE(eventually([&] { return a.host->count() == 1 && b.host->count() == 1; }));
    CHECK(a.host->names == std::vector<std::string>{"from-tcp"});
    // The adapter still names its connections (CLIENT SETNAME) on the app's contexts.
    CHECK_THAT(redis_command(server.port(), {"CLIENT", "LIST"}),
               Catch::Matchers::Contains(std::string("sse:") + std::string(a.adapter->node_id())));
    std::remove(path.c_str());
}

TEST_CASE("redis app connections: Redis restarted, the factory makes the new connections",
          "[redis][app_connections][restart]") {
    redis_process server;
    auto const prefix = fresh_prefix();
    tcp_factory factory{server.port()};
    app_node a([&](net::any_io_executor ex) {
        auto o = quiet_options(prefix);
        o.connect = factory;
        return std::make_shared<sse::redis_adapter>(ex, std::move(o));
    });
    app_node b([&](net::any_io_executor ex) {
        auto o = quiet_options(prefix);
        o.url = server.url();
        return std::make_shared<sse::redis_adapter>(ex, std::move(o));
    });
    REQUIRE(eventually([&] { return a.synced() && b.synced(); }));
    b.emit("before");
    REQUIRE(eventually([&] { return a.host->count() == 1; }));

    server.kill();
    REQUIRE(eventually([&] { return !a.state().connected && !b.state().connected; }));
    // Refused attempts: each one is a new context from the factory, freed by the adapter.
    REQUIRE(eventually([&] { return a.state().connect_failures >= 4; }));
    REQUIRE(server.start());
    REQUIRE(eventually([&] { return a.synced() && b.synced(); }));
    CHECK(a.state().reconnects == 2);
    CHECK(*factory.publisher_calls >= 2);
    CHECK(*factory.subscriber_calls >= 2);
    CHECK(*factory.publisher_calls + *factory.subscriber_calls ==
          2 + 2 + static_cast<int>(a.state().connect_failures));

    b.emit("after");
    a.emit("from-a");
    REQUIRE(eventually([&] { return a.host->count() == 2 && b.host->count() == 1; }));
    CHECK(a.host->names.back() == "after");
}

TEST_CASE("redis app connections: the URL still gives the password and the database",
          "[redis][app_connections]") {
    redis_process server({"--requirepass", "right"});
    SECTION("right password, database 3") {
        app_node a([&](net::any_io_executor ex) {
            auto o = quiet_options(fresh_prefix());
            o.url = "redis://:right@/3"; // no host: the factory connects
            o.connect = tcp_factory{server.port()};
            return std::make_shared<sse::redis_adapter>(ex, std::move(o));
        });
        REQUIRE(eventually([&] { return a.synced(); }));
        auto list = redis_command(server.port(), {"CLIENT", "LIST"}, "right");
        auto const name = "name=sse:" + std::string(a.adapter->node_id()) + ":pub";
        auto const at = list.find(name);
        REQUIRE(at != std::string::npos);
        auto const line = list.substr(list.rfind('\n', at) + 1);
        CHECK_THAT(line.substr(0, line.find('\n')), Catch::Matchers::Contains(" db=3 "));
    }
    SECTION("wrong password: refused, retried, never connected") {
        app_node a([&](net::any_io_executor ex) {
            auto o = quiet_options(fresh_prefix());
            o.url = "redis://:wrong@127.0.0.1";
            o.connect = tcp_factory{server.port()};
            return std::make_shared<sse::redis_adapter>(ex, std::move(o));
        });
        REQUIRE(eventually([&] { return a.state().connect_failures >= 4; }));
        CHECK_FALSE(a.state().connected);
        CHECK_THAT(a.state().last_error, Catch::Matchers::Contains("refused AUTH"));
    }
}

TEST_CASE("redis app connections: contexts the adapter cannot use are failed attempts",
          "[redis][app_connections]") {
    auto const prefix = fresh_prefix();
    auto const port = shared_redis_port();
    std::mutex m;
    std::vector<std::string> errors;
    redisAsyncContext* foreign = nullptr; // attached elsewhere: must be left alone
    int foreign_marker = 0;
    std::size_t const before = fd_count();
    {
        std::atomic<int> call{0};
        app_node a([&](net::any_io_executor ex) {
            auto o = quiet_options(prefix);
            o.on_state_change = [&](sse::redis_state const& s) {
                std::lock_guard<std::mutex> lock(m);
                if (!s.last_error.empty() && (errors.empty() || errors.back() != s.last_error))
                    errors.push_back(s.last_error);
            };
            // Only the publisher gets the bad contexts, one after the other.
            o.connect = [&, port](sse::redis_role role) -> redisAsyncContext* {
                if (role == sse::redis_role::subscriber)
                    return redisAsyncConnect("127.0.0.1", port);
                switch (call++) {
                case 0:
                    return nullptr;
                case 1:
                    throw std::runtime_error("no master known yet");
                case 2: {
                    auto* ac = redisAsyncConnect("127.0.0.1", port);
                    redisAsyncSetConnectCallback(ac, [](redisAsyncContext const*, int) {});
                    return ac;
                }
                case 3: {
                    foreign = redisAsyncConnect("127.0.0.1", port);
                    foreign->ev.data = &foreign_marker; // "another event library"
                    return foreign;
                }
                case 4:
                    return redisAsyncConnect("127.0.0.1", 1); // refused by the OS
                default:
                    return redisAsyncConnect("127.0.0.1", port);
                }
            };
            return std::make_shared<sse::redis_adapter>(ex, std::move(o));
        });
        REQUIRE(eventually([&] { return a.synced(); }));
        CHECK(a.state().connect_failures == 5);
        CHECK(call == 6);
    }
    {
        std::lock_guard<std::mutex> lock(m);
        REQUIRE(errors.size() >= 5);
        CHECK_THAT(errors[0], Catch::Matchers::Contains("returned no hiredis context"));
        CHECK_THAT(errors[1], Catch::Matchers::Contains("threw: no master known yet"));
        CHECK_THAT(errors[2], Catch::Matchers::Contains("connect or disconnect callback"));
        CHECK_THAT(errors[3], Catch::Matchers::Contains("event library attached"));
        CHECK_THAT(errors[4], Catch::Matchers::Contains("127.0.0.1:1"));
    }
    // The foreign context was not touched; it is still ours to free.
    REQUIRE(foreign != nullptr);
    CHECK(foreign->ev.data == &foreign_marker);
    CHECK(foreign->data == nullptr);
    foreign->ev.data = nullptr;
    redisAsyncFree(foreign);
    CHECK(fd_count() == before); // every refused context was freed
}

TEST_CASE("redis app connections: two contexts given up front", "[redis][app_connections]") {
    redis_process server;
    auto const prefix = fresh_prefix();
    app_node b([&](net::any_io_executor ex) {
        auto o = quiet_options(prefix);
        o.url = server.url();
        return std::make_shared<sse::redis_adapter>(ex, std::move(o));
    });
    SECTION("used first; without a factory a lost link stays down, local delivery goes on") {
        app_node a([&](net::any_io_executor ex) {
            sse::redis_contexts given{redisAsyncConnect("127.0.0.1", server.port()),
                                      redisAsyncConnect("127.0.0.1", server.port())};
            return std::make_shared<sse::redis_adapter>(ex, given, quiet_options(prefix));
        });
        REQUIRE(eventually([&] { return a.synced() && b.synced(); }));
        b.emit("one");
        REQUIRE(eventually([&] { return a.host->count() == 1; }));

        server.kill();
        REQUIRE(server.start());
        REQUIRE(eventually([&] { return b.synced(); }));
        REQUIRE(eventually(
            [&] { return a.state().last_error.find("not reconnecting") != std::string::npos; }));
        CHECK_FALSE(a.state().connected);
        CHECK(a.state().connect_failures == 0); // no attempt made: nothing to make one with
        b.emit("two");
        a.emit("local only"); // no crash, no publish
        std::this_thread::sleep_for(200ms);
        CHECK(a.host->count() == 1);
    }
    SECTION("used first, then the factory reconnects") {
        tcp_factory factory{server.port()};
        app_node a([&](net::any_io_executor ex) {
            sse::redis_contexts given{redisAsyncConnect("127.0.0.1", server.port()),
                                      redisAsyncConnect("127.0.0.1", server.port())};
            auto o = quiet_options(prefix);
            o.connect = factory;
            return std::make_shared<sse::redis_adapter>(ex, given, std::move(o));
        });
        REQUIRE(eventually([&] { return a.synced() && b.synced(); }));
        CHECK(*factory.publisher_calls + *factory.subscriber_calls == 0);
        server.kill();
        REQUIRE(server.start());
        REQUIRE(eventually([&] { return a.synced() && b.synced(); }));
        CHECK(*factory.publisher_calls >= 1);
        CHECK(*factory.subscriber_calls >= 1);
        b.emit("after");
        REQUIRE(eventually([&] { return a.host->count() == 1; }));
    }
}

TEST_CASE("redis app connections: given contexts are freed even if never used; misuse throws",
          "[redis][app_connections]") {
    io_thread io;
    io.run([&] { net::steady_timer t(io.context()); });
    auto const before = fd_count();
    auto const port = shared_redis_port();
    {
        sse::redis_contexts given{redisAsyncConnect("127.0.0.1", port),
                                  redisAsyncConnect("127.0.0.1", port)};
        CHECK(fd_count() == before + 2);
        sse::redis_adapter a(io.get_executor(), given, quiet_options(fresh_prefix()));
        a.close(); // at once: whether or not the strand attached them yet, they are freed
    }
    CHECK(io.drain());
    CHECK(fd_count() == before);

    net::io_context ioc;
    auto* ac = redisAsyncConnect("127.0.0.1", port);
    CHECK_THROWS_WITH((sse::redis_adapter(ioc.get_executor(), sse::redis_contexts{ac, ac})),
                      Catch::Matchers::StartsWith("[sse.redis_contexts]"));
    CHECK_THROWS_WITH((sse::redis_adapter(ioc.get_executor(), sse::redis_contexts{ac, nullptr})),
                      Catch::Matchers::StartsWith("[sse.redis_contexts]"));
    redisAsyncFree(ac); // still ours after a throw
}

#ifdef REDIS_OPT_NOAUTOFREE
TEST_CASE("redis app connections: hiredis 1.x contexts made with REDIS_OPT_NOAUTOFREE",
          "[redis][app_connections][restart]") {
    // hiredis does not free such a context when its connection is lost, nor report the loss
    // through the disconnect callback: the adapter must still notice, free it and reconnect.
    redis_process server;
    auto const prefix = fresh_prefix();
    auto const port = server.port();
    auto const before = fd_count();
    {
        app_node a([&](net::any_io_executor ex) {
            auto o = quiet_options(prefix);
            o.connect = [port](sse::redis_role) {
                redisOptions ro{};
                REDIS_OPTIONS_SET_TCP(&ro, "127.0.0.1", port);
                ro.options |= REDIS_OPT_NOAUTOFREE;
                return redisAsyncConnectWithOptions(&ro);
            };
            return std::make_shared<sse::redis_adapter>(ex, std::move(o));
        });
        app_node b([&](net::any_io_executor ex) {
            auto o = quiet_options(prefix);
            o.url = server.url();
            return std::make_shared<sse::redis_adapter>(ex, std::move(o));
        });
        REQUIRE(eventually([&] { return a.synced() && b.synced(); }));
        server.kill();
        REQUIRE(eventually([&] { return !a.state().connected; }));
        REQUIRE(server.start());
        REQUIRE(eventually([&] { return a.synced() && b.synced(); }));
        CHECK(a.state().reconnects == 2);
        b.emit("after");
        REQUIRE(eventually([&] { return a.host->count() == 1; }));
    }
    CHECK(fd_count() == before); // the lost contexts were freed
}
#endif
