// libFuzzer target: the Redis message decoder (sse/detail/redis_message.hpp), fed any bytes,
// as a node receives them from its channels. Any bytes decode or give a status, never crash.
// A decoded message re-encodes into bytes that decode to the same message (and no longer than
// the input: the encoder writes the shortest varints), and its body is what a browser reads
// as exactly one event of that name, with no id and no retry (a forged message must not be
// able to inject fields or events into the streams it reaches). Its channel names match.
#include <sse/detail/redis_message.hpp>

#include <support/sse_reader.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

[[noreturn]] void fail(char const* what) {
    std::fprintf(stderr, "fuzz_redis_message: %s\n", what);
    std::abort();
}

bool same(sse::detail::redis_message const& a, sse::detail::redis_message const& b) {
    return a.version == b.version && a.numbered == b.numbered && a.sequence == b.sequence &&
           a.channel_number == b.channel_number && a.event_id == b.event_id &&
           a.origin == b.origin && a.nsp == b.nsp && a.rooms == b.rooms && a.except == b.except &&
           a.event == b.event && a.body == b.body;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    using namespace sse::detail;
    std::string_view const bytes(reinterpret_cast<char const*>(data), size);
    redis_message m;
    auto const status = decode_redis_message(bytes, m);
    if (to_string(status) == nullptr) fail("a status without a description");
    if (status != decode_status::ok) return 0;

    // Re-encode: the same message, in at most as many bytes.
    std::string again = encode_redis_message(m.event_id, m.origin, m.nsp, m.rooms, m.except, m.body,
                                             m.version, m.numbered);
    set_redis_message_sequence(again, m.sequence);
    set_redis_message_channel_number(again, m.channel_number);
    if (again.size() > bytes.size()) fail("the re-encoding is longer than the input");
    redis_message m2;
    if (decode_redis_message(again, m2) != decode_status::ok) fail("a re-encoding did not decode");
    if (!same(m, m2)) fail("a re-encoding decoded to another message");

    // The body reaches browsers unchanged: exactly one event, named as decoded, nothing else.
    sse_test::event_stream_parser parser;
    parser.feed(m.body);
    if (parser.events().size() != 1) fail("the body is not exactly one event");
    auto const& ev = parser.events().front();
    if (ev.event != m.event || ev.has_id) fail("the body's event differs from the decoded one");
    if (!parser.retries().empty()) fail("the body carries a retry field");

    for (auto const& room : m.rooms)
        if (!redis_channel_matches(redis_channel("sse", m.nsp, room), "sse", m.nsp, room))
            fail("a room's channel does not match itself");
    if (!redis_channel_matches(redis_channel("sse", m.nsp, ""), "sse", m.nsp, ""))
        fail("the namespace channel does not match itself");
    return 0;
}
