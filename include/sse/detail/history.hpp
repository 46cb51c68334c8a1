// sse/detail/history.hpp - recent events per room, for Last-Event-ID replay (sans-I/O).
#ifndef SSE_DETAIL_HISTORY_HPP
#define SSE_DETAIL_HISTORY_HPP

#include <sse/event.hpp>
#include <sse/options.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace sse::detail {

/// An event id as we write them (decimal, no sign, fits 64 bits), or nothing.
inline std::optional<std::uint64_t> parse_event_id(std::string_view s) noexcept {
    if (s.empty() || s.size() > 20) return std::nullopt;
    std::uint64_t v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return std::nullopt;
        std::uint64_t d = static_cast<std::uint64_t>(c - '0');
        if (v > (UINT64_MAX - d) / 10) return std::nullopt;
        v = v * 10 + d;
    }
    return v;
}

/// The rooms and except-rooms of one emit, shared by its history entries.
struct emit_targets {
    std::vector<std::string> rooms;
    std::vector<std::string> except;
};

struct history_entry {
    std::uint64_t id;
    event_ptr event; // the same shared bytes the live recipients got
    std::shared_ptr<emit_targets const> targets;
    std::chrono::steady_clock::time_point at;
};

/** The recent events of each room of a namespace, and of its namespace-wide broadcasts
    (kept under the room name ""), bounded by count per room and by age.

    A log remembers the newest id it has dropped (`dropped_upto`): a client whose last id is
    older than that has missed events we no longer have, and must be told to reset.
    Not thread-safe: the namespace calls it under its registry lock.
*/
class history {
public:
    using clock = std::chrono::steady_clock;

    /// The name under which namespace-wide broadcasts are kept.
    static constexpr char const* broadcast_log = "";

    explicit history(history_options opts = {})
        : opts_(opts) {}

    bool enabled() const noexcept { return opts_.max_events > 0; }
    void configure(history_options opts) {
        opts_ = opts;
        if (!enabled()) logs_.clear();
    }
    history_options const& options() const noexcept { return opts_; }

    /// Records one emit in the log of each of its rooms (or the broadcast log).
    /// Logs the event under `rooms`; `targets_rooms` are all the rooms the emit named
    /// (clients' private rooms too), kept to tell who had it already.
    void record(std::uint64_t id, event_ptr const& event, std::vector<std::string> const& rooms,
                std::vector<std::string> const& targets_rooms,
                std::vector<std::string> const& except, clock::time_point now) {
        if (!enabled()) return;
        auto targets = std::make_shared<emit_targets const>(emit_targets{targets_rooms, except});
        if (rooms.empty()) {
            append(broadcast_log, history_entry{id, event, targets, now}, now);
        } else {
            for (auto const& r : rooms)
                append(r, history_entry{id, event, targets, now}, now);
        }
    }

    /// Drops entries older than max_age everywhere, and logs left empty and cold.
    void expire(clock::time_point now) {
        for (auto it = logs_.begin(); it != logs_.end();) {
            trim(it->second, now);
            // A cold, empty log is forgotten, but its gap is not: `forgotten_upto_` makes any
            // client older than it reset rather than silently miss what the log dropped.
            if (it->second.entries.empty() && now - it->second.last_write > opts_.max_age) {
                forgotten_upto_ = std::max(forgotten_upto_, it->second.dropped_upto);
                it = logs_.erase(it);
            } else {
                ++it;
            }
        }
    }

    /// The outcome of a replay lookup.
    enum class verdict { replay, reset };

    /** Collects the events after `after` in the logs of `rooms` (and the broadcast log when
        `with_broadcasts`), de-duplicated and in id order. `reset` when any of those logs has
        dropped an event newer than `after` (the gap cannot be filled).
    */
    verdict collect(std::uint64_t after, std::vector<std::string> const& rooms,
                    bool with_broadcasts, std::vector<history_entry const*>& out) const {
        out.clear();
        auto take = [&](std::string const& name) {
            auto it = logs_.find(name);
            if (it == logs_.end()) return forgotten_upto_ <= after;
            if (it->second.dropped_upto > after) return false;
            auto const& entries = it->second.entries;
            auto first =
                std::upper_bound(entries.begin(), entries.end(), after,
                                 [](std::uint64_t v, history_entry const& e) { return v < e.id; });
            for (; first != entries.end(); ++first)
                out.push_back(&*first);
            return true;
        };
        if (with_broadcasts && !take(broadcast_log)) return verdict::reset;
        for (auto const& r : rooms)
            if (!take(r)) return verdict::reset;
        std::sort(out.begin(), out.end(),
                  [](history_entry const* a, history_entry const* b) { return a->id < b->id; });
        out.erase(std::unique(out.begin(), out.end(),
                              [](history_entry const* a, history_entry const* b) {
                                  return a->id == b->id;
                              }),
                  out.end());
        return verdict::replay;
    }

    /// Entries kept, over all logs (for tests and stats).
    std::size_t size() const noexcept {
        std::size_t n = 0;
        for (auto const& kv : logs_)
            n += kv.second.entries.size();
        return n;
    }

private:
    struct log {
        std::deque<history_entry> entries; // ascending ids
        std::uint64_t dropped_upto = 0;
        clock::time_point last_write{};
    };

    void append(std::string const& name, history_entry e, clock::time_point now) {
        auto [it, fresh] = logs_.try_emplace(name);
        auto& l = it->second;
        // A log of this name may have been forgotten with a gap: the new one keeps it.
        if (fresh) l.dropped_upto = forgotten_upto_;
        l.entries.push_back(std::move(e));
        l.last_write = now;
        trim(l, now);
    }

    void trim(log& l, clock::time_point now) {
        while (!l.entries.empty() && (l.entries.size() > opts_.max_events ||
                                      now - l.entries.front().at > opts_.max_age)) {
            l.dropped_upto = std::max(l.dropped_upto, l.entries.front().id);
            l.entries.pop_front();
        }
    }

    history_options opts_;
    std::unordered_map<std::string, log> logs_;
    std::uint64_t forgotten_upto_ = 0;
};

} // namespace sse::detail

#endif
