/* iClusterBayes (src/cluster/icluster.c) at the rank count it is run with (registered at 1, 2, 4):
 * 1. Conditionals: for fixed Z, sigma2 and gamma, many draws of the sampler's update functions
 *    (src/cluster/icluster_internal.h) have the mean and (co)variance of the closed-form
 *    conditionals: (alpha, b) Gaussian (gamma = 1 and gamma = 0), sigma2 inverse gamma, gamma
 *    Bernoulli; the Metropolis step of z leaves its Gaussian conditional invariant (long chain).
 * 2. Planted: 3 clusters of 150 samples, views of 200 + 50 features of which 20 + 5 separate the
 *    clusters; a short chain (burn-in 200, 200 draws) recovers the clusters (ARI >= 0.9) and
 *    ranks the planted features highest (>= 80% of the top 25 selection probabilities).
 * 3. The world communicator gives the same labels and bit-identical posterior means as rank 0
 *    alone with all the samples; user errors are reported on every rank. */
#include <mpi.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/cluster/icluster_internal.h"
#include "check.h"
#include "ovq/error.h"
#include "ovq/icluster.h"
#include "ovq/metrics.h"
#include "ovq/partition.h"
#include "ovq/rng.h"

enum { NS = 40000 }; /* draws per conditional */

/* Inverse of a [n][n] (n <= 4) by Gauss-Jordan with partial pivoting. */
static void invert(int n, const double *a, double *inv) {
  double w[4][8];
  for (int i = 0; i < n; i++)
    for (int j = 0; j < 2 * n; j++)
      w[i][j] = j < n ? a[i * n + j] : (j - n == i);
  for (int col = 0; col < n; col++) {
    int piv = col;
    for (int i = col + 1; i < n; i++)
      if (fabs(w[i][col]) > fabs(w[piv][col])) piv = i;
    for (int j = 0; j < 2 * n; j++) {
      double t = w[col][j];
      w[col][j] = w[piv][j];
      w[piv][j] = t;
    }
    double d = w[col][col];
    for (int j = 0; j < 2 * n; j++)
      w[col][j] /= d;
    for (int i = 0; i < n; i++)
      if (i != col) {
        double f = w[i][col];
        for (int j = 0; j < 2 * n; j++)
          w[i][j] -= f * w[col][j];
      }
  }
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++)
      inv[i * n + j] = w[i][n + j];
}

/* Draws of (alpha, b) against N(Q^-1 r, Q^-1) built here from the data directly. */
static void check_coef(int gamma) {
  enum { N = 60, K = 2, K1 = 3 };
  double z[N][K], x[N], g[K1 * K1] = {0}, h[K1] = {0}, sxx = 0.0;
  OvqRng r;
  ovq_rng_init(&r, 3, OVQ_STREAM_TEST, 100);
  for (int i = 0; i < N; i++) {
    z[i][0] = ovq_rng_normal(&r);
    z[i][1] = ovq_rng_normal(&r);
    x[i] = 0.3 + 0.8 * z[i][0] - 0.5 * z[i][1] + 0.9 * ovq_rng_normal(&r);
    double c1z[K1] = {1.0, z[i][0], z[i][1]};
    for (int a = 0; a < K1; a++) {
      h[a] += c1z[a] * x[i];
      for (int b = 0; b < K1; b++)
        g[a * K1 + b] += c1z[a] * c1z[b];
    }
    sxx += x[i] * x[i];
  }
  const double s2 = 0.7, slab = 1.5;
  /* closed form: the likelihood term of b only when gamma = 1 */
  double q[K1 * K1], rhs[K1], cov[K1 * K1], mean[K1];
  for (int a = 0; a < K1; a++) {
    for (int b = 0; b < K1; b++)
      q[a * K1 + b] = (gamma || (a == 0 && b == 0)) ? g[a * K1 + b] / s2 : 0.0;
    q[a * K1 + a] += a == 0 ? 1.0 / OVQ_ICL_ALPHA_VAR : 1.0 / slab;
    rhs[a] = (gamma || a == 0) ? h[a] / s2 : 0.0;
  }
  invert(K1, q, cov);
  for (int a = 0; a < K1; a++) {
    mean[a] = 0.0;
    for (int b = 0; b < K1; b++)
      mean[a] += cov[a * K1 + b] * rhs[b];
  }
  double s1[K1] = {0}, s2m[K1 * K1] = {0}, c[K1], work[K1 * K1 + K1];
  for (int s = 0; s < NS; s++) {
    ovq_rng_init(&r, 5, OVQ_STREAM_TEST, (uint64_t)s);
    ovq_icl_draw_coef(&r, K1, g, h, s2, gamma, slab, c, work);
    for (int a = 0; a < K1; a++) {
      s1[a] += c[a];
      for (int b = 0; b < K1; b++)
        s2m[a * K1 + b] += c[a] * c[b];
    }
  }
  double worst_mean = 0.0, worst_cov = 0.0;
  for (int a = 0; a < K1; a++) {
    double m = s1[a] / NS;
    double z_m = fabs(m - mean[a]) / sqrt(cov[a * K1 + a] / NS);
    worst_mean = fmax(worst_mean, z_m);
    CHECK_MSG(z_m < 5.0, "gamma %d coef %d: mean %g vs %g", gamma, a, m, mean[a]);
    for (int b = 0; b < K1; b++) {
      double cv = s2m[a * K1 + b] / NS - m * (s1[b] / NS);
      double se =
          sqrt((cov[a * K1 + a] * cov[b * K1 + b] + cov[a * K1 + b] * cov[a * K1 + b]) / NS);
      double z_c = fabs(cv - cov[a * K1 + b]) / se;
      worst_cov = fmax(worst_cov, z_c);
      CHECK_MSG(z_c < 5.0, "gamma %d cov %d %d: %g vs %g", gamma, a, b, cv, cov[a * K1 + b]);
    }
  }
  /* the RSS expansion against the direct sum, at the last draw */
  double direct = 0.0;
  for (int i = 0; i < N; i++) {
    double e = x[i] - c[0] - c[1] * z[i][0] - c[2] * z[i][1];
    direct += e * e;
  }
  double rss = ovq_icl_rss(K1, g, h, sxx, c);
  CHECK_NEAR(rss, direct, 1e-9 * direct);
  int rank;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank == 0)
    printf("coef gamma=%d: largest |error| / se: mean %.2f, cov %.2f; rss rel. diff %.1e\n", gamma,
           worst_mean, worst_cov, fabs(rss - direct) / direct);
}

static void check_sigma2_gamma(void) {
  const double n = 80.0, rss = 55.0;
  const double a = OVQ_ICL_IG_SHAPE + n / 2, b = OVQ_ICL_IG_SCALE + rss / 2;
  const double mean = b / (a - 1), var = b * b / ((a - 1) * (a - 1) * (a - 2));
  double s1 = 0.0, s2 = 0.0;
  OvqRng r;
  for (int s = 0; s < NS; s++) {
    ovq_rng_init(&r, 9, OVQ_STREAM_TEST, (uint64_t)s);
    double v = ovq_icl_draw_sigma2(&r, n, rss);
    s1 += v;
    s2 += v * v;
  }
  double m = s1 / NS, vv = s2 / NS - m * m;
  double z_m = fabs(m - mean) / sqrt(var / NS);
  /* the variance's standard error from the inverse gamma's fourth moment is about
   * var sqrt(2 / NS) (1 + a few / a); 5% covers 5 of them at NS = 40000 */
  CHECK_MSG(z_m < 5.0, "sigma2 mean %g vs %g", m, mean);
  CHECK_MSG(fabs(vv / var - 1.0) < 0.05, "sigma2 variance %g vs %g", vv, var);

  /* gamma: P(1) = logistic((rss0 - rss1) / (2 sigma2) + log(p / (1 - p))) */
  const double prior = 0.1, rss1 = 100.0, rss0 = 103.0, sig = 1.2;
  const double p1 = 1.0 / (1.0 + exp(-((rss0 - rss1) / (2 * sig) + log(prior / (1 - prior)))));
  int64_t ones = 0;
  for (int s = 0; s < NS; s++) {
    ovq_rng_init(&r, 10, OVQ_STREAM_TEST, (uint64_t)s);
    ones += ovq_icl_draw_gamma(&r, prior, rss1, rss0, sig);
  }
  double freq = (double)ones / NS, z_g = fabs(freq - p1) / sqrt(p1 * (1 - p1) / NS);
  CHECK_MSG(z_g < 5.0, "gamma frequency %g vs %g", freq, p1);
  CHECK_NEAR(ovq_icl_gamma_prob(prior, rss1, rss0, sig), p1, 1e-14);

  /* z: a long Metropolis chain on exp(-z'Mz/2 + v.z) has mean M^-1 v and covariance M^-1 */
  const double mm[4] = {2.0, 0.6, 0.6, 1.5}, v[2] = {1.0, -0.5};
  double minv[4], target[2], z[2] = {0.0, 0.0}, work[2], zs1[2] = {0}, zs2[3] = {0};
  invert(2, mm, minv);
  target[0] = minv[0] * v[0] + minv[1] * v[1];
  target[1] = minv[2] * v[0] + minv[3] * v[1];
  const int steps = 400000, burn = 1000;
  int64_t acc = 0;
  for (int s = 0; s < steps + burn; s++) {
    ovq_rng_init(&r, 12, OVQ_STREAM_TEST, (uint64_t)s);
    int ok = ovq_icl_z_step(&r, 2, mm, v, 0.5, z, work);
    if (s < burn) continue;
    acc += ok;
    zs1[0] += z[0];
    zs1[1] += z[1];
    zs2[0] += z[0] * z[0];
    zs2[1] += z[1] * z[1];
    zs2[2] += z[0] * z[1];
  }
  double zm0 = zs1[0] / steps, zm1 = zs1[1] / steps;
  double c00 = zs2[0] / steps - zm0 * zm0, c11 = zs2[1] / steps - zm1 * zm1;
  double c01 = zs2[2] / steps - zm0 * zm1;
  /* autocorrelated draws: tolerances of ~5 effective standard errors (ESS ~ steps / 20) */
  CHECK_NEAR(zm0, target[0], 0.03);
  CHECK_NEAR(zm1, target[1], 0.03);
  CHECK_NEAR(c00, minv[0], 0.05 * minv[0]);
  CHECK_NEAR(c11, minv[3], 0.05 * minv[3]);
  CHECK_NEAR(c01, minv[1], 0.03);
  int rank;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank == 0) {
    printf("sigma2: mean %.5f (closed form %.5f), variance ratio %.4f; gamma: P(1) %.4f "
           "(closed form %.4f)\n",
           m, mean, vv / var, freq, p1);
    printf("z chain: mean (%.4f, %.4f) vs (%.4f, %.4f); cov (%.4f, %.4f, %.4f) vs (%.4f, %.4f, "
           "%.4f); acceptance %.3f\n",
           zm0, zm1, target[0], target[1], c00, c11, c01, minv[0], minv[3], minv[1],
           (double)acc / steps);
  }
}

/* Planted data: n samples in 3 clusters (sample i in cluster i % 3), views of p[t] features of
 * which the first inf[t] have cluster means `shift` * (a permutation of -1, 0, 1), the rest pure
 * N(0, 1) noise. Rows [start, start + count) only. */
static float *planted(uint64_t seed, int64_t start, int64_t count, int64_t p, int64_t inf,
                      int64_t fofs, double shift) {
  float *x = malloc(sizeof(float) * (size_t)(count * p) + 1);
  static const int perm[6][3] = {{-1, 0, 1}, {-1, 1, 0}, {0, -1, 1},
                                 {0, 1, -1}, {1, -1, 0}, {1, 0, -1}};
  for (int64_t i = 0; i < count; i++) {
    int64_t gi = start + i;
    OvqRng r;
    ovq_rng_init(&r, seed, OVQ_STREAM_TEST, (uint64_t)gi << 20 | (uint64_t)fofs);
    for (int64_t j = 0; j < p; j++) {
      double mu = j < inf ? shift * perm[(j + fofs) % 6][gi % 3] : 0.0;
      x[i * p + j] = (float)(mu + ovq_rng_normal(&r));
    }
  }
  return x;
}

static void check_planted(void) {
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  const int64_t n = 450, p[2] = {200, 50}, inf[2] = {20, 5};
  OvqRange blk = ovq_partition_block(n, size, rank);
  float *x[2];
  x[0] = planted(21, blk.start, blk.count, p[0], inf[0], 0, 2.0);
  x[1] = planted(21, blk.start, blk.count, p[1], inf[1], p[0], 2.0);
  int32_t *truth = malloc(sizeof(int32_t) * (size_t)blk.count + 1);
  for (int64_t i = 0; i < blk.count; i++)
    truth[i] = (int32_t)((blk.start + i) % 3);
  OvqIclusterParams prm;
  ovq_icluster_defaults(&prm);
  prm.k_clusters = 3;
  prm.n_burnin = 200;
  prm.n_draw = 200;
  prm.seed = 17;
  OvqIclusterResult res;
  double t0 = MPI_Wtime();
  OvqStatus st =
      ovq_icluster_fit(&prm, 2, (const float *const *)x, p, blk.count, MPI_COMM_WORLD, &res);
  double secs = MPI_Wtime() - t0;
  CHECK(st == OVQ_OK);
  if (st == OVQ_OK) {
    OvqAgreement ag;
    CHECK(ovq_metrics_agreement(truth, res.labels, blk.count, MPI_COMM_WORLD, &ag) == OVQ_OK);
    CHECK_MSG(ag.ari >= 0.9, "ARI %g", ag.ari);
    /* top 25 selection probabilities over both views (ties: lower feature index first) */
    const int64_t P = res.view_start[2];
    char *taken = calloc((size_t)P, 1);
    int hits = 0;
    for (int r = 0; r < 25; r++) {
      int64_t best = -1;
      for (int64_t f = 0; f < P; f++)
        if (!taken[f] && (best < 0 || res.gamma_prob[f] > res.gamma_prob[best])) best = f;
      taken[best] = 1;
      int64_t t = best >= res.view_start[1], j = best - res.view_start[t];
      hits += j < inf[t];
    }
    free(taken);
    CHECK_MSG(hits >= 20, "%d of the top 25 are planted", hits);
    double pp_inf = 0.0, pp_noise = 0.0;
    for (int t = 0; t < 2; t++)
      for (int64_t j = 0; j < p[t]; j++) {
        double v = res.gamma_prob[res.view_start[t] + j];
        if (j < inf[t])
          pp_inf += v / 25.0;
        else
          pp_noise += v / 225.0;
      }
    if (rank == 0)
      printf(
          "planted (n 450, p 200 + 50, burn-in 200, draws 200): ARI %.4f, NMI %.4f, %d of top 25 "
          "planted, mean P(gamma=1) informative %.3f noise %.3f, z acceptance %.3f, BIC %.1f, "
          "dev ratio %.4f, %.2f s\n",
          ag.ari, ag.nmi, hits, pp_inf, pp_noise, res.z_accept, res.bic, res.dev_ratio, secs);
  }
  ovq_icluster_result_free(&res);
  free(truth);
  free(x[0]);
  free(x[1]);
}

/* World against rank 0 alone; user errors. */
static void check_ranks(void) {
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  const int64_t n = 90, p[2] = {30, 10};
  OvqRange blk = ovq_partition_block(n, size, rank);
  float *x[2] = {planted(33, blk.start, blk.count, p[0], 6, 0, 2.5),
                 planted(33, blk.start, blk.count, p[1], 2, p[0], 2.5)};
  OvqIclusterParams prm;
  ovq_icluster_defaults(&prm);
  prm.k_clusters = 3;
  prm.n_burnin = 40;
  prm.n_draw = 60;
  prm.thin = 2;
  prm.seed = 5;
  OvqIclusterResult world;
  CHECK(ovq_icluster_fit(&prm, 2, (const float *const *)x, p, blk.count, MPI_COMM_WORLD, &world) ==
        OVQ_OK);
  const int K = world.k;
  /* gather the world's samples on rank 0 */
  int *cnt = malloc(sizeof(int) * (size_t)size), *dsp = malloc(sizeof(int) * (size_t)size);
  int *cntk = malloc(sizeof(int) * (size_t)size), *dspk = malloc(sizeof(int) * (size_t)size);
  for (int r = 0; r < size; r++) {
    OvqRange b = ovq_partition_block(n, size, r);
    cnt[r] = (int)b.count;
    dsp[r] = (int)b.start;
    cntk[r] = (int)b.count * K;
    dspk[r] = (int)b.start * K;
  }
  int32_t *labels = malloc(sizeof(int32_t) * (size_t)n);
  double *mz = malloc(sizeof(double) * (size_t)(n * K));
  MPI_Gatherv(world.labels, (int)blk.count, MPI_INT32_T, labels, cnt, dsp, MPI_INT32_T, 0,
              MPI_COMM_WORLD);
  MPI_Gatherv(world.mean_z, (int)blk.count * K, MPI_DOUBLE, mz, cntk, dspk, MPI_DOUBLE, 0,
              MPI_COMM_WORLD);
  if (rank == 0) {
    float *xa[2] = {planted(33, 0, n, p[0], 6, 0, 2.5), planted(33, 0, n, p[1], 2, p[0], 2.5)};
    OvqIclusterResult self;
    CHECK(ovq_icluster_fit(&prm, 2, (const float *const *)xa, p, n, MPI_COMM_SELF, &self) ==
          OVQ_OK);
    const int64_t P = p[0] + p[1];
    double dz = 0.0, dpar = 0.0;
    for (int64_t i = 0; i < n * K; i++)
      dz = fmax(dz, fabs(mz[i] - self.mean_z[i]));
    for (int64_t f = 0; f < P; f++) {
      dpar = fmax(dpar, fabs(world.gamma_prob[f] - self.gamma_prob[f]));
      dpar = fmax(dpar, fabs(world.alpha[f] - self.alpha[f]));
      dpar = fmax(dpar, fabs(world.sigma2[f] - self.sigma2[f]));
    }
    CHECK(memcmp(labels, self.labels, sizeof(int32_t) * (size_t)n) == 0);
    CHECK(memcmp(mz, self.mean_z, sizeof(double) * (size_t)(n * K)) == 0);
    CHECK(memcmp(world.beta, self.beta, sizeof(double) * (size_t)(P * K)) == 0);
    CHECK(memcmp(world.gamma_prob, self.gamma_prob, sizeof(double) * (size_t)P) == 0);
    CHECK(memcmp(world.sigma2, self.sigma2, sizeof(double) * (size_t)P) == 0);
    CHECK(world.bic == self.bic && world.z_accept == self.z_accept);
    printf("%d ranks vs 1: largest |diff| mean Z %.3g, feature parameters %.3g; labels %s; "
           "BIC %.6f vs %.6f\n",
           size, dz, dpar,
           memcmp(labels, self.labels, sizeof(int32_t) * (size_t)n) == 0 ? "identical" : "DIFFER",
           world.bic, self.bic);
    ovq_icluster_result_free(&self);
    free(xa[0]);
    free(xa[1]);
  }
  ovq_icluster_result_free(&world);

  /* user errors: on every rank */
  OvqIclusterResult bad;
  prm.k_clusters = 1;
  CHECK(ovq_icluster_fit(&prm, 2, (const float *const *)x, p, blk.count, MPI_COMM_WORLD, &bad) ==
        OVQ_ERR);
  CHECK(bad.mean_z == NULL);
  prm.k_clusters = 3;
  if (rank == size - 1 && blk.count > 0) x[1][0] = NAN;
  CHECK(ovq_icluster_fit(&prm, 2, (const float *const *)x, p, blk.count, MPI_COMM_WORLD, &bad) ==
        OVQ_ERR);
  CHECK(strstr(ovq_error_message(), "non-finite") != NULL || rank != 0);
  free(cnt);
  free(dsp);
  free(cntk);
  free(dspk);
  free(labels);
  free(mz);
  free(x[0]);
  free(x[1]);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  ovq_log_init(MPI_COMM_WORLD);
  check_coef(1);
  check_coef(0);
  check_sigma2_gamma();
  check_ranks();
  check_planted();
  int rc = test_finish("test_icluster");
  MPI_Finalize();
  return rc;
}
