/* ft_redis.c - a throwaway redis-server for tests (to be written). */
#include "ft_servers.h"

int ft_test_redis_start(ft_test_server *s)
{
    return ft_test_server_unavailable(s, "Redis", "the launcher is not written yet");
}
