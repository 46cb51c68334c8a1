// sse/detail/lazy_vector.hpp - a vector that costs one pointer while empty.
#ifndef SSE_DETAIL_LAZY_VECTOR_HPP
#define SSE_DETAIL_LAZY_VECTOR_HPP

#include <cstddef>
#include <memory>
#include <utility>
#include <vector>

namespace sse::detail {

/** A `std::vector<T>` allocated on first use and released when cleared: 8 bytes instead of
    24 in an object that exists once per connection and rarely fills it (a client's joins
    before admission, its disconnect handlers). Not thread-safe: the owner locks.
*/
template <class T>
class lazy_vector {
public:
    bool empty() const noexcept { return !items_ || items_->empty(); }
    std::size_t size() const noexcept { return items_ ? items_->size() : 0; }
    T const* begin() const noexcept { return items_ ? items_->data() : nullptr; }
    T const* end() const noexcept { return items_ ? items_->data() + items_->size() : nullptr; }

    /// The vector itself, allocated if needed.
    std::vector<T>& get() {
        if (!items_) items_ = std::make_unique<std::vector<T>>();
        return *items_;
    }
    /// Moves the items out and releases the vector.
    std::vector<T> take() noexcept {
        std::vector<T> out;
        if (items_) out = std::move(*items_);
        items_.reset();
        return out;
    }
    void clear() noexcept { items_.reset(); }

private:
    std::unique_ptr<std::vector<T>> items_;
};

} // namespace sse::detail

#endif
