/* Block partition (see include/ovq/partition.h). */
#include "ovq/partition.h"

#include <stdlib.h>

#include "ovq/error.h"

OvqRange ovq_partition_block(int64_t n, int parts, int part) {
  int64_t q = n / parts, rem = n % parts;
  OvqRange r;
  r.start = part * q + (part < rem ? part : rem);
  r.count = q + (part < rem ? 1 : 0);
  return r;
}

int ovq_partition_owner(int64_t n, int parts, int64_t i) {
  int64_t q = n / parts, rem = n % parts;
  /* The first rem parts hold q + 1 items each. */
  if (i < rem * (q + 1)) return (int)(i / (q + 1));
  return (int)(rem + (i - rem * (q + 1)) / q);
}

int64_t *ovq_row_starts(int64_t n_local, int64_t d, MPI_Comm comm, int64_t *n_total, int *same_d) {
  int size;
  OVQ_MPI_CHECK(MPI_Comm_size(comm, &size));
  int64_t mine[2] = {n_local, d};
  int64_t *shape = OVQ_MALLOC(sizeof(int64_t) * 2 * (size_t)size);
  OVQ_MPI_CHECK(MPI_Allgather(mine, 2, MPI_INT64_T, shape, 2, MPI_INT64_T, comm));
  int64_t *starts = OVQ_MALLOC(sizeof(int64_t) * (size_t)(size + 1));
  starts[0] = 0;
  *same_d = 1;
  for (int r = 0; r < size; r++) {
    starts[r + 1] = starts[r] + (shape[2 * r] > 0 ? shape[2 * r] : 0);
    *same_d &= shape[2 * r + 1] == d;
  }
  free(shape);
  *n_total = starts[size];
  return starts;
}
