/* Shared argument handling of the subcommands (src/app only). Every rank parses the same argv,
 * so usage errors are found identically everywhere without communication. */
#ifndef OVQ_APP_CLI_H
#define OVQ_APP_CLI_H

#include <mpi.h>

#include "ovq/config.h"

enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

enum { CLI_MAX_SETS = 256 };

/* Options every config-driven subcommand accepts: --config FILE, --set key=value (repeatable).
 * Subcommand flags are turned into --set assignments so the resolved config records them. */
typedef struct CliCommon {
  const char *config_path;
  int n_sets;
  char *sets[CLI_MAX_SETS];
  char *owned[CLI_MAX_SETS]; /* assignments built from flags, freed by cli_common_free */
  int n_owned;
} CliCommon;

/* If argv[*i] is a common option, consumes it (and its value) and returns 1; returns -1 (after
 * printing a usage message on rank 0) when its value is missing, 0 when it is not common. */
int cli_common_take(CliCommon *cc, int argc, char **argv, int *i);

/* Adds "key=value" as an override. */
void cli_common_add(CliCommon *cc, const char *key, const char *value);
void cli_common_free(CliCommon *cc);

/* Collective. Resolves the config and sets the log level; prints the error on rank 0. */
int cli_resolve(CliCommon *cc, MPI_Comm comm, OvqConfig *cfg);

/* Rank 0 prints a usage error "oncovq CMD: message (see oncovq CMD --help)". */
void cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prints the agreed error message on rank 0 and returns CLI_FAIL. */
int cli_fail(void);

/* The subcommands. */
int cmd_synth(int argc, char **argv, MPI_Comm comm);
int cmd_info(int argc, char **argv, MPI_Comm comm);
int cmd_train(int argc, char **argv, MPI_Comm comm);
int cmd_embed(int argc, char **argv, MPI_Comm comm);

#endif
