// Every public header in one translation unit, compiled by clang with -Wall -Wextra -Werror
// (ctest clang_public_headers): users build with clang too, and clang warns where GCC does not
// (e.g. deleting a polymorphic class without a virtual destructor through shared_ptr).
#include <sse/adapter.hpp>
#include <sse/broadcast.hpp>
#include <sse/client.hpp>
#include <sse/cors.hpp>
#include <sse/error.hpp>
#include <sse/event.hpp>
#include <sse/handshake.hpp>
#include <sse/latency_histogram.hpp>
#include <sse/metrics.hpp>
#include <sse/middleware.hpp>
#include <sse/namespace.hpp>
#include <sse/options.hpp>
#include <sse/redis_adapter.hpp>
#include <sse/redis_metrics.hpp>
#include <sse/server.hpp>
#include <sse/tapped_event.hpp>
#include <sse/typed.hpp>
#include <sse/version.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>

// Instantiates what an app instantiates: a server, a namespace, a connect over a tcp_stream.
int main() {
    boost::asio::io_context ioc;
    sse::server io{ioc.get_executor()};
    auto& ns = io.of("/s");
    ns.to("room").emit("e", nlohmann::json{{"n", 1}});
    boost::beast::tcp_stream stream(ioc);
    boost::beast::http::request<boost::beast::http::empty_body> req;
    (void)ns.connect(std::move(stream), std::move(req));
    return sse::to_prometheus(sse::collect(io)).empty() ? 1 : 0;
}
