# Helpers for sse's own targets (tests, examples, benchmarks). Included only when one of
# SSE_BUILD_TESTS/EXAMPLES/BENCH is on, so a consumer never sees these flags: they are
# applied per target and PRIVATE, never through CMAKE_CXX_FLAGS or add_compile_options.

# sse_target_warnings(<target>)
#   Warnings as errors. Boost, nlohmann_json and Catch2 come from imported targets, so their
#   include dirs are SYSTEM and their headers do not warn; our own headers do.
function(sse_target_warnings target)
  if(MSVC)
    target_compile_options(${target} PRIVATE /W4 /WX /permissive-)
  else()
    target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Werror)
  endif()
  # GCC 12/13 at -O2 report false positives from inside libstdc++ (std::string's memcpy in
  # <bits/char_traits.h>, inlined into our code, e.g. vector<string>::push_back). They are
  # not ours to fix and only appear in optimised builds; ASan covers real overruns.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_GREATER_EQUAL 12
     AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 14)
    target_compile_options(${target} PRIVATE -Wno-array-bounds -Wno-stringop-overflow
                                             -Wno-stringop-overread -Wno-restrict)
  endif()
endfunction()

# sse_target_sanitizers(<target>)
#   Applies SSE_SANITIZE ("", "address,undefined" or "thread") to compile and link.
function(sse_target_sanitizers target)
  if(SSE_SANITIZE STREQUAL "")
    return()
  endif()
  if(NOT SSE_SANITIZE MATCHES "^(address,undefined|address|undefined|thread)$")
    message(FATAL_ERROR "SSE_SANITIZE='${SSE_SANITIZE}': use '', 'address,undefined' or 'thread'")
  endif()
  # -fno-sanitize-recover: a UBSan finding fails the test instead of scrolling past.
  set(_flags -fsanitize=${SSE_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  target_compile_options(${target} PRIVATE ${_flags})
  target_link_options(${target} PRIVATE ${_flags})
  # GCC 12+ warns (-Wtsan) that TSan does not model the atomic_thread_fence inside Asio;
  # with -Werror that stops the build, though the fence is not ours to change.
  if(SSE_SANITIZE STREQUAL "thread" AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU"
     AND CMAKE_CXX_COMPILER_VERSION VERSION_GREATER_EQUAL 12)
    target_compile_options(${target} PRIVATE -Wno-tsan)
  endif()
endfunction()

# sse_target_defaults(<target> [CXX_STANDARD <n>])
#   Everything our own targets share: the standard (SSE_CXX_STANDARD unless given, no GNU
#   extensions), warnings as errors, sanitizers. Examples and benchmarks call this too.
function(sse_target_defaults target)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "CXX_STANDARD" "")
  if(NOT arg_CXX_STANDARD)
    set(arg_CXX_STANDARD ${SSE_CXX_STANDARD})
  endif()
  set_target_properties(${target} PROPERTIES
    CXX_STANDARD ${arg_CXX_STANDARD}
    CXX_STANDARD_REQUIRED ON
    CXX_EXTENSIONS OFF)
  sse_target_warnings(${target})
  sse_target_sanitizers(${target})
endfunction()

# sse_write_demo_manifest()
#   Writes <build>/sse-demo.txt for scripts/demo.sh: line 1 the demo target, line 2 its
#   binary, line 3 default arguments. The sports demo wins over the minimal hello server.
function(sse_write_demo_manifest)
  get_property(_multi GLOBAL PROPERTY GENERATOR_IS_MULTI_CONFIG)
  set(_manifest "${PROJECT_BINARY_DIR}/sse-demo.txt")
  if(_multi)
    return() # scripts/demo.sh uses Ninja
  elseif(TARGET sports_demo)
    file(GENERATE OUTPUT "${_manifest}" CONTENT "sports_demo\n$<TARGET_FILE:sports_demo>\n--simulate\n")
  elseif(TARGET hello_server)
    file(GENERATE OUTPUT "${_manifest}" CONTENT "hello_server\n$<TARGET_FILE:hello_server>\n\n")
  else()
    file(REMOVE "${_manifest}")
  endif()
endfunction()
