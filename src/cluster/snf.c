/* Similarity network fusion and SNFtool's spectral clustering (see include/ovq/snf.h). Every
 * N x N matrix is held by rows (this rank's samples, all N columns); the kNN kernels S_v are
 * sparse (K entries per row) and replicated, so a fusion step costs O(N^2 K / ranks) and one
 * block transpose. Only the final eigensolver runs on a block-cyclic matrix. */
#include "ovq/snf.h"

#include <cblas.h>
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

/* The row partition of the N x N matrices: rank r holds rows [start[r], start[r + 1]) of
 * every matrix, row-major, n columns each. */
typedef struct Rows {
  MPI_Comm comm;
  int rank, size;
  int64_t n, n_local, r0;
  int64_t *start; /* [size + 1] */
} Rows;

static void rows_init(Rows *L, int64_t n_local, MPI_Comm comm) {
  L->comm = comm;
  OVQ_MPI_CHECK(MPI_Comm_rank(comm, &L->rank));
  OVQ_MPI_CHECK(MPI_Comm_size(comm, &L->size));
  L->start = OVQ_MALLOC(sizeof(int64_t) * (size_t)(L->size + 1));
  OVQ_MPI_CHECK(MPI_Allgather(&n_local, 1, MPI_INT64_T, L->start + 1, 1, MPI_INT64_T, comm));
  L->start[0] = 0;
  for (int r = 0; r < L->size; r++)
    L->start[r + 1] += L->start[r];
  L->n = L->start[L->size];
  L->n_local = n_local;
  L->r0 = L->start[L->rank];
}

static double *rows_alloc(const Rows *L) {
  return OVQ_MALLOC(sizeof(double) * (size_t)(L->n_local * L->n + 1));
}

/* Allgatherv of `per` items of type t per local row (mine: [n_local * per]) into all
 * (out: [n * per]), rows in global order. */
static void allgather_rows(const Rows *L, const void *mine, int64_t per, MPI_Datatype t,
                           void *all) {
  int *rc = OVQ_MALLOC(sizeof(int) * (size_t)L->size),
      *rd = OVQ_MALLOC(sizeof(int) * (size_t)L->size);
  for (int r = 0; r < L->size; r++) {
    rc[r] = OVQ_INT((L->start[r + 1] - L->start[r]) * per, "rows");
    rd[r] = OVQ_INT(L->start[r] * per, "rows");
  }
  OVQ_MPI_CHECK(MPI_Allgatherv(mine, rc[L->rank], t, all, rc, rd, t, L->comm));
  free(rc);
  free(rd);
}

/* Partner of rank r in round t (0 <= t < P' - 1) of the round-robin ("circle") schedule over
 * P' = size rounded up to even: every pair of ranks meets exactly once; a partner >= size
 * means r sits the round out. */
static int partner(int r, int t, int pe) {
  if (r == pe - 1) return t;
  if (r == t) return pe - 1;
  return ((2 * t - r) % (pe - 1) + (pe - 1)) % (pe - 1);
}

/* In place, X (rows, n_local x n) := X^T (sym = 0) or (X + X^T) / 2 (sym = 1). Block (I_r, I_s)
 * is swapped with the partner's (I_s, I_r) in one MPI_Sendrecv per pair of ranks, so the work
 * space is two off-diagonal blocks, not a matrix. (a + b) / 2 is the same on both sides, so
 * the result is exactly symmetric. */
enum { TB = 32 };
static void transpose_rows(const Rows *L, double *X, int sym) {
  const int64_t n = L->n, nl = L->n_local, r0 = L->r0;
  /* Tiles of TB x TB, so the strided side stays in cache. */
  for (int64_t ib = 0; ib < nl; ib += TB)
    for (int64_t jb = ib; jb < nl; jb += TB)
      for (int64_t i = ib; i < ib + TB && i < nl; i++)
        for (int64_t j = jb > i + 1 ? jb : i + 1; j < jb + TB && j < nl; j++) {
          double *a = &X[i * n + r0 + j], *b = &X[j * n + r0 + i];
          double x = *a, y = *b;
          *a = sym ? (x + y) / 2 : y;
          *b = sym ? (y + x) / 2 : x;
        }
  if (L->size == 1) return;
  int64_t maxl = 0;
  for (int r = 0; r < L->size; r++)
    if (L->start[r + 1] - L->start[r] > maxl) maxl = L->start[r + 1] - L->start[r];
  double *sbuf = OVQ_MALLOC(sizeof(double) * (size_t)(nl * maxl + 1));
  double *rbuf = OVQ_MALLOC(sizeof(double) * (size_t)(nl * maxl + 1));
  const int pe = L->size + (L->size & 1);
  for (int t = 0; t < pe - 1; t++) {
    int s = partner(L->rank, t, pe);
    if (s >= L->size) continue;
    const int64_t s0 = L->start[s], ns = L->start[s + 1] - s0;
    for (int64_t i = 0; i < nl; i++)
      memcpy(sbuf + i * ns, X + i * n + s0, sizeof(double) * (size_t)ns);
    const int cnt = OVQ_INT(nl * ns, "transpose block");
    OVQ_MPI_CHECK(MPI_Sendrecv(sbuf, cnt, MPI_DOUBLE, s, 41, rbuf, cnt, MPI_DOUBLE, s, 41, L->comm,
                               MPI_STATUS_IGNORE));
    /* rbuf = X(I_s, I_r), row-major ns x nl. */
    for (int64_t ib = 0; ib < nl; ib += TB)
      for (int64_t jb = 0; jb < ns; jb += TB)
        for (int64_t i = ib; i < ib + TB && i < nl; i++) {
          double *row = X + i * n + s0;
          for (int64_t j = jb; j < jb + TB && j < ns; j++)
            row[j] = sym ? (row[j] + rbuf[j * nl + i]) / 2 : rbuf[j * nl + i];
        }
  }
  free(sbuf);
  free(rbuf);
}

/* SNFtool 2.3 normalize on rows: X_ij / (2 (rowsum_i - X_ii)), a zero denominator -> 1;
 * diagonal 0.5. */
static void snf_normalise(const Rows *L, double *X) {
  const int64_t n = L->n;
  for (int64_t i = 0; i < L->n_local; i++) {
    double *row = X + i * n, s = 0.0;
    for (int64_t j = 0; j < n; j++)
      s += row[j];
    s -= row[L->r0 + i];
    if (s == 0.0) s = 1.0;
    for (int64_t j = 0; j < n; j++)
      row[j] /= 2 * s;
    row[L->r0 + i] = 0.5;
  }
}

/* A kNN kernel of SNFtool's .dominateset, replicated: row i keeps K columns idx[i K + k]
 * (ascending) with values val[i K + k]; all other entries are 0. */
typedef struct Knn {
  int K;
  int32_t *idx;
  double *val;
} Knn;

static void knn_free(Knn *S) {
  free(S->idx);
  free(S->val);
  memset(S, 0, sizeof(*S));
}

static int cmp_i32(const void *a, const void *b) {
  int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
  return (x > y) - (x < y);
}

/* .dominateset(X, K) of the rows of X: the K largest entries of each row kept (ties: higher
 * column index kept, as R zeroes the first N - K of a stable ascending sort), each row scaled
 * by the sum of what it kept (summed in column order, as the dense row sum is); then
 * every rank gets every row. */
static void dominate_set(const Rows *L, const double *X, int K, Knn *S) {
  const int64_t n = L->n;
  S->K = K;
  S->idx = OVQ_MALLOC(sizeof(int32_t) * (size_t)(n * K));
  S->val = OVQ_MALLOC(sizeof(double) * (size_t)(n * K));
  int32_t *li = OVQ_MALLOC(sizeof(int32_t) * (size_t)(L->n_local * K + 1));
  double *lv = OVQ_MALLOC(sizeof(double) * (size_t)(L->n_local * K + 1));
  int64_t *top = OVQ_MALLOC(sizeof(int64_t) * (size_t)(K + 1));
  for (int64_t i = 0; i < L->n_local; i++) {
    const double *row = X + i * n;
    int m = 0;
    /* Keep the K best by (value, index), larger first. */
    for (int64_t j = 0; j < n; j++) {
      if (m == K && row[j] < row[top[K - 1]]) continue;
      int pos = m < K ? m++ : K - 1;
      while (pos > 0 && row[j] >= row[top[pos - 1]]) {
        top[pos] = top[pos - 1];
        pos--;
      }
      top[pos] = j;
    }
    int32_t *ix = li + i * K;
    for (int k = 0; k < K; k++)
      ix[k] = (int32_t)top[k];
    qsort(ix, (size_t)K, sizeof(int32_t), cmp_i32);
    double sum = 0.0;
    for (int k = 0; k < K; k++)
      sum += row[ix[k]];
    for (int k = 0; k < K; k++)
      lv[i * K + k] = row[ix[k]] / sum;
  }
  free(top);
  allgather_rows(L, li, K, MPI_INT32_T, S->idx);
  allgather_rows(L, lv, K, MPI_DOUBLE, S->val);
  free(li);
  free(lv);
}

enum { RB = 8 }; /* rows per pass of the sparse product: RB doubles = one 64-byte cache line */
/* Half a staged block (GCC vector extension; two registers under AVX2, four under SSE2). */
typedef double Half __attribute__((vector_size(RB / 2 * sizeof(double))));
typedef struct RowBlock {
  Half lo, hi;
} RowBlock;

/* Built for baseline x86-64 and, chosen at load time, for AVX2 (as src/nn/adam.c). Neither
 * clone may contract a * b + c into an FMA (AVX2 does not enable FMA), so both round alike. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define SNF_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define SNF_CLONES
#endif

/* out (rows) := P S^T, i.e. out_ij = sum_k P_i,idx[j][k] val[j][k], where P is the mean of
 * the nsrc row matrices src (one source: itself). RB rows of P at a time are staged
 * interleaved (stage: [n] RowBlocks, 64-byte aligned), so each nonzero of S costs one cache
 * line for RB outputs, accumulated in registers; out may be one of the sources. Each output
 * is summed in the same order (k ascending) on any rank count. */
SNF_CLONES static void times_knn_t(const Rows *L, double *const *src, int nsrc, const Knn *S,
                                   double *out, RowBlock *stage) {
  const int64_t n = L->n;
  const int K = S->K;
  for (int64_t i0 = 0; i0 < L->n_local; i0 += RB) {
    const int nb = L->n_local - i0 < RB ? (int)(L->n_local - i0) : RB;
    for (int64_t j = 0; j < n; j++) {
      double st[RB] = {0.0};
      for (int b = 0; b < nb; b++) {
        double s = 0.0;
        if (nsrc == 1) {
          s = src[0][(i0 + b) * n + j];
        } else {
          for (int u = 0; u < nsrc; u++)
            s += src[u][(i0 + b) * n + j];
          s /= nsrc;
        }
        st[b] = s;
      }
      memcpy(&stage[j], st, sizeof(st));
    }
    for (int64_t j = 0; j < n; j++) {
      const int32_t *ix = S->idx + j * K;
      const double *vv = S->val + j * K;
      Half lo = {0.0}, hi = {0.0};
      for (int k = 0; k < K; k++) {
        const RowBlock *p = &stage[ix[k]];
        lo += p->lo * vv[k];
        hi += p->hi * vv[k];
      }
      double acc[RB];
      memcpy(acc, &lo, sizeof(lo));
      memcpy(acc + RB / 2, &hi, sizeof(hi));
      for (int b = 0; b < nb; b++)
        out[(i0 + b) * n + j] = acc[b];
    }
  }
}

/* out (rows) := S P S^T for a symmetric P given as the mean of src (see times_knn_t): first
 * P S^T = (S P)^T (P symmetric), transposed to S P, then (S P) S^T, all in out. */
static void knn_sandwich(const Rows *L, double *const *src, int nsrc, const Knn *S, double *out,
                         RowBlock *stage) {
  times_knn_t(L, src, nsrc, S, out, stage);
  transpose_rows(L, out, 0);
  times_knn_t(L, &out, 1, S, out, stage);
}

/* Steps 1-3 for one view: the affinityMatrix of the standardised view, in rows W
 * (out: [n_local][n]). The Gram matrix comes from a ring: every rank's standardised block
 * (with its squared norms) travels once around, each step one DGEMM into the columns of the
 * block's rows. */
static void view_affinity(const OvqSnfParams *p, const OvqSnfView *v, const Rows *L, double *W) {
  const int64_t d = v->d, n = L->n, nl = L->n_local;
  /* standardNormalization: mean, then sd (N - 1), two passes. */
  double *mean = OVQ_CALLOC((size_t)d, sizeof(double)), *sd = OVQ_CALLOC((size_t)d, sizeof(double));
  for (int64_t i = 0; i < nl; i++)
    for (int64_t f = 0; f < d; f++)
      mean[f] += v->x[i * d + f];
  OVQ_MPI_CHECK(
      MPI_Allreduce(MPI_IN_PLACE, mean, OVQ_INT(d, "features"), MPI_DOUBLE, MPI_SUM, L->comm));
  for (int64_t f = 0; f < d; f++)
    mean[f] /= (double)n;
  for (int64_t i = 0; i < nl; i++)
    for (int64_t f = 0; f < d; f++) {
      double t = v->x[i * d + f] - mean[f];
      sd[f] += t * t;
    }
  OVQ_MPI_CHECK(
      MPI_Allreduce(MPI_IN_PLACE, sd, OVQ_INT(d, "features"), MPI_DOUBLE, MPI_SUM, L->comm));
  for (int64_t f = 0; f < d; f++) {
    sd[f] = sqrt(sd[f] / (double)(n - 1));
    if (sd[f] == 0.0) sd[f] = 1.0;
  }
  int64_t maxl = 0;
  for (int r = 0; r < L->size; r++)
    if (L->start[r + 1] - L->start[r] > maxl) maxl = L->start[r + 1] - L->start[r];
  const int64_t rec = d + 1; /* standardised values, then the squared norm */
  double *mine = OVQ_MALLOC(sizeof(double) * (size_t)(nl * rec + 1));
  for (int64_t i = 0; i < nl; i++) {
    double s = 0.0;
    for (int64_t f = 0; f < d; f++) {
      double z = (v->x[i * d + f] - mean[f]) / sd[f];
      mine[i * rec + f] = z;
      s += z * z;
    }
    mine[i * rec + d] = s;
  }
  free(mean);
  free(sd);
  /* dist2: |x_i|^2 + |x_j|^2 - 2 x_i.x_j, floored at 0. */
  double *blk = OVQ_MALLOC(sizeof(double) * (size_t)(maxl * rec + 1));
  double *nxt = OVQ_MALLOC(sizeof(double) * (size_t)(maxl * rec + 1));
  memcpy(blk, mine, sizeof(double) * (size_t)(nl * rec));
  for (int step = 0; step < L->size; step++) {
    const int s = ((L->rank - step) % L->size + L->size) % L->size; /* owner of blk */
    const int64_t s0 = L->start[s], ns = L->start[s + 1] - s0;
    if (nl > 0 && ns > 0 && step == 0) {
      /* The diagonal block is symmetric: DSYRK's upper triangle, mirrored (half the flops). */
      cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, OVQ_INT(nl, "rows"),
                  OVQ_INT(d, "features"), 1.0, mine, OVQ_INT(rec, "features"), 0.0, W + s0,
                  OVQ_INT(n, "samples"));
      for (int64_t ib = 0; ib < nl; ib += TB)
        for (int64_t jb = ib; jb < nl; jb += TB)
          for (int64_t i = ib; i < ib + TB && i < nl; i++)
            for (int64_t j = jb > i + 1 ? jb : i + 1; j < jb + TB && j < nl; j++)
              W[j * n + s0 + i] = W[i * n + s0 + j];
    } else if (nl > 0 && ns > 0) {
      cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, OVQ_INT(nl, "rows"), OVQ_INT(ns, "rows"),
                  OVQ_INT(d, "features"), 1.0, mine, OVQ_INT(rec, "features"), blk,
                  OVQ_INT(rec, "features"), 0.0, W + s0, OVQ_INT(n, "samples"));
    }
    if (nl > 0 && ns > 0) {
      for (int64_t i = 0; i < nl; i++) {
        double *row = W + i * n + s0;
        for (int64_t j = 0; j < ns; j++) {
          double r = mine[i * rec + d] + blk[j * rec + d] - 2 * row[j];
          row[j] = r < 0 ? 0.0 : r;
        }
      }
    }
    if (step < L->size - 1) {
      const int dst = (L->rank + 1) % L->size, src = (L->rank - 1 + L->size) % L->size;
      const int64_t nr =
          L->start[(s - 1 + L->size) % L->size + 1] - L->start[(s - 1 + L->size) % L->size];
      OVQ_MPI_CHECK(MPI_Sendrecv(blk, OVQ_INT(ns * rec, "block"), MPI_DOUBLE, dst, 42, nxt,
                                 OVQ_INT(nr * rec, "block"), MPI_DOUBLE, src, 42, L->comm,
                                 MPI_STATUS_IGNORE));
      double *t = blk;
      blk = nxt;
      nxt = t;
    }
  }
  free(blk);
  free(nxt);
  free(mine);
  /* affinityMatrix: Diff = (Diff + Diff^T) / 2, diagonal 0; m_i from the K + 1 smallest of
   * row i (a sorted insertion list: O(N K) per row at worst, not a sort of the row). */
  transpose_rows(L, W, 1);
  double *small = OVQ_MALLOC(sizeof(double) * (size_t)(p->K + 1));
  double *m_loc = OVQ_MALLOC(sizeof(double) * (size_t)(nl + 1));
  for (int64_t i = 0; i < nl; i++) {
    double *row = W + i * n;
    row[L->r0 + i] = 0.0;
    int m = 0;
    for (int64_t j = 0; j < n; j++) {
      double x = row[j];
      if (m == p->K + 1 && !(x < small[p->K])) continue;
      int pos = m <= p->K ? m++ : p->K;
      while (pos > 0 && x < small[pos - 1]) {
        small[pos] = small[pos - 1];
        pos--;
      }
      small[pos] = x;
    }
    double s = 0.0;
    int cnt = 0;
    for (int t = 1; t <= p->K; t++)
      if (isfinite(small[t])) {
        s += small[t];
        cnt++;
      }
    m_loc[i] = s / cnt + DBL_EPSILON;
  }
  free(small);
  double *means = OVQ_MALLOC(sizeof(double) * (size_t)n);
  allgather_rows(L, m_loc, 1, MPI_DOUBLE, means);
  free(m_loc);
  /* dnorm(x, 0, s) as R computes it for |x / s| < 5: exp(-z^2 / 2) / sqrt(2 pi) / s. The
   * result is symmetric exactly (Diff and the means are), so (dens + dens^T) / 2 = dens. */
  const double inv_sqrt_2pi = 0.398942280401432677939946059934;
  for (int64_t i = 0; i < nl; i++) {
    double mi = means[L->r0 + i], *row = W + i * n;
    for (int64_t j = 0; j < n; j++) {
      double diff = row[j];
      double sig = (mi + means[j]) / 2 / 3 * 2 + diff / 3 + DBL_EPSILON;
      if (sig <= DBL_EPSILON) sig = DBL_EPSILON;
      double s = p->alpha * sig, z = diff / s;
      row[j] = inv_sqrt_2pi * exp(-0.5 * z * z) / s;
    }
  }
  free(means);
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
  double *s = OVQ_MALLOC(sizeof(double) * (size_t)k),
         *u = OVQ_MALLOC(sizeof(double) * (size_t)(k * k));
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

/* The local rows of the block-cyclic n x n matrix A from the symmetric row matrix X (in rows;
 * consumed: freed, or adopted by A on one process, where A's column-major array is X itself). */
static void rows_to_dmat(const Rows *L, double *X, OvqDmat *A) {
  if (L->size == 1) {
    free(A->a);
    A->a = X;
    return;
  }
  ovq_dmat_from_rows(A, 0.0, 1.0, X, L->n_local, L->n, 0);
  free(X);
}

OvqStatus ovq_snf_fit(const OvqSnfParams *p, const OvqSnfView *views, int n_views, int64_t n_local,
                      MPI_Comm comm, OvqSnfResult *out) {
  memset(out, 0, sizeof(*out));
  int64_t n;
  if (check_input(p, views, n_views, n_local, comm, &n) != OVQ_OK) return OVQ_ERR;
  const int V = n_views, C = p->n_clusters;
  Rows L;
  rows_init(&L, n_local, comm);
  const size_t len = (size_t)(n_local * n);
  double t_start = MPI_Wtime(), t_aff, t_fuse, t_eig;
  double **Wall = OVQ_CALLOC((size_t)V, sizeof(double *));
  for (int v = 0; v < V; v++) {
    Wall[v] = rows_alloc(&L);
    view_affinity(p, &views[v], &L, Wall[v]);
  }
  t_aff = MPI_Wtime();
  double *W = Wall[0];
  if (V > 1) {
    /* Status matrices: V old ones, and new ones for views 0..V-2; the last view's new matrix
     * goes into its own old one (read only by the views before it). (2 V - 1) N^2 / ranks
     * doubles in all, plus the replicated sparse kernels (N K each). */
    Knn *S = OVQ_CALLOC((size_t)V, sizeof(Knn));
    double **next = OVQ_CALLOC((size_t)V, sizeof(double *));
    double **src = OVQ_CALLOC((size_t)V, sizeof(double *));
    RowBlock *stage = aligned_alloc(sizeof(RowBlock), sizeof(RowBlock) * (size_t)n);
    if (!stage)
      OVQ_ABORT("snf: out of memory (%lld bytes)", (long long)(sizeof(RowBlock) * (size_t)n));
    for (int v = 0; v < V; v++) {
      snf_normalise(&L, Wall[v]);
      transpose_rows(&L, Wall[v], 1);
      dominate_set(&L, Wall[v], p->K, &S[v]);
    }
    for (int v = 0; v < V - 1; v++)
      next[v] = rows_alloc(&L);
    for (int t = 0; t < p->T; t++) {
      /* nextW_v = S_v (sum_{u != v} W_u / (V - 1)) S_v^T from the previous iterates. */
      for (int v = 0; v < V; v++) {
        int ns = 0;
        for (int u = 0; u < V; u++)
          if (u != v) src[ns++] = Wall[u];
        next[V - 1] = Wall[V - 1];
        knn_sandwich(&L, src, ns, &S[v], next[v], stage);
      }
      for (int v = 0; v < V; v++) {
        double *old = Wall[v];
        Wall[v] = next[v];
        if (v < V - 1) next[v] = old;
        snf_normalise(&L, Wall[v]);
        transpose_rows(&L, Wall[v], 1);
      }
    }
    for (int v = 0; v < V; v++) {
      if (v < V - 1) free(next[v]);
      knn_free(&S[v]);
    }
    free(S);
    free(next);
    free(src);
    free(stage);
    W = Wall[0];
    for (int v = 1; v < V; v++) {
      for (size_t e = 0; e < len; e++)
        W[e] += Wall[v][e];
      free(Wall[v]);
    }
    for (size_t e = 0; e < len; e++)
      W[e] /= V;
    snf_normalise(&L, W);
    transpose_rows(&L, W, 1);
  }
  free(Wall);
  t_fuse = MPI_Wtime();
  if (p->keep_fused) {
    out->fused = OVQ_MALLOC(sizeof(double) * (len + 1));
    memcpy(out->fused, W, sizeof(double) * len);
  }

  /* spectralClustering type 3: NL = Di (D - W) Di, d = row sums (0 -> eps). The product
   * l (di dj) is the same for (i, j) and (j, i), so NL is exactly symmetric. */
  double *sums = OVQ_MALLOC(sizeof(double) * (size_t)n),
         *loc = OVQ_MALLOC(sizeof(double) * (size_t)(n_local + 1));
  for (int64_t i = 0; i < n_local; i++) {
    double s = 0.0;
    for (int64_t j = 0; j < n; j++)
      s += W[i * n + j];
    loc[i] = s == 0.0 ? DBL_EPSILON : s;
  }
  allgather_rows(&L, loc, 1, MPI_DOUBLE, sums);
  free(loc);
  double *dih = OVQ_MALLOC(sizeof(double) * (size_t)n);
  for (int64_t j = 0; j < n; j++)
    dih[j] = 1 / sqrt(sums[j]);
  for (int64_t i = 0; i < n_local; i++) {
    const int64_t gi = L.r0 + i;
    for (int64_t j = 0; j < n; j++) {
      double l = (gi == j ? sums[gi] : 0.0) - W[i * n + j];
      W[i * n + j] = l * (dih[gi] * dih[j]);
    }
  }
  free(sums);
  free(dih);
  OvqGrid *grid = ovq_grid_create(comm);
  const int nb = ovq_dmat_default_nb(grid, n);
  OvqDmat *A = ovq_dmat_create(grid, n, n, nb);
  rows_to_dmat(&L, W, A);
  OvqDmat *Z = ovq_dmat_create(grid, n, C + 1, nb); /* only the wanted eigenvectors */
  double *lambda = OVQ_MALLOC(sizeof(double) * (size_t)(C + 1));
  OvqStatus st = ovq_dmat_eigh_range(A, 1, C + 1, lambda, Z);
  ovq_dmat_destroy(&A);
  st = ovq_status_agree(comm, st);
  double *u_loc = NULL, *U = NULL;
  if (st == OVQ_OK) {
    u_loc = OVQ_MALLOC(sizeof(double) * (size_t)(n_local * C + 1));
    ovq_dmat_to_rows(Z, u_loc, n_local, C, C);
  }
  ovq_dmat_destroy(&Z);
  ovq_grid_destroy(&grid);
  t_eig = MPI_Wtime();
  if (st != OVQ_OK) {
    free(lambda);
    free(L.start);
    ovq_snf_result_free(out);
    return OVQ_ERR;
  }
  /* All rows on every rank (N x n_clusters), unit rows, then the replicated discretisation. */
  U = OVQ_MALLOC(sizeof(double) * (size_t)(n * C));
  allgather_rows(&L, u_loc, C, MPI_DOUBLE, U);
  free(u_loc);
  for (int64_t i = 0; i < n; i++) {
    double s = 0.0;
    for (int c = 0; c < C; c++)
      s += U[i * C + c] * U[i * C + c];
    s = sqrt(s);
    for (int c = 0; c < C; c++)
      U[i * C + c] /= s;
  }
  out->labels = OVQ_MALLOC(sizeof(int32_t) * (size_t)(n_local + 1));
  discretisation(U, n, C, L.r0, n_local, out->labels);
  free(U);
  free(L.start);
  ovq_log(OVQ_LOG_DEBUG,
          "snf: N %lld, %d views, T %d on %d ranks: affinity %.2f s, fusion %.2f s, "
          "eigensolver %.2f s, discretisation %.2f s",
          (long long)n, V, p->T, L.size, t_aff - t_start, t_fuse - t_aff, t_eig - t_fuse,
          MPI_Wtime() - t_eig);
  out->n_clusters = C;
  out->n_local = n_local;
  out->n = n;
  out->eigenvalues = lambda;
  out->eigengap = lambda[C] - lambda[C - 1];
  return OVQ_OK;
}
