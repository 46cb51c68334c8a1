// sse/detail/config.hpp - namespace aliases and version (sse/version.hpp) shared by every header.
#ifndef SSE_DETAIL_CONFIG_HPP
#define SSE_DETAIL_CONFIG_HPP

#include <sse/version.hpp>

#include <boost/version.hpp>

static_assert(BOOST_VERSION >= 108100,
              "sse needs Boost 1.81 or newer (Debian 12: libboost1.81-dev)");

namespace boost::asio {}
namespace boost::beast {}

namespace sse {
namespace net = boost::asio;
namespace beast = boost::beast;
} // namespace sse

#endif
