/* Configuration table, INI parser and overrides (see include/ovq/config.h).
 *
 * Every key is one row of kKeys: where it lives in OvqConfig, its type, its allowed range or
 * values and its default. Adding a setting means adding a field and a row; parsing, validation,
 * printing and broadcasting follow from the table. */
#include "ovq/config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { T_STRING, T_INT, T_REAL, T_BOOL, T_ENUM } KeyType;

typedef struct Key {
  const char *section, *name;
  KeyType type;
  size_t offset, size; /* field within OvqConfig; size of char arrays */
  double min, max;     /* T_INT, T_REAL: inclusive range */
  const char *choices; /* T_ENUM: "a|b|c" */
  const char *def;     /* default, as text */
} Key;

#define F(field) offsetof(OvqConfig, field), sizeof(((OvqConfig *)0)->field)

static const Key kKeys[] = {
    {"log", "level", T_ENUM, F(log.level), 0, 0, "error|warn|info|debug", "info"},
    {"data", "cohort", T_STRING, F(data.cohort), 0, 0, NULL, ""},
    {"data", "cancer", T_STRING, F(data.cancer), 0, 0, NULL, ""},
    {"import", "mrna", T_STRING, F(import.mrna), 0, 0, NULL, ""},
    {"import", "mirna", T_STRING, F(import.mirna), 0, 0, NULL, ""},
    {"import", "clinical", T_STRING, F(import.clinical), 0, 0, NULL, ""},
    {"import", "labels", T_STRING, F(import.labels), 0, 0, NULL, ""},
    {"import", "layout", T_ENUM, F(import.layout), 0, 0, "features_as_rows|samples_as_rows",
     "features_as_rows"},
    {"import", "delimiter", T_ENUM, F(import.delimiter), 0, 0, "tab|comma", "tab"},
    {"import", "gdc_sheet", T_STRING, F(import.gdc_sheet), 0, 0, NULL, ""},
    {"import", "gdc_dir", T_STRING, F(import.gdc_dir), 0, 0, NULL, ""},
    {"import", "gdc_value", T_STRING, F(import.gdc_value), 0, 0, NULL, "tpm_unstranded"},
    {"import", "gdc_mirna_value", T_STRING, F(import.gdc_mirna_value), 0, 0, NULL,
     "reads_per_million_miRNA_mapped"},
    {"import", "sample_column", T_STRING, F(import.sample_column), 0, 0, NULL, "sample"},
    {"import", "label_column", T_STRING, F(import.label_column), 0, 0, NULL, "label"},
    {"import", "os_time_column", T_STRING, F(import.os_time_column), 0, 0, NULL, "os_time"},
    {"import", "os_event_column", T_STRING, F(import.os_event_column), 0, 0, NULL, "os_event"},
    {"import", "cancer_column", T_STRING, F(import.cancer_column), 0, 0, NULL, "cancer"},
    {"import", "labels_sample_column", T_STRING, F(import.labels_sample_column), 0, 0, NULL,
     "sample"},
    {"import", "cancer", T_STRING, F(import.cancer), 0, 0, NULL, ""},
    {"import", "sample_types", T_STRING, F(import.sample_types), 0, 0, NULL, "01"},
    {"import", "log", T_ENUM, F(import.log), 0, 0, "auto|yes|no", "auto"},
    {"import", "empty_features", T_ENUM, F(import.empty_features), 0, 0, "error|drop", "error"},
    {"prep", "zero_fraction", T_REAL, F(prep.zero_fraction), 0, 1, NULL, "0.1"},
    {"prep", "impute", T_ENUM, F(prep.impute), 0, 0, "knn|mean", "knn"},
    {"prep", "knn_k", T_INT, F(prep.knn_k), 1, 1e4, NULL, "10"},
    {"prep", "knn_rowmax", T_REAL, F(prep.knn_rowmax), 0, 1, NULL, "0.5"},
    {"prep", "knn_colmax", T_REAL, F(prep.knn_colmax), 0, 1, NULL, "0.8"},
    {"prep", "knn_maxp", T_INT, F(prep.knn_maxp), 2, 1e9, NULL, "1500"},
    {"prep", "select", T_ENUM, F(prep.select), 0, 0, "none|variance|mad", "none"},
    {"prep", "top_mrna", T_INT, F(prep.top_mrna), 0, 1e9, NULL, "0"},
    {"prep", "top_mirna", T_INT, F(prep.top_mirna), 0, 1e9, NULL, "0"},
    {"prep", "standardize", T_BOOL, F(prep.standardize), 0, 0, NULL, "true"},
    {"prep", "weight_mrna", T_REAL, F(prep.weight_mrna), 0, 1e6, NULL, "1"},
    {"prep", "weight_mirna", T_REAL, F(prep.weight_mirna), 0, 1e6, NULL, "1"},
    {"cluster", "features", T_ENUM, F(cluster.features), 0, 0, "latent|raw|pca", "latent"},
    {"cluster", "pca_components", T_INT, F(cluster.pca_components), 1, 1e5, NULL, "64"},
    {"cluster", "methods", T_STRING, F(cluster.methods), 0, 0, NULL, "kmeans"},
    {"cluster", "k", T_INT, F(cluster.k), 0, 1000, NULL, "0"},
    {"cluster", "k_min", T_INT, F(cluster.k_min), 2, 1000, NULL, "2"},
    {"cluster", "k_max", T_INT, F(cluster.k_max), 2, 1000, NULL, "8"},
    {"cluster", "seed", T_INT, F(cluster.seed), 0, 9007199254740991.0, NULL, "1"},
    {"cluster", "n_init", T_INT, F(cluster.n_init), 1, 10000, NULL, "10"},
    {"cluster", "max_iter", T_INT, F(cluster.max_iter), 1, 1e6, NULL, "300"},
    {"cluster", "kmeans_init", T_ENUM, F(cluster.kmeans_init), 0, 0, "kmeans++|kmeans||",
     "kmeans++"},
    {"cluster", "gmm_covariance", T_ENUM, F(cluster.gmm_covariance), 0, 0, "full|diag|spherical",
     "full"},
    {"cluster", "hclust_linkage", T_ENUM, F(cluster.hclust_linkage), 0, 0,
     "average|complete|ward", "average"},
    {"cluster", "spectral_affinity", T_ENUM, F(cluster.spectral_affinity), 0, 0, "rbf|knn", "rbf"},
    /* 0: 1 / (features x their mean variance). scikit-learn's fixed 1.0 makes every affinity
     * ~0 on latents of norm ~10 (the spectral embedding then collapses: eigengap 0, negative
     * silhouettes on the pan-cancer VQ-VAE latents). */
    {"cluster", "spectral_gamma", T_REAL, F(cluster.spectral_gamma), 0, 1e12, NULL, "0"},
    {"cluster", "spectral_neighbors", T_INT, F(cluster.spectral_neighbors), 1, 1e6, NULL, "10"},
    {"cluster", "snf_k", T_INT, F(cluster.snf_k), 1, 1e6, NULL, "20"},
    {"cluster", "snf_alpha", T_REAL, F(cluster.snf_alpha), 1e-9, 1e6, NULL, "0.5"},
    {"cluster", "snf_t", T_INT, F(cluster.snf_t), 0, 1e4, NULL, "20"},
    {"cluster", "nmf_runs", T_INT, F(cluster.nmf_runs), 1, 10000, NULL, "30"},
    {"cluster", "nmf_method", T_ENUM, F(cluster.nmf_method), 0, 0, "brunet|lee", "brunet"},
    {"cluster", "icluster_burnin", T_INT, F(cluster.icluster_burnin), 0, 1e7, NULL, "1000"},
    {"cluster", "icluster_draws", T_INT, F(cluster.icluster_draws), 1, 1e7, NULL, "1200"},
    {"cluster", "icluster_thin", T_INT, F(cluster.icluster_thin), 1, 1e6, NULL, "1"},
    {"cluster", "icluster_prior_gamma", T_REAL, F(cluster.icluster_prior_gamma), 1e-9, 0.999999,
     NULL, "0.1"},
    {"cluster", "icluster_sdev", T_REAL, F(cluster.icluster_sdev), 1e-9, 1e6, NULL, "0.5"},
    {"cluster", "icluster_beta_var_scale", T_REAL, F(cluster.icluster_beta_var_scale), 1e-9, 1e6,
     NULL, "1"},
    {"cluster", "consensus_reps", T_INT, F(cluster.consensus_reps), 0, 65535, NULL, "0"},
    {"cluster", "consensus_fraction", T_REAL, F(cluster.consensus_fraction), 0.01, 1, NULL, "0.8"},
    {"synth", "cancers", T_STRING, F(synth.cancers), 0, 0, NULL,
     "BRCA,GBM,LGG,OV,LUAD,KIRC,HNSC,COAD,BLCA,PRAD"},
    {"synth", "scale", T_REAL, F(synth.scale), 1e-4, 100.0, NULL, "1"},
    {"synth", "seed", T_INT, F(synth.seed), 0, 9007199254740991.0, NULL, "42"},
    {"synth", "genes", T_INT, F(synth.genes), 100, 1e6, NULL, "20000"},
    {"synth", "mirnas", T_INT, F(synth.mirnas), 0, 1e5, NULL, "1800"},
    {"synth", "format", T_ENUM, F(synth.format), 0, 0, "h5|tsv", "h5"},
    {"model", "type", T_ENUM, F(model.type), 0, 0, "vqvae|ae|vae", "vqvae"},
    {"model", "hidden", T_STRING, F(model.hidden), 0, 0, NULL, "2048,512"},
    {"model", "res_blocks", T_INT, F(model.res_blocks), 0, 4, NULL, "1"},
    {"model", "res_width", T_INT, F(model.res_width), 1, 1e6, NULL, "64"},
    {"model", "latent", T_INT, F(model.latent), 1, 1e5, NULL, "64"},
    {"model", "activation", T_ENUM, F(model.activation), 0, 0, "gelu|relu", "gelu"},
    {"model", "codebook_size", T_INT, F(model.codebook_size), 1, 1e6, NULL, "64"},
    {"model", "groups", T_INT, F(model.groups), 1, 1024, NULL, "1"},
    {"model", "beta", T_REAL, F(model.beta), 0, 1e6, NULL, "1"},
    {"model", "ema", T_BOOL, F(model.ema), 0, 0, NULL, "false"},
    {"model", "ema_decay", T_REAL, F(model.ema_decay), 0, 0.999999, NULL, "0.99"},
    {"model", "ema_eps", T_REAL, F(model.ema_eps), 0, 1, NULL, "1e-5"},
    /* Codes start at encoder outputs and a code unused for an epoch restarts at one: with the
     * reference code's U(-1/K, 1/K) start and no restarts the codebook collapsed on the
     * synthetic BRCA cohort (17-21 of 64 codes in use after 30 epochs, perplexity ~10) and
     * k-means on z_e gave ARI 0.21-0.70 over training seeds 1-5 (0.61-0.78 with these
     * defaults, 63-64 codes in use; tests/test_vq_ari.c, notes of issue 3). */
    {"model", "dead_code_threshold", T_REAL, F(model.dead_code_threshold), 0, 1e9, NULL, "1"},
    /* Restarts every n steps, counting use over those n steps (0: at each epoch's end). Once an
     * epoch is too rare when epochs are long: on the pan-cancer cohort (43 steps an epoch) the
     * codebook collapsed in epoch 2 (2 of 64 codes, recon 1.00, z_e constant); every 5 steps it
     * kept 64 codes, perplexity 58, recon 0.76 (notes of issue 3). */
    {"model", "dead_code_every", T_INT, F(model.dead_code_every), 0, 1e9, NULL, "5"},
    {"model", "codebook_init", T_ENUM, F(model.codebook_init), 0, 0, "uniform|data", "data"},
    {"model", "kl_weight", T_REAL, F(model.kl_weight), 0, 1e6, NULL, "1"},
    {"model", "features", T_ENUM, F(model.features), 0, 0, "ze|zq", "ze"},
    /* omics: each omic's reconstruction error counts the same (ovq_omic_recon_weights);
     * features: every feature the same, as the paper's MSE over the concatenation, where the
     * miRNAs (a tenth of the synthetic features, a few percent of real ones) barely count: on
     * the synthetic BRCA cohort k-means on z_e gave ARI 0.61-0.72 (8 seeds) with features and
     * 0.98-1.00 with omics, raw k-means 0.67 (tests/test_vq_ari.c, notes of issue 3). */
    {"model", "recon_balance", T_ENUM, F(model.recon_balance), 0, 0, "omics|features", "omics"},
    {"train", "epochs", T_INT, F(train.epochs), 1, 1e7, NULL, "100"},
    {"train", "batch", T_INT, F(train.batch), 1, 1e7, NULL, "256"},
    {"train", "lr", T_REAL, F(train.lr), 0, 10, NULL, "1e-3"},
    {"train", "adam_beta1", T_REAL, F(train.adam_beta1), 0, 0.999999, NULL, "0.9"},
    {"train", "adam_beta2", T_REAL, F(train.adam_beta2), 0, 0.999999999, NULL, "0.999"},
    {"train", "adam_eps", T_REAL, F(train.adam_eps), 0, 1, NULL, "1e-8"},
    {"train", "weight_decay", T_REAL, F(train.weight_decay), 0, 10, NULL, "0"},
    {"train", "clip_norm", T_REAL, F(train.clip_norm), 0, 1e9, NULL, "0"},
    {"train", "warmup_steps", T_INT, F(train.warmup_steps), 0, 1e9, NULL, "0"},
    {"train", "schedule", T_ENUM, F(train.schedule), 0, 0, "constant|cosine", "constant"},
    {"train", "seed", T_INT, F(train.seed), 0, 9007199254740991.0, NULL, "1"},
    {"train", "checkpoint", T_STRING, F(train.checkpoint), 0, 0, NULL, ""},
    {"train", "checkpoint_every", T_INT, F(train.checkpoint_every), 0, 1e9, NULL, "10"},
    {"train", "check_replicas_every", T_INT, F(train.check_replicas_every), 0, 1e9, NULL, "0"},
    {"train", "reproducible", T_BOOL, F(train.reproducible), 0, 0, NULL, "false"},
    {"train", "repro_workers", T_INT, F(train.repro_workers), 1, 65536, NULL, "8"},
    /* Ranks that split the features among themselves through shared memory (trainer.h): 0 = all
     * ranks of a host; n > 0 = groups of n consecutive ranks (must divide the rank count and lie
     * within a host), e.g. to check the multi-node layout on one machine. */
    {"train", "node_ranks", T_INT, F(train.node_ranks), 0, 65536, NULL, "0"},
    {"eval", "methods", T_STRING, F(eval.methods), 0, 0, NULL, ""},
    {"eval", "gmt", T_STRING, F(eval.gmt), 0, 0, NULL, ""},
    {"eval", "de_fdr", T_REAL, F(eval.de_fdr), 0, 1, NULL, "0.05"},
    {"eval", "de_lfc", T_REAL, F(eval.de_lfc), 0, 1e3, NULL, "1"},
    {"eval", "groups", T_INT, F(eval.groups), 1, 1e4, NULL, "3"},
    {"eval", "tsne", T_BOOL, F(eval.tsne), 0, 0, NULL, "true"},
    {"eval", "perplexity", T_REAL, F(eval.perplexity), 1, 1e4, NULL, "50"},
    {"eval", "network_r", T_REAL, F(eval.network_r), 0, 1, NULL, "0.5"},
    {"eval", "interactions", T_STRING, F(eval.interactions), 0, 0, NULL, ""},
    {"run", "models", T_STRING, F(run.models), 0, 0, NULL, "vqvae,ae,vae"},
    {"run", "features", T_STRING, F(run.features), 0, 0, NULL, "raw,pca,ae,vae,vqvae"},
    {"run", "seeds", T_STRING, F(run.seeds), 0, 0, NULL, "1"},
    {"run", "report", T_ENUM, F(run.report), 0, 0, "auto|yes|no", "auto"},
    {"sweep", "cancers", T_STRING, F(sweep.cancers), 0, 0, NULL, ""},
    {"sweep", "models", T_STRING, F(sweep.models), 0, 0, NULL, "vqvae,ae,vae"},
    {"sweep", "codebook_size", T_STRING, F(sweep.codebook_size), 0, 0, NULL, "64"},
    {"sweep", "latent", T_STRING, F(sweep.latent), 0, 0, NULL, "64"},
    {"sweep", "beta", T_STRING, F(sweep.beta), 0, 0, NULL, "1"},
    {"sweep", "lr", T_STRING, F(sweep.lr), 0, 0, NULL, "1e-3"},
    {"sweep", "epochs", T_STRING, F(sweep.epochs), 0, 0, NULL, "100"},
    {"sweep", "hidden", T_STRING, F(sweep.hidden), 0, 0, NULL, "2048,512"},
    {"sweep", "seeds", T_STRING, F(sweep.seeds), 0, 0, NULL, "1"},
    {"sweep", "group_size", T_INT, F(sweep.group_size), 1, 1e6, NULL, "1"},
};
#undef F

enum { N_KEYS = sizeof kKeys / sizeof kKeys[0] };

static const Key *find_key(const char *section, const char *name, int *section_known) {
  *section_known = 0;
  for (int i = 0; i < N_KEYS; i++) {
    if (strcmp(kKeys[i].section, section) != 0) continue;
    *section_known = 1;
    if (strcmp(kKeys[i].name, name) == 0) return &kKeys[i];
  }
  return NULL;
}

static int choice_ok(const char *choices, const char *v) {
  size_t n = strlen(v);
  for (const char *p = choices; *p;) {
    const char *bar = strchr(p, '|');
    size_t len = bar ? (size_t)(bar - p) : strlen(p);
    if (len == n && strncmp(p, v, n) == 0) return 1;
    p += len + (bar ? 1 : 0);
  }
  return 0;
}

/* Parses value text into the field; `where` prefixes messages ("file:line" or "--set"). */
static OvqStatus apply(OvqConfig *c, const Key *k, const char *v, const char *where) {
  char *field = (char *)c + k->offset;
  const char *sep = where[0] ? ": " : "";
  switch (k->type) {
  case T_STRING:
  case T_ENUM:
    if (k->type == T_ENUM && !choice_ok(k->choices, v))
      return ovq_error("%s%s%s.%s = '%s' is not one of %s", where, sep, k->section, k->name, v,
                       k->choices);
    if (strlen(v) >= k->size)
      return ovq_error("%s%s%s.%s is too long (%zu characters, at most %zu)", where, sep,
                       k->section, k->name, strlen(v), k->size - 1);
    memcpy(field, v, strlen(v) + 1);
    return OVQ_OK;
  case T_INT: {
    char *end = NULL;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (!*v || *end || errno)
      return ovq_error("%s%s%s.%s = '%s' is not an integer", where, sep, k->section, k->name, v);
    if ((double)x < k->min || (double)x > k->max)
      return ovq_error("%s%s%s.%s = %lld is out of range [%.17g, %.17g]", where, sep, k->section,
                       k->name, x, k->min, k->max);
    *(int64_t *)field = x;
    return OVQ_OK;
  }
  case T_REAL: {
    char *end = NULL;
    errno = 0;
    double x = strtod(v, &end);
    if (!*v || *end || errno || !isfinite(x))
      return ovq_error("%s%s%s.%s = '%s' is not a finite number", where, sep, k->section, k->name,
                       v);
    if (x < k->min || x > k->max)
      return ovq_error("%s%s%s.%s = %g is out of range [%g, %g]", where, sep, k->section, k->name,
                       x, k->min, k->max);
    *(double *)field = x;
    return OVQ_OK;
  }
  case T_BOOL:
    if (!strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "yes") || !strcmp(v, "on"))
      *(int *)field = 1;
    else if (!strcmp(v, "false") || !strcmp(v, "0") || !strcmp(v, "no") || !strcmp(v, "off"))
      *(int *)field = 0;
    else
      return ovq_error("%s%s%s.%s = '%s' is not a boolean (true/false)", where, sep, k->section,
                       k->name, v);
    return OVQ_OK;
  }
  return ovq_error("internal: bad key type");
}

void ovq_config_defaults(OvqConfig *c) {
  memset(c, 0, sizeof *c);
  for (int i = 0; i < N_KEYS; i++)
    if (apply(c, &kKeys[i], kKeys[i].def, "") != OVQ_OK)
      OVQ_ABORT("default of %s.%s is invalid: %s", kKeys[i].section, kKeys[i].name,
                ovq_error_message());
}

static char *trim(char *s) {
  while (isspace((unsigned char)*s)) s++;
  char *e = s + strlen(s);
  while (e > s && isspace((unsigned char)e[-1])) *--e = '\0';
  return s;
}

/* Removes one pair of matching quotes around a value, so `path = "a b.h5"` works. */
static char *unquote(char *v) {
  size_t n = strlen(v);
  if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0]) {
    v[n - 1] = '\0';
    return v + 1;
  }
  return v;
}

static OvqStatus parse_stream(OvqConfig *c, FILE *f, const char *path);

static OvqStatus set_key(OvqConfig *c, const char *section, const char *name, const char *value,
                         const char *where) {
  int section_known;
  const Key *k = find_key(section, name, &section_known);
  if (!k) {
    if (!section_known) return ovq_error("%s: unknown section [%s]", where, section);
    return ovq_error("%s: unknown key '%s' in section [%s]", where, name, section);
  }
  return apply(c, k, value, where);
}

OvqStatus ovq_config_load_file(OvqConfig *c, const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) return ovq_error("%s: cannot open config file: %s", path, strerror(errno));
  OvqStatus st = parse_stream(c, f, path);
  fclose(f);
  return st;
}

OvqStatus ovq_config_load_string(OvqConfig *c, const char *text, const char *origin) {
  FILE *f = fmemopen((void *)text, strlen(text), "r");
  if (!f) return ovq_error("%s: cannot read config text", origin);
  OvqStatus st = parse_stream(c, f, origin);
  fclose(f);
  return st;
}

/* Applies the INI text of stream f; `path` names it in messages. */
static OvqStatus parse_stream(OvqConfig *c, FILE *f, const char *path) {
  char line[4096], section[64] = "", where[OVQ_PATH_MAX + 32];
  /* Keys seen, to catch a key given twice in one file (usually a copy-paste mistake). */
  unsigned char seen[N_KEYS] = {0};
  long lineno = 0;
  OvqStatus st = OVQ_OK;
  while (st == OVQ_OK && fgets(line, sizeof line, f)) {
    lineno++;
    snprintf(where, sizeof where, "%s:%ld", path, lineno);
    size_t len = strlen(line);
    if (len == sizeof line - 1 && line[len - 1] != '\n' && !feof(f)) {
      st = ovq_error("%s: line longer than %zu characters", where, sizeof line - 2);
      break;
    }
    char *s = line;
    if (lineno == 1 && (unsigned char)s[0] == 0xEF && (unsigned char)s[1] == 0xBB &&
        (unsigned char)s[2] == 0xBF)
      s += 3; /* UTF-8 byte-order mark */
    s = trim(s);
    if (!*s || *s == '#' || *s == ';') continue;
    if (*s == '[') {
      char *close = strchr(s, ']');
      if (!close || *trim(close + 1)) {
        st = ovq_error("%s: malformed section header '%s' (expected [name])", where, s);
        break;
      }
      *close = '\0';
      char *name = trim(s + 1);
      int known = 0;
      for (int i = 0; i < N_KEYS; i++) known |= !strcmp(kKeys[i].section, name);
      if (!known) {
        st = ovq_error("%s: unknown section [%s]", where, name);
        break;
      }
      snprintf(section, sizeof section, "%s", name);
      continue;
    }
    char *eq = strchr(s, '=');
    if (!eq) {
      st = ovq_error("%s: expected 'key = value', got '%s'", where, s);
      break;
    }
    if (!section[0]) {
      st = ovq_error("%s: key outside any [section]", where);
      break;
    }
    *eq = '\0';
    char *name = trim(s), *value = unquote(trim(eq + 1));
    int section_known;
    const Key *k = find_key(section, name, &section_known);
    if (k && seen[k - kKeys]) {
      st = ovq_error("%s: %s.%s is set twice in this file", where, section, name);
      break;
    }
    if (k) seen[k - kKeys] = 1;
    st = set_key(c, section, name, value, where);
  }
  if (st == OVQ_OK && ferror(f)) st = ovq_error("%s: read error", path);
  return st;
}

OvqStatus ovq_config_set(OvqConfig *c, const char *assignment, const char *origin) {
  char buf[OVQ_PATH_MAX + 128];
  if (strlen(assignment) >= sizeof buf) return ovq_error("%s: assignment too long", origin);
  strcpy(buf, assignment);
  char *eq = strchr(buf, '=');
  char *dot = strchr(buf, '.');
  if (!eq || !dot || dot > eq)
    return ovq_error("%s '%s': expected section.key=value", origin, assignment);
  *eq = '\0';
  *dot = '\0';
  char where[OVQ_PATH_MAX + 256];
  snprintf(where, sizeof where, "%s %s", origin, assignment);
  return set_key(c, trim(buf), trim(dot + 1), unquote(trim(eq + 1)), where);
}

OvqStatus ovq_config_resolve(OvqConfig *c, const char *path, int n_sets, char *const *sets,
                             MPI_Comm comm) {
  int rank;
  OVQ_MPI_CHECK(MPI_Comm_rank(comm, &rank));
  OvqStatus st = OVQ_OK;
  if (rank == 0) {
    ovq_config_defaults(c);
    if (path && path[0]) st = ovq_config_load_file(c, path);
    for (int i = 0; st == OVQ_OK && i < n_sets; i++) st = ovq_config_set(c, sets[i], "--set");
  }
  st = ovq_status_agree(comm, st);
  if (st != OVQ_OK) return st;
  /* The struct is plain data (no pointers), so its bytes are the whole config. */
  OVQ_MPI_CHECK(MPI_Bcast(c, (int)sizeof *c, MPI_BYTE, 0, comm));
  return OVQ_OK;
}

static void append(char **buf, size_t *len, size_t *cap, const char *s) {
  size_t n = strlen(s);
  if (*len + n + 1 > *cap) {
    *cap = 2 * (*len + n + 1);
    *buf = OVQ_REALLOC(*buf, *cap);
  }
  memcpy(*buf + *len, s, n + 1);
  *len += n;
}

/* The value of key k in c as config text. */
static void format_value(const OvqConfig *c, const Key *k, char *buf, size_t n) {
  const char *field = (const char *)c + k->offset;
  switch (k->type) {
  case T_STRING:
  case T_ENUM: snprintf(buf, n, "%s", field); break;
  case T_INT: snprintf(buf, n, "%lld", (long long)*(const int64_t *)field); break;
  case T_BOOL: snprintf(buf, n, "%s", *(const int *)field ? "true" : "false"); break;
  case T_REAL: {
    /* Shortest text that reads back to the same double, so "0.1" stays "0.1". */
    double x = *(const double *)field;
    for (int prec = 15; prec <= 17; prec++) {
      snprintf(buf, n, "%.*g", prec, x);
      if (strtod(buf, NULL) == x) break;
    }
    break;
  }
  }
}

char *ovq_config_to_ini(const OvqConfig *c) {
  size_t len = 0, cap = 1024;
  char *out = OVQ_MALLOC(cap), line[OVQ_PATH_MAX + 128], value[OVQ_PATH_MAX + 32];
  out[0] = '\0';
  const char *section = "";
  for (int i = 0; i < N_KEYS; i++) {
    const Key *k = &kKeys[i];
    if (strcmp(section, k->section) != 0) {
      snprintf(line, sizeof line, "%s[%s]\n", len ? "\n" : "", k->section);
      append(&out, &len, &cap, line);
      section = k->section;
    }
    format_value(c, k, value, sizeof value);
    /* The parser trims a value and drops one pair of matching quotes around it: a string that
     * starts or ends with white space, or is itself quoted, is written in quotes so that it
     * reads back unchanged. */
    size_t n = strlen(value);
    int quote = n > 0 && (isspace((unsigned char)value[0]) ||
                          isspace((unsigned char)value[n - 1]) ||
                          (n >= 2 && (value[0] == '"' || value[0] == '\'') &&
                           value[n - 1] == value[0]));
    snprintf(line, sizeof line, quote ? "%s = \"%s\"\n" : "%s = %s\n", k->name, value);
    append(&out, &len, &cap, line);
  }
  return out;
}

char *ovq_config_overrides(const OvqConfig *c) {
  OvqConfig d;
  ovq_config_defaults(&d);
  size_t len = 0, cap = 256;
  char *out = OVQ_MALLOC(cap), line[2 * OVQ_PATH_MAX], v[OVQ_PATH_MAX + 32], dv[OVQ_PATH_MAX + 32];
  out[0] = '\0';
  for (int i = 0; i < N_KEYS; i++) {
    format_value(c, &kKeys[i], v, sizeof v);
    format_value(&d, &kKeys[i], dv, sizeof dv);
    if (strcmp(v, dv) == 0) continue;
    snprintf(line, sizeof line, "%s%s.%s=%s", len ? " " : "", kKeys[i].section, kKeys[i].name, v);
    append(&out, &len, &cap, line);
  }
  return out;
}

OvqLogLevel ovq_config_log_level(const OvqConfig *c) {
  if (!strcmp(c->log.level, "error")) return OVQ_LOG_ERROR;
  if (!strcmp(c->log.level, "warn")) return OVQ_LOG_WARN;
  if (!strcmp(c->log.level, "debug")) return OVQ_LOG_DEBUG;
  return OVQ_LOG_INFO;
}
