// A reconnect storm against a real sports_demo (issue 13): 5 000 EventSource-like clients
// connect within one second to a demo started with `--admit-rate 500`. Each behaves as a
// browser's EventSource does: on a stream that ends it reconnects after the last `retry:` it
// was given; on any status but 200 it gives up for good. Checked: every client ends up
// admitted, in the expected time (5 000 / 500 per second, plus the retry jitter), none is
// refused for good, and the demo's resident memory and open descriptors stay bounded
// (/proc/<pid>/status, /proc/<pid>/fd), back to where they were once the clients leave.
//
//   sse_overload_storm <path to sports_demo> [clients] [rate]
//
// Prints its figures; exits 0 when every check holds. Raises its own descriptor limit (the
// demo inherits it).
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <dirent.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace net = boost::asio;
using tcp = net::ip::tcp;
using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

struct totals {
    int admitted = 0;
    int refused_for_good = 0; // a status other than 200: EventSource would stop
    int dropped = 0;          // an admitted stream that ended
    int attempts = 0;
    int retried = 0; // answers that said "come back later"
    int network_errors = 0;
    long long retry_min_seen = -1, retry_max_seen = -1;
    clock_type::time_point last_admission{};
};

std::string const* request_text = nullptr;

/// One EventSource: connect, read, follow `retry:` until admitted; then stay open.
class fan : public std::enable_shared_from_this<fan> {
public:
    fan(net::io_context& ioc, tcp::endpoint ep, totals& t)
        : ioc_(ioc)
        , ep_(ep)
        , t_(t)
        , socket_(ioc)
        , timer_(ioc) {}

    void start_after(clock_type::duration d) {
        timer_.expires_after(d);
        timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
            if (!ec) self->connect();
        });
    }

    void close() {
        boost::system::error_code ec;
        socket_.close(ec);
        timer_.cancel();
        closing_ = true;
    }

private:
    void connect() {
        if (closing_) return;
        ++t_.attempts;
        got_.clear();
        socket_ = tcp::socket(ioc_);
        socket_.async_connect(ep_, [self = shared_from_this()](boost::system::error_code ec) {
            if (ec) return self->network_error();
            net::async_write(self->socket_, net::buffer(*request_text),
                             [self](boost::system::error_code ec, std::size_t) {
                                 if (ec) return self->network_error();
                                 self->read();
                             });
        });
    }

    void read() {
        socket_.async_read_some(net::buffer(buf_), [self = shared_from_this()](
                                                       boost::system::error_code ec,
                                                       std::size_t n) {
            if (ec) return self->ended(ec);
            if (self->got_.size() < 4096) self->got_.append(self->buf_.data(), n);
            if (!self->admitted_ && self->got_.find("event: connection\n") != std::string::npos) {
                self->admitted_ = true;
                ++self->t_.admitted;
                self->t_.last_admission = clock_type::now();
            }
            self->read();
        });
    }

    void ended(boost::system::error_code ec) {
        boost::system::error_code ignored;
        socket_.close(ignored);
        if (closing_) return;
        if (admitted_) {
            ++t_.dropped;
            return;
        }
        if (ec != net::error::eof) return network_error();
        if (got_.rfind("HTTP/1.1 200 ", 0) != 0) {
            ++t_.refused_for_good;
            std::cerr << "refused for good: " << got_.substr(0, got_.find("\r\n")) << "\n";
            return;
        }
        ++t_.retried;
        // The last `retry:` of the body sets the reconnection time, as in EventSource.
        auto at = got_.rfind("\nretry: ");
        if (at != std::string::npos) retry_ = std::atoll(got_.c_str() + at + 8);
        if (t_.retry_min_seen < 0 || retry_ < t_.retry_min_seen) t_.retry_min_seen = retry_;
        t_.retry_max_seen = std::max(t_.retry_max_seen, retry_);
        start_after(std::chrono::milliseconds(retry_));
    }

    void network_error() {
        ++t_.network_errors;
        boost::system::error_code ignored;
        socket_.close(ignored);
        if (!closing_) start_after(std::chrono::milliseconds(retry_));
    }

    net::io_context& ioc_;
    tcp::endpoint ep_;
    totals& t_;
    tcp::socket socket_;
    net::steady_timer timer_;
    std::array<char, 2048> buf_{};
    std::string got_;
    long long retry_ = 3000; // EventSource's default reconnection time
    bool admitted_ = false;
    bool closing_ = false;
};

std::size_t rss_kib(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("VmRSS:", 0) == 0) return std::strtoull(line.c_str() + 6, nullptr, 10);
    return 0;
}

std::size_t fd_count(pid_t pid) {
    DIR* d = ::opendir(("/proc/" + std::to_string(pid) + "/fd").c_str());
    if (!d) return 0;
    std::size_t n = 0;
    while (dirent* e = ::readdir(d))
        if (e->d_name[0] != '.') ++n;
    ::closedir(d);
    return n;
}

/// Starts the demo; returns its pid and port (0 on failure).
std::pair<pid_t, unsigned short> start_demo(std::string const& demo, std::string const& rate) {
    int out[2];
    if (::pipe(out) != 0) return {0, 0};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_addclose(&fa, out[0]);
    std::vector<std::string> args = {demo, "--port",         "0", "--admit-rate",
                                     rate, "--heartbeat-ms", "0"};
    std::vector<char*> argv;
    for (auto& a : args)
        argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = 0;
    int rc = posix_spawn(&pid, demo.c_str(), &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    ::close(out[1]);
    if (rc != 0) return {0, 0};
    std::string text;
    char c;
    while (::read(out[0], &c, 1) == 1 && c != '\n')
        text += c;
    // Keep reading its output in the background is not needed: the demo writes little.
    ::close(out[0]);
    auto colon = text.rfind(':');
    if (text.rfind("listening on ", 0) != 0 || colon == std::string::npos) return {pid, 0};
    return {pid, static_cast<unsigned short>(std::atoi(text.c_str() + colon + 1))};
}

} // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::cerr << "usage: sse_overload_storm <sports_demo> [clients] [rate]\n";
        return 2;
    }
    int const clients = argc > 2 ? std::atoi(argv[2]) : 5000;
    std::string const rate = argc > 3 ? argv[3] : "500";
    double const per_second = std::atof(rate.c_str());

    // Descriptors for every client here and every stream there (the demo inherits the limit).
    rlimit lim{};
    ::getrlimit(RLIMIT_NOFILE, &lim);
    lim.rlim_cur = lim.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &lim);
    if (lim.rlim_cur < static_cast<rlim_t>(clients) + 200) {
        std::cerr << "SKIP: the descriptor limit (" << lim.rlim_cur << ") is below " << clients
                  << " + 200\n";
        return 77;
    }
    ::signal(SIGPIPE, SIG_IGN);

    auto [pid, port] = start_demo(argv[1], rate);
    if (pid == 0 || port == 0) {
        std::cerr << "could not start " << argv[1] << "\n";
        if (pid) ::kill(pid, SIGKILL);
        return 1;
    }
    std::string const req =
        "GET /stream/football/storm HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
        "\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n";
    request_text = &req;

    std::this_thread::sleep_for(200ms);
    std::size_t const base_fds = fd_count(pid);
    std::size_t const base_rss = rss_kib(pid);

    net::io_context ioc(1);
    totals t;
    tcp::endpoint const ep(net::ip::make_address("127.0.0.1"), port);
    std::vector<std::shared_ptr<fan>> fans;
    fans.reserve(static_cast<std::size_t>(clients));
    auto const start = clock_type::now();
    for (int i = 0; i < clients; ++i) { // all within one second
        fans.push_back(std::make_shared<fan>(ioc, ep, t));
        fans.back()->start_after(std::chrono::microseconds(1000000LL * i / clients));
    }

    // Sample the demo every 100 ms until everyone is in (or the deadline).
    std::size_t peak_fds = base_fds, peak_rss = base_rss;
    auto const deadline = start + 50s;
    net::steady_timer sampler(ioc);
    std::function<void()> sample = [&] {
        peak_fds = std::max(peak_fds, fd_count(pid));
        peak_rss = std::max(peak_rss, rss_kib(pid));
        bool const done = t.admitted + t.refused_for_good + t.dropped >= clients;
        if (done || clock_type::now() >= deadline) return ioc.stop();
        sampler.expires_after(100ms);
        sampler.async_wait([&](boost::system::error_code ec) {
            if (!ec) sample();
        });
    };
    sample();
    ioc.run();
    double const took = std::chrono::duration<double>(t.last_admission - start).count();
    std::size_t const open_fds = fd_count(pid);
    std::size_t const open_rss = rss_kib(pid);

    // Everyone leaves: the demo must give every descriptor back.
    for (auto& f : fans)
        f->close();
    ioc.restart();
    ioc.poll();
    fans.clear();
    std::size_t after_fds = fd_count(pid);
    for (int i = 0; i < 100 && after_fds > base_fds + 2; ++i) {
        std::this_thread::sleep_for(100ms);
        after_fds = fd_count(pid);
    }
    std::size_t const after_rss = rss_kib(pid);
    ::kill(pid, SIGTERM);
    int status = 0;
    ::waitpid(pid, &status, 0);

    double const expected = clients / per_second; // the rate alone, before any jitter
    std::printf("storm: %d clients in 1 s against --admit-rate %s\n", clients, rate.c_str());
    std::printf("  admitted %d in %.1f s (the rate alone: %.1f s; retry window 2-10 s)\n",
                t.admitted, took, expected);
    std::printf("  attempts %d, told to retry %d (retry seen %lld-%lld ms), refused for good %d, "
                "dropped %d, network errors %d\n",
                t.attempts, t.retried, t.retry_min_seen, t.retry_max_seen, t.refused_for_good,
                t.dropped, t.network_errors);
    std::printf("  demo descriptors: %zu at start, %zu at peak, %zu with everyone in, %zu after "
                "they left\n",
                base_fds, peak_fds, open_fds, after_fds);
    std::printf("  demo RSS: %.1f MiB at start, %.1f MiB at peak, %.1f MiB with everyone in, "
                "%.1f MiB after\n",
                base_rss / 1024.0, peak_rss / 1024.0, open_rss / 1024.0, after_rss / 1024.0);

    int failures = 0;
    auto check = [&](bool ok, char const* what) {
        if (!ok) {
            std::printf("FAILED: %s\n", what);
            ++failures;
        }
    };
    check(t.admitted == clients, "every client is admitted");
    check(t.refused_for_good == 0, "nobody is refused for good (a status other than 200)");
    check(t.dropped == 0, "no admitted stream is dropped");
    check(t.retried > 0, "the storm was refused in part (the rate limit acts)");
    check(t.retry_min_seen >= 2000 && t.retry_max_seen <= 10000,
          "every retry hint is in the 2-10 s window");
    // The rate bounds how fast: not faster than burst + rate x time; and the jitter how slow.
    check(took >= (clients - per_second) / per_second - 0.5, "not admitted faster than the rate");
    check(took <= expected + 10 + 15, "admitted within the rate's time plus the retry window");
    check(peak_fds <= base_fds + static_cast<std::size_t>(clients) + clients / 5,
          "descriptors bounded: the streams plus the refusals in flight");
    check(peak_rss <= base_rss + 96 * 1024, "RSS bounded (< 96 MiB for the storm)");
    check(after_fds <= base_fds + 2, "every descriptor given back once the clients left");
    return failures == 0 ? 0 : 1;
}
