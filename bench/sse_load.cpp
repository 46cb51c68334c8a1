// sse_load - a load generator for Server-Sent Events fan-out servers.
//
// Opens N event streams over raw HTTP/1.1 (Asio, one thread, epoll), waits until every one is
// connected, publishes M events by HTTP POST and times each delivery. It talks to sports_demo
// (--target sse) and to nginx + nchan (--target nchan) alike, so both face the same client.
//
//   sse_load --target sse   --port 8080 --clients 1000 --events 200 --server-pid 1234
//   sse_load --target nchan --port 8090 --clients 1000 --events 200 --server-pid 5678
//
// What it measures (one JSON line per phase on stdout, a human summary on stderr):
//   connect   seconds until all N streams are connected (sse: `event: connection` arrived;
//             nchan: the 200 response header arrived)
//   memory    the servers' RSS and PSS (/proc/PID/smaps_rollup, summed over the given PIDs and
//             their children, e.g. nginx workers) before and after the N idle clients
//   warmup    a few events that are delivered but not measured
//   publish   deliveries/s = N*M / (first measured publish -> last delivery); latency p50/p99/max
//             per delivery (send time -> read completion); lost and duplicated events; server CPU
//             (utime+stime from /proc/PID/stat) per delivery; the load generator's own CPU
//
// Payload: every event carries "r=<run id>;t=<CLOCK_MONOTONIC ns at send>;s=<sequence>;" padded
// with 'x' to --payload bytes (events of other runs, e.g. replayed history, are ignored). nchan
// gets it as the raw POST body. sports_demo gets it as the `message` of an `announcement` event
// ({"message":"t=...;s=...;xxx"} is --payload bytes): score_update's fields are fixed (its ints
// cannot hold a 64-bit timestamp, its `match` must be the room), and announcement is a typed event
// of both namespaces that the demo forwards without bookkeeping.
//
// Publishing is sequential (each POST after the previous answer) unless --pipeline K keeps up
// to K requests in flight on the one keep-alive connection (HTTP/1.1 pipelining).
// The run is bounded: --timeout seconds in all, --drain-timeout after the last publish answer.
//
// One process holds at most RLIMIT_NOFILE descriptors (20 000 here), so the subscribers are split
// over --procs P forked processes (default: one per 16 000 clients). The parent publishes,
// samples the servers and prints the JSON; each child holds a contiguous share of the clients
// (their URLs and source addresses chosen by global index, as in one process) and sends the
// parent, over a pipe, its connect count, "warm-up complete", and at the end its counters and
// raw latencies. CLOCK_MONOTONIC is system-wide, so send times and delivery times compare
// across processes.
// Exit status: 0 when every event reached every client once, 1 otherwise, 2 on bad usage.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <dirent.h>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24 // linux/in.h; glibc's netinet/in.h may lack it
#endif

namespace net = boost::asio;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;

namespace {

std::uint64_t now_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000u +
           static_cast<std::uint64_t>(ts.tv_nsec);
}

double seconds_between(std::uint64_t a, std::uint64_t b) {
    return static_cast<double>(b - a) / 1e9;
}

// ---- command line ---------------------------------------------------------------------

struct url {
    std::string host;
    unsigned short port = 0;
    std::string target; // path and query
};

url parse_url(std::string s) {
    if (s.rfind("http://", 0) == 0) s = s.substr(7);
    url u;
    auto slash = s.find('/');
    std::string hostport = s.substr(0, slash);
    u.target = slash == std::string::npos ? "/" : s.substr(slash);
    auto colon = hostport.rfind(':');
    if (colon == std::string::npos) throw std::invalid_argument("URL without a port: " + s);
    u.host = hostport.substr(0, colon);
    u.port = static_cast<unsigned short>(std::stoul(hostport.substr(colon + 1)));
    return u;
}

struct config {
    std::string target = "sse"; // sse | nchan
    std::string host = "127.0.0.1";
    unsigned short port = 0;
    std::string channel = "bench"; // the match (sse) or channel (nchan)
    std::vector<url> subs;         // stream URLs; clients are spread over them round-robin
    url pub;                       // the publish URL
    bool pub_given = false;
    std::size_t clients = 1000;
    std::size_t events = 200;
    std::size_t warmup = 2;
    std::size_t payload = 100;
    std::size_t pipeline = 1;
    double rate = 0; // events per second at most (0: as fast as the answers allow)
    std::size_t connect_window = 1024; // connects in progress at once (listen backlogs are 4096)
    std::size_t read_buffer = 4096;
    unsigned source_ips = 0; // 0: one per 10 000 clients
    double timeout = 120;
    double drain_timeout = 15;
    double settle = 0.5; // idle seconds before the "after" memory sample
    std::vector<int> server_pids;
    std::string before_publish; // shell commands run (blocking) around the publish phases
    std::string after_publish;
    bool connected_on_event = true; // sse: `event: connection`; nchan: the response header
    std::string label;
    std::size_t procs = 0; // subscriber processes (0: one per 16 000 clients; 1: no fork)
    std::string run_id;    // "r=<number>;", shared by the parent and its children
};

[[noreturn]] void usage(char const* why) {
    if (why) std::cerr << "sse_load: " << why << "\n";
    std::cerr << R"(usage: sse_load [options]
  --target sse|nchan      server flavour (default sse): sets URLs, payload and "connected"
  --port P                server port on --host (default host 127.0.0.1)
  --channel NAME          match (sse: /stream/football/NAME, /emit/football/NAME) or
                          channel (nchan: /sub/NAME, /pub/NAME); default "bench"
  --sub URL               stream URL, repeatable (clients round-robin; e.g. several nodes)
  --pub URL               publish URL
  --clients N             subscriptions (default 1000)
  --events M              measured events (default 200)
  --warmup W              unmeasured events first (default 2)
  --payload BYTES         event data size (default 100)
  --pipeline K            POSTs in flight at once (default 1: sequential)
  --rate R                at most R events per second, evenly spaced (default: no limit);
                          compares latency at the same offered load
  --server-pid PID        server process to sample (repeatable; children are included)
  --source-ips K          bind clients to 127.0.0.1..127.0.0.K (default: 1 per 10 000)
  --connect-window W      connects in progress at once (default 1024)
  --read-buffer BYTES     per-connection read buffer (default 4096)
  --settle S              idle seconds before the memory sample (default 0.5)
  --timeout S             bound on the whole run (default 120)
  --drain-timeout S       wait after the last publish answer (default 15)
  --label TEXT            copied into every JSON line
  --procs P               subscriber processes (default: 1 per 16 000 clients, so that each
                          stays under RLIMIT_NOFILE); 1 keeps everything in one process
  --before-publish CMD    shell command run once all clients are connected (e.g. to read
                          a Redis server's INFO commandstats), before the first event
  --after-publish CMD     shell command run when the publish phase ends
  --free-port             print a free TCP port on 127.0.0.1 and exit (for scripts)
)";
    std::exit(2);
}

config parse_args(int argc, char** argv) {
    config c;
    std::vector<std::string> subs;
    std::string pub;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) usage(("missing value for " + a).c_str());
            return argv[++i];
        };
        auto number = [&]() -> std::size_t {
            std::string v = value();
            char* end = nullptr;
            auto n = std::strtoull(v.c_str(), &end, 10);
            if (v.empty() || *end != '\0') usage(("not a number for " + a + ": " + v).c_str());
            return static_cast<std::size_t>(n);
        };
        auto real = [&]() -> double {
            std::string v = value();
            char* end = nullptr;
            double d = std::strtod(v.c_str(), &end);
            if (v.empty() || *end != '\0') usage(("not a number for " + a + ": " + v).c_str());
            return d;
        };
        if (a == "--target")
            c.target = value();
        else if (a == "--host")
            c.host = value();
        else if (a == "--port")
            c.port = static_cast<unsigned short>(number());
        else if (a == "--channel")
            c.channel = value();
        else if (a == "--sub")
            subs.push_back(value());
        else if (a == "--pub")
            pub = value();
        else if (a == "--clients" || a == "-n")
            c.clients = number();
        else if (a == "--events" || a == "-m")
            c.events = number();
        else if (a == "--warmup")
            c.warmup = number();
        else if (a == "--payload")
            c.payload = number();
        else if (a == "--pipeline")
            c.pipeline = std::max<std::size_t>(1, number());
        else if (a == "--rate")
            c.rate = real();
        else if (a == "--server-pid")
            c.server_pids.push_back(static_cast<int>(number()));
        else if (a == "--source-ips")
            c.source_ips = static_cast<unsigned>(number());
        else if (a == "--connect-window")
            c.connect_window = std::max<std::size_t>(1, number());
        else if (a == "--read-buffer")
            c.read_buffer = std::max<std::size_t>(256, number());
        else if (a == "--settle")
            c.settle = real();
        else if (a == "--timeout")
            c.timeout = real();
        else if (a == "--drain-timeout")
            c.drain_timeout = real();
        else if (a == "--label")
            c.label = value();
        else if (a == "--procs")
            c.procs = number();
        else if (a == "--before-publish")
            c.before_publish = value();
        else if (a == "--after-publish")
            c.after_publish = value();
        else if (a == "--free-port") {
            net::io_context ioc;
            tcp::acceptor acc(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
            std::cout << acc.local_endpoint().port() << std::endl;
            std::exit(0);
        } else if (a == "--help" || a == "-h")
            usage(nullptr);
        else
            usage(("unknown option " + a).c_str());
    }
    if (c.target != "sse" && c.target != "nchan") usage("--target must be sse or nchan");
    c.connected_on_event = c.target == "sse";
    std::string base = "http://" + c.host + ":" + std::to_string(c.port);
    if (subs.empty()) {
        if (c.port == 0) usage("give --port or --sub");
        subs.push_back(base + (c.target == "sse" ? "/stream/football/" : "/sub/") + c.channel);
    }
    if (pub.empty()) {
        if (c.port == 0) usage("give --port or --pub");
        pub = base + (c.target == "sse" ? "/emit/football/" : "/pub/") + c.channel;
    }
    try {
        for (auto const& s : subs)
            c.subs.push_back(parse_url(s));
        c.pub = parse_url(pub);
    } catch (std::exception const& e) {
        usage(e.what());
    }
    std::size_t const min_payload = c.target == "sse" ? 72 : 60;
    if (c.payload < min_payload) usage("--payload too small for the timestamp and sequence");
    if (c.clients == 0 || c.events == 0) usage("--clients and --events must be positive");
    if (c.source_ips == 0) c.source_ips = static_cast<unsigned>((c.clients + 9999) / 10000);
    c.source_ips = std::min(c.source_ips, 250u);
    if (c.procs == 0) c.procs = (c.clients + 15999) / 16000;
    c.procs = std::min(c.procs, c.clients);
    c.run_id =
        "r=" +
        std::to_string((now_ns() ^ (static_cast<std::uint64_t>(::getpid()) << 40)) % 1000000007u) +
        ";";
    return c;
}

// ---- the server processes as /proc sees them --------------------------------------------

bool read_file(std::string const& path, std::string& out) {
    std::ifstream in(path);
    if (!in) return false;
    std::ostringstream ss;
    ss << in.rdbuf();
    out = ss.str();
    return true;
}

// Fields of /proc/PID/stat after the command name: [0] state, [1] ppid, [11] utime, [12] stime.
std::vector<std::string> stat_fields(int pid) {
    std::string s;
    std::vector<std::string> out;
    if (!read_file("/proc/" + std::to_string(pid) + "/stat", s)) return out;
    auto close = s.rfind(')');
    if (close == std::string::npos) return out;
    std::istringstream in(s.substr(close + 1));
    std::string f;
    while (in >> f)
        out.push_back(f);
    return out;
}

// The given PIDs plus their direct children (nginx: master + workers).
std::vector<int> with_children(std::vector<int> const& pids) {
    std::set<int> all(pids.begin(), pids.end());
    if (DIR* d = opendir("/proc")) {
        while (dirent* e = readdir(d)) {
            char* end = nullptr;
            long pid = std::strtol(e->d_name, &end, 10);
            if (*end != '\0' || pid <= 0) continue;
            auto f = stat_fields(static_cast<int>(pid));
            if (f.size() > 1 &&
                std::find(pids.begin(), pids.end(), std::atoi(f[1].c_str())) != pids.end())
                all.insert(static_cast<int>(pid));
        }
        closedir(d);
    }
    return {all.begin(), all.end()};
}

struct proc_sample {
    double cpu_s = 0;
    std::uint64_t rss_kib = 0;
    std::uint64_t pss_kib = 0;
    bool ok = false;
};

proc_sample sample_processes(std::vector<int> const& pids) {
    proc_sample out;
    if (pids.empty()) return out;
    out.ok = true;
    static long const ticks = sysconf(_SC_CLK_TCK);
    for (int pid : pids) {
        auto f = stat_fields(pid);
        if (f.size() < 13) {
            out.ok = false;
            continue;
        }
        out.cpu_s += static_cast<double>(std::strtoull(f[11].c_str(), nullptr, 10) +
                                         std::strtoull(f[12].c_str(), nullptr, 10)) /
                     static_cast<double>(ticks);
        std::string s;
        if (read_file("/proc/" + std::to_string(pid) + "/smaps_rollup", s)) {
            std::istringstream in(s);
            std::string line;
            while (std::getline(in, line)) {
                if (line.rfind("Rss:", 0) == 0)
                    out.rss_kib += std::strtoull(line.c_str() + 4, nullptr, 10);
                if (line.rfind("Pss:", 0) == 0)
                    out.pss_kib += std::strtoull(line.c_str() + 4, nullptr, 10);
            }
        } else {
            out.ok = false;
        }
    }
    return out;
}

double process_cpu_self() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

void raise_nofile(std::size_t need) {
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
    rl.rlim_cur = rl.rlim_max;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) {
        rlimit more = rl;
        more.rlim_cur = more.rlim_max = need; // works for root (CAP_SYS_RESOURCE)
        if (setrlimit(RLIMIT_NOFILE, &more) == 0) return;
        std::cerr << "sse_load: warning: RLIMIT_NOFILE hard limit " << rl.rlim_max << " < " << need
                  << " needed; some connects will fail\n";
    }
    setrlimit(RLIMIT_NOFILE, &rl);
}

// ---- statistics and output -----------------------------------------------------------------

// The q-quantile (0..1) of v, nearest rank; v is reordered.
std::uint64_t quantile(std::vector<std::uint64_t>& v, double q) {
    if (v.empty()) return 0;
    auto k = static_cast<std::size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
    return v[k];
}

/// One JSON object on one line, built field by field.
class json_line {
public:
    json_line(std::string_view phase, std::string const& label) {
        add_string("phase", phase);
        if (!label.empty()) add_string("label", label);
    }
    json_line& add_string(std::string_view k, std::string_view v) {
        key(k);
        out_ << '"';
        for (char c : v) {
            if (c == '"' || c == '\\')
                out_ << '\\' << c;
            else if (static_cast<unsigned char>(c) < 0x20)
                out_ << ' ';
            else
                out_ << c;
        }
        out_ << '"';
        return *this;
    }
    template <class T>
    json_line& add(std::string_view k, T v) {
        key(k);
        if constexpr (std::is_same_v<T, bool>)
            out_ << (v ? "true" : "false");
        else if constexpr (std::is_floating_point_v<T>) {
            char buf[64];
            std::snprintf(buf, sizeof buf, "%.6g", static_cast<double>(v));
            out_ << buf;
        } else
            out_ << v;
        return *this;
    }
    json_line& add_raw(std::string_view k, std::string_view raw) {
        key(k);
        out_ << raw;
        return *this;
    }
    void print() {
        out_ << '}';
        std::cout << out_.str() << std::endl;
    }

private:
    void key(std::string_view k) {
        out_ << (first_ ? "{" : ",") << '"' << k << "\":";
        first_ = false;
    }
    std::ostringstream out_;
    bool first_ = true;
};

// ---- the split over processes ----------------------------------------------------------------

bool write_all(int fd, void const* data, std::size_t n) {
    auto const* p = static_cast<char const*>(data);
    while (n > 0) {
        ssize_t k = ::write(fd, p, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return false;
        p += k;
        n -= static_cast<std::size_t>(k);
    }
    return true;
}

/// What a forked subscriber process knows of its parent: a pipe up (reports) and a control pipe
/// down ('g' starts the connects; any later byte or EOF ends the run).
struct child_role {
    int up = -1;
    int ctl = -1;
    std::size_t first = 0; // global index of this child's first client
};

// ---- the run ---------------------------------------------------------------------------------

class load_run {
public:
    /// The parent side of one forked subscriber process.
    struct child_link {
        child_link(net::io_context& ioc, int pid_, int up, int ctl_, std::size_t clients_)
            : pid(pid_)
            , in(ioc, up)
            , ctl(ctl_)
            , clients(clients_) {}
        int pid;
        net::posix::stream_descriptor in;
        int ctl;
        std::size_t clients;
        std::string buf;
        std::unique_ptr<char[]> rbuf{new char[65536]};
        std::size_t latencies_left = 0; // raw uint64 latencies still to come after a 'D' line
        std::size_t connected = 0, failed = 0;
        bool connect_reported = false, warm = false, done = false, complete = false;
    };

    /// One process, or a forked subscriber process (child != nullptr).
    load_run(net::io_context& ioc, config cfg, child_role const* child = nullptr)
        : ioc_(ioc)
        , cfg_(std::move(cfg))
        , deadline_(ioc)
        , phase_timer_(ioc)
        , pub_sock_(ioc)
        , ctl_(ioc) {
        if (child) {
            child_ = *child;
            is_child_ = true;
            ctl_.assign(child_.ctl);
        }
        total_events_ = cfg_.warmup + cfg_.events;
        seen_.assign(cfg_.clients * total_events_, 0);
        latencies_.reserve(cfg_.clients * cfg_.events);
        for (auto const& u : cfg_.subs) {
            sub_requests_.push_back(
                "GET " + u.target + " HTTP/1.1\r\nHost: " + u.host + ":" + std::to_string(u.port) +
                "\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n");
        }
        if (!is_child_) pids_ = with_children(cfg_.server_pids);
        run_id_ = cfg_.run_id;
    }

    /// The parent of forked subscriber processes: it holds no stream itself.
    load_run(net::io_context& ioc, config cfg, std::vector<std::unique_ptr<child_link>> links)
        : load_run(ioc, std::move(cfg)) {
        links_ = std::move(links);
        seen_.clear();
        seen_.shrink_to_fit();
    }

    void start() {
        if (is_child_) {
            // Safety net: the parent's own timeout ends a child through the control pipe.
            deadline_.expires_after(
                std::chrono::milliseconds(static_cast<long long>(cfg_.timeout * 1000) + 60000));
            deadline_.async_wait([this](error_code ec) {
                if (ec) return;
                if (phase_ == phase::done) return child_close();
                timed_out("--timeout (child)");
            });
            ctl_read();
            return;
        }
        deadline_.expires_after(
            std::chrono::milliseconds(static_cast<long long>(cfg_.timeout * 1000)));
        deadline_.async_wait([this](error_code ec) {
            if (!ec) timed_out("--timeout");
        });
        mem_before_ = sample_processes(pids_);
        connect_start_ = now_ns();
        if (!links_.empty()) {
            for (auto& l : links_) {
                write_all(l->ctl, "g", 1);
                link_read(*l);
            }
            return;
        }
        open_streams();
    }

    int exit_code() const { return ok_ ? 0 : 1; }

private:
    void open_streams() {
        subs_.reserve(cfg_.clients);
        for (std::size_t i = 0; i < cfg_.clients; ++i) {
            subs_.push_back(std::make_unique<subscriber>(ioc_));
            subs_.back()->index = static_cast<std::uint32_t>(i);
        }
        connect_start_ = now_ns();
        open_more();
    }

    // ---- a forked subscriber process ----

    void ctl_read() {
        ctl_.async_read_some(net::buffer(ctl_byte_, 1), [this](error_code ec, std::size_t) {
            if (!ec && ctl_byte_[0] == 'g' && !started_) {
                started_ = true;
                open_streams();
                return ctl_read();
            }
            stop_requested_ = true; // told to stop, or the parent is gone
            if (phase_ == phase::done) return child_close();
            finish(false);
        });
    }

    void child_close() {
        deadline_.cancel();
        error_code ignored;
        ctl_.close(ignored);
        for (auto& s : subs_)
            s->sock.close(ignored);
        ioc_.stop();
    }

    void send_up(std::string const& line) {
        if (!write_all(child_.up, line.data(), line.size())) ioc_.stop();
    }

    // Reports warm-up and the end as soon as this child's share has them.
    void child_progress() {
        if (phase_ == phase::done || phase_ == phase::connecting) return;
        if (!warm_sent_ && warm_received_ >= connected_ * cfg_.warmup) {
            warm_sent_ = true;
            send_up("W " + std::to_string(warm_received_) + "\n");
        }
        if (received_ >= connected_ * cfg_.events) finish(true);
    }

    void child_report(bool complete, double cpu) {
        char head[256];
        std::snprintf(head, sizeof head, "D %d %llu %llu %llu %llu %zu %llu %.6f %zu\n",
                      complete ? 1 : 0, static_cast<unsigned long long>(received_),
                      static_cast<unsigned long long>(duplicated_),
                      static_cast<unsigned long long>(unexpected_),
                      static_cast<unsigned long long>(foreign_), streams_lost_,
                      static_cast<unsigned long long>(last_delivery_), cpu, latencies_.size());
        send_up(head);
        if (!latencies_.empty())
            write_all(child_.up, latencies_.data(), latencies_.size() * sizeof(std::uint64_t));
    }

    // ---- the parent of forked subscriber processes ----

    void link_read(child_link& l) {
        l.in.async_read_some(net::buffer(l.rbuf.get(), 65536),
                             [this, &l](error_code ec, std::size_t n) {
                                 if (ec) return link_lost(l);
                                 l.buf.append(l.rbuf.get(), n);
                                 link_parse(l);
                                 if (phase_ != phase::done) {
                                     link_read(l);
                                     children_progress();
                                 }
                             });
    }

    // A child that exits before its last report: its streams count as failed (before its
    // connect report) or lost (after it).
    void link_lost(child_link& l) {
        if (l.done) return;
        if (first_failure_.empty()) first_failure_ = "a subscriber process exited early";
        if (!l.connect_reported) {
            l.connect_reported = true;
            l.failed = l.clients;
        } else {
            streams_lost_ += l.connected;
        }
        l.warm = true;
        l.done = true;
        if (phase_ != phase::done) children_progress();
    }

    void link_parse(child_link& l) {
        for (;;) {
            if (l.latencies_left > 0) {
                std::size_t const n = std::min(l.latencies_left, l.buf.size() / 8);
                std::size_t const at = latencies_.size();
                latencies_.resize(at + n);
                std::memcpy(latencies_.data() + at, l.buf.data(), n * 8);
                l.buf.erase(0, n * 8);
                l.latencies_left -= n;
                if (l.latencies_left > 0) return;
                l.done = true;
                continue;
            }
            auto nl = l.buf.find('\n');
            if (nl == std::string::npos) return;
            std::string line = l.buf.substr(0, nl);
            l.buf.erase(0, nl + 1);
            if (line[0] == 'C') {
                // C <connected> <failed> <first failure...>
                std::istringstream in(line.substr(1));
                in >> l.connected >> l.failed;
                std::string why;
                std::getline(in, why);
                if (why.size() > 1 && first_failure_.empty()) first_failure_ = why.substr(1);
                l.connect_reported = true;
            } else if (line[0] == 'W') {
                l.warm = true;
                warm_received_ += std::strtoull(line.c_str() + 1, nullptr, 10);
            } else if (line[0] == 'D') {
                // D <complete> <received> <dup> <unexpected> <foreign> <lost streams>
                //   <last delivery ns> <cpu s> <latencies>, then the latencies as raw uint64
                std::istringstream in(line.substr(1));
                int complete = 0;
                unsigned long long rec = 0, dup = 0, unexp = 0, foreign = 0, last = 0;
                std::size_t lost = 0, nlat = 0;
                double cpu = 0;
                in >> complete >> rec >> dup >> unexp >> foreign >> lost >> last >> cpu >> nlat;
                l.complete = complete != 0;
                received_ += rec;
                duplicated_ += dup;
                unexpected_ += unexp;
                foreign_ += foreign;
                streams_lost_ += lost;
                last_delivery_ = std::max<std::uint64_t>(last_delivery_, last);
                children_cpu_ += cpu;
                l.latencies_left = nlat;
                if (nlat == 0) l.done = true;
            }
        }
    }

    void children_progress() {
        auto all = [&](bool child_link::*flag) {
            return std::all_of(links_.begin(), links_.end(),
                               [&](auto const& l) { return (*l).*flag; });
        };
        if (phase_ == phase::connecting && all(&child_link::connect_reported)) {
            count_children();
            settled_ = cfg_.clients;
            return connect_done();
        }
        if (phase_ == phase::warmup && all(&child_link::warm)) return start_measuring();
        if (phase_ == phase::measuring && all(&child_link::done)) {
            bool const complete = std::all_of(links_.begin(), links_.end(),
                                              [](auto const& l) { return l->complete; });
            finish(complete);
        }
    }

    void count_children() {
        if (children_counted_) return;
        children_counted_ = true;
        for (auto const& l : links_) {
            connected_ += l->connected;
            failed_ += l->failed;
        }
    }

    // At the end: every child is told to stop and its last report read (10 s at most).
    void collect_children() {
        for (auto& l : links_) {
            if (l->ctl >= 0) ::close(l->ctl);
            l->ctl = -1;
        }
        auto const until = now_ns() + 10'000'000'000ull;
        for (;;) {
            std::vector<pollfd> fds;
            std::vector<child_link*> which;
            for (auto& l : links_)
                if (!l->done) {
                    fds.push_back({l->in.native_handle(), POLLIN, 0});
                    which.push_back(l.get());
                }
            std::uint64_t const t = now_ns();
            if (fds.empty() || t >= until) break;
            if (::poll(fds.data(), fds.size(), static_cast<int>((until - t) / 1000000 + 1)) <= 0)
                continue;
            for (std::size_t i = 0; i < fds.size(); ++i) {
                if (!fds[i].revents) continue;
                child_link& l = *which[i];
                ssize_t k = ::read(fds[i].fd, l.rbuf.get(), 65536);
                if (k > 0) {
                    l.buf.append(l.rbuf.get(), static_cast<std::size_t>(k));
                    link_parse(l);
                } else if (k == 0 || (errno != EAGAIN && errno != EINTR)) {
                    link_lost(l);
                }
            }
        }
        for (auto& l : links_) {
            if (!l->done) ::kill(l->pid, SIGKILL);
            ::waitpid(l->pid, nullptr, 0);
        }
    }

    enum class phase { connecting, settling, warmup, measuring, done };
    enum class chunk { size_line, data, data_end, finished };

    struct subscriber {
        explicit subscriber(net::io_context& ioc)
            : sock(ioc) {}
        tcp::socket sock;
        std::uint32_t index = 0;
        bool in_body = false;
        bool chunked = false;
        bool connected = false;
        bool ended = false;
        chunk chunk_state = chunk::size_line;
        std::size_t chunk_left = 0;
        std::string chunk_line;
        std::string head;   // response header bytes until the blank line
        std::string events; // event-stream text not yet ended by a blank line
        std::unique_ptr<char[]> buf;
    };

    // ---- connect phase ----

    void open_more() {
        while (opened_ < cfg_.clients && opened_ - settled_ < cfg_.connect_window)
            open(*subs_[opened_++]);
    }

    void open(subscriber& s) {
        std::size_t const global = child_.first + s.index; // URL and source address by it
        url const& u = cfg_.subs[global % cfg_.subs.size()];
        error_code ec;
        tcp::endpoint ep(net::ip::make_address(u.host, ec), u.port);
        if (!ec) s.sock.open(tcp::v4(), ec);
        if (!ec && cfg_.source_ips > 1) {
            // Spread the 4-tuples over 127.0.0.1..K; the port is picked at connect time.
            int one = 1;
            ::setsockopt(s.sock.native_handle(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one,
                         sizeof one);
            net::ip::address_v4::bytes_type b{
                {127, 0, 0, static_cast<unsigned char>(1 + global % cfg_.source_ips)}};
            s.sock.bind(tcp::endpoint(net::ip::address_v4(b), 0), ec);
        }
        if (ec) return stream_failed(s, "open", ec.message());
        s.sock.async_connect(ep, [this, &s](error_code ec) {
            if (ec) return stream_failed(s, "connect", ec.message());
            auto const& req = sub_requests_[(child_.first + s.index) % sub_requests_.size()];
            net::async_write(s.sock, net::buffer(req), [this, &s](error_code ec, std::size_t) {
                if (ec) return stream_failed(s, "request", ec.message());
            });
            s.buf.reset(new char[cfg_.read_buffer]);
            do_read(s);
        });
    }

    void stream_failed(subscriber& s, char const* what, std::string const& why) {
        if (s.ended) return;
        s.ended = true;
        error_code ignored;
        s.sock.close(ignored);
        if (first_failure_.empty()) first_failure_ = std::string(what) + ": " + why;
        if (!s.connected) {
            ++failed_;
            settle_one();
        } else if (phase_ != phase::done) {
            ++streams_lost_;
        }
    }

    void mark_connected(subscriber& s) {
        if (s.connected) return;
        s.connected = true;
        ++connected_;
        settle_one();
    }

    void settle_one() {
        ++settled_;
        if (phase_ != phase::connecting) return;
        if (settled_ == cfg_.clients) return connect_done();
        open_more();
    }

    void connect_done() {
        connect_end_ = now_ns();
        if (is_child_) {
            std::string why = first_failure_;
            std::replace(why.begin(), why.end(), '\n', ' ');
            send_up("C " + std::to_string(connected_) + " " + std::to_string(failed_) + " " + why +
                    "\n");
            phase_ = phase::measuring;
            expected_ = connected_ * cfg_.events;
            self_cpu_before_ = process_cpu_self();
            return child_progress();
        }
        double secs = seconds_between(connect_start_, connect_end_);
        json_line("connect", cfg_.label)
            .add_string("target", cfg_.target)
            .add("clients", cfg_.clients)
            .add("connected", connected_)
            .add("failed", failed_)
            .add("seconds", secs)
            .add("connects_per_s", static_cast<double>(connected_) / std::max(secs, 1e-9))
            .add("source_ips", cfg_.source_ips)
            .add("procs", std::max<std::size_t>(1, links_.size()))
            .add_string("first_failure", first_failure_)
            .print();
        if (connected_ == 0) return finish(false);
        phase_ = phase::settling;
        phase_timer_.expires_after(
            std::chrono::milliseconds(static_cast<long long>(cfg_.settle * 1000)));
        phase_timer_.async_wait([this](error_code ec) {
            if (ec) return;
            measure_memory();
            run_hook(cfg_.before_publish);
            start_publisher();
        });
    }

    void measure_memory() {
        mem_after_ = sample_processes(pids_);
        json_line j("memory", cfg_.label);
        std::string pids = "[";
        for (std::size_t i = 0; i < pids_.size(); ++i)
            pids += (i ? "," : "") + std::to_string(pids_[i]);
        pids += "]";
        j.add_raw("pids", pids).add("sampled", mem_before_.ok && mem_after_.ok);
        if (mem_before_.ok && mem_after_.ok) {
            auto per = [&](std::uint64_t before, std::uint64_t after) {
                return (static_cast<double>(after) - static_cast<double>(before)) * 1024.0 /
                       static_cast<double>(connected_);
            };
            rss_per_conn_ = per(mem_before_.rss_kib, mem_after_.rss_kib);
            pss_per_conn_ = per(mem_before_.pss_kib, mem_after_.pss_kib);
            j.add("clients", connected_)
                .add("rss_before_kib", mem_before_.rss_kib)
                .add("rss_after_kib", mem_after_.rss_kib)
                .add("pss_before_kib", mem_before_.pss_kib)
                .add("pss_after_kib", mem_after_.pss_kib)
                .add("rss_bytes_per_conn", rss_per_conn_)
                .add("pss_bytes_per_conn", pss_per_conn_);
        }
        j.print();
    }

    // ---- reading the streams ----

    void do_read(subscriber& s) {
        s.sock.async_read_some(net::buffer(s.buf.get(), cfg_.read_buffer),
                               [this, &s](error_code ec, std::size_t n) { on_read(s, ec, n); });
    }

    void on_read(subscriber& s, error_code ec, std::size_t n) {
        if (phase_ == phase::done) return;
        if (ec)
            return stream_failed(s, "read",
                                 ec == net::error::eof ? "server closed the stream" : ec.message());
        std::uint64_t const t = now_ns();
        consume(s, s.buf.get(), n, t);
        if (!s.ended && phase_ != phase::done) do_read(s);
    }

    void consume(subscriber& s, char const* p, std::size_t n, std::uint64_t t) {
        if (!s.in_body) {
            std::size_t const old = s.head.size();
            s.head.append(p, n);
            auto end = s.head.find("\r\n\r\n", old >= 3 ? old - 3 : 0);
            if (end == std::string::npos) {
                if (s.head.size() > 16384) stream_failed(s, "response", "header too long");
                return;
            }
            std::size_t const body_at = end + 4;
            std::string head = s.head.substr(0, end);
            std::string rest = s.head.substr(body_at);
            s.head.clear();
            s.head.shrink_to_fit();
            if (head.compare(0, 12, "HTTP/1.1 200") != 0 &&
                head.compare(0, 12, "HTTP/1.0 200") != 0)
                return stream_failed(s, "response", head.substr(0, head.find('\r')));
            std::string lower = head;
            std::transform(lower.begin(), lower.end(), lower.begin(),
                           [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
            s.chunked = lower.find("transfer-encoding: chunked") != std::string::npos;
            s.in_body = true;
            if (!cfg_.connected_on_event) mark_connected(s);
            if (!rest.empty()) body(s, rest.data(), rest.size(), t);
            return;
        }
        body(s, p, n, t);
    }

    void body(subscriber& s, char const* p, std::size_t n, std::uint64_t t) {
        if (s.chunked)
            dechunk(s, p, n);
        else
            s.events.append(p, n);
        std::size_t pos = 0;
        for (;;) {
            auto end = s.events.find("\n\n", pos);
            if (end == std::string::npos) break;
            on_event(s, std::string_view(s.events).substr(pos, end - pos), t);
            pos = end + 2;
        }
        s.events.erase(0, pos);
    }

    void dechunk(subscriber& s, char const* p, std::size_t n) {
        while (n > 0) {
            switch (s.chunk_state) {
            case chunk::size_line: {
                char c = *p++;
                --n;
                if (c == '\n') {
                    s.chunk_left = std::strtoul(s.chunk_line.c_str(), nullptr, 16);
                    s.chunk_line.clear();
                    s.chunk_state = s.chunk_left == 0 ? chunk::finished : chunk::data;
                } else if (c != '\r' && s.chunk_line.size() < 64) {
                    s.chunk_line += c;
                }
                break;
            }
            case chunk::data: {
                std::size_t k = std::min(n, s.chunk_left);
                s.events.append(p, k);
                p += k;
                n -= k;
                s.chunk_left -= k;
                if (s.chunk_left == 0) s.chunk_state = chunk::data_end;
                break;
            }
            case chunk::data_end: {
                char c = *p++;
                --n;
                if (c == '\n') s.chunk_state = chunk::size_line;
                break;
            }
            case chunk::finished:
                return;
            }
        }
    }

    static bool parse_uint(std::string_view s, std::size_t& pos, std::uint64_t& out) {
        std::size_t start = pos;
        out = 0;
        while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9')
            out = out * 10 + static_cast<std::uint64_t>(s[pos++] - '0');
        return pos > start;
    }

    void on_event(subscriber& s, std::string_view block, std::uint64_t t) {
        if (!s.connected) {
            if (cfg_.connected_on_event &&
                block.find("event: connection") != std::string_view::npos)
                mark_connected(s);
            return;
        }
        auto d = block.find("data:");
        if (d == std::string_view::npos) return;
        // Only this run's events count: a server may replay what an earlier run published.
        auto m = block.find(run_id_, d);
        if (m == std::string_view::npos) {
            ++foreign_;
            return;
        }
        std::size_t pos = m + run_id_.size();
        if (block.substr(pos, 2) != "t=") return;
        pos += 2;
        std::uint64_t sent = 0, seq = 0;
        if (!parse_uint(block, pos, sent) || block.substr(pos, 3) != ";s=") return;
        pos += 3;
        if (!parse_uint(block, pos, seq)) return;
        delivered(s, seq, sent, t);
    }

    void delivered(subscriber& s, std::uint64_t seq, std::uint64_t sent, std::uint64_t t) {
        if (seq >= total_events_) {
            ++unexpected_;
            return;
        }
        auto& bit = seen_[s.index * total_events_ + seq];
        if (bit) {
            ++duplicated_;
            return;
        }
        bit = 1;
        if (seq < cfg_.warmup) {
            ++warm_received_;
            if (is_child_) return child_progress();
            if (phase_ == phase::warmup && warm_received_ == connected_ * cfg_.warmup)
                start_measuring();
            return;
        }
        ++received_;
        latencies_.push_back(t > sent ? t - sent : 0);
        last_delivery_ = t;
        if (is_child_) return child_progress();
        if (phase_ == phase::measuring && received_ == expected_) finish(true);
    }

    // ---- publishing ----

    void start_publisher() {
        error_code ec;
        tcp::endpoint ep(net::ip::make_address(cfg_.pub.host, ec), cfg_.pub.port);
        if (ec) return fatal("publish URL: " + ec.message());
        pub_sock_.async_connect(ep, [this](error_code ec) {
            if (ec) return fatal("publisher connect: " + ec.message());
            pub_sock_.set_option(tcp::no_delay(true), ec);
            pub_buf_.reset(new char[65536]);
            pub_read();
            if (!pub_started_) {
                pub_started_ = true;
                start_warmup();
            } else {
                pump();
            }
        });
    }

    void start_warmup() {
        if (cfg_.warmup == 0) return start_measuring();
        phase_ = phase::warmup;
        pub_next_ = 0;
        pub_end_ = cfg_.warmup;
        warm_start_ = now_ns();
        // Warm-up waits at most drain_timeout for its deliveries, then measures anyway.
        phase_timer_.expires_after(
            std::chrono::milliseconds(static_cast<long long>(cfg_.drain_timeout * 1000)));
        phase_timer_.async_wait([this](error_code ec) {
            if (!ec && phase_ == phase::warmup) start_measuring();
        });
        pump();
    }

    void start_measuring() {
        phase_timer_.cancel();
        if (cfg_.warmup > 0) {
            json_line("warmup", cfg_.label)
                .add("events", cfg_.warmup)
                .add("expected", connected_ * cfg_.warmup)
                .add("received", warm_received_)
                .add("seconds", seconds_between(warm_start_, now_ns()))
                .print();
        }
        phase_ = phase::measuring;
        expected_ = connected_ * cfg_.events;
        cpu_before_ = sample_processes(pids_);
        self_cpu_before_ = process_cpu_self();
        pub_next_ = cfg_.warmup;
        pub_end_ = total_events_;
        pump();
    }

    std::string make_request(std::size_t seq, std::uint64_t t) {
        std::string marker = run_id_ + "t=" + std::to_string(t) + ";s=" + std::to_string(seq) + ";";
        std::string body;
        if (cfg_.target == "sse") {
            // {"message":"<text>"} is exactly --payload bytes on the wire's data line.
            std::size_t const wrapper = std::strlen(R"({"message":""})");
            marker.resize(cfg_.payload - wrapper, 'x');
            body = R"({"event":"announcement","data":{"message":")" + marker + "\"}}";
        } else {
            marker.resize(cfg_.payload, 'x');
            body = std::move(marker);
        }
        return "POST " + cfg_.pub.target + " HTTP/1.1\r\nHost: " + cfg_.pub.host + ":" +
               std::to_string(cfg_.pub.port) +
               "\r\nContent-Type: " + (cfg_.target == "sse" ? "application/json" : "text/plain") +
               "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    }

    void pump() {
        if (pub_writing_ || pub_reconnecting_ || phase_ == phase::done) return;
        if (pub_in_flight_ >= cfg_.pipeline || pub_next_ >= pub_end_) return;
        std::uint64_t const t = now_ns();
        if (cfg_.rate > 0) {
            // Evenly spaced from the first publish of this phase: a late answer is made up for.
            if (pub_next_ == cfg_.warmup || pub_next_ == 0) pace_start_ = t;
            auto const step = static_cast<std::uint64_t>(1e9 / cfg_.rate);
            auto const index = pub_next_ - (pub_next_ >= cfg_.warmup ? cfg_.warmup : 0);
            std::uint64_t const due = pace_start_ + index * step;
            if (t < due) {
                if (pacing_) return;
                pacing_ = true;
                pace_timer_.expires_after(std::chrono::nanoseconds(due - t));
                pace_timer_.async_wait([this](error_code ec) {
                    pacing_ = false;
                    if (!ec) pump();
                });
                return;
            }
        }
        if (pub_next_ == cfg_.warmup) first_publish_ = t;
        pub_tx_ = make_request(pub_next_, t);
        pub_sent_.push_back(t);
        ++pub_next_;
        ++pub_in_flight_;
        pub_writing_ = true;
        net::async_write(pub_sock_, net::buffer(pub_tx_), [this](error_code ec, std::size_t) {
            pub_writing_ = false;
            if (ec) return fatal("publish write: " + ec.message());
            pump();
        });
    }

    void pub_read() {
        pub_sock_.async_read_some(net::buffer(pub_buf_.get(), 65536), [this](error_code ec,
                                                                             std::size_t n) {
            if (phase_ == phase::done) return;
            if (ec) {
                if (ec == net::error::eof && pub_in_flight_ == 0) return reconnect_publisher();
                return fatal("publish read: " +
                             (ec == net::error::eof ? std::string("server closed") : ec.message()));
            }
            pub_rx_.append(pub_buf_.get(), n);
            bool close = false;
            while (parse_response(close)) {
            }
            if (close) {
                if (pub_in_flight_ != 0)
                    return fatal("server closed the publish connection with requests in flight");
                return reconnect_publisher();
            }
            pub_read();
            pump();
        });
    }

    void reconnect_publisher() {
        pub_reconnecting_ = true;
        error_code ignored;
        pub_sock_.close(ignored);
        pub_sock_ = tcp::socket(ioc_);
        ++pub_reconnects_;
        pub_reconnecting_ = false;
        start_publisher();
    }

    // Consumes one complete response from pub_rx_; false when none is complete yet.
    bool parse_response(bool& close) {
        auto end = pub_rx_.find("\r\n\r\n");
        if (end == std::string::npos) return false;
        std::string head = pub_rx_.substr(0, end);
        std::string lower = head;
        std::transform(lower.begin(), lower.end(), lower.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        std::size_t body_len = 0, total = end + 4;
        if (auto cl = lower.find("\r\ncontent-length:"); cl != std::string::npos) {
            body_len = std::strtoull(lower.c_str() + cl + 17, nullptr, 10);
            total += body_len;
        } else if (lower.find("transfer-encoding: chunked") != std::string::npos) {
            auto last = pub_rx_.find("\r\n0\r\n\r\n", end + 2);
            if (last == std::string::npos) return false;
            total = last + 7;
        }
        if (pub_rx_.size() < total) return false;
        int status = std::atoi(head.c_str() + 9);
        if (lower.find("\r\nconnection: close") != std::string::npos) close = true;
        if (status < 200 || status > 299) {
            ++pub_errors_;
            if (first_pub_error_.empty())
                first_pub_error_ = head.substr(0, head.find('\r')) + " " +
                                   pub_rx_.substr(end + 4, std::min<std::size_t>(body_len, 200));
        }
        pub_rx_.erase(0, total);
        answered(now_ns());
        return true;
    }

    void answered(std::uint64_t t) {
        if (pub_sent_.empty()) return;
        std::uint64_t sent = pub_sent_.front();
        pub_sent_.pop_front();
        --pub_in_flight_;
        ++pub_answered_;
        if (phase_ == phase::measuring) {
            publish_rtts_.push_back(t - sent);
            last_answer_ = t;
            if (pub_answered_ == total_events_) {
                // Deliveries still on their way get drain_timeout more, then count as lost.
                phase_timer_.expires_after(
                    std::chrono::milliseconds(static_cast<long long>(cfg_.drain_timeout * 1000)));
                phase_timer_.async_wait([this](error_code ec) {
                    if (!ec && phase_ == phase::measuring) timed_out("--drain-timeout");
                });
            }
        }
    }

    // ---- the end ----

    static void run_hook(std::string const& cmd) {
        if (cmd.empty()) return;
        std::cout.flush();
        if (int rc = std::system(cmd.c_str()); rc != 0)
            std::cerr << "sse_load: hook exited with " << rc << ": " << cmd << "\n";
    }

    void fatal(std::string const& why) {
        std::cerr << "sse_load: " << why << "\n";
        if (first_failure_.empty()) first_failure_ = why;
        finish(false);
    }

    void timed_out(char const* which) {
        std::cerr << "sse_load: " << which << " reached\n";
        timed_out_ = true;
        finish(false);
    }

    void finish(bool complete) {
        if (phase_ == phase::done) return;
        phase const was = phase_;
        phase_ = phase::done;
        if (is_child_) {
            // The streams stay open until the parent says so: its --after-publish hook must
            // see every client still connected.
            child_report(complete, process_cpu_self() - self_cpu_before_);
            ok_ = complete;
            if (stop_requested_) child_close();
            return;
        }
        std::uint64_t const t_stop = now_ns();
        proc_sample cpu_after = sample_processes(pids_);
        double self_cpu = process_cpu_self() - self_cpu_before_;
        bool const hook = was == phase::measuring || was == phase::warmup;
        if (hook) run_hook(cfg_.after_publish); // every stream still open
        if (!links_.empty()) {
            collect_children(); // their counters, latencies and CPU
            self_cpu += children_cpu_;
            if (was == phase::connecting) count_children();
        }
        std::uint64_t const t_end = complete ? last_delivery_ : t_stop;
        if (was == phase::connecting) connect_done_partial();
        if (was == phase::measuring || was == phase::warmup || first_publish_ != 0)
            report(complete, t_end, cpu_after, self_cpu);
        ok_ =
            complete && failed_ == 0 && duplicated_ == 0 && pub_errors_ == 0 && streams_lost_ == 0;
        deadline_.cancel();
        phase_timer_.cancel();
        error_code ignored;
        pub_sock_.close(ignored);
        for (auto& s : subs_)
            s->sock.close(ignored);
        ioc_.stop();
    }

    void connect_done_partial() {
        json_line("connect", cfg_.label)
            .add_string("target", cfg_.target)
            .add("clients", cfg_.clients)
            .add("connected", connected_)
            .add("failed", failed_)
            .add("seconds", seconds_between(connect_start_, now_ns()))
            .add("complete", false)
            .add_string("first_failure", first_failure_)
            .print();
    }

    void report(bool complete, std::uint64_t t_end, proc_sample const& cpu_after, double self_cpu) {
        double const secs =
            first_publish_ ? seconds_between(first_publish_, std::max(t_end, first_publish_ + 1))
                           : 0;
        std::uint64_t const expected = connected_ * cfg_.events;
        std::uint64_t const lost = expected > received_ ? expected - received_ : 0;
        double const rate = secs > 0 ? static_cast<double>(received_) / secs : 0;
        std::uint64_t const p10 = quantile(latencies_, 0.10);
        std::uint64_t const p50 = quantile(latencies_, 0.50), p99 = quantile(latencies_, 0.99);
        std::uint64_t const minl =
            latencies_.empty() ? 0 : *std::min_element(latencies_.begin(), latencies_.end());
        std::uint64_t const maxl =
            latencies_.empty() ? 0 : *std::max_element(latencies_.begin(), latencies_.end());
        std::uint64_t const r50 = quantile(publish_rtts_, 0.50),
                            r99 = quantile(publish_rtts_, 0.99);
        double server_cpu = -1, cpu_per = -1;
        if (cpu_before_.ok && cpu_after.ok) {
            server_cpu = cpu_after.cpu_s - cpu_before_.cpu_s;
            if (received_ > 0) cpu_per = server_cpu * 1e9 / static_cast<double>(received_);
        }
        double const publish_secs =
            last_answer_ ? seconds_between(first_publish_, last_answer_) : 0;
        json_line("publish", cfg_.label)
            .add_string("target", cfg_.target)
            .add("clients", connected_)
            .add("events", cfg_.events)
            .add("payload", cfg_.payload)
            .add("pipeline", cfg_.pipeline)
            .add("rate", cfg_.rate)
            .add("expected", expected)
            .add("received", received_)
            .add("lost", lost)
            .add("duplicated", duplicated_)
            .add("unexpected", unexpected_)
            .add("foreign", foreign_)
            .add("streams_lost", streams_lost_)
            .add("publish_errors", pub_errors_)
            .add("seconds", secs)
            .add("deliveries_per_s", rate)
            .add("min_us", static_cast<double>(minl) / 1e3)
            .add("p10_us", static_cast<double>(p10) / 1e3)
            .add("p50_us", static_cast<double>(p50) / 1e3)
            .add("p99_us", static_cast<double>(p99) / 1e3)
            .add("max_us", static_cast<double>(maxl) / 1e3)
            .add("answered", publish_rtts_.size())
            .add("publish_seconds", publish_secs)
            .add("publish_rtt_p50_us", static_cast<double>(r50) / 1e3)
            .add("publish_rtt_p99_us", static_cast<double>(r99) / 1e3)
            .add("server_cpu_s", server_cpu)
            .add("cpu_ns_per_delivery", cpu_per)
            .add("client_cpu_s", self_cpu)
            .add("rss_bytes_per_conn", rss_per_conn_)
            .add("pss_bytes_per_conn", pss_per_conn_)
            .add("complete", complete)
            .add("timed_out", timed_out_)
            .add_string("first_failure", first_failure_)
            .add_string("first_publish_error", first_pub_error_)
            .print();

        std::fprintf(
            stderr,
            "%s%s: %zu clients, %zu events of %zu B (pipeline %zu)\n"
            "  connect   %.2f s for %zu streams (%zu failed)\n"
            "  memory    %.0f B/conn RSS, %.0f B/conn PSS\n"
            "  delivery  %.0f deliveries/s, %llu/%llu received, %llu lost, %llu duplicated%s\n"
            "  latency   p50 %.0f us, p99 %.0f us, max %.0f us (publish answer p50 %.0f us)\n"
            "  cpu       server %.3f s = %.0f ns/delivery; this client %.3f s in %.3f s\n",
            cfg_.label.empty() ? "" : (cfg_.label + " ").c_str(), cfg_.target.c_str(), cfg_.clients,
            cfg_.events, cfg_.payload, cfg_.pipeline, seconds_between(connect_start_, connect_end_),
            connected_, failed_, rss_per_conn_, pss_per_conn_, rate,
            static_cast<unsigned long long>(received_), static_cast<unsigned long long>(expected),
            static_cast<unsigned long long>(lost), static_cast<unsigned long long>(duplicated_),
            complete ? "" : " (INCOMPLETE)", static_cast<double>(p50) / 1e3,
            static_cast<double>(p99) / 1e3, static_cast<double>(maxl) / 1e3,
            static_cast<double>(r50) / 1e3, server_cpu, cpu_per, self_cpu, secs);
        if (!first_failure_.empty())
            std::fprintf(stderr, "  first failure: %s\n", first_failure_.c_str());
        if (!first_pub_error_.empty())
            std::fprintf(stderr, "  first publish error: %s\n", first_pub_error_.c_str());
    }

    net::io_context& ioc_;
    config const cfg_;
    net::steady_timer deadline_;
    net::steady_timer phase_timer_;
    net::steady_timer pace_timer_{ioc_}; // --rate
    bool pacing_ = false;
    std::uint64_t pace_start_ = 0;
    std::vector<int> pids_;
    phase phase_ = phase::connecting;
    bool ok_ = false;
    bool timed_out_ = false;

    // subscribers
    std::vector<std::string> sub_requests_;
    std::vector<std::unique_ptr<subscriber>> subs_;
    std::size_t opened_ = 0, settled_ = 0, connected_ = 0, failed_ = 0, streams_lost_ = 0;
    std::string first_failure_;
    std::uint64_t connect_start_ = 0, connect_end_ = 0;
    proc_sample mem_before_, mem_after_;
    double rss_per_conn_ = 0, pss_per_conn_ = 0;

    // deliveries
    std::size_t total_events_ = 0;
    std::vector<std::uint8_t> seen_; // [client * total_events + seq]
    std::vector<std::uint64_t> latencies_;
    std::string run_id_; // "r=<number>;" opens every payload of this run
    std::uint64_t warm_received_ = 0, received_ = 0, expected_ = 0, duplicated_ = 0,
                  unexpected_ = 0;
    std::uint64_t foreign_ = 0; // events of other runs (replayed history), ignored
    std::uint64_t warm_start_ = 0, first_publish_ = 0, last_delivery_ = 0, last_answer_ = 0;
    proc_sample cpu_before_;
    double self_cpu_before_ = 0;

    // the publisher
    tcp::socket pub_sock_;
    std::unique_ptr<char[]> pub_buf_;
    std::string pub_tx_, pub_rx_, first_pub_error_;
    std::deque<std::uint64_t> pub_sent_;
    std::vector<std::uint64_t> publish_rtts_;
    std::size_t pub_next_ = 0, pub_end_ = 0, pub_in_flight_ = 0, pub_answered_ = 0;
    std::size_t pub_errors_ = 0, pub_reconnects_ = 0;
    bool pub_writing_ = false, pub_reconnecting_ = false, pub_started_ = false;

    // the split over processes
    bool is_child_ = false;
    child_role child_;
    net::posix::stream_descriptor ctl_; // child: the control pipe from the parent
    char ctl_byte_[1] = {0};
    bool started_ = false, warm_sent_ = false, stop_requested_ = false;
    std::vector<std::unique_ptr<child_link>> links_; // parent: one per child
    double children_cpu_ = 0;
    bool children_counted_ = false;
};

} // namespace

int main(int argc, char** argv) {
    config cfg = parse_args(argc, argv);
    if (cfg.procs <= 1) {
        raise_nofile(cfg.clients + 256);
        net::io_context ioc(1);
        load_run run(ioc, std::move(cfg));
        run.start();
        ioc.run();
        return run.exit_code();
    }
    // Fork before any io_context exists; each child gets clients [first, first + count).
    struct forked {
        int pid, up, ctl;
        std::size_t clients;
    };
    std::vector<forked> kids;
    std::cout.flush();
    for (std::size_t k = 0; k < cfg.procs; ++k) {
        std::size_t const first = k * cfg.clients / cfg.procs;
        std::size_t const count = (k + 1) * cfg.clients / cfg.procs - first;
        int up[2], ctl[2];
        if (::pipe(up) != 0 || ::pipe(ctl) != 0) {
            std::perror("sse_load: pipe");
            return 1;
        }
        int pid = ::fork();
        if (pid < 0) {
            std::perror("sse_load: fork");
            return 1;
        }
        if (pid == 0) {
            for (auto const& o : kids) {
                ::close(o.up);
                ::close(o.ctl);
            }
            ::close(up[0]);
            ::close(ctl[1]);
            raise_nofile(count + 256);
            config mine = cfg;
            mine.clients = count;
            mine.server_pids.clear();
            mine.before_publish.clear();
            mine.after_publish.clear();
            child_role role{up[1], ctl[0], first};
            int rc = 1;
            {
                net::io_context ioc(1);
                load_run run(ioc, std::move(mine), &role);
                run.start();
                ioc.run();
                rc = run.exit_code();
            }
            std::_Exit(rc);
        }
        ::close(up[1]);
        ::close(ctl[0]);
        kids.push_back({pid, up[0], ctl[1], count});
    }
    raise_nofile(1024);
    net::io_context ioc(1);
    std::vector<std::unique_ptr<load_run::child_link>> links;
    for (auto const& k : kids)
        links.push_back(std::make_unique<load_run::child_link>(ioc, k.pid, k.up, k.ctl, k.clients));
    load_run run(ioc, std::move(cfg), std::move(links));
    run.start();
    ioc.run();
    return run.exit_code();
}
