/* MPI test: draws named by a global index do not depend on which rank makes them or how many
 * ranks there are. Each rank draws for its block of 10,000 indices; rank 0 also draws all of
 * them alone; the gathered draws must be bit-identical. */
#include <mpi.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ovq/error.h"
#include "ovq/partition.h"
#include "ovq/rng.h"

enum { N = 10000 };

static double draw(uint64_t i) {
  OvqRng r;
  ovq_rng_init(&r, 99, OVQ_STREAM_SYNTH_SAMPLE, i);
  /* Several distributions in sequence, as a generator would use them. */
  double x = ovq_rng_normal(&r);
  x += ovq_rng_gamma(&r, 0.7);
  x += (double)ovq_rng_negbin(&r, 50.0, 0.3);
  return x;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  ovq_log_init(MPI_COMM_WORLD);
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  OvqRange b = ovq_partition_block(N, size, rank);
  double *mine = malloc(sizeof(double) * (size_t)(b.count + 1)), *all = NULL;
  for (int64_t i = 0; i < b.count; i++) mine[i] = draw((uint64_t)(b.start + i));
  int counts[64], displs[64];
  for (int r = 0; r < size; r++) {
    OvqRange q = ovq_partition_block(N, size, r);
    counts[r] = (int)q.count;
    displs[r] = (int)q.start;
  }
  if (rank == 0) all = malloc(sizeof(double) * N);
  MPI_Gatherv(mine, (int)b.count, MPI_DOUBLE, all, counts, displs, MPI_DOUBLE, 0, MPI_COMM_WORLD);
  if (rank == 0) {
    int diff = 0;
    for (int i = 0; i < N; i++) {
      double x = draw((uint64_t)i);
      diff += memcmp(&x, &all[i], sizeof x) != 0;
    }
    printf("test_rng_ranks: %d of %d draws differ between %d ranks and 1\n", diff, N, size);
    CHECK(diff == 0);
  }
  free(mine);
  free(all);
  int rc = test_finish("test_rng_ranks");
  MPI_Finalize();
  return rc;
}
