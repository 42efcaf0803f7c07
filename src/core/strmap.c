/* String -> index map (see include/ovq/strmap.h). */
#include "ovq/strmap.h"

#include <stdlib.h>
#include <string.h>

#include "ovq/error.h"

static uint64_t hash_str(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

void ovq_strmap_init(OvqStrMap *m, int64_t n) {
  m->cap = 16;
  while (m->cap < 2 * n + 16) m->cap *= 2;
  m->n = 0;
  m->key = OVQ_CALLOC((size_t)m->cap, sizeof(char *));
  m->val = OVQ_MALLOC(sizeof(int64_t) * (size_t)m->cap);
}

void ovq_strmap_free(OvqStrMap *m) {
  free(m->key);
  free(m->val);
  memset(m, 0, sizeof *m);
}

int64_t ovq_strmap_get(const OvqStrMap *m, const char *key) {
  for (int64_t h = (int64_t)(hash_str(key) & (uint64_t)(m->cap - 1)); m->key[h];
       h = (h + 1) & (m->cap - 1))
    if (!strcmp(m->key[h], key)) return m->val[h];
  return -1;
}

int64_t ovq_strmap_put(OvqStrMap *m, const char *key, int64_t val) {
  int64_t h = (int64_t)(hash_str(key) & (uint64_t)(m->cap - 1));
  for (; m->key[h]; h = (h + 1) & (m->cap - 1))
    if (!strcmp(m->key[h], key)) return m->val[h];
  m->key[h] = key;
  m->val[h] = val;
  m->n++;
  return val;
}
