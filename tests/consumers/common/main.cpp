// A consumer's whole program: include the library, make a server, emit into a namespace.
#include <sse/server.hpp>

#include <boost/asio/io_context.hpp>

int main() {
    boost::asio::io_context ioc;
    sse::server io{ioc.get_executor()};
    auto& ns = io.of("/x");
    ns.emit("hello", {{"from", "consumer"}});
    return 0;
}
