/* k-means at the rank count it is run with (registered at 1, 2 and 4 ranks):
 * 1. Given the same initial centres, Lloyd matches scikit-learn (fixture from
 *    tools/gen_kmeans_metrics_fixtures.py): identical labels and n_iter, inertia and centres to
 *    1e-6 relative; the cases include convergence by tolerance, by unchanged labels, by
 *    max_iter, a cluster that starts empty and data far from the origin.
 * 2. k-means++ and k-means|| recover well-separated blobs (ARI 1) and, like every seeded run,
 *    give the same labels and bit-identical centres on the world communicator as rank 0 alone
 *    with all the data, on overlapping blobs too, where the answer depends on every draw.
 * 3. Edge cases: fewer distinct points than clusters, k = N with ranks holding no rows,
 *    features of very different magnitude, and user errors (bad k, d, tolerance, missing or
 *    non-finite centres, NaN data) reported on every rank.
 * Usage: test_kmeans kmeans_lloyd.txt */
#include <mpi.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ovq/error.h"
#include "ovq/kmeans.h"
#include "ovq/metrics.h"
#include "ovq/partition.h"
#include "ovq/rng.h"

enum { MAX_CASES = 16 };

typedef struct Case {
  char name[64];
  int k, max_iter, n_iter;
  double tol, inertia;
  int64_t n, d;
  const float *x; /* [n][d], the data block above the case in the file */
  float *init;    /* [k][d] */
  int32_t *labels;
  double *centres;
} Case;

static int word(FILE *f, const char *w) {
  char tok[64];
  return fscanf(f, "%63s", tok) == 1 && strcmp(tok, w) == 0;
}

/* Reads the fixture; returns the number of cases or -1. Data blocks are kept in datas[]. */
static int read_fixture(const char *path, Case *cases, float **datas, int *n_datas) {
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  int nc = 0, c;
  int64_t n = 0, d = 0;
  float *x = NULL;
  char tok[64];
  *n_datas = 0;
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
    } else if (strcmp(tok, "case") == 0 && x && nc < MAX_CASES) {
      Case *k = &cases[nc];
      k->n = n;
      k->d = d;
      k->x = x;
      if (fscanf(f, "%63s k %d max_iter %d tol %lf", k->name, &k->k, &k->max_iter, &k->tol) != 4 ||
          k->k < 1)
        break;
      k->init = malloc(sizeof(float) * (size_t)(k->k * d));
      k->labels = malloc(sizeof(int32_t) * (size_t)n);
      k->centres = malloc(sizeof(double) * (size_t)(k->k * d));
      int ok = word(f, "init");
      for (int64_t i = 0; ok && i < k->k * d; i++)
        ok = fscanf(f, "%f", &k->init[i]) == 1;
      ok = ok && word(f, "labels");
      for (int64_t i = 0; ok && i < n; i++)
        ok = fscanf(f, "%d", &k->labels[i]) == 1;
      ok = ok && word(f, "inertia") && fscanf(f, "%lf", &k->inertia) == 1;
      ok = ok && word(f, "n_iter") && fscanf(f, "%d", &k->n_iter) == 1;
      ok = ok && word(f, "centres");
      for (int64_t i = 0; ok && i < k->k * d; i++)
        ok = fscanf(f, "%lf", &k->centres[i]) == 1;
      if (!(ok && word(f, "end"))) break;
      nc++;
    } else {
      break;
    }
  }
  int ok = feof(f);
  fclose(f);
  return ok ? nc : -1;
}

static int g_rank, g_size;
static double g_worst_inertia = 0.0, g_worst_centre = 0.0, g_worst_self = 0.0;

/* Labels of all n samples on rank 0 (NULL elsewhere), gathered from each rank's block. */
static int32_t *gather_labels(const int32_t *mine, int64_t n) {
  int *counts = malloc(sizeof(int) * (size_t)g_size),
      *displs = malloc(sizeof(int) * (size_t)g_size);
  for (int r = 0; r < g_size; r++) {
    OvqRange q = ovq_partition_block(n, g_size, r);
    counts[r] = (int)q.count;
    displs[r] = (int)q.start;
  }
  int32_t *all = g_rank == 0 ? malloc(sizeof(int32_t) * (size_t)n) : NULL;
  MPI_Gatherv(mine, counts[g_rank], MPI_INT32_T, all, counts, displs, MPI_INT32_T, 0,
              MPI_COMM_WORLD);
  free(counts);
  free(displs);
  return all;
}

/* 1. Given initial centres: scikit-learn's numbers. */
static void check_reference(const Case *c) {
  OvqRange b = ovq_partition_block(c->n, g_size, g_rank);
  OvqKmeansParams p;
  ovq_kmeans_defaults(&p);
  p.k = c->k;
  p.max_iter = c->max_iter;
  p.tol = c->tol;
  p.init = OVQ_KMEANS_INIT_GIVEN;
  p.init_centres = c->init;
  OvqKmeansResult r;
  OvqStatus st = ovq_kmeans_fit(&p, c->x + b.start * c->d, b.count, c->d, MPI_COMM_WORLD, &r);
  CHECK_MSG(st == OVQ_OK, "%s: %s", c->name, ovq_error_message());
  if (st != OVQ_OK) return;
  int wrong = 0;
  for (int64_t i = 0; i < b.count; i++)
    wrong += r.labels[i] != c->labels[b.start + i];
  MPI_Allreduce(MPI_IN_PLACE, &wrong, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  CHECK_MSG(wrong == 0, "%s: %d labels differ from scikit-learn", c->name, wrong);
  CHECK_MSG(r.n_iter == c->n_iter, "%s: n_iter %d vs scikit-learn %d", c->name, r.n_iter,
            c->n_iter);
  double di = fabs(r.inertia - c->inertia) / c->inertia;
  CHECK_MSG(di <= 1e-6, "%s: inertia %.17g vs %.17g", c->name, r.inertia, c->inertia);
  double scale = 0.0, dc = 0.0;
  for (int64_t i = 0; i < c->k * c->d; i++)
    scale = fmax(scale, fabs(c->centres[i]));
  for (int64_t i = 0; i < c->k * c->d; i++)
    dc = fmax(dc, fabs(r.centres[i] - c->centres[i]) / scale);
  CHECK_MSG(dc <= 1e-6, "%s: centres differ by %.3g relative", c->name, dc);
  /* Every cluster keeps samples (the "empty" case starts with one far from all of them). */
  int64_t *sizes = calloc((size_t)c->k, sizeof(int64_t));
  for (int64_t i = 0; i < b.count; i++)
    sizes[r.labels[i]]++;
  MPI_Allreduce(MPI_IN_PLACE, sizes, c->k, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
  for (int j = 0; j < c->k; j++)
    CHECK_MSG(sizes[j] > 0, "%s: cluster %d is empty", c->name, j);
  free(sizes);
  if (g_rank == 0)
    printf("  %-9s k=%d n_iter=%d: %d labels differ, inertia rel. diff %.2e, centres rel. diff "
           "%.2e\n",
           c->name, c->k, r.n_iter, wrong, di, dc);
  g_worst_inertia = fmax(g_worst_inertia, di);
  g_worst_centre = fmax(g_worst_centre, dc);
  ovq_kmeans_result_free(&r);
}

/* Blobs: centre coordinates sep * N(0, 1), noise sd * N(0, 1), global sample g in blob g % k;
 * every draw is named by the global row (or blob and feature), so any rank count sees the same
 * data. Writes rows start .. start + count - 1. */
static void make_blobs(int64_t d, int k, double sep, double sd, int64_t start, int64_t count,
                       float *x, int32_t *truth) {
  for (int64_t i = 0; i < count; i++) {
    int64_t g = start + i;
    int blob = (int)(g % k);
    OvqRng r;
    ovq_rng_init(&r, 424242, OVQ_STREAM_TEST, (uint64_t)g);
    for (int64_t f = 0; f < d; f++) {
      OvqRng cr;
      ovq_rng_init(&cr, 77, OVQ_STREAM_TEST, (uint64_t)(blob * d + f));
      x[i * d + f] = (float)(sep * ovq_rng_normal(&cr) + sd * ovq_rng_normal(&r));
    }
    if (truth) truth[i] = blob;
  }
}

/* 2. Seeded runs: the world result equals rank 0's result alone with all the data. */
static void check_seeded(const char *what, OvqKmeansInit init, int n_init, int64_t n, int64_t d,
                         int k, double sep, double sd, int want_ari_one) {
  OvqRange b = ovq_partition_block(n, g_size, g_rank);
  float *x = malloc(sizeof(float) * (size_t)(b.count * d + 1));
  int32_t *truth = malloc(sizeof(int32_t) * (size_t)(b.count + 1));
  make_blobs(d, k, sep, sd, b.start, b.count, x, truth);
  OvqKmeansParams p;
  ovq_kmeans_defaults(&p);
  p.k = k;
  p.n_init = n_init;
  p.init = init;
  p.seed = 2024;
  OvqKmeansResult r;
  CHECK(ovq_kmeans_fit(&p, x, b.count, d, MPI_COMM_WORLD, &r) == OVQ_OK);
  OvqAgreement agr;
  CHECK(ovq_metrics_agreement(truth, r.labels, b.count, MPI_COMM_WORLD, &agr) == OVQ_OK);
  if (want_ari_one) CHECK_MSG(agr.ari == 1.0, "%s: ARI %.17g vs the blobs", what, agr.ari);
  int32_t *all = gather_labels(r.labels, n);
  if (g_rank == 0) {
    float *xa = malloc(sizeof(float) * (size_t)(n * d));
    make_blobs(d, k, sep, sd, 0, n, xa, NULL);
    OvqKmeansResult s;
    CHECK(ovq_kmeans_fit(&p, xa, n, d, MPI_COMM_SELF, &s) == OVQ_OK);
    int wrong = 0;
    for (int64_t i = 0; i < n; i++)
      wrong += all[i] != s.labels[i];
    double dc = 0.0;
    for (int64_t i = 0; i < k * d; i++)
      dc = fmax(dc, fabs((double)r.centres[i] - s.centres[i]));
    double di = fabs(r.inertia - s.inertia) / s.inertia;
    CHECK_MSG(wrong == 0, "%s: %d labels differ between %d ranks and 1", what, wrong, g_size);
    CHECK_MSG(r.best_restart == s.best_restart && r.n_iter == s.n_iter,
              "%s: kept restart %d / %d iterations vs %d / %d on one rank", what, r.best_restart,
              r.n_iter, s.best_restart, s.n_iter);
    /* Cluster sums are exact integers, so centres agree to the bit; the inertia is a double
     * sum over ranks and may differ in the last bits. */
    CHECK_MSG(dc == 0.0 && di <= 1e-12, "%s: centres differ by %.3g, inertia by %.3g", what, dc,
              di);
    printf("  %-28s ARI vs truth %.6f, restart %d kept, %d iterations; %d ranks vs 1: %d labels "
           "differ, centres %.2g, inertia %.2g\n",
           what, agr.ari, r.best_restart, r.n_iter, g_size, wrong, dc, di);
    g_worst_self = fmax(g_worst_self, fmax(dc, di));
    ovq_kmeans_result_free(&s);
    free(xa);
  }
  free(all);
  ovq_kmeans_result_free(&r);
  free(x);
  free(truth);
}

/* 3a. Three distinct points, four clusters: no D^2 mass is left for the last centre and one
 * cluster is empty after every assignment; no centre may be left at a zero vector. */
static void check_duplicates(void) {
  const int64_t n = 30, d = 2;
  const float pts[3][2] = {{5, 5}, {-4, 6}, {3, -7}};
  OvqRange b = ovq_partition_block(n, g_size, g_rank);
  float *x = malloc(sizeof(float) * (size_t)(b.count * d + 1));
  for (int64_t i = 0; i < b.count; i++)
    memcpy(x + i * d, pts[(b.start + i) % 3], sizeof pts[0]);
  for (int init = 0; init < 2; init++) {
    OvqKmeansParams p;
    ovq_kmeans_defaults(&p);
    p.k = 4;
    p.n_init = 2;
    p.init = init ? OVQ_KMEANS_INIT_PARALLEL : OVQ_KMEANS_INIT_PLUSPLUS;
    OvqKmeansResult r;
    CHECK(ovq_kmeans_fit(&p, x, b.count, d, MPI_COMM_WORLD, &r) == OVQ_OK);
    int on_point = 0;
    for (int j = 0; j < 4; j++)
      for (int q = 0; q < 3; q++)
        on_point += r.centres[j * d] == pts[q][0] && r.centres[j * d + 1] == pts[q][1];
    CHECK_MSG(on_point == 4, "duplicates (%s): %d of 4 centres on a data point",
              init ? "k-means||" : "k-means++", on_point);
    CHECK_NEAR(r.inertia, 0.0, 0.0);
    ovq_kmeans_result_free(&r);
  }
  free(x);
}

/* 3b. k = N = 3 on up to 4 ranks (a rank may hold no row): every sample its own cluster. */
static void check_k_equals_n(void) {
  const int64_t n = 3, d = 2;
  const float all[3][2] = {{0, 0}, {10, 0}, {0, 10}};
  OvqRange b = ovq_partition_block(n, g_size, g_rank);
  OvqKmeansParams p;
  ovq_kmeans_defaults(&p);
  p.k = 3;
  OvqKmeansResult r;
  CHECK(ovq_kmeans_fit(&p, b.count ? all[b.start] : NULL, b.count, d, MPI_COMM_WORLD, &r) ==
        OVQ_OK);
  int32_t *lab = gather_labels(r.labels, n);
  if (g_rank == 0)
    CHECK_MSG(lab[0] != lab[1] && lab[1] != lab[2] && lab[0] != lab[2], "k = N: labels %d %d %d",
              lab[0], lab[1], lab[2]);
  CHECK_NEAR(r.inertia, 0.0, 0.0);
  free(lab);
  ovq_kmeans_result_free(&r);
}

/* 3c. Features of very different magnitude (a constant zero, ~1e12, ~1e-12, ~5000 + noise):
 * each gets its own fixed-point scale, so every centre is its cluster's mean to float
 * precision in every feature. */
static void check_scales(void) {
  const int64_t n = 400, d = 4;
  const int k = 3;
  const double mag[4] = {0.0, 1e12, 1e-12, 1.0};
  OvqRange b = ovq_partition_block(n, g_size, g_rank);
  float *x = malloc(sizeof(float) * (size_t)(b.count * d + 1));
  int32_t *truth = malloc(sizeof(int32_t) * (size_t)(b.count + 1));
  make_blobs(d, k, 10.0, 1.0, b.start, b.count, x, truth);
  for (int64_t i = 0; i < b.count; i++) {
    x[i * d + 1] += 100.0f * (float)truth[i]; /* the dominant feature separates the blobs */
    for (int64_t f = 0; f < d; f++)
      x[i * d + f] = (float)(x[i * d + f] * mag[f]);
    x[i * d + 3] += 5000.0f;
  }
  OvqKmeansParams p;
  ovq_kmeans_defaults(&p);
  p.k = k;
  p.n_init = 2;
  p.seed = 5;
  p.tol = 0.0; /* stop on stable labels, so the centres are the means of the final clusters */
  OvqKmeansResult r;
  CHECK(ovq_kmeans_fit(&p, x, b.count, d, MPI_COMM_WORLD, &r) == OVQ_OK);
  OvqAgreement agr;
  CHECK(ovq_metrics_agreement(truth, r.labels, b.count, MPI_COMM_WORLD, &agr) == OVQ_OK);
  CHECK_MSG(agr.ari == 1.0, "scales: ARI %.17g", agr.ari);
  /* exact means of the final clusters, and each feature's largest |x| */
  double *mean = calloc((size_t)(k * d + k + d), sizeof(double)), *top = mean + k * d + k;
  for (int64_t i = 0; i < b.count; i++) {
    for (int64_t f = 0; f < d; f++)
      mean[r.labels[i] * d + f] += x[i * d + f];
    mean[k * d + r.labels[i]] += 1.0;
  }
  MPI_Allreduce(MPI_IN_PLACE, mean, (int)(k * d + k), MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
  for (int64_t i = 0; i < b.count; i++)
    for (int64_t f = 0; f < d; f++)
      top[f] = fmax(top[f], fabs(x[i * d + f]));
  MPI_Allreduce(MPI_IN_PLACE, top, (int)d, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  double worst = 0.0;
  for (int j = 0; j < k; j++)
    for (int64_t f = 0; f < d; f++) {
      double want = mean[j * d + f] / mean[k * d + j];
      double diff = top[f] > 0.0 ? fabs(r.centres[j * d + f] - want) / top[f]
                                 : fabs(r.centres[j * d + f] - want);
      worst = fmax(worst, diff);
    }
  CHECK_MSG(worst <= 1e-7,
            "scales: centres differ from the cluster means by %.3g (relative to "
            "the feature's largest value)",
            worst);
  if (g_rank == 0)
    printf("  features at 0, 1e12, 1e-12, 5000: ARI %.3f, centres vs exact means %.2e\n", agr.ari,
           worst);
  free(mean);
  ovq_kmeans_result_free(&r);
  free(x);
  free(truth);
}

/* 3d. User errors: OVQ_ERR on every rank with a message; the result is left zeroed. */
static void expect_error(const char *what, const OvqKmeansParams *p, const float *x, int64_t n,
                         int64_t d, const char *needle) {
  OvqKmeansResult r;
  ovq_error_clear();
  OvqStatus st = ovq_kmeans_fit(p, x, n, d, MPI_COMM_WORLD, &r);
  int mine = st == OVQ_ERR, all = 0;
  MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  CHECK_MSG(all == g_size, "%s: OVQ_ERR on %d of %d ranks", what, all, g_size);
  CHECK_MSG(strstr(ovq_error_message(), needle) != NULL, "%s: message '%s' lacks '%s'", what,
            ovq_error_message(), needle);
  CHECK(r.labels == NULL && r.centres == NULL);
  if (g_rank == 0) printf("  %-22s -> %s\n", what, ovq_error_message());
  ovq_kmeans_result_free(&r);
}

static void check_errors(void) {
  const int64_t n = 10, d = 3;
  OvqRange b = ovq_partition_block(n, g_size, g_rank);
  float x[30];
  for (int i = 0; i < 30; i++)
    x[i] = (float)(i % 7);
  OvqKmeansParams p;
  ovq_kmeans_defaults(&p);
  p.k = 0;
  expect_error("k = 0", &p, x, b.count, d, "k = 0");
  p.k = 11;
  expect_error("k > N", &p, x, b.count, d, "number of samples (10)");
  p.k = 2;
  expect_error("d = 0", &p, x, b.count, 0, "d = 0");
  if (g_size > 1)
    expect_error("d differs", &p, x, b.count, g_rank == g_size - 1 ? 2 : 3, "different widths");
  p.tol = -1.0;
  expect_error("tol < 0", &p, x, b.count, d, "tol");
  p.tol = 1e-4;
  p.init = OVQ_KMEANS_INIT_GIVEN;
  expect_error("given without centres", &p, x, b.count, d, "init_centres");
  float c[6] = {0, 0, 0, 1, 1, NAN};
  p.init_centres = c;
  expect_error("non-finite centre", &p, x, b.count, d, "not finite");
  p.init = OVQ_KMEANS_INIT_PLUSPLUS;
  if (g_rank == g_size - 1 && b.count > 0) x[0] = NAN;
  expect_error("NaN in data", &p, x, b.count, d, "NaN");
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  ovq_log_init(MPI_COMM_WORLD);
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_size);
  static Case cases[MAX_CASES];
  float *datas[MAX_CASES];
  int n_datas = 0;
  int nc = argc > 1 ? read_fixture(argv[1], cases, datas, &n_datas) : -1;
  CHECK_MSG(nc > 0, "cannot read the fixture (usage: test_kmeans kmeans_lloyd.txt)");

  if (g_rank == 0) printf("given centres vs scikit-learn at %d ranks:\n", g_size);
  for (int i = 0; i < nc; i++)
    check_reference(&cases[i]);

  if (g_rank == 0) printf("seeded runs:\n");
  check_seeded("k-means++, separated blobs", OVQ_KMEANS_INIT_PLUSPLUS, 3, 3000, 6, 5, 8.0, 1.0, 1);
  check_seeded("k-means||, separated blobs", OVQ_KMEANS_INIT_PARALLEL, 3, 3000, 6, 5, 8.0, 1.0, 1);
  check_seeded("k-means++, overlapping blobs", OVQ_KMEANS_INIT_PLUSPLUS, 4, 2001, 5, 7, 1.5, 1.0,
               0);
  check_seeded("k-means||, overlapping blobs", OVQ_KMEANS_INIT_PARALLEL, 4, 2001, 5, 7, 1.5, 1.0,
               0);

  if (g_rank == 0) printf("edge cases and user errors:\n");
  check_duplicates();
  check_k_equals_n();
  check_scales();
  check_errors();

  if (g_rank == 0)
    printf("test_kmeans: largest differences: vs scikit-learn inertia %.2e, centres %.2e "
           "(relative); %d ranks vs 1 rank %.2e\n",
           g_worst_inertia, g_worst_centre, g_size, g_worst_self);
  for (int i = 0; i < nc; i++) {
    free(cases[i].init);
    free(cases[i].labels);
    free(cases[i].centres);
  }
  for (int i = 0; i < n_datas; i++)
    free(datas[i]);
  int rc = test_finish("test_kmeans");
  MPI_Finalize();
  return rc;
}
