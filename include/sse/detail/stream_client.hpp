// sse/detail/stream_client.hpp - a client over one concrete Beast stream type.
#ifndef SSE_DETAIL_STREAM_CLIENT_HPP
#define SSE_DETAIL_STREAM_CLIENT_HPP

#include <sse/client.hpp>
#include <sse/detail/fd_client.hpp>
#include <sse/detail/unstranded.hpp>

#include <boost/asio/basic_stream_socket.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/basic_stream.hpp>
#include <boost/beast/core/stream_traits.hpp>

#include <array>
#include <type_traits>

#if defined(__unix__) || defined(__APPLE__)
#include <fcntl.h>
#endif
#if defined(__linux__)
#include <unistd.h>
#endif

namespace sse::detail {

template <class T>
struct is_socket : std::false_type {};
template <class Protocol, class Executor>
struct is_socket<net::basic_stream_socket<Protocol, Executor>> : std::true_type {};

// The socket under a stream's lowest layer: a plain socket is its own lowest layer.
template <class Protocol, class Executor>
net::basic_stream_socket<Protocol, Executor>&
socket_of(net::basic_stream_socket<Protocol, Executor>& s) noexcept {
    return s;
}
template <class Protocol, class Executor, class RatePolicy>
auto& socket_of(beast::basic_stream<Protocol, Executor, RatePolicy>& s) noexcept {
    return s.socket();
}

template <class Protocol, class Executor>
void disarm_timeout(net::basic_stream_socket<Protocol, Executor>&) noexcept {}
template <class Protocol, class Executor, class RatePolicy>
void disarm_timeout(beast::basic_stream<Protocol, Executor, RatePolicy>& s) noexcept {
    // The app may have armed a request timeout; a stream lives until either side ends it.
    s.expires_never();
}

// Where a read that stays pending puts its bytes; a plain socket reads into the stack instead.
template <bool Pending>
struct read_storage {
    std::array<char, 32> read_buffer_{}; // only drained: nothing is expected after the request
};
template <>
struct read_storage<false> {};

/** The only place that knows the stream type: everything else sees `sse::client`, so plain
    and TLS clients share one namespace and one room.

    A read (on a plain socket: a readiness wait) stays pending for the life of the stream so
    that a peer's close is noticed at once.
    A plain socket also writes through (client::write_through_): its queued events are sent by
    the namespace's flush queue with a non-blocking send, from whichever io thread runs it.
*/
template <class Stream>
class stream_client final : public client, private read_storage<!is_socket<Stream>::value> {
public:
    // A strand of its own, over the stream's executor.
    stream_client(Stream&& stream, std::shared_ptr<namespace_> const& ns, sse::handshake hs)
        : stream_client(std::move(stream),
                        std::make_shared<client_strand const>(
                            net::make_strand(net::any_io_executor(stream.get_executor()))),
                        ns, std::move(hs)) {}

    // `strand`: a pooled one, for a socket moved to its bare io_context (make_stream_client).
    stream_client(Stream&& stream, std::shared_ptr<client_strand const> strand,
                  std::shared_ptr<namespace_> const& ns, sse::handshake hs)
        : client(std::move(strand), ns, std::move(hs))
        , stream_(std::move(stream)) {
        auto& lowest = beast::get_lowest_layer(stream_);
        disarm_timeout(lowest);
        // We coalesce queued events into one write ourselves; Nagle's algorithm would only add
        // delay (up to a delayed-ACK period, ~40 ms) to every event after the first.
        beast::error_code ec;
        socket_of(lowest).set_option(net::ip::tcp::no_delay(true), ec);
#if defined(__unix__) || defined(__APPLE__)
        // Asio opens sockets without SOCK_CLOEXEC: a child the app forks and execs would
        // inherit the stream and keep it open after this process ends it.
        if (int const fd = socket_of(lowest).native_handle(); fd >= 0)
            ::fcntl(fd, F_SETFD, ::fcntl(fd, F_GETFD) | FD_CLOEXEC);
#endif
        if constexpr (is_socket<Stream>::value) {
            // Set before any operation starts, so that Asio never changes the socket's state
            // (it would, for its own non-blocking mode) while another thread sends.
            stream_.non_blocking(true, ec);
            write_through_ = !ec;
        }
    }

    void start() {
        net::post(*strand_,
                  [self = shared_from_this()] { static_cast<stream_client&>(*self).do_read(); });
    }

private:
    void do_read() override {
        if (draining_) return; // do_close reads from here on
        if constexpr (is_socket<Stream>::value) {
            // A plain socket keeps only a readiness wait pending (an op about a third the size
            // of a read's, and no buffer): the socket is read, from the stack, when it wakes.
            // The wait is armed before the socket is drained, so bytes that arrive in between
            // still complete it (the reactor is edge-triggered: a wait armed after them would
            // not see them).
            stream_.async_wait(net::socket_base::wait_read,
                               [self = shared_from_this()](beast::error_code ec) {
                                   auto& me = static_cast<stream_client&>(*self);
                                   if (ec) {
                                       me.on_read(ec, 0); // cancelled by our close, or broken
                                       return;
                                   }
                                   auto& strand = *me.strand_;
                                   net::dispatch(strand, [self = std::move(self)] {
                                       static_cast<stream_client&>(*self).do_read();
                                   });
                               });
            drain();
        } else {
            stream_.async_read_some(
                net::buffer(this->read_buffer_),
                net::bind_executor(
                    *strand_, [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                        auto& me = static_cast<stream_client&>(*self);
                        if (me.on_read(ec, n)) me.do_read();
                    }));
        }
    }

    // Reads what the peer sent until the socket is empty (non-blocking, set in the
    // constructor); on the strand, with the wait armed.
    void drain() {
        if (!stream_.non_blocking()) {
            // Only if the constructor could not set it (a dead descriptor): a read could block.
            on_read(make_error_code(std::errc::bad_file_descriptor), 0);
            return;
        }
        std::array<char, 4096> buffer;
        for (;;) {
            beast::error_code ec;
            std::size_t const n = stream_.read_some(net::buffer(buffer), ec);
            if (ec == net::error::would_block || ec == net::error::try_again) return;
            if (!on_read(ec, n)) return;
        }
    }

    void do_write(std::vector<net::const_buffer> const& buffers) override {
        net::async_write(stream_, buffers,
                         net::bind_executor(*strand_, [self = shared_from_this()](
                                                          beast::error_code ec, std::size_t) {
                             static_cast<stream_client&>(*self).on_write(ec);
                         }));
    }

    std::size_t write_now(buffer_range buffers, std::error_code& ec) override {
        if constexpr (is_socket<Stream>::value) {
            // Non-blocking (set in the constructor); Asio adds MSG_NOSIGNAL where it exists.
            // It sends at most 64 buffers at once: the caller sends again for the rest.
            beast::error_code bec;
            std::size_t n = stream_.send(buffers, 0, bec);
            if (bec == net::error::would_block || bec == net::error::try_again)
                ec = std::make_error_code(std::errc::operation_would_block);
            else
                ec = bec;
            return n;
        } else {
            // Never called: write_through_ is false.
            (void)buffers;
            ec = std::make_error_code(std::errc::operation_not_supported);
            return 0;
        }
    }

    // On the strand.
    void do_close(bool drain) override {
        auto& socket = socket_of(beast::get_lowest_layer(stream_));
        if (!socket.is_open()) return;
        beast::error_code ec;
        if (draining_ || !drain) return finish_close();
        socket.shutdown(net::socket_base::shutdown_send, ec);
        if (ec) return finish_close();
        // Our FIN follows the bytes already queued. A close() now, with bytes of the peer
        // still unread (the rest of a request body, pipelined junk), would send a reset that
        // throws away whatever the peer has not received yet: a 401 body, the last `retry:`.
        // So the peer's bytes are read and dropped until it closes too, or for close_timeout
        // or max_drain_bytes at most.
        draining_ = true;
        socket.cancel(ec); // the read that stays pending: the drain reads from here on
        socket.non_blocking(true, ec);
        if (ec) return finish_close();
        arm_drain_deadline();
        drain_more();
    }

    void drain_more() {
        auto& socket = socket_of(beast::get_lowest_layer(stream_));
        if (!socket.is_open()) return;
        std::array<char, 4096> buffer;
        for (;;) {
            beast::error_code ec;
            std::size_t const n = socket.read_some(net::buffer(buffer), ec);
            if (ec == net::error::would_block || ec == net::error::try_again) break;
            auto& drained = closing().drained;
            drained += n;
            if (ec || drained > max_drain_bytes) return finish_close(); // EOF, reset, too much
        }
        socket.async_wait(
            net::socket_base::wait_read,
            net::bind_executor(*strand_, [self = shared_from_this()](beast::error_code ec) {
                auto& me = static_cast<stream_client&>(*self);
                if (ec)
                    me.finish_close();
                else
                    me.drain_more();
            }));
    }

    void finish_close() {
        auto& socket = socket_of(beast::get_lowest_layer(stream_));
        beast::error_code ec;
        if (socket.is_open()) socket.close(ec);
        if (draining_) // its deadline is in closing(), made by do_close
            if (auto& timer = closing().drain_timer) timer->cancel();
    }

    /// Bytes a closing stream reads from its peer, at most, before it closes anyway.
    static constexpr std::size_t max_drain_bytes = 256 * 1024;

    Stream stream_; // draining_, the drain's timer and its byte count are in client
};

template <class Stream, class... Args>
client_ptr start_stream_client(Stream&& s, Args&&... args) {
    auto c = std::make_shared<stream_client<Stream>>(std::move(s), std::forward<Args>(args)...);
    c->start();
    return c;
}

/// Makes the readiness watch of the io_context under `ex`, if there is one and the platform
/// has it (Linux); make_stream_client makes it anyway on first use.
inline void make_readiness_watch(net::any_io_executor const& ex) {
#if defined(__linux__)
    if (auto const io = bare_io_context(ex)) net::use_service<fd_client::watch>(io->context());
#else
    (void)ex;
#endif
}

/// Makes the client of `stream` and starts its reads.
///
/// A plain `beast::basic_stream` gives its socket up: its timers and rate policy (about half
/// a kilobyte per stream) are of no use to an event stream, and the socket can write through.
/// On Linux a socket on an io_context (or a strand of one) leaves Asio altogether: its
/// descriptor goes to an fd_client, watched by the io_context's readiness_watch, so an idle
/// stream keeps no reactor entry and no pending wait. Where no watch can be made, it is moved
/// to the bare io_context's executor instead: 8 bytes instead of a 56-byte any_io_executor, in
/// the socket and in the wait that stays pending. Either way its completions do not need the
/// stream's executor: the client runs on one of the namespace's pooled strands over that
/// io_context (no strand of its own, and the app's per-connection strand is released after
/// admission, which hops through it).
template <class Protocol, class Executor>
client_ptr
make_stream_client(beast::basic_stream<Protocol, Executor, beast::unlimited_rate_policy>&& s,
                   std::shared_ptr<namespace_> const& ns, sse::handshake hs,
                   strand_pools& strands) {
    auto socket = s.release_socket();
#if defined(__linux__)
    if constexpr (std::is_same_v<Executor, net::any_io_executor>) {
        if (auto const io = bare_io_context(socket.get_executor())) {
            beast::error_code ec;
            if (auto& watch = net::use_service<fd_client::watch>(io->context()); watch.usable()) {
                // release() and the watch's add() cost one epoll_ctl each.
                auto const fd = socket.release(ec);
                if (!ec) {
                    auto c = std::make_shared<fd_client>(fd, watch, strands.next(*io), ns,
                                                         std::move(hs));
                    c->start();
                    return c;
                }
            } else if (auto const protocol = socket.local_endpoint(ec).protocol(); !ec) {
                // release() and assign() cost one epoll_ctl each; getsockname gives the
                // protocol.
                auto const fd = socket.release(ec);
                if (!ec) {
                    net::basic_stream_socket<Protocol, net::io_context::executor_type> bare(*io);
                    bare.assign(protocol, fd, ec);
                    if (!ec)
                        return start_stream_client(std::move(bare), strands.next(*io), ns,
                                                   std::move(hs));
                    ::close(fd); // not registered (out of memory): the stream is lost, and
                                 // the client below, on the closed socket, ends at once
                }
            }
        }
    }
#endif
    return start_stream_client(std::move(socket), ns, std::move(hs));
}

template <class Stream>
client_ptr make_stream_client(Stream&& s, std::shared_ptr<namespace_> const& ns, sse::handshake hs,
                              strand_pools&) {
    return start_stream_client(std::move(s), ns, std::move(hs));
}

} // namespace sse::detail

#endif
