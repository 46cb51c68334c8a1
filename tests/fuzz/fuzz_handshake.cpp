// libFuzzer target: handshake parsing. Any bytes are offered to Beast's request parser (with
// its default limits, as an app would read them); whatever it accepts becomes an
// sse::handshake, whose lookups, query decoding and Last-Event-ID checks must never crash
// nor return something outside the request.
#include <sse/client.hpp>
#include <sse/handshake.hpp>

#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* bytes, std::size_t size) {
    namespace http = boost::beast::http;
    http::request_parser<http::string_body> parser;
    parser.body_limit(64 * 1024);
    boost::beast::error_code ec;
    parser.put(boost::asio::buffer(bytes, size), ec);
    if (!parser.is_header_done()) return 0;

    auto const& req = parser.get();
    sse::handshake hs(req.base(), {});
    for (auto const& [name, value] : hs.headers()) {
        if (hs.header(name).data() == nullptr && !value.empty()) std::abort();
        for (char c : name)
            if (c >= 'A' && c <= 'Z') std::abort(); // names are lower-cased
    }
    for (auto const& [key, value] : hs.query_params())
        if (!hs.has_query(key)) std::abort();
    if (hs.target().size() < hs.path().size()) std::abort();
    if (hs.target().substr(0, hs.path().size()) != hs.path()) std::abort();

    auto last = hs.header("last-event-id");
    if (sse::detail::usable_last_event_id(last)) {
        if (last.size() > sse::max_name_length) std::abort();
        (void)sse::detail::parse_event_id(last);
    }
    (void)sse::detail::percent_decode(hs.target(), true);
    return 0;
}
