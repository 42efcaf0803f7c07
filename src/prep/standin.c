/* Stand-in preprocessing (see include/ovq/standin.h). */
#include "ovq/standin.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ovq/error.h"

/* Value j of a cohort row in the concatenated mRNA + miRNA order. */
static float value(const OvqCohort *c, int64_t i, int64_t j) {
  return j < c->n_mrna ? c->mrna[i * c->n_mrna + j] : c->mirna[i * c->n_mirna + (j - c->n_mrna)];
}

void ovq_standin_apply(const OvqStandinTransform *t, const OvqCohort *c, OvqMatrix *out) {
  const int64_t F = t->n_features;
  ovq_matrix_alloc(out, c->n_total, c->row_start, c->n_local, F);
  for (int64_t i = 0; i < c->n_local; i++)
    for (int64_t j = 0; j < F; j++) {
      float v = value(c, i, j);
      /* A missing value takes the mean, i.e. 0 after centring. */
      out->x[i * F + j] = isnan(v) ? 0.0f : (float)(((double)v - t->mean[j]) / t->scale[j]);
    }
}

void ovq_standin_fit_apply(const OvqCohort *c, MPI_Comm comm, OvqMatrix *out,
                           OvqStandinTransform *t) {
  const int64_t F = c->n_mrna + c->n_mirna;
  t->n_features = F;
  t->mean = OVQ_CALLOC((size_t)F, sizeof(double));
  t->scale = OVQ_CALLOC((size_t)F, sizeof(double));
  /* Pass 1: sums and counts of observed values; pass 2: squared deviations from the global mean
   * (two passes keep the variance accurate for features with a large mean). */
  double *acc = OVQ_CALLOC((size_t)(2 * F), sizeof(double));
  for (int64_t i = 0; i < c->n_local; i++)
    for (int64_t j = 0; j < F; j++) {
      float v = value(c, i, j);
      if (!isnan(v)) {
        acc[j] += v;
        acc[F + j] += 1.0;
      }
    }
  OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, acc, OVQ_INT(2 * F, "features"), MPI_DOUBLE, MPI_SUM,
                              comm));
  for (int64_t j = 0; j < F; j++) t->mean[j] = acc[F + j] > 0 ? acc[j] / acc[F + j] : 0.0;
  double *ss = OVQ_CALLOC((size_t)F, sizeof(double));
  for (int64_t i = 0; i < c->n_local; i++)
    for (int64_t j = 0; j < F; j++) {
      float v = value(c, i, j);
      if (!isnan(v)) ss[j] += ((double)v - t->mean[j]) * ((double)v - t->mean[j]);
    }
  OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, ss, OVQ_INT(F, "features"), MPI_DOUBLE, MPI_SUM, comm));
  for (int64_t j = 0; j < F; j++) {
    double sd = acc[F + j] > 0 ? sqrt(ss[j] / acc[F + j]) : 0.0;
    t->scale[j] = sd > 1e-12 ? sd : 1.0;
  }
  free(acc);
  free(ss);
  ovq_standin_apply(t, c, out);
}

void ovq_standin_free(OvqStandinTransform *t) {
  if (!t) return;
  free(t->mean);
  free(t->scale);
  memset(t, 0, sizeof *t);
}
