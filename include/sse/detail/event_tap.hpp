// sse/detail/event_tap.hpp - the queue behind namespace_::tap: events are pushed under the
// namespace's log lock (so in id order) and handed to the application's handler after every
// lock is released, by one thread at a time (the handler may emit).
#ifndef SSE_DETAIL_EVENT_TAP_HPP
#define SSE_DETAIL_EVENT_TAP_HPP

#include <sse/tapped_event.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace sse::detail {

class event_tap {
public:
    using handler = std::function<void(tapped_event const&)>;

    /// Events waiting for a slow handler past this are not tapped (counted in `dropped`).
    static constexpr std::size_t max_waiting = 65536;

    /// Sets the handler (empty: none; what waits is dropped).
    void set(handler h) {
        std::lock_guard<std::mutex> lock(mutex_);
        fn_ = h ? std::make_shared<handler const>(std::move(h)) : nullptr;
        on_.store(fn_ != nullptr, std::memory_order_relaxed);
        if (!fn_) waiting_.clear();
    }

    bool on() const noexcept { return on_.load(std::memory_order_relaxed); }

    /// An event the namespace delivers (its log lock held). Costs nothing without a handler.
    void push(std::shared_ptr<encoded_event const> ev, std::vector<std::string> const& rooms,
              std::vector<std::string> const& except) {
        if (!on()) return;
        std::lock_guard<std::mutex> lock(mutex_);
        if (!fn_) return;
        if (waiting_.size() >= max_waiting) {
            dropped_.fetch_add(1, std::memory_order_relaxed);
            return;
        }
        waiting_.push_back({std::move(ev), rooms, except});
    }

    /** Hands what waits to the handler, in order, holding no lock; returns at once when
        another thread is at it (it takes ours too). `on_error()` for each exception. */
    template <class OnError>
    void run(OnError&& on_error) {
        if (!on()) return;
        std::unique_lock<std::mutex> lock(mutex_);
        if (running_) return;
        running_ = true;
        while (!waiting_.empty() && fn_) {
            auto next = std::move(waiting_.front());
            waiting_.pop_front();
            auto fn = fn_;
            lock.unlock();
            try {
                (*fn)(tapped_event{*next.event, next.rooms, next.except});
            } catch (...) {
                on_error();
            }
            lock.lock();
        }
        running_ = false;
    }

    std::uint64_t dropped() const noexcept { return dropped_.load(std::memory_order_relaxed); }

private:
    struct waiting_event {
        std::shared_ptr<encoded_event const> event;
        std::vector<std::string> rooms;
        std::vector<std::string> except;
    };

    std::atomic<bool> on_{false};
    std::atomic<std::uint64_t> dropped_{0};
    std::mutex mutex_;
    std::shared_ptr<handler const> fn_;
    std::deque<waiting_event> waiting_;
    bool running_ = false;
};

} // namespace sse::detail

#endif
