/* ft_pg.c - a throwaway PostgreSQL for tests (to be written). */
#include "ft_servers.h"

int ft_test_pg_start(ft_test_server *s)
{
    return ft_test_server_unavailable(s, "PostgreSQL", "the launcher is not written yet");
}
