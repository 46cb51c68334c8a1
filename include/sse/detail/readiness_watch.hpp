// sse/detail/readiness_watch.hpp - one epoll set per io_context for descriptors Asio never sees.
#ifndef SSE_DETAIL_READINESS_WATCH_HPP
#define SSE_DETAIL_READINESS_WATCH_HPP

#include <sse/detail/config.hpp>

#if defined(__linux__)

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <system_error>

#include <sys/epoll.h>
#include <unistd.h>

namespace sse::detail {

/** Readiness of many descriptors behind one Asio wait: an epoll set of our own, itself
    watched by the io_context's reactor.

    Why: an idle event stream only waits for its peer to close. Through Asio each one keeps a
    reactor entry (168 B) and a pending wait (about 112 B) in user memory; here it keeps
    nothing but its entry in this set, which is the kernel entry Asio would have made anyway
    (the descriptor is handed over, not watched twice).

    Entries are edge-triggered (`EPOLLIN | EPOLLRDHUP`, plus `EPOLLOUT` once a send would
    block): each event is handed to its `Entry` while it is alive, which does its work on its
    own strand. `Entry` provides:
      - `std::shared_ptr<E> watch_hold() noexcept`: a strong reference, or none once it is
        being destroyed (from any thread, under this watch's lock);
      - `void watch_ready(std::shared_ptr<E>, std::uint32_t events)`: the events (epoll bits).
    An entry calls forget() before its memory goes (its close, or its destructor): after that
    no harvest hands it out.

    An Asio service: one per io_context, made by use_service, shut down with the io_context.
    Like an Asio socket, an entry must not outlive its io_context.
*/
template <class Entry>
class readiness_watch final : public net::execution_context::service {
public:
    using key_type = readiness_watch;
    static net::execution_context::id id;

    explicit readiness_watch(net::execution_context& context)
        : service(context)
        , set_(static_cast<net::io_context&>(context).get_executor()) {
        int const fd = ::epoll_create1(EPOLL_CLOEXEC);
        if (fd < 0) return; // usable() is false: the caller keeps Asio's sockets
        boost::system::error_code ec;
        set_.assign(fd, ec);
        if (ec) ::close(fd);
    }

    /// False when no epoll set could be made.
    bool usable() const noexcept { return set_.is_open(); }

    /// Watches `fd` for `entry` (its peer's bytes and close). An event the descriptor already
    /// has is reported at once.
    std::error_code add(int fd, Entry& entry) {
        {
            // The wait is armed before the descriptor joins the set: the set's first event
            // then completes it (an edge that came before it would be lost).
            std::lock_guard<std::mutex> lock(mutex_);
            if (!waiting_) {
                waiting_ = true;
                arm();
            }
            ++entries_;
        }
        std::error_code ec = control(EPOLL_CTL_ADD, fd, entry, false);
        if (ec) {
            std::lock_guard<std::mutex> lock(mutex_);
            drop_entry();
        }
        return ec;
    }

    /// Also reports when `fd` can be written again (after a send that would block).
    std::error_code want_write(int fd, Entry& entry) {
        return control(EPOLL_CTL_MOD, fd, entry, true);
    }

    /// Stops watching `fd` and closes it; the entry is never handed out after this returns.
    void forget(int fd) noexcept {
        {
            // Under the lock: a harvest in progress has either taken its reference already
            // or will not see the descriptor at all.
            std::lock_guard<std::mutex> lock(mutex_);
            ::epoll_ctl(set_.native_handle(), EPOLL_CTL_DEL, fd, nullptr);
            drop_entry();
        }
        ::close(fd);
    }

private:
    void shutdown() override {
        boost::system::error_code ec;
        set_.close(ec); // the pending wait is destroyed with the io_context's other handlers
    }

    std::error_code control(int op, int fd, Entry& entry, bool write) {
        ::epoll_event ev{};
        ev.events = EPOLLIN | EPOLLRDHUP | EPOLLET | (write ? EPOLLOUT : 0u);
        ev.data.ptr = &entry;
        if (::epoll_ctl(set_.native_handle(), op, fd, &ev) != 0)
            return {errno, std::system_category()};
        return {};
    }

    // One wait at a time is pending, and only while the set has entries: like the sockets it
    // stands for, it is the io_context's work, so `run()` returns once every stream has ended
    // (after `io.close()`, say). Armed by the first add(), then by each completion, before
    // the set is harvested: its reactor entry is edge-triggered, so an event that lands after
    // the last harvest completes the new wait. The last forget() cancels it. mutex_ held.
    void arm() {
        set_.async_wait(net::posix::descriptor_base::wait_read,
                        [this](boost::system::error_code ec) {
                            {
                                std::lock_guard<std::mutex> lock(mutex_);
                                bool const cancelled = ec == net::error::operation_aborted;
                                if (!set_.is_open() || entries_ == 0 || (ec && !cancelled)) {
                                    waiting_ = false; // the next add() arms it again
                                    return;
                                }
                                arm(); // cancelled, then added to again: still wanted
                            }
                            harvest();
                        });
    }

    void drop_entry() noexcept { // mutex_ held
        if (--entries_ != 0 || !waiting_) return;
        boost::system::error_code ec;
        set_.cancel(ec); // nothing left to watch: the io_context may run out of work
    }

    void harvest() {
        constexpr int batch = 64;
        for (;;) {
            std::array<::epoll_event, batch> events;
            std::array<std::shared_ptr<Entry>, batch> held;
            int n = 0;
            {
                std::lock_guard<std::mutex> lock(mutex_);
                n = ::epoll_wait(set_.native_handle(), events.data(), batch, 0);
                for (int i = 0; i < n; ++i)
                    held[i] = static_cast<Entry*>(events[i].data.ptr)->watch_hold();
            }
            for (int i = 0; i < n; ++i) {
                if (!held[i]) continue; // being destroyed: its forget() waits for the lock
                Entry& entry = *held[i];
                entry.watch_ready(std::move(held[i]), events[i].events);
            }
            if (n < batch) return; // drained (or EINTR: the armed wait comes back)
        }
    }

    net::posix::basic_stream_descriptor<net::io_context::executor_type> set_;
    std::mutex mutex_;        // harvest against forget(); the wait and the count below
    std::size_t entries_ = 0; // descriptors in the set
    bool waiting_ = false;    // a wait is pending (maybe cancelled, its handler to come)
};

template <class Entry>
net::execution_context::id readiness_watch<Entry>::id;

} // namespace sse::detail

#endif // __linux__

#endif
