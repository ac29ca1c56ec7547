#include "json.h"

#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_MAX_DEPTH 32

typedef struct reader {
  const unsigned char *s;
  size_t len, pos;
  char *err;
  size_t err_size;
  int failed;
} reader;

static int fail_at(reader *r, const char *fmt, ...) {
  if (!r->failed && r->err && r->err_size) {
    int n = snprintf(r->err, r->err_size, "offset %zu: ", r->pos);
    if (n >= 0 && (size_t)n < r->err_size) {
      va_list ap;
      va_start(ap, fmt);
      vsnprintf(r->err + n, r->err_size - (size_t)n, fmt, ap);
      va_end(ap);
    }
  }
  r->failed = 1;
  return -1;
}

static void skip_ws(reader *r) {
  while (r->pos < r->len) {
    unsigned char c = r->s[r->pos];
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
    r->pos++;
  }
}

static int literal(reader *r, const char *word) {
  size_t n = strlen(word);
  if (r->len - r->pos < n || memcmp(r->s + r->pos, word, n) != 0)
    return fail_at(r, "invalid literal");
  r->pos += n;
  return 0;
}

/* Growable byte buffer for decoded strings. */
typedef struct sbuf {
  char *p;
  size_t n, cap;
} sbuf;

static int sbuf_put(sbuf *b, const void *src, size_t n) {
  if (b->n + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 32;
    while (b->n + n + 1 > cap) cap *= 2;
    char *np = realloc(b->p, cap);
    if (!np) return -1;
    b->p = np;
    b->cap = cap;
  }
  memcpy(b->p + b->n, src, n);
  b->n += n;
  b->p[b->n] = '\0';
  return 0;
}

static int hex4(reader *r, unsigned *out) {
  if (r->len - r->pos < 4) return fail_at(r, "short \\u escape");
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    unsigned char c = r->s[r->pos++];
    v <<= 4;
    if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
    else return fail_at(r, "bad hex digit in \\u escape");
  }
  *out = v;
  return 0;
}

static int put_utf8(sbuf *b, unsigned cp) {
  unsigned char u[4];
  size_t n;
  if (cp < 0x80) {
    u[0] = (unsigned char)cp;
    n = 1;
  } else if (cp < 0x800) {
    u[0] = (unsigned char)(0xc0 | (cp >> 6));
    u[1] = (unsigned char)(0x80 | (cp & 0x3f));
    n = 2;
  } else if (cp < 0x10000) {
    u[0] = (unsigned char)(0xe0 | (cp >> 12));
    u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
    u[2] = (unsigned char)(0x80 | (cp & 0x3f));
    n = 3;
  } else {
    u[0] = (unsigned char)(0xf0 | (cp >> 18));
    u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
    u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
    u[3] = (unsigned char)(0x80 | (cp & 0x3f));
    n = 4;
  }
  return sbuf_put(b, u, n);
}

/* Length of the well-formed UTF-8 sequence at s (RFC 3629), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t avail) {
  unsigned char c = s[0];
  size_t n;
  unsigned cp;
  if (c < 0x80) return 1;
  if (c >= 0xc2 && c <= 0xdf) { n = 2; cp = c & 0x1fu; }
  else if (c >= 0xe0 && c <= 0xef) { n = 3; cp = c & 0x0fu; }
  else if (c >= 0xf0 && c <= 0xf4) { n = 4; cp = c & 0x07u; }
  else return 0;
  if (avail < n) return 0;
  for (size_t i = 1; i < n; i++) {
    if ((s[i] & 0xc0) != 0x80) return 0;
    cp = cp << 6 | (s[i] & 0x3fu);
  }
  if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
      (cp >= 0xd800 && cp <= 0xdfff))
    return 0;
  return n;
}

static int parse_string(reader *r, char **out, size_t *out_len) {
  sbuf b = {0};
  r->pos++; /* opening quote */
  if (sbuf_put(&b, "", 0)) return fail_at(r, "out of memory");
  for (;;) {
    if (r->pos >= r->len) {
      free(b.p);
      return fail_at(r, "unterminated string");
    }
    unsigned char c = r->s[r->pos];
    if (c == '"') {
      r->pos++;
      break;
    }
    if (c < 0x20) {
      free(b.p);
      return fail_at(r, "raw control character in string");
    }
    if (c != '\\') {
      size_t n = utf8_seq(r->s + r->pos, r->len - r->pos);
      if (n == 0) {
        free(b.p);
        return fail_at(r, "invalid UTF-8 in string");
      }
      if (sbuf_put(&b, r->s + r->pos, n)) {
        free(b.p);
        return fail_at(r, "out of memory");
      }
      r->pos += n;
      continue;
    }
    r->pos++;
    if (r->pos >= r->len) {
      free(b.p);
      return fail_at(r, "unterminated escape");
    }
    char e = (char)r->s[r->pos++];
    const char *simple = NULL;
    switch (e) {
    case '"': simple = "\""; break;
    case '\\': simple = "\\"; break;
    case '/': simple = "/"; break;
    case 'b': simple = "\b"; break;
    case 'f': simple = "\f"; break;
    case 'n': simple = "\n"; break;
    case 'r': simple = "\r"; break;
    case 't': simple = "\t"; break;
    case 'u': {
      unsigned cp, lo;
      if (hex4(r, &cp)) {
        free(b.p);
        return -1;
      }
      if (cp >= 0xdc00 && cp <= 0xdfff) {
        free(b.p);
        return fail_at(r, "lone low surrogate");
      }
      if (cp >= 0xd800 && cp <= 0xdbff) {
        if (r->len - r->pos < 2 || r->s[r->pos] != '\\' ||
            r->s[r->pos + 1] != 'u') {
          free(b.p);
          return fail_at(r, "lone high surrogate");
        }
        r->pos += 2;
        if (hex4(r, &lo)) {
          free(b.p);
          return -1;
        }
        if (lo < 0xdc00 || lo > 0xdfff) {
          free(b.p);
          return fail_at(r, "bad low surrogate");
        }
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
      }
      if (put_utf8(&b, cp)) {
        free(b.p);
        return fail_at(r, "out of memory");
      }
      continue;
    }
    default:
      free(b.p);
      return fail_at(r, "invalid escape \\%c", e);
    }
    if (sbuf_put(&b, simple, 1)) {
      free(b.p);
      return fail_at(r, "out of memory");
    }
  }
  *out = b.p;
  *out_len = b.n;
  return 0;
}

static int parse_int(reader *r, long long *out) {
  size_t start = r->pos;
  int neg = 0;
  if (r->s[r->pos] == '-') {
    neg = 1;
    r->pos++;
  }
  if (r->pos >= r->len || r->s[r->pos] < '0' || r->s[r->pos] > '9')
    return fail_at(r, "invalid number");
  if (r->s[r->pos] == '0' && r->pos + 1 < r->len && r->s[r->pos + 1] >= '0' &&
      r->s[r->pos + 1] <= '9')
    return fail_at(r, "leading zero");
  unsigned long long v = 0;
  while (r->pos < r->len && r->s[r->pos] >= '0' && r->s[r->pos] <= '9') {
    unsigned d = (unsigned)(r->s[r->pos] - '0');
    if (v > ((unsigned long long)LLONG_MAX - d) / 10u) {
      r->pos = start;
      return fail_at(r, "integer out of range");
    }
    v = v * 10u + d;
    r->pos++;
  }
  if (r->pos < r->len &&
      (r->s[r->pos] == '.' || r->s[r->pos] == 'e' || r->s[r->pos] == 'E'))
    return fail_at(r, "only integers are supported");
  *out = neg ? -(long long)v : (long long)v;
  return 0;
}

static int parse_value(reader *r, json_value *v, int depth);

static int push_item(json_value *v, size_t *cap) {
  if (v->n == *cap) {
    size_t nc = *cap ? *cap * 2 : 8;
    json_value *ni = realloc(v->items, nc * sizeof *ni);
    if (!ni) return -1;
    v->items = ni;
    if (v->type == JSON_OBJECT) {
      char **nk = realloc(v->keys, nc * sizeof *nk);
      if (!nk) return -1;
      v->keys = nk;
    }
    *cap = nc;
  }
  memset(&v->items[v->n], 0, sizeof v->items[v->n]);
  if (v->type == JSON_OBJECT) v->keys[v->n] = NULL;
  v->n++;
  return 0;
}

static int parse_container(reader *r, json_value *v, int depth) {
  int is_obj = r->s[r->pos] == '{';
  char close = is_obj ? '}' : ']';
  size_t cap = 0;
  v->type = is_obj ? JSON_OBJECT : JSON_ARRAY;
  if (depth >= JSON_MAX_DEPTH) return fail_at(r, "nesting too deep");
  r->pos++;
  skip_ws(r);
  if (r->pos < r->len && r->s[r->pos] == close) {
    r->pos++;
    return 0;
  }
  for (;;) {
    if (push_item(v, &cap)) return fail_at(r, "out of memory");
    json_value *item = &v->items[v->n - 1];
    if (is_obj) {
      skip_ws(r);
      if (r->pos >= r->len || r->s[r->pos] != '"')
        return fail_at(r, "expected a key string");
      size_t klen;
      if (parse_string(r, &v->keys[v->n - 1], &klen)) return -1;
      if (strlen(v->keys[v->n - 1]) != klen)
        return fail_at(r, "NUL in object key");
      for (size_t i = 0; i + 1 < v->n; i++)
        if (strcmp(v->keys[i], v->keys[v->n - 1]) == 0)
          return fail_at(r, "duplicate key \"%s\"", v->keys[i]);
      skip_ws(r);
      if (r->pos >= r->len || r->s[r->pos] != ':')
        return fail_at(r, "expected ':'");
      r->pos++;
    }
    if (parse_value(r, item, depth + 1)) return -1;
    skip_ws(r);
    if (r->pos >= r->len) return fail_at(r, "unterminated container");
    if (r->s[r->pos] == ',') {
      r->pos++;
      skip_ws(r);
      if (r->pos < r->len && r->s[r->pos] == close)
        return fail_at(r, "trailing comma");
      continue;
    }
    if (r->s[r->pos] == close) {
      r->pos++;
      return 0;
    }
    return fail_at(r, "expected ',' or '%c'", close);
  }
}

static int parse_value(reader *r, json_value *v, int depth) {
  skip_ws(r);
  if (r->pos >= r->len) return fail_at(r, "unexpected end of input");
  switch (r->s[r->pos]) {
  case '{':
  case '[':
    return parse_container(r, v, depth);
  case '"':
    v->type = JSON_STRING;
    return parse_string(r, &v->str, &v->str_len);
  case 't':
    v->type = JSON_BOOL;
    v->boolean = 1;
    return literal(r, "true");
  case 'f':
    v->type = JSON_BOOL;
    v->boolean = 0;
    return literal(r, "false");
  case 'n':
    v->type = JSON_NULL;
    return literal(r, "null");
  default:
    v->type = JSON_INT;
    return parse_int(r, &v->integer);
  }
}

int json_parse(const char *text, size_t len, json_value *out, char *err,
               size_t err_size) {
  reader r = {(const unsigned char *)text, len, 0, err, err_size, 0};
  memset(out, 0, sizeof *out);
  if (err && err_size) err[0] = '\0';
  if (!text) return fail_at(&r, "no input");
  if (parse_value(&r, out, 0) == 0) {
    skip_ws(&r);
    if (r.pos == r.len) return 0;
    fail_at(&r, "trailing data");
  }
  json_free(out);
  return -1;
}

void json_free(json_value *v) {
  if (!v) return;
  for (size_t i = 0; i < v->n; i++) {
    if (v->items) json_free(&v->items[i]);
    if (v->keys) free(v->keys[i]);
  }
  free(v->items);
  free(v->keys);
  free(v->str);
  memset(v, 0, sizeof *v);
}

const json_value *json_get(const json_value *obj, const char *key) {
  if (!obj || obj->type != JSON_OBJECT) return NULL;
  for (size_t i = 0; i < obj->n; i++)
    if (obj->keys[i] && strcmp(obj->keys[i], key) == 0) return &obj->items[i];
  return NULL;
}
