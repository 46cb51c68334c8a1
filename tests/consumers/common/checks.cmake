# Checks shared by the consumer projects: adding sse must not change the parent's build,
# and must not bring any of sse's own tests, examples or benchmarks.

set(SSE_CONSUMER_COMMON_DIR "${CMAKE_CURRENT_LIST_DIR}")

# sse_consumer_snapshot(<out-var>)
#   The parent's global compile state: flags variables and directory properties.
function(sse_consumer_snapshot out_var)
  set(_state "")
  foreach(_var IN ITEMS CMAKE_CXX_FLAGS CMAKE_CXX_FLAGS_DEBUG CMAKE_CXX_FLAGS_RELEASE
                        CMAKE_CXX_FLAGS_RELWITHDEBINFO CMAKE_EXE_LINKER_FLAGS
                        CMAKE_CXX_STANDARD CMAKE_CXX_EXTENSIONS CMAKE_POSITION_INDEPENDENT_CODE
                        CMAKE_INTERPROCEDURAL_OPTIMIZATION)
    string(APPEND _state "${_var}=[${${_var}}]\n")
  endforeach()
  foreach(_prop IN ITEMS COMPILE_OPTIONS COMPILE_DEFINITIONS INCLUDE_DIRECTORIES
                         LINK_OPTIONS LINK_DIRECTORIES LINK_LIBRARIES)
    get_directory_property(_value ${_prop})
    string(APPEND _state "${_prop}=[${_value}]\n")
  endforeach()
  set(${out_var} "${_state}" PARENT_SCOPE)
endfunction()

# sse_consumer_check_unchanged(<before>)
function(sse_consumer_check_unchanged before)
  sse_consumer_snapshot(_after)
  if(before STREQUAL _after)
    return()
  endif()
  # Report only the entries that changed (one "NAME=[value]" per line).
  string(REPLACE ";" "\\;" _before_lines "${before}")
  string(REPLACE ";" "\\;" _after_lines "${_after}")
  string(REPLACE "\n" ";" _before_lines "${_before_lines}")
  string(REPLACE "\n" ";" _after_lines "${_after_lines}")
  set(_changes "")
  foreach(_line IN LISTS _after_lines)
    if(NOT _line IN_LIST _before_lines)
      string(APPEND _changes "\n  now ${_line}")
    endif()
  endforeach()
  foreach(_line IN LISTS _before_lines)
    if(NOT _line IN_LIST _after_lines)
      string(APPEND _changes "\n  was ${_line}")
    endif()
  endforeach()
  message(FATAL_ERROR "adding sse changed the parent's compile state:${_changes}")
endfunction()

# sse_consumer_check_target(<target>)
#   sse's target carries no compile flags or definitions of its own (only its dependencies').
function(sse_consumer_check_target target)
  foreach(_prop IN ITEMS INTERFACE_COMPILE_OPTIONS INTERFACE_COMPILE_DEFINITIONS INTERFACE_LINK_OPTIONS)
    get_target_property(_value ${target} ${_prop})
    if(_value)
      message(FATAL_ERROR "${target} adds ${_prop}: ${_value}")
    endif()
  endforeach()
endfunction()

# sse_consumer_check_no_dev_targets([<sse-source-dir>])
#   None of sse's test/example/bench targets exist. With a source dir (add_subdirectory,
#   FetchContent), sse's directory must hold only its library targets and no subdirectory.
function(sse_consumer_check_no_dev_targets)
  foreach(_t IN ITEMS sse_unit_tests sse_integration_tests sse_redis_tests sse_test_usage
                      sse_test_support sse_test_pch sse_headers_cxx17 sse_headers_cxx20
                      sse_headers_link_check hello_server sports_demo existing_app)
    if(TARGET ${_t})
      message(FATAL_ERROR "consuming sse created its development target ${_t}")
    endif()
  endforeach()
  if(ARGC GREATER 0)
    get_directory_property(_subdirs DIRECTORY "${ARGV0}" SUBDIRECTORIES)
    if(_subdirs)
      message(FATAL_ERROR "consuming sse added its subdirectories: ${_subdirs}")
    endif()
    get_directory_property(_targets DIRECTORY "${ARGV0}" BUILDSYSTEM_TARGETS)
    list(REMOVE_ITEM _targets sse sse_redis)
    if(_targets)
      message(FATAL_ERROR "consuming sse created extra targets: ${_targets}")
    endif()
  endif()
endfunction()

# sse_consumer_check_system_includes(<target>)
#   Built-in (non-imported) sse targets must hand their include dir over as SYSTEM, so the
#   parent's warnings never fire inside sse's headers. (Imported targets are SYSTEM anyway.)
function(sse_consumer_check_system_includes target)
  get_target_property(_system ${target} INTERFACE_SYSTEM_INCLUDE_DIRECTORIES)
  if(NOT _system)
    message(FATAL_ERROR "${target}'s include directory is not SYSTEM for consumers")
  endif()
endfunction()

# sse_consumer_add_program()
#   The consumer program: common/main.cpp, built with strict warnings of the parent's own.
#   When sse::redis exists (it must if SSE_EXPECT_REDIS) and the header is installed or in
#   the checkout, one more TU includes <sse/redis_adapter.hpp> and links sse::redis.
function(sse_consumer_add_program redis_header)
  add_executable(consumer "${SSE_CONSUMER_COMMON_DIR}/main.cpp")
  set_target_properties(consumer PROPERTIES RUNTIME_OUTPUT_DIRECTORY "${PROJECT_BINARY_DIR}")
  target_compile_options(consumer PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Werror)
  target_link_libraries(consumer PRIVATE sse::sse)

  if(SSE_EXPECT_REDIS AND NOT TARGET sse::redis)
    message(FATAL_ERROR "sse::redis was expected (hiredis is installed) but does not exist")
  endif()
  if(TARGET sse::redis AND EXISTS "${redis_header}")
    target_sources(consumer PRIVATE "${SSE_CONSUMER_COMMON_DIR}/redis_adapter.cpp")
    target_link_libraries(consumer PRIVATE sse::redis)
    message(STATUS "consumer: also compiling <sse/redis_adapter.hpp> against sse::redis")
  endif()
endfunction()
