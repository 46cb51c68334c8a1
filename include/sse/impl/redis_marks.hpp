// sse/impl/redis_marks.hpp - channel marks: after a quiet spell on a channel this node
// published on, a mark repeats the number of its last message there, so that a receiver that
// lost that message sees it (detail/redis_channel_marks.hpp; included by
// impl/redis_adapter.hpp; every function runs on the adapter's strand).
#ifndef SSE_IMPL_REDIS_MARKS_HPP
#define SSE_IMPL_REDIS_MARKS_HPP

namespace sse::detail {

// `m` was written to Redis (its copies are on their connections): each of its channels is
// owed a mark once quiet. Written after it on the same connection, a mark cannot overtake it.
inline void redis_adapter_impl::note_written(redis_outgoing const& m) {
    if (!opts_.channel_numbers || opts_.channel_mark_after.count() <= 0) return;
    auto const now = steady_us();
    std::size_t const c = m.channels.size();
    if (!m.script_args.empty()) {
        // The script's arguments: ... [9] event id, [10] room count, rooms, channel count,
        // channels, then one 8-byte number per channel (number_channels).
        auto const& a = m.script_args;
        std::size_t rooms = 0;
        std::uint64_t id = 0;
        if (a.size() < 12 ||
            std::from_chars(a[10].data(), a[10].data() + a[10].size(), rooms).ec != std::errc() ||
            std::from_chars(a[9].data(), a[9].data() + a[9].size(), id).ec != std::errc())
            return;
        std::size_t const numbers_at = 12 + rooms + c;
        if (a.size() < numbers_at + c) return;
        for (std::size_t i = 0; i < c; ++i)
            channel_marks_.written(m.channels[i],
                                   redis_message_impl::get_u64_at(a[numbers_at + i], 0), m.sequence,
                                   id, true, now);
    } else {
        auto const id = redis_message_event_id(m.payload);
        for (std::size_t i = 0; i < c; ++i) {
            auto const number = i < m.channel_numbers.size()
                                    ? m.channel_numbers[i]
                                    : redis_message_channel_number(m.payload);
            channel_marks_.written(m.channels[i], number, m.sequence, id, false, now);
        }
    }
    arm_mark_timer();
}

inline void redis_adapter_impl::arm_mark_timer() {
    if (mark_timer_armed_ || torn_down_ || channel_marks_.empty()) return;
    mark_timer_armed_ = true;
    mark_timer_.expires_after(opts_.channel_mark_after);
    mark_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
        self->mark_timer_armed_ = false;
        if (!ec) self->send_marks();
    });
}

// The channels quiet for channel_mark_after get their mark. While the publisher is away
// they wait (what it still holds goes out first, and is noted again).
inline void redis_adapter_impl::send_marks() {
    if (torn_down_) return;
    if (sharded() || publisher_ready()) {
        auto const due = channel_marks_.take_due(
            steady_us(),
            std::chrono::duration_cast<std::chrono::microseconds>(opts_.channel_mark_after)
                .count());
        std::string nsp, room;
        for (auto const& mk : due) {
            if (!parse_redis_channel(mk.channel, opts_.channel_prefix, nsp, room)) continue;
            auto payload = encode_redis_mark(node_id_, nsp, room, mk.number, mk.sequence,
                                             mk.event_id, mk.shared);
            if (sharded())
                shard_publish(mk.channel, std::move(payload));
            else
                pub_.conn->command(redis_connection::tag_ignore, {"PUBLISH", mk.channel, payload});
            channel_marks_sent_.fetch_add(1, std::memory_order_relaxed);
        }
    }
    arm_mark_timer();
}

// Another node's mark came on `channel` (for `room`): the last message it published there.
inline void redis_adapter_impl::on_channel_mark(std::string_view channel, std::string_view room) {
    auto const seen = channel_numbers_seen_.observe_mark(channel, msg_.origin, msg_.channel_number,
                                                         msg_.sequence, msg_.event_id);
    if (seen.what == redis_channel_gaps::kind::gap)
        on_channel_gap(channel, room, redis_mark_is_shared(msg_), seen, msg_.event_id + 1);
}

} // namespace sse::detail

#endif
