// sse/detail/redis_url.hpp - parsing `redis://` URLs into an endpoint (pure, no I/O).
//
//     redis://[[username][:password]@]host[:port][/db]
//
// The user name and password may be percent-encoded (a password holding `@`, `:` or `/` must be);
// an IPv6 host is written in brackets (`redis://[::1]:6379`). Only plain TCP is supported:
// `rediss://` (TLS) and `unix://` are refused with an error that says so.
#ifndef SSE_DETAIL_REDIS_URL_HPP
#define SSE_DETAIL_REDIS_URL_HPP

#include <cstdint>
#include <string>
#include <string_view>

namespace sse::detail {

/// Where and how to connect, as parsed from a URL.
struct redis_endpoint {
    std::string host = "127.0.0.1"; ///< name, IPv4 or IPv6 address (without brackets)
    std::uint16_t port = 6379;
    std::string username;      ///< empty: `AUTH <password>` (the `default` user)
    std::string password;      ///< empty and no username: no AUTH at all
    bool has_password = false; ///< an empty password given explicitly (`redis://:@h`) still AUTHs
    unsigned db = 0;           ///< SELECTed after connecting when not 0
};

namespace redis_url_impl {

inline int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

inline bool percent_decode(std::string_view in, std::string& out) {
    out.clear();
    out.reserve(in.size());
    for (std::size_t i = 0; i < in.size(); ++i) {
        if (in[i] != '%') {
            out += in[i];
            continue;
        }
        if (i + 2 >= in.size()) return false; // "%" or "%A" at the end
        int hi = hex_value(in[i + 1]), lo = hex_value(in[i + 2]);
        if (hi < 0 || lo < 0) return false;
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
    }
    return true;
}

inline bool iequals_prefix(std::string_view s, std::string_view prefix) noexcept {
    if (s.size() < prefix.size()) return false;
    for (std::size_t i = 0; i < prefix.size(); ++i) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        if (c != prefix[i]) return false;
    }
    return true;
}

inline bool parse_unsigned(std::string_view digits, std::uint64_t max,
                           std::uint64_t& out) noexcept {
    if (digits.empty() || digits.size() > 10) return false;
    std::uint64_t v = 0;
    for (char c : digits) {
        if (c < '0' || c > '9') return false;
        v = v * 10 + static_cast<unsigned>(c - '0');
    }
    if (v > max) return false;
    out = v;
    return true;
}

} // namespace redis_url_impl

/** Parses `url` into `out`.

    @param host_optional Accept a URL without a host (`redis://:secret@/2`): the connections
    come from elsewhere and the URL gives only credentials and database.
    @return true on success; false with a message in `error` that names the URL part at fault
    (the password is never repeated in it).
*/
inline bool parse_redis_url(std::string_view url, redis_endpoint& out, std::string& error,
                            bool host_optional = false) {
    using namespace redis_url_impl;
    auto fail = [&](std::string why) {
        error = "[sse.redis_url] " + std::move(why);
        return false;
    };
    redis_endpoint ep;
    ep.host.clear();
    std::string_view rest;
    if (iequals_prefix(url, "redis://")) {
        rest = url.substr(8);
    } else if (iequals_prefix(url, "rediss://")) {
        return fail("TLS URLs (rediss://) are not supported; use redis://host:port");
    } else if (iequals_prefix(url, "unix://") || iequals_prefix(url, "redis+unix://")) {
        return fail("Unix socket URLs are not supported; use redis://host:port");
    } else if (url.empty()) {
        return fail("the URL is empty; expected redis://[[user]:password@]host[:port][/db]");
    } else {
        return fail("the URL must start with redis:// (expected "
                    "redis://[[user]:password@]host[:port][/db])");
    }

    // User info: everything before the last '@' (a raw '@' in a password then still works).
    if (auto at = rest.rfind('@'); at != std::string_view::npos) {
        std::string_view userinfo = rest.substr(0, at);
        rest = rest.substr(at + 1);
        auto colon = userinfo.find(':');
        if (colon == std::string_view::npos) {
            return fail("the URL names a user but no password (for a password alone write "
                        "redis://:password@host)");
        }
        if (!percent_decode(userinfo.substr(0, colon), ep.username))
            return fail("bad percent-encoding in the user name");
        if (!percent_decode(userinfo.substr(colon + 1), ep.password))
            return fail("bad percent-encoding in the password");
        ep.has_password = true;
    }

    // Host and port end at the path.
    std::string_view authority = rest, path;
    if (auto slash = rest.find('/'); slash != std::string_view::npos) {
        authority = rest.substr(0, slash);
        path = rest.substr(slash + 1);
    }
    if (authority.find_first_of("?#") != std::string_view::npos ||
        path.find_first_of("?#") != std::string_view::npos)
        return fail("query strings and fragments are not supported in the URL");

    std::string_view host, port;
    if (!authority.empty() && authority.front() == '[') {
        auto close = authority.find(']');
        if (close == std::string_view::npos) return fail("unterminated '[' in the IPv6 host");
        host = authority.substr(1, close - 1);
        std::string_view after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') return fail("unexpected text after the IPv6 host");
            port = after.substr(1);
            if (port.empty()) return fail("empty port after ':'");
        }
    } else {
        auto colon = authority.find(':');
        host = authority.substr(0, colon);
        if (colon != std::string_view::npos) {
            port = authority.substr(colon + 1);
            if (port.empty()) return fail("empty port after ':'");
        }
    }
    if (host.empty() && !host_optional) return fail("the URL has no host");
    for (char c : host) {
        if (static_cast<unsigned char>(c) <= ' ' || c == '@' || c == '[' || c == ']')
            return fail("the host contains an invalid character");
    }
    ep.host.assign(host.data(), host.size());

    if (!port.empty()) {
        std::uint64_t p = 0;
        if (!parse_unsigned(port, 65535, p) || p == 0)
            return fail("the port '" + std::string(port) + "' is not a number in 1..65535");
        ep.port = static_cast<std::uint16_t>(p);
    }

    if (!path.empty()) {
        std::uint64_t db = 0;
        if (!parse_unsigned(path, 0x7fffffff, db))
            return fail("the database '" + std::string(path) +
                        "' is not a number (expected redis://host:port/2)");
        ep.db = static_cast<unsigned>(db);
    }

    out = std::move(ep);
    error.clear();
    return true;
}

} // namespace sse::detail

#endif
