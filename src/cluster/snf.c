/* Similarity network fusion and SNFtool's spectral clustering (see include/ovq/snf.h). Row-wise
 * steps (affinity, dominant set) run on rows; products, transposes, row sums and the
 * eigensolver on block-cyclic matrices. */
#include "ovq/snf.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ovq/linalg.h"

void dgesvd_(const char *jobu, const char *jobvt, const int *m, const int *n, double *a,
             const int *lda, double *s, double *u, const int *ldu, double *vt, const int *ldvt,
             double *work, const int *lwork, int *info, size_t lju, size_t ljvt);

void ovq_snf_defaults(OvqSnfParams *p) {
  memset(p, 0, sizeof(*p));
  p->K = 20;
  p->alpha = 0.5;
  p->T = 20;
  p->n_clusters = 2;
}

void ovq_snf_result_free(OvqSnfResult *r) {
  if (!r) return;
  free(r->labels);
  free(r->eigenvalues);
  free(r->fused);
  memset(r, 0, sizeof(*r));
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Allgather of one double per local row into v (out: [n]). */
static void allgather_rows(const double *mine, int64_t n_local, double *v, MPI_Comm comm) {
  int size;
  OVQ_MPI_CHECK(MPI_Comm_size(comm, &size));
  int64_t *cnt = OVQ_MALLOC(sizeof(int64_t) * (size_t)size);
  OVQ_MPI_CHECK(MPI_Allgather(&n_local, 1, MPI_INT64_T, cnt, 1, MPI_INT64_T, comm));
  int *rc = OVQ_MALLOC(sizeof(int) * (size_t)size), *rd = OVQ_MALLOC(sizeof(int) * (size_t)size);
  int64_t off = 0;
  for (int r = 0; r < size; r++) {
    rc[r] = OVQ_INT(cnt[r], "rows");
    rd[r] = OVQ_INT(off, "rows");
    off += cnt[r];
  }
  OVQ_MPI_CHECK(MPI_Allgatherv(mine, OVQ_INT(n_local, "rows"), MPI_DOUBLE, v, rc, rd, MPI_DOUBLE,
                               comm));
  free(rc);
  free(rd);
  free(cnt);
}

/* X := (X + X^T) / 2, with tmp as work space. */
static void symmetrise(OvqDmat *X, OvqDmat *tmp) {
  ovq_dmat_tran_add(1.0, X, 0.0, tmp);
  for (size_t i = 0; i < (size_t)X->lld * (size_t)X->lcols; i++)
    X->a[i] = (X->a[i] + tmp->a[i]) / 2;
}

/* SNFtool 2.3 normalize: X_ij / (2 (rowsum_i - X_ii)), a zero denominator -> 1; diag 0.5. */
static void snf_normalise(OvqDmat *X, double *sums, double *diag) {
  ovq_dmat_row_sums(X, sums, diag);
  for (int64_t i = 0; i < X->m; i++) {
    sums[i] -= diag[i];
    if (sums[i] == 0.0) sums[i] = 1.0;
  }
  for (int lc = 0; lc < X->lcols; lc++) {
    int64_t j = ovq_dmat_col_global(X, lc);
    for (int lr = 0; lr < X->lrows; lr++) {
      int64_t i = ovq_dmat_row_global(X, lr);
      double *a = &X->a[(size_t)lc * X->lld + lr];
      *a = i == j ? 0.5 : *a / (2 * sums[i]);
    }
  }
}

/* Steps 1-3 for one view: the affinityMatrix of the standardised view, block-cyclic in W. */
static void view_affinity(const OvqSnfParams *p, const OvqSnfView *v, int64_t n_local,
                          int64_t n, OvqDmat *W, OvqDmat *tmp, MPI_Comm comm) {
  const int64_t d = v->d;
  /* standardNormalization: mean, then sd (N - 1), two passes. */
  double *mean = OVQ_CALLOC((size_t)d, sizeof(double)), *sd = OVQ_CALLOC((size_t)d, sizeof(double));
  for (int64_t i = 0; i < n_local; i++)
    for (int64_t f = 0; f < d; f++)
      mean[f] += v->x[i * d + f];
  OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, mean, OVQ_INT(d, "features"), MPI_DOUBLE, MPI_SUM, comm));
  for (int64_t f = 0; f < d; f++)
    mean[f] /= (double)n;
  for (int64_t i = 0; i < n_local; i++)
    for (int64_t f = 0; f < d; f++) {
      double t = v->x[i * d + f] - mean[f];
      sd[f] += t * t;
    }
  OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, sd, OVQ_INT(d, "features"), MPI_DOUBLE, MPI_SUM, comm));
  for (int64_t f = 0; f < d; f++) {
    sd[f] = sqrt(sd[f] / (double)(n - 1));
    if (sd[f] == 0.0) sd[f] = 1.0;
  }
  double *xs = OVQ_MALLOC(sizeof(double) * (size_t)(n_local * d + 1));
  double *sq = OVQ_MALLOC(sizeof(double) * (size_t)(n_local + 1));
  for (int64_t i = 0; i < n_local; i++) {
    double s = 0.0;
    for (int64_t f = 0; f < d; f++) {
      double z = (v->x[i * d + f] - mean[f]) / sd[f];
      xs[i * d + f] = z;
      s += z * z;
    }
    sq[i] = s;
  }
  free(mean);
  free(sd);
  double *sumsq = OVQ_MALLOC(sizeof(double) * (size_t)n);
  allgather_rows(sq, n_local, sumsq, comm);
  free(sq);
  /* dist2: the Gram matrix by pdgemm_, then |x_i|^2 + |x_j|^2 - 2 x_i.x_j, floored at 0. */
  OvqDmat *X = ovq_dmat_create(W->grid, n, d, W->nb);
  ovq_dmat_from_rows(X, 0.0, 1.0, xs, n_local, d, 0);
  free(xs);
  ovq_dmat_gemm('N', 'T', 1.0, X, X, 0.0, W);
  ovq_dmat_destroy(&X);
  for (int lc = 0; lc < W->lcols; lc++) {
    int64_t j = ovq_dmat_col_global(W, lc);
    for (int lr = 0; lr < W->lrows; lr++) {
      int64_t i = ovq_dmat_row_global(W, lr);
      double *a = &W->a[(size_t)lc * W->lld + lr];
      double r = sumsq[i] + sumsq[j] - 2 * *a;
      *a = r < 0 ? 0.0 : r;
    }
  }
  free(sumsq);
  /* affinityMatrix: symmetric Diff with zero diagonal, to rows for the sorted rows. */
  symmetrise(W, tmp);
  for (int lc = 0; lc < W->lcols; lc++)
    for (int lr = 0; lr < W->lrows; lr++)
      if (ovq_dmat_row_global(W, lr) == ovq_dmat_col_global(W, lc))
        W->a[(size_t)lc * W->lld + lr] = 0.0;
  double *rows = OVQ_MALLOC(sizeof(double) * (size_t)(n_local * n + 1));
  ovq_dmat_to_rows(W, rows, n_local, n, n);
  double *sorted = OVQ_MALLOC(sizeof(double) * (size_t)n);
  double *m_loc = OVQ_MALLOC(sizeof(double) * (size_t)(n_local + 1));
  for (int64_t i = 0; i < n_local; i++) {
    memcpy(sorted, rows + i * n, sizeof(double) * (size_t)n);
    qsort(sorted, (size_t)n, sizeof(double), cmp_double);
    double s = 0.0;
    int cnt = 0;
    for (int t = 1; t <= p->K; t++)
      if (isfinite(sorted[t])) {
        s += sorted[t];
        cnt++;
      }
    m_loc[i] = s / cnt + DBL_EPSILON;
  }
  free(sorted);
  double *means = OVQ_MALLOC(sizeof(double) * (size_t)n);
  allgather_rows(m_loc, n_local, means, comm);
  free(m_loc);
  int64_t r0 = 0;
  OVQ_MPI_CHECK(MPI_Exscan(&n_local, &r0, 1, MPI_INT64_T, MPI_SUM, comm));
  int rank;
  OVQ_MPI_CHECK(MPI_Comm_rank(comm, &rank));
  if (rank == 0) r0 = 0;
  /* dnorm(x, 0, s) as R computes it for |x / s| < 5: exp(-z^2 / 2) / sqrt(2 pi) / s. The
   * result is symmetric exactly (Diff and the means are), so (dens + dens^T) / 2 = dens. */
  const double inv_sqrt_2pi = 0.398942280401432677939946059934;
  for (int64_t i = 0; i < n_local; i++) {
    double mi = means[r0 + i];
    for (int64_t j = 0; j < n; j++) {
      double diff = rows[i * n + j];
      double sig = (mi + means[j]) / 2 / 3 * 2 + diff / 3 + DBL_EPSILON;
      if (sig <= DBL_EPSILON) sig = DBL_EPSILON;
      double s = p->alpha * sig, z = diff / s;
      rows[i * n + j] = inv_sqrt_2pi * exp(-0.5 * z * z) / s;
    }
  }
  free(means);
  ovq_dmat_from_rows(W, 0.0, 1.0, rows, n_local, n, 0);
  free(rows);
}

/* .dominateset(X, K): in rows, the K largest entries of each row kept (ties: higher column
 * index kept, as R zeroes the first N - K of a stable ascending sort), rows scaled to sum 1. */
static void dominate_set(const OvqDmat *X, int K, int64_t n_local, OvqDmat *S) {
  int64_t n = X->n;
  double *rows = OVQ_MALLOC(sizeof(double) * (size_t)(n_local * n + 1));
  ovq_dmat_to_rows(X, rows, n_local, n, n);
  int64_t *idx = OVQ_MALLOC(sizeof(int64_t) * (size_t)(K + 1));
  for (int64_t i = 0; i < n_local; i++) {
    double *row = rows + i * n;
    int m = 0;
    /* Keep the K best by (value, index), larger first. */
    for (int64_t j = 0; j < n; j++) {
      if (m == K && row[j] < row[idx[K - 1]]) continue;
      int pos = m < K ? m++ : K - 1;
      while (pos > 0 && row[j] >= row[idx[pos - 1]]) {
        idx[pos] = idx[pos - 1];
        pos--;
      }
      idx[pos] = j;
    }
    double *kept = OVQ_MALLOC(sizeof(double) * (size_t)K);
    double sum = 0.0;
    for (int t = 0; t < m; t++)
      kept[t] = row[idx[t]];
    memset(row, 0, sizeof(double) * (size_t)n);
    for (int t = 0; t < m; t++)
      row[idx[t]] = kept[t];
    for (int64_t j = 0; j < n; j++)
      sum += row[j];
    for (int t = 0; t < m; t++)
      row[idx[t]] /= sum;
    free(kept);
  }
  free(idx);
  ovq_dmat_from_rows(S, 0.0, 1.0, rows, n_local, n, 0);
  free(rows);
}

/* SNFtool's .discretisation of the row-normalised eigenvectors U (in: [n][k], replicated);
 * labels of rows r0 .. r0 + n_local - 1 (first maximum of each discrete row). */
static void discretisation(const double *U, int64_t n, int k, int64_t r0, int64_t n_local,
                           int32_t *labels) {
  double *R = OVQ_CALLOC((size_t)(k * k), sizeof(double)); /* R[a * k + b], row-major */
  double *c = OVQ_CALLOC((size_t)n, sizeof(double));
  double *UR = OVQ_MALLOC(sizeof(double) * (size_t)(n * k));
  int32_t *arg = OVQ_MALLOC(sizeof(int32_t) * (size_t)n);
  int64_t mid = (int64_t)nearbyint((double)n / 2) - 1; /* R's round(n / 2), half to even */
  if (mid < 0) mid = 0;
  for (int a = 0; a < k; a++)
    R[a * k] = U[mid * k + a];
  for (int j = 1; j < k; j++) {
    int64_t best = 0;
    for (int64_t i = 0; i < n; i++) {
      double s = 0.0;
      for (int a = 0; a < k; a++)
        s += U[i * k + a] * R[a * k + j - 1];
      c[i] += fabs(s);
      if (c[i] < c[best]) best = i;
    }
    for (int a = 0; a < k; a++)
      R[a * k + j] = U[best * k + a];
  }
  double last = 0.0, *M = OVQ_MALLOC(sizeof(double) * (size_t)(k * k));
  double *s = OVQ_MALLOC(sizeof(double) * (size_t)k), *u = OVQ_MALLOC(sizeof(double) * (size_t)(k * k));
  double *vt = OVQ_MALLOC(sizeof(double) * (size_t)(k * k));
  for (int it = 0; it < 20; it++) {
    for (int64_t i = 0; i < n; i++) {
      int am = 0;
      for (int b = 0; b < k; b++) {
        double t = 0.0;
        for (int a = 0; a < k; a++)
          t += U[i * k + a] * R[a * k + b];
        UR[i * k + b] = t;
        if (t > UR[i * k + am]) am = b;
      }
      arg[i] = am;
    }
    /* M = Discrete^T U (column-major for LAPACK): M(a, b) = sum over rows in cluster a of U_ib. */
    memset(M, 0, sizeof(double) * (size_t)(k * k));
    for (int64_t i = 0; i < n; i++)
      for (int b = 0; b < k; b++)
        M[b * k + arg[i]] += U[i * k + b];
    int kk = k, info = 0, lwork = 5 * k + 64;
    double *work = OVQ_MALLOC(sizeof(double) * (size_t)lwork);
    dgesvd_("A", "A", &kk, &kk, M, &kk, s, u, &kk, vt, &kk, work, &lwork, &info, 1, 1);
    OVQ_LAPACK_CHECK(info, "dgesvd");
    free(work);
    double sum_s = 0.0;
    for (int a = 0; a < k; a++)
      sum_s += s[a];
    double ncut = 2 * ((double)n - sum_s);
    if (fabs(ncut - last) < DBL_EPSILON) break;
    last = ncut;
    /* R = V U^T: R(a, b) = sum_c V(a, c) U(b, c) = sum_c VT(c, a) U(b, c). */
    for (int a = 0; a < k; a++)
      for (int b = 0; b < k; b++) {
        double t = 0.0;
        for (int cc = 0; cc < k; cc++)
          t += vt[a * k + cc] * u[cc * k + b];
        R[a * k + b] = t;
      }
  }
  for (int64_t i = 0; i < n_local; i++)
    labels[i] = arg[r0 + i];
  free(M);
  free(s);
  free(u);
  free(vt);
  free(arg);
  free(UR);
  free(c);
  free(R);
}

static OvqStatus check_input(const OvqSnfParams *p, const OvqSnfView *views, int n_views,
                             int64_t n_local, MPI_Comm comm, int64_t *n_out) {
  int64_t n = n_local;
  OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &n, 1, MPI_INT64_T, MPI_SUM, comm));
  *n_out = n;
  OvqStatus st = OVQ_OK;
  if (n_views < 1) st = ovq_error("snf: no views");
  for (int v = 0; st == OVQ_OK && v < n_views; v++) {
    int64_t dd[2] = {-views[v].d, views[v].d};
    OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, dd, 2, MPI_INT64_T, MPI_MAX, comm));
    if (-dd[0] < 1 || -dd[0] != dd[1])
      st = ovq_error("snf: view %d: feature count must be >= 1 and the same on every rank", v);
  }
  if (st != OVQ_OK) return ovq_status_agree(comm, st);
  if (n < 2)
    st = ovq_error("snf: need at least 2 samples, got %lld", (long long)n);
  else if (p->K < 1 || p->K >= n)
    st = ovq_error("snf: K = %d must be between 1 and N - 1 = %lld", p->K, (long long)(n - 1));
  else if (p->n_clusters < 1 || p->n_clusters >= n)
    st = ovq_error("snf: n_clusters = %d must be between 1 and N - 1 = %lld", p->n_clusters,
                   (long long)(n - 1));
  else if (!(p->alpha > 0.0 && isfinite(p->alpha)))
    st = ovq_error("snf: alpha = %g must be > 0", p->alpha);
  else if (p->T < 0)
    st = ovq_error("snf: T = %d must be >= 0", p->T);
  for (int v = 0; st == OVQ_OK && v < n_views; v++)
    for (int64_t i = 0; st == OVQ_OK && i < n_local * views[v].d; i++)
      if (!isfinite(views[v].x[i]))
        st = ovq_error("snf: view %d: non-finite value in sample row %lld", v,
                       (long long)(i / views[v].d));
  return ovq_status_agree(comm, st);
}

OvqStatus ovq_snf_fit(const OvqSnfParams *p, const OvqSnfView *views, int n_views,
                      int64_t n_local, MPI_Comm comm, OvqSnfResult *out) {
  memset(out, 0, sizeof(*out));
  int64_t n;
  if (check_input(p, views, n_views, n_local, comm, &n) != OVQ_OK) return OVQ_ERR;
  const int V = n_views, C = p->n_clusters;
  OvqGrid *grid = ovq_grid_create(comm);
  const int nb = ovq_dmat_default_nb(grid, n);
  OvqDmat *tmp = ovq_dmat_create(grid, n, n, nb);
  OvqDmat **Wall = OVQ_CALLOC((size_t)V, sizeof(OvqDmat *));
  for (int v = 0; v < V; v++) {
    Wall[v] = ovq_dmat_create(grid, n, n, nb);
    view_affinity(p, &views[v], n_local, n, Wall[v], tmp, comm);
  }
  double *sums = OVQ_MALLOC(sizeof(double) * (size_t)n), *diag = OVQ_MALLOC(sizeof(double) * (size_t)n);
  OvqDmat *W = NULL;
  if (V == 1) {
    W = Wall[0];
  } else {
    OvqDmat **newW = OVQ_CALLOC((size_t)V, sizeof(OvqDmat *));
    OvqDmat **nextW = OVQ_CALLOC((size_t)V, sizeof(OvqDmat *));
    OvqDmat *other = V > 2 ? ovq_dmat_create(grid, n, n, nb) : NULL;
    for (int v = 0; v < V; v++) {
      snf_normalise(Wall[v], sums, diag);
      symmetrise(Wall[v], tmp);
      newW[v] = ovq_dmat_create(grid, n, n, nb);
      nextW[v] = ovq_dmat_create(grid, n, n, nb);
    }
    for (int v = 0; v < V; v++)
      dominate_set(Wall[v], p->K, n_local, newW[v]);
    size_t len = (size_t)tmp->lld * (size_t)tmp->lcols;
    for (int t = 0; t < p->T; t++) {
      for (int v = 0; v < V; v++) {
        const OvqDmat *S = NULL;
        if (V == 2) {
          S = Wall[1 - v]; /* sumWJ / (LW - 1) with one other view: the view itself */
        } else {
          memset(other->a, 0, sizeof(double) * len);
          for (int u = 0; u < V; u++)
            if (u != v)
              for (size_t e = 0; e < len; e++)
                other->a[e] += Wall[u]->a[e];
          for (size_t e = 0; e < len; e++)
            other->a[e] /= (V - 1);
          S = other;
        }
        ovq_dmat_gemm('N', 'N', 1.0, newW[v], S, 0.0, tmp);
        ovq_dmat_gemm('N', 'T', 1.0, tmp, newW[v], 0.0, nextW[v]);
      }
      for (int v = 0; v < V; v++) {
        OvqDmat *swap = Wall[v];
        Wall[v] = nextW[v];
        nextW[v] = swap;
        snf_normalise(Wall[v], sums, diag);
        symmetrise(Wall[v], tmp);
      }
    }
    for (int v = 0; v < V; v++) {
      ovq_dmat_destroy(&newW[v]);
      ovq_dmat_destroy(&nextW[v]);
    }
    free(newW);
    free(nextW);
    ovq_dmat_destroy(&other);
    W = Wall[0];
    for (int v = 1; v < V; v++) {
      for (size_t e = 0; e < len; e++)
        W->a[e] += Wall[v]->a[e];
      ovq_dmat_destroy(&Wall[v]);
    }
    for (size_t e = 0; e < len; e++)
      W->a[e] /= V;
    snf_normalise(W, sums, diag);
    symmetrise(W, tmp);
  }
  free(Wall);
  if (p->keep_fused) {
    out->fused = OVQ_MALLOC(sizeof(double) * (size_t)(n_local * n + 1));
    ovq_dmat_to_rows(W, out->fused, n_local, n, n);
  }

  /* spectralClustering type 3: NL = Di (D - W) Di, d = row sums (0 -> eps). */
  ovq_dmat_row_sums(W, sums, NULL);
  for (int64_t i = 0; i < n; i++)
    diag[i] = 1 / sqrt(sums[i] == 0.0 ? DBL_EPSILON : sums[i]);
  for (int lc = 0; lc < W->lcols; lc++) {
    int64_t j = ovq_dmat_col_global(W, lc);
    for (int lr = 0; lr < W->lrows; lr++) {
      int64_t i = ovq_dmat_row_global(W, lr);
      double *a = &W->a[(size_t)lc * W->lld + lr];
      double l = (i == j ? (sums[i] == 0.0 ? DBL_EPSILON : sums[i]) : 0.0) - *a;
      *a = l * diag[i] * diag[j];
    }
  }
  free(sums);
  free(diag);
  double *lambda = OVQ_MALLOC(sizeof(double) * (size_t)(C + 1));
  OvqStatus st = ovq_dmat_eigh_range(W, 1, C + 1, lambda, tmp);
  ovq_dmat_destroy(&W);
  st = ovq_status_agree(comm, st);
  double *u_loc = NULL, *U = NULL;
  if (st == OVQ_OK) {
    u_loc = OVQ_MALLOC(sizeof(double) * (size_t)(n_local * C + 1));
    ovq_dmat_to_rows(tmp, u_loc, n_local, C, C);
  }
  ovq_dmat_destroy(&tmp);
  ovq_grid_destroy(&grid);
  if (st != OVQ_OK) {
    free(lambda);
    ovq_snf_result_free(out);
    return OVQ_ERR;
  }
  /* All rows on every rank (N x n_clusters), unit rows, then the replicated discretisation. */
  int size;
  OVQ_MPI_CHECK(MPI_Comm_size(comm, &size));
  int64_t *cnt = OVQ_MALLOC(sizeof(int64_t) * (size_t)size);
  OVQ_MPI_CHECK(MPI_Allgather(&n_local, 1, MPI_INT64_T, cnt, 1, MPI_INT64_T, comm));
  int *rc = OVQ_MALLOC(sizeof(int) * (size_t)size), *rd = OVQ_MALLOC(sizeof(int) * (size_t)size);
  int64_t off = 0, r0 = 0;
  int rank;
  OVQ_MPI_CHECK(MPI_Comm_rank(comm, &rank));
  for (int r = 0; r < size; r++) {
    if (r == rank) r0 = off / C;
    rc[r] = OVQ_INT(cnt[r] * C, "rows");
    rd[r] = OVQ_INT(off, "rows");
    off += cnt[r] * C;
  }
  U = OVQ_MALLOC(sizeof(double) * (size_t)(n * C));
  OVQ_MPI_CHECK(MPI_Allgatherv(u_loc, rc[rank], MPI_DOUBLE, U, rc, rd, MPI_DOUBLE, comm));
  free(u_loc);
  free(rc);
  free(rd);
  free(cnt);
  for (int64_t i = 0; i < n; i++) {
    double s = 0.0;
    for (int c = 0; c < C; c++)
      s += U[i * C + c] * U[i * C + c];
    s = sqrt(s);
    for (int c = 0; c < C; c++)
      U[i * C + c] /= s;
  }
  out->labels = OVQ_MALLOC(sizeof(int32_t) * (size_t)(n_local + 1));
  discretisation(U, n, C, r0, n_local, out->labels);
  free(U);
  out->n_clusters = C;
  out->n_local = n_local;
  out->n = n;
  out->eigenvalues = lambda;
  out->eigengap = lambda[C] - lambda[C - 1];
  return OVQ_OK;
}
