// sse/detail/word_mutex.hpp - a mutex in one 32-bit word, for objects that exist per connection.
#ifndef SSE_DETAIL_WORD_MUTEX_HPP
#define SSE_DETAIL_WORD_MUTEX_HPP

#include <atomic>
#include <cstdint>
#include <thread>

#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#if defined(__SANITIZE_THREAD__)
#define SSE_WORD_MUTEX_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SSE_WORD_MUTEX_TSAN 1
#endif
#endif
#if defined(SSE_WORD_MUTEX_TSAN)
#include <sanitizer/tsan_interface.h>
#endif

namespace sse::detail {

/** A mutex of 4 bytes where `std::mutex` takes 40: a client's write-queue lock exists once per
    connection. Meets Lockable (`std::unique_lock`, `std::lock_guard`).

    A waiter spins briefly, then sleeps in the kernel (a futex on Linux; C++20's atomic wait
    elsewhere; a yielding loop as the last resort), so a long hold (a non-blocking send of a
    large batch) costs the waiters no CPU. The three-state protocol is Drepper's ("Futexes Are
    Tricky", mutex 3): 0 free, 1 locked, 2 locked and maybe waited on; only an unlock of 2
    makes a system call. Not recursive; unfair (a thread that arrives as it is released may
    take it before a woken waiter). Under ThreadSanitizer it is annotated as a mutex, so lock
    order inversions are still reported.
*/
class word_mutex {
public:
    word_mutex() noexcept {
#if defined(SSE_WORD_MUTEX_TSAN)
        __tsan_mutex_create(this, 0);
#endif
    }
    word_mutex(word_mutex const&) = delete;
    word_mutex& operator=(word_mutex const&) = delete;
    ~word_mutex() {
#if defined(SSE_WORD_MUTEX_TSAN)
        __tsan_mutex_destroy(this, 0);
#endif
    }

    void lock() noexcept {
#if defined(SSE_WORD_MUTEX_TSAN)
        __tsan_mutex_pre_lock(this, 0);
#endif
        std::uint32_t expected = free_;
        if (!state_.compare_exchange_strong(expected, locked_, std::memory_order_acquire,
                                            std::memory_order_relaxed))
            lock_contended();
#if defined(SSE_WORD_MUTEX_TSAN)
        __tsan_mutex_post_lock(this, 0, 0);
#endif
    }

    bool try_lock() noexcept {
#if defined(SSE_WORD_MUTEX_TSAN)
        __tsan_mutex_pre_lock(this, __tsan_mutex_try_lock);
#endif
        std::uint32_t expected = free_;
        bool const taken = state_.compare_exchange_strong(
            expected, locked_, std::memory_order_acquire, std::memory_order_relaxed);
#if defined(SSE_WORD_MUTEX_TSAN)
        __tsan_mutex_post_lock(this,
                               taken ? __tsan_mutex_try_lock
                                     : __tsan_mutex_try_lock | __tsan_mutex_try_lock_failed,
                               0);
#endif
        return taken;
    }

    void unlock() noexcept {
#if defined(SSE_WORD_MUTEX_TSAN)
        __tsan_mutex_pre_unlock(this, 0);
#endif
        if (state_.exchange(free_, std::memory_order_release) == waited_) wake_one();
#if defined(SSE_WORD_MUTEX_TSAN)
        __tsan_mutex_post_unlock(this, 0);
#endif
    }

private:
    static constexpr std::uint32_t free_ = 0;
    static constexpr std::uint32_t locked_ = 1;
    static constexpr std::uint32_t waited_ = 2; // locked, and a thread may sleep on it

    void lock_contended() noexcept {
        // Most holds are short (a few pushes, one send): spin a little before sleeping.
        for (int i = 0; i < 100; ++i) {
            std::uint32_t s = state_.load(std::memory_order_relaxed);
            if (s == waited_) break; // others sleep already: queue behind them
            if (s == free_ && state_.compare_exchange_weak(s, locked_, std::memory_order_acquire,
                                                           std::memory_order_relaxed))
                return;
            pause();
        }
        // Taken as "waited on" from here: this thread cannot know whether others sleep, so
        // its unlock wakes one (at worst for nothing).
        while (state_.exchange(waited_, std::memory_order_acquire) != free_)
            wait_while(waited_);
    }

    static void pause() noexcept {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#elif defined(__aarch64__)
        asm volatile("yield");
#endif
    }

    // Sleeps while the word holds `value` (returns at once if it no longer does).
    void wait_while(std::uint32_t value) noexcept {
#if defined(__linux__)
        static_assert(sizeof(state_) == sizeof(std::uint32_t) &&
                          std::atomic<std::uint32_t>::is_always_lock_free,
                      "a futex is a plain 32-bit word");
        ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&state_), FUTEX_WAIT_PRIVATE, value,
                  nullptr, nullptr, 0);
#elif defined(__cpp_lib_atomic_wait)
        state_.wait(value, std::memory_order_relaxed);
#else
        (void)value;
        std::this_thread::yield();
#endif
    }

    void wake_one() noexcept {
#if defined(__linux__)
        ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&state_), FUTEX_WAKE_PRIVATE, 1,
                  nullptr, nullptr, 0);
#elif defined(__cpp_lib_atomic_wait)
        state_.notify_one();
#endif
    }

    std::atomic<std::uint32_t> state_{free_};
};

} // namespace sse::detail

#undef SSE_WORD_MUTEX_TSAN

#endif
