/* Dense N x N clustering benchmark (issue 5): spectral clustering (RBF, d latents), SNF (two
 * views), consensus clustering (N x N consensus matrix) and the spectral eigensolver alone, on
 * synthetic blobs; time (max over ranks) and each rank's peak resident memory (getrusage).
 * Build against the library (see tools/bench/README.md, or tools/bench/bench_dense.sh):
 *   mpicc -O2 -Iinclude -Ibuild/generated tools/bench/bench_dense.c -o /tmp/bench_dense \
 *         build/libovq.a $(pkg-config --libs scalapack-openmpi hdf5-openmpi) -lopenblas -lgsl -lz -lm
 * Usage:
 *   bench_dense spectral  N [d]                    d = 64; RBF gamma 1/d, k = 5
 *   bench_dense snf       N [F1 F2 [T]]            F1 = 2000, F2 = 200, K = 20, T = 20, 5 clusters
 *   bench_dense consensus N [d [reps [method]]]    d = 64, reps = 20, kmeans; k = 5, fraction 0.8
 *   bench_dense eigh      N [d]                    ovq_dmat_eigh_range (k + 1 = 6 smallest) on
 *                                                  the Laplacian spectral builds; only it is timed
 * Output: one human line, then "RESULT mode N ranks seconds rss0 rss1 ... | base0 base1 ..." with
 * the peak RSS (MB) of every rank over the whole run and its peak before the timed call (the
 * process, MPI, the inputs: what does not grow with N^2). */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "ovq/config.h"
#include "ovq/consensus.h"
#include "ovq/linalg.h"
#include "ovq/partition.h"
#include "ovq/pipeline.h"
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

static double peak_rss_mb(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_maxrss / 1024.0;
}

/* The normalised Laplacian ovq_spectral_fit builds (RBF, gamma 1/d, diagonal of A ignored), as a
 * block-cyclic matrix; the N x N part is what the eigensolver gets. */
static OvqDmat *laplacian(const OvqGrid *g, const float *x, int64_t r0, int64_t nl, int64_t n,
                          int64_t d) {
  int size = g->size;
  int *rc = malloc(sizeof(int) * (size_t)size), *rd = malloc(sizeof(int) * (size_t)size);
  for (int r = 0; r < size; r++) {
    OvqRange b = ovq_partition_block(n, size, r);
    rc[r] = (int)(b.count * d);
    rd[r] = (int)(b.start * d);
  }
  float *all = malloc(sizeof(float) * (size_t)(n * d));
  MPI_Allgatherv(x, (int)(nl * d), MPI_FLOAT, all, rc, rd, MPI_FLOAT, g->comm);
  free(rc);
  free(rd);
  double *rows = malloc(sizeof(double) * (size_t)(nl * n + 1));
  for (int64_t i = 0; i < nl; i++)
    for (int64_t j = 0; j < n; j++) {
      double s = 0.0;
      for (int64_t f = 0; f < d; f++) {
        double t = (double)all[(r0 + i) * d + f] - all[j * d + f];
        s += t * t;
      }
      rows[i * n + j] = r0 + i == j ? 0.0 : exp(-s / (double)d);
    }
  free(all);
  OvqDmat *L = ovq_dmat_create(g, n, n, ovq_dmat_default_nb(g, n));
  ovq_dmat_from_rows(L, 0.0, 1.0, rows, nl, n, 0);
  free(rows);
  double *w = malloc(sizeof(double) * (size_t)n);
  ovq_dmat_row_sums(L, w, NULL);
  for (int64_t i = 0; i < n; i++) w[i] = w[i] > 0 ? sqrt(w[i]) : 1.0;
  for (int lc = 0; lc < L->lcols; lc++) {
    int64_t j = ovq_dmat_col_global(L, lc);
    for (int lr = 0; lr < L->lrows; lr++) {
      int64_t i = ovq_dmat_row_global(L, lr);
      double *a = &L->a[(size_t)lc * L->lld + lr];
      *a = i == j ? 1.0 : -*a / w[i] / w[j];
    }
  }
  free(w);
  return L;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  ovq_log_init(MPI_COMM_WORLD);
  const char *mode = argc > 1 ? argv[1] : "";
  if (argc < 3 || (strcmp(mode, "spectral") && strcmp(mode, "snf") && strcmp(mode, "consensus") &&
                   strcmp(mode, "eigh"))) {
    if (rank == 0)
      fprintf(stderr, "usage: bench_dense spectral N [d] | snf N [F1 F2 [T]] | "
                      "consensus N [d [reps [method]]] | eigh N [d]\n");
    MPI_Finalize();
    return 2;
  }
  int64_t n = atoll(argv[2]);
  OvqRange b = ovq_partition_block(n, size, rank);
  double t0 = 0.0, t = 0.0, base = 0.0;
  int ok;
  char what[160];
  if (!strcmp(mode, "spectral")) {
    int64_t d = argc > 3 ? atoll(argv[3]) : 64;
    float *x = blobs(b.start, b.count, d, 11);
    OvqSpectralParams p;
    ovq_spectral_defaults(&p);
    p.k = 5;
    p.gamma = 1.0 / (double)d;
    OvqSpectralResult r;
    base = peak_rss_mb();
    MPI_Barrier(MPI_COMM_WORLD);
    t0 = MPI_Wtime();
    ok = ovq_spectral_fit(&p, x, b.count, d, MPI_COMM_WORLD, &r) == OVQ_OK;
    t = MPI_Wtime() - t0;
    snprintf(what, sizeof(what), "spectral d=%lld eigengap %.4f", (long long)d,
             ok ? r.eigengap : -1.0);
    ovq_spectral_result_free(&r);
    free(x);
  } else if (!strcmp(mode, "snf")) {
    int64_t f1 = argc > 3 ? atoll(argv[3]) : 2000, f2 = argc > 4 ? atoll(argv[4]) : 200;
    float *x1 = blobs(b.start, b.count, f1, 21), *x2 = blobs(b.start, b.count, f2, 31);
    OvqSnfView v[2] = {{x1, f1}, {x2, f2}};
    OvqSnfParams p;
    ovq_snf_defaults(&p);
    p.n_clusters = 5;
    if (argc > 5) p.T = atoi(argv[5]);
    OvqSnfResult r;
    base = peak_rss_mb();
    MPI_Barrier(MPI_COMM_WORLD);
    t0 = MPI_Wtime();
    ok = ovq_snf_fit(&p, v, 2, b.count, MPI_COMM_WORLD, &r) == OVQ_OK;
    t = MPI_Wtime() - t0;
    snprintf(what, sizeof(what), "snf F=%lld+%lld K=%d T=%d eigengap %.4f", (long long)f1,
             (long long)f2, p.K, p.T, ok ? r.eigengap : -1.0);
    ovq_snf_result_free(&r);
    free(x1);
    free(x2);
  } else if (!strcmp(mode, "consensus")) {
    int64_t d = argc > 3 ? atoll(argv[3]) : 64;
    int reps = argc > 4 ? atoi(argv[4]) : 20;
    const char *method = argc > 5 ? argv[5] : "kmeans";
    float *x = blobs(b.start, b.count, d, 11);
    OvqConfig cfg;
    ovq_config_defaults(&cfg); /* what `oncovq cluster` uses: seed 1, n_init 10, max_iter 300 */
    OvqClusterData data;
    ovq_cluster_data_init(&data, x, n, b.start, b.count, d, 0);
    int32_t *labels = malloc(sizeof(int32_t) * (size_t)(b.count + 1));
    OvqConsensusResult r = {0};
    base = peak_rss_mb();
    MPI_Barrier(MPI_COMM_WORLD);
    t0 = MPI_Wtime();
    ok = ovq_consensus_run(method, &cfg, 5, reps, cfg.cluster.consensus_fraction, &data,
                           MPI_COMM_WORLD, labels, &r) == OVQ_OK;
    t = MPI_Wtime() - t0;
    snprintf(what, sizeof(what), "consensus %s d=%lld reps=%d n_init=%lld cdf_area %.4f", method,
             (long long)d, reps, (long long)cfg.cluster.n_init, ok ? r.cdf_area : -1.0);
    free(labels);
    ovq_cluster_data_free(&data);
    free(x);
  } else {
    int64_t d = argc > 3 ? atoll(argv[3]) : 64;
    float *x = blobs(b.start, b.count, d, 11);
    OvqGrid *g = ovq_grid_create(MPI_COMM_WORLD);
    OvqDmat *L = laplacian(g, x, b.start, b.count, n, d);
    OvqDmat *Z = ovq_dmat_create(g, n, 6, L->nb);
    double lambda[6];
    ovq_log_set_level(OVQ_LOG_DEBUG); /* the solver's per-phase times (several ranks) */
    base = peak_rss_mb();
    MPI_Barrier(MPI_COMM_WORLD);
    t0 = MPI_Wtime();
    ok = ovq_dmat_eigh_range(L, 1, 6, lambda, Z) == OVQ_OK;
    t = MPI_Wtime() - t0;
    snprintf(what, sizeof(what), "eigh (%s) d=%lld lambda_6 %.6f",
             size == 1 ? "dsyevr" : "LOBPCG or pdsytrd", (long long)d,
             ok ? lambda[5] : -1.0);
    ovq_dmat_destroy(&Z);
    ovq_dmat_destroy(&L);
    ovq_grid_destroy(&g);
    free(x);
  }
  double rss = peak_rss_mb(), tmax, both[2] = {rss, base};
  double *all = rank == 0 ? malloc(sizeof(double) * 2 * (size_t)size) : NULL;
  MPI_Gather(both, 2, MPI_DOUBLE, all, 2, MPI_DOUBLE, 0, MPI_COMM_WORLD);
  MPI_Reduce(&t, &tmax, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
  if (rank == 0) {
    char list[256] = "", blist[256] = "";
    for (int r = 0; r < size; r++) {
      snprintf(list + strlen(list), sizeof list - strlen(list), "%s%.0f", r ? ", " : "",
               all[2 * r]);
      snprintf(blist + strlen(blist), sizeof blist - strlen(blist), "%s%.0f", r ? ", " : "",
               all[2 * r + 1]);
    }
    printf("%-44s N=%lld ranks=%d: %s, %.2f s, peak RSS per rank %s MB (before the call %s MB)\n",
           what, (long long)n, size, ok ? "ok" : "FAILED", tmax, list, blist);
    printf("RESULT %s %lld %d %.3f", mode, (long long)n, size, tmax);
    for (int r = 0; r < size; r++) printf(" %.1f", all[2 * r]);
    printf(" |");
    for (int r = 0; r < size; r++) printf(" %.1f", all[2 * r + 1]);
    printf("\n");
    free(all);
  }
  MPI_Finalize();
  return ok ? 0 : 1;
}
