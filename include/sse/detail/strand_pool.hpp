// sse/detail/strand_pool.hpp - strands shared by the plain-TCP clients of one io_context.
#ifndef SSE_DETAIL_STRAND_POOL_HPP
#define SSE_DETAIL_STRAND_POOL_HPP

#include <sse/detail/config.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>

#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <vector>

namespace sse::detail {

using client_strand = net::strand<net::any_io_executor>;

/** A fixed set of strands over one io_context, handed out round robin.

    A strand of its own costs a client about 170 bytes (Asio's implementation and its
    executor) for a serialisation it needs only while it closes or writes asynchronously:
    a plain-TCP client's events leave from the flush queue, outside any strand. Clients that
    share a strand never run their handlers at the same time; with many more strands than
    io threads that costs no parallelism. Asio shares its strands' mutexes the same way.
*/
class strand_pool {
public:
    static constexpr std::size_t size = 64;

    explicit strand_pool(net::io_context::executor_type ex)
        : context_(&ex.context()) {
        strands_.reserve(size);
        for (std::size_t i = 0; i < size; ++i)
            strands_.push_back(net::make_strand(net::any_io_executor(ex)));
    }

    net::io_context const* context() const noexcept { return context_; }

    /// The next strand, kept alive by the pool it points into.
    static std::shared_ptr<client_strand const> next(std::shared_ptr<strand_pool> const& pool) {
        std::size_t const i = pool->next_.fetch_add(1, std::memory_order_relaxed) % size;
        return std::shared_ptr<client_strand const>(pool, &pool->strands_[i]);
    }

private:
    net::io_context const* context_;
    std::vector<client_strand> strands_;
    std::atomic<std::size_t> next_{0};
};

/// One pool per io_context a namespace's clients run on (an app may run several).
class strand_pools {
public:
    std::shared_ptr<client_strand const> next(net::io_context::executor_type ex) {
        std::lock_guard<std::mutex> lock(mutex_);
        for (auto const& p : pools_)
            if (p->context() == &ex.context()) return strand_pool::next(p);
        pools_.push_back(std::make_shared<strand_pool>(ex));
        return strand_pool::next(pools_.back());
    }

private:
    std::mutex mutex_;
    std::vector<std::shared_ptr<strand_pool>> pools_;
};

} // namespace sse::detail

#endif
