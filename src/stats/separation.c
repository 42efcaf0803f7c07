/* Calinski-Harabasz and Davies-Bouldin indices (see include/ovq/separation.h). */
#include "ovq/separation.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ovq/fixedsum.h"

OvqStatus ovq_separation(const float *x, int64_t n_local, int64_t d, const int32_t *labels, int k,
                         MPI_Comm comm, OvqSeparation *out) {
  memset(out, 0, sizeof(*out));
  OvqStatus st = OVQ_OK;
  if (k < 1 || d < 1 || n_local < 0)
    st = ovq_error("separation: bad shape (k %d, d %lld)", k, (long long)d);
  for (int64_t i = 0; st == OVQ_OK && i < n_local; i++)
    if (labels[i] < 0 || labels[i] >= k)
      st = ovq_error("separation: label %d outside 0..%d", labels[i], k - 1);
  if (ovq_status_agree(comm, st) != OVQ_OK) return OVQ_ERR;

  /* Pass 1: cluster sizes and sums (fixed point: exact, order-free). */
  int64_t *count = OVQ_CALLOC((size_t)k, sizeof(int64_t));
  double amax = 0;
  for (int64_t i = 0; i < n_local; i++) {
    count[labels[i]]++;
    for (int64_t j = 0; j < d; j++)
      amax = fmax(amax, fabs((double)x[i * d + j]));
  }
  OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, count, k, MPI_INT64_T, MPI_SUM, comm));
  int64_t n = 0;
  int used = 0;
  for (int c = 0; c < k; c++) {
    n += count[c];
    used += count[c] > 0;
  }
  if (used < 2 || used > n - 1) {
    free(count);
    ovq_error("separation needs 2 to N - 1 clusters (%d used, %lld samples)", used, (long long)n);
    return ovq_status_agree(comm, OVQ_ERR);
  }
  OvqFixedSum fs;
  ovq_fixed_init(&fs, (int64_t)k * d, ovq_fixed_bound(amax, n, comm));
  for (int64_t i = 0; i < n_local; i++)
    for (int64_t j = 0; j < d; j++)
      ovq_fixed_add(&fs, (int64_t)labels[i] * d + j, x[i * d + j]);
  double *cen = OVQ_MALLOC(sizeof(double) * (size_t)(k * d));
  ovq_fixed_allreduce(&fs, comm, cen);
  ovq_fixed_free(&fs);
  /* The global mean from the cluster totals, added in a fixed order (the totals are the same at
   * any rank count, so the mean is too). */
  double *mean = OVQ_CALLOC((size_t)d, sizeof(double));
  for (int c = 0; c < k; c++)
    for (int64_t j = 0; j < d; j++)
      mean[j] += cen[c * d + j];
  for (int64_t j = 0; j < d; j++)
    mean[j] /= (double)n;
  for (int c = 0; c < k; c++)
    for (int64_t j = 0; j < d; j++)
      cen[c * d + j] = count[c] ? cen[c * d + j] / (double)count[c] : 0.0;

  /* Pass 2: per cluster, the sum of squared distances and of distances to the centroid. */
  double *dist = OVQ_MALLOC(sizeof(double) * (size_t)(n_local + 1));
  double dmax = 0;
  for (int64_t i = 0; i < n_local; i++) {
    const double *cc = cen + (int64_t)labels[i] * d;
    double s = 0;
    for (int64_t j = 0; j < d; j++) {
      double t = x[i * d + j] - cc[j];
      s += t * t;
    }
    dist[i] = s;
    dmax = fmax(dmax, fmax(s, sqrt(s)));
  }
  double bound = ovq_fixed_bound(dmax, n, comm);
  if (!(bound > 0)) bound = 1.0; /* every distance 0 */
  ovq_fixed_init(&fs, 2 * (int64_t)k, bound);
  for (int64_t i = 0; i < n_local; i++) {
    ovq_fixed_add(&fs, 2 * (int64_t)labels[i], dist[i]);
    ovq_fixed_add(&fs, 2 * (int64_t)labels[i] + 1, sqrt(dist[i]));
  }
  double *disp = OVQ_MALLOC(sizeof(double) * (size_t)(2 * k));
  ovq_fixed_allreduce(&fs, comm, disp);
  ovq_fixed_free(&fs);

  /* Calinski-Harabasz. */
  double extra = 0, intra = 0;
  for (int c = 0; c < k; c++) {
    if (!count[c]) continue;
    double s = 0;
    for (int64_t j = 0; j < d; j++)
      s += (cen[c * d + j] - mean[j]) * (cen[c * d + j] - mean[j]);
    extra += (double)count[c] * s;
    intra += disp[2 * c];
  }
  out->calinski_harabasz =
      intra == 0.0 ? 1.0 : extra * (double)(n - used) / (intra * (double)(used - 1));

  /* Davies-Bouldin, over the used clusters only. */
  int all_s0 = 1, all_c0 = 1;
  for (int c = 0; c < k; c++)
    if (count[c] && fabs(disp[2 * c + 1] / (double)count[c]) > 1e-8) all_s0 = 0;
  double *cd = OVQ_CALLOC((size_t)k * (size_t)k, sizeof(double));
  for (int a = 0; a < k; a++)
    for (int b = 0; b < k; b++) {
      if (!count[a] || !count[b] || a == b) continue;
      double s = 0;
      for (int64_t j = 0; j < d; j++)
        s += (cen[a * d + j] - cen[b * d + j]) * (cen[a * d + j] - cen[b * d + j]);
      cd[a * k + b] = sqrt(s);
      if (cd[a * k + b] > 1e-8) all_c0 = 0;
    }
  double db = 0;
  if (!all_s0 && !all_c0) {
    for (int a = 0; a < k; a++) {
      if (!count[a]) continue;
      double sa = disp[2 * a + 1] / (double)count[a], best = 0;
      for (int b = 0; b < k; b++) {
        if (!count[b] || b == a || cd[a * k + b] == 0.0) continue;
        double r = (sa + disp[2 * b + 1] / (double)count[b]) / cd[a * k + b];
        if (r > best) best = r;
      }
      db += best;
    }
    db /= used;
  }
  out->davies_bouldin = db;
  out->n = n;
  out->k_used = used;
  free(count);
  free(cen);
  free(mean);
  free(dist);
  free(disp);
  free(cd);
  return OVQ_OK;
}
