/* Stand-in preprocessing (see include/ovq/standin.h). */
#include "ovq/standin.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ovq/error.h"
#include "ovq/fixedsum.h"

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
  const int64_t F = c->n_mrna + c->n_mirna, n = c->n_local;
  t->n_features = F;
  t->mean = OVQ_CALLOC((size_t)F, sizeof(double));
  t->scale = OVQ_CALLOC((size_t)F, sizeof(double));
  /* Order-independent sums (fixedsum.h), so the transform, and everything trained on it, does
   * not depend on the number of ranks. Pass 1: sums and counts of observed values; pass 2:
   * squared deviations from the global mean (two passes keep the variance accurate). */
  double vmax = 0.0;
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = 0; j < F; j++) {
      float v = value(c, i, j);
      if (!isnan(v) && fabs(v) > vmax) vmax = fabs(v);
    }
  OvqFixedSum sum;
  ovq_fixed_init(&sum, F, ovq_fixed_bound(vmax, c->n_total, comm));
  int64_t *cnt = OVQ_CALLOC((size_t)F, sizeof(int64_t));
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = 0; j < F; j++) {
      float v = value(c, i, j);
      if (!isnan(v)) {
        ovq_fixed_add(&sum, j, v);
        cnt[j]++;
      }
    }
  double *tot = OVQ_MALLOC(sizeof(double) * (size_t)F);
  ovq_fixed_allreduce(&sum, comm, tot);
  ovq_fixed_free(&sum);
  OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, cnt, OVQ_INT(F, "features"), MPI_INT64_T, MPI_SUM,
                              comm));
  for (int64_t j = 0; j < F; j++) t->mean[j] = cnt[j] > 0 ? tot[j] / (double)cnt[j] : 0.0;
  double dmax = 0.0;
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = 0; j < F; j++) {
      float v = value(c, i, j);
      double dv = isnan(v) ? 0.0 : ((double)v - t->mean[j]) * ((double)v - t->mean[j]);
      if (dv > dmax) dmax = dv;
    }
  OvqFixedSum ss;
  ovq_fixed_init(&ss, F, ovq_fixed_bound(dmax, c->n_total, comm));
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = 0; j < F; j++) {
      float v = value(c, i, j);
      if (!isnan(v)) ovq_fixed_add(&ss, j, ((double)v - t->mean[j]) * ((double)v - t->mean[j]));
    }
  double *sq = OVQ_MALLOC(sizeof(double) * (size_t)F);
  ovq_fixed_allreduce(&ss, comm, sq);
  ovq_fixed_free(&ss);
  for (int64_t j = 0; j < F; j++) {
    double sd = cnt[j] > 0 ? sqrt(sq[j] / (double)cnt[j]) : 0.0;
    t->scale[j] = sd > 1e-12 ? sd : 1.0;
  }
  free(tot);
  free(cnt);
  free(sq);
  ovq_standin_apply(t, c, out);
}

void ovq_standin_free(OvqStandinTransform *t) {
  if (!t) return;
  free(t->mean);
  free(t->scale);
  memset(t, 0, sizeof *t);
}
