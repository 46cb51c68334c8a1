// token_store.hpp - the example's sessions: bearer token -> user, until an expiry.
//
// A stand-in for the app's own session store (a database, Redis, signed JWTs): sse never sees
// it; the example's middleware asks it who a token belongs to. Bounded: at most `capacity`
// tokens; expired ones are swept when it fills.
#ifndef SSE_EXAMPLE_TOKEN_STORE_HPP
#define SSE_EXAMPLE_TOKEN_STORE_HPP

#include <chrono>
#include <cstddef>
#include <iterator>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>

struct grant {
    std::string user;
    std::chrono::steady_clock::time_point expires;
};

class token_store {
public:
    explicit token_store(std::size_t capacity)
        : capacity_(capacity) {}

    /// A new token for `user`, valid for `ttl`; nullopt when the store is full.
    std::optional<std::string> issue(std::string const& user, std::chrono::seconds ttl) {
        auto const now = std::chrono::steady_clock::now();
        std::lock_guard<std::mutex> lock(mutex_);
        if (grants_.size() >= capacity_) sweep(now);
        if (grants_.size() >= capacity_) return std::nullopt;
        std::string token = random_token();
        grants_[token] = grant{user, now + ttl};
        return token;
    }

    /// Whom `token` belongs to while it is valid; nullopt when unknown, expired or revoked.
    std::optional<grant> find(std::string_view token) const {
        std::lock_guard<std::mutex> lock(mutex_);
        auto it = grants_.find(std::string(token));
        if (it == grants_.end() || it->second.expires <= std::chrono::steady_clock::now())
            return std::nullopt;
        return it->second;
    }

    /// Revokes every token of `user` (log out everywhere); returns how many.
    std::size_t revoke_user(std::string_view user) {
        std::lock_guard<std::mutex> lock(mutex_);
        std::size_t n = 0;
        for (auto it = grants_.begin(); it != grants_.end();)
            if (it->second.user == user) {
                it = grants_.erase(it);
                ++n;
            } else {
                ++it;
            }
        return n;
    }

private:
    void sweep(std::chrono::steady_clock::time_point now) {
        for (auto it = grants_.begin(); it != grants_.end();)
            it = it->second.expires <= now ? grants_.erase(it) : std::next(it);
    }

    // 128 bits from the OS's generator (std::random_device reads /dev/urandom on Linux), in hex.
    std::string random_token() {
        static char const hex[] = "0123456789abcdef";
        std::string token;
        for (int i = 0; i < 4; ++i) {
            auto word = random_();
            for (int j = 0; j < 8; ++j, word >>= 4)
                token += hex[word & 0xf];
        }
        return token;
    }

    std::size_t const capacity_;
    mutable std::mutex mutex_;
    std::unordered_map<std::string, grant> grants_;
    std::random_device random_;
};

#endif
