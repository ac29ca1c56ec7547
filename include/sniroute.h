/*
 * sniroute.h -- read the first bytes of a connection, parse the TLS
 * ClientHello without allocating, and route the connection by server name
 * (SNI), ALPN and version.
 *
 * This header is the whole public API and its manual.  Everything the
 * library exports starts with sni_ / SNI_.
 *
 * ==========================================================================
 *  Conventions
 * ==========================================================================
 *
 *  - Every function that can fail returns an int: a negative SNI_E* code on
 *    failure, zero or a positive count on success.  Errors are never stored
 *    in globals; sni_strerror() / sni_errname() describe a code.
 *  - The caller owns all memory.  sni_hello and sni_parser are plain structs
 *    the caller declares (stack, arena, connection object); the parser never
 *    allocates and never makes a system call.  Only the router builder
 *    allocates, through functions the caller may supply.
 *  - Nothing returned points into the caller's input: every string in an
 *    sni_hello is an owned, NUL-terminated copy.
 *  - Thread-safety: every function is re-entrant.  An object may be used by
 *    one thread at a time unless its section says otherwise (a compiled
 *    router is safe for any number of concurrent readers).
 *  - No ssize_t: sizes are size_t, results are int.
 *  - Bad arguments.  Every function that returns a code answers
 *    SNI_EINVAL for a NULL pointer it needs (each documents the ones that
 *    are optional; sni_router_free(NULL) and the like are no-ops).
 *    Caller-declared structs are checked where that is cheap: an
 *    sni_parser that sni_parser_init() never saw is SNI_EINVAL (a marker;
 *    one corrupted after init is not detected), and an sni_hello given to
 *    sni_alpn_get() or sni_router_match_hello() is read only within its
 *    arrays, whatever its counts say (each function says what a count out
 *    of range gives).
 *    Not checked, undefined behaviour: pointers that are neither NULL nor
 *    what they claim to be (a freed router, an sni_hello or sni_parser
 *    pointer to too small a buffer), objects used by two threads against
 *    the rules below, and the lock-free slot reader calls (see
 *    sni_router_slot_enter()).
 */
#ifndef SNIROUTE_H
#define SNIROUTE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- export macro ------------------------------------------------------ */
/* Define SNI_STATIC when linking the static library on Windows; on ELF the
 * shared library is built with -fvisibility=hidden and only SNI_EXTERN
 * symbols are exported. */
#if defined(_WIN32)
#  if defined(SNI_BUILDING_SHARED)
#    define SNI_EXTERN __declspec(dllexport)
#  elif defined(SNI_STATIC)
#    define SNI_EXTERN
#  else
#    define SNI_EXTERN __declspec(dllimport)
#  endif
#elif defined(__GNUC__) && __GNUC__ >= 4
#  define SNI_EXTERN __attribute__((visibility("default")))
#else
#  define SNI_EXTERN
#endif

/* ==========================================================================
 *  Version
 * ========================================================================== */

#define SNI_VERSION_MAJOR 0
#define SNI_VERSION_MINOR 1
#define SNI_VERSION_PATCH 0
/* One comparable number: 0xMMmmpp. */
#define SNI_VERSION_NUM \
  ((SNI_VERSION_MAJOR << 16) | (SNI_VERSION_MINOR << 8) | SNI_VERSION_PATCH)

/* The SNI_VERSION_NUM the library was built with (compare with the macro to
 * detect a header/library mismatch).  Thread-safe. */
SNI_EXTERN unsigned sni_version(void);
/* The same as a static string "MAJOR.MINOR.PATCH".  Thread-safe. */
SNI_EXTERN const char *sni_version_string(void);

/* ==========================================================================
 *  Errors
 * ==========================================================================
 *
 * The numbers are stable: they never change between releases, new codes only
 * get new numbers.
 */
#define SNI_ERRNO_MAP(XX)                                                     \
  XX(EAGAIN,    -1, "need more bytes: the input is a valid prefix")           \
  XX(ENOTTLS,   -2, "not a TLS handshake record or SSLv2 ClientHello")        \
  XX(ESSLV2,    -3, "SSLv2-compatible ClientHello (no extensions)")           \
  XX(EPROTO,    -4, "malformed ClientHello")                                  \
  XX(E2BIG,     -5, "ClientHello over the configured limit")                  \
  XX(EINVAL,    -6, "invalid argument")                                       \
  XX(EOF,       -7, "peer closed the connection before a full ClientHello")   \
  XX(ESYS,      -8, "system call failed (errno holds the reason)")            \
  XX(ETIMEDOUT, -9, "timed out")                                              \
  XX(ENOMEM,   -10, "out of memory")                                          \
  XX(EPATTERN, -11, "invalid route pattern")                                  \
  XX(ECONFLICT,-12, "conflicting routes")                                     \
  XX(ENOSPC,   -13, "output buffer too small")                                \
  XX(ENOENT,   -14, "no such entry")                                        \
  XX(EBADMSG,  -15, "malformed hand-off message")                          \
  XX(ENOTQUIC, -16, "not a QUIC client Initial")                            \
  XX(EQUICVER, -17, "unsupported QUIC version")                             \
  XX(EAUTH,    -18, "QUIC packet failed authentication")

typedef enum sni_errno {
#define SNI_ERRNO_GEN_(name, val, msg) SNI_##name = (val),
  SNI_ERRNO_MAP(SNI_ERRNO_GEN_)
#undef SNI_ERRNO_GEN_
  SNI_OK = 0
} sni_errno;

/* A static English description of err ("unknown error" for an unknown
 * code; "success" for values >= 0).  Never NULL.  Thread-safe. */
SNI_EXTERN const char *sni_strerror(int err);
/* The code's name without prefix, e.g. "EPROTO" ("ok" for values >= 0,
 * "EUNKNOWN" otherwise).  Never NULL.  Thread-safe. */
SNI_EXTERN const char *sni_errname(int err);

/* ==========================================================================
 *  The ClientHello
 * ==========================================================================
 *
 * sni_hello is plain data filled by the parser: every field is an owned
 * copy, nothing points into the input, and two parses of the same bytes
 * produce byte-identical structs whatever the chunking.  Lists keep wire
 * order and keep GREASE values (see sni_is_grease()).
 *
 * Capacities were chosen from real traffic (OpenSSL with every cipher: 90
 * suites; Chromium 156: 19 extensions; curl: 10 groups, 20 signature
 * algorithms).  A list longer than its capacity keeps its first entries
 * and sets its bit in `truncated`; that is never an error.
 *
 * sizeof(sni_hello) + sizeof(sni_parser) <= 2048 bytes (checked at compile
 * time inside the library).
 */
#define SNI_MAX_NAME           255 /* RFC 6066 host name bytes we accept  */
#define SNI_CAP_CIPHERS        128
#define SNI_CAP_EXTENSIONS      32
#define SNI_CAP_GROUPS          32
#define SNI_CAP_KEY_SHARES       8
#define SNI_CAP_SIGALGS         32
#define SNI_CAP_SIGALGS_CERT    32
#define SNI_CAP_DC_SIGALGS      16
#define SNI_CAP_VERSIONS        16
#define SNI_CAP_POINT_FORMATS    8
#define SNI_CAP_COMPRESSION      8
#define SNI_CAP_ALPN_BYTES     128 /* packed: len byte + name, per protocol */
#define SNI_CAP_RECORDS         16

/* Bits of sni_hello.truncated: which lists overflowed their capacity. */
enum {
  SNI_TRUNC_CIPHERS       = 1u << 0,
  SNI_TRUNC_EXTENSIONS    = 1u << 1,
  SNI_TRUNC_GROUPS        = 1u << 2,
  SNI_TRUNC_KEY_SHARES    = 1u << 3,
  SNI_TRUNC_SIGALGS       = 1u << 4,
  SNI_TRUNC_SIGALGS_CERT  = 1u << 5,
  SNI_TRUNC_DC_SIGALGS    = 1u << 6,
  SNI_TRUNC_VERSIONS      = 1u << 7,
  SNI_TRUNC_POINT_FORMATS = 1u << 8,
  SNI_TRUNC_COMPRESSION   = 1u << 9,
  SNI_TRUNC_ALPN          = 1u << 10,
  SNI_TRUNC_RECORDS       = 1u << 11
};

/* Bits of sni_hello.name_flags (meaningful when sni_present). */
enum {
  /* The name as sent ended in one '.', removed in sni_normalized. */
  SNI_NAME_TRAILING_DOT = 1u << 0,
  /* Not a DNS host name: a byte outside [A-Za-z0-9-_.], an empty label, a
   * label over 63 bytes, over 253 bytes after the trailing dot is removed,
   * or an all-digit last label.  Underscores are tolerated because real
   * deployments use them.  IP literals also carry this bit. */
  SNI_NAME_NOT_HOSTNAME = 1u << 1,
  /* A dotted-quad IPv4 literal or anything containing ':' (IPv6), which RFC
   * 6066 forbids in server_name. */
  SNI_NAME_IP_LITERAL   = 1u << 2
};

/* Encrypted Client Hello (draft-ietf-tls-esni, extension 0xfe0d): with
 * ECH the hello on the wire is the outer one, so sni (and every other
 * field here) is the outer, public name of the server's ECH configuration,
 * never the name inside the encrypted inner hello.  For an outer extension
 * ech_config_id, ech_kdf, ech_aead (HPKE identifiers), ech_enc_len and
 * ech_payload_len say what the client encrypted with.  A client without
 * an ECH configuration sends a GREASE extension of the same shape with
 * random values: on the wire real and GREASE ECH cannot be told apart, so
 * ech means "the extension is there", not "the client used ECH". */
typedef struct sni_hello {
  /* -- framing ----------------------------------------------------------- */
  uint32_t wire_len;        /* bytes of all records carrying the hello      */
  uint32_t hello_len;       /* handshake message length incl. its 4-byte hdr */
  uint32_t records;         /* number of records carrying the hello         */
  uint16_t record_version;  /* version field of the first record header
                               (2 for an SSLv2-framed hello)                */
  uint16_t legacy_version;  /* ClientHello.legacy_version                   */
  uint16_t max_version;     /* highest non-GREASE supported_versions entry,
                               else legacy_version                          */
  uint16_t truncated;       /* SNI_TRUNC_* bits                             */
  uint16_t record_versions[SNI_CAP_RECORDS]; /* per record, first ones     */
  uint16_t record_lengths[SNI_CAP_RECORDS];
  uint8_t  n_record_list;   /* entries in record_versions/record_lengths    */

  /* -- fixed fields ------------------------------------------------------ */
  uint8_t  session_id_len;
  uint8_t  random[32];

  /* -- flags (0 or 1) ---------------------------------------------------- */
  uint8_t  sslv2;           /* SSLv2-compatible framing (SNI_ESSLV2)        */
  uint8_t  sni_present;     /* a host_name entry was sent                   */
  uint8_t  session_ticket;  /* extension 35 present                         */
  uint8_t  psk;             /* extension 41 present                         */
  uint8_t  early_data;      /* extension 42 present                         */
  uint8_t  grease;          /* GREASE in ciphers/extensions/groups/versions */
  uint8_t  ech;             /* encrypted_client_hello (0xfe0d) present      */
  uint8_t  ech_type;        /* 0 = outer, 1 = inner                         */
  uint8_t  ech_config_id;   /* outer only                                   */
  uint8_t  name_flags;      /* SNI_NAME_* bits                              */
  uint8_t  quic;            /* read from QUIC Initial packets (sni_quic_*):
                               records, record_* are 0 and wire_len counts
                               the UDP payload bytes of the datagrams used */

  /* -- counts ------------------------------------------------------------ */
  uint8_t  n_ciphers, n_extensions, n_groups, n_key_shares;
  uint8_t  n_sigalgs, n_sigalgs_cert, n_dc_sigalgs, n_versions;
  uint8_t  n_point_formats, n_compression, n_alpn, alpn_len;
  uint16_t psk_identities;  /* number of PSK identities                    */
  uint16_t session_ticket_len;
  uint16_t ech_kdf, ech_aead; /* outer only: HPKE cipher suite              */
  uint16_t ech_enc_len, ech_payload_len; /* outer only                      */

  /* -- server name ------------------------------------------------------- */
  uint16_t sni_len;           /* bytes of sni (0 if absent)                 */
  uint16_t sni_normalized_len;
  char     sni[SNI_MAX_NAME + 1];            /* as sent, NUL-terminated     */
  char     sni_normalized[SNI_MAX_NAME + 1]; /* lowercase, no trailing dot  */

  /* -- lists, wire order ------------------------------------------------- */
  uint16_t cipher_suites[SNI_CAP_CIPHERS];
  uint16_t extensions[SNI_CAP_EXTENSIONS];        /* types                 */
  uint16_t extension_lengths[SNI_CAP_EXTENSIONS]; /* extension_data bytes  */
  uint16_t groups[SNI_CAP_GROUPS];
  uint16_t key_share_groups[SNI_CAP_KEY_SHARES];
  uint16_t key_share_lengths[SNI_CAP_KEY_SHARES];
  uint16_t sigalgs[SNI_CAP_SIGALGS];              /* extension 13          */
  uint16_t sigalgs_cert[SNI_CAP_SIGALGS_CERT];    /* extension 50          */
  uint16_t dc_sigalgs[SNI_CAP_DC_SIGALGS];        /* extension 34          */
  uint16_t versions[SNI_CAP_VERSIONS];            /* supported_versions    */
  uint8_t  point_formats[SNI_CAP_POINT_FORMATS];
  uint8_t  compression[SNI_CAP_COMPRESSION];
  /* ALPN protocol names, packed as on the wire: a length byte, then the
   * name; n_alpn names in alpn_len bytes.  Use sni_alpn_get(). */
  uint8_t  alpn[SNI_CAP_ALPN_BYTES];
} sni_hello;

/* SNI_HELLO_FIELDS(NUM, FLAG, COUNT, BYTES, STR, LIST, ALPN) names every
 * member of sni_hello once, in declaration order, with the kind of value it
 * holds, so that code walking the whole hello (sniroute-inspect's JSON, the
 * corpus test's comparison with its truth files) is generated from one list
 * and a new member is added here and in the struct, nowhere else.  Each
 * argument is a function-like macro the caller defines (an unused kind can
 * expand to nothing); the list expands to one call per member:
 *
 *   NUM(type, member, key)      an integer (bit sets and ech_type included)
 *   FLAG(member, key)           a uint8_t that is 0 or 1
 *   COUNT(type, member)         the length of a LIST, STR or ALPN member
 *                               (whose count or len argument names it);
 *                               no key of its own
 *   BYTES(member, key)          fixed-size raw bytes (random)
 *   STR(member, len, present, key)
 *                               a NUL-terminated char array of len bytes,
 *                               meaningful when member `present` is 1
 *   LIST(type, member, count, trunc, key)
 *                               a wire-order array of type: the first
 *                               `count` entries are kept, at most
 *                               sizeof member / sizeof(type), and the
 *                               SNI_TRUNC_* bit `trunc` says more were sent
 *   ALPN(member, count, len, trunc, key)
 *                               the packed protocol names (sni_alpn_get()):
 *                               `count` names in `len` bytes
 *
 * key is a string literal: the member's name in sniroute-inspect's JSON and
 * in tests/vectors' truth files (the TLS registry's name where it differs
 * from the member's, e.g. "cipher_suites" for cipher_suites but
 * "supported_versions" for versions).  Which members are meaningful when
 * (ech_* for an outer ECH extension only, record_* not for QUIC) is said in
 * the struct above, not here.  tests/test_parser_corpus.c does not build
 * when the list misses a member or gives a wrong type, and fails when one
 * is listed twice or out of order. */
#define SNI_HELLO_FIELDS(NUM, FLAG, COUNT, BYTES, STR, LIST, ALPN)            \
  NUM(uint32_t, wire_len, "wire_len")                                        \
  NUM(uint32_t, hello_len, "hello_len")                                      \
  NUM(uint32_t, records, "records")                                          \
  NUM(uint16_t, record_version, "record_version")                            \
  NUM(uint16_t, legacy_version, "legacy_version")                            \
  NUM(uint16_t, max_version, "max_version")                                  \
  NUM(uint16_t, truncated, "truncated")                                      \
  LIST(uint16_t, record_versions, n_record_list, SNI_TRUNC_RECORDS,          \
       "record_versions")                                                    \
  LIST(uint16_t, record_lengths, n_record_list, SNI_TRUNC_RECORDS,           \
       "record_lengths")                                                     \
  COUNT(uint8_t, n_record_list)                                              \
  NUM(uint8_t, session_id_len, "session_id_len")                             \
  BYTES(random, "random")                                                    \
  FLAG(sslv2, "sslv2")                                                       \
  FLAG(sni_present, "sni_present")                                           \
  FLAG(session_ticket, "session_ticket")                                     \
  FLAG(psk, "psk")                                                           \
  FLAG(early_data, "early_data")                                             \
  FLAG(grease, "grease")                                                     \
  FLAG(ech, "ech")                                                           \
  NUM(uint8_t, ech_type, "ech_type")                                         \
  NUM(uint8_t, ech_config_id, "ech_config_id")                               \
  NUM(uint8_t, name_flags, "name_flags")                                     \
  FLAG(quic, "quic")                                                         \
  COUNT(uint8_t, n_ciphers)                                                  \
  COUNT(uint8_t, n_extensions)                                               \
  COUNT(uint8_t, n_groups)                                                   \
  COUNT(uint8_t, n_key_shares)                                               \
  COUNT(uint8_t, n_sigalgs)                                                  \
  COUNT(uint8_t, n_sigalgs_cert)                                             \
  COUNT(uint8_t, n_dc_sigalgs)                                               \
  COUNT(uint8_t, n_versions)                                                 \
  COUNT(uint8_t, n_point_formats)                                            \
  COUNT(uint8_t, n_compression)                                              \
  COUNT(uint8_t, n_alpn)                                                     \
  COUNT(uint8_t, alpn_len)                                                   \
  NUM(uint16_t, psk_identities, "psk_identities")                            \
  NUM(uint16_t, session_ticket_len, "session_ticket_len")                    \
  NUM(uint16_t, ech_kdf, "ech_kdf")                                          \
  NUM(uint16_t, ech_aead, "ech_aead")                                        \
  NUM(uint16_t, ech_enc_len, "ech_enc_len")                                  \
  NUM(uint16_t, ech_payload_len, "ech_payload_len")                          \
  COUNT(uint16_t, sni_len)                                                   \
  COUNT(uint16_t, sni_normalized_len)                                        \
  STR(sni, sni_len, sni_present, "sni")                                      \
  STR(sni_normalized, sni_normalized_len, sni_present, "sni_normalized")     \
  LIST(uint16_t, cipher_suites, n_ciphers, SNI_TRUNC_CIPHERS,                \
       "cipher_suites")                                                      \
  LIST(uint16_t, extensions, n_extensions, SNI_TRUNC_EXTENSIONS,             \
       "extensions")                                                         \
  LIST(uint16_t, extension_lengths, n_extensions, SNI_TRUNC_EXTENSIONS,      \
       "extension_lengths")                                                  \
  LIST(uint16_t, groups, n_groups, SNI_TRUNC_GROUPS, "groups")               \
  LIST(uint16_t, key_share_groups, n_key_shares, SNI_TRUNC_KEY_SHARES,       \
       "key_share_groups")                                                   \
  LIST(uint16_t, key_share_lengths, n_key_shares, SNI_TRUNC_KEY_SHARES,      \
       "key_share_lengths")                                                  \
  LIST(uint16_t, sigalgs, n_sigalgs, SNI_TRUNC_SIGALGS,                      \
       "signature_algorithms")                                               \
  LIST(uint16_t, sigalgs_cert, n_sigalgs_cert, SNI_TRUNC_SIGALGS_CERT,       \
       "signature_algorithms_cert")                                          \
  LIST(uint16_t, dc_sigalgs, n_dc_sigalgs, SNI_TRUNC_DC_SIGALGS,             \
       "delegated_credentials_sig_algs")                                     \
  LIST(uint16_t, versions, n_versions, SNI_TRUNC_VERSIONS,                   \
       "supported_versions")                                                 \
  LIST(uint8_t, point_formats, n_point_formats, SNI_TRUNC_POINT_FORMATS,     \
       "ec_point_formats")                                                   \
  LIST(uint8_t, compression, n_compression, SNI_TRUNC_COMPRESSION,           \
       "compression_methods")                                                \
  ALPN(alpn, n_alpn, alpn_len, SNI_TRUNC_ALPN, "alpn")

/* 1 if v is a GREASE value (RFC 8701: 0x0a0a, 0x1a1a, ... 0xfafa), else 0. */
SNI_EXTERN int sni_is_grease(uint16_t v);

/* The i-th ALPN protocol name of h (0-based).  On success stores a pointer
 * into h->alpn (not NUL-terminated; valid while h is) in *name and its
 * length in *len and returns 0; returns SNI_ENOENT when i >= h->n_alpn or
 * the packed list ends (h->alpn_len) before the i-th name, and SNI_EINVAL
 * for NULL arguments or an h->alpn_len over SNI_CAP_ALPN_BYTES (a hello
 * the parser did not fill).  Reads only inside h->alpn whatever the
 * counts say.  Thread-safe for a hello not being written. */
SNI_EXTERN int sni_alpn_get(const sni_hello *h, unsigned i,
                            const uint8_t **name, size_t *len);

/* ==========================================================================
 *  Fingerprints: JA4 and JA3
 * ==========================================================================
 *
 * Client fingerprints computed from a parsed sni_hello, for logs and
 * policy.  JA4 follows FoxIO's specification (technical_details/JA4.md,
 * JA4 client part only, BSD-3-Clause), JA3 the salesforce/ja3 README;
 * both were written from those texts, not from any implementation.
 *
 * JA4 = a_b_c.  a (SNI_JA4_A_LEN characters): 't' (TCP) or 'q' (hello.quic,
 * i.e. read by sni_quic_feed(); DTLS 'd' does not occur, the parser reads
 * TLS only); the version from hello.max_version (highest non-GREASE
 * supported_versions entry, else legacy_version) as "13", "12", "11",
 * "10", "s3", "s2", "d1".."d3", anything else "00" (TLS 1.3 drafts
 * included); 'd' if a server_name extension was sent, else 'i' (presence
 * only, whatever it names); cipher suites and extensions (SNI and ALPN
 * included) counted without GREASE, two digits, at most 99; the first and
 * last character of the first ALPN name ("00" without ALPN).  b = the
 * first 12 hex digits of SHA-256 over the cipher suites (4 lowercase hex
 * digits each, GREASE removed, sorted, comma-separated); c = the same
 * over the extension types without GREASE, server_name (0x0000) and ALPN
 * (0x0010), sorted, then, if signature_algorithms (extension 13 only) has
 * a non-GREASE entry, '_' and those in wire order.  An empty list hashes
 * to "000000000000".  Variants: _r prints the strings instead of hashes;
 * _o keeps wire order in b and c and keeps server_name and ALPN in c.
 *
 * Where this departs from FoxIO's own code (it follows the spec text of
 * 2026-01, as s2n-tls does):
 *  - first ALPN name whose first or last byte is not ASCII alphanumeric:
 *    the spec's hex rule, the first hex digit of the first byte and the
 *    last hex digit of the last byte (0xba 0xad -> "bd", "h2 " -> "60");
 *    FoxIO's Rust and Python print "99" (non-ASCII) or the raw character;
 *  - one-character ALPN name: the character twice ("q" -> "qq"); FoxIO's
 *    Rust prints "q0", its Python "q" (a 9-character JA4_a);
 *  - JA4_o of a hello whose only extensions are server_name and/or ALPN:
 *    the original-order list is not empty, so c is the hash of "0000"
 *    (etc.), e.g. "9af15b336e6a"; FoxIO's Python prints "000000000000"
 *    because it tests the sorted list;
 *  - 'q' comes from the transport (hello.quic), as the spec says; FoxIO's
 *    Rust decides it by the presence of quic_transport_parameters (0x39).
 *
 * JA3 = "SSLVersion,Ciphers,Extensions,EllipticCurves,ECPointFormats" with
 * decimal values joined by '-': legacy_version; cipher suites, extension
 * types and supported_groups in wire order without GREASE; point formats
 * unfiltered; a missing list is an empty field ("769,4-5,,,").  The same
 * string tshark prints as tls.handshake.ja3_full.  sni_ja3_md5() gives its
 * MD5 as 32 lowercase hex digits (tls.handshake.ja3).
 *
 * Common to the functions below:
 *  - h is a hello the parser completed (a result > 0); on a partial hello
 *    they describe what was parsed so far.
 *  - out/cap is the caller's buffer; the result is NUL-terminated, and the
 *    return value is its length without the NUL (> 0).  Nothing is written
 *    at or past out + cap, ever; on an error other than SNI_EINVAL out is
 *    set to "" when cap > 0.  The *_MAX sizes below (NUL included) are the
 *    worst case for any hello the parser can produce (they follow from the
 *    SNI_CAP_* list capacities), so a buffer of that size never gives
 *    SNI_ENOSPC.
 *  - Errors: SNI_EINVAL for NULL h or out, an unknown variant, or a count
 *    over its list's capacity (a hello the parser did not fill);
 *    SNI_ENOSPC when cap is below the length + 1; SNI_E2BIG when a list
 *    the fingerprint needs overflowed its capacity in this hello
 *    (hello.truncated), so the value would be wrong: JA4 needs the cipher
 *    suites, extensions, signature algorithms and supported_versions, and
 *    the first ALPN name (SNI_TRUNC_ALPN is an error only when not even
 *    the first name fit); JA3 needs the cipher suites, extensions, groups
 *    and point formats.
 *  - No allocation, no system call: thread-safe for a hello that is not
 *    being written (the only shared state is the library's cached,
 *    race-free CPU feature probe, for SHA-256's x86 SHA extensions).
 *    Cost on the project's loaded 2-core VM (bench/sniroute-bench-parse):
 *    JA4 median 0.80 us per hello (two SHA-256 of 2..4 blocks), JA3 with
 *    its MD5 0.88 us, next to about 0.27 us for the parse.
 */
#define SNI_JA4_A_LEN 10
/* "t13d1516h2_8daaf6152771_e5627efa2ab1" + NUL */
#define SNI_JA4_MAX (SNI_JA4_A_LEN + 2 * (1 + 12) + 1)
/* _r/_ro: JA4_a, then every cipher, extension and signature algorithm as
 * 4 hex digits with one separator each ('_' or ','), + NUL. */
#define SNI_JA4_R_MAX \
  (SNI_JA4_A_LEN + 5 * (SNI_CAP_CIPHERS + SNI_CAP_EXTENSIONS + SNI_CAP_SIGALGS) + 1)
/* Up to 5 decimal digits + one separator per value, + NUL. */
#define SNI_JA3_MAX \
  (6 * (1 + SNI_CAP_CIPHERS + SNI_CAP_EXTENSIONS + SNI_CAP_GROUPS) + \
   4 * SNI_CAP_POINT_FORMATS + 1)
#define SNI_JA3_MD5_MAX 33 /* 32 hex digits + NUL */

/* The variant: bit SNI_JA4_R = raw strings, bit SNI_JA4_O = original
 * (wire) order; SNI_JA4_RO is both. */
typedef enum sni_ja4_variant {
  SNI_JA4 = 0,
  SNI_JA4_R = 1,
  SNI_JA4_O = 2,
  SNI_JA4_RO = 3
} sni_ja4_variant;

/* The JA4 fingerprint of h (the variant above) into out (cap bytes:
 * SNI_JA4_MAX for SNI_JA4 and SNI_JA4_O, SNI_JA4_R_MAX for the raw ones
 * always suffice).  Returns the length (36 for the hashed variants), or
 * SNI_EINVAL, SNI_ENOSPC, SNI_E2BIG as described above. */
SNI_EXTERN int sni_ja4(const sni_hello *h, sni_ja4_variant variant, char *out,
                       size_t cap);

/* The JA3 string of h into out (SNI_JA3_MAX bytes always suffice).
 * Returns its length, or SNI_EINVAL, SNI_ENOSPC, SNI_E2BIG as above. */
SNI_EXTERN int sni_ja3(const sni_hello *h, char *out, size_t cap);

/* The JA3 hash: MD5 of the sni_ja3() string as 32 lowercase hex digits
 * into out (SNI_JA3_MD5_MAX bytes).  Returns 32, or SNI_EINVAL,
 * SNI_ENOSPC, SNI_E2BIG as above. */
SNI_EXTERN int sni_ja3_md5(const sni_hello *h, char *out, size_t cap);

/* ==========================================================================
 *  Parsing
 * ==========================================================================
 *
 * Strictness.  The parser is strict by default; each rule below is a
 * decision, also written next to the code that enforces it:
 *
 *  - First byte: 0x16 (handshake record) or >= 0x80 (SSLv2 two-byte header)
 *    may start a ClientHello; anything else is SNI_ENOTTLS after one byte,
 *    so plain HTTP ("GET "), SSH ("SSH-"), and TLS alert (21), CCS (20) or
 *    application-data (23) records are told apart at once.  A second byte
 *    other than 3 (record major version) is SNI_ENOTTLS too.
 *  - SSLv2-compatible hello (0x80.., msg type 1, version 3.x or 0.2):
 *    SNI_ESSLV2 after 5 bytes with legacy_version and max_version filled
 *    in, record_version 2, sslv2 = 1.  It cannot carry extensions.  Other
 *    bytes behind a high first byte are SNI_ENOTTLS.
 *  - Record layer: content type 22 only (a later record of another type in
 *    the middle of the hello is SNI_EPROTO: RFC 8446 forbids interleaving);
 *    major version 3, minor version ignored (RFC 8446 5.1); record length
 *    1..16384 (zero-length handshake records and records over 2^14 are
 *    SNI_EPROTO).
 *  - Fragmentation: any split of the handshake message across records is
 *    accepted, including a split inside the 4-byte handshake header.  The
 *    last record must end exactly where the hello ends: a record that
 *    carries bytes after the ClientHello is SNI_EPROTO (a client may send
 *    nothing else before the server's reply).  Bytes after that record
 *    (CCS, 0-RTT data, anything) are not looked at and are reported as not
 *    belonging to the hello.
 *  - Handshake type must be 1 (client_hello), else SNI_EPROTO.  A hello
 *    longer than limits->max_hello_len is SNI_E2BIG as soon as its header
 *    is read; more records than limits->max_records is SNI_E2BIG.
 *  - Every length field is checked against its enclosing length; a list
 *    whose length disagrees with its extension length, an odd length of a
 *    16-bit list, or an empty list where the RFC requires one entry is
 *    SNI_EPROTO.
 *  - Duplicate extensions: SNI_EPROTO (RFC 8446 4.2).  Beyond the first
 *    SNI_CAP_EXTENSIONS extensions, duplicates are detected only among the
 *    types the parser interprets.
 *  - pre_shared_key not last, or a binder count that differs from the
 *    identity count: SNI_EPROTO (RFC 8446 4.2.11).  early_data with a body:
 *    SNI_EPROTO.
 *  - ALPN: an empty protocol list or an empty protocol name is SNI_EPROTO
 *    (RFC 7301).
 *  - server_name: an empty list, two host_name entries, an empty host_name,
 *    or a host_name over 255 bytes is SNI_EPROTO (RFC 6066; OpenSSL rejects
 *    the same).  Entries of unknown name types are skipped (assumed to have
 *    a 16-bit length like host_name).  A host_name that is not a valid DNS
 *    name (bytes outside LDH, IP literal, ...) is not an error: it is
 *    reported as sent and flagged in name_flags.
 *  - legacy_version major must be 3; session id at most 32 bytes; cipher
 *    suites at least one; compression methods at least one (SNI_EPROTO).
 *  - A hello may end after compression_methods (no extensions block, as
 *    old clients send); an extensions block must fill the rest exactly.
 */

/* Extension types the parser interprets (IANA TLS ExtensionType values).
 * Every other type is recorded in sni_hello.extensions and skipped. */
#define SNI_EXT_SERVER_NAME               0x0000u /* RFC 6066              */
#define SNI_EXT_SUPPORTED_GROUPS          0x000au /* RFC 8446 4.2.7        */
#define SNI_EXT_EC_POINT_FORMATS          0x000bu /* RFC 8422              */
#define SNI_EXT_SIGNATURE_ALGORITHMS      0x000du /* RFC 8446 4.2.3        */
#define SNI_EXT_ALPN                      0x0010u /* RFC 7301              */
#define SNI_EXT_DELEGATED_CREDENTIALS     0x0022u /* RFC 9345              */
#define SNI_EXT_SESSION_TICKET            0x0023u /* RFC 5077              */
#define SNI_EXT_PRE_SHARED_KEY            0x0029u /* RFC 8446 4.2.11       */
#define SNI_EXT_EARLY_DATA                0x002au /* RFC 8446 4.2.10       */
#define SNI_EXT_SUPPORTED_VERSIONS        0x002bu /* RFC 8446 4.2.1        */
#define SNI_EXT_SIGNATURE_ALGORITHMS_CERT 0x0032u /* RFC 8446 4.2.3        */
#define SNI_EXT_KEY_SHARE                 0x0033u /* RFC 8446 4.2.8        */
#define SNI_EXT_ENCRYPTED_CLIENT_HELLO    0xfe0du /* draft-ietf-tls-esni   */

/*
 * Bit of sni_limits.flags: routing-only parse.  The hello is validated
 * exactly as in a full parse (same strictness, same result codes for the
 * same bytes, same wire length) but only what routing needs is stored:
 * framing (wire_len, hello_len, records, record_version, record lists),
 * legacy_version, session_id_len, supported_versions (versions,
 * n_versions, max_version), the server name (sni, sni_normalized,
 * name_flags, sni_present), ALPN (alpn, n_alpn), the scalar extension
 * fields (session_ticket, psk, psk_identities, early_data, ech and its
 * fields), and the extension type list (extensions, extension_lengths:
 * duplicate detection reads it).  Left zero: random, cipher_suites,
 * compression, groups, key shares, sigalgs, sigalgs_cert, dc_sigalgs,
 * point_formats (and their counts and truncated bits), and grease.  Enough
 * for sni_router_match_hello(); not for sni_ja4() or sni_ja3().  Honoured
 * wherever limits are taken: sni_parse_ex(), sni_parser_init(),
 * sni_parser_init_handshake(), sni_quic_init() and sni_peek_ex().
 */
#define SNI_PARSE_ROUTING_ONLY 0x1u

/* Limits for a parse.  Zero fields take the default. */
typedef struct sni_limits {
  uint32_t max_hello_len; /* handshake message incl. header; default 16384,
                             at most 2^24 + 3                              */
  uint32_t max_records;   /* records carrying it; default = max_hello_len,
                             i.e. no practical limit (one byte per record
                             is legal)                                     */
  uint32_t flags;         /* SNI_PARSE_ROUTING_ONLY or 0; any other bit is
                             SNI_EINVAL                                    */
} sni_limits;

#define SNI_DEFAULT_MAX_HELLO 16384u

/* Streaming parser state.  Caller-allocated, any alignment of uint64_t,
 * fields private.  Do not copy a parser that is in use.  Call
 * sni_parser_init() before anything else: it writes a marker that the
 * other sni_parser_* functions check, so a parser that was never
 * initialised (zeroed or stack garbage) gives SNI_EINVAL rather than
 * garbage.  The marker does not detect a parser corrupted after init. */
typedef struct sni_parser {
  uint64_t sni_private_[12];
} sni_parser;

/*
 * One-shot parse of the first bytes of a stream.
 *
 *   out  receives the ClientHello (fully overwritten unless the result is
 *        SNI_EINVAL; on other errors it holds what was parsed before the
 *        error).
 *   buf  len bytes from the start of the stream; may hold more than the
 *        hello (those bytes are not read).
 *
 * Returns the number of wire bytes the ClientHello occupies (all its
 * records, > 0) when complete; SNI_EAGAIN when buf is a valid prefix of a
 * ClientHello; SNI_ENOTTLS, SNI_ESSLV2, SNI_EPROTO, SNI_E2BIG (default
 * limits) as described above; SNI_EINVAL for NULL out, or NULL buf with
 * len > 0.  Never reads past buf + len, never allocates.  Thread-safe.
 */
SNI_EXTERN int sni_parse(sni_hello *out, const void *buf, size_t len);

/* sni_parse() with explicit limits (NULL = defaults).  SNI_EINVAL also for
 * invalid limits (an unknown flags bit, max_hello_len > 2^24 + 3). */
SNI_EXTERN int sni_parse_ex(sni_hello *out, const void *buf, size_t len,
                            const sni_limits *limits);

/*
 * Start a streaming parse into out (zeroed now, filled as bytes arrive).
 * limits is copied; NULL means defaults.  p and out must stay valid while
 * the parse runs; the caller owns both.  Returns 0, or SNI_EINVAL (NULL p
 * or out, invalid limits).  p may hold anything before the call; calling
 * it again restarts the parse (and clears a sticky error).
 */
SNI_EXTERN int sni_parser_init(sni_parser *p, sni_hello *out,
                               const sni_limits *limits);

/*
 * Push the next len bytes of the stream.  Any split is valid, down to one
 * byte per call, and gives the same sni_hello as sni_parse() of the whole.
 *
 * Returns:
 *   SNI_EAGAIN  all of chunk was consumed and more is needed;
 *   n >= 1      the hello is complete and the first n bytes of *this chunk*
 *               belonged to it (chunk + n is where 0-RTT data, a CCS record
 *               or whatever the client sent next starts);
 *   0           the hello was already complete before this call;
 *   < 0         an error (see sni_parse()); errors are sticky: later calls
 *               return the same code without reading.
 * SNI_EINVAL for NULL p, a p that sni_parser_init() never initialised,
 * or NULL chunk with len > 0 (not sticky: nothing is read or written).
 * Never reads past chunk + len, never allocates.
 */
SNI_EXTERN int sni_parser_feed(sni_parser *p, const void *chunk, size_t len);

/*
 * A lower bound on the bytes still needed to complete the hello (>= 1
 * while the parse is incomplete, exact once the last record header has
 * been read); 0 when complete or failed, and for NULL p or a p that
 * sni_parser_init() never initialised.  Useful to size a read or a peek.
 */
SNI_EXTERN size_t sni_parser_need(const sni_parser *p);

/*
 * The parse state without feeding: SNI_EAGAIN while incomplete, the sticky
 * error if one occurred, else the total wire bytes of the hello.
 * SNI_EINVAL for NULL p or a p that sni_parser_init() never initialised.
 */
SNI_EXTERN int sni_parser_status(const sni_parser *p);

/*
 * Start a streaming parse of a bare handshake message: the input is the
 * ClientHello's 4-byte handshake header and body with no TLS record
 * layer, as QUIC carries it in CRYPTO frames (sni_quic_feed() uses this).
 * Everything else is as sni_parser_init(), and sni_parser_feed(),
 * sni_parser_need() and sni_parser_status() work the same, except that:
 * records, record_version and the record lists stay 0; wire_len and the
 * counts returned are handshake bytes (wire_len == hello_len); the first
 * byte must be 1 (client_hello), else SNI_EPROTO (there is no SNI_ENOTTLS
 * or SNI_ESSLV2 without records); a chunk that runs past the end of the
 * message is not an error: the result n says how many of its bytes were
 * the hello's, as for records.  limits->max_records is not used.
 * Returns 0, or SNI_EINVAL (NULL p or out, invalid limits).
 */
SNI_EXTERN int sni_parser_init_handshake(sni_parser *p, sni_hello *out,
                                         const sni_limits *limits);

/* ==========================================================================
 *  QUIC: the ClientHello in a client's Initial packets (HTTP/3 on UDP 443)
 * ==========================================================================
 *
 * A QUIC client sends its ClientHello in CRYPTO frames inside Initial
 * packets, protected with keys anyone can derive from the Destination
 * Connection ID in the clear (RFC 9001 5.2).  sni_quic_feed() takes the
 * client's UDP payloads of one connection, in the order received, and
 * fills an sni_hello through the same parser as TCP (handshake-layer
 * input, sni_parser_init_handshake()), so routing works unchanged; the
 * hello has `quic` set, `records` 0, and wire_len is the sum of the UDP
 * payloads that carried it.  No allocation, no system call, no global
 * state; the crypto is the library's own (AES-128-GCM with AES-NI and
 * PCLMULQDQ when the CPU has them, else portable C).
 *
 * Coverage: QUIC v1 (RFC 9000/9001) and v2 (RFC 9369).  Per datagram,
 * every coalesced packet is walked: client Initials are decrypted (header
 * protection removed, packet number decoded, AES-128-GCM tag verified);
 * 0-RTT, Handshake, Retry, Version Negotiation and short-header packets,
 * and bytes after a packet that cannot be a long header (the zero padding
 * some stacks append), are skipped.  A datagram shorter than 1200 bytes
 * is ignored whole: servers must drop such Initials (RFC 9000 14.1).
 * Frames allowed in an Initial (RFC 9000 12.4): PADDING, PING, ACK (both
 * types, skipped), CRYPTO (any offset order; parts sent twice must agree
 * byte for byte; gaps wait for the missing bytes) and CONNECTION_CLOSE
 * (type 0x1c: the client gave up, SNI_EOF).  Any other frame type, a
 * malformed frame, an empty payload, or reserved header bits set are
 * SNI_EPROTO.
 *
 * Keys.  The first client Initial that authenticates fixes the version,
 * the original DCID (at least 8 bytes, RFC 9000 7.2) and the client's
 * SCID.  Later Initials are tried with those keys whatever DCID they
 * carry (after the server's first Initial the client switches to the
 * server-chosen DCID but keeps the original keys, RFC 9001 5.2).  When
 * that fails and the packet's DCID differs, keys derived from the
 * packet's own DCID are tried: that is what a client does after a Retry,
 * so a Retry needs no server datagram.  At most two key derivations are
 * attempted per datagram.  Consequences: an Initial carrying a
 * server-chosen DCID that arrives before every Initial with the original
 * DCID cannot be decrypted and is ignored; Initials of a second version
 * (compatible version negotiation, RFC 9368) are ignored.
 *
 * Trust, errors and what is sticky.  A datagram with no authenticated
 * client Initial of a supported version changes nothing but the counters
 * and sni_quic_feed() answers SNI_EAGAIN: junk, a truncated or corrupted
 * datagram, another connection's packets or a wrong version can never end
 * the parse (sni_quic_info.last_ignored says why the last one was
 * ignored).  Initial protection only authenticates against parties that do
 * not know the DCID, so errors found in an authenticated packet are
 * sticky only when it authenticated with the keys of the original DCID:
 * SNI_EPROTO, SNI_E2BIG, SNI_ENOSPC, SNI_EOF below.  A packet that
 * authenticated only with keys of its own DCID (the Retry case, which
 * anyone able to inject datagrams into the flow can also produce) and is
 * faulty is ignored whole instead: every packet is checked completely
 * before it changes the reassembled stream.  Malformed ClientHello bytes
 * are SNI_EPROTO (and over the limit SNI_E2BIG) from the parser.
 *
 * Reassembly space.  The caller gives cap bytes at buf; they hold the
 * CRYPTO stream (the ClientHello) at its offsets, and, at their end, the
 * header and plaintext of the packet being decrypted (the input datagram
 * is const and never written).  So cap must be at least the largest
 * ClientHello to accept plus the largest Initial packet: 8 KiB
 * (SNI_QUIC_DEFAULT_BUF) fits every known client (the largest seen,
 * Chromium's post-quantum hello, is about 2.5 KB, sent in 1250..1500-byte
 * datagrams).  A packet whose plaintext does not fit behind the data
 * already held is ignored (last_ignored SNI_ENOSPC); authenticated CRYPTO
 * data that does not fit before the packet's own space is SNI_ENOSPC.
 *
 * Bounds per hello: CRYPTO data beyond limits->max_hello_len (default
 * 16 KiB) is SNI_E2BIG, beyond the hello's own length SNI_EPROTO (a client
 * sends nothing else at the Initial level); more than SNI_QUIC_MAX_PACKETS
 * authenticated Initials without completing the hello, more than
 * SNI_QUIC_MAX_FRAGMENTS separate pieces of stream waiting for a gap to
 * fill, or a datagram over SNI_QUIC_MAX_DATAGRAM bytes is SNI_E2BIG (the
 * latter not sticky: such a datagram is only ignored).  Datagrams that
 * are ignored are only counted: bound those with a deadline.
 *
 * Thread-safety: sni_quic objects are independent; one object is used by
 * one thread at a time (the crypto's one-time CPU probe is thread-safe).
 */
#define SNI_QUIC_DEFAULT_BUF 8192u
#define SNI_QUIC_MIN_DATAGRAM 1200u  /* RFC 9000 14.1                        */
#define SNI_QUIC_MAX_DATAGRAM 65527u /* largest UDP payload over IPv4        */
#define SNI_QUIC_MAX_PACKETS 64u     /* authenticated Initials per hello     */
#define SNI_QUIC_MAX_FRAGMENTS 64u   /* disjoint CRYPTO stream pieces held   */
#define SNI_QUIC_MAX_CID 20u         /* RFC 9000 17.2                        */

/* QUIC reader state: plain data owned by the caller, fields private,
 * 1536 bytes (aligned like uint64_t; the reader aligns its AES key
 * schedules inside).  Do not copy or move one in use. */
typedef struct sni_quic {
  uint64_t sni_private_[192];
} sni_quic;

/* What the reader saw, for logs and diagnostics. */
typedef struct sni_quic_info {
  uint32_t version;        /* QUIC version (1, 0x6b3343cf), 0 until the
                              first Initial authenticated                 */
  uint8_t  dcid_len;       /* the original Destination Connection ID      */
  uint8_t  scid_len;       /* the client's Source Connection ID           */
  uint8_t  retry;          /* 1: keys were switched to a later packet's
                              own DCID (a Retry happened)                 */
  uint8_t  dcid[SNI_QUIC_MAX_CID];
  uint8_t  scid[SNI_QUIC_MAX_CID];
  uint32_t datagrams;          /* fed, including ignored ones              */
  uint32_t datagrams_used;     /* held at least one authenticated Initial  */
  uint32_t datagrams_ignored;  /* held none                                */
  uint32_t initial_packets;    /* authenticated client Initials            */
  uint32_t packets_ignored;    /* Initials that failed (authentication,
                                  version, size, a faulty Retry-keyed one) */
  uint32_t packets_skipped;    /* 0-RTT, Handshake, Retry, short header... */
  uint32_t crypto_frames;      /* CRYPTO frames in authenticated Initials  */
  int32_t  last_ignored;       /* why the last ignored datagram or packet
                                  was: SNI_ENOTQUIC (not a client Initial,
                                  too short, malformed header), SNI_EQUICVER,
                                  SNI_EAUTH, SNI_ENOSPC (no room to decrypt),
                                  SNI_E2BIG (datagram too large), or a code of
                                  a faulty Retry-keyed packet; 0 if none   */
} sni_quic_info;

/*
 * Start reading one QUIC connection's ClientHello into hello (zeroed now,
 * filled as CRYPTO data becomes contiguous).  buf/cap is the reassembly
 * space described above (cap >= 2048 or SNI_EINVAL; 8 KiB fits every
 * known client).  limits as for sni_parser_init() (copied; NULL =
 * defaults).  q, hello and buf are the caller's and must stay valid and in
 * place while the read runs.  Returns 0, or SNI_EINVAL (NULL q, hello or
 * buf, cap too small, invalid limits).  Calling it again restarts.
 */
SNI_EXTERN int sni_quic_init(sni_quic *q, sni_hello *hello, void *buf,
                             size_t cap, const sni_limits *limits);

/*
 * Feed the next UDP payload the client sent on this connection (a whole
 * datagram, as recvmsg() returns it).  Datagrams arriving out of order,
 * duplicated or retransmitted with a different split are fine.
 *
 * Returns:
 *   SNI_EAGAIN  the hello is not complete yet, including when this
 *               datagram was ignored (see sni_quic_info.last_ignored);
 *   n > 0       the hello is complete: n = the bytes of all datagrams used
 *               (hello->wire_len).  Route with sni_router_match_hello();
 *   0           the hello was already complete before this call;
 *   < 0         a sticky error (SNI_EPROTO, SNI_E2BIG, SNI_ENOSPC, SNI_EOF,
 *               see above): later calls return it without reading;
 *   SNI_EINVAL  NULL q, NULL datagram with len > 0, or a q that
 *               sni_quic_init() never initialised (not sticky).
 * Never reads past datagram + len; never writes the datagram; never
 * allocates; no system call.  One thread at a time per q.
 */
SNI_EXTERN int sni_quic_feed(sni_quic *q, const void *datagram, size_t len);

/* The read state without feeding: SNI_EAGAIN while incomplete, the sticky
 * error, or the wire bytes once complete; SNI_EINVAL for NULL q or one
 * never initialised. */
SNI_EXTERN int sni_quic_status(const sni_quic *q);

/* Fill *out with what the reader saw so far.  Returns 0, or SNI_EINVAL
 * (NULL argument, q never initialised).  Valid at any point, also after an
 * error. */
SNI_EXTERN int sni_quic_get_info(const sni_quic *q, sni_quic_info *out);

/* ==========================================================================
 *  Routing
 * ==========================================================================
 *
 * A router maps a server name (plus the client's ALPN list) to an opaque
 * `void *target` of the caller's.  Its life has two phases:
 *
 *   1. Build: sni_router_create(), then any number of sni_router_add(),
 *      sni_router_add_special() or sni_router_load_map*(), then
 *      sni_router_compile().  Building allocates, through the caller's
 *      sni_allocator if one was given (else malloc/free), and is for one
 *      thread at a time.
 *   2. Frozen: after a successful sni_router_compile() the router is
 *      read-only.  sni_router_match() and sni_router_match_hello() never
 *      allocate, take no lock, make no system call, and are safe from any
 *      number of threads at once, as long as the router was published to
 *      them with a happens-before edge (thread creation, a mutex, or an
 *      sni_router_slot, below) and is not freed while they run.
 *
 * Semantics (nginx `map` with `hostnames`, made exact):
 *
 *  | # | rule                                                               |
 *  |---|--------------------------------------------------------------------|
 *  | 1 | Names and patterns are compared in ASCII lowercase with one        |
 *  |   | trailing dot removed ("WWW.A.com." is "www.a.com").                |
 *  | 2 | Patterns are A-labels: a byte >= 0x80 in a pattern is refused      |
 *  |   | (SNI_EPATTERN, "write IDN names as A-labels (xn--...)").  Bytes    |
 *  |   | allowed: a-z A-Z 0-9 - _ . and '*' as below.  Labels are 1..63     |
 *  |   | bytes, names at most 253 bytes (after the trailing dot is gone).   |
 *  | 3 | `www.a.com`: exactly that name.                                    |
 *  | 4 | `*.a.com`: any name with one or more labels before `a.com`         |
 *  |   | (`x.a.com`, `x.y.a.com`), not `a.com` itself.                      |
 *  | 5 | `.a.com`: `a.com` itself and every name under it.                  |
 *  | 6 | `www.a.*`: tail wildcard, `www.a.` followed by one or more labels  |
 *  |   | (`www.a.com`, `www.a.co.uk`), not `www.a`.                         |
 *  | 7 | `*` stands only as a whole first or last label, never both, never  |
 *  |   | alone: `*a.com`, `a.*.com`, `*`, `*.a.*` are SNI_EPATTERN.         |
 *  | 8 | Order for a name, first hit wins: (a) the exact pattern; (b) the   |
 *  |   | wildcard suffixes from the longest to the shortest, where `*.s`    |
 *  |   | and `.s` at the same suffix s are one level (for the name s itself |
 *  |   | only `.s` applies); (c) the tail wildcards from the longest to the |
 *  |   | shortest; (d) the default route.                                   |
 *  | 9 | ALPN: a route may carry a set of ALPN protocol names.  At each     |
 *  |   | level the client's ALPN list is walked in the client's order and   |
 *  |   | the first protocol that a route of that level names wins; if none  |
 *  |   | does, that level's route without ALPN; if the level has neither,   |
 *  |   | the next level.  E.g. `.a.com alpn=acme-tls/1 -> acme` and         |
 *  |   | `.a.com -> web`: an acme-tls/1 client gets acme, others get web.   |
 *  |10 | no_sni: no server_name, an empty one, an IP literal, or a name     |
 *  |   | that is not a valid host name (SNI_NAME_NOT_HOSTNAME: a byte       |
 *  |   | outside [A-Za-z0-9-_.], an empty label as in `a..b`, a label over  |
 *  |   | 63 bytes, over 253 bytes, an all-digit last label), and SSLv2      |
 *  |   | hellos.  Such names never reach the name patterns.                 |
 *  |11 | not_tls: the parse result was SNI_ENOTTLS.                         |
 *  |12 | default: everything else that matched nothing.  no_sni and not_tls |
 *  |   | fall back to default when they are unset (or when they carry only  |
 *  |   | ALPN-qualified routes and none applies).  Special routes may carry |
 *  |   | ALPN sets too, resolved like any level (rule 9).                   |
 *  |13 | Conflicts are build errors (SNI_ECONFLICT, message names both      |
 *  |   | patterns): two routes of one level without ALPN (the same pattern  |
 *  |   | twice, or `*.s` and `.s` both without ALPN), or one ALPN protocol  |
 *  |   | named by two routes of one level (`.s alpn=h2` twice, or `*.s      |
 *  |   | alpn=h2` and `.s alpn=h2`).  `a.com` with `.a.com` is no conflict: |
 *  |   | the exact route wins for `a.com` (rule 8).                         |
 *
 * Since rule 10 sends an all-digit last label to no_sni, a pattern whose
 * matching names would all end in one (`1.2.3.4`, `*.10`) can never match
 * and is refused with SNI_EPATTERN.
 */

/* Allocation functions for building.  alloc returns memory aligned for any
 * object type, or NULL on failure; free receives the size that was
 * allocated.  Passing NULL for an sni_allocator means malloc/free. */
typedef struct sni_allocator {
  void *(*alloc)(void *ctx, size_t size);
  void  (*free)(void *ctx, void *p, size_t size);
  void *ctx;
} sni_allocator;

typedef struct sni_router sni_router;

/* Which rule produced a match (a positive return of the match functions);
 * DEFAULT, NO_SNI and NOT_TLS also select a special route. */
typedef enum sni_route_kind {
  SNI_ROUTE_EXACT    = 1, /* `www.a.com`                                 */
  SNI_ROUTE_WILDCARD = 2, /* `*.a.com` or `.a.com`                       */
  SNI_ROUTE_TAIL     = 3, /* `www.a.*`                                   */
  SNI_ROUTE_DEFAULT  = 4,
  SNI_ROUTE_NO_SNI   = 5,
  SNI_ROUTE_NOT_TLS  = 6
} sni_route_kind;

/*
 * Create an empty router in the build phase.  a is copied (NULL = malloc
 * and free; then, on Linux, sni_router_compile() places each lookup table
 * of 2 MiB or more on whole 2 MiB-aligned blocks from posix_memalign()
 * and advises them for transparent huge pages (madvise MADV_HUGEPAGE):
 * lookups at a million routes then miss the TLB far less.  A caller's
 * allocator is used as it is, with no advice).  Stores the router in *out and returns 0; SNI_EINVAL for NULL
 * out or an allocator missing alloc or free; SNI_ENOMEM.  The caller owns
 * the router and frees it with sni_router_free().  Thread-safe.
 */
SNI_EXTERN int sni_router_create(sni_router **out, const sni_allocator *a);

/*
 * Add a route: names matching pattern (see the semantics table) go to
 * target.  alpn is NULL (n_alpn 0: a route for any ALPN) or n_alpn
 * NUL-terminated protocol names of 1..255 bytes each, making the route
 * apply only to clients offering one of them.  A protocol listed twice in
 * one call counts once.  pattern and alpn are copied; target is stored as
 * is and never dereferenced (NULL is a valid target).
 *
 * Returns 0; SNI_EPATTERN for an invalid pattern (sni_router_errmsg()
 * names it and the reason); SNI_EINVAL for a NULL r or pattern, a NULL or
 * empty or over-long ALPN name, or a router that is already compiled;
 * SNI_ENOMEM.  Conflicts are found by sni_router_compile().  A failed add
 * leaves the router as it was.
 */
SNI_EXTERN int sni_router_add(sni_router *r, const char *pattern,
                              const char *const *alpn, size_t n_alpn,
                              void *target);

/*
 * Set a special route: which is SNI_ROUTE_DEFAULT, SNI_ROUTE_NO_SNI or
 * SNI_ROUTE_NOT_TLS; alpn, n_alpn and target as for sni_router_add().  A
 * special route may be set several times with disjoint ALPN sets (and at
 * most once without).  Returns 0, SNI_EINVAL (bad which, arguments as for
 * sni_router_add()), SNI_ENOMEM.
 */
SNI_EXTERN int sni_router_add_special(sni_router *r, sni_route_kind which,
                                      const char *const *alpn, size_t n_alpn,
                                      void *target);

/*
 * Map files.  One route per line:
 *
 *     PATTERN  TARGET  [alpn=PROTO,PROTO,...]     # comment
 *
 * Fields are separated by spaces or tabs; `#` at the start of a field
 * starts a comment up to the end of the line; blank lines are skipped;
 * "\r\n" line ends are accepted.  PATTERN is a name pattern or one of the
 * words `default`, `no_sni`, `not_tls` (to route the host name "default",
 * write `default.`).  TARGET is any run of non-blank bytes except NUL (a
 * NUL byte in TARGET is SNI_EINVAL: it would cut the string short).  Line
 * numbers count '\n'; a last line without one is read like the others.
 *
 * resolve turns TARGET into the caller's target: it receives ctx, the
 * TARGET bytes (NUL-terminated, valid during the call only), their length
 * and the 1-based line number, stores a target in *out and returns 0, or
 * returns a negative SNI_E* code that aborts the load.  With resolve NULL
 * the target is a `const char *` copy of TARGET owned by the router (valid
 * until sni_router_free()).
 *
 * Returns the number of routes added (>= 0); on error a negative code
 * (SNI_EPATTERN, SNI_EINVAL for a malformed line, resolve's code,
 * SNI_ENOMEM), with sni_router_errmsg() naming the line and the reason.
 * Routes of lines before the bad one stay added.  Conflicts between lines
 * are reported by sni_router_compile(), also with line numbers.
 */
typedef int (*sni_map_resolve_fn)(void *ctx, const char *target, size_t len,
                                  unsigned line, void **out);

/* Load len bytes of map-file text (need not be NUL-terminated: nothing at
 * or after text + len is read, error messages included; len 0 adds
 * nothing and returns 0).  resolve must not call build functions on r. */
SNI_EXTERN int sni_router_load_map(sni_router *r, const char *text,
                                   size_t len, sni_map_resolve_fn resolve,
                                   void *ctx);
/* Read the file at path with stdio and load it; SNI_ESYS (errno set) when
 * it cannot be read. */
SNI_EXTERN int sni_router_load_map_file(sni_router *r, const char *path,
                                        sni_map_resolve_fn resolve,
                                        void *ctx);

/*
 * Freeze the router: build the lookup tables and release the build data.
 * Returns 0; SNI_ECONFLICT (sni_router_errmsg() names both routes and
 * their lines), SNI_ENOMEM, SNI_EINVAL (NULL r, already compiled).  After
 * a failure the router can only be freed.
 */
SNI_EXTERN int sni_router_compile(sni_router *r);

/*
 * Detail of the last failure of a build function on r: pattern, line and
 * reason, e.g. "line 3: pattern 'a.*.com': '*' may stand only as a whole
 * first or last label".  Never NULL ("" when none, or r is NULL); valid
 * until the next build call on r.  Not for use during concurrent builds.
 */
SNI_EXTERN const char *sni_router_errmsg(const sni_router *r);

/*
 * Route a bare server name.  name: len bytes as a client would send them
 * (any case, optional trailing dot; NULL with len 0, or len 0, means "no
 * server_name").  alpn: the client's ALPN list packed as on the wire (a
 * length byte, then that many bytes, repeated: the format of
 * sni_hello.alpn), alpn_len bytes, NULL/0 for none.
 *
 * Stores the target in *target and returns the sni_route_kind that
 * matched (> 0).  Returns SNI_ENOENT (and stores NULL) when nothing
 * matched and no default applies; SNI_EINVAL for NULL r or target, a
 * router not compiled, NULL name with len > 0, or a malformed ALPN list.
 * Never allocates, no lock, no system call; thread-safe on a compiled
 * router.  Cost grows with the number of labels of name, not with the
 * number of routes.
 */
SNI_EXTERN int sni_router_match(const sni_router *r, const char *name,
                                size_t len, const uint8_t *alpn,
                                size_t alpn_len, void **target);

/*
 * Route a parsed ClientHello.  parse_result is what sni_parse() (or
 * sni_parser_feed()/sni_parser_status()) returned for h: >= 0 means h is a
 * complete hello and is routed by its server name (h->sni_normalized,
 * h->name_flags) and ALPN list (rules 1-12); SNI_ENOTTLS selects not_tls;
 * SNI_ESSLV2 (or h->sslv2) selects no_sni.  Other errors (SNI_EAGAIN,
 * SNI_EPROTO, SNI_E2BIG, ...) are returned unchanged with *target NULL:
 * the caller decides what a broken hello deserves.  h may be NULL when
 * parse_result is SNI_ENOTTLS.  h is read only within its arrays: an
 * h->alpn_len over SNI_CAP_ALPN_BYTES or a malformed h->alpn is
 * SNI_EINVAL.  The name is taken as the parser wrote it, not checked
 * again: h->name_flags with SNI_NAME_NOT_HOSTNAME or SNI_NAME_IP_LITERAL
 * set routes as no_sni, and h->sni_normalized is looked up byte for byte
 * (a hand-built hello with an uppercase or trailing-dot name matches no
 * pattern, as patterns are lowercase; use sni_router_match() for a name
 * that is not the parser's).  An h->sni_normalized_len of 0 or over 253
 * (the longest host name, without the trailing dot) routes as no_sni.
 * Returns as sni_router_match().  Never allocates, no lock, no system
 * call; thread-safe on a compiled router.
 */
SNI_EXTERN int sni_router_match_hello(const sni_router *r, const sni_hello *h,
                                      int parse_result, void **target);

/* Sizes of a compiled router. */
typedef struct sni_router_stats {
  size_t routes;      /* routes added, special ones included            */
  size_t entries;     /* distinct (kind, name) entries in the table     */
  size_t bytes;       /* memory held by the compiled router             */
  size_t name_bytes;  /* of which name bytes (each stored once)          */
} sni_router_stats;

/* Fill *st.  Returns 0, or SNI_EINVAL for NULL arguments or a router not
 * compiled.  Thread-safe on a compiled router. */
SNI_EXTERN int sni_router_get_stats(const sni_router *r, sni_router_stats *st);

/* Free r and everything it owns (NULL is fine).  Targets are the caller's
 * and are not touched, except target strings made by the map loader.  No
 * reader may be using r. */
SNI_EXTERN void sni_router_free(sni_router *r);

/* --------------------------------------------------------------------------
 *  Swapping routers at run time
 * --------------------------------------------------------------------------
 *
 * An sni_router_slot holds the current router.  Reader threads bracket
 * each use with sni_router_slot_enter() / sni_router_slot_exit(); a writer
 * installs a new router with sni_router_slot_swap(), which returns the old
 * one only after every reader that could have obtained it has exited, so
 * the writer can then free it.  Nothing is freed under a reader.
 *
 * How: readers never lock.  enter reads the slot's epoch parity p,
 * increments reader counter [p] (one of several cache-line sized stripes,
 * picked from the guard's address so threads rarely share a line) and then
 * loads the router pointer; exit decrements the same counter.  swap
 * exchanges the pointer, waits until the counters of the other parity
 * drain, flips the parity so new readers count elsewhere, and waits until
 * the counters of the old parity drain.  A reader that loaded the old
 * pointer incremented its counter before that load, so it is waited for;
 * a reader that increments after the writer looked will load the new
 * pointer.  Readers cannot starve the writer: after the flip no new
 * reader uses the parity being drained.  All operations are sequentially
 * consistent C11 atomics.
 *
 *     // reader thread, per connection
 *     sni_router_guard g;
 *     const sni_router *rt = sni_router_slot_enter(slot, &g);
 *     void *t = NULL;
 *     sni_router_match_hello(rt, &hello, rc, &t);
 *     ... use t (see below) ...
 *     sni_router_slot_exit(slot, &g);
 *
 *     // writer thread, on reload
 *     sni_router *fresh, *old;
 *     ... build and compile fresh ...
 *     sni_router_slot_swap(slot, fresh, &old);   // waits for readers
 *     sni_router_free(old);
 *
 * Targets belong to the caller.  If they live only as long as the router
 * that names them (as the map loader's strings do), use them before
 * sni_router_slot_exit() or keep your own reference counts.
 */
typedef struct sni_router_slot sni_router_slot;

/* A reader's ticket, on the reader's stack.  Fields are private. */
typedef struct sni_router_guard {
  const sni_router *router; /* what enter returned                      */
  unsigned sni_private_;
} sni_router_guard;

/*
 * Create a slot holding initial (a compiled router, or NULL).  a as for
 * sni_router_create().  Returns 0, SNI_EINVAL (NULL out, bad allocator, an
 * uncompiled router), SNI_ENOMEM.  The slot does not own the routers.
 */
SNI_EXTERN int sni_router_slot_create(sni_router_slot **out,
                                      sni_router *initial,
                                      const sni_allocator *a);

/*
 * Enter a read-side section and return the current router (NULL if the
 * slot holds none); it stays valid until sni_router_slot_exit() with the
 * same guard.  Lock-free (two atomic increments/loads), never allocates,
 * no system call.  Sections may not nest on the same guard; a thread may
 * hold several guards.  Any number of threads may call this at once.
 * s and g must not be NULL: not checked (there is no error return, and
 * this is on every lookup's path).
 */
SNI_EXTERN const sni_router *sni_router_slot_enter(sni_router_slot *s,
                                                   sni_router_guard *g);

/* Leave the section begun by sni_router_slot_enter() with g.  The router
 * may be freed by a writer afterwards.  Lock-free, thread-safe.  Not
 * checked: g must be the guard of an unfinished enter on this s (a guard
 * never entered, or exited twice, breaks the reader counts and a later
 * swap may wait forever); s and g must not be NULL. */
SNI_EXTERN void sni_router_slot_exit(sni_router_slot *s, sni_router_guard *g);

/*
 * Install next (a compiled router, or NULL) and wait until no reader can
 * still be using the previous router, which is then stored in *old (may be
 * NULL; the caller frees it).  Concurrent swaps on one slot are serialised
 * (a writer may spin/yield, readers never do).  Must not be called from
 * inside a read-side section of the same slot (it would wait for itself).
 * Returns 0, or SNI_EINVAL (NULL s or old, next not compiled).
 */
SNI_EXTERN int sni_router_slot_swap(sni_router_slot *s, sni_router *next,
                                    sni_router **old);

/* Free the slot (NULL is fine); no reader or writer may be using it.  The
 * router it holds is not freed: fetch it first with a swap to NULL. */
SNI_EXTERN void sni_router_slot_free(sni_router_slot *s);

/* ==========================================================================
 *  Peeking at a socket (POSIX)
 * ==========================================================================
 *
 * sni_peek() looks at the ClientHello waiting on a connected stream socket
 * without consuming a byte: it copies the socket's receive queue with
 * recv(MSG_PEEK) into the caller's buffer and parses that copy.  Whatever it
 * answers, the socket still starts with the client's first byte, so it can
 * be spliced, handed to another process (SCM_RIGHTS), or given to a TLS
 * library untouched.  These functions live in their own file (lib/peek.c);
 * the parser itself makes no system calls.
 *
 * Buffer size.  A ClientHello carried in many small records occupies more
 * wire bytes than its handshake length (5 bytes of header per record); a
 * cap of 16 KiB fits every real client.  What the default limits accept
 * can take up to 6 x SNI_DEFAULT_MAX_HELLO = 96 KiB (a 16 KiB hello in
 * one-byte records).  The peek can never see more than the kernel queues
 * for the socket unread, and TCP's receive buffer does not grow while
 * nothing is read (autotuning follows the reads; the start size is
 * tcp_rmem's default, 128 KiB of buffer on Linux): a server that must
 * accept such hellos reads them instead once a peek holds some KiB
 * without completing, e.g. with sni_parser_feed() (sniroute-proxy does
 * this beyond 16 KiB, docs/proxy.md).
 *
 * The level-triggered epoll trap.  Peeked bytes stay in the receive queue,
 * so a level-triggered epoll (or poll/select) reports the socket readable
 * again at once: a loop that peeks, finds the hello incomplete and waits
 * again spins at 100 % CPU until the rest arrives.  Avoid it by one of:
 *   - edge-triggered epoll (EPOLLET): a new event comes only when new bytes
 *     arrive; peek again on each;
 *   - EPOLLONESHOT, re-armed after an incomplete peek: same effect;
 *   - SO_RCVLOWAT set to peeked + need (see sni_peek_ex()): poll and epoll
 *     on Linux TCP then report readable only once that many bytes are
 *     queued (or on EOF), which also saves wake-ups for a hello trickling
 *     in; set it back to 1 before relaying data;
 *   - sni_peek_wait() for a blocking server, which does the latter.
 * A hello is re-parsed from its first byte on every peek; that costs about
 * as much as copying it, and stays bounded because new bytes must arrive
 * between two peeks.
 *
 * End of stream.  When the peer sends part of a hello and then shuts down
 * its side, recv(MSG_PEEK) keeps returning those bytes and never 0.
 * sni_peek() therefore checks for a pending end of stream (poll with
 * POLLRDHUP on Linux, one extra system call) whenever part of a hello is
 * queued, and reports SNI_EOF.  (With nothing queued, recv() itself
 * reports the end.)  Systems without POLLRDHUP report SNI_EAGAIN until
 * the caller's own deadline.
 */

/*
 * Peek at the ClientHello on fd without consuming it.
 *
 *   fd    a connected stream socket (blocking or not: the peek never
 *         blocks, it uses MSG_DONTWAIT).
 *   buf   cap bytes owned by the caller, used as scratch space; on return
 *         it holds the peeked copy of the queue (the hello starts at buf).
 *         One buffer may serve many sockets in turn: nothing refers to it
 *         after the call.
 *   out   receives the parse, as sni_parse() (always overwritten).
 *
 * Returns, like sni_parse():
 *   n > 0        the hello is complete and occupies the first n bytes of
 *                the stream (all its records);
 *   SNI_EAGAIN   the queued bytes (possibly none yet) are a valid prefix:
 *                wait for more (see the epoll trap above);
 *   SNI_ENOTTLS, SNI_ESSLV2, SNI_EPROTO, SNI_E2BIG  from the parser;
 * and in addition:
 *   SNI_ENOSPC   cap bytes were peeked and the hello is still incomplete;
 *   SNI_EOF      the peer closed (or half-closed) before a full hello;
 *   SNI_ESYS     recv() or poll() failed; errno holds the reason (EBADF,
 *                ENOTSOCK, ECONNRESET...).  EINTR is retried inside;
 *   SNI_EINVAL   NULL buf or out, or cap == 0.
 * Thread-safe (distinct buf and out per concurrent call).
 */
SNI_EXTERN int sni_peek(int fd, void *buf, size_t cap, sni_hello *out);

/*
 * sni_peek() with explicit parser limits (NULL = defaults) and two optional
 * outputs, either of which may be NULL:
 *   *peeked  bytes copied into buf by this peek;
 *   *need    when the result is SNI_EAGAIN, a lower bound (>= 1) on the
 *            bytes that must still arrive before the parse can finish; 0
 *            otherwise.  Setting SO_RCVLOWAT to *peeked + *need makes the
 *            next readiness event mean "worth peeking again".
 * A caller that only routes (sni_router_match_hello()) passes limits with
 * flags = SNI_PARSE_ROUTING_ONLY: the peek then validates the hello the
 * same way and gives the same result, but fills out only as described at
 * SNI_PARSE_ROUTING_ONLY, which is cheaper.  sni_peek() and
 * sni_peek_wait() parse fully.
 * Returns as sni_peek(), plus SNI_EINVAL for invalid limits.  Thread-safe.
 */
SNI_EXTERN int sni_peek_ex(int fd, void *buf, size_t cap, sni_hello *out,
                           const sni_limits *limits, size_t *peeked,
                           size_t *need);

/*
 * For blocking servers: peek until the hello is complete, the stream
 * fails, or timeout_ms milliseconds have passed (< 0: no limit, 0: a
 * single peek).  Waits in poll() without spinning: while the hello is
 * incomplete it sets SO_RCVLOWAT to the bytes still needed and restores
 * the socket's previous value before returning; where SO_RCVLOWAT does not
 * affect poll() (non-TCP sockets), it backs off from 1 ms up to 50 ms
 * between peeks that found nothing new.  fd may be blocking or not; it is
 * never read from.
 *
 * Returns as sni_peek(), except that SNI_EAGAIN is never returned: a hello
 * still incomplete at the deadline gives SNI_ETIMEDOUT.  If a signal
 * interrupts the wait the wait continues (the deadline holds).  Thread-safe
 * for distinct fds; do not run two waits on the same fd at once (they
 * would share its SO_RCVLOWAT).
 */
SNI_EXTERN int sni_peek_wait(int fd, void *buf, size_t cap, sni_hello *out,
                             int timeout_ms);

/* ==========================================================================
 *  Handing connections to another process (POSIX)
 * ==========================================================================
 *
 * A dispatcher that owns a shared port (443) can peek at each connection,
 * route it, and pass the accepted socket itself to the local server
 * process registered for the route.  The server then owns a plain TCP
 * socket: getpeername() gives the client's real address, the ClientHello
 * is still the first thing to read, and no byte is relayed, so there is
 * neither a second hop nor PROXY-protocol plumbing.
 *
 * Protocol, over a Unix SOCK_SEQPACKET socket (message boundaries kept):
 *
 *   server -> dispatcher  once, first:  'R' "SNH1" NAME  (registration)
 *   dispatcher -> server  per connection: 'H' MSG, with exactly one
 *                         descriptor attached (SCM_RIGHTS)
 *
 * NAME (1..SNI_HANDOFF_MAX_NAME bytes) says which route the server takes;
 * MSG (0..SNI_HANDOFF_MAX_MSG bytes) is the dispatcher's, e.g. the server
 * name it routed by.  A server may register for several names on several
 * channels, several servers may register one name; what a dispatcher does
 * with that is its policy.  End of a channel = end of the registration.
 *
 * Delivery.  Once sni_handoff_send() returns 0 the descriptor is queued in
 * the channel; the sender still owns its own copy and normally closes it.
 * If the receiving process dies before it receives a queued descriptor,
 * the kernel closes it, and the client sees its connection reset: a clean
 * failure, never a hang.  A sender that must not lose connections across
 * server restarts keeps them until a live channel takes them (see
 * examples/dispatch.c).
 *
 * All descriptors these functions create are close-on-exec; SIGPIPE is
 * never raised (MSG_NOSIGNAL; on systems without it, ignore SIGPIPE).
 * Linux and the BSDs; not macOS (no SOCK_SEQPACKET for Unix sockets).
 */
#define SNI_HANDOFF_MAX_NAME 255
#define SNI_HANDOFF_MAX_MSG 1024

/*
 * Dispatcher: create the listening channel socket at path (backlog <= 0:
 * 16).  A socket file left by a dead process is replaced; one that a live
 * process answers is not (SNI_ESYS, errno EADDRINUSE; the live process
 * sees that probe as a connection that ends without registering).  Returns the
 * listening descriptor (>= 0), SNI_EINVAL (NULL or too long a path),
 * SNI_ESYS.  The caller unlinks path when done.
 */
SNI_EXTERN int sni_handoff_listen(const char *path, int backlog);

/*
 * Dispatcher: accept one server on listener and read its registration,
 * waiting at most timeout_ms for it (< 0: no limit).  Stores the name,
 * NUL-terminated, in name (cap bytes) and returns the channel descriptor
 * (>= 0) to pass connections on with sni_handoff_send().  Errors (the
 * accepted socket is closed): SNI_ETIMEDOUT, SNI_EOF (closed without
 * registering), SNI_EBADMSG (not a registration), SNI_ENOSPC (name does
 * not fit), SNI_ESYS, SNI_EINVAL (NULL name, cap 0).  Blocks in accept()
 * unless listener is non-blocking (then SNI_ESYS, errno EAGAIN).
 */
SNI_EXTERN int sni_handoff_accept(int listener, char *name, size_t cap,
                                  int timeout_ms);

/*
 * Server: connect to the dispatcher at path and register for name (a
 * NUL-terminated string of 1..SNI_HANDOFF_MAX_NAME bytes).  Returns the
 * channel descriptor (>= 0) to call sni_handoff_recv() on; SNI_EINVAL,
 * SNI_ESYS (errno ENOENT or ECONNREFUSED: no dispatcher there yet).
 * A dispatcher that does not know name may close the channel: the next
 * sni_handoff_recv() then returns SNI_EOF.
 */
SNI_EXTERN int sni_handoff_register(const char *path, const char *name);

/*
 * Dispatcher: pass fd (any descriptor, normally an accepted TCP socket
 * with its ClientHello still unread) with len bytes of msg over channel.
 * Returns 0; SNI_EAGAIN when channel is non-blocking and its queue is full
 * (the server is behind; nothing was sent); SNI_ESYS (errno EPIPE or
 * ECONNRESET: the server is gone); SNI_EINVAL (fd < 0, NULL msg with
 * len > 0, len > SNI_HANDOFF_MAX_MSG).  The caller keeps its fd.
 * Never allocates.  Thread-safe; concurrent sends on one channel are
 * delivered whole, in some order.
 */
SNI_EXTERN int sni_handoff_send(int channel, int fd, const void *msg,
                                size_t len);

/*
 * Server: receive the next connection from channel.  Stores its descriptor
 * (close-on-exec, owned by the caller from now on) in *fd and up to cap
 * bytes of the dispatcher's message in msg (not NUL-terminated), and
 * returns the message length (>= 0).  On error *fd is -1 and any
 * descriptor that came with the message is closed: SNI_EOF (the
 * dispatcher closed the channel: register again), SNI_ENOSPC (the message
 * was longer than cap; that connection is lost, so give
 * SNI_HANDOFF_MAX_MSG), SNI_EBADMSG (not exactly one descriptor),
 * SNI_EAGAIN (non-blocking channel, nothing queued), SNI_ESYS (errno EMFILE
 * when the kernel had to drop the descriptor at our fd limit), SNI_EINVAL
 * (NULL fd, NULL msg with cap > 0).  Never allocates.
 */
SNI_EXTERN int sni_handoff_recv(int channel, int *fd, void *msg, size_t cap);

#ifdef __cplusplus
}
#endif
#endif /* SNIROUTE_H */
