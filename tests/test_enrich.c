/* Gene-set over-representation against R (fixtures from tools/gen_enrich_fixtures.R): the
 * hypergeometric upper tail against phyper(x - 1, m, n, k, lower.tail = FALSE) over a grid (1e-10
 * absolute and 1e-9 relative), and the whole analysis of a tiny GMT (unknown genes, repeats,
 * trailing tabs, duplicate-symbol features, a feature without '|') at two sets of size limits:
 * universe, selected, skipped and unknown counts exactly, p and BH q to 1e-10. Also GMT errors.
 * Local functions: run at 1 rank.
 * Usage: test_enrich FIXTURE_DIR BUILD_DIR */
#include <mpi.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ovq/enrich.h"
#include "ovq/error.h"

static void check_phyper(const char *dir) {
  char path[1024];
  snprintf(path, sizeof path, "%s/enrich_phyper.txt", dir);
  FILE *f = fopen(path, "r");
  CHECK_MSG(f != NULL, "cannot open %s", path);
  if (!f) return;
  char line[512];
  double worst_abs = 0, worst_rel = 0;
  int rows = 0;
  while (fgets(line, sizeof line, f)) {
    if (line[0] == '#') continue;
    long long x, m, n, k;
    double ref;
    if (sscanf(line, "%lld %lld %lld %lld %lf", &x, &m, &n, &k, &ref) != 5) continue;
    double got = ovq_hypergeom_upper(x, m, n, k);
    double d = fabs(got - ref), rel = ref > 0 ? d / ref : (got == 0 ? 0 : INFINITY);
    if (d > worst_abs) worst_abs = d;
    if (rel > worst_rel) worst_rel = rel;
    CHECK_MSG(d <= 1e-10 && rel <= 1e-9, "P(X >= %lld; %lld, %lld, %lld) = %.17g vs phyper %.17g",
              x, m, n, k, got, ref);
    rows++;
  }
  fclose(f);
  CHECK(rows > 200);
  printf("phyper grid: %d values, largest absolute difference %.3g, relative %.3g\n", rows,
         worst_abs, worst_rel);
  CHECK(isnan(ovq_hypergeom_upper(1, 5, 5, 11)));
  CHECK(ovq_hypergeom_upper(0, 5, 5, 3) == 1.0);
  CHECK(ovq_hypergeom_upper(4, 5, 5, 3) == 0.0);
}

static void check_ora(const char *dir) {
  char path[1024];
  snprintf(path, sizeof path, "%s/enrich_sets.gmt", dir);
  OvqGmt g;
  OvqStatus st = ovq_gmt_read(path, &g);
  CHECK_MSG(st == OVQ_OK, "%s", ovq_error_message());
  if (st != OVQ_OK) return;
  CHECK(g.n_sets == 14);
  CHECK(strcmp(g.name[0], "SET_ENRICHED") == 0);
  CHECK(strcmp(g.description[3], "two genes: below min") == 0);
  CHECK(g.first[4] - g.first[3] == 2);
  CHECK(g.first[3] - g.first[2] == 22); /* repeats kept, trailing empty fields dropped */

  /* Universe file: "ID 0|1" per line. */
  snprintf(path, sizeof path, "%s/enrich_universe.txt", dir);
  FILE *f = fopen(path, "r");
  CHECK_MSG(f != NULL, "cannot open %s", path);
  if (!f) return;
  char **ids = NULL;
  unsigned char *sel = NULL;
  int64_t n = 0;
  char id[256];
  int s;
  while (fscanf(f, "%255s %d", id, &s) == 2) {
    ids = realloc(ids, sizeof(char *) * (size_t)(n + 1));
    sel = realloc(sel, (size_t)(n + 1));
    ids[n] = strdup(id);
    sel[n++] = (unsigned char)s;
  }
  fclose(f);

  snprintf(path, sizeof path, "%s/enrich_expected.txt", dir);
  f = fopen(path, "r");
  CHECK_MSG(f != NULL, "cannot open %s", path);
  if (!f) return;
  double worst = 0;
  long long lo, hi, nu, nk, nt, nskip, nunk;
  while (
      fscanf(f,
             " limits %lld %lld universe %lld selected %lld tested %lld skipped %lld unknown %lld",
             &lo, &hi, &nu, &nk, &nt, &nskip, &nunk) == 7) {
    OvqEnrichOptions opt = {.min_size = lo, .max_size = hi};
    OvqEnrich e;
    st = ovq_enrich_ora(&g, (const char *const *)ids, n, sel, &opt, &e);
    CHECK(st == OVQ_OK);
    CHECK(e.universe == nu && e.selected == nk && e.n_tested == nt && e.n_skipped == nskip);
    CHECK_MSG(e.n_unknown_genes == nunk, "unknown genes %lld vs %lld", (long long)e.n_unknown_genes,
              nunk);
    for (int64_t t = 0; t < nt; t++) {
      char name[256];
      long long size, overlap;
      double p, q;
      if (fscanf(f, "%255s %lld %lld %lf %lf", name, &size, &overlap, &p, &q) != 5) {
        CHECK_MSG(0, "short expected file");
        break;
      }
      if (t >= e.n_tested) continue;
      CHECK_MSG(strcmp(g.name[e.set[t]], name) == 0, "set %s vs %s", g.name[e.set[t]], name);
      CHECK(e.size[t] == size && e.overlap[t] == overlap);
      CHECK_NEAR(e.p[t], p, 1e-10);
      CHECK_NEAR(e.q[t], q, 1e-10);
      if (fabs(e.p[t] - p) > worst) worst = fabs(e.p[t] - p);
      if (fabs(e.q[t] - q) > worst) worst = fabs(e.q[t] - q);
    }
    ovq_enrich_free(&e);
    ovq_enrich_free(&e);
  }
  fclose(f);
  printf("enrichment of enrich_sets.gmt: largest difference of p and q to R %.3g\n", worst);

  OvqEnrich e;
  OvqEnrichOptions bad = {.min_size = 5, .max_size = 4};
  CHECK(ovq_enrich_ora(&g, (const char *const *)ids, n, sel, &bad, &e) == OVQ_ERR);
  ovq_error_clear();
  /* Defaults are 10..500. */
  CHECK(ovq_enrich_ora(&g, (const char *const *)ids, n, sel, NULL, &e) == OVQ_OK);
  CHECK(e.n_tested == 11);
  ovq_enrich_free(&e);
  for (int64_t i = 0; i < n; i++)
    free(ids[i]);
  free(ids);
  free(sel);
  ovq_gmt_free(&g);
  ovq_gmt_free(&g);
}

/* Writes text to dir/name and returns the status of reading it as a GMT. */
static OvqStatus read_text(const char *dir, const char *name, const char *text) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  if (!f) return OVQ_OK; /* reported by the caller's CHECK */
  fputs(text, f);
  fclose(f);
  OvqGmt g;
  OvqStatus st = ovq_gmt_read(path, &g);
  ovq_gmt_free(&g);
  return st;
}

static void check_gmt_errors(const char *build) {
  CHECK(read_text(build, "enrich_notab.gmt", "SET_A\tdesc\tG1\tG2\nSET_B G1 G2\n") == OVQ_ERR);
  CHECK_MSG(strstr(ovq_error_message(), "enrich_notab.gmt:2:") != NULL, "%s", ovq_error_message());
  CHECK(read_text(build, "enrich_noname.gmt", "\tdesc\tG1\n") == OVQ_ERR);
  CHECK(read_text(build, "enrich_empty.gmt", "# only a comment\n\n") == OVQ_ERR);
  CHECK(read_text(build, "enrich_crlf.gmt", "SET_A\tdesc\tG1\tG2\r\n") == OVQ_OK);
  OvqGmt g;
  CHECK(ovq_gmt_read("/nonexistent/x.gmt", &g) == OVQ_ERR);
  CHECK(g.n_sets == 0 && g.name == NULL);
  ovq_error_clear();
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  if (argc < 3) {
    fprintf(stderr, "usage: test_enrich FIXTURE_DIR BUILD_DIR\n");
    MPI_Finalize();
    return 2;
  }
  check_phyper(argv[1]);
  check_ora(argv[1]);
  check_gmt_errors(argv[2]);
  int rc = test_finish("test_enrich");
  MPI_Finalize();
  return rc;
}
