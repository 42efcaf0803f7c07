/* Gaussian mixture on row-distributed data (see include/ovq/gmm.h): EM as scikit-learn's
 * GaussianMixture (sklearn/mixture/_gaussian_mixture.py, _base.py) with full, diagonal and
 * spherical covariances, computed in double.
 *
 * Frame. Rows are converted to double and centred on the global mean m (an exact fixed-point
 * sum, the same on every rank) block by block; means are kept as mc = mu - m. The M-step works
 * from the centred sufficient statistics N_k = sum r, S_k = sum r xc, Q_k = sum r xc xc^T:
 *   sum r (x - mu)(x - mu)^T = Q - mc S^T - S mc^T + N mc mc^T,
 * which is what sklearn's two-pass sum(r (x - mu)(x - mu)^T) is, up to rounding.
 *
 * Blocks. The global rows are cut into blocks of OVQ_GMM_BLOCK (aligned to the global index); a
 * rank processes the blocks whose first row it holds, fetching once per fit the rows of its last
 * block that the next ranks hold (its "tail"). Within a block, rows go through the E-step in
 * sub-blocks of `sb` rows (the full-covariance product of a sub-block stays near cache); the
 * block's statistics are summed in double (DGEMM / DSYRK with beta = 1, in a fixed order), then
 * rounded once to 64-bit fixed point and added as integers. A block's double sums depend only on
 * its rows, so the integer totals, and from them every parameter, are bit-identical at any rank
 * count; per-entry scales 2^(61 - bits(N) - e_f - e_g), max |xc_f| < 2^e_f, keep every total
 * below 2^62. The log-likelihood (convergence test, lower bound, BIC) is summed per block in
 * double, the block sums gathered and added in block order: also rank-count independent.
 *
 * Cost per iteration (full, N x d, k components): a DGEMM of 2 N d (k d) flops for the E-step
 * and k DSYRKs of N d^2 flops for the M-step (skipped for a sub-block whose responsibilities
 * for the component are all exactly 0); diagonal / spherical: two DGEMMs of 4 N d k flops. */
#include "ovq/gmm.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ovq/kmeans.h"
#include "ovq/partition.h"
#include "ovq/rng.h"

/* LAPACK Cholesky (OpenBLAS's own C implementation; no hidden string-length argument). */
extern int dpotrf_(char *uplo, int *n, double *a, int *lda, int *info);

enum { MODE_INIT, MODE_EM, MODE_FINAL };

#define LOG_2PI 1.8378770664093454836

/* The samples as one rank sees them. */
typedef struct Shard {
  const float *x; /* [n][d] */
  int64_t n, d;
  int di;
  int64_t n_total;
  MPI_Comm comm;
  int rank, size;
  int64_t *starts; /* [size + 1]: first global row of each rank */
  int64_t b0, nb;  /* global blocks this rank processes: b0 .. b0 + nb - 1 */
  int64_t first;   /* first global row processed (b0 * BLOCK) */
  int64_t n_proc;  /* rows processed: first .. first + n_proc - 1 */
  float *tail;     /* [rows][d]: processed rows held by later ranks */
  double *mean;    /* [d]: the frame */
  double *scale;   /* [S]: fixed-point scale of each statistic of a component */
  int64_t S;       /* statistics per component: 1 + d + (full ? d * d : d) */
  int full;        /* covariance type is full */
} Shard;

/* Replicated mixture parameters. */
typedef struct Model {
  double *weights; /* [k] */
  double *mc;      /* [k][d]: means - frame */
  double *cov;     /* full [k][d][d], diag [k][d], spherical [k] */
  double *w;       /* precision Cholesky: full [k][d][d] (P = W W^T), else [k][d] (P = w^2) */
  double *logdet;  /* [k]: log det W */
} Model;

static void model_alloc(Model *m, int k, int64_t d, int full) {
  const size_t kd = (size_t)k * (size_t)d, kdd = full ? kd * (size_t)d : kd;
  m->weights = OVQ_MALLOC(sizeof(double) * (size_t)k);
  m->mc = OVQ_MALLOC(sizeof(double) * kd);
  m->cov = OVQ_MALLOC(sizeof(double) * kdd);
  m->w = OVQ_MALLOC(sizeof(double) * kdd);
  m->logdet = OVQ_MALLOC(sizeof(double) * (size_t)k);
}

static void model_copy(Model *dst, const Model *src, int k, int64_t d, int full) {
  const size_t kd = (size_t)k * (size_t)d, kdd = full ? kd * (size_t)d : kd;
  memcpy(dst->weights, src->weights, sizeof(double) * (size_t)k);
  memcpy(dst->mc, src->mc, sizeof(double) * kd);
  memcpy(dst->cov, src->cov, sizeof(double) * kdd);
  memcpy(dst->w, src->w, sizeof(double) * kdd);
  memcpy(dst->logdet, src->logdet, sizeof(double) * (size_t)k);
}

static void model_free(Model *m) {
  free(m->weights);
  free(m->mc);
  free(m->cov);
  free(m->w);
  free(m->logdet);
  memset(m, 0, sizeof *m);
}

/* Blocks processed by rank r: those whose first row it holds. */
static void blocks_of(const Shard *s, int r, int64_t *b0, int64_t *b1) {
  const int64_t B = OVQ_GMM_BLOCK;
  *b0 = (s->starts[r] + B - 1) / B;
  *b1 = (s->starts[r + 1] + B - 1) / B;
  if (*b1 < *b0) *b1 = *b0;
}

/* Rank r's tail: global rows [lo, hi) it processes but does not hold. */
static void tail_of(const Shard *s, int r, int64_t *lo, int64_t *hi) {
  int64_t b0, b1;
  blocks_of(s, r, &b0, &b1);
  int64_t end = b1 * OVQ_GMM_BLOCK < s->n_total ? b1 * OVQ_GMM_BLOCK : s->n_total;
  *lo = s->starts[r + 1];
  *hi = b1 > b0 && end > *lo ? end : *lo;
}

/* Moves rows of `bytes` bytes between holders and tails. Forward: every rank's tail rows
 * (into tail) from the ranks holding them (from local). Reverse: tail rows back into the
 * holders' local arrays. Collective. */
static void exchange(const Shard *s, size_t bytes, void *local, void *tail, int reverse) {
  int *cnt = OVQ_CALLOC(4 * (size_t)s->size, sizeof(int));
  int *sc = cnt, *sd = cnt + s->size, *rc = cnt + 2 * s->size, *rd = cnt + 3 * s->size;
  int64_t mlo, mhi;
  tail_of(s, s->rank, &mlo, &mhi);
  for (int q = 0; q < s->size; q++) {
    /* my rows in q's tail */
    int64_t lo, hi;
    tail_of(s, q, &lo, &hi);
    int64_t a = lo > s->starts[s->rank] ? lo : s->starts[s->rank];
    int64_t b = hi < s->starts[s->rank + 1] ? hi : s->starts[s->rank + 1];
    int *hc = reverse ? rc : sc, *hd = reverse ? rd : sd;
    if (b > a) {
      hc[q] = OVQ_INT((b - a) * (int64_t)bytes, "gmm tail bytes");
      hd[q] = OVQ_INT((a - s->starts[s->rank]) * (int64_t)bytes, "gmm tail offset");
    }
    /* q's rows in my tail */
    a = mlo > s->starts[q] ? mlo : s->starts[q];
    b = mhi < s->starts[q + 1] ? mhi : s->starts[q + 1];
    int *tc = reverse ? sc : rc, *td = reverse ? sd : rd;
    if (b > a) {
      tc[q] = OVQ_INT((b - a) * (int64_t)bytes, "gmm tail bytes");
      td[q] = OVQ_INT((a - mlo) * (int64_t)bytes, "gmm tail offset");
    }
  }
  const void *src = reverse ? tail : local;
  void *dst = reverse ? local : tail;
  OVQ_MPI_CHECK(MPI_Alltoallv(src, sc, sd, MPI_BYTE, dst, rc, rd, MPI_BYTE, s->comm));
  free(cnt);
}

static inline const float *row_of(const Shard *s, int64_t g) {
  int64_t end = s->starts[s->rank + 1];
  return g < end ? s->x + (g - s->starts[s->rank]) * s->d : s->tail + (g - end) * s->d;
}

/* Workspace of one pass over the processed rows. */
typedef struct Work {
  int sb;       /* rows per sub-block */
  int64_t ldx;  /* columns of xb: d (full) or 2 d ([xc, xc^2]) */
  double *xb;   /* [sb][ldx] */
  double *lp;   /* [sb][k]: weighted log probabilities */
  double *resp; /* [sb][k] */
  double *y;    /* full: [sb][k d] */
  double *z;    /* full: [sb][d], sqrt(r) xc for DSYRK */
  double *acc;  /* [k][S]: the block's statistics in double */
  /* E-step matrices from the model */
  double *wall; /* full: [d][k d], W_k side by side */
  double *off;  /* full: [k d], mc_k W_k */
  double *amat; /* diag: [2 d][k] */
  double *cst;  /* [k]: constant of each component's log probability */
} Work;

static void work_alloc(Work *w, const Shard *s, int k) {
  const int64_t d = s->d;
  if (s->full) {
    int64_t sb = 131072 / ((int64_t)k * d); /* the sub-block's product in ~1 MB */
    w->sb = 16;
    while (w->sb < 256 && 2 * w->sb <= sb)
      w->sb *= 2;
  } else {
    w->sb = 256;
  }
  w->ldx = s->full ? d : 2 * d;
  w->xb = OVQ_MALLOC(sizeof(double) * (size_t)(w->sb * w->ldx));
  w->lp = OVQ_MALLOC(sizeof(double) * (size_t)w->sb * (size_t)k);
  w->resp = OVQ_MALLOC(sizeof(double) * (size_t)w->sb * (size_t)k);
  w->acc = OVQ_MALLOC(sizeof(double) * (size_t)k * (size_t)s->S);
  w->cst = OVQ_MALLOC(sizeof(double) * (size_t)k);
  if (s->full) {
    w->y = OVQ_MALLOC(sizeof(double) * (size_t)w->sb * (size_t)k * (size_t)d);
    w->z = OVQ_MALLOC(sizeof(double) * (size_t)w->sb * (size_t)d);
    w->wall = OVQ_MALLOC(sizeof(double) * (size_t)k * (size_t)(d * d));
    w->off = OVQ_MALLOC(sizeof(double) * (size_t)k * (size_t)d);
  } else {
    w->amat = OVQ_MALLOC(sizeof(double) * 2 * (size_t)d * (size_t)k);
  }
}

static void work_free(Work *w) {
  free(w->xb);
  free(w->lp);
  free(w->resp);
  free(w->acc);
  free(w->cst);
  free(w->y);
  free(w->z);
  free(w->wall);
  free(w->off);
  free(w->amat);
  memset(w, 0, sizeof *w);
}

/* The E-step's matrices from the model: log N(x | mu_k, P_k^-1) + log w_k =
 * cst_k - |(xc - mc_k) W_k|^2 / 2, cst_k = log w_k + log det W_k - d log(2 pi) / 2. */
static void work_model(Work *w, const Shard *s, int k, const Model *m) {
  const int64_t d = s->d, kd = (int64_t)k * d;
  for (int c = 0; c < k; c++)
    w->cst[c] = log(m->weights[c]) + m->logdet[c] - 0.5 * (double)d * LOG_2PI;
  if (s->full) {
    for (int c = 0; c < k; c++) {
      const double *wc = m->w + (int64_t)c * d * d, *mc = m->mc + c * d;
      for (int64_t f = 0; f < d; f++)
        memcpy(w->wall + f * kd + c * d, wc + f * d, sizeof(double) * (size_t)d);
      for (int64_t j = 0; j < d; j++) {
        double o = 0.0;
        for (int64_t f = 0; f < d; f++)
          o += mc[f] * wc[f * d + j];
        w->off[c * d + j] = o;
      }
    }
  } else {
    /* |(xc - mc) w|^2 = xc^2.P - 2 xc.(P mc) + mc.(P mc), P = w^2, so lp = [xc, xc^2] A + const
     * with A = [P mc; -P / 2] */
    for (int c = 0; c < k; c++) {
      double mpm = 0.0;
      for (int64_t f = 0; f < d; f++) {
        double pw = m->w[c * d + f] * m->w[c * d + f], mcf = m->mc[c * d + f];
        w->amat[f * k + c] = pw * mcf;
        w->amat[(d + f) * k + c] = -0.5 * pw;
        mpm += pw * mcf * mcf;
      }
      w->cst[c] -= 0.5 * mpm;
    }
  }
}

/* lp [sb][k] for the sub-block in w->xb. */
static void estep_block(Work *w, const Shard *s, int k, int sb) {
  const int64_t d = s->d, kd = (int64_t)k * d;
  if (s->full) {
    /* y = xc W - mc W, every component at once; |y_k|^2 is the Mahalanobis distance */
    for (int i = 0; i < sb; i++)
      for (int64_t j = 0; j < kd; j++)
        w->y[i * kd + j] = -w->off[j];
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, sb, (int)kd, s->di, 1.0, w->xb, s->di,
                w->wall, (int)kd, 1.0, w->y, (int)kd);
    for (int i = 0; i < sb; i++)
      for (int c = 0; c < k; c++) {
        const double *yc = w->y + i * kd + c * d;
        double q[4] = {0.0, 0.0, 0.0, 0.0};
        int64_t j = 0;
        for (; j + 4 <= d; j += 4)
          for (int u = 0; u < 4; u++)
            q[u] += yc[j + u] * yc[j + u];
        for (; j < d; j++)
          q[0] += yc[j] * yc[j];
        w->lp[i * k + c] = w->cst[c] - 0.5 * ((q[0] + q[1]) + (q[2] + q[3]));
      }
  } else {
    for (int i = 0; i < sb; i++)
      memcpy(w->lp + i * k, w->cst, sizeof(double) * (size_t)k);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, sb, k, (int)(2 * d), 1.0, w->xb,
                (int)(2 * d), w->amat, k, 1.0, w->lp, k);
  }
}

/* Adds the sub-block's statistics (responsibilities in w->resp) to w->acc. */
static void accumulate(Work *w, const Shard *s, int k, int sb) {
  const int64_t d = s->d, S = s->S;
  for (int i = 0; i < sb; i++)
    for (int c = 0; c < k; c++)
      w->acc[c * S] += w->resp[i * k + c];
  /* sum r xc (and, not full, sum r xc^2): [k][d or 2d] at acc + 1, row stride S */
  cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, k, (int)w->ldx, sb, 1.0, w->resp, k, w->xb,
              (int)w->ldx, 1.0, w->acc + 1, (int)S);
  if (!s->full) return;
  for (int c = 0; c < k; c++) {
    int any = 0;
    for (int i = 0; i < sb; i++) {
      double r = w->resp[i * k + c];
      any |= r > 0.0;
      double sr = sqrt(r);
      for (int64_t f = 0; f < d; f++)
        w->z[i * d + f] = sr * w->xb[i * d + f];
    }
    if (any) /* lower triangle of sum r xc xc^T */
      cblas_dsyrk(CblasRowMajor, CblasLower, CblasTrans, s->di, sb, 1.0, w->z, s->di, 1.0,
                  w->acc + c * S + 1 + d, s->di);
  }
}

/* One pass over the processed rows. MODE_INIT: one-hot responsibilities from init_labels
 * [n_proc]; MODE_EM: E-step; both add the statistics to isum [k][S] (zeroed here, allreduced).
 * MODE_EM and MODE_FINAL return the mean log-likelihood over all N samples; MODE_FINAL writes
 * labels [n_proc]. Collective. */
static double pass(const Shard *s, Work *w, int k, int mode, const int32_t *init_labels,
                   int64_t *isum, int32_t *labels) {
  const int64_t d = s->d, S = s->S, B = OVQ_GMM_BLOCK;
  const int nblocks_total = OVQ_INT((s->n_total + B - 1) / B, "gmm blocks");
  double *ll = OVQ_CALLOC((size_t)nblocks_total + 1, sizeof(double));
  if (mode != MODE_FINAL) memset(isum, 0, sizeof(int64_t) * (size_t)k * (size_t)S);
  for (int64_t b = 0; b < s->nb; b++) {
    const int64_t g0 = (s->b0 + b) * B, g1 = g0 + B < s->n_total ? g0 + B : s->n_total;
    memset(w->acc, 0, sizeof(double) * (size_t)k * (size_t)S);
    double llb = 0.0;
    for (int64_t s0 = g0; s0 < g1; s0 += w->sb) {
      const int sb = (int)(g1 - s0 < w->sb ? g1 - s0 : w->sb);
      for (int i = 0; i < sb; i++) {
        const float *xr = row_of(s, s0 + i);
        double *xo = w->xb + i * w->ldx;
        for (int64_t f = 0; f < d; f++)
          xo[f] = (double)xr[f] - s->mean[f];
        if (!s->full)
          for (int64_t f = 0; f < d; f++)
            xo[d + f] = xo[f] * xo[f];
      }
      const int64_t p0 = s0 - s->first;
      if (mode == MODE_INIT) {
        memset(w->resp, 0, sizeof(double) * (size_t)sb * (size_t)k);
        for (int i = 0; i < sb; i++)
          w->resp[i * k + init_labels[p0 + i]] = 1.0;
      } else {
        estep_block(w, s, k, sb);
        for (int i = 0; i < sb; i++) {
          const double *li = w->lp + i * k;
          int best = 0;
          for (int c = 1; c < k; c++)
            if (li[c] > li[best]) best = c;
          double mx = li[best], se = 0.0;
          for (int c = 0; c < k; c++)
            se += exp(li[c] - mx);
          double lse = mx + log(se);
          llb += lse;
          if (mode == MODE_FINAL)
            labels[p0 + i] = best;
          else
            for (int c = 0; c < k; c++)
              w->resp[i * k + c] = exp(li[c] - lse);
        }
      }
      if (mode != MODE_FINAL) accumulate(w, s, k, sb);
    }
    ll[s->b0 + b] = llb;
    if (mode != MODE_FINAL)
      for (int c = 0; c < k; c++)
        for (int64_t e = 0; e < S; e++) {
          /* full: only the lower triangle of sum r xc xc^T is formed */
          if (s->full && e > d && (e - 1 - d) % d > (e - 1 - d) / d) continue;
          isum[c * S + e] += llrint(w->acc[c * S + e] * s->scale[e]);
        }
  }
  if (mode != MODE_FINAL)
    OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, isum, OVQ_INT((int64_t)k * S, "gmm statistics"),
                                MPI_INT64_T, MPI_SUM, s->comm));
  double mean_ll = 0.0;
  if (mode != MODE_INIT) {
    int *cnt = OVQ_MALLOC(sizeof(int) * 2 * (size_t)s->size), *dsp = cnt + s->size;
    for (int r = 0; r < s->size; r++) {
      int64_t b0, b1;
      blocks_of(s, r, &b0, &b1);
      cnt[r] = (int)(b1 - b0);
      dsp[r] = (int)b0;
    }
    OVQ_MPI_CHECK(MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, ll, cnt, dsp, MPI_DOUBLE,
                                 s->comm));
    free(cnt);
    double tot = 0.0; /* block order: the same sum at any rank count */
    for (int b = 0; b < nblocks_total; b++)
      tot += ll[b];
    mean_ll = tot / (double)s->n_total;
  }
  free(ll);
  return mean_ll;
}

/* W = C^-T from the lower Cholesky factor C (row-major, d x d): the upper-triangular factor of
 * the precision sklearn's _compute_precision_cholesky returns; log det W = -sum log C_jj. */
static double invert_cholesky(const double *c, int64_t d, double *wout) {
  /* forward substitution for C^-1 column by column, written transposed into W */
  memset(wout, 0, sizeof(double) * (size_t)(d * d));
  double ld = 0.0;
  for (int64_t j = 0; j < d; j++) {
    ld -= log(c[j * d + j]);
    for (int64_t i = j; i < d; i++) { /* (C^-1)[i][j] */
      double v = i == j ? 1.0 : 0.0;
      for (int64_t t = j; t < i; t++)
        v -= c[i * d + t] * wout[j * d + t];
      wout[j * d + i] = v / c[i * d + i]; /* W[j][i] = (C^-1)[i][j] */
    }
  }
  return ld;
}

/* Lower Cholesky factor of the symmetric a (row-major d x d, overwritten; upper zeroed).
 * Returns 0 if a is not positive definite. */
static int cholesky_lower(double *a, int64_t d) {
  int n = OVQ_INT(d, "d"), info = 0;
  char uplo = 'U'; /* column-major upper = row-major lower */
  dpotrf_(&uplo, &n, a, &n, &info);
  OVQ_LAPACK_CHECK(info, "dpotrf");
  for (int64_t i = 0; i < d; i++)
    for (int64_t j = i + 1; j < d; j++)
      a[i * d + j] = 0.0;
  return info == 0;
}

/* Precision Cholesky factors and log-determinants from m->cov. Local (replicated). */
static OvqStatus precisions_from_cov(const Shard *s, int k, OvqGmmCovariance ct, Model *m,
                                     double *tmp) {
  const int64_t d = s->d;
  for (int c = 0; c < k; c++) {
    if (ct == OVQ_GMM_FULL) {
      memcpy(tmp, m->cov + (int64_t)c * d * d, sizeof(double) * (size_t)(d * d));
      if (!cholesky_lower(tmp, d)) goto ill;
      m->logdet[c] = invert_cholesky(tmp, d, m->w + (int64_t)c * d * d);
    } else if (ct == OVQ_GMM_DIAG) {
      double ld = 0.0;
      for (int64_t f = 0; f < d; f++) {
        double v = m->cov[c * d + f];
        if (!(v > 0.0)) goto ill;
        m->w[c * d + f] = 1.0 / sqrt(v);
        ld += log(m->w[c * d + f]);
      }
      m->logdet[c] = ld;
    } else {
      double v = m->cov[c];
      if (!(v > 0.0)) goto ill;
      double pc = 1.0 / sqrt(v);
      for (int64_t f = 0; f < d; f++)
        m->w[c * d + f] = pc;
      m->logdet[c] = (double)d * log(pc);
    }
  }
  return OVQ_OK;
ill:
  return ovq_error("gmm: fitting the mixture failed because some components have ill-defined "
                   "empirical covariance (for instance caused by singleton or collapsed samples); "
                   "decrease the number of components or increase reg_covar");
}

/* M-step from the allreduced statistics isum [k][S] (sklearn's _estimate_gaussian_parameters).
 * init: weights n_k / N (sklearn's _initialize) instead of n_k / sum n_k. Local. */
static OvqStatus mstep(const Shard *s, int k, OvqGmmCovariance ct, double reg, const int64_t *isum,
                       int init, Model *m, double *tmp) {
  const int64_t d = s->d, S = s->S;
  double wsum = 0.0;
  for (int c = 0; c < k; c++) {
    const int64_t *q = isum + c * S;
    const double nkt = (double)q[0] / s->scale[0], nk = nkt + 10.0 * DBL_EPSILON;
    double *mc = m->mc + c * d;
    m->weights[c] = nk;
    wsum += nk;
    for (int64_t f = 0; f < d; f++) {
      /* sklearn's mean (sum r x) / n_k in the frame: (S_f + N_k m_f) / n_k - m_f */
      double sf = (double)q[1 + f] / s->scale[1 + f];
      mc[f] = (sf - (nk - nkt) * s->mean[f]) / nk;
    }
    if (ct == OVQ_GMM_FULL) {
      double *cv = m->cov + (int64_t)c * d * d;
      for (int64_t f = 0; f < d; f++)
        for (int64_t g = 0; g <= f; g++) {
          int64_t e = 1 + d + f * d + g;
          double qfg = (double)q[e] / s->scale[e];
          double sf = (double)q[1 + f] / s->scale[1 + f], sg = (double)q[1 + g] / s->scale[1 + g];
          double v = (qfg - mc[f] * sg - sf * mc[g] + nkt * mc[f] * mc[g]) / nk;
          cv[f * d + g] = v;
          cv[g * d + f] = v;
        }
      for (int64_t f = 0; f < d; f++)
        cv[f * d + f] += reg;
    } else {
      double mean_var = 0.0;
      for (int64_t f = 0; f < d; f++) {
        double sf = (double)q[1 + f] / s->scale[1 + f];
        double qf = (double)q[1 + d + f] / s->scale[1 + d + f];
        double v = (qf - 2.0 * mc[f] * sf + nkt * mc[f] * mc[f]) / nk + reg;
        if (ct == OVQ_GMM_DIAG)
          m->cov[c * d + f] = v;
        else
          mean_var += v;
      }
      if (ct == OVQ_GMM_SPHERICAL) m->cov[c] = mean_var / (double)d;
    }
  }
  const double norm = init ? (double)s->n_total : wsum;
  for (int c = 0; c < k; c++)
    m->weights[c] /= norm;
  return precisions_from_cov(s, k, ct, m, tmp);
}

/* The given parameters (sklearn's weights_init, means_init, precisions_init). Local. */
static OvqStatus model_given(const Shard *s, const OvqGmmParams *p, Model *m, double *tmp) {
  const int64_t d = s->d;
  const int k = p->k;
  memcpy(m->weights, p->init_weights, sizeof(double) * (size_t)k);
  for (int c = 0; c < k; c++)
    for (int64_t f = 0; f < d; f++)
      m->mc[c * d + f] = p->init_means[c * d + f] - s->mean[f];
  for (int c = 0; c < k; c++) {
    if (p->covariance == OVQ_GMM_FULL) {
      const double *pc = p->init_precisions + (int64_t)c * d * d;
      for (int64_t f = 0; f < d; f++)
        for (int64_t g = 0; g < d; g++)
          if (pc[f * d + g] != pc[g * d + f])
            return ovq_error("gmm: given precision %d is not symmetric", c);
      memcpy(tmp, pc, sizeof(double) * (size_t)(d * d));
      if (!cholesky_lower(tmp, d))
        return ovq_error("gmm: given precision %d is not positive definite", c);
      /* sklearn: precisions_cholesky_ = cholesky(P, lower=True); P = L L^T */
      double ld = 0.0;
      for (int64_t j = 0; j < d; j++)
        ld += log(tmp[j * d + j]);
      memcpy(m->w + (int64_t)c * d * d, tmp, sizeof(double) * (size_t)(d * d));
      m->logdet[c] = ld;
      /* covariances are set by the first M-step; until then the inverse of P */
      memset(m->cov + (int64_t)c * d * d, 0, sizeof(double) * (size_t)(d * d));
    } else {
      const int diag = p->covariance == OVQ_GMM_DIAG;
      double ld = 0.0;
      for (int64_t f = 0; f < d; f++) {
        double pv = diag ? p->init_precisions[c * d + f] : p->init_precisions[c];
        if (!(pv > 0.0) || !isfinite(pv))
          return ovq_error("gmm: given precision %d must be finite and > 0", c);
        m->w[c * d + f] = sqrt(pv);
        if (diag) {
          m->cov[c * d + f] = 1.0 / pv;
          ld += log(m->w[c * d + f]);
        }
      }
      if (!diag) {
        m->cov[c] = 1.0 / p->init_precisions[c];
        ld = (double)d * log(sqrt(p->init_precisions[c]));
      }
      m->logdet[c] = ld;
    }
  }
  return OVQ_OK;
}

void ovq_gmm_defaults(OvqGmmParams *p) {
  memset(p, 0, sizeof *p);
  p->k = 1;
  p->covariance = OVQ_GMM_FULL;
  p->reg_covar = 1e-6;
  p->tol = 1e-3;
  p->max_iter = 100;
  p->n_init = 1;
  p->init = OVQ_GMM_INIT_KMEANS;
  p->seed = 0;
}

int64_t ovq_gmm_n_parameters(OvqGmmCovariance cov, int k, int64_t d) {
  int64_t cp = cov == OVQ_GMM_FULL ? (int64_t)k * d * (d + 1) / 2
               : cov == OVQ_GMM_DIAG ? (int64_t)k * d
                                     : (int64_t)k;
  return cp + (int64_t)k * d + k - 1;
}

void ovq_gmm_result_free(OvqGmmResult *r) {
  if (!r) return;
  free(r->labels);
  free(r->weights);
  free(r->means);
  free(r->covariances);
  memset(r, 0, sizeof *r);
}

/* User errors that every rank can see from its own arguments. */
static OvqStatus check_args(const OvqGmmParams *p, const float *x, int64_t n_local, int64_t d,
                            int same_d, int64_t n_total) {
  if (n_local < 0 || (n_local > 0 && !x))
    return ovq_error("gmm: no data on this rank (n_local = %lld, x = %p)", (long long)n_local,
                     (const void *)x);
  if (d < 1) return ovq_error("gmm: d = %lld features; need at least 1", (long long)d);
  if (!same_d)
    return ovq_error("gmm: ranks hold rows of different widths (here d = %lld)", (long long)d);
  if (p->k < 1 || p->k > n_total)
    return ovq_error("gmm: k = %d components must be between 1 and the number of samples (%lld)",
                     p->k, (long long)n_total);
  if (p->covariance != OVQ_GMM_FULL && p->covariance != OVQ_GMM_DIAG &&
      p->covariance != OVQ_GMM_SPHERICAL)
    return ovq_error("gmm: unknown covariance type %d (full, diag or spherical)",
                     (int)p->covariance);
  if (p->max_iter < 1)
    return ovq_error("gmm: max_iter = %d; need at least 1 iteration", p->max_iter);
  if (p->n_init < 1) return ovq_error("gmm: n_init = %d; need at least 1 restart", p->n_init);
  if (!(p->tol >= 0.0) || isinf(p->tol))
    return ovq_error("gmm: tol = %g must be a finite number >= 0", p->tol);
  if (!(p->reg_covar >= 0.0) || isinf(p->reg_covar))
    return ovq_error("gmm: reg_covar = %g must be a finite number >= 0", p->reg_covar);
  if (p->init != OVQ_GMM_INIT_KMEANS && p->init != OVQ_GMM_INIT_GIVEN)
    return ovq_error("gmm: unknown initialisation %d", (int)p->init);
  if (p->init == OVQ_GMM_INIT_GIVEN) {
    if (!p->init_weights || !p->init_means || !p->init_precisions)
      return ovq_error("gmm: initialisation 'given' needs init_weights, init_means and "
                       "init_precisions");
    double sum = 0.0;
    for (int c = 0; c < p->k; c++) {
      if (!(p->init_weights[c] >= 0.0 && p->init_weights[c] <= 1.0))
        return ovq_error("gmm: given weight %d = %g is not in [0, 1]", c, p->init_weights[c]);
      sum += p->init_weights[c];
    }
    if (!(fabs(sum - 1.0) <= 1e-6))
      return ovq_error("gmm: given weights sum to %.9g, not 1", sum);
    for (int64_t i = 0; i < (int64_t)p->k * d; i++)
      if (!isfinite(p->init_means[i]))
        return ovq_error("gmm: given mean %lld, feature %lld is not finite", (long long)(i / d),
                         (long long)(i % d));
  }
  return OVQ_OK;
}

/* The frame (exact global mean), the fixed-point scales and the check for non-finite values.
 * Collective. */
static OvqStatus moments(Shard *s) {
  const int64_t d = s->d;
  double *top = OVQ_CALLOC((size_t)d + 1, sizeof(double)); /* max |x_f|, then 1 if non-finite */
  for (int64_t i = 0; i < s->n; i++)
    for (int64_t f = 0; f < d; f++) {
      float v = s->x[i * d + f];
      if (!isfinite(v))
        top[d] = 1.0;
      else if (fabs(v) > top[f])
        top[f] = fabs(v);
    }
  OVQ_MPI_CHECK(
      MPI_Allreduce(MPI_IN_PLACE, top, OVQ_INT(d + 1, "d"), MPI_DOUBLE, MPI_MAX, s->comm));
  if (top[d] > 0.0) {
    free(top);
    return ovq_error("gmm: the data hold NaN or infinite values");
  }
  int bits = 1; /* 2^bits > N */
  while (bits < 62 && ((int64_t)1 << bits) <= s->n_total)
    bits++;
  /* the mean: every value as an exact multiple of 2^(61 - bits - e_f) */
  double *qs = OVQ_MALLOC(sizeof(double) * (size_t)d);
  int64_t *isum = OVQ_CALLOC((size_t)d, sizeof(int64_t));
  for (int64_t f = 0; f < d; f++) {
    int ex = 0;
    if (top[f] > 0.0) frexp(top[f], &ex);
    qs[f] = ldexp(1.0, 61 - bits - ex);
  }
  for (int64_t i = 0; i < s->n; i++)
    for (int64_t f = 0; f < d; f++)
      isum[f] += llrint((double)s->x[i * d + f] * qs[f]);
  OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, isum, OVQ_INT(d, "d"), MPI_INT64_T, MPI_SUM, s->comm));
  for (int64_t f = 0; f < d; f++)
    s->mean[f] = (double)isum[f] / qs[f] / (double)s->n_total;
  free(isum);
  free(qs);

  /* scales of the statistics from max |x_f - m_f| < 2^e_f (e_f >= -400 keeps them finite) */
  memset(top, 0, sizeof(double) * (size_t)d);
  for (int64_t i = 0; i < s->n; i++)
    for (int64_t f = 0; f < d; f++) {
      double v = fabs((double)s->x[i * d + f] - s->mean[f]);
      if (v > top[f]) top[f] = v;
    }
  OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, top, OVQ_INT(d, "d"), MPI_DOUBLE, MPI_MAX, s->comm));
  int *ex = OVQ_CALLOC((size_t)d, sizeof(int));
  for (int64_t f = 0; f < d; f++) {
    if (top[f] > 0.0) frexp(top[f], &ex[f]);
    if (ex[f] < -400) ex[f] = -400;
  }
  const int base = 61 - bits;
  s->scale[0] = ldexp(1.0, base);
  for (int64_t f = 0; f < d; f++)
    s->scale[1 + f] = ldexp(1.0, base - ex[f]);
  if (s->full)
    for (int64_t f = 0; f < d; f++)
      for (int64_t g = 0; g < d; g++)
        s->scale[1 + d + f * d + g] = ldexp(1.0, base - ex[f] - ex[g]);
  else
    for (int64_t f = 0; f < d; f++)
      s->scale[1 + d + f] = ldexp(1.0, base - 2 * ex[f]);
  free(ex);
  free(top);
  return OVQ_OK;
}

/* One-hot responsibilities from k-means with the given seed, then one M-step. Collective. */
static OvqStatus init_kmeans(const Shard *s, const OvqGmmParams *p, uint64_t seed, Work *w,
                             int64_t *isum, int32_t *plab, Model *m, double *tmp) {
  OvqKmeansParams kp;
  ovq_kmeans_defaults(&kp);
  kp.k = p->k;
  kp.n_init = 1; /* as sklearn's _initialize_parameters */
  kp.seed = seed;
  OvqKmeansResult kr;
  OvqStatus st = ovq_kmeans_fit(&kp, s->x, s->n, s->d, s->comm, &kr);
  if (st != OVQ_OK) return st;
  /* labels of the processed rows: own ones, then the tail's from their holders */
  int64_t own0 = s->first - s->starts[s->rank];
  int64_t own = s->starts[s->rank + 1] - s->first;
  if (s->n_proc > 0 && own > 0) memcpy(plab, kr.labels + own0, sizeof(int32_t) * (size_t)own);
  exchange(s, sizeof(int32_t), kr.labels, plab + (own > 0 ? own : 0), 0);
  ovq_kmeans_result_free(&kr);
  pass(s, w, p->k, MODE_INIT, plab, isum, NULL);
  return ovq_status_agree(s->comm, mstep(s, p->k, p->covariance, p->reg_covar, isum, 1, m, tmp));
}

OvqStatus ovq_gmm_fit(const OvqGmmParams *p, const float *x, int64_t n_local, int64_t d,
                      MPI_Comm comm, OvqGmmResult *out) {
  memset(out, 0, sizeof *out);
  Shard s = {.x = x, .n = n_local, .d = d, .comm = comm};
  OVQ_MPI_CHECK(MPI_Comm_rank(comm, &s.rank));
  OVQ_MPI_CHECK(MPI_Comm_size(comm, &s.size));

  int same_d;
  s.starts = ovq_row_starts(n_local, d, comm, &s.n_total, &same_d);
  OvqStatus st = ovq_status_agree(comm, check_args(p, x, n_local, d, same_d, s.n_total));
  if (st != OVQ_OK) {
    free(s.starts);
    return st;
  }
  s.di = OVQ_INT(d, "d");
  const int k = p->k;
  const OvqGmmCovariance ct = p->covariance;
  s.full = ct == OVQ_GMM_FULL;
  s.S = 1 + d + (s.full ? d * d : d);
  s.mean = OVQ_MALLOC(sizeof(double) * (size_t)d);
  s.scale = OVQ_MALLOC(sizeof(double) * (size_t)s.S);

  /* the blocks this rank processes and the tail rows it fetches for them */
  int64_t b1, tlo, thi;
  blocks_of(&s, s.rank, &s.b0, &b1);
  s.nb = b1 - s.b0;
  s.first = s.b0 * OVQ_GMM_BLOCK;
  tail_of(&s, s.rank, &tlo, &thi);
  s.n_proc = 0;
  if (s.nb > 0) {
    int64_t end = b1 * OVQ_GMM_BLOCK < s.n_total ? b1 * OVQ_GMM_BLOCK : s.n_total;
    s.n_proc = end - s.first;
  }
  s.tail = OVQ_MALLOC(sizeof(float) * (size_t)((thi - tlo) * d + 1));
  exchange(&s, sizeof(float) * (size_t)d, (void *)x, s.tail, 0);

  int32_t *plab = OVQ_MALLOC(sizeof(int32_t) * (size_t)(s.n_proc + 1));
  int64_t *isum = OVQ_MALLOC(sizeof(int64_t) * (size_t)k * (size_t)s.S);
  double *tmp = OVQ_MALLOC(sizeof(double) * (size_t)(d * d));
  Work w = {0};
  Model m = {0}, best = {0};
  model_alloc(&m, k, d, s.full);
  model_alloc(&best, k, d, s.full);
  work_alloc(&w, &s, k);

  st = moments(&s);
  const int n_init = p->init == OVQ_GMM_INIT_GIVEN ? 1 : p->n_init;
  double best_lb = -INFINITY;
  for (int r = 0; r < n_init && st == OVQ_OK; r++) {
    if (p->init == OVQ_GMM_INIT_GIVEN) {
      st = ovq_status_agree(comm, model_given(&s, p, &m, tmp));
    } else {
      uint64_t seed = p->seed;
      if (r > 0) {
        OvqRng g;
        ovq_rng_init(&g, p->seed, OVQ_STREAM_GMM_RESTART, (uint64_t)r);
        seed = ovq_rng_u64(&g);
      }
      st = init_kmeans(&s, p, seed, &w, isum, plab, &m, tmp);
    }
    if (st != OVQ_OK) break;
    double lb = -INFINITY;
    int it = 0, conv = 0;
    while (it < p->max_iter) {
      double prev = lb;
      work_model(&w, &s, k, &m);
      lb = pass(&s, &w, k, MODE_EM, NULL, isum, NULL);
      st = ovq_status_agree(comm, mstep(&s, k, ct, p->reg_covar, isum, 0, &m, tmp));
      if (st != OVQ_OK) break;
      it++;
      ovq_log(OVQ_LOG_DEBUG, "gmm restart %d iteration %d: mean log-likelihood %.12g", r, it, lb);
      if (fabs(lb - prev) < p->tol) {
        conv = 1;
        break;
      }
    }
    if (st != OVQ_OK) break;
    if (lb > best_lb || r == 0) {
      best_lb = lb;
      model_copy(&best, &m, k, d, s.full);
      out->n_iter = it;
      out->converged = conv;
      out->best_restart = r;
    }
  }

  if (st == OVQ_OK) {
    /* final E-step with the kept parameters: labels and the log-likelihood of the BIC */
    work_model(&w, &s, k, &best);
    double score = pass(&s, &w, k, MODE_FINAL, NULL, NULL, plab);
    out->labels = OVQ_MALLOC(sizeof(int32_t) * (size_t)(n_local + 1));
    int64_t own0 = s.first - s.starts[s.rank];
    int64_t own = s.starts[s.rank + 1] - s.first;
    if (s.n_proc > 0 && own > 0) memcpy(out->labels + own0, plab, sizeof(int32_t) * (size_t)own);
    exchange(&s, sizeof(int32_t), out->labels, plab + (own > 0 ? own : 0), 1);

    const size_t kd = (size_t)k * (size_t)d;
    const size_t nc = ct == OVQ_GMM_FULL ? kd * (size_t)d : ct == OVQ_GMM_DIAG ? kd : (size_t)k;
    out->k = k;
    out->d = d;
    out->n_local = n_local;
    out->covariance = ct;
    out->weights = OVQ_MALLOC(sizeof(double) * (size_t)k);
    out->means = OVQ_MALLOC(sizeof(double) * kd);
    out->covariances = OVQ_MALLOC(sizeof(double) * nc);
    memcpy(out->weights, best.weights, sizeof(double) * (size_t)k);
    for (int c = 0; c < k; c++)
      for (int64_t f = 0; f < d; f++)
        out->means[c * d + f] = best.mc[c * d + f] + s.mean[f];
    memcpy(out->covariances, best.cov, sizeof(double) * nc);
    out->log_likelihood = best_lb;
    const double nt = (double)s.n_total;
    out->bic = -2.0 * score * nt + (double)ovq_gmm_n_parameters(ct, k, d) * log(nt);
  } else {
    memset(out, 0, sizeof *out);
  }

  work_free(&w);
  model_free(&m);
  model_free(&best);
  free(plab);
  free(isum);
  free(tmp);
  free(s.tail);
  free(s.mean);
  free(s.scale);
  free(s.starts);
  return st;
}
