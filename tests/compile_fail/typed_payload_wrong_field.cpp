// Compile-fail (issue #3, behaviour 13): a payload of the wrong shape - a string where the
// event has an int - does not compile.
// SSE_EXPECT_ERROR: conversion from
#include "events.hpp"

void emit_wrong_field(sse::typed_namespace<cf::football_events>& football) {
    football.emit(cf::score_update{"Arsenal vs Chelsea", 2, 1, 67});
#ifndef SSE_COMPILE_FAIL_CONTROL
    football.emit(cf::score_update{"Arsenal vs Chelsea", "two", 1, 67});
#endif
}
