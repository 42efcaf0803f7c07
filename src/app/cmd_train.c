/* oncovq train: train one model (vqvae, ae or vae) on a cohort and write a results file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ovq/cohort.h"
#include "ovq/pipeline.h"
#include "ovq/prep.h"
#include "ovq/stop.h"

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
  OvqStageOutcome outcome;
  rc = CLI_OK;
  if (ovq_stage_train(&cfg, &c, &x, &tr, out, resume, comm, &outcome) != OVQ_OK) {
    rc = cli_fail();
  } else if (outcome == OVQ_STAGE_INTERRUPTED) {
    ovq_log(OVQ_LOG_WARN, "interrupted; continue with the same command and --resume");
    rc = EXIT_INTERRUPTED;
  }
  ovq_prep_free(&tr);
  ovq_matrix_free(&x);
  ovq_cohort_destroy(&c);
  return rc;
}
