// sse/handshake.hpp - what a client sent when it opened its stream.
#ifndef SSE_HANDSHAKE_HPP
#define SSE_HANDSHAKE_HPP

#include <sse/detail/config.hpp>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/message.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
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

    handshake(handshake const& other);
    handshake(handshake&& other) noexcept;
    handshake& operator=(handshake const& other);
    handshake& operator=(handshake&& other) noexcept;
    ~handshake();

    /// The value of header `name` (any case), or "" when absent.
    std::string_view header(std::string_view name) const noexcept;
    bool has_header(std::string_view name) const noexcept;
    /// Every header, names lower-cased, in request order.
    field_list const& headers() const noexcept { return lists().headers; }

    /// The first value of query parameter `key`, percent-decoded, or "" when absent.
    std::string_view query(std::string_view key) const noexcept;
    bool has_query(std::string_view key) const noexcept;
    /// Every query parameter, percent-decoded, in request order.
    field_list const& query_params() const noexcept { return lists().query; }

    /// The raw request target, e.g. "/stream/football/ars-che?token=abc".
    std::string_view target() const noexcept { return item(1); }
    /// The target's path without the query, e.g. "/stream/football/ars-che".
    std::string_view path() const noexcept;
    std::string_view method() const noexcept { return item(0); }
    /// HTTP version as 10 or 11.
    unsigned version() const noexcept { return version_; }
    net::ip::tcp::endpoint const& remote_endpoint() const noexcept { return remote_; }

private:
    // The field_list views, built on first use: most streams never ask for them.
    struct field_lists {
        field_list headers;
        field_list query;
    };
    field_lists const& lists() const noexcept;

    // Items: 0 method, 1 target, then name and value of each header, then key and value of
    // each query parameter.
    std::size_t header_count() const noexcept { return word(0); }
    std::size_t query_count() const noexcept { return word(1) & ~wide_offsets; }
    static constexpr std::uint16_t wide_offsets = 0x8000; // in the query count
    std::uint16_t word(std::size_t which) const noexcept;
    std::string_view item(std::size_t i) const noexcept;
    std::string_view header_item(std::size_t j, std::size_t part) const noexcept {
        return item(2 + 2 * j + part);
    }
    std::string_view query_item(std::size_t j, std::size_t part) const noexcept {
        return item(2 + 2 * (header_count() + j) + part);
    }
    // The block's size in bytes (its table says where its last item ends).
    std::size_t byte_size() const noexcept;

    // Every item in one block, which lives as long as the stream: the header and query counts
    // (uint16), the end offset of each item (uint16, or uint32 once the bytes pass 64 KiB),
    // then the items' bytes back to back. One allocation instead of a string per name and value,
    // of the exact size and held by a plain pointer (a snapshot exists per connection: 8
    // bytes here rather than a std::string's 32). Null for a default-constructed handshake.
    std::unique_ptr<char[]> data_;
    net::ip::tcp::endpoint remote_;
    unsigned version_ = 11;
    mutable std::atomic<field_lists*> lists_{nullptr};
};

namespace detail {
/// Decodes %XX escapes (and `+` as space when `plus_is_space`); bad escapes stay literal.
std::string percent_decode(std::string_view in, bool plus_is_space);
/// percent_decode, appended to `out`.
void percent_decode_append(std::string& out, std::string_view in, bool plus_is_space);
bool iequals(std::string_view a, std::string_view b) noexcept;
} // namespace detail

} // namespace sse

#include <sse/impl/handshake.hpp>

#endif
