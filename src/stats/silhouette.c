/* Silhouette (see include/ovq/silhouette.h). */
#include "ovq/silhouette.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

OvqStatus ovq_silhouette(const float *x, int64_t n_local, int64_t d, const int32_t *labels, int k,
                         MPI_Comm comm, double *s_local, double *mean) {
  int rank, size;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  /* Cluster sizes over all ranks. */
  int64_t *count = OVQ_CALLOC((size_t)k + 1, sizeof(int64_t));
  for (int64_t i = 0; i < n_local; i++) {
    if (labels[i] < 0 || labels[i] >= k) OVQ_ABORT("silhouette: label %d outside 0..%d", labels[i], k - 1);
    count[labels[i]]++;
  }
  OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, count, k, MPI_INT64_T, MPI_SUM, comm));
  int64_t n_total = 0;
  int used = 0;
  for (int c = 0; c < k; c++) {
    n_total += count[c];
    used += count[c] > 0;
  }
  if (used < 2 || used > n_total - 1) {
    free(count);
    return ovq_error("silhouette needs 2 to N - 1 clusters (%d of %lld samples)", used,
                     (long long)n_total);
  }
  int64_t max_local = n_local;
  OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &max_local, 1, MPI_INT64_T, MPI_MAX, comm));
  /* My block in double, with squared norms; the travelling block (values, norms, labels). */
  double *mine = OVQ_MALLOC(sizeof(double) * (size_t)(n_local * d + 1));
  double *mnorm = OVQ_MALLOC(sizeof(double) * (size_t)(n_local + 1));
  for (int64_t i = 0; i < n_local; i++) {
    double s = 0;
    for (int64_t j = 0; j < d; j++) {
      mine[i * d + j] = x[i * d + j];
      s += mine[i * d + j] * mine[i * d + j];
    }
    mnorm[i] = s;
  }
  const int64_t rec = d + 2; /* values, norm, label (as double) */
  double *blk = OVQ_MALLOC(sizeof(double) * (size_t)(max_local * rec + 1));
  double *nxt = OVQ_MALLOC(sizeof(double) * (size_t)(max_local * rec + 1));
  double *vals = OVQ_MALLOC(sizeof(double) * (size_t)(max_local * d + 1));
  int64_t nb = n_local;
  for (int64_t i = 0; i < n_local; i++) {
    memcpy(blk + i * rec, mine + i * d, sizeof(double) * (size_t)d);
    blk[i * rec + d] = mnorm[i];
    blk[i * rec + d + 1] = labels[i];
  }
  double *sum = OVQ_CALLOC((size_t)(n_local * k + 1), sizeof(double)); /* distance sums */
  const int64_t TILE = 256;
  double *g = OVQ_MALLOC(sizeof(double) * (size_t)(TILE * max_local + 1));
  for (int step = 0; step < size; step++) {
    for (int64_t j = 0; j < nb; j++) memcpy(vals + j * d, blk + j * rec, sizeof(double) * (size_t)d);
    for (int64_t i0 = 0; i0 < n_local; i0 += TILE) {
      int64_t ni = n_local - i0 < TILE ? n_local - i0 : TILE;
      if (nb > 0 && d > 0)
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)ni, (int)nb, (int)d, 1.0,
                    mine + i0 * d, (int)d, vals, (int)d, 0.0, g, (int)nb);
      else
        memset(g, 0, sizeof(double) * (size_t)(ni * nb + 1));
      for (int64_t a = 0; a < ni; a++)
        for (int64_t b = 0; b < nb; b++) {
          double d2 = mnorm[i0 + a] + blk[b * rec + d] - 2.0 * g[a * nb + b];
          sum[(i0 + a) * k + (int)blk[b * rec + d + 1]] += d2 > 0 ? sqrt(d2) : 0.0;
        }
    }
    if (size > 1) {
      int dst = (rank + 1) % size, src = (rank - 1 + size) % size;
      int64_t nn = 0;
      OVQ_MPI_CHECK(MPI_Sendrecv(&nb, 1, MPI_INT64_T, dst, 31, &nn, 1, MPI_INT64_T, src, 31, comm,
                                 MPI_STATUS_IGNORE));
      OVQ_MPI_CHECK(MPI_Sendrecv(blk, OVQ_INT(nb * rec, "block"), MPI_DOUBLE, dst, 32, nxt,
                                 OVQ_INT(nn * rec, "block"), MPI_DOUBLE, src, 32, comm,
                                 MPI_STATUS_IGNORE));
      double *t = blk;
      blk = nxt;
      nxt = t;
      nb = nn;
    }
  }
  double total = 0;
  for (int64_t i = 0; i < n_local; i++) {
    int c = labels[i];
    double s = 0;
    if (count[c] > 1) {
      double a = sum[i * k + c] / (double)(count[c] - 1), b = INFINITY;
      for (int o = 0; o < k; o++)
        if (o != c && count[o] > 0 && sum[i * k + o] / (double)count[o] < b)
          b = sum[i * k + o] / (double)count[o];
      double m = a > b ? a : b;
      s = m > 0 ? (b - a) / m : 0.0;
    }
    if (s_local) s_local[i] = s;
    total += s;
  }
  OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &total, 1, MPI_DOUBLE, MPI_SUM, comm));
  *mean = total / (double)n_total;
  free(count);
  free(mine);
  free(mnorm);
  free(blk);
  free(nxt);
  free(vals);
  free(sum);
  free(g);
  return OVQ_OK;
}
