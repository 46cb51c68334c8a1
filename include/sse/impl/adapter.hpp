// sse/impl/adapter.hpp - bodies of sse/adapter.hpp.
#ifndef SSE_IMPL_ADAPTER_HPP
#define SSE_IMPL_ADAPTER_HPP

#include <sse/detail/random_id.hpp>

namespace sse {

inline memory_adapter::memory_adapter()
    : node_id_(detail::random_id(12)) {}

} // namespace sse

#endif
