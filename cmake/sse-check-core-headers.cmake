# cmake -DSSE_INCLUDE_DIR=<repo>/include -P sse-check-core-headers.cmake
#
# "The core headers do not include hiredis": fails if any header under include/sse whose
# path does not mention redis includes hiredis, or includes one of the redis headers.
# A compile check cannot prove this on Debian, where <hiredis/hiredis.h> sits in /usr/include.
if(NOT SSE_INCLUDE_DIR)
  message(FATAL_ERROR "pass -DSSE_INCLUDE_DIR=<repo>/include")
endif()
file(GLOB_RECURSE _headers RELATIVE "${SSE_INCLUDE_DIR}" "${SSE_INCLUDE_DIR}/sse/*")
set(_bad "")
set(_checked 0)
foreach(_rel IN LISTS _headers)
  if(_rel MATCHES "redis")
    continue() # sse::redis headers may use hiredis
  endif()
  math(EXPR _checked "${_checked} + 1")
  file(STRINGS "${SSE_INCLUDE_DIR}/${_rel}" _includes REGEX "^[ \t]*#[ \t]*include")
  foreach(_line IN LISTS _includes)
    if(_line MATCHES "[<\"](hiredis|adapters/|[^>\"]*redis)")
      string(STRIP "${_line}" _line)
      string(APPEND _bad "\n  ${_rel}: ${_line}")
    endif()
  endforeach()
endforeach()
if(_bad)
  message(FATAL_ERROR "core headers must not include hiredis or redis headers "
                      "(only sse::redis may):${_bad}")
endif()
message(STATUS "checked ${_checked} core headers: none includes hiredis")
