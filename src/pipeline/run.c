/* oncovq run: the stages of one cohort in order, with stage caching (ovq/pipeline.h). */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ovq/evaluate.h"
#include "ovq/metrics.h"
#include "ovq/pca.h"
#include "ovq/pipeline.h"
#include "ovq/progress.h"
#include "ovq/stop.h"
#include "ovq/strmap.h"
#include "ovq/survival.h"

enum { MAX_ITEMS = 16, NAME_LEN = 32 };

/* ---- small helpers ------------------------------------------------------------------------ */

/* snprintf through a va_list: paths are checked against OVQ_PATH_MAX once, at the start. */
static void fmt(char *buf, size_t n, const char *f, ...) __attribute__((format(printf, 3, 4)));
static void fmt(char *buf, size_t n, const char *f, ...) {
  va_list ap;
  va_start(ap, f);
  vsnprintf(buf, n, f, ap);
  va_end(ap);
}

/* Splits a comma-separated list into items; returns their count or -1 (error set) when more
 * than MAX_ITEMS or an item is too long. */
static int split_list(const char *what, const char *text, char items[MAX_ITEMS][NAME_LEN]) {
  char buf[512];
  fmt(buf, sizeof buf, "%s", text);
  int n = 0;
  for (char *sv = NULL, *t = strtok_r(buf, ", ", &sv); t; t = strtok_r(NULL, ", ", &sv)) {
    if (n == MAX_ITEMS || strlen(t) >= NAME_LEN) {
      ovq_error("%s: more than %d items or an item longer than %d characters", what, MAX_ITEMS,
                NAME_LEN - 1);
      return -1;
    }
    fmt(items[n++], NAME_LEN, "%s", t);
  }
  return n;
}

/* FNV-1a over a string, continuing from h. */
static uint64_t fnv(uint64_t h, const char *s) {
  for (; *s; s++) {
    h ^= (unsigned char)*s;
    h *= 1099511628211ull;
  }
  h ^= 0xff; /* separator: "ab"+"c" differs from "a"+"bc" */
  return h * 1099511628211ull;
}

/* Adds the canonical text of the named config sections ("prep,model") to the key h. */
static uint64_t fnv_sections(uint64_t h, const OvqConfig *cfg, const char *sections) {
  char *ini = ovq_config_to_ini(cfg);
  char want[256];
  fmt(want, sizeof want, ",%s,", sections);
  int on = 0;
  for (char *sv = NULL, *line = strtok_r(ini, "\n", &sv); line; line = strtok_r(NULL, "\n", &sv)) {
    if (line[0] == '[') {
      char name[64];
      fmt(name, sizeof name, ",%.*s,", (int)strcspn(line + 1, "]"), line + 1);
      on = strstr(want, name) != NULL;
    }
    /* The checkpoint path and the log level do not change results. */
    if (on && strncmp(line, "checkpoint =", 12) != 0) h = fnv(h, line);
  }
  free(ini);
  return h;
}

static int file_exists(const char *p) { return access(p, F_OK) == 0; }

/* Rank 0: does the key file hold this key? Agreed on every rank. */
static int key_matches(const char *keyfile, uint64_t key, MPI_Comm comm) {
  int rank, ok = 0;
  MPI_Comm_rank(comm, &rank);
  if (rank == 0) {
    FILE *f = fopen(keyfile, "r");
    unsigned long long k = 0;
    if (f) {
      ok = fscanf(f, "%llx", &k) == 1 && k == key;
      fclose(f);
    }
  }
  MPI_Bcast(&ok, 1, MPI_INT, 0, comm);
  return ok;
}

/* Rank 0 writes the key file atomically (temporary name + rename); agreed status. */
static OvqStatus key_write(const char *keyfile, uint64_t key, MPI_Comm comm) {
  int rank;
  MPI_Comm_rank(comm, &rank);
  OvqStatus st = OVQ_OK;
  if (rank == 0) {
    char tmp[OVQ_PATH_MAX + 32];
    fmt(tmp, sizeof tmp, "%s.tmp", keyfile);
    FILE *f = fopen(tmp, "w");
    int ok = f && fprintf(f, "%016llx\n", (unsigned long long)key) > 0;
    if (f && fclose(f) != 0) ok = 0;
    if (!ok || rename(tmp, keyfile) != 0) {
      st = ovq_error("%s: cannot write: %s", keyfile, strerror(errno));
      remove(tmp);
    }
  }
  return ovq_status_agree(comm, st);
}

static void remove_on_root(const char *path, MPI_Comm comm) {
  int rank;
  MPI_Comm_rank(comm, &rank);
  if (rank == 0) remove(path);
  MPI_Barrier(comm);
}

static OvqStatus make_dir(const char *path, MPI_Comm comm) {
  int rank;
  MPI_Comm_rank(comm, &rank);
  OvqStatus st = OVQ_OK;
  if (rank == 0 && mkdir(path, 0777) != 0 && errno != EEXIST)
    st = ovq_error("%s: cannot create the directory: %s", path, strerror(errno));
  return ovq_status_agree(comm, st);
}

/* Codes of this rank's label strings, consistent over ranks: the distinct non-empty strings of
 * all ranks sorted, "" -> -1. Returns the number of classes. */
static int label_codes(const OvqStrings *lab, int64_t n_local, MPI_Comm comm, int32_t *code) {
  int size;
  MPI_Comm_size(comm, &size);
  int w = lab->width, wmax = 0;
  MPI_Allreduce(&w, &wmax, 1, MPI_INT, MPI_MAX, comm);
  int n = (int)n_local, *counts = OVQ_MALLOC(sizeof(int) * (size_t)size),
      *displs = OVQ_MALLOC(sizeof(int) * (size_t)size);
  MPI_Allgather(&n, 1, MPI_INT, counts, 1, MPI_INT, comm);
  int64_t total = 0;
  for (int r = 0; r < size; r++) {
    displs[r] = (int)(total * wmax);
    total += counts[r];
    counts[r] *= wmax;
  }
  char *mine = OVQ_CALLOC((size_t)(n_local * wmax + 1), 1);
  for (int64_t i = 0; i < n_local; i++)
    fmt(mine + i * wmax, (size_t)wmax, "%s", ovq_strings_at(lab, i));
  char *all = OVQ_MALLOC((size_t)(total * wmax + 1));
  MPI_Allgatherv(mine, n * wmax, MPI_CHAR, all, counts, displs, MPI_CHAR, comm);
  /* Distinct values, sorted. */
  const char **u = OVQ_MALLOC(sizeof(char *) * (size_t)(total + 1));
  OvqStrMap seen;
  ovq_strmap_init(&seen, total + 1);
  int nu = 0;
  for (int64_t i = 0; i < total; i++) {
    const char *v = all + i * wmax;
    if (v[0] && ovq_strmap_put(&seen, v, nu) == nu) u[nu++] = v;
  }
  for (int a = 1; a < nu; a++)
    for (int b = a; b > 0 && strcmp(u[b - 1], u[b]) > 0; b--) {
      const char *t = u[b];
      u[b] = u[b - 1];
      u[b - 1] = t;
    }
  OvqStrMap idx;
  ovq_strmap_init(&idx, nu + 1);
  for (int q = 0; q < nu; q++) ovq_strmap_put(&idx, u[q], q);
  for (int64_t i = 0; i < n_local; i++)
    code[i] = (int32_t)ovq_strmap_get(&idx, mine + i * wmax);
  ovq_strmap_free(&idx);
  ovq_strmap_free(&seen);
  free(u);
  free(all);
  free(mine);
  free(counts);
  free(displs);
  return nu;
}

/* ---- the summary table -------------------------------------------------------------------- */

typedef struct Row {
  char features[NAME_LEN], method[NAME_LEN];
  int k;
  int64_t seed, n_samples, n_labelled;
  double nmi, ari, purity, silhouette, chi2, p, seconds, ari_truth, nmi_truth;
} Row;

typedef struct Summary {
  Row *rows;
  int n, cap;
} Summary;

/* Judges labels [n_local] (codes 0..k-1) against the published labels and survival. */
static OvqStatus judge(const int32_t *labels, const int32_t *pub, const int32_t *truth,
                       const OvqCohort *c, MPI_Comm comm, Row *row) {
  OvqAgreement a;
  OvqStatus st = ovq_metrics_agreement(pub, labels, c->n_local, comm, &a);
  if (st != OVQ_OK) return st;
  row->n_labelled = a.n_known;
  row->nmi = a.n_known > 0 ? a.nmi : NAN;
  row->ari = a.n_known > 0 ? a.ari : NAN;
  row->purity = a.n_known > 0 ? a.purity : NAN;
  row->ari_truth = row->nmi_truth = NAN;
  if (truth) {
    if ((st = ovq_metrics_agreement(truth, labels, c->n_local, comm, &a)) != OVQ_OK) return st;
    row->ari_truth = a.ari;
    row->nmi_truth = a.nmi;
  }
  OvqSurvData d;
  if ((st = ovq_survival_gather(c->os_time, c->os_event, labels, c->n_local, comm, &d)) != OVQ_OK)
    return st;
  OvqLogrank lr;
  ovq_survival_logrank(&d, &lr);
  row->chi2 = lr.df > 0 ? lr.chisq : NAN;
  row->p = lr.df > 0 ? lr.p : NAN;
  ovq_survival_data_free(&d);
  return OVQ_OK;
}

static Row *summary_add(Summary *s) {
  if (s->n == s->cap) {
    s->cap = s->cap ? 2 * s->cap : 64;
    s->rows = OVQ_REALLOC(s->rows, sizeof(Row) * (size_t)s->cap);
  }
  Row *r = &s->rows[s->n++];
  memset(r, 0, sizeof *r);
  return r;
}

static void put_num(FILE *f, double v) {
  if (isfinite(v))
    fprintf(f, "\t%.10g", v);
  else
    fputc('\t', f);
}

/* Rank 0 writes OUT/summary.tsv atomically. */
static OvqStatus summary_write(const Summary *s, const char *path, const char *cancer,
                               int with_truth, MPI_Comm comm) {
  int rank;
  MPI_Comm_rank(comm, &rank);
  OvqStatus st = OVQ_OK;
  if (rank == 0) {
    char tmp[OVQ_PATH_MAX + 32];
    fmt(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (f) {
      fprintf(f, "cancer\tfeatures\tmethod\tk\tseed\tn_samples\tn_labelled\tnmi\tari\tpurity\t"
                 "silhouette\tlogrank_chi2\tlogrank_p\tseconds%s\n",
              with_truth ? "\tari_truth\tnmi_truth" : "");
      for (int i = 0; i < s->n; i++) {
        const Row *r = &s->rows[i];
        fprintf(f, "%s\t%s\t%s\t%d\t", cancer[0] ? cancer : "all", r->features, r->method, r->k);
        if (r->seed >= 0) fprintf(f, "%lld", (long long)r->seed);
        fprintf(f, "\t%lld\t%lld", (long long)r->n_samples, (long long)r->n_labelled);
        put_num(f, r->nmi);
        put_num(f, r->ari);
        put_num(f, r->purity);
        put_num(f, r->silhouette);
        put_num(f, r->chi2);
        put_num(f, r->p);
        put_num(f, r->seconds);
        if (with_truth) {
          put_num(f, r->ari_truth);
          put_num(f, r->nmi_truth);
        }
        fputc('\n', f);
      }
    }
    int ok = f && !ferror(f);
    if (f && fclose(f) != 0) ok = 0;
    if (!ok || rename(tmp, path) != 0) {
      st = ovq_error("%s: cannot write: %s", path, strerror(errno));
      remove(tmp);
    }
  }
  return ovq_status_agree(comm, st);
}

/* Collective. The summary columns as /summary/<column> datasets of r. */
static void summary_to_results(const Summary *s, const char *cancer, OvqResults *r) {
  const int n = s->n;
  OvqStrings col[3];
  for (int j = 0; j < 3; j++) ovq_strings_alloc(&col[j], n > 0 ? n : 1, NAME_LEN);
  col[0].n = col[1].n = col[2].n = n;
  double *num = OVQ_MALLOC(sizeof(double) * (size_t)(12 * (n + 1)));
  for (int i = 0; i < n; i++) {
    const Row *w = &s->rows[i];
    ovq_strings_set(&col[0], i, cancer[0] ? cancer : "all");
    ovq_strings_set(&col[1], i, w->features);
    ovq_strings_set(&col[2], i, w->method);
    double v[12] = {w->k,      w->seed >= 0 ? (double)w->seed : NAN, (double)w->n_samples,
                    (double)w->n_labelled, w->nmi, w->ari, w->purity, w->silhouette, w->chi2,
                    w->p,      w->seconds, w->ari_truth};
    for (int j = 0; j < 12; j++) num[j * n + i] = v[j];
  }
  static const char *const scol[3] = {"cancer", "features", "method"};
  static const char *const ncol[12] = {"k",      "seed",       "n_samples",    "n_labelled",
                                       "nmi",    "ari",        "purity",       "silhouette",
                                       "logrank_chi2", "logrank_p", "seconds", "ari_truth"};
  char name[64];
  for (int j = 0; j < 3; j++) {
    fmt(name, sizeof name, "/summary/%s", scol[j]);
    ovq_results_write_strings(r, name, &col[j]);
    ovq_strings_free(&col[j]);
  }
  for (int j = 0; j < 12; j++) {
    fmt(name, sizeof name, "/summary/%s", ncol[j]);
    ovq_results_write_array(r, name, H5T_NATIVE_DOUBLE, num + j * n, n, 0);
  }
  free(num);
}

/* ---- stages --------------------------------------------------------------------------------- */

typedef struct Run {
  const OvqConfig *cfg;
  const char *out;
  MPI_Comm comm;
  OvqCohort c;
  OvqMatrix x;
  OvqPrepTransform tr;
  uint64_t base_key;
  char models[MAX_ITEMS][NAME_LEN];
  int n_models;
  uint64_t model_key[MAX_ITEMS];
} Run;

/* OUT/stages/<what>_<name>.h5 or OUT/eval/<name>.h5 */
static void stage_path(const Run *R, char *buf, size_t n, const char *dir, const char *what,
                       const char *name) {
  fmt(buf, n, "%s/%s/%s%s%s.h5", R->out, dir, what, what[0] ? "_" : "", name);
}

/* Trains every model of run.models (or finds it trained). */
static OvqStatus train_models(Run *R, OvqStageOutcome *outcome) {
  for (int i = 0; i < R->n_models; i++) {
    const char *m = R->models[i];
    OvqConfig cfg = *R->cfg;
    fmt(cfg.model.type, sizeof cfg.model.type, "%s", m);
    uint64_t key = fnv_sections(fnv(R->base_key, m), &cfg, "model,train");
    R->model_key[i] = key;
    char file[OVQ_PATH_MAX], keyfile[OVQ_PATH_MAX + 8], ckpt[OVQ_PATH_MAX + 8],
        ckey[OVQ_PATH_MAX + 16];
    stage_path(R, file, sizeof file, "stages", "model", m);
    fmt(keyfile, sizeof keyfile, "%s.key", file);
    if (file_exists(file) && key_matches(keyfile, key, R->comm)) {
      ovq_log(OVQ_LOG_INFO, "stage train %s: up to date (%s)", m, file);
      continue;
    }
    remove_on_root(keyfile, R->comm);
    fmt(ckpt, sizeof ckpt, "%s.ckpt", file);
    fmt(ckey, sizeof ckey, "%s.key", ckpt);
    int resume = file_exists(ckpt) && key_matches(ckey, key, R->comm);
    if (!resume) {
      remove_on_root(ckpt, R->comm);
      if (key_write(ckey, key, R->comm) != OVQ_OK) return OVQ_ERR;
    }
    fmt(cfg.train.checkpoint, sizeof cfg.train.checkpoint, "%s", ckpt);
    ovq_log(OVQ_LOG_INFO, "stage train %s%s -> %s", m, resume ? " (resumed from its checkpoint)" : "",
            file);
    if (ovq_stage_train(&cfg, &R->c, &R->x, &R->tr, file, resume, R->comm, outcome) != OVQ_OK)
      return OVQ_ERR;
    if (*outcome == OVQ_STAGE_INTERRUPTED) return OVQ_OK;
    if (key_write(keyfile, key, R->comm) != OVQ_OK) return OVQ_ERR;
    remove_on_root(ckpt, R->comm);
    remove_on_root(ckey, R->comm);
  }
  return OVQ_OK;
}

/* One feature set in memory: x [n_local][D] (owned when owned = 1). */
typedef struct FeatureSet {
  const char *name;
  float *x;
  int owned;
  int64_t D, n_mrna;
  double *var_ratio; /* pca: explained variance ratio of each component [D], owned; else NULL */
  uint64_t key;
  char model_file[OVQ_PATH_MAX]; /* the trained model's results file ("" for raw, pca) */
} FeatureSet;

static OvqStatus feature_set(Run *R, const char *fs, FeatureSet *f) {
  memset(f, 0, sizeof *f);
  f->name = fs;
  const int64_t n_local = R->x.n_local;
  if (!strcmp(fs, "raw")) {
    f->x = R->x.x;
    f->D = R->x.n_cols;
    f->n_mrna = R->tr.n_mrna;
    f->key = fnv(R->base_key, "raw");
    return OVQ_OK;
  }
  if (!strcmp(fs, "pca")) {
    int64_t lim = R->x.n_total - 1 < R->x.n_cols ? R->x.n_total - 1 : R->x.n_cols;
    int64_t nc = R->cfg->cluster.pca_components < lim ? R->cfg->cluster.pca_components : lim;
    OvqPca p;
    double *sc = OVQ_MALLOC(sizeof(double) * (size_t)(n_local * nc + 1));
    OvqStatus st = ovq_pca_fit(R->x.x, n_local, R->x.n_cols, nc, R->comm, &p, sc);
    if (st != OVQ_OK) {
      free(sc);
      return st;
    }
    double ratio = 0;
    for (int64_t j = 0; j < nc; j++) ratio += p.explained_variance_ratio[j];
    ovq_log(OVQ_LOG_INFO, "pca: %lld components explain %.1f%% of the variance", (long long)nc,
            100.0 * ratio);
    f->var_ratio = OVQ_MALLOC(sizeof(double) * (size_t)(nc + 1));
    memcpy(f->var_ratio, p.explained_variance_ratio, sizeof(double) * (size_t)nc);
    ovq_pca_destroy(&p);
    f->x = OVQ_MALLOC(sizeof(float) * (size_t)(n_local * nc + 1));
    for (int64_t i = 0; i < n_local * nc; i++) f->x[i] = (float)sc[i];
    free(sc);
    f->owned = 1;
    f->D = nc;
    char t[32];
    fmt(t, sizeof t, "pca%lld+ratio", (long long)nc); /* +ratio: stage files since the ratio */
    f->key = fnv(R->base_key, t);
    return OVQ_OK;
  }
  int mi = -1;
  for (int i = 0; i < R->n_models; i++)
    if (!strcmp(R->models[i], fs)) mi = i;
  if (mi < 0)
    return ovq_error("run.features names '%s', which is neither raw, pca nor a model of "
                     "run.models (%s)", fs, R->cfg->run.models);
  stage_path(R, f->model_file, sizeof f->model_file, "stages", "model", fs);
  const char *which = !strcmp(fs, "vqvae") && !strcmp(R->cfg->model.features, "zq") ? "z_q"
                                                                                    : "latent";
  char name[128];
  fmt(name, sizeof name, "/models/%s/%s", fs, which);
  OvqResults in;
  if (ovq_results_open(&in, f->model_file, R->comm) != OVQ_OK) return OVQ_ERR;
  int64_t N, D, r0, nl;
  OvqStatus st = ovq_results_read_block(&in, name, H5T_NATIVE_FLOAT, (void **)&f->x, &N, &D, &r0,
                                        &nl);
  ovq_results_close(&in);
  if (st != OVQ_OK) return st;
  if (N != R->x.n_total || nl != n_local) {
    free(f->x);
    return ovq_error("%s: %lld samples, the cohort has %lld", f->model_file, (long long)N,
                     (long long)R->x.n_total);
  }
  f->owned = 1;
  f->D = D;
  f->key = fnv(R->model_key[mi], which);
  return OVQ_OK;
}

/* Clusters one feature set with one seed into its stage file (or finds it done). */
static OvqStatus cluster_stage(Run *R, const FeatureSet *f, int64_t seed, const char *file,
                               uint64_t *key_out) {
  OvqConfig cfg = *R->cfg;
  cfg.cluster.seed = seed;
  uint64_t key = fnv_sections(f->key, &cfg, "cluster");
  *key_out = key;
  char keyfile[OVQ_PATH_MAX + 8];
  fmt(keyfile, sizeof keyfile, "%s.key", file);
  if (file_exists(file) && key_matches(keyfile, key, R->comm)) {
    ovq_log(OVQ_LOG_INFO, "stage cluster %s seed %lld: up to date (%s)", f->name,
            (long long)seed, file);
    return OVQ_OK;
  }
  remove_on_root(keyfile, R->comm);
  ovq_log(OVQ_LOG_INFO, "stage cluster %s seed %lld: %lld x %lld -> %s", f->name, (long long)seed,
          (long long)R->x.n_total, (long long)f->D, file);
  OvqClusterData data;
  ovq_cluster_data_init(&data, f->x, R->x.n_total, R->x.row_start, R->x.n_local, f->D, f->n_mrna);
  char *ini = ovq_config_to_ini(&cfg);
  OvqResults r;
  OvqStatus st = ovq_results_create(&r, file, ini, R->comm);
  free(ini);
  if (st == OVQ_OK) {
    ovq_results_write_samples(&r, &R->c);
    if (f->owned) {
      char name[128];
      fmt(name, sizeof name, "/features/%s", f->name);
      ovq_results_write_rows(&r, name, H5T_NATIVE_FLOAT, f->x, R->x.n_total, f->D,
                             R->x.row_start, R->x.n_local);
    }
    if (f->var_ratio) {
      char name[128];
      fmt(name, sizeof name, "/features/%s_variance_ratio", f->name);
      ovq_results_write_array(&r, name, H5T_NATIVE_DOUBLE, f->var_ratio, f->D, 0);
    }
    st = ovq_stage_cluster(&cfg, &data, &r, "", R->comm);
    if (st == OVQ_OK)
      st = ovq_results_commit(&r);
    else
      ovq_results_abort(&r);
  }
  ovq_cluster_data_free(&data);
  if (st == OVQ_OK) st = key_write(keyfile, key, R->comm);
  return st;
}

/* Evaluates the first seed's clusters of one feature set (or finds it done). */
static OvqStatus eval_stage(Run *R, const FeatureSet *f, const char *clusters, uint64_t ckey) {
  OvqConfig cfg = *R->cfg;
  if (f->model_file[0]) fmt(cfg.model.type, sizeof cfg.model.type, "%s", f->name);
  char file[OVQ_PATH_MAX], keyfile[OVQ_PATH_MAX + 8];
  stage_path(R, file, sizeof file, "eval", "", f->name);
  fmt(keyfile, sizeof keyfile, "%s.key", file);
  uint64_t key = fnv_sections(fnv(ckey, cfg.model.type), &cfg, "eval");
  if (file_exists(file) && key_matches(keyfile, key, R->comm)) {
    ovq_log(OVQ_LOG_INFO, "stage eval %s: up to date (%s)", f->name, file);
    return OVQ_OK;
  }
  remove_on_root(keyfile, R->comm);
  ovq_log(OVQ_LOG_INFO, "stage eval %s -> %s", f->name, file);
  OvqEvalInputs in = {clusters, cfg.data.cohort, f->model_file[0] ? f->model_file : NULL, file};
  OvqStatus st = ovq_evaluate(&cfg, &in, R->comm);
  if (st == OVQ_OK) st = key_write(keyfile, key, R->comm);
  return st;
}

/* Summary rows of one cluster stage file: every method x k. */
static OvqStatus summarise(Run *R, const FeatureSet *f, int64_t seed, const char *file,
                           const int32_t *pub, const int32_t *truth, Summary *S) {
  char methods[MAX_ITEMS][NAME_LEN];
  int nm = split_list("cluster.methods", R->cfg->cluster.methods, methods);
  if (nm < 0) return OVQ_ERR;
  OvqResults in;
  if (ovq_results_open(&in, file, R->comm) != OVQ_OK) return OVQ_ERR;
  OvqStatus st = OVQ_OK;
  char name[256];
  for (int m = 0; m < nm && st == OVQ_OK; m++) {
    double *ks = NULL, *sil = NULL, *secs = NULL;
    int64_t nk = 0, n2 = 0, n3 = 0;
    fmt(name, sizeof name, "/clusters/%s/choose_k/k", methods[m]);
    st = ovq_results_read_array(&in, name, H5T_NATIVE_DOUBLE, (void **)&ks, &nk);
    fmt(name, sizeof name, "/clusters/%s/choose_k/silhouette", methods[m]);
    if (st == OVQ_OK)
      st = ovq_results_read_array(&in, name, H5T_NATIVE_DOUBLE, (void **)&sil, &n2);
    fmt(name, sizeof name, "/clusters/%s/choose_k/seconds", methods[m]);
    if (st == OVQ_OK)
      st = ovq_results_read_array(&in, name, H5T_NATIVE_DOUBLE, (void **)&secs, &n3);
    for (int64_t q = 0; q < nk && st == OVQ_OK; q++) {
      int32_t *lab = NULL;
      int64_t N, D, r0, nl;
      fmt(name, sizeof name, "/clusters/%s/k%d/labels", methods[m], (int)ks[q]);
      st = ovq_results_read_block(&in, name, H5T_NATIVE_INT32, (void **)&lab, &N, &D, &r0, &nl);
      if (st != OVQ_OK) break;
      Row *row = summary_add(S);
      fmt(row->features, NAME_LEN, "%s", f->name);
      fmt(row->method, NAME_LEN, "%s", methods[m]);
      row->k = (int)ks[q];
      row->seed = seed;
      row->n_samples = N;
      row->silhouette = sil[q];
      row->seconds = secs[q];
      st = judge(lab, pub, truth, &R->c, R->comm, row);
      free(lab);
    }
    free(ks);
    free(sil);
    free(secs);
  }
  ovq_results_close(&in);
  return st;
}

/* ---- the run -------------------------------------------------------------------------------- */

/* 64-bit FNV-1a start value of a key chained with the cohort file's identity. */
static uint64_t cohort_key(const OvqConfig *cfg, MPI_Comm comm) {
  int rank;
  MPI_Comm_rank(comm, &rank);
  char id[OVQ_PATH_MAX + 96] = "";
  if (rank == 0) {
    struct stat sb;
    if (stat(cfg->data.cohort, &sb) == 0)
      fmt(id, sizeof id, "%s|%lld|%lld.%09ld", cfg->data.cohort, (long long)sb.st_size,
          (long long)sb.st_mtim.tv_sec, (long)sb.st_mtim.tv_nsec);
  }
  MPI_Bcast(id, (int)sizeof id, MPI_CHAR, 0, comm);
  return fnv(fnv(14695981039346656037ull, id), cfg->data.cancer);
}

uint64_t ovq_run_key(const OvqConfig *cfg, MPI_Comm comm) {
  return fnv_sections(cohort_key(cfg, comm), cfg,
                      "data,import,prep,cluster,synth,model,train,eval,run,sweep");
}

OvqStatus ovq_run(const OvqConfig *cfg, const char *outdir, MPI_Comm comm,
                  OvqStageOutcome *outcome) {
  *outcome = OVQ_STAGE_DONE;
  if (!cfg->data.cohort[0])
    return ovq_error("data.cohort is not set: give --cohort FILE or --set data.cohort=FILE");
  Run R;
  memset(&R, 0, sizeof R);
  R.cfg = cfg;
  R.out = outdir;
  R.comm = comm;
  char feats[MAX_ITEMS][NAME_LEN], seeds_s[MAX_ITEMS][NAME_LEN];
  R.n_models = split_list("run.models", cfg->run.models, R.models);
  int n_feats = split_list("run.features", cfg->run.features, feats);
  int n_seeds = split_list("run.seeds", cfg->run.seeds, seeds_s);
  OvqStatus st = R.n_models < 0 || n_feats < 0 || n_seeds < 0 ? OVQ_ERR : OVQ_OK;
  for (int i = 0; i < R.n_models && st == OVQ_OK; i++)
    if (strcmp(R.models[i], "vqvae") && strcmp(R.models[i], "ae") && strcmp(R.models[i], "vae"))
      st = ovq_error("run.models: unknown model '%s' (vqvae, ae, vae)", R.models[i]);
  for (int i = 0; i < n_feats && st == OVQ_OK; i++)
    if (strcmp(feats[i], "raw") && strcmp(feats[i], "pca")) {
      int known = 0;
      for (int m = 0; m < R.n_models; m++) known |= !strcmp(feats[i], R.models[m]);
      if (!known)
        st = ovq_error("run.features names '%s', which is neither raw, pca nor a model of "
                       "run.models (%s)", feats[i], cfg->run.models);
    }
  int64_t seeds[MAX_ITEMS];
  for (int i = 0; i < n_seeds && st == OVQ_OK; i++) {
    char *end;
    seeds[i] = strtoll(seeds_s[i], &end, 10);
    if (*end || seeds[i] < 0) st = ovq_error("run.seeds: '%s' is not a seed (integer >= 0)", seeds_s[i]);
  }
  if (st == OVQ_OK && (n_feats == 0 || n_seeds == 0))
    st = ovq_error("run.features and run.seeds must name at least one item");
  if (ovq_status_agree(comm, st) != OVQ_OK) return OVQ_ERR;
  if (strlen(outdir) > OVQ_PATH_MAX - 128)
    return ovq_error("--out %s: the path is too long (at most %d characters)", outdir,
                     OVQ_PATH_MAX - 128);
  char path[OVQ_PATH_MAX + 64];
  if (make_dir(outdir, comm) != OVQ_OK) return OVQ_ERR;
  fmt(path, sizeof path, "%s/stages", outdir);
  if (make_dir(path, comm) != OVQ_OK) return OVQ_ERR;
  fmt(path, sizeof path, "%s/eval", outdir);
  if (make_dir(path, comm) != OVQ_OK) return OVQ_ERR;
  R.base_key = fnv_sections(cohort_key(cfg, comm), cfg, "prep");
  double t_run = ovq_time();

  if (ovq_cohort_read(cfg->data.cohort, cfg->data.cancer, comm, &R.c) != OVQ_OK) return OVQ_ERR;
  OvqPrepOptions po;
  OvqPrepReport rep;
  ovq_prep_options_from_config(cfg, &po);
  if (ovq_prep_fit(&R.c, &po, comm, &R.x, &R.tr, &rep) != OVQ_OK) {
    ovq_cohort_destroy(&R.c);
    return OVQ_ERR;
  }
  ovq_prep_log_report(&rep);

  st = train_models(&R, outcome);
  /* Published labels and (synthetic cohorts) the true subtypes as codes. */
  int32_t *pub = OVQ_MALLOC(sizeof(int32_t) * (size_t)(R.c.n_local + 1));
  int32_t *truth = NULL;
  int n_classes = label_codes(&R.c.label, R.c.n_local, comm, pub);
  int has_truth = R.c.true_subtype.data != NULL, any_truth = 0;
  MPI_Allreduce(&has_truth, &any_truth, 1, MPI_INT, MPI_MAX, comm);
  if (any_truth) {
    truth = OVQ_MALLOC(sizeof(int32_t) * (size_t)(R.c.n_local + 1));
    label_codes(&R.c.true_subtype, R.c.n_local, comm, truth);
  }
  Summary S = {NULL, 0, 0};
  if (st == OVQ_OK && *outcome == OVQ_STAGE_DONE && n_classes > 0) {
    Row *row = summary_add(&S);
    fmt(row->features, NAME_LEN, "published");
    fmt(row->method, NAME_LEN, "label");
    row->k = n_classes;
    row->seed = -1;
    row->n_samples = R.x.n_total;
    row->silhouette = row->seconds = NAN;
    st = judge(pub, pub, truth, &R.c, comm, row);
  }
  char (*files)[MAX_ITEMS][OVQ_PATH_MAX] = OVQ_MALLOC(sizeof(char[MAX_ITEMS][MAX_ITEMS][OVQ_PATH_MAX]));
  for (int i = 0; i < n_feats && st == OVQ_OK && *outcome == OVQ_STAGE_DONE; i++) {
    FeatureSet f;
    if ((st = feature_set(&R, feats[i], &f)) != OVQ_OK) break;
    uint64_t first_key = 0;
    for (int s = 0; s < n_seeds && st == OVQ_OK; s++) {
      fmt(files[i][s], OVQ_PATH_MAX, "%s/stages/clusters_%s_s%lld.h5", outdir, f.name,
               (long long)seeds[s]);
      uint64_t key;
      st = cluster_stage(&R, &f, seeds[s], files[i][s], &key);
      if (s == 0) first_key = key;
      if (st == OVQ_OK) st = summarise(&R, &f, seeds[s], files[i][s], pub, truth, &S);
    }
    if (st == OVQ_OK) st = eval_stage(&R, &f, files[i][0], first_key);
    if (f.owned) free(f.x);
    free(f.var_ratio);
    if (st == OVQ_OK && ovq_stop_requested()) *outcome = OVQ_STAGE_INTERRUPTED;
  }
  if (st == OVQ_OK && *outcome == OVQ_STAGE_DONE) {
    /* Everything merged into OUT/results.h5, then OUT/summary.tsv last: a summary exists only
     * next to the complete results it summarises. */
    fmt(path, sizeof path, "%s/results.h5", outdir);
    char *ini = ovq_config_to_ini(cfg);
    OvqResults r;
    st = ovq_results_create(&r, path, ini, comm);
    free(ini);
    if (st == OVQ_OK) {
      ovq_results_write_samples(&r, &R.c);
      ovq_prep_write(&r, &R.tr);
      char src[OVQ_PATH_MAX], obj[256], dst[256];
      for (int i = 0; i < R.n_models && st == OVQ_OK; i++) {
        stage_path(&R, src, sizeof src, "stages", "model", R.models[i]);
        fmt(obj, sizeof obj, "/models/%s", R.models[i]);
        st = ovq_results_copy(&r, src, obj, obj);
      }
      for (int i = 0; i < n_feats && st == OVQ_OK; i++) {
        if (!strcmp(feats[i], "pca")) {
          fmt(obj, sizeof obj, "/features/pca");
          st = ovq_results_copy(&r, files[i][0], obj, obj);
          fmt(obj, sizeof obj, "/features/pca_variance_ratio");
          if (st == OVQ_OK) st = ovq_results_copy(&r, files[i][0], obj, obj);
        }
        for (int s = 0; s < n_seeds && st == OVQ_OK; s++) {
          fmt(dst, sizeof dst, "/clusters/%s/s%lld", feats[i], (long long)seeds[s]);
          st = ovq_results_copy(&r, files[i][s], "/clusters", dst);
        }
        stage_path(&R, src, sizeof src, "eval", "", feats[i]);
        fmt(dst, sizeof dst, "/eval/%s", feats[i]);
        if (st == OVQ_OK) st = ovq_results_copy(&r, src, "/eval", dst);
      }
      if (st == OVQ_OK) {
        summary_to_results(&S, cfg->data.cancer, &r);
        st = ovq_results_commit(&r);
      } else {
        ovq_results_abort(&r);
      }
    }
    if (st == OVQ_OK) {
      fmt(path, sizeof path, "%s/summary.tsv", outdir);
      st = summary_write(&S, path, cfg->data.cancer, any_truth, comm);
    }
    if (st == OVQ_OK)
      ovq_log(OVQ_LOG_INFO, "run finished in %.1f s: %s/summary.tsv, %s/results.h5",
              ovq_time_max(ovq_time() - t_run, comm), outdir, outdir);
  }
  free(files);
  free(S.rows);
  free(pub);
  free(truth);
  ovq_prep_free(&R.tr);
  ovq_matrix_free(&R.x);
  ovq_cohort_destroy(&R.c);
  return st;
}
