/* Dense N x N clustering benchmark: spectral clustering (RBF, d latents) and SNF (two views)
 * on synthetic blobs, time (max over ranks) and peak resident memory per rank (getrusage).
 * Build against the library (see tools/bench/README.md):
 *   mpicc -O2 -Iinclude tools/bench/bench_dense.c -o /tmp/bench_dense build/libovq.a \
 *         $(pkg-config --libs scalapack-openmpi hdf5-openmpi) -lopenblas -lgsl -lz -lm
 * Usage: bench_dense spectral|snf N [d | F1 F2] (defaults: d = 64; F1 = 2000, F2 = 200). */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "ovq/partition.h"
#include "ovq/rng.h"
#include "ovq/snf.h"
#include "ovq/spectral.h"

/* Five blobs; every value named by (global row, feature), so any rank count sees the same data. */
static float *blobs(int64_t start, int64_t count, int64_t d, uint64_t seed) {
  float *x = malloc(sizeof(float) * (size_t)(count * d + 1));
  for (int64_t i = 0; i < count; i++) {
    int64_t g = start + i;
    OvqRng r;
    ovq_rng_init(&r, seed, OVQ_STREAM_TEST, (uint64_t)g);
    for (int64_t f = 0; f < d; f++) {
      OvqRng c;
      ovq_rng_init(&c, seed + 1, OVQ_STREAM_TEST, (uint64_t)((g % 5) * d + f));
      x[i * d + f] = (float)(0.6 * ovq_rng_normal(&c) + ovq_rng_normal(&r));
    }
  }
  return x;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (argc < 3) {
    if (rank == 0) fprintf(stderr, "usage: bench_dense spectral|snf N [d | F1 F2]\n");
    MPI_Finalize();
    return 2;
  }
  int snf = strcmp(argv[1], "snf") == 0;
  int64_t n = atoll(argv[2]);
  OvqRange b = ovq_partition_block(n, size, rank);
  double t0 = 0.0, t = 0.0;
  int ok;
  char what[128];
  if (!snf) {
    int64_t d = argc > 3 ? atoll(argv[3]) : 64;
    float *x = blobs(b.start, b.count, d, 11);
    OvqSpectralParams p;
    ovq_spectral_defaults(&p);
    p.k = 5;
    p.gamma = 1.0 / (double)d;
    OvqSpectralResult r;
    MPI_Barrier(MPI_COMM_WORLD);
    t0 = MPI_Wtime();
    ok = ovq_spectral_fit(&p, x, b.count, d, MPI_COMM_WORLD, &r) == OVQ_OK;
    t = MPI_Wtime() - t0;
    snprintf(what, sizeof(what), "spectral d=%lld eigengap %.4f", (long long)d,
             ok ? r.eigengap : -1.0);
    ovq_spectral_result_free(&r);
    free(x);
  } else {
    int64_t f1 = argc > 3 ? atoll(argv[3]) : 2000, f2 = argc > 4 ? atoll(argv[4]) : 200;
    float *x1 = blobs(b.start, b.count, f1, 21), *x2 = blobs(b.start, b.count, f2, 31);
    OvqSnfView v[2] = {{x1, f1}, {x2, f2}};
    OvqSnfParams p;
    ovq_snf_defaults(&p);
    p.n_clusters = 5;
    OvqSnfResult r;
    MPI_Barrier(MPI_COMM_WORLD);
    t0 = MPI_Wtime();
    ok = ovq_snf_fit(&p, v, 2, b.count, MPI_COMM_WORLD, &r) == OVQ_OK;
    t = MPI_Wtime() - t0;
    snprintf(what, sizeof(what), "snf F=%lld+%lld K=20 T=20 eigengap %.4f", (long long)f1,
             (long long)f2, ok ? r.eigengap : -1.0);
    ovq_snf_result_free(&r);
    free(x1);
    free(x2);
  }
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double rss = (double)ru.ru_maxrss / 1024.0, rss_max, tmax;
  MPI_Reduce(&rss, &rss_max, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
  MPI_Reduce(&t, &tmax, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
  if (rank == 0)
    printf("%-40s N=%lld ranks=%d: %s, %.2f s, peak RSS %.0f MB per rank (max)\n", what,
           (long long)n, size, ok ? "ok" : "FAILED", tmax, rss_max);
  MPI_Finalize();
  return ok ? 0 : 1;
}
