/* The miRNA-gene network of ovq_evaluate (ovq/evaluate.h) against SciPy, at the rank count it is
 * run with (fixture tests/fixtures/eval_network.txt from tools/gen_diffexp_fixtures.py): a cohort
 * and a clusters file are written from the fixture, the evaluation runs on them, and the edges in
 * EVAL.h5 (/eval/network/...) must be the fixture's edges in the same order with r, p and q equal
 * to scipy.stats.pearsonr and BH to 1e-8 (relative; absolute below 1e-300), and the same clusters
 * per feature; once for all pairs of DE features and once restricted to an interaction list. The
 * TSV table must have one line per edge and no NaN. Interaction files with a short line or an
 * empty name are refused with file:line on every rank, leaving no output.
 * Usage: test_evaluate FIXTURE_DIR SCRATCH_DIR */
#include <math.h>
#include <mpi.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "ovq/cohort.h"
#include "ovq/config.h"
#include "ovq/evaluate.h"
#include "ovq/partition.h"
#include "ovq/results.h"

enum { MAX_IDS = 64, MAX_EDGES = 128, MAX_LISTED = 64 };

typedef struct Edge {
  char mirna[32], gene[32], cm[32], cg[32];
  double r, p, q;
} Edge;

typedef struct Fixture {
  int n, g, m, k;
  double de_fdr, de_lfc, network_r;
  char gene_ids[MAX_IDS][32], mirna_ids[MAX_IDS][32];
  int32_t *labels; /* [n] */
  float *x;        /* [n][g + m] genes then miRNAs */
  int n_listed;
  char listed[MAX_LISTED][2][32];
  int n_edges[2]; /* all pairs, listed pairs */
  Edge edges[2][MAX_EDGES];
} Fixture;

static int word(FILE *fp, const char *w) {
  char tok[64];
  return fscanf(fp, "%63s", tok) == 1 && !strcmp(tok, w);
}

static int read_fixture(const char *path, Fixture *fx) {
  memset(fx, 0, sizeof *fx);
  FILE *fp = fopen(path, "r");
  if (!fp) return 0;
  char line[512];
  int ok = fgets(line, sizeof line, fp) != NULL && word(fp, "samples") &&
           fscanf(fp, "%d", &fx->n) == 1 && word(fp, "genes") && fscanf(fp, "%d", &fx->g) == 1 &&
           word(fp, "mirnas") && fscanf(fp, "%d", &fx->m) == 1 && word(fp, "clusters") &&
           fscanf(fp, "%d", &fx->k) == 1 && word(fp, "de_fdr") &&
           fscanf(fp, "%lf", &fx->de_fdr) == 1 && word(fp, "de_lfc") &&
           fscanf(fp, "%lf", &fx->de_lfc) == 1 && word(fp, "network_r") &&
           fscanf(fp, "%lf", &fx->network_r) == 1 && fx->g <= MAX_IDS && fx->m <= MAX_IDS &&
           word(fp, "gene_ids");
  for (int j = 0; ok && j < fx->g; j++)
    ok = fscanf(fp, "%31s", fx->gene_ids[j]) == 1;
  ok = ok && word(fp, "mirna_ids");
  for (int j = 0; ok && j < fx->m; j++)
    ok = fscanf(fp, "%31s", fx->mirna_ids[j]) == 1;
  ok = ok && word(fp, "labels");
  if (!ok) {
    fclose(fp);
    return 0;
  }
  const int F = fx->g + fx->m;
  fx->labels = malloc(sizeof(int32_t) * (size_t)fx->n);
  fx->x = malloc(sizeof(float) * (size_t)(fx->n * F));
  for (int i = 0; ok && i < fx->n; i++)
    ok = fscanf(fp, "%d", &fx->labels[i]) == 1;
  ok = ok && word(fp, "x");
  for (int i = 0; ok && i < fx->n * F; i++) {
    double v;
    ok = fscanf(fp, "%lf", &v) == 1;
    fx->x[i] = (float)v;
  }
  ok = ok && word(fp, "interactions") && fscanf(fp, "%d", &fx->n_listed) == 1 &&
       fx->n_listed <= MAX_LISTED;
  for (int q = 0; ok && q < fx->n_listed; q++)
    ok = fscanf(fp, "%31s %31s", fx->listed[q][0], fx->listed[q][1]) == 2;
  static const char *const names[2] = {"edges_all", "edges_listed"};
  for (int w = 0; ok && w < 2; w++) {
    ok =
        word(fp, names[w]) && fscanf(fp, "%d", &fx->n_edges[w]) == 1 && fx->n_edges[w] <= MAX_EDGES;
    for (int c = 0; ok && c < 7; c++)
      ok = fscanf(fp, "%*s") == 0;
    for (int q = 0; ok && q < fx->n_edges[w]; q++) {
      Edge *e = &fx->edges[w][q];
      ok = fscanf(fp, "%31s %31s %lf %lf %lf %31s %31s", e->mirna, e->gene, &e->r, &e->p, &e->q,
                  e->cm, e->cg) == 7;
    }
  }
  fclose(fp);
  return ok;
}

/* The fixture as a cohort file and a clusters file (method "kmeans"). */
static void write_inputs(const Fixture *fx, const char *cohort, const char *clusters) {
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  OvqRange b = ovq_partition_block(fx->n, size, rank);
  const int F = fx->g + fx->m;
  OvqCohort c;
  ovq_cohort_alloc(&c, fx->n, b.start, b.count, fx->g, fx->m, 32, 16, 0);
  for (int j = 0; j < fx->g; j++)
    ovq_strings_set(&c.mrna_ids, j, fx->gene_ids[j]);
  for (int j = 0; j < fx->m; j++)
    ovq_strings_set(&c.mirna_ids, j, fx->mirna_ids[j]);
  for (int64_t q = 0; q < b.count; q++) {
    int64_t i = b.start + q;
    char s[16];
    snprintf(s, sizeof s, "S%04lld", (long long)i);
    ovq_strings_set(&c.sample_id, q, s);
    ovq_strings_set(&c.cancer, q, "BRCA");
    ovq_strings_set(&c.label, q, i % 3 ? "A" : "B");
    c.os_time[q] = 10.0 + (double)i;
    c.os_event[q] = (int8_t)(i % 2);
    for (int j = 0; j < fx->g; j++)
      c.mrna[q * fx->g + j] = fx->x[i * F + j];
    for (int j = 0; j < fx->m; j++)
      c.mirna[q * fx->m + j] = fx->x[i * F + fx->g + j];
  }
  CHECK(ovq_cohort_write(&c, cohort, "test", "", MPI_COMM_WORLD) == OVQ_OK);
  OvqResults r;
  CHECK(ovq_results_create(&r, clusters, "[cluster]\nmethods = kmeans\n", MPI_COMM_WORLD) ==
        OVQ_OK);
  ovq_results_write_samples(&r, &c);
  ovq_results_write_rows(&r, "/clusters/kmeans/labels", H5T_NATIVE_INT32, fx->labels + b.start,
                         fx->n, 0, b.start, b.count);
  CHECK(ovq_results_commit(&r) == OVQ_OK);
  ovq_cohort_destroy(&c);
}

static double rel_diff(double got, double ref) {
  if (isnan(got)) return INFINITY;
  double d = fabs(got - ref), s = fabs(ref);
  return s > 1e-300 ? d / s : d;
}

/* Compares /eval/network of `out` and its TSV with the expected edges. */
static void check_network(const char *out, const char *tsv, const Edge *ex, int n_ex,
                          const char *what) {
  OvqResults r;
  CHECK(ovq_results_open(&r, out, MPI_COMM_WORLD) == OVQ_OK);
  OvqStrings s[4];
  static const char *const scol[4] = {"mirna", "gene", "mirna_clusters", "gene_clusters"};
  static const char *const dcol[3] = {"r", "p", "q"};
  double *d[3] = {NULL, NULL, NULL};
  int64_t n = -1, nd;
  char name[64];
  for (int c = 0; c < 4; c++) {
    snprintf(name, sizeof name, "/eval/network/%s", scol[c]);
    CHECK(ovq_results_read_strings(&r, name, &s[c]) == OVQ_OK);
    CHECK_MSG(s[c].n == n_ex, "%s: %s has %lld rows, expected %d", what, name, (long long)s[c].n,
              n_ex);
  }
  for (int c = 0; c < 3; c++) {
    snprintf(name, sizeof name, "/eval/network/%s", dcol[c]);
    CHECK(ovq_results_read_array(&r, name, H5T_NATIVE_DOUBLE, (void **)&d[c], &nd) == OVQ_OK);
    n = nd;
  }
  ovq_results_close(&r);
  double worst[3] = {0, 0, 0};
  int names_ok = 1;
  for (int64_t q = 0; n == n_ex && s[0].n == n_ex && q < n; q++) {
    names_ok &= !strcmp(ovq_strings_at(&s[0], q), ex[q].mirna) &&
                !strcmp(ovq_strings_at(&s[1], q), ex[q].gene) &&
                !strcmp(ovq_strings_at(&s[2], q), ex[q].cm) &&
                !strcmp(ovq_strings_at(&s[3], q), ex[q].cg);
    double ref[3] = {ex[q].r, ex[q].p, ex[q].q};
    for (int c = 0; c < 3; c++)
      worst[c] = fmax(worst[c], rel_diff(d[c][q], ref[c]));
  }
  CHECK_MSG(n == n_ex && names_ok, "%s: edges or their clusters differ from SciPy's", what);
  for (int c = 0; c < 3; c++)
    CHECK_MSG(worst[c] <= 1e-8, "%s: %s differs from SciPy by %.3g (relative)", what, dcol[c],
              worst[c]);
  int rank;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank == 0) {
    printf("%s: %lld edges; largest relative difference r %.3g, p %.3g, q %.3g\n", what,
           (long long)n, worst[0], worst[1], worst[2]);
    FILE *f = fopen(tsv, "r");
    CHECK_MSG(f != NULL, "%s missing", tsv);
    int lines = 0, nan = 0;
    char line[512];
    while (f && fgets(line, sizeof line, f)) {
      lines++;
      nan += strstr(line, "nan") != NULL || strstr(line, "NaN") != NULL;
    }
    if (f) fclose(f);
    CHECK_MSG(lines == n_ex + 1 && !nan, "%s: %d lines (expected %d), %d with NaN", tsv, lines,
              n_ex + 1, nan);
  }
  for (int c = 0; c < 4; c++)
    ovq_strings_free(&s[c]);
  for (int c = 0; c < 3; c++)
    free(d[c]);
}

/* Rank 0 writes a text file; every rank waits for it. */
static void write_text(const char *path, const char *text) {
  int rank;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank == 0) {
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
      fputs(text, f);
      fclose(f);
    }
  }
  MPI_Barrier(MPI_COMM_WORLD);
}

static void set(OvqConfig *cfg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set(OvqConfig *cfg, const char *fmt, ...) {
  char buf[2 * OVQ_PATH_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  CHECK_MSG(ovq_config_set(cfg, buf, "test") == OVQ_OK, "%s", ovq_error_message());
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  ovq_log_init(MPI_COMM_WORLD);
  ovq_log_set_level(OVQ_LOG_WARN);
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (argc < 3) {
    if (rank == 0) fprintf(stderr, "usage: test_evaluate FIXTURE_DIR SCRATCH_DIR\n");
    MPI_Finalize();
    return 2;
  }
  char path[1024], dir[1024];
  snprintf(path, sizeof path, "%s/eval_network.txt", argv[1]);
  snprintf(dir, sizeof dir, "%s/test_evaluate_np%d", argv[2], size);
  Fixture fx;
  int ok = read_fixture(path, &fx);
  CHECK_MSG(ok, "cannot read %s", path);
  if (rank == 0) mkdir(dir, 0755);
  MPI_Barrier(MPI_COMM_WORLD);
  char cohort[1200], clusters[1200], out[1200], tsv[1200], inter[1200];
  snprintf(cohort, sizeof cohort, "%s/cohort.h5", dir);
  snprintf(clusters, sizeof clusters, "%s/clusters.h5", dir);
  if (ok) write_inputs(&fx, cohort, clusters);

  OvqConfig cfg;
  ovq_config_defaults(&cfg);
  set(&cfg, "cluster.methods=kmeans");
  set(&cfg, "eval.de_fdr=%.17g", fx.de_fdr);
  set(&cfg, "eval.de_lfc=%.17g", fx.de_lfc);
  set(&cfg, "eval.network_r=%.17g", fx.network_r);

  /* Every pair of DE features. */
  snprintf(out, sizeof out, "%s/all.h5", dir);
  snprintf(tsv, sizeof tsv, "%s/all_network.tsv", dir);
  OvqEvalInputs in = {.clusters = clusters, .cohort = cohort, .latent = NULL, .out = out};
  OvqStatus st = ok ? ovq_evaluate(&cfg, &in, MPI_COMM_WORLD) : OVQ_ERR;
  CHECK_MSG(st == OVQ_OK, "evaluation failed: %s", ovq_error_message());
  if (st == OVQ_OK) check_network(out, tsv, fx.edges[0], fx.n_edges[0], "all pairs");

  /* The listed pairs only. */
  char text[8192] = "mirna\tgene\n";
  for (int q = 0; q < fx.n_listed; q++)
    snprintf(text + strlen(text), sizeof text - strlen(text), "%s\t%s\n", fx.listed[q][0],
             fx.listed[q][1]);
  snprintf(inter, sizeof inter, "%s/interactions.tsv", dir);
  write_text(inter, text);
  set(&cfg, "eval.interactions=%s", inter);
  snprintf(out, sizeof out, "%s/listed.h5", dir);
  snprintf(tsv, sizeof tsv, "%s/listed_network.tsv", dir);
  st = ok ? ovq_evaluate(&cfg, &in, MPI_COMM_WORLD) : OVQ_ERR;
  CHECK_MSG(st == OVQ_OK, "evaluation with interactions failed: %s", ovq_error_message());
  if (st == OVQ_OK) check_network(out, tsv, fx.edges[1], fx.n_edges[1], "listed pairs");

  /* Bad interaction files: refused on every rank, naming file:line, no output. */
  static const char *const bad[2] = {"mirna\tgene\nhsa-mir-1\tG01\nhsa-mir-2\n",
                                     "mirna\tgene\nhsa-mir-1\tG01\n\thsa-mir-2\n"};
  for (int b = 0; b < 2 && ok; b++) {
    snprintf(inter, sizeof inter, "%s/bad%d.tsv", dir, b);
    write_text(inter, bad[b]);
    set(&cfg, "eval.interactions=%s", inter);
    snprintf(out, sizeof out, "%s/bad%d.h5", dir, b);
    st = ovq_evaluate(&cfg, &in, MPI_COMM_WORLD);
    char needle[1300];
    snprintf(needle, sizeof needle, "bad%d.tsv:3", b);
    CHECK_MSG(st == OVQ_ERR && strstr(ovq_error_message(), needle),
              "bad interactions %d: status %d, message '%s'", b, (int)st, ovq_error_message());
    if (rank == 0) {
      printf("bad interactions %d refused: %s\n", b, ovq_error_message());
      CHECK_MSG(access(out, F_OK) != 0, "%s written after an error", out);
    }
    ovq_error_clear();
  }
  free(fx.labels);
  free(fx.x);
  int rc = test_finish("test_evaluate");
  MPI_Finalize();
  return rc;
}
