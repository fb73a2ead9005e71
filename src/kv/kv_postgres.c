/* kv_postgres.c - placeholder until the backend is written. */
#include "kv/kv_int.h"

static ft_code stub_open(const ft_kv_url *url, void **state, ft_err *err)
{
    (void)url;
    (void)state;
    return ft_err_set(err, FT_UNSUPPORTED, 0, "the postgres backend is not built yet");
}

const ft_kv_backend ft_kv__postgres_backend = {
    .version = FT_KV_BACKEND_VERSION,
    .scheme = "postgres",
    .caps = FT_KV_CAP_LIST | FT_KV_CAP_CAS,
    .open = stub_open,
};
