// sse/cluster.hpp - what the nodes of a deployment do together: find clients on every node,
// change their rooms or end their streams everywhere, tell the other nodes something, and
// count who watches a room on all of them (presence).
//
// The calls live on the namespace (`ns.in(room).fetch_clients(...)`, `ns.presence(room)`)
// and the server (`io.server_side_emit(...)`); this header holds what they take and give.
// With the in-memory adapter they act on this node alone; with a distributed adapter (Redis)
// on every node that shares it. Node messages travel at most once, like Redis pub/sub:
// requests are gathered with a timeout and never wait longer.
#ifndef SSE_CLUSTER_HPP
#define SSE_CLUSTER_HPP

#include <sse/options.hpp>

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace sse {

/// One client as `fetch_clients` reports it, from whichever node holds it.
struct client_summary {
    std::string id;                 ///< client::id()
    std::string node;               ///< the node_id of the node that holds it
    std::vector<std::string> rooms; ///< client::rooms(): its private room (its id) first
    std::string address;            ///< the peer's IP address
    std::string path;               ///< the request path, without the query (no tokens)
    std::string user_agent;         ///< its User-Agent header, at most 256 bytes
};

/// The answer to `fetch_clients`.
struct fetch_result {
    std::vector<client_summary> clients;
    /// Nodes alive when the request went out that did not answer within the timeout.
    std::vector<std::string> missing_nodes;
    /// A node held more matching clients than cluster_options::max_fetched_clients.
    bool truncated = false;
};

/// The state of the cluster-wide operations on this node (`server::cluster_stats`).
struct cluster_stats {
    std::size_t peers = 0;                ///< other nodes alive now
    std::uint64_t malformed_messages = 0; ///< node messages that were not valid (ignored)
    std::uint64_t handler_errors = 0;     ///< fetch or server-event handlers that threw
};

/// A message from another node's `server_side_emit`.
struct server_event {
    std::string name;    ///< the event name given to server_side_emit
    nlohmann::json data; ///< its data
    std::string node;    ///< the node_id of the node that sent it
};

} // namespace sse

#endif
