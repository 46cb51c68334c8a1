// sse/middleware.hpp - admission middleware: `next`, `reject` and the middleware signature.
#ifndef SSE_MIDDLEWARE_HPP
#define SSE_MIDDLEWARE_HPP

#include <sse/detail/config.hpp>

#include <functional>
#include <memory>
#include <string>

namespace sse {

class client;

/** A refusal to admit a client, answered as a real HTTP response before any stream byte.

    Use 401/403 for auth, 429 for rate limits, 503 when full, and 204 to tell a browser's
    EventSource to stop reconnecting for good. The body is sent as `content_type`.
*/
struct reject {
    reject(unsigned status_code, std::string body_text = {},
           std::string type = "text/plain; charset=utf-8")
        : status(status_code)
        , body(std::move(body_text))
        , content_type(std::move(type)) {}

    unsigned status;
    std::string body;
    std::string content_type;
};

namespace detail {
struct admission; // the middleware chain of one pending client
}

/** Continues (or ends) a client's middleware chain.

    `next()` runs the next middleware, or admits the client after the last one;
    `next(sse::reject(401, "Unauthorized"))` stops the chain and answers that HTTP error.
    Call it exactly once, from any thread, now or later; further calls are ignored.
*/
class next {
public:
    void operator()() const;
    void operator()(reject r) const;

private:
    friend struct detail::admission;
    next(std::shared_ptr<detail::admission> a, std::size_t index) noexcept
        : admission_(std::move(a))
        , index_(index) {}

    std::shared_ptr<detail::admission> admission_;
    std::size_t index_;
};

/// A middleware: inspect `client.handshake()`, join rooms, then call `next` once.
/// Runs before the response header is sent. A middleware that throws rejects with 500.
using middleware = std::function<void(client&, next)>;

} // namespace sse

// next's bodies need the namespace, whose header includes them at its foot.
#include <sse/namespace.hpp>

#endif
