/* oncovq embed: apply a trained model (from a results file) to a cohort. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ovq/cohort.h"
#include "ovq/prep.h"
#include "ovq/results.h"
#include "ovq/trainer.h"

static void help(void) {
  printf("usage: oncovq embed --results TRAINED.h5 --cohort COHORT.h5 --out OUT.h5\n"
         "                    [--cancer TYPE] [--model vqvae|ae|vae]\n\n"
         "Applies a model trained by 'oncovq train' (its weights and its fitted feature\n"
         "transform) to the samples of another cohort and writes their latent features. The\n"
         "cohort must contain every feature the model was trained on (matched by id; extra\n"
         "features are ignored). Its missing values are imputed within the cohort as in\n"
         "training ([prep] settings of the training run); then the training means and scales\n"
         "standardise it.\n");
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
  OvqPrepTransform tr;
  memset(&tr, 0, sizeof tr);
  float *params = NULL;
  int64_t n_params = 0;
  char name[128];
  snprintf(name, sizeof name, "/models/%s/params", cfg.model.type);
  if (st == OVQ_OK) st = ovq_prep_read(&in, results, &tr);
  if (st == OVQ_OK) st = ovq_results_read_array(&in, name, H5T_NATIVE_FLOAT, (void **)&params, &n_params);
  ovq_results_close(&in);
  st = ovq_status_agree(comm, st);
  if (st != OVQ_OK) {
    ovq_prep_free(&tr);
    free(params);
    return cli_fail();
  }

  OvqCohort c;
  int rc = CLI_OK;
  if (ovq_cohort_read(cohort, cancer, comm, &c) != OVQ_OK) rc = cli_fail();
  const int64_t F = tr.n_features;
  OvqMatrix x;
  memset(&x, 0, sizeof x);
  OvqPrepOptions po;
  ovq_prep_options_from_config(&cfg, &po);
  if (rc == CLI_OK && ovq_prep_apply(&c, &tr, &po, comm, &x) != OVQ_OK) {
    char msg0[1024];
    snprintf(msg0, sizeof msg0, "%s", ovq_error_message());
    ovq_error("%s: %s", cohort, msg0);
    rc = cli_fail();
  }
  OvqModel m;
  memset(&m, 0, sizeof m);
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
  ovq_prep_free(&tr);
  free(params);
  return rc;
}
