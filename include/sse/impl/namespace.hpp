// sse/impl/namespace.hpp - bodies of sse/namespace.hpp and sse/broadcast.hpp: the wiring of
// the delivery core (detail/delivery_core.hpp) to clients, adapters and the flush pass.
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
#include <unordered_set>

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

inline void namespace_::deliver_remote(std::vector<std::string> const& rooms,
                                       std::vector<std::string> const& except,
                                       std::shared_ptr<encoded_event> ev) {
    if (closed_.load() || drop_oversized(*ev)) return;
    ev->set_conflation_key(policies_.conflation_key_for(ev->name(), rooms));
    tap_after tap{*this};
    // Another node's event gets this node's next id, so ids stay ordered per stream.
    std::lock_guard<std::mutex> lock(emit_mutex_);
    ev->set_emitted_at(detail::log_clock::now()); // emitted here when it arrived
    // With a sequencing adapter the ids are the shared ones: an unsequenced event (from a node
    // whose namespace has history off) goes without an id rather than take one of them.
    if (!sequenced()) ev->stamp(++last_id_);
    event_ptr shared = std::move(ev);
    deliver(broadcast_packet{name_, rooms, except, shared, history_opts_, false});
}

inline void namespace_::deliver_sequenced(std::vector<std::string> const& rooms,
                                          std::vector<std::string> const& except,
                                          std::shared_ptr<encoded_event> ev, std::uint64_t id,
                                          std::string_view origin) {
    if (closed_.load() || id == 0 || drop_oversized(*ev)) return;
    tap_after tap{*this};
    std::lock_guard<std::mutex> lock(emit_mutex_);
    ev->set_conflation_key(policies_.conflation_key_for(ev->name(), rooms));
    ev->set_emitted_at(detail::log_clock::now()); // emitted here when it arrived
    ev->stamp(id);
    last_id_ = std::max(last_id_, id); // this node's next ids come after it
    offer_shared(rooms, except, std::move(ev), origin);
}

inline void namespace_::offer_shared(std::vector<std::string> const& rooms,
                                     std::vector<std::string> const& except, event_ptr const& ev,
                                     std::string_view origin) {
    auto const now = detail::unix_us_now();
    switch (window_.offer(ev->id(), origin, now, adapter_->reorders_origins())) {
    case decltype(window_)::verdict::deliver:
        deliver_shared(rooms, except, ev);
        return;
    case decltype(window_)::verdict::held:
        window_.hold(ev->id(), held_event{rooms, except, ev});
        arm_merge_timer();
        return;
    case decltype(window_)::verdict::late:
        deliver_shared(rooms, except, ev); // its recipients get the reset
        return;
    }
}

inline void namespace_::deliver_shared(std::vector<std::string> const& rooms,
                                       std::vector<std::string> const& except,
                                       event_ptr const& ev) {
    std::lock_guard<std::mutex> l(log_mutex_);
    if (ev->id() > core_.head()) {
        window_.released_upto(ev->id());
        append(broadcast_packet{name_, rooms, except, ev, history_opts_, true});
        return;
    }
    // A copy of one delivered already (a catch-up read and the live message): nothing to do.
    if (core_.holds(rooms, ev->id())) return;
    // Newer ids went out already (emitted here, or from a third node, while this one was on
    // its way): the recipients it was for cannot get it in order, so they are told to
    // refetch. One that joined its room after it (in id order) was not owed it.
    bool any = false;
    for_each_recipient(rooms, except, true, [&](client& c) {
        if (!detail::delivery_core::owed(state_of(c), rooms, ev->id())) return;
        any = true;
        core_.reset(state_of(c), detail::reset_reason::late_event);
    });
    if (!any) return;
    late_events_.fetch_add(1, std::memory_order_relaxed);
    post_flush_pass();
}

inline void namespace_::arm_merge_timer() {
    if (merge_timer_armed_ || !merge_strand_) return;
    auto const due = window_.next_due_us();
    if (!due) return;
    merge_timer_armed_ = true;
    // The timer is not thread-safe: it is only touched on its strand.
    net::post(*merge_strand_, [self = shared_from_this(), due = *due] {
        if (!self->merge_timer_)
            self->merge_timer_ = std::make_shared<merge_timer>(*self->merge_strand_);
        auto const now = detail::unix_us_now();
        self->merge_timer_->expires_after(std::chrono::microseconds(due > now ? due - now : 0));
        self->merge_timer_->async_wait(
            [self](boost::system::error_code) { self->on_merge_timer(); });
    });
}

inline void namespace_::on_merge_timer() {
    tap_after tap{*this};
    std::lock_guard<std::mutex> lock(emit_mutex_);
    merge_timer_armed_ = false;
    window_.release(detail::unix_us_now(), [&](std::uint64_t, held_event& h) {
        deliver_shared(h.rooms, h.except, h.event);
    });
    arm_merge_timer();
}

inline std::uint64_t namespace_::last_delivered() const {
    std::lock_guard<std::mutex> lock(log_mutex_);
    return core_.head();
}

inline void namespace_::deliver(broadcast_packet const& p) {
    if (p.sequenced && p.event->id() != 0) {
        offer_shared(p.rooms, p.except, p.event, {}); // this node's own: origin ""
        return;
    }
    std::lock_guard<std::mutex> lock(log_mutex_);
    if (p.event->id() != 0) {
        append(p);
        return;
    }
    // An event without an id (another node's, in a namespace whose ids the adapter gives)
    // cannot enter the logs: it goes straight to the queues of its recipients.
    tap_.push(p.event, p.rooms, p.except);
    for_each_recipient(p.rooms, p.except, true, [&](client& c) {
        if (c.enqueue(p.event)) deliveries_.fetch_add(1, std::memory_order_relaxed);
    });
}

template <class Fn>
void namespace_::for_each_recipient(std::vector<std::string> const& rooms,
                                    std::vector<std::string> const& except, bool ids_too, Fn&& fn) {
    auto const& reg = core_.clients();
    auto visit = [&](detail::client_state& s) {
        for (auto const& x : except)
            if (s.in_room(x)) return;
        fn(client_of(s));
    };
    if (rooms.empty()) {
        for (auto* s : reg.clients())
            visit(*s);
        return;
    }
    std::unordered_set<client*> seen; // a client in several of the rooms: once
    auto once = [&](detail::client_state& s) {
        if (seen.insert(&client_of(s)).second) visit(s);
    };
    for (auto const& room : rooms) {
        if (auto const* r = reg.find_room(room)) {
            for (auto* s : r->members())
                once(*s);
        } else if (auto* s = ids_too ? reg.find(room) : nullptr) {
            once(*s);
        }
    }
}

inline void namespace_::append(broadcast_packet const& p) {
    // An emit of this node reaches here under the emit lock that stamped its time: reused
    // (one clock read per emit). A shared-history event may have waited in the merge window.
    auto const at = p.event->emitted_at();
    auto const now =
        !p.sequenced && at != detail::log_clock::time_point{} ? at : detail::log_clock::now();
    // One shared record, one append per target log: nothing here depends on the audience.
    auto record = detail::make_record(p.event, p.rooms, p.except, now);
    if (!core_.append(record, now)) return;
    tap_.push(p.event, p.rooms, p.except);
    unplanned_bytes_ += record->bytes;
    // Emits faster than the passes plan would push the logs to their bound and drop events
    // nobody was sent yet: past a quarter of it, the emitting thread plans the woken
    // clients itself (back-pressure on the emitter, as a queue push per recipient was).
    if (unplanned_bytes_ > core_.options().logs.max_bytes / 4)
        plan_woken_now(now);
    else
        post_flush_pass();
}

inline void namespace_::plan_woken_now(detail::log_clock::time_point now) {
    unplanned_bytes_ = 0;
    core_.take_woken(woken_, now);
    for (detail::client_state* s : woken_)
        if (!client_of(*s).held_) plan_client(client_of(*s), now, nullptr); // flush queue sends
    woken_.clear();
    meters_->sample_peak();
}

inline void namespace_::reset_clients(std::vector<std::string> const& rooms,
                                      std::string_view reason) {
    std::string const why(reason);
    std::lock_guard<std::mutex> lock(log_mutex_);
    for_each_recipient(rooms, {}, false, [&](client& c) {
        resets_.fetch_add(1, std::memory_order_relaxed);
        c.enqueue(make_reset(c, why.c_str(), 0));
    });
}

// ---- the flush pass ---------------------------------------------------------------------

inline void namespace_::post_flush_pass() {
    if (pass_posted_ || !pass_ex_) return;
    pass_posted_ = true;
    net::post(pass_ex_, [self = shared_from_this()] { self->run_flush_pass(); });
}

inline void namespace_::run_flush_pass() {
    // One batch of the clients to plan, under the log lock; the next batch is posted first,
    // so that emits append between batches and another io thread takes it. A batch starts
    // the writes it made due right after the lock is released, on this thread: no second
    // task, no flush-queue push per client.
    constexpr std::size_t batch = 256;
    std::vector<client_ptr> to_send;
    {
        std::lock_guard<std::mutex> lock(log_mutex_);
        pass_posted_ = false;
        auto const now = detail::log_clock::now();
        if (to_plan_next_ == to_plan_.size()) { // the last pass is done: take the next one
            to_plan_next_ = 0;
            unplanned_bytes_ = 0;
            core_.take_woken(to_plan_, now);
            for (detail::client_state* s : to_plan_)
                client_of(*s).queued_for_plan_ = true;
        }
        std::size_t const end = std::min(to_plan_next_ + batch, to_plan_.size());
        // More of this pass, or wake-ups that came while it ran (their emits found a pass
        // posted and did not post one): another run.
        if (end < to_plan_.size() || core_.woken_any()) post_flush_pass();
        to_send.reserve(end - to_plan_next_);
        for (; to_plan_next_ < end; ++to_plan_next_) {
            detail::client_state* s = to_plan_[to_plan_next_];
            if (!s) continue; // disconnected since it was taken
            client& c = client_of(*s);
            c.queued_for_plan_ = false;
            if (!c.held_) plan_client(c, now, &to_send);
        }
        // The batch is queued and none of it written yet: the queues' high point.
        if (!to_send.empty()) meters_->sample_peak();
    }
    for (auto const& c : to_send)
        c->begin_write();
}

inline void namespace_::plan_client(client& c, detail::log_clock::time_point now,
                                    std::vector<client_ptr>* to_send) {
    // Planned and queued under the log lock: a client's events enter its queue in id order
    // whichever pass (or io thread) plans it.
    planned_.clear();
    auto p = core_.plan(state_of(c), detail::plan_limits{}, planned_, now);
    if (p.slow_consumer) {
        // A log dropped events it was not sent yet (it was not planned for too long).
        if (policies_.get() == sse::slow_consumer_policy::disconnect) {
            if (c.close(error::slow_consumer, true, encoded_event::raw("retry: 3000\n\n")))
                count_slow_consumer();
            return;
        }
        core_.reset(state_of(c), detail::reset_reason::slow_consumer);
        p = core_.plan(state_of(c), detail::plan_limits{}, planned_, now);
    }
    if (p.reset != detail::reset_reason::none) {
        resets_.fetch_add(1, std::memory_order_relaxed);
        c.replay_ = client::replay_state::none; // nothing older is owed after a reset
        c.enqueue(make_reset(c, detail::to_string(p.reset), p.reset_id));
        return;
    }
    if (planned_.empty()) return;
    bool start = false; // an idle writer: the caller starts its write outside the lock
    if (c.enqueue_all(planned_, to_send ? &start : nullptr))
        deliveries_.fetch_add(planned_.size(), std::memory_order_relaxed);
    if (start) to_send->push_back(c.shared_from_this());
    planned_.clear();
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
#include <sse/impl/namespace_membership.hpp>
#include <sse/impl/shared_replay.hpp>

#endif
