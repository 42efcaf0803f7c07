/* Time of ovq_impute_knn on a BRCA-sized matrix, at the rank count it is started with.
 *
 *   mpicc -O3 -Iinclude tools/bench/bench_impute.c -o bench_impute build/libovq.a \
 *         $(pkg-config --cflags --libs hdf5-openmpi openblas) -lm
 *   OPENBLAS_NUM_THREADS=1 mpirun -np 2 ./bench_impute [--samples 1100] [--features 20000]
 *        [--missing 0.01] [--k 10] [--maxp 1500] [--repeat 1]
 *
 * The data: samples x features on a log2-expression scale (8 +- 2), features in 50
 * co-expressed modules, values missing at random with the given probability; every value is
 * drawn from a stream keyed by its sample, so the matrix is the same at any rank count. Each
 * repetition imputes a fresh copy; the time is the maximum over the ranks, from a barrier to
 * the return of ovq_impute_knn. The checksum of the result (a sum over samples of a hash of the
 * row's bytes, weighted by the row's index) must be the same at every rank count. */
#include <math.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ovq/error.h"
#include "ovq/impute.h"
#include "ovq/matrix.h"
#include "ovq/partition.h"
#include "ovq/rng.h"

enum { MODULES = 50 };

static void make_data(OvqMatrix *m, int64_t n, int64_t F, double missing, int rank, int size) {
  OvqRange b = ovq_partition_block(n, size, rank);
  ovq_matrix_alloc(m, n, b.start, b.count, F);
  int *module = malloc(sizeof(int) * (size_t)F);
  double *offset = malloc(sizeof(double) * (size_t)F);
  OvqRng r;
  ovq_rng_init(&r, 1, OVQ_STREAM_TEST, 0);
  for (int64_t j = 0; j < F; j++) {
    module[j] = (int)ovq_rng_below(&r, MODULES);
    offset[j] = 8.0 + 2.0 * ovq_rng_normal(&r);
  }
  double effect[MODULES];
  for (int64_t i = 0; i < b.count; i++) {
    ovq_rng_init(&r, 2, OVQ_STREAM_TEST, (uint64_t)(b.start + i));
    for (int g = 0; g < MODULES; g++)
      effect[g] = 1.5 * ovq_rng_normal(&r);
    float *row = m->x + i * F;
    for (int64_t j = 0; j < F; j++) {
      double v = effect[module[j]] + offset[j] + 0.7 * ovq_rng_normal(&r);
      row[j] = ovq_rng_uniform(&r) < missing ? NAN : (float)v;
    }
  }
  free(module);
  free(offset);
}

static uint64_t checksum(const OvqMatrix *m, MPI_Comm comm) {
  uint64_t sum = 0;
  for (int64_t i = 0; i < m->n_local; i++) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a over the row's bytes */
    const unsigned char *p = (const unsigned char *)(m->x + i * m->n_cols);
    for (int64_t z = 0; z < m->n_cols * (int64_t)sizeof(float); z++)
      h = (h ^ p[z]) * 1099511628211ull;
    sum += h * (uint64_t)(2 * (m->row_start + i) + 1);
  }
  MPI_Allreduce(MPI_IN_PLACE, &sum, 1, MPI_UINT64_T, MPI_SUM, comm);
  return sum;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  ovq_log_init(MPI_COMM_WORLD);
  ovq_log_set_level(OVQ_LOG_WARN);
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  int64_t n = 1100, F = 20000;
  double missing = 0.01;
  int repeat = 1;
  OvqKnnOptions opt = ovq_knn_defaults();
  for (int a = 1; a + 1 < argc; a += 2) {
    if (!strcmp(argv[a], "--samples"))
      n = atoll(argv[a + 1]);
    else if (!strcmp(argv[a], "--features"))
      F = atoll(argv[a + 1]);
    else if (!strcmp(argv[a], "--missing"))
      missing = atof(argv[a + 1]);
    else if (!strcmp(argv[a], "--k"))
      opt.k = atoi(argv[a + 1]);
    else if (!strcmp(argv[a], "--maxp"))
      opt.maxp = atoll(argv[a + 1]);
    else if (!strcmp(argv[a], "--repeat"))
      repeat = atoi(argv[a + 1]);
    else {
      if (rank == 0) fprintf(stderr, "unknown option %s\n", argv[a]);
      MPI_Finalize();
      return 2;
    }
  }
  if (rank == 0)
    printf(
        "impute.knn: %lld samples x %lld features, %.2f%% missing, k %d, maxp %lld, %d rank(s)\n",
        (long long)n, (long long)F, 100 * missing, opt.k, (long long)opt.maxp, size);
  int rc = 0;
  for (int it = 0; it < repeat && rc == 0; it++) {
    OvqMatrix m;
    make_data(&m, n, F, missing, rank, size);
    OvqKnnReport rep;
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = MPI_Wtime();
    OvqStatus st = ovq_impute_knn(&m, &opt, NULL, MPI_COMM_WORLD, &rep);
    double t = MPI_Wtime() - t0;
    MPI_Allreduce(MPI_IN_PLACE, &t, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    uint64_t sum = checksum(&m, MPI_COMM_WORLD);
    if (st != OVQ_OK) {
      if (rank == 0) fprintf(stderr, "%s\n", ovq_error_message());
      rc = 1;
    } else if (rank == 0) {
      printf("run %d: %.2f s  (%lld missing, %lld rowmax features, %lld set(s))  checksum "
             "%016llx\n",
             it + 1, t, (long long)rep.n_missing, (long long)rep.n_rowmax_features,
             (long long)rep.n_blocks, (unsigned long long)sum);
    }
    ovq_matrix_free(&m);
  }
  MPI_Finalize();
  return rc;
}
