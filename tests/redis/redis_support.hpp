// tests/redis/redis_support.hpp - what the Redis tests share: where the fixture's
// redis-server listens, private redis-server processes for tests that kill or configure
// their own, an io_context on a thread, bounded waits, a descriptor count, hiredis contexts
// and adapter options for a test, and an adapter node with a host standing in for the server.
#ifndef SSE_TESTS_REDIS_SUPPORT_HPP
#define SSE_TESTS_REDIS_SUPPORT_HPP

#include <sse/redis_adapter.hpp>

#include "support/catch.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <dirent.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace redis_test {

namespace net = boost::asio;
using namespace std::chrono_literals;

/// Polls `pred` every millisecond until it holds or `timeout` passes; returns `pred()`.
/// For facts with no event to wait on (a counter on another thread).
template <class Pred>
bool eventually(Pred&& pred, std::chrono::milliseconds timeout = 5s) {
    auto const deadline = std::chrono::steady_clock::now() + timeout;
    while (!pred()) {
        if (std::chrono::steady_clock::now() >= deadline) return pred();
        std::this_thread::sleep_for(1ms);
    }
    return true;
}

/// An io_context running on one thread until destroyed.
class io_thread {
public:
    io_thread()
        : work_(net::make_work_guard(ioc_))
        , thread_([this] {
            ioc_.run();
            finished_ = true;
        }) {}
    ~io_thread() { stop(); }
    io_thread(io_thread const&) = delete;
    io_thread& operator=(io_thread const&) = delete;

    net::io_context& context() noexcept { return ioc_; }
    net::any_io_executor get_executor() noexcept { return ioc_.get_executor(); }

    /** Lets the io_context run out of work (pending handlers still run), then joins. Returns
        false when work was still pending after `timeout` (a timer or wait someone leaked);
        the io_context is then stopped. */
    bool drain(std::chrono::milliseconds timeout = 5s) {
        work_.reset();
        bool const ran_out = eventually([&] { return finished_.load(); }, timeout);
        if (!ran_out) ioc_.stop();
        if (thread_.joinable()) thread_.join();
        return ran_out;
    }
    /// Stops at once and joins.
    void stop() {
        work_.reset();
        ioc_.stop();
        if (thread_.joinable()) thread_.join();
    }

    /// Runs `f` on the io_context and waits for it (at most 5 s).
    template <class F>
    void run(F&& f) {
        std::promise<void> done;
        net::post(ioc_, [&] {
            f();
            done.set_value();
        });
        if (done.get_future().wait_for(5s) != std::future_status::ready)
            throw std::runtime_error("io_thread::run: the io_context did not run the function");
    }

private:
    net::io_context ioc_;
    net::executor_work_guard<net::io_context::executor_type> work_;
    std::atomic<bool> finished_{false};
    std::thread thread_;
};

/// Open descriptors of this process.
inline std::size_t fd_count() {
    std::size_t n = 0;
    if (DIR* d = ::opendir("/proc/self/fd")) {
        while (::readdir(d) != nullptr)
            ++n;
        ::closedir(d);
    }
    return n;
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
inline unsigned short free_port() {
    net::io_context ioc;
    net::ip::tcp::acceptor a(ioc, {net::ip::make_address("127.0.0.1"), 0});
    return a.local_endpoint().port();
}

/// Sends one command to Redis on 127.0.0.1:`port` (blocking hiredis) and returns the reply
/// as text ("" on error). For test set-up and assertions, not for the code under test.
inline std::string redis_command(unsigned short port, std::vector<std::string> const& args,
                                 std::string const& password = {}) {
    timeval tv{2, 0};
    redisContext* c = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (c == nullptr || c->err != 0) {
        if (c) redisFree(c);
        return {};
    }
    std::string out;
    auto call = [&](std::vector<std::string> const& a) {
        std::vector<char const*> argv;
        std::vector<std::size_t> lens;
        for (auto const& s : a) {
            argv.push_back(s.data());
            lens.push_back(s.size());
        }
        auto* r = static_cast<redisReply*>(
            redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data()));
        std::string text;
        if (r) {
            if (r->type == REDIS_REPLY_INTEGER)
                text = std::to_string(r->integer);
            else if (r->str)
                text.assign(r->str, r->len);
            else if (r->type == REDIS_REPLY_ARRAY) {
                for (std::size_t i = 0; i < r->elements; ++i) {
                    auto* e = r->element[i];
                    if (i) text += ' ';
                    if (e->type == REDIS_REPLY_INTEGER)
                        text += std::to_string(e->integer);
                    else if (e->str)
                        text.append(e->str, e->len);
                }
            }
            freeReplyObject(r);
        }
        return text;
    };
    if (!password.empty()) call({"AUTH", password});
    out = call(args);
    redisFree(c);
    return out;
}

/// A redis-server process of a test's own (not the fixture's): started, killed and
/// restarted at will, on a port of its own.
class redis_process {
public:
    /// Starts redis-server on a free port, with `extra` arguments (e.g. {"--requirepass", "x"}).
    explicit redis_process(std::vector<std::string> extra = {})
        : extra_(std::move(extra)) {
        for (int attempt = 0; attempt < 5; ++attempt) {
            port_ = free_port();
            if (start()) return;
        }
        throw std::runtime_error("redis_process: could not start redis-server");
    }

    /// Not started yet: `start()` will use `port`.
    struct deferred {};
    redis_process(deferred, unsigned short port)
        : port_(port) {}
    ~redis_process() { kill(); }
    redis_process(redis_process const&) = delete;
    redis_process& operator=(redis_process const&) = delete;

    unsigned short port() const noexcept { return port_; }
    std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }
    bool running() const noexcept { return pid_ > 0; }

    /// SIGKILL and reap: the clients see their connections reset.
    void kill() {
        if (pid_ <= 0) return;
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
        pid_ = -1;
    }

    /// SIGSTOP / SIGCONT: the server stops answering without closing anything.
    void pause() {
        if (pid_ > 0) ::kill(pid_, SIGSTOP);
    }
    void resume() {
        if (pid_ > 0) ::kill(pid_, SIGCONT);
    }

    /// Starts it again on the same port; true once it answers PING.
    bool start() {
        if (pid_ > 0) return true;
        std::vector<std::string> args = {
            "redis-server", "--port", std::to_string(port_), "--bind", "127.0.0.1", "--save",   "",
            "--appendonly", "no",     "--daemonize",         "no",     "--logfile", "/dev/null"};
        args.insert(args.end(), extra_.begin(), extra_.end());
        pid_t pid = ::fork();
        if (pid < 0) return false;
        if (pid == 0) {
            // Dies with the test: a crashed test must not leave a server holding its output
            // pipe (ctest would wait for it).
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            // Nor hold the test's sockets: Asio does not open them close-on-exec, and a
            // socket the test closes must really close (its peer must see the FIN).
            for (int fd = 3; fd < 65536; ++fd)
                ::close(fd);
            std::vector<char*> argv;
            for (auto& a : args)
                argv.push_back(a.data());
            argv.push_back(nullptr);
            ::execvp("redis-server", argv.data());
            ::_exit(127);
        }
        pid_ = pid;
        // Up when it answers (PONG, or NOAUTH when a password is required).
        bool up = eventually(
            [&] {
                int status = 0;
                if (::waitpid(pid_, &status, WNOHANG) == pid_) return true; // exited: give up
                auto r = redis_command(port_, {"PING"});
                return r == "PONG" || r.rfind("NOAUTH", 0) == 0;
            },
            5s);
        int status = 0;
        if (!up || ::waitpid(pid_, &status, WNOHANG) == pid_) {
            if (::waitpid(pid_, &status, WNOHANG) == 0) {
                ::kill(pid_, SIGKILL);
                ::waitpid(pid_, nullptr, 0);
            }
            pid_ = -1;
            return false;
        }
        return true;
    }

private:
    std::vector<std::string> extra_;
    unsigned short port_ = 0;
    pid_t pid_ = -1;
};

/** The port of the shared redis-server: $SSE_TEST_REDIS_PORT, else the number in the file
    named by $SSE_TEST_REDIS_PORT_FILE (the ctest fixture writes it), else a redis_process
    started for this test program (so the binary also runs outside ctest).
*/
inline unsigned short shared_redis_port() {
    static unsigned short const port = [] {
        if (char const* p = std::getenv("SSE_TEST_REDIS_PORT"); p && *p)
            return static_cast<unsigned short>(std::stoi(p));
        if (char const* f = std::getenv("SSE_TEST_REDIS_PORT_FILE"); f && *f) {
            std::ifstream in(f);
            int p = 0;
            if (in >> p && p > 0) return static_cast<unsigned short>(p);
            throw std::runtime_error(std::string("cannot read the Redis port from ") + f);
        }
        static redis_process own; // lives until exit
        return own.port();
    }();
    return port;
}

inline std::string shared_redis_url() {
    return "redis://127.0.0.1:" + std::to_string(shared_redis_port());
}

/// A new hiredis context to 127.0.0.1:`port` (the adapter's to own once given to it).
inline redisAsyncContext* tcp_context(unsigned short port) {
    return redisAsyncConnect("127.0.0.1", port);
}

/// Two of them, for `redis_adapter(ex, redis_contexts, opts)`.
inline sse::redis_contexts tcp_contexts(unsigned short port) {
    return sse::redis_contexts{tcp_context(port), tcp_context(port)};
}

/// Adapter options for a test: a channel prefix of its own, quick reconnects, no log. The URL
/// stays the default (a test sets it, or a connect factory).
inline sse::redis_options test_options(std::string const& prefix) {
    sse::redis_options o;
    o.channel_prefix = prefix;
    o.reconnect_min = std::chrono::milliseconds(20);
    o.reconnect_max = std::chrono::milliseconds(200);
    o.log = [](sse::redis_log_level, std::string_view) {};
    // SSE_TEST_REDIS_LOG=1 prints what the adapters log (a failing test's story).
    if (char const* v = std::getenv("SSE_TEST_REDIS_LOG"); v && *v == '1')
        o.log = [tag = prefix](sse::redis_log_level, std::string_view m) {
            std::fprintf(stderr, "[%s] %.*s\n", tag.c_str(), static_cast<int>(m.size()), m.data());
        };
    return o;
}

/// The same on `url`.
inline sse::redis_options test_options(std::string const& url, std::string const& prefix) {
    auto o = test_options(prefix);
    o.url = url;
    return o;
}

/** One node of the adapter tests: an io_context on its own thread, as a separate process
    would have, a `Host` standing in for the server, the adapter `make(executor)` returns
    (attached to the host), and a `Local` delivery for its emits. Destroyed, it closes the
    adapter; nothing of it may then be left pending on the io_context.
*/
template <class Host, class Local>
struct adapter_node {
    template <class Make>
    explicit adapter_node(Make&& make)
        : host(std::make_shared<Host>()) {
        adapter = make(io.get_executor());
        adapter->attach(host);
    }
    ~adapter_node() {
        adapter->close();
        CHECK(io.drain());
        adapter.reset();
    }
    adapter_node(adapter_node const&) = delete;
    adapter_node& operator=(adapter_node const&) = delete;

    sse::redis_state state() const { return adapter->state(); }

    io_thread io;
    std::shared_ptr<Host> host;
    std::shared_ptr<sse::redis_adapter> adapter;
    Local local;
};

} // namespace redis_test

#endif
