/* oncovq embed: apply a trained model (from a results file) to a cohort. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ovq/cohort.h"
#include "ovq/results.h"
#include "ovq/trainer.h"

static void help(void) {
  printf("usage: oncovq embed --results TRAINED.h5 --cohort COHORT.h5 --out OUT.h5\n"
         "                    [--cancer TYPE] [--model vqvae|ae|vae]\n\n"
         "Applies a model trained by 'oncovq train' (its weights and its fitted feature\n"
         "transform) to the samples of another cohort and writes their latent features. The\n"
         "cohort must contain every feature the model was trained on (matched by id; extra\n"
         "features are ignored).\n");
}

typedef struct IdIndex {
  const char *id;
  int64_t col;
} IdIndex;

static int cmp_id(const void *a, const void *b) {
  return strcmp(((const IdIndex *)a)->id, ((const IdIndex *)b)->id);
}

/* The cohort's column (mRNA then miRNA) of each model feature; OVQ_ERR naming the first
 * feature the cohort lacks. */
static OvqStatus map_features(const OvqCohort *c, const OvqStrings *want, int64_t *col,
                              const char *cohort_path) {
  int64_t n = c->n_mrna + c->n_mirna;
  IdIndex *idx = OVQ_MALLOC(sizeof(IdIndex) * (size_t)(n > 0 ? n : 1));
  for (int64_t j = 0; j < c->n_mrna; j++) idx[j] = (IdIndex){ovq_strings_at(&c->mrna_ids, j), j};
  for (int64_t j = 0; j < c->n_mirna; j++)
    idx[c->n_mrna + j] = (IdIndex){ovq_strings_at(&c->mirna_ids, j), c->n_mrna + j};
  qsort(idx, (size_t)n, sizeof *idx, cmp_id);
  int64_t missing = 0;
  const char *first = NULL;
  for (int64_t j = 0; j < want->n; j++) {
    IdIndex key = {ovq_strings_at(want, j), 0};
    IdIndex *hit = bsearch(&key, idx, (size_t)n, sizeof *idx, cmp_id);
    col[j] = hit ? hit->col : -1;
    if (!hit && !missing++) first = key.id;
  }
  OvqStatus st = OVQ_OK;
  if (missing)
    st = ovq_error("%s: %lld of the model's %lld features are missing (first: '%s'); embed a "
                   "cohort measured on the same features", cohort_path, (long long)missing,
                   (long long)want->n, first);
  free(idx);
  return st;
}

int cmd_embed(int argc, char **argv, MPI_Comm comm) {
  const char *results = NULL, *cohort = NULL, *out = NULL, *cancer = "", *model = NULL;
  const CliOption opts[] = {{"--results", NULL, &results, NULL},
                            {"--cohort", NULL, &cohort, NULL},
                            {"--out", NULL, &out, NULL},
                            {"--cancer", NULL, &cancer, NULL},
                            {"--model", NULL, &model, NULL}};
  static const char *const required[] = {"--results", "--cohort", "--out", NULL};
  int prc = cli_parse("embed", argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), NULL, help,
                      required);
  if (prc != CLI_OK) return prc == CLI_HELP ? CLI_OK : prc;

  /* The training run's settings define the model; they travel in the results file. */
  OvqResults in;
  if (ovq_results_open(&in, results, comm) != OVQ_OK) return cli_fail();
  char *ini = NULL;
  OvqConfig cfg;
  ovq_config_defaults(&cfg);
  OvqStatus st = ovq_results_read_attr(&in, "config", &ini);
  if (st == OVQ_OK) st = ovq_config_load_string(&cfg, ini, results);
  free(ini);
  if (st == OVQ_OK && model) {
    char set[64];
    snprintf(set, sizeof set, "model.type=%s", model);
    st = ovq_config_set(&cfg, set, "--model");
  }
  OvqStrings ids = {0, 0, NULL};
  double *mean = NULL, *scale = NULL;
  float *params = NULL;
  int64_t n_mean = 0, n_scale = 0, n_params = 0;
  char name[128];
  snprintf(name, sizeof name, "/models/%s/params", cfg.model.type);
  if (st == OVQ_OK) st = ovq_results_read_strings(&in, "/prep/features", &ids);
  if (st == OVQ_OK) st = ovq_results_read_array(&in, "/prep/mean", H5T_NATIVE_DOUBLE, (void **)&mean, &n_mean);
  if (st == OVQ_OK) st = ovq_results_read_array(&in, "/prep/scale", H5T_NATIVE_DOUBLE, (void **)&scale, &n_scale);
  if (st == OVQ_OK) st = ovq_results_read_array(&in, name, H5T_NATIVE_FLOAT, (void **)&params, &n_params);
  ovq_results_close(&in);
  st = ovq_status_agree(comm, st);
  if (st != OVQ_OK || n_mean != ids.n || n_scale != ids.n) {
    if (st == OVQ_OK) ovq_error("%s: /prep arrays disagree in length", results);
    ovq_strings_free(&ids);
    free(mean);
    free(scale);
    free(params);
    return cli_fail();
  }

  OvqCohort c;
  int rc = CLI_OK;
  if (ovq_cohort_read(cohort, cancer, comm, &c) != OVQ_OK) rc = cli_fail();
  const int64_t F = ids.n;
  int64_t *col = OVQ_MALLOC(sizeof(int64_t) * (size_t)(F > 0 ? F : 1));
  if (rc == CLI_OK && map_features(&c, &ids, col, cohort) != OVQ_OK) rc = cli_fail();
  OvqModel m;
  memset(&m, 0, sizeof m);
  OvqMatrix x;
  memset(&x, 0, sizeof x);
  OvqModelSpec spec;
  char msg[256];
  if (rc == CLI_OK && ovq_model_spec_from_config(&cfg, F, &spec) != OVQ_OK) rc = cli_fail();
  if (rc == CLI_OK) {
    int64_t mb = cfg.train.batch < c.n_total ? cfg.train.batch : c.n_total;
    if (ovq_model_create(&m, &spec, mb, 0, msg, (int)sizeof msg) != 0) {
      ovq_error("%s", msg);
      rc = cli_fail();
    } else if (m.n_params != n_params) {
      ovq_error("%s: %s has %lld values, the model of its config %lld", results, name,
                (long long)n_params, (long long)m.n_params);
      rc = cli_fail();
    }
  }
  if (rc == CLI_OK) {
    memcpy(m.params, params, sizeof(float) * (size_t)n_params);
    /* The training transform: standardise with the training means and scales, missing -> 0. */
    ovq_matrix_alloc(&x, c.n_total, c.row_start, c.n_local, F);
    for (int64_t i = 0; i < c.n_local; i++)
      for (int64_t j = 0; j < F; j++) {
        int64_t k = col[j];
        float v = k < c.n_mrna ? c.mrna[i * c.n_mrna + k] : c.mirna[i * c.n_mirna + k - c.n_mrna];
        x.x[i * F + j] = isnan(v) ? 0.0f : (float)(((double)v - mean[j]) / scale[j]);
      }
    OvqLatents lat;
    ovq_latents_compute(&m, &x, cfg.train.reproducible ? cfg.train.repro_workers : 0, comm, &lat);
    snprintf(cfg.data.cohort, sizeof cfg.data.cohort, "%s", cohort);
    snprintf(cfg.data.cancer, sizeof cfg.data.cancer, "%s", cancer);
    char *text = ovq_config_to_ini(&cfg);
    OvqResults r;
    if (ovq_results_create(&r, out, text, comm) != OVQ_OK) {
      rc = cli_fail();
    } else {
      ovq_results_write_samples(&r, &c);
      ovq_results_write_latents(&r, cfg.model.type, lat.z, lat.zq, lat.codes, c.n_total, lat.D,
                                lat.G, c.row_start, c.n_local);
      if (ovq_results_commit(&r) != OVQ_OK) rc = cli_fail();
      else ovq_log(OVQ_LOG_INFO, "embedded %lld samples with %s's %s; wrote %s",
                   (long long)c.n_total, results, cfg.model.type, out);
    }
    free(text);
    ovq_latents_free(&lat);
  }
  ovq_matrix_free(&x);
  ovq_model_destroy(&m);
  ovq_cohort_destroy(&c);
  free(col);
  ovq_strings_free(&ids);
  free(mean);
  free(scale);
  free(params);
  return rc;
}
