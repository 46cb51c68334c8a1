// sse/impl/namespace_cluster.hpp - the namespace's side of the cluster-wide operations
// (sse/cluster.hpp): what it answers about its clients, and what it applies to them. The
// plane (detail/node_plane.hpp) carries requests to the other nodes and back.
#ifndef SSE_IMPL_NAMESPACE_CLUSTER_HPP
#define SSE_IMPL_NAMESPACE_CLUSTER_HPP

#include <algorithm>

namespace sse {

inline broadcast_operator namespace_::in(std::string_view room) {
    return to(room);
}

inline std::uint64_t namespace_::presence(std::string_view room) const {
    std::uint64_t here = 0;
    {
        std::lock_guard<std::mutex> lock(log_mutex_);
        if (auto const* r = core_.clients().find_room(std::string(room)))
            here = r->members().size();
    }
    auto plane = plane_.lock();
    return here + (plane ? plane->remote_presence(name_, room) : 0);
}

inline void namespace_::fetch_clients(std::function<void(fetch_result)> handler) {
    broadcast_operator(weak_from_this()).fetch_clients(std::move(handler));
}

inline std::vector<client_ptr> namespace_::matching(std::vector<std::string> const& rooms,
                                                    std::vector<std::string> const& except) const {
    std::vector<client_ptr> out;
    std::lock_guard<std::mutex> lock(log_mutex_);
    // A client id names that client (its private room), as in an emit. (The walk changes
    // nothing; it is only not declared const.)
    const_cast<namespace_*>(this)->for_each_recipient(
        rooms, except, true, [&](client& c) { out.push_back(c.shared_from_this()); });
    return out;
}

inline void namespace_::fetch(std::vector<std::string> rooms, std::vector<std::string> except,
                              std::chrono::milliseconds timeout,
                              std::function<void(fetch_result)> handler) {
    detail::node_message target;
    target.nsp = name_;
    target.rooms = std::move(rooms);
    target.except = std::move(except);
    if (auto plane = plane_.lock())
        return plane->fetch(std::move(target), timeout, std::move(handler));
    // The server is gone: this node's clients, as they are.
    fetch_result r;
    r.clients = summaries(target, opts_.cluster.max_fetched_clients, r.truncated);
    handler(std::move(r));
}

inline void namespace_::room_operation(detail::node_message::kind k,
                                       broadcast_operator const& target, std::string_view room) {
    detail::node_message op;
    op.type = k;
    op.nsp = name_;
    op.rooms = target.rooms_;
    op.except = target.except_;
    op.room = std::string(room);
    apply_room_operation(op);
    if (auto plane = plane_.lock()) plane->spread(std::move(op));
}

inline std::vector<client_summary> namespace_::summaries(detail::node_message const& target,
                                                         std::size_t max, bool& truncated) const {
    auto clients = matching(target.rooms, target.except);
    truncated = clients.size() > max;
    if (truncated) clients.resize(max);
    std::vector<client_summary> out;
    out.reserve(clients.size());
    for (auto const& c : clients) {
        client_summary s;
        s.id = c->id();
        s.rooms = c->rooms();
        auto const& hs = c->handshake();
        boost::system::error_code ec;
        s.address = hs.remote_endpoint().address().to_string(ec);
        s.path = std::string(hs.path());
        s.user_agent = std::string(hs.header("user-agent").substr(0, 256));
        out.push_back(std::move(s));
    }
    return out;
}

inline void namespace_::apply_room_operation(detail::node_message const& op) const {
    using kind = detail::node_message::kind;
    for (auto const& c : matching(op.rooms, op.except)) {
        try {
            if (op.type == kind::join) c->join(op.room);
            if (op.type == kind::leave) c->leave(op.room);
            if (op.type == kind::disconnect) c->disconnect();
        } catch (std::exception const&) {
            // Past options::max_rooms_per_client: this client stays as it is; the others go on.
        }
    }
}

inline void namespace_::presence_counts(std::vector<detail::presence_entry>& out) const {
    std::lock_guard<std::mutex> lock(log_mutex_);
    core_.clients().for_each_room([&](detail::room const& r) {
        if (!r.members().empty())
            out.push_back({name_, r.name(), static_cast<std::uint32_t>(r.members().size())});
    });
}

// ---- broadcast_operator's cluster-wide operations ------------------------------------------

inline void broadcast_operator::fetch_clients(std::function<void(fetch_result)> handler) const {
    auto ns = ns_.lock();
    if (!ns) return handler(fetch_result{});
    fetch_clients(std::move(handler), ns->opts_.cluster.request_timeout);
}

inline void broadcast_operator::fetch_clients(std::function<void(fetch_result)> handler,
                                              std::chrono::milliseconds timeout) const {
    auto ns = ns_.lock();
    if (!ns) return handler(fetch_result{});
    ns->fetch(rooms_, except_, timeout, std::move(handler));
}

inline void broadcast_operator::join(std::string_view room) const {
    validate_room_name(room);
    if (auto ns = ns_.lock()) ns->room_operation(detail::node_message::kind::join, *this, room);
}

inline void broadcast_operator::leave(std::string_view room) const {
    validate_room_name(room);
    if (auto ns = ns_.lock()) ns->room_operation(detail::node_message::kind::leave, *this, room);
}

inline void broadcast_operator::disconnect() const {
    if (auto ns = ns_.lock()) ns->room_operation(detail::node_message::kind::disconnect, *this, {});
}

} // namespace sse

#endif
