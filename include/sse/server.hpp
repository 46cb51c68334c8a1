// sse/server.hpp - the one include: basic_server and everything a user needs.
//
//   #include <sse/server.hpp>
//   sse::server io{ioc.get_executor()};
//   auto& football = io.of("/football");
//   auto client = football.connect(std::move(stream), std::move(req));
//   client->join("arsenal-vs-chelsea");
//   football.to("arsenal-vs-chelsea").emit("score_update", {{"homeScore", 2}});
#ifndef SSE_SERVER_HPP
#define SSE_SERVER_HPP

#include <sse/adapter.hpp>
#include <sse/broadcast.hpp>
#include <sse/client.hpp>
#include <sse/cluster.hpp>
#include <sse/cors.hpp>
#include <sse/detail/server_core.hpp>
#include <sse/error.hpp>
#include <sse/event.hpp>
#include <sse/handshake.hpp>
#include <sse/middleware.hpp>
#include <sse/namespace.hpp>
#include <sse/options.hpp>
#include <sse/typed.hpp>

#include <boost/asio/any_io_executor.hpp>

#include <map>
#include <memory>
#include <string_view>

namespace sse {

/** An SSE server: owns namespaces and the adapter that routes their emits.

    It does not listen: the application's own Beast server reads requests and hands the
    ones it wants to stream to `of(name).connect(stream, req)`.

    @par Thread Safety
    Every member function is safe to call from any thread. Socket work runs on each client's
    strand, on whatever threads run the streams' io_context.

    @tparam Executor the executor of the server's own timer (heartbeats).
*/
template <class Executor = net::any_io_executor>
class basic_server {
public:
    using executor_type = Executor;

    explicit basic_server(Executor const& ex, options opts = {})
        : ex_(ex)
        , core_(std::make_shared<detail::server_core>(net::any_io_executor(ex), std::move(opts))) {
        core_->start();
    }

    basic_server(basic_server const&) = delete;
    basic_server& operator=(basic_server const&) = delete;

    /// Closes the server (see `close`). Streams still in flight end safely afterwards.
    ~basic_server() { core_->close(); }

    /// The namespace called `name` (it starts with '/'), created on first use.
    /// @throws std::invalid_argument for a bad name.
    namespace_& of(std::string_view name) { return core_->of(name); }

    /// A view of namespace `name` whose emits are checked at compile time against `Events`.
    template <class Events>
    typed_namespace<Events>& of(std::string_view name) {
        return core_->template view<typed_namespace<Events>>(name);
    }

    /// Installs `a` as the adapter of every namespace (now and later); the previous one is
    /// closed. Delivery goes on across the swap.
    void adapter(std::shared_ptr<sse::adapter> a) { core_->set_adapter(std::move(a)); }
    std::shared_ptr<sse::adapter> adapter() const { return core_->get_adapter(); }

    /// The counters of every namespace created so far, by name (see `sse/metrics.hpp` for
    /// the Prometheus text of them).
    std::map<std::string, namespace_stats, std::less<>> stats() const { return core_->stats(); }

    /** Sends `event` with `data` to the servers of every other node (not this one), whose
        `on_server_event` handlers get it. At most once: a node that does not hear it (Redis
        away) does not get it later. With the in-memory adapter it goes nowhere.
        @throws std::invalid_argument for a bad event name, or data that is not valid UTF-8. */
    void server_side_emit(std::string_view event, nlohmann::json data) {
        validate_event_name(event);
        try {
            (void)data.dump();
        } catch (nlohmann::json::exception const& e) {
            throw std::invalid_argument(std::string("[sse.invalid_data] ") + e.what());
        }
        core_->plane().server_emit(std::string(event), std::move(data));
    }

    /// Runs `handler` for each other node's `server_side_emit`, on the server's executor.
    /// A handler that throws is caught (and the next one still runs).
    void on_server_event(std::function<void(server_event const&)> handler) {
        core_->plane().on_server_event(std::move(handler));
    }

    /// The other nodes alive now (heard from within options::cluster.node_ttl), by node id.
    std::vector<std::string> peer_nodes() const { return core_->plane().peers(); }

    /// Counters of the cluster-wide operations on this node.
    sse::cluster_stats cluster_stats() const {
        auto const& p = core_->plane();
        return {p.peers().size(), p.malformed(), p.handler_errors()};
    }

    /// Names of the namespaces created so far.
    std::vector<std::string> namespaces() const { return core_->namespace_names(); }

    /** Disconnects every client (each first gets a `retry:` hint drawn from
        `[close_retry_min, close_retry_max]`), stops heartbeats, closes the adapter.
        Later connects get an empty `200 text/event-stream` with such a hint and are closed
        (a 503 would make a browser's EventSource stop for good); emits become no-ops.
        Idempotent.
    */
    void close() { core_->close(); }

    options const& get_options() const noexcept { return core_->opts(); }
    executor_type get_executor() const noexcept { return ex_; }

private:
    Executor ex_;
    std::shared_ptr<detail::server_core> core_;
};

/// The server for the common case: any io_context executor.
using server = basic_server<>;

} // namespace sse

#endif
