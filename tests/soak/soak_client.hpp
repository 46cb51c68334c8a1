// tests/soak/soak_client.hpp - what the soaks (soak.cpp, soak_redis.cpp) share: the
// asynchronous SSE client that connects, joins rooms through its query, reads and checks ids
// as it goes (each soak checks the data of its events), the client thread, the churn of
// clients and the final check of those that stayed, the server-side room joins, and the
// environment.
#ifndef SSE_TESTS_SOAK_CLIENT_HPP
#define SSE_TESTS_SOAK_CLIENT_HPP

#include "integration/fixture.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <cstdlib>
#include <functional>
#include <future>
#include <mutex>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace sse_test::soak {

constexpr int broadcast_room = -1;
/// Index of a room (or of the broadcast) in per-room tables.
constexpr std::size_t slot(int room) {
    return static_cast<std::size_t>(room + 1);
}

inline long env_or(char const* name, long fallback) {
    if (char const* v = std::getenv(name)) {
        long x = std::strtol(v, nullptr, 10);
        if (x > 0) return x;
    }
    return fallback;
}

inline void raise_fd_limit() {
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &rl);
    }
}

inline std::string room_name(int r) {
    return "room" + std::to_string(r);
}

/// A gap a client saw in another node's events: seqs (after, before) exclusive were missing.
struct gap {
    int origin;
    int room;
    long after;
    long before;
};

/// Counters shared by all clients (written on the client thread, read anywhere).
struct soak_totals {
    std::atomic<std::uint64_t> connects{0};
    std::atomic<std::uint64_t> admitted{0};
    std::atomic<std::uint64_t> events{0};
    std::atomic<std::uint64_t> errors{0};
    std::atomic<std::uint64_t> ended_by_server{0};
    std::atomic<std::uint64_t> left{0};
    std::mutex m;
    std::vector<std::string> samples;
    std::vector<gap> gaps; // the Redis soak's

    void error(std::string what) {
        ++errors;
        std::lock_guard<std::mutex> lock(m);
        if (samples.size() < 20) samples.push_back(std::move(what));
    }
    void record(gap g) {
        std::lock_guard<std::mutex> lock(m);
        gaps.push_back(g);
    }
    /// The first errors, into the test's report.
    void report() {
        std::lock_guard<std::mutex> lock(m);
        for (auto const& s : samples)
            UNSCOPED_INFO("client error: " << s);
    }
};

/// One browser-like client on the client io_context (all its state lives on that thread):
/// asks for `pre` rooms (joined before admission) and `post` rooms (after it), and checks
/// the status and that ids strictly increase. A soak checks each event's data in `on_data`.
class stream_client : public std::enable_shared_from_this<stream_client> {
public:
    stream_client(net::io_context& ioc, soak_totals& totals, unsigned short port, int room_count,
                  std::vector<int> pre, std::vector<int> post)
        : totals_(totals)
        , sock_(ioc)
        , timer_(ioc)
        , port_(port)
        , pre_(std::move(pre))
        , post_(std::move(post)) {
        mine_.assign(slot(room_count), false);
        mine_[slot(broadcast_room)] = true;
        for (int r : pre_)
            mine_[slot(r)] = true;
        for (int r : post_)
            mine_[slot(r)] = true;
    }
    virtual ~stream_client() = default;

    /// Connects; leaves after `lifetime` (zero: stays), with a reset when `abrupt`.
    void start(std::chrono::milliseconds lifetime, bool abrupt) {
        ++totals_.connects;
        abrupt_ = abrupt;
        net::ip::tcp::endpoint ep(net::ip::make_address("127.0.0.1"), port_);
        sock_.async_connect(ep, [self = shared_from_this(), lifetime](beast::error_code ec) {
            if (ec) {
                self->totals_.error("connect: " + ec.message());
                self->done_ = true;
                return;
            }
            self->on_connect(lifetime);
        });
    }

    /// Leaves now (the client closes its side).
    void leave() {
        if (done_ || leaving_) return;
        leaving_ = true;
        timer_.cancel();
        beast::error_code ec;
        if (abrupt_) sock_.set_option(net::socket_base::linger(true, 0), ec);
        sock_.close(ec);
        ++totals_.left;
    }

    /// Stays until the end: the final check applies to it. (Its leave timer may have fired
    /// already, with the handler queued: the flag stops that handler.)
    void keep() {
        stays_ = true;
        timer_.cancel();
    }

    bool done() const noexcept { return done_; }
    bool admitted() const noexcept { return admitted_; }
    bool leaving() const noexcept { return leaving_; }

    bool expect_open_ = false; // set for the clients the final check applies to

protected:
    /// The data of an event "e" whose id was in order.
    virtual void on_data(std::string const& data) = 0;

    /// Whether the client is in `room` (broadcast_room: always); false for no room at all.
    bool joined(int room) const {
        return room >= broadcast_room && slot(room) < mine_.size() && mine_[slot(room)];
    }
    std::string end_state() const { return done_ ? " (ended)" : " (open)"; }

    soak_totals& totals_;

private:
    void on_connect(std::chrono::milliseconds lifetime) {
        beast::error_code ec;
        sock_.set_option(net::ip::tcp::no_delay(true), ec);
        request_ = "GET /soak?pre=" + list(pre_) + "&post=" + list(post_) +
                   " HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n";
        net::async_write(sock_, net::buffer(request_),
                         [self = shared_from_this()](beast::error_code e, std::size_t) {
                             if (e) return self->on_end(e);
                             self->do_read();
                         });
        if (lifetime.count() > 0) {
            timer_.expires_after(lifetime);
            timer_.async_wait([self = shared_from_this()](beast::error_code e) {
                if (!e && !self->stays_) self->leave();
            });
        }
    }

    static std::string list(std::vector<int> const& rooms) {
        std::string out;
        for (int r : rooms)
            out += (out.empty() ? "" : ",") + std::to_string(r);
        return out;
    }

    void do_read() {
        sock_.async_read_some(net::buffer(buf_),
                              [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                                  if (ec) return self->on_end(ec);
                                  self->on_bytes(std::string_view(self->buf_.data(), n));
                                  self->do_read();
                              });
    }

    void on_end(beast::error_code ec) {
        if (done_) return;
        done_ = true;
        if (!leaving_) {
            ++totals_.ended_by_server;
            if (expect_open_) totals_.error("stream ended by the server: " + ec.message());
            beast::error_code ignored;
            sock_.close(ignored);
        }
        timer_.cancel();
    }

    void on_bytes(std::string_view in) {
        if (!head_done_) {
            head_.append(in.data(), in.size());
            auto end = head_.find("\r\n\r\n");
            if (end == std::string::npos) return;
            head_done_ = true;
            if (head_.rfind("HTTP/1.1 200 ", 0) != 0)
                totals_.error("status: " + head_.substr(0, 20));
            parser_.feed(std::string_view(head_).substr(end + 4));
            head_.clear();
            head_.shrink_to_fit();
        } else {
            parser_.feed(in);
        }
        auto& q = parser_.events();
        while (!q.empty()) {
            on_event(q.front());
            q.pop_front();
        }
    }

    void on_event(sse_event const& e) {
        if (e.event == "connection") {
            admitted_ = true;
            ++totals_.admitted;
            return;
        }
        if (e.event != "e") return; // "flood" in the close test: counted by the server only
        ++totals_.events;
        std::uint64_t id = 0;
        std::from_chars(e.id.data(), e.id.data() + e.id.size(), id);
        if (id <= last_id_)
            totals_.error("id " + std::to_string(id) + " after " + std::to_string(last_id_));
        last_id_ = id;
        on_data(e.data);
    }

    net::ip::tcp::socket sock_;
    net::steady_timer timer_;
    unsigned short port_;
    std::vector<int> pre_, post_;
    std::vector<bool> mine_;
    std::uint64_t last_id_ = 0;
    std::string request_;
    std::string head_;
    bool head_done_ = false;
    bool admitted_ = false;
    bool leaving_ = false;
    bool done_ = false;
    bool abrupt_ = false;
    bool stays_ = false;
    std::array<char, 16384> buf_{};
    event_stream_parser parser_;
};

/// The client side: its own io_context on one thread.
struct client_side {
    client_side()
        : work(net::make_work_guard(ioc))
        , thread([this] { ioc.run(); }) {
        // Asio creates its reactor's descriptors (epoll, eventfd, timerfd) on first use: do
        // that now, so that they belong to the baseline.
        net::ip::tcp::socket warm(ioc);
        warm.open(net::ip::tcp::v4());
        net::steady_timer t(ioc, std::chrono::hours(1));
        t.async_wait([](beast::error_code) {});
        t.cancel();
        warm.close();
    }
    ~client_side() {
        work.reset();
        ioc.stop();
        thread.join();
    }
    template <class F>
    auto run(F&& f) {
        using R = decltype(f());
        std::packaged_task<R()> task(std::forward<F>(f));
        auto fut = task.get_future();
        net::post(ioc, [&task] { task(); });
        return fut.get();
    }
    net::io_context ioc;
    net::executor_work_guard<net::io_context::executor_type> work;
    std::thread thread;
};

/// The rooms of a new client: 1 to `most` draws below `room_count`, each joined before
/// admission (first) or after it (second) at random; a room drawn again is skipped.
template <class Rng>
std::pair<std::vector<int>, std::vector<int>> random_rooms(Rng& rng, int room_count, int most) {
    std::uniform_int_distribution<int> room(0, room_count - 1), count(1, most), coin(0, 1);
    std::vector<int> pre, post;
    int const n = count(rng);
    for (int i = 0; i < n; ++i) {
        int r = room(rng);
        if (std::find(pre.begin(), pre.end(), r) != pre.end() ||
            std::find(post.begin(), post.end(), r) != post.end())
            continue;
        (coin(rng) ? pre : post).push_back(r);
    }
    return {std::move(pre), std::move(post)};
}

/// Starts a churned client: it stays, or leaves after 100 ms to 3 s; half of them reset.
template <class Rng>
void start_churned(stream_client& c, Rng& rng, bool stays) {
    std::uniform_int_distribution<int> life(100, 3000), coin(0, 1);
    c.start(std::chrono::milliseconds(stays ? 0 : life(rng)), coin(rng) == 1);
}

/** The churn, on the client thread: clients from `spawn(stays)` (made and started by the
    soak), `stayers` of them staying all along; every 20 ms those that left are forgotten
    and up to `per_tick` new ones come, while fewer than `target` are live and `spawning`.
*/
template <class Client>
class churn {
public:
    using spawn_fn = std::function<std::shared_ptr<Client>(bool stays)>;

    churn(client_side& cs, std::size_t target, int per_tick, spawn_fn spawn)
        : cs_(cs)
        , tick_(cs.ioc)
        , target_(target)
        , per_tick_(per_tick)
        , spawn_(std::move(spawn)) {}
    churn(churn const&) = delete;
    churn& operator=(churn const&) = delete;

    void start(std::size_t stayers) {
        cs_.run([&] {
            for (std::size_t i = 0; i < stayers; ++i)
                live_.push_back(spawn_(true));
            on_tick();
            return 0;
        });
    }

    /// The clients still there and admitted, after `out`: they stay for the final check
    /// (their streams must not end). The others leave.
    std::vector<std::shared_ptr<Client>> survivors(std::vector<std::shared_ptr<Client>> out = {}) {
        return cs_.run([&] {
            for (auto& c : live_) {
                if (c->done() || c->leaving() || !c->admitted()) {
                    c->leave(); // not admitted yet: not part of the final check
                    continue;
                }
                c->keep();
                c->expect_open_ = true;
                out.push_back(c);
            }
            return out;
        });
    }

    /// The churn ends; every client leaves, and those of `also`.
    void end(std::vector<std::shared_ptr<Client>> const& also = {}) {
        cs_.run([&] {
            tick_.cancel();
            for (auto& c : live_)
                c->leave();
            for (auto& c : also)
                c->leave();
            live_.clear();
            return 0;
        });
    }

    std::atomic<bool> spawning{true};

private:
    void on_tick() {
        live_.erase(std::remove_if(live_.begin(), live_.end(),
                                   [](auto const& c) { return c->done() || c->leaving(); }),
                    live_.end());
        for (int i = 0; spawning && live_.size() < target_ && i < per_tick_; ++i)
            live_.push_back(spawn_(false));
        tick_.expires_after(std::chrono::milliseconds(20));
        tick_.async_wait([this](beast::error_code ec) {
            if (!ec) on_tick();
        });
    }

    client_side& cs_;
    net::steady_timer tick_;
    std::size_t target_;
    int per_tick_;
    spawn_fn spawn_;
    std::vector<std::shared_ptr<Client>> live_; // client thread only
};

/// Whether every survivor saw `final` (within 30 s); if not, the test fails with the first
/// five that missed events.
template <class Client>
bool survivors_complete(client_side& cs, std::vector<std::shared_ptr<Client>> const& survivors,
                        std::vector<long> const& final) {
    bool const complete = eventually(
        [&] {
            return cs.run([&] {
                for (auto const& c : survivors)
                    if (!c->complete(final)) return false;
                return true;
            });
        },
        std::chrono::seconds(30));
    if (!complete) {
        auto why = cs.run([&] {
            std::string out;
            int shown = 0;
            for (auto const& c : survivors)
                if (!c->complete(final) && shown++ < 5) out += c->describe(final) + "\n";
            return out;
        });
        FAIL_CHECK("survivors that missed events:\n" << why);
    }
    return complete;
}

/// "1,5,7" -> the rooms below `room_count` it names.
inline std::vector<int> parse_rooms(std::string_view s, int room_count) {
    std::vector<int> out;
    while (!s.empty()) {
        auto comma = s.find(',');
        int r = -2;
        std::from_chars(s.data(), s.data() + (comma == std::string_view::npos ? s.size() : comma),
                        r);
        if (r >= 0 && r < room_count) out.push_back(r);
        s = comma == std::string_view::npos ? std::string_view{} : s.substr(comma + 1);
    }
    return out;
}

/// Joins rooms from the query: `pre` before admission (middleware), `post` after it.
inline void install_room_joins(sse::namespace_& ns, int room_count) {
    ns.use([room_count](sse::client& c, sse::next next) {
        for (int r : parse_rooms(c.handshake().query("pre"), room_count))
            c.join(room_name(r));
        next();
    });
    ns.on_connection([room_count](sse::client_ptr c) {
        for (int r : parse_rooms(c->handshake().query("post"), room_count))
            c->join(room_name(r));
    });
}

} // namespace sse_test::soak

#endif
