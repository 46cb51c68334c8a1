// sse/detail/token_bucket.hpp - a rate of admissions with bursts: a token bucket refilled by
// time. Pure: the time is passed in, so tests drive it with any time points they like.
#ifndef SSE_DETAIL_TOKEN_BUCKET_HPP
#define SSE_DETAIL_TOKEN_BUCKET_HPP

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>

namespace sse::detail {

/** `per_second` tokens a second, at most `burst` saved up; each admission takes one.

    A bucket made with `per_second == 0` is unlimited (every take succeeds). `burst == 0`
    means max(1, ceil(per_second)). A new bucket starts full: a node that restarts admits a
    burst at once, then the rate. Not thread-safe: its owner guards it.
*/
class token_bucket {
public:
    using clock = std::chrono::steady_clock;

    /// Unlimited.
    token_bucket() = default;

    token_bucket(double per_second, std::size_t burst, clock::time_point now) noexcept
        : rate_(per_second > 0 && std::isfinite(per_second) ? per_second : 0)
        , capacity_(burst != 0 ? static_cast<double>(burst) : std::max(1.0, std::ceil(rate_)))
        , tokens_(capacity_)
        , last_(now) {}

    bool unlimited() const noexcept { return rate_ <= 0; }
    double per_second() const noexcept { return rate_; }
    double capacity() const noexcept { return unlimited() ? 0 : capacity_; }

    /// Takes a token if one is there at `now`; false (and nothing taken) when empty.
    bool try_take(clock::time_point now) noexcept {
        if (unlimited()) return true;
        refill(now);
        if (tokens_ < 1) return false;
        tokens_ -= 1;
        return true;
    }

    /// Whether `try_take(now)` would succeed; takes nothing.
    bool available(clock::time_point now) const noexcept {
        return unlimited() || tokens_at(now) >= 1;
    }

    /// Tokens saved up at `now` (a fraction is a token on its way).
    double tokens_at(clock::time_point now) const noexcept {
        if (now <= last_) return tokens_;
        std::chrono::duration<double> const elapsed = now - last_;
        return std::min(capacity_, tokens_ + elapsed.count() * rate_);
    }

private:
    void refill(clock::time_point now) noexcept {
        if (now <= last_) return; // a clock that went back adds nothing
        tokens_ = tokens_at(now);
        last_ = now;
    }

    double rate_ = 0;
    double capacity_ = 0;
    double tokens_ = 0;
    clock::time_point last_{};
};

} // namespace sse::detail

#endif
