# vcpkg port of sse (header-only). NOT TESTED: written against vcpkg's documentation on a machine
# without vcpkg or network access; the CMake install it drives is tested (consumer_install).
#
# As an overlay port, from a checkout of sse (the sources are the checkout itself):
#   vcpkg install sse --overlay-ports=<checkout>/packaging/vcpkg        (+ "sse[redis]")
# For a registry, replace SOURCE_PATH below with a download of a tagged release, e.g.
#   vcpkg_from_github(OUT_SOURCE_PATH SOURCE_PATH REPO <owner>/sse REF "v${VERSION}" SHA512 <hash>)
# and keep "version-semver" in vcpkg.json equal to <sse/version.hpp>.
set(VCPKG_BUILD_TYPE release) # header-only: nothing differs between debug and release

get_filename_component(SOURCE_PATH "${CMAKE_CURRENT_LIST_DIR}/../.." ABSOLUTE)
if(NOT EXISTS "${SOURCE_PATH}/include/sse/version.hpp")
  message(FATAL_ERROR "sse overlay port: expected the sse checkout at ${SOURCE_PATH}")
endif()

vcpkg_check_features(OUT_FEATURE_OPTIONS FEATURE_OPTIONS
  FEATURES
    redis SSE_WITH_REDIS)

vcpkg_cmake_configure(
  SOURCE_PATH "${SOURCE_PATH}"
  OPTIONS
    ${FEATURE_OPTIONS}
    -DSSE_INSTALL=ON
    -DSSE_BUILD_TESTS=OFF
    -DSSE_BUILD_EXAMPLES=OFF
    -DSSE_BUILD_BENCH=OFF)
vcpkg_cmake_install()

# sse installs its package to share/cmake/sse (arch-independent); vcpkg wants share/sse.
vcpkg_cmake_config_fixup(PACKAGE_NAME sse CONFIG_PATH share/cmake/sse)
vcpkg_fixup_pkgconfig()

file(REMOVE_RECURSE "${CURRENT_PACKAGES_DIR}/debug" "${CURRENT_PACKAGES_DIR}/share/doc")
vcpkg_install_copyright(FILE_LIST "${SOURCE_PATH}/LICENSE")
file(WRITE "${CURRENT_PACKAGES_DIR}/share/${PORT}/usage" [=[
sse provides CMake targets:

  find_package(sse CONFIG REQUIRED)                    # + COMPONENTS redis with sse[redis]
  target_link_libraries(main PRIVATE sse::sse)         # + sse::redis for the Redis adapter
]=])
