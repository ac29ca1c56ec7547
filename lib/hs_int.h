/* Internal: the ClientHello schema (lib/hs_schema.c), the engine that walks
 * it (lib/hs_engine.c) and the parser state they share with the record
 * layer and the public API (lib/parser.c). */
#ifndef SNI_HS_INT_H
#define SNI_HS_INT_H

#include <stddef.h>
#include <stdint.h>

#include "sniroute.h"

/* ---- the schema ----------------------------------------------------------
 *
 * A schema is a run of elements ended by SK_END; the engine runs one per
 * frame (the hello body, one extension's body, one entry of a list).  An
 * element is one wire item of RFC 8446 presentation language:
 *
 *   SK_FIXED  `width` bytes read whole (at most SNI_HS_TMP) and handed to
 *             the element's rule;
 *   SK_VEC    `pre` fixed bytes (e.g. an entry's type), then a `width`-byte
 *             big-endian length (0: the length is fixed, = min, or with
 *             SF_FILL the rest of the frame), then that
 *             many bytes of content, which `body` says what to do with.
 *
 * A vector's length must lie in [min, max], be a multiple of `item`, and
 * end inside its frame, or exactly at its end with SF_FILL.  Everything
 * the tables cannot say is a rule: a function in lib/hs_engine.c, named by
 * `rule`, that stores fields and enforces the remaining strictness.
 */
enum sni_hs_kind { SK_END = 0, SK_FIXED, SK_VEC };

enum sni_hs_body {
  SB_NONE = 0, /* SK_FIXED: nothing after the bytes                     */
  SB_SKIP,     /* content validated by its length only                  */
  SB_LIST16,   /* 16-bit items appended to list `arg` (enum sni_list)   */
  SB_LIST8,    /* 8-bit items appended to list `arg`                    */
  SB_COPY,     /* bytes copied to hello field `arg` (enum sni_copy)     */
  SB_SEQ,      /* a frame: schema `arg` once, then the frame must end   */
  SB_REPEAT    /* a frame: schema `arg` repeated until the frame ends   */
};

enum {
  SF_FILL = 1u << 0, /* the vector ends exactly where its frame ends      */
  SF_OPT = 1u << 1,  /* absent when its frame has already ended           */
  SF_LEAD = 1u << 2, /* first byte must equal `lead`, checked on arrival */
  SF_REPEAT = 1u << 3 /* SK_END of an entry: schema `arg` again while the
                         list has bytes left (opened by SB_REPEAT)        */
};

/* Rules: the strictness and the field stores that are not a length. */
enum sni_hs_rule {
  SR_NONE = 0,
  SR_MSG_HDR,        /* handshake header: type 1, length limits         */
  SR_LEGACY_VERSION, /* major 3; fills legacy_version                   */
  SR_SESSION_ID,     /* fills session_id_len                            */
  SR_EXTENSION,      /* duplicates, bookkeeping, picks the body schema  */
  SR_HELLO_END,      /* as many PSK binders as identities               */
  SR_SNI_NAME,       /* one host_name 1..255, others skipped            */
  SR_SNI_END,        /* classifies the name                             */
  SR_ALPN_NAME,      /* appends a name, truncating at a name boundary   */
  SR_KEY_SHARE,      /* records group and key length                    */
  SR_PSK_IDENTITY,   /* the identity and its 4-byte age; counted        */
  SR_PSK_BINDER,     /* counted                                         */
  SR_ECH_TYPE,       /* outer (0) continues, inner (1) is the whole body */
  SR_ECH_OUTER,      /* HPKE suite and config id                        */
  SR_ECH_ENC,
  SR_ECH_PAYLOAD
};

typedef struct sni_hs_elem {
  uint8_t kind;   /* enum sni_hs_kind                                    */
  uint8_t pre;    /* SK_VEC: fixed bytes before the length               */
  uint8_t width;  /* SK_FIXED: bytes; SK_VEC: bytes of the length (0..3) */
  uint8_t item;   /* SK_VEC: the length is a multiple of this            */
  uint8_t flags;  /* SF_*                                                */
  uint8_t body;   /* enum sni_hs_body                                    */
  uint8_t arg;    /* list, copy target or schema (see sni_hs_body)       */
  uint8_t rule;   /* enum sni_hs_rule                                    */
  uint8_t lead;   /* SF_LEAD: the required first byte                    */
  uint32_t min, max;
} sni_hs_elem;

/* Schemas: indexes into sni_hs_schema[] (lib/hs_schema.h) where each one
 * starts.  SS_MESSAGE starts at element 0. */
enum sni_hs_schema_id {
  SS_MESSAGE = 0, SS_HELLO, SS_EXTENSION, SS_OPAQUE, SS_EMPTY, SS_SNI,
  SS_SNI_ENTRY, SS_ALPN, SS_ALPN_NAME, SS_GROUPS, SS_POINT_FORMATS,
  SS_SIGALGS, SS_DC_SIGALGS, SS_SIGALGS_CERT, SS_VERSIONS, SS_KEY_SHARE,
  SS_KEY_SHARE_ENTRY, SS_PSK, SS_PSK_IDENTITY, SS_PSK_BINDER, SS_ECH,
  SS_COUNT
};


/* The lists of sni_hello the schema fills. */
enum sni_list {
  SL_CIPHERS = 0, SL_GROUPS, SL_SIGALGS, SL_SIGALGS_CERT, SL_DC_SIGALGS,
  SL_VERSIONS, SL_POINT_FORMATS, SL_COMPRESSION, SL_COUNT
};

typedef struct sni_list_desc {
  uint16_t off;     /* offset of the array in sni_hello                  */
  uint16_t offn;    /* offset of its uint8_t count                       */
  uint16_t cap;
  uint16_t trunc;   /* SNI_TRUNC_* bit                                   */
  uint8_t grease;   /* GREASE here counts towards sni_hello.grease       */
  uint8_t routing;  /* filled in SNI_PARSE_ROUTING_ONLY mode too         */
} sni_list_desc;


/* Byte fields the schema copies into. */
enum sni_copy { SC_RANDOM = 0, SC_SNI, SC_ALPN };

/* Interpreted extensions, one entry each, indexed by SNI_HS_EXT_SLOT(type)
 * (a perfect hash of the interpreted types; the table's designated
 * initialisers make a collision a compile error under -Werror). */
#define SNI_HS_EXT_SLOTS 64u
#define SNI_HS_EXT_SLOT(t) ((unsigned)(((t) ^ ((t) >> 11)) & 63u))

enum {
  SX_LAST = 1u << 0,    /* must be the last extension (RFC 8446 4.2.11)  */
  SX_EMPTY = 1u << 1,   /* body must be empty                            */
  SX_KEEP_LEN = 1u << 2 /* the body length goes to session_ticket_len    */
};

typedef struct sni_ext_rule {
  uint16_t type;    /* SNI_EXT_*                                         */
  uint8_t schema;   /* body schema; 0 for an empty slot                  */
  uint8_t bit;      /* exact duplicate-detection bit (0..15)             */
  uint8_t flags;    /* SX_*                                              */
  uint16_t present; /* offset of the uint8_t presence flag set, or 0     */
} sni_ext_rule;


/* ---- the parser state ---------------------------------------------------- */

/* Nesting below the hello body: extensions block, one extension, one list
 * of entries. */
#define SNI_HS_DEPTH 4
#define SNI_HS_TMP 8 /* largest fixed part of an element */

/* The smallest ClientHello body: version, random, empty session id, one
 * cipher suite, one compression method. */
#define SNI_HS_MIN_BODY (2u + 32u + 1u + 2u + 2u + 1u + 1u)
#define SNI_HS_HDR 4u       /* handshake header: type and 24-bit length  */
#define SNI_TLS_RECORD_HDR 5u
#define SNI_TLS_MAX_RECORD 16384u

enum { SNI_R_HDR = 0, SNI_R_DONE, SNI_R_HANDSHAKE };

typedef struct sni_parser_impl {
  sni_hello *out;
  uint32_t max_hello;
  uint32_t max_records;
  uint32_t pos;        /* handshake bytes consumed (incl. the header)     */
  uint32_t rec_left;   /* payload bytes left in the current record        */
  /* ends[0]: the message end (0 until the header is read); ends[1..]:
   * frames opened by the elements at opener[1..]. */
  uint32_t ends[SNI_HS_DEPTH];
  uint32_t bulk_end;   /* end of the content being consumed (if bulk)     */
  uint32_t magic;      /* SNI_PARSER_MAGIC once sni_parser_init() ran     */
  uint64_t ext_bloom;  /* cheap duplicate filter for other types         */
  uint16_t ext_known;  /* interpreted extension types seen                */
  uint16_t psk_ids;    /* identities seen, compared with binders          */
  uint16_t psk_binders;
  uint8_t opener[SNI_HS_DEPTH];
  uint8_t ip;          /* current element; SNI_HS_DONE when complete      */
  uint8_t depth;
  uint8_t bulk;        /* enum sni_hs_body of the content, 0 if none      */
  uint8_t bulk_arg;
  uint8_t copy_end;    /* SB_COPY: target index where the content ends    */
  uint8_t tmp_n;       /* element bytes held in tmp                       */
  uint8_t rstate;
  uint8_t hdr_n;       /* record header bytes held in hdr                 */
  uint8_t routing;     /* SNI_PARSE_ROUTING_ONLY                          */
  uint8_t sni_seen;
  int8_t err;          /* sticky: 0, or a negative SNI_E* code            */
  uint8_t hdr[SNI_TLS_RECORD_HDR];
  uint8_t tmp[SNI_HS_TMP];
} sni_parser_impl;

#define SNI_HS_DONE 0xffu

/* Consumes n handshake bytes at b, all of the message (the caller never
 * hands over bytes past the message end once it is known, and only the
 * 4-byte header before).  Returns 0 or a negative SNI_E* code; the hello
 * is complete when ip == SNI_HS_DONE. */
int sni_hs_consume(sni_parser_impl *p, const uint8_t *b, size_t n);

/* Fills the derived fields of a complete hello (max_version). */
void sni_hs_finish(sni_parser_impl *p);

/* RFC 8701 GREASE: 0x?A?A with both bytes equal.  The one copy of the
 * rule: sni_is_grease() (lib/parser.c) and the engine's list copies use it
 * (the SSE2 list copy tests the same two conditions on eight values). */
static inline int sni_grease16(uint16_t v) {
  return (v & 0x0f0fu) == 0x0a0au && (v >> 8) == (v & 0xffu);
}

static inline uint16_t sni_rd16(const uint8_t *q) {
  return (uint16_t)((unsigned)q[0] << 8 | q[1]);
}

#endif
