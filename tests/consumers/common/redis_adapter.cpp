// Compiled only when sse::redis exists: the Redis header builds against sse::redis alone.
#include <sse/redis_adapter.hpp>
