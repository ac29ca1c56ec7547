/*
 * Internal, included by lib/hs_engine.c only.
 *
 * The ClientHello, written down once: every part the parser reads and
 * every extension it interprets, as tables the engine (lib/hs_engine.c)
 * walks.  Read each schema as the RFC's presentation language; the
 * comment above it quotes the structure.  What a length cannot express is
 * a rule (SR_*), enforced in lib/hs_engine.c and documented in
 * include/sniroute.h ("Strictness").
 */
#ifndef SNI_HS_SCHEMA_H
#define SNI_HS_SCHEMA_H

#include "hs_int.h"

/* The tables are static and visible to the engine's compiler: it walks
 * them with a switch over the element index whose every case is the one
 * generic element step with a constant descriptor, so the compiler folds
 * each element's widths, bounds and rule into straight code.  The table
 * stays the only description of the format. */

/* Element constructors.  VEC(pre, width, min, max, item, flags, body, arg,
 * rule): a vector with `pre` leading bytes and a `width`-byte length. */
#define VEC(pre, w, lo, hi, it, fl, b, a, r) \
  {SK_VEC, (pre), (w), (it), (fl), (b), (a), (r), 0, (lo), (hi)}
#define FIXED(w, r) {SK_FIXED, 0, (w), 1, 0, SB_NONE, 0, (r), 0, 0, 0}
#define END(r) {SK_END, 0, 0, 1, 0, SB_NONE, 0, (r), 0, 0, 0}
/* The end of an entry of a list: the walk starts the entry schema `s`
 * over while the list has bytes left. */
#define END_ENTRY(s) \
  {SK_END, 0, 0, 1, SF_REPEAT, SB_NONE, (s), SR_NONE, 0, 0, 0}
#define U8_MAX 0xffu
#define U16_MAX 0xffffu
#define U24_MAX 0xffffffu

/* Start of each schema in the flat array below (kept next to it). */
static const uint8_t sni_hs_schema_start[SS_COUNT] = {
    [SS_MESSAGE] = 0,        [SS_HELLO] = 2,           [SS_EXTENSION] = 9,
    [SS_OPAQUE] = 11,        [SS_EMPTY] = 13,          [SS_SNI] = 14,
    [SS_SNI_ENTRY] = 16,     [SS_ALPN] = 18,           [SS_ALPN_NAME] = 20,
    [SS_GROUPS] = 22,        [SS_POINT_FORMATS] = 24,  [SS_SIGALGS] = 26,
    [SS_DC_SIGALGS] = 28,    [SS_SIGALGS_CERT] = 30,   [SS_VERSIONS] = 32,
    [SS_KEY_SHARE] = 34,     [SS_KEY_SHARE_ENTRY] = 36, [SS_PSK] = 38,
    [SS_PSK_IDENTITY] = 41,  [SS_PSK_BINDER] = 43,     [SS_ECH] = 45,
};

static const sni_hs_elem sni_hs_schema[] = {
    /* [0] SS_MESSAGE (RFC 8446 4): HandshakeType msg_type = client_hello(1);
     * uint24 length; body.  The type is refused from its first byte; the
     * length limits are SR_MSG_HDR's (E2BIG before EPROTO). */
    {SK_VEC, 1, 3, 1, SF_LEAD, SB_SEQ, SS_HELLO, SR_MSG_HDR, 1, 0, U24_MAX},
    END(SR_NONE),

    /* [2] SS_HELLO (RFC 8446 4.1.2):
     *   ProtocolVersion legacy_version;            major 3, refused early
     *   Random random;                             32 bytes
     *   opaque legacy_session_id<0..32>;
     *   CipherSuite cipher_suites<2..2^16-2>;
     *   opaque legacy_compression_methods<1..2^8-1>;
     *   Extension extensions<8..2^16-1>;           may be absent (pre-1.2),
     *                                              else fills the message */
    {SK_FIXED, 0, 2, 1, SF_LEAD, SB_NONE, 0, SR_LEGACY_VERSION, 3, 0, 0},
    VEC(0, 0, 32, 32, 1, 0, SB_COPY, SC_RANDOM, SR_NONE),
    VEC(0, 1, 0, 32, 1, 0, SB_SKIP, 0, SR_SESSION_ID),
    VEC(0, 2, 2, U16_MAX, 2, 0, SB_LIST16, SL_CIPHERS, SR_NONE),
    VEC(0, 1, 1, U8_MAX, 1, 0, SB_LIST8, SL_COMPRESSION, SR_NONE),
    VEC(0, 2, 0, U16_MAX, 1, SF_FILL | SF_OPT, SB_REPEAT, SS_EXTENSION,
        SR_NONE),
    END(SR_HELLO_END),

    /* [9] SS_EXTENSION (RFC 8446 4.2): ExtensionType extension_type;
     * opaque extension_data<0..2^16-1>; the body schema comes from
     * sni_hs_ext_rules (SR_EXTENSION), SS_OPAQUE for the others. */
    VEC(2, 2, 0, U16_MAX, 1, 0, SB_SEQ, SS_OPAQUE, SR_EXTENSION),
    END_ENTRY(SS_EXTENSION),

    /* [11] SS_OPAQUE: the whole body, uninterpreted (a fixed-size vector
     * with SF_FILL is the rest of its frame). */
    VEC(0, 0, 0, U16_MAX, 1, SF_FILL, SB_SKIP, 0, SR_NONE),
    END(SR_NONE),

    /* [13] SS_EMPTY: no body at all (early_data in a ClientHello). */
    END(SR_NONE),

    /* [14] SS_SNI (RFC 6066 3): ServerName server_name_list<1..2^16-1>;
     * an empty list is only legal in the server's reply. */
    VEC(0, 2, 1, U16_MAX, 1, SF_FILL, SB_REPEAT, SS_SNI_ENTRY, SR_NONE),
    END(SR_SNI_END),
    /* [16] SS_SNI_ENTRY: NameType name_type; opaque HostName<1..2^16-1>.
     * Unknown name types are skipped, framed like host_name as every
     * implementation does; one host_name of 1..255 bytes (SR_SNI_NAME). */
    VEC(1, 2, 0, U16_MAX, 1, 0, SB_SKIP, 0, SR_SNI_NAME),
    END_ENTRY(SS_SNI_ENTRY),

    /* [18] SS_ALPN (RFC 7301 3.1):
     * ProtocolName protocol_name_list<2..2^16-1>;
     * [20] opaque ProtocolName<1..2^8-1> (no empty names). */
    VEC(0, 2, 2, U16_MAX, 1, SF_FILL, SB_REPEAT, SS_ALPN_NAME, SR_NONE),
    END(SR_NONE),
    VEC(0, 1, 1, U8_MAX, 1, 0, SB_COPY, SC_ALPN, SR_ALPN_NAME),
    END_ENTRY(SS_ALPN_NAME),

    /* [22] SS_GROUPS (RFC 8446 4.2.7):
     * NamedGroup named_group_list<2..2^16-1> */
    VEC(0, 2, 2, U16_MAX, 2, SF_FILL, SB_LIST16, SL_GROUPS, SR_NONE),
    END(SR_NONE),
    /* [24] SS_POINT_FORMATS (RFC 8422 5.1.2):
     * ECPointFormat ec_point_format_list<1..2^8-1> */
    VEC(0, 1, 1, U8_MAX, 1, SF_FILL, SB_LIST8, SL_POINT_FORMATS, SR_NONE),
    END(SR_NONE),
    /* [26] SS_SIGALGS (RFC 8446 4.2.3):
     * SignatureScheme supported_signature_algorithms<2..2^16-2> */
    VEC(0, 2, 2, U16_MAX, 2, SF_FILL, SB_LIST16, SL_SIGALGS, SR_NONE),
    END(SR_NONE),
    /* [28] SS_DC_SIGALGS (RFC 9345 4.1.1): the same shape. */
    VEC(0, 2, 2, U16_MAX, 2, SF_FILL, SB_LIST16, SL_DC_SIGALGS, SR_NONE),
    END(SR_NONE),
    /* [30] SS_SIGALGS_CERT (RFC 8446 4.2.3): the same shape. */
    VEC(0, 2, 2, U16_MAX, 2, SF_FILL, SB_LIST16, SL_SIGALGS_CERT, SR_NONE),
    END(SR_NONE),
    /* [32] SS_VERSIONS (RFC 8446 4.2.1):
     * ProtocolVersion versions<2..254> */
    VEC(0, 1, 2, 254, 2, SF_FILL, SB_LIST16, SL_VERSIONS, SR_NONE),
    END(SR_NONE),

    /* [34] SS_KEY_SHARE (RFC 8446 4.2.8):
     * KeyShareEntry client_shares<0..2^16-1>; empty asks for an HRR.
     * [36] KeyShareEntry: NamedGroup group; opaque key_exchange<1..2^16-1> */
    VEC(0, 2, 0, U16_MAX, 1, SF_FILL, SB_REPEAT, SS_KEY_SHARE_ENTRY, SR_NONE),
    END(SR_NONE),
    VEC(2, 2, 1, U16_MAX, 1, 0, SB_SKIP, 0, SR_KEY_SHARE),
    END_ENTRY(SS_KEY_SHARE_ENTRY),

    /* [38] SS_PSK (RFC 8446 4.2.11): OfferedPsks:
     *   PskIdentity identities<7..2^16-1>;
     *   PskBinderEntry binders<33..2^16-1>; */
    VEC(0, 2, 7, U16_MAX, 1, 0, SB_REPEAT, SS_PSK_IDENTITY, SR_NONE),
    VEC(0, 2, 33, U16_MAX, 1, SF_FILL, SB_REPEAT, SS_PSK_BINDER, SR_NONE),
    END(SR_NONE),
    /* [41] PskIdentity: opaque identity<1..2^16-1>;
     * uint32 obfuscated_ticket_age (SR_PSK_IDENTITY adds it). */
    VEC(0, 2, 1, U16_MAX, 1, 0, SB_SKIP, 0, SR_PSK_IDENTITY),
    END_ENTRY(SS_PSK_IDENTITY),
    /* [43] opaque PskBinderEntry<32..255>; */
    VEC(0, 1, 32, U8_MAX, 1, 0, SB_SKIP, 0, SR_PSK_BINDER),
    END_ENTRY(SS_PSK_BINDER),

    /* [45] SS_ECH (draft-ietf-tls-esni 5): ECHClientHelloType type;
     * select (type) { outer(0): HpkeSymmetricCipherSuite cipher_suite;
     * uint8 config_id; opaque enc<0..2^16-1>; opaque payload<1..2^16-1>;
     * inner(1): Empty; } -- SR_ECH_TYPE ends the body after an inner type. */
    FIXED(1, SR_ECH_TYPE),
    FIXED(5, SR_ECH_OUTER),
    VEC(0, 2, 0, U16_MAX, 1, 0, SB_SKIP, 0, SR_ECH_ENC),
    VEC(0, 2, 1, U16_MAX, 1, SF_FILL, SB_SKIP, 0, SR_ECH_PAYLOAD),
    END(SR_NONE),
};

/* The start table above is maintained by hand next to the array: these
 * checks catch an index that drifted. */
#define SNI_SCHEMA_LEN (sizeof sni_hs_schema / sizeof sni_hs_schema[0])
_Static_assert(SNI_SCHEMA_LEN == 50, "update sni_hs_schema_start");
_Static_assert(SNI_SCHEMA_LEN < SNI_HS_DONE, "element index fits a uint8_t");

#define LIST(arr, n, capv, bit, g, r)                                     \
  {(uint16_t)offsetof(sni_hello, arr), (uint16_t)offsetof(sni_hello, n), \
   (uint16_t)(capv), (uint16_t)(bit), (g), (r)}

/* Where each list goes; `grease` says whether GREASE there sets
 * sni_hello.grease, `routing` whether routing-only mode fills it. */
static const sni_list_desc sni_hs_lists[SL_COUNT] = {
    [SL_CIPHERS] = LIST(cipher_suites, n_ciphers, SNI_CAP_CIPHERS,
                        SNI_TRUNC_CIPHERS, 1, 0),
    [SL_GROUPS] = LIST(groups, n_groups, SNI_CAP_GROUPS, SNI_TRUNC_GROUPS, 1,
                       0),
    [SL_SIGALGS] = LIST(sigalgs, n_sigalgs, SNI_CAP_SIGALGS, SNI_TRUNC_SIGALGS,
                        0, 0),
    [SL_SIGALGS_CERT] = LIST(sigalgs_cert, n_sigalgs_cert, SNI_CAP_SIGALGS_CERT,
                             SNI_TRUNC_SIGALGS_CERT, 0, 0),
    [SL_DC_SIGALGS] = LIST(dc_sigalgs, n_dc_sigalgs, SNI_CAP_DC_SIGALGS,
                           SNI_TRUNC_DC_SIGALGS, 0, 0),
    [SL_VERSIONS] = LIST(versions, n_versions, SNI_CAP_VERSIONS,
                         SNI_TRUNC_VERSIONS, 1, 1),
    [SL_POINT_FORMATS] = LIST(point_formats, n_point_formats,
                              SNI_CAP_POINT_FORMATS, SNI_TRUNC_POINT_FORMATS,
                              0, 0),
    [SL_COMPRESSION] = LIST(compression, n_compression, SNI_CAP_COMPRESSION,
                            SNI_TRUNC_COMPRESSION, 0, 0),
};

/* EXT(type, schema, duplicate bit, SX_* flags, presence flag or 0). */
#define EXT(t, s, b, fl, pres) \
  [SNI_HS_EXT_SLOT(t)] = {(t), (s), (b), (fl), (pres)}
#define PRESENT(f) ((uint16_t)offsetof(sni_hello, f))

static const sni_ext_rule sni_hs_ext_rules[SNI_HS_EXT_SLOTS] = {
    EXT(SNI_EXT_SERVER_NAME, SS_SNI, 0, 0, 0),
    EXT(SNI_EXT_SUPPORTED_GROUPS, SS_GROUPS, 1, 0, 0),
    EXT(SNI_EXT_EC_POINT_FORMATS, SS_POINT_FORMATS, 2, 0, 0),
    EXT(SNI_EXT_SIGNATURE_ALGORITHMS, SS_SIGALGS, 3, 0, 0),
    EXT(SNI_EXT_ALPN, SS_ALPN, 4, 0, 0),
    EXT(SNI_EXT_DELEGATED_CREDENTIALS, SS_DC_SIGALGS, 5, 0, 0),
    EXT(SNI_EXT_SESSION_TICKET, SS_OPAQUE, 6, SX_KEEP_LEN,
        PRESENT(session_ticket)),
    EXT(SNI_EXT_PRE_SHARED_KEY, SS_PSK, 7, SX_LAST, PRESENT(psk)),
    EXT(SNI_EXT_EARLY_DATA, SS_EMPTY, 8, SX_EMPTY, PRESENT(early_data)),
    EXT(SNI_EXT_SUPPORTED_VERSIONS, SS_VERSIONS, 9, 0, 0),
    EXT(SNI_EXT_SIGNATURE_ALGORITHMS_CERT, SS_SIGALGS_CERT, 10, 0, 0),
    EXT(SNI_EXT_KEY_SHARE, SS_KEY_SHARE, 11, 0, 0),
    EXT(SNI_EXT_ENCRYPTED_CLIENT_HELLO, SS_ECH, 12, 0, PRESENT(ech)),
};

#endif
