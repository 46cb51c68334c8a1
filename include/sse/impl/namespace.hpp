// sse/impl/namespace.hpp - bodies of sse/namespace.hpp and sse/broadcast.hpp: the wiring of
// the delivery core (detail/delivery_core.hpp) to clients, adapters and the flush pass.
#ifndef SSE_IMPL_NAMESPACE_HPP
#define SSE_IMPL_NAMESPACE_HPP

#include <sse/detail/admission.hpp>
#include <sse/detail/response_head.hpp>
#include <sse/detail/stream_client.hpp>
#include <sse/detail/unstranded.hpp>

#include <boost/asio/post.hpp>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <unordered_set>

namespace sse {

namespace detail {

/// Throws std::invalid_argument for an admission rate that is not a rate.
inline void check_admission_rate(admission_rate const& r) {
    if (!(r.per_second >= 0) || !std::isfinite(r.per_second))
        throw std::invalid_argument("[sse.invalid_admission_rate] admission_rate::per_second "
                                    "must be a finite number >= 0 (0: unlimited)");
}

/// Throws std::invalid_argument for refusal options that cannot be answered.
inline void check_refusal(refusal_options const& r) {
    if (r.status < 400 || r.status > 599)
        throw std::invalid_argument("[sse.invalid_refusal] refusal_options::status must be a "
                                    "4xx or 5xx status (503 or 429)");
    if (r.retry_min.count() < 0 || r.retry_max < r.retry_min || r.retry_max.count() <= 0)
        throw std::invalid_argument("[sse.invalid_refusal] refusal_options needs "
                                    "0 <= retry_min <= retry_max and retry_max > 0");
}

/// Events with equal keys replace each other in a lagging client's queue (conflate policy).
inline std::uint64_t conflation_key(std::string_view name, std::vector<std::string> const& rooms) {
    std::uint64_t h = std::hash<std::string_view>{}(name);
    for (auto const& r : rooms) // order-independent: to(a).to(b) and to(b).to(a) conflate
        h += std::hash<std::string>{}(r)*0x9E3779B97F4A7C15ull;
    return h == 0 ? 1 : h;
}

} // namespace detail

// ---- namespace_: set-up, connects, emits -------------------------------------------------

inline namespace_::namespace_(private_tag, std::string name, options const& opts,
                              std::shared_ptr<adapter> a)
    : name_(std::move(name))
    , shared_name_(std::make_shared<std::string const>(name_))
    , opts_(opts)
    , adapter_(std::move(a))
    , history_opts_(opts.history)
    , core_(delivery_options_for(opts.history))
    , adapter_interest_(adapter_)
    , policy_(opts.slow_consumer)
    , admissions_(opts.admission_rate.per_second, opts.admission_rate.burst,
                  detail::token_bucket::clock::now())
    , middleware_(std::make_shared<std::vector<middleware> const>())
    , connection_handlers_(std::make_shared<std::vector<std::function<void(client_ptr)>> const>()) {
    sequenced_.store(sequenced());
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

template <class Stream, class Body, class Fields>
client_ptr namespace_::connect(Stream&& stream, beast::http::request<Body, Fields>&& req) {
    static_assert(!std::is_lvalue_reference<Stream>::value,
                  "connect() takes the stream over: pass it with std::move(stream)");
    beast::error_code ec;
    auto remote = beast::get_lowest_layer(stream).socket().remote_endpoint(ec);
    sse::handshake hs(req.base(), remote);
    auto c = detail::make_stream_client(std::move(stream), shared_from_this(), std::move(hs));
    std::shared_ptr<std::vector<middleware> const> chain;
    {
        std::lock_guard<std::mutex> lock(handlers_mutex_);
        chain = middleware_;
    }
    auto a = std::make_shared<detail::admission>(c, shared_from_this(), std::move(chain));
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
    ev->set_conflation_key(conflation_key_for(ev->name(), rooms));
    std::lock_guard<std::mutex> lock(emit_mutex_);
    events_emitted_.fetch_add(1, std::memory_order_relaxed);
    if (sequenced()) {
        // The adapter assigns the id and delivers it everywhere, here included.
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
    auto const now = detail::log_clock::now();
    core_.append(detail::make_record(shared, rooms, {}, now), now); // its private log
    post_flush_pass();
}

inline void namespace_::deliver_remote(std::vector<std::string> const& rooms,
                                       std::vector<std::string> const& except,
                                       std::shared_ptr<encoded_event> ev) {
    if (closed_.load() || drop_oversized(*ev)) return;
    ev->set_conflation_key(conflation_key_for(ev->name(), rooms));
    // Another node's event gets this node's next id, so ids stay ordered per stream.
    std::lock_guard<std::mutex> lock(emit_mutex_);
    // With a sequencing adapter the ids are the shared ones: an unsequenced event (from a node
    // whose namespace has history off) goes without an id rather than take one of them.
    if (!sequenced()) ev->stamp(++last_id_);
    event_ptr shared = std::move(ev);
    deliver(broadcast_packet{name_, rooms, except, shared, history_opts_, false});
}

inline void namespace_::deliver_sequenced(std::vector<std::string> const& rooms,
                                          std::vector<std::string> const& except,
                                          std::shared_ptr<encoded_event> ev, std::uint64_t id) {
    if (closed_.load() || id == 0 || drop_oversized(*ev)) return;
    std::lock_guard<std::mutex> lock(emit_mutex_);
    ev->set_conflation_key(conflation_key_for(ev->name(), rooms));
    ev->stamp(id); // a copy per room channel: the core keeps the first (ids must increase)
    last_id_ = std::max(last_id_, id);
    event_ptr shared = std::move(ev);
    deliver(broadcast_packet{name_, rooms, except, shared, history_opts_, true});
}

inline std::uint64_t namespace_::last_delivered() const {
    std::lock_guard<std::mutex> lock(log_mutex_);
    return core_.head();
}

inline void namespace_::deliver(broadcast_packet const& p) {
    std::lock_guard<std::mutex> lock(log_mutex_);
    if (p.event->id() != 0) {
        append(p);
        return;
    }
    // An event without an id (another node's, in a namespace whose ids the adapter gives)
    // cannot enter the logs: it goes straight to the queues of its recipients.
    std::unordered_set<client*> seen;
    auto send = [&](detail::client_state& s) {
        client& c = client_of(s);
        for (auto const& x : p.except)
            if (s.in_room(x)) return;
        if (seen.insert(&c).second && c.enqueue(p.event))
            deliveries_.fetch_add(1, std::memory_order_relaxed);
    };
    auto const& reg = core_.clients();
    if (p.rooms.empty()) {
        for (auto* s : reg.clients())
            send(*s);
        return;
    }
    for (auto const& room : p.rooms) {
        if (auto const* r = reg.find_room(room)) {
            for (auto* s : r->members())
                send(*s);
        } else if (auto* s = reg.find(room)) {
            send(*s);
        }
    }
}

inline void namespace_::append(broadcast_packet const& p) {
    auto const now = detail::log_clock::now();
    // One shared record, one append per target log: nothing here depends on the audience.
    auto record = detail::make_record(p.event, p.rooms, p.except, now);
    if (!core_.append(record, now)) return;
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
        if (!client_of(*s).held_) plan_client(client_of(*s), now);
    woken_.clear();
}

inline void namespace_::reset_clients(std::vector<std::string> const& rooms,
                                      std::string_view reason) {
    std::string const why(reason);
    std::lock_guard<std::mutex> lock(log_mutex_);
    std::unordered_set<client*> seen;
    auto reset = [&](detail::client_state& s) {
        client& c = client_of(s);
        if (!seen.insert(&c).second) return;
        resets_.fetch_add(1, std::memory_order_relaxed);
        c.enqueue(make_reset(c, why.c_str(), 0));
    };
    auto const& reg = core_.clients();
    if (rooms.empty()) {
        for (auto* s : reg.clients())
            reset(*s);
        return;
    }
    for (auto const& room : rooms)
        if (auto const* r = reg.find_room(room))
            for (auto* s : r->members())
                reset(*s);
}

// ---- the flush pass ---------------------------------------------------------------------

inline void namespace_::post_flush_pass() {
    if (pass_posted_ || !pass_ex_) return;
    pass_posted_ = true;
    net::post(pass_ex_, [self = shared_from_this()] { self->run_flush_pass(); });
}

inline void namespace_::run_flush_pass() {
    // Whom to visit, under the lock; each visit under the lock again, by batch, so that emits
    // append between batches and a second io thread takes the next batch.
    constexpr std::size_t batch = 256;
    auto woken = std::make_shared<std::vector<client_ptr>>();
    net::any_io_executor ex;
    {
        std::lock_guard<std::mutex> lock(log_mutex_);
        pass_posted_ = false;
        unplanned_bytes_ = 0;
        core_.take_woken(woken_, detail::log_clock::now());
        woken->reserve(woken_.size());
        // Registered clients are alive (all_ holds them) while the lock is held.
        for (detail::client_state* s : woken_)
            if (!client_of(*s).held_) woken->push_back(client_of(*s).shared_from_this());
        woken_.clear();
        ex = pass_ex_;
    }
    for (std::size_t from = batch; from < woken->size(); from += batch)
        net::post(ex, [self = shared_from_this(), woken, from] {
            self->plan_batch(*woken, from, std::min(from + batch, woken->size()));
        });
    plan_batch(*woken, 0, std::min(batch, woken->size()));
}

inline void namespace_::plan_batch(std::vector<client_ptr> const& batch, std::size_t from,
                                   std::size_t to) {
    std::lock_guard<std::mutex> lock(log_mutex_);
    auto const now = detail::log_clock::now();
    for (std::size_t i = from; i < to; ++i) {
        client& c = *batch[i];
        if (state_of(c).registered() && !c.held_) plan_client(c, now);
    }
}

inline void namespace_::plan_client(client& c, detail::log_clock::time_point now) {
    // Planned and queued under the log lock: a client's events enter its queue in id order
    // whichever pass (or io thread) plans it.
    planned_.clear();
    auto p = core_.plan(state_of(c), detail::plan_limits{}, planned_, now);
    if (p.slow_consumer) {
        // A log dropped events it was not sent yet (it was not planned for too long).
        if (policy_.load() == sse::slow_consumer_policy::disconnect) {
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
    if (c.enqueue_all(planned_)) deliveries_.fetch_add(planned_.size(), std::memory_order_relaxed);
    planned_.clear();
}

// ---- admission --------------------------------------------------------------------------

inline namespace_::admission_result namespace_::admit(client& c) {
    // The response header and first events are queued under the log lock, so no event can
    // reach the client before them.
    std::string head = detail::response_head(opts_, c.handshake());
    if (opts_.retry.count() > 0) head += "retry: " + std::to_string(opts_.retry.count()) + "\n\n";
    std::shared_ptr<encoded_event> hello;
    if (opts_.connection_event)
        hello = encoded_event::make("connection", nlohmann::json{{"clientId", c.id()}});
    auto head_event = encoded_event::raw(std::move(head));

    std::lock_guard<std::mutex> lock(log_mutex_);
    if (closed_.load() || c.close_started_.load()) return admission_result::gone;
    if (opts_.max_clients != 0 && all_.size() >= opts_.max_clients) return admission_result::full;
    std::size_t* per_address = nullptr;
    if (opts_.max_clients_per_address != 0) {
        auto const address = c.handshake().remote_endpoint().address().to_string();
        auto it = per_address_.find(address);
        if (it != per_address_.end() && it->second >= opts_.max_clients_per_address)
            return admission_result::full;
        if (!admissions_.try_take(detail::token_bucket::clock::now()))
            return admission_result::rate_limited;
        per_address = &per_address_[address]; // only now: a refused address leaves no entry
    } else if (!admissions_.try_take(detail::token_bucket::clock::now())) {
        return admission_result::rate_limited;
    }
    if (per_address) ++*per_address;
    {
        std::lock_guard<std::mutex> q(c.queue_mutex_);
        c.state_.store(client::state::open);
        // Nothing leaves before the on_connection handlers ran (they may join rooms the
        // client expects to be in once it sees its first event).
        c.hold_writes_ = true;
    }
    c.enqueue(head_event);
    if (hello) c.enqueue(hello);
    if (!pass_ex_) pass_ex_ = detail::unstranded(c.get_executor().get_inner_executor());
    c.all_index_ = static_cast<std::uint32_t>(all_.size());
    all_.push_back(c.shared_from_this());

    // Its position: the head, or with a replay from the logs here, its Last-Event-ID. A
    // shared-history replay (sequencing adapter) is fetched after the handlers instead.
    bool const replay = wants_replay(c);
    std::optional<std::string_view> last;
    if (replay && !sequenced_.load()) last = client::sent_last_event_id(c.handshake());
    auto const why = core_.admit(state_of(c), c.id(), last, detail::log_clock::now());
    (void)why;      // a reset is sent by the first plan, and counted there
    c.held_ = true; // until end_admission
    c.admitted_head_ = core_.head();
    if (replay && sequenced_.load()) c.replay_ = client::replay_state::pending;
    if (adapter_interest_) adapter_interest_->room_added(name_, c.id());
    auto pending = std::move(c.pending_rooms_);
    c.pending_rooms_ = {};
    for (auto const& room : pending)
        join_locked(c, room);
    connections_.fetch_add(1, std::memory_order_relaxed);
    return admission_result::admitted;
}

inline namespace_::admission_result namespace_::probe(client const& c) const {
    std::lock_guard<std::mutex> lock(log_mutex_);
    if (closed_.load() || c.close_started_.load()) return admission_result::gone;
    if (opts_.max_clients != 0 && all_.size() >= opts_.max_clients) return admission_result::full;
    if (opts_.max_clients_per_address != 0) {
        auto it = per_address_.find(c.handshake().remote_endpoint().address().to_string());
        if (it != per_address_.end() && it->second >= opts_.max_clients_per_address)
            return admission_result::full;
    }
    if (!admissions_.available(detail::token_bucket::clock::now()))
        return admission_result::rate_limited;
    return admission_result::admitted;
}

inline void namespace_::set_admission_rate(sse::admission_rate r) {
    detail::check_admission_rate(r);
    std::lock_guard<std::mutex> lock(log_mutex_);
    admissions_ = detail::token_bucket(r.per_second, r.burst, detail::token_bucket::clock::now());
}

inline void namespace_::end_admission(client& c) {
    bool fetch = false; // a shared-history replay: fetched outside the lock
    {
        std::lock_guard<std::mutex> lock(log_mutex_);
        if (!state_of(c).registered()) return;
        // A replay from the logs here, unless the joins made it a reset.
        if (wants_replay(c) && !sequenced_.load() &&
            state_of(c).pending_reset() == detail::reset_reason::none)
            replays_.fetch_add(1, std::memory_order_relaxed);
        fetch = c.replay_ == client::replay_state::pending;
        if (!fetch) {
            c.held_ = false; // its first plan: the replay (or reset), then live events
            core_.wake(state_of(c));
            post_flush_pass();
        }
        std::unique_lock<std::mutex> q(c.queue_mutex_);
        c.hold_writes_ = false;
        if (!c.writing_ && c.queue_.has_pending()) c.start_write_locked(q);
    }
    if (fetch) fetch_replay(c);
}

inline bool namespace_::wants_replay(client const& c) const {
    return (!c.last_event_id().empty() || c.last_event_id_malformed_) && replay_enabled_.load() &&
           history_opts_.max_events > 0;
}

inline event_ptr namespace_::make_reset(client const& c, char const* why, std::uint64_t id) const {
    auto ev = encoded_event::make(
        opts_.reset_event, nlohmann::json{{"reason", why}, {"lastEventId", c.last_event_id()}});
    if (id != 0) ev->stamp(id); // moves the browser's lastEventId to where live events resume
    return ev;
}

// ---- replay from an adapter's shared history ----------------------------------------------
// The logs here hold only what this node received; a sequencing adapter (Redis) keeps every
// room's events. Its replay is fetched, then queued in front of the client's first plan:
// the client stays held (not planned) meanwhile, at the head it was admitted at, so the
// missed events (at most that head) and the live ones (after it) cannot interleave.

inline void namespace_::fetch_replay(client& c) {
    std::vector<std::string> rooms;
    std::shared_ptr<adapter> a;
    history_options h;
    std::optional<std::uint64_t> after;
    {
        std::lock_guard<std::mutex> lock(log_mutex_);
        if (!state_of(c).registered() || c.replay_ != client::replay_state::pending) return;
        for (auto const& m : state_of(c).memberships())
            rooms.push_back(m.room->name());
        after = detail::parse_event_id(c.last_event_id());
        a = adapter_interest_;
        h = history_opts_;
    }
    if (!after || !a) return finish_replay(c, history_result{"unknown_id", {}}, rooms);
    a->fetch_history(
        name_, rooms, *after, h,
        [self = shared_from_this(), who = c.shared_from_this(), rooms](history_result r) mutable {
            net::post(who->get_executor(),
                      [self, who, rooms = std::move(rooms), r = std::move(r)]() {
                          self->finish_replay(*who, r, rooms);
                      });
        });
}

inline void namespace_::finish_replay(client& c, history_result r,
                                      std::vector<std::string> const& fetched) {
    std::lock_guard<std::mutex> lock(log_mutex_);
    if (!state_of(c).registered() || c.replay_ != client::replay_state::pending) return;
    auto const upto = c.admitted_head_;
    auto const after = detail::parse_event_id(c.last_event_id()).value_or(0);
    std::vector<event_ptr> missed;
    std::size_t bytes = 0;
    std::string why = r.reset_reason;
    if (why.empty()) {
        for (auto& e : r.events) {
            if (!e.event || e.id <= after || e.id > upto) continue; // later ones come live
            bool excluded = false;
            for (auto const& x : e.except)
                excluded = excluded || state_of(c).in_room(x);
            if (excluded) continue;
            e.event->stamp(e.id);
            bytes += e.event->wire().size();
            missed.push_back(std::move(e.event));
        }
        if (bytes > opts_.max_buffered_bytes / 2) why = "history_too_large";
    }
    if (!why.empty()) {
        resets_.fetch_add(1, std::memory_order_relaxed);
        c.replay_ = client::replay_state::none; // nothing older is owed after a reset
        c.enqueue(make_reset(c, why.c_str(), upto));
    } else {
        replays_.fetch_add(1, std::memory_order_relaxed);
        c.replay_ = client::replay_state::done;
        if (!missed.empty()) c.enqueue_all(missed);
    }
    c.held_ = false;
    core_.wake(state_of(c));
    post_flush_pass();
    // Rooms joined while the fetch ran: their missed events are a late join's.
    if (c.replay_ == client::replay_state::done)
        for (auto const& m : state_of(c).memberships())
            if (std::find(fetched.begin(), fetched.end(), m.room->name()) == fetched.end())
                fetch_late_join(c, m.room->name(), after);
}

inline void namespace_::fetch_late_join(client& c, std::string_view room, std::uint64_t after) {
    // The rooms it had besides this one (an event also sent to one of them reached it).
    std::vector<std::string> had{c.id()};
    for (auto const& m : state_of(c).memberships())
        if (m.room->name() != room) had.push_back(m.room->name());
    auto a = adapter_interest_;
    if (!a) return;
    auto const upto = c.admitted_head_;
    net::post(c.get_executor(), [self = shared_from_this(), who = c.shared_from_this(), a,
                                 room = std::string(room), after, upto, h = history_opts_,
                                 had = std::move(had)]() mutable {
        a->fetch_history(self->name_, {room}, after, h,
                         [self, who, upto, had = std::move(had)](history_result r) mutable {
                             net::post(who->get_executor(),
                                       [self, who, upto, had = std::move(had), r = std::move(r)]() {
                                           self->finish_late_join(*who, r, upto, had);
                                       });
                         });
    });
}

inline void namespace_::finish_late_join(client& c, history_result r, std::uint64_t upto,
                                         std::vector<std::string> const& had) {
    std::lock_guard<std::mutex> lock(log_mutex_);
    if (!state_of(c).registered() || c.replay_ != client::replay_state::done) return;
    // Owed: the room's events it missed while disconnected (up to its admission) that no room
    // it had carried. It has newer ids already, so they cannot follow in order: a reset.
    bool owed = !r.reset_reason.empty();
    auto const after = detail::parse_event_id(c.last_event_id()).value_or(0);
    for (auto const& e : r.events) {
        if (owed) break;
        if (e.id <= after || e.id > upto || e.rooms.empty()) continue;
        bool had_it = false;
        for (auto const& room : e.rooms)
            had_it = had_it || std::find(had.begin(), had.end(), room) != had.end();
        for (auto const& x : e.except)
            had_it = had_it || state_of(c).in_room(x);
        owed = !had_it;
    }
    if (!owed) return;
    c.replay_ = client::replay_state::none;
    core_.reset(state_of(c), detail::reset_reason::history_gap);
    post_flush_pass();
}

// ---- registry changes -------------------------------------------------------------------

inline void namespace_::unregister(client& c) {
    std::lock_guard<std::mutex> lock(log_mutex_);
    auto& s = state_of(c);
    if (!s.registered()) {
        c.pending_rooms_.clear();
        return;
    }
    // Rooms it leaves empty: the adapter loses interest in them.
    std::vector<std::string> emptied;
    if (adapter_interest_)
        for (auto const& m : s.memberships())
            if (m.room->members().size() == 1) emptied.push_back(m.room->name());
    core_.remove(s, detail::log_clock::now());
    if (adapter_interest_) {
        for (auto const& room : emptied)
            adapter_interest_->room_removed(name_, room);
        adapter_interest_->room_removed(name_, c.id());
    }
    if (opts_.max_clients_per_address != 0) {
        auto it = per_address_.find(c.handshake().remote_endpoint().address().to_string());
        if (it != per_address_.end() && --it->second == 0) per_address_.erase(it);
    }
    // Swap-remove from the flat list of all clients (the caller holds a reference).
    std::size_t const i = c.all_index_;
    if (i + 1 != all_.size()) {
        all_[i] = std::move(all_.back());
        all_[i]->all_index_ = static_cast<std::uint32_t>(i);
    }
    all_.pop_back();
}

inline void namespace_::check_room_limit(client const& c, std::size_t adding) const {
    auto const& s = static_cast<detail::client_state const&>(c);
    std::size_t const has = s.registered() ? s.memberships().size() : c.pending_rooms_.size();
    if (has + adding > opts_.max_rooms_per_client)
        throw std::length_error("[sse.too_many_rooms] a client may join at most "
                                "options::max_rooms_per_client rooms");
}

inline void namespace_::join(client& c, std::string_view room) {
    std::lock_guard<std::mutex> lock(log_mutex_);
    if (c.close_started_.load()) return;
    join_locked(c, room);
}

inline void namespace_::join_all(client& c, std::vector<std::string> const& rooms) {
    std::lock_guard<std::mutex> lock(log_mutex_);
    if (c.close_started_.load()) return;
    auto const& s = state_of(c);
    std::size_t adding = 0;
    for (std::size_t k = 0; k < rooms.size(); ++k) {
        auto const& r = rooms[k];
        auto const first = rooms.begin(), here = first + static_cast<std::ptrdiff_t>(k);
        bool const dup =
            r == c.id() || std::find(first, here, r) != here ||
            (s.registered() ? s.in_room(r)
                            : std::find(c.pending_rooms_.begin(), c.pending_rooms_.end(), r) !=
                                  c.pending_rooms_.end());
        if (!dup) ++adding;
    }
    check_room_limit(c, adding);
    for (auto const& r : rooms)
        join_locked(c, r);
}

inline void namespace_::join_locked(client& c, std::string_view room) {
    if (room == c.id()) return; // the private room is implicit
    auto& s = state_of(c);
    if (!s.registered()) {
        // Not admitted yet: remember the room, join it on admission.
        auto& pending = c.pending_rooms_;
        if (std::find(pending.begin(), pending.end(), room) != pending.end()) return;
        check_room_limit(c, 1);
        pending.emplace_back(room);
        return;
    }
    if (s.in_room(room)) return;
    check_room_limit(c, 1);
    // The core decides what of the room it is owed (a reconnect's missed events, in order, or
    // a reset); the flush pass sends it.
    core_.join(s, room, detail::log_clock::now());
    if (adapter_interest_) {
        auto const* r = core_.clients().find_room(std::string(room));
        if (r && r->members().size() == 1) adapter_interest_->room_added(name_, room);
    }
    if (c.replay_ == client::replay_state::done)
        fetch_late_join(c, room, detail::parse_event_id(c.last_event_id()).value_or(0));
    if (!c.held_) post_flush_pass();
}

inline void namespace_::leave(client& c, std::string_view room) {
    std::lock_guard<std::mutex> lock(log_mutex_);
    auto& s = state_of(c);
    if (!s.registered()) {
        auto& pending = c.pending_rooms_;
        pending.erase(std::remove(pending.begin(), pending.end(), room), pending.end());
        return;
    }
    auto const* r = core_.clients().find_room(std::string(room));
    bool const last = r && r->members().size() == 1 && s.in_room(room);
    if (core_.leave(s, room, detail::log_clock::now()) && last && adapter_interest_)
        adapter_interest_->room_removed(name_, room);
}

inline std::vector<std::string> namespace_::rooms_of(client const& c) const {
    std::lock_guard<std::mutex> lock(log_mutex_);
    auto const& s = static_cast<detail::client_state const&>(c);
    std::vector<std::string> out;
    out.push_back(c.id());
    if (!s.registered()) {
        out.insert(out.end(), c.pending_rooms_.begin(), c.pending_rooms_.end());
        return out;
    }
    for (auto const& m : s.memberships())
        out.push_back(m.room->name());
    return out;
}

// ---- introspection ----------------------------------------------------------------------

inline std::size_t namespace_::client_count() const {
    std::lock_guard<std::mutex> lock(log_mutex_);
    return all_.size();
}

inline std::vector<client_ptr> namespace_::clients() const {
    std::lock_guard<std::mutex> lock(log_mutex_);
    return all_;
}

inline client_ptr namespace_::find_client(std::string_view id) const {
    std::lock_guard<std::mutex> lock(log_mutex_);
    auto* s = core_.clients().find(id);
    return s ? client_of(*s).shared_from_this() : nullptr;
}

inline std::vector<std::string> namespace_::rooms() const {
    std::lock_guard<std::mutex> lock(log_mutex_);
    std::vector<std::string> out;
    core_.clients().for_each_room([&](detail::room const& r) {
        if (!r.members().empty()) out.push_back(r.name());
    });
    std::sort(out.begin(), out.end());
    return out;
}

inline std::vector<client_ptr> namespace_::room(std::string_view name) const {
    std::lock_guard<std::mutex> lock(log_mutex_);
    std::vector<client_ptr> out;
    if (auto const* r = core_.clients().find_room(std::string(name))) {
        out.reserve(r->members().size());
        for (auto* s : r->members())
            out.push_back(client_of(*s).shared_from_this());
    } else if (auto* s = core_.clients().find(name)) {
        out.push_back(client_of(*s).shared_from_this());
    }
    return out;
}

inline namespace_stats namespace_::stats() const {
    namespace_stats s;
    {
        std::lock_guard<std::mutex> lock(log_mutex_);
        s.clients = all_.size();
        core_.clients().for_each_room([&](detail::room const& r) {
            if (!r.members().empty()) ++s.rooms;
        });
        s.history_events = core_.history_events(detail::log_clock::now());
    }
    {
        std::lock_guard<std::mutex> lock(emit_mutex_);
        s.last_event_id = last_id_;
    }
    s.connections = connections_.load();
    s.rejected = rejected_.load();
    s.refused_full = refused_full_.load();
    s.refused_rate = refused_rate_.load();
    s.handler_errors = handler_errors_.load();
    s.events_emitted = events_emitted_.load();
    s.deliveries = deliveries_.load();
    s.slow_consumers = slow_consumers_.load();
    s.oversized_events = oversized_events_.load();
    s.replays = replays_.load();
    s.resets = resets_.load();
    return s;
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
    policy_.store(p);
}

inline void namespace_::set_slow_consumer_policy(std::string_view room,
                                                 sse::slow_consumer_policy p) {
    validate_room_name(room);
    std::lock_guard<std::mutex> lock(room_policy_mutex_);
    room_policies_.insert_or_assign(std::string(room), p);
    has_room_policies_.store(true, std::memory_order_release);
}

inline void namespace_::clear_slow_consumer_policy(std::string_view room) {
    std::lock_guard<std::mutex> lock(room_policy_mutex_);
    room_policies_.erase(std::string(room));
    has_room_policies_.store(!room_policies_.empty(), std::memory_order_release);
}

inline sse::slow_consumer_policy namespace_::slow_consumer_policy(std::string_view room) const {
    std::lock_guard<std::mutex> lock(room_policy_mutex_);
    auto it = room_policies_.find(std::string(room));
    return it == room_policies_.end() ? policy_.load() : it->second;
}

inline std::uint64_t namespace_::conflation_key_for(std::string_view event,
                                                    std::vector<std::string> const& rooms) const {
    auto const fallback = policy_.load();
    bool conflate = fallback == sse::slow_consumer_policy::conflate;
    if (!rooms.empty() && has_room_policies_.load(std::memory_order_acquire)) {
        std::lock_guard<std::mutex> lock(room_policy_mutex_);
        conflate = std::all_of(rooms.begin(), rooms.end(), [&](std::string const& r) {
            auto it = room_policies_.find(r);
            auto p = it == room_policies_.end() ? fallback : it->second;
            return p == sse::slow_consumer_policy::conflate;
        });
    }
    return conflate ? detail::conflation_key(event, rooms) : 0;
}

inline void namespace_::set_history(history_options h) {
    std::lock_guard<std::mutex> emit_lock(emit_mutex_);
    std::lock_guard<std::mutex> lock(log_mutex_);
    history_opts_ = h;
    sequenced_.store(sequenced());
    core_.configure(delivery_options_for(h));
}

inline void namespace_::set_adapter(std::shared_ptr<adapter> a) {
    std::lock_guard<std::mutex> emit_lock(emit_mutex_);
    std::lock_guard<std::mutex> lock(log_mutex_);
    adapter_ = std::move(a);
    adapter_interest_ = adapter_;
    sequenced_.store(sequenced());
    core_.configure(delivery_options_for(history_opts_));
    adapter_->namespace_added(name_);
    core_.clients().for_each_room([&](detail::room const& r) {
        if (!r.members().empty()) adapter_->room_added(name_, r.name());
    });
    for (auto const& c : all_) // every admitted client: its private room
        adapter_->room_added(name_, c->id());
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

// ---- broadcast_operator ----------------------------------------------------------------

inline broadcast_operator broadcast_operator::to(std::string_view room) const& {
    return broadcast_operator(*this).to(room);
}
inline broadcast_operator broadcast_operator::to(std::string_view room) && {
    validate_room_name(room);
    if (std::find(rooms_.begin(), rooms_.end(), room) == rooms_.end()) rooms_.emplace_back(room);
    return std::move(*this);
}
inline broadcast_operator broadcast_operator::to(std::initializer_list<std::string_view> rooms) && {
    for (auto r : rooms)
        *this = std::move(*this).to(r);
    return std::move(*this);
}
inline broadcast_operator broadcast_operator::except(std::string_view room) const& {
    return broadcast_operator(*this).except(room);
}
inline broadcast_operator broadcast_operator::except(std::string_view room) && {
    validate_room_name(room);
    if (std::find(except_.begin(), except_.end(), room) == except_.end())
        except_.emplace_back(room);
    return std::move(*this);
}
inline broadcast_operator
broadcast_operator::except(std::initializer_list<std::string_view> rooms) && {
    for (auto r : rooms)
        *this = std::move(*this).except(r);
    return std::move(*this);
}

inline void broadcast_operator::emit(std::string_view event, nlohmann::json const& data) const {
    emit_encoded(encoded_event::make(event, data));
}
inline void broadcast_operator::emit(std::string_view event, text data) const {
    emit_encoded(encoded_event::make(event, data));
}
inline void broadcast_operator::emit_encoded(std::shared_ptr<encoded_event> ev) const {
    if (auto ns = ns_.lock()) ns->emit_event(rooms_, except_, std::move(ev));
}

} // namespace sse

#endif
