/* oncovq run: one cohort end to end (ovq/pipeline.h). */
#include <stdio.h>

#include "cli.h"
#include "ovq/pipeline.h"
#include "ovq/stop.h"

static void help(void) {
  printf("usage: oncovq run --config FILE --out DIR [--set section.key=value ...]\n"
         "                  [--cohort COHORT.h5] [--cancer TYPE]\n\n"
         "One cohort (or one cancer type of a pan-cancer cohort) end to end: preprocessing\n"
         "([prep]) -> training of each model of run.models (vqvae, ae, vae) -> the feature sets\n"
         "of run.features (raw, pca = cluster.pca_components leading components of raw, and the\n"
         "models' latents) -> every method of cluster.methods x every k (cluster.k, or\n"
         "cluster.k_min..k_max) x every seed of run.seeds -> evaluation ([eval]) of the first\n"
         "seed's clusters of each feature set. Writes:\n"
         "  DIR/summary.tsv   one row per feature set x method x k x seed, and one for the\n"
         "                    published labels (features 'published', method 'label')\n"
         "  DIR/results.h5    everything merged (layout in include/ovq/pipeline.h)\n"
         "  DIR/eval/FS_*.tsv the evaluation tables of each feature set\n"
         "  DIR/stages/       each stage's file and key; repeating the command skips stages whose\n"
         "                    inputs and settings are unchanged and recomputes the others\n"
         "  DIR/report/       figures and index.html from tools/report.sh (run.report = auto: when\n"
         "                    Python 3 with matplotlib, numpy and h5py is found; yes: required;\n"
         "                    no: skipped)\n\n"
         "options:\n"
         "  --cohort FILE   cohort file (data.cohort)\n"
         "  --cancer TYPE   one cancer type of a pan-cancer cohort (data.cancer)\n"
         "  --out DIR       output directory (created if missing)\n"
         "  --config FILE   INI config; --set section.key=value overrides one setting\n\n"
         "On SIGTERM or SIGUSR1 (SLURM before a time limit) training writes its checkpoint and\n"
         "the run exits with status 3; the same command continues where it stopped.\n");
}

enum { EXIT_INTERRUPTED = 3 };

int cmd_run(int argc, char **argv, MPI_Comm comm) {
  ovq_stop_catch();
  const char *out = NULL;
  const CliOption opts[] = {{"--cohort", "data.cohort", NULL, NULL},
                            {"--cancer", "data.cancer", NULL, NULL},
                            {"--out", NULL, &out, NULL}};
  static const char *const required[] = {"--out", NULL};
  OvqConfig cfg;
  int rc = cli_config("run", argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), help, required,
                      comm, &cfg);
  if (rc != CLI_OK) return rc == CLI_HELP ? CLI_OK : rc;
  OvqStageOutcome outcome;
  if (ovq_run(&cfg, out, comm, &outcome) != OVQ_OK) return cli_fail();
  if (outcome == OVQ_STAGE_INTERRUPTED) {
    ovq_log(OVQ_LOG_WARN, "interrupted; the same command continues where it stopped");
    return EXIT_INTERRUPTED;
  }
  return cli_report(&cfg, out, comm);
}
