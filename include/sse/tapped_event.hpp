// sse/tapped_event.hpp - an event as a namespace's tap sees it (namespace_::tap): to keep
// application state (a scoreboard, a cache) in step with what this node delivers, without
// parsing the stream back.
#ifndef SSE_TAPPED_EVENT_HPP
#define SSE_TAPPED_EVENT_HPP

#include <sse/event.hpp>

#include <string>
#include <vector>

namespace sse {

/// One event a namespace delivered on this node. The references are valid during the call.
struct tapped_event {
    /// `name()`, `id()` (0 when it has none), `data()` (as emitted), `body()`.
    encoded_event const& event;
    /// The rooms it was sent to; empty: the whole namespace.
    std::vector<std::string> const& rooms;
    /// The rooms whose clients it skipped.
    std::vector<std::string> const& except;
};

} // namespace sse

#endif
