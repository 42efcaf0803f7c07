/* Label-agreement metrics against scikit-learn (fixture from tools/gen_kmeans_metrics_fixtures.py)
 * at the rank count it is run with: every pair is split over the ranks twice, in blocks and
 * round-robin (the metrics must not depend on where a sample is), and ARI, both NMIs and purity
 * must match to 1e-10; the contingency table must equal a direct count, unknown row and column
 * included; labels that are not small codes are refused on every rank.
 * Usage: test_metrics metrics_pairs.txt */
#include <mpi.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ovq/error.h"
#include "ovq/metrics.h"
#include "ovq/partition.h"

enum { MAX_PAIRS = 64 };

typedef struct Pair {
  char name[64];
  int64_t n, n_known;
  int32_t *a, *b;
  double ari, nmi, nmi_geometric, purity;
} Pair;

static int expect_word(FILE *f, const char *word) {
  char tok[64];
  return fscanf(f, "%63s", tok) == 1 && strcmp(tok, word) == 0;
}

static int read_labels(FILE *f, const char *word, int64_t n, int32_t *out) {
  if (!expect_word(f, word)) return 0;
  for (int64_t i = 0; i < n; i++)
    if (fscanf(f, "%d", &out[i]) != 1) return 0;
  return 1;
}

static int read_value(FILE *f, const char *word, double *v) {
  return expect_word(f, word) && fscanf(f, "%lf", v) == 1;
}

/* Reads every pair; returns how many, or -1 on a malformed file. */
static int read_fixture(const char *path, Pair *pairs) {
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  int np = 0, c;
  char tok[64];
  while (fscanf(f, "%63s", tok) == 1) {
    if (tok[0] == '#') {
      while ((c = fgetc(f)) != EOF && c != '\n')
        continue;
      continue;
    }
    if (strcmp(tok, "pair") != 0 || np == MAX_PAIRS) break;
    Pair *p = &pairs[np];
    long long n = 0;
    double known = 0;
    if (fscanf(f, "%63s %lld", p->name, &n) != 2 || n < 0) break;
    p->n = n;
    p->a = malloc(sizeof(int32_t) * (size_t)(n + 1));
    p->b = malloc(sizeof(int32_t) * (size_t)(n + 1));
    if (!read_labels(f, "a", n, p->a) || !read_labels(f, "b", n, p->b) ||
        !read_value(f, "ari", &p->ari) || !read_value(f, "nmi", &p->nmi) ||
        !read_value(f, "nmi_geometric", &p->nmi_geometric) ||
        !read_value(f, "purity", &p->purity) || !read_value(f, "n_known", &known) ||
        !expect_word(f, "end"))
      break;
    p->n_known = (int64_t)known;
    np++;
  }
  int ok = feof(f);
  fclose(f);
  return ok ? np : -1;
}

/* This rank's samples of pair p under one of two layouts, copied into a / b. */
static int64_t my_samples(const Pair *p, int layout, int rank, int size, int32_t *a, int32_t *b) {
  int64_t m = 0;
  if (layout == 0) {
    OvqRange r = ovq_partition_block(p->n, size, rank);
    for (int64_t i = r.start; i < r.start + r.count; i++, m++) {
      a[m] = p->a[i];
      b[m] = p->b[i];
    }
  } else {
    for (int64_t i = rank; i < p->n; i += size, m++) {
      a[m] = p->a[i];
      b[m] = p->b[i];
    }
  }
  return m;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  ovq_log_init(MPI_COMM_WORLD);
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  static Pair pairs[MAX_PAIRS];
  int np = argc > 1 ? read_fixture(argv[1], pairs) : -1;
  CHECK_MSG(np > 0, "cannot read the fixture (usage: test_metrics metrics_pairs.txt)");

  double worst = 0.0;
  const char *worst_at = "-";
  for (int q = 0; q < np; q++) {
    const Pair *p = &pairs[q];
    int32_t *a = malloc(sizeof(int32_t) * (size_t)(p->n + 1));
    int32_t *b = malloc(sizeof(int32_t) * (size_t)(p->n + 1));
    for (int layout = 0; layout < 2; layout++) {
      int64_t m = my_samples(p, layout, rank, size, a, b);
      OvqAgreement g;
      OvqStatus st = ovq_metrics_agreement(a, b, m, MPI_COMM_WORLD, &g);
      CHECK_MSG(st == OVQ_OK, "%s: %s", p->name, ovq_error_message());
      double got[4] = {g.ari, g.nmi, g.nmi_geometric, g.purity};
      double want[4] = {p->ari, p->nmi, p->nmi_geometric, p->purity};
      const char *what[4] = {"ari", "nmi", "nmi_geometric", "purity"};
      for (int v = 0; v < 4; v++) {
        double diff = fabs(got[v] - want[v]);
        CHECK_MSG(diff <= 1e-10, "%s %s: %.17g vs sklearn %.17g", p->name, what[v], got[v],
                  want[v]);
        if (diff > worst) {
          worst = diff;
          worst_at = p->name;
        }
      }
      CHECK_MSG(g.n_known == p->n_known && g.n_known + g.n_unknown == p->n,
                "%s: %lld known + %lld unknown of %lld", p->name, (long long)g.n_known,
                (long long)g.n_unknown, (long long)p->n);

      /* The table itself against a direct count over all samples. */
      OvqContingency t;
      CHECK(ovq_metrics_contingency(a, b, m, MPI_COMM_WORLD, &t) == OVQ_OK);
      int bad = 0;
      for (int i = -1; i <= t.n_a; i++)
        for (int j = -1; j <= t.n_b; j++) {
          int64_t want_count = 0;
          for (int64_t s = 0; s < p->n; s++) {
            int ra = p->a[s] < 0 ? -1 : p->a[s], rb = p->b[s] < 0 ? -1 : p->b[s];
            want_count += ra == i && rb == j;
          }
          bad += ovq_metrics_count(&t, i, j) != want_count;
        }
      CHECK_MSG(bad == 0, "%s: %d contingency cells differ from a direct count", p->name, bad);
      ovq_metrics_contingency_free(&t);
      ovq_metrics_contingency_free(&t); /* idempotent */
    }
    free(a);
    free(b);
  }

  /* A label that is not a small code is refused on every rank, even if one rank holds it. */
  int32_t a1[2] = {0, 1}, b1[2] = {rank == size - 1 ? 5000000 : 1, 0};
  OvqAgreement g;
  ovq_error_clear();
  OvqStatus st = ovq_metrics_agreement(a1, b1, 2, MPI_COMM_WORLD, &g);
  CHECK(st == OVQ_ERR);
  CHECK_MSG(strstr(ovq_error_message(), "codes") != NULL, "message: %s", ovq_error_message());
  if (rank == 0) printf("error for huge label codes: %s\n", ovq_error_message());

  if (rank == 0)
    printf("test_metrics: %d pairs at %d ranks, largest difference from scikit-learn %.3g (%s)\n",
           np, size, worst, worst_at);
  for (int q = 0; q < np; q++) {
    free(pairs[q].a);
    free(pairs[q].b);
  }
  int rc = test_finish("test_metrics");
  MPI_Finalize();
  return rc;
}
