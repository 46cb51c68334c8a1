// sse/detail/node_plane.hpp - the server's side of the cluster-wide operations: announces
// this node and its presence counts, answers and gathers fetch_clients, spreads room
// operations and server-side events, all through the adapter's node messages.
//
// The plane knows no namespace: what it needs of this node's clients it asks its host (the
// server). Everything it receives is handled on its strand; requests never wait past their
// timeout, and a node that stops announcing drops out after its TTL.
#ifndef SSE_DETAIL_NODE_PLANE_HPP
#define SSE_DETAIL_NODE_PLANE_HPP

#include <sse/adapter.hpp>
#include <sse/cluster.hpp>
#include <sse/detail/node_directory.hpp>
#include <sse/detail/node_message.hpp>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace sse::detail {

/// What the plane needs of the local server.
class node_plane_host {
public:
    virtual std::shared_ptr<adapter> current_adapter() const = 0;
    /// This node's rooms with clients, and how many each has.
    virtual std::vector<presence_entry> local_presence() const = 0;
    /// This node's clients matching a target (at most `max`; `truncated` set when cut).
    virtual std::vector<client_summary> local_clients(node_message const& target, std::size_t max,
                                                      bool& truncated) const = 0;
    /// Applies a join, leave or disconnect to this node's matching clients.
    virtual void apply_room_operation(node_message const& op) = 0;

protected:
    ~node_plane_host() = default;
};

class node_plane : public std::enable_shared_from_this<node_plane> {
public:
    using clock = std::chrono::steady_clock;
    using fetch_handler = std::function<void(fetch_result)>;

    node_plane(net::any_io_executor const& ex, cluster_options opts,
               std::weak_ptr<node_plane_host> host)
        : opts_(opts)
        , strand_(net::make_strand(ex))
        , timer_(strand_)
        , host_(std::move(host)) {}

    void start() {
        net::post(strand_, [self = shared_from_this()] { self->arm(); });
    }

    /// Says goodbye, stops announcing, and completes every pending request with what it has.
    void close() {
        if (closed_.exchange(true)) return;
        if (auto a = adapter_if_distributed()) {
            node_message bye;
            bye.type = node_message::kind::bye;
            bye.from = std::string(a->node_id());
            a->send_to_nodes({}, encode_node_message(bye));
        }
        net::post(strand_, [self = shared_from_this()] {
            self->timer_.cancel();
            std::vector<std::uint64_t> ids;
            {
                std::lock_guard<std::mutex> lock(self->mutex_);
                for (auto const& kv : self->pending_)
                    ids.push_back(kv.first);
            }
            for (auto id : ids)
                self->finish(id);
        });
    }

    // ---- any thread ----------------------------------------------------------------------

    /// Gathers the clients matching `target` (nsp, rooms, except) on every node; `handler`
    /// runs once on the plane's strand, after every node alive answered or `timeout`.
    void fetch(node_message target, std::chrono::milliseconds timeout, fetch_handler handler) {
        net::post(strand_, [self = shared_from_this(), target = std::move(target), timeout,
                            handler = std::move(handler)]() mutable {
            self->start_fetch(std::move(target), timeout, std::move(handler));
        });
    }

    /// Sends `op` to every other node, stamped with this node's id: a join, leave or
    /// disconnect (already applied here), or a server_side_emit.
    void spread(node_message op) {
        if (auto a = adapter_if_distributed()) {
            op.from = std::string(a->node_id());
            a->send_to_nodes({}, encode_node_message(op));
        }
    }

    /// server_side_emit: to every other node (not this one).
    void server_emit(std::string event, nlohmann::json data) {
        node_message m;
        m.type = node_message::kind::emit;
        m.event = std::move(event);
        m.data = std::move(data);
        spread(std::move(m));
    }

    void on_server_event(std::function<void(server_event const&)> handler) {
        std::lock_guard<std::mutex> lock(mutex_);
        auto next = std::make_shared<std::vector<std::function<void(server_event const&)>>>(
            server_event_handlers_ ? *server_event_handlers_
                                   : std::vector<std::function<void(server_event const&)>>{});
        next->push_back(std::move(handler));
        server_event_handlers_ = std::move(next);
    }

    /// A node message the adapter received (any thread).
    void received(std::string_view payload) {
        net::post(strand_, [self = shared_from_this(), bytes = std::string(payload)] {
            self->handle(bytes);
        });
    }

    /// Clients of `room` in `nsp` on the other nodes, as they last announced.
    std::uint64_t remote_presence(std::string_view nsp, std::string_view room) const {
        std::lock_guard<std::mutex> lock(mutex_);
        return directory_.presence(nsp, room);
    }

    /// The other nodes alive now.
    std::vector<std::string> peers() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return directory_.alive(clock::now());
    }

    std::uint64_t malformed() const noexcept { return malformed_.load(); }
    std::uint64_t handler_errors() const noexcept { return handler_errors_.load(); }

private:
    struct pending_fetch {
        std::set<std::string> expected; // alive when it went out, not answered yet
        std::set<std::string> answered; // (a node that joined since may answer too)
        fetch_result result;
        fetch_handler handler;
        std::shared_ptr<net::steady_timer> timer;
    };

    std::shared_ptr<adapter> adapter_if_distributed() const {
        auto host = host_.lock();
        auto a = host ? host->current_adapter() : nullptr;
        return a && a->reaches_nodes() ? a : nullptr;
    }

    // ---- strand ---------------------------------------------------------------------------

    void arm() {
        if (closed_) return;
        timer_.expires_after(opts_.announce_interval);
        timer_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
            auto self = weak.lock();
            if (ec || !self) return;
            self->announce();
            self->arm();
        });
    }

    void announce() {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            directory_.expire(clock::now());
        }
        auto host = host_.lock();
        auto a = adapter_if_distributed();
        if (!host || !a) return;
        if (a->node_id() != announced_as_) { // a new adapter: a new node to the others
            announced_as_ = std::string(a->node_id());
            announcer_ = presence_announcer{};
        }
        node_message hello;
        hello.type = node_message::kind::hello;
        hello.from = announced_as_;
        hello.ttl = opts_.node_ttl;
        hello.presence = announcer_.next(host->local_presence(), hello.full);
        a->send_to_nodes({}, encode_node_message(hello));
    }

    void start_fetch(node_message target, std::chrono::milliseconds timeout,
                     fetch_handler handler) {
        auto host = host_.lock();
        auto a = host ? host->current_adapter() : nullptr;
        pending_fetch p;
        p.handler = std::move(handler);
        if (host) {
            p.result.clients =
                host->local_clients(target, opts_.max_fetched_clients, p.result.truncated);
            for (auto& c : p.result.clients)
                c.node = a ? std::string(a->node_id()) : std::string();
        }
        if (closed_ || !a || !a->reaches_nodes()) return complete(std::move(p));
        auto const id = ++next_request_;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            for (auto& node : directory_.alive(clock::now()))
                if (node != a->node_id()) p.expected.insert(std::move(node));
        }
        if (p.expected.empty()) return complete(std::move(p));
        target.type = node_message::kind::fetch;
        target.from = std::string(a->node_id());
        target.request = id;
        p.timer = std::make_shared<net::steady_timer>(strand_);
        p.timer->expires_after(timeout);
        p.timer->async_wait([weak = weak_from_this(), id](boost::system::error_code ec) {
            auto self = weak.lock();
            if (!ec && self) self->finish(id);
        });
        {
            std::lock_guard<std::mutex> lock(mutex_);
            pending_.emplace(id, std::move(p));
        }
        a->send_to_nodes({}, encode_node_message(target));
    }

    // Completes request `id` with what it has: the nodes that did not answer are missing.
    void finish(std::uint64_t id) {
        pending_fetch p;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            auto it = pending_.find(id);
            if (it == pending_.end()) return;
            p = std::move(it->second);
            pending_.erase(it);
        }
        if (p.timer) p.timer->cancel();
        p.result.missing_nodes.insert(p.result.missing_nodes.end(), p.expected.begin(),
                                      p.expected.end());
        complete(std::move(p));
    }

    void complete(pending_fetch p) {
        if (!p.handler) return;
        try {
            p.handler(std::move(p.result));
        } catch (...) {
            handler_errors_.fetch_add(1, std::memory_order_relaxed);
        }
    }

    void handle(std::string const& bytes) {
        auto m = decode_node_message(bytes);
        if (!m) {
            malformed_.fetch_add(1, std::memory_order_relaxed);
            return;
        }
        auto host = host_.lock();
        auto a = host ? host->current_adapter() : nullptr;
        if (!host || !a || m->from == a->node_id()) return; // our own, back from Redis
        using kind = node_message::kind;
        switch (m->type) {
        case kind::hello: {
            std::lock_guard<std::mutex> lock(mutex_);
            if (directory_.heard(m->from, clock::now(), m->ttl))
                directory_.report(m->from, m->full, m->presence);
            return;
        }
        case kind::bye: {
            {
                std::lock_guard<std::mutex> lock(mutex_);
                directory_.forget(m->from);
            }
            return answered(m->from, 0, nullptr);
        }
        case kind::fetch: {
            node_message reply;
            reply.type = kind::clients;
            reply.from = std::string(a->node_id());
            reply.request = m->request;
            reply.clients = host->local_clients(*m, opts_.max_fetched_clients, reply.truncated);
            a->send_to_nodes(m->from, encode_node_message(reply));
            return;
        }
        case kind::clients:
            return answered(m->from, m->request, &*m);
        case kind::join:
        case kind::leave:
        case kind::disconnect:
            return host->apply_room_operation(*m);
        case kind::emit: {
            std::shared_ptr<std::vector<std::function<void(server_event const&)>> const> handlers;
            {
                std::lock_guard<std::mutex> lock(mutex_);
                handlers = server_event_handlers_;
            }
            if (!handlers) return;
            server_event e{std::move(m->event), std::move(m->data), std::move(m->from)};
            for (auto const& h : *handlers) {
                try {
                    h(e);
                } catch (...) {
                    handler_errors_.fetch_add(1, std::memory_order_relaxed);
                }
            }
            return;
        }
        }
    }

    // Node `from` answered request `id` (`m` null: it left, which answers every request).
    void answered(std::string const& from, std::uint64_t id, node_message* m) {
        std::vector<std::uint64_t> done;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            for (auto& [rid, p] : pending_) {
                if (!m) { // it left without answering: missing, and no longer waited for
                    if (p.expected.erase(from) != 0) p.result.missing_nodes.push_back(from);
                } else {
                    if (rid != id || !p.answered.insert(from).second) continue; // a copy
                    p.expected.erase(from);
                    for (auto& c : m->clients) {
                        c.node = from;
                        p.result.clients.push_back(std::move(c));
                    }
                    p.result.truncated |= m->truncated;
                }
                if (p.expected.empty()) done.push_back(rid);
            }
        }
        for (auto rid : done)
            finish(rid);
    }

    cluster_options const opts_;
    net::strand<net::any_io_executor> strand_;
    net::steady_timer timer_; // announces
    std::weak_ptr<node_plane_host> host_;
    std::atomic<bool> closed_{false};
    std::atomic<std::uint64_t> malformed_{0};
    std::atomic<std::uint64_t> handler_errors_{0};
    // strand only
    std::string announced_as_;
    presence_announcer announcer_;
    std::uint64_t next_request_ = 0;
    // under mutex_
    mutable std::mutex mutex_;
    node_directory directory_;
    std::map<std::uint64_t, pending_fetch> pending_;
    std::shared_ptr<std::vector<std::function<void(server_event const&)>> const>
        server_event_handlers_;
};

} // namespace sse::detail

#endif
