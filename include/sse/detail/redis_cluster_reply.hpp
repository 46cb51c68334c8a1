// sse/detail/redis_cluster_reply.hpp - hiredis' redisReply copied into the sans-I/O
// `cluster_reply` tree that cluster_topology.hpp and cluster_redirect.hpp read.
//
// The only hiredis user among the cluster parts, so that they stay testable without a server.
// A copy, not a view: CLUSTER SLOTS/SHARDS replies are small and rare (start-up and refresh),
// and the tree outlives the hiredis callback that frees the reply. hiredis' reader nests
// replies at most a few levels deep, which bounds the recursion.
#ifndef SSE_DETAIL_REDIS_CLUSTER_REPLY_HPP
#define SSE_DETAIL_REDIS_CLUSTER_REPLY_HPP

#include <sse/detail/cluster_topology.hpp>

#include <hiredis/hiredis.h>

#include <cstddef>

namespace sse::detail {

/// The tree of `r`: status replies become strings; anything unknown becomes nil.
inline cluster_reply to_cluster_reply(redisReply const& r) {
    cluster_reply out;
    switch (r.type) {
    case REDIS_REPLY_INTEGER:
        out.type = cluster_reply::kind::integer;
        out.integer = r.integer;
        break;
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
        out.type = cluster_reply::kind::string;
        if (r.str) out.text.assign(r.str, r.len);
        break;
    case REDIS_REPLY_ERROR:
        out.type = cluster_reply::kind::error;
        if (r.str) out.text.assign(r.str, r.len);
        break;
    case REDIS_REPLY_ARRAY:
        out.type = cluster_reply::kind::array;
        out.elements.reserve(r.elements);
        for (std::size_t i = 0; i < r.elements; ++i)
            if (r.element[i]) out.elements.push_back(to_cluster_reply(*r.element[i]));
        break;
    default:
        break; // nil
    }
    return out;
}

} // namespace sse::detail

#endif
