/* Order-independent sums (see include/ovq/fixedsum.h). */
#include "ovq/fixedsum.h"

#include <stdlib.h>
#include <string.h>

#include "ovq/error.h"

void ovq_fixed_init(OvqFixedSum *s, int64_t n, double bound) {
  s->n = n;
  if (!(bound > 0) || !isfinite(bound)) bound = 1.0;
  /* One bit of headroom below 2^63 for the rounding of each term. */
  s->scale = ldexp(1.0, 62 - (int)ceil(log2(bound)));
  s->acc = OVQ_CALLOC((size_t)(n > 0 ? n : 1), sizeof(int64_t));
}

void ovq_fixed_zero(OvqFixedSum *s) { memset(s->acc, 0, sizeof(int64_t) * (size_t)s->n); }

void ovq_fixed_free(OvqFixedSum *s) {
  free(s->acc);
  memset(s, 0, sizeof *s);
}

void ovq_fixed_allreduce(OvqFixedSum *s, MPI_Comm comm, double *out) {
  /* In chunks: MPI counts are ints. */
  const int64_t chunk = (int64_t)1 << 28;
  for (int64_t off = 0; off < s->n; off += chunk) {
    int64_t c = s->n - off < chunk ? s->n - off : chunk;
    OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, s->acc + off, (int)c, MPI_INT64_T, MPI_SUM, comm));
  }
  if (out)
    for (int64_t i = 0; i < s->n; i++) out[i] = (double)s->acc[i] / s->scale;
}

double ovq_fixed_bound(double max_term_local, int64_t count_total, MPI_Comm comm) {
  double m = fabs(max_term_local);
  OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &m, 1, MPI_DOUBLE, MPI_MAX, comm));
  double b = m * (double)(count_total > 0 ? count_total : 1);
  return b > 0 ? b : 1.0;
}
