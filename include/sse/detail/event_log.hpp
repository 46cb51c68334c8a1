// sse/detail/event_log.hpp - a bounded ring of emitted events in id order (sans-I/O).
//
// One log per room, one for the namespace-wide broadcasts, one per client for its private
// events. The log is both the live delivery queue (clients read it from their position) and
// the replay history (a reconnecting client reads it from its Last-Event-ID).
#ifndef SSE_DETAIL_EVENT_LOG_HPP
#define SSE_DETAIL_EVENT_LOG_HPP

#include <sse/event.hpp>

#include <algorithm>
#include <cassert>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sse::detail {

using log_clock = std::chrono::steady_clock;

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

/** One emit as the logs keep it: the shared encoded bytes and who it was for.

    Allocated once per emit and shared by every log it is appended to (a log entry is one
    pointer and the id): nothing here is per recipient. Immutable once appended.
*/
struct emit_record {
    event_ptr event;                ///< stamped with `id`
    std::uint64_t id = 0;           ///< > 0, assigned by this node or by the adapter
    std::size_t bytes = 0;          ///< event->wire().size(), cached for the byte bounds
    log_clock::time_point at{};     ///< when it was appended here (age bound)
    std::vector<std::string> rooms; ///< target rooms; empty = every client of the namespace
    std::vector<std::string>
        except; ///< a client in any of these rooms (or with this id) is skipped
};
using record_ptr = std::shared_ptr<emit_record const>;

/// Makes the shared record of one stamped event.
inline record_ptr make_record(event_ptr event, std::vector<std::string> rooms = {},
                              std::vector<std::string> except = {},
                              log_clock::time_point at = log_clock::now()) {
    auto r = std::make_shared<emit_record>();
    r->id = event->id();
    r->bytes = event->wire().size();
    r->event = std::move(event);
    r->at = at;
    r->rooms = std::move(rooms);
    r->except = std::move(except);
    return r;
}

/** The bounds of a log.

    `history_events > 0` turns history on: the newest `history_events` entries younger than
    `history_age` stay for replay even when every reader has them. Beyond that window (and
    always with history off) an entry stays only while some reader has not been sent it.
    `max_bytes` is the hard bound: past it the oldest entries go whoever still needs them,
    and a reader left behind is a slow consumer (it sees the gap through `dropped_upto()`).
*/
struct log_limits {
    std::size_t history_events = 0;
    std::chrono::milliseconds history_age{std::chrono::minutes(5)};
    std::size_t max_bytes = 1024 * 1024;

    bool history() const noexcept { return history_events > 0; }
};

/** A bounded ring of emit records in strictly increasing id order.

    Entries leave from the front only, so what a log holds is always a suffix of what was
    appended to it; `dropped_upto()` is the newest id it let go of (0: none). A reader at
    position p (the last id it was sent) can be served by this log iff dropped_upto() <= p.

    Trimming needs the readers' slowest position, which the log does not know: the owner
    passes it (`trim`) when `scan_due()` says a scan of the readers would pay for itself.
    Not thread-safe: the owner locks.
*/
class event_log {
public:
    struct entry {
        std::uint64_t id;
        record_ptr record;
    };

    event_log() = default;
    /// A log created after ids up to `forgotten` may have existed (see registry).
    explicit event_log(std::uint64_t forgotten) noexcept
        : dropped_upto_(forgotten) {}

    bool empty() const noexcept { return size_ == 0; }
    std::size_t size() const noexcept { return size_; }
    std::size_t bytes() const noexcept { return bytes_; }
    std::uint64_t dropped_upto() const noexcept { return dropped_upto_; }
    /// The newest id appended (or `dropped_upto()` when empty).
    std::uint64_t last_id() const noexcept { return size_ == 0 ? dropped_upto_ : back().id; }

    /// The i-th entry, 0 = the oldest kept.
    entry const& operator[](std::size_t i) const noexcept {
        return slots_[(head_ + i) & (slots_.size() - 1)];
    }
    entry const& front() const noexcept { return (*this)[0]; }
    entry const& back() const noexcept { return (*this)[size_ - 1]; }

    /// Index of the first entry with id > `position` (size() when none): where a reader at
    /// `position` continues.
    std::size_t first_after(std::uint64_t position) const noexcept {
        std::size_t lo = 0, hi = size_;
        while (lo < hi) {
            std::size_t const mid = lo + (hi - lo) / 2;
            if ((*this)[mid].id <= position)
                lo = mid + 1;
            else
                hi = mid;
        }
        return lo;
    }

    /** The newest id a replay can no longer be served after: what the log dropped, or the
        newest entry outside the history window (beyond `history_events`, or older than
        `history_age` at `now`) that it still holds for a reader not sent it yet. Without
        history, the newest id: nothing is replayable. A reader at L can be replayed iff
        replay_floor() <= L.
    */
    std::uint64_t replay_floor(log_limits const& limits, log_clock::time_point now) const noexcept {
        if (!limits.history()) return last_id();
        std::size_t first = size_ > limits.history_events ? size_ - limits.history_events : 0;
        // Append times increase along the log: the first young entry by binary search.
        std::size_t lo = first, hi = size_;
        while (lo < hi) {
            std::size_t const mid = lo + (hi - lo) / 2;
            if (now - (*this)[mid].record->at >= limits.history_age)
                lo = mid + 1;
            else
                hi = mid;
        }
        return lo == 0 ? dropped_upto_ : (*this)[lo - 1].id;
    }

    /// Entries inside the history window (what a replay may still send).
    std::size_t replayable(log_limits const& limits, log_clock::time_point now) const noexcept {
        return size_ - first_after(replay_floor(limits, now));
    }

    /// Appends `r` (its id must be above every id this log has seen), then applies the hard
    /// byte bound. Returns how many entries the bound forced out.
    std::size_t append(record_ptr r, log_limits const& limits) {
        assert(r && r->id > last_id());
        if (size_ == slots_.size()) grow();
        bytes_ += r->bytes;
        since_scan_ += 1;
        std::uint64_t const id = r->id;
        slots_[(head_ + size_) & (slots_.size() - 1)] = entry{id, std::move(r)};
        ++size_;
        std::size_t forced = 0;
        // The newest entry always stays: one event larger than the bound is still delivered.
        while (bytes_ > limits.max_bytes && size_ > 1) {
            pop_front();
            ++forced;
        }
        return forced;
    }

    /// Whether scanning the readers for their slowest position (and then `trim`) is worth
    /// it now: amortised, a scan of M readers costs O(M / 16) per append at most.
    bool scan_due(log_limits const& limits) const noexcept {
        std::size_t const floor = limits.history() ? limits.history_events : 0;
        return size_ > floor && since_scan_ >= std::max<std::size_t>(16, size_at_scan_);
    }

    /** Drops the oldest entries no reader needs (id <= `slowest`, the smallest position of
        the log's readers; UINT64_MAX when it has none) and outside the history window
        (beyond `history_events`, or older than `history_age` at `now`).
        Returns how many entries went.
    */
    std::size_t trim(std::uint64_t slowest, log_limits const& limits,
                     log_clock::time_point now) noexcept {
        std::size_t n = 0;
        while (size_ > 0) {
            auto const& f = front();
            if (f.id > slowest) break;
            bool const outside = !limits.history() || size_ > limits.history_events ||
                                 now - f.record->at >= limits.history_age;
            if (!outside) break;
            pop_front();
            ++n;
        }
        since_scan_ = 0;
        size_at_scan_ = size_;
        return n;
    }

    /// Drops everything up to and including `id` whoever needs it (an adapter's broker gap,
    /// tests). Readers behind it see the gap.
    void drop_through(std::uint64_t id) noexcept {
        while (size_ > 0 && front().id <= id)
            pop_front();
        if (id > dropped_upto_) dropped_upto_ = id;
    }

    /// Heap bytes held by the ring itself (not the shared events).
    std::size_t capacity_bytes() const noexcept { return slots_.capacity() * sizeof(entry); }

private:
    void pop_front() noexcept {
        entry& f = slots_[head_];
        dropped_upto_ = f.id;
        bytes_ -= f.record->bytes;
        f.record.reset();
        head_ = (head_ + 1) & (slots_.size() - 1);
        --size_;
        if (size_ == 0) head_ = 0;
        // Give memory back when a burst is over (never below 8 slots).
        if (slots_.size() > 8 && size_ * 8 < slots_.size()) shrink();
    }

    void grow() { resize(slots_.empty() ? 4 : slots_.size() * 2); }
    void shrink() noexcept {
        try {
            resize(slots_.size() / 2);
        } catch (...) { // keeping the larger ring is fine
        }
    }
    void resize(std::size_t capacity) {
        std::vector<entry> next(capacity);
        for (std::size_t i = 0; i < size_; ++i)
            next[i] = std::move(slots_[(head_ + i) & (slots_.size() - 1)]);
        slots_.swap(next);
        head_ = 0;
    }

    std::vector<entry> slots_; // a power of two in size, or empty
    std::size_t head_ = 0;
    std::size_t size_ = 0;
    std::size_t bytes_ = 0;
    std::uint64_t dropped_upto_ = 0;
    std::size_t since_scan_ = 0;   // appends since the last trim
    std::size_t size_at_scan_ = 0; // size after the last trim
};

} // namespace sse::detail

#endif
