/*
 * json_scan.h - reading a few members of JSON text without building a tree
 * (private).
 *
 * For the hot paths that need three or four members of a document of
 * kilobytes (an activity's type, id and actor; a stored record's
 * timestamp and direction): one pass, no allocation.  The scanner accepts
 * RFC 8259 text: strings must be valid UTF-8 without raw control
 * characters, escapes well formed (\u0000 allowed, a lone surrogate not),
 * no value deeper than FT_JSON_MAX_DEPTH (the outermost is at 1), as
 * jansson counts.  Numbers are checked against the
 * grammar only: a 30-digit integer is a number, as JSON.parse has it.
 *
 * Values are slices of the input: a string's slice includes its quotes.
 */
#ifndef FT_JSON_SCAN_H
#define FT_JSON_SCAN_H

#include "core/buf.h"

#define FT_JSON_MAX_DEPTH 2048

/* Skips whitespace, one value and the whitespace after it; returns where
 * the next token starts, or NULL when the value is malformed or ends
 * early.  *value (when not NULL) gets the value's own slice. */
const char *ft_json_skip(const char *p, const char *end, ft_str *value);

/* The whole text is exactly one JSON value, with optional whitespace. */
bool ft_json_valid(ft_str text);

/* Iterating an object's members in order.  ft_json_members() is false
 * unless text (whitespace allowed around) starts with '{'; ft_json_next()
 * gives each member's key (the string's slice, quotes included) and value,
 * and returns false at the end or on malformed text, which `failed` then
 * tells.  At the end, `failed` is also set when anything but whitespace
 * follows the object. */
typedef struct ft_json_iter {
    const char *p, *end;
    bool first, done, failed;
} ft_json_iter;

bool ft_json_members(ft_str text, ft_json_iter *it);
bool ft_json_next(ft_json_iter *it, ft_str *key, ft_str *value);

/* Whether a key (a string's slice, quotes included) decodes to name. */
bool ft_json_key_is(ft_str key, const char *name);

/* The value of member `name` of the object `obj` (the last one when the
 * name repeats, as JSON.parse has it); false when absent or when obj is
 * not a well-formed object. */
bool ft_json_member(ft_str obj, const char *name, ft_str *value);

/* A value's kind from its first byte: '"', '{', '[', 't', 'f', 'n', or
 * '0' for a number. */
char ft_json_kind(ft_str value);

/* Appends the decoded content of a string value (its slice, quotes
 * included, as the scanner accepted it).  False when value is not a
 * string. */
bool ft_json_unescape(ft_str value, ft_buf *out);

/* Whether a string value has no escapes: its content is then the bytes
 * between the quotes, as they are. */
bool ft_json_plain(ft_str value);

#endif
