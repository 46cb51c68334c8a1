// Security: overload refusals that browsers recover from (issue 13, item 3). At max_clients,
// max_clients_per_address or past the namespace's admission rate, a request whose Accept names
// text/event-stream (every EventSource) gets `200 text/event-stream` + `retry:` in the window,
// then the close; anyone else gets the status with Retry-After; refusal_mode::status_only
// gives everyone the status. Counted in namespace_stats.
#include "integration/fixture.hpp"
#include "security/security_support.hpp"

#include <cmath>
#include <set>

using namespace sse_test;

namespace {

using ms = std::chrono::milliseconds;

/// A GET of `target` with this Accept line ("" sends none).
sse_reader get_with_accept(unsigned short port, std::string const& target,
                           std::string const& accept, std::string const& method = "GET") {
    std::string req = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    if (!accept.empty()) req += "Accept: " + accept + "\r\n";
    req += "\r\n";
    return sse_reader::raw(port, req);
}

sse::options refusing(std::size_t max_clients) {
    auto o = quiet_options();
    o.max_clients = max_clients;
    o.refusal.retry_min = ms(1500);
    o.refusal.retry_max = ms(4500);
    return o;
}

/// The answer EventSource retries: 200 text/event-stream, a `retry:` in [lo, hi], no event,
/// then the close. Returns the retry.
std::uint64_t expect_retry_later(sse_reader& r, ms lo, ms hi) {
    REQUIRE(r.status() == 200);
    CHECK(r.header("Content-Type") == "text/event-stream");
    CHECK(r.header("Cache-Control") == "no-cache");
    auto retry = r.next_retry(5s);
    REQUIRE(retry);
    CHECK(*retry >= static_cast<std::uint64_t>(lo.count()));
    CHECK(*retry <= static_cast<std::uint64_t>(hi.count()));
    CHECK(r.closed(5s));
    CHECK_FALSE(r.was_reset());
    CHECK(r.events_seen() == 0); // no `connection` event: it was never admitted
    return *retry;
}

/// The answer for any other client: `status`, Retry-After in whole seconds of the window
/// (rounded up), a body, no stream byte, then the close. Returns Retry-After.
unsigned long expect_status(sse_reader& r, unsigned status, ms lo, ms hi) {
    REQUIRE(r.status() == status);
    CHECK(r.header("Connection") == "close");
    CHECK(r.header("Content-Type") != "text/event-stream");
    auto after = r.header("Retry-After");
    REQUIRE(after);
    auto const seconds = std::stoul(*after);
    CHECK(seconds >= static_cast<unsigned long>(std::ceil(lo.count() / 1000.0)));
    CHECK(seconds <= static_cast<unsigned long>(std::ceil(hi.count() / 1000.0)));
    CHECK_FALSE(r.read_body(5s).empty());
    CHECK(r.raw().find("retry:") == std::string::npos);
    CHECK(r.closed(5s));
    return seconds;
}

} // namespace

TEST_CASE("refusal (default): at max_clients an EventSource is told to retry later, in the "
          "window",
          "[security][refusal]") {
    auto opts = refusing(1);
    fixture f(opts);
    auto& ns = f.ns("/s");
    auto admitted = f.open("/s");

    std::set<std::uint64_t> retries;
    for (int i = 0; i < 12; ++i) {
        sse_reader r(f.port, "/s"); // Accept: text/event-stream, as EventSource sends
        retries.insert(expect_retry_later(r, opts.refusal.retry_min, opts.refusal.retry_max));
    }
    CHECK(retries.size() > 1); // jittered, so that refused browsers do not return together
    // Accept lists that name the stream type count; q=0 refuses it.
    for (std::string accept : {"text/event-stream", "text/html, TEXT/EVENT-STREAM;q=0.5",
                               "application/json;q=0.9,text/event-stream"}) {
        CAPTURE(accept);
        auto r = get_with_accept(f.port, "/s", accept);
        expect_retry_later(r, opts.refusal.retry_min, opts.refusal.retry_max);
    }
    auto s = ns.stats();
    CHECK(s.rejected == 15);
    CHECK(s.refused_full == 15);
    CHECK(s.refused_rate == 0);
    CHECK(s.connections == 1);
    CHECK(ns.client_count() == 1);

    // The admitted client was not disturbed; once it leaves, the next one is admitted.
    ns.emit("x", {{"n", 1}});
    auto e = admitted.reader.next_event();
    REQUIRE(e);
    CHECK(e->event == "x");
    admitted.reader.close();
    REQUIRE(eventually([&] { return ns.client_count() == 0; }));
    auto next = f.open("/s");
    CHECK(ns.client_count() == 1);
}

TEST_CASE("refusal (default): a client that is not an EventSource gets 503 with Retry-After",
          "[security][refusal]") {
    auto opts = refusing(1);
    fixture f(opts);
    auto& ns = f.ns("/s");
    auto admitted = f.open("/s");
    std::set<unsigned long> afters;
    for (std::string accept : {"", "application/json", "*/*", "text/*", "text/event-stream;q=0",
                               "text/event-stream; q=0.000", "text/event-streams"}) {
        CAPTURE(accept);
        auto r = get_with_accept(f.port, "/s", accept);
        afters.insert(expect_status(r, 503, opts.refusal.retry_min, opts.refusal.retry_max));
    }
    CHECK(ns.stats().refused_full == 7);
    CHECK(ns.stats().rejected == 7);
}

TEST_CASE("refusal_mode::status_only: everyone gets the status (429 here) with Retry-After",
          "[security][refusal]") {
    auto opts = refusing(1);
    opts.refusal.mode = sse::refusal_mode::status_only;
    opts.refusal.status = 429;
    fixture f(opts);
    auto& ns = f.ns("/s");
    auto admitted = f.open("/s");
    sse_reader es(f.port, "/s"); // an EventSource: no retry hint in this mode
    expect_status(es, 429, opts.refusal.retry_min, opts.refusal.retry_max);
    CHECK(es.reason() == "Too Many Requests");
    auto other = get_with_accept(f.port, "/s", "application/json");
    expect_status(other, 429, opts.refusal.retry_min, opts.refusal.retry_max);
    CHECK(ns.stats().refused_full == 2);
}

TEST_CASE("refusal: max_clients_per_address answers the same way", "[security][refusal]") {
    auto opts = quiet_options();
    opts.max_clients_per_address = 1;
    fixture f(opts);
    auto& ns = f.ns("/s");
    auto admitted = f.open("/s");
    sse_reader es(f.port, "/s");
    expect_retry_later(es, opts.refusal.retry_min, opts.refusal.retry_max);
    auto other = get_with_accept(f.port, "/s", "");
    expect_status(other, 503, opts.refusal.retry_min, opts.refusal.retry_max);
    CHECK(ns.stats().refused_full == 2);
    // A refused address leaves no per-address entry behind: once the admitted one leaves,
    // the address is admitted again.
    admitted.reader.close();
    REQUIRE(eventually([&] { return ns.client_count() == 0; }));
    auto again = f.open("/s");
}

TEST_CASE("refusal: the defaults let browsers come back", "[security][refusal]") {
    sse::options const o;
    CHECK(o.refusal.mode == sse::refusal_mode::retry_later);
    CHECK(o.refusal.status == 503);
    CHECK(o.refusal.retry_min == std::chrono::seconds(2));
    CHECK(o.refusal.retry_max == std::chrono::seconds(10));
    CHECK(o.admission_rate.per_second == 0);
    CHECK(o.admission_rate.burst == 0);
}

TEST_CASE("admission rate: a burst, then a bounded rate; the rest are told to retry",
          "[security][refusal]") {
    fixture f(quiet_options(), 2);
    auto& ns = f.ns("/s");
    ns.set_admission_rate({5, 3}); // 5 a second, 3 at once
    std::vector<opened> kept;
    for (int i = 0; i < 3; ++i)
        kept.push_back(f.open("/s"));
    sse_reader refused(f.port, "/s");
    expect_retry_later(refused, ms(2000), ms(10000));
    CHECK(ns.stats().refused_rate == 1);
    CHECK(ns.stats().refused_full == 0);
    // Another namespace has its own bucket (unlimited here).
    for (int i = 0; i < 5; ++i)
        kept.push_back(f.open("/other"));

    // A storm for a while: no more than the rate lets through, and some do get through.
    auto const start = std::chrono::steady_clock::now();
    auto const before = ns.stats().connections;
    int tries = 0;
    while (std::chrono::steady_clock::now() - start < 1200ms) {
        sse_reader r(f.port, "/s");
        REQUIRE(r.status() == 200);
        ++tries;
        if (auto e = r.next_event(2s); e && e->event == "connection")
            kept.push_back(opened{std::move(r), ""});
    }
    double const seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    auto const s = ns.stats();
    auto const admitted = s.connections - before;
    CAPTURE(tries, seconds, admitted);
    CHECK(admitted >= 1);
    CHECK(static_cast<double>(admitted) <= 3 + 5 * seconds); // burst + rate x time, at most
    CHECK(s.refused_rate == static_cast<std::uint64_t>(tries) - admitted + 1);
    CHECK(s.rejected == s.refused_rate);
}

TEST_CASE("admission rate and refusal options: bad values fail at the call",
          "[security][refusal]") {
    fixture f;
    auto& ns = f.ns("/s");
    auto expect_id = [](auto&& fn, std::string_view id) {
        try {
            fn();
            FAIL("accepted");
        } catch (std::invalid_argument const& e) {
            CHECK(std::string_view(e.what()).substr(0, id.size()) == id);
        }
    };
    expect_id([&] { ns.set_admission_rate({-1, 0}); }, "[sse.invalid_admission_rate]");
    expect_id([&] { ns.set_admission_rate({std::nan(""), 0}); }, "[sse.invalid_admission_rate]");
    auto bad_status = quiet_options();
    bad_status.refusal.status = 200;
    expect_id([&] { sse::server s(f.ts.get_executor(), bad_status); }, "[sse.invalid_refusal]");
    auto bad_window = quiet_options();
    bad_window.refusal.retry_min = ms(5000);
    bad_window.refusal.retry_max = ms(1000);
    expect_id([&] { sse::server s(f.ts.get_executor(), bad_window); }, "[sse.invalid_refusal]");
    auto bad_rate = quiet_options();
    bad_rate.admission_rate.per_second = -3;
    expect_id([&] { sse::server s(f.ts.get_executor(), bad_rate); },
              "[sse.invalid_admission_rate]");
}

TEST_CASE("HEAD on a full namespace: the refusal's head, no body", "[security][refusal]") {
    auto opts = refusing(1);
    fixture f(opts);
    auto& ns = f.ns("/s");
    auto admitted = f.open("/s");
    auto es = get_with_accept(f.port, "/s", "text/event-stream", "HEAD");
    REQUIRE(es.status() == 200);
    CHECK(es.header("Content-Type") == "text/event-stream");
    CHECK(es.closed(5s));
    CHECK(es.wire().empty());
    auto other = get_with_accept(f.port, "/s", "", "HEAD");
    REQUIRE(other.status() == 503);
    CHECK(other.header("Retry-After"));
    CHECK(other.header("Content-Length") != "0");
    CHECK(other.closed(5s));
    CHECK(other.wire().empty());
    CHECK(ns.stats().connections == 1);
}
