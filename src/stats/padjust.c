/* Multiple-testing correction (see include/ovq/padjust.h). */
#include "ovq/padjust.h"

#include <stdlib.h>

#include "ovq/error.h"

typedef struct PIndex {
  double p;
  int64_t i;
} PIndex;

static int cmp_pindex(const void *pa, const void *pb) {
  const PIndex *a = pa, *b = pb;
  if (a->p != b->p) return a->p < b->p ? -1 : 1;
  return (a->i > b->i) - (a->i < b->i);
}

void ovq_bh_adjust(const double *p, int64_t n, double *q) {
  if (n <= 0) return;
  PIndex *s = OVQ_MALLOC(sizeof(PIndex) * (size_t)n);
  for (int64_t i = 0; i < n; i++)
    s[i] = (PIndex){p[i], i};
  qsort(s, (size_t)n, sizeof *s, cmp_pindex);
  /* From the largest p down: running minimum of p_(j) n / j (Benjamini & Hochberg 1995). */
  double run = 1.0;
  for (int64_t j = n; j >= 1; j--) {
    double v = s[j - 1].p * (double)n / (double)j;
    if (v < run) run = v;
    q[s[j - 1].i] = run;
  }
  free(s);
}

