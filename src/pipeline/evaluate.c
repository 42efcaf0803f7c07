/* Evaluation of clusters (see include/ovq/evaluate.h): agreement, label flow, survival,
 * differential expression, enrichment, the miRNA-gene network and the latent-feature analyses,
 * collected into column tables on rank 0 and written both as TSV and into the results file. */
#include "ovq/evaluate.h"

#include <gsl/gsl_cdf.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ovq/cohort.h"
#include "ovq/correlation.h"
#include "ovq/diffexp.h"
#include "ovq/enrich.h"
#include "ovq/hclust.h"
#include "ovq/metrics.h"
#include "ovq/padjust.h"
#include "ovq/partition.h"
#include "ovq/pca.h"
#include "ovq/prep.h"
#include "ovq/results.h"
#include "ovq/strmap.h"
#include "ovq/survival.h"
#include "ovq/tsne.h"
#include "ovq/tsv.h"

/* ---- Tables ------------------------------------------------------------------------------- */
/* A table is a list of typed columns. Rows are kept on rank 0 only (the other ranks make the same
 * calls, which store nothing); at the end every rank learns the row count and string widths, so
 * the collective HDF5 writes agree. */

enum { TAB_MAX_COLS = 16 };

typedef struct Column {
  char name[32];
  char kind;  /* 's' string, 'i' int64, 'd' double */
  int64_t *i; /* [cap] ('i') */
  double *d;  /* [cap] ('d') */
  char *text; /* ('s') every string, NUL-terminated, one after the other */
  size_t text_len, text_cap;
  int64_t *off; /* [cap] ('s') start of each row's string in text */
  int width;    /* ('s') longest string + 1 */
} Column;

typedef struct Table {
  const char *name;
  int active; /* written at the end */
  int keep;   /* rows are stored (rank 0) */
  int n_cols, n_kind[3];
  Column col[TAB_MAX_COLS];
  int64_t n_rows, cap;
  char path[OVQ_PATH_MAX + 64], tmp[OVQ_PATH_MAX + 96];
} Table;

enum {
  T_AGREEMENT,
  T_FLOW,
  T_SURVIVAL,
  T_PAIRS,
  T_COX,
  T_KM,
  T_DE,
  T_NETWORK,
  T_ENRICHMENT,
  T_LATENT_CORR,
  T_LATENT_GROUPS,
  T_LATENT_HEATMAP,
  T_MAPS,
  T_PCA_VARIANCE,
  T_COUNT
};

/* Names and columns (name:kind) of the tables, in the order of the header of evaluate.h. */
static const struct {
  const char *name, *spec;
} kTables[T_COUNT] = {
    {"agreement", "method:s k:i reference:s ari:d nmi:d nmi_geometric:d purity:d n_compared:i "
                  "n_left_out:i"},
    {"flow", "method:s reference:s label:s cluster:i count:i"},
    {"survival", "method:s k:i n:i n_unknown:i logrank_chisq:d logrank_df:i logrank_p:d "
                 "cox_lrt:d cox_lrt_p:d note:s"},
    {"pairs", "method:s cluster_a:i cluster_b:i chisq:d p:d p_bh:d"},
    {"cox", "method:s cluster:i reference:i coef:d se:d hr:d hr_lower:d hr_upper:d p:d"},
    {"km", "method:s cluster:i time:d n_risk:i n_event:i n_censor:i survival:d lower:d upper:d"},
    {"de", "method:s cluster:i feature:s n_in:i n_out:i mean_in:d mean_out:d log2fc:d t:d t_p:d "
           "t_q:d u:d u_p:d u_q:d"},
    {"network", "method:s mirna:s gene:s r:d p:d q:d mirna_clusters:s gene_clusters:s"},
    {"enrichment", "method:s cluster:i set:s size:i overlap:i expected:d p:d q:d"},
    {"latent_corr", "feature_a:s feature_b:s pearson:d spearman:d"},
    {"latent_groups", "feature:s group:i"},
    {"latent_heatmap", "sample:s method:s cluster:i label:s feature:s value:d"},
    {"maps", "sample:s method:s cluster:i label:s pc1:d pc2:d tsne1:d tsne2:d"},
    {"pca_variance", "component:s explained_variance:d ratio:d"},
};

static int kind_slot(char kind) {
  return kind == 's' ? 0 : kind == 'i' ? 1 : 2;
}

static void tab_init(Table *t, int which, int keep) {
  memset(t, 0, sizeof *t);
  t->name = kTables[which].name;
  t->keep = keep;
  const char *s = kTables[which].spec;
  while (*s) {
    size_t n = strcspn(s, ":");
    if (t->n_cols == TAB_MAX_COLS || n >= sizeof t->col[0].name || !s[n])
      OVQ_ABORT("table %s: bad column list", t->name);
    Column *c = &t->col[t->n_cols++];
    memcpy(c->name, s, n);
    c->kind = s[n + 1];
    c->width = 2;
    t->n_kind[kind_slot(c->kind)]++;
    s += n + 2;
    s += strspn(s, " ");
  }
}

static void tab_free(Table *t) {
  for (int j = 0; j < t->n_cols; j++) {
    free(t->col[j].i);
    free(t->col[j].d);
    free(t->col[j].text);
    free(t->col[j].off);
  }
  t->n_rows = t->cap = 0;
}

/* Arguments of tab_row: the row's strings, integers and doubles, each in column order, as a
 * count and an array (type-checked by the compound literals). */
#define TS(...)                                                                                    \
  (int)(sizeof((const char *[]){__VA_ARGS__}) / sizeof(const char *)), (const char *[]) {          \
    __VA_ARGS__                                                                                    \
  }
#define TI(...)                                                                                    \
  (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (int64_t[]) {                         \
    __VA_ARGS__                                                                                    \
  }
#define TD(...)                                                                                    \
  (int)(sizeof((double[]){__VA_ARGS__}) / sizeof(double)), (double[]) {                            \
    __VA_ARGS__                                                                                    \
  }
#define TNONE 0, NULL

/* Local. Appends a row (stored on the keeping rank only). The counts must match the columns. */
static void tab_row(Table *t, int ns, const char *const *s, int ni, const int64_t *iv, int nd,
                    const double *dv) {
  if (ns != t->n_kind[0] || ni != t->n_kind[1] || nd != t->n_kind[2])
    OVQ_ABORT("table %s: row of %d/%d/%d values for %d/%d/%d columns", t->name, ns, ni, nd,
              t->n_kind[0], t->n_kind[1], t->n_kind[2]);
  if (!t->keep) return;
  if (t->n_rows == t->cap) {
    t->cap = t->cap ? 2 * t->cap : 64;
    for (int j = 0; j < t->n_cols; j++) {
      Column *c = &t->col[j];
      if (c->kind == 'i') c->i = OVQ_REALLOC(c->i, sizeof(int64_t) * (size_t)t->cap);
      if (c->kind == 'd') c->d = OVQ_REALLOC(c->d, sizeof(double) * (size_t)t->cap);
      if (c->kind == 's') c->off = OVQ_REALLOC(c->off, sizeof(int64_t) * (size_t)t->cap);
    }
  }
  int at[3] = {0, 0, 0};
  for (int j = 0; j < t->n_cols; j++) {
    Column *c = &t->col[j];
    if (c->kind == 'i') {
      c->i[t->n_rows] = iv[at[1]++];
    } else if (c->kind == 'd') {
      c->d[t->n_rows] = dv[at[2]++];
    } else {
      const char *v = s[at[0]++];
      size_t n = strlen(v) + 1;
      if (c->text_len + n > c->text_cap) {
        c->text_cap = 2 * (c->text_len + n) + 256;
        c->text = OVQ_REALLOC(c->text, c->text_cap);
      }
      memcpy(c->text + c->text_len, v, n);
      c->off[t->n_rows] = (int64_t)c->text_len;
      c->text_len += n;
      if ((int)n > c->width) c->width = (int)n;
    }
  }
  t->n_rows++;
}

/* A double as the tables write it: %.10g, or NA / Inf / -Inf (never NaN). */
static const char *fmt_num(char *buf, size_t n, double v) {
  if (isfinite(v))
    snprintf(buf, n, "%.10g", v);
  else
    snprintf(buf, n, "%s", isnan(v) ? "NA" : v > 0 ? "Inf" : "-Inf");
  return buf;
}

/* Local (rank 0). Writes the table to a temporary name next to STEM_<name>.tsv; 1 on success. */
static int tab_write_tsv(Table *t, const char *stem) {
  snprintf(t->path, sizeof t->path, "%s_%s.tsv", stem, t->name);
  snprintf(t->tmp, sizeof t->tmp, "%s.tmp.%d", t->path, (int)getpid());
  FILE *f = fopen(t->tmp, "w");
  if (!f) return 0;
  for (int j = 0; j < t->n_cols; j++)
    fprintf(f, "%s%c", t->col[j].name, j + 1 < t->n_cols ? '\t' : '\n');
  char buf[40];
  for (int64_t r = 0; r < t->n_rows; r++)
    for (int j = 0; j < t->n_cols; j++) {
      const Column *c = &t->col[j];
      if (c->kind == 'i')
        fprintf(f, "%lld", (long long)c->i[r]);
      else if (c->kind == 'd')
        fputs(fmt_num(buf, sizeof buf, c->d[r]), f);
      else
        fputs(c->text + c->off[r], f);
      fputc(j + 1 < t->n_cols ? '\t' : '\n', f);
    }
  int ok = !ferror(f);
  if (fclose(f) != 0) ok = 0;
  if (!ok) remove(t->tmp);
  return ok;
}

/* Collective. /eval/<name>/<column> from rank 0's rows. */
static void tab_write_h5(Table *t, OvqResults *r, MPI_Comm comm) {
  int64_t n = t->n_rows;
  OVQ_MPI_CHECK(MPI_Bcast(&n, 1, MPI_INT64_T, 0, comm));
  char name[160];
  for (int j = 0; j < t->n_cols; j++) {
    Column *c = &t->col[j];
    snprintf(name, sizeof name, "/eval/%s/%s", t->name, c->name);
    if (c->kind == 'i') {
      ovq_results_write_array(r, name, H5T_NATIVE_INT64, c->i, n, 0);
    } else if (c->kind == 'd') {
      ovq_results_write_array(r, name, H5T_NATIVE_DOUBLE, c->d, n, 0);
    } else {
      OVQ_MPI_CHECK(MPI_Bcast(&c->width, 1, MPI_INT, 0, comm));
      OvqStrings s = {n, c->width, NULL};
      if (t->keep) {
        ovq_strings_alloc(&s, n, c->width);
        for (int64_t q = 0; q < n; q++)
          ovq_strings_set(&s, q, c->text + c->off[q]);
      }
      ovq_results_write_strings(r, name, &s);
      if (t->keep) ovq_strings_free(&s);
    }
  }
}

/* ---- Inputs ------------------------------------------------------------------------------- */

typedef struct Eval {
  const OvqConfig *cfg;
  const OvqEvalInputs *in;
  MPI_Comm comm;
  int rank, size;
  OvqResults clusters; /* the clusters file, open for reading */
  int64_t N;
  OvqRange me; /* this rank's samples */
  OvqStrings ids, lab, truth;
  int has_label, has_truth, has_surv;
  double *os_time; /* [N] */
  int8_t *os_event;
  /* Reference codes of this rank's samples (published labels, true subtypes) and their names. */
  int32_t *ref[2];
  char **ref_names[2];
  int n_ref[2];
  /* With a cohort: the preprocessed, unstandardised expression and its transform (feature ids,
   * the first n_mrna are genes, the rest miRNAs). */
  int with_cohort;
  OvqMatrix x;
  OvqPrepTransform tr;
  int with_gmt; /* sets read on rank 0 */
  OvqGmt sets;
  int gmt_noted; /* the unknown genes of the sets are logged once */
  int with_interactions;
  int64_t n_pairs;
  int64_t *pairs; /* [n_pairs][2] (miRNA feature, gene feature), sorted, distinct */
  Table tab[T_COUNT];
  char stem[OVQ_PATH_MAX];
} Eval;

/* Codes for reference label strings: sorted distinct non-empty values -> 0..; "" -> -1. */
static int encode(const OvqStrings *s, int64_t start, int64_t n, int32_t *code, char ***names) {
  int64_t N = s->n;
  char **u = OVQ_MALLOC(sizeof(char *) * (size_t)(N + 1));
  int nu = 0;
  for (int64_t i = 0; i < N; i++) {
    const char *v = ovq_strings_at(s, i);
    if (!v[0]) continue;
    int seen = 0;
    for (int q = 0; q < nu && !seen; q++)
      seen = !strcmp(u[q], v);
    if (!seen) u[nu++] = (char *)v;
  }
  for (int a = 1; a < nu; a++) /* insertion sort: few labels */
    for (int b = a; b > 0 && strcmp(u[b - 1], u[b]) > 0; b--) {
      char *t = u[b];
      u[b] = u[b - 1];
      u[b - 1] = t;
    }
  for (int64_t i = 0; i < n; i++) {
    const char *v = ovq_strings_at(s, start + i);
    code[i] = -1;
    for (int q = 0; q < nu; q++)
      if (!strcmp(u[q], v)) code[i] = q;
  }
  *names = u;
  return nu;
}

/* Collective. The samples of the clusters file: ids, labels, truth, survival. */
static OvqStatus read_samples(Eval *e) {
  const char *path = e->in->clusters;
  if (ovq_results_open(&e->clusters, path, e->comm) != OVQ_OK) return OVQ_ERR;
  OvqStatus st = ovq_results_read_strings(&e->clusters, "/samples/id", &e->ids);
  int64_t n_t = 0, n_e = 0;
  if (st == OVQ_OK) {
    e->has_label = ovq_results_read_strings(&e->clusters, "/samples/label", &e->lab) == OVQ_OK;
    e->has_truth =
        ovq_results_read_strings(&e->clusters, "/samples/true_subtype", &e->truth) == OVQ_OK;
    e->has_surv = ovq_results_read_array(&e->clusters, "/samples/os_time", H5T_NATIVE_DOUBLE,
                                         (void **)&e->os_time, &n_t) == OVQ_OK &&
                  ovq_results_read_array(&e->clusters, "/samples/os_event", H5T_NATIVE_INT8,
                                         (void **)&e->os_event, &n_e) == OVQ_OK &&
                  n_t == e->ids.n && n_e == e->ids.n;
    ovq_error_clear();
  }
  st = ovq_status_agree(e->comm, st);
  if (st != OVQ_OK) return st;
  e->N = e->ids.n;
  e->me = ovq_partition_block(e->N, e->size, e->rank);
  const OvqStrings *src[2] = {&e->lab, &e->truth};
  int has[2] = {e->has_label, e->has_truth};
  for (int w = 0; w < 2; w++) {
    e->ref[w] = OVQ_MALLOC(sizeof(int32_t) * (size_t)(e->me.count + 1));
    e->n_ref[w] =
        has[w] ? encode(src[w], e->me.start, e->me.count, e->ref[w], &e->ref_names[w]) : 0;
  }
  if (e->n_ref[0] == 0)
    ovq_log(OVQ_LOG_WARN, "%s: no sample has a published label: agreement with labels skipped",
            path);
  if (!e->has_surv)
    ovq_log(OVQ_LOG_WARN, "%s: no overall survival per sample: survival analyses skipped", path);
  return OVQ_OK;
}

/* Collective. Logs the features that are constant over all samples (their tests follow the
 * rules of diffexp.h: t = 0, p = 1; they have no correlation). */
static void note_constant_features(const Eval *e) {
  const int64_t F = e->x.n_cols;
  float *lo = OVQ_MALLOC(sizeof(float) * (size_t)(F + 1)),
        *hi = OVQ_MALLOC(sizeof(float) * (size_t)(F + 1));
  for (int64_t j = 0; j < F; j++) {
    lo[j] = INFINITY;
    hi[j] = -INFINITY;
  }
  for (int64_t i = 0; i < e->x.n_local; i++)
    for (int64_t j = 0; j < F; j++) {
      float v = e->x.x[i * F + j];
      if (v < lo[j]) lo[j] = v;
      if (v > hi[j]) hi[j] = v;
    }
  int n = OVQ_INT(F, "features");
  OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, lo, n, MPI_FLOAT, MPI_MIN, e->comm));
  OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, hi, n, MPI_FLOAT, MPI_MAX, e->comm));
  int64_t n_const = 0, first = -1;
  for (int64_t j = 0; j < F; j++)
    if (lo[j] == hi[j] && n_const++ == 0) first = j;
  if (n_const)
    ovq_log(OVQ_LOG_WARN,
            "%s: %lld feature(s) constant over the samples (first: %s): their "
            "tests report t = 0, p = 1 and they have no correlation",
            e->in->cohort, (long long)n_const, ovq_strings_at(&e->tr.ids, first));
  free(lo);
  free(hi);
}

/* Collective. The cohort's expression of the clusters' samples, preprocessed without
 * standardisation, selection or weights. */
static OvqStatus read_cohort(Eval *e) {
  const char *path = e->in->cohort;
  OvqCohort c;
  OvqStatus st = ovq_cohort_read(path, e->cfg->data.cancer, e->comm, &c);
  if (st != OVQ_OK) return st;
  int mism = c.n_total != e->N;
  for (int64_t i = 0; !mism && i < c.n_local; i++)
    mism = strcmp(ovq_strings_at(&c.sample_id, i), ovq_strings_at(&e->ids, c.row_start + i)) != 0;
  OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &mism, 1, MPI_INT, MPI_MAX, e->comm));
  if (mism)
    st = ovq_error("%s%s%s: its samples are not those of %s (same cohort and data.cancer "
                   "needed)",
                   path, e->cfg->data.cancer[0] ? " / " : "", e->cfg->data.cancer, e->in->clusters);
  if (st == OVQ_OK) {
    OvqPrepOptions po;
    ovq_prep_options_from_config(e->cfg, &po);
    po.standardize = 0;
    po.select = 0;
    po.weight[0] = po.weight[1] = 1.0;
    st = ovq_prep_fit(&c, &po, e->comm, &e->x, &e->tr, NULL);
  }
  ovq_cohort_destroy(&c);
  if (st != OVQ_OK) return st;
  e->with_cohort = 1;
  note_constant_features(e);
  if (e->tr.n_mrna == e->tr.n_features)
    ovq_log(OVQ_LOG_WARN, "%s: no miRNA features: the miRNA-gene network stays empty", path);
  return OVQ_OK;
}

/* Feature lookup by name: exact id, else the ids whose part before '|' is the name. */
typedef struct NameIndex {
  OvqStrMap full, symbol;
  int64_t *next; /* [n] next feature with the same symbol, -1 = none */
  char *symbols; /* the symbols, keys of `symbol` */
} NameIndex;

static void name_index_build(NameIndex *ix, const OvqStrings *ids, int64_t first, int64_t n) {
  ovq_strmap_init(&ix->full, n);
  ovq_strmap_init(&ix->symbol, n);
  ix->next = OVQ_MALLOC(sizeof(int64_t) * (size_t)(n + 1));
  ix->symbols = OVQ_MALLOC((size_t)(n * ids->width + 1));
  for (int64_t j = 0; j < n; j++) {
    const char *id = ovq_strings_at(ids, first + j);
    char *sym = ix->symbols + j * ids->width;
    size_t len = strcspn(id, "|");
    memcpy(sym, id, len);
    sym[len] = 0;
    ovq_strmap_put(&ix->full, id, j);
    ix->next[j] = -1;
    int64_t h = ovq_strmap_put(&ix->symbol, sym, j);
    if (h != j) { /* a symbol shared by several ids: chain them after the first */
      ix->next[j] = ix->next[h];
      ix->next[h] = j;
    }
  }
}

static void name_index_free(NameIndex *ix) {
  ovq_strmap_free(&ix->full);
  ovq_strmap_free(&ix->symbol);
  free(ix->next);
  free(ix->symbols);
}

/* The first feature (0-based within the indexed block) named `name`; *chain = 1 when further
 * ones follow through next[] (symbol matches). -1 if none. */
static int64_t name_index_find(const NameIndex *ix, const char *name, int *chain) {
  int64_t j = ovq_strmap_get(&ix->full, name);
  *chain = 0;
  if (j >= 0) return j;
  *chain = 1;
  return ovq_strmap_get(&ix->symbol, name);
}

static int cmp_pair(const void *pa, const void *pb) {
  const int64_t *a = pa, *b = pb;
  return a[0] != b[0] ? (a[0] > b[0]) - (a[0] < b[0]) : (a[1] > b[1]) - (a[1] < b[1]);
}

/* Collective. The interaction list: (miRNA, gene) feature pairs of the kept features. */
static OvqStatus read_interactions(Eval *e, const char *path) {
  OvqTable t;
  OvqStatus st = ovq_table_read_bcast(path, '#', '\t', e->comm, &t);
  if (st != OVQ_OK) return st;
  if (t.n_cols != 2)
    st = ovq_error("%s: the header has %lld columns; expected two: miRNA<TAB>gene", path,
                   (long long)t.n_cols);
  for (int64_t i = 0; st == OVQ_OK && i < t.n_rows; i++)
    if (!ovq_table_cell(&t, i, 0)[0] || !ovq_table_cell(&t, i, 1)[0])
      st = ovq_error("%s:%lld: empty miRNA or gene name (expected miRNA<TAB>gene)", path,
                     (long long)t.line[i]);
  if (st != OVQ_OK) {
    ovq_table_free(&t);
    return st;
  }
  const int64_t G = e->tr.n_mrna, M = e->tr.n_features - G;
  NameIndex genes, mirnas;
  name_index_build(&genes, &e->tr.ids, 0, G);
  name_index_build(&mirnas, &e->tr.ids, G, M);
  int64_t cap = t.n_rows + 1, n = 0, unmatched = 0;
  int64_t *pairs = OVQ_MALLOC(sizeof(int64_t) * 2 * (size_t)cap);
  for (int64_t i = 0; i < t.n_rows; i++) {
    int cm, cg;
    int64_t m0 = name_index_find(&mirnas, ovq_table_cell(&t, i, 0), &cm);
    int64_t g0 = name_index_find(&genes, ovq_table_cell(&t, i, 1), &cg);
    unmatched += m0 < 0 || g0 < 0;
    for (int64_t m = m0; m >= 0; m = cm ? mirnas.next[m] : -1)
      for (int64_t g = g0; g >= 0; g = cg ? genes.next[g] : -1) {
        if (n == cap) {
          cap *= 2;
          pairs = OVQ_REALLOC(pairs, sizeof(int64_t) * 2 * (size_t)cap);
        }
        pairs[2 * n] = G + m;
        pairs[2 * n + 1] = g;
        n++;
      }
  }
  qsort(pairs, (size_t)n, 2 * sizeof(int64_t), cmp_pair);
  int64_t u = 0;
  for (int64_t q = 0; q < n; q++)
    if (u == 0 || cmp_pair(pairs + 2 * q, pairs + 2 * (u - 1)) != 0) {
      pairs[2 * u] = pairs[2 * q];
      pairs[2 * u + 1] = pairs[2 * q + 1];
      u++;
    }
  ovq_log(OVQ_LOG_INFO,
          "%s: %lld interactions, %lld name a miRNA or gene not among the kept "
          "features (ignored); %lld feature pairs",
          path, (long long)t.n_rows, (long long)unmatched, (long long)u);
  e->pairs = pairs;
  e->n_pairs = u;
  e->with_interactions = 1;
  name_index_free(&genes);
  name_index_free(&mirnas);
  ovq_table_free(&t);
  return OVQ_OK;
}

/* ---- Analyses per method ------------------------------------------------------------------ */

/* Collective. Agreement with the references and the label flow. */
static OvqStatus eval_agreement(Eval *e, OvqResults *r, const char *m, int k, const int32_t *cl,
                                int64_t nl) {
  static const char *const refname[2] = {"published_label", "true_subtype"};
  for (int w = 0; w < 2; w++) {
    if (e->n_ref[w] == 0) continue;
    OvqAgreement ag;
    OvqContingency ct;
    if (ovq_metrics_agreement(e->ref[w], cl, nl, e->comm, &ag) != OVQ_OK ||
        ovq_metrics_contingency(e->ref[w], cl, nl, e->comm, &ct) != OVQ_OK)
      return OVQ_ERR;
    ovq_log(OVQ_LOG_INFO,
            "%s vs %s: ARI %.4f, NMI %.4f (geometric %.4f), purity %.4f, %lld "
            "samples (%lld left out)",
            m, refname[w], ag.ari, ag.nmi, ag.nmi_geometric, ag.purity, (long long)ag.n_known,
            (long long)ag.n_unknown);
    tab_row(&e->tab[T_AGREEMENT], TS(m, refname[w]), TI(k, ag.n_known, ag.n_unknown),
            TD(ag.ari, ag.nmi, ag.nmi_geometric, ag.purity));
    for (int i = 0; i <= ct.n_a; i++)
      for (int j = 0; j < ct.n_b; j++) {
        int64_t c = ct.count[i * (ct.n_b + 1) + j];
        const char *lname = i < ct.n_a && i < e->n_ref[w] ? e->ref_names[w][i] : "(unlabelled)";
        if (c) tab_row(&e->tab[T_FLOW], TS(m, refname[w], lname), TI(j, c), TNONE);
      }
    char dn[256];
    double v[4] = {ag.ari, ag.nmi, ag.nmi_geometric, ag.purity};
    snprintf(dn, sizeof dn, "/eval/%s/%s/ari_nmi_nmigeo_purity", m, refname[w]);
    ovq_results_write_array(r, dn, H5T_NATIVE_DOUBLE, v, 4, 0);
    ovq_metrics_contingency_free(&ct);
  }
  return OVQ_OK;
}

/* Collective. Survival per cluster. */
static OvqStatus eval_survival(Eval *e, OvqResults *r, const char *m, int k, const int32_t *cl,
                               int64_t nl) {
  OvqSurvData sd;
  if (ovq_survival_gather(e->os_time + e->me.start, e->os_event + e->me.start, cl, nl, e->comm,
                          &sd) != OVQ_OK)
    return OVQ_ERR;
  OvqLogrank lr;
  ovq_survival_logrank(&sd, &lr);
  OvqCox cx;
  ovq_survival_cox(&sd, &cx);
  OvqPairwise pw;
  ovq_survival_pairwise(&sd, &pw);
  OvqKm km;
  ovq_survival_km(&sd, &km);
  ovq_log(lr.note[0] || cx.note[0] ? OVQ_LOG_WARN : OVQ_LOG_INFO,
          "%s survival: log-rank chi2 %.3f (df %d) p %.3g; Cox LRT %.3f p %.3g (%lld samples, "
          "%lld unknown)%s%s%s%s",
          m, lr.chisq, lr.df, lr.p, cx.lrt, cx.lrt_p, (long long)sd.n, (long long)sd.n_unknown,
          lr.note[0] ? "; " : "", lr.note, cx.note[0] ? "; " : "", cx.note);
  const char *note = lr.note[0] ? lr.note : cx.note[0] ? cx.note : "-";
  tab_row(&e->tab[T_SURVIVAL], TS(m, note), TI(k, sd.n, sd.n_unknown, lr.df),
          TD(lr.chisq, lr.p, cx.lrt, cx.lrt_p));
  for (int q = 0; q < pw.n_pairs; q++)
    tab_row(&e->tab[T_PAIRS], TS(m), TI(pw.group_a[q], pw.group_b[q]),
            TD(pw.test[q].chisq, pw.test[q].p, pw.p_adjusted[q]));
  for (int q = 0; q < cx.n_coef; q++)
    tab_row(&e->tab[T_COX], TS(m), TI(cx.group[q], cx.reference),
            TD(cx.coef[q], cx.se[q], cx.hr[q], cx.hr_lower[q], cx.hr_upper[q], cx.p[q]));
  for (int c = 0; c < km.n_curves; c++) {
    const OvqKmCurve *cv = &km.curve[c];
    for (int64_t t = 0; t < cv->n_times; t++)
      tab_row(&e->tab[T_KM], TS(m), TI(cv->group, cv->n_risk[t], cv->n_event[t], cv->n_censor[t]),
              TD(cv->time[t], cv->surv[t], cv->lower[t], cv->upper[t]));
  }
  char dn[256];
  double v[5] = {lr.chisq, (double)lr.df, lr.p, cx.lrt, cx.lrt_p};
  snprintf(dn, sizeof dn, "/eval/%s/survival/logrank_chisq_df_p_coxlrt_p", m);
  ovq_results_write_array(r, dn, H5T_NATIVE_DOUBLE, v, 5, 0);
  ovq_survival_km_free(&km);
  ovq_survival_pairwise_free(&pw);
  ovq_survival_cox_free(&cx);
  ovq_survival_data_free(&sd);
  return OVQ_OK;
}

/* Local (rank 0). Over-representation of each cluster's up-regulated genes among the sets. */
static OvqStatus eval_enrichment(Eval *e, const char *m, const OvqDiffexp *de) {
  const int64_t G = e->tr.n_mrna, F = de->n_features;
  const char **fid = OVQ_MALLOC(sizeof(char *) * (size_t)(G + 1));
  unsigned char *sel = OVQ_MALLOC((size_t)G + 1);
  for (int64_t j = 0; j < G; j++)
    fid[j] = ovq_strings_at(&e->tr.ids, j);
  OvqStatus st = OVQ_OK;
  for (int c = 0; c < de->k && st == OVQ_OK; c++) {
    for (int64_t j = 0; j < G; j++) {
      int64_t x = (int64_t)c * F + j;
      sel[j] = de->t_q[x] < e->cfg->eval.de_fdr && de->log2fc[x] > e->cfg->eval.de_lfc;
    }
    OvqEnrich en;
    st = ovq_enrich_ora(&e->sets, fid, G, sel, NULL, &en);
    if (st != OVQ_OK) break;
    if (!e->gmt_noted && en.n_unknown_genes)
      ovq_log(OVQ_LOG_WARN,
              "%s: %lld gene entries name no tested gene (ignored); %lld sets "
              "outside the size limits skipped",
              e->cfg->eval.gmt, (long long)en.n_unknown_genes, (long long)en.n_skipped);
    e->gmt_noted = 1;
    for (int64_t q = 0; q < en.n_tested; q++)
      tab_row(&e->tab[T_ENRICHMENT], TS(m, e->sets.name[en.set[q]]),
              TI(c, en.size[q], en.overlap[q]), TD(en.expected[q], en.p[q], en.q[q]));
    ovq_enrich_free(&en);
  }
  free(fid);
  free(sel);
  return st;
}

/* Collective. Rows [n_local][w] of every rank (block layout of n rows) into all [n][w], on every
 * rank (everywhere = 1) or on rank 0 only (others may pass all = NULL). */
static void gather_rows(const void *x, int64_t w, MPI_Datatype type, void *all, int64_t n,
                        int everywhere, MPI_Comm comm) {
  int rank, size;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  int *cnt = OVQ_MALLOC(sizeof(int) * (size_t)size), *dsp = OVQ_MALLOC(sizeof(int) * (size_t)size);
  for (int q = 0; q < size; q++) {
    OvqRange b = ovq_partition_block(n, size, q);
    cnt[q] = OVQ_INT(b.count * w, "gather count");
    dsp[q] = OVQ_INT(b.start * w, "gather displacement");
  }
  if (everywhere)
    OVQ_MPI_CHECK(MPI_Allgatherv(x, cnt[rank], type, all, cnt, dsp, type, comm));
  else
    OVQ_MPI_CHECK(MPI_Gatherv(x, cnt[rank], type, all, cnt, dsp, type, 0, comm));
  free(cnt);
  free(dsp);
}

/* Collective. The columns `cols` (in: [n], indices into x's columns) of the row-distributed x,
 * each over all samples in global order, centred and scaled to unit length (in double):
 * returns [n_mine][N] (column-major) for this rank's block ovq_partition_block(n, size, rank) of
 * the columns, or all n columns on every rank when everywhere = 1. norm (out: [n] or [n_mine])
 * is the length before scaling (0 for a constant column, left as zeros). */
static double *unit_columns(const OvqMatrix *x, const int64_t *cols, int64_t n, int everywhere,
                            MPI_Comm comm, double **norm, int64_t *n_mine) {
  const int64_t N = x->n_total;
  OvqMatrix sub;
  ovq_matrix_alloc(&sub, N, x->row_start, x->n_local, n);
  for (int64_t i = 0; i < x->n_local; i++)
    for (int64_t j = 0; j < n; j++)
      sub.x[i * n + j] = x->x[i * x->n_cols + cols[j]];
  int64_t c0, nc;
  float *mine;
  ovq_matrix_columns(&sub, comm, &c0, &nc, &mine);
  ovq_matrix_free(&sub);
  float *col = mine;
  if (everywhere) {
    col = OVQ_MALLOC(sizeof(float) * (size_t)(n * N + 1));
    gather_rows(mine, N, MPI_FLOAT, col, n, 1, comm);
    free(mine);
    nc = n;
  }
  double *u = OVQ_MALLOC(sizeof(double) * (size_t)(nc * N + 1));
  *norm = OVQ_MALLOC(sizeof(double) * (size_t)(nc + 1));
  for (int64_t j = 0; j < nc; j++) {
    const float *v = col + j * N;
    double *o = u + j * N, mean = 0.0, ss = 0.0;
    for (int64_t i = 0; i < N; i++)
      mean += v[i];
    mean /= (double)N;
    for (int64_t i = 0; i < N; i++) {
      o[i] = (double)v[i] - mean;
      ss += o[i] * o[i];
    }
    double len = sqrt(ss);
    /* Rounding leaves a constant column's deviations at ~1e-16 of its mean: constant if every
     * value equals the first. */
    int constant = 1;
    for (int64_t i = 1; i < N && constant; i++)
      constant = v[i] == v[0];
    (*norm)[j] = constant ? 0.0 : len;
    for (int64_t i = 0; i < N; i++)
      o[i] = constant ? 0.0 : o[i] / len;
  }
  free(col);
  *n_mine = nc;
  return u;
}

/* Two-sided p-value of Pearson's r over df + 2 samples, P(|T| >= |t|) for t = r sqrt(df / (1 -
 * r^2)) ~ Student t(df), written as the regularised incomplete beta function it equals,
 * I_{1 - r^2}(df / 2, 1 / 2) = 1 - I_{r^2}(1 / 2, df / 2) (scipy.stats.pearsonr), evaluating the
 * form whose argument is the smaller: both tails keep full relative precision, where
 * 2 gsl_cdf_tdist_Q loses ~1e-9 below p ~ 1e-12. Underflows to 0 quietly. */
static double pearson_p(double r, double df) {
  double a = fabs(r);
  if (a * a < 0.5) return gsl_cdf_beta_Q(a * a, 0.5, df / 2.0);
  return gsl_cdf_beta_P((1.0 - a) * (1.0 + a), df / 2.0, 0.5);
}

/* The clusters (comma-separated codes) in which feature j is DE (flags de_in [k][F]). */
static void cluster_list(const unsigned char *de_in, int k, int64_t F, int64_t j, char *buf,
                         size_t n) {
  size_t len = 0;
  buf[0] = 0;
  for (int c = 0; c < k && len + 12 < n; c++)
    if (de_in[(int64_t)c * F + j])
      len += (size_t)snprintf(buf + len, n - len, "%s%d", len ? "," : "", c);
}

/* Collective. The miRNA-gene network of method m (see evaluate.h). The DE miRNAs are few: their
 * unit columns are replicated; the DE genes are split by columns, each rank correlates its genes
 * with every miRNA over all samples in global order (so r does not depend on the rank count),
 * and rank 0 gathers r, tests and adjusts the pairs and writes the edges. */
static void eval_network(Eval *e, const char *m, const OvqDiffexp *de) {
  const int64_t F = de->n_features, G = e->tr.n_mrna, N = e->N;
  const int k = de->k;
  const OvqConfig *cfg = e->cfg;
  unsigned char *de_in = OVQ_CALLOC((size_t)(k * F + 1), 1), *any = OVQ_CALLOC((size_t)F + 1, 1);
  for (int c = 0; c < k; c++)
    for (int64_t j = 0; j < F; j++) {
      int64_t x = (int64_t)c * F + j;
      de_in[x] = de->t_q[x] < cfg->eval.de_fdr && fabs(de->log2fc[x]) > cfg->eval.de_lfc;
      any[j] |= de_in[x];
    }
  /* The features of the tested pairs: every DE miRNA x every DE gene, or the listed pairs. */
  unsigned char *use = OVQ_CALLOC((size_t)F + 1, 1);
  if (e->with_interactions) {
    for (int64_t q = 0; q < e->n_pairs; q++)
      if (any[e->pairs[2 * q]] && any[e->pairs[2 * q + 1]])
        use[e->pairs[2 * q]] = use[e->pairs[2 * q + 1]] = 1;
  } else {
    memcpy(use, any, (size_t)F);
  }
  int64_t *mir = OVQ_MALLOC(sizeof(int64_t) * (size_t)(F + 1)),
          *gen = OVQ_MALLOC(sizeof(int64_t) * (size_t)(F + 1));
  int64_t *pos = OVQ_MALLOC(sizeof(int64_t) * (size_t)(F + 1)); /* feature -> index in mir/gen */
  int64_t a = 0, b = 0;
  for (int64_t j = 0; j < F; j++) {
    pos[j] = !use[j] ? -1 : j < G ? b : a;
    if (use[j] && j < G) gen[b++] = j;
    if (use[j] && j >= G) mir[a++] = j;
  }
  if (a == 0 || b == 0 || N < 3) {
    ovq_log(OVQ_LOG_INFO, "%s: miRNA-gene network: %s", m,
            N < 3 ? "fewer than 3 samples, nothing to correlate"
                  : "no pair of a DE miRNA and a DE gene to test");
  } else {
    double *nm, *ng;
    int64_t na, nb;
    double *um = unit_columns(&e->x, mir, a, 1, e->comm, &nm, &na);
    double *ug = unit_columns(&e->x, gen, b, 0, e->comm, &ng, &nb);
    double *r = OVQ_MALLOC(sizeof(double) * (size_t)(nb * a + 1)); /* [nb][a] */
    for (int64_t g = 0; g < nb; g++)
      for (int64_t i = 0; i < a; i++) {
        double s = 0.0;
        for (int64_t t = 0; t < N; t++)
          s += ug[g * N + t] * um[i * N + t];
        s = s > 1.0 ? 1.0 : s < -1.0 ? -1.0 : s;
        r[g * a + i] = nm[i] > 0 && ng[g] > 0 ? s : NAN;
      }
    double *rall = e->rank == 0 ? OVQ_MALLOC(sizeof(double) * (size_t)(b * a + 1)) : NULL;
    gather_rows(r, a, MPI_DOUBLE, rall, b, 0, e->comm);
    if (e->rank == 0) {
      /* The tested pairs in miRNA then gene order, and their p-values. */
      unsigned char *tested = OVQ_CALLOC((size_t)(a * b + 1), 1);
      if (e->with_interactions) {
        for (int64_t q = 0; q < e->n_pairs; q++) {
          int64_t pm = pos[e->pairs[2 * q]], pg = pos[e->pairs[2 * q + 1]];
          if (pm >= 0 && pg >= 0) tested[pm * b + pg] = 1;
        }
      } else {
        memset(tested, 1, (size_t)(a * b));
      }
      double *p = OVQ_MALLOC(sizeof(double) * (size_t)(a * b + 1));
      int64_t n_tested = 0, n_na = 0, n_edges = 0, n_sig = 0;
      const double df = (double)(N - 2);
      for (int64_t i = 0; i < a; i++)
        for (int64_t g = 0; g < b; g++) {
          double rv = rall[g * a + i];
          if (!tested[i * b + g]) continue;
          if (isnan(rv)) {
            tested[i * b + g] = 0;
            n_na++;
            continue;
          }
          p[n_tested++] = pearson_p(rv, df);
        }
      double *q = OVQ_MALLOC(sizeof(double) * (size_t)(n_tested + 1));
      ovq_bh_adjust(p, n_tested, q);
      char cm[256], cg[256], bm[64];
      int64_t x = 0;
      for (int64_t i = 0; i < a; i++)
        for (int64_t g = 0; g < b; g++) {
          if (!tested[i * b + g]) continue;
          double rv = rall[g * a + i];
          if (rv <= -cfg->eval.network_r) {
            cluster_list(de_in, k, F, mir[i], cm, sizeof cm);
            cluster_list(de_in, k, F, gen[g], cg, sizeof cg);
            tab_row(&e->tab[T_NETWORK],
                    TS(m, ovq_strings_at(&e->tr.ids, mir[i]), ovq_strings_at(&e->tr.ids, gen[g]),
                       cm, cg),
                    TNONE, TD(rv, p[x], q[x]));
            n_edges++;
            n_sig += q[x] < cfg->eval.de_fdr;
          }
          x++;
        }
      snprintf(bm, sizeof bm, "%g", cfg->eval.network_r);
      ovq_log(OVQ_LOG_INFO,
              "%s: miRNA-gene network: %lld DE miRNAs x %lld DE genes, %lld pairs "
              "tested, %lld edges with r <= -%s (%lld of them with BH q < %g)",
              m, (long long)a, (long long)b, (long long)n_tested, (long long)n_edges, bm,
              (long long)n_sig, cfg->eval.de_fdr);
      if (n_na)
        ovq_log(OVQ_LOG_WARN, "%s: %lld pairs with a constant feature not tested", m,
                (long long)n_na);
      free(tested);
      free(p);
      free(q);
    }
    free(rall);
    free(r);
    free(um);
    free(ug);
    free(nm);
    free(ng);
  }
  free(de_in);
  free(any);
  free(use);
  free(mir);
  free(gen);
  free(pos);
}

/* Collective. Differential expression, enrichment and the network of method m. */
static OvqStatus eval_expression(Eval *e, const char *m, const int32_t *cl) {
  OvqDiffexp de;
  if (ovq_diffexp_compute(&e->x, cl, e->comm, &de) != OVQ_OK) return OVQ_ERR;
  const OvqConfig *cfg = e->cfg;
  const int64_t F = de.n_features;
  int64_t n_sig = 0;
  for (int c = 0; c < de.k; c++) {
    if (de.n_in[c] == 1)
      ovq_log(OVQ_LOG_WARN,
              "%s: cluster %d has one sample: its t-tests are undefined (t = 0, "
              "p = 1)",
              m, c);
    for (int64_t j = 0; j < F; j++) {
      int64_t x = (int64_t)c * F + j;
      n_sig += de.t_q[x] < cfg->eval.de_fdr && fabs(de.log2fc[x]) > cfg->eval.de_lfc;
      tab_row(&e->tab[T_DE], TS(m, ovq_strings_at(&e->tr.ids, j)),
              TI(c, de.n_in[c], de.n_known - de.n_in[c]),
              TD(de.mean_in[x], de.mean_out[x], de.log2fc[x], de.t[x], de.t_p[x], de.t_q[x],
                 de.u[x], de.u_p[x], de.u_q[x]));
    }
  }
  ovq_log(OVQ_LOG_INFO, "%s: %lld (cluster, feature) pairs with Welch BH q < %g and |log2 FC| > %g",
          m, (long long)n_sig, cfg->eval.de_fdr, cfg->eval.de_lfc);
  OvqStatus st = OVQ_OK;
  if (e->with_gmt && e->rank == 0) st = eval_enrichment(e, m, &de);
  eval_network(e, m, &de);
  ovq_diffexp_free(&de);
  return st;
}

/* Collective. Every analysis of one method's labels. */
static OvqStatus eval_method(Eval *e, OvqResults *r, const char *m) {
  char name[256];
  snprintf(name, sizeof name, "/clusters/%s/labels", m);
  int32_t *cl = NULL;
  int64_t nt, nc, rs, nl;
  OvqStatus st =
      ovq_status_agree(e->comm, ovq_results_read_block(&e->clusters, name, H5T_NATIVE_INT32,
                                                       (void **)&cl, &nt, &nc, &rs, &nl));
  if (st == OVQ_OK && (nt != e->N || nc != 1))
    st = ovq_error("%s: %s has %lld x %lld values for %lld samples", e->in->clusters, name,
                   (long long)nt, (long long)nc, (long long)e->N);
  if (st != OVQ_OK) {
    free(cl);
    return st;
  }
  int k = 0;
  for (int64_t i = 0; i < nl; i++)
    if (cl[i] + 1 > k) k = cl[i] + 1;
  OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &k, 1, MPI_INT, MPI_MAX, e->comm));
  st = eval_agreement(e, r, m, k, cl, nl);
  if (k == 0) {
    ovq_log(OVQ_LOG_WARN,
            "%s: no sample has a cluster: survival and expression analyses "
            "skipped",
            m);
  } else {
    if (st == OVQ_OK && e->has_surv) st = eval_survival(e, r, m, k, cl, nl);
    if (st == OVQ_OK && e->with_cohort) st = eval_expression(e, m, cl);
  }
  free(cl);
  return ovq_status_agree(e->comm, st);
}

/* ---- Latent features ---------------------------------------------------------------------- */

/* Collective. Latent features of the model: their correlations, groups of features (average-
 * linkage tree of 1 - |Pearson| cut at eval.groups), the samples x features matrix ordered by
 * cluster and label (the heatmap), a PCA map and a t-SNE map. */
static OvqStatus eval_latent(Eval *e, const char *method, const int32_t *cl) {
  const char *path = e->in->latent, *model = e->cfg->model.type;
  const OvqStrings *ids = &e->ids, *lab = e->has_label ? &e->lab : NULL;
  OvqResults r;
  if (ovq_results_open(&r, path, e->comm) != OVQ_OK) return OVQ_ERR;
  char name[128];
  snprintf(name, sizeof name, "/models/%s/latent", model);
  float *z = NULL;
  int64_t N = 0, D = 0, r0 = 0, nl = 0;
  OvqStatus st = ovq_results_read_block(&r, name, H5T_NATIVE_FLOAT, (void **)&z, &N, &D, &r0, &nl);
  OvqStrings zid = {0, 0, NULL};
  if (st == OVQ_OK) st = ovq_results_read_strings(&r, "/samples/id", &zid);
  st = ovq_status_agree(e->comm, st);
  ovq_results_close(&r);
  if (st == OVQ_OK && zid.n != ids->n)
    st =
        ovq_error("%s: %lld samples, the clusters %lld", path, (long long)zid.n, (long long)ids->n);
  for (int64_t i = 0; st == OVQ_OK && i < zid.n; i++)
    if (strcmp(ovq_strings_at(&zid, i), ovq_strings_at(ids, i)) != 0)
      st = ovq_error("%s: sample %lld is %s, in the clusters file %s", path, (long long)i,
                     ovq_strings_at(&zid, i), ovq_strings_at(ids, i));
  ovq_strings_free(&zid);
  if (st == OVQ_OK && D < 2) st = ovq_error("%s: fewer than 2 latent features", path);
  if (st != OVQ_OK) {
    free(z);
    return st;
  }
  double *pr = OVQ_MALLOC(sizeof(double) * (size_t)(D * D));
  double *sr = OVQ_MALLOC(sizeof(double) * (size_t)(D * D));
  st = ovq_correlation_pearson(z, nl, D, e->comm, pr);
  if (st == OVQ_OK) st = ovq_correlation_spearman(z, nl, D, e->comm, sr);
  int64_t n_flat = 0;
  for (int64_t a = 0; st == OVQ_OK && a < D; a++)
    n_flat += isnan(pr[a * D + a]);
  if (n_flat)
    ovq_log(OVQ_LOG_WARN,
            "%s: %lld latent feature(s) constant over the samples: their "
            "correlations are NA",
            path, (long long)n_flat);
  /* Feature groups. */
  int32_t *grp = OVQ_CALLOC((size_t)D, sizeof(int32_t));
  if (st == OVQ_OK) {
    double *dis = OVQ_MALLOC(sizeof(double) * (size_t)(D * D));
    for (int64_t i = 0; i < D * D; i++)
      dis[i] = isfinite(pr[i]) ? 1.0 - fabs(pr[i]) : 1.0;
    for (int64_t i = 0; i < D; i++)
      dis[i * D + i] = 0.0;
    int g = e->cfg->eval.groups < D ? (int)e->cfg->eval.groups : (int)D;
    OvqHclustResult hr;
    st = ovq_hclust_from_dissimilarity(OVQ_LINKAGE_AVERAGE, g, dis, D, e->comm, &hr);
    if (st == OVQ_OK) {
      memcpy(grp, hr.labels, sizeof(int32_t) * (size_t)D);
      ovq_hclust_result_free(&hr);
    }
    free(dis);
  }
  /* PCA map (2 components). */
  OvqPca pca;
  memset(&pca, 0, sizeof pca);
  double *sc = OVQ_MALLOC(sizeof(double) * (size_t)(nl * 2 + 1));
  if (st == OVQ_OK) st = ovq_pca_fit(z, nl, D, 2, e->comm, &pca, sc);
  /* t-SNE map: perplexity eval.perplexity (50 as the paper), at most (N - 1) / 3. */
  double *ts = OVQ_MALLOC(sizeof(double) * (size_t)(nl * 2 + 1));
  double trust = NAN;
  for (int64_t i = 0; i < nl * 2; i++)
    ts[i] = NAN;
  if (st == OVQ_OK && e->cfg->eval.tsne) {
    OvqTsneParams tp = ovq_tsne_default_params();
    tp.perplexity = fmin(e->cfg->eval.perplexity, (double)(N - 1) / 3.0);
    st = ovq_tsne_fit(&tp, z, nl, D, e->comm, ts);
    if (st == OVQ_OK && N <= 5000 &&
        ovq_trustworthiness(z, D, ts, 2, nl, 5, e->comm, &trust) != OVQ_OK) {
      ovq_error_clear();
      trust = NAN;
    }
  }
  /* Latents, scores and clusters on rank 0 (N x D floats: small for latents). */
  float *zall = NULL;
  double *sall = NULL, *tall = NULL;
  int32_t *call = NULL;
  if (st == OVQ_OK) {
    if (e->rank == 0) {
      zall = OVQ_MALLOC(sizeof(float) * (size_t)(N * D + 1));
      sall = OVQ_MALLOC(sizeof(double) * (size_t)(N * 2 + 1));
      tall = OVQ_MALLOC(sizeof(double) * (size_t)(N * 2 + 1));
      call = OVQ_MALLOC(sizeof(int32_t) * (size_t)(N + 1));
    }
    gather_rows(z, D, MPI_FLOAT, zall, N, 0, e->comm);
    gather_rows(sc, 2, MPI_DOUBLE, sall, N, 0, e->comm);
    gather_rows(ts, 2, MPI_DOUBLE, tall, N, 0, e->comm);
    gather_rows(cl, 1, MPI_INT32_T, call, N, 0, e->comm);
  }
  if (st == OVQ_OK && e->rank == 0) {
    char fa[32], fb[32];
    for (int64_t a = 0; a < D; a++) {
      snprintf(fa, sizeof fa, "z%lld", (long long)a);
      for (int64_t b = a + 1; b < D; b++) {
        snprintf(fb, sizeof fb, "z%lld", (long long)b);
        tab_row(&e->tab[T_LATENT_CORR], TS(fa, fb), TNONE, TD(pr[a * D + b], sr[a * D + b]));
      }
      tab_row(&e->tab[T_LATENT_GROUPS], TS(fa), TI(grp[a]), TNONE);
    }
    for (int c = 0; c < 2; c++) {
      snprintf(fa, sizeof fa, "PC%d", c + 1);
      tab_row(&e->tab[T_PCA_VARIANCE], TS(fa), TNONE,
              TD(pca.explained_variance[c], pca.explained_variance_ratio[c]));
    }
    /* Samples ordered by cluster, then label, then position: the heatmap's row order. */
    int64_t *ord = OVQ_MALLOC(sizeof(int64_t) * (size_t)N);
    for (int64_t i = 0; i < N; i++)
      ord[i] = i;
    for (int64_t i = 1; i < N; i++) /* insertion sort: stable, N of a cohort */
      for (int64_t j = i; j > 0; j--) {
        int64_t x = ord[j - 1], y = ord[j];
        int c = (call[x] > call[y]) - (call[x] < call[y]);
        if (!c && lab) c = strcmp(ovq_strings_at(lab, x), ovq_strings_at(lab, y));
        if (c <= 0) break;
        ord[j - 1] = y;
        ord[j] = x;
      }
    for (int64_t q = 0; q < N; q++) {
      int64_t i = ord[q];
      const char *l = lab && ovq_strings_at(lab, i)[0] ? ovq_strings_at(lab, i) : "NA";
      const char *sid = ovq_strings_at(ids, i);
      tab_row(&e->tab[T_MAPS], TS(sid, method, l), TI(call[i]),
              TD(sall[i * 2], sall[i * 2 + 1], tall[i * 2], tall[i * 2 + 1]));
      for (int64_t f = 0; f < D; f++) {
        snprintf(fa, sizeof fa, "z%lld", (long long)f);
        tab_row(&e->tab[T_LATENT_HEATMAP], TS(sid, method, l, fa), TI(call[i]),
                TD(zall[i * D + f]));
      }
    }
    free(ord);
  }
  if (st == OVQ_OK) {
    char tw[64];
    if (!e->cfg->eval.tsne)
      snprintf(tw, sizeof tw, "no t-SNE (eval.tsne = false)");
    else if (isfinite(trust))
      snprintf(tw, sizeof tw, "t-SNE trustworthiness (5 neighbours) %.4f", trust);
    else
      snprintf(tw, sizeof tw, "t-SNE trustworthiness not computed (N > 5000)");
    ovq_log(OVQ_LOG_INFO,
            "latent features of %s (%s): %lld x %lld; PCA explains %.1f %% + %.1f %%; %s", path,
            model, (long long)N, (long long)D, 100 * pca.explained_variance_ratio[0],
            100 * pca.explained_variance_ratio[1], tw);
  }
  ovq_pca_destroy(&pca);
  free(zall);
  free(sall);
  free(tall);
  free(call);
  free(ts);
  free(sc);
  free(pr);
  free(sr);
  free(grp);
  free(z);
  return st;
}

/* ---- Output ------------------------------------------------------------------------------- */

/* Collective. Writes the active tables (TSV under temporary names, then the results file), and
 * renames everything into place only when all of it is written. */
static OvqStatus write_outputs(Eval *e, OvqResults *r) {
  int ok = 1;
  for (int t = 0; t < T_COUNT && ok; t++)
    if (e->tab[t].active && e->rank == 0 && !tab_write_tsv(&e->tab[t], e->stem)) {
      ok = 0;
      ovq_error("%s: could not be written", e->tab[t].path);
    }
  OvqStatus st = ovq_status_agree(e->comm, ok ? OVQ_OK : OVQ_ERR);
  if (st == OVQ_OK) {
    for (int t = 0; t < T_COUNT; t++)
      if (e->tab[t].active) tab_write_h5(&e->tab[t], r, e->comm);
    st = ovq_results_commit(r);
  }
  ok = 1;
  for (int t = 0; t < T_COUNT && e->rank == 0; t++) {
    Table *tb = &e->tab[t];
    if (!tb->active || !tb->tmp[0]) continue;
    if (st == OVQ_OK && ok && rename(tb->tmp, tb->path) == 0) continue;
    if (st == OVQ_OK && ok) ovq_error("%s: could not be written", tb->path);
    ok = 0;
    remove(tb->tmp);
  }
  return st == OVQ_OK ? ovq_status_agree(e->comm, ok ? OVQ_OK : OVQ_ERR) : st;
}

/* Collective. Drops a results file that is not committed (an existing file of that name stays). */
static void results_discard(OvqResults *r, int rank) {
  if (!r->path) return;
  H5Fclose(r->file);
  if (rank == 0) remove(r->tmp);
  free(r->tmp);
  free(r->path);
  memset(r, 0, sizeof *r);
}

static void eval_free(Eval *e) {
  ovq_results_close(&e->clusters);
  ovq_matrix_free(&e->x);
  ovq_prep_free(&e->tr);
  ovq_gmt_free(&e->sets);
  free(e->pairs);
  for (int w = 0; w < 2; w++) {
    free(e->ref[w]);
    free(e->ref_names[w]);
  }
  for (int t = 0; t < T_COUNT; t++)
    tab_free(&e->tab[t]);
  ovq_strings_free(&e->ids);
  ovq_strings_free(&e->lab);
  ovq_strings_free(&e->truth);
  free(e->os_time);
  free(e->os_event);
}

OvqStatus ovq_evaluate(const OvqConfig *cfg, const OvqEvalInputs *in, MPI_Comm comm) {
  Eval e;
  memset(&e, 0, sizeof e);
  e.cfg = cfg;
  e.in = in;
  e.comm = comm;
  MPI_Comm_rank(comm, &e.rank);
  MPI_Comm_size(comm, &e.size);
  if (!in->clusters || !in->out)
    return ovq_error("evaluation: a clusters file and an output are needed");
  snprintf(e.stem, sizeof e.stem, "%s", in->out);
  size_t sl = strlen(e.stem);
  if (sl > 3 && !strcmp(e.stem + sl - 3, ".h5")) e.stem[sl - 3] = 0;
  for (int t = 0; t < T_COUNT; t++)
    tab_init(&e.tab[t], t, e.rank == 0);

  OvqStatus st = read_samples(&e);
  if (st != OVQ_OK) {
    eval_free(&e);
    return st;
  }
  if (!in->cohort && (cfg->eval.gmt[0] || cfg->eval.interactions[0]))
    ovq_log(OVQ_LOG_WARN, "no cohort: eval.gmt / eval.interactions (enrichment, network) skipped");
  if (in->cohort) st = read_cohort(&e);
  if (st == OVQ_OK && in->cohort && cfg->eval.gmt[0]) {
    OvqStatus gs = e.rank == 0 ? ovq_gmt_read(cfg->eval.gmt, &e.sets) : OVQ_OK;
    st = ovq_status_agree(comm, gs);
    e.with_gmt = st == OVQ_OK;
  }
  if (st == OVQ_OK && in->cohort && cfg->eval.interactions[0])
    st = read_interactions(&e, cfg->eval.interactions);
  if (st == OVQ_OK && in->latent) { /* fail before the long analyses if it is not readable */
    OvqResults lr;
    st = ovq_results_open(&lr, in->latent, comm);
    if (st == OVQ_OK) ovq_results_close(&lr);
  }

  int active[T_COUNT] = {1,
                         1,
                         1,
                         1,
                         1,
                         1,
                         e.with_cohort,
                         e.with_cohort,
                         e.with_gmt,
                         in->latent != NULL,
                         in->latent != NULL,
                         in->latent != NULL,
                         in->latent != NULL,
                         in->latent != NULL};
  for (int t = 0; t < T_COUNT; t++)
    e.tab[t].active = active[t];
  OvqResults r;
  memset(&r, 0, sizeof r);
  if (st == OVQ_OK) {
    char *text = ovq_config_to_ini(cfg);
    st = ovq_results_create(&r, in->out, text, comm);
    free(text);
  }
  char methods[2 * sizeof cfg->eval.methods];
  snprintf(methods, sizeof methods, "%s",
           cfg->eval.methods[0] ? cfg->eval.methods : cfg->cluster.methods);
  char first[sizeof methods];
  snprintf(first, sizeof first, "%s", methods + strspn(methods, ", "));
  first[strcspn(first, ", ")] = 0;
  for (char *sv = NULL, *m = strtok_r(methods, ", ", &sv); m && st == OVQ_OK;
       m = strtok_r(NULL, ", ", &sv))
    st = eval_method(&e, &r, m);
  if (st == OVQ_OK && in->latent) {
    char name[sizeof first + 32];
    snprintf(name, sizeof name, "/clusters/%s/labels", first);
    int32_t *cl = NULL;
    int64_t nt, nc, rs, nl;
    st = ovq_status_agree(comm, ovq_results_read_block(&e.clusters, name, H5T_NATIVE_INT32,
                                                       (void **)&cl, &nt, &nc, &rs, &nl));
    if (st == OVQ_OK) st = ovq_status_agree(comm, eval_latent(&e, first, cl));
    free(cl);
  }
  if (st == OVQ_OK) st = write_outputs(&e, &r);
  if (st != OVQ_OK) results_discard(&r, e.rank);
  if (st == OVQ_OK) ovq_log(OVQ_LOG_INFO, "wrote %s and %s_*.tsv", in->out, e.stem);
  eval_free(&e);
  return st;
}
