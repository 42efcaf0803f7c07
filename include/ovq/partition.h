/* Block partition of n items over p parts: the one formula used by I/O and every algorithm.
 * Part r gets a contiguous block; the first n % p parts get one item more. Local. */
#ifndef OVQ_PARTITION_H
#define OVQ_PARTITION_H

#include <stdint.h>

typedef struct OvqRange {
  int64_t start; /* first global index */
  int64_t count; /* number of items */
} OvqRange;

/* Block of part `part` (0 <= part < parts) of n items. */
OvqRange ovq_partition_block(int64_t n, int parts, int part);

/* The part that owns global index i (0 <= i < n). */
int ovq_partition_owner(int64_t n, int parts, int64_t i);

#endif
