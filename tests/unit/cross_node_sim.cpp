// Unit: a deterministic simulation of several nodes that share one namespace's history through
// Redis, against a reference model (issue #17, item 6).
//
// Each node runs the real sans-I/O parts: a delivery_core with no local history (a sequenced
// namespace: namespace_::delivery_options_for), a merge_window, hybrid ids from its own
// (skewed) clock, the publish queue, redis_sequence_filter, redis_channel_counters and
// redis_channel_gaps, the gap recovery's state machine (redis_gap_recovery: which reads are
// wanted, running or queued, what is held), and encode/decode_redis_message on the wire. The
// reads and deliveries around them mirror impl/redis_recovery.hpp. Only the I/O is modelled:
//
//   - Redis: per-room sorted logs trimmed to max_events and max_age, a floor per log, keys
//     that expire, the origin-sequence check of the append script, the fetch script's
//     answers (ok, history_gap, gapped rooms); one publisher connection per node whose
//     commands (appends, reads, lost notices) Redis runs in order, one at a time;
//   - pub/sub: a message reaches the nodes subscribed to its channel when Redis runs the
//     append; in flight it waits in a FIFO per subscriber (or, with reorder_channels, per
//     (subscriber, origin, channel), interleaved at random), for any delay; a single message
//     may be lost;
//   - faults: a publisher away (emits are delivered locally at once and wait in the bounded
//     queue; an in-flight one may have run without its reply), a subscriber away (what is
//     published meanwhile never reaches it; the broker-gap recovery reads it back), a node
//     restarting (a new node id; its queue drained first or lost; its clients reconnect to
//     a random node with their Last-Event-ID);
//   - a clock: true time moves in steps, each node reads it with a fixed skew (none, a few
//     ms, or up to 0.45 s: any two nodes agree within max_clock_skew_us);
//   - clients: users connect to a random node (with their Last-Event-ID, mostly), join rooms
//     at connect and later (new streams only), disconnect; the clients of a restarting node
//     reconnect at once.
//
// Per seed: 2 to 4 nodes, Redis's max_events (2..24) and max_age (0.3..5 s), the merge window
// (0..30 ms), the publish queue's bounds, the fault rate (0..3) and whether Redis and pub/sub
// keep up ("fast") or lag many steps behind ("slow").
//
// The glue that namespace_ (impl/namespace.hpp, namespace_membership.hpp, shared_replay.hpp)
// and redis_adapter_impl (impl/redis_adapter.hpp, redis_recovery.hpp) put around those parts
// is mirrored here, function by function; each mirror says which function it mirrors, and
// simplifies only what is I/O (threads, strands, locks, timers: the steps run one at a time).
// Not modelled: unsubscribing (a room's channel stays wanted), private rooms and emits to
// one client, the late join of a reconnect's room (delivery_sim covers it), history bounds
// in bytes, close() and adapter::succeed.
//
// The reference model knows nothing of the cores, windows or filters. It knows each event's
// id, origin, rooms and except rooms, whether Redis stored it (or the origin dropped it, or
// a crash lost it), and each connection's rooms, Last-Event-ID and join points. Checks:
//
//   - on every event a browser receives: ids strictly increase on the connection and start
//     above its Last-Event-ID; the event was for it (its rooms, not excluded, after its
//     admission or Last-Event-ID); no user gets an id twice, on any of its connections;
//   - on every reset: an event the connection was owed is missing and can no longer come in
//     order (it is behind the node's head, or nobody can deliver it any more); see
//     `justified_reset` for where the rule is looser, and why;
//   - at quiescence (outages over, every command run, every message delivered, windows
//     released): every connection got every event it was owed, or a reset came after it.
//
// Known limits and bugs found by this simulation have knobs (see `knobs`): the default run
// excuses them (each miss excused is counted by reason), the hidden "[.known]" cases run one
// strictly each and fail (`sse_unit_tests "[cross_node_sim_known]"`). A second case breaks a
// part on purpose (no recovery read, no merge window, no channel gap check, no look at the
// channel marks, no floor for dropped emits, a channel gap's lost events through the
// per-origin filter) and requires a seed to fail.
//
// A failure prints its seed and schedule; SSE_SIM_SEED=<n> replays one seed (its whole
// schedule on stderr when it fails, or with SSE_SIM_TRACE=1 when it passes),
// SSE_SIM_SEEDS=<count> runs more or fewer.
#include <sse/detail/delivery_core.hpp>
#include <sse/detail/hybrid_id.hpp>
#include <sse/detail/merge_window.hpp>
#include <sse/detail/redis_channel_marks.hpp>
#include <sse/detail/redis_channel_sequence.hpp>
#include <sse/detail/redis_gap_recovery.hpp>
#include <sse/detail/redis_message.hpp>
#include <sse/detail/redis_publish_queue.hpp>
#include <sse/detail/replay_windows.hpp>

#include "support/catch.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

namespace cross_node_sim {

using namespace sse::detail;

struct xsim_failure {
    std::string what;
};

#define XSIM_CHECK(cond, msg)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            std::ostringstream xsim_os_;                                                           \
            xsim_os_ << msg;                                                                       \
            throw xsim_failure{std::string("check failed: " #cond " - ") + xsim_os_.str()};        \
        }                                                                                          \
    } while (0)

/// What the run models strictly, and deliberate breakage (to see the checks fail).
struct knobs {
    /// Pub/sub FIFO per (subscriber, origin, channel), channels interleaved at random, instead
    /// of one FIFO per subscriber (what one Redis server does).
    bool reorder_channels = false;
    /// Lose single pub/sub messages.
    bool lose_messages = true;
    /// Was a known limit: an emit its origin dropped (publish queue full) is in no history;
    /// the "lost" notice reached only the nodes subscribed when it went out (and one dropped
    /// by a requeue past max_pending got none). Fixed (the notice first raises the replay
    /// floors of its rooms and the head to its highest id: redis_lost_script): strict.
    /// Strict: every client owed it must get a reset.
    bool strict_dropped_emits = true;
    /// Was a known limit: a lost message was seen only when a later one on its channel from
    /// its origin arrived. Fixed (channel marks, detail/redis_channel_marks.hpp): a quiet
    /// channel gets a mark with its last number. Strict: a loss must end in the event or a
    /// reset, unless the mark that would reveal it never came (strict_lost_mark).
    bool strict_unrevealed_loss = true;
    /// Known limit: a lost message whose channel's mark is lost too, or whose origin restarts
    /// before its mark, or whose receiver's subscriber reconnects before the mark comes, stays
    /// unseen until the next message on its channel; and one lost before anything of its
    /// origin arrived on its channel (since the node subscribed, or its subscriber connected)
    /// is never seen: the receiver has no number to compare with. Strict: it must end in the
    /// event or a reset anyway.
    bool strict_lost_mark = false;
    /// Was a bug: a reconnect's replay is read from Redis once; another node's event with an
    /// id in (Last-Event-ID, head at admission] (this node's clock ahead) that reaches Redis
    /// after that read was neither in the replay nor sent live, nor reset (the client joined
    /// its rooms at the head, after it). Strict: it must be delivered or reset. (This node's
    /// own such events are never excused: its read waits for them.) Fixed
    /// (detail/replay_windows.hpp: the window's ids the read did not find are owed): strict.
    bool strict_late_replay = true;
    /// Was a bug: a subscriber outage that started before the node learned the namespace
    /// is sequenced (a fresh node: no emit, read or message yet) marked no gap start; the
    /// recovery then read after the head, which its own emits (and catch-ups) moved past
    /// what other nodes published meanwhile. Strict: those must be delivered or reset.
    /// Fixed (the namespace's start-up read teaches the adapter at once): strict.
    bool strict_unmarked_gap = true;
    /// Was a bug: the broker-gap recovery read after the head at the gap start; another
    /// node whose clock is behind published ids below it during the outage: they were not
    /// read, so neither delivered nor seen as late (no reset). Strict: delivered or reset.
    /// Fixed (the gap start is at least a second back, the clock agreement): strict.
    bool strict_recovery_skew = true;
    /// Was a bug: a catch-up read (a room new to the node) that failed because the publisher
    /// was away was dropped (finish_catch_up counted on the subscriber's recovery), but the
    /// subscriber may have stayed up: nothing read that history again. Strict: the events it
    /// would have read must be delivered or reset. Fixed (the room's clients reset): strict.
    bool strict_catch_up = true;
    /// Was a bug (fixed: the read's other events are left alone): a channel gap's read passed the
    /// events of other origins through redis_sequence_filter (highest id per origin). An older
    /// message of such an origin B that is not in the read (its id is at or below the gap's
    /// `after`, B's clock being behind; or it went to a room the read does not cover) but still on
    /// its way, or held, then reaches the filter after B's newer ones: it is taken for a
    /// copy. No event, no reset.
    /// Strict by default since the fix.
    bool strict_filter_unseen = true;
    /// Was a bug: a node read no history for the namespace channel when it started (a room
    /// new to it gets catch_up_room): namespace-wide events published before Redis confirmed
    /// its first SUBSCRIBE never reached the clients it admitted meanwhile. Strict: delivered
    /// or reset. Fixed (namespace_::catch_up_namespace): strict.
    bool strict_startup = true;
    /// Was a bug: give_up_recovery (more held messages than max_pending_emits while the
    /// recovery waits) resets every client and stops holding, but also dropped the recovery:
    /// what was published on the channels whose SUBSCRIBE Redis had not confirmed yet was
    /// never read. Strict: delivered or reset. Fixed (a new gap starts at the give-up while a
    /// SUBSCRIBE is pending, read once they are confirmed): strict.
    bool strict_give_up = true;
    /// Imprecision: a catch-up read also reads the namespace log, and any gapped log makes it
    /// "history_gap" as a whole: the room's members reset when only the namespace log was
    /// trimmed past the read's start (a namespace with more than max_events emits in a
    /// second), though namespace-wide events came on the namespace channel. And its answer
    /// resets whoever is in the room when it comes, also members that joined after the read
    /// was asked for. Strict: such a reset needs a missing owed event.
    bool strict_catch_up_reset = false;
    /// Was a bug: a replay that fails (or is too large) sent a reset stamped with the
    /// head at admission, which is below the client's Last-Event-ID when it comes from a
    /// node that was ahead: the browser's lastEventId goes back, and its next reconnect
    /// replays events it had already. Strict: no reset id below Last-Event-ID.
    /// Fixed (finish_replay stamps the reset with at least the Last-Event-ID): strict.
    bool strict_reset_rewind = true;
    /// Imprecision: delivery_core::owed takes a namespace-wide event for owed to every
    /// client (also one admitted after its id), and a room's event for owed to a member since
    /// before it, also one whose last reset already covered it (a reset moves the position,
    /// not the memberships), or whose replay already gave it (the replay bypasses the logs,
    /// so `holds` does not know); and a client whose replay is being read resets for any late
    /// event (the read may hold it or not). A late event then resets clients that miss
    /// nothing. Strict: such a reset fails the run.
    bool strict_late_owed = false;
    /// Bug candidate: finish_replay keeps what the read found up to the head at admission;
    /// when that head is below the Last-Event-ID (a new or idle node, a room new to it), the
    /// events above it that Redis had before the node subscribed never come: neither in the
    /// replay nor live. Strict: they must be delivered or reset.
    bool strict_replay_upto = false;
    // Breakage, to prove the checks bite.
    bool break_recovery_read = false; ///< the recovery read returns nothing
    bool break_merge_window = false;  ///< no merge window and no late detection
    bool break_channel_gaps = false;  ///< lost messages are never looked for
    bool break_marks = false;         ///< channel marks are sent but not looked at
    bool break_lost_floor = false;    ///< dropped emits leave no floor in the history
    /// A channel gap's lost events go through a filter that keeps only the highest value per
    /// origin (as redis_sequence_filter did before it kept a window): the origin's later
    /// messages on other channels passed it already, so they are dropped.
    bool break_lost_on = false;
    /// A history read is written at once, before this node's appends still outside the
    /// pipelining window: a reconnect's replay can miss this node's own recent emits.
    bool break_read_after_appends = false;
};

struct sim_stats {
    std::uint64_t deliveries = 0, replays = 0, resets = 0, late_resets = 0, recoveries = 0,
                  gap_recoveries = 0, lost_messages = 0, dropped_emits = 0, restarts = 0,
                  excused = 0, held_in_window = 0, catch_ups = 0, unowed_late = 0,
                  loose_catch_up_resets = 0, rewound_duplicates = 0, late_but_had_it = 0,
                  late_copies = 0;
    std::map<std::string, std::uint64_t> excuses; // misses excused, by known limit
    sim_stats& operator+=(sim_stats const& o) {
        deliveries += o.deliveries;
        replays += o.replays;
        resets += o.resets;
        late_resets += o.late_resets;
        recoveries += o.recoveries;
        gap_recoveries += o.gap_recoveries;
        lost_messages += o.lost_messages;
        dropped_emits += o.dropped_emits;
        restarts += o.restarts;
        excused += o.excused;
        held_in_window += o.held_in_window;
        catch_ups += o.catch_ups;
        unowed_late += o.unowed_late;
        loose_catch_up_resets += o.loose_catch_up_resets;
        rewound_duplicates += o.rewound_duplicates;
        late_but_had_it += o.late_but_had_it;
        late_copies += o.late_copies;
        for (auto const& kv : o.excuses)
            excuses[kv.first] += kv.second;
        return *this;
    }
};

constexpr char const* nsp = "/";
constexpr std::uint64_t epoch_ms = hybrid_id_epoch_us / 1000;

// ---- the reference model's view of events -------------------------------------------------

enum class fate {
    queued,  ///< delivered at its origin, not in Redis yet
    stored,  ///< Redis stored (and published) it
    dropped, ///< its origin's publish queue was full: never published
    crashed, ///< its origin restarted before Redis had it
};

struct event_info {
    std::uint64_t id = 0;
    int node = 0;
    std::string origin;
    std::vector<std::string> rooms, except;
    std::uint64_t ordinal = 0;    // the model's time: the step it was emitted at
    std::uint64_t emitted_us = 0; // the true time it was emitted at
    fate f = fate::queued;
    std::uint64_t stored_at = 0;   // the ordinal Redis ran its append at
    std::uint64_t stored_tick = 0; // the command count of Redis then
    std::string payload;           // the 0x82 message, as the origin encoded it
};

// ---- Redis (modelled) ---------------------------------------------------------------------

struct fetch_reply { // as redis_fetch_reply
    std::string status;
    std::uint64_t head = 0; // seq
    std::vector<std::string> gapped;
    std::vector<std::size_t> events; // event indexes, ascending ids
};

// redis_lost_script's floors outlive max_age by this much (the ids' clock agreement, twice).
constexpr std::uint64_t lost_floor_margin_ms = 2000;

// The scripts of detail/redis_history.hpp on maps (the sorted sets) and plain values.
class redis_model {
public:
    redis_model(std::size_t max_events, std::uint64_t max_age_ms)
        : max_events_(max_events)
        , max_age_ms_(max_age_ms) {}

    std::size_t max_events() const { return max_events_; }
    std::uint64_t max_age_ms() const { return max_age_ms_; }

    // redis_append_script. False when this origin sequence was stored already.
    bool append(std::string const& origin, std::uint64_t oseq, std::size_t ev, std::uint64_t id,
                std::vector<std::string> const& rooms, std::uint64_t now_us) {
        auto& last = origin_seq_[origin];
        if (last >= oseq) return false;
        last = oseq;
        seq_ = std::max(seq_, id);
        std::uint64_t const now_ms = now_us / 1000;
        std::uint64_t const oldest =
            now_ms > max_age_ms_ + epoch_ms ? (now_ms - max_age_ms_ - epoch_ms) * 4000 : 0;
        auto add = [&](std::string const& room) {
            auto& log = live(room, now_us);
            log.entries[id] = ev;
            while (log.entries.size() > max_events_) {
                log.floor = std::max(log.floor, log.entries.begin()->first);
                log.entries.erase(log.entries.begin());
            }
            while (oldest > 0 && !log.entries.empty() && log.entries.begin()->first < oldest) {
                log.floor = std::max(log.floor, log.entries.begin()->first);
                log.entries.erase(log.entries.begin());
            }
            log.expires_us = now_us + max_age_ms_ * 1000; // PEXPIRE k, f
            log.floor_expires_us = log.expires_us;
        };
        if (rooms.empty()) {
            add("");
        } else {
            std::set<std::string> distinct(rooms.begin(), rooms.end());
            for (auto const& r : distinct)
                add(r);
        }
        return true;
    }

    // redis_fetch_script (max_age as the emits stored it).
    fetch_reply fetch(std::uint64_t after, std::vector<std::string> const& rooms,
                      std::uint64_t now_us) {
        fetch_reply out;
        out.head = seq_;
        std::uint64_t const now_ms = now_us / 1000;
        std::uint64_t const at = after / 4000 + epoch_ms;
        if (at > now_ms + 60000) {
            out.status = "unknown_id";
            return out;
        }
        if (after >= seq_) return out;
        if (now_ms > at && now_ms - at > max_age_ms_) {
            out.status = "history_gap";
            return out;
        }
        std::map<std::uint64_t, std::size_t> found;
        auto scan = [&](std::string const& room) {
            auto& log = live(room, now_us);
            if (log.floor > after) {
                out.gapped.push_back(room);
                return;
            }
            for (auto it = log.entries.upper_bound(after); it != log.entries.end(); ++it)
                found.emplace(it->first, it->second);
        };
        scan("");
        std::set<std::string> seen;
        for (auto const& r : rooms)
            if (!r.empty() && seen.insert(r).second) scan(r);
        for (auto const& kv : found)
            out.events.push_back(kv.second);
        return out;
    }

    // redis_lost_script: the logs' floors and the head rise to `id`.
    void mark_lost(std::vector<std::string> const& rooms, std::uint64_t id, std::uint64_t now_us) {
        seq_ = std::max(seq_, id);
        auto raise = [&](std::string const& room) {
            auto& log = live(room, now_us);
            log.floor = std::max(log.floor, id);
            log.floor_expires_us = std::max(log.floor_expires_us,
                                            now_us + (max_age_ms_ + lost_floor_margin_ms) * 1000);
        };
        if (rooms.empty()) raise("");
        for (auto const& r : rooms)
            raise(r);
    }

    /// The highest id trimmed from the log of `room` (its replay floor).
    std::uint64_t floor(std::string const& room, std::uint64_t now_us) {
        return live(room, now_us).floor;
    }

    /// Whether the history still holds event `id` in the log of `room`.
    bool holds(std::string const& room, std::uint64_t id, std::uint64_t now_us) {
        auto& log = live(room, now_us);
        return log.entries.count(id) != 0;
    }

private:
    struct log {
        std::map<std::uint64_t, std::size_t> entries; // score (id) -> event
        std::uint64_t floor = 0;
        std::uint64_t expires_us = 0;       // the log key's PEXPIRE
        std::uint64_t floor_expires_us = 0; // the floor key's
    };
    // A key past its PEXPIRE is gone.
    log& live(std::string const& room, std::uint64_t now_us) {
        auto& l = logs_[room];
        if (l.expires_us != 0 && now_us >= l.expires_us) {
            l.entries.clear();
            l.expires_us = 0;
        }
        if (l.floor_expires_us != 0 && now_us >= l.floor_expires_us) {
            l.floor = 0;
            l.floor_expires_us = 0;
        }
        return l;
    }

    std::size_t max_events_;
    std::uint64_t max_age_ms_;
    std::map<std::string, log> logs_;
    std::map<std::string, std::uint64_t> origin_seq_;
    std::uint64_t seq_ = 0;
};

// ---- a node ---------------------------------------------------------------------------------

struct window_item { // namespace_::held_event
    std::vector<std::string> rooms, except;
    sse::event_ptr event;
};

struct held_message { // redis_adapter_impl::held_message
    std::string origin;
    std::vector<std::string> rooms, except;
    std::shared_ptr<sse::encoded_event> event;
    std::uint64_t id;
};

// A command on a node's publisher connection: Redis runs them in order.
// redis_adapter_impl::lost_emits: what a node dropped before Redis had it, told later.
struct lost_info {
    bool any = false;
    bool whole = false;
    std::set<std::string> rooms;
    std::uint64_t max_id = 0;
    std::vector<std::size_t> events; // the model's: which events it tells of
};

struct command {
    enum class kind { append, fetch, notice, mark } k = kind::append;
    std::uint64_t oseq = 0;      // append: the origin sequence
    redis_channel_marks::mark m; // mark
    lost_info lost;              // notice
    std::uint64_t after = 0;
    std::vector<std::string> rooms;
    std::function<void(fetch_reply)> done; // fetch
};

struct outgoing_meta { // what the sim keeps beside a queued redis_outgoing
    std::size_t ev = 0;
    std::vector<std::pair<std::string, std::uint64_t>> numbers; // channel -> its number
};

struct node {
    int index = 0;
    int gen = 0;
    bool alive = true;
    std::string origin; // adapter node id: new on each restart
    unsigned tag = 0;
    std::int64_t skew_us = 0;
    std::unique_ptr<delivery_core> core;
    std::unique_ptr<merge_window<window_item>> window;
    replay_windows windows;     // namespace_::replay_windows_
    std::uint64_t last_id = 0;  // namespace_::last_id_
    std::uint64_t sequence = 0; // redis_adapter_impl::sequence_
    std::unique_ptr<redis_publish_queue> queue;
    std::deque<std::uint64_t> queue_order; // sequences kept by `queue`, oldest first
    std::map<std::uint64_t, outgoing_meta> meta;
    std::deque<command> pub_conn;                       // written, not yet run by Redis
    std::uint64_t enqueued = 0;                         // redis_adapter_impl::enqueued_
    std::vector<std::function<void()>> waiting_fetches; // redis_adapter_impl::waiting_fetches_
    bool pub_up = true, sub_up = true;
    redis_channel_counters counters;
    redis_channel_gaps gaps;
    redis_channel_marks marks;    // redis_adapter_impl::channel_marks_
    std::uint64_t next_marks = 0; // the mark timer's next turn (true µs)
    redis_sequence_filter shared_filter;
    std::set<std::string> wanted;         // redis_subscriptions: wanted channels
    std::deque<std::string> pending_subs; // SUBSCRIBE sent, not answered
    std::uint64_t subs_asked = 0, subs_answered = 0;
    std::size_t pending_subscriptions = 0;
    std::vector<std::pair<std::uint64_t, std::function<void()>>> after_subscribe;
    bool sequenced_known = false;              // sequenced_nsps_ not empty
    redis_gap_recovery<held_message> recovery; // the adapter's own state machine
    lost_info lost;                            // lost_emits_
    std::set<std::uint64_t> appended;          // the model: ids its core took
    std::set<std::uint64_t> offered;           // the model: ids offered to its merge window
    int session = 0; // subscriber connection count (the channel gaps' lifetime)
};

// ---- clients (the model) --------------------------------------------------------------------

struct membership {
    std::uint64_t from = 0;     // events above it in this room may be for it (by id)
    std::uint64_t ordinal = 0;  // when it joined: events emitted since are owed
    std::uint64_t lookback = 0; // a room new to the node: what was emitted after it (true µs)
    bool replayed = false;      // joined on a reconnect: every id above `from` is owed
};

struct conn {
    std::string id;
    int node = 0;
    int gen = 0;
    std::unique_ptr<client_state> state = std::make_unique<client_state>();
    bool held = true;                                            // client::held_
    enum class replay { none, pending, done } rp = replay::none; // client::replay_
    bool has_l = false;
    std::uint64_t l = 0;             // the Last-Event-ID it came back with
    std::uint64_t admitted_head = 0; // client::admitted_head_
    std::uint64_t base = 0;          // namespace-wide events above it may be for it
    std::uint64_t admit_ordinal = 0;
    std::uint64_t replay_tick = 0; // when Redis ran its replay read
    bool unowed_late = false;      // reset for a late namespace-wide event it was not owed
    std::map<std::string, membership> rooms;
    std::uint64_t last_id = 0;
    bool any = false;
};

struct user {
    std::optional<conn> c;
    std::uint64_t last_seen = 0; // the browser's lastEventId
    bool seen_any = false;
    int connections = 0;
    std::set<std::uint64_t> received;
    std::uint64_t reset_ordinal = 0; // events emitted before its last reset are not owed
    std::uint64_t reset_id = 0;
    /// When it last got a reset, whatever its id: an event that can never come (dropped or
    /// crashed at its origin) emitted before it is covered (the app refetches after it).
    std::uint64_t last_reset_ordinal = 0;
    int reset_step = -1;
    std::uint64_t rewound_from = 0, rewound_to = 0; // a reset id below Last-Event-ID
    std::uint64_t excused_before = 0;
    std::vector<std::string> usual_rooms;
};

// Lost pub/sub messages (the model's record): revealed when a later number on the same
// (node session, origin, channel) arrived.
struct lost_message {
    int to;
    int session;
    std::string origin, channel;
    std::uint64_t number;
    std::size_t ev;
    bool revealed = false;
    /// Something of its origin arrived on its channel in that session before it: a later
    /// number (or a mark) can reveal it. Else the receiver has nothing to compare with.
    bool after_one = false;
};

struct flying {
    std::string channel, origin, payload;
    std::uint64_t number = 0;
    std::size_t ev = 0;
    bool notice = false;
    bool mark = false; // a channel's mark (payload: encode_redis_mark)
};

// A mark pub/sub lost (the model's record): the losses it would have revealed may stay unseen.
struct lost_mark {
    int to;
    int session;
    std::string origin, channel;
    std::uint64_t number;
};

class simulation {
public:
    simulation(std::uint64_t seed, knobs k)
        : seed_(seed)
        , k_(k)
        , rng_(seed)
        , redis_(static_cast<std::size_t>(pick(2, 24)),
                 static_cast<std::uint64_t>(pick(300, 5000))) {
        width_us_ = k_.break_merge_window ? 0 : static_cast<std::uint64_t>(pick(0, 3) * 10000);
        max_pending_ = static_cast<std::size_t>(pick(0, 3) == 0 ? pick(1, 6) : pick(16, 64));
        faults_ = pick(0, 3);
        fast_ = pick(0, 1) == 1;
        max_in_flight_ = static_cast<std::size_t>(pick(1, 4));
        now_us_ = hybrid_id_epoch_us + 7ULL * 365 * 24 * 3600 * 1000000; // some day in 2026
        int const n = pick(2, 4);
        trace_ << "seed " << seed << ": " << n << " nodes, redis max_events=" << redis_.max_events()
               << " max_age=" << redis_.max_age_ms() << "ms, merge window " << width_us_ / 1000
               << "ms, faults " << faults_ << (fast_ ? ", fast" : ", slow")
               << ", max_pending=" << max_pending_ << " max_in_flight=" << max_in_flight_
               << (k_.reorder_channels ? ", channels interleaved" : "") << "\n";
        nodes_.resize(static_cast<std::size_t>(n));
        for (int i = 0; i < n; ++i) {
            nodes_[i].index = i;
            // Pairwise within max_clock_skew_us.
            // Agreeing clocks, NTP-like ones (a few ms), and ones as far apart as allowed.
            int const spread = std::array<int, 3>{0, 5000, max_skew_us_ / 2}[pick(0, 2)];
            nodes_[i].skew_us = pick(-spread, spread);
            start_node(nodes_[i]);
        }
        users_.resize(static_cast<std::size_t>(pick(3, 7)));
        for (auto& u : users_)
            for (int r = pick(0, 2); r > 0; --r)
                add_unique(u.usual_rooms, pick_room());
        for (auto const& nd : nodes_)
            trace_ << "  node " << nd.index << " skew " << nd.skew_us / 1000 << "ms\n";
    }

    void run(int steps) {
        for (step_ = 0; step_ < steps; ++step_) {
            int const what = pick(0, 999);
            if (what < 200)
                emit(pick_node());
            else if (what < 430)
                for (int k = fast_ ? pick(1, 8) : 1; k > 0; --k)
                    deliver_one();
            else if (what < 560)
                for (int k = fast_ ? pick(1, 8) : 1; k > 0; --k)
                    redis_exec(pick_node());
            else if (what < 660)
                flush(pick_node());
            else if (what < 740)
                advance_time(static_cast<std::uint64_t>(pick(1, 40000)));
            else if (what < 800)
                confirm_subscription(pick_node());
            else if (what < 850)
                connect(pick_user());
            else if (what < 875)
                disconnect(pick_user());
            else if (what < 900)
                late_join(pick_user());
            else
                fault(what - 900);
        }
        quiesce();
        check_quiescent();
    }

    // Faults, at the seed's rate (0: none); a link that is away comes back at a fixed rate.
    void fault(int r) {
        int const f = faults_;
        if (r < 20) {
            node& n = pick_node();
            if (!n.pub_up)
                publisher_up(n);
            else if (!n.sub_up)
                subscriber_up(n);
        } else if ((r -= 20) < 8 * f) {
            if (k_.lose_messages) lose_one();
        } else if ((r -= 8 * f) < 6 * f) {
            node& n = pick_node();
            if (n.pub_up) publisher_down(n);
        } else if ((r -= 6 * f) < 6 * f) {
            node& n = pick_node();
            if (n.sub_up) subscriber_down(n);
        } else if ((r -= 6 * f) < 2 * f) {
            restart(pick_node());
        }
    }

    std::string trace() const { return trace_.str(); }
    sim_stats const& stats() const { return stats_; }

private:
    int pick(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
    node& pick_node() {
        for (;;) {
            auto& n = nodes_[static_cast<std::size_t>(pick(0, int(nodes_.size()) - 1))];
            if (n.alive) return n;
        }
    }
    std::size_t pick_user() { return static_cast<std::size_t>(pick(0, int(users_.size()) - 1)); }
    std::string pick_room() { return "r" + std::to_string(pick(0, 4)); }

    std::uint64_t node_now(node const& n) const {
        return static_cast<std::uint64_t>(static_cast<std::int64_t>(now_us_) + n.skew_us);
    }
    log_clock::time_point log_now() const {
        return log_clock::time_point{} + std::chrono::hours(1) +
               std::chrono::microseconds(now_us_ - hybrid_id_epoch_us);
    }
    static std::string channel_of(std::string const& room) {
        return room.empty() ? "#" : "#" + room;
    }
    static std::string room_of(std::string const& channel) { return channel.substr(1); }

    // ---- node life ----

    void start_node(node& n) {
        ++n.gen;
        n.alive = true;
        n.origin = "n" + std::to_string(n.index) + "g" + std::to_string(n.gen);
        // Claimed by INCR (#id-tags): 16 claims in a row differ. A restart claims anew;
        // past 16 claims a tag may repeat a live node's (a known limit of the tags): skipped.
        do
            n.tag = static_cast<unsigned>(tags_claimed_++ % hybrid_id_tags);
        while (std::any_of(nodes_.begin(), nodes_.end(), [&](node const& o) {
            return &o != &n && o.alive && o.gen > 0 && o.tag == n.tag;
        }));
        delivery_options d; // namespace_::delivery_options_for, sequenced: no local history
        d.logs.history_events = 0;
        d.logs.max_bytes = 64 * 1024;
        n.core = std::make_unique<delivery_core>(d);
        n.windows = replay_windows{};
        n.window = std::make_unique<merge_window<window_item>>(width_us_);
        n.last_id = 0;
        n.sequence = 0;
        n.queue = std::make_unique<redis_publish_queue>(max_pending_, max_in_flight_);
        n.queue_order.clear();
        n.meta.clear();
        n.pub_conn.clear();
        n.counters = redis_channel_counters();
        n.gaps = redis_channel_gaps();
        n.marks = redis_channel_marks();
        n.shared_filter = redis_sequence_filter(1024, k_.break_lost_on ? 1 : 256);
        n.wanted.clear();
        n.pending_subs.clear();
        n.subs_asked = n.subs_answered = 0;
        n.pending_subscriptions = 0;
        n.after_subscribe.clear();
        n.sequenced_known = false;
        n.recovery = {};
        n.appended.clear();
        n.offered.clear();
        n.lost = lost_info{};
        active_[n.index].clear();
        n.pub_up = false;
        n.sub_up = false;
        publisher_up(n);
        n.wanted.insert(channel_of("")); // namespace_added
        uncovered_[{n.index, n.gen, channel_of("")}].push_back({0, UINT64_MAX, "startup"});
        subscriber_up(n);
        catch_up_room(n, ""); // namespace_::catch_up_namespace
    }

    // A node restarts: its queue drained first (a clean shutdown) or not (a crash: what Redis
    // did not have is gone); its clients reconnect, each to a random live node.
    void restart(node& n) {
        if (std::count_if(nodes_.begin(), nodes_.end(), [](node const& x) { return x.alive; }) < 2)
            return;
        bool const clean = pick(0, 1) == 0 && n.pub_up;
        trace_ << step_ << ": restart node " << n.index << (clean ? " (clean)" : " (crash)")
               << "\n";
        ++stats_.restarts;
        if (clean) {
            for (int guard = 0; guard < 10000 && (!n.pub_conn.empty() || n.queue->pending() > 0);
                 ++guard)
                redis_exec(n);
        }
        // What Redis never ran is lost (delivered at the origin only), and so is the news
        // of what it dropped and did not tell yet.
        for (auto seq : n.queue_order) {
            auto& e = events_[n.meta[seq].ev];
            if (e.f == fate::queued) e.f = fate::crashed;
        }
        std::vector<std::size_t> untold = n.lost.events;
        for (auto const& c : n.pub_conn)
            if (c.k == command::kind::notice)
                untold.insert(untold.end(), c.lost.events.begin(), c.lost.events.end());
        for (auto i : untold)
            if (events_[i].f == fate::dropped) events_[i].f = fate::crashed;
        n.alive = false;
        drop_air_to(n.index);
        active_[n.index].clear();
        std::vector<std::size_t> moving;
        for (std::size_t u = 0; u < users_.size(); ++u)
            if (users_[u].c && users_[u].c->node == n.index) {
                n.core->remove(*users_[u].c->state, log_now());
                n.windows.close(users_[u].c->state.get());
                users_[u].c.reset(); // its connection goes with the node
                moving.push_back(u);
            }
        start_node(n);
        for (auto u : moving)
            connect(u);
    }

    // ---- emits (namespace_::emit_event, sequenced; redis_adapter::broadcast) ----

    void emit(node& n) {
        std::vector<std::string> rooms, except;
        if (pick(0, 3) != 0)
            for (int k = pick(1, 2); k > 0; --k)
                add_unique(rooms, pick_room());
        if (pick(0, 4) == 0) add_unique(except, pick_room());
        n.last_id = next_hybrid_id(n.last_id, node_now(n), n.tag);
        auto ev = sse::encoded_event::make("e", sse::text("x" + std::to_string(events_.size())));
        ev->stamp(n.last_id);
        event_info info;
        info.id = n.last_id;
        info.node = n.index;
        info.origin = n.origin;
        info.rooms = rooms;
        info.except = except;
        info.ordinal = ordinal();
        info.emitted_us = now_us_;
        info.payload = encode_redis_message(info.id, n.origin, nsp, rooms, except, ev->body(),
                                            redis_message_shared_id_version, true);
        std::size_t const index = events_.size();
        events_.push_back(info);
        by_id_[info.id] = index;
        trace_ << step_ << ": node " << n.index << " emits " << info.id << " to ["
               << join_names(rooms) << "] except [" << join_names(except) << "]\n";
        // redis_adapter::broadcast: this node's clients first, without waiting for Redis.
        offer_shared(n, rooms, except, ev, "");
        broadcast_sequenced(n, index);
    }

    // redis_adapter_impl::broadcast_sequenced + on_intake.
    void broadcast_sequenced(node& n, std::size_t index) {
        auto& e = events_[index];
        n.sequenced_known = true; // learn()
        redis_outgoing m;
        std::vector<std::string> chans;
        if (e.rooms.empty())
            chans.push_back(channel_of(""));
        else
            for (auto const& r : e.rooms)
                add_unique(chans, channel_of(r));
        m.channels = chans;
        m.script_args = {"EVALSHA"};
        m.sequence = ++n.sequence;
        m.payload = e.payload;
        set_redis_message_sequence(m.payload, m.sequence);
        e.payload = m.payload;
        // number_channels runs before the push (on_intake): a refused emit has used its
        // numbers, so the receivers see a gap (and read back nothing).
        outgoing_meta meta;
        meta.ev = index;
        for (auto const& ch : chans) // per-channel numbers, in publishing order
            meta.numbers.emplace_back(ch, n.counters.next(ch));
        if (!n.queue->push(std::move(m))) {
            trace_ << "   dropped: the publish queue is full\n";
            e.f = fate::dropped;
            ++stats_.dropped_emits;
            note_lost(n, e);
            return;
        }
        ++n.enqueued;
        n.meta[n.sequence] = meta;
        n.queue_order.push_back(n.sequence);
        drain_publishes(n);
    }

    // redis_adapter_impl::drain_publishes: what the window admits is written now.
    void drain_publishes(node& n) {
        if (!n.pub_up) return;
        while (auto const* m = n.queue->start_next()) {
            command c;
            c.k = command::kind::append;
            c.oseq = m->sequence;
            n.pub_conn.push_back(std::move(c));
            auto const& meta = n.meta[m->sequence]; // note_written
            for (auto const& [ch, number] : meta.numbers)
                n.marks.written(ch, number, m->sequence, events_[meta.ev].id, true,
                                static_cast<std::int64_t>(now_us_));
            if (n.next_marks == 0) n.next_marks = now_us_ + mark_after_us; // arm_mark_timer
        }
        if (!n.waiting_fetches.empty()) run_waiting_fetches(n);
    }

    // redis_adapter_impl::run_waiting_fetches
    void run_waiting_fetches(node& n) {
        auto due = std::move(n.waiting_fetches);
        n.waiting_fetches.clear();
        for (auto& f : due)
            f();
    }

    // Redis runs the next command of `n`'s publisher connection; its reply comes back at once.
    void redis_exec(node& n) {
        if (!n.pub_up || n.pub_conn.empty()) return;
        command c = std::move(n.pub_conn.front());
        n.pub_conn.pop_front();
        run_command(n, c);
        if (c.k == command::kind::append) on_publish_reply(n);
    }

    void run_command(node& n, command& c) {
        switch (c.k) {
        case command::kind::append: {
            auto const& meta = n.meta[c.oseq];
            auto& e = events_[meta.ev];
            bool const ran = redis_.append(n.origin, c.oseq, meta.ev, e.id, e.rooms, now_us_);
            trace_ << step_ << ": redis runs append " << e.id << " of node " << n.index
                   << (ran ? "" : " (a re-send: not run twice)") << "\n";
            if (!ran) return;
            e.f = fate::stored;
            e.stored_at = ordinal();
            e.stored_tick = ++redis_tick_;
            for (auto const& [ch, number] : meta.numbers) { // the script numbers each copy
                std::string copy = e.payload;
                set_redis_message_channel_number(copy, number);
                publish(ch, flying{ch, n.origin, std::move(copy), number, meta.ev, false});
            }
            return;
        }
        case command::kind::fetch: {
            ++redis_tick_;
            auto r = redis_.fetch(c.after, c.rooms, now_us_);
            if (r.status.empty() && !k_.break_lost_floor) add_own_lost(n, c, r);
            trace_ << step_ << ": redis runs a read of node " << n.index << " after " << c.after
                   << " [" << join_names(c.rooms) << "] -> " << (r.status.empty() ? "ok" : r.status)
                   << ", " << r.events.size() << " events, gapped [" << join_names(r.gapped)
                   << "]\n";
            c.done(std::move(r));
            return;
        }
        case command::kind::mark: {
            trace_ << step_ << ": redis publishes node " << n.index << "'s mark #" << c.m.number
                   << " on " << c.m.channel << "\n";
            flying f;
            f.channel = c.m.channel;
            f.origin = n.origin;
            f.number = c.m.number;
            f.mark = true;
            f.payload = encode_redis_mark(n.origin, nsp, room_of(c.m.channel), c.m.number,
                                          c.m.sequence, c.m.event_id, true);
            publish(f.channel, f);
            return;
        }
        case command::kind::notice: {
            if (!k_.break_lost_floor) { // raise_history_floor
                std::vector<std::string> rooms;
                if (!c.lost.whole) rooms.assign(c.lost.rooms.begin(), c.lost.rooms.end());
                redis_.mark_lost(rooms, c.lost.max_id, now_us_);
                ++redis_tick_;
            }
            trace_ << step_ << ": redis raises the floors of ["
                   << (c.lost.whole ? std::string("''")
                                    : join_names({c.lost.rooms.begin(), c.lost.rooms.end()}))
                   << "] to " << c.lost.max_id << " and publishes node " << n.index
                   << "'s lost notice\n";
            flying f;
            f.channel = channel_of("");
            f.origin = n.origin;
            f.notice = true;
            publish(f.channel, f);
            return;
        }
        }
    }

    // redis_adapter_impl::on_connection_reply, tag_publish.
    void on_publish_reply(node& n) {
        if (n.queue->acknowledge()) {
            n.meta.erase(n.queue_order.front());
            n.queue_order.pop_front();
            if (n.queue->pending() == 0 && n.queue->in_flight() == 0) tell_lost_namespaces(n);
        }
        if (n.queue->pending() > 0) drain_publishes(n);
    }

    // redis_adapter_impl::add_own_lost: the node's lost emits not told yet, or told after
    // this read (their notices behind it on the connection), show as gapped logs.
    void add_own_lost(node const& n, command const& read, fetch_reply& r) {
        auto add = [&](lost_info const& l) {
            if (!l.any || l.max_id <= read.after) return;
            r.head = std::max(r.head, l.max_id);
            auto gap = [&](std::string const& log) {
                if (std::find(r.gapped.begin(), r.gapped.end(), log) == r.gapped.end())
                    r.gapped.push_back(log);
            };
            if (l.whole) return gap("");
            for (auto const& room : read.rooms)
                if (l.rooms.count(room)) gap(room);
        };
        add(n.lost);
        for (auto const& c : n.pub_conn)
            if (c.k == command::kind::notice) add(c.lost);
    }

    // redis_adapter_impl::note_lost_locked
    void note_lost(node& n, event_info const& e) {
        n.lost.any = true;
        n.lost.max_id = std::max(n.lost.max_id, e.id);
        n.lost.events.push_back(by_id_.at(e.id));
        if (e.rooms.empty() || n.lost.rooms.size() + e.rooms.size() > 256) n.lost.whole = true;
        if (!n.lost.whole) n.lost.rooms.insert(e.rooms.begin(), e.rooms.end());
    }

    // redis_adapter_impl::retell_lost: a notice whose answer never came is told again.
    void retell(node& n, lost_info const& l) {
        trace_ << "   its lost emits up to " << l.max_id << " are told again\n";
        n.lost.any = true;
        n.lost.whole = n.lost.whole || l.whole;
        n.lost.max_id = std::max(n.lost.max_id, l.max_id);
        n.lost.rooms.insert(l.rooms.begin(), l.rooms.end());
        n.lost.events.insert(n.lost.events.end(), l.events.begin(), l.events.end());
    }

    void tell_lost_namespaces(node& n) {
        if (!n.lost.any) return;
        command c;
        c.k = command::kind::notice;
        c.lost = std::exchange(n.lost, lost_info{});
        trace_ << step_ << ": node " << n.index << " tells its lost emits up to " << c.lost.max_id
               << "\n";
        n.pub_conn.push_back(std::move(c));
    }

    // ---- pub/sub ----

    void publish(std::string const& channel, flying const& f) {
        for (auto& to : nodes_) {
            if (!to.alive || !to.sub_up || !active_[to.index].count(channel)) continue;
            air_[key(to.index, f.origin, channel)].push_back(f);
        }
    }

    std::tuple<int, std::string, std::string> key(int to, std::string const& origin,
                                                  std::string const& channel) const {
        if (!k_.reorder_channels) return {to, std::string(), std::string()};
        return {to, origin, channel};
    }

    void drop_air_to(int to) {
        for (auto it = air_.begin(); it != air_.end();)
            it = std::get<0>(it->first) == to ? air_.erase(it) : std::next(it);
    }

    std::vector<std::deque<flying>*> busy_queues() {
        std::vector<std::deque<flying>*> out;
        for (auto& kv : air_)
            if (!kv.second.empty()) out.push_back(&kv.second);
        return out;
    }

    void deliver_one() {
        std::vector<std::pair<int, std::deque<flying>*>> busy;
        for (auto& kv : air_)
            if (!kv.second.empty()) busy.emplace_back(std::get<0>(kv.first), &kv.second);
        if (busy.empty()) return;
        auto [to, q] = busy[static_cast<std::size_t>(pick(0, int(busy.size()) - 1))];
        flying f = std::move(q->front());
        q->pop_front();
        on_message(nodes_[static_cast<std::size_t>(to)], f);
    }

    // Pub/sub loses one message (not a notice: see knobs::strict_dropped_emits).
    void lose_one() {
        std::vector<std::pair<int, std::deque<flying>*>> busy;
        for (auto& kv : air_)
            if (!kv.second.empty()) busy.emplace_back(std::get<0>(kv.first), &kv.second);
        if (busy.empty()) return;
        auto [to, q] = busy[static_cast<std::size_t>(pick(0, int(busy.size()) - 1))];
        auto const i = static_cast<std::size_t>(pick(0, int(q->size()) - 1));
        if ((*q)[i].notice) return;
        auto const& f = (*q)[i];
        if (f.mark) {
            trace_ << step_ << ": pub/sub loses the mark #" << f.number << " on " << f.channel
                   << " on its way to node " << to << "\n";
            lost_marks_.push_back(lost_mark{to, nodes_[static_cast<std::size_t>(to)].session,
                                            f.origin, f.channel, f.number});
            q->erase(q->begin() + static_cast<std::ptrdiff_t>(i));
            return;
        }
        trace_ << step_ << ": pub/sub loses " << events_[f.ev].id << " (" << f.channel << " #"
               << f.number << ") on its way to node " << to << "\n";
        auto const& receiver = nodes_[static_cast<std::size_t>(to)];
        lost_.push_back(lost_message{
            to, receiver.session, f.origin, f.channel, f.number, f.ev, false,
            heard_.count(std::make_tuple(to, receiver.gen, receiver.session, f.origin, f.channel)) >
                0});
        ++stats_.lost_messages;
        q->erase(q->begin() + static_cast<std::ptrdiff_t>(i));
    }

    // redis_adapter_impl::on_message (0x82 and 0x83), with the channel numbers as the brief
    // describes their wiring: a gap starts a recovery read of the namespace after the last id
    // that arrived on that channel from that origin; this message is held meanwhile.
    void on_message(node& n, flying const& f) {
        if (f.notice) {
            if (f.origin == n.origin) return;
            trace_ << step_ << ": node " << n.index << " hears a lost notice\n";
            noticed_[n.index].push_back(ordinal());
            reset_clients(n, {}, "lost_events", "notice"); // on_lost_notice
            return;
        }
        redis_message msg;
        XSIM_CHECK(decode_redis_message(f.payload, msg) == decode_status::ok, "undecodable");
        if (msg.origin == n.origin) return; // is_own: delivered here when it was emitted
        if (f.mark) return on_mark(n, f, msg);
        XSIM_CHECK(msg.channel_number == f.number, "the copy lost its channel number");
        trace_ << step_ << ": node " << n.index << " receives " << msg.event_id << " on "
               << f.channel << " #" << f.number << "\n";
        n.sequenced_known = true;
        // The model: a later number on the same channel from the same origin, in the same
        // subscriber connection, after one that did arrive, reveals a loss (whether or not
        // the node looks). Before any arrived, nothing can: the first one seen may be any
        // number (the node subscribed late, or the origin restarted its numbers).
        hear(n, f, false);
        if (!k_.break_channel_gaps) check_channel_number(n, f, msg);
        auto event = sse::encoded_event::from_body(msg.event, msg.body);
        // on_sequenced_message
        if (n.recovery.holding()) {
            if (n.recovery.hold(
                    {std::string(msg.origin), msg.rooms, msg.except, event, msg.event_id},
                    max_pending_))
                give_up_recovery(n);
            return;
        }
        deliver_shared_adapter(n, std::string(msg.origin), msg.rooms, msg.except, event,
                               msg.event_id);
    }

    // The model: number `f.number` arrived at `n` (`with_it`: a mark, which reveals its own
    // number too) and reveals the losses after the last one that arrived there.
    void hear(node const& n, flying const& f, bool with_it) {
        auto const heard = heard_.emplace(
            std::make_tuple(n.index, n.gen, n.session, f.origin, f.channel), f.number);
        std::uint64_t const before = heard.first->second;
        heard.first->second = std::max(before, f.number);
        if (heard.second) return;
        for (auto& l : lost_)
            if (l.to == n.index && l.session == n.session && l.origin == f.origin &&
                l.channel == f.channel && l.number > before &&
                (l.number < f.number || (with_it && l.number == f.number)))
                l.revealed = true;
    }

    // redis_adapter_impl::on_channel_mark. The model: a mark of number N reveals the losses
    // up to N after one that did arrive (as a later message does).
    void on_mark(node& n, flying const& f, redis_message const& msg) {
        trace_ << step_ << ": node " << n.index << " receives the mark #" << f.number << " on "
               << f.channel << "\n";
        hear(n, f, true);
        if (k_.break_channel_gaps || k_.break_marks) return;
        auto const seen = n.gaps.observe_mark(f.channel, msg.origin, msg.channel_number,
                                              msg.sequence, msg.event_id);
        if (seen.what == redis_channel_gaps::kind::gap)
            on_channel_gap(n, f.channel, std::string(msg.origin), seen, msg.event_id + 1);
    }

    // redis_adapter_impl::deliver_shared: copies dropped by (origin, namespace).
    bool deliver_shared_adapter(node& n, std::string const& origin,
                                std::vector<std::string> const& rooms,
                                std::vector<std::string> const& except,
                                std::shared_ptr<sse::encoded_event> ev, std::uint64_t id) {
        std::string key = origin;
        key += '\0';
        key += nsp;
        if (!n.shared_filter.accept(key, id)) {
            if (!n.offered.count(id)) { // the model: a copy of what this node never had
                filtered_unseen_.insert({n.index, n.gen, id});
                trace_ << "   node " << n.index << " takes " << id << " for a copy, never had it\n";
            }
            return false;
        }
        deliver_sequenced(n, rooms, except, std::move(ev), id, origin);
        return true;
    }

    // ---- broker-gap recovery (redis_adapter_impl) ----

    void maybe_start_recovery(node& n) {
        if (!n.recovery.broker_read_due()) return;
        if (!n.sub_up || !n.pub_up) return;
        if (n.pending_subscriptions != 0) return;
        auto const gap_from = n.recovery.begin_broker_read(n.sequenced_known ? 1 : 0);
        if (!n.sequenced_known) return finish_recovery(n, std::nullopt);
        auto const gap = gap_from.find(nsp);
        auto const after = gap != gap_from.end() ? gap->second : n.core->head();
        std::vector<std::string> rooms = local_rooms(n);
        ++stats_.recoveries;
        trace_ << step_ << ": node " << n.index << " starts a recovery read after " << after
               << "\n";
        int const gen = n.gen;
        std::size_t const outages = outages_[n.index].size(); // over: the subscriber is up
        start_fetch(n, rooms, after, [this, idx = n.index, gen, rooms, outages](fetch_reply r) {
            auto& me = nodes_[static_cast<std::size_t>(idx)];
            if (me.gen != gen) return;
            me.recovery.broker_read_answered();
            for (std::size_t i = 0; i < outages; ++i) // what was stored until this read
                if (outages_[idx][i].to == UINT64_MAX) outages_[idx][i].to = redis_tick_;
            finish_recovery(me, std::move(r));
            maybe_start_recovery(me);
        });
    }

    // redis_adapter_impl::mark_gap_start: the head, at least a second back.
    void mark_gap_start(node& n) {
        n.recovery.gap_started(
            nsp, std::min(n.core->head(), hybrid_id_at(node_now(n) - max_clock_skew_us)));
    }

    void give_up_recovery(node& n) {
        for (auto const& ch : n.pending_subs) // no read will cover them any more
            uncovered_[{n.index, n.gen, ch}].push_back(
                {redis_tick_, UINT64_MAX,
                 "published before a SUBSCRIBE confirmed, after a give-up"});
        n.recovery.give_up(); // queued channel gaps: their namespaces reset below
        fetch_reply r;
        r.status = "history_unavailable";
        finish_recovery(n, r);
        if (n.pending_subscriptions == 0) return; // a new gap, read once they are confirmed
        if (n.sequenced_known) mark_gap_start(n);
        n.recovery.subscriber_back();
    }

    void finish_recovery(node& n, std::optional<fetch_reply> result) {
        if (result) {
            auto& r = *result;
            if (k_.break_recovery_read) r = fetch_reply{};
            if (!r.status.empty()) {
                reset_clients(n, {}, r.status, "recovery");
            } else {
                for (auto i : r.events) {
                    auto const& e = events_[i];
                    if (e.origin == n.origin) continue; // is_own
                    deliver_shared_adapter(n, e.origin, e.rooms, e.except, event_of(e), e.id);
                }
                if (!r.gapped.empty()) {
                    bool const all = std::find(r.gapped.begin(), r.gapped.end(), std::string()) !=
                                     r.gapped.end();
                    reset_clients(n, all ? std::vector<std::string>{} : r.gapped, "history_gap",
                                  "recovery gapped");
                }
            }
        }
        // Else a newer subscriber, or a channel's read, is waiting its turn.
        if (n.recovery.release_due()) release_held(n);
    }

    // Delivers what arrived while a read was running, in arrival order (copies dropped).
    void release_held(node& n) {
        for (auto& m : n.recovery.release())
            deliver_shared_adapter(n, m.origin, m.rooms, m.except, m.event, m.id);
    }

    std::shared_ptr<sse::encoded_event> event_of(event_info const& e) const {
        redis_message msg;
        decode_redis_message(e.payload, msg);
        return sse::encoded_event::from_body(msg.event, msg.body);
    }

    // ---- channel gaps (impl/redis_recovery.hpp) ----

    void check_channel_number(node& n, flying const& f, redis_message const& msg) {
        auto const seen =
            n.gaps.observe(f.channel, msg.origin, msg.channel_number, msg.sequence, msg.event_id);
        if (seen.what == redis_channel_gaps::kind::gap)
            on_channel_gap(n, f.channel, std::string(msg.origin), seen, msg.event_id);
    }

    void on_channel_gap(node& n, std::string const& channel, std::string const& origin,
                        redis_channel_gaps::observation const& seen, std::uint64_t upto) {
        std::string const room = channel == channel_of("") ? std::string() : room_of(channel);
        ++stats_.gap_recoveries;
        trace_ << "   a gap of " << seen.missed << " after id " << seen.last_event_id << "\n";
        if (n.recovery.channel_gaps_full()) {
            reset_clients(
                n, room.empty() ? std::vector<std::string>{} : std::vector<std::string>{room},
                "lost_events", "channel gap");
            return;
        }
        n.recovery.channel_gap_found({0, nsp, channel, room, origin, seen.last_event_id, upto});
        start_channel_recovery(n); // this message and the next ones wait for the read
    }

    void start_channel_recovery(node& n) {
        auto const* due = n.recovery.channel_read_due();
        if (due == nullptr) return;
        auto const& g = *due;
        std::vector<std::string> rooms;
        if (!g.room.empty())
            rooms.push_back(g.room);
        else
            rooms = local_rooms(n);
        n.recovery.channel_read_started();
        trace_ << step_ << ": node " << n.index << " reads channel " << g.channel << " after "
               << g.after << "\n";
        int const gen = n.gen;
        start_fetch(n, rooms, g.after, [this, idx = n.index, gen, id = g.id](fetch_reply r) {
            auto& me = nodes_[static_cast<std::size_t>(idx)];
            if (me.gen != gen) return;
            finish_channel_recovery(me, id, std::move(r));
        });
    }

    void finish_channel_recovery(node& n, std::uint64_t id, fetch_reply r) {
        auto const done = n.recovery.channel_read_answered(id);
        if (!done) return start_channel_recovery(n); // given up meanwhile
        auto const& g = *done;
        if (k_.break_recovery_read) r = fetch_reply{};
        std::vector<std::string> rooms;
        if (!g.room.empty()) rooms.push_back(g.room);
        if (!r.status.empty()) {
            reset_clients(n, rooms, r.status, "recovery");
        } else {
            for (auto i : r.events) {
                auto const& e = events_[i];
                if (e.origin == n.origin) continue; // is_own
                // Only the lost ones: the rest arrived live, or is held or on its way (through
                // the filter it would pass the held ones of its origin: they would be dropped).
                if (!lost_on(g, e)) continue;
                lost_read_.insert({n.index, n.gen, e.id}); // the model
                if (!k_.break_lost_on)
                    deliver_sequenced(n, e.rooms, e.except, event_of(e), e.id, e.origin);
                else
                    deliver_shared_adapter(n, e.origin, e.rooms, e.except, event_of(e), e.id);
            }
            if (!r.gapped.empty()) {
                bool const all =
                    std::find(r.gapped.begin(), r.gapped.end(), std::string()) != r.gapped.end();
                reset_clients(n, all ? std::vector<std::string>{} : r.gapped, "history_gap",
                              "recovery gapped");
            }
        }
        if (n.recovery.channel_read_due() != nullptr) return start_channel_recovery(n);
        if (n.recovery.release_due()) release_held(n);
    }

    // Whether `e` is one of the messages `g` lost: from that origin, inside the hole, and
    // published on that channel.
    static bool lost_on(redis_channel_gap const& g, event_info const& e) {
        if (e.origin != g.origin || e.id <= g.after || e.id >= g.upto) return false;
        if (e.rooms.empty()) return g.channel == channel_of("");
        return std::find(e.rooms.begin(), e.rooms.end(), g.room) != e.rooms.end();
    }

    // start_fetch (on the publisher connection: after what is in flight) behind
    // when_subscribed for reads the namespace asks for (fetch_history).
    void fetch_history(node& n, std::vector<std::string> rooms, std::uint64_t after,
                       std::function<void(fetch_reply)> done) {
        n.sequenced_known = true; // learn()
        int const gen = n.gen;
        auto read = [this, idx = n.index, gen, rooms = std::move(rooms), after,
                     done = std::move(done)]() mutable {
            auto& me = nodes_[static_cast<std::size_t>(idx)];
            if (me.gen != gen) return;
            start_fetch(me, rooms, after, [done = std::move(done)](fetch_reply r) {
                // history_result: gapped rooms make it a reset as a whole.
                if (r.status.empty() && !r.gapped.empty()) {
                    r.status = "history_gap";
                    r.events.clear();
                }
                done(std::move(r));
            });
        };
        // when_subscribed
        if (n.subs_answered >= n.subs_asked)
            read();
        else
            n.after_subscribe.emplace_back(n.subs_asked, std::move(read));
    }

    void start_fetch(node& n, std::vector<std::string> const& rooms, std::uint64_t after,
                     std::function<void(fetch_reply)> cb,
                     std::optional<std::uint64_t> appended_before = std::nullopt) {
        if (!n.pub_up) {
            fetch_reply r;
            r.status = "history_unavailable";
            cb(std::move(r));
            return;
        }
        // Written after every append of this node queued before it (the connection is
        // FIFO); one still outside the pipelining window holds it back.
        auto const need = appended_before.value_or(n.enqueued);
        if (!k_.break_read_after_appends && n.enqueued - n.queue->pending() < need) {
            n.waiting_fetches.push_back([this, idx = n.index, gen = n.gen, rooms, after,
                                         cb = std::move(cb), need]() mutable {
                auto& me = nodes_[static_cast<std::size_t>(idx)];
                if (me.gen != gen) return;
                start_fetch(me, rooms, after, std::move(cb), need);
            });
            return;
        }
        command c;
        c.k = command::kind::fetch;
        c.after = after;
        c.rooms = rooms;
        c.done = std::move(cb);
        n.pub_conn.push_back(std::move(c));
    }

    // ---- links ----

    // on_connection_down (publisher): the command Redis runs may lose only its reply.
    void publisher_down(node& n) {
        trace_ << step_ << ": node " << n.index << "'s publisher goes away\n";
        if (!n.pub_conn.empty() && pick(0, 1) == 0) {
            command c = std::move(n.pub_conn.front());
            n.pub_conn.pop_front();
            trace_ << "   (its last command ran, the reply is lost)\n";
            if (c.k == command::kind::notice) retell(n, c.lost); // not answered: told again
            if (c.k != command::kind::fetch)
                run_command(n, c);
            else
                n.pub_conn.push_front(std::move(c)); // failed below like the others
        }
        n.pub_up = false;
        std::size_t const dropped = n.queue->set_connected(false);
        for (std::size_t i = 0; i < dropped; ++i) { // the newest ones did not fit back
            auto& e = events_[n.meta[n.queue_order.back()].ev];
            trace_ << "   " << e.id << " dropped: requeue past max_pending\n";
            if (e.f == fate::queued) {
                e.f = fate::dropped;
                ++stats_.dropped_emits;
            }
            note_lost(n, e); // take_overflowed: stored or not, it is told
            n.meta.erase(n.queue_order.back());
            n.queue_order.pop_back();
        }
        run_waiting_fetches(n); // fail_fetches: they fail (pub_up is false)
        auto waiting = std::move(n.pub_conn);
        n.pub_conn.clear();
        for (auto& c : waiting) {
            if (c.k == command::kind::notice) retell(n, c.lost); // retell_lost
            if (c.k == command::kind::fetch) {
                fetch_reply r;
                r.status = "history_unavailable";
                c.done(std::move(r));
            }
        }
    }

    void publisher_up(node& n) {
        trace_ << step_ << ": node " << n.index << "'s publisher connects\n";
        n.pub_up = true;
        n.queue->set_connected(true);
        drain_publishes(n);
        if (n.queue->pending() == 0 && n.queue->in_flight() == 0) tell_lost_namespaces(n);
        maybe_start_recovery(n);
    }

    void subscriber_down(node& n) {
        trace_ << step_ << ": node " << n.index << "'s subscriber goes away\n";
        n.sub_up = false;
        active_[n.index].clear();
        std::set<std::size_t> dropped; // lost with the connection
        for (auto const& kv : air_)
            if (std::get<0>(kv.first) == n.index)
                for (auto const& f : kv.second)
                    if (!f.notice) dropped.insert(f.ev);
        drop_air_to(n.index);
        n.pending_subs.clear();
        n.pending_subscriptions = 0;
        if (n.sequenced_known) mark_gap_start(n);
        outages_[n.index].push_back({n.gen, redis_tick_, UINT64_MAX,
                                     n.recovery.gap_start(nsp).value_or(0), !n.sequenced_known,
                                     std::move(dropped)});
        subscription_answered(n, true);
    }

    void subscriber_up(node& n) {
        trace_ << step_ << ": node " << n.index << "'s subscriber connects\n";
        n.sub_up = true;
        ++n.session;

        n.gaps.clear();
        n.pending_subscriptions = 0;
        subscription_answered(n, true);
        if (n.sequenced_known && n.session > 1) n.recovery.subscriber_back(); // not the first
        for (auto const& ch : n.wanted)
            send_subscribe(n, ch);
        maybe_start_recovery(n);
    }

    void send_subscribe(node& n, std::string const& ch) {
        n.pending_subs.push_back(ch);
        ++n.pending_subscriptions;
        ++n.subs_asked;
    }

    // Redis answers the oldest SUBSCRIBE of `n`.
    void confirm_subscription(node& n) {
        if (!n.sub_up || n.pending_subs.empty()) return;
        auto ch = n.pending_subs.front();
        n.pending_subs.pop_front();
        active_[n.index].insert(ch);
        for (auto& w : uncovered_[{n.index, n.gen, ch}])
            if (w.to == UINT64_MAX) w.to = redis_tick_;
        trace_ << step_ << ": node " << n.index << " subscribed to " << ch << "\n";
        subscription_answered(n, false);
        if (n.pending_subscriptions > 0 && --n.pending_subscriptions == 0) maybe_start_recovery(n);
    }

    void subscription_answered(node& n, bool all) {
        n.subs_answered = all ? n.subs_asked : n.subs_answered + 1;
        std::vector<std::function<void()>> due;
        auto it = n.after_subscribe.begin();
        for (; it != n.after_subscribe.end() && it->first <= n.subs_answered; ++it)
            due.push_back(std::move(it->second));
        n.after_subscribe.erase(n.after_subscribe.begin(), it);
        for (auto& read : due)
            read();
    }

    // adapter::room_added (the sim never unsubscribes: a room's channel stays wanted).
    void room_added(node& n, std::string const& room) {
        auto ch = channel_of(room);
        if (!n.wanted.insert(ch).second) return;
        if (n.sub_up) send_subscribe(n, ch);
    }

    std::vector<std::string> local_rooms(node const& n) const {
        std::vector<std::string> rooms;
        n.core->clients().for_each_room([&](room const& r) {
            if (!r.members().empty()) rooms.push_back(r.name());
        });
        return rooms;
    }

    // ---- the namespace (namespace_) ----

    void deliver_sequenced(node& n, std::vector<std::string> const& rooms,
                           std::vector<std::string> const& except,
                           std::shared_ptr<sse::encoded_event> ev, std::uint64_t id,
                           std::string const& origin) {
        ev->stamp(id);
        n.last_id = std::max(n.last_id, id);
        offer_shared(n, rooms, except, std::move(ev), origin);
    }

    void offer_shared(node& n, std::vector<std::string> const& rooms,
                      std::vector<std::string> const& except, sse::event_ptr const& ev,
                      std::string const& origin) {
        if (k_.break_merge_window) { // no window, and a late event is taken for a copy
            deliver_shared(n, rooms, except, ev);
            return;
        }
        auto const verdict = n.window->offer(ev->id(), origin, node_now(n));
        n.offered.insert(ev->id());
        switch (verdict) {
        case merge_window<window_item>::verdict::deliver:
            deliver_shared(n, rooms, except, ev);
            return;
        case merge_window<window_item>::verdict::held:
            ++stats_.held_in_window;
            n.window->hold(ev->id(), window_item{rooms, except, ev});
            return;
        case merge_window<window_item>::verdict::late:
            deliver_shared(n, rooms, except, ev);
            return;
        }
    }

    void deliver_shared(node& n, std::vector<std::string> const& rooms,
                        std::vector<std::string> const& except, sse::event_ptr const& ev) {
        if (ev->id() > n.core->head()) {
            n.window->released_upto(ev->id());
            n.core->append(make_record(ev, rooms, except, log_now()), log_now());
            n.appended.insert(ev->id());
            return;
        }
        if (k_.break_merge_window) return;
        if (n.core->holds(rooms, ev->id())) return;
        // The model: a copy of one this node delivered (a read's answer): nobody is owed it.
        bool const copy = n.appended.count(ev->id()) != 0;
        bool any = false;
        for_each_recipient(n, rooms, except, true, [&](conn& c) {
            if (!delivery_core::owed(*c.state, rooms, ev->id()) &&
                !n.windows.owes(c.state.get(), ev->id()))
                return;
            auto const& e = events_[by_id_.at(ev->id())];
            auto const mine = for_conn(c, e);
            auto const& usr = user_of(c);
            bool const not_owed =
                (mine && !*mine) || e.id <= usr.reset_id || usr.received.count(e.id) != 0;
            // While its replay is read, the read may or may not hold the late event: the
            // node cannot tell, and resets (the sim's Redis answers at once; a real reply and
            // the message travel on two connections).
            if (not_owed || c.rp == conn::replay::pending) {
                c.unowed_late = true;
                ++stats_.unowed_late;
                if (usr.received.count(e.id)) ++stats_.late_but_had_it;
            }
            any = true;
            n.core->reset(*c.state, reset_reason::late_event);
        });
        if (!any)
            trace_ << "   " << ev->id() << " is late at node " << n.index << ", owed to nobody\n";
        if (any) {
            ++stats_.late_resets;
            if (copy) ++stats_.late_copies;
            trace_ << "   " << ev->id() << " is late at node " << n.index << "\n";
        }
    }

    void release_windows() {
        for (auto& n : nodes_) {
            if (!n.alive) continue;
            n.window->release(node_now(n), [&](std::uint64_t, window_item& h) {
                deliver_shared(n, h.rooms, h.except, h.event);
            });
        }
    }

    template <class Fn>
    void for_each_recipient(node& n, std::vector<std::string> const& rooms,
                            std::vector<std::string> const& except, bool ids_too, Fn&& fn) {
        for (auto& u : users_) {
            if (!u.c || u.c->node != n.index || !u.c->state->registered()) continue;
            auto& c = *u.c;
            bool in = rooms.empty();
            for (auto const& r : rooms)
                in = in || c.state->in_room(r) || (ids_too && r == c.id);
            if (!in) continue;
            bool out = false;
            for (auto const& x : except)
                out = out || c.state->in_room(x);
            if (!out) fn(c);
        }
    }

    // namespace_::reset_clients: a reset without an id, straight to the queues.
    void reset_clients(node& n, std::vector<std::string> const& rooms, std::string const& why,
                       char const* source) {
        for_each_recipient(n, rooms, {}, false, [&](conn& c) { receive_reset(c, why, 0, source); });
    }

    // The flush pass of `n` (namespace_::run_flush_pass + plan_client).
    void flush(node& n) {
        std::vector<client_state*> woken;
        n.core->take_woken(woken, log_now());
        for (auto* s : woken) {
            conn* c = find_conn(s);
            XSIM_CHECK(c != nullptr, "a woken client is not connected");
            if (c->held) continue;
            std::vector<sse::event_ptr> out;
            auto const p = n.core->plan(*c->state, plan_limits{}, out, log_now());
            XSIM_CHECK(!p.slow_consumer, c->id << " is a slow consumer");
            if (p.reset != reset_reason::none) {
                c->rp = conn::replay::none;
                receive_reset(*c, to_string(p.reset), p.reset_id, "plan");
                c->unowed_late = false;
                continue;
            }
            for (auto const& e : out)
                receive_event(*c, e->id());
        }
    }

    // ---- clients (namespace_::admit, end_admission, join_locked, fetch_replay) ----

    void connect(std::size_t u) {
        auto& usr = users_[u];
        if (usr.c) return;
        node& n = pick_node();
        usr.c.emplace();
        auto& c = *usr.c;
        c.id = "u" + std::to_string(u) + "#" + std::to_string(++usr.connections);
        c.node = n.index;
        c.gen = n.gen;
        c.has_l = usr.seen_any && pick(0, 5) != 0;
        c.l = c.has_l ? usr.last_seen : 0;
        if (!c.has_l) { // a new stream: what the user had before does not count
            usr.received.clear();
            usr.reset_ordinal = usr.reset_id = usr.last_reset_ordinal = 0;
        }
        trace_ << step_ << ": " << c.id << " connects to node " << n.index << " last-event-id "
               << (c.has_l ? std::to_string(c.l) : std::string("(none)")) << "\n";
        // admit: a shared-history id moves this node's ids past it.
        std::uint64_t seen = 0;
        if (c.has_l && hybrid_id_unix_ms(c.l) <= node_now(n) / 1000 + max_clock_skew_us / 1000) {
            seen = c.l;
            n.last_id = std::max(n.last_id, seen);
        }
        n.core->admit(*c.state, c.id, std::nullopt, log_now());
        c.held = true;
        c.admitted_head = n.core->head();
        n.core->resume_after(*c.state, seen);
        c.base = c.has_l ? c.l : n.core->head();
        c.admit_ordinal = ordinal();
        if (c.has_l) c.rp = conn::replay::pending;
        for (auto const& r : usr.usual_rooms)
            join_locked(n, c, r, true);
        // end_admission
        if (c.rp != conn::replay::pending) {
            c.held = false;
            n.core->wake(*c.state);
        } else {
            fetch_replay(n, c);
        }
    }

    void join_locked(node& n, conn& c, std::string const& room, bool at_connect) {
        if (c.rooms.count(room)) return;
        n.core->join(*c.state, room, log_now());
        auto& m = c.rooms[room];
        m.replayed = at_connect && c.has_l;
        m.from = m.replayed ? c.l : n.core->head();
        m.ordinal = ordinal();
        auto const* r = n.core->clients().find_room(room);
        if (r && r->members().size() == 1) {
            m.lookback = lookback_from();
            room_added(n, room);
            catch_up_room(n, room);
        }
    }

    // A join after admission (fresh connections only: the late join of a reconnect, whose
    // missed events of that room are owed too, is left to delivery_sim).
    void late_join(std::size_t u) {
        auto& usr = users_[u];
        if (!usr.c || usr.c->has_l) return;
        auto& c = *usr.c;
        auto& n = nodes_[static_cast<std::size_t>(c.node)];
        auto const room = pick_room();
        if (c.rooms.count(room)) return;
        trace_ << step_ << ": " << c.id << " joins " << room << " at " << n.core->head() << "\n";
        join_locked(n, c, room, false);
    }

    void disconnect(std::size_t u) {
        auto& usr = users_[u];
        if (!usr.c) return;
        trace_ << step_ << ": " << usr.c->id << " disconnects\n";
        auto& n = nodes_[static_cast<std::size_t>(usr.c->node)];
        n.core->remove(*usr.c->state, log_now());
        n.windows.close(usr.c->state.get());
        usr.c.reset();
    }

    // namespace_::catch_up_room / finish_catch_up
    void catch_up_room(node& n, std::string const& room) {
        auto const after = std::max(n.core->head(), hybrid_id_at(node_now(n) - max_clock_skew_us));
        ++stats_.catch_ups;
        int const gen = n.gen;
        fetch_history(n, {room}, after, [this, idx = n.index, gen, room, after](fetch_reply r) {
            auto& me = nodes_[static_cast<std::size_t>(idx)];
            if (me.gen != gen) return;
            if (r.status == "history_unavailable") // the model: an excuse while not strict
                failed_catch_ups_.push_back({idx, gen, room, after, redis_tick_});
            if (!r.status.empty()) {
                reset_clients(
                    me, room.empty() ? std::vector<std::string>{} : std::vector<std::string>{room},
                    r.status, "catch-up");
                return;
            }
            for (auto i : r.events) {
                auto const& e = events_[i];
                if (e.origin == me.origin) continue;
                redis_message msg;
                decode_redis_message(e.payload, msg);
                deliver_sequenced(me, e.rooms, e.except,
                                  sse::encoded_event::from_body(msg.event, msg.body), e.id,
                                  e.origin);
            }
        });
    }

    void fetch_replay(node& n, conn& c) {
        std::vector<std::string> rooms;
        for (auto const& m : c.state->memberships())
            rooms.push_back(m.room->name());
        std::string const id = c.id;
        if (hybrid_id_unix_ms(c.l) > node_now(n) / 1000 + max_clock_skew_us / 1000) {
            fetch_reply r;
            r.status = "unknown_id";
            return finish_replay(n, c, r);
        }
        int const gen = n.gen;
        n.windows.open(c.state.get(), c.l, c.admitted_head);
        fetch_history(n, rooms, c.l, [this, idx = n.index, gen, id](fetch_reply r) {
            auto& me = nodes_[static_cast<std::size_t>(idx)];
            if (me.gen != gen) return;
            for (auto& u : users_)
                if (u.c && u.c->id == id) return finish_replay(me, *u.c, r);
        });
    }

    void finish_replay(node& n, conn& c, fetch_reply const& r) {
        if (!c.state->registered() || c.rp != conn::replay::pending) return;
        auto const upto = c.admitted_head;
        ++stats_.replays;
        c.replay_tick = redis_tick_;
        std::vector<std::uint64_t> found; // namespace_::finish_replay
        for (auto i : r.events)
            if (events_[i].id > c.l && events_[i].id <= upto) found.push_back(events_[i].id);
        bool const late_missed =
            n.windows.read(c.state.get(), std::move(found), node_now(n)) && r.status.empty();
        if (!r.status.empty()) {
            c.rp = conn::replay::none;
            auto const stamp = std::max({upto, c.has_l ? c.l : 0, r.head});
            n.core->resume_after(*c.state, stamp);
            receive_reset(c, r.status, stamp, "replay");
        } else {
            c.rp = conn::replay::done;
            std::vector<std::size_t> above; // namespace_::deliver_read_ahead
            for (auto i : r.events) {
                auto const& e = events_[i];
                if (e.id <= c.l) continue;
                if (e.id > upto) {
                    above.push_back(i);
                    continue;
                }
                bool excluded = false;
                for (auto const& x : e.except)
                    excluded = excluded || c.state->in_room(x);
                if (excluded) continue;
                receive_event(c, e.id);
            }
            if (late_missed) n.core->reset(*c.state, reset_reason::late_event);
            c.held = false;
            n.core->wake(*c.state);
            for (auto i : above) {
                auto const& e = events_[i];
                if (e.origin == n.origin) continue;
                deliver_sequenced(n, e.rooms, e.except, event_of(e), e.id, e.origin);
            }
            return;
        }
        c.held = false;
        n.core->wake(*c.state);
    }

    // ---- time ----

    void advance_time(std::uint64_t us) {
        now_us_ += us;
        for (auto& n : nodes_)
            if (n.alive && n.next_marks != 0 && now_us_ >= n.next_marks) send_marks(n);
        for (auto& n : nodes_) // namespace_::expire_history
            n.windows.expire(node_now(n));
        trace_ << step_ << ": time +" << us / 1000 << "ms\n";
        release_windows();
    }

    // redis_adapter_impl::send_marks, on its timer: quiet channels get their mark, written on
    // the publisher connection after what was written before (none while it is away).
    void send_marks(node& n) {
        if (n.pub_up)
            for (auto& m : n.marks.take_due(static_cast<std::int64_t>(now_us_), mark_after_us)) {
                command c;
                c.k = command::kind::mark;
                c.m = std::move(m);
                n.pub_conn.push_back(std::move(c));
            }
        n.next_marks = n.marks.empty() ? 0 : now_us_ + mark_after_us;
    }

    // Outages end and everything in flight lands.
    void quiesce() {
        trace_ << "quiesce\n";
        step_ = 1000000;
        for (auto& n : nodes_) {
            if (!n.pub_up) publisher_up(n);
            if (!n.sub_up) subscriber_up(n);
        }
        for (int round = 0; round < 10000; ++round) {
            bool busy = false;
            for (auto& n : nodes_) {
                while (!n.pending_subs.empty()) {
                    confirm_subscription(n);
                    busy = true;
                }
                while (!n.pub_conn.empty()) {
                    redis_exec(n);
                    busy = true;
                }
            }
            while (!busy_queues().empty()) {
                deliver_one();
                busy = true;
            }
            bool marks_due = false;
            for (auto& n : nodes_) {
                if (n.window->held() > 0 || n.recovery.busy()) busy = true;
                if (n.alive && !n.marks.empty()) marks_due = true;
            }
            // Nothing else to do: the mark timers' turn (redis_options::channel_mark_after).
            advance_time(!busy && marks_due ? mark_after_us : width_us_ + 1000);
            for (auto& n : nodes_)
                flush(n);
            if (!busy && !marks_due) break;
        }
        for (auto& n : nodes_)
            flush(n);
        for (auto const& u : users_)
            if (u.c) XSIM_CHECK(!u.c->held, u.c->id << " is still held at quiescence");
    }

    // ---- the reference model ----

    // A room new to a node: its catch-up reads what was emitted at most a second before the
    // join by the node's clock; with the clocks apart by up to `max_skew_us_`, what the
    // true clock says was emitted less than (1 s - that) before is surely read.
    std::uint64_t lookback_from() const { return now_us_ - (max_clock_skew_us - max_skew_us_); }

    std::uint64_t ordinal() const { return static_cast<std::uint64_t>(step_) + 1; }

    // Whether `e` is for `c`: by its rooms and its join points; nullopt when the except rooms
    // make it unclear (an except room it joined after the event).
    //
    // Owed (`owed`): for a reconnect, every id above its Last-Event-ID in the rooms it came
    // back with (and namespace-wide); for a new client, the events with ids above its node's
    // head that were emitted after it came (as Socket.IO: membership at emit time, and in id
    // order), and for a room new to its node also those that node's catch-up promises (ids
    // above the head and above the time one second before the join). May come (`!owed`):
    // any id above the head when it came or joined (an event on its way may still arrive).
    std::optional<bool> for_conn(conn const& c, event_info const& e, bool owed = true) const {
        bool in = false;
        if (e.rooms.empty()) {
            in = e.id > c.base && (!owed || c.has_l || e.ordinal > c.admit_ordinal);
        } else {
            for (auto const& r : e.rooms) {
                auto it = c.rooms.find(r);
                if (it == c.rooms.end()) continue;
                auto const& m = it->second;
                if (e.id > m.from && (!owed || m.replayed || e.ordinal > m.ordinal ||
                                      (m.lookback != 0 && e.emitted_us > m.lookback)))
                    in = true;
            }
        }
        if (!in) return false;
        for (auto const& x : e.except) {
            auto it = c.rooms.find(x);
            if (it == c.rooms.end()) continue;
            if (it->second.from < e.id) return false; // a member when it was emitted
            return std::nullopt;
        }
        return true;
    }

    void receive_event(conn& c, std::uint64_t id) {
        auto& usr = user_of(c);
        trace_ << "   " << c.id << " <- " << id << "\n";
        XSIM_CHECK(!c.any || id > c.last_id, c.id << " got " << id << " after " << c.last_id);
        XSIM_CHECK(c.any || !c.has_l || id > c.l,
                   c.id << " got " << id << " after Last-Event-ID " << c.l);
        bool const again = !usr.received.insert(id).second;
        bool const rewound = id > usr.rewound_from && id <= usr.rewound_to;
        XSIM_CHECK(!again || (rewound && !k_.strict_reset_rewind),
                   c.id << " got " << id << " twice");
        if (again) ++stats_.rewound_duplicates;
        auto it = by_id_.find(id);
        XSIM_CHECK(it != by_id_.end(), "an unknown id " << id);
        auto const verdict = for_conn(c, events_[it->second], false);
        XSIM_CHECK(!verdict || *verdict, c.id << " got " << id << ", not for it");
        c.any = true;
        c.last_id = id;
        usr.last_seen = id;
        usr.seen_any = true;
        ++stats_.deliveries;
    }

    void receive_reset(conn& c, std::string const& why, std::uint64_t id, char const* source) {
        auto& usr = user_of(c);
        trace_ << "   " << c.id << " <- reset " << why << (id ? " id " + std::to_string(id) : "")
               << " (" << source << ")\n";
        if (id != 0) {
            XSIM_CHECK(!c.any || id > c.last_id,
                       c.id << " got reset id " << id << " after " << c.last_id);
            if (c.has_l && id < c.l) { // the browser's lastEventId goes back
                XSIM_CHECK(!k_.strict_reset_rewind,
                           c.id << " got reset id " << id << " below its Last-Event-ID " << c.l);
                usr.rewound_from = id;
                usr.rewound_to = std::max(usr.rewound_to, c.l);
            }
            c.any = true;
            c.last_id = id;
            usr.last_seen = id;
            usr.seen_any = true;
        }
        // Two resets in one step (say a catch-up and a recovery that both found the gap) are
        // judged against what was owed before the first.
        if (usr.reset_step != step_) usr.excused_before = usr.reset_ordinal;
        XSIM_CHECK(justified_reset(c, why, source), c.id << " got a reset (" << why << ", "
                                                         << source
                                                         << ") but misses nothing it was owed");
        usr.reset_step = step_;
        usr.last_reset_ordinal = ordinal();
        // What it is no longer owed: with an id, what is at or below it (live events go on
        // after it); without one (the position stays), what was emitted until now.
        if (id != 0)
            usr.reset_id = std::max(usr.reset_id, id);
        else
            usr.reset_ordinal = ordinal() + 1;
        ++stats_.resets;
    }

    // A reset is due when an event owed to `c` is missing and can no longer come in order: its
    // id is at or below the newest id its node delivered (late), or nobody can deliver it any
    // more (its origin dropped it or crashed, Redis no longer holds it). Looser where the
    // library cannot know better:
    //   - a failed read ("history_unavailable", the publisher was away), and a recovery whose
    //     gap start is older than the history ("history_gap" as a status) or whose rooms
    //     Redis trimmed past the gap start (gapped rooms: Redis says that it trimmed, not
    //     which ids): the node cannot tell what each client missed, so every client of those
    //     rooms resets, also one that connected during the gap, after what was trimmed;
    //   - a replay whose Last-Event-ID is older than max_age: Redis answers by age alone;
    //   - a late event after a reset that the core did not send (see below);
    //   - "lost_events" (a notice) names the namespace, not the rooms of what was dropped:
    //     justified when an emit of another node was dropped.
    bool justified_reset(conn const& c, std::string const& why, std::string const& source) const {
        if (why == "history_unavailable") return true;
        if (source == "recovery" || source == "recovery gapped") return true;
        if (why == "late_event" && c.unowed_late && !k_.strict_late_owed) return true;
        if (why == "lost_events") {
            for (auto const& e : events_)
                if (e.f == fate::dropped && e.node != c.node) return true;
            return false;
        }
        auto const& n = nodes_[static_cast<std::size_t>(c.node)];
        auto const& usr = users_[user_index(c)];
        std::uint64_t since = usr.reset_step == step_ ? usr.excused_before : usr.reset_ordinal;
        // A reset sent beside the core (a replay that failed, reset_clients) does not tell
        // the core that older events are no longer owed: a late one resets again. Judged by
        // ids alone.
        if (why == "late_event") since = 0;
        // A replay answers for (Last-Event-ID, head at admission], whatever reset came while
        // it was read.
        if (source == std::string("replay")) since = 0;
        for (auto const& e : events_) {
            if (e.ordinal < since || (usr.reset_step != step_ && e.id <= usr.reset_id)) continue;
            if (usr.received.count(e.id)) continue;
            auto const mine = for_conn(c, e);
            if (mine && !*mine) continue; // unclear (an except room joined since): may be owed
            if (e.id <= n.core->head() || e.f == fate::dropped || e.f == fate::crashed) return true;
            if (e.f == fate::stored && !in_redis(e, c)) return true;
        }
        if (source == std::string("catch-up") && !k_.strict_catch_up_reset) {
            ++const_cast<sim_stats&>(stats_).loose_catch_up_resets;
            return true;
        }
        if (why == "history_gap" && source == std::string("replay") && c.has_l) {
            // One floor per log: a trimmed event that was not for this client (an except
            // room) resets it too.
            auto& r = const_cast<redis_model&>(redis_);
            bool floor_above = r.floor("", now_us_) > c.l;
            for (auto const& kv : c.rooms)
                floor_above = floor_above || r.floor(kv.first, now_us_) > c.l;
            // Or the floors its node's lost emits will raise (add_own_lost): one per log too.
            floor_above = floor_above || (n.lost.any && n.lost.max_id > c.l);
            for (auto const& cmd : n.pub_conn)
                floor_above = floor_above || (cmd.k == command::kind::notice && cmd.lost.any &&
                                              cmd.lost.max_id > c.l);
            if (floor_above) return true;
        }
        if (why == "history_gap" && source == std::string("replay") && c.has_l &&
            now_us_ / 1000 - (c.l / 4000 + epoch_ms) > redis_.max_age_ms())
            return true;
        return false;
    }

    // Whether every log `c` reads that `e` went to still holds it. (Redis reports a log
    // whose floor passed the read's start as gapped, and the read as a whole resets: also
    // when another log the client reads still holds the event. Per-log floors; accepted.)
    bool in_redis(event_info const& e, conn const& c) const {
        auto& r = const_cast<redis_model&>(redis_);
        if (e.rooms.empty()) return r.holds("", e.id, now_us_);
        for (auto const& room : e.rooms)
            if (c.rooms.count(room) && !r.holds(room, e.id, now_us_)) return false;
        return true;
    }

    // Why an event owed to `c` may be missing without a reset (known limits; see knobs).
    std::string excuse(conn const& c, event_info const& e) const {
        auto const& usr = users_[user_index(c)];
        if (e.ordinal < usr.reset_ordinal || e.id <= usr.reset_id) return "reset";
        if ((e.f == fate::dropped || e.f == fate::crashed) && e.ordinal < usr.last_reset_ordinal)
            return "reset";
        if (e.f == fate::crashed) return "crash"; // never left its origin
        if (e.f == fate::dropped && !k_.strict_dropped_emits) return "dropped emit";
        // This node's own: its read is written after them (start_fetch), never excused.
        if (!k_.strict_late_replay && e.node != c.node && c.has_l && c.replay_tick != 0 &&
            e.id > c.l && e.id <= c.admitted_head &&
            (e.f != fate::stored || e.stored_tick > c.replay_tick))
            return "not in Redis at the replay read";
        if (!k_.strict_replay_upto && c.has_l && c.replay_tick != 0 && e.id > c.l &&
            e.id > c.admitted_head && e.f == fate::stored && e.stored_tick <= c.replay_tick)
            return "above the admission head, in Redis before the replay read";
        if (e.f == fate::stored) {
            std::vector<std::string> chans;
            if (e.rooms.empty()) chans.push_back(channel_of(""));
            for (auto const& room : e.rooms)
                chans.push_back(channel_of(room));
            for (auto const& ch : chans) {
                auto it = uncovered_.find({c.node, c.gen, ch});
                if (it == uncovered_.end()) continue;
                for (auto const& w : it->second)
                    if (e.stored_tick > w.from && e.stored_tick <= w.to) {
                        bool const startup = std::string(w.why) == "startup";
                        if (startup ? !k_.strict_startup : !k_.strict_give_up) return w.why;
                    }
            }
        }
        if (!k_.strict_filter_unseen && filtered_unseen_.count({c.node, c.gen, e.id}) &&
            !lost_read_.count({c.node, c.gen, e.id}))
            return "taken for a copy, never had it";
        if (!k_.strict_catch_up && e.f == fate::stored)
            for (auto const& f : failed_catch_ups_)
                if (f.node == c.node && f.gen == c.gen && e.id > f.after &&
                    e.stored_tick <= f.tick &&
                    (e.rooms.empty() ||
                     std::find(e.rooms.begin(), e.rooms.end(), f.room) != e.rooms.end()))
                    return "its catch-up read failed";
        if (e.f == fate::stored && outages_.count(c.node))
            for (auto const& o : outages_.at(c.node)) {
                bool const during = e.stored_tick > o.from && e.stored_tick <= o.to;
                if (o.gen != c.gen || !(during || o.in_flight.count(by_id_.at(e.id)))) continue;
                if (o.unmarked && !k_.strict_unmarked_gap) return "outage with no gap start";
                if (!o.unmarked && e.id <= o.gap_from && !k_.strict_recovery_skew)
                    return "below the gap start";
            }
        for (auto const& l : lost_)
            if (l.ev == by_id_.at(e.id) && l.to == c.node && !l.revealed) {
                if (!k_.strict_unrevealed_loss) return "unrevealed loss";
                if (!k_.strict_lost_mark && !l.after_one)
                    return "lost before anything of its origin arrived on its channel";
                if (!k_.strict_lost_mark && !mark_came(l)) return "unrevealed loss, no mark came";
            }
        return {};
    }

    // Whether a mark that reveals `l` could come: its origin still runs, its receiver's
    // subscriber session is the same, and no mark of its channel to it was lost.
    bool mark_came(lost_message const& l) const {
        auto const& to = nodes_[static_cast<std::size_t>(l.to)];
        if (to.session != l.session) return false;
        if (std::none_of(nodes_.begin(), nodes_.end(),
                         [&](node const& o) { return o.alive && o.origin == l.origin; }))
            return false;
        return std::none_of(lost_marks_.begin(), lost_marks_.end(), [&](lost_mark const& m) {
            return m.to == l.to && m.session == l.session && m.origin == l.origin &&
                   m.channel == l.channel && m.number >= l.number;
        });
    }

    void check_quiescent() {
        for (auto& usr : users_) {
            if (!usr.c) continue;
            auto const& c = *usr.c;
            for (auto const& e : events_) {
                auto const mine = for_conn(c, e);
                if (!mine || !*mine || usr.received.count(e.id)) continue;
                auto const why = excuse(c, e);
                if (!why.empty()) {
                    ++stats_.excused;
                    ++stats_.excuses[why];
                    trace_ << "excused: " << c.id << " misses " << e.id << " (" << why << ")\n";
                    continue;
                }
                XSIM_CHECK(false, c.id << " (node " << c.node << ", from " << c.base
                                       << ") never got " << e.id << " from node " << e.node
                                       << " to [" << join_names(e.rooms) << "] and no reset");
            }
        }
    }

    // ---- helpers ----

    user& user_of(conn const& c) { return users_[user_index(c)]; }
    std::size_t user_index(conn const& c) const {
        return static_cast<std::size_t>(std::stoul(c.id.substr(1, c.id.find('#') - 1)));
    }
    conn* find_conn(client_state const* s) {
        for (auto& u : users_)
            if (u.c && u.c->state.get() == s) return &*u.c;
        return nullptr;
    }
    static void add_unique(std::vector<std::string>& v, std::string s) {
        if (std::find(v.begin(), v.end(), s) == v.end()) v.push_back(std::move(s));
    }
    static std::string join_names(std::vector<std::string> const& v) {
        std::string out;
        for (auto const& s : v)
            out += (out.empty() ? "" : ",") + (s.empty() ? std::string("''") : s);
        return out;
    }

    std::uint64_t seed_;
    knobs k_;
    std::mt19937_64 rng_;
    redis_model redis_;
    std::uint64_t width_us_ = 0;
    std::size_t max_pending_ = 0, max_in_flight_ = 0;
    int faults_ = 0;
    bool fast_ = false; // Redis and pub/sub keep up (within a merge window, mostly)
    static constexpr int max_skew_us_ = 900000; // any two nodes' clocks agree within it
    std::uint64_t now_us_ = 0;
    unsigned tags_claimed_ = 0;
    std::uint64_t redis_tick_ = 0; // commands Redis ran
    std::vector<node> nodes_;
    std::map<int, std::set<std::string>> active_; // Redis: channels each subscriber has
    std::map<std::tuple<int, std::string, std::string>, std::deque<flying>> air_;
    std::map<int, std::vector<std::uint64_t>> noticed_;
    struct outage {
        int gen;
        std::uint64_t from, to, gap_from;
        bool unmarked;
        std::set<std::size_t> in_flight; // events on their way to it when it went
    };
    std::map<int, std::vector<outage>> outages_; // subscriber outages, in Redis ticks
    struct failed_catch_up {
        int node, gen;
        std::string room;
        std::uint64_t after, tick;
    };
    std::vector<failed_catch_up> failed_catch_ups_;
    std::set<std::tuple<int, int, std::uint64_t>> filtered_unseen_; // (node, gen, id)
    std::set<std::tuple<int, int, std::uint64_t>> lost_read_;       // read back for a channel gap
    // Channels a node asked for and no read covers until Redis confirms them.
    struct window {
        std::uint64_t from, to;
        char const* why;
    };
    std::map<std::tuple<int, int, std::string>, std::vector<window>> uncovered_;
    std::vector<lost_message> lost_;
    std::vector<lost_mark> lost_marks_;
    static constexpr std::int64_t mark_after_us = 1000000; // redis_options::channel_mark_after
    // The last number each (node, gen, session, origin, channel) got.
    std::map<std::tuple<int, int, int, std::string, std::string>, std::uint64_t> heard_;
    std::vector<user> users_;
    std::vector<event_info> events_;
    std::map<std::uint64_t, std::size_t> by_id_;
    int step_ = 0;
    std::ostringstream trace_;
    sim_stats stats_;
};

inline std::optional<std::string> run_seed(std::uint64_t seed, int steps, knobs k, bool full_trace,
                                           sim_stats* totals = nullptr) {
    simulation sim(seed, k);
    try {
        sim.run(steps);
    } catch (xsim_failure const& f) {
        std::string t = sim.trace();
        if (!full_trace && t.size() > 8000) t = "...\n" + t.substr(t.size() - 8000);
        return "SSE_SIM_SEED=" + std::to_string(seed) + " fails: " + f.what + "\nschedule:\n" + t;
    }
    if (totals) *totals += sim.stats();
    if (full_trace && std::getenv("SSE_SIM_TRACE")) std::cerr << sim.trace(); // a passing one
    return std::nullopt;
}

} // namespace cross_node_sim

#undef XSIM_CHECK

namespace cross_node_sim {

constexpr int steps = 400;

inline std::uint64_t seed_count(std::uint64_t fallback) {
    if (char const* n = std::getenv("SSE_SIM_SEEDS")) return std::strtoull(n, nullptr, 10);
    return fallback;
}

// The first failing seed of 1..seeds, if any.
inline std::optional<std::string> first_failure(knobs k, std::uint64_t seeds,
                                                sim_stats* totals = nullptr) {
    for (std::uint64_t seed = 1; seed <= seeds; ++seed)
        if (auto failure = run_seed(seed, steps, k, false, totals)) return failure;
    return std::nullopt;
}

// SSE_SIM_SEED=<n>: that seed alone, its whole schedule on stderr when it fails.
inline bool replay_one(knobs k) {
    char const* one = std::getenv("SSE_SIM_SEED");
    if (!one) return false;
    auto const seed = std::strtoull(one, nullptr, 10);
    if (auto failure = run_seed(seed, steps, k, true)) {
        std::cerr << *failure << "\n"; // unwrapped, for reading
        FAIL("seed " << seed << " fails (its schedule is on stderr)");
    }
    SUCCEED("seed " << seed << " passes");
    return true;
}

} // namespace cross_node_sim

// Seeds beyond the default 1 000 that once failed, run every time.
TEST_CASE("cross-node simulation: seeds that found a bug still pass", "[cross_node_sim]") {
    // 3211: a recovery given up while a SUBSCRIBE was unconfirmed (knobs::strict_give_up).
    for (std::uint64_t const seed : {3211u}) {
        CAPTURE(seed);
        if (auto failure = cross_node_sim::run_seed(seed, cross_node_sim::steps, {}, false))
            FAIL(*failure);
    }
}

TEST_CASE("cross-node simulation: seeded schedules against the reference model",
          "[cross_node_sim]") {
    cross_node_sim::knobs const k;
    if (cross_node_sim::replay_one(k)) return;
    auto const seeds = cross_node_sim::seed_count(1000);
    cross_node_sim::sim_stats total;
    if (auto failure = cross_node_sim::first_failure(k, seeds, &total)) FAIL(*failure);
    // The schedules must reach the interesting states, or they prove little.
    CHECK(total.deliveries > seeds * 20);
    CHECK(total.replays > seeds / 2);
    CHECK(total.late_resets > seeds / 10);
    CHECK(total.recoveries > seeds / 4);
    CHECK(total.gap_recoveries > seeds / 20);
    CHECK(total.catch_ups > seeds);
    CHECK(total.held_in_window > seeds);
    CHECK(total.restarts > seeds / 4);
    std::ostringstream excuses;
    for (auto const& kv : total.excuses)
        excuses << "\n  " << kv.second << " x " << kv.first;
    WARN("cross-node sim: " << seeds << " seeds x " << cross_node_sim::steps << " steps, "
                            << total.deliveries << " deliveries, " << total.replays << " replays, "
                            << total.resets << " resets (" << total.late_resets << " late events, "
                            << total.late_copies << " of them copies the node had delivered), "
                            << total.recoveries << " recovery reads (" << total.gap_recoveries
                            << " for channel gaps), " << total.catch_ups << " catch-ups, "
                            << total.lost_messages << " lost messages, " << total.dropped_emits
                            << " dropped emits, " << total.restarts << " restarts, "
                            << total.held_in_window
                            << " held in a merge window; loosened: " << total.unowed_late
                            << " clients reset for a late event not owed to them ("
                            << total.late_but_had_it << " had it already), "
                            << total.loose_catch_up_resets << " catch-up resets, "
                            << total.rewound_duplicates << " duplicates after a rewinding reset; "
                            << total.excused
                            << " misses excused by known limits:" << excuses.str());
}

namespace cross_node_sim {
// A broken part must make some seed fail; which one, and why, is shown.
inline void caught(knobs k, std::uint64_t seeds) {
    auto failure = first_failure(k, seeds);
    REQUIRE(failure);
    WARN(failure->substr(0, failure->find("\nschedule:")));
}
} // namespace cross_node_sim

TEST_CASE("cross-node simulation: the checks fail when a part is broken", "[cross_node_sim]") {
    // Up to 10 000: each section stops at its first failing seed. A replay that finds events
    // above the node's head delivers them to everyone (deliver_read_ahead), which makes up
    // for some broken parts: a channel gap left unread is caught near seed 2 400, the
    // per-origin filter near 5 400.
    auto const seeds = cross_node_sim::seed_count(10000);
    cross_node_sim::knobs k;
    SECTION("no recovery read") {
        k.break_recovery_read = true;
        cross_node_sim::caught(k, seeds);
    }
    SECTION("no merge window, no late detection") {
        k.break_merge_window = true;
        cross_node_sim::caught(k, seeds);
    }
    SECTION("no channel gap detection") {
        k.break_channel_gaps = true;
        cross_node_sim::caught(k, seeds);
    }
    SECTION("dropped emits leave no floor in the history") {
        k.break_lost_floor = true;
        cross_node_sim::caught(k, seeds);
    }
    SECTION("channel marks not looked at") {
        k.break_marks = true;
        cross_node_sim::caught(k, seeds);
    }
    SECTION("a channel gap's lost events through the per-origin filter") {
        k.break_lost_on = true;
        cross_node_sim::caught(k, seeds);
    }
    SECTION("a replay read written before this node's own queued appends") {
        k.break_read_after_appends = true;
        cross_node_sim::caught(k, seeds);
    }
}

// Known limits and bug candidates (see `knobs`): each fails. Hidden; run by name or with
// "[.known]". SSE_SIM_SEED replays one seed of the case run.
#define XSIM_KNOWN_CASE(title, knob)                                                               \
    TEST_CASE("cross-node simulation (known): " title, "[.known][cross_node_sim_known]") {         \
        cross_node_sim::knobs k;                                                                   \
        k.knob = true;                                                                             \
        if (cross_node_sim::replay_one(k)) return;                                                 \
        if (auto failure = cross_node_sim::first_failure(k, cross_node_sim::seed_count(5000)))     \
            FAIL(*failure);                                                                        \
    }

XSIM_KNOWN_CASE("a lost message whose mark never came", strict_lost_mark)
XSIM_KNOWN_CASE("replay cut at a head below Last-Event-ID", strict_replay_upto)
XSIM_KNOWN_CASE("late resets of clients not owed", strict_late_owed)
XSIM_KNOWN_CASE("catch-up resets", strict_catch_up_reset)

#undef XSIM_KNOWN_CASE

// Reordered across channels (sharded pub/sub on a Redis Cluster: a connection per shard): one
// origin's messages reach a node out of their publishing order. redis_sequence_filter keeps a
// window of each origin's values, so an older one that comes late is no copy
// (strict_filter_unseen; it failed while the filter kept only the highest value).
TEST_CASE("cross-node simulation: pub/sub reordered across channels", "[cross_node_sim]") {
    cross_node_sim::knobs k;
    k.reorder_channels = true;
    k.strict_filter_unseen = true;
    if (cross_node_sim::replay_one(k)) return;
    if (auto failure = cross_node_sim::first_failure(k, cross_node_sim::seed_count(500)))
        FAIL(*failure);
}
