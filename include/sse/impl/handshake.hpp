// sse/impl/handshake.hpp - bodies of sse/handshake.hpp.
#ifndef SSE_IMPL_HANDSHAKE_HPP
#define SSE_IMPL_HANDSHAKE_HPP

#include <cctype>

namespace sse {
namespace detail {

inline bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(a[i])) !=
            std::tolower(static_cast<unsigned char>(b[i])))
            return false;
    return true;
}

inline std::string percent_decode(std::string_view in, bool plus_is_space) {
    auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    std::string out;
    out.reserve(in.size());
    for (std::size_t i = 0; i < in.size(); ++i) {
        char c = in[i];
        if (c == '%' && i + 2 < in.size()) {
            int hi = hex(in[i + 1]);
            int lo = hex(in[i + 2]);
            if (hi >= 0 && lo >= 0) {
                out += static_cast<char>(hi * 16 + lo);
                i += 2;
                continue;
            }
        }
        out += (plus_is_space && c == '+') ? ' ' : c;
    }
    return out;
}

} // namespace detail

template <class Fields>
handshake::handshake(beast::http::request_header<Fields> const& req, net::ip::tcp::endpoint remote)
    : method_(req.method_string())
    , target_(req.target())
    , version_(req.version())
    , remote_(std::move(remote)) {
    for (auto const& f : req) {
        if (headers_.size() == max_fields) break; // bounded: a snapshot lives as long as the stream
        std::string name(f.name_string());
        for (auto& ch : name)
            ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        headers_.emplace_back(std::move(name), std::string(f.value()));
    }
    parse_query();
}

inline std::string_view handshake::header(std::string_view name) const noexcept {
    for (auto const& [k, v] : headers_)
        if (detail::iequals(k, name)) return v;
    return {};
}

inline bool handshake::has_header(std::string_view name) const noexcept {
    for (auto const& kv : headers_)
        if (detail::iequals(kv.first, name)) return true;
    return false;
}

inline std::string_view handshake::query(std::string_view key) const noexcept {
    for (auto const& [k, v] : query_)
        if (k == key) return v;
    return {};
}

inline bool handshake::has_query(std::string_view key) const noexcept {
    for (auto const& kv : query_)
        if (kv.first == key) return true;
    return false;
}

inline std::string_view handshake::path() const noexcept {
    std::string_view t = target_;
    return t.substr(0, t.find('?'));
}

inline void handshake::parse_query() {
    std::string_view t = target_;
    auto q = t.find('?');
    if (q == std::string_view::npos) return;
    std::string_view rest = t.substr(q + 1);
    rest = rest.substr(0, rest.find('#'));
    while (!rest.empty() && query_.size() < max_fields) {
        auto amp = rest.find('&');
        std::string_view pair = rest.substr(0, amp);
        rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
        if (pair.empty()) continue;
        auto eq = pair.find('=');
        std::string_view k = pair.substr(0, eq);
        std::string_view v =
            eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
        query_.emplace_back(detail::percent_decode(k, true), detail::percent_decode(v, true));
    }
}

} // namespace sse

#endif
