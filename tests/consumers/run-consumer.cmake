# cmake -DARGS_FILE=<name>.args.cmake -P run-consumer.cmake
#
# Runs one consumer test from scratch (the argument file is written by CMakeLists.txt here):
#   MODE consumer: configure + build the consumer project, then run its program.
#   MODE install:  configure this checkout as a packager would, build, install into
#                  CONSUMER_PREFIX, and check what was installed.
#   MODE pkg_config: no CMake on the consumer's side: compile common/main.cpp with the flags
#                  `pkg-config --cflags --libs sse` gives for CONSUMER_PREFIX, and run it.
cmake_minimum_required(VERSION 3.25)
include("${ARGS_FILE}")

function(run what)
  string(REPLACE ";" " " _shown "${ARGN}")
  message(STATUS "[${what}] ${_shown}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE _rc)
  if(NOT _rc EQUAL 0)
    message(FATAL_ERROR "[${what}] failed (${_rc})")
  endif()
endfunction()

# From scratch every time: a stale cache would hide configure-time mistakes.
file(REMOVE_RECURSE "${CONSUMER_BINARY_DIR}")
if(CONSUMER_MODE STREQUAL "install")
  file(REMOVE_RECURSE "${CONSUMER_PREFIX}")
endif()

if(CONSUMER_MODE STREQUAL "pkg_config")
  include("${CMAKE_CURRENT_LIST_DIR}/pkg_config/run.cmake")
  return()
endif()

run(configure "${CMAKE_COMMAND}" -S "${CONSUMER_SOURCE_DIR}" -B "${CONSUMER_BINARY_DIR}" ${CONSUMER_ARGS})
run(build "${CMAKE_COMMAND}" --build "${CONSUMER_BINARY_DIR}" --parallel 2)

if(CONSUMER_MODE STREQUAL "consumer")
  run(run "${CONSUMER_BINARY_DIR}/consumer")
  return()
endif()

run(install "${CMAKE_COMMAND}" --install "${CONSUMER_BINARY_DIR}")

# A packager's build must not have configured any of our tests.
if(EXISTS "${CONSUMER_BINARY_DIR}/tests" OR EXISTS "${CONSUMER_BINARY_DIR}/examples")
  message(FATAL_ERROR "the install build configured tests/ or examples/ although they were OFF")
endif()
foreach(_file IN ITEMS include/sse/event.hpp include/sse/adapter.hpp
                       share/cmake/sse/sseConfig.cmake share/cmake/sse/sseConfigVersion.cmake
                       share/cmake/sse/sseTargets.cmake share/doc/sse/LICENSE
                       include/sse/version.hpp share/pkgconfig/sse.pc)
  if(NOT EXISTS "${CONSUMER_PREFIX}/${_file}")
    message(FATAL_ERROR "not installed: ${_file}")
  endif()
endforeach()
# The installed package must be relocatable: no path into the checkout or the build.
file(GLOB _cmake_files "${CONSUMER_PREFIX}/share/cmake/sse/*.cmake"
                       "${CONSUMER_PREFIX}/share/pkgconfig/*.pc")
foreach(_file IN LISTS _cmake_files)
  file(READ "${_file}" _text)
  foreach(_path IN ITEMS "${CONSUMER_SOURCE_DIR}" "${CONSUMER_BINARY_DIR}")
    string(FIND "${_text}" "${_path}" _at)
    if(NOT _at EQUAL -1)
      message(FATAL_ERROR "${_file} refers to ${_path}")
    endif()
  endforeach()
endforeach()
message(STATUS "installed sse into ${CONSUMER_PREFIX}")
