// sse/detail/sigpipe_guard.hpp - keeps a write to a socket whose peer is gone from killing the
// process with SIGPIPE, without touching the application's signal handling.
//
// hiredis writes with write(2), which raises SIGPIPE when Redis has closed the connection (a
// Redis restart while a command is on its way): by default that ends the process. Asio's own
// sockets pass MSG_NOSIGNAL; hiredis cannot be told to. So around hiredis' writes the signal
// is blocked in this thread, and one that the write raised is taken off the thread's pending
// set before it is unblocked (the write then fails with EPIPE, which hiredis reports). A
// SIGPIPE already pending before, or sent to the process, is left alone.
#ifndef SSE_DETAIL_SIGPIPE_GUARD_HPP
#define SSE_DETAIL_SIGPIPE_GUARD_HPP

#include <cerrno>
#include <csignal>
#include <ctime>

#include <pthread.h>

namespace sse::detail {

class sigpipe_guard {
public:
    sigpipe_guard() noexcept {
        sigset_t pending;
        sigemptyset(&pending);
        sigpending(&pending);
        was_pending_ = sigismember(&pending, SIGPIPE) == 1;
        sigset_t pipe;
        sigemptyset(&pipe);
        sigaddset(&pipe, SIGPIPE);
        blocked_ = pthread_sigmask(SIG_BLOCK, &pipe, &old_) == 0;
    }

    ~sigpipe_guard() {
        if (!blocked_) return;
        if (!was_pending_) {
            sigset_t pending;
            sigemptyset(&pending);
            sigpending(&pending);
            if (sigismember(&pending, SIGPIPE) == 1) {
                sigset_t pipe;
                sigemptyset(&pipe);
                sigaddset(&pipe, SIGPIPE);
                timespec none{0, 0};
                while (sigtimedwait(&pipe, nullptr, &none) == -1 && errno == EINTR) {
                }
            }
        }
        pthread_sigmask(SIG_SETMASK, &old_, nullptr);
    }

    sigpipe_guard(sigpipe_guard const&) = delete;
    sigpipe_guard& operator=(sigpipe_guard const&) = delete;

private:
    sigset_t old_{};
    bool was_pending_ = false;
    bool blocked_ = false;
};

} // namespace sse::detail

#endif
