// football_feed - simulated live football matches, published to sports_demo nodes.
//
//   football_feed --target http://127.0.0.1:8080      POST /emit/football/... to one node
//   football_feed --redis redis://127.0.0.1:6379      publish to every node on that Redis
#include "feed.hpp"

int main(int argc, char** argv) {
    return sports::run_feed<sports::football_simulator>(argc, argv, "football",
                                                        sports::football_fixtures());
}
