// bench/redis_publish.cpp - emits per second published through sse::redis_adapter.
//
// Usage:
//   redis_publish [--url redis://127.0.0.1:6379] [--emits 200000] [--payload 100]
//                 [--rooms 1] [--window 4096] [--threads 1] [--no-channel-numbers]
//                 [--no-marks]
//
// Needs a running redis-server (e.g. `redis-server --port 6379 --save '' --appendonly no`).
// Two nodes on their own io_contexts and threads, as two processes would be:
//   - the publisher emits --emits events of --payload bytes of JSON to --rooms rooms, from
//     --threads threads (one namespace each), as fast as broadcast() takes them (nothing is
//     dropped: its
//     max_pending_emits is set to --emits), and the time until Redis acknowledged the last
//     PUBLISH gives "published/s";
//   - the subscriber has a client in every room; the time until it handed the last event to
//     its (counting) host gives "delivered/s", end to end through Redis.
// --window is the publisher's max_in_flight; --window 1 shows what one round trip per emit
// would cost. Prints one line per figure; timings on a shared machine vary, run it a few times.
//
// Latency: `--paced R` emits R events per second from one thread instead (at most --emits),
// and prints the median and percentiles of the time from broadcast() to the other node's
// delivery: what a remote client waits for Redis beyond what a local one does (local delivery
// happens inside broadcast()). `--shared-history` sends them as a namespace with history and
// redis_options::shared_history does (one EVALSHA that stores and publishes; ids from the
// clock), instead of a PUBLISH. `--no-channel-numbers` turns redis_options::channel_numbers
// off on both nodes (what numbering each channel's messages costs); `--no-marks` turns
// redis_options::channel_mark_after to 0 (what noting each written message for its channel's
// mark costs).
#include <sse/redis_adapter.hpp>

#include <sse/detail/hybrid_id.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace net = boost::asio;
using clock_type = std::chrono::steady_clock;

namespace {

// Counts deliveries; in the paced mode also records when each id arrived.
struct counting_host final : sse::adapter_host {
    void deliver_remote(std::string_view, std::vector<std::string> const&,
                        std::vector<std::string> const&,
                        std::shared_ptr<sse::encoded_event>) override {
        // Unstamped (the receiving namespace numbers it): one origin's emits come in emit
        // order, so the n-th arrival is the emit the sender stamped n.
        arrived(delivered.load(std::memory_order_relaxed) + 1);
    }
    void deliver_sequenced(std::string_view, std::vector<std::string> const&,
                           std::vector<std::string> const&, std::shared_ptr<sse::encoded_event>,
                           std::uint64_t id, std::string_view) override {
        arrived(id);
    }
    void arrived(std::uint64_t id) {
        if (timed) {
            std::lock_guard<std::mutex> lock(m);
            arrivals.emplace_back(id, clock_type::now());
        }
        delivered.fetch_add(1, std::memory_order_relaxed);
    }
    bool timed = false;
    std::mutex m;
    std::vector<std::pair<std::uint64_t, clock_type::time_point>> arrivals;
    std::uint64_t last_delivered(std::string_view) const override { return 0; }
    void reset_clients(std::string_view, std::vector<std::string> const&,
                       std::string_view) override {}
    std::vector<std::pair<std::string, std::string>> local_interests() const override { return {}; }
    std::atomic<std::uint64_t> delivered{0};
};

struct no_local final : sse::local_delivery {
    void deliver(sse::broadcast_packet const&) override {}
};

struct io_thread {
    io_thread()
        : work(net::make_work_guard(ioc))
        , thread([this] { ioc.run(); }) {}
    ~io_thread() {
        work.reset();
        ioc.stop();
        thread.join();
    }
    net::io_context ioc;
    net::executor_work_guard<net::io_context::executor_type> work;
    std::thread thread;
};

template <class Pred>
bool wait_for(Pred pred, std::chrono::seconds limit) {
    auto const deadline = clock_type::now() + limit;
    while (!pred()) {
        if (clock_type::now() > deadline) return false;
        std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    return true;
}

double per_second(std::uint64_t n, clock_type::duration d) {
    return static_cast<double>(n) / std::chrono::duration<double>(d).count();
}

// The paced mode: `emits` events at `rate` per second to one room, each timed from
// broadcast() to its arrival at `sub_host`. Prints percentiles; false if some never came.
bool run_paced(sse::redis_adapter& pub, counting_host& sub_host, std::string const& nsp,
               std::string const& room, std::uint64_t emits, double rate, bool shared) {
    nlohmann::json data = {{"match", "arsenal-vs-chelsea"}, {"score", "1-0"}};
    auto const encoded = sse::encoded_event::make("score_update", data);
    sse::history_options h;
    if (shared) h.max_events = 1000;
    std::vector<std::pair<std::uint64_t, clock_type::time_point>> sent;
    sent.reserve(static_cast<std::size_t>(emits));
    sub_host.timed = true;
    no_local local;
    std::vector<std::string> const none, target{room};
    auto const period =
        std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(1.0 / rate));
    auto next = clock_type::now();
    std::uint64_t last_id = 0;
    for (std::uint64_t i = 0; i < emits; ++i) {
        std::this_thread::sleep_until(next);
        next += period;
        auto ev = sse::encoded_event::from_body(encoded->name(), encoded->body());
        // As a namespace stamps them: a clock-based id (shared history) or a counter.
        last_id =
            shared ? sse::detail::next_hybrid_id(last_id, sse::detail::unix_us_now(), pub.id_tag())
                   : i + 1;
        ev->stamp(last_id);
        sse::event_ptr shared_ev = std::move(ev);
        auto const t = clock_type::now();
        pub.broadcast(sse::broadcast_packet{nsp, target, none, shared_ev, h, shared}, local);
        sent.emplace_back(last_id, t);
    }
    bool const all =
        wait_for([&] { return sub_host.delivered.load() >= emits; }, std::chrono::seconds(30));
    std::vector<double> us;
    {
        std::lock_guard<std::mutex> lock(sub_host.m);
        std::unordered_map<std::uint64_t, clock_type::time_point> when(sent.begin(), sent.end());
        for (auto const& [id, at] : sub_host.arrivals)
            if (auto it = when.find(id); it != when.end())
                us.push_back(std::chrono::duration<double, std::micro>(at - it->second).count());
    }
    std::sort(us.begin(), us.end());
    auto pct = [&](double q) {
        return us.empty() ? 0.0
                          : us[std::min(us.size() - 1, static_cast<std::size_t>(q * us.size()))];
    };
    std::printf("  paced %.0f/s, %s: %zu of %llu arrived; broadcast() to the other node's "
                "delivery, us: p50 %.0f  p90 %.0f  p99 %.0f  max %.0f\n",
                rate, shared ? "shared history (EVALSHA)" : "PUBLISH", us.size(),
                static_cast<unsigned long long>(emits), pct(0.5), pct(0.9), pct(0.99),
                us.empty() ? 0.0 : us.back());
    return all;
}

} // namespace

int main(int argc, char** argv) {
    std::string url = "redis://127.0.0.1:6379";
    std::uint64_t emits = 200000;
    std::size_t payload = 100, rooms = 1, window = 4096, threads = 1;
    double paced = 0;
    bool shared_history = false, channel_numbers = true, marks = true;
    for (int i = 1; i < argc; i += 2) {
        std::string_view k = argv[i];
        if (k == "--shared-history" || k == "--no-channel-numbers" || k == "--no-marks") {
            if (k == "--shared-history") shared_history = true;
            if (k == "--no-channel-numbers") channel_numbers = false;
            if (k == "--no-marks") marks = false;
            --i;
            continue;
        }
        if (i + 1 >= argc) {
            std::cerr << "option " << k << " needs a value\n";
            return 2;
        }
        char const* v = argv[i + 1];
        if (k == "--paced")
            paced = std::strtod(v, nullptr);
        else if (k == "--url")
            url = v;
        else if (k == "--emits")
            emits = std::strtoull(v, nullptr, 10);
        else if (k == "--payload")
            payload = std::strtoull(v, nullptr, 10);
        else if (k == "--rooms")
            rooms = std::strtoull(v, nullptr, 10);
        else if (k == "--window")
            window = std::strtoull(v, nullptr, 10);
        else if (k == "--threads")
            threads = std::strtoull(v, nullptr, 10);
        else {
            std::cerr << "unknown option " << k << " (see the comment at the top of "
                      << "bench/redis_publish.cpp)\n";
            return 2;
        }
    }
    if (rooms == 0) rooms = 1;
    if (threads == 0) threads = 1;

    std::string const prefix = "bench" + std::to_string(::getpid());
    auto quiet = [](sse::redis_log_level level, std::string_view text) {
        if (level >= sse::redis_log_level::warning) std::cerr << "[sse.redis] " << text << '\n';
    };

    io_thread pub_io, sub_io;
    sse::redis_options po;
    po.url = url;
    po.channel_prefix = prefix;
    po.max_pending_emits = static_cast<std::size_t>(emits) + 1;
    po.max_in_flight = window;
    po.log = quiet;
    po.channel_numbers = channel_numbers;
    if (!marks) po.channel_mark_after = std::chrono::milliseconds(0);
    sse::redis_options so = po;
    so.max_in_flight = 4096;

    auto pub_host = std::make_shared<counting_host>();
    auto sub_host = std::make_shared<counting_host>();
    auto pub = std::make_shared<sse::redis_adapter>(pub_io.ioc.get_executor(), po);
    auto sub = std::make_shared<sse::redis_adapter>(sub_io.ioc.get_executor(), so);
    pub->attach(pub_host);
    sub->attach(sub_host);
    // One namespace per emitting thread: an adapter's broadcasts for one namespace never
    // overlap (the namespace serializes them), so the threads stand for namespaces.
    std::vector<std::string> namespaces;
    for (std::size_t t = 0; t < threads; ++t) {
        namespaces.push_back("/bench" + std::to_string(t));
        pub->namespace_added(namespaces.back());
        sub->namespace_added(namespaces.back());
    }
    std::vector<std::string> room_names;
    for (std::size_t r = 0; r < rooms; ++r)
        room_names.push_back("room-" + std::to_string(r));
    for (auto const& nsp : namespaces)
        for (auto const& room : room_names)
            sub->room_added(nsp, room);
    if (!wait_for(
            [&] {
                auto p = pub->state();
                auto s = sub->state();
                return p.connected && s.connected && s.pending_subscriptions == 0 &&
                       s.subscribed_channels == threads * (rooms + 1);
            },
            std::chrono::seconds(5))) {
        std::cerr << "could not connect to " << url << ": " << pub->state().last_error << '\n';
        return 1;
    }

    if (paced > 0) {
        bool const ok =
            run_paced(*pub, *sub_host, namespaces[0], room_names[0], emits, paced, shared_history);
        pub->close();
        sub->close();
        return ok ? 0 : 1;
    }

    nlohmann::json data = {{"match", "arsenal-vs-chelsea"}, {"pad", std::string(payload, 'x')}};
    auto const encoded = sse::encoded_event::make("score_update", data);
    sse::history_options const no_history{};

    std::printf("redis_publish: %llu emits, %zu-byte event body, %zu room(s), window %zu, "
                "%zu emitting thread(s)\n",
                static_cast<unsigned long long>(emits), encoded->body().size(), rooms, window,
                threads);

    auto const start = clock_type::now();
    std::vector<std::thread> emitters;
    for (std::size_t t = 0; t < threads; ++t) {
        emitters.emplace_back([&, t] {
            no_local local;
            std::vector<std::string> const none;
            for (std::uint64_t i = t; i < emits; i += threads) {
                // One event per emit, as a namespace makes it (stamped, shared).
                auto ev = sse::encoded_event::from_body(encoded->name(), encoded->body());
                ev->stamp(i + 1);
                sse::event_ptr shared = std::move(ev);
                std::vector<std::string> target{room_names[i % rooms]};
                pub->broadcast(
                    sse::broadcast_packet{namespaces[t], target, none, shared, no_history}, local);
            }
        });
    }
    for (auto& e : emitters)
        e.join();
    auto const emitted = clock_type::now();

    bool const all_published =
        wait_for([&] { return pub->state().published >= emits; }, std::chrono::seconds(120));
    auto const published = clock_type::now();
    bool const all_delivered =
        wait_for([&] { return sub_host->delivered.load() >= emits; }, std::chrono::seconds(120));
    auto const delivered = clock_type::now();

    auto ps = pub->state();
    std::printf("  broadcast() calls/s   %12.0f  (%.1f ms for all)\n",
                per_second(emits, emitted - start),
                std::chrono::duration<double, std::milli>(emitted - start).count());
    std::printf("  published/s           %12.0f  (acknowledged by Redis%s)\n",
                per_second(ps.published, published - start), all_published ? "" : "; INCOMPLETE");
    std::printf("  delivered/s           %12.0f  (end to end on the other node%s)\n",
                per_second(sub_host->delivered.load(), delivered - start),
                all_delivered ? "" : "; INCOMPLETE");
    std::printf("  dropped %llu, malformed %llu\n", static_cast<unsigned long long>(ps.dropped),
                static_cast<unsigned long long>(sub->state().malformed));

    pub->close();
    sub->close();
    return all_published && all_delivered ? 0 : 1;
}
