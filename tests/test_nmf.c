/* Consensus NMF at the rank count it is run with (registered at 1, 2 and 4 ranks):
 * 1. Against R's NMF package (fixture from tools/gen_nmf_fixtures.R): from the same W0, H0,
 *    W and H after exactly 100 iterations of "brunet" (KL) and "lee" (Frobenius) to 1e-6
 *    relative to the largest entry.
 * 2. Consensus on planted clusters with negative values (split into positive and negative
 *    parts as ExecuteCNMF does), nrun = 30, default stopping: the groups are recovered, the
 *    cophenetic correlation lies in (0, 1], and the world result equals rank 0's alone with all
 *    the data bit for bit (W, objectives, iterations, every run's labels, consensus labels).
 * 3. User errors reported on every rank.
 * Usage: test_nmf <fixtures dir> */
#include <mpi.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ovq/error.h"
#include "ovq/nmf.h"
#include "ovq/partition.h"
#include "ovq/rng.h"

enum { MAX_CASES = 4 };

typedef struct Case {
  char method[16];
  int k, iter;
  double *w0, *h0, *w, *h; /* [F][k], [N][k] */
} Case;

static int g_rank, g_size;
static double g_worst_ref = 0.0;

static int read_doubles(FILE *f, const char *tag, double **out, int64_t n) {
  char tok[64];
  if (fscanf(f, "%63s", tok) != 1 || strcmp(tok, tag) != 0) return 0;
  *out = malloc(sizeof(double) * (size_t)n);
  for (int64_t i = 0; i < n; i++)
    if (fscanf(f, "%lf", &(*out)[i]) != 1) return 0;
  return 1;
}

/* Returns the number of cases (data in *x [n][F]) or -1. */
static int read_fixture(const char *path, float **x, int64_t *n, int64_t *F, Case *cases) {
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  char tok[64];
  int nc = 0, c, ok = 1;
  *x = NULL;
  while (ok && fscanf(f, "%63s", tok) == 1) {
    if (tok[0] == '#') {
      while ((c = fgetc(f)) != EOF && c != '\n')
        continue;
    } else if (strcmp(tok, "x") == 0) {
      long long nn, ff;
      ok = fscanf(f, "%lld %lld", &nn, &ff) == 2 && nn > 0 && ff > 0;
      *n = nn;
      *F = ff;
      *x = malloc(sizeof(float) * (size_t)(nn * ff));
      for (int64_t i = 0; ok && i < nn * ff; i++)
        ok = fscanf(f, "%f", &(*x)[i]) == 1;
    } else if (strcmp(tok, "case") == 0 && *x && nc < MAX_CASES) {
      Case *k = &cases[nc++];
      ok = fscanf(f, "%15s k %d iter %d", k->method, &k->k, &k->iter) == 3 && k->k > 0;
      ok = ok && read_doubles(f, "w0", &k->w0, *F * k->k) &&
           read_doubles(f, "h0", &k->h0, *n * k->k);
      ok = ok && read_doubles(f, "w", &k->w, *F * k->k) && read_doubles(f, "h", &k->h, *n * k->k);
      ok = ok && fscanf(f, "%63s", tok) == 1 && strcmp(tok, "end") == 0;
    } else {
      ok = 0;
    }
  }
  fclose(f);
  return ok && *x ? nc : -1;
}

/* Largest |a - b| over n entries relative to the largest |b|. */
static double rel_diff(const double *a, const double *b, int64_t n) {
  double top = 0.0, d = 0.0;
  for (int64_t i = 0; i < n; i++)
    top = fmax(top, fabs(b[i]));
  for (int64_t i = 0; i < n; i++)
    d = fmax(d, fabs(a[i] - b[i]));
  return d / top;
}

/* 1. Fixed starts, exactly `iter` iterations: R's W and H. */
static void check_reference(const Case *c, const float *x, int64_t n, int64_t F) {
  OvqRange q = ovq_partition_block(n, g_size, g_rank);
  OvqNmfParams p;
  ovq_nmf_defaults(&p);
  p.k = c->k;
  p.method = strcmp(c->method, "lee") == 0 ? OVQ_NMF_LEE : OVQ_NMF_BRUNET;
  p.nrun = 1;
  p.max_iter = c->iter;
  p.stopconv = -1;
  p.init_w = c->w0;
  p.init_h = c->h0 + q.start * c->k;
  OvqNmfResult r;
  OvqStatus st = ovq_nmf_fit(&p, x + q.start * F, q.count, F, MPI_COMM_WORLD, &r);
  CHECK_MSG(st == OVQ_OK, "%s: %s", c->method, ovq_error_message());
  if (st != OVQ_OK) return;
  CHECK(r.n_feat == F && r.n_iter[0] == c->iter);
  double dw = rel_diff(r.w, c->w, F * c->k);
  /* H: gather the local columns */
  double *h = malloc(sizeof(double) * (size_t)(n * c->k));
  int *counts = malloc(sizeof(int) * (size_t)g_size),
      *displs = malloc(sizeof(int) * (size_t)g_size);
  for (int rr = 0; rr < g_size; rr++) {
    OvqRange b = ovq_partition_block(n, g_size, rr);
    counts[rr] = (int)(b.count * c->k);
    displs[rr] = (int)(b.start * c->k);
  }
  MPI_Allgatherv(r.h, counts[g_rank], MPI_DOUBLE, h, counts, displs, MPI_DOUBLE, MPI_COMM_WORLD);
  double dh = rel_diff(h, c->h, n * c->k);
  CHECK_MSG(dw <= 1e-6 && dh <= 1e-6, "%s: W differs from R's by %.3g, H by %.3g (relative)",
            c->method, dw, dh);
  /* the labels of the run are the argmax of R's H */
  int wrong = 0;
  for (int64_t j = 0; j < n; j++) {
    int best = 0;
    for (int a = 1; a < c->k; a++)
      if (c->h[j * c->k + a] > c->h[j * c->k + best]) best = a;
    wrong += r.run_labels[j] != best;
  }
  CHECK_MSG(wrong == 0, "%s: %d argmax labels differ from R's", c->method, wrong);
  if (g_rank == 0)
    printf("  %-7s k=%d, %d iterations: W rel. diff %.2e, H rel. diff %.2e, %d labels differ\n",
           c->method, c->k, c->iter, dw, dh, wrong);
  g_worst_ref = fmax(g_worst_ref, fmax(dw, dh));
  free(h);
  free(counts);
  free(displs);
  ovq_nmf_result_free(&r);
}

/* Planted groups: sample g in group g % 3; feature f loads on group f % 3; centred, so about a
 * third of the values are negative. Every draw is named by the global index. */
static void make_planted(int64_t F, int64_t start, int64_t count, float *x, int32_t *truth) {
  for (int64_t i = 0; i < count; i++) {
    int64_t g = start + i;
    OvqRng r;
    ovq_rng_init(&r, 99, OVQ_STREAM_TEST, (uint64_t)g);
    for (int64_t f = 0; f < F; f++)
      x[i * F + f] = (float)((f % 3 == g % 3 ? 2.0 : 0.0) + 0.5 * ovq_rng_normal(&r) - 0.6);
    truth[i] = (int32_t)(g % 3);
  }
}

static int same_partition(const int32_t *a, const int32_t *b, int64_t n, int k) {
  int *ab = malloc(sizeof(int) * (size_t)k * 2), *ba = ab + k;
  for (int i = 0; i < k; i++)
    ab[i] = ba[i] = -1;
  int ok = 1;
  for (int64_t i = 0; i < n && ok; i++) {
    if (a[i] < 0 || a[i] >= k || b[i] < 0 || b[i] >= k) {
      ok = 0;
      break;
    }
    if (ab[a[i]] < 0) ab[a[i]] = b[i];
    if (ba[b[i]] < 0) ba[b[i]] = a[i];
    ok = ab[a[i]] == b[i] && ba[b[i]] == a[i];
  }
  free(ab);
  return ok;
}

/* 2. Consensus on planted groups, world vs rank 0 alone. */
static void check_consensus(OvqNmfMethod method, const char *what) {
  const int64_t n = 60, F = 24;
  const int k = 3;
  OvqRange q = ovq_partition_block(n, g_size, g_rank);
  float *x = malloc(sizeof(float) * (size_t)(q.count * F + 1));
  int32_t *truth = malloc(sizeof(int32_t) * (size_t)(q.count + 1));
  make_planted(F, q.start, q.count, x, truth);
  OvqNmfParams p;
  ovq_nmf_defaults(&p);
  p.k = k;
  p.method = method;
  p.seed = 7;
  OvqNmfResult r;
  OvqStatus st = ovq_nmf_fit(&p, x, q.count, F, MPI_COMM_WORLD, &r);
  CHECK_MSG(st == OVQ_OK, "consensus %s: %s", what, ovq_error_message());
  if (st != OVQ_OK) return;
  int *counts = malloc(sizeof(int) * (size_t)g_size),
      *displs = malloc(sizeof(int) * (size_t)g_size);
  for (int rr = 0; rr < g_size; rr++) {
    OvqRange b = ovq_partition_block(n, g_size, rr);
    counts[rr] = (int)b.count;
    displs[rr] = (int)b.start;
  }
  int32_t *lab = malloc(sizeof(int32_t) * (size_t)n), *best = malloc(sizeof(int32_t) * (size_t)n),
          *tru = malloc(sizeof(int32_t) * (size_t)n);
  MPI_Allgatherv(r.labels, (int)q.count, MPI_INT32_T, lab, counts, displs, MPI_INT32_T,
                 MPI_COMM_WORLD);
  MPI_Allgatherv(r.best_labels, (int)q.count, MPI_INT32_T, best, counts, displs, MPI_INT32_T,
                 MPI_COMM_WORLD);
  MPI_Allgatherv(truth, (int)q.count, MPI_INT32_T, tru, counts, displs, MPI_INT32_T,
                 MPI_COMM_WORLD);
  CHECK_MSG(r.n_feat == 2 * F, "consensus %s: %lld effective features, want %lld (both parts)",
            what, (long long)r.n_feat, (long long)(2 * F));
  CHECK_MSG(r.n_clusters == k && same_partition(lab, tru, n, k),
            "consensus %s: planted groups not recovered (%d clusters)", what, r.n_clusters);
  CHECK_MSG(same_partition(best, tru, n, k), "consensus %s: best run's labels miss the groups",
            what);
  CHECK_MSG(r.cophenetic > 0.0 && r.cophenetic <= 1.0, "consensus %s: cophenetic %.17g", what,
            r.cophenetic);
  CHECK(lab[0] == 0);
  int min_it = r.n_iter[0], max_it = r.n_iter[0];
  for (int t = 1; t < r.nrun; t++) {
    min_it = r.n_iter[t] < min_it ? r.n_iter[t] : min_it;
    max_it = r.n_iter[t] > max_it ? r.n_iter[t] : max_it;
  }
  CHECK_MSG(min_it >= 410 && max_it <= 2000, "consensus %s: %d..%d iterations", what, min_it,
            max_it);
  if (g_rank == 0) {
    float *xa = malloc(sizeof(float) * (size_t)(n * F));
    int32_t *ta = malloc(sizeof(int32_t) * (size_t)n);
    make_planted(F, 0, n, xa, ta);
    OvqNmfResult s;
    CHECK(ovq_nmf_fit(&p, xa, n, F, MPI_COMM_SELF, &s) == OVQ_OK);
    int same = s.best_run == r.best_run && s.n_feat == r.n_feat &&
               memcmp(s.w, r.w, sizeof(double) * (size_t)(r.n_feat * k)) == 0 &&
               memcmp(s.objective, r.objective, sizeof(double) * (size_t)r.nrun) == 0 &&
               memcmp(s.n_iter, r.n_iter, sizeof(int) * (size_t)r.nrun) == 0 &&
               memcmp(s.run_labels, r.run_labels, sizeof(int32_t) * (size_t)(r.nrun * n)) == 0 &&
               memcmp(s.labels, lab, sizeof(int32_t) * (size_t)n) == 0 &&
               memcmp(s.h + q.start * k, r.h, sizeof(double) * (size_t)(q.count * k)) == 0 &&
               s.cophenetic == r.cophenetic;
    CHECK_MSG(same, "consensus %s: %d ranks and 1 rank differ", what, g_size);
    printf("  %-7s nrun=%d: groups recovered, cophenetic %.6f, best run %d (objective %.6g), "
           "%d..%d iterations; %d ranks vs 1: %s\n",
           what, r.nrun, r.cophenetic, r.best_run, r.objective[r.best_run], min_it, max_it, g_size,
           same ? "bit-identical" : "DIFFERENT");
    ovq_nmf_result_free(&s);
    free(xa);
    free(ta);
  }
  double *cons = malloc(sizeof(double) * (size_t)(n * n));
  ovq_nmf_consensus(&r, cons);
  CHECK(cons[0] == 1.0 && cons[1] == cons[n]);
  free(cons);
  free(lab);
  free(best);
  free(tru);
  free(counts);
  free(displs);
  free(x);
  free(truth);
  ovq_nmf_result_free(&r);
}

static void expect_error(const char *what, const OvqNmfParams *p, const float *x, int64_t n,
                         int64_t F, const char *needle) {
  OvqNmfResult r;
  ovq_error_clear();
  OvqStatus st = ovq_nmf_fit(p, x, n, F, MPI_COMM_WORLD, &r);
  int bad = st == OVQ_ERR, all = 0;
  MPI_Allreduce(&bad, &all, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  CHECK_MSG(all == g_size, "%s: OVQ_ERR on %d of %d ranks", what, all, g_size);
  CHECK_MSG(strstr(ovq_error_message(), needle) != NULL, "%s: message '%s' lacks '%s'", what,
            ovq_error_message(), needle);
  CHECK(r.w == NULL && r.labels == NULL);
  if (g_rank == 0) printf("  %-18s -> %s\n", what, ovq_error_message());
  ovq_nmf_result_free(&r);
}

static void check_errors(void) {
  const int64_t n = 8, F = 3;
  OvqRange q = ovq_partition_block(n, g_size, g_rank);
  float x[24];
  for (int i = 0; i < 24; i++)
    x[i] = (float)(i % 5);
  double w0[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
  OvqNmfParams p;
  ovq_nmf_defaults(&p);
  p.k = 0;
  expect_error("k = 0", &p, x, q.count, F, "k = 0");
  p.k = 4;
  expect_error("k > features", &p, x, q.count, F, "exceeds the 3 features");
  p.k = 2;
  p.nrun = 0;
  expect_error("nrun = 0", &p, x, q.count, F, "nrun = 0");
  p.nrun = 1;
  p.init_w = w0;
  expect_error("only init_w", &p, x, q.count, F, "both init_w and init_h");
  p.init_w = NULL;
  if (g_rank == g_size - 1 && q.count > 0) x[0] = NAN;
  expect_error("NaN in data", &p, x, q.count, F, "NaN");
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  ovq_log_init(MPI_COMM_WORLD);
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_size);
  char path[4096];
  snprintf(path, sizeof path, "%s/nmf_ref.txt", argc > 1 ? argv[1] : ".");
  static Case cases[MAX_CASES];
  float *x = NULL;
  int64_t n = 0, F = 0;
  int nc = read_fixture(path, &x, &n, &F, cases);
  CHECK_MSG(nc > 0, "cannot read %s (usage: test_nmf <fixtures dir>)", path);

  if (g_rank == 0) printf("fixed starts vs R's NMF at %d ranks:\n", g_size);
  for (int i = 0; i < nc; i++)
    check_reference(&cases[i], x, n, F);
  if (g_rank == 0) printf("consensus on planted groups (negative values split):\n");
  check_consensus(OVQ_NMF_BRUNET, "brunet");
  check_consensus(OVQ_NMF_LEE, "lee");
  if (g_rank == 0) printf("user errors:\n");
  check_errors();
  if (g_rank == 0) printf("test_nmf: largest difference vs R's NMF %.2e (relative)\n", g_worst_ref);
  for (int i = 0; i < nc; i++) {
    free(cases[i].w0);
    free(cases[i].h0);
    free(cases[i].w);
    free(cases[i].h);
  }
  free(x);
  int rc = test_finish("test_nmf");
  MPI_Finalize();
  return rc;
}
