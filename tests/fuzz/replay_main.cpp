// The fuzz targets without libFuzzer: `sse_fuzz_replay TARGET PATH...` runs every file under
// each PATH (a file or a folder) through TARGET's LLVMFuzzerTestOneInput once, as libFuzzer
// would replay its corpus. Built with the project's compiler, so the seeds and every crash
// input kept as a regression run in the plain test stage too (ctest fuzz_corpus_<target>).
// A failing input aborts, as under libFuzzer; the last "replaying" line names it.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

// Each target's entry point, renamed when compiled for this program (see CMakeLists.txt).
extern "C" int sse_fuzz_encoder(std::uint8_t const*, std::size_t);
extern "C" int sse_fuzz_handshake(std::uint8_t const*, std::size_t);
extern "C" int sse_fuzz_demo_http(std::uint8_t const*, std::size_t);
extern "C" int sse_fuzz_redis_message(std::uint8_t const*, std::size_t);
extern "C" int sse_fuzz_replay(std::uint8_t const*, std::size_t);

namespace {

using entry_point = int (*)(std::uint8_t const*, std::size_t);

struct target {
    char const* name;
    entry_point run;
};

target const targets[] = {
#if SSE_FUZZ_HAVE_ENCODER
    {"encoder", sse_fuzz_encoder},
#endif
    {"handshake", sse_fuzz_handshake},
    {"demo_http", sse_fuzz_demo_http},
    {"redis_message", sse_fuzz_redis_message},
    {"replay", sse_fuzz_replay},
};

} // namespace

int main(int argc, char** argv) {
    namespace fs = std::filesystem;
    if (argc < 3) {
        std::fprintf(stderr, "usage: sse_fuzz_replay TARGET PATH...\n");
        return 2;
    }
    auto const* t = std::find_if(std::begin(targets), std::end(targets), [&](target const& x) {
        return std::strcmp(x.name, argv[1]) == 0;
    });
    if (t == std::end(targets)) {
        std::fprintf(stderr, "sse_fuzz_replay: unknown target '%s'\n", argv[1]);
        return 2;
    }
    std::vector<fs::path> files;
    for (int i = 2; i < argc; ++i) {
        if (fs::is_directory(argv[i])) {
            for (auto const& e : fs::recursive_directory_iterator(argv[i]))
                if (e.is_regular_file()) files.push_back(e.path());
        } else {
            files.emplace_back(argv[i]);
        }
    }
    std::sort(files.begin(), files.end());
    if (files.empty()) {
        std::fprintf(stderr, "sse_fuzz_replay: no input found\n");
        return 1;
    }
    for (auto const& f : files) {
        std::ifstream in(f, std::ios::binary);
        if (!in) {
            std::fprintf(stderr, "sse_fuzz_replay: cannot read %s\n", f.c_str());
            return 1;
        }
        std::vector<char> bytes((std::istreambuf_iterator<char>(in)), {});
        std::fprintf(stderr, "replaying %s (%zu bytes)\n", f.c_str(), bytes.size());
        // libFuzzer never passes a null pointer, even for an empty input.
        char empty = 0;
        t->run(reinterpret_cast<std::uint8_t const*>(bytes.empty() ? &empty : bytes.data()),
               bytes.size());
    }
    std::printf("%s: %zu inputs replayed, none failed\n", t->name, files.size());
    return 0;
}
