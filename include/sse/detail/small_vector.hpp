// sse/detail/small_vector.hpp - a vector whose first element lives in place.
#ifndef SSE_DETAIL_SMALL_VECTOR_HPP
#define SSE_DETAIL_SMALL_VECTOR_HPP

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <stdexcept>
#include <utility>

namespace sse::detail {

/** A vector of `T` that holds one element without allocating, in about the footprint of a
    `std::vector` (24 bytes for a `shared_ptr`): for per-connection lists that usually hold
    one item (a client's backlog between sparse events, its one room). A second element moves
    them all to the heap, which stays until `shrink()`. Not thread-safe: the owner locks.
*/
template <class T>
class small_vector {
public:
    small_vector() noexcept
        : capacity_(0)
        , spare_(0) {}
    small_vector(small_vector const&) = delete;
    small_vector& operator=(small_vector const&) = delete;
    ~small_vector() {
        clear();
        free_heap();
    }

    std::size_t size() const noexcept { return size_; }
    bool empty() const noexcept { return size_ == 0; }
    /// Elements it holds without allocating again (1 in place).
    std::size_t capacity() const noexcept { return on_heap() ? capacity_ : 1; }
    bool on_heap() const noexcept { return capacity_ != 0; }

    T* data() noexcept { return on_heap() ? heap_ : std::launder(reinterpret_cast<T*>(&one_)); }
    T const* data() const noexcept {
        return on_heap() ? heap_ : std::launder(reinterpret_cast<T const*>(&one_));
    }
    T* begin() noexcept { return data(); }
    T* end() noexcept { return data() + size_; }
    T const* begin() const noexcept { return data(); }
    T const* end() const noexcept { return data() + size_; }
    T& operator[](std::size_t i) noexcept { return data()[i]; }
    T const& operator[](std::size_t i) const noexcept { return data()[i]; }
    T& back() noexcept { return data()[size_ - 1]; }

    /// Two bits the owner may keep here, where a flag of its own would cost it a word.
    unsigned spare() const noexcept { return spare_; }
    void set_spare(unsigned bits) noexcept { spare_ = bits & 3u; }

    template <class... Args>
    T& emplace_back(Args&&... args) {
        if (size_ == capacity()) grow();
        T* slot = data() + size_;
        ::new (static_cast<void*>(slot)) T(std::forward<Args>(args)...);
        ++size_;
        return *slot;
    }
    void push_back(T v) { emplace_back(std::move(v)); }

    /// Removes the first `k` elements; the rest move to the front, in order.
    void erase_front(std::size_t k) noexcept {
        k = std::min<std::size_t>(k, size_);
        T* d = data();
        std::move(d + k, d + size_, d);
        shrink_to(size_ - k);
    }
    /// Removes element `i`; those after it move down, in order.
    void erase(std::size_t i) noexcept {
        T* d = data();
        std::move(d + i + 1, d + size_, d + i);
        shrink_to(size_ - 1);
    }
    /// Makes room for `n` elements (may throw; nothing changes then).
    void reserve(std::size_t n) {
        while (capacity() < n)
            grow();
    }
    /// Removes element `i` by moving the last one into its place (order not kept).
    void swap_remove(std::size_t i) noexcept {
        T* d = data();
        if (i + 1 != size_) d[i] = std::move(d[size_ - 1]);
        shrink_to(size_ - 1);
    }
    void pop_back() noexcept { shrink_to(size_ - 1); }
    /// Destroys the elements; heap storage is kept.
    void clear() noexcept { shrink_to(0); }
    /// Back to the single in-place slot when the elements fit there (one or none).
    void shrink() noexcept {
        if (!on_heap() || size_ > 1) return;
        T* const old = heap_;
        std::uint32_t const n = size_;
        std::uint32_t const cap = capacity_;
        capacity_ = 0;
        if (n == 1) {
            ::new (static_cast<void*>(&one_)) T(std::move(old[0]));
            old[0].~T();
        }
        std::allocator<T>().deallocate(old, cap);
    }

private:
    void shrink_to(std::size_t n) noexcept {
        T* d = data();
        for (std::size_t i = n; i < size_; ++i)
            d[i].~T();
        size_ = static_cast<std::uint32_t>(n);
    }

    void grow() {
        std::uint32_t const cap = on_heap() ? capacity_ * 2 : 4;
        if (cap >= (1u << 30)) throw std::length_error("small_vector");
        T* fresh = std::allocator<T>().allocate(cap);
        T* d = data();
        for (std::uint32_t i = 0; i < size_; ++i) {
            ::new (static_cast<void*>(fresh + i)) T(std::move(d[i]));
            d[i].~T();
        }
        free_heap();
        heap_ = fresh;
        capacity_ = cap;
    }

    void free_heap() noexcept {
        if (on_heap()) std::allocator<T>().deallocate(heap_, capacity_);
        capacity_ = 0;
    }

    union {
        alignas(T) unsigned char one_[sizeof(T)]; // the element in place (capacity_ == 0)
        T* heap_;                                 // capacity_ elements
    };
    std::uint32_t size_ = 0;
    std::uint32_t capacity_ : 30; // 0: in place
    std::uint32_t spare_ : 2;     // the owner's (see spare())
};

} // namespace sse::detail

#endif
