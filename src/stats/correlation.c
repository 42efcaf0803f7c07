/* Pearson and Spearman correlation matrices (see include/ovq/correlation.h). */
#include "ovq/correlation.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ovq/fixedsum.h"
#include "ovq/matrix.h"
#include "ovq/partition.h"

/* Pearson on rows in double; n is the global row count (>= 2). Collective. Two passes: the
 * column means, then the centred cross-products (upper triangle), both as fixed-point sums. */
static void pearson_rows(const double *x, int64_t n_local, int64_t d, int64_t n, MPI_Comm comm,
                         double *r) {
  double amax = 0;
  for (int64_t i = 0; i < n_local * d; i++)
    amax = fmax(amax, fabs(x[i]));
  OvqFixedSum fs;
  ovq_fixed_init(&fs, d, ovq_fixed_bound(amax, n, comm));
  for (int64_t i = 0; i < n_local; i++)
    for (int64_t j = 0; j < d; j++)
      ovq_fixed_add(&fs, j, x[i * d + j]);
  double *mean = OVQ_MALLOC(sizeof(double) * (size_t)d);
  ovq_fixed_allreduce(&fs, comm, mean);
  ovq_fixed_free(&fs);
  for (int64_t j = 0; j < d; j++)
    mean[j] /= (double)n;

  double *xc = OVQ_MALLOC(sizeof(double) * (size_t)(d + 1));
  double cmax = 0;
  for (int64_t i = 0; i < n_local * d; i++) {
    double t = fabs(x[i] - mean[i % d]);
    cmax = fmax(cmax, t * t);
  }
  int64_t np = d * (d + 1) / 2;
  ovq_fixed_init(&fs, np, ovq_fixed_bound(cmax, n, comm));
  for (int64_t i = 0; i < n_local; i++) {
    for (int64_t j = 0; j < d; j++)
      xc[j] = x[i * d + j] - mean[j];
    int64_t p = 0;
    for (int64_t a = 0; a < d; a++)
      for (int64_t b = a; b < d; b++)
        ovq_fixed_add(&fs, p++, xc[a] * xc[b]);
  }
  double *c = OVQ_MALLOC(sizeof(double) * (size_t)np);
  ovq_fixed_allreduce(&fs, comm, c);
  ovq_fixed_free(&fs);
  /* The 1/(n-1) of the covariance cancels; diag[a] = C_aa, the index of (a, a) in the packed
   * upper triangle. */
  double *diag = OVQ_MALLOC(sizeof(double) * (size_t)d);
  for (int64_t a = 0, p = 0; a < d; p += d - a, a++)
    diag[a] = c[p];
  for (int64_t a = 0, p = 0; a < d; a++)
    for (int64_t b = a; b < d; b++, p++) {
      double v = c[p] / sqrt(diag[a]) / sqrt(diag[b]);
      if (!(diag[a] > 0) || !(diag[b] > 0))
        v = NAN;
      else if (v > 1)
        v = 1;
      else if (v < -1)
        v = -1;
      r[a * d + b] = r[b * d + a] = v;
    }
  free(mean);
  free(xc);
  free(c);
  free(diag);
}

static OvqStatus check_shape(int64_t n_local, int64_t d, MPI_Comm comm, int64_t *n) {
  *n = n_local;
  OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, n, 1, MPI_INT64_T, MPI_SUM, comm));
  if (*n < 2 || d < 1)
    return ovq_error("correlation needs at least 2 rows and 1 column (%lld x %lld)", (long long)*n,
                     (long long)d);
  return OVQ_OK;
}

OvqStatus ovq_correlation_pearson(const float *x, int64_t n_local, int64_t d, MPI_Comm comm,
                                  double *r) {
  int64_t n;
  if (check_shape(n_local, d, comm, &n) != OVQ_OK) return OVQ_ERR;
  double *xd = OVQ_MALLOC(sizeof(double) * (size_t)(n_local * d + 1));
  for (int64_t i = 0; i < n_local * d; i++)
    xd[i] = x[i];
  pearson_rows(xd, n_local, d, n, comm, r);
  free(xd);
  return OVQ_OK;
}

typedef struct {
  float v;
  int64_t i;
} Keyed;

static int keyed_cmp(const void *pa, const void *pb) {
  const Keyed *a = pa, *b = pb;
  if (a->v != b->v) return a->v < b->v ? -1 : 1;
  return a->i < b->i ? -1 : a->i > b->i;
}

/* Average ranks (1-based) of col[0..n) into rank[0..n): scipy.stats.rankdata(method='average'). */
static void average_ranks(const float *col, int64_t n, Keyed *tmp, double *rank) {
  for (int64_t i = 0; i < n; i++)
    tmp[i] = (Keyed){col[i], i};
  qsort(tmp, (size_t)n, sizeof(Keyed), keyed_cmp);
  for (int64_t p = 0; p < n;) {
    int64_t q = p + 1;
    while (q < n && tmp[q].v == tmp[p].v)
      q++;
    double avg = 0.5 * (double)(p + 1 + q); /* mean of the positions p+1 .. q */
    for (int64_t t = p; t < q; t++)
      rank[tmp[t].i] = avg;
    p = q;
  }
}

OvqStatus ovq_correlation_spearman(const float *x, int64_t n_local, int64_t d, MPI_Comm comm,
                                   double *r) {
  int rank, size;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  int64_t n;
  if (check_shape(n_local, d, comm, &n) != OVQ_OK) return OVQ_ERR;
  OvqRange mine = ovq_partition_block(n, size, rank);
  OvqStatus st = OVQ_OK;
  if (mine.count != n_local)
    st = ovq_error("spearman: rank %d holds %lld rows, the block layout gives it %lld", rank,
                   (long long)n_local, (long long)mine.count);
  if (ovq_status_agree(comm, st) != OVQ_OK) return OVQ_ERR;

  /* Columns to ranks: rank each whole column where it lands. */
  OvqMatrix m = {.n_total = n,
                 .row_start = mine.start,
                 .n_local = n_local,
                 .n_cols = d,
                 .x = (float *)x}; /* read only by ovq_matrix_columns */
  int64_t cs, nc;
  float *cols;
  ovq_matrix_columns(&m, comm, &cs, &nc, &cols);
  double *rk = OVQ_MALLOC(sizeof(double) * (size_t)(n * nc + 1));
  Keyed *tmp = OVQ_MALLOC(sizeof(Keyed) * (size_t)(n + 1));
  for (int64_t j = 0; j < nc; j++)
    average_ranks(cols + j * n, n, tmp, rk + j * n);
  free(tmp);
  free(cols);

  /* And back to rows: to rank s go my columns of its rows (column by column). */
  int *scount = OVQ_MALLOC(sizeof(int) * (size_t)size),
      *sdisp = OVQ_MALLOC(sizeof(int) * (size_t)size);
  int *rcount = OVQ_MALLOC(sizeof(int) * (size_t)size),
      *rdisp = OVQ_MALLOC(sizeof(int) * (size_t)size);
  double *send = OVQ_MALLOC(sizeof(double) * (size_t)(n * nc + 1));
  int64_t pos = 0;
  for (int s = 0; s < size; s++) {
    OvqRange rb = ovq_partition_block(n, size, s);
    sdisp[s] = OVQ_INT(pos, "send displacement");
    for (int64_t j = 0; j < nc; j++) {
      memcpy(send + pos, rk + j * n + rb.start, sizeof(double) * (size_t)rb.count);
      pos += rb.count;
    }
    scount[s] = OVQ_INT(pos - sdisp[s], "send count");
  }
  free(rk);
  pos = 0;
  for (int s = 0; s < size; s++) {
    OvqRange cb = ovq_partition_block(d, size, s);
    rdisp[s] = OVQ_INT(pos, "receive displacement");
    rcount[s] = OVQ_INT(cb.count * n_local, "receive count");
    pos += cb.count * n_local;
  }
  double *recv = OVQ_MALLOC(sizeof(double) * (size_t)(pos + 1));
  OVQ_MPI_CHECK(
      MPI_Alltoallv(send, scount, sdisp, MPI_DOUBLE, recv, rcount, rdisp, MPI_DOUBLE, comm));
  free(send);
  double *rows = OVQ_MALLOC(sizeof(double) * (size_t)(n_local * d + 1));
  for (int s = 0; s < size; s++) {
    OvqRange cb = ovq_partition_block(d, size, s);
    const double *b = recv + rdisp[s];
    for (int64_t j = 0; j < cb.count; j++)
      for (int64_t i = 0; i < n_local; i++)
        rows[i * d + cb.start + j] = b[j * n_local + i];
  }
  free(recv);
  free(scount);
  free(sdisp);
  free(rcount);
  free(rdisp);
  pearson_rows(rows, n_local, d, n, comm, r);
  free(rows);
  return OVQ_OK;
}
