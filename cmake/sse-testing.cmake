# Test helpers, included by tests/CMakeLists.txt after it has created the shared targets
#   sse_test_usage    INTERFACE: sse::sse, Catch2, OpenSSL, tests/ on the include path
#   sse_test_support  STATIC (when it has sources): Catch2 v2 main + tests/support/*.cpp
#   sse_test_pch      OBJECT: builds the precompiled header every test target reuses
# CMake functions are global, so tests/redis/, tests/browser/ etc. can call these too.

# Headers in the shared PCH: the expensive ones every test includes anyway.
set_property(GLOBAL PROPERTY SSE_TEST_PCH_HEADERS
  <boost/asio.hpp>
  <boost/beast/core.hpp>
  <boost/beast/http.hpp>
  <boost/beast/ssl.hpp>
  <nlohmann/json.hpp>
  "${PROJECT_SOURCE_DIR}/tests/support/catch.hpp")

# _sse_apply_pch(<target> <REUSE|OWN|NONE>)
#   REUSE shares sse_test_pch's PCH. It is only valid while the target's flags match: an extra
#   -D (hiredis.pc adds -D_FILE_OFFSET_BITS=64) makes GCC reject it, and CMake's -Winvalid-pch
#   plus our -Werror turn that into an error. Targets with extra LIBS therefore use OWN.
function(_sse_apply_pch target mode)
  if(mode STREQUAL "REUSE")
    target_precompile_headers(${target} REUSE_FROM sse_test_pch)
  elseif(mode STREQUAL "OWN")
    get_property(_headers GLOBAL PROPERTY SSE_TEST_PCH_HEADERS)
    target_precompile_headers(${target} PRIVATE ${_headers})
  endif()
endfunction()

# sse_add_test_executable(NAME <name> LABEL <label> SOURCES <file>...
#                         [LIBS <lib>...] [NO_PCH] [UNITY] [TIMEOUT <seconds>])
#
#   One Catch2 executable, registered as ONE ctest entry named <name> with label <label>
#   (ctest prints Catch's own summary). Links sse::sse, Catch2 (with main), OpenSSL and
#   tests/support/*.cpp; tests/ is on the include path ("support/catch.hpp"). Warnings are
#   errors; SSE_CXX_STANDARD and SSE_SANITIZE apply. Uses the shared PCH unless LIBS are given
#   (then its own PCH) or NO_PCH. UNITY compiles all SOURCES as one TU (when
#   SSE_TEST_UNITY_BUILD is on, the default): names in their anonymous namespaces must differ.
#
#   Example (tests/redis/CMakeLists.txt):
#     sse_add_test_executable(NAME sse_redis_tests LABEL redis
#                             SOURCES ${sources} LIBS sse::redis)
#     set_tests_properties(sse_redis_tests PROPERTIES FIXTURES_REQUIRED redis_server)
function(sse_add_test_executable)
  cmake_parse_arguments(PARSE_ARGV 0 arg "NO_PCH;UNITY" "NAME;LABEL;TIMEOUT" "SOURCES;LIBS")
  if(NOT arg_NAME OR NOT arg_LABEL OR NOT arg_SOURCES)
    message(FATAL_ERROR "sse_add_test_executable: NAME, LABEL and SOURCES are required")
  endif()
  if(arg_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "sse_add_test_executable(${arg_NAME}): unknown arguments ${arg_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT arg_TIMEOUT)
    set(arg_TIMEOUT 600)
  endif()

  add_executable(${arg_NAME} ${arg_SOURCES})
  sse_target_defaults(${arg_NAME})
  if(arg_UNITY AND SSE_TEST_UNITY_BUILD)
    # Batch size 0: all sources in one TU.
    set_target_properties(${arg_NAME} PROPERTIES UNITY_BUILD ON UNITY_BUILD_BATCH_SIZE 0)
  endif()
  target_link_libraries(${arg_NAME} PRIVATE sse_test_usage ${arg_LIBS})
  if(TARGET sse_test_support)
    target_link_libraries(${arg_NAME} PRIVATE sse_test_support)
  endif()

  if(arg_NO_PCH)
    _sse_apply_pch(${arg_NAME} NONE)
  elseif(arg_LIBS)
    _sse_apply_pch(${arg_NAME} OWN)
  else()
    _sse_apply_pch(${arg_NAME} REUSE)
  endif()

  add_test(NAME ${arg_NAME} COMMAND ${arg_NAME} --reporter console)
  set_tests_properties(${arg_NAME} PROPERTIES LABELS "${arg_LABEL}" TIMEOUT ${arg_TIMEOUT})
endfunction()

# sse_add_compile_fail_test(NAME <name> SOURCE <file.cpp> [LIBS <lib>...] [EXPECT <regex>])
#
#   Proves that <file.cpp> does NOT compile (e.g. emitting an event type outside a typed
#   namespace). Adds:
#   - sse_compile_fail_<name>: an EXCLUDE_FROM_ALL object library (no main() needed), and the
#     ctest compile_fail_<name> (label unit) that builds it and passes only if the build fails.
#     With EXPECT, it must also print <regex> (e.g. the static_assert text), so that an
#     unrelated error cannot pass for the expected one.
#   - sse_compile_fail_<name>_control: the same file with SSE_COMPILE_FAIL_CONTROL defined,
#     built as part of ALL. The source puts its offending line under
#     `#ifndef SSE_COMPILE_FAIL_CONTROL`, so a broken setup (typo, missing include) breaks the
#     build instead of making the test pass for the wrong reason.
#   The tests build inside this build tree, so they hold RESOURCE_LOCK sse_build_tree: two
#   Ninja runs in one build directory at once would trip over each other.
function(sse_add_compile_fail_test)
  cmake_parse_arguments(PARSE_ARGV 0 arg "" "NAME;SOURCE;EXPECT" "LIBS")
  if(NOT arg_NAME OR NOT arg_SOURCE)
    message(FATAL_ERROR "sse_add_compile_fail_test: NAME and SOURCE are required")
  endif()
  if(arg_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "sse_add_compile_fail_test(${arg_NAME}): unknown arguments ${arg_UNPARSED_ARGUMENTS}")
  endif()
  # Extra LIBS may change the flags and invalidate the shared PCH; then go without one.
  set(_pch REUSE)
  if(arg_LIBS)
    set(_pch NONE)
  endif()

  set(_target sse_compile_fail_${arg_NAME})
  foreach(_t IN ITEMS ${_target} ${_target}_control)
    if(_t STREQUAL _target)
      add_library(${_t} OBJECT EXCLUDE_FROM_ALL ${arg_SOURCE})
    else()
      add_library(${_t} OBJECT ${arg_SOURCE})
      target_compile_definitions(${_t} PRIVATE SSE_COMPILE_FAIL_CONTROL)
    endif()
    sse_target_defaults(${_t})
    target_link_libraries(${_t} PRIVATE sse_test_usage ${arg_LIBS})
    _sse_apply_pch(${_t} ${_pch})
  endforeach()

  add_test(NAME compile_fail_${arg_NAME}
           COMMAND "${CMAKE_COMMAND}" --build "${CMAKE_BINARY_DIR}" --target ${_target} --config $<CONFIG>)
  set_tests_properties(compile_fail_${arg_NAME} PROPERTIES
    LABELS unit
    RESOURCE_LOCK sse_build_tree
    TIMEOUT 600)
  if(arg_EXPECT)
    # PASS_REGULAR_EXPRESSION replaces the exit-code check; the match proves the failure.
    set_tests_properties(compile_fail_${arg_NAME} PROPERTIES PASS_REGULAR_EXPRESSION "${arg_EXPECT}")
  else()
    set_tests_properties(compile_fail_${arg_NAME} PROPERTIES WILL_FAIL TRUE)
  endif()
endfunction()

# _sse_header_check_flags(<target> <std>)
function(_sse_header_check_flags target std)
  sse_target_defaults(${target} CXX_STANDARD ${std})
  # These TUs only prove that headers compile; code quality does not matter and -O0 -g0
  # makes them about a third cheaper (they come after the build type's -O2 -g).
  if(NOT MSVC)
    target_compile_options(${target} PRIVATE -O0 -g0)
  endif()
endfunction()

# sse_add_header_checks(<include-dir>)
#
#   Proves every public header <include-dir>/sse/*.hpp is self-contained: one generated TU
#   per header that includes only that header (twice, to check the include guard), compiled
#   with warnings as errors as C++17 (sse_headers_cxx17) and as C++20 (sse_headers_cxx20),
#   in ALL, without any PCH. detail/ and impl/ are covered through the public headers.
#   redis_adapter.hpp and redis_metrics.hpp (redis_*.hpp) go into sse_headers_redis_cxx17/20,
#   which alone link sse::redis, and only when sse::redis exists.
#   sse_headers_link_check links every C++17 TU, plus a main() that includes every header
#   again, into one program: a non-inline function defined in a header then fails to link
#   with "multiple definition".
function(sse_add_header_checks include_dir)
  file(GLOB _headers CONFIGURE_DEPENDS "${include_dir}/sse/*.hpp")
  set(_core_sources "")
  set(_redis_sources "")
  foreach(_header IN LISTS _headers)
    get_filename_component(_stem "${_header}" NAME_WE)
    set(_tu "${CMAKE_CURRENT_BINARY_DIR}/header_checks/${_stem}.cpp")
    # file(CONFIGURE) rewrites only on change, so reconfiguring does not rebuild these.
    file(CONFIGURE OUTPUT "${_tu}" CONTENT
      "// Generated by sse_add_header_checks(): <sse/${_stem}.hpp> must compile on its own.\n#include <sse/${_stem}.hpp>\n#include <sse/${_stem}.hpp>\n")
    if(_stem MATCHES "^redis_")
      if(TARGET sse::redis)
        list(APPEND _redis_sources "${_tu}")
      endif()
    else()
      list(APPEND _core_sources "${_tu}")
    endif()
  endforeach()

  foreach(_std IN ITEMS 17 20)
    if(_core_sources)
      add_library(sse_headers_cxx${_std} OBJECT ${_core_sources})
      target_link_libraries(sse_headers_cxx${_std} PRIVATE sse::sse)
      _sse_header_check_flags(sse_headers_cxx${_std} ${_std})
    endif()
    if(_redis_sources)
      add_library(sse_headers_redis_cxx${_std} OBJECT ${_redis_sources})
      target_link_libraries(sse_headers_redis_cxx${_std} PRIVATE sse::redis)
      _sse_header_check_flags(sse_headers_redis_cxx${_std} ${_std})
    endif()
  endforeach()

  if(_core_sources)
    # main() includes every checked header once more, so each header is in at least two
    # TUs of the program.
    set(_main_text "// Generated by sse_add_header_checks(): every header TU in one program.\n")
    foreach(_header IN LISTS _headers)
      get_filename_component(_stem "${_header}" NAME_WE)
      if(NOT _stem MATCHES "^redis_" OR _redis_sources)
        string(APPEND _main_text "#include <sse/${_stem}.hpp>\n")
      endif()
    endforeach()
    string(APPEND _main_text "int main() { return 0; }\n")
    set(_main "${CMAKE_CURRENT_BINARY_DIR}/header_checks/link_check_main.cpp")
    file(CONFIGURE OUTPUT "${_main}" CONTENT "${_main_text}")
    add_executable(sse_headers_link_check "${_main}")
    _sse_header_check_flags(sse_headers_link_check 17)
    target_link_libraries(sse_headers_link_check PRIVATE sse_headers_cxx17 sse::sse)
    if(_redis_sources)
      target_link_libraries(sse_headers_link_check PRIVATE sse_headers_redis_cxx17 sse::redis)
    endif()
  endif()
endfunction()
