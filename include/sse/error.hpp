// sse/error.hpp - why a client's stream ended: error codes and coarse conditions.
#ifndef SSE_ERROR_HPP
#define SSE_ERROR_HPP

#include <sse/detail/config.hpp>

#include <string>
#include <system_error>
#include <type_traits>

namespace sse {

/// Why a stream ended (the reason given to `on_disconnect`).
enum class error {
    peer_closed = 1,    ///< the client closed its connection
    disconnected,       ///< the application called `client::disconnect()`
    server_closed,      ///< `server::close()` or the server was destroyed
    slow_consumer,      ///< its queue passed `options::max_buffered_bytes`
    write_failed,       ///< a socket write failed (reset, timeout)
    rejected,           ///< refused before admission: a middleware, overload, or a closed namespace
    protocol_violation, ///< the peer sent more than the stream allows
    handler_failed      ///< an `on_connection` handler threw: the admitted client is dropped
};

/// Coarse groups of `sse::error` that applications usually branch on.
enum class condition {
    peer_gone = 1,   ///< the other side went away: peer_closed, write_failed, protocol_violation
    overloaded,      ///< slow_consumer
    closed_by_server ///< disconnected, server_closed, rejected, handler_failed
};

std::error_category const& error_category() noexcept;
std::error_category const& condition_category() noexcept;

inline std::error_code make_error_code(error e) noexcept {
    return {static_cast<int>(e), error_category()};
}
inline std::error_condition make_error_condition(condition c) noexcept {
    return {static_cast<int>(c), condition_category()};
}

} // namespace sse

template <>
struct std::is_error_code_enum<sse::error> : std::true_type {};
template <>
struct std::is_error_condition_enum<sse::condition> : std::true_type {};

#include <sse/impl/error.hpp>

#endif
