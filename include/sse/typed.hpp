// sse/typed.hpp - compile-time checked events: sse::events<...> and typed namespace views.
#ifndef SSE_TYPED_HPP
#define SSE_TYPED_HPP

#include <sse/detail/server_core.hpp>
#include <sse/namespace.hpp>

#include <nlohmann/json.hpp>

#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>

namespace sse {

/// Names an event type in `events<...>::visit`.
template <class Event>
struct event_tag {
    using type = Event;
};

/** A closed set of event types for one namespace.

    Each type carries its wire name as `static constexpr char name[]` and converts to JSON
    through nlohmann's ADL `to_json` (e.g. `NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE`).
    @code
    struct score_update { static constexpr char name[] = "score_update"; int home, away; };
    NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(score_update, home, away)
    using football_events = sse::events<score_update, red_card>;
    @endcode
*/
template <class... Events>
struct events {
    static_assert(sizeof...(Events) > 0, "sse::events<> needs at least one event type");

    template <class E>
    static constexpr bool contains = (std::is_same_v<E, Events> || ...);

    /// Calls `fn(event_tag<E>{})` for the event type whose name is `name`; false if none.
    template <class F>
    static bool visit(std::string_view name, F&& fn) {
        return (
            (name == std::string_view(Events::name) ? (fn(event_tag<Events>{}), true) : false) ||
            ...);
    }

    /// The names of all events, in declaration order.
    static std::vector<std::string_view> names() { return {std::string_view(Events::name)...}; }
};

namespace detail {
template <class T>
struct is_events : std::false_type {};
template <class... Es>
struct is_events<events<Es...>> : std::true_type {};
} // namespace detail

/** Decodes `data` into `E` strictly: every field present with its exact JSON type, nothing
    extra. Returns false and sets `why` when the payload does not fit the event's type.
*/
template <class E>
bool decode_event(nlohmann::json const& data, E& out, std::string& why) {
    try {
        out = data.get<E>();
    } catch (nlohmann::json::exception const& e) {
        why = e.what();
        return false;
    }
    // Round trip: catches 2.5 read as int 2, "extra" keys, and similar silent conversions.
    if (nlohmann::json(out) != data) {
        why = "payload does not match the fields and types of event '" + std::string(E::name) + "'";
        return false;
    }
    return true;
}

/// The typed form of `broadcast_operator`: only the namespace's events can be emitted.
template <class Events>
class typed_broadcast {
public:
    explicit typed_broadcast(broadcast_operator op)
        : op_(std::move(op)) {}

    typed_broadcast to(std::string_view room) && {
        return typed_broadcast(std::move(op_).to(room));
    }
    typed_broadcast to(std::initializer_list<std::string_view> rooms) && {
        return typed_broadcast(std::move(op_).to(rooms));
    }
    typed_broadcast except(std::string_view room) && {
        return typed_broadcast(std::move(op_).except(room));
    }

    template <class E>
    void emit(E const& event) const {
        static_assert(Events::template contains<E>,
                      "this event type is not in the namespace's sse::events<...> list");
        op_.emit(E::name, nlohmann::json(event));
    }

    broadcast_operator const& untyped() const noexcept { return op_; }

private:
    broadcast_operator op_;
};

/** A namespace whose emits are checked at compile time against `Events`.

    Obtained with `server.of<Events>("/name")`; it is a view of the same namespace that
    `server.of("/name")` returns (clients, rooms and middleware are shared).
*/
template <class Events>
class typed_namespace final : public detail::typed_view_base {
    static_assert(detail::is_events<Events>::value,
                  "typed_namespace<E>: E must be sse::events<...>");

public:
    explicit typed_namespace(namespace_& ns) noexcept
        : ns_(ns) {}

    namespace_& untyped() const noexcept { return ns_; }
    std::string const& name() const noexcept { return ns_.name(); }

    void use(middleware mw) { ns_.use(std::move(mw)); }
    void on_connection(std::function<void(client_ptr)> handler) {
        ns_.on_connection(std::move(handler));
    }
    template <class Stream, class Body, class Fields>
    client_ptr connect(Stream&& stream, beast::http::request<Body, Fields>&& req) {
        return ns_.connect(std::forward<Stream>(stream), std::move(req));
    }

    typed_broadcast<Events> to(std::string_view room) {
        return typed_broadcast<Events>(ns_.to(room));
    }
    typed_broadcast<Events> to(std::initializer_list<std::string_view> rooms) {
        return typed_broadcast<Events>(ns_.to(rooms));
    }
    typed_broadcast<Events> except(std::string_view room) {
        return typed_broadcast<Events>(ns_.except(room));
    }

    /// Sends `event` to every client of the namespace.
    template <class E>
    void emit(E const& event) {
        static_assert(Events::template contains<E>,
                      "this event type is not in the namespace's sse::events<...> list");
        ns_.emit(E::name, nlohmann::json(event));
    }

    /// Sends `event` to one client only.
    template <class E>
    void emit(client& to, E const& event) {
        static_assert(Events::template contains<E>,
                      "this event type is not in the namespace's sse::events<...> list");
        to.emit(E::name, nlohmann::json(event));
    }

    /** Emits an event known only at run time (e.g. from an HTTP request) after checking that
        `name` is one of `Events` and `data` fits its type (see `decode_event`).
        Returns false and sets `why` otherwise; nothing is sent then. Data the library
        refuses (a string that is not UTF-8: `[sse.invalid_data]`; an event larger than
        `options::max_buffered_bytes`: `[sse.event_too_large]`) is reported the same way, so
        data taken from a request never throws out of the caller's handler.
    */
    bool emit_checked(broadcast_operator const& target, std::string_view name,
                      nlohmann::json const& data, std::string& why) {
        bool ok = false;
        bool known = Events::visit(name, [&](auto tag) {
            typename decltype(tag)::type event{};
            if (!decode_event(data, event, why)) return;
            try {
                target.emit(name, nlohmann::json(event));
                ok = true;
            } catch (std::invalid_argument const& e) {
                why = e.what();
            } catch (std::length_error const& e) {
                why = e.what();
            }
        });
        if (!known) why = "unknown event '" + std::string(name) + "' for namespace " + ns_.name();
        return ok;
    }
    bool emit_checked(std::string_view name, nlohmann::json const& data, std::string& why) {
        return emit_checked(ns_.except(std::initializer_list<std::string_view>{}), name, data, why);
    }

    std::size_t client_count() const { return ns_.client_count(); }
    std::vector<client_ptr> clients() const { return ns_.clients(); }
    std::vector<std::string> rooms() const { return ns_.rooms(); }
    std::vector<client_ptr> room(std::string_view name) const { return ns_.room(name); }
    namespace_stats stats() const { return ns_.stats(); }

private:
    namespace_& ns_;
};

} // namespace sse

#endif
