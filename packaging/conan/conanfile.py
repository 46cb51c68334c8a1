"""Conan 2 recipe for sse (header-only).

NOT TESTED: written against Conan 2's documentation on a machine without Conan or network
access. It packages the headers of this checkout; consumers get the same targets as from
`cmake --install` (sse::sse, and sse::redis with -o "sse/*:redis=True").

    conan create packaging/conan                       # from the root of a checkout
    conan create packaging/conan -o "sse/*:redis=True"
"""
import os
import re

from conan import ConanFile
from conan.tools.files import copy, load
from conan.tools.layout import basic_layout

required_conan_version = ">=2.0"


class SseConan(ConanFile):
    name = "sse"
    description = "Socket.IO-style server push over Server-Sent Events for Boost.Beast servers"
    license = "BSL-1.0"
    topics = ("sse", "server-sent-events", "beast", "asio", "header-only")
    # header-library: one package id whatever the settings and options (Conan clears them).
    package_type = "header-library"
    settings = "os", "arch", "compiler", "build_type"
    options = {"redis": [True, False]}
    default_options = {"redis": False}
    no_copy_source = True

    def _root(self):
        # The recipe lives in <checkout>/packaging/conan.
        return os.path.join(self.recipe_folder, "..", "..")

    def set_version(self):
        # One version for everything: <sse/version.hpp>, which CMake reads too.
        text = load(self, os.path.join(self._root(), "include", "sse", "version.hpp"))
        parts = [re.search(r"#define SSE_VERSION_%s +(\d+)" % p, text).group(1)
                 for p in ("MAJOR", "MINOR", "PATCH")]
        self.version = ".".join(parts)

    def export_sources(self):
        copy(self, "include/*", self._root(), self.export_sources_folder)
        copy(self, "LICENSE", self._root(), self.export_sources_folder)

    def layout(self):
        basic_layout(self, src_folder=".")

    def requirements(self):
        # Boost >= 1.81 (Beast and Asio headers); the library's headers include these.
        self.requires("boost/[>=1.81 <2]", transitive_headers=True)
        self.requires("nlohmann_json/[>=3.2 <4]", transitive_headers=True)
        if self.options.redis:
            self.requires("hiredis/[>=0.14 <2]", transitive_headers=True, transitive_libs=True)

    def package(self):
        copy(self, "LICENSE", self.source_folder, os.path.join(self.package_folder, "licenses"))
        copy(self, "*.hpp", os.path.join(self.source_folder, "include"),
             os.path.join(self.package_folder, "include"))

    def package_info(self):
        self.cpp_info.set_property("cmake_file_name", "sse")
        self.cpp_info.bindirs = []
        self.cpp_info.libdirs = []

        core = self.cpp_info.components["core"]
        core.set_property("cmake_target_name", "sse::sse")
        core.set_property("pkg_config_name", "sse")
        core.requires = ["boost::headers", "nlohmann_json::nlohmann_json"]
        core.bindirs = []
        core.libdirs = []
        if self.settings.os in ("Linux", "FreeBSD"):
            core.system_libs = ["pthread"]

        if self.options.redis:
            redis = self.cpp_info.components["redis"]
            redis.set_property("cmake_target_name", "sse::redis")
            redis.set_property("pkg_config_name", "sse-redis")
            redis.requires = ["core", "hiredis::hiredislib"]
            redis.bindirs = []
            redis.libdirs = []
