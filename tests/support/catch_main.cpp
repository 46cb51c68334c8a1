// tests/support/catch_main.cpp - Catch2 v2's main(), compiled once for every test executable.
// (With Catch2 v3 this file is not built: Catch2::Catch2WithMain provides main.)
// Not precompiled: the shared PCH already includes catch.hpp, which would hide CATCH_CONFIG_MAIN.
#define CATCH_CONFIG_MAIN
#include "support/catch.hpp"
