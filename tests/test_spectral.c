/* Spectral clustering at the rank count it is run with (registered at 1, 2 and 4 ranks):
 * 1. Eigenvalues of the normalised Laplacian match scipy.linalg.eigh to 1e-8, and labels match
 *    scikit-learn's SpectralClustering with ARI >= 0.99 on well-separated blobs (fixture from
 *    tools/gen_spectral_fixtures.py), for the RBF and nearest-neighbour affinities.
 * 2. The labels on the world communicator equal rank 0's labels alone with all the data (so 1,
 *    2 and 4 ranks give the same labels for the same data and seed).
 * 3. User errors (bad k, gamma, n_neighbors, NaN data) are reported on every rank.
 * 4. Synthetic blobs with N = 1500 (large enough for the several-rank LOBPCG eigensolver of
 *    ovq_dmat_eigh_range; the fixtures use the direct one): well separated (the smallest
 *    Laplacian eigenvalues cluster near 0) and overlapping; eigenvalues within 1e-9 of rank 0
 *    alone (LAPACK dsyevr) and the same labels.
 * 5. gamma = 0 (1 / (d var)) is scale-free; one embedding serves every k up to its k_max.
 * Usage: test_spectral <fixtures dir> */
#include <mpi.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ovq/error.h"
#include "ovq/metrics.h"
#include "ovq/partition.h"
#include "ovq/rng.h"
#include "ovq/spectral.h"

typedef struct Case {
  char name[64], kind[16];
  double gamma;
  int nn, k;
  int64_t n, d;
  float *x;
  double *ev;
  int32_t *labels; /* NULL: eigenvalues only */
} Case;

static int g_rank, g_size;

static int word(FILE *f, const char *w) {
  char tok[64];
  return fscanf(f, "%63s", tok) == 1 && strcmp(tok, w) == 0;
}

static int read_case(FILE *f, Case *c) {
  char tok[64];
  long long n, d;
  while (fscanf(f, "%63s", tok) == 1) {
    if (tok[0] == '#') {
      int ch;
      while ((ch = fgetc(f)) != EOF && ch != '\n')
        continue;
      continue;
    }
    if (strcmp(tok, "case") != 0) return -1;
    if (fscanf(f, "%63s affinity %15s gamma %lf n_neighbors %d k %d n %lld d %lld", c->name,
               c->kind, &c->gamma, &c->nn, &c->k, &n, &d) != 7)
      return -1;
    c->n = n;
    c->d = d;
    c->x = malloc(sizeof(float) * (size_t)(n * d));
    c->ev = malloc(sizeof(double) * (size_t)(c->k + 1));
    int ok = word(f, "data");
    for (int64_t i = 0; ok && i < n * d; i++)
      ok = fscanf(f, "%f", &c->x[i]) == 1;
    ok = ok && word(f, "eigenvalues");
    for (int i = 0; ok && i <= c->k; i++)
      ok = fscanf(f, "%lf", &c->ev[i]) == 1;
    ok = ok && word(f, "labels");
    c->labels = NULL;
    if (ok) {
      long pos = ftell(f);
      if (fscanf(f, "%63s", tok) == 1 && strcmp(tok, "none") == 0) {
      } else {
        fseek(f, pos, SEEK_SET);
        c->labels = malloc(sizeof(int32_t) * (size_t)n);
        for (int64_t i = 0; ok && i < n; i++)
          ok = fscanf(f, "%d", &c->labels[i]) == 1;
      }
    }
    return ok && word(f, "end") ? 1 : -1;
  }
  return 0;
}

static void params_of(const Case *c, OvqSpectralParams *p) {
  ovq_spectral_defaults(p);
  p->k = c->k;
  p->affinity = strcmp(c->kind, "knn") == 0 ? OVQ_SPECTRAL_NEAREST_NEIGHBORS : OVQ_SPECTRAL_RBF;
  p->gamma = c->gamma;
  p->n_neighbors = c->nn;
  p->seed = 7;
}

static void check_case(const Case *c) {
  OvqRange b = ovq_partition_block(c->n, g_size, g_rank);
  OvqSpectralParams p;
  params_of(c, &p);
  OvqSpectralResult r;
  OvqStatus st = ovq_spectral_fit(&p, c->x + b.start * c->d, b.count, c->d, MPI_COMM_WORLD, &r);
  CHECK_MSG(st == OVQ_OK, "%s: %s", c->name, ovq_error_message());
  if (st != OVQ_OK) return;
  double dev = 0.0;
  for (int i = 0; i <= c->k; i++)
    dev = fmax(dev, fabs(r.eigenvalues[i] - c->ev[i]));
  CHECK_MSG(dev <= 1e-8, "%s: eigenvalues differ from SciPy by %.3g", c->name, dev);
  CHECK_NEAR(r.eigengap, c->ev[c->k] - c->ev[c->k - 1], 1e-8);
  double ari = -1.0;
  if (c->labels) {
    OvqAgreement agr;
    CHECK(ovq_metrics_agreement(r.labels, c->labels + b.start, b.count, MPI_COMM_WORLD, &agr) ==
          OVQ_OK);
    ari = agr.ari;
    CHECK_MSG(ari >= 0.99, "%s: ARI %.4f vs scikit-learn", c->name, ari);
  }
  /* Rank 0 alone with all the data must give the same labels. */
  int32_t *alone = NULL;
  if (g_rank == 0) {
    OvqSpectralResult r0;
    CHECK(ovq_spectral_fit(&p, c->x, c->n, c->d, MPI_COMM_SELF, &r0) == OVQ_OK);
    alone = r0.labels;
    r0.labels = NULL;
    ovq_spectral_result_free(&r0);
  } else {
    alone = malloc(sizeof(int32_t) * (size_t)c->n);
  }
  MPI_Bcast(alone, (int)c->n, MPI_INT32_T, 0, MPI_COMM_WORLD);
  int differ = 0;
  for (int64_t i = 0; i < b.count; i++)
    differ += r.labels[i] != alone[b.start + i];
  MPI_Allreduce(MPI_IN_PLACE, &differ, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  CHECK_MSG(differ == 0, "%s: %d labels differ from the 1-rank run", c->name, differ);
  if (g_rank == 0)
    printf("  %-12s k=%d: eigenvalue max |diff| %.2e, eigengap %.4f, ARI vs sklearn %s%.4f, "
           "%d labels differ from 1 rank\n",
           c->name, c->k, dev, r.eigengap, c->labels ? "" : "(none) ", ari, differ);
  free(alone);
  ovq_spectral_result_free(&r);
}

static void check_errors(const Case *c) {
  OvqRange b = ovq_partition_block(c->n, g_size, g_rank);
  OvqSpectralParams p;
  OvqSpectralResult r;
  params_of(c, &p);
  p.k = (int)c->n;
  CHECK(ovq_spectral_fit(&p, c->x + b.start * c->d, b.count, c->d, MPI_COMM_WORLD, &r) == OVQ_ERR);
  CHECK(r.labels == NULL);
  params_of(c, &p);
  p.affinity = OVQ_SPECTRAL_RBF;
  p.gamma = -1.0;
  CHECK(ovq_spectral_fit(&p, c->x + b.start * c->d, b.count, c->d, MPI_COMM_WORLD, &r) == OVQ_ERR);
  params_of(c, &p);
  p.affinity = OVQ_SPECTRAL_NEAREST_NEIGHBORS;
  p.n_neighbors = (int)c->n + 1;
  CHECK(ovq_spectral_fit(&p, c->x + b.start * c->d, b.count, c->d, MPI_COMM_WORLD, &r) == OVQ_ERR);
  params_of(c, &p);
  float *bad = malloc(sizeof(float) * (size_t)(c->n * c->d));
  memcpy(bad, c->x, sizeof(float) * (size_t)(c->n * c->d));
  bad[(c->n - 1) * c->d] = NAN; /* on the last rank only */
  CHECK(ovq_spectral_fit(&p, bad + b.start * c->d, b.count, c->d, MPI_COMM_WORLD, &r) == OVQ_ERR);
  if (g_rank == 0) printf("  user errors: %s\n", ovq_error_message());
  free(bad);
}

/* Blobs of n samples in d dimensions around k centres at distance ~sep, every value keyed by
 * (global row, feature); rows start .. start + count - 1 (out: [count][d]). */
static float *blobs(int64_t start, int64_t count, int d, int k, double sep) {
  float *x = malloc(sizeof(float) * (size_t)(count * d + 1));
  for (int64_t i = 0; i < count; i++) {
    int64_t gi = start + i;
    for (int f = 0; f < d; f++) {
      OvqRng r, c;
      ovq_rng_init(&r, 5, OVQ_STREAM_TEST, (uint64_t)(gi * d + f));
      ovq_rng_init(&c, 6, OVQ_STREAM_TEST, (uint64_t)((gi % k) * d + f));
      x[i * d + f] = (float)(sep * ovq_rng_normal(&c) + ovq_rng_normal(&r));
    }
  }
  return x;
}

static void check_large(const char *name, double sep, double gamma) {
  const int64_t n = 1500;
  const int d = 8, k = 4;
  OvqRange b = ovq_partition_block(n, g_size, g_rank);
  float *x = blobs(b.start, b.count, d, k, sep);
  OvqSpectralParams p;
  ovq_spectral_defaults(&p);
  p.k = k;
  p.gamma = gamma;
  p.seed = 3;
  OvqSpectralResult r;
  CHECK_MSG(ovq_spectral_fit(&p, x, b.count, d, MPI_COMM_WORLD, &r) == OVQ_OK, "%s: %s", name,
            ovq_error_message());
  double *ev = malloc(sizeof(double) * (size_t)(k + 1));
  int32_t *alone = malloc(sizeof(int32_t) * (size_t)n);
  if (g_rank == 0) {
    float *all = blobs(0, n, d, k, sep);
    OvqSpectralResult r0;
    CHECK(ovq_spectral_fit(&p, all, n, d, MPI_COMM_SELF, &r0) == OVQ_OK);
    memcpy(alone, r0.labels, sizeof(int32_t) * (size_t)n);
    memcpy(ev, r0.eigenvalues, sizeof(double) * (size_t)(k + 1));
    ovq_spectral_result_free(&r0);
    free(all);
  }
  MPI_Bcast(alone, (int)n, MPI_INT32_T, 0, MPI_COMM_WORLD);
  MPI_Bcast(ev, k + 1, MPI_DOUBLE, 0, MPI_COMM_WORLD);
  double dev = 0.0;
  for (int i = 0; i <= k; i++)
    dev = fmax(dev, fabs(r.eigenvalues[i] - ev[i]));
  int differ = 0;
  for (int64_t i = 0; i < b.count; i++)
    differ += r.labels[i] != alone[b.start + i];
  MPI_Allreduce(MPI_IN_PLACE, &differ, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  CHECK_MSG(dev <= 1e-9, "%s: eigenvalues differ from 1 rank by %.3g", name, dev);
  CHECK_MSG(differ == 0, "%s: %d labels differ from the 1-rank run", name, differ);
  if (g_rank == 0) {
    printf("  %-12s N=%lld k=%d: eigenvalues", name, (long long)n, k);
    for (int i = 0; i <= k; i++)
      printf(" %.3g", ev[i]);
    printf(", max |diff| vs 1 rank %.2e, %d labels differ from 1 rank\n", dev, differ);
  }
  free(ev);
  free(alone);
  free(x);
  ovq_spectral_result_free(&r);
}

/* gamma = 0 (1 / (d var)): the same labels for the blobs and for the blobs x 1000, which recover
 * the blobs (ARI >= 0.99) where sklearn's fixed gamma = 1 sees no structure at that scale; and
 * one embedding for k_max = 6 clustered at k = 4 gives the labels of a fit at k = 4. */
static void check_auto_gamma_and_range(void) {
  const int64_t n = 1500;
  const int d = 8, k = 4;
  OvqRange b = ovq_partition_block(n, g_size, g_rank);
  float *x = blobs(b.start, b.count, d, k, 3.0);
  float *big = malloc(sizeof(float) * (size_t)(b.count * d + 1));
  for (int64_t i = 0; i < b.count * d; i++) big[i] = 1000.0f * x[i];
  int32_t *truth = malloc(sizeof(int32_t) * (size_t)(b.count + 1));
  for (int64_t i = 0; i < b.count; i++) truth[i] = (int32_t)((b.start + i) % k);
  OvqSpectralParams p;
  ovq_spectral_defaults(&p);
  p.k = k;
  p.gamma = 0.0;
  p.seed = 3;
  OvqSpectralResult r1, r2, r3;
  CHECK(ovq_spectral_fit(&p, x, b.count, d, MPI_COMM_WORLD, &r1) == OVQ_OK);
  CHECK(ovq_spectral_fit(&p, big, b.count, d, MPI_COMM_WORLD, &r2) == OVQ_OK);
  p.gamma = 1.0;
  CHECK(ovq_spectral_fit(&p, big, b.count, d, MPI_COMM_WORLD, &r3) == OVQ_OK);
  OvqAgreement a1, a12, a3;
  ovq_metrics_agreement(truth, r1.labels, b.count, MPI_COMM_WORLD, &a1);
  ovq_metrics_agreement(r1.labels, r2.labels, b.count, MPI_COMM_WORLD, &a12);
  ovq_metrics_agreement(truth, r3.labels, b.count, MPI_COMM_WORLD, &a3);
  if (g_rank == 0)
    printf("  gamma auto   ARI vs blobs %.3f, x vs 1000 x %.3f; gamma = 1 on 1000 x: ARI %.3f, "
           "eigengap %.2e\n", a1.ari, a12.ari, a3.ari, r3.eigengap);
  CHECK_MSG(a1.ari >= 0.99 && a12.ari == 1.0, "auto gamma: ARI %.3f, scale changes labels (%.3f)",
            a1.ari, a12.ari);
  /* The range: embed once for k_max = 6, cluster at k = 4. */
  p.gamma = 0.0;
  p.k = 6;
  OvqSpectralEmbedding e;
  CHECK(ovq_spectral_embed(&p, x, b.count, d, MPI_COMM_WORLD, &e) == OVQ_OK);
  p.k = k;
  OvqSpectralResult r4;
  CHECK(ovq_spectral_cluster(&p, &e, MPI_COMM_WORLD, &r4) == OVQ_OK);
  int differ = 0;
  for (int64_t i = 0; i < b.count; i++) differ += r4.labels[i] != r1.labels[i];
  MPI_Allreduce(MPI_IN_PLACE, &differ, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  double dev = 0.0;
  for (int i = 0; i <= k; i++) dev = fmax(dev, fabs(r4.eigenvalues[i] - r1.eigenvalues[i]));
  if (g_rank == 0)
    printf("  range        embedding for k <= 6 clustered at k = 4: %d labels differ from a k = 4 "
           "fit, eigenvalues within %.1e\n", differ, dev);
  CHECK_MSG(differ == 0 && dev < 1e-8, "range: %d labels differ, eigenvalues %.2e", differ, dev);
  p.k = 7;
  OvqSpectralResult r5;
  CHECK(ovq_spectral_cluster(&p, &e, MPI_COMM_WORLD, &r5) == OVQ_ERR); /* beyond k_max */
  ovq_spectral_embedding_free(&e);
  ovq_spectral_result_free(&r1);
  ovq_spectral_result_free(&r2);
  ovq_spectral_result_free(&r3);
  ovq_spectral_result_free(&r4);
  free(x);
  free(big);
  free(truth);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_size);
  ovq_log_init(MPI_COMM_WORLD);
  char path[4096];
  snprintf(path, sizeof(path), "%s/spectral_cases.txt", argc > 1 ? argv[1] : "tests/fixtures");
  FILE *f = fopen(path, "r");
  CHECK_MSG(f != NULL, "cannot open %s", path);
  Case cases[8];
  int nc = 0, rc;
  while (f && nc < 8 && (rc = read_case(f, &cases[nc])) == 1)
    nc++;
  if (f) fclose(f);
  CHECK_MSG(nc == 4, "read %d cases from %s", nc, path);
  for (int i = 0; i < nc; i++)
    check_case(&cases[i]);
  if (nc > 0) check_errors(&cases[0]);
  check_large("blobs_apart", 3.0, 0.5);
  check_large("blobs_overlap", 0.5, 1.0 / 8.0);
  check_auto_gamma_and_range();
  for (int i = 0; i < nc; i++) {
    free(cases[i].x);
    free(cases[i].ev);
    free(cases[i].labels);
  }
  int code = test_finish("test_spectral");
  MPI_Finalize();
  return code;
}
