/* Clustering benchmark: time per iteration of ovq_gmm_fit (EM) and ovq_kmeans_fit (Lloyd) on
 * N x d synthetic data with k overlapping blobs (see tools/bench/README.md, bench_cluster.sh).
 *
 * Every value is drawn from a stream keyed by its global row, so the data are the same at any
 * rank count; rank r generates its block. Both methods start from given parameters (means or
 * centres = the first k rows, one per blob; weights 1/k; precisions identity) and run a fixed
 * number of iterations (tol = 0), so the time divided by the iterations is comparable with
 * scikit-learn run the same way. The time is the maximum over ranks from a barrier to the return
 * (it includes the one-off setup: moments, tail exchange, the final E-step / assignment).
 *
 *   mpirun -np R bench_gmm [--method gmm|kmeans] [--cov full|diag|spherical] [--n 1000000]
 *                          [--d 64] [--k 16] [--iters 3] [--dump FILE]
 * --dump writes the whole matrix (float32, row-major) to FILE from a 1-rank run and exits.
 * Prints one line: "RESULT method cov ranks n d k iters seconds seconds_per_iter checksum". */
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ovq/error.h"
#include "ovq/gmm.h"
#include "ovq/kmeans.h"
#include "ovq/partition.h"
#include "ovq/rng.h"

static void make_data(int64_t d, int k, int64_t start, int64_t count, float *x) {
  double *centre = malloc(sizeof(double) * (size_t)(k * d)), *sd = malloc(sizeof(double) * (size_t)k);
  for (int c = 0; c < k; c++) {
    OvqRng cr;
    ovq_rng_init(&cr, 4711, OVQ_STREAM_TEST, (uint64_t)c);
    for (int64_t f = 0; f < d; f++)
      centre[c * d + f] = 1.0 * ovq_rng_normal(&cr);
    sd[c] = 0.5 + ovq_rng_uniform(&cr);
  }
  for (int64_t i = 0; i < count; i++) {
    int64_t g = start + i;
    int c = (int)(g % k);
    OvqRng r;
    ovq_rng_init(&r, 4712, OVQ_STREAM_TEST, (uint64_t)g);
    for (int64_t f = 0; f < d; f++)
      x[i * d + f] = (float)(centre[c * d + f] + sd[c] * ovq_rng_normal(&r));
  }
  free(centre);
  free(sd);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  ovq_log_init(MPI_COMM_WORLD);
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  const char *method = "gmm", *cov = "full", *dump = NULL;
  int64_t n = 1000000, d = 64;
  int k = 16, iters = 3;
  for (int a = 1; a + 1 < argc; a += 2) {
    if (!strcmp(argv[a], "--method")) method = argv[a + 1];
    else if (!strcmp(argv[a], "--cov")) cov = argv[a + 1];
    else if (!strcmp(argv[a], "--n")) n = atoll(argv[a + 1]);
    else if (!strcmp(argv[a], "--d")) d = atoll(argv[a + 1]);
    else if (!strcmp(argv[a], "--k")) k = atoi(argv[a + 1]);
    else if (!strcmp(argv[a], "--iters")) iters = atoi(argv[a + 1]);
    else if (!strcmp(argv[a], "--dump")) dump = argv[a + 1];
  }
  OvqRange b = ovq_partition_block(n, size, rank);
  float *x = malloc(sizeof(float) * (size_t)(b.count * d + 1));
  make_data(d, k, b.start, b.count, x);
  if (dump) {
    if (size == 1) {
      FILE *f = fopen(dump, "wb");
      if (!f || fwrite(x, sizeof(float), (size_t)(n * d), f) != (size_t)(n * d)) {
        fprintf(stderr, "bench_gmm: cannot write %s\n", dump);
        MPI_Abort(MPI_COMM_WORLD, 1);
      }
      fclose(f);
    }
    free(x);
    MPI_Finalize();
    return 0;
  }
  /* the first k rows (one per blob) on every rank */
  float *first = malloc(sizeof(float) * (size_t)(k * d));
  make_data(d, k, 0, k, first);

  double t = 0.0, checksum = 0.0;
  int n_iter = 0;
  OvqStatus st;
  MPI_Barrier(MPI_COMM_WORLD);
  if (!strcmp(method, "kmeans")) {
    OvqKmeansParams p;
    ovq_kmeans_defaults(&p);
    p.k = k;
    p.max_iter = iters;
    p.tol = 0.0;
    p.init = OVQ_KMEANS_INIT_GIVEN;
    p.init_centres = first;
    OvqKmeansResult r;
    double t0 = MPI_Wtime();
    st = ovq_kmeans_fit(&p, x, b.count, d, MPI_COMM_WORLD, &r);
    t = MPI_Wtime() - t0;
    if (st == OVQ_OK) {
      n_iter = r.n_iter;
      checksum = r.inertia;
      ovq_kmeans_result_free(&r);
    }
  } else {
    OvqGmmParams p;
    ovq_gmm_defaults(&p);
    p.k = k;
    p.covariance = !strcmp(cov, "diag") ? OVQ_GMM_DIAG
                   : !strcmp(cov, "spherical") ? OVQ_GMM_SPHERICAL
                                               : OVQ_GMM_FULL;
    p.max_iter = iters;
    p.tol = 0.0;
    p.init = OVQ_GMM_INIT_GIVEN;
    const int64_t np = p.covariance == OVQ_GMM_FULL ? k * d * d
                       : p.covariance == OVQ_GMM_DIAG ? k * d
                                                      : k;
    double *w = malloc(sizeof(double) * (size_t)k), *m = malloc(sizeof(double) * (size_t)(k * d)),
           *pr = calloc((size_t)np, sizeof(double));
    for (int c = 0; c < k; c++) {
      w[c] = 1.0 / k;
      for (int64_t f = 0; f < d; f++)
        m[c * d + f] = first[c * d + f];
    }
    if (p.covariance == OVQ_GMM_FULL)
      for (int c = 0; c < k; c++)
        for (int64_t f = 0; f < d; f++)
          pr[(c * d + f) * d + f] = 1.0;
    else
      for (int64_t i = 0; i < np; i++)
        pr[i] = 1.0;
    p.init_weights = w;
    p.init_means = m;
    p.init_precisions = pr;
    OvqGmmResult r;
    double t0 = MPI_Wtime();
    st = ovq_gmm_fit(&p, x, b.count, d, MPI_COMM_WORLD, &r);
    t = MPI_Wtime() - t0;
    if (st == OVQ_OK) {
      n_iter = r.n_iter;
      checksum = r.log_likelihood;
      ovq_gmm_result_free(&r);
    }
    free(w);
    free(m);
    free(pr);
  }
  MPI_Allreduce(MPI_IN_PLACE, &t, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  if (st != OVQ_OK && rank == 0) fprintf(stderr, "bench_gmm: %s\n", ovq_error_message());
  if (rank == 0 && st == OVQ_OK)
    printf("RESULT %s %s %d %lld %lld %d %d %.4f %.4f %.10g\n", method,
           strcmp(method, "kmeans") ? cov : "-", size, (long long)n, (long long)d, k, n_iter, t,
           t / n_iter, checksum);
  free(first);
  free(x);
  MPI_Finalize();
  return st == OVQ_OK ? 0 : 1;
}
