/* sha256.h - SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104), for signing
 * session cookies.  Not for bulk hashing: no SIMD. */
#ifndef FT_CORE_SHA256_H
#define FT_CORE_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct ft_sha256_ctx {
    uint32_t h[8];
    uint64_t len; /* bytes hashed so far */
    uint8_t buf[64];
    size_t n; /* bytes in buf */
} ft_sha256_ctx;

void ft_sha256_init(ft_sha256_ctx *c);
void ft_sha256_update(ft_sha256_ctx *c, const void *p, size_t n);
void ft_sha256_final(ft_sha256_ctx *c, uint8_t out[32]);
void ft_sha256(const void *p, size_t n, uint8_t out[32]);
void ft_hmac_sha256(const void *key, size_t key_len, const void *msg,
                    size_t msg_len, uint8_t out[32]);

#endif
