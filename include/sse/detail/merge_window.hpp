// sse/detail/merge_window.hpp - puts the shared-history events of several nodes back in id
// order before they are delivered (sans-I/O: the caller brings the time and a timer).
//
// Each node assigns its own ids (detail/hybrid_id.hpp) and delivers its own emits at once.
// When two nodes emit to the same namespace at the same time, node B may deliver its own
// event (id 20) before node A's event (id 10) reaches it through Redis: 10 can then no longer
// be sent after 20 to B's clients. The window holds every event while more than one origin
// is active, until its id's time plus `width` has passed, and releases them in id order; an
// event that comes later than that is `late` (its recipients get a reset). One origin at a
// time (the common case: one feed emits, the other nodes only listen) is never held. The
// window starts holding at the first change of origin and keeps holding until origins have
// not changed for `quiet` (a minute): the events around that first change may come late.
#ifndef SSE_DETAIL_MERGE_WINDOW_HPP
#define SSE_DETAIL_MERGE_WINDOW_HPP

#include <sse/detail/hybrid_id.hpp>

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace sse::detail {

template <class T>
class merge_window {
public:
    enum class verdict {
        deliver, ///< deliver it now (nothing held before it)
        held,    ///< kept: `release` hands it over in id order
        late,    ///< an id at or below one already released: cannot be delivered in order
    };

    /// `width_us` 0: never hold (late events are still detected). `quiet_us`: how long after
    /// a change of origin the window keeps holding. `max_held`: a bound on memory.
    explicit merge_window(std::uint64_t width_us = 0, std::uint64_t quiet_us = 60'000'000,
                          std::size_t max_held = 65536) noexcept
        : width_us_(width_us)
        , quiet_us_(quiet_us)
        , max_held_(max_held > 0 ? max_held : 1) {}

    void set_width(std::uint64_t width_us) noexcept { width_us_ = width_us; }
    std::uint64_t width() const noexcept { return width_us_; }

    /** An event with shared id `id` from `origin` ("" for this node), at Unix time `now_us`:
        deliver it now, `hold` it, or it is late. `always`: hold even while one origin is
        active (its events may come out of order: sharded pub/sub carries each room on a
        connection of its own). */
    verdict offer(std::uint64_t id, std::string_view origin, std::uint64_t now_us,
                  bool always = false) {
        if (!heard_any_ || origin != last_origin_) {
            // A second origin: from now on two may race (the first one alone never does).
            if (heard_any_ && width_us_ != 0) holding_until_us_ = now_us + quiet_us_;
            heard_any_ = true;
            last_origin_.assign(origin.data(), origin.size());
        }
        if (id <= released_) return verdict::late;
        bool const holding = width_us_ != 0 && (always || now_us < holding_until_us_);
        if (held_.empty() && !holding) {
            released_ = id;
            return verdict::deliver;
        }
        return verdict::held;
    }

    /// Keeps an event `offer` answered `held` for.
    void hold(std::uint64_t id, T value) { held_.emplace(id, std::move(value)); }

    /// Hands over, in id order, every held event whose time is up at `now_us` (and, past
    /// `max_held`, the oldest ones regardless).
    template <class Fn>
    void release(std::uint64_t now_us, Fn&& fn) {
        while (!held_.empty()) {
            auto it = held_.begin();
            if (held_.size() <= max_held_ && !due(it->first, now_us)) break;
            released_ = it->first;
            T value = std::move(it->second);
            held_.erase(it);
            fn(released_, value);
        }
    }

    /// When the first held event is due (Unix µs), if any is held.
    std::optional<std::uint64_t> next_due_us() const {
        if (held_.empty()) return std::nullopt;
        return hybrid_id_unix_us(held_.begin()->first) + width_us_;
    }

    std::size_t held() const noexcept { return held_.size(); }
    /// The highest id handed over (by `offer` or `release`).
    std::uint64_t released() const noexcept { return released_; }
    /// Ids at or below `id` are late from now on (events delivered around the window).
    void released_upto(std::uint64_t id) noexcept {
        if (id > released_) released_ = id;
    }

private:
    bool due(std::uint64_t id, std::uint64_t now_us) const noexcept {
        return hybrid_id_unix_us(id) + width_us_ <= now_us;
    }

    std::uint64_t width_us_;
    std::uint64_t quiet_us_;
    std::size_t max_held_;
    std::map<std::uint64_t, T> held_;
    std::uint64_t released_ = 0;
    bool heard_any_ = false;
    std::string last_origin_;
    std::uint64_t holding_until_us_ = 0;
};

} // namespace sse::detail

#endif
