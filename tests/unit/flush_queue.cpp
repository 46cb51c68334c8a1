// Unit: the flush queue's passes (sans sockets): every pushed client gets one turn, in order,
// in batches; a client pushed during a pass gets a later turn; passes run off any strand.
#include <sse/detail/flush_queue.hpp>

#include "support/catch.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>

#include <memory>
#include <vector>

namespace {

namespace net = boost::asio;

struct turn_log {
    std::vector<int> order;
    int passes_seen = 0;
};

struct fake_writer {
    int id;
    turn_log* log;
    std::shared_ptr<sse::detail::flush_queue<fake_writer>> queue;
    net::any_io_executor ex;
    bool push_again = false; // pushes itself once more from its turn (as an emit during a pass)
    void flush_ready() {
        log->order.push_back(id);
        if (push_again) {
            push_again = false;
            queue->push(std::make_shared<fake_writer>(*this), ex);
        }
    }
};

} // namespace

TEST_CASE("flush_queue: every client pushed gets one turn, in order", "[flush_queue]") {
    net::io_context ioc;
    auto q = std::make_shared<sse::detail::flush_queue<fake_writer>>();
    turn_log log;
    int const n = 3 * static_cast<int>(sse::detail::flush_queue<fake_writer>::batch) + 5;
    for (int i = 0; i < n; ++i)
        q->push(std::make_shared<fake_writer>(fake_writer{i, &log, q, ioc.get_executor()}),
                ioc.get_executor());
    CHECK(log.order.empty()); // pushing only queues
    std::size_t const handlers = ioc.run();
    REQUIRE(log.order.size() == static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i)
        CHECK(log.order[static_cast<std::size_t>(i)] == i);
    CHECK(handlers == 4); // one task per batch of 64, not one per client
}

TEST_CASE("flush_queue: a client pushed during a pass gets a later turn", "[flush_queue]") {
    net::io_context ioc;
    auto q = std::make_shared<sse::detail::flush_queue<fake_writer>>();
    turn_log log;
    auto first = std::make_shared<fake_writer>(fake_writer{1, &log, q, ioc.get_executor()});
    first->push_again = true;
    q->push(first, ioc.get_executor());
    q->push(std::make_shared<fake_writer>(fake_writer{2, &log, q, ioc.get_executor()}),
            ioc.get_executor());
    ioc.run();
    CHECK(log.order == std::vector<int>{1, 2, 1});
}

TEST_CASE("flush_queue: passes run on the executor under a connection's strand", "[flush_queue]") {
    net::io_context ioc;
    auto strand = net::make_strand(ioc.get_executor());
    net::any_io_executor const wrapped = net::strand<net::any_io_executor>(strand);
    auto const bare = sse::detail::unstranded(wrapped);
    CHECK(bare.target<net::io_context::executor_type>() != nullptr);
    CHECK(sse::detail::unstranded(ioc.get_executor()) == net::any_io_executor(ioc.get_executor()));
}

TEST_CASE("flush_queue: fan-outs wider than the kept capacity, and pushes during them",
          "[flush_queue]") {
    // Its lists are released after a pass wider than kept_capacity: the next burst, and the
    // clients pushed while such a pass runs, still get exactly one turn each, in order.
    net::io_context ioc;
    auto q = std::make_shared<sse::detail::flush_queue<fake_writer>>();
    turn_log log;
    int const n = static_cast<int>(sse::detail::flush_queue<fake_writer>::kept_capacity) * 3 + 7;
    for (int burst = 0; burst < 2; ++burst) {
        log.order.clear();
        for (int i = 0; i < n; ++i) {
            auto w = std::make_shared<fake_writer>(fake_writer{i, &log, q, ioc.get_executor()});
            w->push_again = i % 500 == 0; // pushed again from its turn, as an emit during a pass
            q->push(w, ioc.get_executor());
        }
        ioc.restart();
        ioc.run();
        std::vector<int> expected;
        for (int i = 0; i < n; ++i)
            expected.push_back(i);
        for (int i = 0; i < n; i += 500)
            expected.push_back(i);
        CHECK(log.order == expected);
    }
}
