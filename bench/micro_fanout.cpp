// micro_fanout - the cost of one emit to a room, without HTTP and without a client process.
//
// N clients are connected once over real loopback sockets (the reading ends are in a child
// process that reads and discards) and admitted through the public API: `ns.connect(tcp_stream,
// request)`, `client->join(room)`. The io_context runs only when a benchmark says so, which
// separates the costs:
//
//   BM_emit_idle_writers   ns.to(room).emit() while every writer is idle, as in a sequential
//                          publish: encode + stamp + resolve + per client (lock, push, post to
//                          its strand). The io_context does not run in the timed region.
//   BM_emit_burst          emits while every writer is already busy (the previous emit's posts
//                          not yet run): encode + resolve + per client (lock, push). The queues
//                          are flushed, with the clock stopped, every 32 emits.
//   BM_emit_and_write      emit, then run the io_context until every client has written it:
//                          the whole server-side cost of a delivery, writev syscalls included.
//   BM_emit_json_*         the same with nlohmann::json data, as the typed API emits.
//   BM_encode_*            encoded_event::make alone.
//   BM_floor_send          the floor: ::send of one prebuilt buffer to each of N raw fds.
//   BM_floor_asio_write    plain Asio: net::async_write of one shared buffer per tcp::socket.
//   BM_idle_client         one-shot: heap bytes, allocations and RSS per idle connected client.
//
// Allocations are counted by replacing the global operator new/delete in this file; only the
// allocations made inside the timed region are reported (allocs_per_emit, bytes_per_emit).
//
//   micro_fanout                                   everything, N = 1000 and 10000
//   micro_fanout --benchmark_filter='idle_writers/10000'
//   SSE_BENCH_EXIT_WITH_CLIENTS=1 heaptrack micro_fanout --benchmark_filter='idle_client/10000'
//       heaptrack_print --print-leaks 1 ...: what each idle client holds, by call stack
// Asio allocates its operations with std::aligned_alloc, which the operator new below would not
// see; with these two it uses ::operator new, so per-recipient operations are counted too.
#define BOOST_ASIO_DISABLE_STD_ALIGNED_ALLOC 1
#define BOOST_ASIO_DISABLE_BOOST_ALIGN 1

#include <sse/server.hpp>

#include <benchmark/benchmark.h>

#include <boost/asio/io_context.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/message.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <malloc.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <new>
#include <string>
#include <vector>

// ---- counting allocator: every operator new of the process goes through here ----------------

namespace counting {
std::atomic<std::uint64_t> allocations{0};
std::atomic<std::uint64_t> allocated_bytes{0};
std::atomic<std::int64_t> live_bytes{0};

inline void* allocate(std::size_t n) {
    void* p = std::malloc(n == 0 ? 1 : n);
    if (!p) throw std::bad_alloc();
    allocations.fetch_add(1, std::memory_order_relaxed);
    allocated_bytes.fetch_add(n, std::memory_order_relaxed);
    live_bytes.fetch_add(static_cast<std::int64_t>(malloc_usable_size(p)),
                         std::memory_order_relaxed);
    return p;
}

inline void* allocate_aligned(std::size_t n, std::size_t align) {
    std::size_t const size = (n + align - 1) / align * align;
    void* p = std::aligned_alloc(align, size == 0 ? align : size);
    if (!p) throw std::bad_alloc();
    allocations.fetch_add(1, std::memory_order_relaxed);
    allocated_bytes.fetch_add(n, std::memory_order_relaxed);
    live_bytes.fetch_add(static_cast<std::int64_t>(malloc_usable_size(p)),
                         std::memory_order_relaxed);
    return p;
}

inline void release(void* p) noexcept {
    if (!p) return;
    live_bytes.fetch_sub(static_cast<std::int64_t>(malloc_usable_size(p)),
                         std::memory_order_relaxed);
    std::free(p);
}

/// Allocations between construction and `count()`.
struct scope {
    std::uint64_t allocs = allocations.load(std::memory_order_relaxed);
    std::uint64_t bytes = allocated_bytes.load(std::memory_order_relaxed);
    std::uint64_t count_allocs() const {
        return allocations.load(std::memory_order_relaxed) - allocs;
    }
    std::uint64_t count_bytes() const {
        return allocated_bytes.load(std::memory_order_relaxed) - bytes;
    }
};
} // namespace counting

void* operator new(std::size_t n) {
    return counting::allocate(n);
}
void* operator new[](std::size_t n) {
    return counting::allocate(n);
}
void* operator new(std::size_t n, std::nothrow_t const&) noexcept {
    try {
        return counting::allocate(n);
    } catch (...) {
        return nullptr;
    }
}
void* operator new[](std::size_t n, std::nothrow_t const&) noexcept {
    try {
        return counting::allocate(n);
    } catch (...) {
        return nullptr;
    }
}
void* operator new(std::size_t n, std::align_val_t a) {
    return counting::allocate_aligned(n, static_cast<std::size_t>(a));
}
void* operator new[](std::size_t n, std::align_val_t a) {
    return counting::allocate_aligned(n, static_cast<std::size_t>(a));
}
void operator delete(void* p) noexcept {
    counting::release(p);
}
void operator delete[](void* p) noexcept {
    counting::release(p);
}
void operator delete(void* p, std::size_t) noexcept {
    counting::release(p);
}
void operator delete[](void* p, std::size_t) noexcept {
    counting::release(p);
}
void operator delete(void* p, std::align_val_t) noexcept {
    counting::release(p);
}
void operator delete[](void* p, std::align_val_t) noexcept {
    counting::release(p);
}
void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
    counting::release(p);
}
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept {
    counting::release(p);
}

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

constexpr char const* room_name = "arsenal-vs-chelsea";

// About 100 bytes of data, like bench/compare's events.
std::string const payload_text =
    "t=1234567890123456789;s=42;"
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";

std::size_t rss_bytes() {
    std::ifstream in("/proc/self/statm");
    std::size_t pages = 0, resident = 0;
    in >> pages >> resident;
    return resident * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

/// N admitted clients in one room of one namespace, over loopback sockets. The reading ends
/// live in a child process that connects them and then reads and discards everything, so
/// this process holds one fd per client (RLIMIT_NOFILE is 20 000 here) and its writes never
/// block. Built once per N and kept across benchmarks.
/// What serves the N connections: the library, or a floor to compare it with.
enum class kind {
    sse,  // sse::server, clients admitted through ns.connect()
    raw,  // plain fds written with ::send (a bare epoll server's fan-out)
    asio, // plain tcp::socket written with net::async_write (Asio without strands or Beast)
};

class rig {
public:
    rig(kind k, std::size_t n)
        : kind_(k)
        , n_(n) {
        if (k == kind::sse) {
            sse::options opts;
            opts.heartbeat_interval = std::chrono::milliseconds(0); // no timer in the way
            opts.max_buffered_bytes = 64 * 1024 * 1024;             // bursts must not drop anyone
            server_ = std::make_unique<sse::server>(ioc_.get_executor(), opts);
            ns_ = &server_->of("/bench");
        }

        listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof addr;
        if (listener_ < 0 ||
            ::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
            ::listen(listener_, 4096) != 0 ||
            ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
            error_ = "cannot listen on 127.0.0.1";
            return;
        }
        int pipe_fds[2];
        if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
            error_ = "pipe failed";
            return;
        }
        child_ = ::fork();
        if (child_ == 0) {
            ::close(pipe_fds[1]);
            reader_main(addr, n, pipe_fds[0]); // never returns
        }
        ::close(pipe_fds[0]);
        if (child_ < 0) {
            ::close(pipe_fds[1]);
            error_ = "fork failed";
            return;
        }
        stop_child_ = pipe_fds[1]; // the child exits when this closes

        // Everything from here to the last admission is what N idle clients cost the server.
        std::int64_t const live_before = counting::live_bytes.load();
        std::size_t const rss_before = rss_bytes();
        counting::scope allocs;
        for (std::size_t i = 0; i < n; ++i) {
            int accepted = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
            if (accepted < 0) {
                error_ = "accept failed after " + std::to_string(i) + " clients";
                return;
            }
            if (k == kind::raw) {
                ::fcntl(accepted, F_SETFL, O_NONBLOCK);
                raw_.push_back(accepted);
                continue;
            }
            if (k == kind::asio) {
                asio_.emplace_back(ioc_);
                asio_.back().assign(tcp::v4(), accepted);
                continue;
            }
            beast::tcp_stream stream(ioc_);
            stream.socket().assign(tcp::v4(), accepted);
            http::request<http::empty_body> req{http::verb::get,
                                                "/stream/football/arsenal-vs-chelsea", 11};
            req.set(http::field::host, "127.0.0.1");
            req.set(http::field::accept, "text/event-stream");
            auto c = ns_->connect(std::move(stream), std::move(req));
            c->join(room_name);
        }
        flush();
        if (k != kind::sse) return;
        if (ns_->client_count() != n) {
            error_ = "only " + std::to_string(ns_->client_count()) + " of " + std::to_string(n) +
                     " admitted";
            return;
        }
        heap_per_client_ =
            static_cast<double>(counting::live_bytes.load() - live_before) / static_cast<double>(n);
        rss_per_client_ = (static_cast<double>(rss_bytes()) - static_cast<double>(rss_before)) /
                          static_cast<double>(n);
        allocs_per_client_ = static_cast<double>(allocs.count_allocs()) / static_cast<double>(n);
    }

    ~rig() {
        if (server_) server_->close();
        ioc_.run_for(std::chrono::seconds(5));
        server_.reset();
        asio_.clear();
        for (int fd : raw_)
            ::close(fd);
        if (stop_child_ >= 0) ::close(stop_child_);
        if (child_ > 0) ::waitpid(child_, nullptr, 0);
        if (listener_ >= 0) ::close(listener_);
    }

    /// Runs every ready handler: posted writes, their completions, admissions.
    void flush() {
        if (ioc_.stopped()) ioc_.restart(); // a poll that ran out of work stops the io_context
        for (int i = 0; i < 1000 && ioc_.poll() > 0; ++i) {
        }
    }

    std::string const& error() const { return error_; }
    kind what() const { return kind_; }
    std::size_t size() const { return n_; }
    std::vector<int> const& raw_fds() const { return raw_; }
    std::vector<tcp::socket>& asio_sockets() { return asio_; }
    sse::namespace_& ns() { return *ns_; }
    double heap_per_client() const { return heap_per_client_; }
    double rss_per_client() const { return rss_per_client_; }
    double allocs_per_client() const { return allocs_per_client_; }
    std::uint64_t deliveries() const { return ns_->stats().deliveries; }

private:
    // The child: connect n sockets, then read and discard until the parent closes `stop`.
    [[noreturn]] static void reader_main(sockaddr_in addr, std::size_t n, int stop) {
        int ep = ::epoll_create1(0);
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.fd = stop;
        ::epoll_ctl(ep, EPOLL_CTL_ADD, stop, &ev);
        for (std::size_t i = 0; i < n; ++i) {
            int fd = ::socket(AF_INET, SOCK_STREAM, 0);
            if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
                ::_exit(1);
            ::fcntl(fd, F_SETFL, O_NONBLOCK);
            ev.data.fd = fd;
            ::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
        }
        static char buf[1 << 16];
        epoll_event ready[256];
        for (;;) {
            int k = ::epoll_wait(ep, ready, 256, -1);
            for (int i = 0; i < k; ++i) {
                if (ready[i].data.fd == stop) ::_exit(0);
                while (::recv(ready[i].data.fd, buf, sizeof buf, MSG_DONTWAIT) > 0) {
                }
            }
        }
    }

    kind kind_;
    std::size_t n_;
    net::io_context ioc_{1};
    std::unique_ptr<sse::server> server_;
    std::vector<int> raw_;
    std::vector<tcp::socket> asio_;
    sse::namespace_* ns_ = nullptr;
    int listener_ = -1;
    pid_t child_ = -1;
    int stop_child_ = -1;
    std::string error_;
    double heap_per_client_ = 0, rss_per_client_ = 0, allocs_per_client_ = 0;
};

// One rig at a time (10 000 clients are 20 000 fds); rebuilt when N changes.
rig* get_rig(benchmark::State& state, kind k = kind::sse) {
    static std::unique_ptr<rig> current;
    auto const n = static_cast<std::size_t>(state.range(0));
    if (!current || current->size() != n || current->what() != k) {
        current.reset();
        current = std::make_unique<rig>(k, n);
    }
    if (!current->error().empty()) {
        state.SkipWithError(current->error().c_str());
        return nullptr;
    }
    return current.get();
}

void set_counters(benchmark::State& state, rig const& r, std::uint64_t allocs, std::uint64_t bytes,
                  std::uint64_t deliveries) {
    auto const iters = static_cast<double>(state.iterations());
    state.counters["clients"] = static_cast<double>(r.size());
    state.counters["time_per_delivery"] = benchmark::Counter(
        static_cast<double>(r.size()),
        benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
    state.counters["allocs_per_emit"] = static_cast<double>(allocs) / iters;
    state.counters["alloc_bytes_per_emit"] = static_cast<double>(bytes) / iters;
    state.counters["delivered_ratio"] =
        static_cast<double>(deliveries) / (iters * static_cast<double>(r.size()));
}

template <class Emit>
void run_idle_writers(benchmark::State& state, Emit&& emit) {
    rig* r = get_rig(state);
    if (!r) return;
    std::uint64_t allocs = 0, bytes = 0;
    std::uint64_t const delivered_before = r->deliveries();
    for (auto _ : state) {
        counting::scope s;
        emit(r->ns());
        allocs += s.count_allocs();
        bytes += s.count_bytes();
        state.PauseTiming();
        r->flush(); // every writer idle again before the next emit
        state.ResumeTiming();
    }
    r->flush();
    set_counters(state, *r, allocs, bytes, r->deliveries() - delivered_before);
}

void emit_text(sse::namespace_& ns) {
    ns.to(room_name).emit("announcement", sse::text(payload_text));
}
void emit_json(sse::namespace_& ns) {
    ns.to(room_name).emit("announcement", nlohmann::json{{"message", payload_text}});
}

void BM_emit_idle_writers(benchmark::State& state) {
    run_idle_writers(state, emit_text);
}
void BM_emit_json_idle_writers(benchmark::State& state) {
    run_idle_writers(state, emit_json);
}

void BM_emit_burst(benchmark::State& state) {
    rig* r = get_rig(state);
    if (!r) return;
    std::uint64_t allocs = 0, bytes = 0, i = 0;
    std::uint64_t const delivered_before = r->deliveries();
    for (auto _ : state) {
        counting::scope s;
        emit_text(r->ns());
        allocs += s.count_allocs();
        bytes += s.count_bytes();
        if (++i % 32 == 0) {
            state.PauseTiming();
            r->flush();
            state.ResumeTiming();
        }
    }
    r->flush();
    set_counters(state, *r, allocs, bytes, r->deliveries() - delivered_before);
}

void BM_emit_and_write(benchmark::State& state) {
    rig* r = get_rig(state);
    if (!r) return;
    std::uint64_t allocs = 0, bytes = 0;
    std::uint64_t const delivered_before = r->deliveries();
    for (auto _ : state) {
        counting::scope s;
        emit_text(r->ns());
        r->flush(); // the strands run: one writev per client
        allocs += s.count_allocs();
        bytes += s.count_bytes();
    }
    set_counters(state, *r, allocs, bytes, r->deliveries() - delivered_before);
}

// The floor: one prebuilt buffer sent to every fd, as a bare epoll server would.
void BM_floor_send(benchmark::State& state) {
    rig* r = get_rig(state, kind::raw);
    if (!r) return;
    auto const wire = "id: 12345\nevent: announcement\ndata: " + payload_text + "\n\n";
    std::uint64_t sent = 0;
    for (auto _ : state) {
        for (int fd : r->raw_fds())
            if (::send(fd, wire.data(), wire.size(), MSG_DONTWAIT | MSG_NOSIGNAL) > 0) ++sent;
    }
    state.counters["clients"] = static_cast<double>(r->size());
    state.counters["time_per_delivery"] = benchmark::Counter(
        static_cast<double>(r->size()),
        benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
    state.counters["delivered_ratio"] =
        static_cast<double>(sent) /
        (static_cast<double>(state.iterations()) * static_cast<double>(r->size()));
}

// Plain Asio: net::async_write of one shared buffer per socket, then run the io_context.
void BM_floor_asio_write(benchmark::State& state) {
    rig* r = get_rig(state, kind::asio);
    if (!r) return;
    auto const wire = std::make_shared<std::string const>(
        "id: 12345\nevent: announcement\ndata: " + payload_text + "\n\n");
    std::uint64_t sent = 0, allocs = 0;
    for (auto _ : state) {
        counting::scope s;
        for (auto& sock : r->asio_sockets())
            net::async_write(sock, net::buffer(*wire),
                             [&sent, wire](boost::system::error_code ec, std::size_t) {
                                 if (!ec) ++sent;
                             });
        r->flush();
        allocs += s.count_allocs();
    }
    state.counters["clients"] = static_cast<double>(r->size());
    state.counters["time_per_delivery"] = benchmark::Counter(
        static_cast<double>(r->size()),
        benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
    state.counters["allocs_per_emit"] =
        static_cast<double>(allocs) / static_cast<double>(state.iterations());
    state.counters["delivered_ratio"] =
        static_cast<double>(sent) /
        (static_cast<double>(state.iterations()) * static_cast<double>(r->size()));
}

void BM_idle_client(benchmark::State& state) {
    rig* r = get_rig(state);
    if (!r) return;
    for (auto _ : state) {
        // Nothing to time: the rig measured its clients while connecting them.
    }
    state.counters["clients"] = static_cast<double>(r->size());
    state.counters["heap_bytes_per_client"] = r->heap_per_client();
    state.counters["rss_bytes_per_client"] = r->rss_per_client();
    state.counters["allocs_per_client"] = r->allocs_per_client();
}

void BM_encode_text(benchmark::State& state) {
    std::uint64_t allocs = 0;
    for (auto _ : state) {
        counting::scope s;
        auto e = sse::encoded_event::make("announcement", sse::text(payload_text));
        e->stamp(12345);
        benchmark::DoNotOptimize(e->wire().data());
        allocs += s.count_allocs();
    }
    state.counters["allocs_per_emit"] =
        static_cast<double>(allocs) / static_cast<double>(state.iterations());
}

void BM_encode_json(benchmark::State& state) {
    std::uint64_t allocs = 0;
    for (auto _ : state) {
        counting::scope s;
        auto e =
            sse::encoded_event::make("announcement", nlohmann::json{{"message", payload_text}});
        e->stamp(12345);
        benchmark::DoNotOptimize(e->wire().data());
        allocs += s.count_allocs();
    }
    state.counters["allocs_per_emit"] =
        static_cast<double>(allocs) / static_cast<double>(state.iterations());
}

BENCHMARK(BM_encode_text);
BENCHMARK(BM_encode_json);
// Grouped by N so that each rig is built once.
BENCHMARK(BM_idle_client)->Arg(1000)->Iterations(1);
// An emit to idle writers only queues (the flush queue sends later), so the timed region is
// short and the paused flush long: the default minimum time would take minutes of wall time.
constexpr double idle_min_time = 0.05;
BENCHMARK(BM_emit_idle_writers)->Arg(1000)->Unit(benchmark::kMicrosecond)->MinTime(idle_min_time);
BENCHMARK(BM_emit_json_idle_writers)
    ->Arg(1000)
    ->Unit(benchmark::kMicrosecond)
    ->MinTime(idle_min_time);
BENCHMARK(BM_emit_burst)->Arg(1000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_emit_and_write)->Arg(1000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_floor_send)->Arg(1000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_floor_asio_write)->Arg(1000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_idle_client)->Arg(10000)->Iterations(1);
BENCHMARK(BM_emit_idle_writers)->Arg(10000)->Unit(benchmark::kMicrosecond)->MinTime(idle_min_time);
BENCHMARK(BM_emit_json_idle_writers)
    ->Arg(10000)
    ->Unit(benchmark::kMicrosecond)
    ->MinTime(idle_min_time);
BENCHMARK(BM_emit_burst)->Arg(10000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_emit_and_write)->Arg(10000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_floor_send)->Arg(10000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_floor_asio_write)->Arg(10000)->Unit(benchmark::kMicrosecond);

void raise_nofile() {
    // One fd per client here (the reading ends are in the child), and the same in the child.
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
    rlim_t const want = 10000 + 1024;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want) {
        rlimit more{want, want};
        if (setrlimit(RLIMIT_NOFILE, &more) == 0) return; // root may raise the hard limit
        std::fprintf(stderr,
                     "micro_fanout: RLIMIT_NOFILE hard limit %llu is below %llu: the 10000-client "
                     "benchmarks will be skipped\n",
                     static_cast<unsigned long long>(rl.rlim_max),
                     static_cast<unsigned long long>(want));
    }
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
}

} // namespace

int main(int argc, char** argv) {
    raise_nofile();
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    // For heaptrack: exit with the last rig's clients still allocated, so that its leak report
    // is a breakdown of what an idle client holds (the teardown's flush would be the peak).
    if (std::getenv("SSE_BENCH_EXIT_WITH_CLIENTS")) std::_Exit(0);
    return 0;
}
