/* Block partition (see include/ovq/partition.h). */
#include "ovq/partition.h"

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
