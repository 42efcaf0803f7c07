/* oncovq sweep: oncovq run over a grid of cancers x models x hyperparameters (ovq/sweep.h). */
#include <stdio.h>

#include "cli.h"
#include "ovq/stop.h"
#include "ovq/sweep.h"

static void help(void) {
  printf("usage: oncovq sweep --config FILE --out DIR [--set section.key=value ...]\n"
         "                    [--cohort COHORT.h5] [--group-size G]\n\n"
         "Runs 'oncovq run' for every task of a grid: per cancer type of sweep.cancers (empty:\n"
         "all in the cohort) one baseline task (raw and PCA features) and one task per model of\n"
         "sweep.models x codebook_size x latent x beta x lr x epochs x hidden x seeds (lists;\n"
         "hidden separated by ';'), each followed by every clustering method x k x run.seeds and\n"
         "the evaluation. The ranks form groups of sweep.group_size; each group runs one task at a\n"
         "time, data-parallel; tasks go out largest first, to whichever group is free.\n"
         "Writes DIR/tasks/<task>/ (each as oncovq run), then DIR/summary.tsv (all rows plus the\n"
         "hyperparameter columns), DIR/pancancer.tsv (per cancer the best task, feature set and\n"
         "method by log-rank p and by NMI, next to the published labels' log-rank p),\n"
         "DIR/tasks.tsv, DIR/failed.tsv, DIR/results.h5 and (run.report) the figures in\n"
         "DIR/report/. A failed task is recorded and the\n"
         "sweep goes on. Repeating the command skips finished tasks and resumes the others; on\n"
         "SIGTERM / SIGUSR1 it stops after checkpointing and exits with status 3.\n\n"
         "options:\n"
         "  --cohort FILE     cohort file (data.cohort)\n"
         "  --group-size G    ranks per task (sweep.group_size)\n"
         "  --out DIR         output directory\n"
         "  --config FILE     INI config; --set section.key=value overrides one setting\n");
}

enum { EXIT_INTERRUPTED = 3 };

int cmd_sweep(int argc, char **argv, MPI_Comm comm) {
  ovq_stop_catch();
  const char *out = NULL;
  const CliOption opts[] = {{"--cohort", "data.cohort", NULL, NULL},
                            {"--group-size", "sweep.group_size", NULL, NULL},
                            {"--out", NULL, &out, NULL}};
  static const char *const required[] = {"--out", NULL};
  OvqConfig cfg;
  int rc = cli_config("sweep", argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), help,
                      required, comm, &cfg);
  if (rc != CLI_OK) return rc == CLI_HELP ? CLI_OK : rc;
  OvqStageOutcome outcome;
  if (ovq_sweep(&cfg, out, comm, &outcome) != OVQ_OK) return cli_fail();
  if (outcome == OVQ_STAGE_INTERRUPTED) {
    ovq_log(OVQ_LOG_WARN, "interrupted; the same command continues where it stopped");
    return EXIT_INTERRUPTED;
  }
  return cli_report(&cfg, out, comm);
}
