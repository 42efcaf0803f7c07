/* Checkpoint files (internal to src/model): a set of named 1-D arrays and a fingerprint string,
 * written by rank 0 with the serial HDF5 driver under a temporary name and renamed, read by rank
 * 0 and broadcast. A checksum over every array detects a damaged file. */
#ifndef OVQ_MODEL_CHECKPOINT_H
#define OVQ_MODEL_CHECKPOINT_H

#include <mpi.h>
#include <stdint.h>

#include "ovq/error.h"

typedef enum { CKPT_FLOAT, CKPT_DOUBLE, CKPT_INT64 } CkptType;

typedef struct CkptArray {
  const char *name;
  CkptType type;
  int64_t count;
  void *data; /* [count]: read from when writing, filled when reading */
} CkptArray;

/* Collective on comm. Checks (rank 0) that a checkpoint can be created at path, so a read-only or
 * missing directory is an error before training instead of at the first checkpoint. */
OvqStatus ovq_ckpt_check_writable(const char *path, MPI_Comm comm);

/* Collective on comm (rank 0 writes). */
OvqStatus ovq_ckpt_write(const char *path, const char *fingerprint, const CkptArray *arrays,
                         int n, MPI_Comm comm);

/* Collective on comm. Fills every array (counts must match the file) after checking that the
 * fingerprint equals the file's and the checksum is intact; errors name the file and the cause. */
OvqStatus ovq_ckpt_read(const char *path, const char *fingerprint, CkptArray *arrays, int n,
                        MPI_Comm comm);

#endif
