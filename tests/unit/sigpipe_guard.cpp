// Unit: sse/detail/sigpipe_guard.hpp. A write to a socket whose peer is gone must fail with
// EPIPE, not end the process (what hiredis' write(2) did to sse_soak_redis under TSan when
// Redis was killed mid-command).
#include <sse/detail/sigpipe_guard.hpp>

#include "support/catch.hpp"

#include <cerrno>
#include <csignal>

#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

namespace sigpipe_guard_test {

bool pipe_pending() {
    sigset_t pending;
    sigemptyset(&pending);
    sigpending(&pending);
    return sigismember(&pending, SIGPIPE) == 1;
}

bool pipe_blocked() {
    sigset_t now;
    sigemptyset(&now);
    pthread_sigmask(SIG_BLOCK, nullptr, &now);
    return sigismember(&now, SIGPIPE) == 1;
}

TEST_CASE("sigpipe_guard: a write to a closed peer fails with EPIPE; nothing stays pending",
          "[sigpipe]") {
    int fds[2];
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
    ::close(fds[1]);
    REQUIRE_FALSE(pipe_blocked());
    ssize_t n = 0;
    int err = 0;
    {
        sse::detail::sigpipe_guard guard;
        n = ::write(fds[0], "x", 1); // without the guard: SIGPIPE, the test process ends
        err = errno;
    }
    CHECK(n == -1);
    CHECK(err == EPIPE);
    CHECK_FALSE(pipe_pending());
    CHECK_FALSE(pipe_blocked()); // the thread's mask is back as it was
    ::close(fds[0]);
}

} // namespace sigpipe_guard_test
