/* K-nearest-neighbour imputation as R's impute::impute.knn (see include/ovq/impute.h).
 *
 * What R does (impute 1.72.3: R/impute.knn.R, R/knnimp*.R, src/knnimp.f, misdis, misave,
 * porder, twomis; R's matrix is features x samples, ours is its transpose):
 *  1. colmax: stop if a sample misses more than colmax * (all features), counted before anything
 *     else. R's message does not say which sample; ours names it.
 *  2. rowmax: a feature missing in more than trunc(rowmax * n_samples) samples is set aside. Its
 *     missing values get the mean of their sample over the other ("kept") features' observed
 *     values, summed in feature order (misave): R's help page calls this "the overall mean per
 *     sample", and the code agrees, except that the set-aside features are not in the mean.
 *     The remaining steps see the kept features only.
 *  3. For each kept feature i with a missing value (knnimp.f), in any order (each uses the
 *     original data, never earlier imputations):
 *     - distance to every kept feature j, i itself included: the MEAN of (x_i - x_j)^2 over the
 *       samples both observe (misdis: sum in sample order, divided by the count), no square
 *       root; 1e10 when they share no observed sample;
 *     - the k + 1 smallest distances in order, equal distances by lower feature index (porder:
 *       an insertion sort with strict <);
 *     - the first of these k + 1 is dropped, meant to be i itself (distance 0). It is not always:
 *       a lower-indexed feature at distance exactly 0 (a duplicate) comes first and is dropped
 *       instead, and i stays in the list (it is missing where it is imputed, so it adds nothing);
 *     - the neighbour candidates are ALL kept features, whether or not they observe the sample
 *       being imputed: at each missing sample the value is the mean, in neighbour order, of the
 *       neighbours that observe it (misave), so fewer than k values may be averaged. If none
 *       does, the entry falls back to the sample mean of step 2.
 *  4. More than maxp kept features: split in two by two-means (below), recursively; each part
 *     is imputed by step 3 with candidates from that part only.
 * R bugs that are NOT copied here (documented so the fixtures avoid them, see
 * tools/gen_impute_fixtures.R):
 *  - exactly one rowmax feature: meanimp() does nothing for a one-row matrix, so R leaves that
 *    feature's missing values at 0. We give it the sample means, as R does for two or more.
 *  - mean.miss() runs `x[imiss] <- 0` with an integer 0/1 matrix, which zeroes element [1,1],
 *    so sample 1's mean counts the first kept feature's value as 0. We use the value.
 *  - fewer than k + 1 candidate features: porder fills only p positions and misave reads the
 *    unset ones (index 0, out of bounds). We use the p - 1 remaining after the dropped first,
 *    i.e. all other features; R's split means to do the same for parts of <= k features
 *    (meanimp), but calls meanimp on zero-filled data, leaving those values at 0.
 *  - a sample with no observed kept feature gets NA from R; we return an error naming it.
 *
 * Above maxp: ours is not R's. R splits with twomeans.miss(): two starting features drawn with
 * R's RNG (set.seed(362436069) unless rng.seed is given), up to 5 iterations with relative
 * tolerance 1e-3 on the summed distances, distances as in step 3; but it is called on the
 * zero-filled matrix, so missing values count as observed zeros. Ours: the same iteration with
 * missing values excluded, starters drawn from the counter-based generator keyed by
 * (opt->seed, OVQ_STREAM_IMPUTE_SPLIT, set id), centroid sums and the total distance summed in
 * fixed point (fixedsum.h) so they do not depend on the rank count; if a side comes out empty
 * the set is cut into halves in feature order (R would redraw the starters). Parts are split
 * until none has more than maxp features.
 *
 * Distributed layout. Steps 1-2 (counts, sample means) and the final fills run on the row
 * layout: each rank holds whole samples, so a sample's mean is summed in feature order as R
 * does. The kept features then move (MPI_Alltoallv) to feature blocks: rank r holds all samples
 * of kept features ovq_partition_block(p, size, r), feature-major, NaN = missing.
 *  - No split (p <= maxp): the blocks go round a ring; each rank compares its features that have
 *    a missing value with every block as it passes (sends overlap the computation) and keeps,
 *    per feature, its k + 1 nearest with their values at its missing samples; then averages.
 *  - Split: two-means runs on the blocks (each rank its members; centroids allreduced); the
 *    final parts are assigned whole to ranks (largest first, to the least loaded), their rows
 *    move to the owner, are imputed there (one block, the same code), and move back.
 * Then the blocks move back into x.
 *
 * Distances with BLAS. With x zero-filled, U_a the samples feature a misses and
 * Q_a = sum_s x_a(s)^2, the sum over co-observed samples is
 *   S_ab = Q_a + Q_b - 2 x_a.x_b - sum_{s in U_b} x_a(s)^2 - sum_{s in U_a} x_b(s)^2
 * and the count is n - |U_a| - |U_b| + |U_a & U_b|. x_a.x_b for a chunk of rows against a tile
 * of candidates is one DGEMM; the corrections cost O(missing) per pair. This is only an
 * approximation of R's sum (other rounding, and it can break exact ties such as the zero
 * distance of a feature to itself), so it only shortlists: with a rigorous bound tol on its
 * error, a candidate whose approximation minus tol exceeds the (k+1)-th best exact distance so
 * far (or the (k+1)-th smallest approximation plus tol in the tile) cannot be among the k + 1
 * nearest; the others get R's distance, computed exactly as misdis does. The result is R's
 * ranking, ties included, and does not depend on the rank count, the chunking or the BLAS. */
#include "ovq/impute.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ovq/fixedsum.h"
#include "ovq/partition.h"
#include "ovq/rng.h"

/* R's sums are reproduced bit for bit only without contraction into FMAs (gfortran on amd64
 * builds for baseline x86-64, which has none), whatever -march this file is built for. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

enum {
  ROW_CHUNK = 512,   /* features with missing values per DGEMM */
  COL_TILE = 2048,   /* candidate features per DGEMM (both large: BLAS packs its operands anew
                        for every call) */
  TWOMEANS_MAXIT = 5 /* R's twomeans.miss: maxit = 5, eps = 1e-3 */
};
static const double TWOMEANS_EPS = 1e-3;
/* misdis: the distance of two features that share no observed sample. */
static const double DISMAX = 1e10;

OvqKnnOptions ovq_knn_defaults(void) {
  OvqKnnOptions o;
  o.k = 10;
  o.rowmax = 0.5;
  o.colmax = 0.8;
  o.maxp = 1500;
  o.seed = 362436069u; /* R's rng.seed default */
  return o;
}

/* ---- The k + 1 nearest candidates of a set of features --------------------------------------
 * "Rows" are the features of one set (a rank's block, or a part of a split) that miss a value;
 * "candidates" are the features they are compared with, visited block by block. */
typedef struct Knn {
  int64_t n;      /* samples */
  int m;          /* list length: k + 1, or the candidate count if smaller */
  const float *x; /* [..][n]: the rows' data, feature-major, NaN = missing */
  int64_t n_rows; /* features with a missing value */
  int64_t *col;   /* [n_rows]: their index in x */
  int64_t *mptr;  /* [n_rows + 1]: CSR of their missing samples */
  int32_t *midx;  /* [mptr[n_rows]] */
  double *q;      /* [n_rows]: sum of squares of the observed values */
  int *len;       /* [n_rows]: entries in the list */
  double *dist;   /* [n_rows][m]: R's distances, ascending (ties: ascending key) */
  int64_t *key;   /* [n_rows][m]: candidate keys (feature order) */
  int *slot;      /* [n_rows][m]: where the entry's values are in pool */
  float *pool;    /* row r, slot s: pool + m * mptr[r] + s * |U_r|: the candidate's values at
                     the row's missing samples */
} Knn;

/* Scratch space for one visit. */
typedef struct KnnWork {
  double *xb;    /* [COL_TILE][n]: tile, zero-filled */
  double *qb;    /* [COL_TILE] */
  int64_t *ub;   /* [COL_TILE]: missing count */
  int64_t *bptr; /* [COL_TILE + 1]: CSR of the tile's missing samples */
  int32_t *bidx; /* [bcap] */
  int64_t bcap;
  double *xa;      /* [ROW_CHUNK][n]: rows, zero-filled */
  double *xsqat;   /* [n][ROW_CHUNK]: squares of the rows, sample-major */
  double *mat;     /* [n][ROW_CHUNK]: 1 where the row misses the sample, sample-major */
  double *g;       /* [COL_TILE][ROW_CHUNK]: x_b.x_a, then the lower bounds */
  double *t;       /* [ROW_CHUNK] */
  double *ic;      /* [ROW_CHUNK] */
  double *trk;     /* [ROW_CHUNK][m]: the tile's m smallest upper bounds */
  int *trk_len;    /* [ROW_CHUNK] */
  double *bound;   /* [ROW_CHUNK] */
  int64_t n_exact; /* exact distances computed (statistics) */
} KnnWork;

static void knn_init(Knn *s, const float *x, int64_t n_feat, int64_t n, int k, int64_t n_cand) {
  memset(s, 0, sizeof *s);
  s->n = n;
  s->x = x;
  s->m = (int)((int64_t)k + 1 < n_cand ? (int64_t)k + 1 : n_cand);
  int64_t rows = 0, nnz = 0;
  for (int64_t f = 0; f < n_feat; f++) {
    int64_t c = 0;
    for (int64_t i = 0; i < n; i++)
      c += isnan(x[f * n + i]) != 0;
    if (c) rows++, nnz += c;
  }
  s->n_rows = rows;
  s->col = OVQ_MALLOC(sizeof(int64_t) * (size_t)(rows + 1));
  s->mptr = OVQ_MALLOC(sizeof(int64_t) * (size_t)(rows + 1));
  s->midx = OVQ_MALLOC(sizeof(int32_t) * (size_t)(nnz + 1));
  s->q = OVQ_MALLOC(sizeof(double) * (size_t)(rows + 1));
  int64_t r = 0, z = 0;
  s->mptr[0] = 0;
  for (int64_t f = 0; f < n_feat; f++) {
    const float *xf = x + f * n;
    int64_t z0 = z;
    double q = 0.0;
    for (int64_t i = 0; i < n; i++) {
      if (isnan(xf[i]))
        s->midx[z++] = (int32_t)i;
      else
        q += (double)xf[i] * (double)xf[i];
    }
    if (z == z0) continue;
    s->col[r] = f;
    s->q[r] = q;
    s->mptr[++r] = z;
  }
  size_t mm = (size_t)(s->m > 0 ? s->m : 1);
  s->len = OVQ_CALLOC((size_t)(rows + 1), sizeof(int));
  s->dist = OVQ_MALLOC(sizeof(double) * mm * (size_t)(rows + 1));
  s->key = OVQ_MALLOC(sizeof(int64_t) * mm * (size_t)(rows + 1));
  s->slot = OVQ_MALLOC(sizeof(int) * mm * (size_t)(rows + 1));
  s->pool = OVQ_MALLOC(sizeof(float) * mm * (size_t)(nnz + 1));
}

static void knn_free(Knn *s) {
  free(s->col);
  free(s->mptr);
  free(s->midx);
  free(s->q);
  free(s->len);
  free(s->dist);
  free(s->key);
  free(s->slot);
  free(s->pool);
  memset(s, 0, sizeof *s);
}

static void work_init(KnnWork *w, int64_t n, int m) {
  memset(w, 0, sizeof *w);
  size_t nn = (size_t)(n > 0 ? n : 1), mm = (size_t)(m > 0 ? m : 1);
  w->xb = OVQ_MALLOC(sizeof(double) * COL_TILE * nn);
  w->qb = OVQ_MALLOC(sizeof(double) * COL_TILE);
  w->ub = OVQ_MALLOC(sizeof(int64_t) * COL_TILE);
  w->bptr = OVQ_MALLOC(sizeof(int64_t) * (COL_TILE + 1));
  w->bcap = 1024;
  w->bidx = OVQ_MALLOC(sizeof(int32_t) * (size_t)w->bcap);
  w->xa = OVQ_MALLOC(sizeof(double) * ROW_CHUNK * nn);
  w->xsqat = OVQ_MALLOC(sizeof(double) * ROW_CHUNK * nn);
  w->mat = OVQ_MALLOC(sizeof(double) * ROW_CHUNK * nn);
  w->g = OVQ_MALLOC(sizeof(double) * COL_TILE * ROW_CHUNK);
  w->t = OVQ_MALLOC(sizeof(double) * ROW_CHUNK);
  w->ic = OVQ_MALLOC(sizeof(double) * ROW_CHUNK);
  w->trk = OVQ_MALLOC(sizeof(double) * ROW_CHUNK * mm);
  w->trk_len = OVQ_MALLOC(sizeof(int) * ROW_CHUNK);
  w->bound = OVQ_MALLOC(sizeof(double) * ROW_CHUNK);
}

static void work_free(KnnWork *w) {
  free(w->xb);
  free(w->qb);
  free(w->ub);
  free(w->bptr);
  free(w->bidx);
  free(w->xa);
  free(w->xsqat);
  free(w->mat);
  free(w->g);
  free(w->t);
  free(w->ic);
  free(w->trk);
  free(w->trk_len);
  free(w->bound);
  memset(w, 0, sizeof *w);
}

/* R's misdis for one pair: mean of squared differences over the samples both observe, summed
 * in sample order; DISMAX if there is none. */
static double exact_dist(const float *xa, const float *xb, int64_t n) {
  double sum = 0.0;
  int64_t cnt = 0;
  for (int64_t i = 0; i < n; i++) {
    if (isnan(xa[i]) || isnan(xb[i])) continue;
    double d = (double)xa[i] - (double)xb[i];
    sum += d * d;
    cnt++;
  }
  return cnt ? sum / (double)cnt : DISMAX;
}

/* Offers candidate (d, key) with data xb to row r's list; returns 1 if it entered. The list is
 * the m smallest (distance, key) pairs seen, in that order: porder's insertion sort with strict
 * comparisons keeps the earlier (lower-indexed) of equal distances first. */
static int knn_offer(Knn *s, int64_t r, double d, int64_t key, const float *xb) {
  const int m = s->m;
  int len = s->len[r];
  double *dist = s->dist + r * m;
  int64_t *keys = s->key + r * m;
  int *slot = s->slot + r * m;
  if (len == m && (d > dist[m - 1] || (d == dist[m - 1] && key > keys[m - 1]))) return 0;
  int pos = len < m ? len : m - 1;
  while (pos > 0 && (d < dist[pos - 1] || (d == dist[pos - 1] && key < keys[pos - 1])))
    pos--;
  int sl = len < m ? len : slot[m - 1];
  int last = len < m ? len : m - 1;
  for (int i = last; i > pos; i--) {
    dist[i] = dist[i - 1];
    keys[i] = keys[i - 1];
    slot[i] = slot[i - 1];
  }
  dist[pos] = d;
  keys[pos] = key;
  slot[pos] = sl;
  if (len < m) s->len[r] = len + 1;
  const int64_t u = s->mptr[r + 1] - s->mptr[r];
  const int32_t *mi = s->midx + s->mptr[r];
  float *dst = s->pool + (int64_t)m * s->mptr[r] + (int64_t)sl * u;
  for (int64_t t = 0; t < u; t++)
    dst[t] = xb[mi[t]];
  return 1;
}

/* t[i] += x[i], c[i] += y[i], written four at a time so that -O2 vectorises it. */
static void add2(double *restrict t, double *restrict c, const double *restrict x,
                 const double *restrict y, int64_t n) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    t[i] += x[i];
    t[i + 1] += x[i + 1];
    t[i + 2] += x[i + 2];
    t[i + 3] += x[i + 3];
    c[i] += y[i];
    c[i + 1] += y[i + 1];
    c[i + 2] += y[i + 2];
    c[i + 3] += y[i + 3];
  }
  for (; i < n; i++) {
    t[i] += x[i];
    c[i] += y[i];
  }
}

/* Compares the rows with candidates blk[0..c) (feature-major, NaN = missing), whose keys are
 * key0 + 0..c-1. */
static void knn_visit(Knn *s, KnnWork *w, const float *blk, int64_t c, int64_t key0) {
  const int64_t n = s->n;
  const int m = s->m;
  if (m == 0 || s->n_rows == 0 || c == 0) return;
  /* Error bound of the DGEMM route relative to (Q_a + Q_b) / count: every partial sum is a sum
   * of at most ~4n terms of magnitude <= Q_a + Q_b, and R's own sum has error <= n u of its
   * terms; 16 (n + 8) u covers both with room (u = DBL_EPSILON / 2). */
  const double tol_c = 16.0 * ((double)n + 8.0) * (DBL_EPSILON / 2);
  for (int64_t b0 = 0; b0 < c; b0 += COL_TILE) {
    const int64_t tc = c - b0 < COL_TILE ? c - b0 : COL_TILE;
    /* The tile, zero-filled, with its squares and missing samples. */
    int64_t nnz = 0;
    w->bptr[0] = 0;
    for (int64_t b = 0; b < tc; b++) {
      const float *xf = blk + (b0 + b) * n;
      double *xd = w->xb + b * n, q = 0.0;
      for (int64_t i = 0; i < n; i++) {
        if (isnan(xf[i])) {
          xd[i] = 0.0;
          if (nnz == w->bcap) {
            w->bcap *= 2;
            w->bidx = OVQ_REALLOC(w->bidx, sizeof(int32_t) * (size_t)w->bcap);
          }
          w->bidx[nnz++] = (int32_t)i;
        } else {
          xd[i] = xf[i];
          q += xd[i] * xd[i];
        }
      }
      w->qb[b] = q;
      w->bptr[b + 1] = nnz;
      w->ub[b] = nnz - w->bptr[b];
    }
    for (int64_t r0 = 0; r0 < s->n_rows; r0 += ROW_CHUNK) {
      const int64_t ch = s->n_rows - r0 < ROW_CHUNK ? s->n_rows - r0 : ROW_CHUNK;
      for (int64_t a = 0; a < ch; a++) {
        const float *xf = s->x + s->col[r0 + a] * n;
        double *xd = w->xa + a * n;
        for (int64_t i = 0; i < n; i++) {
          double v = isnan(xf[i]) ? 0.0 : (double)xf[i];
          xd[i] = v;
          w->xsqat[i * ch + a] = v * v;
          w->mat[i * ch + a] = isnan(xf[i]) ? 1.0 : 0.0;
        }
        w->trk_len[a] = 0;
      }
      /* g[b][a] = x_b . x_a */
      cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, OVQ_INT(tc, "impute tile"),
                  OVQ_INT(ch, "impute chunk"), OVQ_INT(n, "impute samples"), 1.0, w->xb, (int)n,
                  w->xa, (int)n, 0.0, w->g, (int)ch);
      /* Pass 1: approximate distances -> lower bounds in g; the m smallest upper bounds. */
      for (int64_t b = 0; b < tc; b++) {
        const double *xbd = w->xb + b * n;
        double *gb = w->g + b * ch, *t = w->t, *ic = w->ic;
        /* Over the samples b misses: t = sum of the rows' squares there, ic = how many of them
         * the row misses too. */
        memset(t, 0, sizeof(double) * (size_t)ch);
        memset(ic, 0, sizeof(double) * (size_t)ch);
        for (int64_t z = w->bptr[b]; z < w->bptr[b + 1]; z++)
          add2(t, ic, w->xsqat + (int64_t)w->bidx[z] * ch, w->mat + (int64_t)w->bidx[z] * ch, ch);
        const double qb = w->qb[b];
        const int64_t nb_obs = n - w->ub[b];
        for (int64_t a = 0; a < ch; a++) {
          const int64_t r = r0 + a;
          const int32_t *mi = s->midx + s->mptr[r];
          const int64_t u = s->mptr[r + 1] - s->mptr[r];
          double pp = 0.0; /* squares of b where the row misses (zero-filled: no branch) */
          for (int64_t z = 0; z < u; z++)
            pp += xbd[mi[z]] * xbd[mi[z]];
          const int64_t cnt = nb_obs - u + (int64_t)ic[a];
          double lo, hi;
          if (cnt > 0) {
            const double qq = s->q[r] + qb, inv = 1.0 / (double)cnt;
            const double d = (qq - 2.0 * gb[a] - t[a] - pp) * inv;
            const double tol = tol_c * qq * inv;
            lo = d - tol;
            hi = d + tol;
          } else {
            lo = hi = DISMAX;
          }
          gb[a] = lo;
          double *tr = w->trk + a * m;
          int tl = w->trk_len[a];
          if (tl < m || hi < tr[m - 1]) {
            int pos = tl < m ? tl : m - 1;
            while (pos > 0 && hi < tr[pos - 1]) {
              tr[pos] = tr[pos - 1];
              pos--;
            }
            tr[pos] = hi;
            if (tl < m) w->trk_len[a] = tl + 1;
          }
        }
      }
      /* A candidate can enter only if its lower bound is <= the list's m-th distance and <= the
       * tile's m-th smallest upper bound (m candidates of the tile are at least that close). */
      for (int64_t a = 0; a < ch; a++) {
        const int64_t r = r0 + a;
        double bd = w->trk_len[a] == m ? w->trk[a * m + m - 1] : INFINITY;
        if (s->len[r] == m && s->dist[r * m + m - 1] < bd) bd = s->dist[r * m + m - 1];
        w->bound[a] = bd;
      }
      /* Pass 2: R's distance for the shortlisted candidates. */
      for (int64_t b = 0; b < tc; b++) {
        const float *xbf = blk + (b0 + b) * n;
        const double *gb = w->g + b * ch;
        for (int64_t a = 0; a < ch; a++) {
          if (!(gb[a] <= w->bound[a])) continue;
          const int64_t r = r0 + a;
          const double d = exact_dist(s->x + s->col[r] * n, xbf, n);
          w->n_exact++;
          if (knn_offer(s, r, d, key0 + b0 + b, xbf) && s->len[r] == m &&
              s->dist[r * m + m - 1] < w->bound[a])
            w->bound[a] = s->dist[r * m + m - 1];
        }
      }
    }
  }
}

/* Writes the imputed values into out ([..][n], feature-major, indexed like s->x): at each
 * missing sample, the mean in list order of the entries after the first that observe it
 * (misave); NaN where none does. */
static void knn_finish(const Knn *s, float *out) {
  const int m = s->m;
  for (int64_t r = 0; r < s->n_rows; r++) {
    const int64_t u = s->mptr[r + 1] - s->mptr[r];
    const int32_t *mi = s->midx + s->mptr[r];
    const float *base = s->pool + (int64_t)m * s->mptr[r];
    float *o = out + s->col[r] * s->n;
    for (int64_t t = 0; t < u; t++) {
      double sum = 0.0;
      int64_t cnt = 0;
      for (int i = 1; i < s->len[r]; i++) {
        float v = base[(int64_t)s->slot[r * m + i] * u + t];
        if (isnan(v)) continue;
        sum += v;
        cnt++;
      }
      o[mi[t]] = cnt ? (float)(sum / (double)cnt) : NAN;
    }
  }
}

/* Imputes the features x[0..nf) ([nf][n], feature-major) from each other, in place. */
static void knn_local(float *x, int64_t nf, int64_t n, int k, int64_t *n_exact) {
  Knn s;
  KnnWork w;
  knn_init(&s, x, nf, n, k, nf);
  work_init(&w, n, s.m);
  knn_visit(&s, &w, x, nf, 0);
  knn_finish(&s, x);
  *n_exact += w.n_exact;
  work_free(&w);
  knn_free(&s);
}

/* ---- Layouts --------------------------------------------------------------------------------- */
typedef struct Plan {
  MPI_Comm comm;
  int rank, size;
  int64_t n;     /* samples (all ranks) */
  int64_t F;     /* features of x */
  int64_t p;     /* kept features */
  int64_t *kept; /* [p]: their columns in x */
  int64_t *rs;   /* [size + 1]: first sample row of each rank */
  int64_t *fs;   /* [size + 1]: first kept feature of each rank's block */
} Plan;

/* The kept features of x's rows -> this rank's block fb ([fs[r+1] - fs[r]][n], feature-major). */
static void rows_to_blocks(const Plan *pl, const OvqMatrix *x, float *fb) {
  const int P = pl->size, r = pl->rank;
  const int64_t nl = x->n_local, F = pl->F, n = pl->n, cr = pl->fs[r + 1] - pl->fs[r];
  int *sc = OVQ_MALLOC(sizeof(int) * (size_t)P * 4), *sd = sc + P, *rc = sc + 2 * P,
      *rd = sc + 3 * P;
  int64_t so = 0, ro = 0;
  for (int q = 0; q < P; q++) {
    sc[q] = OVQ_INT(nl * (pl->fs[q + 1] - pl->fs[q]), "impute send count");
    sd[q] = OVQ_INT(so, "impute send offset");
    so += sc[q];
    rc[q] = OVQ_INT((pl->rs[q + 1] - pl->rs[q]) * cr, "impute receive count");
    rd[q] = OVQ_INT(ro, "impute receive offset");
    ro += rc[q];
  }
  float *sb = OVQ_MALLOC(sizeof(float) * (size_t)(so + 1));
  float *rb = OVQ_MALLOC(sizeof(float) * (size_t)(ro + 1));
  int64_t z = 0;
  for (int q = 0; q < P; q++)
    for (int64_t i = 0; i < nl; i++)
      for (int64_t t = pl->fs[q]; t < pl->fs[q + 1]; t++)
        sb[z++] = x->x[i * F + pl->kept[t]];
  OVQ_MPI_CHECK(MPI_Alltoallv(sb, sc, sd, MPI_FLOAT, rb, rc, rd, MPI_FLOAT, pl->comm));
  z = 0;
  for (int q = 0; q < P; q++)
    for (int64_t i = pl->rs[q]; i < pl->rs[q + 1]; i++)
      for (int64_t t = 0; t < cr; t++)
        fb[t * n + i] = rb[z++];
  free(sb);
  free(rb);
  free(sc);
}

/* The inverse: block fb back into the kept columns of x's rows. */
static void blocks_to_rows(const Plan *pl, const float *fb, OvqMatrix *x) {
  const int P = pl->size, r = pl->rank;
  const int64_t nl = x->n_local, F = pl->F, n = pl->n, cr = pl->fs[r + 1] - pl->fs[r];
  int *sc = OVQ_MALLOC(sizeof(int) * (size_t)P * 4), *sd = sc + P, *rc = sc + 2 * P,
      *rd = sc + 3 * P;
  int64_t so = 0, ro = 0;
  for (int q = 0; q < P; q++) {
    sc[q] = OVQ_INT((pl->rs[q + 1] - pl->rs[q]) * cr, "impute send count");
    sd[q] = OVQ_INT(so, "impute send offset");
    so += sc[q];
    rc[q] = OVQ_INT(nl * (pl->fs[q + 1] - pl->fs[q]), "impute receive count");
    rd[q] = OVQ_INT(ro, "impute receive offset");
    ro += rc[q];
  }
  float *sb = OVQ_MALLOC(sizeof(float) * (size_t)(so + 1));
  float *rb = OVQ_MALLOC(sizeof(float) * (size_t)(ro + 1));
  int64_t z = 0;
  for (int q = 0; q < P; q++)
    for (int64_t i = pl->rs[q]; i < pl->rs[q + 1]; i++)
      for (int64_t t = 0; t < cr; t++)
        sb[z++] = fb[t * n + i];
  OVQ_MPI_CHECK(MPI_Alltoallv(sb, sc, sd, MPI_FLOAT, rb, rc, rd, MPI_FLOAT, pl->comm));
  z = 0;
  for (int q = 0; q < P; q++)
    for (int64_t i = 0; i < nl; i++)
      for (int64_t t = pl->fs[q]; t < pl->fs[q + 1]; t++)
        x->x[i * F + pl->kept[t]] = rb[z++];
  free(sb);
  free(rb);
  free(sc);
}

/* ---- No split: the ring ---------------------------------------------------------------------- */
/* Imputes the block fb ([cr][n]) with every rank's block as candidates. */
static void impute_ring(const Plan *pl, float *fb, int k, int64_t *n_exact) {
  const int P = pl->size, r = pl->rank;
  const int64_t n = pl->n, cr = pl->fs[r + 1] - pl->fs[r];
  int64_t cmax = 0;
  for (int q = 0; q < P; q++)
    if (pl->fs[q + 1] - pl->fs[q] > cmax) cmax = pl->fs[q + 1] - pl->fs[q];
  Knn s;
  KnnWork w;
  knn_init(&s, fb, cr, n, k, pl->p);
  work_init(&w, n, s.m);
  float *cur = OVQ_MALLOC(sizeof(float) * (size_t)(cmax * n + 1));
  float *next = OVQ_MALLOC(sizeof(float) * (size_t)(cmax * n + 1));
  memcpy(cur, fb, sizeof(float) * (size_t)(cr * n));
  const int left = (r + P - 1) % P, right = (r + 1) % P;
  for (int step = 0; step < P; step++) {
    const int owner = (r + step) % P, nxt = (r + step + 1) % P;
    const int64_t c = pl->fs[owner + 1] - pl->fs[owner];
    MPI_Request req[2];
    int nreq = 0;
    if (step + 1 < P) {
      /* Every rank passes what it holds to the left and takes its right neighbour's. */
      OVQ_MPI_CHECK(MPI_Irecv(next, OVQ_INT((pl->fs[nxt + 1] - pl->fs[nxt]) * n, "impute ring"),
                              MPI_FLOAT, right, 0, pl->comm, &req[nreq++]));
      OVQ_MPI_CHECK(MPI_Isend(cur, OVQ_INT(c * n, "impute ring"), MPI_FLOAT, left, 0, pl->comm,
                              &req[nreq++]));
    }
    knn_visit(&s, &w, cur, c, pl->fs[owner]);
    if (nreq) OVQ_MPI_CHECK(MPI_Waitall(nreq, req, MPI_STATUSES_IGNORE));
    float *tmp = cur;
    cur = next;
    next = tmp;
  }
  knn_finish(&s, fb);
  *n_exact += w.n_exact;
  free(cur);
  free(next);
  work_free(&w);
  knn_free(&s);
}

/* ---- Split: two-means on the blocks, parts imputed whole on one rank ------------------------- */
typedef struct Part {
  int64_t id, size;
  int owner;
} Part;

/* Mean squared difference of a feature and a centroid (NaN = missing) over the samples both
 * have; DISMAX if none (misdis). */
static double centroid_dist(const float *xf, const double *c, int64_t n) {
  double sum = 0.0;
  int64_t cnt = 0;
  for (int64_t i = 0; i < n; i++) {
    if (isnan(xf[i]) || isnan(c[i])) continue;
    double d = (double)xf[i] - c[i];
    sum += d * d;
    cnt++;
  }
  return cnt ? sum / (double)cnt : DISMAX;
}

/* Collective. Splits set `id` (size members over the ranks; setid marks this rank's) in two;
 * writes 0/1 per local member into side. */
static void two_means(const Plan *pl, const float *fb, int64_t cr, const int64_t *setid, int64_t id,
                      int64_t size, uint64_t seed, int *side) {
  const int P = pl->size;
  const int64_t n = pl->n;
  int64_t nloc = 0;
  for (int64_t f = 0; f < cr; f++)
    nloc += setid[f] == id;
  int64_t *cnt = OVQ_MALLOC(sizeof(int64_t) * (size_t)(P + 1));
  OVQ_MPI_CHECK(MPI_Allgather(&nloc, 1, MPI_INT64_T, cnt, 1, MPI_INT64_T, pl->comm));
  int64_t before = 0; /* members on lower ranks */
  for (int q = 0; q < pl->rank; q++)
    before += cnt[q];

  /* Starters: two different members, by position in feature order. */
  OvqRng rng;
  ovq_rng_init(&rng, seed, OVQ_STREAM_IMPUTE_SPLIT, (uint64_t)id);
  int64_t pos[2];
  pos[0] = (int64_t)ovq_rng_below(&rng, (uint64_t)size);
  pos[1] = (int64_t)ovq_rng_below(&rng, (uint64_t)(size - 1));
  if (pos[1] >= pos[0]) pos[1]++;
  double *cen = OVQ_MALLOC(sizeof(double) * (size_t)(2 * n));
  for (int c = 0; c < 2; c++) {
    int root = 0;
    int64_t off = pos[c];
    while (off >= cnt[root])
      off -= cnt[root++];
    if (root == pl->rank) {
      int64_t seen = 0;
      for (int64_t f = 0; f < cr; f++)
        if (setid[f] == id && seen++ == off)
          for (int64_t i = 0; i < n; i++)
            cen[c * n + i] = fb[f * n + i];
    }
    OVQ_MPI_CHECK(MPI_Bcast(cen + c * n, OVQ_INT(n, "impute samples"), MPI_DOUBLE, root, pl->comm));
  }

  double maxabs = 0.0;
  for (int64_t f = 0; f < cr; f++)
    if (setid[f] == id)
      for (int64_t i = 0; i < n; i++)
        if (fabs(fb[f * n + i]) > maxabs) maxabs = fabs(fb[f * n + i]);
  const double sum_bound = ovq_fixed_bound(maxabs, size, pl->comm);
  int64_t *ccnt = OVQ_MALLOC(sizeof(int64_t) * (size_t)(2 * n));
  double *csum = OVQ_MALLOC(sizeof(double) * (size_t)(2 * n));

  /* twomis: assign to the nearer centroid (the second on ties), stop when the summed distance
   * changes by at most eps relative or is 0, else move the centroids to their members' means. */
  double dold = 0.0, ratio = 10.0;
  for (int iter = 1; iter <= TWOMEANS_MAXIT && ratio > TWOMEANS_EPS; iter++) {
    double dmax = 0.0;
    for (int64_t f = 0, l = 0; f < cr; f++) {
      if (setid[f] != id) continue;
      double d0 = centroid_dist(fb + f * n, cen, n), d1 = centroid_dist(fb + f * n, cen + n, n);
      side[l] = d0 < d1 ? 0 : 1;
      double d = d0 < d1 ? d0 : d1;
      if (d > dmax) dmax = d;
      l++;
    }
    OvqFixedSum dsum;
    ovq_fixed_init(&dsum, 1, ovq_fixed_bound(dmax, size, pl->comm));
    for (int64_t f = 0, l = 0; f < cr; f++) {
      if (setid[f] != id) continue;
      ovq_fixed_add(&dsum, 0, centroid_dist(fb + f * n, cen + side[l] * n, n));
      l++;
    }
    double dnew;
    ovq_fixed_allreduce(&dsum, pl->comm, &dnew);
    ovq_fixed_free(&dsum);
    if (dnew == 0.0) break;
    if (iter == 1) dold = dnew * 10.0;
    ratio = fabs(dnew - dold) / dold;
    dold = dnew;
    OvqFixedSum sums;
    ovq_fixed_init(&sums, 2 * n, sum_bound);
    memset(ccnt, 0, sizeof(int64_t) * (size_t)(2 * n));
    for (int64_t f = 0, l = 0; f < cr; f++) {
      if (setid[f] != id) continue;
      for (int64_t i = 0; i < n; i++) {
        float v = fb[f * n + i];
        if (isnan(v)) continue;
        ovq_fixed_add(&sums, side[l] * n + i, v);
        ccnt[side[l] * n + i]++;
      }
      l++;
    }
    ovq_fixed_allreduce(&sums, pl->comm, csum);
    ovq_fixed_free(&sums);
    OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, ccnt, OVQ_INT(2 * n, "impute samples"), MPI_INT64_T,
                                MPI_SUM, pl->comm));
    for (int64_t i = 0; i < 2 * n; i++)
      cen[i] = ccnt[i] ? csum[i] / (double)ccnt[i] : NAN;
  }

  /* A side left empty: halves in feature order instead (R would draw new starters). */
  int64_t n1 = 0;
  for (int64_t l = 0; l < nloc; l++)
    n1 += side[l];
  OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &n1, 1, MPI_INT64_T, MPI_SUM, pl->comm));
  if (n1 == 0 || n1 == size)
    for (int64_t l = 0; l < nloc; l++)
      side[l] = before + l < size / 2 ? 0 : 1;
  free(cnt);
  free(cen);
  free(ccnt);
  free(csum);
}

static int part_cmp(const void *a, const void *b) {
  const Part *x = a, *y = b;
  if (x->size != y->size) return x->size > y->size ? -1 : 1;
  return x->id < y->id ? -1 : x->id > y->id;
}

/* Splits the kept features into parts of at most maxp, imputes each part on one rank and brings
 * the results back into fb. Returns the number of parts. */
static int64_t impute_split(const Plan *pl, float *fb, const OvqKnnOptions *opt, int64_t *n_exact) {
  const int P = pl->size, r = pl->rank;
  const int64_t n = pl->n, cr = pl->fs[r + 1] - pl->fs[r];
  int64_t *setid = OVQ_CALLOC((size_t)(cr + 1), sizeof(int64_t));
  int *side = OVQ_MALLOC(sizeof(int) * (size_t)(cr + 1));
  /* Breadth-first: queue of sets still larger than maxp; ids in order of creation. */
  int64_t qcap = 64, qhead = 0, qtail = 0, next_id = 1, n_parts = 0, pcap = 64;
  Part *queue = OVQ_MALLOC(sizeof(Part) * (size_t)qcap);
  Part *parts = OVQ_MALLOC(sizeof(Part) * (size_t)pcap);
  queue[qtail++] = (Part){0, pl->p, 0};
  while (qhead < qtail) {
    Part set = queue[qhead++];
    two_means(pl, fb, cr, setid, set.id, set.size, opt->seed, side);
    int64_t child[2] = {next_id, next_id + 1}, csize[2] = {0, 0};
    next_id += 2;
    for (int64_t f = 0, l = 0; f < cr; f++) {
      if (setid[f] != set.id) continue;
      setid[f] = child[side[l]];
      csize[side[l]]++;
      l++;
    }
    OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, csize, 2, MPI_INT64_T, MPI_SUM, pl->comm));
    for (int c = 0; c < 2; c++) {
      Part ch = {child[c], csize[c], 0};
      if (ch.size > opt->maxp) {
        if (qtail == qcap) {
          qcap *= 2;
          queue = OVQ_REALLOC(queue, sizeof(Part) * (size_t)qcap);
        }
        queue[qtail++] = ch;
      } else {
        if (n_parts == pcap) {
          pcap *= 2;
          parts = OVQ_REALLOC(parts, sizeof(Part) * (size_t)pcap);
        }
        parts[n_parts++] = ch;
      }
    }
  }
  /* Owners: largest part first, to the rank with the least work (size^2) so far. */
  qsort(parts, (size_t)n_parts, sizeof(Part), part_cmp);
  double *load = OVQ_CALLOC((size_t)P, sizeof(double));
  int64_t *part_of = OVQ_MALLOC(sizeof(int64_t) * (size_t)next_id); /* id -> index in parts */
  for (int64_t i = 0; i < n_parts; i++) {
    int best = 0;
    for (int q = 1; q < P; q++)
      if (load[q] < load[best]) best = q;
    parts[i].owner = best;
    load[best] += (double)parts[i].size * (double)parts[i].size;
    part_of[parts[i].id] = i;
  }

  /* Move each feature (its n values, and its part) to the part's owner. Features arrive in
   * feature order: blocks come in rank order, each in order. */
  int *cnt = OVQ_CALLOC((size_t)P * 4, sizeof(int)), *dsp = cnt + P, *rcnt = cnt + 2 * P,
      *rdsp = cnt + 3 * P;
  for (int64_t f = 0; f < cr; f++)
    cnt[parts[part_of[setid[f]]].owner]++;
  OVQ_MPI_CHECK(MPI_Alltoall(cnt, 1, MPI_INT, rcnt, 1, MPI_INT, pl->comm));
  int64_t nrecv = 0;
  for (int q = 0, so = 0; q < P; q++) {
    dsp[q] = so;
    so += cnt[q];
    rdsp[q] = OVQ_INT(nrecv, "impute features");
    nrecv += rcnt[q];
  }
  int64_t *sid = OVQ_MALLOC(sizeof(int64_t) * (size_t)(cr + 1)), *rid;
  float *sbuf = OVQ_MALLOC(sizeof(float) * (size_t)(cr * n + 1)), *rbuf;
  int *fill = OVQ_CALLOC((size_t)P, sizeof(int));
  for (int64_t f = 0; f < cr; f++) {
    int64_t pi = part_of[setid[f]];
    int q = parts[pi].owner;
    int64_t at = dsp[q] + fill[q]++;
    sid[at] = pi;
    memcpy(sbuf + at * n, fb + f * n, sizeof(float) * (size_t)n);
  }
  rid = OVQ_MALLOC(sizeof(int64_t) * (size_t)(nrecv + 1));
  rbuf = OVQ_MALLOC(sizeof(float) * (size_t)(nrecv * n + 1));
  OVQ_MPI_CHECK(MPI_Alltoallv(sid, cnt, dsp, MPI_INT64_T, rid, rcnt, rdsp, MPI_INT64_T, pl->comm));
  /* The same exchange for the rows, in units of n floats. */
  MPI_Datatype row;
  OVQ_MPI_CHECK(MPI_Type_contiguous(OVQ_INT(n, "impute samples"), MPI_FLOAT, &row));
  OVQ_MPI_CHECK(MPI_Type_commit(&row));
  OVQ_MPI_CHECK(MPI_Alltoallv(sbuf, cnt, dsp, row, rbuf, rcnt, rdsp, row, pl->comm));

  /* Impute the parts this rank owns. */
  float *px = NULL;
  int64_t *pidx = OVQ_MALLOC(sizeof(int64_t) * (size_t)(nrecv + 1));
  for (int64_t i = 0; i < n_parts; i++) {
    if (parts[i].owner != r) continue;
    int64_t m = 0;
    for (int64_t j = 0; j < nrecv; j++)
      if (rid[j] == i) pidx[m++] = j;
    px = OVQ_REALLOC(px, sizeof(float) * (size_t)(m * n + 1));
    for (int64_t j = 0; j < m; j++)
      memcpy(px + j * n, rbuf + pidx[j] * n, sizeof(float) * (size_t)n);
    knn_local(px, m, n, opt->k, n_exact);
    for (int64_t j = 0; j < m; j++)
      memcpy(rbuf + pidx[j] * n, px + j * n, sizeof(float) * (size_t)n);
  }
  /* And back. */
  OVQ_MPI_CHECK(MPI_Alltoallv(rbuf, rcnt, rdsp, row, sbuf, cnt, dsp, row, pl->comm));
  OVQ_MPI_CHECK(MPI_Type_free(&row));
  memset(fill, 0, sizeof(int) * (size_t)P);
  for (int64_t f = 0; f < cr; f++) {
    int q = parts[part_of[setid[f]]].owner;
    int64_t at = dsp[q] + fill[q]++;
    memcpy(fb + f * n, sbuf + at * n, sizeof(float) * (size_t)n);
  }
  free(px);
  free(pidx);
  free(fill);
  free(sid);
  free(rid);
  free(sbuf);
  free(rbuf);
  free(cnt);
  free(part_of);
  free(load);
  free(parts);
  free(queue);
  free(side);
  free(setid);
  return n_parts;
}

/* ---- Driver ---------------------------------------------------------------------------------- */
static void sample_name(char *buf, size_t len, const OvqStrings *ids, int64_t local,
                        int64_t global) {
  if (ids && local < ids->n && ovq_strings_at(ids, local)[0])
    snprintf(buf, len, "'%s' (row %lld)", ovq_strings_at(ids, local), (long long)global);
  else
    snprintf(buf, len, "in row %lld", (long long)global);
}

OvqStatus ovq_impute_knn(OvqMatrix *x, const OvqKnnOptions *opt, const OvqStrings *sample_ids,
                         MPI_Comm comm, OvqKnnReport *report) {
  Plan pl;
  memset(&pl, 0, sizeof pl);
  pl.comm = comm;
  OVQ_MPI_CHECK(MPI_Comm_rank(comm, &pl.rank));
  OVQ_MPI_CHECK(MPI_Comm_size(comm, &pl.size));
  const int P = pl.size;
  const int64_t F = x->n_cols, nl = x->n_local;
  pl.F = F;
  if (report) memset(report, 0, sizeof *report);

  OvqStatus st = OVQ_OK;
  if (opt->k < 1 || opt->maxp < 1 || !(opt->rowmax >= 0 && opt->rowmax <= 1) ||
      !(opt->colmax >= 0 && opt->colmax <= 1))
    st = ovq_error("impute: k = %d, maxp = %lld, rowmax = %g, colmax = %g: k and maxp must be "
                   ">= 1, rowmax and colmax in [0, 1]",
                   opt->k, (long long)opt->maxp, opt->rowmax, opt->colmax);
  if (ovq_status_agree(comm, st) != OVQ_OK) return OVQ_ERR;

  /* Sample rows of every rank. */
  pl.rs = OVQ_MALLOC(sizeof(int64_t) * (size_t)(P + 1));
  pl.fs = OVQ_MALLOC(sizeof(int64_t) * (size_t)(P + 1));
  OVQ_MPI_CHECK(MPI_Allgather(&nl, 1, MPI_INT64_T, pl.rs + 1, 1, MPI_INT64_T, comm));
  pl.rs[0] = 0;
  for (int q = 0; q < P; q++)
    pl.rs[q + 1] += pl.rs[q];
  pl.n = pl.rs[P];
  if (pl.n != x->n_total || pl.rs[pl.rank] != x->row_start)
    OVQ_ABORT("impute: the matrix's rows (%lld from %lld of %lld) are not in rank order",
              (long long)nl, (long long)x->row_start, (long long)x->n_total);
  const int64_t n = pl.n;

  /* 1. colmax (R counts against all features) and non-finite values. */
  int64_t *fmiss = OVQ_CALLOC((size_t)(F + 1), sizeof(int64_t));
  for (int64_t i = 0; i < nl && st == OVQ_OK; i++) {
    int64_t c = 0;
    for (int64_t j = 0; j < F; j++) {
      float v = x->x[i * F + j];
      if (isnan(v)) {
        c++;
        fmiss[j]++;
      } else if (isinf(v)) {
        char name[256];
        sample_name(name, sizeof name, sample_ids, i, x->row_start + i);
        st =
            ovq_error("impute: sample %s has an infinite value in column %lld", name, (long long)j);
        break;
      }
    }
    if (st == OVQ_OK && (double)c > opt->colmax * (double)F) {
      char name[256];
      sample_name(name, sizeof name, sample_ids, i, x->row_start + i);
      st = ovq_error("impute: sample %s misses %lld of the %lld features (%.1f%%), more than "
                     "colmax = %g allows (R's impute.knn stops here too: \"a column has more "
                     "than %.0f %% missing values!\")",
                     name, (long long)c, (long long)F, 100.0 * (double)c / (double)F, opt->colmax,
                     round(opt->colmax * 100));
    }
  }
  if (ovq_status_agree(comm, st) != OVQ_OK) {
    free(fmiss);
    free(pl.rs);
    free(pl.fs);
    return OVQ_ERR;
  }
  OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, fmiss, OVQ_INT(F, "impute features"), MPI_INT64_T,
                              MPI_SUM, comm));
  int64_t n_missing = 0;
  for (int64_t j = 0; j < F; j++)
    n_missing += fmiss[j];

  /* 2. rowmax: features kept for KNN; sample means over them, in feature order (misave). */
  const double imax = trunc(opt->rowmax * (double)n);
  pl.kept = OVQ_MALLOC(sizeof(int64_t) * (size_t)(F + 1));
  for (int64_t j = 0; j < F; j++)
    if (!((double)fmiss[j] > imax)) pl.kept[pl.p++] = j;
  const int64_t n_rowmax = F - pl.p;
  double *xbar = OVQ_MALLOC(sizeof(double) * (size_t)(nl + 1));
  for (int64_t i = 0; i < nl; i++) {
    double sum = 0.0;
    int64_t c = 0, miss = 0;
    for (int64_t t = 0; t < pl.p; t++) {
      float v = x->x[i * F + pl.kept[t]];
      if (isnan(v)) continue;
      sum += v;
      c++;
    }
    for (int64_t j = 0; j < F; j++)
      miss += isnan(x->x[i * F + j]) != 0;
    xbar[i] = c ? sum / (double)c : NAN;
    if (!c && miss && st == OVQ_OK) {
      char name[256];
      sample_name(name, sizeof name, sample_ids, i, x->row_start + i);
      st = ovq_error("impute: sample %s has no observed value among the %lld features with at "
                     "most rowmax = %g missing, so its missing values cannot be imputed (R "
                     "leaves them NA)",
                     name, (long long)pl.p, opt->rowmax);
    }
  }
  free(fmiss);
  st = ovq_status_agree(comm, st);
  if (st != OVQ_OK || n_missing == 0) {
    free(xbar);
    free(pl.kept);
    free(pl.rs);
    free(pl.fs);
    if (report && st == OVQ_OK) report->n_blocks = 1;
    return st;
  }

  /* 3-4. The kept features, in feature blocks. */
  for (int q = 0; q <= P; q++)
    pl.fs[q] = q < P ? ovq_partition_block(pl.p, P, q).start : pl.p;
  const int64_t cr = pl.fs[pl.rank + 1] - pl.fs[pl.rank];
  float *fb = OVQ_MALLOC(sizeof(float) * (size_t)(cr * n + 1));
  rows_to_blocks(&pl, x, fb);
  int64_t n_blocks = 1, n_exact = 0;
  if (pl.p <= opt->maxp)
    impute_ring(&pl, fb, opt->k, &n_exact);
  else
    n_blocks = impute_split(&pl, fb, opt, &n_exact);
  blocks_to_rows(&pl, fb, x);
  free(fb);

  /* Sample means for the rowmax features and where no neighbour observed the sample. */
  for (int64_t i = 0; i < nl; i++)
    for (int64_t j = 0; j < F; j++)
      if (isnan(x->x[i * F + j])) x->x[i * F + j] = (float)xbar[i];

  OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &n_exact, 1, MPI_INT64_T, MPI_SUM, comm));
  ovq_log(OVQ_LOG_INFO,
          "impute: %lld missing values in %lld x %lld; %lld features above rowmax filled with "
          "sample means; %lld imputed by KNN (k = %d) in %lld set(s); %lld exact distances",
          (long long)n_missing, (long long)n, (long long)F, (long long)n_rowmax, (long long)pl.p,
          opt->k, (long long)n_blocks, (long long)n_exact);
  if (report) {
    report->n_missing = n_missing;
    report->n_rowmax_features = n_rowmax;
    report->n_blocks = n_blocks;
  }
  free(xbar);
  free(pl.kept);
  free(pl.rs);
  free(pl.fs);
  return OVQ_OK;
}
