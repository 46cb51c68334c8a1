# Finds hiredis and defines the INTERFACE IMPORTED target sse::hiredis pointing at it.
#
# Used twice: by our CMakeLists.txt, and (installed next to sseConfig.cmake) by
# find_package(sse COMPONENTS redis) on the consumer's machine.
#
# Why a target of our own: the exported sse::redis must name one hiredis target, but how
# hiredis is found differs between machines. hiredis >= 1.0 installs a CMake package with
# hiredis::hiredis; 0.14.1 (Debian 12) only ships hiredis.pc (its HiredisConfig.cmake is
# unusable and defines no target). sse::redis links sse::hiredis, which forwards to whichever
# was found here. Do not link sse::hiredis yourself; link sse::redis.
#
# Sets SSE_HIREDIS_PROVIDER to the target used, or leaves sse::hiredis undefined.
if(NOT TARGET sse::hiredis)
  set(SSE_HIREDIS_PROVIDER "")

  find_package(hiredis CONFIG QUIET)
  if(TARGET hiredis::hiredis)
    set(SSE_HIREDIS_PROVIDER hiredis::hiredis)
  else()
    find_package(PkgConfig QUIET)
    if(PKG_CONFIG_FOUND)
      pkg_check_modules(hiredis QUIET IMPORTED_TARGET hiredis)
      if(TARGET PkgConfig::hiredis)
        set(SSE_HIREDIS_PROVIDER PkgConfig::hiredis)
      endif()
    endif()
  endif()

  if(SSE_HIREDIS_PROVIDER)
    add_library(sse::hiredis INTERFACE IMPORTED)
    set_target_properties(sse::hiredis PROPERTIES INTERFACE_LINK_LIBRARIES "${SSE_HIREDIS_PROVIDER}")
  endif()
endif()
