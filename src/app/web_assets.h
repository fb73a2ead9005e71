/* app/web_assets.h - the dashboard's files (web/), built into the binary
 * by cmake/embed.cmake. */
#ifndef FT_APP_WEB_ASSETS_H
#define FT_APP_WEB_ASSETS_H

#include <stddef.h>

typedef struct ft_web_asset {
    const char *name;  /* file name: "index.html", "app.js", ... */
    const char *ctype; /* Content-Type */
    const unsigned char *data;
    size_t len;
} ft_web_asset;

/* NULL when there is no such file. */
const ft_web_asset *ft_web_asset_find(const char *name);

#endif
