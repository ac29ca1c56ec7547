/*
 * Shared helpers for the parser tests: corpus loading, exact-size input
 * copies (so ASan sees any overread), a byte builder for synthetic
 * ClientHellos, a record de-framer independent of the parser, and a
 * seeded PRNG.
 */
#ifndef SNI_TEST_PARSER_UTIL_H
#define SNI_TEST_PARSER_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "file_util.h"
#include "json.h"
#include "routing_check.h"
#include "sniroute.h"

/* Every vector directory ships 29 cases; fewer means a broken checkout. */
#define MIN_CORPUS_CASES 29

/* ---- files and the corpus ---------------------------------------------- */

/* A malloc'd copy of exactly n bytes: reading past it is an ASan error. */
uint8_t *dup_exact(const void *p, size_t n);

typedef struct vec {
  char name[128];
  uint8_t *wire; /* hello.bin, exact size */
  size_t wire_len;
  json_value truth;
} vec;

/* Loads every directory of SNI_TEST_DATA that has hello.bin and
 * truth.json, sorted by name.  Returns the count, or (size_t)-1 with a
 * message printed on an unreadable or invalid file. */
size_t corpus_load(vec **out);
void corpus_free(vec *v, size_t n);
/* The corpus shared by a test group, loaded by corpus_setup() and freed by
 * corpus_teardown() (cmocka group fixtures). */
extern vec *corpus;
extern size_t n_corpus;
int corpus_setup(void **state);
int corpus_teardown(void **state);
/* Reads SNI_TEST_DATA/<case>/<file> (NULL if missing). */
uint8_t *corpus_file(const char *name, const char *file, size_t *len);

/* ---- parsing helpers ---------------------------------------------------- */

/* sni_parse_ex on an exact-size copy of p. */
int parse_copy(sni_hello *h, const uint8_t *p, size_t n,
               const sni_limits *lim);

/* Feeds p one byte per call (each byte in its own 1-byte allocation).
 * Returns the first non-EAGAIN feed result (EAGAIN if none), and in *at
 * the index of the byte that produced it. */
int feed_bytewise(sni_hello *h, const uint8_t *p, size_t n,
                  const sni_limits *lim, size_t *at);

/* ---- record framing, independent of the parser ------------------------- */

/* Reassembles the handshake message carried by the records at wire.
 * hs receives the message (cap bytes at most), hs_to_wire[i] the wire
 * offset of hs[i] (may be NULL).  Returns the message length, or 0 if the
 * framing is not a sequence of handshake records. */
size_t deframe(const uint8_t *wire, size_t n, uint8_t *hs, size_t cap,
               size_t *hs_to_wire);

/* ---- an independent ClientHello walker --------------------------------- */

/* The length fields of a well-formed handshake message, in wire order. */
typedef enum field_kind {
  F_REC = 0,  /* record length (off is a wire offset) */
  F_HS_LEN,   /* handshake message length, 3 bytes */
  F_SID,      /* legacy_session_id length */
  F_CS,       /* cipher_suites length */
  F_COMP,     /* compression_methods length */
  F_EXTS,     /* extensions block length */
  F_EXT,      /* one extension's length */
  F_LIST,     /* a list that must fill the rest of its extension exactly */
  F_ENTRY,    /* an entry of a list (host_name, ALPN name, key_exchange,
                 PSK identity, PSK binder) */
  F_PSK_IDS,  /* pre_shared_key identities list */
  F_ECH_ENC   /* ECH outer enc length */
} field_kind;

typedef struct lenfield {
  field_kind kind;
  size_t off;          /* offset in the handshake message */
  int width;           /* bytes: 1, 2 or 3 */
  unsigned long value;
  size_t room;         /* largest value that stays inside the container */
  uint16_t ext;        /* enclosing extension type, where there is one */
  int last;            /* last extension of the block / entry of its list */
  const char *what;
} lenfield;

typedef struct extloc {
  uint16_t type;
  size_t off, len;     /* extension_data in the handshake message */
} extloc;

/* Walks hs[0..n).  Fills up to fcap fields and ecap extensions (either
 * array may be NULL); returns the number of fields, or 0 if the message is
 * not a well-formed ClientHello as far as the walker checks. *n_ext gets
 * the number of extensions (may be NULL). */
size_t hello_walk(const uint8_t *hs, size_t n, lenfield *f, size_t fcap,
                  extloc *e, size_t ecap, size_t *n_ext);

/* ---- byte builder ------------------------------------------------------- */

typedef struct buf {
  uint8_t *p;
  size_t n, cap;
} buf;

void b_put(buf *b, const void *src, size_t n);
void b_u8(buf *b, unsigned v);
void b_u16(buf *b, unsigned v);
void b_u24(buf *b, unsigned long v);
/* Reserves a width-byte (1, 2 or 3) length; b_close fills it with the
 * bytes written since. */
size_t b_open(buf *b, int width);
void b_close(buf *b, size_t at, int width);
void b_free(buf *b);
void b_reset(buf *b);

/* Extensions, appended to an extensions buffer with correct lengths. */
void ext_raw(buf *e, uint16_t type, const void *data, size_t len);
void ext_sni(buf *e, const char *name);
void ext_sni_n(buf *e, const char *name, size_t len);
void ext_alpn(buf *e, const char *const *names, size_t n);
/* A list of 16-bit values with a len_width-byte length (2 for groups and
 * signature algorithms, 1 for supported_versions). */
void ext_u16list(buf *e, uint16_t type, int len_width, const uint16_t *v,
                 size_t n);

typedef struct hello_spec {
  uint16_t legacy_version;   /* 0: 0x0303 */
  uint8_t sid_len;
  const uint16_t *ciphers;   /* NULL: one suite, 0x1301 */
  size_t n_ciphers;
  const uint8_t *comp;       /* NULL: one method, 0 */
  size_t n_comp;
  int no_extensions;         /* omit the extensions block entirely */
  const buf *exts;           /* serialized extensions (NULL: empty block) */
  uint8_t random_fill;       /* every byte of random */
} hello_spec;

/* Appends a whole handshake message (4-byte header + ClientHello body). */
void build_handshake(buf *hs, const hello_spec *s);
/* Appends hs split into handshake records of at most rec_max bytes. */
void frame_records(buf *wire, const uint8_t *hs, size_t n, size_t rec_max);
/* build_handshake + frame_records in one record. */
void build_wire(buf *wire, const hello_spec *s);

/* ---- PRNG --------------------------------------------------------------- */

typedef struct rng {
  uint64_t s;
} rng;
uint64_t rng_next(rng *r);
/* Uniform in [lo, hi] (hi >= lo). */
size_t rng_range(rng *r, size_t lo, size_t hi);

#endif
