// Unit: sse/version.hpp - the macros say the version CMake's project(sse VERSION ...) says.
// tests/CMakeLists.txt passes that version in as SSE_TEST_CMAKE_PROJECT_VERSION ("x.y.z").
// That <sse/version.hpp> compiles on its own is proven by sse_headers_cxx17/20.
#include <sse/version.hpp>

#include "support/catch.hpp"

#include <string>

#ifndef SSE_TEST_CMAKE_PROJECT_VERSION
#error "tests/CMakeLists.txt must define SSE_TEST_CMAKE_PROJECT_VERSION for this test"
#endif

// Users compare versions in #if: the macro must be an integer constant expression there.
#if !(SSE_VERSION >= 0)
#error "SSE_VERSION is not usable in #if"
#endif

namespace {

/// "1.2.3" -> {1, 2, 3}; anything else fails the test.
struct version_parts {
    int major = -1, minor = -1, patch = -1;
};

version_parts split_version(std::string const& text) {
    version_parts v;
    std::size_t a = text.find('.');
    std::size_t b = a == std::string::npos ? a : text.find('.', a + 1);
    REQUIRE(a != std::string::npos);
    REQUIRE(b != std::string::npos);
    v.major = std::stoi(text.substr(0, a));
    v.minor = std::stoi(text.substr(a + 1, b - a - 1));
    v.patch = std::stoi(text.substr(b + 1));
    return v;
}

} // namespace

TEST_CASE("version: the macros match the CMake project version", "[version]") {
    std::string const cmake_version = SSE_TEST_CMAKE_PROJECT_VERSION;
    auto const v = split_version(cmake_version);

    CHECK(std::string(SSE_VERSION_STRING) == cmake_version);
    CHECK(SSE_VERSION_MAJOR == v.major);
    CHECK(SSE_VERSION_MINOR == v.minor);
    CHECK(SSE_VERSION_PATCH == v.patch);
    CHECK(SSE_VERSION == v.major * 10000 + v.minor * 100 + v.patch);
}

TEST_CASE("version: SSE_VERSION orders releases and the string spells the parts", "[version]") {
    // Two digits each for minor and patch, so a later release always compares greater.
    STATIC_REQUIRE(SSE_VERSION_MINOR < 100);
    STATIC_REQUIRE(SSE_VERSION_PATCH < 100);
    CHECK(std::string(SSE_VERSION_STRING) == std::to_string(SSE_VERSION_MAJOR) + "." +
                                                 std::to_string(SSE_VERSION_MINOR) + "." +
                                                 std::to_string(SSE_VERSION_PATCH));
    CHECK(SSE_VERSION / 10000 == SSE_VERSION_MAJOR);
    CHECK(SSE_VERSION / 100 % 100 == SSE_VERSION_MINOR);
    CHECK(SSE_VERSION % 100 == SSE_VERSION_PATCH);
}
