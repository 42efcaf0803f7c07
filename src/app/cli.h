/* Shared argument handling of the subcommands (src/app only). Every rank parses the same argv,
 * so usage errors are found identically everywhere without communication. */
#ifndef OVQ_APP_CLI_H
#define OVQ_APP_CLI_H

#include <mpi.h>

#include "ovq/config.h"

enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2, CLI_HELP = -1 };

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

/* One option of a subcommand: a flag that sets a config key from its value, stores its value,
 * or (no value) sets a switch. Exactly one of key, value, on is non-NULL. */
typedef struct CliOption {
  const char *flag;   /* "--scale" */
  const char *key;    /* the config key the value sets ("synth.scale") */
  const char **value; /* where to keep the value (e.g. --out) */
  int *on;            /* a switch set to 1 */
} CliOption;

/* Parses argv[1..] of subcommand cmd: --help/-h (prints help on rank 0, returns CLI_HELP), the
 * common --config/--set options (when cc is non-NULL) and the options of the table. Returns
 * CLI_OK, CLI_HELP, or CLI_USAGE after printing what is wrong on rank 0. Options named in
 * `required` (a NULL-terminated list of flags) must be given. */
int cli_parse(const char *cmd, int argc, char **argv, const CliOption *opts, int n_opts,
              CliCommon *cc, void (*help)(void), const char *const *required);

/* Collective on comm. The whole front of a config-driven subcommand: cli_parse with the common
 * options, then the config resolved from defaults, --config and the overrides (rank 0 parses,
 * all ranks get it), the log level set, and the non-default settings logged. Returns CLI_OK,
 * CLI_HELP (help printed), CLI_USAGE or CLI_FAIL (message printed). */
int cli_config(const char *cmd, int argc, char **argv, const CliOption *opts, int n_opts,
               void (*help)(void), const char *const *required, MPI_Comm comm, OvqConfig *cfg);

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

/* Collective. After oncovq run / sweep: unless cfg->run.report is "no", rank 0 runs
 * tools/report.sh DIR (found through $OVQ_REPORT or next to the binary). A failure (missing
 * script or Python packages) is a warning with run.report = auto and an error (CLI_FAIL) with
 * yes. */
int cli_report(const OvqConfig *cfg, const char *dir, MPI_Comm comm);

/* Collective on comm (every rank must call it, on a normal exit path). Gathers each rank's peak
 * resident set (getrusage ru_maxrss: the process's own high-water mark, children not included)
 * to rank 0, which logs one info line: "peak memory per rank: 1890, 1887 MiB" (in rank order;
 * above 32 ranks the maximum with its rank, the minimum and the mean instead). One gather of
 * one integer per rank; nothing is returned. */
void cli_log_peak_memory(MPI_Comm comm);

/* The subcommands. */
int cmd_synth(int argc, char **argv, MPI_Comm comm);
int cmd_info(int argc, char **argv, MPI_Comm comm);
int cmd_train(int argc, char **argv, MPI_Comm comm);
int cmd_embed(int argc, char **argv, MPI_Comm comm);
int cmd_import(int argc, char **argv, MPI_Comm comm);
int cmd_prep(int argc, char **argv, MPI_Comm comm);
int cmd_cluster(int argc, char **argv, MPI_Comm comm);
int cmd_eval(int argc, char **argv, MPI_Comm comm);
int cmd_run(int argc, char **argv, MPI_Comm comm);
int cmd_sweep(int argc, char **argv, MPI_Comm comm);

#endif
