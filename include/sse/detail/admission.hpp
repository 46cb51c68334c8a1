// sse/detail/admission.hpp - one pending client's way in: its middleware chain, then
// admission or the answer that refuses it. Included by impl/namespace.hpp (needs namespace_).
#ifndef SSE_DETAIL_ADMISSION_HPP
#define SSE_DETAIL_ADMISSION_HPP

#include <sse/detail/response_head.hpp>

#include <boost/asio/post.hpp>

#include <atomic>
#include <limits>
#include <memory>

namespace sse {
namespace detail {

/// The middleware chain of one pending client. Each `next` advances it exactly once.
struct admission : std::enable_shared_from_this<admission> {
    admission(client_ptr c, std::shared_ptr<namespace_> n,
              std::shared_ptr<std::vector<middleware> const> mws)
        : who(std::move(c))
        , ns(std::move(n))
        , chain(std::move(mws))
        , head_only(who->handshake().method() == "HEAD") {}

    static constexpr std::size_t finished = std::numeric_limits<std::size_t>::max();

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
        std::size_t expected = index - 1;
        if (step.compare_exchange_strong(expected, index)) run(index);
    }

    void refuse(reject r, std::size_t index) {
        std::size_t expected = index - 1;
        if (!step.compare_exchange_strong(expected, finished)) return;
        ns->rejected_.fetch_add(1, std::memory_order_relaxed);
        who->close(
            error::rejected, true,
            encoded_event::raw(rejection_response(ns->opts_, r, who->handshake(), head_only)));
    }

    void admit() {
        net::post(who->get_executor(), [self = shared_from_this()] {
            if (self->head_only) return self->answer_head();
            auto& ns = *self->ns;
            switch (ns.admit(*self->who)) {
            case namespace_::admission_result::admitted:
                break;
            case namespace_::admission_result::full:
                self->refuse_overloaded(ns.refused_full_);
                return;
            case namespace_::admission_result::rate_limited:
                self->refuse_overloaded(ns.refused_rate_);
                return;
            case namespace_::admission_result::gone:
                if (ns.closed_.load()) self->refuse_closed();
                return;
            }
            std::shared_ptr<std::vector<std::function<void(client_ptr)>> const> handlers;
            {
                std::lock_guard<std::mutex> lock(ns.handlers_mutex_);
                handlers = ns.connection_handlers_;
            }
            try {
                for (auto const& h : *handlers)
                    h(self->who);
            } catch (...) {
                // After admission: the client is dropped (its queued head and first events
                // still leave, so a browser reconnects later) rather than left registered
                // with its writes held. Nothing escapes into the app's io_context::run().
                ns.count_handler_error();
                self->who->close(error::handler_failed, true);
                return;
            }
            ns.end_admission(*self->who);
        });
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
    bool const head_only;
    std::atomic<std::size_t> step{0}; // the step allowed to run: 0 = the first middleware
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
