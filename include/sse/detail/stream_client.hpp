// sse/detail/stream_client.hpp - a client over one concrete Beast stream type.
#ifndef SSE_DETAIL_STREAM_CLIENT_HPP
#define SSE_DETAIL_STREAM_CLIENT_HPP

#include <sse/client.hpp>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/stream_traits.hpp>

#include <array>

namespace sse::detail {

/** The only place that knows the stream type: everything else sees `sse::client`, so plain
    and TLS clients share one namespace and one room.

    A read stays pending for the life of the stream so that a peer's close is noticed at once.
*/
template <class Stream>
class stream_client final : public client {
public:
    stream_client(Stream&& stream, std::shared_ptr<namespace_> const& ns, sse::handshake hs)
        : client(stream.get_executor(), ns, std::move(hs))
        , stream_(std::move(stream)) {
        // The app may have armed a request timeout; a stream lives until either side ends it.
        beast::get_lowest_layer(stream_).expires_never();
        // We coalesce queued events into one write ourselves; Nagle's algorithm would only add
        // delay (up to a delayed-ACK period, ~40 ms) to every event after the first.
        beast::error_code ec;
        beast::get_lowest_layer(stream_).socket().set_option(net::ip::tcp::no_delay(true), ec);
    }

    void start() {
        net::post(strand_,
                  [self = shared_from_this()] { static_cast<stream_client&>(*self).do_read(); });
    }

private:
    void do_read() override {
        stream_.async_read_some(
            net::buffer(read_buffer_),
            net::bind_executor(strand_,
                               [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                                   static_cast<stream_client&>(*self).on_read(ec, n);
                               }));
    }

    void do_write(std::vector<net::const_buffer> const& buffers) override {
        net::async_write(stream_, buffers,
                         net::bind_executor(strand_, [self = shared_from_this()](
                                                         beast::error_code ec, std::size_t) {
                             static_cast<stream_client&>(*self).on_write(ec);
                         }));
    }

    void do_close() override {
        auto& lowest = beast::get_lowest_layer(stream_);
        if (!lowest.socket().is_open()) return;
        beast::error_code ec;
        lowest.socket().shutdown(net::socket_base::shutdown_send, ec);
        lowest.close();
    }

    Stream stream_;
    std::array<char, 64> read_buffer_{}; // only drained: nothing is expected after the request
};

} // namespace sse::detail

#endif
