// sse/impl/redis_fetch.hpp - history reads of the Redis adapter: the fetch script on the
// publisher connection, after this node's own queued appends and after the subscriptions
// sent before the read, each answered exactly once (included by impl/redis_adapter.hpp).
#ifndef SSE_IMPL_REDIS_FETCH_HPP
#define SSE_IMPL_REDIS_FETCH_HPP

namespace sse::detail {

inline void redis_adapter_impl::fetch_history(std::string_view nsp, std::vector<std::string> rooms,
                                              std::uint64_t after, history_options const& h,
                                              std::function<void(history_result)> done) {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!closed_) learn(nsp, h.max_age);
    }
    if (closed_flag_.load(std::memory_order_acquire)) {
        done(history_result{"history_unavailable", {}});
        return;
    }
    net::post(strand_, [self = shared_from_this(), nsp = std::string(nsp), rooms = std::move(rooms),
                        after, age = h.max_age, done = std::move(done)]() mutable {
        auto read = [self, nsp = std::move(nsp), rooms = std::move(rooms), after, age,
                     done = std::move(done)]() mutable {
            self->start_fetch(nsp, rooms, after, age,
                              [done = std::move(done)](redis_fetch_reply r) {
                                  history_result out;
                                  out.head = r.seq;
                                  if (!r.status.empty())
                                      out.reset_reason = std::move(r.status);
                                  else if (!r.gapped.empty())
                                      out.reset_reason = "history_gap";
                                  else
                                      out.events = std::move(r.events);
                                  done(std::move(out));
                              });
        };
        self->when_subscribed(std::move(read));
    });
}

// Strand. Runs the fetch script on the publisher; `cb` is called exactly once, on the
// strand (maybe before this returns).
//
// A read must see this node's own emits made before it: their appends go on the same
// connection, which Redis runs in order, so the read is written after every append
// queued before it (`appended_before`: how many had been queued). One still waiting for
// the pipelining window holds the read back; so does a publisher still connecting.
inline void redis_adapter_impl::start_fetch(std::string const& nsp,
                                            std::vector<std::string> const& rooms,
                                            std::uint64_t after, std::chrono::milliseconds age,
                                            fetch_callback cb,
                                            std::optional<std::uint64_t> appended_before,
                                            bool subscribed, unsigned redirects) {
    auto fail = [&cb] {
        redis_fetch_reply r;
        r.status = "history_unavailable";
        cb(std::move(r));
    };
    if (closed_flag_.load(std::memory_order_acquire)) return fail();
    auto const need = appended_before.value_or(enqueued_);
    bool const connecting = !publisher_ready();
    if (connecting || enqueued_ - queue_.pending() < need) {
        // Without a connection under way (between retries) it fails now.
        if ((connecting && !pub_.conn) || waiting_fetches_.size() >= max_pending_fetches)
            return fail();
        waiting_fetches_.push_back([this, nsp, rooms, after, age, cb = std::move(cb), need,
                                    subscribed, redirects]() mutable {
            start_fetch(nsp, rooms, after, age, std::move(cb), need, subscribed, redirects);
        });
        return;
    }
    // Also when it is written: rooms wait for the publisher to learn the topology, so
    // their subscriptions may have been sent after the read was asked for.
    if (!subscribed && !subscriptions_settled()) {
        return when_subscribed(
            [this, nsp, rooms, after, age, cb = std::move(cb), need, redirects]() mutable {
                start_fetch(nsp, rooms, after, age, std::move(cb), need, true, redirects);
            });
    }
    std::vector<std::string> args;
    args.reserve(6 + rooms.size());
    args.emplace_back("EVALSHA");
    args.push_back(fetch_sha());
    args.emplace_back("0");
    args.push_back(redis_channel(opts_.channel_prefix, nsp, {}));
    if (topology_ == redis_topology::cluster) place_script_keys(args);
    args.push_back(std::to_string(after));
    args.push_back(std::to_string(std::max<std::int64_t>(0, age.count())));
    for (auto const& r : rooms)
        if (!r.empty() && std::find(args.begin() + 6, args.end(), r) == args.end())
            args.push_back(r);
    std::vector<char const*> argv;
    std::vector<std::size_t> lens;
    for (auto const& x : args) {
        argv.push_back(x.data());
        lens.push_back(x.size());
    }
    int const tag = next_fetch_tag_;
    next_fetch_tag_ = next_fetch_tag_ >= (1 << 30) ? tag_fetch_first : next_fetch_tag_ + 1;
    if (!pub_.conn->command(tag, static_cast<int>(argv.size()), argv.data(), lens.data()))
        return fail();
    fetches_.emplace(tag, fetch_in_flight{nsp, rooms, after, age, need, std::move(cb), redirects});
}

// The publisher goes because the cluster redirected it: the reads written on it are kept,
// to be written again on the next connection (each a bounded number of times).
inline void redis_adapter_impl::keep_fetches_for_redirect() {
    std::map<int, fetch_in_flight> spent; // redirected too often: fail_fetches answers them
    for (auto& [tag, f] : fetches_) {
        if (++f.redirects > max_fetch_redirects)
            spent.emplace(tag, std::move(f));
        else
            redirected_fetches_.push_back(std::move(f));
    }
    fetches_ = std::move(spent);
}

// The publisher is placed on the right node: the redirected reads go again, first.
inline void redis_adapter_impl::rewrite_redirected_fetches() {
    auto again = std::move(redirected_fetches_);
    redirected_fetches_.clear();
    for (auto& f : again)
        start_fetch(f.nsp, f.rooms, f.after, f.age, std::move(f.cb), f.appended_before, true,
                    f.redirects);
}

inline void redis_adapter_impl::on_fetch_reply(redisReply const& reply, int tag) {
    auto it = fetches_.find(tag);
    if (it == fetches_.end()) return;
    auto cb = std::move(it->second.cb);
    auto const f = std::move(it->second);
    fetches_.erase(it);
    redis_fetch_reply r;
    if (!decode_redis_fetch_reply(reply, r) && reply.type == REDIS_REPLY_ERROR) {
        std::string e = "Redis refused a history read: " + std::string(reply.str, reply.len);
        log(redis_log_level::error, e);
        record_error(e);
    }
    if (r.status.empty()) add_own_lost(f.nsp, f.rooms, f.after, r);
    if (r.malformed > 0) malformed_.fetch_add(r.malformed, std::memory_order_relaxed);
    history_reads_.fetch_add(1, std::memory_order_relaxed);
    cb(std::move(r));
}

// This node's own lost emits that the history does not show yet (not told, or told after
// this read was written: replies come in order): a read after an id below them finds their
// logs gapped, as it will once their floors are in Redis (raise_history_floor).
inline void redis_adapter_impl::add_own_lost(std::string const& nsp,
                                             std::vector<std::string> const& rooms,
                                             std::uint64_t after, redis_fetch_reply& r) {
    auto add = [&](lost_emits const& l) {
        if (!l.sequenced || l.max_id <= after) return;
        r.seq = std::max(r.seq, l.max_id);
        auto gap = [&](std::string const& log) {
            if (std::find(r.gapped.begin(), r.gapped.end(), log) == r.gapped.end())
                r.gapped.push_back(log);
        };
        if (l.whole) return gap({});
        for (auto const& room : rooms)
            if (l.rooms.count(room) != 0) gap(room);
    };
    for (auto const& [n, l] : lost_told_)
        if (n == nsp) add(l);
    std::lock_guard<std::mutex> lock(mutex_);
    if (auto it = lost_emits_.find(nsp); it != lost_emits_.end()) add(it->second);
}

// The publisher is placed or wrote more appends (the reads that may go, go), or it is
// gone (they fail).
inline void redis_adapter_impl::run_waiting_fetches() {
    auto due = std::move(waiting_fetches_);
    waiting_fetches_.clear();
    for (auto& f : due)
        f();
}

// The publisher is gone (or we close): every read waiting for it is answered.
inline void redis_adapter_impl::fail_fetches(bool keep_redirected) {
    // The publisher is gone: the reads waiting for it fail, unless it is only going to the
    // right node (they go once it is placed there).
    if (!keep_redirected) run_waiting_fetches();
    auto waiting = std::move(fetches_);
    fetches_.clear();
    // Redirected reads wait for the next placement when the cluster redirected this
    // connection; else (a connection that failed, or we close) they fail too.
    std::vector<fetch_in_flight> redirected;
    if (!keep_redirected) redirected = std::exchange(redirected_fetches_, {});
    auto fail = [](fetch_callback& cb) {
        redis_fetch_reply r;
        r.status = "history_unavailable";
        cb(std::move(r));
    };
    for (auto& [tag, f] : waiting)
        fail(f.cb);
    for (auto& f : redirected)
        fail(f.cb);
}

} // namespace sse::detail

#endif
