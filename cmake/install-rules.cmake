# Install rules: headers, exported targets, and a package config so that
#   find_package(sse 0.1 REQUIRED)                    gives sse::sse
#   find_package(sse 0.1 REQUIRED COMPONENTS redis)   also gives sse::redis
include(CMakePackageConfigHelpers)

# Header-only and arch-independent, so the package goes under share/.
set(SSE_INSTALL_CMAKEDIR "${CMAKE_INSTALL_DATADIR}/cmake/sse"
    CACHE STRING "Where sseConfig.cmake is installed, relative to the prefix")
mark_as_advanced(SSE_INSTALL_CMAKEDIR)

install(DIRECTORY "${PROJECT_SOURCE_DIR}/include/"
        DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}"
        COMPONENT sse_Development
        FILES_MATCHING PATTERN "*.hpp" PATTERN "*.ipp")

# Two export sets, so that sse::redis (and its hiredis lookup) only exists for consumers
# that ask for the redis component.
install(TARGETS sse EXPORT sseTargets)
install(EXPORT sseTargets
        NAMESPACE sse::
        DESTINATION "${SSE_INSTALL_CMAKEDIR}"
        COMPONENT sse_Development)

if(TARGET sse_redis)
  install(TARGETS sse_redis EXPORT sseRedisTargets)
  install(EXPORT sseRedisTargets
          NAMESPACE sse::
          DESTINATION "${SSE_INSTALL_CMAKEDIR}"
          COMPONENT sse_Development)
  install(FILES "${PROJECT_SOURCE_DIR}/cmake/sse-hiredis.cmake"
          DESTINATION "${SSE_INSTALL_CMAKEDIR}"
          COMPONENT sse_Development)
endif()

configure_package_config_file(
  "${PROJECT_SOURCE_DIR}/cmake/sseConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/sseConfig.cmake"
  INSTALL_DESTINATION "${SSE_INSTALL_CMAKEDIR}"
  NO_SET_AND_CHECK_MACRO)
write_basic_package_version_file(
  "${PROJECT_BINARY_DIR}/sseConfigVersion.cmake"
  COMPATIBILITY SameMajorVersion
  ARCH_INDEPENDENT)
install(FILES "${PROJECT_BINARY_DIR}/sseConfig.cmake" "${PROJECT_BINARY_DIR}/sseConfigVersion.cmake"
        DESTINATION "${SSE_INSTALL_CMAKEDIR}"
        COMPONENT sse_Development)

# ---- pkg-config: sse.pc (and sse-redis.pc with hiredis), for builds that are not CMake ----
# Arch-independent, so under share/pkgconfig (on pkg-config's default path for /usr and
# /usr/local). Paths are relative to ${pcfiledir}, so the prefix can move.
set(SSE_INSTALL_PKGCONFIGDIR "${CMAKE_INSTALL_DATADIR}/pkgconfig"
    CACHE STRING "Where sse.pc is installed, relative to the prefix")
mark_as_advanced(SSE_INSTALL_PKGCONFIGDIR)
file(RELATIVE_PATH SSE_PC_PREFIX_FROM_PCDIR
     "/prefix/${SSE_INSTALL_PKGCONFIGDIR}" "/prefix")
string(REGEX REPLACE "/$" "" SSE_PC_PREFIX_FROM_PCDIR "${SSE_PC_PREFIX_FROM_PCDIR}")
# Boost has no .pc file: name its include directory unless the compiler searches it anyway.
set(SSE_PC_BOOST_CFLAGS "")
get_target_property(_sse_boost_includes Boost::headers INTERFACE_INCLUDE_DIRECTORIES)
foreach(_dir IN LISTS _sse_boost_includes)
  if(_dir AND NOT _dir IN_LIST CMAKE_CXX_IMPLICIT_INCLUDE_DIRECTORIES)
    string(APPEND SSE_PC_BOOST_CFLAGS " -I${_dir}")
  endif()
endforeach()
configure_file("${PROJECT_SOURCE_DIR}/cmake/sse.pc.in" "${PROJECT_BINARY_DIR}/pkgconfig/sse.pc" @ONLY)
install(FILES "${PROJECT_BINARY_DIR}/pkgconfig/sse.pc"
        DESTINATION "${SSE_INSTALL_PKGCONFIGDIR}"
        COMPONENT sse_Development)
if(TARGET sse_redis)
  configure_file("${PROJECT_SOURCE_DIR}/cmake/sse-redis.pc.in"
                 "${PROJECT_BINARY_DIR}/pkgconfig/sse-redis.pc" @ONLY)
  install(FILES "${PROJECT_BINARY_DIR}/pkgconfig/sse-redis.pc"
          DESTINATION "${SSE_INSTALL_PKGCONFIGDIR}"
          COMPONENT sse_Development)
endif()

install(FILES "${PROJECT_SOURCE_DIR}/LICENSE"
        DESTINATION "${CMAKE_INSTALL_DATADIR}/doc/sse"
        COMPONENT sse_Development)
