/* oncovq: git-style entry point. Initialises MPI, dispatches to a subcommand, logs the ranks' peak
 * memory after a command that ran, and exits with the subcommand's status on every rank (0 ok,
 * 1 failed, 2 usage error). */
#include <mpi.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "ovq/error.h"
#include "ovq/version.h"

typedef struct Command {
  const char *name;
  int (*run)(int argc, char **argv, MPI_Comm comm);
  const char *summary;
} Command;

static const Command kCommands[] = {
    {"synth", cmd_synth, "generate the built-in synthetic TCGA-like pan-cancer cohort"},
    {"import", cmd_import, "import Xena / GDC expression and clinical files into a cohort file"},
    {"prep", cmd_prep, "preprocess a cohort (filter, KNN impute, select, standardise)"},
    {"info", cmd_info, "summarise a cohort file (shape, cancers, labels, missing values, events)"},
    {"train", cmd_train, "train a VQ-VAE, AE or VAE data-parallel and write latent features"},
    {"cluster", cmd_cluster, "cluster latent features or preprocessed expression; choose k"},
    {"eval", cmd_eval, "judge clusters: labels (ARI/NMI/purity), label flow, survival"},
    {"run", cmd_run, "one cohort end to end: train, cluster, evaluate, summary table"},
    {"sweep", cmd_sweep, "oncovq run over cancers x models x hyperparameters on rank groups"},
    {"embed", cmd_embed, "apply a trained model to a cohort (latent features of new samples)"},
};

static void usage(void) {
  printf("usage: oncovq [--version] [--help] COMMAND [ARGS]\n\n"
         "Cancer subtypes from transcriptomics with a VQ-VAE, on MPI clusters.\n"
         "Run under MPI with: mpirun -np N oncovq COMMAND ...\n\ncommands:\n");
  for (size_t i = 0; i < sizeof kCommands / sizeof kCommands[0]; i++)
    printf("  %-8s %s\n", kCommands[i].name, kCommands[i].summary);
  printf("\n'oncovq COMMAND --help' describes a command's options.\n");
}

/* Whether the subcommand's arguments ask for its help (cli_parse answers --help / -h anywhere). */
static int asks_help(int argc, char **argv) {
  for (int i = 2; i < argc; i++)
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return 1;
  return 0;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  ovq_log_init(MPI_COMM_WORLD);
  int rank;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  int rc = CLI_USAGE;
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
      !strcmp(argv[1], "help")) {
    if (rank == 0) usage();
    rc = argc < 2 ? CLI_USAGE : CLI_OK;
  } else if (!strcmp(argv[1], "--version")) {
    if (rank == 0) printf("oncovq %s (%s)\n", OVQ_VERSION, OVQ_GIT_DESCRIBE);
    rc = CLI_OK;
  } else {
    const Command *cmd = NULL;
    for (size_t i = 0; i < sizeof kCommands / sizeof kCommands[0]; i++)
      if (!strcmp(argv[1], kCommands[i].name)) cmd = &kCommands[i];
    if (cmd)
      rc = cmd->run(argc - 1, argv + 1, MPI_COMM_WORLD);
    else if (rank == 0)
      fprintf(stderr, "oncovq: '%s' is not a command (see 'oncovq --help')\n", argv[1]);
    /* A command that ran (succeeded, failed or was interrupted: every rank returns here with the
     * agreed status) reports its ranks' peak memory; help and usage errors do not. */
    if (cmd && rc != CLI_USAGE && !asks_help(argc, argv)) cli_log_peak_memory(MPI_COMM_WORLD);
  }
  fflush(stdout);
  /* Every rank reaches here with the same status: wait for all, so a rank that exits non-zero
   * (e.g. 3 after a stop request) does not make mpirun kill a slower rank mid-write. */
  MPI_Barrier(MPI_COMM_WORLD);
  MPI_Finalize();
  return rc;
}
