/* Order-independent sums across ranks: every term is rounded to a multiple of 1/scale and added
 * as a 64-bit integer, so the total is the same bit for bit whichever rank holds which terms and
 * in whatever order they are added (integer addition is associative). This is what makes a
 * statistic, or a gradient, independent of the number of ranks.
 *
 * The scale is a power of two chosen from a bound on the magnitude of the total, so the
 * integers cannot overflow: scale = 2^floor(62 - log2(bound)). Each term is then represented to
 * bound * 2^-62 (absolute), far below float resolution for any total near the bound. */
#ifndef OVQ_FIXEDSUM_H
#define OVQ_FIXEDSUM_H

#include <math.h>
#include <mpi.h>
#include <stdint.h>

typedef struct OvqFixedSum {
  int64_t n;
  double scale;
  int64_t *acc; /* [n], owned */
} OvqFixedSum;

/* Local. n accumulators for totals of magnitude at most `bound` (> 0). */
void ovq_fixed_init(OvqFixedSum *s, int64_t n, double bound);
/* Local. Sets the accumulators to zero (keeping the scale). */
void ovq_fixed_zero(OvqFixedSum *s);
void ovq_fixed_free(OvqFixedSum *s);

/* Local. acc[i] += round(v * scale). */
static inline void ovq_fixed_add(OvqFixedSum *s, int64_t i, double v) {
  s->acc[i] += llrint(v * s->scale);
}

/* Collective on comm. Sums the accumulators over the ranks (in place) and writes the totals to
 * out[0..n) as doubles (out may be NULL to keep only the integers). */
void ovq_fixed_allreduce(OvqFixedSum *s, MPI_Comm comm, double *out);

/* Collective on comm. A bound for a sum of count_total terms each at most |max_term_local| on
 * its rank: max over ranks of max_term_local, times count_total (never 0). */
double ovq_fixed_bound(double max_term_local, int64_t count_total, MPI_Comm comm);

#endif
