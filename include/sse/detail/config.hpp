// sse/detail/config.hpp - namespace aliases and version shared by every header.
#ifndef SSE_DETAIL_CONFIG_HPP
#define SSE_DETAIL_CONFIG_HPP

#include <boost/version.hpp>

static_assert(BOOST_VERSION >= 108100,
              "sse needs Boost 1.81 or newer (Debian 12: libboost1.81-dev)");

#define SSE_VERSION_MAJOR 0
#define SSE_VERSION_MINOR 1
#define SSE_VERSION_PATCH 0

namespace boost::asio {}
namespace boost::beast {}

namespace sse {
namespace net = boost::asio;
namespace beast = boost::beast;
} // namespace sse

#endif
