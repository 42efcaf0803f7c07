/* libFuzzer target of the GMT gene-set reader and the over-representation test
 * (src/stats/enrich.c, with the line reader of src/io/tsv.c). The input bytes are a GMT file (an
 * in-memory file; gzip when they start with its magic bytes) read by ovq_gmt_read.
 * Invariants:
 *   - OVQ_ERR comes with a non-empty message and a zeroed OvqGmt, and (plain text) only for a
 *     file that breaks the documented rules: a set line without a tab or with an empty name,
 *     no set at all, or a NUL byte in a set line;
 *   - on OVQ_OK, for plain text, the sets are exactly those of a reference split of the lines
 *     (skip empty and '#' lines; name = text before the first tab, non-empty; description = the
 *     next field; genes = the non-empty fields after it), first[] runs from 0 to the gene count;
 *   - ovq_enrich_ora on the sets, with a universe made from their genes (some as "SYMBOL|id",
 *     every third selected), counts every set as tested or skipped and every unknown gene, and
 *     gives 0 <= overlap <= size <= universe, p and q in [0, 1], q >= p.
 * Any invariant broken aborts (a crash for libFuzzer), as do the sanitizers' findings.
 * Built and run by tools/fuzz.sh gmt. */
#define _GNU_SOURCE /* memfd_create */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz_util.h"
#include "ovq/enrich.h"
#include "tsv_parse.h"


/* tsv.c's matrix reader stores ids with these (src/io/cohort.c, which needs HDF5 files); it is
 * not used here. */
void ovq_strings_alloc(OvqStrings *s, int64_t n, int width) {
  abort();
}
void ovq_strings_set(OvqStrings *s, int64_t i, const char *str) {
  abort();
}
void ovq_strings_free(OvqStrings *s) {
  abort();
}

static int field_eq(const char *s, const char *p, size_t n) {
  return strlen(s) == n && memcmp(s, p, n) == 0;
}

/* Whether plain GMT text is valid by the documented rules (each set line has a non-empty name
 * before a tab; at least one set), and has no NUL byte in a set line (an error too). */
static int reference_valid(const uint8_t *data, size_t size) {
  const char *buf = (const char *)data, *line;
  size_t pos = ovq_tsv_bom(buf, size), n;
  int64_t sets = 0;
  while (ovq_tsv_next_line(buf, size, &pos, &line, &n)) {
    if (n == 0 || line[0] == '#') continue;
    const char *tab = memchr(line, '\t', n);
    if (!tab || tab == line || memchr(line, '\0', n)) return 0;
    sets++;
  }
  return sets > 0;
}

/* The sets of plain GMT text by the documented rules, compared with what the reader made. */
static void check_reference(const OvqGmt *g, const uint8_t *data, size_t size) {
  const char *buf = (const char *)data, *line;
  size_t pos = ovq_tsv_bom(buf, size), n;
  int64_t s = 0, k = 0;
  while (ovq_tsv_next_line(buf, size, &pos, &line, &n)) {
    if (n == 0 || line[0] == '#') continue;
    const char *e = line + n, *tab = memchr(line, '\t', n);
    REQUIRE(tab && tab > line && s < g->n_sets);
    REQUIRE(field_eq(g->name[s], line, (size_t)(tab - line)));
    REQUIRE(g->first[s] == k);
    const char *p = tab + 1, *q = memchr(p, '\t', (size_t)(e - p));
    if (!q) q = e;
    REQUIRE(field_eq(g->description[s], p, (size_t)(q - p)));
    while (q < e) {
      p = q + 1;
      q = memchr(p, '\t', (size_t)(e - p));
      if (!q) q = e;
      if (q == p) continue;
      REQUIRE(k < g->first[g->n_sets] && field_eq(g->gene[k], p, (size_t)(q - p)));
      k++;
    }
    s++;
  }
  REQUIRE(s == g->n_sets && k == g->first[g->n_sets]);
}

static void check_ora(const OvqGmt *g) {
  int64_t n_genes = g->first[g->n_sets];
  if (n_genes > 20000) return;
  /* Universe: every gene of the sets, every other one written as SYMBOL|<index>; plus one id
   * that no set names and one empty id (left out). */
  int64_t nf = n_genes + 2;
  char **feat = malloc(sizeof(char *) * (size_t)nf);
  unsigned char *sel = malloc((size_t)nf);
  for (int64_t i = 0; i < n_genes; i++) {
    size_t len = strlen(g->gene[i]) + 32;
    feat[i] = malloc(len);
    if (i % 2)
      snprintf(feat[i], len, "%s|%lld", g->gene[i], (long long)i);
    else
      snprintf(feat[i], len, "%s", g->gene[i]);
    sel[i] = i % 3 == 0;
  }
  feat[n_genes] = strdup("\x01not-a-gene");
  sel[n_genes] = 1;
  feat[n_genes + 1] = strdup("");
  sel[n_genes + 1] = 1;
  OvqEnrichOptions opt = {.min_size = 1 + (int64_t)(n_genes % 3), .max_size = 1 + n_genes % 3 + n_genes / 2};
  OvqEnrich e;
  REQUIRE(ovq_enrich_ora(g, (const char *const *)feat, nf, sel, &opt, &e) == OVQ_OK);
  REQUIRE(e.n_tested + e.n_skipped == g->n_sets);
  REQUIRE(e.universe >= 0 && e.universe <= n_genes + 1 && e.selected <= e.universe);
  REQUIRE(e.n_unknown_genes >= 0 && e.n_unknown_genes <= n_genes);
  for (int64_t t = 0; t < e.n_tested; t++) {
    REQUIRE(e.set[t] >= 0 && e.set[t] < g->n_sets && (t == 0 || e.set[t] > e.set[t - 1]));
    REQUIRE(e.size[t] >= opt.min_size && e.size[t] <= opt.max_size && e.size[t] <= e.universe);
    REQUIRE(e.overlap[t] >= 0 && e.overlap[t] <= e.size[t] && e.overlap[t] <= e.selected);
    REQUIRE(e.p[t] >= 0 && e.p[t] <= 1 && e.q[t] >= 0 && e.q[t] <= 1);
    REQUIRE(e.q[t] >= e.p[t] * (1 - 1e-12));
    REQUIRE(isfinite(e.expected[t]) && e.expected[t] >= 0);
  }
  ovq_enrich_free(&e);
  /* Bad size limits are an error with a message. */
  opt.min_size = 0;
  ovq_error_clear();
  REQUIRE(ovq_enrich_ora(g, (const char *const *)feat, nf, sel, &opt, &e) == OVQ_ERR);
  REQUIRE(ovq_error_message()[0] && e.set == NULL && e.n_tested == 0);
  for (int64_t i = 0; i < nf; i++) free(feat[i]);
  free(feat);
  free(sel);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = fuzz_bytes_as_file(data, size);
  int gz = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;

  OvqGmt g;
  ovq_error_clear();
  if (ovq_gmt_read(path, &g) != OVQ_OK) {
    REQUIRE(ovq_error_message()[0] != '\0');
    REQUIRE(gz || !reference_valid(data, size));
    REQUIRE(g.n_sets == 0 && g.name == NULL && g.gene == NULL && g.text == NULL);
    ovq_gmt_free(&g);
    return 0;
  }
  REQUIRE(g.n_sets >= 1 && g.first[0] == 0);
  for (int64_t s = 0; s < g.n_sets; s++) {
    REQUIRE(g.first[s + 1] >= g.first[s]);
    REQUIRE(g.name[s][0] != '\0' && !strchr(g.name[s], '\t') && !strchr(g.description[s], '\t'));
  }
  for (int64_t i = 0; i < g.first[g.n_sets]; i++)
    REQUIRE(g.gene[i][0] != '\0' && !strchr(g.gene[i], '\t') && !strchr(g.gene[i], '\n'));
  if (!gz) check_reference(&g, data, size);
  check_ora(&g);
  ovq_gmt_free(&g);
  ovq_gmt_free(&g); /* idempotent */
  return 0;
}
