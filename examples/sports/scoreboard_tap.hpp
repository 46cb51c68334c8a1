// scoreboard_tap.hpp - keeps every node's /matches complete when nodes share events through
// Redis: an adapter wrapper that records what other nodes send, and pins the fixtures' rooms.
// (Issue 15 replaces it by a library hook; until then it parses the SSE bytes back.)
#ifndef SPORTS_SCOREBOARD_TAP_HPP
#define SPORTS_SCOREBOARD_TAP_HPP

#include "scoreboard.hpp"
#include "simulator.hpp"

#include <sse/server.hpp>

#include <algorithm>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sports {

// Wraps the Redis adapter to keep /matches complete on every node: it records the events that
// other nodes (or a feed) send here, and keeps this node subscribed to the rooms of the known
// fixtures even when no fan of this node watches them. Without it, interest routing would
// (rightly) bring a node only the matches its own clients follow.
class scoreboard_tap final : public sse::adapter,
                             public sse::adapter_host,
                             public std::enable_shared_from_this<scoreboard_tap> {
public:
    scoreboard_tap(std::shared_ptr<sse::adapter> inner, scoreboard& board)
        : inner_(std::move(inner))
        , board_(board) {}

    // sse::adapter: forward, adding the fixtures' rooms to this node's interest.
    void attach(std::weak_ptr<sse::adapter_host> host) override {
        host_ = std::move(host);
        inner_->attach(weak_from_this());
    }
    void broadcast(sse::broadcast_packet const& p, sse::local_delivery& local) override {
        inner_->broadcast(p, local);
    }
    bool sequences(sse::history_options const& h) const noexcept override {
        return inner_->sequences(h);
    }
    std::chrono::microseconds merge_window() const noexcept override {
        return inner_->merge_window();
    }
    unsigned id_tag() const noexcept override { return inner_->id_tag(); }
    void fetch_history(std::string_view nsp, std::vector<std::string> rooms, std::uint64_t after,
                       sse::history_options const& h,
                       std::function<void(sse::history_result)> done) override {
        inner_->fetch_history(nsp, std::move(rooms), after, h, std::move(done));
    }
    void namespace_added(std::string_view nsp) override {
        inner_->namespace_added(nsp);
        for (auto const& room : fixtures(nsp))
            inner_->room_added(nsp, room);
    }
    void room_added(std::string_view nsp, std::string_view room) override {
        inner_->room_added(nsp, room);
    }
    void room_removed(std::string_view nsp, std::string_view room) override {
        auto const& pinned = fixtures(nsp);
        if (std::find(pinned.begin(), pinned.end(), room) == pinned.end())
            inner_->room_removed(nsp, room);
    }
    std::string_view node_id() const noexcept override { return inner_->node_id(); }
    void close() override { inner_->close(); }

    // sse::adapter_host: note what arrives, then hand it to the server.
    void deliver_remote(std::string_view nsp, std::vector<std::string> const& rooms,
                        std::vector<std::string> const& except,
                        std::shared_ptr<sse::encoded_event> event) override {
        record(nsp, event->body());
        if (auto host = host_.lock()) host->deliver_remote(nsp, rooms, except, std::move(event));
    }
    void deliver_sequenced(std::string_view nsp, std::vector<std::string> const& rooms,
                           std::vector<std::string> const& except,
                           std::shared_ptr<sse::encoded_event> event, std::uint64_t id,
                           std::string_view origin) override {
        record(nsp, event->body());
        if (auto host = host_.lock())
            host->deliver_sequenced(nsp, rooms, except, std::move(event), id, origin);
    }
    std::uint64_t last_delivered(std::string_view nsp) const override {
        auto host = host_.lock();
        return host ? host->last_delivered(nsp) : 0;
    }
    void reset_clients(std::string_view nsp, std::vector<std::string> const& rooms,
                       std::string_view reason) override {
        if (auto host = host_.lock()) host->reset_clients(nsp, rooms, reason);
    }
    std::vector<std::pair<std::string, std::string>> local_interests() const override {
        std::vector<std::pair<std::string, std::string>> out;
        if (auto host = host_.lock()) out = host->local_interests();
        for (auto nsp : {"/football", "/cricket"})
            for (auto const& room : fixtures(nsp))
                out.emplace_back(nsp, room);
        return out;
    }

private:
    static std::vector<std::string> const& fixtures(std::string_view nsp) {
        static std::vector<std::string> const none;
        if (nsp == "/football") return football_fixtures();
        if (nsp == "/cricket") return cricket_fixtures();
        return none;
    }

    // `body` is "event: <name>\ndata: <json>\n\n" (one data line: JSON has no raw newline).
    void record(std::string_view nsp, std::string_view body) {
        std::string_view name, data;
        while (!body.empty()) {
            auto eol = body.find('\n');
            auto line = body.substr(0, eol);
            if (line.rfind("event: ", 0) == 0) name = line.substr(7);
            if (line.rfind("data: ", 0) == 0) data = line.substr(6);
            body = eol == std::string_view::npos ? std::string_view() : body.substr(eol + 1);
        }
        auto json_data = json::parse(data, nullptr, false);
        if (name.empty() || name == "announcement" || !json_data.is_object() ||
            !json_data.contains("match") || !json_data["match"].is_string())
            return;
        try {
            board_.record(std::string(nsp.substr(1)), json_data["match"], name, json_data);
        } catch (json::exception const&) {
            // Not one of our events: the board ignores it (the clients still get it).
        }
    }

    std::shared_ptr<sse::adapter> inner_;
    scoreboard& board_;
    std::weak_ptr<sse::adapter_host> host_;
};

} // namespace sports

#endif
