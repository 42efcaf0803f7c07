/* Gene-set over-representation (see include/ovq/enrich.h): the GMT reader, the universe of
 * tested symbols (sorted, searched by bisection), the hypergeometric upper tail and BH. */
#include "ovq/enrich.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ovq/padjust.h"
#include "ovq/tsv.h"

/* ---- GMT ----------------------------------------------------------------------------------- */

typedef struct Buf {
  char *text;
  int64_t len, cap;
} Buf;

/* Appends s[0..n) and a NUL; returns the offset of the copy. */
static int64_t buf_add(Buf *b, const char *s, size_t n) {
  if (b->len + (int64_t)n + 1 > b->cap) {
    while (b->len + (int64_t)n + 1 > b->cap)
      b->cap = b->cap ? 2 * b->cap : 4096;
    b->text = OVQ_REALLOC(b->text, (size_t)b->cap);
  }
  int64_t at = b->len;
  memcpy(b->text + at, s, n);
  b->text[at + (int64_t)n] = '\0';
  b->len += (int64_t)n + 1;
  return at;
}

/* Growing array of offsets. */
typedef struct Offs {
  int64_t *v;
  int64_t n, cap;
} Offs;

static void offs_push(Offs *o, int64_t x) {
  if (o->n == o->cap) {
    o->cap = o->cap ? 2 * o->cap : 256;
    o->v = OVQ_REALLOC(o->v, sizeof(int64_t) * (size_t)o->cap);
  }
  o->v[o->n++] = x;
}

OvqStatus ovq_gmt_read(const char *path, OvqGmt *g) {
  memset(g, 0, sizeof *g);
  OvqLineReader *r;
  if (ovq_lines_open(path, &r) != OVQ_OK) return OVQ_ERR;
  Buf b = {0};
  Offs name = {0}, desc = {0}, first = {0}, gene = {0};
  OvqStatus st = OVQ_OK;
  char *line;
  size_t len;
  int got;
  while ((got = ovq_lines_next(r, &line, &len)) == 1) {
    if (len == 0 || line[0] == '#') continue;
    char *tab = memchr(line, '\t', len);
    if (!tab) {
      st = ovq_error("%s:%lld: expected name<TAB>description<TAB>genes (no tab in the line)", path,
                     (long long)ovq_lines_number(r));
      break;
    }
    if (tab == line) {
      st = ovq_error("%s:%lld: empty gene-set name", path, (long long)ovq_lines_number(r));
      break;
    }
    if (memchr(line, '\0', len)) { /* it would cut a name or gene short, or make it empty */
      st = ovq_error("%s:%lld: NUL byte in the line (not a text file?)", path,
                     (long long)ovq_lines_number(r));
      break;
    }
    offs_push(&name, buf_add(&b, line, (size_t)(tab - line)));
    offs_push(&first, gene.n);
    const char *end = line + len, *p = tab + 1;
    const char *q = memchr(p, '\t', (size_t)(end - p));
    if (!q) q = end;
    offs_push(&desc, buf_add(&b, p, (size_t)(q - p)));
    while (q < end) {
      p = q + 1;
      q = memchr(p, '\t', (size_t)(end - p));
      if (!q) q = end;
      if (q > p) offs_push(&gene, buf_add(&b, p, (size_t)(q - p)));
    }
  }
  if (got < 0) st = OVQ_ERR; /* message set by the reader */
  if (st == OVQ_OK && name.n == 0) st = ovq_error("%s: no gene sets in the file", path);
  ovq_lines_close(r);
  if (st != OVQ_OK) {
    free(b.text);
    free(name.v);
    free(desc.v);
    free(first.v);
    free(gene.v);
    return st;
  }
  offs_push(&first, gene.n);
  g->n_sets = name.n;
  g->text = b.text;
  g->first = first.v;
  g->name = OVQ_MALLOC(sizeof(char *) * (size_t)name.n);
  g->description = OVQ_MALLOC(sizeof(char *) * (size_t)name.n);
  g->gene = OVQ_MALLOC(sizeof(char *) * (size_t)(gene.n + 1));
  for (int64_t s = 0; s < name.n; s++) {
    g->name[s] = b.text + name.v[s];
    g->description[s] = b.text + desc.v[s];
  }
  for (int64_t i = 0; i < gene.n; i++)
    g->gene[i] = b.text + gene.v[i];
  free(name.v);
  free(desc.v);
  free(gene.v);
  return OVQ_OK;
}

void ovq_gmt_free(OvqGmt *g) {
  if (!g) return;
  free(g->name);
  free(g->description);
  free(g->first);
  free(g->gene);
  free(g->text);
  memset(g, 0, sizeof *g);
}

/* ---- Hypergeometric upper tail ------------------------------------------------------------- */

/* log C(a, b) in long double: lgamma of a 20000-gene universe is ~2e5, so double's ulp there
 * would cost ~1e-11 of relative accuracy in the probability; x87's 64-bit mantissa keeps it at
 * the level of the final rounding. */
static long double lchoose(int64_t a, int64_t b) {
  return lgammal((long double)a + 1.0L) - lgammal((long double)b + 1.0L) -
         lgammal((long double)(a - b) + 1.0L);
}

/* log P(X = i) */
static double lpmf(int64_t i, int64_t m, int64_t n, int64_t k) {
  return (double)(lchoose(m, i) + lchoose(n, k - i) - lchoose(m + n, k));
}

double ovq_hypergeom_upper(int64_t x, int64_t m, int64_t n, int64_t k) {
  if (m < 0 || n < 0 || k < 0 || k > m + n) return NAN;
  int64_t lo = k - n > 0 ? k - n : 0, hi = k < m ? k : m;
  if (x <= lo) return 1.0;
  if (x > hi) return 0.0;
  /* The pmf rises up to the mode and falls after it: sum the tail that does not contain the
   * mode, starting from its largest term (so terms only shrink and nothing overflows), relative
   * to that term via the ratio of consecutive probabilities. */
  double mode = floor(((double)k + 1.0) * ((double)m + 1.0) / ((double)(m + n) + 2.0));
  double dm = (double)m, dn = (double)n, dk = (double)k;
  double term = 1.0, sum = 1.0;
  if ((double)x > mode) {
    for (int64_t i = x; i < hi; i++) {
      double di = (double)i;
      term *= (dm - di) * (dk - di) / ((di + 1.0) * (dn - dk + di + 1.0));
      sum += term;
      if (term < sum * 1e-17) break;
    }
    return exp(lpmf(x, m, n, k)) * sum;
  }
  for (int64_t i = x - 1; i > lo; i--) {
    double di = (double)i;
    term *= di * (dn - dk + di) / ((dm - di + 1.0) * (dk - di + 1.0));
    sum += term;
    if (term < sum * 1e-17) break;
  }
  double lower = exp(lpmf(x - 1, m, n, k)) * sum;
  return lower >= 1.0 ? 0.0 : 1.0 - lower;
}

/* ---- Over-representation ------------------------------------------------------------------- */

typedef struct Sym {
  char *s; /* owned */
  int selected;
} Sym;

static int cmp_sym(const void *a, const void *b) {
  return strcmp(((const Sym *)a)->s, ((const Sym *)b)->s);
}

OvqStatus ovq_enrich_ora(const OvqGmt *g, const char *const *features, int64_t n_features,
                         const unsigned char *selected, const OvqEnrichOptions *opt,
                         OvqEnrich *out) {
  memset(out, 0, sizeof *out);
  OvqEnrichOptions o = opt ? *opt : OVQ_ENRICH_DEFAULTS;
  if (o.min_size < 1 || o.max_size < o.min_size)
    return ovq_error("enrichment: set size limits %lld..%lld: need 1 <= min <= max",
                     (long long)o.min_size, (long long)o.max_size);

  /* Universe: distinct symbols (the part of each id before '|'), selected if any feature is. */
  Sym *sym = OVQ_MALLOC(sizeof(Sym) * (size_t)(n_features + 1));
  int64_t ns = 0;
  for (int64_t i = 0; i < n_features; i++) {
    const char *id = features[i];
    if (!id) continue;
    size_t n = strcspn(id, "|");
    if (n == 0) continue;
    char *s = OVQ_MALLOC(n + 1);
    memcpy(s, id, n);
    s[n] = '\0';
    sym[ns++] = (Sym){s, selected[i] != 0};
  }
  qsort(sym, (size_t)ns, sizeof *sym, cmp_sym);
  int64_t nu = 0;
  for (int64_t i = 0; i < ns; i++) {
    if (nu > 0 && strcmp(sym[nu - 1].s, sym[i].s) == 0) {
      sym[nu - 1].selected |= sym[i].selected;
      free(sym[i].s);
    } else {
      sym[nu++] = sym[i];
    }
  }
  int64_t big_k = 0;
  for (int64_t i = 0; i < nu; i++)
    big_k += sym[i].selected;
  out->universe = nu;
  out->selected = big_k;

  /* stamp[u] = last set that counted symbol u: a gene listed twice in a set counts once. */
  int64_t *stamp = OVQ_MALLOC(sizeof(int64_t) * (size_t)(nu + 1));
  for (int64_t u = 0; u < nu; u++)
    stamp[u] = -1;
  const int64_t S = g->n_sets;
  out->set = OVQ_MALLOC(sizeof(int64_t) * (size_t)(3 * S + 1));
  out->size = out->set + S;
  out->overlap = out->size + S;
  out->expected = OVQ_MALLOC(sizeof(double) * (size_t)(3 * S + 1));
  out->p = out->expected + S;
  out->q = out->p + S;
  for (int64_t s = 0; s < S; s++) {
    int64_t m = 0, x = 0;
    for (int64_t i = g->first[s]; i < g->first[s + 1]; i++) {
      Sym key = {g->gene[i], 0};
      const Sym *hit = bsearch(&key, sym, (size_t)nu, sizeof *sym, cmp_sym);
      if (!hit) {
        out->n_unknown_genes++;
        continue;
      }
      int64_t u = hit - sym;
      if (stamp[u] == s) continue;
      stamp[u] = s;
      m++;
      x += hit->selected;
    }
    if (m < o.min_size || m > o.max_size) {
      out->n_skipped++;
      continue;
    }
    int64_t t = out->n_tested++;
    out->set[t] = s;
    out->size[t] = m;
    out->overlap[t] = x;
    out->expected[t] = (double)m * (double)big_k / (double)nu;
    out->p[t] = ovq_hypergeom_upper(x, m, nu - m, big_k);
  }
  ovq_bh_adjust(out->p, out->n_tested, out->q);
  free(stamp);
  for (int64_t i = 0; i < nu; i++)
    free(sym[i].s);
  free(sym);
  return OVQ_OK;
}

void ovq_enrich_free(OvqEnrich *e) {
  if (!e) return;
  free(e->set);
  free(e->expected);
  memset(e, 0, sizeof *e);
}
