// sse/impl/namespace.hpp - bodies of sse/namespace.hpp and sse/broadcast.hpp: the wiring of
// the delivery core (detail/delivery_core.hpp) to clients, adapters and the flush pass.
// This file: set-up, this node's emits, settings and close. The rest, by concept:
// namespace_delivery.hpp (events into the logs), namespace_flush.hpp (logs to write queues),
// namespace_membership.hpp (admission, rooms, disconnects), shared_replay.hpp (replay from
// a sequencing adapter), namespace_cluster.hpp, broadcast.hpp.
#ifndef SSE_IMPL_NAMESPACE_HPP
#define SSE_IMPL_NAMESPACE_HPP

#include <sse/detail/admission.hpp>
#include <sse/detail/hybrid_id.hpp>
#include <sse/detail/response_head.hpp>
#include <sse/detail/stream_client.hpp>
#include <sse/detail/unstranded.hpp>

#include <boost/asio/post.hpp>

#include <algorithm>
#include <stdexcept>

namespace sse {

// ---- namespace_: set-up, connects, emits -------------------------------------------------

inline namespace_::namespace_(private_tag, std::string name, options const& opts,
                              std::shared_ptr<adapter> a)
    : name_(std::move(name))
    , opts_(opts)
    , adapter_(std::move(a))
    , history_opts_(opts.history)
    , core_(delivery_options_for(opts.history))
    , adapter_interest_(adapter_)
    , policies_(opts.slow_consumer)
    , admissions_(opts.admission_rate.per_second, opts.admission_rate.burst,
                  detail::token_bucket::clock::now())
    , middleware_(std::make_shared<std::vector<middleware> const>())
    , connection_handlers_(std::make_shared<std::vector<std::function<void(client_ptr)>> const>()) {
    sequenced_.store(sequenced());
    window_.set_width(merge_width());
}

inline std::uint64_t namespace_::merge_width() const {
    return sequenced() ? static_cast<std::uint64_t>(adapter_->merge_window().count()) : 0;
}

inline detail::delivery_options namespace_::delivery_options_for(history_options const& h) const {
    detail::delivery_options d;
    // A sequencing adapter keeps the shared history (replay reads it): the logs here then
    // keep only what the flush pass has not planned yet.
    bool const local_history = !(adapter_ && adapter_->sequences(h));
    d.logs.history_events = local_history ? h.max_events : 0;
    d.logs.history_age = h.max_age;
    // The flush pass empties the logs into the clients' queues as they come, so a log holds
    // more than a queue's bound only for clients not planned yet (admissions); and a replay
    // larger than half a queue is a reset anyway.
    d.logs.max_bytes = std::max<std::size_t>(opts_.max_buffered_bytes, 64 * 1024);
    d.max_replay_bytes = opts_.max_buffered_bytes / 2;
    return d;
}

inline void namespace_::use(middleware mw) {
    if (!mw) return;
    std::lock_guard<std::mutex> lock(handlers_mutex_);
    auto copy = std::make_shared<std::vector<middleware>>(*middleware_);
    copy->push_back(std::move(mw));
    middleware_ = std::move(copy);
}

inline void namespace_::on_connection(std::function<void(client_ptr)> handler) {
    if (!handler) return;
    std::lock_guard<std::mutex> lock(handlers_mutex_);
    auto copy =
        std::make_shared<std::vector<std::function<void(client_ptr)>>>(*connection_handlers_);
    copy->push_back(std::move(handler));
    connection_handlers_ = std::move(copy);
}

inline std::shared_ptr<client::context const> namespace_::client_context() {
    std::call_once(context_once_, [this] {
        auto const timeout = std::max(opts_.close_timeout, std::chrono::milliseconds::zero());
        context_ = std::make_shared<client::context const>(client::context{
            name_, weak_from_this(), flush_.get(), meters_, opts_.max_buffered_bytes, timeout});
    });
    return context_;
}

template <class Stream, class Body, class Fields>
client_ptr namespace_::connect(Stream&& stream, beast::http::request<Body, Fields>&& req) {
    static_assert(!std::is_lvalue_reference<Stream>::value,
                  "connect() takes the stream over: pass it with std::move(stream)");
    beast::error_code ec;
    auto remote = beast::get_lowest_layer(stream).socket().remote_endpoint(ec);
    sse::handshake hs(req.base(), remote);
    // Admission hops through the stream's own executor (an app's strand, often) before the
    // client's: it then waits for the handler that called connect() to return, and with it
    // for the joins made right after connect().
    net::any_io_executor app_executor = stream.get_executor();
    auto c =
        detail::make_stream_client(std::move(stream), shared_from_this(), std::move(hs), strands_);
    std::shared_ptr<std::vector<middleware> const> chain;
    {
        std::lock_guard<std::mutex> lock(handlers_mutex_);
        chain = middleware_;
    }
    auto a = std::make_shared<detail::admission>(c, shared_from_this(), std::move(chain),
                                                 std::move(app_executor));
    if (closed_.load())
        a->refuse_closed();
    else
        a->run(0);
    return c;
}

inline broadcast_operator namespace_::to(std::string_view room) {
    return broadcast_operator(weak_from_this()).to(room);
}
inline broadcast_operator namespace_::to(std::initializer_list<std::string_view> rooms) {
    return broadcast_operator(weak_from_this()).to(rooms);
}
inline broadcast_operator namespace_::to(std::vector<std::string> const& rooms) {
    broadcast_operator op(weak_from_this());
    for (auto const& r : rooms)
        op = std::move(op).to(r);
    return op;
}
inline broadcast_operator namespace_::except(std::string_view room) {
    return broadcast_operator(weak_from_this()).except(room);
}
inline broadcast_operator namespace_::except(std::initializer_list<std::string_view> rooms) {
    return broadcast_operator(weak_from_this()).except(rooms);
}

inline void namespace_::emit(std::string_view event, nlohmann::json const& data) {
    static std::vector<std::string> const none;
    emit_event(none, none, encoded_event::make(event, data));
}

inline void namespace_::emit(std::string_view event, text data) {
    static std::vector<std::string> const none;
    emit_event(none, none, encoded_event::make(event, data));
}

inline void namespace_::emit_event(std::vector<std::string> const& rooms,
                                   std::vector<std::string> const& except,
                                   std::shared_ptr<encoded_event> ev) {
    if (closed_.load()) return;
    check_event_size(*ev);
    ev->set_conflation_key(policies_.conflation_key_for(ev->name(), rooms));
    tap_after tap{*this};
    std::lock_guard<std::mutex> lock(emit_mutex_);
    events_emitted_.fetch_add(1, std::memory_order_relaxed);
    // The one clock read of an emit: the write latency's start, and the logs' append time.
    ev->set_emitted_at(detail::log_clock::now());
    if (sequenced()) {
        // An id that orders across nodes, known now: this node's clients get the event without
        // waiting for Redis, and every node (and every replay) uses the same id.
        last_id_ = detail::next_hybrid_id(last_id_, detail::unix_us_now(), adapter_->id_tag());
        ev->stamp(last_id_);
        event_ptr shared = std::move(ev);
        adapter_->broadcast(broadcast_packet{name_, rooms, except, shared, history_opts_, true},
                            *this);
        return;
    }
    ev->stamp(++last_id_);
    event_ptr shared = std::move(ev);
    adapter_->broadcast(broadcast_packet{name_, rooms, except, shared, history_opts_, false},
                        *this);
}

inline void namespace_::check_event_size(encoded_event const& ev) {
    if (!drop_oversized(ev)) return;
    throw std::length_error("[sse.event_too_large] the encoded event is larger than "
                            "options::max_buffered_bytes, so no client's queue could hold it");
}

inline bool namespace_::drop_oversized(encoded_event const& ev) {
    // Room for the id line the event gets when it is stamped.
    if (ev.wire().size() + encoded_event::id_headroom <= opts_.max_buffered_bytes) return false;
    oversized_events_.fetch_add(1, std::memory_order_relaxed);
    return true;
}

inline bool namespace_::sequenced() const {
    return history_opts_.max_events > 0 && adapter_ && adapter_->sequences(history_opts_);
}

inline void namespace_::emit_to_client(client& c, std::shared_ptr<encoded_event> ev) {
    if (closed_.load()) return;
    check_event_size(*ev);
    std::lock_guard<std::mutex> lock(emit_mutex_);
    auto const now = detail::log_clock::now();
    ev->set_emitted_at(now);
    if (sequenced()) {
        // The ids belong to the adapter: a personal event goes without an id, straight to the
        // client's queue (it is not replayable anyway: nobody else keeps it).
        if (c.enqueue(std::move(ev))) deliveries_.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    ev->stamp(++last_id_);
    event_ptr shared = std::move(ev);
    std::vector<std::string> const rooms{c.id()};
    std::lock_guard<std::mutex> l(log_mutex_);
    if (!state_of(c).registered()) return; // not admitted yet, or gone
    // Its private log, at the emit's time (read once, above).
    core_.append(detail::make_record(shared, rooms, {}, now), now);
    post_flush_pass();
}

// ---- timers, settings, close ------------------------------------------------------------

inline void namespace_::heartbeat(event_ptr const& ping) {
    std::lock_guard<std::mutex> lock(log_mutex_);
    for (auto const& c : all_)
        c->enqueue(ping);
}

inline void namespace_::expire_history() {
    std::lock_guard<std::mutex> lock(log_mutex_);
    core_.expire(detail::log_clock::now());
    replay_windows_.expire(detail::unix_us_now());
}

inline void namespace_::set_slow_consumer_policy(sse::slow_consumer_policy p) {
    policies_.set(p);
}

inline void namespace_::set_slow_consumer_policy(std::string_view room,
                                                 sse::slow_consumer_policy p) {
    validate_room_name(room);
    policies_.set(room, p);
}

inline void namespace_::clear_slow_consumer_policy(std::string_view room) {
    policies_.clear(room);
}

inline sse::slow_consumer_policy namespace_::slow_consumer_policy(std::string_view room) const {
    return policies_.get(room);
}

inline void namespace_::set_history(history_options h) {
    std::lock_guard<std::mutex> emit_lock(emit_mutex_);
    std::lock_guard<std::mutex> lock(log_mutex_);
    history_opts_ = h;
    sequenced_.store(sequenced());
    window_.set_width(merge_width());
    core_.configure(delivery_options_for(h));
}

inline void namespace_::set_adapter(std::shared_ptr<adapter> a) {
    std::lock_guard<std::mutex> emit_lock(emit_mutex_);
    std::lock_guard<std::mutex> lock(log_mutex_);
    adapter_ = std::move(a);
    adapter_interest_ = adapter_;
    sequenced_.store(sequenced());
    window_.set_width(merge_width());
    core_.configure(delivery_options_for(history_opts_));
    adapter_->namespace_added(name_);
    core_.clients().for_each_room([&](detail::room const& r) {
        if (!r.members().empty()) adapter_->room_added(name_, r.name());
    });
    for (auto const& c : all_) // every admitted client: its private room
        adapter_->room_added(name_, c->id());
    for (auto const& room : watched_)
        adapter_->room_added(name_, room);
}

inline void namespace_::tap(std::function<void(tapped_event const&)> handler) {
    tap_.set(std::move(handler));
}

inline void namespace_::watch(std::string_view room) {
    validate_room_name(room);
    std::lock_guard<std::mutex> lock(log_mutex_);
    if (!watched_.emplace(room).second) return;
    auto const* r = core_.clients().find_room(std::string(room));
    if (adapter_interest_ && (!r || r->members().empty()))
        adapter_interest_->room_added(name_, room);
}

inline void namespace_::unwatch(std::string_view room) {
    std::lock_guard<std::mutex> lock(log_mutex_);
    auto it = watched_.find(room);
    if (it == watched_.end()) return;
    watched_.erase(it);
    auto const* r = core_.clients().find_room(std::string(room));
    if (adapter_interest_ && (!r || r->members().empty()))
        adapter_interest_->room_removed(name_, room);
}

inline bool namespace_::watched(std::string_view room) const {
    return !watched_.empty() && watched_.find(room) != watched_.end();
}

inline std::vector<std::string> namespace_::watched_rooms() const {
    std::lock_guard<std::mutex> lock(log_mutex_);
    return {watched_.begin(), watched_.end()};
}

inline void namespace_::close() {
    close_all(error::disconnected);
}

inline void namespace_::close_all(error reason) {
    closed_.store(true);
    std::vector<client_ptr> everyone;
    {
        std::lock_guard<std::mutex> lock(log_mutex_);
        everyone = all_;
    }
    for (auto const& c : everyone) {
        auto hint = detail::close_retry_hint(opts_);
        c->close(reason, true, hint.empty() ? event_ptr() : encoded_event::raw(std::move(hint)));
    }
}

} // namespace sse

#include <sse/impl/broadcast.hpp>
#include <sse/impl/namespace_delivery.hpp>
#include <sse/impl/namespace_flush.hpp>
#include <sse/impl/namespace_membership.hpp>
#include <sse/impl/shared_replay.hpp>

#endif
