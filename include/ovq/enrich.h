/* Gene-set over-representation analysis: a GMT reader and the one-sided hypergeometric test of
 * each set against the tested features, with Benjamini-Hochberg adjustment over the sets.
 *
 * GMT (MSigDB, KEGG, or tools/export_go_gmt.R for GO BP/MF/CC): one set per line,
 *   name<TAB>description<TAB>gene<TAB>gene...
 * Genes are symbols. Empty lines and lines starting with '#' are skipped; empty fields (trailing
 * tabs) are ignored.
 *
 * The universe is the tested features: a feature id "TP53|7157" (Xena / TCGA style) counts as the
 * symbol before '|', an id without '|' as itself; symbols are counted once (a symbol is selected
 * if any of its features is). Each set is restricted to the universe (genes outside it are
 * ignored and counted; a gene listed twice counts once), then tested if its size m lies within
 * [min_size, max_size]. With N universe symbols of which K are selected and x selected in the set,
 *   p = P(X >= x), X ~ Hypergeometric(m, N - m, K) = R's phyper(x - 1, m, N - m, K,
 *       lower.tail = FALSE)
 * and q = BH over the tested sets (R's p.adjust "BH"). All functions are Local: the inputs are
 * small and every rank may run them (or only rank 0). */
#ifndef OVQ_ENRICH_H
#define OVQ_ENRICH_H

#include <stdint.h>

#include "ovq/error.h"

typedef struct OvqGmt {
  int64_t n_sets;
  char **name;        /* [n_sets] */
  char **description; /* [n_sets] */
  int64_t *first;     /* [n_sets + 1]: set s has genes gene[first[s] .. first[s + 1]) */
  char **gene;        /* [first[n_sets]] as listed (repeats kept) */
  char *text;         /* every string above points into this block; all owned */
} OvqGmt;

/* Local. Reads a GMT file (plain or gzip). Errors (message names file and line): unreadable file,
 * a line without a tab after the name ("expected name<TAB>description<TAB>genes"), an empty set
 * name, a file without any set. On error *g is zeroed. */
OvqStatus ovq_gmt_read(const char *path, OvqGmt *g);
/* Local. Frees and zeroes; NULL-safe and idempotent. */
void ovq_gmt_free(OvqGmt *g);

typedef struct OvqEnrichOptions {
  int64_t min_size; /* sets smaller than this after restriction to the universe are skipped */
  int64_t max_size; /* sets larger than this are skipped */
} OvqEnrichOptions;
#define OVQ_ENRICH_DEFAULTS ((OvqEnrichOptions){.min_size = 10, .max_size = 500})

typedef struct OvqEnrich {
  int64_t universe;        /* N: distinct symbols among the features */
  int64_t selected;        /* K: distinct selected symbols */
  int64_t n_tested;        /* sets tested; the arrays below have this length, GMT order */
  int64_t n_skipped;       /* sets outside [min_size, max_size] */
  int64_t n_unknown_genes; /* gene entries of the GMT (all sets) whose symbol is not in the
                              universe: ignored */
  int64_t *set;            /* index of the set in the GMT */
  int64_t *size;           /* m: genes of the set in the universe */
  int64_t *overlap;        /* x: of those, selected */
  double *expected;        /* m K / N */
  double *p, *q;           /* P(X >= x); BH over the tested sets */
} OvqEnrich;

/* Local. Over-representation of the selected features (selected: [n_features], nonzero =
 * selected; e.g. q < 0.05 and log2fc > 1 for one cluster) among the sets of g, with features
 * (in: [n_features] ids) as the universe. opt NULL = OVQ_ENRICH_DEFAULTS. *out owned by the
 * caller (ovq_enrich_free). Returns OVQ_ERR, *out zeroed, if min_size < 1 or max_size < min_size.
 * Empty or NULL feature ids are left out of the universe. */
OvqStatus ovq_enrich_ora(const OvqGmt *g, const char *const *features, int64_t n_features,
                         const unsigned char *selected, const OvqEnrichOptions *opt,
                         OvqEnrich *out);
/* Local. Frees and zeroes; NULL-safe and idempotent. */
void ovq_enrich_free(OvqEnrich *e);

/* Local. Upper tail P(X >= x) of the hypergeometric distribution: X = white balls among k drawn
 * without replacement from m white and n black (R's phyper(x - 1, m, n, k, lower.tail = FALSE)).
 * 1 for x at or below the support, 0 above it; NaN if an argument is negative or k > m + n.
 * Sums the probabilities of the smaller tail from its largest term (log-space start), so both
 * tails are accurate to a few ulps of relative error times log of the binomials. */
double ovq_hypergeom_upper(int64_t x, int64_t m, int64_t n, int64_t k);

#endif
