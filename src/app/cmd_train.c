/* oncovq train: train one model (vqvae, ae or vae) on a cohort and write a results file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ovq/cohort.h"
#include "ovq/progress.h"
#include "ovq/results.h"
#include "ovq/prep.h"
#include "ovq/stop.h"
#include "ovq/trainer.h"

static void help(void) {
  printf("usage: oncovq train --config FILE [--set section.key=value ...] --out RESULTS.h5\n"
         "                    [--cohort COHORT.h5] [--cancer TYPE] [--model vqvae|ae|vae]\n"
         "                    [--epochs N] [--resume]\n\n"
         "Trains a VQ-VAE (or the AE / VAE baselines) data-parallel over the MPI ranks on the\n"
         "cohort's preprocessed mRNA + miRNA expression ([prep] settings) and writes the weights, the per-epoch\n"
         "history and every sample's latent features to RESULTS.h5.\n\n"
         "options:\n"
         "  --cohort FILE   cohort file (data.cohort)\n"
         "  --cancer TYPE   one cancer type of a pan-cancer cohort (data.cancer)\n"
         "  --model TYPE    vqvae, ae or vae (model.type)\n"
         "  --epochs N      training epochs (train.epochs)\n"
         "  --resume        continue from the checkpoint (train.checkpoint, default\n"
         "                  RESULTS.h5.ckpt) after an interruption\n"
         "  --config FILE   INI config; --set section.key=value overrides one setting\n\n"
         "Checkpoints are written every train.checkpoint_every epochs and when the job gets\n"
         "SIGTERM or SIGUSR1 (as SLURM sends before a time limit); the run then exits with\n"
         "status 3 and --resume continues it, ending bit-identical to an uninterrupted run.\n");
}

enum { EXIT_INTERRUPTED = 3 };

static void write_model(OvqResults *r, const OvqModel *m, const OvqHistory *h,
                        const OvqMatrix *x, const OvqLatents *lat, double data_var,
                        const char *type) {
  char name[128];
  const int64_t D = m->spec.latent;
  snprintf(name, sizeof name, "/models/%s/params", type);
  ovq_results_write_array(r, name, H5T_NATIVE_FLOAT, m->params, m->n_params, 0);
  if (m->codebook >= 0) {
    int64_t d = D / m->spec.groups;
    snprintf(name, sizeof name, "/models/%s/codebook", type);
    ovq_results_write_array(r, name, H5T_NATIVE_FLOAT, m->params + m->codebook,
                            m->spec.groups * m->spec.codebook_size, d);
  }
  const struct {
    const char *n;
    const double *v;
  } series[] = {{"loss", h->loss},   {"recon", h->recon},           {"codebook", h->codebook},
                {"commitment", h->commitment}, {"kl", h->kl}, {"perplexity", h->perplexity},
                {"seconds", h->seconds}};
  for (size_t i = 0; i < sizeof series / sizeof series[0]; i++) {
    snprintf(name, sizeof name, "/models/%s/history/%s", type, series[i].n);
    ovq_results_write_array(r, name, H5T_NATIVE_DOUBLE, series[i].v, h->n, 0);
  }
  snprintf(name, sizeof name, "/models/%s/history/used_codes", type);
  ovq_results_write_array(r, name, H5T_NATIVE_INT64, h->used_codes, h->n, 0);
  ovq_results_write_latents(r, type, lat->z, lat->zq, lat->codes, x->n_total, lat->D, lat->G,
                            x->row_start, x->n_local);
  snprintf(name, sizeof name, "/models/%s", type);
  ovq_results_write_attr_double(r, name, "data_var", data_var);
}

int cmd_train(int argc, char **argv, MPI_Comm comm) {
  /* Catch SIGTERM/SIGUSR1 from the start: a stop request during start-up is honoured at the
   * first training step instead of killing the job without a checkpoint. */
  ovq_stop_catch();
  const char *out = NULL;
  int resume = 0;
  const CliOption opts[] = {{"--cohort", "data.cohort", NULL, NULL},
                            {"--cancer", "data.cancer", NULL, NULL},
                            {"--model", "model.type", NULL, NULL},
                            {"--epochs", "train.epochs", NULL, NULL},
                            {"--out", NULL, &out, NULL},
                            {"--resume", NULL, NULL, &resume}};
  static const char *const required[] = {"--out", NULL};
  OvqConfig cfg;
  int rc = cli_config("train", argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), help, required,
                      comm, &cfg);
  if (rc != CLI_OK) return rc == CLI_HELP ? CLI_OK : rc;
  if (!cfg.data.cohort[0]) {
    ovq_error("data.cohort is not set: give --cohort FILE or --set data.cohort=FILE");
    return cli_fail();
  }
  if (!cfg.train.checkpoint[0]) snprintf(cfg.train.checkpoint, sizeof cfg.train.checkpoint, "%s.ckpt", out);

  OvqCohort c;
  if (ovq_cohort_read(cfg.data.cohort, cfg.data.cancer, comm, &c) != OVQ_OK) return cli_fail();
  OvqMatrix x;
  OvqPrepTransform tr;
  OvqPrepOptions po;
  OvqPrepReport prep_report;
  ovq_prep_options_from_config(&cfg, &po);
  if (ovq_prep_fit(&c, &po, comm, &x, &tr, &prep_report) != OVQ_OK) {
    ovq_cohort_destroy(&c);
    return cli_fail();
  }
  ovq_prep_log_report(&prep_report);
  double var = ovq_matrix_variance(&x, comm);
  int size;
  MPI_Comm_size(comm, &size);
  ovq_log(OVQ_LOG_INFO, "data: %lld samples%s%s x %lld features (%lld genes + %lld miRNAs), "
          "variance %.4f, %d rank%s", (long long)x.n_total, cfg.data.cancer[0] ? " of " : "",
          cfg.data.cancer, (long long)x.n_cols, (long long)tr.n_mrna,
          (long long)(tr.n_features - tr.n_mrna), var,
          size, size == 1 ? "" : "s");

  OvqModelSpec spec;
  OvqModel m;
  memset(&m, 0, sizeof m);
  OvqTrainConfig tc;
  char msg[256];
  rc = CLI_OK;
  if (ovq_model_spec_from_config(&cfg, x.n_cols, &spec) != OVQ_OK) rc = cli_fail();
  int64_t max_batch = cfg.train.batch < x.n_total ? cfg.train.batch : x.n_total;
  if (rc == CLI_OK && ovq_model_create(&m, &spec, max_batch, ovq_train_grad_extra(&spec), msg,
                                       (int)sizeof msg) != 0) {
    ovq_error("%s", msg);
    rc = cli_fail();
  }
  OvqHistory hist;
  memset(&hist, 0, sizeof hist);
  OvqTrainOutcome outcome = OVQ_TRAIN_DONE;
  if (rc == CLI_OK) {
    ovq_model_init_params(&m, (uint64_t)cfg.train.seed);
    ovq_log(OVQ_LOG_INFO, "model: %s, %lld parameters", cfg.model.type, (long long)m.n_params);
    ovq_train_config_from_config(&cfg, &tc);
    tc.resume = resume;
    double t0 = ovq_time();
    if (ovq_train(&m, &tc, &x, var, comm, &hist, &outcome) != OVQ_OK) rc = cli_fail();
    else
      ovq_log(OVQ_LOG_INFO, "trained %lld epochs in %.1f s", (long long)hist.n,
              ovq_time_max(ovq_time() - t0, comm));
    if (rc == CLI_OK && outcome == OVQ_TRAIN_INTERRUPTED) {
      ovq_log(OVQ_LOG_WARN, "interrupted; continue with the same command and --resume");
      rc = EXIT_INTERRUPTED;
    }
  }
  if (rc == CLI_OK) {
    OvqLatents lat;
    ovq_latents_compute(&m, &x, cfg.train.reproducible ? cfg.train.repro_workers : 0, comm, &lat);
    char *ini = ovq_config_to_ini(&cfg);
    OvqResults r;
    if (ovq_results_create(&r, out, ini, comm) != OVQ_OK) {
      rc = cli_fail();
    } else {
      ovq_results_write_samples(&r, &c);
      ovq_prep_write(&r, &tr);
      write_model(&r, &m, &hist, &x, &lat, var, cfg.model.type);
      if (ovq_results_commit(&r) != OVQ_OK)
        rc = cli_fail();
      else
        ovq_log(OVQ_LOG_INFO, "wrote %s", out);
    }
    free(ini);
    ovq_latents_free(&lat);
  }
  ovq_history_free(&hist);
  ovq_model_destroy(&m);
  ovq_prep_free(&tr);
  ovq_matrix_free(&x);
  ovq_cohort_destroy(&c);
  return rc;
}
