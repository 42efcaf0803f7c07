/* PCA against scikit-learn 1.2 (PCA(svd_solver='full'); fixtures from
 * tools/gen_pca_separation_fixtures.py): means, explained variance and ratio, components and
 * scores (signs included: svd_flip u-based) to 1e-6 relative, for N > d and d > N, at any rank
 * count; and the errors for bad shapes.
 * Usage: test_pca FIXTURE_DIR */
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "ovq/partition.h"
#include "ovq/pca.h"

static int g_rank, g_size;

static double read_d(FILE *f) {
  double v;
  if (fscanf(f, "%lf", &v) != 1) OVQ_ABORT("bad fixture");
  return v;
}

static void pca_case(const char *dir, const char *name) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "r");
  if (!f) OVQ_ABORT("cannot open %s", path);
  int64_t n, d, c;
  if (fscanf(f, "%ld %ld %ld", &n, &d, &c) != 3) OVQ_ABORT("bad fixture");
  float *x = malloc(sizeof(float) * (size_t)(n * d));
  for (int64_t i = 0; i < n * d; i++)
    if (fscanf(f, "%f", &x[i]) != 1) OVQ_ABORT("bad fixture");
  double *mean = malloc(sizeof(double) * (size_t)d), *ev = malloc(sizeof(double) * (size_t)c);
  double *ratio = malloc(sizeof(double) * (size_t)c),
         *comp = malloc(sizeof(double) * (size_t)(c * d));
  double *sc = malloc(sizeof(double) * (size_t)(n * c));
  for (int64_t j = 0; j < d; j++)
    mean[j] = read_d(f);
  for (int64_t t = 0; t < c; t++)
    ev[t] = read_d(f);
  for (int64_t t = 0; t < c; t++)
    ratio[t] = read_d(f);
  for (int64_t i = 0; i < c * d; i++)
    comp[i] = read_d(f);
  for (int64_t i = 0; i < n * c; i++)
    sc[i] = read_d(f);
  fclose(f);

  OvqRange b = ovq_partition_block(n, g_size, g_rank);
  OvqPca p;
  double *mine = malloc(sizeof(double) * (size_t)(b.count * c + 1));
  CHECK(ovq_pca_fit(x + b.start * d, b.count, d, c, MPI_COMM_WORLD, &p, mine) == OVQ_OK);
  double dm = 0, dev = 0, dr = 0, dc = 0, ds = 0;
  double smax = 0;
  for (int64_t i = 0; i < n * c; i++)
    smax = fmax(smax, fabs(sc[i]));
  for (int64_t j = 0; j < d; j++)
    dm = fmax(dm, fabs(p.mean[j] - mean[j]));
  for (int64_t t = 0; t < c; t++) {
    dev = fmax(dev, fabs(p.explained_variance[t] - ev[t]) / ev[t]);
    dr = fmax(dr, fabs(p.explained_variance_ratio[t] - ratio[t]) / ratio[t]);
  }
  for (int64_t i = 0; i < c * d; i++)
    dc = fmax(dc, fabs(p.components[i] - comp[i]));
  for (int64_t i = 0; i < b.count * c; i++)
    ds = fmax(ds, fabs(mine[i] - sc[b.start * c + i]) / smax);
  OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &ds, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD));
  CHECK_NEAR(dm, 0, 1e-12);
  CHECK_NEAR(dev, 0, 1e-6);
  CHECK_NEAR(dr, 0, 1e-6);
  CHECK_NEAR(dc, 0, 1e-6);
  CHECK_NEAR(ds, 0, 1e-6);
  if (g_rank == 0)
    printf("%s (N %ld, d %ld, c %ld): max diff mean %.3g, rel explained_variance %.3g, rel ratio "
           "%.3g, components %.3g, scores (rel. to max |score|) %.3g\n",
           name, n, d, c, dm, dev, dr, dc, ds);
  ovq_pca_destroy(&p);
  ovq_pca_destroy(&p); /* idempotent */
  /* The randomized route (used above OVQ_PCA_MAX_FEATURES features) on the same data. */
  CHECK(ovq_pca_fit_randomized(x + b.start * d, b.count, d, c, 7, 3, MPI_COMM_WORLD, &p, mine) ==
        OVQ_OK);
  double rv = 0, rc = 0, rs = 0;
  for (int64_t t = 0; t < c; t++) rv = fmax(rv, fabs(p.explained_variance[t] - ev[t]) / ev[t]);
  for (int64_t i = 0; i < c * d; i++) rc = fmax(rc, fabs(p.components[i] - comp[i]));
  for (int64_t i = 0; i < b.count * c; i++)
    rs = fmax(rs, fabs(mine[i] - sc[b.start * c + i]) / smax);
  OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &rs, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD));
  if (g_rank == 0)
    printf("%s randomized (7 iterations): rel explained_variance %.3g, components %.3g, "
           "scores %.3g, total variance %.3g vs %.3g\n",
           name, rv, rc, rs, p.total_variance, ev[0] / ratio[0]);
  CHECK_NEAR(rv, 0, 1e-6);
  CHECK_NEAR(rc, 0, 1e-6);
  CHECK_NEAR(rs, 0, 1e-6);
  CHECK_NEAR(p.total_variance / (ev[0] / ratio[0]), 1, 1e-9);
  ovq_pca_destroy(&p);
  /* Too many components, too many features: errors on every rank, *p zeroed. */
  CHECK(ovq_pca_fit(x + b.start * d, b.count, d, (n < d ? n : d) + 1, MPI_COMM_WORLD, &p, NULL) ==
        OVQ_ERR);
  CHECK(p.mean == NULL);
  CHECK(ovq_pca_fit(x, 0, OVQ_PCA_MAX_FEATURES + 1, 1, MPI_COMM_WORLD, &p, NULL) == OVQ_ERR);
  free(x);
  free(mean);
  free(ev);
  free(ratio);
  free(comp);
  free(sc);
  free(mine);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  ovq_log_init(MPI_COMM_WORLD);
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_size);
  const char *dir = argc > 1 ? argv[1] : ".";
  pca_case(dir, "pca_tall.txt");
  pca_case(dir, "pca_wide.txt");
  int rc = test_finish("test_pca");
  MPI_Finalize();
  return rc;
}
