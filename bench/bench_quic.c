/*
 * sniroute-bench-quic: the QUIC Initial reader per Initial and per
 * connection, next to an in-run baseline: OpenSSL's EVP AES-128-GCM
 * decryption of the same packets (key schedule done outside the timing,
 * as a server that knows the keys would have it).
 *
 * Initials measured: RFC 9001 A.2 (v1), RFC 9369 A.2 (v2), and the two
 * datagrams of our Chromium capture (tests/vectors/063-chromium-quic,
 * 1250 bytes each, a 1927-byte post-quantum hello).  Per Initial:
 *   derive   Initial keys from the DCID: HKDF, AES and GHASH key setup
 *   hp       header-protection mask (one AES block)
 *   decrypt  AES-128-GCM tag check and decryption of the packet
 *   full     sni_quic_init + sni_quic_feed of that one datagram into a
 *            fresh reader: all of the above, frames, reassembly and parse
 *   initial  sni_quic_feed of that datagram into a reader that already
 *            holds the connection's keys (primed with the other Chromium
 *            datagram, or for the RFC packets with a PING-only Initial
 *            under the same DCID), which completes the hello: header
 *            protection, decryption, frames, reassembly and parse.  The
 *            primed reader is restored from a byte snapshot before every
 *            call (into the same object, so its pointers stay valid); the
 *            restore alone is timed and subtracted.
 *   openssl  EVP AES-128-GCM decryption of the same bytes (tag checked)
 * connection: sni_quic_init + both Chromium datagrams, hello complete.
 *
 *   sniroute-bench-quic [--quick] [VECTORS_DIR]
 *
 * The last line reads "median initial_ns=X openssl_decrypt_ns=Y
 * connection_ns=Z" (medians over the Initials measured, on the code the
 * CPU runs by default).  The portable path (no AES-NI) is measured too.
 * --quick runs everything once and checks the results (the ctest smoke
 * test), no timings.
 */
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto.h"
#include "file_util.h"
#include "quic_rfc.h"
#include "quic_util.h"
#include "sniroute.h"

#ifndef SNI_BENCH_DATA
#define SNI_BENCH_DATA "tests/vectors"
#endif

#define BATCHES 31
#define MAX_SET 3 /* functions measure_set interleaves */
#define MIN_BATCH_NS 200000u
#define N_INITIALS 4
#define MAX_DGRAM 1500

#define BARRIER(p) __asm__ __volatile__("" : : "r"(p) : "memory")

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

typedef struct initial {
  const char *name;
  uint8_t d[MAX_DGRAM];
  size_t len;
  /* derived for the component timings and the OpenSSL baseline */
  uint32_t version;
  uint8_t dcid[SNI_QUIC_MAX_CID_LEN];
  size_t dcid_len, pn_off, aad_len, ct_len;
  uint8_t aad[128], nonce[SNI_QUIC_IV_LEN];
  sni_quic_initial_keys keys;
  uint8_t primer[MAX_DGRAM];
  size_t primer_len;
  double derive, hp, decrypt, full, initial, openssl;
} initial;

static initial ini[N_INITIALS];
static _Alignas(16) sni_quic rq;
static sni_hello rh;
static uint8_t rbuf[SNI_QUIC_DEFAULT_BUF], scratch[MAX_DGRAM];

static int load_file(const char *dir, const char *name, initial *x) {
  char path[1024];
  snprintf(path, sizeof path, "%s/063-chromium-quic/%s", dir, name);
  uint8_t *d = sni_file_load(path, sizeof x->d, &x->len);
  if (!d) return -1;
  memcpy(x->d, d, x->len);
  free(d);
  return x->len ? 0 : -1;
}

/* Header protection off, AAD and nonce: what OpenSSL is given. */
static int prepare(initial *x) {
  const uint8_t *d = x->d;
  x->version = (uint32_t)d[1] << 24 | (uint32_t)d[2] << 16 | (uint32_t)d[3] << 8 | d[4];
  x->dcid_len = d[5];
  memcpy(x->dcid, d + 6, x->dcid_len);
  size_t off = 6 + x->dcid_len;
  off += 1 + d[off]; /* SCID */
  size_t tok = (size_t)1 << (d[off] >> 6);
  off += tok + (d[off] & 0x3fu); /* token: short tokens only here */
  size_t ll = (size_t)1 << (d[off] >> 6);
  size_t len = d[off] & 0x3fu;
  for (size_t i = 1; i < ll; i++) len = len << 8 | d[off + i];
  off += ll;
  x->pn_off = off;
  if (sni_quic_initial_keys_derive(x->version, x->dcid, x->dcid_len, SNI_QUIC_CLIENT,
                                   &x->keys))
    return -1;
  sni_aes128 hp;
  sni_aes128_init(&hp, x->keys.hp);
  uint8_t mask[SNI_QUIC_HP_MASK_LEN];
  sni_quic_hp_mask(&hp, d + off + 4, mask);
  memcpy(x->aad, d, off + 4);
  x->aad[0] ^= mask[0] & 0x0f;
  size_t pnl = (x->aad[0] & 3u) + 1u;
  uint64_t pn = 0;
  for (size_t i = 0; i < pnl; i++) {
    x->aad[off + i] ^= mask[1 + i];
    pn = pn << 8 | x->aad[off + i];
  }
  x->aad_len = off + pnl;
  x->ct_len = len - pnl - SNI_GCM_TAG_LEN;
  sni_quic_nonce(x->keys.iv, pn, x->nonce);
  return 0;
}

typedef int (*work_fn)(const initial *x);

static void sort_doubles(double *v, int n) {
  for (int i = 1; i < n; i++)
    for (int j = i; j > 0 && v[j - 1] > v[j]; j--) {
      double t = v[j];
      v[j] = v[j - 1];
      v[j - 1] = t;
    }
}

/* Calls per batch so that one batch of fn takes at least MIN_BATCH_NS. */
static unsigned calibrate(work_fn fn, const initial *x) {
  unsigned reps = 1;
  for (;;) {
    uint64_t t0 = now_ns();
    for (unsigned i = 0; i < reps; i++) fn(x);
    if (now_ns() - t0 >= MIN_BATCH_NS) return reps;
    reps *= 2;
  }
}

/* Median ns per call of each of fns[0..n) over BATCHES batches, the
 * functions taking turns batch by batch: on a loaded machine the figures
 * that get divided by each other (initial and openssl) then see the same
 * load, instead of whatever load came and went between two separate runs
 * of batches. */
static void measure_set(const work_fn *fns, int n, const initial *x, double *out) {
  unsigned reps[MAX_SET];
  double v[MAX_SET][BATCHES];
  for (int f = 0; f < n; f++) reps[f] = calibrate(fns[f], x);
  for (int b = 0; b < BATCHES; b++)
    for (int f = 0; f < n; f++) {
      uint64_t t0 = now_ns();
      for (unsigned i = 0; i < reps[f]; i++) fns[f](x);
      v[f][b] = (double)(now_ns() - t0) / reps[f];
    }
  for (int f = 0; f < n; f++) {
    sort_doubles(v[f], BATCHES);
    out[f] = v[f][BATCHES / 2];
  }
}

static double measure(work_fn fn, const initial *x) {
  double r;
  measure_set(&fn, 1, x, &r);
  return r;
}

static int w_derive(const initial *x) {
  static sni_quic_initial_keys k;
  static sni_aes128_gcm g;
  static sni_aes128 hp;
  int rc = sni_quic_initial_keys_derive(x->version, x->dcid, x->dcid_len, SNI_QUIC_CLIENT, &k);
  sni_aes128_gcm_init(&g, k.key);
  sni_aes128_init(&hp, k.hp);
  BARRIER(&g);
  BARRIER(&hp);
  return rc;
}

static sni_aes128 hp_ctx;
static sni_aes128_gcm gcm_ctx;

static int w_hp(const initial *x) {
  uint8_t mask[SNI_QUIC_HP_MASK_LEN];
  sni_quic_hp_mask(&hp_ctx, x->d + x->pn_off + 4, mask);
  BARRIER(mask);
  return mask[0];
}

static int w_decrypt(const initial *x) {
  int rc = sni_aes128_gcm_decrypt(&gcm_ctx, x->nonce, x->aad, x->aad_len,
                                  x->d + x->aad_len, x->ct_len,
                                  x->d + x->aad_len + x->ct_len, scratch);
  BARRIER(scratch);
  return rc;
}

static _Alignas(16) sni_quic snap_q;
static sni_hello snap_h;

static void snapshot(const initial *x) {
  sni_quic_init(&rq, &rh, rbuf, sizeof rbuf, NULL);
  sni_quic_feed(&rq, x->primer, x->primer_len);
  memcpy(&snap_q, &rq, sizeof rq);
  memcpy(&snap_h, &rh, sizeof rh);
}

static int w_restore(const initial *x) {
  (void)x;
  memcpy(&rq, &snap_q, sizeof rq);
  memcpy(&rh, &snap_h, sizeof rh);
  BARRIER(&rq);
  return 0;
}

static int w_primed(const initial *x) {
  w_restore(x);
  int rc = sni_quic_feed(&rq, x->d, x->len);
  BARRIER(&rh);
  return rc;
}

/* A PING-only Initial under x's DCID: packet number 0, so x (2) follows. */
static void make_primer(initial *x) {
  uint8_t frames[8] = {0x01};
  qt_initial pk = {x->version, x->dcid, x->dcid_len, x->dcid, x->dcid_len, NULL, 0, NULL, 0,
                   0, 1, 0};
  uint8_t pad[1200];
  memset(pad, 0, sizeof pad);
  memcpy(pad, frames, 1);
  x->primer_len = qt_protect(&pk, pad, 1200 - 20, x->primer, sizeof x->primer);
}

static int w_full(const initial *x) {
  sni_quic_init(&rq, &rh, rbuf, sizeof rbuf, NULL);
  int rc = sni_quic_feed(&rq, x->d, x->len);
  BARRIER(&rh);
  return rc;
}

static EVP_CIPHER_CTX *evp;

static int w_openssl(const initial *x) {
  int outl = 0, ok = 1;
  ok &= EVP_DecryptInit_ex(evp, NULL, NULL, NULL, x->nonce);
  ok &= EVP_DecryptUpdate(evp, NULL, &outl, x->aad, (int)x->aad_len);
  ok &= EVP_DecryptUpdate(evp, scratch, &outl, x->d + x->aad_len, (int)x->ct_len);
  ok &= EVP_CIPHER_CTX_ctrl(evp, EVP_CTRL_GCM_SET_TAG, SNI_GCM_TAG_LEN,
                            (void *)(uintptr_t)(x->d + x->aad_len + x->ct_len));
  ok &= EVP_DecryptFinal_ex(evp, scratch + outl, &outl);
  BARRIER(scratch);
  return ok;
}

static const initial *conn[2];

static int w_connection(const initial *unused) {
  (void)unused;
  sni_quic_init(&rq, &rh, rbuf, sizeof rbuf, NULL);
  sni_quic_feed(&rq, conn[0]->d, conn[0]->len);
  int rc = sni_quic_feed(&rq, conn[1]->d, conn[1]->len);
  BARRIER(&rh);
  return rc;
}

static int evp_setup(const initial *x) {
  if (!evp) evp = EVP_CIPHER_CTX_new();
  return evp && EVP_DecryptInit_ex(evp, EVP_aes_128_gcm(), NULL, x->keys.key, NULL) == 1
             ? 0
             : -1;
}

static double median(double *v, int n) {
  sort_doubles(v, n);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Every Initial must decrypt (ours and OpenSSL's), and the connection must
 * complete: the figures are only worth quoting if the work was done. */
static int check(void) {
  for (int i = 0; i < N_INITIALS; i++) {
    sni_aes128_init(&hp_ctx, ini[i].keys.hp);
    sni_aes128_gcm_init(&gcm_ctx, ini[i].keys.key);
    if (w_decrypt(&ini[i]) != 0 || evp_setup(&ini[i]) || w_openssl(&ini[i]) != 1 ||
        w_derive(&ini[i]) != 0) {
      fprintf(stderr, "%s: decryption failed\n", ini[i].name);
      return -1;
    }
  }
  if (w_full(&ini[0]) <= 0 || w_connection(NULL) != (int)(conn[0]->len + conn[1]->len)) {
    fprintf(stderr, "the reader did not complete a hello\n");
    return -1;
  }
  for (int i = 0; i < N_INITIALS; i++) {
    snapshot(&ini[i]);
    int rc = w_primed(&ini[i]);
    if (rc != (int)(ini[i].len + ini[i].primer_len)) {
      fprintf(stderr, "%s: primed feed gave %d\n", ini[i].name, rc);
      return -1;
    }
  }
  return 0;
}

static void run(const char *label, double *initial_med, double *conn_ns) {
  printf("%s (%s):\n", label,
         sni_crypto_impl() == SNI_CRYPTO_ACCEL ? "AES-NI + PCLMULQDQ" : "portable C");
  printf("%-22s %5s %9s %7s %9s %8s %9s %10s %8s\n", "initial", "bytes", "derive_ns",
         "hp_ns", "decrypt", "full_ns", "initial", "openssl_ns", "ini/ossl");
  double in[N_INITIALS], os[N_INITIALS];
  for (int i = 0; i < N_INITIALS; i++) {
    initial *x = &ini[i];
    sni_aes128_init(&hp_ctx, x->keys.hp);
    sni_aes128_gcm_init(&gcm_ctx, x->keys.key);
    evp_setup(x);
    x->derive = measure(w_derive, x);
    x->hp = measure(w_hp, x);
    x->decrypt = measure(w_decrypt, x);
    x->full = measure(w_full, x);
    snapshot(x);
    static const work_fn trio[MAX_SET] = {w_primed, w_restore, w_openssl};
    double t[MAX_SET];
    measure_set(trio, MAX_SET, x, t);
    x->initial = t[0] - t[1];
    x->openssl = t[2];
    in[i] = x->initial;
    os[i] = x->openssl;
    printf("%-22s %5zu %9.1f %7.1f %9.1f %8.1f %9.1f %10.1f %8.2f\n", x->name, x->len,
           x->derive, x->hp, x->decrypt, x->full, in[i], x->openssl, in[i] / x->openssl);
  }
  *conn_ns = measure(w_connection, NULL);
  double ossl = median(os, N_INITIALS);
  *initial_med = median(in, N_INITIALS);
  printf("connection (063, 2 datagrams, %zu bytes): %.1f ns\n", conn[0]->len + conn[1]->len,
         *conn_ns);
  printf("%s: initial %.1f ns vs openssl %.1f ns = %.2fx (goal <= 1.5x)\n\n", label,
         *initial_med, ossl, *initial_med / ossl);
}

int main(int argc, char **argv) {
  int quick = 0;
  const char *dir = SNI_BENCH_DATA;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--quick") == 0) quick = 1;
    else dir = argv[i];
  }
  ini[0].name = "rfc9001-v1";
  ini[0].len = qt_unhex(quic_rfc9001_client_initial, ini[0].d, MAX_DGRAM);
  ini[1].name = "rfc9369-v2";
  ini[1].len = qt_unhex(quic_rfc9369_client_initial, ini[1].d, MAX_DGRAM);
  ini[2].name = "063-chromium-dgram0";
  ini[3].name = "063-chromium-dgram1";
  if (load_file(dir, "initial-0.bin", &ini[2]) || load_file(dir, "initial-1.bin", &ini[3])) {
    fprintf(stderr, "sniroute-bench-quic: cannot read %s/063-chromium-quic\n", dir);
    return 2;
  }
  for (int i = 0; i < N_INITIALS; i++)
    if (prepare(&ini[i])) return 2;
  conn[0] = &ini[2];
  conn[1] = &ini[3];
  make_primer(&ini[0]);
  make_primer(&ini[1]);
  memcpy(ini[2].primer, ini[3].d, ini[3].len);
  ini[2].primer_len = ini[3].len;
  memcpy(ini[3].primer, ini[2].d, ini[2].len);
  ini[3].primer_len = ini[2].len;
  if (check()) return 1;
  if (quick) {
    puts("ok");
    return 0;
  }
  double pi = 0, pc = 0, ai = 0, ac = 0;
  sni_crypto_force_portable(1);
  run("portable", &pi, &pc);
  sni_crypto_force_portable(0);
  run("default", &ai, &ac);
  double os[N_INITIALS];
  for (int i = 0; i < N_INITIALS; i++) os[i] = ini[i].openssl;
  printf("median initial_ns=%.1f openssl_decrypt_ns=%.1f connection_ns=%.1f\n", ai,
         median(os, N_INITIALS), ac);
  EVP_CIPHER_CTX_free(evp);
  return 0;
}
