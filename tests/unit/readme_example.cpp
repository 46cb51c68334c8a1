// The README's example, compiled and run: if the README's API drifts, this stops building.
// Keep the two in sync (the block between the markers is the README's code, verbatim).
#include <sse/server.hpp>

#include <support/catch.hpp>

#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/string_body.hpp>

// The README shows this code verbatim: keep clang-format away from it.
// clang-format off
namespace readme {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

inline bool valid(std::string_view authorization) { return authorization == "Bearer secret"; }

struct score_update {
    static constexpr char name[] = "score_update";
    std::string match;
    int homeScore, awayScore, minute;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(score_update, match, homeScore, awayScore, minute)
struct red_card {
    static constexpr char name[] = "red_card";
    std::string match, player, team;
    int minute;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(red_card, match, player, team, minute)
struct match_end {
    static constexpr char name[] = "match_end";
    std::string match, finalScore;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(match_end, match, finalScore)

// Called from the app's request handler once it has read `req` from `stream`.
void on_stream_request(sse::namespace_& football, beast::tcp_stream stream,
                       http::request<http::string_body> req, std::string const& match_id) {
    // [readme:connect]
    auto client = football.connect(std::move(stream), std::move(req));
    client->join(match_id);
    nlohmann::json json = {{"note", "hi"}};
    client->emit("personal", json);  client->disconnect();
    // [/readme:connect]
}

std::uint64_t example(net::io_context& ioc) {
    // [readme:example]
    sse::options opts;
    opts.heartbeat_interval = std::chrono::seconds(30); // 0 disables
    opts.cors = sse::cors_options{"https://your-frontend.com", /*credentials=*/true};
    sse::server io{ioc.get_executor(), opts};

    auto& football = io.of("/football"); // same name -> same namespace
    football.use([](sse::client& c, sse::next next) {
        if (!valid(c.handshake().header("authorization")))
            return next(sse::reject(401, "Unauthorized"));
        next(); // may also be called later, from any thread
    });
    football.on_connection([](sse::client_ptr c) {
        c->on_disconnect([id = c->id()] { /* ... */ });
    });

    nlohmann::json json = {{"flash", true}};
    football.to("arsenal-vs-chelsea").emit("score_update", {{"homeScore", 2}, {"awayScore", 1}, {"minute", 67}});
    football.emit("announcement", {{"message", "All VAR reviews suspended today"}});
    football.to({"a", "b"}).except("muted").emit("flash", json); // to().to() chains too
    football.client_count(); football.clients(); football.rooms(); football.room("a");

    // Typed events: the compiler checks event names and payloads.
    using football_events = sse::events<score_update, red_card, match_end>;
    auto& typed = io.of<football_events>("/football");
    typed.to("arsenal-vs-chelsea").emit(score_update{"Arsenal vs Chelsea", 2, 1, 67});

    auto const emitted = football.stats().events_emitted;
    io.close(); // disconnects everyone, stops timers, closes the adapter
    // [/readme:example]
    return emitted;
}
} // namespace readme
// clang-format on

TEST_CASE("README example compiles and runs") {
    boost::asio::io_context ioc;
    // Four emits pass through the namespace (no client is connected, so none is delivered).
    CHECK(readme::example(ioc) == 4);
    ioc.run_for(std::chrono::milliseconds(50));
    (void)&readme::on_stream_request;
}
