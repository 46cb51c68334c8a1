// tests/support/sse_reader.hpp - a tiny, strict SSE client for tests (header-only).
//
// Talks to a server over a real loopback socket (plain TCP or TLS through OpenSSL), the way a
// browser's EventSource would: sends a GET, parses the status line and headers, then parses the
// body incrementally with the WHATWG "event stream" algorithm:
// https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation
//
//     sse_test::sse_reader r(port, "/stream?token=abc", {{"Authorization", "Bearer x"}});
//     REQUIRE(r.status() == 200);
//     auto ev = r.next_event();               // std::optional<sse_event>, waits up to a deadline
//     REQUIRE(ev);
//     CHECK(ev->event == "connection");
//     CHECK(r.closed(std::chrono::seconds(1))); // EOF within a second
//
// Every wait takes a timeout (default `reader_options::timeout`) and never blocks past it, so a
// broken server makes a test fail, not hang. All bytes received are kept (`raw()`, `wire()`) so
// tests can assert the exact wire format. Not thread-safe: use one reader from one thread.
//
// `event_stream_parser` is the sans-I/O part; it can be fed arbitrary splits of a stream.
#ifndef SSE_TESTS_SUPPORT_SSE_READER_HPP
#define SSE_TESTS_SUPPORT_SSE_READER_HPP

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <deque>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sse_test {

/// One dispatched event, as a browser's `MessageEvent` would carry it.
struct sse_event {
    std::string id;      ///< the stream's last event id after this event (`lastEventId`)
    std::string event;   ///< the event type; "message" when the block had no `event:` field
    std::string data;    ///< the `data:` lines joined with "\n"
    bool has_id = false; ///< this event's own block carried an `id:` field
};

/** The WHATWG event-stream parser, without I/O.

    Feed it the response body in any splits (`feed`), call `finish` at end of stream. Lines
    end with CRLF, LF or CR; a leading UTF-8 BOM is skipped; `data:` lines are joined with LF;
    a block without data dispatches nothing; an incomplete block at EOF is discarded.
    Comments (lines starting with ':') are kept with one leading space removed (": ping" gives
    "ping"); `retry:` values made of ASCII digits only are kept as numbers.
*/
class event_stream_parser {
public:
    void feed(std::string_view bytes) {
        if (finished_) return;
        if (!bom_checked_) {
            bom_.append(bytes.data(), bytes.size());
            static constexpr std::string_view bom = "\xEF\xBB\xBF";
            if (bom_.size() < bom.size() && bom.substr(0, bom_.size()) == bom_) return;
            bom_checked_ = true;
            std::string all = std::move(bom_);
            std::string_view rest = all;
            if (rest.substr(0, bom.size()) == bom) rest.remove_prefix(bom.size());
            consume(rest);
            return;
        }
        consume(bytes);
    }

    /// End of stream: whatever block was being built is discarded (as a browser does).
    void finish() {
        if (!bom_checked_) {
            bom_checked_ = true;
            consume(bom_);
        }
        finished_ = true;
        line_.clear();
        data_.clear();
        type_.clear();
        block_had_id_ = false;
    }

    /// Dispatched events not yet taken.
    std::deque<sse_event>& events() noexcept { return events_; }
    /// Comments not yet taken, without the ':' and one leading space.
    std::deque<std::string>& comments() noexcept { return comments_; }
    /// Valid `retry:` values not yet taken, in milliseconds.
    std::deque<std::uint64_t>& retries() noexcept { return retries_; }

    /// The last event id string (what a browser would send as `Last-Event-ID`).
    std::string const& last_event_id() const noexcept { return last_id_; }
    /// The reconnection time set by the latest valid `retry:` field (0 when none).
    std::uint64_t reconnection_time() const noexcept { return reconnection_time_; }

    std::size_t events_seen() const noexcept { return events_seen_; }
    std::size_t comments_seen() const noexcept { return comments_seen_; }
    std::size_t retries_seen() const noexcept { return retries_seen_; }

private:
    void consume(std::string_view in) {
        std::size_t i = 0;
        if (skip_lf_ && !in.empty()) {
            if (in[0] == '\n') ++i;
            skip_lf_ = false;
        }
        while (i < in.size()) {
            std::size_t eol = in.find_first_of("\r\n", i);
            if (eol == std::string_view::npos) {
                line_.append(in.data() + i, in.size() - i);
                return;
            }
            line_.append(in.data() + i, eol - i);
            process_line(line_);
            line_.clear();
            i = eol + 1;
            if (in[eol] == '\r') {
                if (i < in.size()) {
                    if (in[i] == '\n') ++i;
                } else {
                    skip_lf_ = true; // a CRLF split across two reads is still one line end
                }
            }
        }
    }

    void process_line(std::string_view line) {
        if (line.empty()) {
            dispatch();
            return;
        }
        if (line.front() == ':') {
            std::string_view c = line.substr(1);
            if (!c.empty() && c.front() == ' ') c.remove_prefix(1);
            comments_.emplace_back(c);
            ++comments_seen_;
            return;
        }
        std::string_view field = line;
        std::string_view value;
        if (auto colon = line.find(':'); colon != std::string_view::npos) {
            field = line.substr(0, colon);
            value = line.substr(colon + 1);
            if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
        }
        if (field == "event") {
            type_ = std::string(value);
        } else if (field == "data") {
            data_.append(value.data(), value.size());
            data_ += '\n';
        } else if (field == "id") {
            if (value.find('\0') == std::string_view::npos) {
                id_buffer_ = std::string(value);
                block_had_id_ = true;
            }
        } else if (field == "retry") {
            bool digits = !value.empty();
            for (char ch : value)
                digits = digits && ch >= '0' && ch <= '9';
            if (digits) {
                reconnection_time_ = std::stoull(std::string(value));
                retries_.push_back(reconnection_time_);
                ++retries_seen_;
            }
        }
        // Any other field is ignored.
    }

    void dispatch() {
        last_id_ = id_buffer_;
        bool const had_id = block_had_id_;
        block_had_id_ = false;
        if (data_.empty()) {
            type_.clear();
            return;
        }
        if (data_.back() == '\n') data_.pop_back();
        sse_event e;
        e.id = last_id_;
        e.event = type_.empty() ? "message" : type_;
        e.data = std::move(data_);
        e.has_id = had_id;
        events_.push_back(std::move(e));
        ++events_seen_;
        data_.clear();
        type_.clear();
    }

    bool bom_checked_ = false;
    bool finished_ = false;
    bool skip_lf_ = false;
    std::string bom_;
    std::string line_;
    std::string data_;
    std::string type_;
    std::string id_buffer_;
    bool block_had_id_ = false;
    std::string last_id_;
    std::uint64_t reconnection_time_ = 0;
    std::deque<sse_event> events_;
    std::deque<std::string> comments_;
    std::deque<std::uint64_t> retries_;
    std::size_t events_seen_ = 0;
    std::size_t comments_seen_ = 0;
    std::size_t retries_seen_ = 0;
};

/// How a reader connects and how long it waits by default.
struct reader_options {
    /// Speak TLS (certificate not verified: tests use a self-signed one).
    bool tls = false;
    /// SO_RCVBUF set before connecting (0 keeps the system default). A small value, with a
    /// reader that never reads, makes a slow consumer quickly.
    int receive_buffer = 0;
    /// Default deadline of every wait.
    std::chrono::milliseconds timeout{3000};
};

/// Extra request headers, in order.
using header_list = std::vector<std::pair<std::string, std::string>>;

/** A blocking-with-deadlines SSE client over one loopback connection.

    The constructor connects and sends the request; nothing is read until a wait asks for
    it. Waits (`status`, `next_event`, `closed`, ...) read whatever arrives, parse it, and
    return as soon as what they wait for is there, or at the deadline.
*/
class sse_reader {
public:
    using clock = std::chrono::steady_clock;
    using duration = std::chrono::milliseconds;

    /// Connects to 127.0.0.1:`port` and sends `GET target` with `Accept: text/event-stream`,
    /// `Host`, and `headers`. Throws `std::runtime_error` when it cannot connect.
    sse_reader(unsigned short port, std::string const& target = "/",
               header_list const& headers = {}, reader_options opts = {})
        : opts_(opts) {
        connect(port);
        std::string req = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                          "\r\nAccept: text/event-stream\r\n";
        for (auto const& [k, v] : headers)
            req += k + ": " + v + "\r\n";
        req += "\r\n";
        send(req);
    }

    /// Connects and sends `bytes` exactly as given (a hostile or hand-made request).
    static sse_reader raw(unsigned short port, std::string_view bytes, reader_options opts = {}) {
        sse_reader r(opts);
        r.connect(port);
        // A server may cut a hostile request off before it is all sent: that is an answer too.
        if (!r.send_unless_cut(bytes)) {
            r.eof_ = true;
            r.reset_ = true;
        }
        return r;
    }

    sse_reader(sse_reader&& o) noexcept { *this = std::move(o); }
    sse_reader& operator=(sse_reader&& o) noexcept {
        if (this != &o) {
            close();
            opts_ = o.opts_;
            fd_ = std::exchange(o.fd_, -1);
            ssl_ctx_ = std::exchange(o.ssl_ctx_, nullptr);
            ssl_ = std::exchange(o.ssl_, nullptr);
            eof_ = o.eof_;
            reset_ = o.reset_;
            raw_ = std::move(o.raw_);
            head_done_ = o.head_done_;
            body_begin_ = o.body_begin_;
            status_ = o.status_;
            reason_ = std::move(o.reason_);
            headers_ = std::move(o.headers_);
            parser_ = std::move(o.parser_);
        }
        return *this;
    }
    sse_reader(sse_reader const&) = delete;
    sse_reader& operator=(sse_reader const&) = delete;
    ~sse_reader() { close(); }

    // ---- the response head -----------------------------------------------------------------

    /// Waits for the status line and headers; false at the deadline or EOF without them.
    bool wait_head() { return wait_head(opts_.timeout); }
    bool wait_head(duration timeout) {
        return wait_until([&] { return head_done_; }, timeout);
    }
    /// The status code (waits for the head); 0 when no head arrived in time.
    unsigned status() {
        wait_head();
        return status_;
    }
    std::string const& reason() {
        wait_head();
        return reason_;
    }
    /// The first value of header `name` (any case); waits for the head.
    std::optional<std::string> header(std::string_view name) {
        wait_head();
        for (auto const& [k, v] : headers_)
            if (iequals(k, name)) return v;
        return std::nullopt;
    }
    /// How many times header `name` appears (any case).
    std::size_t header_count(std::string_view name) {
        wait_head();
        std::size_t n = 0;
        for (auto const& kv : headers_)
            n += iequals(kv.first, name) ? 1 : 0;
        return n;
    }
    /// Every header in order, names as sent.
    header_list const& headers() {
        wait_head();
        return headers_;
    }

    /// For a non-stream response: reads until EOF (or until Content-Length bytes are in) and
    /// returns the body.
    std::string read_body() { return read_body(opts_.timeout); }
    std::string read_body(duration timeout) {
        auto const deadline = clock::now() + timeout;
        if (!wait_head(timeout)) return {};
        std::optional<std::size_t> length;
        if (auto cl = header("content-length")) length = std::stoul(*cl);
        wait_until([&] { return length && wire().size() >= *length; }, remaining(deadline));
        return std::string(wire());
    }

    // ---- the event stream ------------------------------------------------------------------

    /// The next dispatched event, or nullopt at the deadline / end of stream.
    std::optional<sse_event> next_event() { return next_event(opts_.timeout); }
    std::optional<sse_event> next_event(duration timeout) {
        return take(parser_.events(), timeout);
    }
    /// The next comment (": ping" gives "ping").
    std::optional<std::string> next_comment() { return next_comment(opts_.timeout); }
    std::optional<std::string> next_comment(duration timeout) {
        return take(parser_.comments(), timeout);
    }
    /// The next valid `retry:` value, in milliseconds.
    std::optional<std::uint64_t> next_retry() { return next_retry(opts_.timeout); }
    std::optional<std::uint64_t> next_retry(duration timeout) {
        return take(parser_.retries(), timeout);
    }
    /// Up to `n` events, fewer when the deadline passes first.
    std::vector<sse_event> events(std::size_t n) { return events(n, opts_.timeout); }
    std::vector<sse_event> events(std::size_t n, duration timeout) {
        wait_until([&] { return parser_.events().size() >= n; }, timeout);
        std::vector<sse_event> out;
        while (out.size() < n && !parser_.events().empty()) {
            out.push_back(std::move(parser_.events().front()));
            parser_.events().pop_front();
        }
        return out;
    }

    /// Events, comments and retries parsed and not yet taken.
    std::deque<sse_event>& pending_events() noexcept { return parser_.events(); }
    std::deque<std::string>& pending_comments() noexcept { return parser_.comments(); }
    std::deque<std::uint64_t>& pending_retries() noexcept { return parser_.retries(); }
    /// Totals since the start of the stream (taken or not).
    std::size_t events_seen() const noexcept { return parser_.events_seen(); }
    std::size_t comments_seen() const noexcept { return parser_.comments_seen(); }
    std::size_t retries_seen() const noexcept { return parser_.retries_seen(); }
    std::string const& last_event_id() const noexcept { return parser_.last_event_id(); }

    /// True once the server has ended the connection (EOF or reset), waiting up to `timeout`.
    bool closed() { return closed(opts_.timeout); }
    bool closed(duration timeout) {
        wait_until([this] { return eof_; }, timeout);
        return eof_;
    }
    /// True when the end was seen already (does not wait).
    bool is_closed() const noexcept { return eof_; }
    /// True when the end was a reset (RST) rather than an orderly FIN.
    bool was_reset() const noexcept { return reset_; }

    /// Reads whatever arrives for `d` (to check that nothing, e.g. no heartbeat, arrives).
    void pump_for(duration d) {
        auto const deadline = clock::now() + d;
        while (!eof_ && clock::now() < deadline)
            read_some(deadline);
    }

    /// Reads until `pred()` holds, the deadline passes or the stream ends; returns `pred()`.
    template <class Pred>
    bool wait_until(Pred&& pred, duration timeout) {
        auto const deadline = clock::now() + timeout;
        while (!pred()) {
            if (eof_ || clock::now() >= deadline) return pred();
            read_some(deadline);
        }
        return true;
    }

    /// Every byte received, head included.
    std::string const& raw() const noexcept { return raw_; }
    /// The body bytes received so far (after the blank line ending the head).
    std::string_view wire() const noexcept {
        if (!head_done_) return {};
        return std::string_view(raw_).substr(body_begin_);
    }

    // ---- the connection --------------------------------------------------------------------

    /// Sends more bytes (after the request: pipelined or hostile data).
    void send(std::string_view bytes) {
        if (!send_unless_cut(bytes))
            throw std::runtime_error(std::string("sse_reader: send: ") + std::strerror(errno));
    }
    /// Like send(), but false when the server has closed or reset the connection meanwhile.
    bool send_unless_cut(std::string_view bytes) {
        auto const deadline = clock::now() + opts_.timeout;
        std::size_t done = 0;
        while (done < bytes.size()) {
            if (clock::now() >= deadline) throw std::runtime_error("sse_reader: send timed out");
            if (ssl_) {
                ERR_clear_error();
                int n = SSL_write(ssl_, bytes.data() + done, static_cast<int>(bytes.size() - done));
                if (n > 0) {
                    done += static_cast<std::size_t>(n);
                    continue;
                }
                if (!wait_ssl(SSL_get_error(ssl_, n), deadline))
                    throw std::runtime_error("sse_reader: TLS write failed");
            } else {
                ssize_t n = ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
                if (n > 0) {
                    done += static_cast<std::size_t>(n);
                    continue;
                }
                if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
                    poll_fd(POLLOUT, deadline);
                    continue;
                }
                if (n < 0 && (errno == ECONNRESET || errno == EPIPE)) return false;
                throw std::runtime_error(std::string("sse_reader: send: ") + std::strerror(errno));
            }
        }
        return true;
    }

    /// Half-closes: the server sees EOF on its read while the reader can still read.
    void shutdown_write() {
        if (fd_ >= 0) ::shutdown(fd_, SHUT_WR);
    }

    /// Closes the connection now (a browser tab going away). Idempotent.
    void close() noexcept {
        if (ssl_) {
            SSL_free(ssl_);
            ssl_ = nullptr;
        }
        if (ssl_ctx_) {
            SSL_CTX_free(ssl_ctx_);
            ssl_ctx_ = nullptr;
        }
        if (fd_ >= 0) {
            ::close(fd_);
            fd_ = -1;
        }
    }

    /// Closes with a reset (SO_LINGER 0): the abrupt end of a crashed client.
    void reset() noexcept {
        if (fd_ >= 0) {
            linger l{1, 0};
            ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
        }
        close();
    }

    int native_handle() const noexcept { return fd_; }
    /// The local port of this connection (what the server sees as the remote port).
    unsigned short local_port() const {
        sockaddr_in a{};
        socklen_t len = sizeof a;
        if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) return 0;
        return ntohs(a.sin_port);
    }

private:
    explicit sse_reader(reader_options opts)
        : opts_(opts) {}

    static bool iequals(std::string_view a, std::string_view b) noexcept {
        if (a.size() != b.size()) return false;
        for (std::size_t i = 0; i < a.size(); ++i)
            if (std::tolower(static_cast<unsigned char>(a[i])) !=
                std::tolower(static_cast<unsigned char>(b[i])))
                return false;
        return true;
    }

    static duration remaining(clock::time_point deadline) {
        auto left = std::chrono::duration_cast<duration>(deadline - clock::now());
        return left.count() > 0 ? left : duration(0);
    }

    template <class T>
    std::optional<T> take(std::deque<T>& q, duration timeout) {
        if (!wait_until([&] { return !q.empty(); }, timeout)) return std::nullopt;
        T v = std::move(q.front());
        q.pop_front();
        return v;
    }

    void connect(unsigned short port) {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        if (fd_ < 0) throw std::runtime_error("sse_reader: socket() failed");
        if (opts_.receive_buffer > 0)
            ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &opts_.receive_buffer,
                         sizeof opts_.receive_buffer);
        int one = 1;
        ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(port);
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
            std::string why = std::strerror(errno);
            close();
            throw std::runtime_error("sse_reader: connect to 127.0.0.1:" + std::to_string(port) +
                                     " failed: " + why);
        }
        ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) | O_NONBLOCK);
        if (opts_.tls) tls_handshake();
    }

    void tls_handshake() {
        ssl_ctx_ = SSL_CTX_new(TLS_client_method());
        if (!ssl_ctx_) throw std::runtime_error("sse_reader: SSL_CTX_new failed");
        SSL_CTX_set_verify(ssl_ctx_, SSL_VERIFY_NONE, nullptr);
        ssl_ = SSL_new(ssl_ctx_);
        SSL_set_fd(ssl_, fd_);
        SSL_set_tlsext_host_name(ssl_, "localhost");
        auto const deadline = clock::now() + opts_.timeout;
        for (;;) {
            ERR_clear_error();
            int rc = SSL_connect(ssl_);
            if (rc == 1) return;
            if (!wait_ssl(SSL_get_error(ssl_, rc), deadline))
                throw std::runtime_error("sse_reader: TLS handshake failed");
        }
    }

    // Waits for what OpenSSL asked for; false on a fatal error or the deadline.
    bool wait_ssl(int err, clock::time_point deadline) {
        if (err == SSL_ERROR_WANT_READ) return poll_fd(POLLIN, deadline);
        if (err == SSL_ERROR_WANT_WRITE) return poll_fd(POLLOUT, deadline);
        return false;
    }

    bool poll_fd(short events, clock::time_point deadline) {
        pollfd p{fd_, events, 0};
        int ms = static_cast<int>(remaining(deadline).count());
        int rc = ::poll(&p, 1, ms);
        return rc > 0;
    }

    // Reads once (waiting until the deadline for data); parses what came.
    void read_some(clock::time_point deadline) {
        if (eof_ || fd_ < 0) {
            eof_ = true;
            return;
        }
        char buf[16384];
        for (;;) {
            ssize_t n;
            if (ssl_) {
                ERR_clear_error();
                int rc = SSL_read(ssl_, buf, sizeof buf);
                if (rc > 0) {
                    n = rc;
                } else {
                    int err = SSL_get_error(ssl_, rc);
                    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
                        if (!wait_ssl(err, deadline)) return; // deadline
                        continue;
                    }
                    // close_notify, an unexpected EOF (the library closes TCP without
                    // close_notify) or a reset: the stream is over either way.
                    reset_ = err == SSL_ERROR_SYSCALL && errno == ECONNRESET;
                    on_eof();
                    return;
                }
            } else {
                n = ::recv(fd_, buf, sizeof buf, 0);
                if (n < 0) {
                    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
                        if (!poll_fd(POLLIN, deadline)) return; // deadline
                        continue;
                    }
                    reset_ = errno == ECONNRESET;
                    on_eof();
                    return;
                }
                if (n == 0) {
                    on_eof();
                    return;
                }
            }
            on_bytes(std::string_view(buf, static_cast<std::size_t>(n)));
            return;
        }
    }

    void on_eof() {
        eof_ = true;
        parser_.finish();
    }

    void on_bytes(std::string_view bytes) {
        std::size_t const before = raw_.size();
        raw_.append(bytes.data(), bytes.size());
        if (head_done_) {
            parser_.feed(bytes);
            return;
        }
        // Look for the blank line that ends the head (searching a little before the new
        // bytes, in case "\r\n\r\n" was split).
        std::size_t from = before >= 3 ? before - 3 : 0;
        std::size_t end = raw_.find("\r\n\r\n", from);
        if (end == std::string::npos) return;
        parse_head(std::string_view(raw_).substr(0, end));
        head_done_ = true;
        body_begin_ = end + 4;
        parser_.feed(std::string_view(raw_).substr(body_begin_));
    }

    void parse_head(std::string_view head) {
        std::size_t eol = head.find("\r\n");
        std::string_view status_line = head.substr(0, eol);
        // "HTTP/1.1 200 OK"
        auto sp1 = status_line.find(' ');
        if (sp1 != std::string_view::npos) {
            auto sp2 = status_line.find(' ', sp1 + 1);
            std::string code(status_line.substr(
                sp1 + 1, sp2 == std::string_view::npos ? std::string_view::npos : sp2 - sp1 - 1));
            status_ = static_cast<unsigned>(std::strtoul(code.c_str(), nullptr, 10));
            if (sp2 != std::string_view::npos) reason_ = std::string(status_line.substr(sp2 + 1));
        }
        while (eol != std::string_view::npos) {
            std::size_t start = eol + 2;
            eol = head.find("\r\n", start);
            std::string_view line = head.substr(
                start, eol == std::string_view::npos ? std::string_view::npos : eol - start);
            auto colon = line.find(':');
            if (colon == std::string_view::npos) continue;
            std::string_view value = line.substr(colon + 1);
            while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
                value.remove_prefix(1);
            while (!value.empty() && (value.back() == ' ' || value.back() == '\t'))
                value.remove_suffix(1);
            headers_.emplace_back(std::string(line.substr(0, colon)), std::string(value));
        }
    }

    reader_options opts_;
    int fd_ = -1;
    SSL_CTX* ssl_ctx_ = nullptr;
    SSL* ssl_ = nullptr;
    bool eof_ = false;
    bool reset_ = false;
    std::string raw_;
    bool head_done_ = false;
    std::size_t body_begin_ = 0;
    unsigned status_ = 0;
    std::string reason_;
    header_list headers_;
    event_stream_parser parser_;
};

} // namespace sse_test

#endif
