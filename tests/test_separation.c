/* Calinski-Harabasz / Davies-Bouldin against scikit-learn, Pearson / Spearman correlation against
 * numpy.corrcoef / scipy.stats.spearmanr (fixtures from tools/gen_pca_separation_fixtures.py),
 * at any rank count; results must also be bitwise equal to those on the rows gathered on every
 * rank (the fixed-point sums make them rank-count independent), and the error cases must fail on
 * every rank.
 * Usage: test_separation FIXTURE_DIR */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ovq/correlation.h"
#include "ovq/partition.h"
#include "ovq/separation.h"

static int g_rank, g_size;
static double g_maxdiff_ch, g_maxdiff_db, g_maxdiff_p, g_maxdiff_s;

static FILE *open_fixture(const char *dir, const char *name) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "r");
  if (!f) OVQ_ABORT("cannot open %s", path);
  return f;
}

static double rel(double a, double b) {
  return fabs(a - b) / fmax(1.0, fabs(b));
}

static void separation_cases(const char *dir) {
  FILE *f = open_fixture(dir, "separation_cases.txt");
  int cases;
  if (fscanf(f, "%d", &cases) != 1) OVQ_ABORT("bad fixture");
  for (int cs = 0; cs < cases; cs++) {
    int64_t n, d;
    int k;
    if (fscanf(f, "%ld %ld %d", &n, &d, &k) != 3) OVQ_ABORT("bad fixture");
    float *x = malloc(sizeof(float) * (size_t)(n * d));
    int32_t *lab = malloc(sizeof(int32_t) * (size_t)n);
    for (int64_t i = 0; i < n; i++) {
      if (fscanf(f, "%d", &lab[i]) != 1) OVQ_ABORT("bad fixture");
      for (int64_t j = 0; j < d; j++)
        if (fscanf(f, "%f", &x[i * d + j]) != 1) OVQ_ABORT("bad fixture");
    }
    double ch_ref, db_ref;
    if (fscanf(f, "%lf %lf", &ch_ref, &db_ref) != 2) OVQ_ABORT("bad fixture");
    OvqRange b = ovq_partition_block(n, g_size, g_rank);
    OvqSeparation s, all;
    CHECK(ovq_separation(x + b.start * d, b.count, d, lab + b.start, k, MPI_COMM_WORLD, &s) ==
          OVQ_OK);
    CHECK_NEAR(rel(s.calinski_harabasz, ch_ref), 0, 1e-10);
    CHECK_NEAR(rel(s.davies_bouldin, db_ref), 0, 1e-10);
    g_maxdiff_ch = fmax(g_maxdiff_ch, rel(s.calinski_harabasz, ch_ref));
    g_maxdiff_db = fmax(g_maxdiff_db, rel(s.davies_bouldin, db_ref));
    CHECK(s.n == n);
    /* All rows on rank 0, none elsewhere: the same bits. */
    CHECK(ovq_separation(x, g_rank == 0 ? n : 0, d, lab, k, MPI_COMM_WORLD, &all) == OVQ_OK);
    CHECK(all.calinski_harabasz == s.calinski_harabasz && all.davies_bouldin == s.davies_bouldin);
    if (cs == 0) {
      CHECK(s.k_used == k - 1); /* code 2 unused */
      /* A single cluster, and a label out of range (on the last rank only): errors everywhere. */
      int32_t *one = calloc((size_t)n, sizeof(int32_t));
      CHECK(ovq_separation(x + b.start * d, b.count, d, one, k, MPI_COMM_WORLD, &s) == OVQ_ERR);
      if (g_rank == g_size - 1 && b.count > 0) one[b.start] = k;
      CHECK(ovq_separation(x + b.start * d, b.count, d, one + b.start, k, MPI_COMM_WORLD, &s) ==
            OVQ_ERR);
      free(one);
    }
    if (cs == 2) {
      CHECK(s.calinski_harabasz == 1.0 && s.davies_bouldin == 0.0);
      /* N clusters of N samples: too many. */
      int32_t id[5] = {0, 1, 2, 3, 4};
      CHECK(ovq_separation(x + b.start * d, b.count, d, id + b.start, 5, MPI_COMM_WORLD, &s) ==
            OVQ_ERR);
    }
    free(x);
    free(lab);
  }
  fclose(f);
}

static void correlation_case(const char *dir) {
  FILE *f = open_fixture(dir, "separation_corr.txt");
  int64_t n, d;
  if (fscanf(f, "%ld %ld", &n, &d) != 2) OVQ_ABORT("bad fixture");
  float *x = malloc(sizeof(float) * (size_t)(n * d));
  double *pref = malloc(sizeof(double) * (size_t)(d * d)),
         *sref = malloc(sizeof(double) * (size_t)(d * d));
  for (int64_t i = 0; i < n * d; i++)
    if (fscanf(f, "%f", &x[i]) != 1) OVQ_ABORT("bad fixture");
  for (int64_t i = 0; i < d * d; i++)
    if (fscanf(f, "%lf", &pref[i]) != 1) OVQ_ABORT("bad fixture");
  for (int64_t i = 0; i < d * d; i++)
    if (fscanf(f, "%lf", &sref[i]) != 1) OVQ_ABORT("bad fixture");
  fclose(f);
  OvqRange b = ovq_partition_block(n, g_size, g_rank);
  double *p = malloc(sizeof(double) * (size_t)(d * d)),
         *s = malloc(sizeof(double) * (size_t)(d * d));
  CHECK(ovq_correlation_pearson(x + b.start * d, b.count, d, MPI_COMM_WORLD, p) == OVQ_OK);
  CHECK(ovq_correlation_spearman(x + b.start * d, b.count, d, MPI_COMM_WORLD, s) == OVQ_OK);
  for (int64_t i = 0; i < d * d; i++) {
    CHECK_NEAR(p[i], pref[i], 1e-10);
    CHECK_NEAR(s[i], sref[i], 1e-10);
    g_maxdiff_p = fmax(g_maxdiff_p, fabs(p[i] - pref[i]));
    g_maxdiff_s = fmax(g_maxdiff_s, fabs(s[i] - sref[i]));
  }
  /* Rank-count independence of Pearson: all rows on rank 0 gives the same bits. */
  double *p1 = malloc(sizeof(double) * (size_t)(d * d));
  CHECK(ovq_correlation_pearson(x, g_rank == 0 ? n : 0, d, MPI_COMM_WORLD, p1) == OVQ_OK);
  CHECK(memcmp(p1, p, sizeof(double) * (size_t)(d * d)) == 0);
  /* Spearman refuses a non-block layout (only when that differs from the block layout). */
  if (g_size > 1)
    CHECK(ovq_correlation_spearman(x, g_rank == 0 ? n : 0, d, MPI_COMM_WORLD, p1) == OVQ_ERR);
  /* One row: an error. */
  CHECK(ovq_correlation_pearson(x, g_rank == 0 ? 1 : 0, d, MPI_COMM_WORLD, p1) == OVQ_ERR);
  /* A constant column gives NaN (as numpy). */
  for (int64_t i = 0; i < n; i++)
    x[i * d + 2] = 1.5f;
  CHECK(ovq_correlation_pearson(x + b.start * d, b.count, d, MPI_COMM_WORLD, p) == OVQ_OK);
  CHECK(isnan(p[2 * d + 0]) && isnan(p[0 * d + 2]) && isnan(p[2 * d + 2]) &&
        fabs(p[0] - 1.0) < 1e-15);
  free(p1);
  free(x);
  free(pref);
  free(sref);
  free(p);
  free(s);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  ovq_log_init(MPI_COMM_WORLD);
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_size);
  const char *dir = argc > 1 ? argv[1] : ".";
  separation_cases(dir);
  correlation_case(dir);
  if (g_rank == 0)
    printf("max relative diff vs sklearn: calinski_harabasz %.3g davies_bouldin %.3g; max abs "
           "diff pearson %.3g spearman %.3g\n",
           g_maxdiff_ch, g_maxdiff_db, g_maxdiff_p, g_maxdiff_s);
  int rc = test_finish("test_separation");
  MPI_Finalize();
  return rc;
}
