/* Silhouette against scikit-learn (fixture from tools/gen_silhouette_fixture.py) at any rank
 * count, including a singleton cluster (s = 0), and the error for a single cluster.
 * Usage: test_silhouette FIXTURE */
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "ovq/partition.h"
#include "ovq/silhouette.h"

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  ovq_log_init(MPI_COMM_WORLD);
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  FILE *f = fopen(argc > 1 ? argv[1] : "", "r");
  if (!f) OVQ_ABORT("cannot open the fixture");
  int64_t n, d;
  int k;
  if (fscanf(f, "%ld %ld %d", &n, &d, &k) != 3) OVQ_ABORT("bad fixture");
  float *x = malloc(sizeof(float) * (size_t)(n * d));
  int32_t *lab = malloc(sizeof(int32_t) * (size_t)n);
  double *ref = malloc(sizeof(double) * (size_t)n), mean_ref;
  for (int64_t i = 0; i < n; i++) {
    if (fscanf(f, "%d", &lab[i]) != 1) OVQ_ABORT("bad fixture");
    for (int64_t j = 0; j < d; j++)
      if (fscanf(f, "%f", &x[i * d + j]) != 1) OVQ_ABORT("bad fixture");
  }
  if (fscanf(f, "%lf", &mean_ref) != 1) OVQ_ABORT("bad fixture");
  for (int64_t i = 0; i < n; i++)
    if (fscanf(f, "%lf", &ref[i]) != 1) OVQ_ABORT("bad fixture");
  fclose(f);
  OvqRange b = ovq_partition_block(n, size, rank);
  double *s = malloc(sizeof(double) * (size_t)(b.count + 1)), mean = 0;
  CHECK(ovq_silhouette(x + b.start * d, b.count, d, lab + b.start, k, MPI_COMM_WORLD, s, &mean) ==
        OVQ_OK);
  CHECK_NEAR(mean, mean_ref, 1e-9);
  for (int64_t i = 0; i < b.count; i++) CHECK_NEAR(s[i], ref[b.start + i], 1e-9);
  for (int64_t i = 0; i < b.count; i++)
    if (lab[b.start + i] == 3) CHECK(s[i] == 0.0);
  /* One cluster: an error on every rank. */
  int32_t *one = calloc((size_t)n, sizeof(int32_t));
  CHECK(ovq_silhouette(x + b.start * d, b.count, d, one, 1, MPI_COMM_WORLD, NULL, &mean) == OVQ_ERR);
  free(one);
  free(s);
  free(x);
  free(lab);
  free(ref);
  int rc = test_finish("test_silhouette");
  MPI_Finalize();
  return rc;
}
