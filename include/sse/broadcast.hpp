// sse/broadcast.hpp - the chainable to()/except() target of an emit.
#ifndef SSE_BROADCAST_HPP
#define SSE_BROADCAST_HPP

#include <sse/cluster.hpp>
#include <sse/event.hpp>

#include <chrono>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sse {

class namespace_;

/** Who an emit is for: the union of the `to` rooms (everyone when none), minus every client
    of an `except` room. A client in several target rooms gets one copy.

    Made by `namespace_::to` / `except`; each call returns a new operator, so a partly built
    one can be kept and reused. Rooms with no clients are simply empty targets.
*/
class broadcast_operator {
public:
    broadcast_operator to(std::string_view room) const&;
    broadcast_operator to(std::string_view room) &&;
    broadcast_operator to(std::initializer_list<std::string_view> rooms) &&;
    broadcast_operator except(std::string_view room) const&;
    broadcast_operator except(std::string_view room) &&;
    broadcast_operator except(std::initializer_list<std::string_view> rooms) &&;

    /// Encodes the event once and sends it to the targeted clients on every node.
    /// @throws std::invalid_argument for a bad event name or data (`[sse.invalid_data]`: not
    /// UTF-8); std::length_error (`[sse.event_too_large]`) for an event larger than
    /// `options::max_buffered_bytes`. Nothing is sent then.
    void emit(std::string_view event, nlohmann::json const& data) const;
    void emit(std::string_view event, text data) const;

    /** Lists the targeted clients on every node: id, node, rooms and a handshake summary.
        `handler` runs once, on the server's executor (never inside this call), when every
        node alive answered or after `timeout` (default `options::cluster.request_timeout`);
        the nodes that did not answer are in `missing_nodes`. */
    void fetch_clients(std::function<void(fetch_result)> handler) const;
    void fetch_clients(std::function<void(fetch_result)> handler,
                       std::chrono::milliseconds timeout) const;

    /** The targeted clients, on every node, join `room` (leave it, or are disconnected).
        Applied here at once and sent to the other nodes, each applying it on receipt (a
        node that does not hear it, e.g. while Redis is away, does not apply it).
        @throws std::invalid_argument for a bad room name. */
    void join(std::string_view room) const;
    void leave(std::string_view room) const;
    void disconnect() const;

    std::vector<std::string> const& target_rooms() const noexcept { return rooms_; }
    std::vector<std::string> const& except_rooms() const noexcept { return except_; }

private:
    friend class namespace_;
    explicit broadcast_operator(std::weak_ptr<namespace_> ns) noexcept
        : ns_(std::move(ns)) {}
    void emit_encoded(std::shared_ptr<encoded_event> ev) const;

    std::weak_ptr<namespace_> ns_;
    std::vector<std::string> rooms_;
    std::vector<std::string> except_;
};

} // namespace sse

// The bodies need namespace_, whose header includes them at its foot.
#include <sse/namespace.hpp>

#endif
