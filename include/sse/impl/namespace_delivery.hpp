// sse/impl/namespace_delivery.hpp - how an event enters a namespace's logs: another node's
// events (deliver_remote), shared-history ids (deliver_sequenced) and the merge window that
// orders them across origins, the append itself, and resets of a set of rooms. Included by
// impl/namespace.hpp; the flush pass (impl/namespace_flush.hpp) takes it from the logs.
#ifndef SSE_IMPL_NAMESPACE_DELIVERY_HPP
#define SSE_IMPL_NAMESPACE_DELIVERY_HPP

#include <boost/asio/post.hpp>

#include <algorithm>
#include <chrono>
#include <memory>
#include <unordered_set>

namespace sse {

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
        // A reconnect joined its rooms at its admission head, after the event in id order,
        // but is owed what its replay window (Last-Event-ID, that head] missed.
        if (!detail::delivery_core::owed(state_of(c), rooms, ev->id()) &&
            !replay_windows_.owes(&c, ev->id()))
            return;
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

inline void namespace_::reset_clients(std::vector<std::string> const& rooms,
                                      std::string_view reason) {
    std::string const why(reason);
    std::lock_guard<std::mutex> lock(log_mutex_);
    for_each_recipient(rooms, {}, false, [&](client& c) {
        resets_.fetch_add(1, std::memory_order_relaxed);
        c.enqueue(make_reset(c, why.c_str(), 0));
    });
}

} // namespace sse

#endif // SSE_IMPL_NAMESPACE_DELIVERY_HPP
