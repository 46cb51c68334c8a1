// sse/detail/cluster_redirect.hpp - following Redis Cluster redirections (sans-I/O).
//
// A cluster node answers a command for a slot it does not serve with an error:
//   MOVED <slot> <host>:<port>   the slot lives there now: update the map, resend there, and
//                                refresh the whole topology soon (one MOVED usually means more
//                                slots moved, e.g. after a failover);
//   ASK <slot> <host>:<port>     the slot is being migrated: resend there once, preceded by
//                                ASKING, and leave the map alone.
// An empty host (`MOVED 3999 :6381`) means the host the command was sent to. The address is
// split at its last ':', so an IPv6 host needs no brackets (brackets are accepted too).
//
// `cluster_redirect_policy` is one command's journey: each error reply goes to on_error(),
// which says what to do; after `max_redirects` redirections it gives up with a clear error,
// so two nodes that disagree cannot bounce a command forever. Anything that is not a
// well-formed MOVED/ASK (CLUSTERDOWN, TRYAGAIN, a garbled line) is `not_redirect`: the caller
// handles it as any other error reply. Nothing here throws on what a server sends.
#ifndef SSE_DETAIL_CLUSTER_REDIRECT_HPP
#define SSE_DETAIL_CLUSTER_REDIRECT_HPP

#include <sse/detail/cluster_slot_map.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sse::detail {

/// A parsed MOVED or ASK error.
struct cluster_redirect {
    enum class kind { moved, ask };
    kind type = kind::moved;
    std::uint16_t slot = 0;
    cluster_node target;
};

namespace cluster_redirect_impl {

// Decimal digits only, no sign, value <= max.
inline std::optional<unsigned> parse_number(std::string_view s, unsigned max) noexcept {
    if (s.empty() || s.size() > 5) return std::nullopt;
    unsigned v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return std::nullopt;
        v = v * 10 + static_cast<unsigned>(c - '0');
    }
    if (v > max) return std::nullopt;
    return v;
}

} // namespace cluster_redirect_impl

/// Parses "MOVED <slot> <host>:<port>" or "ASK <slot> <host>:<port>" (exactly, single spaces).
/// Anything else, including a slot >= 16384 or a port outside 1..65535, gives nullopt.
inline std::optional<cluster_redirect> parse_cluster_redirect(std::string_view error,
                                                              std::string_view current_host) {
    using cluster_redirect_impl::parse_number;
    cluster_redirect r;
    if (error.substr(0, 6) == "MOVED ") {
        r.type = cluster_redirect::kind::moved;
        error.remove_prefix(6);
    } else if (error.substr(0, 4) == "ASK ") {
        r.type = cluster_redirect::kind::ask;
        error.remove_prefix(4);
    } else {
        return std::nullopt;
    }
    auto const space = error.find(' ');
    if (space == std::string_view::npos) return std::nullopt;
    auto const slot = parse_number(error.substr(0, space), cluster_slot_count - 1);
    auto const address = error.substr(space + 1);
    auto const colon = address.rfind(':');
    if (!slot || colon == std::string_view::npos) return std::nullopt;
    auto host = address.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') // "[::1]:7000"
        host = host.substr(1, host.size() - 2);
    auto const port = parse_number(address.substr(colon + 1), 65535);
    if (!port || *port == 0) return std::nullopt;
    for (char c : host)
        if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) return std::nullopt;
    r.slot = static_cast<std::uint16_t>(*slot);
    r.target.host = host.empty() ? std::string(current_host) : std::string(host);
    r.target.port = static_cast<std::uint16_t>(*port);
    return r;
}

/// What one command does after each error reply (see the top of the file).
class cluster_redirect_policy {
public:
    struct action {
        enum kind {
            not_redirect, ///< not MOVED/ASK: handle the error as usual
            retry,        ///< MOVED: resend to `target` (the map now says so)
            retry_asking, ///< ASK: send ASKING then the command to `target`, once
            give_up       ///< too many redirections: fail the command with `error`
        };
        kind type = not_redirect;
        cluster_node target;
        bool refresh_topology = false; ///< the map was stale: schedule a CLUSTER SLOTS/SHARDS
        std::string error;             ///< for give_up
    };

    /// Redirections above zero are allowed; 0 counts as 1.
    explicit cluster_redirect_policy(unsigned max_redirects = 5) noexcept
        : max_(max_redirects ? max_redirects : 1) {}

    /// `error` is the error reply's text, `current_host` the host the command went to.
    /// MOVED also updates `map`.
    action on_error(std::string_view error, std::string_view current_host, cluster_slot_map& map) {
        action a;
        auto r = parse_cluster_redirect(error, current_host);
        if (!r) return a;
        if (followed_ >= max_) {
            a.type = action::give_up;
            a.refresh_topology = true;
            a.error = "redis cluster: gave up after " + std::to_string(followed_) +
                      " redirections (last: " + std::string(error.substr(0, 120)) + ")";
            return a;
        }
        ++followed_;
        a.target = std::move(r->target);
        if (r->type == cluster_redirect::kind::moved) {
            map.move_slot(r->slot, a.target);
            a.type = action::retry;
            a.refresh_topology = true;
        } else {
            a.type = action::retry_asking;
        }
        return a;
    }

    /// Redirections followed so far.
    unsigned followed() const noexcept { return followed_; }

private:
    unsigned max_;
    unsigned followed_ = 0;
};

} // namespace sse::detail

#endif
