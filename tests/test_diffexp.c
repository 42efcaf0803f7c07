/* Differential expression against SciPy (fixtures from tools/gen_diffexp_fixtures.py) at the rank
 * count it is run with: every value of the table (means, log2 fold change, Welch t and p, U and
 * p, BH q) must match to 1e-8 relative (absolute below 1); infinities exactly; no NaN anywhere.
 * The fixtures hold a constant feature, a feature constant within groups (t = +-inf), ties, a
 * cluster of one sample and an unlabelled sample. Also: BH against R's p.adjust on a small
 * vector, and a NaN in the input refused on every rank.
 * Usage: test_diffexp FIXTURE_DIR */
#include <mpi.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ovq/diffexp.h"
#include "ovq/error.h"
#include "ovq/matrix.h"
#include "ovq/partition.h"

enum { N_COLS = 11 };

typedef struct Fixture {
  int64_t n, f;
  int k;
  int32_t *labels; /* [n] */
  float *x;        /* [n][f] */
  double *table; /* [k * f][N_COLS]: cluster feature mean_in mean_out log2fc t t_p u u_p t_q u_q */
} Fixture;

static int expect_word(FILE *fp, const char *word) {
  char tok[64];
  return fscanf(fp, "%63s", tok) == 1 && strcmp(tok, word) == 0;
}

static int read_fixture(const char *path, Fixture *fx) {
  memset(fx, 0, sizeof *fx);
  FILE *fp = fopen(path, "r");
  if (!fp) return 0;
  char line[512];
  if (!fgets(line, sizeof line, fp)) return 0; /* comment */
  long long n, f;
  int ok = expect_word(fp, "samples") && fscanf(fp, "%lld", &n) == 1 &&
           expect_word(fp, "features") && fscanf(fp, "%lld", &f) == 1 &&
           expect_word(fp, "clusters") && fscanf(fp, "%d", &fx->k) == 1 &&
           expect_word(fp, "labels");
  if (!ok) return 0;
  fx->n = n;
  fx->f = f;
  fx->labels = malloc(sizeof(int32_t) * (size_t)n);
  fx->x = malloc(sizeof(float) * (size_t)(n * f));
  fx->table = malloc(sizeof(double) * (size_t)(fx->k * f * N_COLS));
  for (int64_t i = 0; i < n && ok; i++)
    ok = fscanf(fp, "%d", &fx->labels[i]) == 1;
  ok = ok && expect_word(fp, "x");
  for (int64_t i = 0; i < n * f && ok; i++) {
    double v;
    ok = fscanf(fp, "%lf", &v) == 1;
    fx->x[i] = (float)v;
  }
  ok = ok && expect_word(fp, "table");
  for (int c = 0; c < N_COLS && ok; c++)
    ok = fscanf(fp, "%*s") == 0;
  for (int64_t i = 0; i < fx->k * f * N_COLS && ok; i++)
    ok = fscanf(fp, "%lf", &fx->table[i]) == 1;
  fclose(fp);
  return ok;
}

static void free_fixture(Fixture *fx) {
  free(fx->labels);
  free(fx->x);
  free(fx->table);
}

/* Largest relative difference (absolute where |ref| < 1); infinities must agree exactly. */
static double rel_diff(double got, double ref) {
  if (isinf(ref) || isinf(got)) return got == ref ? 0.0 : INFINITY;
  if (isnan(got)) return INFINITY;
  double d = fabs(got - ref), s = fabs(ref);
  return s > 1.0 ? d / s : d;
}

static void check_fixture(const char *dir, const char *name, int rank, int size) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  Fixture fx;
  int ok = read_fixture(path, &fx);
  CHECK_MSG(ok, "cannot read %s", path);
  if (!ok) return;
  OvqRange b = ovq_partition_block(fx.n, size, rank);
  OvqMatrix m;
  ovq_matrix_alloc(&m, fx.n, b.start, b.count, fx.f);
  memcpy(m.x, fx.x + b.start * fx.f, sizeof(float) * (size_t)(b.count * fx.f));
  OvqDiffexp d;
  OvqStatus st = ovq_diffexp_compute(&m, fx.labels + b.start, MPI_COMM_WORLD, &d);
  CHECK_MSG(st == OVQ_OK, "%s: %s", name, ovq_error_message());
  if (st == OVQ_OK) {
    CHECK(d.k == fx.k && d.n_features == fx.f);
    const char *names[N_COLS] = {"",    "",  "mean_in", "mean_out", "log2fc", "t",
                                 "t_p", "u", "u_p",     "t_q",      "u_q"};
    double worst[N_COLS] = {0};
    int nan_seen = 0;
    for (int64_t r = 0; r < fx.k * fx.f; r++) {
      const double *ref = fx.table + r * N_COLS;
      int64_t e = (int64_t)ref[0] * fx.f + (int64_t)ref[1];
      double got[N_COLS] = {0,        0,      d.mean_in[e], d.mean_out[e], d.log2fc[e], d.t[e],
                            d.t_p[e], d.u[e], d.u_p[e],     d.t_q[e],      d.u_q[e]};
      for (int c = 2; c < N_COLS; c++) {
        nan_seen |= isnan(got[c]);
        double diff = rel_diff(got[c], ref[c]);
        if (diff > worst[c]) worst[c] = diff;
        CHECK_MSG(diff <= 1e-8, "%s cluster %d feature %d %s: %.17g vs SciPy %.17g", name,
                  (int)ref[0], (int)ref[1], names[c], got[c], ref[c]);
      }
    }
    CHECK(!nan_seen);
    if (rank == 0) {
      printf("%s (%d ranks): largest relative difference to SciPy:", name, size);
      for (int c = 2; c < N_COLS; c++)
        printf(" %s %.3g", names[c], worst[c]);
      printf("\n");
    }
  }
  ovq_diffexp_free(&d);
  ovq_diffexp_free(&d); /* idempotent */
  ovq_matrix_free(&m);
  free_fixture(&fx);
}

/* A NaN on the last rank only: every rank must return the error. */
static void check_nan_refused(int rank, int size) {
  const int64_t n = 8, f = 3;
  OvqRange b = ovq_partition_block(n, size, rank);
  OvqMatrix m;
  ovq_matrix_alloc(&m, n, b.start, b.count, f);
  int32_t labels[8];
  for (int64_t i = 0; i < b.count; i++)
    labels[i] = (int32_t)((b.start + i) % 2);
  if (rank == size - 1 && b.count > 0) m.x[0] = NAN;
  OvqDiffexp d;
  OvqStatus st = ovq_diffexp_compute(&m, labels, MPI_COMM_WORLD, &d);
  CHECK(st == OVQ_ERR);
  CHECK(d.mean_in == NULL && d.k == 0);
  ovq_matrix_free(&m);
  ovq_error_clear();
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (argc < 2) {
    if (rank == 0) fprintf(stderr, "usage: test_diffexp FIXTURE_DIR\n");
    MPI_Finalize();
    return 2;
  }
  /* R: p.adjust(c(0.01, 0.04, 0.03, 0.2), "BH") = 0.04 0.05333333 0.05333333 0.2 */
  double p[4] = {0.01, 0.04, 0.03, 0.2}, q[4];
  ovq_bh_adjust(p, 4, q);
  CHECK_NEAR(q[0], 0.04, 1e-15);
  CHECK_NEAR(q[1], 0.16 / 3.0, 1e-15);
  CHECK_NEAR(q[2], 0.16 / 3.0, 1e-15);
  CHECK_NEAR(q[3], 0.2, 1e-15);

  check_fixture(argv[1], "diffexp_main.txt", rank, size);
  check_fixture(argv[1], "diffexp_singleton.txt", rank, size);
  check_nan_refused(rank, size);
  int rc = test_finish("test_diffexp");
  MPI_Finalize();
  return rc;
}
