// sse/detail/node_message.hpp - the messages the nodes' servers send each other (announce,
// presence, fetch_clients and its answers, room operations, server-side events), as JSON.
//
// They are rare and small next to emits, so JSON costs nothing that matters and stays
// readable in `redis-cli SUBSCRIBE`. Decoding takes any bytes a peer (or a stranger on the
// channel) sends: it checks every field and answers nullopt, never throws (bad_alloc aside).
#ifndef SSE_DETAIL_NODE_MESSAGE_HPP
#define SSE_DETAIL_NODE_MESSAGE_HPP

#include <sse/cluster.hpp>
#include <sse/event.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sse::detail {

/// One room's client count on the sending node (0: it has none any more).
struct presence_entry {
    std::string nsp;
    std::string room;
    std::uint32_t count = 0;
};

struct node_message {
    enum class kind {
        hello,      ///< "I am alive for `ttl`", with presence (all rooms when `full`)
        bye,        ///< the node is closing: forget it now
        fetch,      ///< list your clients of nsp/rooms/except to node `from`, as `request`
        clients,    ///< the answer to `request`
        join,       ///< the clients of nsp/rooms/except join `room`
        leave,      ///< ... leave `room`
        disconnect, ///< ... are disconnected
        emit        ///< server_side_emit: `event`, `data`
    };
    kind type = kind::hello;
    std::string from; ///< the sender's node id
    // hello
    std::chrono::milliseconds ttl{0};
    bool full = false;
    std::vector<presence_entry> presence;
    // fetch / clients
    std::uint64_t request = 0;
    std::vector<client_summary> clients;
    bool truncated = false;
    // fetch / join / leave / disconnect: the target, as a broadcast_operator has it
    std::string nsp;
    std::vector<std::string> rooms;
    std::vector<std::string> except;
    std::string room; ///< join / leave
    // emit
    std::string event;
    nlohmann::json data;
};

namespace node_message_impl {

inline char const* const kind_names[] = {"hello", "bye",   "fetch",      "clients",
                                         "join",  "leave", "disconnect", "emit"};

// Whether `check` (one of sse's validators, which throw) accepts `value`.
inline bool accepted(void (*check)(std::string_view), std::string_view value) noexcept {
    try {
        check(value);
        return true;
    } catch (...) {
        return false;
    }
}

inline bool valid_room(std::string_view room) noexcept {
    return accepted(&validate_room_name, room);
}

inline bool valid_event(std::string_view name) noexcept {
    return accepted(&validate_event_name, name);
}

inline bool valid_node(std::string_view id) noexcept {
    return !id.empty() && id.size() <= 128;
}

// A string of at most `max` bytes, or nothing.
inline std::optional<std::string> text_at(nlohmann::json const& j, char const* key,
                                          std::size_t max) {
    auto it = j.find(key);
    if (it == j.end() || !it->is_string()) return std::nullopt;
    auto const& s = it->get_ref<std::string const&>();
    if (s.size() > max) return std::nullopt;
    return s;
}

// A list of valid room names (missing: empty).
inline bool rooms_at(nlohmann::json const& j, char const* key, std::vector<std::string>& out) {
    auto it = j.find(key);
    if (it == j.end()) return true;
    if (!it->is_array() || it->size() > 4096) return false;
    for (auto const& r : *it) {
        if (!r.is_string() || !valid_room(r.get_ref<std::string const&>())) return false;
        out.push_back(r.get<std::string>());
    }
    return true;
}

inline bool summaries_at(nlohmann::json const& j, std::vector<client_summary>& out) {
    auto it = j.find("clients");
    if (it == j.end() || !it->is_array()) return false;
    out.reserve(it->size());
    for (auto const& c : *it) {
        if (!c.is_object()) return false;
        client_summary s;
        auto id = text_at(c, "id", 64);
        auto address = text_at(c, "address", 64);
        auto path = text_at(c, "path", 8192);
        auto agent = text_at(c, "userAgent", 256);
        if (!id || !address || !path || !agent || !rooms_at(c, "rooms", s.rooms)) return false;
        s.id = std::move(*id);
        s.address = std::move(*address);
        s.path = std::move(*path);
        s.user_agent = std::move(*agent);
        out.push_back(std::move(s));
    }
    return true;
}

inline bool presence_at(nlohmann::json const& j, std::vector<presence_entry>& out) {
    auto it = j.find("presence");
    if (it == j.end()) return true;
    if (!it->is_object()) return false;
    for (auto const& [nsp, rooms] : it->items()) {
        if (nsp.empty() || nsp.front() != '/' || !rooms.is_object()) return false;
        for (auto const& [room, count] : rooms.items()) {
            if (!valid_room(room) || !count.is_number_unsigned() ||
                count.get<std::uint64_t>() > 0xffffffffu)
                return false;
            out.push_back({nsp, room, static_cast<std::uint32_t>(count.get<std::uint64_t>())});
        }
    }
    return true;
}

inline nlohmann::json room_list(std::vector<std::string> const& rooms) {
    auto out = nlohmann::json::array();
    for (auto const& r : rooms)
        out.push_back(r);
    return out;
}

} // namespace node_message_impl

/// The JSON text of `m`.
inline std::string encode_node_message(node_message const& m) {
    using namespace node_message_impl;
    using kind = node_message::kind;
    nlohmann::json j = {{"v", 1}, {"t", kind_names[static_cast<int>(m.type)]}, {"from", m.from}};
    switch (m.type) {
    case kind::hello: {
        j["ttl"] = m.ttl.count();
        j["full"] = m.full;
        auto presence = nlohmann::json::object();
        for (auto const& e : m.presence)
            presence[e.nsp][e.room] = e.count;
        j["presence"] = std::move(presence);
        break;
    }
    case kind::bye:
        break;
    case kind::clients: {
        j["request"] = m.request;
        j["truncated"] = m.truncated;
        auto list = nlohmann::json::array();
        for (auto const& c : m.clients)
            list.push_back({{"id", c.id},
                            {"rooms", room_list(c.rooms)},
                            {"address", c.address},
                            {"path", c.path},
                            {"userAgent", c.user_agent}});
        j["clients"] = std::move(list);
        break;
    }
    case kind::fetch:
        j["request"] = m.request;
        [[fallthrough]];
    case kind::join:
    case kind::leave:
    case kind::disconnect:
        j["nsp"] = m.nsp;
        j["rooms"] = room_list(m.rooms);
        j["except"] = room_list(m.except);
        if (m.type == kind::join || m.type == kind::leave) j["room"] = m.room;
        break;
    case kind::emit:
        j["event"] = m.event;
        j["data"] = m.data;
        break;
    }
    // Replace, not throw, should a peer's text ever hold invalid UTF-8 (checked on decode).
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

/// Decodes a node message; nullopt for anything that is not a valid one.
inline std::optional<node_message> decode_node_message(std::string_view bytes) {
    using namespace node_message_impl;
    using kind = node_message::kind;
    auto j = nlohmann::json::parse(bytes.begin(), bytes.end(), nullptr, false);
    if (j.is_discarded() || !j.is_object()) return std::nullopt;
    auto v = j.find("v");
    if (v == j.end() || !v->is_number_unsigned() || v->get<std::uint64_t>() != 1)
        return std::nullopt;
    auto t = text_at(j, "t", 16);
    auto from = text_at(j, "from", 128);
    if (!t || !from || !valid_node(*from)) return std::nullopt;
    node_message m;
    m.from = std::move(*from);
    int k = -1;
    for (int i = 0; i < 8; ++i)
        if (*t == kind_names[i]) k = i;
    if (k < 0) return std::nullopt;
    m.type = static_cast<kind>(k);
    auto request = [&]() -> bool {
        auto r = j.find("request");
        if (r == j.end() || !r->is_number_unsigned()) return false;
        m.request = r->get<std::uint64_t>();
        return true;
    };
    switch (m.type) {
    case kind::hello: {
        auto ttl = j.find("ttl");
        if (ttl == j.end() || !ttl->is_number_unsigned() || ttl->get<std::uint64_t>() == 0 ||
            ttl->get<std::uint64_t>() > 3'600'000)
            return std::nullopt;
        m.ttl = std::chrono::milliseconds(ttl->get<std::int64_t>());
        auto full = j.find("full");
        m.full = full != j.end() && full->is_boolean() && full->get<bool>();
        if (!presence_at(j, m.presence)) return std::nullopt;
        break;
    }
    case kind::bye:
        break;
    case kind::clients: {
        if (!request() || !summaries_at(j, m.clients)) return std::nullopt;
        auto tr = j.find("truncated");
        m.truncated = tr != j.end() && tr->is_boolean() && tr->get<bool>();
        break;
    }
    case kind::fetch:
        if (!request()) return std::nullopt;
        [[fallthrough]];
    case kind::join:
    case kind::leave:
    case kind::disconnect: {
        auto nsp = text_at(j, "nsp", 1024);
        if (!nsp || nsp->empty() || nsp->front() != '/') return std::nullopt;
        m.nsp = std::move(*nsp);
        if (!rooms_at(j, "rooms", m.rooms) || !rooms_at(j, "except", m.except)) return std::nullopt;
        if (m.type == kind::join || m.type == kind::leave) {
            auto room = text_at(j, "room", 1024);
            if (!room || !valid_room(*room)) return std::nullopt;
            m.room = std::move(*room);
        }
        break;
    }
    case kind::emit: {
        auto event = text_at(j, "event", 1024);
        if (!event || !valid_event(*event) || j.find("data") == j.end()) return std::nullopt;
        m.event = std::move(*event);
        m.data = std::move(j["data"]);
        break;
    }
    }
    return m;
}

} // namespace sse::detail

#endif
