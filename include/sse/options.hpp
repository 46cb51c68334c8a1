// sse/options.hpp - server options: heartbeats, retry hints, CORS, queue bounds.
#ifndef SSE_OPTIONS_HPP
#define SSE_OPTIONS_HPP

#include <sse/detail/config.hpp>

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace sse {

/** Cross-origin settings for the stream response.

    When set, the stream answers with `Access-Control-Allow-Origin` and `Vary: Origin`.
    `origin` is a fixed origin (e.g. "https://scores.example"), or "*" for any origin.
    With `allowed_origins` non-empty, the request's `Origin` is echoed back when it is in the
    list and no CORS header is sent otherwise (the browser then blocks the response).
    `credentials` adds `Access-Control-Allow-Credentials: true` (for `withCredentials`); with
    "*" the request's Origin is echoed instead, since browsers refuse "*" with credentials.
*/
struct cors_options {
    cors_options() = default;
    /// A fixed origin (or "*"), with or without credentials.
    explicit cors_options(std::string allow_origin, bool allow_credentials = false)
        : origin(std::move(allow_origin))
        , credentials(allow_credentials) {}
    /// Echo the request's Origin when it is one of `origins`.
    static cors_options allow_list(std::vector<std::string> origins,
                                   bool allow_credentials = false) {
        cors_options o;
        o.allowed_origins = std::move(origins);
        o.credentials = allow_credentials;
        return o;
    }

    std::string origin;
    bool credentials = false;
    std::vector<std::string> allowed_origins;
    /// How long a browser may cache a preflight answer (`sse::cors_preflight`).
    std::chrono::seconds preflight_max_age{600};
};

/// How a connect refused for overload (see `refusal_options`) is answered.
enum class refusal_mode {
    /// A request whose `Accept` names `text/event-stream` (every EventSource) gets
    /// `200 text/event-stream` with a `retry:` hint, then the close: EventSource comes back by
    /// itself. Any other client gets `status` with `Retry-After`.
    retry_later,
    /// Everyone gets `status` with `Retry-After` (a browser's EventSource gives up for good).
    status_only
};

/** The answer to a connect refused because the namespace is full (`max_clients`,
    `max_clients_per_address`) or admits too fast (`admission_rate`).

    The delay is drawn at random from [retry_min, retry_max] for each refusal, so that refused
    clients do not all come back in the same millisecond. `Retry-After` carries it in whole
    seconds, rounded up.
*/
struct refusal_options {
    refusal_mode mode = refusal_mode::retry_later;
    /// The status of a refusal that is not a stream (a 4xx or 5xx: 503 or 429).
    unsigned status = 503;
    std::chrono::milliseconds retry_min{2000};
    std::chrono::milliseconds retry_max{10000};
};

/** Admissions per second per namespace (a token bucket refilled by time, checked when a
    client would be admitted, after its middleware). `per_second == 0`: unlimited. `burst`
    admissions may come at once; 0 means max(1, ceil(per_second)).
*/
struct admission_rate {
    double per_second = 0;
    std::size_t burst = 0;
};

/** How many recent events each room (and the namespace-wide broadcast log) keeps for
    Last-Event-ID replay. `max_events == 0` turns history and replay off (the default: history
    costs memory per room, and apps that refetch state on reconnect do not need it).
*/
struct history_options {
    std::size_t max_events = 0;
    std::chrono::milliseconds max_age{std::chrono::minutes(5)};
};

/// What happens to a client whose queue passes `options::max_buffered_bytes`.
enum class slow_consumer_policy {
    /// Drop its unsent events, send a `retry:` hint, close. With history on, its reconnect
    /// replays what it missed.
    disconnect,
    /// Keep only the newest queued event per (event name, target rooms) - right for scores and
    /// prices where a stale value is worthless. Disconnect only if that is still too much.
    conflate
};

/// How the nodes keep track of each other (`options::cluster`).
struct cluster_options {
    /// Each node announces itself this often, with its rooms' client counts that changed.
    /// Presence on other nodes lags a change by about this much.
    std::chrono::milliseconds announce_interval{std::chrono::seconds(1)};
    /// A node not heard from for this long is gone: requests stop waiting for it and its
    /// clients leave the presence counts. Several announce intervals.
    std::chrono::milliseconds node_ttl{std::chrono::seconds(3)};
    /// The default time `fetch_clients` waits for the other nodes' answers.
    std::chrono::milliseconds request_timeout{std::chrono::seconds(2)};
    /// The most clients one node lists in its answer to `fetch_clients` (its answer then says
    /// `truncated`): one Redis message must stay under `redis_options::max_message_bytes`.
    std::size_t max_fetched_clients = 2000;
};

/** Options of a server, shared by all its namespaces. Every field has a usable default. */
struct options {
    /// A `: ping` comment on every open stream this often, so that proxies keep idle streams
    /// open and dead peers are found. Zero disables.
    std::chrono::milliseconds heartbeat_interval{std::chrono::seconds(15)};

    /// When non-zero, each new stream starts with `retry: <ms>`, the browser's reconnect delay.
    std::chrono::milliseconds retry{0};

    /// Send `event: connection` with `{"clientId":"<id>"}` as each client's first event.
    bool connection_event = true;

    /// Cross-origin headers; none when empty.
    std::optional<cors_options> cors;

    /// A client whose queued, unwritten bytes would pass this is disconnected as a slow
    /// consumer (counted in the namespace's stats). Bounds memory per client.
    std::size_t max_buffered_bytes = 1024 * 1024;

    /// What to do with a client that passes max_buffered_bytes (per namespace:
    /// `namespace_::set_slow_consumer_policy`).
    slow_consumer_policy slow_consumer = slow_consumer_policy::disconnect;

    /// Admitted clients per namespace beyond which connects are refused (see `refusal`).
    /// 0: no limit.
    std::size_t max_clients = 0;
    /// Admitted clients per remote IP address and namespace beyond which connects are refused
    /// (see `refusal`). 0: no limit. Behind a proxy every client has the proxy's address:
    /// leave it 0 there.
    std::size_t max_clients_per_address = 0;
    /// Admissions per second per namespace (a token bucket); beyond it connects are refused
    /// (see `refusal`). Unlimited by default. Per namespace: `namespace_::set_admission_rate`.
    sse::admission_rate admission_rate;
    /// How refused connects are answered: by default a browser's EventSource is told to come
    /// back after a random delay, anyone else gets 503 with Retry-After.
    refusal_options refusal;
    /// Rooms one client may be in (its private room aside); `join` beyond it throws.
    std::size_t max_rooms_per_client = 1024;

    /// On `close()`, each client is told `retry: <random ms in this window>` before its stream
    /// ends, so that thousands of browsers do not reconnect to a restarted node in the same
    /// millisecond. Both zero: no retry hint.
    std::chrono::milliseconds close_retry_min{std::chrono::seconds(1)};
    std::chrono::milliseconds close_retry_max{std::chrono::seconds(10)};

    /// Recent events kept per room for replay to reconnecting clients (see history_options).
    /// A namespace may override it with `namespace_::set_history`.
    history_options history;

    /// The event sent instead of a replay when a client's Last-Event-ID is older than the
    /// history kept, or unknown: the app should refetch its full state.
    std::string reset_event = "reset";

    /// How long a closing stream may take to flush its last bytes before its socket is closed;
    /// then as long again, at most, to drain what the peer still sends (so that a close with
    /// unread bytes does not reset the connection and lose those last bytes).
    std::chrono::milliseconds close_timeout{std::chrono::seconds(2)};

    /// How the nodes sharing a distributed adapter keep track of each other (sse/cluster.hpp).
    cluster_options cluster;
};

} // namespace sse

#endif
