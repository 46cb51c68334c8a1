// sse/handshake.hpp - what a client sent when it opened its stream.
#ifndef SSE_HANDSHAKE_HPP
#define SSE_HANDSHAKE_HPP

#include <sse/detail/config.hpp>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/message.hpp>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sse {

/** A snapshot of the request that opened a stream, taken before the request is released.

    Header names compare case-insensitively; query parameters are percent-decoded
    (`+` is a space). Immutable after `connect`, so safe to read from any thread.
*/
class handshake {
public:
    using field_list = std::vector<std::pair<std::string, std::string>>;

    /// At most this many headers and this many query parameters are kept (the first ones).
    static constexpr std::size_t max_fields = 256;

    handshake() = default;

    /// Copies method, target, version and headers out of `req`.
    template <class Fields>
    handshake(beast::http::request_header<Fields> const& req, net::ip::tcp::endpoint remote);

    /// The value of header `name` (any case), or "" when absent.
    std::string_view header(std::string_view name) const noexcept;
    bool has_header(std::string_view name) const noexcept;
    /// Every header, names lower-cased, in request order.
    field_list const& headers() const noexcept { return headers_; }

    /// The first value of query parameter `key`, percent-decoded, or "" when absent.
    std::string_view query(std::string_view key) const noexcept;
    bool has_query(std::string_view key) const noexcept;
    /// Every query parameter, percent-decoded, in request order.
    field_list const& query_params() const noexcept { return query_; }

    /// The raw request target, e.g. "/stream/football/ars-che?token=abc".
    std::string_view target() const noexcept { return target_; }
    /// The target's path without the query, e.g. "/stream/football/ars-che".
    std::string_view path() const noexcept;
    std::string_view method() const noexcept { return method_; }
    /// HTTP version as 10 or 11.
    unsigned version() const noexcept { return version_; }
    net::ip::tcp::endpoint const& remote_endpoint() const noexcept { return remote_; }

private:
    void parse_query();

    std::string method_;
    std::string target_;
    unsigned version_ = 11;
    field_list headers_;
    field_list query_;
    net::ip::tcp::endpoint remote_;
};

namespace detail {
/// Decodes %XX escapes (and `+` as space when `plus_is_space`); bad escapes stay literal.
std::string percent_decode(std::string_view in, bool plus_is_space);
bool iequals(std::string_view a, std::string_view b) noexcept;
} // namespace detail

} // namespace sse

#include <sse/impl/handshake.hpp>

#endif
