// Security: the last bytes before a close are not lost to a reset (issue 13, item 5). A close
// with unread bytes of the peer makes the kernel send RST and drop what it has not delivered
// yet; the library shuts down sending, drains the peer's bytes (bounded), then closes.
#include "integration/fixture.hpp"
#include "security/security_support.hpp"

using namespace sse_test;

namespace {

/// A raw client: a small receive buffer (so that the server's answer waits in the server's
/// send queue), a request followed by `junk` bytes the server never asked for, then a slow read
/// of everything until EOF or a reset.
struct slow_client {
    int fd = -1;
    std::size_t junk_sent = 0;
    std::string received;
    bool reset = false;

    slow_client(unsigned short port, std::string const& request, std::size_t junk) {
        fd = ::socket(AF_INET, SOCK_STREAM, 0);
        REQUIRE(fd >= 0);
        int small = 4096;
        ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(port);
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
        ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
        send_all(request);
        // As much junk as the server's buffers take (it stops reading after a while).
        std::string const chunk(16 * 1024, 'j');
        auto const deadline = std::chrono::steady_clock::now() + 1s;
        while (junk_sent < junk && std::chrono::steady_clock::now() < deadline) {
            ssize_t n =
                ::send(fd, chunk.data(), std::min(chunk.size(), junk - junk_sent), MSG_NOSIGNAL);
            if (n > 0) {
                junk_sent += static_cast<std::size_t>(n);
                continue;
            }
            if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) break;
            pollfd p{fd, POLLOUT, 0};
            ::poll(&p, 1, 50);
        }
    }
    ~slow_client() {
        if (fd >= 0) ::close(fd);
    }

    void send_all(std::string const& bytes) {
        std::size_t done = 0;
        while (done < bytes.size()) {
            ssize_t n = ::send(fd, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
            REQUIRE(n > 0);
            done += static_cast<std::size_t>(n);
        }
    }

    /// Reads 2 KiB a millisecond until EOF, a reset, or the deadline.
    void read_slowly(std::chrono::milliseconds timeout) {
        auto const deadline = std::chrono::steady_clock::now() + timeout;
        char buf[2048];
        while (std::chrono::steady_clock::now() < deadline) {
            ssize_t n = ::recv(fd, buf, sizeof buf, 0);
            if (n > 0) {
                received.append(buf, static_cast<std::size_t>(n));
                std::this_thread::sleep_for(1ms);
                continue;
            }
            if (n == 0) return;
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
                pollfd p{fd, POLLIN, 0};
                ::poll(&p, 1, 50);
                continue;
            }
            reset = errno == ECONNRESET;
            return;
        }
    }

    std::string body() const {
        auto end = received.find("\r\n\r\n");
        return end == std::string::npos ? std::string() : received.substr(end + 4);
    }
};

} // namespace

TEST_CASE("a rejected request with unread bytes behind it still gets its whole 401 body",
          "[security][drain]") {
    fixture f;
    auto& ns = f.ns("/s");
    std::string const refusal(256 * 1024, 'u'); // more than the peer's window: it waits in ours
    ns.use([refusal](sse::client&, sse::next next) { next(sse::reject(401, refusal)); });
    // 256 KiB of bytes after the request: more than the server reads for itself before it
    // stops (64 KiB), so some are still unread when the stream closes; no more than the drain
    // takes (256 KiB).
    slow_client c(f.port, "GET /s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 256 * 1024);
    CAPTURE(c.junk_sent);
    REQUIRE(c.junk_sent > 160 * 1024);
    REQUIRE(eventually([&] { return ns.stats().rejected == 1; }));
    c.read_slowly(10s);
    CHECK_FALSE(c.reset);
    REQUIRE(c.received.rfind("HTTP/1.1 401 ", 0) == 0);
    CHECK(c.body().size() == refusal.size());
    CHECK(c.body().find_first_not_of('u') == std::string::npos);
    CHECK(ns.client_count() == 0);
}

TEST_CASE("the drain is bounded in time: a peer that never closes is closed anyway",
          "[security][drain]") {
    auto opts = quiet_options();
    opts.close_timeout = std::chrono::milliseconds(300);
    fixture f(opts);
    auto& ns = f.ns("/s");
    ns.use([](sse::client&, sse::next next) { next(sse::reject(401, "no")); });
    auto const before = fd_count(); // the server runs in this process: its sockets count
    sse_reader r(f.port, "/s");
    REQUIRE(r.status() == 401);
    CHECK(r.read_body() == "no");
    CHECK(r.closed(5s)); // our FIN, after the answer
    // The reader keeps its side open and silent: the server's socket is closed all the same,
    // after the drain's time bound; only the reader's own descriptor is left.
    CHECK(eventually([&] { return fd_count() == before + 1; }, 5s));
}

TEST_CASE("the drain is bounded in bytes: a peer that keeps sending is closed anyway",
          "[security][drain]") {
    auto opts = quiet_options();
    opts.close_timeout = std::chrono::seconds(30); // so that only the byte bound can end it
    fixture f(opts);
    auto& ns = f.ns("/s");
    ns.use([](sse::client&, sse::next next) { next(sse::reject(401, "no")); });
    sse_reader r(f.port, "/s");
    REQUIRE(r.status() == 401);
    CHECK(r.read_body() == "no");
    // Keep sending after the answer: the server stops reading after 256 KiB and closes (a
    // reset, since bytes are left unread), long before close_timeout would. Each send waits at
    // most 3 s for room, so a server that neither read nor closed fails this.
    std::string const chunk(64 * 1024, 'j');
    bool cut = false;
    for (int i = 0; i < 1000 && !cut; ++i)
        cut = !r.send_unless_cut(chunk);
    CHECK(cut);
}
