/* t-SNE and trustworthiness against scikit-learn 1.2 (fixture from tools/gen_tsne_fixture.py:
 * 300 points, 10 dims, 4 blobs + noise):
 *  - ovq_trustworthiness of sklearn's embedding equals sklearn's value to 1e-12;
 *  - our exact t-SNE (perplexity 30, init pca, learning rate auto) reaches sklearn's exact
 *    t-SNE trustworthiness minus 0.02 at most;
 *  - the embedding distributed over all ranks equals the one-rank embedding (computed on rank 0
 *    with MPI_COMM_SELF) to 1e-10 (it is expected bit for bit: fixed-point sums), with init pca
 *    and with init random (counter RNG stream 31);
 *  - the gradient of the objective matches central differences of the KL divergence (double);
 *  - Barnes-Hut (forced with exact_max_n 0) reaches sklearn's Barnes-Hut trustworthiness minus
 *    0.02 and is the same at any rank count;
 *  - bad options are errors on every rank.
 * Usage: test_tsne FIXTURE_DIR */
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "ovq/partition.h"
#include "ovq/rng.h"
#include "ovq/tsne.h"

static int g_rank, g_size;

/* Max |a - b| over rows of all ranks vs the one-rank reference ref (on every rank). */
static double max_diff(const double *mine, const double *ref, int64_t count) {
  double m = 0;
  for (int64_t i = 0; i < count; i++)
    m = fmax(m, fabs(mine[i] - ref[i]));
  OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &m, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD));
  return m;
}

/* Fits on all ranks (block rows) and on rank 0 alone; returns the largest difference, the
 * trustworthiness of the distributed embedding in *trust. */
static double fit_both(const OvqTsneParams *p, const float *x, int64_t n, int64_t d, int64_t k,
                       double *trust) {
  OvqRange b = ovq_partition_block(n, g_size, g_rank);
  double *mine = malloc(sizeof(double) * (size_t)(2 * b.count + 1));
  double *ref = malloc(sizeof(double) * (size_t)(2 * n));
  CHECK(ovq_tsne_fit(p, x + b.start * d, b.count, d, MPI_COMM_WORLD, mine) == OVQ_OK);
  if (g_rank == 0) CHECK(ovq_tsne_fit(p, x, n, d, MPI_COMM_SELF, ref) == OVQ_OK);
  OVQ_MPI_CHECK(MPI_Bcast(ref, (int)(2 * n), MPI_DOUBLE, 0, MPI_COMM_WORLD));
  double diff = max_diff(mine, ref + 2 * b.start, 2 * b.count);
  CHECK(ovq_trustworthiness(x + b.start * d, d, mine, 2, b.count, k, MPI_COMM_WORLD, trust) ==
        OVQ_OK);
  free(mine);
  free(ref);
  return diff;
}

/* ovq_tsne_kl_gradient vs central differences on a random P (12 points): returns the largest
 * difference relative to the largest gradient entry. */
static double gradient_check(void) {
  enum { N = 12 };
  double p[N * N], y[2 * N], g[2 * N], gp[2 * N], s = 0;
  OvqRng r;
  ovq_rng_init(&r, 5, OVQ_STREAM_TEST, 0);
  for (int i = 0; i < N; i++) {
    p[i * N + i] = 0;
    for (int j = 0; j < i; j++) {
      p[i * N + j] = p[j * N + i] = ovq_rng_uniform(&r);
      s += 2 * p[i * N + j];
    }
  }
  for (int i = 0; i < N * N; i++)
    p[i] /= s;
  for (int i = 0; i < 2 * N; i++)
    y[i] = ovq_rng_normal(&r);
  ovq_tsne_kl_gradient(p, y, N, g);
  double gmax = 0, dmax = 0, h = 1e-6;
  for (int i = 0; i < 2 * N; i++) {
    double keep = y[i];
    y[i] = keep + h;
    double kp = ovq_tsne_kl_gradient(p, y, N, gp);
    y[i] = keep - h;
    double km = ovq_tsne_kl_gradient(p, y, N, gp);
    y[i] = keep;
    gmax = fmax(gmax, fabs(g[i]));
    dmax = fmax(dmax, fabs(g[i] - (kp - km) / (2 * h)));
  }
  return dmax / gmax;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  ovq_log_init(MPI_COMM_WORLD);
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_size);
  const char *dir = argc > 1 ? argv[1] : ".";
  char path[4096];
  snprintf(path, sizeof path, "%s/tsne_blobs.txt", dir);
  FILE *f = fopen(path, "r");
  if (!f) OVQ_ABORT("cannot open %s", path);
  int64_t n, d, k;
  double perplexity, sk_trust, sk_trust_bh;
  if (fscanf(f, "%ld %ld %ld %lf", &n, &d, &k, &perplexity) != 4) OVQ_ABORT("bad fixture");
  float *x = malloc(sizeof(float) * (size_t)(n * d));
  double *ysk = malloc(sizeof(double) * (size_t)(2 * n));
  for (int64_t i = 0; i < n * d; i++)
    if (fscanf(f, "%f", &x[i]) != 1) OVQ_ABORT("bad fixture");
  for (int64_t i = 0; i < 2 * n; i++)
    if (fscanf(f, "%lf", &ysk[i]) != 1) OVQ_ABORT("bad fixture");
  if (fscanf(f, "%lf %lf", &sk_trust, &sk_trust_bh) != 2) OVQ_ABORT("bad fixture");
  fclose(f);
  OvqRange b = ovq_partition_block(n, g_size, g_rank);

  double grad_rel = gradient_check();
  CHECK_NEAR(grad_rel, 0, 1e-6);

  /* Trustworthiness of sklearn's own embedding. */
  double t_of_sk = -1;
  CHECK(ovq_trustworthiness(x + b.start * d, d, ysk + 2 * b.start, 2, b.count, k, MPI_COMM_WORLD,
                            &t_of_sk) == OVQ_OK);
  CHECK_NEAR(t_of_sk, sk_trust, 1e-12);

  /* Our t-SNE, scikit-learn's settings. */
  OvqTsneParams p = ovq_tsne_default_params();
  p.perplexity = perplexity;
  double trust = -1, diff = fit_both(&p, x, n, d, k, &trust);
  CHECK_MSG(trust >= sk_trust - 0.02, "trustworthiness %.6f < sklearn %.6f - 0.02", trust,
            sk_trust);
  CHECK_NEAR(diff, 0, 1e-10);

  /* Random init, fewer iterations: the same at any rank count. */
  OvqTsneParams pr = p;
  pr.init = OVQ_TSNE_INIT_RANDOM;
  pr.seed = 7;
  pr.n_iter = 400;
  double trust_r = -1, diff_r = fit_both(&pr, x, n, d, k, &trust_r);
  CHECK_NEAR(diff_r, 0, 1e-10);
  CHECK_MSG(trust_r >= sk_trust - 0.05, "random init trustworthiness %.6f", trust_r);

  /* Barnes-Hut forced (exact_max_n 0): scikit-learn's Barnes-Hut as the bar, same at any rank
   * count. */
  OvqTsneParams pb = p;
  pb.exact_max_n = 0;
  double trust_bh = -1, diff_bh = fit_both(&pb, x, n, d, k, &trust_bh);
  CHECK_MSG(trust_bh >= sk_trust_bh - 0.02, "Barnes-Hut trustworthiness %.6f < sklearn %.6f - 0.02",
            trust_bh, sk_trust_bh);
  CHECK_NEAR(diff_bh, 0, 1e-10);
  if (g_rank == 0)
    printf("tsne_blobs Barnes-Hut (theta 0.5): trustworthiness %.6f vs sklearn barnes_hut %.6f "
           "(margin %+.4f), max |y - y_1rank| %.3g\n",
           trust_bh, sk_trust_bh, trust_bh - sk_trust_bh, diff_bh);

  if (g_rank == 0)
    printf("tsne_blobs (N %ld, d %ld, %d ranks): trustworthiness(k=%ld) of sklearn's embedding "
           "%.15f vs sklearn %.15f (diff %.3g); ours (init pca) %.6f vs sklearn exact %.6f "
           "(margin %+.4f), max |y - y_1rank| %.3g; init random (400 it) %.6f, max |y - y_1rank| "
           "%.3g; KL gradient vs central differences: max rel. diff %.3g\n",
           n, d, g_size, k, t_of_sk, sk_trust, fabs(t_of_sk - sk_trust), trust, sk_trust,
           trust - sk_trust, diff, trust_r, diff_r, grad_rel);

  /* Errors on every rank: perplexity >= N, N above the exact limit, too many neighbours. */
  double *y = malloc(sizeof(double) * (size_t)(2 * b.count + 1));
  OvqTsneParams bad = p;
  bad.perplexity = (double)n;
  CHECK(ovq_tsne_fit(&bad, x + b.start * d, b.count, d, MPI_COMM_WORLD, y) == OVQ_ERR);
  bad = p;
  bad.theta = -1;
  CHECK(ovq_tsne_fit(&bad, x + b.start * d, b.count, d, MPI_COMM_WORLD, y) == OVQ_ERR);
  bad = p;
  bad.n_iter = 100;
  CHECK(ovq_tsne_fit(&bad, x + b.start * d, b.count, d, MPI_COMM_WORLD, y) == OVQ_ERR);
  double t;
  CHECK(ovq_trustworthiness(x + b.start * d, d, ysk + 2 * b.start, 2, b.count, n / 2,
                            MPI_COMM_WORLD, &t) == OVQ_ERR);
  free(y);
  free(x);
  free(ysk);
  int rc = test_finish("test_tsne");
  MPI_Finalize();
  return rc;
}
