// libFuzzer target: the wire encoder. Any event name, id and data either encode into bytes
// that a WHATWG parser reads back as exactly that event, or are rejected with
// std::invalid_argument. Never a field break, never a crash.
#include <sse/event.hpp>

#include <support/sse_reader.hpp>

#include <fuzzer/FuzzedDataProvider.h>

#include <cstdlib>
#include <string>

namespace {

[[noreturn]] void fail(char const* what) {
    std::fprintf(stderr, "fuzz_encoder: %s\n", what);
    std::abort();
}

// What a browser reassembles from our data lines: every line break becomes "\n".
std::string normalized(std::string_view data) {
    std::string out;
    for (std::size_t i = 0; i < data.size(); ++i) {
        if (data[i] == '\r') {
            out += '\n';
            if (i + 1 < data.size() && data[i + 1] == '\n') ++i;
        } else {
            out += data[i];
        }
    }
    return out;
}

bool acceptable_field(std::string_view s, bool allow_empty) {
    return (allow_empty || !s.empty()) && s.size() <= sse::max_name_length &&
           s.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos &&
           sse::is_valid_utf8(s);
}

sse_test::sse_event parse_one(std::string_view wire) {
    sse_test::event_stream_parser parser;
    parser.feed(wire);
    if (parser.events().size() != 1) fail("the wire did not parse as exactly one event");
    return parser.events().front();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* bytes, std::size_t size) {
    FuzzedDataProvider in(bytes, size);
    std::string const name = in.ConsumeRandomLengthString(300);
    std::string const id_text = in.ConsumeRandomLengthString(300);
    std::uint64_t const id = in.ConsumeIntegral<std::uint64_t>();
    bool const as_json = in.ConsumeBool();
    std::string const data = in.ConsumeRemainingBytesAsString();

    // Ids given as text are validated the same way as names.
    bool id_ok = true;
    try {
        sse::validate_event_id(id_text);
    } catch (std::invalid_argument const&) {
        id_ok = false;
    }
    if (id_ok != acceptable_field(id_text, true))
        fail("validate_event_id disagrees with the rules");

    std::shared_ptr<sse::encoded_event> ev;
    try {
        if (as_json)
            ev = sse::encoded_event::make(name, nlohmann::json(data));
        else
            ev = sse::encoded_event::make(name, sse::text(data));
    } catch (std::invalid_argument const&) {
        bool const data_ok =
            sse::is_valid_utf8(data) && (as_json || data.find('\0') == std::string::npos);
        if (acceptable_field(name, false) && data_ok) fail("a valid event was rejected");
        return 0;
    } catch (nlohmann::json::exception const&) {
        if (sse::is_valid_utf8(data)) fail("JSON refused valid UTF-8");
        return 0;
    }
    if (!acceptable_field(name, false)) fail("an invalid event name was accepted");
    if (id != 0) ev->stamp(id);

    auto const got = parse_one(ev->wire());
    if (got.event != name) fail("event name did not round-trip");
    if (id != 0 && (got.id != std::to_string(id) || !got.has_id)) fail("id did not round-trip");
    if (id == 0 && got.has_id) fail("an unstamped event carried an id");
    if (as_json) {
        if (nlohmann::json::parse(got.data) != nlohmann::json(data))
            fail("JSON data did not round-trip");
    } else if (got.data != normalized(data)) {
        fail("text data did not round-trip");
    }
    if (ev->body() != ev->wire().substr(ev->wire().size() - ev->body().size()))
        fail("body is not the wire's tail");
    return 0;
}
