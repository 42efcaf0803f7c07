/* Exact t-SNE and trustworthiness (see include/ovq/tsne.h). */
#include "ovq/tsne.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ovq/fixedsum.h"
#include "ovq/partition.h"
#include "ovq/pca.h"
#include "ovq/rng.h"

#define TSNE_DIM 2
/* scikit-learn's TSNE constants (sklearn/manifold/_t_sne.py, _utils.pyx). */
#define EXPLORATION_N_ITER 250
#define N_ITER_CHECK 50
#define PERPLEXITY_TOLERANCE 1e-5
#define BINARY_SEARCH_STEPS 100
#define EPSILON_DBL 1e-8

OvqTsneParams ovq_tsne_default_params(void) {
  OvqTsneParams p = {.perplexity = 30.0,
                     .early_exaggeration = 12.0,
                     .learning_rate = 0.0,
                     .n_iter = 1000,
                     .n_iter_without_progress = 300,
                     .min_grad_norm = 1e-7,
                     .min_gain = 0.01,
                     .init = OVQ_TSNE_INIT_PCA,
                     .seed = 0,
                     .exact_max_n = 5000,
                     .theta = 0.5};
  return p;
}

/* Collective. Gathers rows of width w (blocks in rank order, starts from ovq_row_starts) into
 * all [N][w]; the element type is given by type/size. */
static void allgather_rows(const void *mine, int64_t n_local, int64_t w, MPI_Datatype type,
                           const int64_t *starts, int size, void *all, MPI_Comm comm) {
  int *counts = OVQ_MALLOC(sizeof(int) * (size_t)size);
  int *displs = OVQ_MALLOC(sizeof(int) * (size_t)size);
  for (int r = 0; r < size; r++) {
    counts[r] = OVQ_INT((starts[r + 1] - starts[r]) * w, "t-SNE allgather count");
    displs[r] = OVQ_INT(starts[r] * w, "t-SNE allgather displacement");
  }
  OVQ_MPI_CHECK(MPI_Allgatherv(mine, OVQ_INT(n_local * w, "t-SNE allgather count"), type, all,
                               counts, displs, type, comm));
  free(counts);
  free(displs);
}

/* Squared Euclidean distances from sample i to every sample: drow[N]. Computed term by term in
 * feature order, so d(i, j) and d(j, i) are the same bits. */
static void sq_dist_row(const float *xall, int64_t n, int64_t d, int64_t i, double *drow) {
  const float *xi = xall + i * d;
  for (int64_t j = 0; j < n; j++) {
    const float *xj = xall + j * d;
    double s = 0;
    for (int64_t k = 0; k < d; k++) {
      double t = (double)xi[k] - (double)xj[k];
      s += t * t;
    }
    drow[j] = s;
  }
}

/* scikit-learn's _binary_search_perplexity for one row: the precision beta whose entropy
 * matches log(perplexity), and the normaliser sum_j exp(-d_ij beta) (j != i; EPSILON_DBL if 0).
 * As in scikit-learn, the row keeps the last beta evaluated (the one the search stopped on),
 * not the bisection's next update. */
static void search_row(const double *drow, int64_t n, int64_t i, double perplexity,
                       double *beta_out, double *sum_out) {
  double beta = 1.0, beta_min = -INFINITY, beta_max = INFINITY;
  double desired_entropy = log(perplexity);
  for (int step = 0; step < BINARY_SEARCH_STEPS; step++) {
    double sum_p = 0, sum_dp = 0;
    for (int64_t j = 0; j < n; j++) {
      if (j == i) continue;
      double p = exp(-drow[j] * beta);
      sum_p += p;
      sum_dp += drow[j] * p;
    }
    if (sum_p == 0.0) sum_p = EPSILON_DBL;
    *beta_out = beta;
    *sum_out = sum_p;
    double diff = log(sum_p) + beta * (sum_dp / sum_p) - desired_entropy;
    if (fabs(diff) <= PERPLEXITY_TOLERANCE) break;
    if (diff > 0) {
      beta_min = beta;
      beta = beta_max == INFINITY ? beta * 2.0 : (beta + beta_max) / 2.0;
    } else {
      beta_max = beta;
      beta = beta_min == -INFINITY ? beta / 2.0 : (beta + beta_min) / 2.0;
    }
  }
}

static OvqStatus check_params(const OvqTsneParams *p, int64_t n, int64_t d) {
  if (!(p->perplexity > 0) || !(p->early_exaggeration >= 1) || !isfinite(p->learning_rate) ||
      p->n_iter < EXPLORATION_N_ITER || p->n_iter_without_progress < 1 ||
      !(p->min_grad_norm >= 0) || !(p->min_gain > 0) ||
      (p->init != OVQ_TSNE_INIT_PCA && p->init != OVQ_TSNE_INIT_RANDOM))
    return ovq_error("t-SNE: bad options (need perplexity > 0, early_exaggeration >= 1, "
                     "n_iter >= %d, n_iter_without_progress >= 1, min_grad_norm >= 0, "
                     "min_gain > 0, init pca or random)",
                     EXPLORATION_N_ITER);
  if (d < 1 || n < 3) return ovq_error("t-SNE: need at least 3 samples and 1 feature");
  if (p->init == OVQ_TSNE_INIT_PCA && d < TSNE_DIM)
    return ovq_error("t-SNE: init pca needs at least %d features", TSNE_DIM);
  if (p->perplexity >= (double)n)
    return ovq_error("t-SNE: perplexity %g must be less than the number of samples %ld",
                     p->perplexity, (long)n);
  if (!(p->theta >= 0) || !isfinite(p->theta))
    return ovq_error("t-SNE: theta %g must be >= 0", p->theta);
  return OVQ_OK;
}

/* The initial embedding of this rank's samples, yl [n_local][2]. */
static OvqStatus init_embedding(const OvqTsneParams *p, const float *x, int64_t n_local, int64_t d,
                                int64_t n, int64_t start, MPI_Comm comm, double *yl) {
  if (p->init == OVQ_TSNE_INIT_RANDOM) {
    for (int64_t i = 0; i < n_local; i++)
      for (int c = 0; c < TSNE_DIM; c++) {
        OvqRng r;
        ovq_rng_init(&r, p->seed, OVQ_STREAM_TSNE_INIT, (uint64_t)((start + i) * TSNE_DIM + c));
        yl[i * TSNE_DIM + c] = 1e-4 * ovq_rng_normal(&r);
      }
    return OVQ_OK;
  }
  OvqPca pca;
  if (ovq_pca_fit(x, n_local, d, TSNE_DIM, comm, &pca, yl) != OVQ_OK) return OVQ_ERR;
  ovq_pca_destroy(&pca);
  /* scikit-learn casts the scores to float32 (which also removes the rank-count rounding of the
   * PCA), then divides by np.std(PC1) (ddof 0) and multiplies by 1e-4. */
  double amax = 0;
  for (int64_t i = 0; i < n_local * TSNE_DIM; i++) {
    yl[i] = (double)(float)yl[i];
    amax = fmax(amax, fabs(yl[i]));
  }
  OvqFixedSum fs;
  ovq_fixed_init(&fs, 1, ovq_fixed_bound(amax, n, comm));
  for (int64_t i = 0; i < n_local; i++)
    ovq_fixed_add(&fs, 0, yl[i * TSNE_DIM]);
  double mean;
  ovq_fixed_allreduce(&fs, comm, &mean);
  ovq_fixed_free(&fs);
  mean /= (double)n;
  double vmax = 0;
  for (int64_t i = 0; i < n_local; i++)
    vmax = fmax(vmax, (yl[i * TSNE_DIM] - mean) * (yl[i * TSNE_DIM] - mean));
  ovq_fixed_init(&fs, 1, ovq_fixed_bound(vmax, n, comm));
  for (int64_t i = 0; i < n_local; i++)
    ovq_fixed_add(&fs, 0, (yl[i * TSNE_DIM] - mean) * (yl[i * TSNE_DIM] - mean));
  double ss;
  ovq_fixed_allreduce(&fs, comm, &ss);
  ovq_fixed_free(&fs);
  double sd = sqrt(ss / (double)n);
  if (!(sd > 0)) sd = 1.0;
  for (int64_t i = 0; i < n_local * TSNE_DIM; i++)
    yl[i] = yl[i] / sd * 1e-4;
  return OVQ_OK;
}

/* Collective. Fixed-point total over all ranks of per-row values v[n_local] (each computed in
 * a fixed order), so the total does not depend on how the rows are split over ranks. */
static double fixed_rows_total(const double *v, int64_t n_local, int64_t n, MPI_Comm comm) {
  double vmax = 0;
  for (int64_t i = 0; i < n_local; i++)
    vmax = fmax(vmax, fabs(v[i]));
  OvqFixedSum fs;
  ovq_fixed_init(&fs, 1, ovq_fixed_bound(vmax, n, comm));
  for (int64_t i = 0; i < n_local; i++)
    ovq_fixed_add(&fs, 0, v[i]);
  double t;
  ovq_fixed_allreduce(&fs, comm, &t);
  ovq_fixed_free(&fs);
  return t;
}

/* The joint probabilities of this rank's rows: pl [n_local][N] (diagonal 0). */
static void joint_probabilities(const float *xall, int64_t n, int64_t d, int64_t start,
                                int64_t n_local, const int64_t *starts, int size, double perplexity,
                                MPI_Comm comm, double *pl) {
  double *drow = OVQ_MALLOC(sizeof(double) * (size_t)n);
  double *bs = OVQ_MALLOC(sizeof(double) * (size_t)(2 * n_local + 2));
  double *bs_all = OVQ_MALLOC(sizeof(double) * (size_t)(2 * n));
  for (int64_t i = 0; i < n_local; i++) {
    sq_dist_row(xall, n, d, start + i, drow);
    search_row(drow, n, start + i, perplexity, &bs[2 * i], &bs[2 * i + 1]);
  }
  allgather_rows(bs, n_local, 2, MPI_DOUBLE, starts, size, bs_all, comm);
  /* p_ij = p_j|i + p_i|j, each recomputed from its row's (beta, sum): the same bits on the
   * ranks of i and of j, so P stays exactly symmetric. */
  for (int64_t i = 0; i < n_local; i++) {
    int64_t gi = start + i;
    double *pr = pl + i * n;
    sq_dist_row(xall, n, d, gi, drow);
    double s = 0;
    for (int64_t j = 0; j < n; j++) {
      if (j == gi) {
        pr[j] = 0;
        continue;
      }
      pr[j] = exp(-drow[j] * bs_all[2 * gi]) / bs_all[2 * gi + 1] +
              exp(-drow[j] * bs_all[2 * j]) / bs_all[2 * j + 1];
      s += pr[j];
    }
    bs[i] = s;
  }
  double sum_p = fixed_rows_total(bs, n_local, n, comm);
  sum_p = fmax(sum_p, DBL_EPSILON);
  for (int64_t i = 0; i < n_local; i++)
    for (int64_t j = 0; j < n; j++)
      if (j != start + i) pl[i * n + j] = fmax(pl[i * n + j] / sum_p, DBL_EPSILON);
  free(drow);
  free(bs);
  free(bs_all);
}

/* Sum over j != i of w_ij = 1 / (1 + |y_i - y_j|^2): sample i's part of Z. */
static double w_row_sum(const double *yall, int64_t n, int64_t i) {
  const double *yi = yall + i * TSNE_DIM;
  double s = 0;
  for (int64_t j = 0; j < n; j++) {
    if (j == i) continue;
    double a = yi[0] - yall[j * TSNE_DIM], b = yi[1] - yall[j * TSNE_DIM + 1];
    s += 1.0 / (1.0 + a * a + b * b);
  }
  return s;
}

/* Gradient row g[2] of sample i, 4 sum_j (p_ij - q_ij) w_ij (y_i - y_j) with p_ij = exag *
 * pr[j], q_ij = max(w_ij / z, DBL_EPSILON) (scikit-learn's _kl_divergence, dof 1); returns the
 * row's KL terms sum_j p_ij log(max(p_ij, DBL_EPSILON) / q_ij) if want_kl, else 0. */
static double kl_grad_row(const double *pr, double exag, const double *yall, int64_t n, int64_t i,
                          double z, int want_kl, double *g) {
  const double *yi = yall + i * TSNE_DIM;
  double g0 = 0, g1 = 0, k = 0;
  for (int64_t j = 0; j < n; j++) {
    if (j == i) continue;
    double a = yi[0] - yall[j * TSNE_DIM], b = yi[1] - yall[j * TSNE_DIM + 1];
    double w = 1.0 / (1.0 + a * a + b * b);
    double q = fmax(w / z, DBL_EPSILON), p = pr[j] * exag;
    double m = (p - q) * w;
    g0 += m * a;
    g1 += m * b;
    if (want_kl) k += p * log(fmax(p, DBL_EPSILON) / q);
  }
  /* 2 (dof + 1) / dof with dof = 1. */
  g[0] = 4.0 * g0;
  g[1] = 4.0 * g1;
  return k;
}

/* Collective. The gradient of this rank's rows, grad [n_local][2], with P scaled by `exag`;
 * if kl is not NULL, also the KL divergence (on every rank). row_buf [n_local]: scratch. Z and
 * the KL divergence are summed per row in fixed point. */
static void kl_gradient(const double *pl, double exag, const double *yall, int64_t n, int64_t start,
                        int64_t n_local, MPI_Comm comm, double *grad, double *kl, double *row_buf) {
  for (int64_t i = 0; i < n_local; i++)
    row_buf[i] = w_row_sum(yall, n, start + i);
  double z = fixed_rows_total(row_buf, n_local, n, comm);
  for (int64_t i = 0; i < n_local; i++)
    row_buf[i] =
        kl_grad_row(pl + i * n, exag, yall, n, start + i, z, kl != NULL, grad + i * TSNE_DIM);
  if (kl) *kl = fixed_rows_total(row_buf, n_local, n, comm);
}

double ovq_tsne_kl_gradient(const double *p, const double *y, int64_t n, double *grad) {
  double z = 0, kl = 0;
  for (int64_t i = 0; i < n; i++)
    z += w_row_sum(y, n, i);
  for (int64_t i = 0; i < n; i++)
    kl += kl_grad_row(p + i * n, 1.0, y, n, i, z, 1, grad + i * TSNE_DIM);
  return kl;
}

/* ---- Barnes-Hut (scikit-learn's method='barnes_hut', van der Maaten 2014) ------------------ */

/* Sparse P of this rank's rows (CSR, columns ascending): the k = min(N - 1, 3 perplexity + 1)
 * nearest neighbours of each sample and the samples that have it as a neighbour. */
typedef struct SparseP {
  int64_t *indptr;  /* [n_local + 1] */
  int64_t *indices; /* [nnz] global columns */
  double *val;      /* [nnz] */
} SparseP;

typedef struct ColVal {
  int64_t col;
  double val;
} ColVal;

static int colval_cmp(const void *a, const void *b) {
  int64_t x = ((const ColVal *)a)->col, y = ((const ColVal *)b)->col;
  return (x > y) - (x < y);
}

/* Is (dist a, index ia) before (dist b, index ib)? Ties by the lower index. */
static int before(double a, int64_t ia, double b, int64_t ib) {
  return a < b || (a == b && ia < ib);
}

/* Indices and squared distances of the k nearest samples to i (excluding i), nearest first. */
static void nearest_k(const double *drow, int64_t n, int64_t i, int64_t k, int64_t *ni,
                      double *nd) {
  int64_t found = 0;
  for (int64_t j = 0; j < n; j++) {
    if (j == i) continue;
    double s = drow[j];
    if (found == k && !before(s, j, nd[k - 1], ni[k - 1])) continue;
    int64_t p = found < k ? found++ : k - 1;
    while (p > 0 && before(s, j, nd[p - 1], ni[p - 1])) {
      nd[p] = nd[p - 1];
      ni[p] = ni[p - 1];
      p--;
    }
    nd[p] = s;
    ni[p] = j;
  }
}

/* scikit-learn's _joint_probabilities_nn: conditional p_j|i over the k nearest neighbours,
 * P = (C + C^T) / sum. The neighbour lists and values are allgathered (N k entries) so each
 * rank can add the transposed entries of its rows. */
static void joint_probabilities_nn(const float *xall, int64_t n, int64_t d, int64_t start,
                                   int64_t n_local, const int64_t *starts, int size,
                                   double perplexity, int64_t k, MPI_Comm comm, SparseP *sp) {
  double *drow = OVQ_MALLOC(sizeof(double) * (size_t)n);
  int64_t *nbr = OVQ_MALLOC(sizeof(int64_t) * (size_t)(n_local * k + 1));
  double *cv = OVQ_MALLOC(sizeof(double) * (size_t)(n_local * k + 1));
  for (int64_t i = 0; i < n_local; i++) {
    double beta, sum;
    sq_dist_row(xall, n, d, start + i, drow);
    nearest_k(drow, n, start + i, k, nbr + i * k, cv + i * k);
    search_row(cv + i * k, k, -1, perplexity, &beta, &sum);
    for (int64_t t = 0; t < k; t++)
      cv[i * k + t] = exp(-cv[i * k + t] * beta) / sum;
  }
  free(drow);
  int64_t *nbr_all = OVQ_MALLOC(sizeof(int64_t) * (size_t)(n * k));
  double *cv_all = OVQ_MALLOC(sizeof(double) * (size_t)(n * k));
  allgather_rows(nbr, n_local, k, MPI_INT64_T, starts, size, nbr_all, comm);
  allgather_rows(cv, n_local, k, MPI_DOUBLE, starts, size, cv_all, comm);
  free(nbr);
  free(cv);
  /* Row i: its own k entries plus (j, p_i|j) for every j listing i. */
  int64_t *cnt = OVQ_CALLOC((size_t)(n_local + 1), sizeof(int64_t));
  for (int64_t e = 0; e < n * k; e++)
    if (nbr_all[e] >= start && nbr_all[e] < start + n_local) cnt[nbr_all[e] - start]++;
  int64_t *off = OVQ_MALLOC(sizeof(int64_t) * (size_t)(n_local + 1));
  off[0] = 0;
  for (int64_t i = 0; i < n_local; i++)
    off[i + 1] = off[i] + k + cnt[i];
  ColVal *cand = OVQ_MALLOC(sizeof(ColVal) * (size_t)(off[n_local] + 1));
  for (int64_t i = 0; i < n_local; i++) {
    for (int64_t t = 0; t < k; t++)
      cand[off[i] + t] = (ColVal){nbr_all[(start + i) * k + t], cv_all[(start + i) * k + t]};
    cnt[i] = k;
  }
  for (int64_t e = 0; e < n * k; e++) {
    int64_t i = nbr_all[e] - start;
    if (i >= 0 && i < n_local) cand[off[i] + cnt[i]++] = (ColVal){e / k, cv_all[e]};
  }
  free(nbr_all);
  free(cv_all);
  sp->indptr = OVQ_MALLOC(sizeof(int64_t) * (size_t)(n_local + 1));
  sp->indices = OVQ_MALLOC(sizeof(int64_t) * (size_t)(off[n_local] + 1));
  sp->val = OVQ_MALLOC(sizeof(double) * (size_t)(off[n_local] + 1));
  double *row_sum = OVQ_MALLOC(sizeof(double) * (size_t)(n_local + 1));
  int64_t nnz = 0;
  for (int64_t i = 0; i < n_local; i++) {
    ColVal *c = cand + off[i];
    int64_t m = off[i + 1] - off[i];
    qsort(c, (size_t)m, sizeof(ColVal), colval_cmp);
    sp->indptr[i] = nnz;
    row_sum[i] = 0;
    /* A column appears at most twice (c_ij and c_ji): their sum is the same on both ranks. */
    for (int64_t t = 0; t < m; t++) {
      if (t + 1 < m && c[t + 1].col == c[t].col) {
        sp->indices[nnz] = c[t].col;
        sp->val[nnz] = c[t].val + c[t + 1].val;
        t++;
      } else {
        sp->indices[nnz] = c[t].col;
        sp->val[nnz] = c[t].val;
      }
      row_sum[i] += sp->val[nnz++];
    }
  }
  sp->indptr[n_local] = nnz;
  double sum_p = fmax(fixed_rows_total(row_sum, n_local, n, comm), DBL_EPSILON);
  for (int64_t e = 0; e < nnz; e++)
    sp->val[e] /= sum_p;
  free(row_sum);
  free(cand);
  free(cnt);
  free(off);
}

/* Quadtree over the whole embedding (built identically on every rank). */
typedef struct QNode {
  double cx, cy, hw; /* square cell: centre and half width */
  double bx, by;     /* barycentre of its points */
  int64_t count;
  int64_t child[4]; /* -1 if absent */
  int leaf;
} QNode;

typedef struct QTree {
  QNode *node;
  int64_t n_nodes, cap;
} QTree;

/* Duplicate tolerance and maximum depth: points closer than this share a leaf. */
#define QT_EPSILON 1e-6
#define QT_MAX_DEPTH 60

static int64_t qt_new(QTree *t, double cx, double cy, double hw) {
  if (t->n_nodes == t->cap) {
    t->cap = t->cap ? 2 * t->cap : 1024;
    t->node = OVQ_REALLOC(t->node, sizeof(QNode) * (size_t)t->cap);
  }
  QNode *q = &t->node[t->n_nodes];
  *q = (QNode){.cx = cx, .cy = cy, .hw = hw, .child = {-1, -1, -1, -1}, .leaf = 1};
  return t->n_nodes++;
}

/* Builds the subtree of node id over points idx[0..m) (reordered in place; scratch tmp[m]). */
static void qt_build(QTree *t, int64_t id, const double *y, int64_t *idx, int64_t *tmp, int64_t m,
                     int depth) {
  double sx = 0, sy = 0;
  for (int64_t a = 0; a < m; a++) {
    sx += y[idx[a] * TSNE_DIM];
    sy += y[idx[a] * TSNE_DIM + 1];
  }
  t->node[id].bx = sx / (double)m;
  t->node[id].by = sy / (double)m;
  t->node[id].count = m;
  int dup = 1;
  for (int64_t a = 1; a < m && dup; a++)
    dup = fabs(y[idx[a] * TSNE_DIM] - y[idx[0] * TSNE_DIM]) <= QT_EPSILON &&
          fabs(y[idx[a] * TSNE_DIM + 1] - y[idx[0] * TSNE_DIM + 1]) <= QT_EPSILON;
  if (m == 1 || dup || depth >= QT_MAX_DEPTH) return;
  t->node[id].leaf = 0;
  double cx = t->node[id].cx, cy = t->node[id].cy, h = t->node[id].hw / 2;
  int64_t cnt[4] = {0, 0, 0, 0}, pos[4];
  for (int64_t a = 0; a < m; a++)
    cnt[(y[idx[a] * TSNE_DIM] >= cx) + 2 * (y[idx[a] * TSNE_DIM + 1] >= cy)]++;
  pos[0] = 0;
  for (int c = 1; c < 4; c++)
    pos[c] = pos[c - 1] + cnt[c - 1];
  int64_t first[4] = {pos[0], pos[1], pos[2], pos[3]};
  for (int64_t a = 0; a < m; a++)
    tmp[pos[(y[idx[a] * TSNE_DIM] >= cx) + 2 * (y[idx[a] * TSNE_DIM + 1] >= cy)]++] = idx[a];
  memcpy(idx, tmp, sizeof(int64_t) * (size_t)m);
  for (int c = 0; c < 4; c++) {
    if (!cnt[c]) continue;
    int64_t ch = qt_new(t, cx + ((c & 1) ? h : -h), cy + ((c & 2) ? h : -h), h);
    t->node[id].child[c] = ch;
    qt_build(t, ch, y, idx + first[c], tmp + first[c], cnt[c], depth + 1);
  }
}

static void qt_create(QTree *t, const double *y, int64_t n) {
  double lo[2] = {INFINITY, INFINITY}, hi[2] = {-INFINITY, -INFINITY};
  for (int64_t i = 0; i < n; i++)
    for (int c = 0; c < 2; c++) {
      lo[c] = fmin(lo[c], y[i * TSNE_DIM + c]);
      hi[c] = fmax(hi[c], y[i * TSNE_DIM + c]);
    }
  /* Padded so that no point lies on the outer boundary. */
  double hw = fmax(hi[0] - lo[0], hi[1] - lo[1]) / 2 * (1 + 1e-3) + 1e-12;
  t->n_nodes = 0;
  int64_t *idx = OVQ_MALLOC(sizeof(int64_t) * (size_t)n),
          *tmp = OVQ_MALLOC(sizeof(int64_t) * (size_t)n);
  for (int64_t i = 0; i < n; i++)
    idx[i] = i;
  int64_t root = qt_new(t, (lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, hw);
  qt_build(t, root, y, idx, tmp, n, 0);
  free(idx);
  free(tmp);
}

/* Repulsive part of sample i (scikit-learn's compute_gradient_negative / _summarize): a cell
 * stands for its points when it is a leaf or (width^2 / dist^2) < theta^2; the leaf holding i
 * itself is skipped. Adds sum_cells n w^2 (y_i - b) to f[2]; returns sum_cells n w (i's part
 * of Z). stack: scratch of 4 * QT_MAX_DEPTH + 8 entries. */
static double qt_negative(const QTree *t, const double *yi, double theta2, double *f,
                          int64_t *stack) {
  double sum_q = 0, f0 = 0, f1 = 0;
  int64_t top = 0;
  stack[top++] = 0;
  while (top) {
    const QNode *q = &t->node[stack[--top]];
    double dx = yi[0] - q->bx, dy = yi[1] - q->by, d2 = dx * dx + dy * dy;
    if (q->leaf && fabs(dx) <= QT_EPSILON && fabs(dy) <= QT_EPSILON) continue;
    double w2 = 4 * q->hw * q->hw;
    if (q->leaf || w2 / d2 < theta2) {
      double w = 1.0 / (1.0 + d2), nq = (double)q->count * w;
      sum_q += nq;
      f0 += nq * w * dx;
      f1 += nq * w * dy;
    } else {
      for (int c = 3; c >= 0; c--)
        if (q->child[c] >= 0) stack[top++] = q->child[c];
    }
  }
  f[0] = f0;
  f[1] = f1;
  return sum_q;
}

/* Collective. Barnes-Hut gradient of this rank's rows (scikit-learn's _kl_divergence_bh):
 * 4 (sum_j p_ij w_ij (y_i - y_j) - F_rep / Z); the KL divergence over the entries of P if kl
 * is not NULL. neg [n_local][2], row_buf [n_local]: scratch. */
static void bh_gradient(const SparseP *sp, double exag, double theta, const double *yall, int64_t n,
                        int64_t start, int64_t n_local, MPI_Comm comm, QTree *tree, double *grad,
                        double *kl, double *neg, double *row_buf) {
  qt_create(tree, yall, n);
  int64_t stack[4 * QT_MAX_DEPTH + 8];
  for (int64_t i = 0; i < n_local; i++)
    row_buf[i] =
        qt_negative(tree, yall + (start + i) * TSNE_DIM, theta * theta, neg + i * TSNE_DIM, stack);
  double z = fixed_rows_total(row_buf, n_local, n, comm);
  for (int64_t i = 0; i < n_local; i++) {
    const double *yi = yall + (start + i) * TSNE_DIM;
    double g0 = 0, g1 = 0, c = 0;
    for (int64_t e = sp->indptr[i]; e < sp->indptr[i + 1]; e++) {
      const double *yj = yall + sp->indices[e] * TSNE_DIM;
      double a = yi[0] - yj[0], b = yi[1] - yj[1], w = 1.0 / (1.0 + a * a + b * b);
      double p = sp->val[e] * exag;
      g0 += p * w * a;
      g1 += p * w * b;
      if (kl) c += p * log(fmax(p, DBL_EPSILON) / fmax(w / z, DBL_EPSILON));
    }
    grad[i * TSNE_DIM] = 4.0 * (g0 - neg[i * TSNE_DIM] / z);
    grad[i * TSNE_DIM + 1] = 4.0 * (g1 - neg[i * TSNE_DIM + 1] / z);
    row_buf[i] = c;
  }
  if (kl) *kl = fixed_rows_total(row_buf, n_local, n, comm);
}

/* The objective of a fit: dense exact P rows or sparse Barnes-Hut P. */
typedef struct TsneObjective {
  const double *dense; /* [n_local][N], exact method; NULL for Barnes-Hut */
  const SparseP *sparse;
  double theta;
} TsneObjective;

/* scikit-learn's _gradient_descent for iterations it .. n_iter - 1 (one phase): returns the last
 * iteration run. y (this rank's rows) is updated in place; yall is the gathered embedding. */
static int64_t gradient_descent(const OvqTsneParams *prm, const TsneObjective *obj, double exag,
                                int64_t it, int64_t n_iter, double momentum, double lr,
                                int64_t n_iter_without_progress, double *y, double *yall, int64_t n,
                                int64_t start, int64_t n_local, const int64_t *starts, int size,
                                MPI_Comm comm) {
  size_t m = (size_t)(n_local * TSNE_DIM) + 1;
  double *update = OVQ_CALLOC(m, sizeof(double));
  double *gains = OVQ_MALLOC(sizeof(double) * m);
  double *grad = OVQ_MALLOC(sizeof(double) * m);
  double *row_buf = OVQ_MALLOC(sizeof(double) * (size_t)(n_local + 1));
  double *neg = obj->dense ? NULL : OVQ_MALLOC(sizeof(double) * m);
  QTree tree = {0};
  for (size_t k = 0; k < m; k++)
    gains[k] = 1.0;
  double best_error = DBL_MAX;
  int64_t best_iter = it, i = it;
  for (i = it; i < n_iter; i++) {
    int check = (i + 1) % N_ITER_CHECK == 0;
    double error = 0;
    allgather_rows(y, n_local, TSNE_DIM, MPI_DOUBLE, starts, size, yall, comm);
    if (obj->dense)
      kl_gradient(obj->dense, exag, yall, n, start, n_local, comm, grad, check ? &error : NULL,
                  row_buf);
    else
      bh_gradient(obj->sparse, exag, obj->theta, yall, n, start, n_local, comm, &tree, grad,
                  check ? &error : NULL, neg, row_buf);
    for (int64_t k = 0; k < n_local * TSNE_DIM; k++) {
      if (update[k] * grad[k] < 0.0)
        gains[k] += 0.2;
      else
        gains[k] *= 0.8;
      if (gains[k] < prm->min_gain) gains[k] = prm->min_gain;
      grad[k] *= gains[k];
      update[k] = momentum * update[k] - lr * grad[k];
      y[k] += update[k];
    }
    if (check) {
      for (int64_t r = 0; r < n_local; r++)
        row_buf[r] = grad[r * TSNE_DIM] * grad[r * TSNE_DIM] +
                     grad[r * TSNE_DIM + 1] * grad[r * TSNE_DIM + 1];
      double grad_norm = sqrt(fixed_rows_total(row_buf, n_local, n, comm));
      ovq_log(OVQ_LOG_DEBUG, "t-SNE iteration %ld: KL %.6g, gradient norm %.3g", (long)(i + 1),
              error, grad_norm);
      if (error < best_error) {
        best_error = error;
        best_iter = i;
      } else if (i - best_iter > n_iter_without_progress) {
        break;
      }
      if (grad_norm <= prm->min_grad_norm) break;
    }
  }
  free(update);
  free(gains);
  free(grad);
  free(row_buf);
  free(neg);
  free(tree.node);
  return i < n_iter ? i : n_iter - 1;
}

OvqStatus ovq_tsne_fit(const OvqTsneParams *params, const float *x, int64_t n_local, int64_t d,
                       MPI_Comm comm, double *y_local) {
  int rank, size, same_d = 0;
  OVQ_MPI_CHECK(MPI_Comm_rank(comm, &rank));
  OVQ_MPI_CHECK(MPI_Comm_size(comm, &size));
  int64_t n = 0;
  int64_t *starts = ovq_row_starts(n_local, d, comm, &n, &same_d);
  OvqStatus st = same_d ? check_params(params, n, d)
                        : ovq_error("t-SNE: ranks passed different feature counts");
  if (ovq_status_agree(comm, st) != OVQ_OK) {
    free(starts);
    return OVQ_ERR;
  }
  int64_t start = starts[rank];
  double lr = params->learning_rate > 0 ? params->learning_rate
                                        : fmax((double)n / params->early_exaggeration / 4.0, 50.0);
  double *y = OVQ_MALLOC(sizeof(double) * (size_t)(n_local * TSNE_DIM + 1));
  if (ovq_status_agree(comm, init_embedding(params, x, n_local, d, n, start, comm, y)) != OVQ_OK) {
    free(y);
    free(starts);
    return OVQ_ERR;
  }
  float *xall = OVQ_MALLOC(sizeof(float) * (size_t)(n * d));
  allgather_rows(x, n_local, d, MPI_FLOAT, starts, size, xall, comm);
  TsneObjective obj = {.theta = params->theta};
  double *pl = NULL;
  SparseP sp = {0};
  if (n <= params->exact_max_n) {
    pl = OVQ_MALLOC(sizeof(double) * (size_t)(n_local * n + 1));
    joint_probabilities(xall, n, d, start, n_local, starts, size, params->perplexity, comm, pl);
    obj.dense = pl;
  } else {
    int64_t k = (int64_t)(3.0 * params->perplexity + 1.0);
    if (k > n - 1) k = n - 1;
    joint_probabilities_nn(xall, n, d, start, n_local, starts, size, params->perplexity, k, comm,
                           &sp);
    obj.sparse = &sp;
  }
  free(xall);
  double *yall = OVQ_MALLOC(sizeof(double) * (size_t)(n * TSNE_DIM));
  /* Early exaggeration phase, then the rest (scikit-learn's _tsne). */
  int64_t it =
      gradient_descent(params, &obj, params->early_exaggeration, 0, EXPLORATION_N_ITER, 0.5, lr,
                       EXPLORATION_N_ITER, y, yall, n, start, n_local, starts, size, comm);
  if (it < params->n_iter - 1)
    gradient_descent(params, &obj, 1.0, it + 1, params->n_iter, 0.8, lr,
                     params->n_iter_without_progress, y, yall, n, start, n_local, starts, size,
                     comm);
  memcpy(y_local, y, sizeof(double) * (size_t)(n_local * TSNE_DIM));
  free(y);
  free(yall);
  free(pl);
  free(sp.indptr);
  free(sp.indices);
  free(sp.val);
  free(starts);
  return OVQ_OK;
}

OvqStatus ovq_trustworthiness(const float *x, int64_t d, const double *y, int64_t dy,
                              int64_t n_local, int64_t n_neighbors, MPI_Comm comm, double *out) {
  int rank, size, same_d = 0;
  OVQ_MPI_CHECK(MPI_Comm_rank(comm, &rank));
  OVQ_MPI_CHECK(MPI_Comm_size(comm, &size));
  int64_t n = 0, ny = 0;
  int64_t *starts = ovq_row_starts(n_local, d, comm, &n, &same_d);
  int same_dy = 0;
  free(ovq_row_starts(n_local, dy, comm, &ny, &same_dy));
  OvqStatus st = OVQ_OK;
  if (!same_d || !same_dy || d < 1 || dy < 1)
    st = ovq_error("trustworthiness: ranks passed different or empty dimensions");
  else if (n_neighbors < 1 || 2 * n_neighbors >= n)
    st = ovq_error("trustworthiness: n_neighbors %ld must be >= 1 and < n_samples / 2 = %g",
                   (long)n_neighbors, (double)n / 2.0);
  if (ovq_status_agree(comm, st) != OVQ_OK) {
    free(starts);
    return OVQ_ERR;
  }
  int64_t start = starts[rank], k = n_neighbors;
  float *xall = OVQ_MALLOC(sizeof(float) * (size_t)(n * d));
  double *yall = OVQ_MALLOC(sizeof(double) * (size_t)(n * dy));
  allgather_rows(x, n_local, d, MPI_FLOAT, starts, size, xall, comm);
  allgather_rows(y, n_local, dy, MPI_DOUBLE, starts, size, yall, comm);
  double *dx = OVQ_MALLOC(sizeof(double) * (size_t)n),
         *dyr = OVQ_MALLOC(sizeof(double) * (size_t)n);
  double *nd = OVQ_MALLOC(sizeof(double) * (size_t)k);
  int64_t *ni = OVQ_MALLOC(sizeof(int64_t) * (size_t)k);
  long long t = 0;
  for (int64_t i = 0; i < n_local; i++) {
    int64_t gi = start + i;
    sq_dist_row(xall, n, d, gi, dx);
    /* The k nearest in Y (excluding i). */
    for (int64_t j = 0; j < n; j++) {
      double s = 0;
      for (int64_t c = 0; c < dy; c++) {
        double u = yall[gi * dy + c] - yall[j * dy + c];
        s += u * u;
      }
      dyr[j] = s;
    }
    nearest_k(dyr, n, gi, k, ni, nd);
    /* Rank (1-based) of each in i's order of X distances. */
    for (int64_t q = 0; q < k; q++) {
      int64_t j = ni[q], r = 1;
      for (int64_t l = 0; l < n; l++)
        if (l != gi && l != j && before(dx[l], l, dx[j], j)) r++;
      if (r > k) t += r - k;
    }
  }
  OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &t, 1, MPI_LONG_LONG, MPI_SUM, comm));
  *out =
      1.0 - (double)t * (2.0 / ((double)n * (double)k * (2.0 * (double)n - 3.0 * (double)k - 1.0)));
  free(xall);
  free(yall);
  free(dx);
  free(dyr);
  free(nd);
  free(ni);
  free(starts);
  return OVQ_OK;
}
