/* Gaussian mixture at the rank count it is run with (registered at 1, 2 and 4 ranks):
 * 1. Given the same initial weights, means and precisions, EM matches scikit-learn's
 *    GaussianMixture (fixtures from tools/gen_gmm_fixtures.py) for full, diagonal and spherical
 *    covariances: identical labels, n_iter and converged flag; weights, means and covariances to
 *    1e-6 (relative to max(1, |value|)); lower bound and BIC to 1e-6 relative.
 * 2. k-means-initialised runs (n_init 2) on blobs of 9,000 samples (three 4096-row blocks, so
 *    blocks straddle ranks and, at 4 ranks, one rank processes no block) give on the world
 *    communicator the same labels and bit-identical parameters as rank 0 alone with all the data.
 * 3. User errors (bad k, reg_covar, missing or invalid given parameters, NaN data, a collapsed
 *    component with reg_covar = 0) are reported on every rank.
 * Usage: test_gmm <fixtures dir> */
#include <mpi.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ovq/error.h"
#include "ovq/gmm.h"
#include "ovq/metrics.h"
#include "ovq/partition.h"
#include "ovq/rng.h"

enum { MAX_CASES = 48 };

typedef struct Case {
  char name[64];
  OvqGmmCovariance cov;
  int k, max_iter, n_iter, converged;
  double reg, tol, lower_bound, bic;
  int64_t n, d;
  const float *x;
  double *w0, *m0, *p0; /* given */
  int32_t *labels;
  double *weights, *means, *covs;
} Case;

static int g_rank, g_size;
static double g_worst_par = 0.0, g_worst_ll = 0.0;

static int word(FILE *f, const char *w) {
  char tok[64];
  return fscanf(f, "%63s", tok) == 1 && strcmp(tok, w) == 0;
}

static int read_doubles(FILE *f, const char *w, double *v, int64_t n) {
  if (!word(f, w)) return 0;
  for (int64_t i = 0; i < n; i++)
    if (fscanf(f, "%lf", &v[i]) != 1) return 0;
  return 1;
}

static int64_t n_cov(OvqGmmCovariance c, int k, int64_t d) {
  return c == OVQ_GMM_FULL ? k * d * d : c == OVQ_GMM_DIAG ? k * d : k;
}

/* Appends the fixture's cases to cases[*nc]; data blocks go to datas[]. Returns 0 on error. */
static int read_fixture(const char *path, Case *cases, int *nc, float **datas, int *n_datas) {
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  int64_t n = 0, d = 0;
  float *x = NULL;
  char tok[64];
  int c;
  while (fscanf(f, "%63s", tok) == 1) {
    if (tok[0] == '#') {
      while ((c = fgetc(f)) != EOF && c != '\n')
        continue;
    } else if (strcmp(tok, "data") == 0) {
      long long nn, dd;
      if (fscanf(f, "%lld %lld", &nn, &dd) != 2 || nn < 1 || dd < 1 || *n_datas == MAX_CASES) break;
      n = nn;
      d = dd;
      x = malloc(sizeof(float) * (size_t)(n * d));
      datas[(*n_datas)++] = x;
      int64_t i = 0;
      while (i < n * d && fscanf(f, "%f", &x[i]) == 1)
        i++;
      if (i < n * d) break;
    } else if (strcmp(tok, "case") == 0 && x && *nc < MAX_CASES) {
      Case *k = &cases[*nc];
      char cov[16];
      k->n = n;
      k->d = d;
      k->x = x;
      if (fscanf(f, "%63s cov %15s k %d reg_covar %lf tol %lf max_iter %d", k->name, cov, &k->k,
                 &k->reg, &k->tol, &k->max_iter) != 6 || k->k < 1)
        break;
      k->cov = strcmp(cov, "full") == 0   ? OVQ_GMM_FULL
               : strcmp(cov, "diag") == 0 ? OVQ_GMM_DIAG
                                          : OVQ_GMM_SPHERICAL;
      int64_t nc_ = n_cov(k->cov, k->k, d);
      k->w0 = malloc(sizeof(double) * (size_t)k->k);
      k->m0 = malloc(sizeof(double) * (size_t)(k->k * d));
      k->p0 = malloc(sizeof(double) * (size_t)nc_);
      k->labels = malloc(sizeof(int32_t) * (size_t)n);
      k->weights = malloc(sizeof(double) * (size_t)k->k);
      k->means = malloc(sizeof(double) * (size_t)(k->k * d));
      k->covs = malloc(sizeof(double) * (size_t)nc_);
      int ok = read_doubles(f, "weights_init", k->w0, k->k) &&
               read_doubles(f, "means_init", k->m0, k->k * d) &&
               read_doubles(f, "precisions_init", k->p0, nc_) && word(f, "labels");
      for (int64_t i = 0; ok && i < n; i++)
        ok = fscanf(f, "%d", &k->labels[i]) == 1;
      ok = ok && read_doubles(f, "weights", k->weights, k->k) &&
           read_doubles(f, "means", k->means, k->k * d) &&
           read_doubles(f, "covariances", k->covs, nc_) &&
           read_doubles(f, "lower_bound", &k->lower_bound, 1) &&
           read_doubles(f, "bic", &k->bic, 1) && word(f, "n_iter") &&
           fscanf(f, "%d", &k->n_iter) == 1 && word(f, "converged") &&
           fscanf(f, "%d", &k->converged) == 1 && word(f, "end");
      if (!ok) break;
      (*nc)++;
    } else {
      break;
    }
  }
  int ok = feof(f);
  fclose(f);
  return ok;
}

/* max |a - b| / max(1, |b|) */
static double maxdiff(const double *a, const double *b, int64_t n) {
  double m = 0.0;
  for (int64_t i = 0; i < n; i++)
    m = fmax(m, fabs(a[i] - b[i]) / fmax(1.0, fabs(b[i])));
  return m;
}

static const char *cov_name(OvqGmmCovariance c) {
  return c == OVQ_GMM_FULL ? "full" : c == OVQ_GMM_DIAG ? "diag" : "spherical";
}

/* 1. Given parameters: scikit-learn's numbers. */
static void check_reference(const Case *c) {
  OvqRange b = ovq_partition_block(c->n, g_size, g_rank);
  OvqGmmParams p;
  ovq_gmm_defaults(&p);
  p.k = c->k;
  p.covariance = c->cov;
  p.reg_covar = c->reg;
  p.tol = c->tol;
  p.max_iter = c->max_iter;
  p.init = OVQ_GMM_INIT_GIVEN;
  p.init_weights = c->w0;
  p.init_means = c->m0;
  p.init_precisions = c->p0;
  OvqGmmResult r;
  OvqStatus st = ovq_gmm_fit(&p, c->x + b.start * c->d, b.count, c->d, MPI_COMM_WORLD, &r);
  CHECK_MSG(st == OVQ_OK, "%s/%s: %s", cov_name(c->cov), c->name, ovq_error_message());
  if (st != OVQ_OK) return;
  int wrong = 0;
  for (int64_t i = 0; i < b.count; i++)
    wrong += r.labels[i] != c->labels[b.start + i];
  MPI_Allreduce(MPI_IN_PLACE, &wrong, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  CHECK_MSG(wrong == 0, "%s/%s: %d labels differ from scikit-learn", cov_name(c->cov), c->name,
            wrong);
  CHECK_MSG(r.n_iter == c->n_iter && r.converged == c->converged,
            "%s/%s: n_iter %d converged %d vs scikit-learn %d %d", cov_name(c->cov), c->name,
            r.n_iter, r.converged, c->n_iter, c->converged);
  double dw = maxdiff(r.weights, c->weights, c->k);
  double dm = maxdiff(r.means, c->means, c->k * c->d);
  double dc = maxdiff(r.covariances, c->covs, n_cov(c->cov, c->k, c->d));
  double dl = fabs(r.log_likelihood - c->lower_bound) / fabs(c->lower_bound);
  double db = fabs(r.bic - c->bic) / fabs(c->bic);
  CHECK_MSG(dw <= 1e-6 && dm <= 1e-6 && dc <= 1e-6,
            "%s/%s: weights %.3g, means %.3g, covariances %.3g", cov_name(c->cov), c->name, dw,
            dm, dc);
  CHECK_MSG(dl <= 1e-6 && db <= 1e-6, "%s/%s: lower bound %.17g vs %.17g, BIC %.17g vs %.17g",
            cov_name(c->cov), c->name, r.log_likelihood, c->lower_bound, r.bic, c->bic);
  if (g_rank == 0)
    printf("  %-9s %-7s k=%d n_iter=%2d: %d labels differ; weights %.1e means %.1e cov %.1e "
           "lower bound %.1e BIC %.1e\n",
           cov_name(c->cov), c->name, c->k, r.n_iter, wrong, dw, dm, dc, dl, db);
  g_worst_par = fmax(g_worst_par, fmax(dw, fmax(dm, dc)));
  g_worst_ll = fmax(g_worst_ll, fmax(dl, db));
  ovq_gmm_result_free(&r);
}

/* Blobs with per-blob scales: every draw named by the global row (or blob and feature). */
static void make_blobs(int64_t d, int k, double sep, int64_t start, int64_t count, float *x,
                       int32_t *truth) {
  for (int64_t i = 0; i < count; i++) {
    int64_t g = start + i;
    int blob = (int)(g % k);
    OvqRng r;
    ovq_rng_init(&r, 31337, OVQ_STREAM_TEST, (uint64_t)g);
    for (int64_t f = 0; f < d; f++) {
      OvqRng cr;
      ovq_rng_init(&cr, 99, OVQ_STREAM_TEST, (uint64_t)(blob * d + f));
      double centre = sep * ovq_rng_normal(&cr), sd = 0.5 + ovq_rng_uniform(&cr);
      x[i * d + f] = (float)(centre + sd * ovq_rng_normal(&r));
    }
    if (truth) truth[i] = blob;
  }
}

/* 2. Seeded k-means initialisation: the world result equals rank 0's alone. */
static void check_ranks(OvqGmmCovariance cov, int64_t n, int64_t d, int k, double sep) {
  OvqRange b = ovq_partition_block(n, g_size, g_rank);
  float *x = malloc(sizeof(float) * (size_t)(b.count * d + 1));
  int32_t *truth = malloc(sizeof(int32_t) * (size_t)(b.count + 1));
  make_blobs(d, k, sep, b.start, b.count, x, truth);
  OvqGmmParams p;
  ovq_gmm_defaults(&p);
  p.k = k;
  p.covariance = cov;
  p.n_init = 2;
  p.tol = 1e-6;
  p.seed = 7;
  OvqGmmResult r;
  OvqStatus st = ovq_gmm_fit(&p, x, b.count, d, MPI_COMM_WORLD, &r);
  CHECK_MSG(st == OVQ_OK, "%s: %s", cov_name(cov), ovq_error_message());
  if (st != OVQ_OK) {
    free(x);
    free(truth);
    return;
  }
  OvqAgreement agr;
  CHECK(ovq_metrics_agreement(truth, r.labels, b.count, MPI_COMM_WORLD, &agr) == OVQ_OK);
  int *counts = malloc(sizeof(int) * (size_t)g_size), *displs = malloc(sizeof(int) * (size_t)g_size);
  for (int q = 0; q < g_size; q++) {
    OvqRange bq = ovq_partition_block(n, g_size, q);
    counts[q] = (int)bq.count;
    displs[q] = (int)bq.start;
  }
  int32_t *all = g_rank == 0 ? malloc(sizeof(int32_t) * (size_t)n) : NULL;
  MPI_Gatherv(r.labels, (int)b.count, MPI_INT32_T, all, counts, displs, MPI_INT32_T, 0,
              MPI_COMM_WORLD);
  if (g_rank == 0) {
    float *xa = malloc(sizeof(float) * (size_t)(n * d));
    make_blobs(d, k, sep, 0, n, xa, NULL);
    OvqGmmResult s;
    CHECK(ovq_gmm_fit(&p, xa, n, d, MPI_COMM_SELF, &s) == OVQ_OK);
    int wrong = 0;
    for (int64_t i = 0; i < n; i++)
      wrong += all[i] != s.labels[i];
    double dp = 0.0;
    for (int j = 0; j < k; j++)
      dp = fmax(dp, fabs(r.weights[j] - s.weights[j]));
    for (int64_t i = 0; i < k * d; i++)
      dp = fmax(dp, fabs(r.means[i] - s.means[i]));
    for (int64_t i = 0; i < n_cov(cov, k, d); i++)
      dp = fmax(dp, fabs(r.covariances[i] - s.covariances[i]));
    CHECK_MSG(wrong == 0, "%s: %d labels differ between %d ranks and 1", cov_name(cov), wrong,
              g_size);
    CHECK_MSG(dp == 0.0 && r.log_likelihood == s.log_likelihood && r.bic == s.bic &&
                  r.n_iter == s.n_iter && r.best_restart == s.best_restart,
              "%s: parameters differ by %.3g, lower bound %.17g vs %.17g, BIC %.17g vs %.17g, "
              "n_iter %d vs %d, restart %d vs %d",
              cov_name(cov), dp, r.log_likelihood, s.log_likelihood, r.bic, s.bic, r.n_iter,
              s.n_iter, r.best_restart, s.best_restart);
    printf("  %-9s N=%lld d=%lld k=%d: ARI vs truth %.6f, restart %d kept, %d iterations, "
           "lower bound %.10g, BIC %.10g; %d ranks vs 1: %d labels differ, parameters %.2g\n",
           cov_name(cov), (long long)n, (long long)d, k, agr.ari, r.best_restart, r.n_iter,
           r.log_likelihood, r.bic, g_size, wrong, dp);
    ovq_gmm_result_free(&s);
    free(xa);
  }
  free(all);
  free(counts);
  free(displs);
  ovq_gmm_result_free(&r);
  free(x);
  free(truth);
}

static void expect_error(const char *what, const OvqGmmParams *p, const float *x, int64_t n,
                         int64_t d, const char *needle) {
  OvqGmmResult r;
  ovq_error_clear();
  OvqStatus st = ovq_gmm_fit(p, x, n, d, MPI_COMM_WORLD, &r);
  CHECK_MSG(st == OVQ_ERR, "%s: accepted", what);
  CHECK_MSG(r.labels == NULL, "%s: result not zeroed", what);
  if (g_rank == 0)
    CHECK_MSG(strstr(ovq_error_message(), needle) != NULL, "%s: message '%s' lacks '%s'", what,
              ovq_error_message(), needle);
}

/* 3. User errors, reported on every rank. */
static void check_errors(void) {
  const int64_t n = 40, d = 2;
  OvqRange b = ovq_partition_block(n, g_size, g_rank);
  float *x = malloc(sizeof(float) * (size_t)(b.count * d + 1));
  make_blobs(d, 2, 5.0, b.start, b.count, x, NULL);
  OvqGmmParams p;
  ovq_gmm_defaults(&p);
  p.k = 41;
  expect_error("k > N", &p, x, b.count, d, "k = 41");
  p.k = 2;
  p.reg_covar = -1.0;
  expect_error("reg_covar < 0", &p, x, b.count, d, "reg_covar");
  p.reg_covar = 1e-6;
  p.init = OVQ_GMM_INIT_GIVEN;
  expect_error("given without arrays", &p, x, b.count, d, "init_weights");
  double w[2] = {0.7, 0.7}, m[4] = {0, 0, 1, 1}, pr[8] = {1, 0, 0, 1, 1, 2, 2, 1};
  p.init_weights = w;
  p.init_means = m;
  p.init_precisions = pr;
  expect_error("weights not summing to 1", &p, x, b.count, d, "sum");
  w[0] = 0.3;
  expect_error("precision not positive definite", &p, x, b.count, d, "positive definite");
  /* three distinct points, four components, no regularisation: a collapsed component */
  p.init = OVQ_GMM_INIT_KMEANS;
  p.k = 4;
  p.reg_covar = 0.0;
  const float pts[3][2] = {{5, 5}, {-4, 6}, {3, -7}};
  float *y = malloc(sizeof(float) * (size_t)(b.count * d + 1));
  for (int64_t i = 0; i < b.count; i++)
    memcpy(y + i * d, pts[(b.start + i) % 3], sizeof pts[0]);
  expect_error("collapsed component", &p, y, b.count, d, "ill-defined");
  free(y);
  p.k = 2;
  if (g_rank == g_size - 1 && b.count > 0) x[0] = NAN;
  expect_error("NaN in data", &p, x, b.count, d, "NaN");
  free(x);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  ovq_log_init(MPI_COMM_WORLD);
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_size);
  static Case cases[MAX_CASES];
  float *datas[MAX_CASES];
  int nc = 0, n_datas = 0;
  const char *types[3] = {"full", "diag", "spherical"};
  for (int t = 0; t < 3; t++) {
    char path[4096];
    snprintf(path, sizeof path, "%s/gmm_%s.txt", argc > 1 ? argv[1] : ".", types[t]);
    int before = nc;
    int ok = read_fixture(path, cases, &nc, datas, &n_datas);
    CHECK_MSG(ok && nc > before, "cannot read %s (usage: test_gmm <fixtures dir>)", path);
  }

  if (g_rank == 0) printf("given parameters vs scikit-learn at %d ranks:\n", g_size);
  for (int i = 0; i < nc; i++)
    check_reference(&cases[i]);

  if (g_rank == 0) printf("k-means initialisation, %d ranks vs 1:\n", g_size);
  check_ranks(OVQ_GMM_FULL, 9000, 4, 4, 1.5);
  check_ranks(OVQ_GMM_DIAG, 9000, 4, 4, 1.5);
  check_ranks(OVQ_GMM_SPHERICAL, 9000, 4, 4, 1.5);

  if (g_rank == 0) printf("user errors:\n");
  check_errors();

  if (g_rank == 0)
    printf("test_gmm: largest differences vs scikit-learn: parameters %.2e, lower bound / BIC "
           "%.2e (relative)\n",
           g_worst_par, g_worst_ll);
  for (int i = 0; i < nc; i++) {
    free(cases[i].w0);
    free(cases[i].m0);
    free(cases[i].p0);
    free(cases[i].labels);
    free(cases[i].weights);
    free(cases[i].means);
    free(cases[i].covs);
  }
  for (int i = 0; i < n_datas; i++)
    free(datas[i]);
  int rc = test_finish("test_gmm");
  MPI_Finalize();
  return rc;
}
