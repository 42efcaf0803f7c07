/* iClusterBayes for Gaussian views on row-distributed samples (see include/ovq/icluster.h for
 * the model, the sampler and where it departs from iClusterPlus's src/iClusterBayes.c).
 *
 * One iteration, per rank:
 *   z step      local: each sample's Metropolis step reads its rows and the replicated
 *               (alpha, gamma b / sigma2) of the selected features;
 *   standardise one fixed-point allreduce of sum z, sum z^2 (2K numbers);
 *   statistics  one fixed-point allreduce of sum z, sum z z', sum z x_j (K + K^2 + P K numbers);
 *   features    replicated: every rank draws every feature's sigma2, (alpha, b), gamma from the
 *               same statistics with the same keyed draws, so the replicas never differ.
 * Fixed-point sums are exact integer sums, so the statistics do not depend on how the samples
 * are split: the chain is bit-identical for any number of ranks. */
#include "ovq/icluster.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "icluster_internal.h"
#include "ovq/fixedsum.h"
#include "ovq/kmeans.h"
#include "ovq/rng.h"

void ovq_icluster_defaults(OvqIclusterParams *p) {
  memset(p, 0, sizeof *p);
  p->k_clusters = 3;
  p->n_burnin = 1000;
  p->n_draw = 1200;
  p->thin = 1;
  for (int t = 0; t < OVQ_ICLUSTER_MAX_VIEWS; t++)
    p->prior_gamma[t] = 0.1;
  p->sdev = 0.5;
  p->beta_var_scale = 1.0;
  p->pp_cutoff = 0.5;
  p->kmeans_n_init = 10;
  p->seed = 0;
}

void ovq_icluster_result_free(OvqIclusterResult *r) {
  if (!r) return;
  free(r->mean_z);
  free(r->labels);
  free(r->gamma_prob);
  free(r->alpha);
  free(r->beta);
  free(r->sigma2);
  memset(r, 0, sizeof *r);
}

/* ---- conditional updates (icluster_internal.h) ------------------------------------------- */

double ovq_icl_rss(int k1, const double *g, const double *h, double sxx, const double *c) {
  double lin = 0.0, quad = 0.0;
  for (int a = 0; a < k1; a++) {
    double row = 0.0;
    for (int b = 0; b < k1; b++)
      row += g[a * k1 + b] * c[b];
    lin += c[a] * h[a];
    quad += c[a] * row;
  }
  double rss = sxx - 2.0 * lin + quad;
  return rss > 0.0 ? rss : 0.0;
}

double ovq_icl_draw_sigma2(OvqRng *r, double n, double rss) {
  double shape = OVQ_ICL_IG_SHAPE + 0.5 * n, scale = OVQ_ICL_IG_SCALE + 0.5 * rss;
  return scale / ovq_rng_gamma(r, shape);
}

/* In-place lower Cholesky factor of a [n][n] (upper part left as is); 0 if positive definite. */
static int cholesky(int n, double *a) {
  for (int j = 0; j < n; j++) {
    double d = a[j * n + j];
    for (int l = 0; l < j; l++)
      d -= a[j * n + l] * a[j * n + l];
    if (!(d > 0.0)) return -1;
    d = sqrt(d);
    a[j * n + j] = d;
    for (int i = j + 1; i < n; i++) {
      double s = a[i * n + j];
      for (int l = 0; l < j; l++)
        s -= a[i * n + l] * a[j * n + l];
      a[i * n + j] = s / d;
    }
  }
  return 0;
}

void ovq_icl_draw_coef(OvqRng *r, int k1, const double *g, const double *h, double sigma2,
                       int gamma, double slab_var, double *c, double *work) {
  double *q = work, *y = work + k1 * k1;
  /* With gamma = 0 the loadings are absent from the likelihood: only the intercept's entry of
   * C1Z'C1Z and C1Z'x remains, and b keeps its prior (Kuo and Mallick). */
  for (int a = 0; a < k1; a++) {
    for (int b = 0; b < k1; b++)
      q[a * k1 + b] = (gamma || (a == 0 && b == 0)) ? g[a * k1 + b] / sigma2 : 0.0;
    q[a * k1 + a] += a == 0 ? 1.0 / OVQ_ICL_ALPHA_VAR : 1.0 / slab_var;
    y[a] = (gamma || a == 0) ? h[a] / sigma2 : 0.0;
  }
  if (cholesky(k1, q) != 0) OVQ_ABORT("iClusterBayes: conditional precision not positive definite");
  /* Q = L L': mean L^-T L^-1 y, covariance Q^-1 = L^-T L^-1, so c = L^-T (L^-1 y + e). */
  for (int a = 0; a < k1; a++) {
    double s = y[a];
    for (int b = 0; b < a; b++)
      s -= q[a * k1 + b] * y[b];
    y[a] = s / q[a * k1 + a];
  }
  for (int a = 0; a < k1; a++)
    y[a] += ovq_rng_normal(r);
  for (int a = k1 - 1; a >= 0; a--) {
    double s = y[a];
    for (int b = a + 1; b < k1; b++)
      s -= q[b * k1 + a] * c[b];
    c[a] = s / q[a * k1 + a];
  }
}

double ovq_icl_gamma_prob(double prior, double rss1, double rss0, double sigma2) {
  double lhr = 0.5 * (rss0 - rss1) / sigma2 + log(prior) - log(1.0 - prior);
  return 1.0 / (1.0 + exp(-lhr));
}

int ovq_icl_draw_gamma(OvqRng *r, double prior, double rss1, double rss0, double sigma2) {
  return ovq_rng_uniform(r) < ovq_icl_gamma_prob(prior, rss1, rss0, sigma2);
}

/* -z' m z / 2 + v . z */
static double z_target(int k, const double *m, const double *v, const double *z) {
  double t = 0.0;
  for (int a = 0; a < k; a++) {
    double row = 0.0;
    for (int b = 0; b < k; b++)
      row += m[a * k + b] * z[b];
    t += z[a] * (v[a] - 0.5 * row);
  }
  return t;
}

int ovq_icl_z_step(OvqRng *r, int k, const double *m, const double *v, double sdev, double *z,
                   double *work) {
  for (int a = 0; a < k; a++)
    work[a] = z[a] + sdev * ovq_rng_normal(r);
  double dif = z_target(k, m, v, work) - z_target(k, m, v, z);
  if (log(ovq_rng_uniform(r)) < dif) {
    memcpy(z, work, sizeof(double) * (size_t)k);
    return 1;
  }
  return 0;
}

/* ---- the distributed sampler ------------------------------------------------------------- */

typedef struct Chain {
  int K, k1, m;
  int64_t n, n_total, g0, P; /* local rows, N, first global row, all features */
  const float *const *x;     /* [m] -> [n][p[t]] */
  const int64_t *p;
  const int64_t *vstart; /* [m + 1] */
  MPI_Comm comm;
  double *sx, *sxx;  /* [P]: sum x, sum x^2 of every feature */
  double stat_bound; /* fixed-point bound of the per-iteration statistics */
  double *alpha, *b; /* [P], [P][K] */
  double *sigma2;    /* [P] */
  int *gamma;        /* [P] */
  double *z, *zs;    /* [n][K]: chain state, standardised copy */
  double *g;         /* [k1][k1]: C1Z'C1Z */
  double *zx;        /* [P][K]: sum_i z_i x_ij */
} Chain;

/* Sum over all samples of z, z z' and z x_j for every feature (zmat: [n][K]) into c->g, c->zx. */
static void latent_stats(Chain *c, const double *zmat, OvqFixedSum *fs, double *buf) {
  const int K = c->K, k1 = c->k1;
  const int64_t off_zz = K, off_zx = K + (int64_t)K * K;
  ovq_fixed_zero(fs);
  for (int64_t i = 0; i < c->n; i++) {
    const double *zi = zmat + i * K;
    for (int a = 0; a < K; a++) {
      ovq_fixed_add(fs, a, zi[a]);
      for (int b = a; b < K; b++)
        ovq_fixed_add(fs, off_zz + a * K + b, zi[a] * zi[b]);
    }
    for (int t = 0; t < c->m; t++) {
      const float *row = c->x[t] + i * c->p[t];
      int64_t *acc = fs->acc + off_zx + c->vstart[t] * K;
      for (int64_t j = 0; j < c->p[t]; j++) {
        double xv = row[j];
        for (int a = 0; a < K; a++)
          acc[j * K + a] += llrint(zi[a] * xv * fs->scale);
      }
    }
  }
  ovq_fixed_allreduce(fs, c->comm, buf);
  c->g[0] = (double)c->n_total;
  for (int a = 0; a < K; a++) {
    c->g[1 + a] = c->g[(1 + a) * k1] = buf[a];
    for (int b = a; b < K; b++)
      c->g[(1 + a) * k1 + 1 + b] = c->g[(1 + b) * k1 + 1 + a] = buf[off_zz + a * K + b];
  }
  memcpy(c->zx, buf + off_zx, sizeof(double) * (size_t)(c->P * K));
}

/* h = C1Z' x_f = (sum x, sum z x) of feature f. */
static void feature_h(const Chain *c, int64_t f, double *h) {
  h[0] = c->sx[f];
  memcpy(h + 1, c->zx + f * c->K, sizeof(double) * (size_t)c->K);
}

/* One Metropolis step for every local sample given the current feature parameters. Returns the
 * number of accepted moves. */
static int64_t z_sweep(Chain *c, uint64_t seed, int64_t iter, double sdev, double *wsel,
                       int64_t *sel, double *mq, double *u, double *v, double *work) {
  const int K = c->K;
  /* Selected features: w_j = b_j / sigma2_j; M = I + sum_j b_j w_j'; u = sum_j alpha_j w_j. */
  int64_t ns = 0;
  memset(mq, 0, sizeof(double) * (size_t)K * K);
  memset(u, 0, sizeof(double) * (size_t)K);
  for (int a = 0; a < K; a++)
    mq[a * K + a] = 1.0;
  for (int64_t f = 0; f < c->P; f++) {
    if (!c->gamma[f]) continue;
    const double *bf = c->b + f * K;
    double *w = wsel + ns * K;
    for (int a = 0; a < K; a++)
      w[a] = bf[a] / c->sigma2[f];
    for (int a = 0; a < K; a++) {
      u[a] += c->alpha[f] * w[a];
      for (int b2 = 0; b2 < K; b2++)
        mq[a * K + b2] += bf[a] * w[b2];
    }
    sel[ns++] = f;
  }
  int64_t accepted = 0;
  for (int64_t i = 0; i < c->n; i++) {
    for (int a = 0; a < K; a++)
      v[a] = -u[a];
    int t = 0;
    for (int64_t s = 0; s < ns; s++) {
      int64_t f = sel[s];
      while (f >= c->vstart[t + 1])
        t++;
      double xv = c->x[t][i * c->p[t] + (f - c->vstart[t])];
      for (int a = 0; a < K; a++)
        v[a] += xv * wsel[s * K + a];
    }
    OvqRng r;
    ovq_rng_init(&r, seed, OVQ_STREAM_ICL_Z,
                 (uint64_t)iter * (uint64_t)c->n_total + (uint64_t)(c->g0 + i));
    accepted += ovq_icl_z_step(&r, K, mq, v, sdev, c->z + i * K, work);
  }
  return accepted;
}

/* zs = columns of z standardised to mean 0, sd 1 (divisor N - 1) over all samples. */
static void standardise(Chain *c) {
  const int K = c->K;
  double zmax = 1.0;
  for (int64_t i = 0; i < c->n * K; i++)
    zmax = fmax(zmax, c->z[i] * c->z[i]);
  OvqFixedSum fs;
  ovq_fixed_init(&fs, 2 * K, ovq_fixed_bound(zmax, c->n_total, c->comm));
  for (int64_t i = 0; i < c->n; i++)
    for (int a = 0; a < K; a++) {
      double v = c->z[i * K + a];
      ovq_fixed_add(&fs, a, v);
      ovq_fixed_add(&fs, K + a, v * v);
    }
  double *sp = OVQ_MALLOC(sizeof(double) * 4 * (size_t)K), *mp = sp + 2 * K, *dp = sp + 3 * K;
  ovq_fixed_allreduce(&fs, c->comm, sp);
  ovq_fixed_free(&fs);
  const double nt = (double)c->n_total;
  for (int a = 0; a < K; a++) {
    mp[a] = sp[a] / nt;
    double var = (sp[K + a] - sp[a] * sp[a] / nt) / (nt - 1.0);
    dp[a] = var > 0.0 ? sqrt(var) : 1.0;
  }
  for (int64_t i = 0; i < c->n; i++)
    for (int a = 0; a < K; a++)
      c->zs[i * K + a] = (c->z[i * K + a] - mp[a]) / dp[a];
  free(sp);
}

/* sigma2, (alpha, b) and gamma of every feature, replicated. */
static void feature_sweep(Chain *c, const OvqIclusterParams *prm, int64_t iter, double *h,
                          double *cf, double *c0, double *work) {
  const int K = c->K, k1 = c->k1;
  for (int t = 0; t < c->m; t++)
    for (int64_t f = c->vstart[t]; f < c->vstart[t + 1]; f++) {
      feature_h(c, f, h);
      double *bf = c->b + f * K;
      cf[0] = c0[0] = c->alpha[f];
      for (int a = 0; a < K; a++) {
        cf[1 + a] = c->gamma[f] ? bf[a] : 0.0;
        c0[1 + a] = 0.0;
      }
      uint64_t idx = (uint64_t)iter * (uint64_t)c->P + (uint64_t)f;
      OvqRng r;
      ovq_rng_init(&r, prm->seed, OVQ_STREAM_ICL_COEF, idx);
      double s2 =
          ovq_icl_draw_sigma2(&r, (double)c->n_total, ovq_icl_rss(k1, c->g, h, c->sxx[f], cf));
      ovq_icl_draw_coef(&r, k1, c->g, h, s2, c->gamma[f], prm->beta_var_scale, cf, work);
      c->sigma2[f] = s2;
      c->alpha[f] = c0[0] = cf[0];
      memcpy(bf, cf + 1, sizeof(double) * (size_t)K);
      double rss1 = ovq_icl_rss(k1, c->g, h, c->sxx[f], cf);
      double rss0 = ovq_icl_rss(k1, c->g, h, c->sxx[f], c0);
      ovq_rng_init(&r, prm->seed, OVQ_STREAM_ICL_GAMMA, idx);
      c->gamma[f] = ovq_icl_draw_gamma(&r, prm->prior_gamma[t], rss1, rss0, s2);
    }
}

static OvqStatus check_params(const OvqIclusterParams *p, int n_views) {
  if (p->k_clusters < 2) return ovq_error("icluster: k_clusters = %d, must be >= 2", p->k_clusters);
  if (n_views < 1 || n_views > OVQ_ICLUSTER_MAX_VIEWS)
    return ovq_error("icluster: %d views, must be 1..%d", n_views, OVQ_ICLUSTER_MAX_VIEWS);
  if (p->n_burnin < 0 || p->n_draw < 1 || p->thin < 1)
    return ovq_error("icluster: n_burnin = %d (>= 0), n_draw = %d (>= 1), thin = %d (>= 1)",
                     p->n_burnin, p->n_draw, p->thin);
  for (int t = 0; t < n_views; t++)
    if (!(p->prior_gamma[t] > 0.0 && p->prior_gamma[t] < 1.0))
      return ovq_error("icluster: prior_gamma[%d] = %g, must be in (0, 1)", t, p->prior_gamma[t]);
  if (!(p->sdev > 0.0) || !isfinite(p->sdev))
    return ovq_error("icluster: sdev = %g, must be > 0", p->sdev);
  if (!(p->beta_var_scale > 0.0) || !isfinite(p->beta_var_scale))
    return ovq_error("icluster: beta_var_scale = %g, must be > 0", p->beta_var_scale);
  if (!(p->pp_cutoff >= 0.0 && p->pp_cutoff < 1.0))
    return ovq_error("icluster: pp_cutoff = %g, must be in [0, 1)", p->pp_cutoff);
  if (p->kmeans_n_init < 1)
    return ovq_error("icluster: kmeans_n_init = %d, must be >= 1", p->kmeans_n_init);
  return OVQ_OK;
}

OvqStatus ovq_icluster_fit(const OvqIclusterParams *prm, int n_views, const float *const *x,
                           const int64_t *p_view, int64_t n_local, MPI_Comm comm,
                           OvqIclusterResult *out) {
  memset(out, 0, sizeof *out);
  OvqStatus st = check_params(prm, n_views);
  if (st == OVQ_OK && n_local < 0)
    st = ovq_error("icluster: n_local = %lld < 0", (long long)n_local);
  for (int t = 0; st == OVQ_OK && t < n_views; t++) {
    if (p_view[t] < 1) {
      st = ovq_error("icluster: view %d has %lld features", t, (long long)p_view[t]);
    } else if (n_local > 0 && !x[t]) {
      st = ovq_error("icluster: view %d has no data", t);
    } else {
      for (int64_t i = 0; i < n_local * p_view[t]; i++)
        if (!isfinite(x[t][i])) {
          st = ovq_error("icluster: view %d: non-finite value at local sample %lld, feature %lld",
                         t, (long long)(i / p_view[t]), (long long)(i % p_view[t]));
          break;
        }
    }
  }
  if (ovq_status_agree(comm, st) != OVQ_OK) return OVQ_ERR;

  /* The same views and feature counts on every rank. */
  int64_t shape[1 + OVQ_ICLUSTER_MAX_VIEWS], lo[1 + OVQ_ICLUSTER_MAX_VIEWS],
      hi[1 + OVQ_ICLUSTER_MAX_VIEWS];
  shape[0] = n_views;
  for (int t = 0; t < OVQ_ICLUSTER_MAX_VIEWS; t++)
    shape[1 + t] = t < n_views ? p_view[t] : 0;
  OVQ_MPI_CHECK(MPI_Allreduce(shape, lo, 1 + OVQ_ICLUSTER_MAX_VIEWS, MPI_INT64_T, MPI_MIN, comm));
  OVQ_MPI_CHECK(MPI_Allreduce(shape, hi, 1 + OVQ_ICLUSTER_MAX_VIEWS, MPI_INT64_T, MPI_MAX, comm));
  if (memcmp(lo, hi, sizeof lo) != 0)
    st = ovq_error("icluster: the number of views or of features differs across ranks");
  int64_t n_total = 0, g0 = 0;
  OVQ_MPI_CHECK(MPI_Allreduce(&n_local, &n_total, 1, MPI_INT64_T, MPI_SUM, comm));
  OVQ_MPI_CHECK(MPI_Exscan(&n_local, &g0, 1, MPI_INT64_T, MPI_SUM, comm));
  int rank;
  OVQ_MPI_CHECK(MPI_Comm_rank(comm, &rank));
  if (rank == 0) g0 = 0; /* MPI_Exscan leaves rank 0's result undefined */
  if (st == OVQ_OK && n_total < prm->k_clusters)
    st = ovq_error("icluster: %lld samples for %d clusters", (long long)n_total, prm->k_clusters);
  if (ovq_status_agree(comm, st) != OVQ_OK) return OVQ_ERR;

  const int K = prm->k_clusters - 1, k1 = K + 1, m = n_views;
  int64_t vstart[OVQ_ICLUSTER_MAX_VIEWS + 1];
  vstart[0] = 0;
  for (int t = 0; t < m; t++)
    vstart[t + 1] = vstart[t] + p_view[t];
  const int64_t P = vstart[m], n = n_local;

  Chain c = {.K = K,
             .k1 = k1,
             .m = m,
             .n = n,
             .n_total = n_total,
             .g0 = g0,
             .P = P,
             .x = x,
             .p = p_view,
             .vstart = vstart,
             .comm = comm};
  c.sx = OVQ_MALLOC(sizeof(double) * (size_t)P);
  c.sxx = OVQ_MALLOC(sizeof(double) * (size_t)P);
  c.alpha = OVQ_MALLOC(sizeof(double) * (size_t)P);
  c.b = OVQ_CALLOC((size_t)(P * K), sizeof(double));
  c.sigma2 = OVQ_MALLOC(sizeof(double) * (size_t)P);
  c.gamma = OVQ_CALLOC((size_t)P, sizeof(int));
  c.z = OVQ_MALLOC(sizeof(double) * (size_t)(n * K + 1));
  c.zs = OVQ_MALLOC(sizeof(double) * (size_t)(n * K + 1));
  c.g = OVQ_MALLOC(sizeof(double) * (size_t)(k1 * k1));
  c.zx = OVQ_MALLOC(sizeof(double) * (size_t)(P * K));

  /* Per-feature sums of x and x^2 (constant through the chain). */
  {
    double xmax = 1.0;
    for (int t = 0; t < m; t++)
      for (int64_t i = 0; i < n * p_view[t]; i++)
        xmax = fmax(xmax, (double)x[t][i] * x[t][i]);
    OvqFixedSum fs;
    ovq_fixed_init(&fs, 2 * P, ovq_fixed_bound(xmax, n_total, comm));
    for (int t = 0; t < m; t++)
      for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < p_view[t]; j++) {
          double v = x[t][i * p_view[t] + j];
          ovq_fixed_add(&fs, vstart[t] + j, v);
          ovq_fixed_add(&fs, P + vstart[t] + j, v * v);
        }
    double *buf = OVQ_MALLOC(sizeof(double) * (size_t)(2 * P));
    ovq_fixed_allreduce(&fs, comm, buf);
    ovq_fixed_free(&fs);
    memcpy(c.sx, buf, sizeof(double) * (size_t)P);
    memcpy(c.sxx, buf + P, sizeof(double) * (size_t)P);
    free(buf);
  }
  /* Cold start as iClusterPlus's dataType(): alpha = means, sigma2 = variances (divisor N),
   * b = 0, gamma = 0; z_i ~ N(0, I). */
  double sxx_max = 0.0;
  for (int64_t f = 0; f < P; f++) {
    c.alpha[f] = c.sx[f] / (double)n_total;
    double var = c.sxx[f] / (double)n_total - c.alpha[f] * c.alpha[f];
    c.sigma2[f] = var > 1e-300 ? var : 1e-300;
    sxx_max = fmax(sxx_max, c.sxx[f]);
  }
  for (int64_t i = 0; i < n; i++) {
    OvqRng r;
    ovq_rng_init(&r, prm->seed, OVQ_STREAM_ICL_ZINIT, (uint64_t)(g0 + i));
    for (int a = 0; a < K; a++)
      c.z[i * K + a] = ovq_rng_normal(&r);
  }
  /* Statistics bound: for standardised columns (sum_i z_ia^2 = N - 1) Cauchy-Schwarz gives
   * |sum_i z_ia x_ij| <= sqrt(N sxx_j) and |sum_i z_ia z_ib| <= N; twice that for rounding. The
   * posterior mean of Z obeys the same bounds (its column sums of squares are at most N - 1). */
  const double nt = (double)n_total;
  c.stat_bound = 2.0 * fmax(nt, sqrt(nt) * sqrt(sxx_max));
  OvqFixedSum stats;
  ovq_fixed_init(&stats, K + (int64_t)K * K + P * K, c.stat_bound);
  double *statbuf = OVQ_MALLOC(sizeof(double) * (size_t)(K + K * K + P * K));

  double *wsel = OVQ_MALLOC(sizeof(double) * (size_t)(P * K));
  int64_t *sel = OVQ_MALLOC(sizeof(int64_t) * (size_t)P);
  double *mq = OVQ_MALLOC(sizeof(double) * (size_t)(K * K));
  double *u = OVQ_MALLOC(sizeof(double) * (size_t)K), *v = OVQ_MALLOC(sizeof(double) * (size_t)K);
  double *work = OVQ_MALLOC(sizeof(double) * (size_t)(k1 * k1 + k1));
  double *h = OVQ_MALLOC(sizeof(double) * (size_t)k1),
         *cf = OVQ_MALLOC(sizeof(double) * (size_t)k1);
  double *c0 = OVQ_MALLOC(sizeof(double) * (size_t)k1);

  double *sum_z = OVQ_CALLOC((size_t)(n * K + 1), sizeof(double));
  double *sum_alpha = OVQ_CALLOC((size_t)P, sizeof(double));
  double *sum_beta = OVQ_CALLOC((size_t)(P * K), sizeof(double));
  double *sum_sigma2 = OVQ_CALLOC((size_t)P, sizeof(double));
  int64_t *count_gamma = OVQ_CALLOC((size_t)P, sizeof(int64_t));
  int64_t accepted = 0, n_thin = 0;

  const int64_t n_iter = (int64_t)prm->n_burnin + prm->n_draw;
  for (int64_t it = 0; it < n_iter; it++) {
    const int64_t d = it - prm->n_burnin; /* draw index, < 0 during burn-in */
    const int keep = d >= 0 && d % prm->thin == 0;
    int64_t acc = z_sweep(&c, prm->seed, it, prm->sdev, wsel, sel, mq, u, v, work);
    if (d >= 0) accepted += acc;
    standardise(&c);
    if (keep) {
      for (int64_t i = 0; i < n * K; i++)
        sum_z[i] += c.zs[i];
      n_thin++;
    }
    latent_stats(&c, c.zs, &stats, statbuf);
    feature_sweep(&c, prm, it, h, cf, c0, work);
    if (d >= 0)
      for (int64_t f = 0; f < P; f++)
        count_gamma[f] += c.gamma[f];
    if (keep)
      for (int64_t f = 0; f < P; f++) {
        sum_alpha[f] += c.alpha[f];
        sum_sigma2[f] += c.sigma2[f];
        if (c.gamma[f])
          for (int a = 0; a < K; a++)
            sum_beta[f * K + a] += c.b[f * K + a];
      }
  }

  /* Posterior means. */
  out->k = K;
  out->n_views = m;
  out->n_local = n;
  out->n_total = n_total;
  for (int t = 0; t < m; t++)
    out->p[t] = p_view[t];
  memcpy(out->view_start, vstart, sizeof(int64_t) * (size_t)(m + 1));
  out->mean_z = sum_z;
  for (int64_t i = 0; i < n * K; i++)
    sum_z[i] /= (double)n_thin;
  out->gamma_prob = OVQ_MALLOC(sizeof(double) * (size_t)P);
  for (int64_t f = 0; f < P; f++) {
    out->gamma_prob[f] = (double)count_gamma[f] / prm->n_draw;
    sum_alpha[f] /= (double)n_thin;
    sum_sigma2[f] /= (double)n_thin;
    for (int a = 0; a < K; a++)
      sum_beta[f * K + a] /= (double)n_thin;
  }
  out->alpha = sum_alpha;
  out->beta = sum_beta;
  out->sigma2 = sum_sigma2;
  OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &accepted, 1, MPI_INT64_T, MPI_SUM, comm));
  out->z_accept = (double)accepted / (nt * prm->n_draw);

  /* BIC and deviance ratio at the posterior means (iClusterPlus's totalBICbayes and
   * dev.ratio.bayes), from the statistics of the posterior mean of Z. */
  latent_stats(&c, out->mean_z, &stats, statbuf);
  double ll = 0.0, ll0 = 0.0, bic = 0.0;
  for (int64_t f = 0; f < P; f++) {
    feature_h(&c, f, h);
    int selected = out->gamma_prob[f] > prm->pp_cutoff;
    cf[0] = c0[0] = out->alpha[f];
    for (int a = 0; a < K; a++) {
      cf[1 + a] = selected ? out->beta[f * K + a] : 0.0;
      c0[1 + a] = 0.0;
    }
    double s2 = out->sigma2[f], norm = -0.5 * nt * log(2.0 * 3.14159265358979323846 * s2);
    double l1 = norm - 0.5 * ovq_icl_rss(k1, c.g, h, c.sxx[f], cf) / s2;
    ll += l1;
    ll0 += norm - 0.5 * ovq_icl_rss(k1, c.g, h, c.sxx[f], c0) / s2;
    bic += -2.0 * l1 + (selected ? k1 : 1) * log(nt);
  }
  out->loglik = ll;
  out->bic = bic;
  out->dev_ratio = 1.0 - ll / ll0;

  /* Labels: k-means of the posterior mean of Z into K + 1 clusters. */
  float *zf = OVQ_MALLOC(sizeof(float) * (size_t)(n * K + 1));
  for (int64_t i = 0; i < n * K; i++)
    zf[i] = (float)out->mean_z[i];
  OvqKmeansParams kp;
  ovq_kmeans_defaults(&kp);
  kp.k = prm->k_clusters;
  kp.n_init = prm->kmeans_n_init;
  kp.seed = prm->seed;
  OvqKmeansResult km;
  st = ovq_kmeans_fit(&kp, zf, n, K, comm, &km);
  free(zf);
  if (st == OVQ_OK) {
    out->labels = km.labels;
    km.labels = NULL;
    ovq_kmeans_result_free(&km);
  }

  ovq_fixed_free(&stats);
  free(statbuf);
  free(wsel);
  free(sel);
  free(mq);
  free(u);
  free(v);
  free(work);
  free(h);
  free(cf);
  free(c0);
  free(count_gamma);
  free(c.sx);
  free(c.sxx);
  free(c.alpha);
  free(c.b);
  free(c.sigma2);
  free(c.gamma);
  free(c.z);
  free(c.zs);
  free(c.g);
  free(c.zx);
  if (st != OVQ_OK) {
    ovq_icluster_result_free(out);
    return OVQ_ERR;
  }
  return OVQ_OK;
}
