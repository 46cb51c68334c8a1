// sse/detail/flush_queue.hpp - clients with events to send, flushed in passes on io threads.
#ifndef SSE_DETAIL_FLUSH_QUEUE_HPP
#define SSE_DETAIL_FLUSH_QUEUE_HPP

#include <sse/detail/config.hpp>
#include <sse/detail/unstranded.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/post.hpp>

#include <array>
#include <cstddef>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

namespace sse::detail {

/** The clients of a namespace that have events queued and no write in progress.

    An emit only queues: each recipient that was idle is appended here, and one task (posted
    once per burst, not once per client) gives every client of the list its turn to send its
    whole backlog with one non-blocking gather send (`Client::flush_ready()`). Events emitted
    while a pass runs join the backlogs of the clients it has not reached yet, so a burst of
    emits leaves in few system calls: on loopback, eight events in one send cost about a sixth
    of eight sends. No lock of the namespace is held while sending.

    A pass takes `batch` clients at a time and posts its continuation first: the io thread
    reads (the next emit's request, new connections) between batches of a large fan-out, and a
    second io thread takes the next batch while this one sends.
*/
template <class Client>
class flush_queue : public std::enable_shared_from_this<flush_queue<Client>> {
public:
    static constexpr std::size_t batch = 64;
    /// Slots a list keeps between passes; a larger one (a fan-out to more clients) is released
    /// once its pass is done, else each list would keep a slot per client of the largest
    /// fan-out for good (16 B each, twice). Regrowing costs a few moves per client per burst.
    static constexpr std::size_t kept_capacity = 1024;

    /// `c` has events and nobody is writing them: it is flushed by a task posted to `ex`.
    void push(std::shared_ptr<Client> c, net::any_io_executor const& ex) {
        std::unique_lock<std::mutex> lock(mutex_);
        ready_.push_back(std::move(c));
        if (posted_) return; // the queued task will see it
        posted_ = true;
        ex_ = unstranded(ex);
        auto const target = ex_;
        lock.unlock();
        post(target);
    }

private:
    void post(net::any_io_executor const& ex) {
        net::post(ex, [self = this->shared_from_this()] { self->run(); });
    }

    void run() {
        std::array<std::shared_ptr<Client>, batch> taken;
        std::size_t n = 0;
        net::any_io_executor next;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            posted_ = false;
            if (next_ == draining_.size()) {
                draining_.clear(); // moved-from: nothing left to release
                next_ = 0;
                draining_.swap(ready_);
                // The finished pass's list, empty now: released if large (kept_capacity).
                if (ready_.capacity() > kept_capacity) release(ready_);
            }
            while (n < batch && next_ < draining_.size())
                taken[n++] = std::move(draining_[next_++]);
            if (next_ < draining_.size() || !ready_.empty()) {
                posted_ = true;
                next = ex_;
            } else if (draining_.capacity() > kept_capacity) {
                release(draining_); // the pass is done: only moved-from slots are left
                next_ = 0;
            }
        }
        if (next) post(next);
        for (std::size_t i = 0; i < n; ++i) {
            taken[i]->flush_ready();
            taken[i].reset();
        }
    }

    static void release(std::vector<std::shared_ptr<Client>>& v) noexcept {
        std::vector<std::shared_ptr<Client>>().swap(v);
    }

    std::mutex mutex_;
    std::vector<std::shared_ptr<Client>> ready_;    // appended by emits
    std::vector<std::shared_ptr<Client>> draining_; // the pass in progress
    std::size_t next_ = 0;                          // first client of draining_ not yet taken
    bool posted_ = false;                           // a run() is queued and has not started
    net::any_io_executor ex_;                       // where the continuation goes
};

} // namespace sse::detail

#endif
