// sse/impl/namespace.hpp - bodies of sse/namespace.hpp, sse/broadcast.hpp, sse/middleware.hpp.
#ifndef SSE_IMPL_NAMESPACE_HPP
#define SSE_IMPL_NAMESPACE_HPP

#include <sse/cors.hpp>
#include <sse/detail/stream_client.hpp>

#include <boost/asio/post.hpp>

#include <algorithm>
#include <cmath>
#include <random>
#include <stdexcept>

namespace sse {

namespace detail {

/// The middleware chain of one pending client. Each `next` advances it exactly once.
struct admission : std::enable_shared_from_this<admission> {
    admission(client_ptr c, std::shared_ptr<namespace_> n,
              std::shared_ptr<std::vector<middleware> const> mws)
        : who(std::move(c))
        , ns(std::move(n))
        , chain(std::move(mws))
        , head_only(who->handshake().method() == "HEAD") {}

    static constexpr std::size_t finished = std::numeric_limits<std::size_t>::max();

    void run(std::size_t index) {
        if (who->close_started_.load()) return; // the peer left while we were deciding
        if (index == chain->size()) {
            admit();
            return;
        }
        try {
            (*chain)[index](*who, next(shared_from_this(), index + 1));
        } catch (...) {
            // Before admission: the client gets a 500 (unless it was already passed on).
            ns->count_handler_error();
            refuse(reject(500, "Internal Server Error"), index + 1);
        }
    }

    // Called by next(): step `index` may run once, and only after step index-1.
    void advance(std::size_t index) {
        std::size_t expected = index - 1;
        if (step.compare_exchange_strong(expected, index)) run(index);
    }

    void refuse(reject r, std::size_t index) {
        std::size_t expected = index - 1;
        if (!step.compare_exchange_strong(expected, finished)) return;
        ns->rejected_.fetch_add(1, std::memory_order_relaxed);
        who->close(error::rejected, true,
                   encoded_event::raw(ns->rejection_response(r, who->handshake(), head_only)));
    }

    void admit() {
        net::post(who->get_executor(), [self = shared_from_this()] {
            if (self->head_only) return self->answer_head();
            auto& ns = *self->ns;
            switch (ns.admit(*self->who)) {
            case namespace_::admission_result::admitted:
                break;
            case namespace_::admission_result::full:
                self->refuse_overloaded(ns.refused_full_);
                return;
            case namespace_::admission_result::rate_limited:
                self->refuse_overloaded(ns.refused_rate_);
                return;
            case namespace_::admission_result::gone:
                if (ns.closed_.load()) self->refuse_closed();
                return;
            }
            std::shared_ptr<std::vector<std::function<void(client_ptr)>> const> handlers;
            {
                std::lock_guard<std::mutex> lock(ns.handlers_mutex_);
                handlers = ns.connection_handlers_;
            }
            try {
                for (auto const& h : *handlers)
                    h(self->who);
            } catch (...) {
                // After admission: the client is dropped (its queued head and first events
                // still leave, so a browser reconnects later) rather than left registered
                // with its writes held. Nothing escapes into the app's io_context::run().
                ns.count_handler_error();
                self->who->close(error::handler_failed, true);
                return;
            }
            ns.end_admission(*self->who);
        });
    }

    // At max_clients, the per-address limit or past the admission rate.
    void refuse_overloaded(std::atomic<std::uint64_t>& why) {
        ns->rejected_.fetch_add(1, std::memory_order_relaxed);
        why.fetch_add(1, std::memory_order_relaxed);
        who->close(error::rejected, true,
                   encoded_event::raw(ns->refusal_response(who->handshake(), false)));
    }

    // A closing namespace does not answer 503: a browser's EventSource gives up for good on
    // any non-200 answer, and during a restart the stream should come back (to this node's
    // successor or to another one). An empty stream with a `retry:` hint says "later".
    void refuse_closed() {
        ns->rejected_.fetch_add(1, std::memory_order_relaxed);
        std::string answer = ns->response_head(who->handshake());
        if (!head_only) answer += ns->close_retry_hint();
        who->close(error::rejected, true, encoded_event::raw(std::move(answer)));
    }

    // HEAD: the head a GET would get now, no body; never admitted, nothing taken.
    void answer_head() {
        auto const& hs = who->handshake();
        switch (ns->probe(*who)) {
        case namespace_::admission_result::admitted:
            who->close(error::disconnected, true, encoded_event::raw(ns->response_head(hs)));
            return;
        case namespace_::admission_result::full:
        case namespace_::admission_result::rate_limited:
            who->close(error::rejected, true, encoded_event::raw(ns->refusal_response(hs, true)));
            return;
        case namespace_::admission_result::gone:
            if (ns->closed_.load()) refuse_closed();
            return;
        }
    }

    client_ptr who;
    std::shared_ptr<namespace_> ns;
    std::shared_ptr<std::vector<middleware> const> chain;
    bool const head_only;
    std::atomic<std::size_t> step{0}; // the step allowed to run: 0 = the first middleware
};

/// A random whole number in [lo, hi] (hi below lo counts as lo).
inline long long random_between(long long lo, long long hi) {
    thread_local std::minstd_rand spread(std::random_device{}());
    std::uniform_int_distribution<long long> d(lo, std::max(lo, hi));
    return d(spread);
}

// Whether an Accept header names `text/event-stream` (with a q above 0). Every EventSource
// sends exactly that; a wildcard (text/*, */*) does not count: the clients that send one
// (curl, fetch, monitors) read a status and Retry-After better than an empty stream.
inline bool accepts_event_stream(std::string_view accept) noexcept {
    auto trim = [](std::string_view v) {
        while (!v.empty() && (v.front() == ' ' || v.front() == '\t'))
            v.remove_prefix(1);
        while (!v.empty() && (v.back() == ' ' || v.back() == '\t'))
            v.remove_suffix(1);
        return v;
    };
    while (!accept.empty()) {
        auto const comma = accept.find(',');
        std::string_view range = accept.substr(0, comma);
        accept = comma == std::string_view::npos ? std::string_view{} : accept.substr(comma + 1);
        auto semi = range.find(';');
        if (!iequals(trim(range.substr(0, semi)), "text/event-stream")) continue;
        bool refused = false; // q=0 means "not acceptable"
        while (semi != std::string_view::npos) {
            range = range.substr(semi + 1);
            semi = range.find(';');
            auto const param = trim(range.substr(0, semi));
            if (param.size() >= 2 && (param[0] == 'q' || param[0] == 'Q') && param[1] == '=') {
                auto const q = param.substr(2);
                refused = !q.empty() && q.find_first_not_of("0.") == std::string_view::npos;
            }
        }
        if (!refused) return true;
    }
    return false;
}

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

inline char const* reason_phrase(unsigned status) {
    switch (status) {
    case 200:
        return "OK";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    default:
        return "Error";
    }
}

/// Events with equal keys replace each other in a lagging client's queue (conflate policy).
inline std::uint64_t conflation_key(std::string_view name, std::vector<std::string> const& rooms) {
    std::uint64_t h = std::hash<std::string_view>{}(name);
    for (auto const& r : rooms) // order-independent: to(a).to(b) and to(b).to(a) conflate
        h += std::hash<std::string>{}(r)*0x9E3779B97F4A7C15ull;
    return h == 0 ? 1 : h;
}

} // namespace detail

inline void next::operator()() const {
    if (admission_) admission_->advance(index_);
}

inline void next::operator()(reject r) const {
    if (admission_) admission_->refuse(std::move(r), index_);
}

// ---- namespace_ -------------------------------------------------------------------------

inline namespace_::namespace_(private_tag, std::string name, options const& opts,
                              std::shared_ptr<adapter> a)
    : name_(std::move(name))
    , shared_name_(std::make_shared<std::string const>(name_))
    , opts_(opts)
    , adapter_(std::move(a))
    , adapter_interest_(adapter_)
    , history_(opts.history)
    , history_opts_(opts.history)
    , policy_(opts.slow_consumer)
    , admissions_(opts.admission_rate.per_second, opts.admission_rate.burst,
                  detail::token_bucket::clock::now())
    , middleware_(std::make_shared<std::vector<middleware> const>())
    , connection_handlers_(std::make_shared<std::vector<std::function<void(client_ptr)>> const>()) {
    sequenced_.store(sequenced());
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
    // With a sequencing adapter the ids belong to it: a personal event goes without an id
    // (it is not replayable anyway: it is not kept in history).
    if (!sequenced()) {
        ev->stamp(++last_id_);
        std::lock_guard<std::mutex> r(registry_mutex_);
        delivered_upto_ = std::max(delivered_upto_, last_id_); // a known id for a reconnect
    }
    event_ptr shared = std::move(ev);
    if (c.enqueue(shared)) deliveries_.fetch_add(1, std::memory_order_relaxed);
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
    {
        // The same event arrives once per target room channel: only the first copy counts.
        std::lock_guard<std::mutex> r(registry_mutex_);
        if (id <= delivered_upto_) return;
    }
    ev->set_conflation_key(conflation_key_for(ev->name(), rooms));
    ev->stamp(id);
    last_id_ = std::max(last_id_, id);
    event_ptr shared = std::move(ev);
    deliver(broadcast_packet{name_, rooms, except, shared, history_opts_, true});
}

inline std::uint64_t namespace_::last_delivered() const {
    std::lock_guard<std::mutex> lock(registry_mutex_);
    return delivered_upto_;
}

inline void namespace_::reset_clients(std::vector<std::string> const& rooms,
                                      std::string_view reason) {
    std::lock_guard<std::mutex> lock(registry_mutex_);
    std::uint64_t const stamp = ++delivery_stamp_;
    auto reset = [&](client& c) {
        if (c.seen_stamp_ == stamp) return;
        c.seen_stamp_ = stamp;
        resets_.fetch_add(1, std::memory_order_relaxed);
        c.enqueue(make_reset(c, std::string(reason).c_str(), 0));
    };
    if (rooms.empty()) {
        for (auto const& c : all_)
            reset(*c);
        return;
    }
    for (auto const& room : rooms)
        if (auto const* r = find_room(room))
            for (client* c : r->members)
                reset(*c);
}

inline detail::room_state const* namespace_::find_room(std::string const& name) const {
    auto it = rooms_.find(name);
    return it == rooms_.end() ? nullptr : it->second.get();
}

inline void namespace_::deliver(broadcast_packet const& p) {
    std::uint64_t delivered = 0;
    std::lock_guard<std::mutex> lock(registry_mutex_);
    std::uint64_t const stamp = ++delivery_stamp_;
    // A room name is either a shared room or a client's private room (its id).
    auto for_each_in = [&](std::string const& room, auto&& fn) {
        if (auto const* r = find_room(room)) {
            for (client* c : r->members)
                fn(*c);
        } else if (auto it = by_id_.find(room); it != by_id_.end()) {
            fn(*it->second);
        }
    };
    for (auto const& room : p.except)
        for_each_in(room, [&](client& c) { c.except_stamp_ = stamp; });
    auto send = [&](client& c) {
        if (c.except_stamp_ == stamp || c.seen_stamp_ == stamp) return;
        c.seen_stamp_ = stamp; // a client in several target rooms gets one copy
        if (c.enqueue(p.event)) ++delivered;
    };
    if (p.rooms.empty()) {
        for (auto const& c : all_)
            send(*c);
    } else {
        for (auto const& room : p.rooms)
            for_each_in(room, send);
    }
    deliveries_.fetch_add(delivered, std::memory_order_relaxed);
    delivered_upto_ = std::max(delivered_upto_, p.event->id());
    // A sequencing adapter keeps the (shared) history; otherwise it is kept here.
    if (!p.sequenced && history_.enabled() && p.event->id() != 0) record_history(p);
}

inline void namespace_::record_history(broadcast_packet const& p) {
    // A client's private room dies with its connection (a reconnect gets a new id), so
    // events for it are not kept.
    auto is_private = [&](std::string const& r) { return by_id_.count(r) != 0; };
    auto const now = detail::history::clock::now();
    if (std::none_of(p.rooms.begin(), p.rooms.end(), is_private)) {
        history_.record(p.event->id(), p.event, p.rooms, p.rooms, p.except, now);
        return;
    }
    std::vector<std::string> shared;
    for (auto const& r : p.rooms)
        if (!is_private(r)) shared.push_back(r);
    // The entry keeps every target (private rooms too): a late join must know who had it.
    if (!shared.empty()) history_.record(p.event->id(), p.event, shared, p.rooms, p.except, now);
}

inline std::string namespace_::response_head(handshake const& hs) const {
    std::string head = "HTTP/1.1 200 OK\r\n"
                       "Content-Type: text/event-stream\r\n"
                       "Cache-Control: no-cache\r\n"
                       "X-Accel-Buffering: no\r\n";
    if (opts_.cors) {
        auto const& cors = *opts_.cors;
        std::string const allow = detail::cors_allow_origin(cors, hs.header("origin"));
        if (!allow.empty()) {
            head += "Access-Control-Allow-Origin: " + allow + "\r\n";
            if (cors.credentials) head += "Access-Control-Allow-Credentials: true\r\n";
        }
        head += "Vary: Origin\r\n";
    }
    head += "\r\n";
    return head;
}

inline std::string namespace_::rejection_response(reject const& r, handshake const& hs,
                                                  bool head_only, std::string_view extra) const {
    unsigned status = (r.status >= 200 && r.status <= 599) ? r.status : 500;
    std::string body = status == 204 ? std::string() : r.body;
    std::string head = response_head(hs); // reuse the CORS lines so the page can read the status
    auto cors_begin = head.find("Access-Control");
    std::string cors = cors_begin == std::string::npos
                           ? std::string()
                           : head.substr(cors_begin, head.size() - 2 - cors_begin);
    if (cors.empty() && head.find("Vary: Origin") != std::string::npos) cors = "Vary: Origin\r\n";
    std::string out =
        "HTTP/1.1 " + std::to_string(status) + " " + detail::reason_phrase(status) + "\r\n";
    if (status != 204) {
        std::string type =
            detail::safe_header_value(r.content_type) ? r.content_type : "text/plain";
        out += "Content-Type: " + type + "\r\n";
        out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    }
    out += "Cache-Control: no-cache\r\nConnection: close\r\n";
    out += extra;
    out += cors;
    out += "\r\n";
    if (!head_only) out += body; // a HEAD answer has the length of the body, not the body
    return out;
}

inline std::string namespace_::refusal_response(handshake const& hs, bool head_only) const {
    auto const& r = opts_.refusal;
    auto const delay = detail::random_between(r.retry_min.count(), r.retry_max.count());
    if (r.mode == refusal_mode::retry_later && detail::accepts_event_stream(hs.header("accept"))) {
        // EventSource retries a 200 stream that ends, after its `retry:`; it gives up for good
        // on any other status.
        std::string answer = response_head(hs);
        if (!head_only) answer += "retry: " + std::to_string(delay) + "\n\n";
        return answer;
    }
    auto const seconds = std::max<long long>(1, (delay + 999) / 1000);
    return rejection_response(
        reject(r.status, std::string(detail::reason_phrase(r.status)) + ": retry later\n"), hs,
        head_only, "Retry-After: " + std::to_string(seconds) + "\r\n");
}

inline namespace_::admission_result namespace_::admit(client& c) {
    // The response header and first events are queued under the registry lock, so no emit
    // can reach the client before them.
    std::string head = response_head(c.handshake());
    if (opts_.retry.count() > 0) head += "retry: " + std::to_string(opts_.retry.count()) + "\n\n";
    std::shared_ptr<encoded_event> hello;
    if (opts_.connection_event)
        hello = encoded_event::make("connection", nlohmann::json{{"clientId", c.id()}});
    auto head_event = encoded_event::raw(std::move(head));

    std::lock_guard<std::mutex> lock(registry_mutex_);
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
    bool const replay = wants_replay(c);
    {
        std::lock_guard<std::mutex> q(c.queue_mutex_);
        c.state_.store(client::state::open);
        // Nothing leaves before the on_connection handlers ran (they may join rooms the
        // client expects to be in once it sees its first event), nor, with a replay, before
        // the missed events are merged in front of live ones.
        c.hold_writes_ = true;
    }
    c.enqueue(head_event);
    if (hello) c.enqueue(hello);
    c.registered_ = true;
    c.all_index_ = static_cast<std::uint32_t>(all_.size());
    all_.push_back(c.shared_from_this());
    by_id_.insert(&c);
    if (adapter_interest_) adapter_interest_->room_added(name_, c.id());
    auto pending = std::move(c.memberships_);
    c.memberships_.clear();
    for (auto const& m : pending)
        add_member(c, m.name());
    c.admitted_at_id_ = delivered_upto_;
    if (replay) {
        // Runs after the handler that admitted the client (and its on_connection handlers),
        // so that the rooms joined right after connect() are replayed together, in id order.
        c.replay_ = client::replay_state::pending;
        net::post(c.get_executor(), [self = shared_from_this(), who = c.shared_from_this()] {
            self->run_replay(*who);
        });
    }
    connections_.fetch_add(1, std::memory_order_relaxed);
    return admission_result::admitted;
}

inline namespace_::admission_result namespace_::probe(client const& c) const {
    std::lock_guard<std::mutex> lock(registry_mutex_);
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
    std::lock_guard<std::mutex> lock(registry_mutex_);
    admissions_ = detail::token_bucket(r.per_second, r.burst, detail::token_bucket::clock::now());
}

inline void namespace_::end_admission(client& c) {
    std::lock_guard<std::mutex> lock(registry_mutex_);
    if (c.replay_ == client::replay_state::pending) return; // merge_replay releases the writes
    std::unique_lock<std::mutex> q(c.queue_mutex_);
    if (!c.hold_writes_) return;
    c.hold_writes_ = false;
    if (!c.writing_ && c.queue_.has_pending()) c.start_write_locked(q);
}

inline bool namespace_::wants_replay(client const& c) const {
    return (!c.last_event_id().empty() || c.last_event_id_malformed_) && replay_enabled_.load() &&
           history_.enabled();
}

inline event_ptr namespace_::make_reset(client const& c, char const* why, std::uint64_t id) const {
    auto ev = encoded_event::make(
        opts_.reset_event, nlohmann::json{{"reason", why}, {"lastEventId", c.last_event_id()}});
    if (id != 0) ev->stamp(id); // moves the browser's lastEventId to where live events resume
    return ev;
}

inline void namespace_::run_replay(client& c) {
    std::unique_lock<std::mutex> lock(registry_mutex_);
    if (!c.registered_ || c.replay_ != client::replay_state::pending) return;
    c.replay_ = client::replay_state::done;

    std::vector<std::string> rooms;
    rooms.reserve(c.memberships_.size());
    for (auto const& m : c.memberships_)
        rooms.emplace_back(m.name());
    auto const last = detail::parse_event_id(c.last_event_id());

    if (sequenced_.load()) {
        // The shared history lives in the adapter: ask it, keep live events held meanwhile.
        if (!last) return merge_replay(c, {}, "unknown_id");
        auto a = adapter_interest_;
        auto h = history_.options();
        lock.unlock();
        a->fetch_history(name_, std::move(rooms), *last, h,
                         [self = shared_from_this(), who = c.shared_from_this()](history_result r) {
                             net::post(who->get_executor(),
                                       [self, who, r = std::move(r)]() mutable {
                                           self->finish_replay(*who, std::move(r), 0);
                                       });
                         });
        return;
    }

    std::vector<detail::history_entry const*> found;
    if (!last || *last > delivered_upto_) return merge_replay(c, {}, "unknown_id");
    if (history_.collect(*last, rooms, true, found) == detail::history::verdict::reset)
        return merge_replay(c, {}, "history_gap");
    std::vector<event_ptr> missed;
    for (auto const* e : found)
        if (!excluded(c, e->targets->except)) missed.push_back(e->event);
    merge_replay(c, std::move(missed), nullptr);
}

inline void namespace_::finish_replay(client& c, history_result r, std::uint64_t join_at,
                                      std::vector<std::string> const& had) {
    std::lock_guard<std::mutex> lock(registry_mutex_);
    if (!c.registered_) return;
    std::vector<event_ptr> missed;
    if (r.reset_reason.empty()) {
        for (auto& e : r.events) {
            if (!e.event || excluded(c, e.except)) continue;
            // A late join replays only the joined room's events: a namespace-wide one (no
            // rooms) reached this client already, by the first replay or live.
            if (join_at != 0 &&
                (e.id > join_at || e.id > c.admitted_at_id_ || e.rooms.empty() ||
                 std::any_of(e.rooms.begin(), e.rooms.end(), [&](std::string const& room) {
                     return std::find(had.begin(), had.end(), room) != had.end();
                 })))
                continue;
            e.event->stamp(e.id);
            missed.push_back(std::move(e.event));
        }
    }
    if (join_at == 0)
        return merge_replay(c, std::move(missed),
                            r.reset_reason.empty() ? nullptr : r.reset_reason.c_str());
    replay_late(c, std::move(missed), r.reset_reason.empty() ? nullptr : r.reset_reason.c_str());
}

inline void namespace_::replay_late(client& c, std::vector<event_ptr> missed, char const* why) {
    // A late join: the client's stream is live already, so the missed events (in id order)
    // can follow only when they are newer than every id it was queued; else ids would go
    // backwards, and it gets the reset instead. The size bound is the first replay's.
    if (c.owes_nothing_older_) return; // it was reset since it came back: nothing older owed
    std::size_t bytes = 0;
    for (auto const& e : missed)
        bytes += e->wire().size();
    if (!why && bytes > c.max_buffered_bytes_ / 2) why = "history_too_large";
    std::unique_lock<std::mutex> q(c.queue_mutex_);
    auto const queued_upto = c.queued_upto_;
    q.unlock();
    if (!why) {
        if (missed.empty()) return;
        if (missed.front()->id() > queued_upto) {
            for (auto const& e : missed)
                c.enqueue(e);
            return;
        }
        why = "history_gap";
    }
    resets_.fetch_add(1, std::memory_order_relaxed);
    c.owes_nothing_older_ = true;
    // Stamped with the newest id delivered, when that is new to it: a reconnect resumes there.
    c.enqueue(make_reset(c, why, delivered_upto_ > queued_upto ? delivered_upto_ : 0));
}

inline void namespace_::merge_replay(client& c, std::vector<event_ptr> missed, char const* why) {
    // A replay larger than half the client's queue bound would trip the slow-consumer limit:
    // tell the client to refetch instead.
    std::size_t bytes = 0;
    for (auto const& e : missed)
        bytes += e->wire().size();
    if (!why && bytes > c.max_buffered_bytes_ / 2) {
        why = "history_too_large";
        missed.clear();
    }
    (why ? resets_ : replays_).fetch_add(1, std::memory_order_relaxed);
    event_ptr reset = why ? make_reset(c, why, c.admitted_at_id_) : nullptr;

    std::unique_lock<std::mutex> q(c.queue_mutex_);
    c.queue_.rewrite_pending([&](std::vector<event_ptr>& pending) {
        // pending = header and first events (no id), then live events in id order, and maybe
        // pings. Result: the same prefix, the missed events, then live ones, each id once.
        std::vector<event_ptr> out;
        out.reserve(pending.size() + missed.size() + 1);
        std::size_t i = 0;
        for (; i < pending.size() && pending[i]->id() == 0; ++i)
            out.push_back(pending[i]);
        if (reset) out.push_back(reset);
        auto m = missed.begin();
        for (; i < pending.size(); ++i) {
            auto const& live = pending[i];
            // A ping (a comment) is dropped: the replay itself keeps the stream warm. Other
            // id-less events (personal ones with a sequencing adapter) keep their place.
            if (live->id() == 0 && !live->wire().empty() && live->wire().front() == ':') continue;
            if (live->id() == 0) {
                out.push_back(live);
                continue;
            }
            for (; m != missed.end() && (*m)->id() < live->id(); ++m)
                out.push_back(*m);
            if (m != missed.end() && (*m)->id() == live->id()) ++m; // both replayed and live
            out.push_back(live);
        }
        out.insert(out.end(), m, missed.end());
        for (auto const& e : out)
            c.queued_upto_ = std::max(c.queued_upto_, e->id());
        pending.swap(out);
    });
    if (why) c.owes_nothing_older_ = true; // a later join replays nothing older than the reset
    c.hold_writes_ = false;
    if (!c.writing_ && c.queue_.has_pending()) c.start_write_locked(q);
}

inline bool namespace_::had_already(client const& c, std::vector<std::string> const& rooms) const {
    for (auto const& r : rooms) {
        if (r == c.id()) return true;
        for (auto const& m : c.memberships_)
            if (m.name() == r) return true;
    }
    return false;
}

inline bool namespace_::excluded(client const& c, std::vector<std::string> const& except) const {
    for (auto const& x : except) {
        if (x == c.id()) return true;
        for (auto const& m : c.memberships_)
            if (m.name() == x) return true;
    }
    return false;
}

inline void namespace_::replay_late_join(client& c, std::string_view room) {
    // A room joined after the client's replay ran: replay that room's missed events that the
    // client could not have had already (not also sent to a room it was in, nor to everyone),
    // up to the newest id delivered now (later ones reach it live).
    auto const last = detail::parse_event_id(c.last_event_id());
    if (!last || c.owes_nothing_older_) return; // told to reset: nothing older is owed
    if (sequenced_.load()) {
        auto a = adapter_interest_;
        // The rooms it had before this join (the answer comes after the join is done): an
        // event also sent to one of them reached the client already.
        std::vector<std::string> had;
        had.reserve(c.memberships_.size() + 1);
        had.push_back(c.id()); // its private room
        for (auto const& m : c.memberships_)
            had.emplace_back(m.name());
        net::post(c.get_executor(), [self = shared_from_this(), who = c.shared_from_this(), a,
                                     room = std::string(room), after = *last,
                                     join_at = delivered_upto_, h = history_.options(),
                                     had = std::move(had)]() mutable {
            a->fetch_history(
                self->name_, {room}, after, h,
                [self, who, join_at, had = std::move(had)](history_result r) mutable {
                    net::post(who->get_executor(), [self, who, join_at, had = std::move(had),
                                                    r = std::move(r)]() mutable {
                        self->finish_replay(*who, std::move(r), join_at == 0 ? 1 : join_at, had);
                    });
                });
        });
        return;
    }
    std::vector<detail::history_entry const*> found;
    if (history_.collect(*last, {std::string(room)}, false, found) ==
        detail::history::verdict::reset)
        return replay_late(c, {}, "history_gap");
    // Owed: what it missed while disconnected (up to its admission); later events of the
    // room were not for it (membership at emit time decides).
    std::vector<event_ptr> missed;
    for (auto const* e : found)
        if (e->event->id() <= c.admitted_at_id_ && !had_already(c, e->targets->rooms) &&
            !excluded(c, e->targets->except))
            missed.push_back(e->event);
    replay_late(c, std::move(missed), nullptr);
}

inline void namespace_::unregister(client& c) {
    std::lock_guard<std::mutex> lock(registry_mutex_);
    if (!c.registered_) {
        c.memberships_.clear();
        return;
    }
    c.registered_ = false;
    while (!c.memberships_.empty())
        remove_member(c, c.memberships_.size() - 1);
    by_id_.erase(c.id());
    if (adapter_interest_) adapter_interest_->room_removed(name_, c.id());
    if (opts_.max_clients_per_address != 0) {
        auto it = per_address_.find(c.handshake().remote_endpoint().address().to_string());
        if (it != per_address_.end() && --it->second == 0) per_address_.erase(it);
    }
    // Swap-remove from the flat list of all clients.
    std::size_t i = c.all_index_;
    if (i + 1 != all_.size()) {
        all_[i] = std::move(all_.back());
        all_[i]->all_index_ = static_cast<std::uint32_t>(i);
    }
    all_.pop_back();
}

inline void namespace_::add_member(client& c, std::string_view room) {
    for (auto const& m : c.memberships_)
        if (m.name() == room) return;
    if (room == c.id()) return; // the private room is implicit
    std::string key(room);
    auto it = rooms_.find(key);
    if (it == rooms_.end()) {
        auto state = std::make_unique<detail::room_state>();
        state->name = key;
        it = rooms_.emplace(key, std::move(state)).first;
        if (adapter_interest_) adapter_interest_->room_added(name_, room);
    }
    auto* r = it->second.get();
    // The room's name serves as the client's: no copy per member.
    c.memberships_.push_back(client::membership{nullptr, r, r->members.size()});
    r->members.push_back(&c);
}

inline void namespace_::remove_member(client& c, std::size_t k) {
    auto m = std::move(c.memberships_[k]);
    c.memberships_.erase(c.memberships_.begin() + static_cast<std::ptrdiff_t>(k));
    auto* r = m.room;
    if (r == nullptr) return;
    // Swap-remove, then fix the index the moved member keeps for this room.
    if (m.index + 1 != r->members.size()) {
        client* moved = r->members.back();
        r->members[m.index] = moved;
        for (auto& mm : moved->memberships_)
            if (mm.room == r) mm.index = m.index;
    }
    r->members.pop_back();
    if (r->members.empty()) {
        if (adapter_interest_) adapter_interest_->room_removed(name_, r->name);
        rooms_.erase(rooms_.find(r->name)); // by iterator: r->name dies with the room
    }
}

inline void namespace_::check_room_limit(client const& c, std::size_t adding) const {
    if (c.memberships_.size() + adding > opts_.max_rooms_per_client)
        throw std::length_error("[sse.too_many_rooms] a client may join at most "
                                "options::max_rooms_per_client rooms");
}

inline void namespace_::join(client& c, std::string_view room) {
    std::lock_guard<std::mutex> lock(registry_mutex_);
    if (c.close_started_.load()) return;
    join_locked(c, room);
}

inline void namespace_::join_all(client& c, std::vector<std::string> const& rooms) {
    std::lock_guard<std::mutex> lock(registry_mutex_);
    if (c.close_started_.load()) return;
    std::size_t adding = 0;
    for (std::size_t k = 0; k < rooms.size(); ++k) {
        auto const& r = rooms[k];
        bool dup = r == c.id() ||
                   std::find(rooms.begin(), rooms.begin() + static_cast<std::ptrdiff_t>(k), r) !=
                       rooms.begin() + static_cast<std::ptrdiff_t>(k);
        for (auto const& m : c.memberships_)
            dup = dup || m.name() == r;
        if (!dup) ++adding;
    }
    check_room_limit(c, adding);
    for (auto const& r : rooms)
        join_locked(c, r);
}

inline void namespace_::join_locked(client& c, std::string_view room) {
    if (room == c.id()) return; // the private room is implicit
    bool const is_new = std::none_of(c.memberships_.begin(), c.memberships_.end(),
                                     [&](client::membership const& m) { return m.name() == room; });
    if (!is_new) return;
    check_room_limit(c, 1);
    if (c.registered_) {
        if (c.replay_ == client::replay_state::done && wants_replay(c)) replay_late_join(c, room);
        add_member(c, room);
        return;
    }
    // Not admitted yet: remember the room, apply it on admission.
    c.memberships_.push_back(client::membership{std::make_unique<std::string>(room), nullptr, 0});
}

inline void namespace_::leave(client& c, std::string_view room) {
    std::lock_guard<std::mutex> lock(registry_mutex_);
    for (std::size_t k = 0; k < c.memberships_.size(); ++k) {
        if (c.memberships_[k].name() == room) {
            if (c.registered_)
                remove_member(c, k);
            else
                c.memberships_.erase(c.memberships_.begin() + static_cast<std::ptrdiff_t>(k));
            return;
        }
    }
}

inline std::vector<std::string> namespace_::rooms_of(client const& c) const {
    std::lock_guard<std::mutex> lock(registry_mutex_);
    std::vector<std::string> out;
    out.reserve(c.memberships_.size() + 1);
    out.push_back(c.id());
    for (auto const& m : c.memberships_)
        out.emplace_back(m.name());
    return out;
}

inline std::size_t namespace_::client_count() const {
    std::lock_guard<std::mutex> lock(registry_mutex_);
    return all_.size();
}

inline std::vector<client_ptr> namespace_::clients() const {
    std::lock_guard<std::mutex> lock(registry_mutex_);
    return all_;
}

inline client_ptr namespace_::find_client(std::string_view id) const {
    std::lock_guard<std::mutex> lock(registry_mutex_);
    auto it = by_id_.find(id);
    return it == by_id_.end() ? nullptr : it->second->shared_from_this();
}

inline std::vector<std::string> namespace_::rooms() const {
    std::lock_guard<std::mutex> lock(registry_mutex_);
    std::vector<std::string> out;
    out.reserve(rooms_.size());
    for (auto const& kv : rooms_)
        out.push_back(kv.first);
    std::sort(out.begin(), out.end());
    return out;
}

inline std::vector<client_ptr> namespace_::room(std::string_view name) const {
    std::lock_guard<std::mutex> lock(registry_mutex_);
    std::vector<client_ptr> out;
    if (auto const* r = find_room(std::string(name))) {
        out.reserve(r->members.size());
        for (client* c : r->members)
            out.push_back(c->shared_from_this());
    } else if (auto it = by_id_.find(name); it != by_id_.end()) {
        out.push_back(it->second->shared_from_this());
    }
    return out;
}

inline namespace_stats namespace_::stats() const {
    namespace_stats s;
    {
        std::lock_guard<std::mutex> lock(registry_mutex_);
        s.clients = all_.size();
        s.rooms = rooms_.size();
        s.history_events = history_.size();
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

inline void namespace_::heartbeat(event_ptr const& ping) {
    std::lock_guard<std::mutex> lock(registry_mutex_);
    for (auto const& c : all_)
        c->enqueue(ping);
}

inline void namespace_::expire_history() {
    std::lock_guard<std::mutex> lock(registry_mutex_);
    if (history_.enabled()) history_.expire(detail::history::clock::now());
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
    std::lock_guard<std::mutex> lock(registry_mutex_);
    history_opts_ = h;
    history_.configure(h);
    sequenced_.store(sequenced());
}

inline void namespace_::set_adapter(std::shared_ptr<adapter> a) {
    std::lock_guard<std::mutex> emit_lock(emit_mutex_);
    std::lock_guard<std::mutex> lock(registry_mutex_);
    adapter_ = std::move(a);
    adapter_interest_ = adapter_;
    sequenced_.store(sequenced());
    adapter_->namespace_added(name_);
    for (auto const& kv : rooms_)
        adapter_->room_added(name_, kv.first);
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
        std::lock_guard<std::mutex> lock(registry_mutex_);
        everyone = all_;
    }
    for (auto const& c : everyone) {
        auto hint = close_retry_hint();
        c->close(reason, true, hint.empty() ? event_ptr() : encoded_event::raw(std::move(hint)));
    }
}

inline std::string namespace_::close_retry_hint() const {
    // Spread reconnects: each browser is told to wait a random time within the window.
    auto lo = opts_.close_retry_min.count();
    auto hi = std::max(lo, opts_.close_retry_max.count());
    if (hi <= 0) return {};
    return "retry: " + std::to_string(detail::random_between(lo, hi)) + "\n\n";
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
