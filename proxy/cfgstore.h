/* The configuration new connections use, handed from the main thread
 * (start, SIGHUP) to the workers.  A generation counter lets a worker see
 * a reload with one atomic load per accept; the lock is taken only when
 * the generation changed. */
#ifndef PX_CFGSTORE_H
#define PX_CFGSTORE_H

#include "config.h"

/* Installs the first configuration (takes the caller's reference);
 * generation 1.  Before any worker starts. */
void px_cfgstore_init(px_cfg *c);
/* The current generation (acquire: a changed value means px_cfgstore_get()
 * returns the new configuration). */
unsigned px_cfgstore_gen(void);
/* A new reference to the current configuration, and its generation. */
px_cfg *px_cfgstore_get(unsigned *gen);
/* Makes n current (takes the caller's reference) and drops the store's
 * reference to the old one; returns the new generation. */
unsigned px_cfgstore_publish(px_cfg *n);
/* Drops the store's reference (exit). */
void px_cfgstore_clear(void);

#endif
