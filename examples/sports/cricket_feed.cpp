// cricket_feed - simulated live T20 innings, published to sports_demo nodes.
//
//   cricket_feed --target http://127.0.0.1:8080      POST /emit/cricket/... to one node
//   cricket_feed --redis redis://127.0.0.1:6379      publish to every node on that Redis
#include "feed.hpp"

int main(int argc, char** argv) {
    return sports::run_feed<sports::cricket_simulator>(argc, argv, "cricket",
                                                       sports::cricket_fixtures());
}
