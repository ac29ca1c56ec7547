/*
 * A small, strict JSON reader for the tests' truth files.
 *
 * It accepts exactly RFC 8259 JSON restricted to what truth.json uses:
 * objects, arrays, strings, integers, true, false and null.  Fractions and
 * exponents are refused rather than rounded, so a truth file that grew a
 * float would fail loudly instead of comparing the wrong number.  Duplicate
 * object keys, trailing commas, leading zeros, raw control characters,
 * lone surrogates and trailing garbage are errors too.
 */
#ifndef SNI_TEST_JSON_H
#define SNI_TEST_JSON_H

#include <stddef.h>

typedef enum json_type {
  JSON_NULL = 0,
  JSON_BOOL,
  JSON_INT,
  JSON_STRING,
  JSON_ARRAY,
  JSON_OBJECT
} json_type;

typedef struct json_value json_value;
struct json_value {
  json_type type;
  int boolean;
  long long integer;
  char *str;          /* JSON_STRING: decoded UTF-8, NUL-terminated */
  size_t str_len;     /* may contain NUL bytes (\u0000) */
  size_t n;           /* JSON_ARRAY / JSON_OBJECT: number of items */
  json_value *items;
  char **keys;        /* JSON_OBJECT: keys[i] names items[i] */
};

/* Parses text[0..len).  Returns 0 and fills *out (release it with
 * json_free), or -1 with a message naming the byte offset in err. */
int json_parse(const char *text, size_t len, json_value *out, char *err,
               size_t err_size);
void json_free(json_value *v);

/* The member named key of an object, or NULL (also for a non-object). */
const json_value *json_get(const json_value *obj, const char *key);

#endif
