// sse/detail/unstranded.hpp - the executor under the strands an app wraps around its own.
#ifndef SSE_DETAIL_UNSTRANDED_HPP
#define SSE_DETAIL_UNSTRANDED_HPP

#include <sse/detail/config.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>

#include <optional>

namespace sse::detail {

/// The io_context under `ex` when that is all it is (maybe under a strand), else none.
inline std::optional<net::io_context::executor_type>
bare_io_context(net::any_io_executor const& ex) noexcept {
    if (auto const* io = ex.target<net::io_context::executor_type>()) return *io;
    if (auto const* s = ex.target<net::strand<net::io_context::executor_type>>())
        return s->get_inner_executor();
    return std::nullopt;
}

/// The executor under any strands around `ex`: a flush pass must not be serialised with the
/// handlers of whichever connection's strand happened to trigger it, so that two io threads
/// can flush two batches at once.
inline net::any_io_executor unstranded(net::any_io_executor const& ex) {
    if (auto const io = bare_io_context(ex)) return *io;
    if (auto const* s = ex.target<net::strand<net::any_io_executor>>())
        return unstranded(s->get_inner_executor());
    return ex;
}

} // namespace sse::detail

#endif
