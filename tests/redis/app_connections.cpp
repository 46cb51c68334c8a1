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
#include <functional>
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
                           std::uint64_t, std::string_view) override {}
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
struct app_node : adapter_node<counting_host, no_local> {
    template <class Make>
    explicit app_node(Make&& make)
        : adapter_node(std::forward<Make>(make)) {
        adapter->namespace_added("/n");
    }
    bool synced() const {
        auto s = state();
        return s.connected && s.pending_subscriptions == 0 && s.subscribed_channels == 1;
    }
    void emit(std::string const& name) {
        sse::event_ptr ev = sse::encoded_event::make(name, 1);
        std::vector<std::string> none;
        adapter->broadcast(sse::broadcast_packet{"/n", none, none, ev, {}}, local);
    }
};

// Makes the adapter with the test's options on `prefix`, as `set` adjusts them.
template <class Set>
auto with_options(std::string const& prefix, Set set) {
    return [prefix, set](net::any_io_executor ex) {
        auto o = test_options(prefix);
        set(o);
        return std::make_shared<sse::redis_adapter>(ex, std::move(o));
    };
}

// Makes the adapter on `url`, the usual way.
auto on_url(std::string const& url, std::string const& prefix) {
    return with_options(prefix, [url](sse::redis_options& o) { o.url = url; });
}

std::string app_prefix() {
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
        return tcp_context(port);
    }
};

} // namespace

TEST_CASE("redis app connections: a factory on a Unix socket talks to a node on TCP",
          "[redis][app_connections]") {
    auto const path = unix_socket_path();
    redis_process server({"--unixsocket", path, "--unixsocketperm", "700"});
    auto const prefix = app_prefix();
    std::atomic<int> calls{0};
    app_node a(with_options(prefix, [&](sse::redis_options& o) {
        o.connect = [&calls, path](sse::redis_role) {
            ++calls;
            return redisAsyncConnectUnix(path.c_str());
        };
    }));
    app_node b(on_url(server.url(), prefix));
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
    auto const prefix = app_prefix();
    tcp_factory factory{server.port()};
    app_node a(with_options(prefix, [&](sse::redis_options& o) { o.connect = factory; }));
    app_node b(on_url(server.url(), prefix));
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
        app_node a(with_options(app_prefix(), [&](sse::redis_options& o) {
            o.url = "redis://:right@/3"; // no host: the factory connects
            o.connect = tcp_factory{server.port()};
        }));
        REQUIRE(eventually([&] { return a.synced(); }));
        auto list = redis_command(server.port(), {"CLIENT", "LIST"}, "right");
        auto const name = "name=sse:" + std::string(a.adapter->node_id()) + ":pub";
        auto const at = list.find(name);
        REQUIRE(at != std::string::npos);
        auto const line = list.substr(list.rfind('\n', at) + 1);
        CHECK_THAT(line.substr(0, line.find('\n')), Catch::Matchers::Contains(" db=3 "));
    }
    SECTION("wrong password: refused, retried, never connected") {
        app_node a(with_options(app_prefix(), [&](sse::redis_options& o) {
            o.url = "redis://:wrong@127.0.0.1";
            o.connect = tcp_factory{server.port()};
        }));
        REQUIRE(eventually([&] { return a.state().connect_failures >= 4; }));
        CHECK_FALSE(a.state().connected);
        CHECK_THAT(a.state().last_error, Catch::Matchers::Contains("refused AUTH"));
    }
}

TEST_CASE("redis app connections: contexts the adapter cannot use are failed attempts",
          "[redis][app_connections]") {
    auto const prefix = app_prefix();
    auto const port = shared_redis_port();
    std::mutex m;
    std::vector<std::string> errors;
    redisAsyncContext* foreign = nullptr; // attached elsewhere: must be left alone
    int foreign_marker = 0;
    // The refusals, in the order the publisher's factory makes them: the context, and what
    // the adapter's error then says.
    struct refusal {
        char const* what;
        std::function<redisAsyncContext*()> make;
        char const* error;
    };
    std::vector<refusal> const refusals = {
        {"no context", []() -> redisAsyncContext* { return nullptr; },
         "returned no hiredis context"},
        {"the factory throws",
         []() -> redisAsyncContext* { throw std::runtime_error("no master known yet"); },
         "threw: no master known yet"},
        {"a connect callback already set",
         [port] {
             auto* ac = tcp_context(port);
             redisAsyncSetConnectCallback(ac, [](redisAsyncContext const*, int) {});
             return ac;
         },
         "connect or disconnect callback"},
        {"another event library attached",
         [&] {
             foreign = tcp_context(port);
             foreign->ev.data = &foreign_marker;
             return foreign;
         },
         "event library attached"},
        {"refused by the OS", [] { return tcp_context(1); }, "127.0.0.1:1"},
    };
    std::size_t const before = fd_count();
    {
        std::atomic<int> call{0};
        app_node a(with_options(prefix, [&](sse::redis_options& o) {
            o.on_state_change = [&](sse::redis_state const& s) {
                std::lock_guard<std::mutex> lock(m);
                if (!s.last_error.empty() && (errors.empty() || errors.back() != s.last_error))
                    errors.push_back(s.last_error);
            };
            // Only the publisher gets the bad contexts, one after the other.
            o.connect = [&, port](sse::redis_role role) -> redisAsyncContext* {
                if (role == sse::redis_role::subscriber) return tcp_context(port);
                auto const i = static_cast<std::size_t>(call++);
                return i < refusals.size() ? refusals[i].make() : tcp_context(port);
            };
        }));
        REQUIRE(eventually([&] { return a.synced(); }));
        CHECK(a.state().connect_failures == refusals.size());
        CHECK(call == static_cast<int>(refusals.size()) + 1);
    }
    {
        std::lock_guard<std::mutex> lock(m);
        REQUIRE(errors.size() >= refusals.size());
        for (std::size_t i = 0; i < refusals.size(); ++i) {
            INFO(refusals[i].what);
            CHECK_THAT(errors[i], Catch::Matchers::Contains(refusals[i].error));
        }
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
    auto const prefix = app_prefix();
    app_node b(on_url(server.url(), prefix));
    SECTION("used first; without a factory a lost link stays down, local delivery goes on") {
        app_node a([&](net::any_io_executor ex) {
            return std::make_shared<sse::redis_adapter>(ex, tcp_contexts(server.port()),
                                                        test_options(prefix));
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
            auto o = test_options(prefix);
            o.connect = factory;
            return std::make_shared<sse::redis_adapter>(ex, tcp_contexts(server.port()),
                                                        std::move(o));
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
        auto const given = tcp_contexts(port);
        CHECK(fd_count() == before + 2);
        sse::redis_adapter a(io.get_executor(), given, test_options(app_prefix()));
        a.close(); // at once: whether or not the strand attached them yet, they are freed
    }
    CHECK(io.drain());
    CHECK(fd_count() == before);

    net::io_context ioc;
    auto* ac = tcp_context(port);
    struct misuse {
        char const* what;
        sse::redis_contexts given;
    };
    for (auto const& m :
         {misuse{"one context twice", {ac, ac}}, misuse{"no subscriber context", {ac, nullptr}}}) {
        INFO(m.what);
        CHECK_THROWS_WITH((sse::redis_adapter(ioc.get_executor(), m.given)),
                          Catch::Matchers::StartsWith("[sse.redis_contexts]"));
    }
    redisAsyncFree(ac); // still ours after a throw
}

#ifdef REDIS_OPT_NOAUTOFREE
TEST_CASE("redis app connections: hiredis 1.x contexts made with REDIS_OPT_NOAUTOFREE",
          "[redis][app_connections][restart]") {
    // hiredis does not free such a context when its connection is lost, nor report the loss
    // through the disconnect callback: the adapter must still notice, free it and reconnect.
    redis_process server;
    auto const prefix = app_prefix();
    auto const port = server.port();
    auto const before = fd_count();
    {
        app_node a(with_options(prefix, [port](sse::redis_options& o) {
            o.connect = [port](sse::redis_role) {
                redisOptions ro{};
                REDIS_OPTIONS_SET_TCP(&ro, "127.0.0.1", port);
                ro.options |= REDIS_OPT_NOAUTOFREE;
                return redisAsyncConnectWithOptions(&ro);
            };
        }));
        app_node b(on_url(server.url(), prefix));
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
