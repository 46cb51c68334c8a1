// tests/security/security_support.hpp - what the security and soak tests share: process
// figures (/proc/self), whether a sanitizer runs, and a reader that does not keep the bytes
// it receives (so that emitting many MB does not grow the test's own memory).
#ifndef SSE_TESTS_SECURITY_SUPPORT_HPP
#define SSE_TESTS_SECURITY_SUPPORT_HPP

#include "support/sse_reader.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

// Memory figures mean little under a sanitizer (ASan keeps freed memory in quarantine, TSan
// shadows it): the bounds below are checked only in plain builds, and printed always.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SSE_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SSE_TEST_SANITIZED 1
#endif
#endif
#ifndef SSE_TEST_SANITIZED
#define SSE_TEST_SANITIZED 0
#endif

namespace sse_test {

inline constexpr bool sanitized = SSE_TEST_SANITIZED != 0;

/// Resident set size of this process, in bytes (/proc/self/statm, field 2).
inline std::size_t rss_bytes() {
    std::FILE* f = std::fopen("/proc/self/statm", "r");
    if (!f) return 0;
    unsigned long size = 0, resident = 0;
    int const n = std::fscanf(f, "%lu %lu", &size, &resident);
    std::fclose(f);
    if (n != 2) return 0;
    return static_cast<std::size_t>(resident) * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

/// Open descriptors of this process (entries of /proc/self/fd, minus the one used to list).
inline std::size_t fd_count() {
    DIR* d = ::opendir("/proc/self/fd");
    if (!d) return 0;
    std::size_t n = 0;
    while (dirent* e = ::readdir(d))
        if (e->d_name[0] != '.') ++n;
    ::closedir(d);
    return n - 1;
}

inline double mib(std::size_t bytes) {
    return static_cast<double>(bytes) / (1024.0 * 1024.0);
}

/** An SSE client over a raw socket that parses as it reads and keeps nothing but the head
    and the events not yet taken. Optionally binds a source address (127.0.0.2 is another
    "remote address" on Linux loopback).
*/
class lean_reader {
public:
    using clock = std::chrono::steady_clock;

    lean_reader(unsigned short port, std::string const& target, char const* source = nullptr,
                int receive_buffer = 0) {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        if (fd_ < 0) throw std::runtime_error("lean_reader: socket() failed");
        if (receive_buffer > 0)
            ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
        if (source) {
            sockaddr_in src{};
            src.sin_family = AF_INET;
            ::inet_pton(AF_INET, source, &src.sin_addr);
            if (::bind(fd_, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0) {
                ::close(fd_);
                throw std::runtime_error(std::string("lean_reader: cannot bind ") + source);
            }
        }
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(port);
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
            ::close(fd_);
            throw std::runtime_error("lean_reader: connect failed");
        }
        ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) | O_NONBLOCK);
        std::string req =
            "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n";
        if (::send(fd_, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size()))
            throw std::runtime_error("lean_reader: send failed");
    }
    lean_reader(lean_reader const&) = delete;
    lean_reader& operator=(lean_reader const&) = delete;
    ~lean_reader() { close(); }

    void close() noexcept {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }

    /// The status code once the head is in (0 at the deadline).
    unsigned status(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
        wait_until([&] { return head_done_; }, timeout);
        return status_;
    }
    std::string const& head() const noexcept { return head_; }

    std::optional<sse_event>
    next_event(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
        auto& q = parser_.events();
        if (!wait_until([&] { return !q.empty(); }, timeout)) return std::nullopt;
        sse_event e = std::move(q.front());
        q.pop_front();
        return e;
    }
    bool closed(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
        wait_until([&] { return eof_; }, timeout);
        return eof_;
    }
    std::size_t body_bytes() const noexcept { return body_bytes_; }

    template <class Pred>
    bool wait_until(Pred&& pred, std::chrono::milliseconds timeout) {
        auto const deadline = clock::now() + timeout;
        while (!pred()) {
            if (eof_ || clock::now() >= deadline) return pred();
            read_some(deadline);
        }
        return true;
    }

private:
    void read_some(clock::time_point deadline) {
        char buf[16384];
        ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
            auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
            pollfd p{fd_, POLLIN, 0};
            ::poll(&p, 1, static_cast<int>(left.count() > 0 ? left.count() : 0));
            return;
        }
        if (n <= 0) {
            eof_ = true;
            parser_.finish();
            return;
        }
        std::string_view in(buf, static_cast<std::size_t>(n));
        if (!head_done_) {
            head_.append(in.data(), in.size());
            auto end = head_.find("\r\n\r\n");
            if (end == std::string::npos) return;
            head_done_ = true;
            std::string body = head_.substr(end + 4);
            head_.resize(end + 4);
            if (head_.size() > 12) {
                unsigned code = 0;
                std::from_chars(head_.data() + 9, head_.data() + 12, code);
                status_ = code;
            }
            body_bytes_ += body.size();
            parser_.feed(body);
            return;
        }
        body_bytes_ += in.size();
        parser_.feed(in);
    }

    int fd_ = -1;
    bool head_done_ = false;
    bool eof_ = false;
    unsigned status_ = 0;
    std::string head_;
    std::size_t body_bytes_ = 0;
    event_stream_parser parser_;
};

} // namespace sse_test

#endif
