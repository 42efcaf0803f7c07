/* Shared by the MPI fuzz targets (fuzz_import.c, fuzz_cohort_h5.c, fuzz_h5_schema.c): MPI_Init
 * once in LLVMFuzzerInitialize (a singleton process, no mpiexec), the scratch directory
 * ($FUZZ_SCRATCH, set by tools/fuzz.sh, else /tmp) and the invariant checks. FUZZ_VERBOSE=1 in
 * the environment prints every status checked (what the inputs reach).
 * Include it in exactly one file per target: it defines functions. */
#ifndef OVQ_FUZZ_MPI_H
#define OVQ_FUZZ_MPI_H

#define _GNU_SOURCE
#include <ftw.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ovq/error.h"

#define REQUIRE(cond)                                                                              \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "%s:%d: invariant broken: %s (last message: '%s')\n", __FILE__, __LINE__,   \
              #cond, ovq_error_message());                                                         \
      abort();                                                                                     \
    }                                                                                              \
  } while (0)

/* A library failure (OVQ_ABORT, OVQ_H5_CHECK, OVQ_MPI_CHECK, out of memory) ends in MPI_Abort,
 * which would end this singleton process without a signal: libFuzzer would neither see a crash
 * nor keep the input. This definition takes precedence over the library's and aborts, which
 * libFuzzer reports as a crash (with the message printed before it). */
int MPI_Abort(MPI_Comm comm, int code) {
  (void)comm;
  fprintf(stderr, "fuzz: MPI_Abort(%d) called: a library failure or a bug (see above)\n", code);
  abort();
}

/* Directory for the target's files: $FUZZ_SCRATCH/<name>-<pid>, created once. */
static char g_scratch[1024];

static void fuzz_mpi_init(int *argc, char ***argv, const char *name) {
  int init = 0;
  MPI_Initialized(&init);
  if (!init) MPI_Init(argc, argv);
  ovq_log_init(MPI_COMM_WORLD); /* also silences HDF5's automatic error stacks */
  ovq_log_set_level(OVQ_LOG_ERROR);
  const char *base = getenv("FUZZ_SCRATCH");
  snprintf(g_scratch, sizeof g_scratch, "%s/%s-%ld", base && base[0] ? base : "/tmp", name,
           (long)getpid());
  mkdir(g_scratch, 0755);
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb, (void)flag, (void)ftw;
  return remove(p);
}

/* rm -r of a path under the scratch directory. */
static void rm_tree(const char *path) {
  nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* A status is OVQ_OK, or OVQ_ERR with a message. */
static void check_status(OvqStatus st) {
  REQUIRE(st == OVQ_OK || st == OVQ_ERR);
  if (st == OVQ_ERR) REQUIRE(ovq_error_message()[0] != '\0');
  static int verbose = -1; /* FUZZ_VERBOSE=1: print every status (to see what inputs reach) */
  if (verbose < 0) verbose = getenv("FUZZ_VERBOSE") != NULL;
  if (verbose) fprintf(stderr, "status: %s\n", st == OVQ_OK ? "OK" : ovq_error_message());
}

#endif
