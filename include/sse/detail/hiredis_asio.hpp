// sse/detail/hiredis_asio.hpp - hiredis' async API driven by an Asio strand.
//
// Two layers:
//
// hiredis_asio_events   the "event library" of one redisAsyncContext, as hiredis' own adapters
//                       (adapters/libuv.h, ...) are: hiredis calls addRead/delRead/addWrite/
//                       delWrite when it wants to read or write, and cleanup when it frees the
//                       context. Each wanted direction is one `async_wait` on a
//                       `posix::stream_descriptor` wrapping hiredis' socket; when it completes,
//                       redisAsyncHandleRead/Write runs, on the strand. hiredis owns the socket,
//                       so cleanup `release()`s the descriptor (Asio never closes it) before
//                       hiredis closes it. No thread, no timer: hiredis 0.14 has no
//                       `ev.scheduleTimer`, so timeouts are Asio timers in the layer above.
//
// redis_connection      one TCP connection attempt and its life: resolve (Asio, asynchronous),
//                       connect (hiredis, non-blocking), a connect timeout covering everything
//                       up to ready, the handshake (AUTH, SELECT, CLIENT SETNAME, pipelined),
//                       then commands. It reports to a handler exactly once `on_connection_down`
//                       (failed or lost), after `on_connection_ready` if it got that far, and
//                       never anything after `close()`.
//
// Rules that keep hiredis safe (it must never be freed from inside one of its own callbacks,
// and in 0.14 not even inside the connect callback): every free happens in a handler posted to
// the strand; every hiredis callback only records or forwards; a context freed by hiredis
// itself (peer closed, I/O error, failed connect) is noticed through `cleanup` and never
// touched again.
//
// Works with hiredis 0.14 (Debian 12) and 1.x.
#ifndef SSE_DETAIL_HIREDIS_ASIO_HPP
#define SSE_DETAIL_HIREDIS_ASIO_HPP

#include <sse/detail/config.hpp>
#include <sse/detail/redis_url.hpp>
#include <sse/detail/sigpipe_guard.hpp>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#ifndef HIREDIS_MAJOR
#error "sse/redis_adapter.hpp needs hiredis >= 0.14 (HIREDIS_MAJOR is not defined)"
#endif

namespace sse::detail {

/// The strand every hiredis call of one adapter runs on.
using redis_strand = net::strand<net::any_io_executor>;

/** The Asio event loop hooks of one `redisAsyncContext`.

    Lifetime: created by `attach`, which hands hiredis a reference (`self_`); each pending wait
    holds another. hiredis' `cleanup` drops the first and aborts the waits, so the object dies
    when the last aborted wait has run, never while hiredis or Asio can still reach it.
*/
class hiredis_asio_events : public std::enable_shared_from_this<hiredis_asio_events> {
public:
    /** Installs Asio as the event library of `ac`, on `strand`.

        @param on_cleanup Called (on the strand, from inside hiredis) when hiredis frees `ac`.
        @return false, with `error` set, when `ac` already has an event library or its socket
        cannot be registered with Asio. `ac` is then untouched and still the caller's to free.
    */
    static bool attach(redisAsyncContext* ac, redis_strand const& strand,
                       std::function<void()> on_cleanup, std::string& error) {
        if (ac->ev.data != nullptr) {
            error = "the hiredis context already has an event library attached";
            return false;
        }
        auto self = std::shared_ptr<hiredis_asio_events>(new hiredis_asio_events(ac, strand));
        boost::system::error_code ec;
        self->fd_.assign(ac->c.fd, ec);
        if (ec) {
            error = "cannot watch the Redis socket: " + ec.message();
            self->fd_.release();
            return false;
        }
        self->on_cleanup_ = std::move(on_cleanup);
        self->self_ = self;
        ac->ev.data = self.get();
        ac->ev.addRead = &add_read;
        ac->ev.delRead = &del_read;
        ac->ev.addWrite = &add_write;
        ac->ev.delWrite = &del_write;
        ac->ev.cleanup = &cleanup;
#if HIREDIS_MAJOR >= 1
        // Timeouts run on Asio timers in redis_connection; hiredis needs no timer hook.
        ac->ev.scheduleTimer = nullptr;
#endif
        return true;
    }

    hiredis_asio_events(hiredis_asio_events const&) = delete;
    hiredis_asio_events& operator=(hiredis_asio_events const&) = delete;

    ~hiredis_asio_events() {
        // Never close hiredis' descriptor; it is released in cleanup, this is a safety net.
        if (fd_.is_open()) fd_.release();
    }

private:
    using wait_type = net::posix::descriptor_base::wait_type;
    static constexpr int max_read_rounds = 16;

    hiredis_asio_events(redisAsyncContext* ac, redis_strand const& strand)
        : ac_(ac)
        , fd_(strand) {}

    static hiredis_asio_events& self(void* p) {
        return *static_cast<hiredis_asio_events*>(p);
    }

    // hiredis calls these "idempotently": an interest already set is a no-op.
    static void add_read(void* p) {
        auto& s = self(p);
        s.want_read_ = true;
        if (!s.reading_) s.wait(net::posix::descriptor_base::wait_read);
    }
    static void del_read(void* p) {
        self(p).want_read_ = false;
    }
    static void add_write(void* p) {
        auto& s = self(p);
        s.want_write_ = true;
        if (!s.writing_) s.wait(net::posix::descriptor_base::wait_write);
    }
    static void del_write(void* p) {
        self(p).want_write_ = false;
    }

    static void cleanup(void* p) {
        auto& s = self(p);
        // Keep this object alive until the end of this function even if no wait is pending.
        auto keep = std::move(s.self_);
        s.ac_ = nullptr;
        s.want_read_ = s.want_write_ = false;
        // Aborts the pending waits (they complete with operation_aborted) and unregisters the
        // descriptor from the reactor; hiredis closes the socket right after this returns.
        if (s.fd_.is_open()) s.fd_.release();
        if (auto f = std::move(s.on_cleanup_)) f();
    }

    void wait(wait_type w) {
        bool const read = w == net::posix::descriptor_base::wait_read;
        (read ? reading_ : writing_) = true;
        // A wait whose queue is empty re-arms the descriptor in the reactor (EPOLL_CTL_MOD), so
        // readiness that is already there (bytes hiredis has not read yet) is reported at once.
        fd_.async_wait(w, [self = shared_from_this(), read](boost::system::error_code ec) {
            self->on_ready(read, ec);
        });
    }

    void on_ready(bool read, boost::system::error_code ec) {
        (read ? reading_ : writing_) = false;
        if (ec || ac_ == nullptr) return;
        if (read) {
            // hiredis re-adds read interest itself (add_read) while handling, so the next wait
            // is already pending when this returns, unless the context was freed meanwhile.
            // hiredis reads at most 16 KiB per call: drain what the socket already holds (a
            // few rounds, then let other handlers run) instead of a reactor round trip each.
            for (int round = 0; round < max_read_rounds && ac_ != nullptr && want_read_; ++round) {
                redisAsyncHandleRead(ac_);
                if (ac_ == nullptr) break;
                net::posix::descriptor_base::bytes_readable unread;
                boost::system::error_code ioctl_ec;
                fd_.io_control(unread, ioctl_ec); // FIONREAD
                if (ioctl_ec || unread.get() == 0) break;
            }
        } else {
            if (want_write_) {
                sigpipe_guard no_sigpipe; // Redis may have gone: EPIPE, not the process's end
                redisAsyncHandleWrite(ac_);
            }
        }
    }

    redisAsyncContext* ac_;
    net::posix::stream_descriptor fd_;
    std::function<void()> on_cleanup_;
    std::shared_ptr<hiredis_asio_events> self_;
    bool want_read_ = false;
    bool want_write_ = false;
    bool reading_ = false; ///< a read wait is pending
    bool writing_ = false; ///< a write wait is pending
};

class redis_connection;

/// What a `redis_connection` reports. All calls are made on the connection's strand.
class redis_connection_handler {
public:
    /// Connected, authenticated, database selected: commands may flow.
    virtual void on_connection_ready(redis_connection& c) = 0;
    /// The attempt failed or the live connection was lost; `reason` is for humans.
    /// Called once per connection, never after `close()`. The context is already freed.
    virtual void on_connection_down(redis_connection& c, std::string const& reason) = 0;
    /// A reply to a command sent with tag >= 0 (for a subscription: every push on it).
    virtual void on_connection_reply(redis_connection& c, redisReply const& reply, int tag) = 0;

protected:
    ~redis_connection_handler() = default;
};

/** One Redis connection (see the file comment). Not thread-safe: use it on its strand only.

    @par Lifetime
    Owned by `shared_ptr`; pending handlers keep it alive. The handler is held weakly.
    Destroying it frees hiredis' context (closing the socket) if `close()` was not called.
*/
class redis_connection : public std::enable_shared_from_this<redis_connection> {
public:
    /// Reply tags below zero are the connection's own.
    static constexpr int tag_ignore = -1;

    redis_connection(redis_strand strand, std::weak_ptr<redis_connection_handler> handler,
                     std::string client_name)
        : strand_(std::move(strand))
        , handler_(std::move(handler))
        , client_name_(std::move(client_name))
        , timer_(strand_)
        , resolver_(strand_) {}

    redis_connection(redis_connection const&) = delete;
    redis_connection& operator=(redis_connection const&) = delete;

    ~redis_connection() {
        closing_ = true;
        handler_.reset();
        if (ac_ != nullptr) {
            auto* ac = ac_;
            ac_ = nullptr;
            ac->data = nullptr; // any callback hiredis still makes finds no connection
            redisAsyncFree(ac);
        }
    }

    /// Starts: resolve `ep.host` (unless it is an address), connect, handshake. `timeout`
    /// bounds all of it (0 = none).
    void start(redis_endpoint const& ep, std::chrono::milliseconds timeout) {
        ep_ = ep;
        target_ = ep.host + ":" + std::to_string(ep.port);
        arm_timeout(timeout);
        boost::system::error_code ec;
        auto addr = net::ip::make_address(ep.host, ec);
        if (!ec) {
            connect(addr.to_string());
            return;
        }
        // A name: resolve without blocking the strand (hiredis would call getaddrinfo inline).
        resolver_.async_resolve(
            ep.host, std::to_string(ep.port),
            [self = shared_from_this()](boost::system::error_code rec,
                                        net::ip::tcp::resolver::results_type results) {
                if (self->closing_ || self->down_) return;
                if (rec || results.empty()) {
                    self->fail("cannot resolve Redis host '" + self->ep_.host +
                               "': " + (rec ? rec.message() : std::string("no address")));
                    return;
                }
                // Prefer IPv4 (Redis binds 127.0.0.1 by default), else the first address.
                auto chosen = results.begin()->endpoint().address();
                for (auto const& r : results) {
                    if (r.endpoint().address().is_v4()) {
                        chosen = r.endpoint().address();
                        break;
                    }
                }
                self->connect(chosen.to_string());
            });
    }

    /** Starts with a context the application made (`redis_options::connect`): no resolve and
        no connect of our own; `ep` gives only the handshake (credentials, database). The
        context becomes this connection's, accepted or not (see `adopt_error`), except one
        that another event library drives: that one is left alone.
    */
    void start(redisAsyncContext* ac, redis_endpoint const& ep, std::chrono::milliseconds timeout) {
        ep_ = ep;
        target_ = ac != nullptr ? describe(ac->c) : std::string("(no context)");
        arm_timeout(timeout);
        if (ac == nullptr) return fail("redis_options::connect returned no hiredis context");
        adopt(ac, false);
    }

    /** Writes a command into hiredis' output buffer. It leaves in the next write, together
        with every other command written before the strand gets back to the event loop.

        @param tag >= 0: the reply goes to `on_connection_reply(tag)`; `tag_ignore`: dropped.
        @return false when the connection cannot take commands (not up, or going down).
    */
    bool command(int tag, int argc, char const** argv, std::size_t const* lens) {
        if (ac_ == nullptr || down_ || closing_) return false;
        return redisAsyncCommandArgv(ac_, &on_reply_thunk, tag_to_ptr(tag), argc, argv, lens) ==
               REDIS_OK;
    }

    /// `command` for a few string arguments.
    bool command(int tag, std::initializer_list<std::string_view> args) {
        std::vector<char const*> argv;
        std::vector<std::size_t> lens;
        argv.reserve(args.size());
        lens.reserve(args.size());
        for (auto a : args) {
            argv.push_back(a.data());
            lens.push_back(a.size());
        }
        return command(tag, static_cast<int>(argv.size()), argv.data(), lens.data());
    }

    /// Handshake done and not down.
    bool ready() const noexcept { return ready_ && !down_ && !closing_; }

    /// "host:port" as given.
    std::string const& target() const noexcept { return target_; }

    /// Gives up on this connection as if it had failed (`on_connection_down(reason)` follows):
    /// for a caller that found it out of step with the server.
    void abort(std::string reason) { fail(std::move(reason)); }

    /// Stops everything now: no handler call after this. Frees the context at once, or right
    /// after the current hiredis callback returns when called from inside one.
    void close() {
        if (closing_) return;
        closing_ = true;
        handler_.reset();
        timer_.cancel();
        resolver_.cancel();
        if (in_callback_ > 0) {
            net::post(strand_, [self = shared_from_this()] { self->free_context(); });
        } else {
            free_context();
        }
    }

private:
    // Handshake reply tags.
    static constexpr int tag_auth = -2;
    static constexpr int tag_select = -3;
    static constexpr int tag_setname = -4;

    static void* tag_to_ptr(int tag) noexcept {
        return reinterpret_cast<void*>(static_cast<std::intptr_t>(tag));
    }
    static int ptr_to_tag(void* p) noexcept {
        return static_cast<int>(reinterpret_cast<std::intptr_t>(p));
    }
    static redis_connection* from(redisAsyncContext const* ac) noexcept {
        return static_cast<redis_connection*>(ac->data);
    }

    // Marks "inside a hiredis callback" and keeps the connection alive meanwhile. If the owner
    // dropped its last reference during the callback, the object is destroyed by a posted
    // handler, outside hiredis: freeing a context from inside its own callbacks is forbidden.
    struct callback_scope {
        explicit callback_scope(redis_connection& c)
            : c_(c)
            , keep_(c.shared_from_this()) {
            ++c_.in_callback_;
        }
        ~callback_scope() {
            --c_.in_callback_;
            if (keep_.use_count() == 1) {
                auto strand = c_.strand_;
                net::post(strand, [k = std::move(keep_)] {});
            }
        }
        callback_scope(callback_scope const&) = delete;
        callback_scope& operator=(callback_scope const&) = delete;
        redis_connection& c_;
        std::shared_ptr<redis_connection> keep_;
    };

    void arm_timeout(std::chrono::milliseconds timeout) {
        if (timeout.count() <= 0) return;
        timer_.expires_after(timeout);
        timer_.async_wait([w = weak_from_this(), timeout](boost::system::error_code ec) {
            auto self = w.lock();
            if (ec || !self || self->ready_ || self->down_) return;
            self->fail("timed out after " + std::to_string(timeout.count()) +
                       " ms connecting to Redis at " + self->target_);
        });
    }

    // "host:port", "unix:/path" or "fd N", for messages.
    static std::string describe(redisContext const& c) {
        if (c.connection_type == REDIS_CONN_UNIX && c.unix_sock.path != nullptr)
            return std::string("unix:") + c.unix_sock.path;
        if (c.connection_type == REDIS_CONN_TCP && c.tcp.host != nullptr)
            return std::string(c.tcp.host) + ":" + std::to_string(c.tcp.port);
        return "fd " + std::to_string(c.fd);
    }

    // Why an application's context cannot be driven by us, or empty. Each is a mistake in the
    // factory: these fields are ours once the context is handed over.
    static char const* adopt_error(redisAsyncContext const* ac) noexcept {
        if (ac->onConnect != nullptr || ac->onDisconnect != nullptr)
            return "the hiredis context already has a connect or disconnect callback (the "
                   "adapter sets its own; do not set them in redis_options::connect)";
        if (ac->data != nullptr)
            return "the hiredis context's `data` is set (it belongs to the adapter)";
        if ((ac->c.flags & (REDIS_CONNECTED | REDIS_SUBSCRIBED)) != 0)
            return "the hiredis context was already used (hand over a fresh one, from "
                   "redisAsyncConnect*, before any event loop ran it)";
#ifdef REDIS_NO_AUTO_FREE_REPLIES
        if ((ac->c.flags & REDIS_NO_AUTO_FREE_REPLIES) != 0)
            return "the hiredis context has REDIS_OPT_NOAUTOFREEREPLIES (replies would leak)";
#endif
        return nullptr;
    }

    void connect(std::string const& ip) {
        if (closing_ || down_) return;
        redisAsyncContext* ac = redisAsyncConnect(ip.c_str(), ep_.port);
        if (ac == nullptr) {
            fail("cannot allocate a hiredis context");
            return;
        }
        adopt(ac, true);
    }

    // Drives `ac` from here on. `ours`: made by connect() above (else the app's).
    void adopt(redisAsyncContext* ac, bool ours) {
        if (ac->err != 0) {
            std::string why = ac->errstr != nullptr ? ac->errstr : "unknown error";
            redisAsyncFree(ac);
            fail("cannot connect to Redis at " + target_ + ": " + why);
            return;
        }
        if (ac->ev.data != nullptr) {
            // Another event library drives it, maybe on another thread: freeing it here could
            // race with that loop, so it stays the application's.
            fail("cannot use the hiredis context for " + target_ +
                 ": it already has an event library attached (hand it over unattached; the "
                 "adapter attaches Asio)");
            return;
        }
        if (!ours) {
            if (char const* why = adopt_error(ac)) {
                redisAsyncFree(ac);
                fail(std::string("cannot use the hiredis context for ") + target_ + ": " + why);
                return;
            }
        }
        std::string error;
        // hiredis freed the context by itself (error, peer closed): forget it. During our own
        // destructor the weak pointer is expired and the destructor clears ac_ itself.
        auto forget = [w = weak_from_this(), ac] {
            auto self = w.lock();
            if (!self) return;
#ifdef REDIS_NO_AUTO_FREE
            // hiredis 1.x, a context made with REDIS_OPT_NOAUTOFREE: a lost connection is
            // neither freed nor reported (the disconnect callback runs when it is freed), only
            // detached from us. Report it; free_context frees it, outside hiredis.
            if ((ac->c.flags & REDIS_NO_AUTO_FREE) != 0 && (ac->c.flags & REDIS_FREEING) == 0) {
                self->fail("lost the connection to Redis at " + self->target_ + ": " +
                           (ac->errstr != nullptr && ac->errstr[0] != '\0'
                                ? std::string(ac->errstr)
                                : std::string("connection closed")));
                return;
            }
#endif
            self->ac_ = nullptr;
            (void)ac; // read only under hiredis 1.x (above)
        };
        if (!hiredis_asio_events::attach(ac, strand_, std::move(forget), error)) {
            redisAsyncFree(ac);
            fail("cannot connect to Redis at " + target_ + ": " + error);
            return;
        }
        ac_ = ac;
        ac->data = this;
        // Notice a peer that vanished without closing. An application's socket keeps the
        // options it was given (keepalive on a Unix socket would fail the context).
        if (ours) redisEnableKeepAlive(&ac->c);
        // Setting the connect callback also asks for the first write event, which tells us the
        // non-blocking connect finished (either way).
        if (redisAsyncSetDisconnectCallback(ac, &on_disconnect_thunk) != REDIS_OK ||
            redisAsyncSetConnectCallback(ac, &on_connect_thunk) != REDIS_OK)
            fail("cannot use the hiredis context for " + target_ +
                 ": it already has a connect or disconnect callback");
    }

    static void on_connect_thunk(redisAsyncContext const* ac, int status) {
        auto* self = from(ac);
        if (self == nullptr || self->closing_) return;
        callback_scope scope(*self);
        if (status != REDIS_OK) {
            // hiredis frees the context when this returns.
            self->fail("cannot connect to Redis at " + self->target_ + ": " + ac->c.errstr);
            return;
        }
        self->handshake();
    }

    static void on_disconnect_thunk(redisAsyncContext const* ac, int status) {
        auto* self = from(ac);
        if (self == nullptr || self->closing_) return;
        callback_scope scope(*self);
        std::string why = status == REDIS_OK || ac->c.errstr[0] == '\0'
                              ? std::string("connection closed")
                              : std::string(ac->c.errstr);
        self->fail("lost the connection to Redis at " + self->target_ + ": " + why);
    }

    static void on_reply_thunk(redisAsyncContext* ac, void* reply, void* privdata) {
        auto* self = from(ac);
        // A null reply means hiredis is freeing the context with this command unanswered.
        if (self == nullptr || self->closing_ || self->down_ || reply == nullptr) return;
        callback_scope scope(*self);
        auto const& r = *static_cast<redisReply*>(reply);
        int tag = ptr_to_tag(privdata);
        if (tag >= 0) {
            if (auto h = self->handler_.lock()) h->on_connection_reply(*self, r, tag);
            return;
        }
        if (tag == tag_auth || tag == tag_select || tag == tag_setname)
            self->on_handshake_reply(r, tag);
    }

    void handshake() {
        handshake_left_ = 0;
        std::string db = std::to_string(ep_.db);
        if (ep_.has_password) {
            bool sent = ep_.username.empty()
                            ? command(tag_auth, {"AUTH", ep_.password})
                            : command(tag_auth, {"AUTH", ep_.username, ep_.password});
            if (!sent) return fail("cannot send AUTH to Redis at " + target_);
            ++handshake_left_;
        }
        if (ep_.db != 0) {
            if (!command(tag_select, {"SELECT", db}))
                return fail("cannot send SELECT to Redis at " + target_);
            ++handshake_left_;
        }
        if (!client_name_.empty() && command(tag_setname, {"CLIENT", "SETNAME", client_name_}))
            ++handshake_left_;
        if (handshake_left_ == 0) become_ready();
    }

    void on_handshake_reply(redisReply const& r, int tag) {
        if (r.type == REDIS_REPLY_ERROR) {
            std::string text(r.str, r.len);
            if (tag == tag_auth) return fail("Redis at " + target_ + " refused AUTH: " + text);
            if (tag == tag_select)
                return fail("Redis at " + target_ + " refused SELECT " + std::to_string(ep_.db) +
                            ": " + text);
            // CLIENT SETNAME is a courtesy (it names us in CLIENT LIST); an ACL may forbid it.
        }
        if (--handshake_left_ == 0) become_ready();
    }

    void become_ready() {
        ready_ = true;
        timer_.cancel();
        if (auto h = handler_.lock()) h->on_connection_ready(*this);
    }

    // The connection is over (failed or lost). Reports once, later, outside hiredis.
    void fail(std::string reason) {
        if (down_ || closing_) return;
        down_ = true;
        ready_ = false;
        timer_.cancel();
        resolver_.cancel();
        net::post(strand_, [self = shared_from_this(), reason = std::move(reason)] {
            self->free_context();
            if (self->closing_) return;
            if (auto h = self->handler_.lock()) h->on_connection_down(*self, reason);
        });
    }

    void free_context() {
        if (ac_ == nullptr) return;
        auto* ac = ac_;
        bool const was_closing = closing_;
        closing_ = true; // silences the callbacks redisAsyncFree makes
        redisAsyncFree(ac);
        ac_ = nullptr;
        closing_ = was_closing;
    }

    redis_strand strand_;
    std::weak_ptr<redis_connection_handler> handler_;
    std::string client_name_;
    net::steady_timer timer_;
    net::ip::tcp::resolver resolver_;
    redis_endpoint ep_;
    std::string target_;
    redisAsyncContext* ac_ = nullptr;
    int handshake_left_ = 0;
    int in_callback_ = 0;
    bool ready_ = false;
    bool down_ = false;
    bool closing_ = false;
};

} // namespace sse::detail

#endif
