// tests/support/catch.hpp - one include for Catch2 v2 (Debian 12) and v3.
//
// Tests write `#include "support/catch.hpp"`; tests/CMakeLists.txt defines SSE_CATCH2_V3
// when it found Catch2 v3 (which also brings its own main).
#ifndef SSE_TESTS_SUPPORT_CATCH_HPP
#define SSE_TESTS_SUPPORT_CATCH_HPP

#if defined(SSE_CATCH2_V3) && SSE_CATCH2_V3
#include <catch2/catch_all.hpp>
#else
#include <catch2/catch.hpp>
#endif

#endif
