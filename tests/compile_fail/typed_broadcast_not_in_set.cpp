// Compile-fail (issue #3, behaviour 13): the room-targeted form, to(...).except(...).emit(E),
// refuses an event type outside the set too.
// SSE_EXPECT_ERROR: this event type is not in the namespace
#include "events.hpp"

void emit_to_room(sse::typed_namespace<cf::football_events>& football) {
    football.to("arsenal-vs-chelsea").except("muted").emit(cf::match_end{"2-1"});
#ifndef SSE_COMPILE_FAIL_CONTROL
    football.to("arsenal-vs-chelsea").except("muted").emit(cf::red_card{"Player X"});
#endif
}
