// sse/detail/random_id.hpp - unguessable alphanumeric ids for clients and nodes.
#ifndef SSE_DETAIL_RANDOM_ID_HPP
#define SSE_DETAIL_RANDOM_ID_HPP

#include <array>
#include <cstdint>
#include <mutex>
#include <random>
#include <string>

namespace sse::detail {

/// `length` characters from [0-9A-Za-z], each drawn from the OS entropy source
/// (std::random_device), so that one id says nothing about another.
inline std::string random_id(std::size_t length = 22) {
    static constexpr char alphabet[] =
        "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    // random_device is not guaranteed thread-safe; one per thread avoids a shared lock.
    thread_local std::random_device entropy;
    // Sized at once, then filled: an exact allocation (23 bytes for 22 characters, where
    // reserve() would round the capacity up to twice the small-string buffer, 31 bytes). A
    // client keeps its id for its whole life.
    std::string id(length, '\0');
    std::size_t n = 0;
    while (n < length) {
        std::uint32_t bits = entropy();
        // 32 bits give five 6-bit draws; values >= 62 are rejected to keep the draw uniform.
        for (int i = 0; i < 5 && n < length; ++i, bits >>= 6) {
            unsigned v = bits & 0x3F;
            if (v < 62) id[n++] = alphabet[v];
        }
    }
    return id;
}

} // namespace sse::detail

#endif
