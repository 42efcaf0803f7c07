/* SNF at the rank count it is run with (registered at 1, 2 and 4 ranks):
 * 1. The fused network matches tools/snf_reference.py (a line-by-line NumPy transcription of
 *    SNFtool 2.3) to 1e-8, the eigenvalues of SNFtool's NL to 1e-8, and the labels of SNFtool's
 *    spectralClustering exactly, for two views, three views and one view.
 * 2. The labels on the world communicator equal rank 0's labels alone with all the data, and
 *    the fused network equals rank 0's alone to 1e-12 (the N x N matrices are held by rows;
 *    only the distance products' rounding may depend on the rank count).
 * 3. The same with an uneven row split: rank 0 holds no rows, the others the rest.
 * 4. User errors (bad K, no views, NaN data) are reported on every rank.
 * Usage: test_snf <fixtures dir> */
#include <mpi.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ovq/error.h"
#include "ovq/partition.h"
#include "ovq/snf.h"

enum { MAX_VIEWS = 4 };

typedef struct Case {
  char name[64];
  int64_t n;
  int nv, K, T, C;
  double alpha;
  int64_t d[MAX_VIEWS];
  float *x[MAX_VIEWS];
  double *fused, *ev;
  int32_t *labels;
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
    if (fscanf(f, "%63s n %lld views %d K %d alpha %lf T %d clusters %d", c->name, &n, &c->nv,
               &c->K, &c->alpha, &c->T, &c->C) != 7 ||
        c->nv < 1 || c->nv > MAX_VIEWS)
      return -1;
    c->n = n;
    int ok = 1;
    for (int v = 0; ok && v < c->nv; v++) {
      ok = word(f, "view") && fscanf(f, "%lld", &d) == 1;
      c->d[v] = d;
      c->x[v] = malloc(sizeof(float) * (size_t)(n * d));
      for (int64_t i = 0; ok && i < n * d; i++)
        ok = fscanf(f, "%f", &c->x[v][i]) == 1;
    }
    c->fused = malloc(sizeof(double) * (size_t)(n * n));
    c->ev = malloc(sizeof(double) * (size_t)(c->C + 1));
    c->labels = malloc(sizeof(int32_t) * (size_t)n);
    ok = ok && word(f, "fused");
    for (int64_t i = 0; ok && i < n * n; i++)
      ok = fscanf(f, "%lf", &c->fused[i]) == 1;
    ok = ok && word(f, "eigenvalues");
    for (int i = 0; ok && i <= c->C; i++)
      ok = fscanf(f, "%lf", &c->ev[i]) == 1;
    ok = ok && word(f, "labels");
    for (int64_t i = 0; ok && i < n; i++)
      ok = fscanf(f, "%d", &c->labels[i]) == 1;
    return ok && word(f, "end") ? 1 : -1;
  }
  return 0;
}

static void params_of(const Case *c, OvqSnfParams *p) {
  ovq_snf_defaults(p);
  p->K = c->K;
  p->alpha = c->alpha;
  p->T = c->T;
  p->n_clusters = c->C;
  p->keep_fused = 1;
}

static void views_of(const Case *c, int64_t start, OvqSnfView *v) {
  for (int i = 0; i < c->nv; i++) {
    v[i].x = c->x[i] + start * c->d[i];
    v[i].d = c->d[i];
  }
}

/* This rank's rows: the block partition, or (uneven) none on rank 0 and blocks of the rest. */
static OvqRange rows_of(int64_t n, int uneven) {
  if (!uneven || g_size == 1) return ovq_partition_block(n, g_size, g_rank);
  OvqRange b = {0, 0};
  if (g_rank > 0) {
    b = ovq_partition_block(n, g_size - 1, g_rank - 1);
  }
  return b;
}

static void check_case(const Case *c, int uneven) {
  OvqRange b = rows_of(c->n, uneven);
  OvqSnfParams p;
  params_of(c, &p);
  OvqSnfView v[MAX_VIEWS];
  views_of(c, b.start, v);
  OvqSnfResult r;
  OvqStatus st = ovq_snf_fit(&p, v, c->nv, b.count, MPI_COMM_WORLD, &r);
  CHECK_MSG(st == OVQ_OK, "%s: %s", c->name, ovq_error_message());
  if (st != OVQ_OK) return;
  double dw = 0.0, de = 0.0;
  for (int64_t i = 0; i < b.count * c->n; i++)
    dw = fmax(dw, fabs(r.fused[i] - c->fused[b.start * c->n + i]));
  MPI_Allreduce(MPI_IN_PLACE, &dw, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  CHECK_MSG(dw <= 1e-8, "%s: fused matrix differs from the reference by %.3g", c->name, dw);
  for (int i = 0; i <= c->C; i++)
    de = fmax(de, fabs(r.eigenvalues[i] - c->ev[i]));
  CHECK_MSG(de <= 1e-8, "%s: eigenvalues differ by %.3g", c->name, de);
  int wrong = 0;
  for (int64_t i = 0; i < b.count; i++)
    wrong += r.labels[i] != c->labels[b.start + i];
  MPI_Allreduce(MPI_IN_PLACE, &wrong, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  CHECK_MSG(wrong == 0, "%s: %d labels differ from the reference", c->name, wrong);
  int32_t *alone = malloc(sizeof(int32_t) * (size_t)c->n);
  double *alone_w = malloc(sizeof(double) * (size_t)(c->n * c->n));
  if (g_rank == 0) {
    OvqSnfResult r0;
    OvqSnfView v0[MAX_VIEWS];
    views_of(c, 0, v0);
    CHECK(ovq_snf_fit(&p, v0, c->nv, c->n, MPI_COMM_SELF, &r0) == OVQ_OK);
    memcpy(alone, r0.labels, sizeof(int32_t) * (size_t)c->n);
    memcpy(alone_w, r0.fused, sizeof(double) * (size_t)(c->n * c->n));
    ovq_snf_result_free(&r0);
  }
  MPI_Bcast(alone, (int)c->n, MPI_INT32_T, 0, MPI_COMM_WORLD);
  MPI_Bcast(alone_w, (int)(c->n * c->n), MPI_DOUBLE, 0, MPI_COMM_WORLD);
  int differ = 0;
  double dw1 = 0.0;
  for (int64_t i = 0; i < b.count; i++)
    differ += r.labels[i] != alone[b.start + i];
  for (int64_t i = 0; i < b.count * c->n; i++)
    dw1 = fmax(dw1, fabs(r.fused[i] - alone_w[b.start * c->n + i]));
  MPI_Allreduce(MPI_IN_PLACE, &differ, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  MPI_Allreduce(MPI_IN_PLACE, &dw1, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  CHECK_MSG(differ == 0, "%s: %d labels differ from the 1-rank run", c->name, differ);
  CHECK_MSG(dw1 <= 1e-12, "%s: fused matrix differs from the 1-rank run by %.3g", c->name, dw1);
  if (g_rank == 0)
    printf("  %-12s views=%d%s: fused max |diff| %.2e (1 rank: %.2e), eigenvalues %.2e, eigengap "
           "%.4f, %d labels differ from the reference, %d from 1 rank\n",
           c->name, c->nv, uneven ? " (rank 0 empty)" : "", dw, dw1, de, r.eigengap, wrong, differ);
  free(alone);
  free(alone_w);
  ovq_snf_result_free(&r);
}

static void check_errors(const Case *c) {
  OvqRange b = ovq_partition_block(c->n, g_size, g_rank);
  OvqSnfParams p;
  OvqSnfResult r;
  OvqSnfView v[MAX_VIEWS];
  views_of(c, b.start, v);
  params_of(c, &p);
  p.K = (int)c->n;
  CHECK(ovq_snf_fit(&p, v, c->nv, b.count, MPI_COMM_WORLD, &r) == OVQ_ERR);
  CHECK(r.labels == NULL && r.fused == NULL);
  params_of(c, &p);
  CHECK(ovq_snf_fit(&p, v, 0, b.count, MPI_COMM_WORLD, &r) == OVQ_ERR);
  float *bad = malloc(sizeof(float) * (size_t)(c->n * c->d[1]));
  memcpy(bad, c->x[1], sizeof(float) * (size_t)(c->n * c->d[1]));
  bad[(c->n - 1) * c->d[1]] = NAN;
  v[1].x = bad + b.start * c->d[1];
  CHECK(ovq_snf_fit(&p, v, c->nv, b.count, MPI_COMM_WORLD, &r) == OVQ_ERR);
  if (g_rank == 0) printf("  user errors: %s\n", ovq_error_message());
  free(bad);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_size);
  ovq_log_init(MPI_COMM_WORLD);
  char path[4096];
  snprintf(path, sizeof(path), "%s/snf_cases.txt", argc > 1 ? argv[1] : "tests/fixtures");
  FILE *f = fopen(path, "r");
  CHECK_MSG(f != NULL, "cannot open %s", path);
  Case cases[4];
  memset(cases, 0, sizeof(cases));
  int nc = 0;
  while (f && nc < 4 && read_case(f, &cases[nc]) == 1)
    nc++;
  if (f) fclose(f);
  CHECK_MSG(nc == 3, "read %d cases from %s", nc, path);
  for (int i = 0; i < nc; i++)
    check_case(&cases[i], 0);
  if (nc > 0) check_case(&cases[0], 1);
  if (nc > 0) check_errors(&cases[0]);
  for (int i = 0; i < nc; i++) {
    for (int v = 0; v < cases[i].nv; v++)
      free(cases[i].x[v]);
    free(cases[i].fused);
    free(cases[i].ev);
    free(cases[i].labels);
  }
  int code = test_finish("test_snf");
  MPI_Finalize();
  return code;
}
