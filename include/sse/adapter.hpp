// sse/adapter.hpp - where an emit goes: the adapter interface and the in-memory adapter.
#ifndef SSE_ADAPTER_HPP
#define SSE_ADAPTER_HPP

#include <sse/event.hpp>
#include <sse/options.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sse {

/** One emit as it leaves a namespace: who it is for and the shared encoded bytes.

    `rooms` empty means every client of the namespace. A client in any of `except` is skipped,
    whatever rooms it is also in (exclusion wins). A client id is also a room name.
*/
struct broadcast_packet {
    std::string_view nsp;                   ///< namespace name, e.g. "/football"
    const std::vector<std::string>& rooms;  ///< target rooms (union); empty = whole namespace
    const std::vector<std::string>& except; ///< rooms whose clients are skipped
    const event_ptr& event;                 ///< encoded once and stamped
    const history_options& history;         ///< the namespace's history bounds (0 events: off)
    bool sequenced = false; ///< a shared-history id, the same on every node (adapter::sequences)
};

/// One event read back from a shared history, for replay.
struct history_event {
    std::uint64_t id = 0;
    std::vector<std::string> rooms;
    std::vector<std::string> except;
    std::shared_ptr<encoded_event> event; ///< not stamped: the namespace stamps `id`
    std::string origin;                   ///< the node that emitted it (adapter::node_id)
};

/// The answer to `adapter::fetch_history`.
struct history_result {
    /// Set when the history cannot cover the gap (or the id is unknown): the client gets the
    /// reset event instead of a replay. The text is the reset event's `reason`.
    std::string reset_reason;
    std::vector<history_event> events; ///< after the given id, ascending
    /// The highest id the history held when it was read (0: not read, or unknown). A reset
    /// is stamped with at least it: the events up to it that this node never received
    /// cannot follow the reset in order, so the reset covers them.
    std::uint64_t head = 0;
};

/// Delivers a packet to the clients of this process (implemented by each namespace).
class local_delivery {
public:
    virtual void deliver(const broadcast_packet& packet) = 0;

protected:
    ~local_delivery() = default;
};

/** What an adapter may call back into: the local server.

    The server implements it. An adapter holds it weakly (`std::weak_ptr`) so that a message
    arriving after `io.close()` is simply dropped.
*/
class adapter_host {
public:
    virtual ~adapter_host() = default;

    /// Delivers an event that another node emitted to the matching clients of this process.
    /// The event must not be stamped yet: the local namespace stamps its own id on it.
    /// Unknown namespaces are ignored. Safe to call from any thread.
    virtual void deliver_remote(std::string_view nsp, const std::vector<std::string>& rooms,
                                const std::vector<std::string>& except,
                                std::shared_ptr<encoded_event> event) = 0;

    /// Delivers another node's event of a namespace with shared history (see
    /// adapter::sequences), with the id its origin assigned. The adapter hands each event over
    /// once. One that comes later than an event with a higher id this node already delivered
    /// cannot be sent in order: its recipients get the reset event instead (counted as late).
    virtual void deliver_sequenced(std::string_view nsp, const std::vector<std::string>& rooms,
                                   const std::vector<std::string>& except,
                                   std::shared_ptr<encoded_event> event, std::uint64_t id,
                                   std::string_view origin) = 0;

    /// The newest id delivered in `nsp` on this node (0 if none): where a broker gap starts.
    virtual std::uint64_t last_delivered(std::string_view nsp) const = 0;

    /// Tells the local clients of `rooms` (every client when `rooms` is empty) to refetch
    /// their state: the adapter lost events it cannot recover.
    virtual void reset_clients(std::string_view nsp, const std::vector<std::string>& rooms,
                               std::string_view reason) = 0;

    /// Every (namespace, room) with at least one local client, and every namespace name
    /// (as room ""), so that a newly installed adapter can subscribe to what is already live.
    virtual std::vector<std::pair<std::string, std::string>> local_interests() const = 0;

    /// A node message (adapter::send_to_nodes) from another node, or this node's own echo:
    /// the server checks and ignores what it should. Any thread; must not block.
    virtual void on_node_message(std::string_view /*payload*/) {}
};

/** Decides where an emit goes. Installed with `server::adapter(ptr)`; swappable at run time.

    @par Thread Safety
    Every member may be called from any thread. `broadcast` is called with the namespace's emit
    order held (one emit at a time per namespace, in id order), so it must not block; calls for
    one namespace never overlap. Interest calls are made under the namespace's registry lock and
    must not call back into the namespace.
*/
class adapter {
public:
    virtual ~adapter() = default;

    /// Called once when installed, before any other call.
    virtual void attach(std::weak_ptr<adapter_host> host) = 0;

    /// Routes one emit: deliver to this process's clients (`local.deliver(packet)`, right away)
    /// and, for a distributed adapter, to the other nodes.
    virtual void broadcast(const broadcast_packet& packet, local_delivery& local) = 0;

    /** Whether this adapter keeps the events of namespaces with history `h` for every node
        (a shared history, e.g. Redis). When true, such a namespace stamps ids that order
        across nodes (detail/hybrid_id.hpp), `broadcast` gets the packet with `sequenced` set,
        delivers it locally at once as usual, and the other nodes get it through
        `adapter_host::deliver_sequenced` with the same id. Replay then reads `fetch_history`.
    */
    virtual bool sequences(history_options const& /*h*/) const noexcept { return false; }

    /** How long a namespace with shared history holds events while two nodes emit to it at
        once, so that they reach its clients in id order (detail/merge_window.hpp): about the
        time an event takes from one node to another. 0: never hold. */
    virtual std::chrono::microseconds merge_window() const noexcept { return {}; }

    /** True when one origin's events to different rooms may reach this node out of order
        (e.g. sharded pub/sub: each room's channel on a connection of its own): the merge
        window then holds every event from another node, not only while two nodes emit. */
    virtual bool reorders_origins() const noexcept { return false; }

    /// This node's tag in the shared-history ids it assigns (detail/hybrid_id.hpp, 0..15):
    /// nodes with different tags never give out the same id.
    virtual unsigned id_tag() const noexcept { return 0; }

    /** Reads the events of `rooms` (and of namespace-wide broadcasts) after id `after` from the
        shared history. Calls `done` exactly once, from any thread, maybe before returning.
        Only called when `sequences` is true for the namespace.
    */
    virtual void fetch_history(std::string_view /*nsp*/, std::vector<std::string> /*rooms*/,
                               std::uint64_t /*after*/, history_options const& /*h*/,
                               std::function<void(history_result)> done) {
        done(history_result{"no_shared_history", {}});
    }

    /// A namespace now exists on this node (it will want its namespace-wide traffic).
    virtual void namespace_added(std::string_view /*nsp*/) {}
    /// `room` of `nsp` got its first local client.
    virtual void room_added(std::string_view /*nsp*/, std::string_view /*room*/) {}
    /// `room` of `nsp` lost its last local client.
    virtual void room_removed(std::string_view /*nsp*/, std::string_view /*room*/) {}

    /// This node's id, unique per adapter instance (used to drop a node's own echo).
    virtual std::string_view node_id() const noexcept = 0;

    /// Whether `send_to_nodes` reaches other nodes: the cluster-wide operations
    /// (sse/cluster.hpp) act on this node alone when false.
    virtual bool reaches_nodes() const noexcept { return false; }

    /** Sends a node message (a small text the servers exchange for the cluster-wide
        operations) to every other node when `to` is empty, else to node `to` only. At most
        once, like pub/sub: dropped while the broker is away. Any thread; must not block. */
    virtual void send_to_nodes(std::string_view /*to*/, std::string /*payload*/) {}

    /// Called when this adapter replaces `previous` on a server (`io.adapter(...)`), before
    /// `attach`: what `previous` still publishes (see redis_options::close_drain) comes from
    /// this node, and must be dropped as an echo, not delivered a second time.
    virtual void succeed(std::string_view /*previous_node_id*/) {}

    /// Releases connections and timers. After it, no call reaches the host. Idempotent.
    virtual void close() {}
};

/** The default adapter: every emit is delivered in this process, nothing else. */
class memory_adapter final : public adapter {
public:
    memory_adapter();
    void attach(std::weak_ptr<adapter_host>) override {}
    void broadcast(const broadcast_packet& packet, local_delivery& local) override {
        local.deliver(packet);
    }
    std::string_view node_id() const noexcept override { return node_id_; }

private:
    std::string node_id_;
};

} // namespace sse

#include <sse/impl/adapter.hpp>

#endif
