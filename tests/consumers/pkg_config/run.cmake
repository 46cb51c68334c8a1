# Included by run-consumer.cmake for MODE pkg_config (after consumer_install filled
# CONSUMER_PREFIX). A Makefile user's build: the compiler and pkg-config, nothing else.
#   CONSUMER_ARGS: -DCXX=<compiler> -DPKG_CONFIG=<pkg-config> -DSSE_EXPECTED_VERSION=<x.y.z>
#                  -DSSE_EXPECT_REDIS=<ON|OFF>
foreach(_arg IN LISTS CONSUMER_ARGS)
  if(_arg MATCHES "^-D([A-Za-z_]+)=(.*)$")
    set(${CMAKE_MATCH_1} "${CMAKE_MATCH_2}")
  endif()
endforeach()
file(MAKE_DIRECTORY "${CONSUMER_BINARY_DIR}")
set(_common "${CMAKE_CURRENT_LIST_DIR}/../common")

# Only the prefix just installed: not a copy of sse elsewhere on the machine.
set(ENV{PKG_CONFIG_PATH} "${CONSUMER_PREFIX}/share/pkgconfig")

# pkg_config(<out-var> <args>...): pkg-config's output; fails the test when it fails.
function(pkg_config out_var)
  string(REPLACE ";" " " _shown "${ARGN}")
  message(STATUS "[pkg-config] ${_shown}")
  execute_process(COMMAND "${PKG_CONFIG}" ${ARGN} RESULT_VARIABLE _rc OUTPUT_VARIABLE _out
                  ERROR_VARIABLE _err OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT _rc EQUAL 0)
    message(FATAL_ERROR "[pkg-config] ${_shown} failed (${_rc}): ${_err}")
  endif()
  set(${out_var} "${_out}" PARENT_SCOPE)
endfunction()

pkg_config(_version --modversion sse)
if(NOT _version STREQUAL SSE_EXPECTED_VERSION)
  message(FATAL_ERROR "pkg-config says sse ${_version}, the project is ${SSE_EXPECTED_VERSION}")
endif()
pkg_config(_pc_dir --variable=pcfiledir sse)
cmake_path(IS_PREFIX CONSUMER_PREFIX "${_pc_dir}" NORMALIZE _from_prefix)
if(NOT _from_prefix)
  message(FATAL_ERROR "pkg-config found sse.pc in ${_pc_dir}, expected it under ${CONSUMER_PREFIX}")
endif()
# The include directory it names is the installed one, wherever the prefix is.
pkg_config(_includedir --variable=includedir sse)
cmake_path(NORMAL_PATH _includedir)
cmake_path(SET _expected NORMALIZE "${CONSUMER_PREFIX}/include")
string(REGEX REPLACE "/$" "" _includedir "${_includedir}")
if(NOT _includedir STREQUAL _expected)
  message(FATAL_ERROR "sse.pc's includedir is ${_includedir}, expected ${_expected}")
endif()

# Relocatable: a copy of the prefix elsewhere names its own include directory.
set(_moved "${CONSUMER_BINARY_DIR}/moved-prefix")
file(COPY "${CONSUMER_PREFIX}/" DESTINATION "${_moved}")
set(ENV{PKG_CONFIG_PATH} "${_moved}/share/pkgconfig")
pkg_config(_moved_includedir --variable=includedir sse)
cmake_path(NORMAL_PATH _moved_includedir)
string(REGEX REPLACE "/$" "" _moved_includedir "${_moved_includedir}")
if(NOT _moved_includedir STREQUAL "${_moved}/include")
  message(FATAL_ERROR "a moved prefix's sse.pc names ${_moved_includedir}, not ${_moved}/include")
endif()
set(ENV{PKG_CONFIG_PATH} "${CONSUMER_PREFIX}/share/pkgconfig")

# compile(<name> <module> <source>...): <CXX> -std=c++17 <warnings> <sources> <pc flags>
# sse.pc gives -I, not -isystem (the pkg-config convention), so the consumer's warnings apply
# to sse's headers too: the common ones are errors here. (-Wshadow is not yet clean.)
function(compile name module)
  pkg_config(_flags --cflags --libs ${module})
  separate_arguments(_flags UNIX_COMMAND "${_flags}")
  set(_cmd "${CXX}" -std=c++17 -Wall -Wextra -Wpedantic -Werror ${ARGN} ${_flags}
           -o "${CONSUMER_BINARY_DIR}/${name}")
  string(REPLACE ";" " " _shown "${_cmd}")
  message(STATUS "[compile] ${_shown}")
  execute_process(COMMAND ${_cmd} RESULT_VARIABLE _rc)
  if(NOT _rc EQUAL 0)
    message(FATAL_ERROR "[compile] ${name} failed (${_rc})")
  endif()
endfunction()

compile(consumer sse "${_common}/main.cpp")
execute_process(COMMAND "${CONSUMER_BINARY_DIR}/consumer" RESULT_VARIABLE _rc)
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "[run] consumer failed (${_rc})")
endif()

if(SSE_EXPECT_REDIS)
  # The Redis adapter's header, with sse-redis (which brings hiredis' own flags).
  compile(consumer_redis sse-redis "${_common}/main.cpp" "${_common}/redis_adapter.cpp")
elseif(EXISTS "${CONSUMER_PREFIX}/share/pkgconfig/sse-redis.pc")
  message(FATAL_ERROR "sse-redis.pc was installed although sse has no redis component")
endif()
message(STATUS "built and ran a pkg-config consumer of ${CONSUMER_PREFIX}")
