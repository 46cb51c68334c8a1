// sse/detail/fd_client.hpp - a plain-TCP client on its bare descriptor (Linux).
#ifndef SSE_DETAIL_FD_CLIENT_HPP
#define SSE_DETAIL_FD_CLIENT_HPP

#include <sse/client.hpp>
#include <sse/detail/readiness_watch.hpp>

#if defined(__linux__)

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

namespace sse::detail {

/** A plain-TCP client that owns its socket's descriptor, taken from Asio after the request.

    An idle event stream does nothing but wait for its peer to close, so it keeps no Asio
    socket (a reactor entry and a pending wait, about 300 bytes of user memory): its
    descriptor is in the io_context's readiness_watch, and each event the watch reports runs
    here, on the client's strand. Sends are non-blocking and write through from the flush
    queue (client::write_now); a send the socket does not take whole goes on here once the
    watch reports room (EPOLLOUT), and a close drains what the peer still sends, as
    stream_client does.
*/
class fd_client final : public client {
public:
    using watch = readiness_watch<fd_client>;

    fd_client(int fd, watch& w, std::shared_ptr<client_strand const> strand,
              std::shared_ptr<namespace_> const& ns, sse::handshake hs)
        : client(std::move(strand), ns, std::move(hs))
        , watch_(&w)
        , fd_(fd) {
        // We coalesce queued events into one write ourselves: Nagle's algorithm would only
        // delay every event after the first (up to a delayed-ACK period).
        int const on = 1;
        ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
        // Asio opens sockets without SOCK_CLOEXEC: a child the app forks and execs would
        // inherit the stream and keep it open after this process ends it.
        ::fcntl(fd_, F_SETFD, ::fcntl(fd_, F_GETFD) | FD_CLOEXEC);
        write_through_ = true; // every send and receive below is MSG_DONTWAIT
    }

    fd_client(fd_client const&) = delete;
    fd_client& operator=(fd_client const&) = delete;

    ~fd_client() override {
        if (fd_ >= 0) watch_->forget(fd_); // never closed (its io_context stopped first)
    }

    /// Watches the descriptor: a peer that already sent or closed is reported at once.
    void start() {
        if (auto ec = watch_->add(fd_, *this)) {
            // Not watched (out of memory): the stream could not notice its peer leave.
            net::post(*strand_, [self = shared_from_this(), ec] {
                static_cast<fd_client&>(*self).on_read(ec, 0);
            });
        }
    }

    // The watch's interface (see readiness_watch).
    std::shared_ptr<fd_client> watch_hold() noexcept {
        return std::static_pointer_cast<fd_client>(weak_from_this().lock());
    }
    void watch_ready(std::shared_ptr<fd_client> self, std::uint32_t events) {
        net::post(*strand_, [self = std::move(self), events] { self->on_events(events); });
    }

private:
    // On the strand.
    void on_events(std::uint32_t events) {
        if (fd_ < 0) return; // closed since the watch saw it
        if (draining_) return drain_more();
        if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) && !drain()) return;
        if (want_write_ && (events & (EPOLLOUT | EPOLLHUP | EPOLLERR))) {
            want_write_ = false;
            write_on_strand(); // the batch left half-written goes on
        }
    }

    // Reads (and drops) what the peer sent until the socket is empty. False: the stream is
    // closing (the peer closed, failed, or sent too much).
    bool drain() {
        std::array<char, 4096> buffer;
        for (;;) {
            ssize_t const n = ::recv(fd_, buffer.data(), buffer.size(), MSG_DONTWAIT);
            if (n > 0) {
                if (!on_read({}, static_cast<std::size_t>(n))) return false;
                continue;
            }
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
            on_read(n == 0 ? std::make_error_code(std::errc::connection_reset) : last_error(), 0);
            return false;
        }
    }

    void do_read() override {} // the watch reports reads: nothing stays pending

    // The in-flight batch, asynchronously: what the socket takes now, the rest once the
    // watch reports room. Its completion is posted (on_write may write again).
    void do_write(std::vector<net::const_buffer> const& buffers) override {
        std::error_code ec;
        if (fd_ < 0) ec = std::make_error_code(std::errc::bad_file_descriptor);
        while (!ec && !buffers.empty()) {
            // `buffers` is the queue's in-flight list: consume_written() trims it in place.
            std::size_t const k = std::min<std::size_t>(buffers.size(), 64);
            std::size_t const n = write_now({buffers.data(), buffers.data() + k}, ec);
            if (ec == std::errc::operation_would_block) {
                want_write_ = true;
                ec = watch_->want_write(fd_, *this);
                if (!ec) return; // on_events resumes
                want_write_ = false;
                break;
            }
            if (!ec) consume_written(n);
        }
        net::post(*strand_,
                  [self = shared_from_this(), ec] { static_cast<fd_client&>(*self).on_write(ec); });
    }

    std::size_t write_now(buffer_range buffers, std::error_code& ec) override {
        std::array<::iovec, 64> iov;
        std::size_t count = 0;
        for (auto it = buffers.begin(); it != buffers.end() && count < iov.size(); ++it) {
            iov[count].iov_base = const_cast<void*>(it->data());
            iov[count].iov_len = it->size();
            ++count;
        }
        ::msghdr msg{};
        msg.msg_iov = iov.data();
        msg.msg_iovlen = count;
        for (;;) {
            ssize_t const n = ::sendmsg(fd_, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (n >= 0) {
                ec.clear();
                return static_cast<std::size_t>(n);
            }
            if (errno == EINTR) continue;
            ec = (errno == EAGAIN || errno == EWOULDBLOCK)
                     ? std::make_error_code(std::errc::operation_would_block)
                     : last_error();
            return 0;
        }
    }

    void do_close(bool drain) override {
        if (fd_ < 0) return;
        if (draining_ || !drain) return finish_close();
        // Our FIN follows the bytes already queued. A close() now, with bytes of the peer
        // still unread, would send a reset that throws away what the peer has not read yet
        // (a 401 body, the last `retry:`): the peer's bytes are read and dropped until it
        // closes too, or for close_timeout or max_drain_bytes at most.
        if (::shutdown(fd_, SHUT_WR) != 0) return finish_close();
        draining_ = true;
        arm_drain_deadline();
        drain_more();
    }

    void drain_more() {
        std::array<char, 4096> buffer;
        for (;;) {
            ssize_t const n = ::recv(fd_, buffer.data(), buffer.size(), MSG_DONTWAIT);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return; // until the next event
            if (n <= 0) return finish_close();                              // EOF, reset
            auto& drained = closing().drained;
            drained += static_cast<std::size_t>(n);
            if (drained > max_drain_bytes) return finish_close();
        }
    }

    void finish_close() {
        if (fd_ >= 0) {
            watch_->forget(fd_);
            fd_ = -1;
        }
        if (want_write_) { // a write waiting for room ends with the stream
            want_write_ = false;
            on_write(std::make_error_code(std::errc::operation_canceled));
        }
        if (draining_) // its deadline is in closing(), made by do_close
            if (auto& timer = closing().drain_timer) timer->cancel();
    }

    static std::error_code last_error() noexcept { return {errno, std::system_category()}; }

    /// Bytes a closing stream reads from its peer, at most, before it closes anyway.
    static constexpr std::size_t max_drain_bytes = 256 * 1024;

    watch* watch_;
    int fd_; // -1 once closed; read by write_now (queue lock held, stream open)
    bool want_write_ = false;
};

} // namespace sse::detail

#endif // __linux__

#endif
