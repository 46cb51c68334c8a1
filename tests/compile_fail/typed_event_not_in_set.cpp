// Compile-fail (issue #3, behaviour 13): a typed namespace refuses an event type outside its
// sse::events<...> set. With SSE_COMPILE_FAIL_CONTROL the same file emits an allowed type.
// SSE_EXPECT_ERROR: this event type is not in the namespace
#include "events.hpp"

void emit_on_namespace(sse::typed_namespace<cf::football_events>& football) {
    football.emit(cf::score_update{"Arsenal vs Chelsea", 2, 1, 67});
#ifndef SSE_COMPILE_FAIL_CONTROL
    football.emit(cf::red_card{"Player X"}); // red_card is not a football_events type
#endif
}
