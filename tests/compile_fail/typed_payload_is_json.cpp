// Compile-fail (issue #3, behaviour 13): a typed namespace takes its events' types, never a
// free-form JSON payload whose shape nothing checks.
// SSE_EXPECT_ERROR: this event type is not in the namespace
#include "events.hpp"

void emit_json(sse::typed_namespace<cf::football_events>& football) {
    football.emit(cf::score_update{"Arsenal vs Chelsea", 2, 1, 67});
#ifndef SSE_COMPILE_FAIL_CONTROL
    football.emit(nlohmann::json{{"match", "Arsenal vs Chelsea"}, {"homeScore", "two"}});
#endif
}
