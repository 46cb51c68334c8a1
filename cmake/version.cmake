# sse_read_version(<header> <out-var>)
#
# Reads SSE_VERSION_MAJOR/MINOR/PATCH from the given header, so that the version users see
# at compile time and the one find_package(sse <version>) checks can never disagree.
function(sse_read_version header out_var)
  file(STRINGS "${header}" _lines REGEX "^#define SSE_VERSION_(MAJOR|MINOR|PATCH) +[0-9]+")
  foreach(_part IN ITEMS MAJOR MINOR PATCH)
    set(_value "")
    foreach(_line IN LISTS _lines)
      if(_line MATCHES "^#define SSE_VERSION_${_part} +([0-9]+)")
        set(_value "${CMAKE_MATCH_1}")
      endif()
    endforeach()
    if(_value STREQUAL "")
      message(FATAL_ERROR "sse: cannot read SSE_VERSION_${_part} from ${header}")
    endif()
    set(_${_part} "${_value}")
  endforeach()
  # Editing the header re-runs configure, so project(VERSION) follows it.
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${header}")
  set(${out_var} "${_MAJOR}.${_MINOR}.${_PATCH}" PARENT_SCOPE)
endfunction()
