/* A string -> index map (open addressing, FNV-1a), for joining ids: sample barcodes, feature
 * ids. Keys are borrowed: they must outlive the map. Local. */
#ifndef OVQ_STRMAP_H
#define OVQ_STRMAP_H

#include <stdint.h>

typedef struct OvqStrMap {
  int64_t cap, n;
  const char **key; /* [cap], borrowed strings, NULL = empty slot */
  int64_t *val;     /* [cap] */
} OvqStrMap;

/* A map with room for n keys. */
void ovq_strmap_init(OvqStrMap *m, int64_t n);
/* Frees and zeroes; safe on a zeroed map. */
void ovq_strmap_free(OvqStrMap *m);
/* The value of key, or -1. */
int64_t ovq_strmap_get(const OvqStrMap *m, const char *key);
/* Inserts key -> val unless key is present; returns the value now stored. At most the n keys
 * given to ovq_strmap_init. */
int64_t ovq_strmap_put(OvqStrMap *m, const char *key, int64_t val);

#endif
