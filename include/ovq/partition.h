/* Block partition of n items over p parts: the one formula used by I/O and every algorithm.
 * Part r gets a contiguous block; the first n % p parts get one item more. Local. */
#ifndef OVQ_PARTITION_H
#define OVQ_PARTITION_H

#include <mpi.h>
#include <stdint.h>

typedef struct OvqRange {
  int64_t start; /* first global index */
  int64_t count; /* number of items */
} OvqRange;

/* Block of part `part` (0 <= part < parts) of n items. */
OvqRange ovq_partition_block(int64_t n, int parts, int part);

/* The part that owns global index i (0 <= i < n). */
int ovq_partition_owner(int64_t n, int parts, int64_t i);

/* Collective on comm. The layout of rows held as contiguous blocks in rank order, of any sizes
 * (rank r holds rows starts[r] .. starts[r + 1] - 1; a negative n_local counts as 0): returns
 * starts [size + 1] (caller frees), *n_total = starts[size], and *same_d = 1 if every rank passed
 * the same d (the row width). */
int64_t *ovq_row_starts(int64_t n_local, int64_t d, MPI_Comm comm, int64_t *n_total, int *same_d);

#endif
