// cli.hpp - the command lines of sports_demo and of the feeds: their settings, their --help,
// and one option reader for both.
#ifndef SPORTS_CLI_HPP
#define SPORTS_CLI_HPP

#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>

namespace sports {

/// Walks the arguments: `--flag value`, `--flag=value`, and flags without a value.
/// Errors are std::invalid_argument naming the flag.
class option_reader {
public:
    option_reader(int argc, char** argv)
        : argc_(argc)
        , argv_(argv) {}

    /// Moves to the next flag; false after the last.
    bool next() {
        if (++i_ >= argc_) return false;
        flag_ = argv_[i_];
        inline_value_.reset();
        if (auto eq = flag_.find('='); flag_.rfind("--", 0) == 0 && eq != std::string::npos) {
            inline_value_ = flag_.substr(eq + 1);
            flag_.resize(eq);
        }
        return true;
    }

    std::string const& flag() const { return flag_; }

    /// The flag's value: after '=', else the next argument.
    std::string value() {
        if (inline_value_) return *inline_value_;
        if (i_ + 1 >= argc_) throw std::invalid_argument(flag_ + " needs a value");
        return argv_[++i_];
    }

    /// The flag's value as a whole number in [lo, hi].
    long number(long lo, long hi) {
        auto v = value();
        std::size_t used = 0;
        long n = 0;
        try {
            n = std::stol(v, &used);
        } catch (std::exception const&) {
            used = 0;
        }
        if (v.empty() || used != v.size() || n < lo || n > hi)
            throw std::invalid_argument(flag_ + ": '" + v + "' is not a number in [" +
                                        std::to_string(lo) + ", " + std::to_string(hi) + "]");
        return n;
    }

    /// The flag's value as a decimal number in [lo, hi] (e.g. a rate per second).
    double rate(double lo, double hi) {
        auto v = value();
        std::size_t used = 0;
        double r = -1;
        try {
            r = std::stod(v, &used);
        } catch (std::exception const&) {
            used = 0;
        }
        if (v.empty() || used != v.size() || !(r >= lo) || !(r <= hi))
            throw std::invalid_argument(flag_ + ": '" + v + "' is not a number in [" +
                                        std::to_string(lo) + ", " + std::to_string(hi) + "]");
        return r;
    }

    [[noreturn]] void unknown() const {
        throw std::invalid_argument("unknown option '" + flag_ + "'");
    }

private:
    int argc_;
    char** argv_;
    int i_ = 0;
    std::string flag_;
    std::optional<std::string> inline_value_;
};

//------------------------------------------------------------------------------
// sports_demo

struct config {
    std::string bind = "127.0.0.1";
    unsigned short port = 8080;
    std::string redis;
    bool simulate = false;
    long heartbeat_ms = 15000;
    std::string cors_origin;
    std::string auth_token;
    std::string admin_token;
    int threads = 1;
    std::size_t max_clients = 0; // per namespace; 0: no limit
    double admit_rate = 0;       // admissions per second per namespace; 0: no limit
};

inline void usage(std::ostream& os) {
    os << "Usage: sports_demo [options]\n"
          "  --port N            port to listen on (default 8080; 0 picks a free one)\n"
          "  --bind ADDR         address to listen on (default 127.0.0.1)\n"
          "  --redis URL         share emits with other nodes through Redis, e.g. "
          "redis://127.0.0.1:6379\n"
          "  --simulate          run the built-in football and cricket feeds in-process\n"
          "  --heartbeat-ms N    ': ping' on every stream this often (default 15000; 0 disables)\n"
          "  --cors-origin O     allow this origin (e.g. https://scores.example, or *)\n"
          "  --auth-token T      stream clients must send 'Authorization: Bearer T' or ?token=T\n"
          "  --admin-token T     POST /emit and /admin/... need 'Authorization: Bearer T'\n"
          "  --threads N         threads running the server (default 1)\n"
          "  --max-clients N     streams per sport beyond which fans are told to come back "
          "later (default 0: no limit)\n"
          "  --admit-rate R      streams admitted per second per sport, bursts of R; the rest "
          "are told to come back later (default 0: no limit)\n"
          "  --help              this text\n";
}

/// Parses sports_demo's command line; returns an exit code when the program should stop.
inline std::optional<int> parse(int argc, char** argv, config& cfg) {
    option_reader opt(argc, argv);
    while (opt.next()) {
        auto const& arg = opt.flag();
        if (arg == "--help" || arg == "-h") {
            usage(std::cout);
            return 0;
        } else if (arg == "--port") {
            cfg.port = static_cast<unsigned short>(opt.number(0, 65535));
        } else if (arg == "--bind") {
            cfg.bind = opt.value();
        } else if (arg == "--redis") {
            cfg.redis = opt.value();
        } else if (arg == "--simulate") {
            cfg.simulate = true;
        } else if (arg == "--heartbeat-ms") {
            cfg.heartbeat_ms = opt.number(0, 24L * 3600 * 1000);
        } else if (arg == "--cors-origin") {
            cfg.cors_origin = opt.value();
        } else if (arg == "--auth-token") {
            cfg.auth_token = opt.value();
        } else if (arg == "--admin-token") {
            cfg.admin_token = opt.value();
        } else if (arg == "--threads") {
            cfg.threads = static_cast<int>(opt.number(1, 256));
        } else if (arg == "--max-clients") {
            cfg.max_clients = static_cast<std::size_t>(opt.number(0, 100000000));
        } else if (arg == "--admit-rate") {
            cfg.admit_rate = opt.rate(0, 1e6);
        } else {
            opt.unknown();
        }
    }
    return std::nullopt;
}

//------------------------------------------------------------------------------
// football_feed and cricket_feed

struct feed_config {
    std::string redis;
    std::string target = "http://127.0.0.1:8080";
    std::string admin_token;
    long interval_ms = 1000;
    std::string matches; // a count, or comma-separated match ids
    long ticks = 0;      // stop after this many steps; 0 runs until Ctrl+C
};

inline void feed_usage(std::ostream& os, char const* prog, char const* sport) {
    os << "Usage: " << prog << " [options]\n"
       << "Simulates live " << sport << " matches and publishes their events.\n"
       << "  --redis URL         publish through Redis (e.g. redis://127.0.0.1:6379) to every\n"
          "                      sports_demo node started with the same --redis\n"
          "  --target URL        else POST to this sports_demo (default http://127.0.0.1:8080)\n"
          "  --admin-token T     send 'Authorization: Bearer T' with each POST\n"
          "  --interval-ms N     time between steps (default 1000)\n"
          "  --matches M         how many matches (a number), or which (comma-separated ids)\n"
          "  --ticks N           stop after N steps (default 0: run until Ctrl+C)\n"
          "  --help              this text\n";
}

/// Parses a feed's command line; returns an exit code when the program should stop.
inline std::optional<int> parse_feed(int argc, char** argv, feed_config& cfg, char const* sport) {
    option_reader opt(argc, argv);
    while (opt.next()) {
        auto const& arg = opt.flag();
        if (arg == "--help" || arg == "-h") {
            feed_usage(std::cout, argv[0], sport);
            return 0;
        } else if (arg == "--redis") {
            cfg.redis = opt.value();
        } else if (arg == "--target") {
            cfg.target = opt.value();
        } else if (arg == "--admin-token") {
            cfg.admin_token = opt.value();
        } else if (arg == "--interval-ms") {
            cfg.interval_ms = opt.number(1, 3600 * 1000);
        } else if (arg == "--matches") {
            cfg.matches = opt.value();
        } else if (arg == "--ticks") {
            cfg.ticks = opt.number(0, 1L << 40);
        } else {
            opt.unknown();
        }
    }
    return std::nullopt;
}

} // namespace sports

#endif
