// sse/detail/id_index.hpp - admitted clients by id, in one flat table (sans-I/O).
#ifndef SSE_DETAIL_ID_INDEX_HPP
#define SSE_DETAIL_ID_INDEX_HPP

#include <cstddef>
#include <functional>
#include <string_view>
#include <vector>

namespace sse::detail {

/** Pointers to objects found by their own `id()`: open addressing with linear probing, at most
    three quarters full, so 11 to 21 bytes per entry instead of a hash node (48 bytes with its
    malloc header) plus a bucket per entry. The key is not stored: it is the object's. Erasing
    shifts the following entries back, so there are no tombstones and lookups stay short.
    Not thread-safe: the owner locks.
*/
template <class T>
class id_index {
public:
    /// A slot; `second` as in a map's value_type, so that lookups read like a map's.
    struct entry {
        T* second = nullptr;
    };
    using iterator = entry const*;

    iterator end() const noexcept { return nullptr; }
    iterator find(std::string_view id) const noexcept {
        if (size_ == 0) return end();
        for (std::size_t i = home(id);; i = next(i)) {
            T* p = slots_[i].second;
            if (p == nullptr) return end();
            if (std::string_view(p->id()) == id) return &slots_[i];
        }
    }
    std::size_t count(std::string_view id) const noexcept { return find(id) == end() ? 0 : 1; }
    std::size_t size() const noexcept { return size_; }

    /// Adds `p` (its id must not be in the index yet).
    void insert(T* p) {
        if (4 * (size_ + 1) > 3 * slots_.size()) rehash(slots_.empty() ? 16 : 2 * slots_.size());
        place(p);
        ++size_;
    }

    /// Removes the entry with this id, if any.
    void erase(std::string_view id) noexcept {
        auto it = find(id);
        if (it == end()) return;
        std::size_t hole = static_cast<std::size_t>(it - slots_.data());
        slots_[hole].second = nullptr;
        --size_;
        // Move back every following entry of the run that may not stay behind the hole.
        for (std::size_t j = next(hole); slots_[j].second != nullptr; j = next(j)) {
            std::size_t const h = home(slots_[j].second->id());
            // It stays when its home lies cyclically in (hole, j].
            bool const stays = hole < j ? (hole < h && h <= j) : (hole < h || h <= j);
            if (stays) continue;
            slots_[hole] = slots_[j];
            slots_[j].second = nullptr;
            hole = j;
        }
        // Give memory back after a mass disconnect (never below 16 slots); keeping the larger
        // table is fine when that fails.
        if (slots_.size() > 16 && 8 * size_ < slots_.size()) {
            try {
                rehash(slots_.size() / 2);
            } catch (...) {
            }
        }
    }

private:
    std::size_t home(std::string_view id) const noexcept {
        return std::hash<std::string_view>{}(id) & (slots_.size() - 1);
    }
    std::size_t next(std::size_t i) const noexcept { return (i + 1) & (slots_.size() - 1); }

    void place(T* p) noexcept {
        std::size_t i = home(p->id());
        while (slots_[i].second != nullptr)
            i = next(i);
        slots_[i].second = p;
    }

    void rehash(std::size_t capacity) {
        std::vector<entry> old(capacity);
        old.swap(slots_);
        for (auto const& e : old)
            if (e.second != nullptr) place(e.second);
    }

    std::vector<entry> slots_; // a power of two in size, or empty
    std::size_t size_ = 0;
};

} // namespace sse::detail

#endif
