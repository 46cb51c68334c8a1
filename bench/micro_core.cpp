// micro_core - the delivery core alone (sse/detail/delivery_core.hpp): no sockets, no strands.
//
// N clients are admitted to one namespace's core and join one room. What each benchmark times:
//
//   BM_core_emit_room        one emit to the room: one shared record + one append + mark
//                            the room for the next flush pass. Reported per recipient: the
//                            target of issue 14 is <= 10 ns at N = 10 000, i.e. the emit
//                            must not do work per recipient. Members flush (clock stopped)
//                            every 64 emits, as a flush pass would.
//   BM_core_emit_namespace   the same for a namespace-wide emit.
//   BM_core_plan             a flush pass: 8 emits, then take_woken (which also trims the
//                            logs to their slowest reader) and one plan per woken client
//                            (the merge of its namespace log, private log and room logs
//                            after its position). Reported per delivery (event planned for a
//                            client) and per client plan.
//   BM_core_plan_10_rooms    the same for clients that are in 10 rooms each, emits spread
//                            over them: the merge of 12 logs per plan.
//
//   micro_core                                  everything, N = 1000 and 10000
//   micro_core --benchmark_filter='emit_room/10000'
#include <sse/detail/delivery_core.hpp>

#include <benchmark/benchmark.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace {

using sse::detail::client_state;
using sse::detail::delivery_core;
using sse::detail::log_clock;
using sse::detail::plan_limits;

struct rig {
    delivery_core core;
    std::vector<std::string> ids;
    std::unique_ptr<client_state[]> clients;
    std::size_t n;
    std::vector<sse::event_ptr> out;
    std::vector<client_state*> woken;

    rig(std::size_t count, std::size_t rooms_each)
        : clients(new client_state[count])
        , n(count) {
        ids.reserve(n);
        for (std::size_t i = 0; i < n; ++i)
            ids.push_back("client-" + std::to_string(i));
        for (std::size_t i = 0; i < n; ++i) {
            core.admit(clients[i], ids[i], std::nullopt);
            for (std::size_t r = 0; r < rooms_each; ++r)
                core.join(clients[i], "room" + std::to_string(r));
        }
        out.reserve(1024);
    }
    ~rig() {
        for (std::size_t i = 0; i < n; ++i)
            core.remove(clients[i], log_clock::now());
    }

    // Encoded events, stamped with the next ids (encoding is not the core's cost: see
    // micro_fanout's BM_encode_*).
    std::vector<sse::event_ptr> prepare(std::size_t count, sse::event_ptr const& body) {
        std::vector<sse::event_ptr> evs;
        for (std::size_t k = 0; k < count; ++k) {
            auto ev = sse::encoded_event::from_body(body->name(), body->body());
            ev->stamp(core.head() + 1 + k);
            evs.push_back(std::move(ev));
        }
        return evs;
    }

    // What an emit costs the core: the shared record and one append per target room.
    void emit(std::vector<std::string> const& rooms, sse::event_ptr ev) {
        auto now = log_clock::now();
        core.append(sse::detail::make_record(std::move(ev), rooms, {}, now), now);
    }

    // A flush pass: the woken clients (the logs' amortised trim included), one plan each.
    std::size_t flush_all() {
        std::size_t delivered = 0;
        auto now = log_clock::now();
        core.take_woken(woken, now);
        for (client_state* c : woken) {
            out.clear();
            auto p = core.plan(*c, plan_limits{}, out, now);
            delivered += p.events;
        }
        return delivered;
    }
};

sse::event_ptr sample_event() {
    return sse::encoded_event::make("score_update", sse::text(R"({"home":2,"away":1})"));
}

void emit_bench(benchmark::State& state, bool namespace_wide) {
    std::size_t const n = static_cast<std::size_t>(state.range(0));
    rig r(n, 1);
    auto const body = sample_event();
    std::vector<std::string> const rooms =
        namespace_wide ? std::vector<std::string>{} : std::vector<std::string>{"room0"};
    auto batch = r.prepare(64, body);
    std::size_t k = 0;
    for (auto _ : state) {
        r.emit(rooms, std::move(batch[k]));
        if (++k == batch.size()) {
            state.PauseTiming();
            r.flush_all();
            batch = r.prepare(64, body);
            k = 0;
            state.ResumeTiming();
        }
    }
    // Seconds per (emit x recipient), shown in ns by the benchmark's unit suffix.
    state.counters["per_recipient"] =
        benchmark::Counter(static_cast<double>(state.iterations()) * static_cast<double>(n),
                           benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

void BM_core_emit_room(benchmark::State& state) {
    emit_bench(state, false);
}
void BM_core_emit_namespace(benchmark::State& state) {
    emit_bench(state, true);
}

void plan_bench(benchmark::State& state, std::size_t rooms_each) {
    std::size_t const n = static_cast<std::size_t>(state.range(0));
    rig r(n, rooms_each);
    auto const body = sample_event();
    std::vector<std::vector<std::string>> targets;
    for (std::size_t k = 0; k < rooms_each; ++k)
        targets.push_back({"room" + std::to_string(k)});
    std::size_t delivered = 0;
    std::size_t e = 0;
    for (auto _ : state) {
        state.PauseTiming();
        for (auto& ev : r.prepare(8, body))
            r.emit(targets[e++ % targets.size()], std::move(ev));
        state.ResumeTiming();
        delivered += r.flush_all();
    }
    state.counters["per_delivery"] = benchmark::Counter(
        static_cast<double>(delivered), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
    state.counters["per_client_plan"] =
        benchmark::Counter(static_cast<double>(state.iterations()) * static_cast<double>(n),
                           benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

void BM_core_plan(benchmark::State& state) {
    plan_bench(state, 1);
}
void BM_core_plan_10_rooms(benchmark::State& state) {
    plan_bench(state, 10);
}

} // namespace

BENCHMARK(BM_core_emit_room)->Arg(1000)->Arg(10000)->Unit(benchmark::kNanosecond);
BENCHMARK(BM_core_emit_namespace)->Arg(1000)->Arg(10000)->Unit(benchmark::kNanosecond);
BENCHMARK(BM_core_plan)->Arg(1000)->Arg(10000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_core_plan_10_rooms)->Arg(1000)->Arg(10000)->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
