// sse/impl/handshake.hpp - bodies of sse/handshake.hpp.
#ifndef SSE_IMPL_HANDSHAKE_HPP
#define SSE_IMPL_HANDSHAKE_HPP

#include <cctype>
#include <cstdint>
#include <cstring>
#include <memory>

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

/// percent_decode into `out`, which has room for `in.size()` bytes; returns the bytes written.
inline std::size_t percent_decode_to(char* out, std::string_view in, bool plus_is_space) noexcept {
    auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    std::size_t n = 0;
    for (std::size_t i = 0; i < in.size(); ++i) {
        char c = in[i];
        if (c == '%' && i + 2 < in.size()) {
            int hi = hex(in[i + 1]);
            int lo = hex(in[i + 2]);
            if (hi >= 0 && lo >= 0) {
                out[n++] = static_cast<char>(hi * 16 + lo);
                i += 2;
                continue;
            }
        }
        out[n++] = (plus_is_space && c == '+') ? ' ' : c;
    }
    return n;
}

inline void percent_decode_append(std::string& out, std::string_view in, bool plus_is_space) {
    auto const from = out.size();
    out.resize(from + in.size());
    out.resize(from + percent_decode_to(&out[from], in, plus_is_space));
}

inline std::string percent_decode(std::string_view in, bool plus_is_space) {
    std::string out;
    out.reserve(in.size());
    percent_decode_append(out, in, plus_is_space);
    return out;
}

} // namespace detail

namespace detail {
// Calls `fn(key, value)` for each query parameter of `target` (raw, not decoded), at most
// `limit`: the parsing shared by the sizing and the filling pass.
template <class Fn>
void for_each_query_param(std::string_view target, std::size_t limit, Fn&& fn) {
    auto q = target.find('?');
    if (q == std::string_view::npos) return;
    std::string_view rest = target.substr(q + 1);
    rest = rest.substr(0, rest.find('#'));
    std::size_t n = 0;
    while (!rest.empty() && n < limit) {
        auto amp = rest.find('&');
        std::string_view pair = rest.substr(0, amp);
        rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
        if (pair.empty()) continue;
        auto eq = pair.find('=');
        fn(pair.substr(0, eq),
           eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1));
        ++n;
    }
}
} // namespace detail

template <class Fields>
handshake::handshake(beast::http::request_header<Fields> const& req, net::ip::tcp::endpoint remote)
    : remote_(std::move(remote))
    , version_(req.version()) {
    // Sized first, so that the block is allocated once (decoding only shortens).
    std::string_view const method = req.method_string();
    std::string_view const target = req.target();
    std::uint16_t headers = 0, params = 0; // max_fields fits, with the top bit to spare
    std::size_t text = method.size() + target.size();
    for (auto const& f : req) {
        if (headers == max_fields) break; // bounded: a snapshot lives as long as the stream
        text += f.name_string().size() + f.value().size();
        ++headers;
    }
    detail::for_each_query_param(target, max_fields, [&](std::string_view k, std::string_view v) {
        text += k.size() + v.size();
        ++params;
    });
    // Offsets of 16 bits unless the bytes pass 64 KiB (the query's count says which).
    bool const wide = text > 0xFFFF;
    std::size_t const w = wide ? sizeof(std::uint32_t) : sizeof(std::uint16_t);
    std::size_t const items = 2 + 2 * (std::size_t{headers} + params);
    std::size_t const table = 2 * sizeof(std::uint16_t) + items * w;
    data_.reset(new char[table + text]); // exact unless decoding shortened something
    char* const data = data_.get();
    std::size_t size = table; // bytes written
    auto const append = [&](std::string_view bytes) {
        if (!bytes.empty()) std::memcpy(data + size, bytes.data(), bytes.size());
        size += bytes.size();
    };
    std::size_t next = 0; // the item whose end is written next
    auto const end_item = [&] {
        auto const end = size - table;
        char* at = data + 2 * sizeof(std::uint16_t) + next++ * w;
        if (wide) {
            auto const e = static_cast<std::uint32_t>(end);
            std::memcpy(at, &e, sizeof e);
        } else {
            auto const e = static_cast<std::uint16_t>(end);
            std::memcpy(at, &e, sizeof e);
        }
    };
    std::uint16_t const flagged = params | (wide ? wide_offsets : 0);
    std::memcpy(data, &headers, sizeof headers);
    std::memcpy(data + sizeof headers, &flagged, sizeof flagged);
    append(method);
    end_item();
    append(target);
    end_item();
    std::uint16_t h = 0;
    for (auto const& f : req) {
        if (h++ == headers) break;
        auto const from = size;
        append(f.name_string());
        for (auto i = from; i < size; ++i)
            data[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(data[i])));
        end_item();
        append(f.value());
        end_item();
    }
    detail::for_each_query_param(target, max_fields, [&](std::string_view k, std::string_view v) {
        size += detail::percent_decode_to(data + size, k, true);
        end_item();
        size += detail::percent_decode_to(data + size, v, true);
        end_item();
    });
}

inline handshake::handshake(handshake const& other)
    : remote_(other.remote_)
    , version_(other.version_) {
    if (other.data_) {
        std::size_t const n = other.byte_size();
        data_.reset(new char[n]);
        std::memcpy(data_.get(), other.data_.get(), n);
    }
}

inline handshake::handshake(handshake&& other) noexcept
    : data_(std::move(other.data_))
    , remote_(other.remote_)
    , version_(other.version_)
    , lists_(other.lists_.exchange(nullptr)) {}

inline handshake& handshake::operator=(handshake const& other) {
    if (this != &other) *this = handshake(other);
    return *this;
}

inline handshake& handshake::operator=(handshake&& other) noexcept {
    if (this == &other) return *this;
    data_ = std::move(other.data_);
    remote_ = other.remote_;
    version_ = other.version_;
    delete lists_.exchange(other.lists_.exchange(nullptr));
    return *this;
}

inline handshake::~handshake() {
    delete lists_.load();
}

inline std::uint16_t handshake::word(std::size_t which) const noexcept {
    if (!data_) return 0;
    std::uint16_t n;
    std::memcpy(&n, data_.get() + which * sizeof n, sizeof n);
    return n;
}

inline std::size_t handshake::byte_size() const noexcept {
    if (!data_) return 0;
    // The items' bytes end the block: it ends where the last item does.
    std::string_view const last = item(1 + 2 * (header_count() + query_count()));
    return static_cast<std::size_t>(last.data() + last.size() - data_.get());
}

inline std::string_view handshake::item(std::size_t i) const noexcept {
    if (!data_) return {};
    bool const wide = (word(1) & wide_offsets) != 0;
    std::size_t const w = wide ? sizeof(std::uint32_t) : sizeof(std::uint16_t);
    char const* table = data_.get() + 2 * sizeof(std::uint16_t);
    char const* text = table + (2 + 2 * (header_count() + query_count())) * w;
    auto const end_of = [&](std::size_t k) -> std::size_t {
        if (wide) {
            std::uint32_t e;
            std::memcpy(&e, table + k * w, sizeof e);
            return e;
        }
        std::uint16_t e;
        std::memcpy(&e, table + k * w, sizeof e);
        return e;
    };
    std::size_t const begin = i == 0 ? 0 : end_of(i - 1);
    return {text + begin, end_of(i) - begin};
}

inline handshake::field_lists const& handshake::lists() const noexcept {
    if (auto* l = lists_.load(std::memory_order_acquire)) return *l;
    // Built once, by whichever reader comes first; a loser's copy is dropped. An allocation
    // failure here ends the process, as it would have when the lists were built eagerly.
    auto fresh = std::make_unique<field_lists>();
    auto const nh = header_count(), nq = query_count();
    fresh->headers.reserve(nh);
    for (std::size_t j = 0; j < nh; ++j)
        fresh->headers.emplace_back(header_item(j, 0), header_item(j, 1));
    fresh->query.reserve(nq);
    for (std::size_t j = 0; j < nq; ++j)
        fresh->query.emplace_back(query_item(j, 0), query_item(j, 1));
    field_lists* expected = nullptr;
    if (lists_.compare_exchange_strong(expected, fresh.get(), std::memory_order_acq_rel,
                                       std::memory_order_acquire))
        return *fresh.release();
    return *expected;
}

inline std::string_view handshake::header(std::string_view name) const noexcept {
    for (std::size_t j = 0, n = header_count(); j < n; ++j)
        if (detail::iequals(header_item(j, 0), name)) return header_item(j, 1);
    return {};
}

inline bool handshake::has_header(std::string_view name) const noexcept {
    for (std::size_t j = 0, n = header_count(); j < n; ++j)
        if (detail::iequals(header_item(j, 0), name)) return true;
    return false;
}

inline std::string_view handshake::query(std::string_view key) const noexcept {
    for (std::size_t j = 0, n = query_count(); j < n; ++j)
        if (query_item(j, 0) == key) return query_item(j, 1);
    return {};
}

inline bool handshake::has_query(std::string_view key) const noexcept {
    for (std::size_t j = 0, n = query_count(); j < n; ++j)
        if (query_item(j, 0) == key) return true;
    return false;
}

inline std::string_view handshake::path() const noexcept {
    std::string_view t = target();
    return t.substr(0, t.find('?'));
}

} // namespace sse

#endif
