// Unit: sse/detail/write_queue.hpp - a client's bounded queue of shared events (sans-I/O).
#include <sse/detail/write_queue.hpp>

#include "support/catch.hpp"

#include <boost/asio/buffer.hpp>

#include <array>

using sse::detail::write_queue;

namespace {

sse::event_ptr event_of(std::size_t bytes) {
    // ": " + payload + "\n\n" makes exactly `bytes` bytes (bytes >= 4).
    return sse::encoded_event::raw(": " + std::string(bytes - 4, 'x') + "\n\n");
}

std::string gathered(std::vector<boost::asio::const_buffer> const& bufs) {
    std::string out;
    for (auto const& b : bufs)
        out.append(static_cast<char const*>(b.data()), b.size());
    return out;
}

} // namespace

TEST_CASE("write_queue: push within the bound, refuse past it", "[write_queue]") {
    write_queue q;
    CHECK(q.bytes() == 0);
    CHECK_FALSE(q.has_pending());
    CHECK_FALSE(q.in_flight());
    CHECK(q.push(event_of(40), 100));
    CHECK(q.push(event_of(60), 100)); // exactly at the bound is fine
    CHECK(q.bytes() == 100);
    CHECK_FALSE(q.push(event_of(4), 100));
    CHECK(q.bytes() == 100); // a refused event is not counted
    CHECK(q.has_pending());
}

TEST_CASE("write_queue: prepare gathers every pending event, in order, without copies",
          "[write_queue]") {
    write_queue q;
    auto a = sse::encoded_event::raw("first\n");
    auto b = sse::encoded_event::raw("second\n");
    auto c = sse::encoded_event::raw("third\n");
    REQUIRE(q.push(a, 1000));
    REQUIRE(q.push(b, 1000));
    REQUIRE(q.push(c, 1000));
    CHECK(a.use_count() == 2); // the queue holds a reference, not a copy

    auto const& bufs = q.prepare();
    REQUIRE(bufs.size() == 3);
    CHECK(bufs[0].data() == a->wire().data()); // the shared bytes themselves
    CHECK(bufs[1].data() == b->wire().data());
    CHECK(gathered(bufs) == "first\nsecond\nthird\n");
    CHECK(q.in_flight());
    CHECK_FALSE(q.has_pending());
    CHECK(q.bytes() == 19); // in-flight bytes still count against the bound
}

TEST_CASE("write_queue: events pushed during a write wait for the next batch", "[write_queue]") {
    write_queue q;
    REQUIRE(q.push(sse::encoded_event::raw("one\n"), 20));
    q.prepare();
    REQUIRE(q.push(sse::encoded_event::raw("two\n"), 20));
    REQUIRE(q.push(sse::encoded_event::raw("three\n"), 20));
    CHECK(q.bytes() == 14);
    CHECK_FALSE(q.push(sse::encoded_event::raw("overflow\n"), 20)); // 14 + 9 > 20
    CHECK(q.in_flight());
    CHECK(q.has_pending());

    q.commit();
    CHECK_FALSE(q.in_flight());
    CHECK(q.has_pending());
    CHECK(q.bytes() == 10); // only what was written is released
    auto const& next = q.prepare();
    CHECK(gathered(next) == "two\nthree\n");
    q.commit();
    CHECK(q.bytes() == 0);
    CHECK_FALSE(q.has_pending());
    CHECK_FALSE(q.in_flight());
}

TEST_CASE("write_queue: the same event may sit in many queues", "[write_queue]") {
    auto shared = sse::encoded_event::raw("shared\n");
    std::vector<write_queue> queues(10);
    for (auto& q : queues)
        REQUIRE(q.push(shared, 100));
    CHECK(shared.use_count() == 11);
    for (auto& q : queues) {
        auto const& bufs = q.prepare();
        REQUIRE(bufs.size() == 1);
        CHECK(bufs[0].data() == shared->wire().data());
        q.commit();
    }
    CHECK(shared.use_count() == 1);
}

TEST_CASE("write_queue: clear drops everything", "[write_queue]") {
    write_queue q;
    auto e = event_of(10);
    REQUIRE(q.push(e, 100));
    q.prepare();
    REQUIRE(q.push(e, 100));
    q.clear();
    CHECK(q.bytes() == 0);
    CHECK_FALSE(q.has_pending());
    CHECK_FALSE(q.in_flight());
    CHECK(e.use_count() == 1);
    CHECK(q.push(e, 10));
}

TEST_CASE("write_queue: a partly written batch leaves its rest before later events",
          "[write_queue]") {
    write_queue q;
    auto e1 = sse::encoded_event::raw("0123456789\n");
    auto e2 = sse::encoded_event::raw("abc\n");
    REQUIRE(q.push(e1, 100));
    REQUIRE(q.push(e2, 100));
    q.prepare();
    q.consume(4); // a non-blocking send took 4 bytes
    CHECK(gathered(q.inflight_buffers()) == "456789\nabc\n");
    CHECK(q.bytes() == 11); // only the unsent part counts
    REQUIRE(q.push(sse::encoded_event::raw("next\n"), 100));
    CHECK(q.bytes() == 16);
    q.drop_pending(); // a slow consumer's drop never cuts into the batch in flight
    CHECK(q.bytes() == 11);
    q.consume(8); // the rest of the first event and one byte of the second
    CHECK(gathered(q.inflight_buffers()) == "bc\n");
    CHECK_FALSE(q.inflight_written());
    CHECK(q.bytes() == 3);
    q.consume(3);
    CHECK(q.inflight_written());
    CHECK(q.bytes() == 0);
    CHECK(q.in_flight()); // still referenced until commit
    q.commit();
    CHECK(q.bytes() == 0);
    CHECK_FALSE(q.in_flight());
    CHECK(e1.use_count() == 1);
    CHECK(e2.use_count() == 1);
}

TEST_CASE("write_queue: a batch takes what fits in max_bytes, at least one event",
          "[write_queue]") {
    write_queue q;
    REQUIRE(q.push(event_of(40), 1000));
    REQUIRE(q.push(event_of(40), 1000));
    REQUIRE(q.push(event_of(40), 1000));
    CHECK(q.prepare(100).size() == 2); // 80 fit, 120 do not
    CHECK(q.has_pending());            // the third can still be conflated or dropped
    q.commit();
    CHECK(q.bytes() == 40);
    CHECK(q.prepare(100).size() == 1);
    q.commit();
    REQUIRE(q.push(event_of(200), 1000));
    CHECK(q.prepare(100).size() == 1); // larger than max_bytes: it goes alone
    q.commit();
    CHECK(q.bytes() == 0);
}

TEST_CASE("write_queue: conflate reports whether it dropped anything", "[write_queue]") {
    write_queue q;
    auto keyed = [](char const* w, std::uint64_t key) {
        auto e = sse::encoded_event::raw(w);
        e->set_conflation_key(key);
        return e;
    };
    REQUIRE(q.push(sse::encoded_event::raw("plain\n"), 1000));
    CHECK_FALSE(q.conflate()); // no keys: nothing to do
    REQUIRE(q.push(keyed("old\n", 7), 1000));
    REQUIRE(q.push(keyed("other\n", 8), 1000));
    CHECK_FALSE(q.conflate()); // distinct keys: nothing dropped
    REQUIRE(q.push(keyed("new\n", 7), 1000));
    CHECK(q.conflate());
    CHECK(gathered(q.prepare()) == "plain\nother\nnew\n");
    CHECK(q.bytes() == 16);
}

TEST_CASE("write_queue: one event at a time allocates nothing; a burst's storage goes back "
          "once, then stays",
          "[write_queue]") {
    write_queue q;
    std::array<boost::asio::const_buffer, 64> bufs;
    std::size_t bytes = 0;
    for (int i = 0; i < 3; ++i) { // one event at a time: held in place
        CHECK(q.push(event_of(10), 1000));
        CHECK_FALSE(q.backlog_on_heap());
        CHECK(q.peek(bufs, 1000, bytes) == 1);
        q.pop(1);
    }
    // The admission's burst (head and first event): the heap, given back as it empties.
    CHECK(q.push(event_of(10), 1000));
    CHECK(q.push(event_of(10), 1000));
    CHECK(q.backlog_on_heap());
    CHECK(q.peek(bufs, 1000, bytes) == 2);
    q.pop(2);
    CHECK_FALSE(q.backlog_on_heap()); // an idle stream keeps nothing
    // A second burst: the stream receives bursts, it keeps the storage.
    CHECK(q.push(event_of(10), 1000));
    CHECK(q.push(event_of(10), 1000));
    q.pop(1);
    q.pop(1);
    CHECK(q.backlog_on_heap());
    CHECK(q.bytes() == 0);
    // Through prepare() (the strand's path) the same holds.
    write_queue s;
    CHECK(s.push(event_of(10), 1000));
    CHECK(s.push(event_of(10), 1000));
    CHECK(s.prepare().size() == 2);
    CHECK_FALSE(s.backlog_on_heap());
    s.commit();
    CHECK(s.bytes() == 0);
}
