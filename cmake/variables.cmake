# Options. Everything a developer of sse wants (tests, examples, benchmarks, install rules)
# defaults to PROJECT_IS_TOP_LEVEL, so add_subdirectory/FetchContent consumers get only the
# targets. A parent may still turn any of them on by setting the variable first (CMP0077).

option(SSE_BUILD_TESTS "Build sse's tests" "${PROJECT_IS_TOP_LEVEL}")
option(SSE_BUILD_EXAMPLES "Build sse's examples" "${PROJECT_IS_TOP_LEVEL}")
option(SSE_BUILD_BENCH "Build sse's benchmarks" "${PROJECT_IS_TOP_LEVEL}")
option(SSE_INSTALL "Generate sse's install rules (also honours CMAKE_SKIP_INSTALL_RULES)"
       "${PROJECT_IS_TOP_LEVEL}")
option(SSE_WITH_REDIS "Provide sse::redis when hiredis is found" ON)

# Sanitizers for our own targets only (tests, examples, benchmarks), e.g. for a CI job.
set(SSE_SANITIZE "" CACHE STRING "Sanitizers for sse's own targets: '', 'address,undefined' or 'thread'")
set_property(CACHE SSE_SANITIZE PROPERTY STRINGS "" "address,undefined" "thread")

# The standard our own targets are built with; the library itself only requires C++17.
# The header checks always compile every public header as both C++17 and C++20.
set(SSE_CXX_STANDARD 17 CACHE STRING "C++ standard for sse's own tests/examples/benchmarks")
set_property(CACHE SSE_CXX_STANDARD PROPERTY STRINGS 17 20 23)

# Consumers should see our headers as SYSTEM so the parent's warning flags never fire in
# them. At top level they must not be SYSTEM: our -Werror builds are what checks them.
if(NOT PROJECT_IS_TOP_LEVEL)
  option(SSE_INCLUDES_WITH_SYSTEM "Mark sse's include directory SYSTEM for consumers" ON)
  mark_as_advanced(SSE_INCLUDES_WITH_SYSTEM)
endif()
set(sse_warning_guard "")
if(NOT PROJECT_IS_TOP_LEVEL AND SSE_INCLUDES_WITH_SYSTEM)
  set(sse_warning_guard SYSTEM)
endif()
