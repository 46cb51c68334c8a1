// sse/detail/admission.hpp - one pending client's way in: its middleware chain, then
// admission or the answer that refuses it. Included by impl/namespace.hpp (needs namespace_).
#ifndef SSE_DETAIL_ADMISSION_HPP
#define SSE_DETAIL_ADMISSION_HPP

#include <sse/detail/response_head.hpp>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>

#include <atomic>
#include <cmath>
#include <limits>
#include <memory>
#include <stdexcept>

namespace sse {

namespace detail {

/// Throws std::invalid_argument for an admission rate that is not a rate.
inline void check_admission_rate(admission_rate const& r) {
    if (!(r.per_second >= 0) || !std::isfinite(r.per_second))
        throw std::invalid_argument("[sse.invalid_admission_rate] admission_rate::per_second "
                                    "must be a finite number >= 0 (0: unlimited)");
}

/// Throws std::invalid_argument for refusal options that cannot be answered.
inline void check_refusal(refusal_options const& r) {
    if (r.status < 400 || r.status > 599)
        throw std::invalid_argument("[sse.invalid_refusal] refusal_options::status must be a "
                                    "4xx or 5xx status (503 or 429)");
    if (r.retry_min.count() < 0 || r.retry_max < r.retry_min || r.retry_max.count() <= 0)
        throw std::invalid_argument("[sse.invalid_refusal] refusal_options needs "
                                    "0 <= retry_min <= retry_max and retry_max > 0");
}

/** Where one client's middleware chain stands. Step `i` may start once, and only after
    step `i - 1` passed it on; a refusal ends the chain. A middleware may call its `next`
    from any thread, late, or twice: only the first call of the step that holds the turn
    counts, so admission and refusal each happen at most once, and never both.
*/
class chain_position {
public:
    static constexpr std::size_t finished = std::numeric_limits<std::size_t>::max();

    /// Step `index - 1` passed: true for the one call that may now run step `index`.
    bool advance(std::size_t index) noexcept {
        std::size_t expected = index - 1;
        return step_.compare_exchange_strong(expected, index);
    }

    /// Step `index - 1` refused: true for the one call that ends the chain.
    bool refuse(std::size_t index) noexcept {
        std::size_t expected = index - 1;
        return step_.compare_exchange_strong(expected, finished);
    }

    bool is_finished() const noexcept { return step_.load() == finished; }

private:
    std::atomic<std::size_t> step_{0}; // the step allowed to run: 0 = the first middleware
};

/// The middleware chain of one pending client. Each `next` advances it exactly once.
struct admission : std::enable_shared_from_this<admission> {
    admission(client_ptr c, std::shared_ptr<namespace_> n,
              std::shared_ptr<std::vector<middleware> const> mws, net::any_io_executor app_ex)
        : who(std::move(c))
        , ns(std::move(n))
        , chain(std::move(mws))
        , app_executor(std::move(app_ex))
        , head_only(who->handshake().method() == "HEAD") {}

    void run(std::size_t index) {
        if (who->close_started_.load()) return; // the peer left while we were deciding
        if (index == chain->size()) {
            admit();
            return;
        }
        try {
            (*chain)[index](*who, next(shared_from_this(), index + 1));
        } catch (...) {
            // Before admission: the client gets a 500 (unless it was already passed on).
            ns->count_handler_error();
            refuse(reject(500, "Internal Server Error"), index + 1);
        }
    }

    // Called by next(): step `index` may run once, and only after step index-1.
    void advance(std::size_t index) {
        if (position.advance(index)) run(index);
    }

    void refuse(reject r, std::size_t index) {
        if (!position.refuse(index)) return;
        ns->rejected_.fetch_add(1, std::memory_order_relaxed);
        who->close(
            error::rejected, true,
            encoded_event::raw(rejection_response(ns->opts_, r, who->handshake(), head_only)));
    }

    void admit() {
        // Through the stream's executor first (see namespace_::connect), then the client's.
        net::post(app_executor, [self = shared_from_this()] {
            auto& strand = self->who->get_executor();
            net::dispatch(strand, [self = std::move(self)] { self->admit_on_strand(); });
        });
    }

    void admit_on_strand() {
        if (head_only) return answer_head();
        auto& space = *ns;
        switch (space.admit(*who)) {
        case namespace_::admission_result::admitted:
            break;
        case namespace_::admission_result::full:
            refuse_overloaded(space.refused_full_);
            return;
        case namespace_::admission_result::rate_limited:
            refuse_overloaded(space.refused_rate_);
            return;
        case namespace_::admission_result::gone:
            if (space.closed_.load()) refuse_closed();
            return;
        }
        std::shared_ptr<std::vector<std::function<void(client_ptr)>> const> handlers;
        {
            std::lock_guard<std::mutex> lock(space.handlers_mutex_);
            handlers = space.connection_handlers_;
        }
        try {
            for (auto const& h : *handlers)
                h(who);
        } catch (...) {
            // After admission: the client is dropped (its queued head and first events
            // still leave, so a browser reconnects later) rather than left registered
            // with its writes held. Nothing escapes into the app's io_context::run().
            space.count_handler_error();
            who->close(error::handler_failed, true);
            return;
        }
        space.end_admission(*who);
    }

    // At max_clients, the per-address limit or past the admission rate.
    void refuse_overloaded(std::atomic<std::uint64_t>& why) {
        ns->rejected_.fetch_add(1, std::memory_order_relaxed);
        why.fetch_add(1, std::memory_order_relaxed);
        who->close(error::rejected, true,
                   encoded_event::raw(refusal_response(ns->opts_, who->handshake(), false)));
    }

    // A closing namespace does not answer 503: a browser's EventSource gives up for good on
    // any non-200 answer, and during a restart the stream should come back (to this node's
    // successor or to another one). An empty stream with a `retry:` hint says "later".
    void refuse_closed() {
        ns->rejected_.fetch_add(1, std::memory_order_relaxed);
        std::string answer = response_head(ns->opts_, who->handshake());
        if (!head_only) answer += close_retry_hint(ns->opts_);
        who->close(error::rejected, true, encoded_event::raw(std::move(answer)));
    }

    // HEAD: the head a GET would get now, no body; never admitted, nothing taken.
    void answer_head() {
        auto const& hs = who->handshake();
        switch (ns->probe(*who)) {
        case namespace_::admission_result::admitted:
            who->close(error::disconnected, true, encoded_event::raw(response_head(ns->opts_, hs)));
            return;
        case namespace_::admission_result::full:
        case namespace_::admission_result::rate_limited:
            who->close(error::rejected, true,
                       encoded_event::raw(refusal_response(ns->opts_, hs, true)));
            return;
        case namespace_::admission_result::gone:
            if (ns->closed_.load()) refuse_closed();
            return;
        }
    }

    client_ptr who;
    std::shared_ptr<namespace_> ns;
    std::shared_ptr<std::vector<middleware> const> chain;
    net::any_io_executor app_executor; // the stream's, until admission
    bool const head_only;
    chain_position position;
};

} // namespace detail

inline void next::operator()() const {
    if (admission_) admission_->advance(index_);
}

inline void next::operator()(reject r) const {
    if (admission_) admission_->refuse(std::move(r), index_);
}

} // namespace sse

#endif
