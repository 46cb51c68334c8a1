// sse/detail/server_core.hpp - the shared state behind basic_server: namespaces, adapter,
// heartbeat timer. Shared so that handlers still in flight after the server is destroyed
// find it gone (weak_ptr) instead of dangling.
#ifndef SSE_DETAIL_SERVER_CORE_HPP
#define SSE_DETAIL_SERVER_CORE_HPP

#include <sse/adapter.hpp>
#include <sse/namespace.hpp>
#include <sse/options.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <typeindex>

namespace sse::detail {

/// Base of the typed views a server keeps per (namespace, event set).
struct typed_view_base {
    virtual ~typed_view_base() = default;
};

class server_core final : public adapter_host,
                          public node_plane_host,
                          public std::enable_shared_from_this<server_core> {
public:
    server_core(net::any_io_executor ex, options opts)
        : opts_(std::move(opts))
        , ex_(ex)
        , timer_(net::make_strand(ex))
        , expiry_timer_(timer_.get_executor())
        , adapter_(std::make_shared<memory_adapter>()) {
        // Fail here, not later on an io thread.
        validate_event_name(opts_.reset_event);
        check_admission_rate(opts_.admission_rate);
        check_refusal(opts_.refusal);
        // Now rather than with the first stream: its descriptor lives as long as the
        // io_context, like the server's timers, so the process's descriptors go back to where
        // they were once the streams end. (From detail/stream_client.hpp, which the bodies of
        // sse/namespace.hpp include: including it before sse/namespace.hpp breaks the cycle
        // of client and namespace at the wrong place.)
        make_readiness_watch(ex);
    }

    void start() {
        plane_ = std::make_shared<node_plane>(ex_, opts_.cluster, weak_from_this());
        plane_->start();
        adapter_->attach(weak_from_this());
        arm_heartbeat();
        arm_expiry();
    }

    namespace_& of(std::string_view name) {
        if (name.empty() || name.front() != '/')
            throw std::invalid_argument("[sse.invalid_namespace] a namespace name starts with '/'");
        detail::validate_field(name, "namespace", false);
        std::lock_guard<std::mutex> lock(mutex_);
        auto it = namespaces_.find(name);
        if (it != namespaces_.end()) return *it->second;
        auto ns = std::make_shared<namespace_>(namespace_::private_tag{}, std::string(name), opts_,
                                               adapter_);
        ns->merge_strand_.emplace(net::make_strand(ex_)); // its merge window's timer
        if (closed_) ns->closed_.store(true);
        ns->plane_ = plane_;
        adapter_->namespace_added(name);
        ns->catch_up_namespace();
        return *namespaces_.emplace(std::string(name), std::move(ns)).first->second;
    }

    template <class View>
    View& view(std::string_view name) {
        namespace_& ns = of(name);
        std::lock_guard<std::mutex> lock(mutex_);
        auto& slot = views_[{std::string(name), std::type_index(typeid(View))}];
        if (!slot) slot = std::make_unique<View>(ns);
        return static_cast<View&>(*slot);
    }

    void set_adapter(std::shared_ptr<adapter> a) {
        if (!a) throw std::invalid_argument("[sse.invalid_adapter] adapter must not be null");
        std::shared_ptr<adapter> old;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            old = adapter_;
            adapter_ = a;
        }
        if (old && old != a) a->succeed(old->node_id());
        a->attach(weak_from_this());
        for (auto& ns : snapshot()) {
            ns->set_adapter(a);
            ns->catch_up_namespace();
        }
        if (old && old != a) old->close();
    }

    std::shared_ptr<adapter> get_adapter() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return adapter_;
    }

    std::map<std::string, namespace_stats, std::less<>> stats() const {
        std::vector<std::shared_ptr<namespace_>> all;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            for (auto const& kv : namespaces_)
                all.push_back(kv.second);
        }
        std::map<std::string, namespace_stats, std::less<>> out;
        for (auto const& ns : all) // outside the server's lock: each takes its own
            out.emplace(ns->name(), ns->stats());
        return out;
    }

    std::vector<std::string> namespace_names() const {
        std::lock_guard<std::mutex> lock(mutex_);
        std::vector<std::string> out;
        for (auto const& kv : namespaces_)
            out.push_back(kv.first);
        return out;
    }

    void close() {
        std::shared_ptr<adapter> a;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (closed_) return;
            closed_ = true;
            a = adapter_;
        }
        // The timer is not thread-safe: cancel it on its own strand.
        net::post(timer_.get_executor(), [self = shared_from_this()] {
            self->timer_.cancel();
            self->expiry_timer_.cancel();
        });
        for (auto& ns : snapshot())
            ns->close_all(error::server_closed);
        plane_->close(); // its goodbye goes out before the adapter closes
        if (a) a->close();
    }

    options const& opts() const noexcept { return opts_; }

    // adapter_host
    void deliver_remote(std::string_view nsp, std::vector<std::string> const& rooms,
                        std::vector<std::string> const& except,
                        std::shared_ptr<encoded_event> event) override {
        if (auto ns = find(nsp)) ns->deliver_remote(rooms, except, std::move(event));
    }

    void deliver_sequenced(std::string_view nsp, std::vector<std::string> const& rooms,
                           std::vector<std::string> const& except,
                           std::shared_ptr<encoded_event> event, std::uint64_t id,
                           std::string_view origin) override {
        if (auto ns = find(nsp)) ns->deliver_sequenced(rooms, except, std::move(event), id, origin);
    }

    std::uint64_t last_delivered(std::string_view nsp) const override {
        auto ns = find(nsp);
        return ns ? ns->last_delivered() : 0;
    }

    void reset_clients(std::string_view nsp, std::vector<std::string> const& rooms,
                       std::string_view reason) override {
        if (auto ns = find(nsp)) ns->reset_clients(rooms, reason);
    }

    std::vector<std::pair<std::string, std::string>> local_interests() const override {
        std::vector<std::pair<std::string, std::string>> out;
        for (auto const& ns : snapshot()) {
            out.emplace_back(ns->name(), std::string());
            for (auto& r : ns->rooms())
                out.emplace_back(ns->name(), std::move(r));
            for (auto& r : ns->watched_rooms()) // a duplicate of a room above is harmless
                out.emplace_back(ns->name(), std::move(r));
            for (auto const& c : ns->clients())
                out.emplace_back(ns->name(), c->id());
        }
        return out;
    }

    void on_node_message(std::string_view payload) override { plane_->received(payload); }

    // node_plane_host
    std::shared_ptr<adapter> current_adapter() const override { return get_adapter(); }

    std::vector<presence_entry> local_presence() const override {
        std::vector<presence_entry> out;
        for (auto const& ns : snapshot())
            ns->presence_counts(out);
        return out;
    }

    std::vector<client_summary> local_clients(node_message const& target, std::size_t max,
                                              bool& truncated) const override {
        truncated = false;
        auto ns = find(target.nsp);
        return ns ? ns->summaries(target, max, truncated) : std::vector<client_summary>{};
    }

    void apply_room_operation(node_message const& op) override {
        if (auto ns = find(op.nsp)) ns->apply_room_operation(op);
    }

    node_plane& plane() const noexcept { return *plane_; }

private:
    std::shared_ptr<namespace_> find(std::string_view nsp) const {
        std::lock_guard<std::mutex> lock(mutex_);
        auto it = namespaces_.find(nsp);
        return it == namespaces_.end() ? nullptr : it->second;
    }

    std::vector<std::shared_ptr<namespace_>> snapshot() const {
        std::lock_guard<std::mutex> lock(mutex_);
        std::vector<std::shared_ptr<namespace_>> out;
        for (auto const& kv : namespaces_)
            out.push_back(kv.second);
        return out;
    }

    // One timer for every stream: each tick queues the same shared ": ping" bytes.
    void arm_heartbeat() {
        if (opts_.heartbeat_interval.count() <= 0) return;
        timer_.expires_after(opts_.heartbeat_interval);
        timer_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
            auto self = weak.lock();
            if (ec || !self) return;
            {
                std::lock_guard<std::mutex> lock(self->mutex_);
                if (self->closed_) return;
            }
            static event_ptr const ping = encoded_event::raw(": ping\n\n");
            for (auto& ns : self->snapshot())
                ns->heartbeat(ping);
            self->arm_heartbeat();
        });
    }

    // History ages out on its own timer, heartbeats or not: short-lived rooms' logs go
    // even on a server that sends no pings.
    static constexpr std::chrono::seconds expiry_interval{1};
    void arm_expiry() {
        expiry_timer_.expires_after(expiry_interval);
        expiry_timer_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
            auto self = weak.lock();
            if (ec || !self) return;
            {
                std::lock_guard<std::mutex> lock(self->mutex_);
                if (self->closed_) return;
            }
            for (auto& ns : self->snapshot())
                ns->expire_history();
            self->arm_expiry();
        });
    }

    options const opts_;
    net::any_io_executor const ex_; // the server's executor (namespaces' strands come from it)
    mutable std::mutex mutex_;
    bool closed_ = false;
    net::steady_timer timer_;        // heartbeat
    net::steady_timer expiry_timer_; // history age, on the same strand
    std::shared_ptr<adapter> adapter_;
    std::shared_ptr<node_plane> plane_; // made in start(), before any namespace
    std::map<std::string, std::shared_ptr<namespace_>, std::less<>> namespaces_;
    std::map<std::pair<std::string, std::type_index>, std::unique_ptr<typed_view_base>> views_;
};

} // namespace sse::detail

#endif
