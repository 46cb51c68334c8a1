// sse/version.hpp - the library's version, for code and for the preprocessor.
//
//   #include <sse/version.hpp>
//   #if SSE_VERSION >= 100   // 0.1.0 or newer
//
// CMake reads SSE_VERSION_MAJOR/MINOR/PATCH from this file for project(sse VERSION ...), so the
// version find_package(sse <version>) checks and the one compiled in cannot disagree.
#ifndef SSE_VERSION_HPP
#define SSE_VERSION_HPP

#define SSE_VERSION_MAJOR 0
#define SSE_VERSION_MINOR 1
#define SSE_VERSION_PATCH 0

/// major * 10000 + minor * 100 + patch: 0.1.0 is 100, 1.2.3 is 10203.
#define SSE_VERSION (SSE_VERSION_MAJOR * 10000 + SSE_VERSION_MINOR * 100 + SSE_VERSION_PATCH)

#define SSE_VERSION_STRINGIFY_(x) #x
#define SSE_VERSION_STRINGIFY(x) SSE_VERSION_STRINGIFY_(x)
/// "major.minor.patch", e.g. "0.1.0".
#define SSE_VERSION_STRING                                                                         \
    SSE_VERSION_STRINGIFY(SSE_VERSION_MAJOR)                                                       \
    "." SSE_VERSION_STRINGIFY(SSE_VERSION_MINOR) "." SSE_VERSION_STRINGIFY(SSE_VERSION_PATCH)

#endif
