/* Unit test: block partition covers every index once, in order, with sizes differing by <= 1. */
#include <mpi.h>

#include "check.h"
#include "ovq/error.h"
#include "ovq/partition.h"

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  ovq_log_init(MPI_COMM_WORLD);
  const int64_t ns[] = {0, 1, 2, 7, 10, 11, 100, 1001, 5000};
  for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++)
    for (int p = 1; p <= 9; p++) {
      int64_t n = ns[a], next = 0, mn = n, mx = 0;
      for (int r = 0; r < p; r++) {
        OvqRange b = ovq_partition_block(n, p, r);
        CHECK_MSG(b.start == next, "n=%lld p=%d r=%d start %lld", (long long)n, p, r,
                  (long long)b.start);
        next = b.start + b.count;
        if (b.count < mn) mn = b.count;
        if (b.count > mx) mx = b.count;
        for (int64_t i = b.start; i < b.start + b.count; i++)
          CHECK_MSG(ovq_partition_owner(n, p, i) == r, "owner of %lld (n=%lld p=%d) is not %d",
                    (long long)i, (long long)n, p, r);
      }
      CHECK(next == n);
      CHECK(mx - mn <= 1);
    }
  /* Known layout: 10 over 4 -> 3,3,2,2 */
  CHECK(ovq_partition_block(10, 4, 0).count == 3 && ovq_partition_block(10, 4, 2).start == 6);
  CHECK(ovq_partition_block(10, 4, 3).start == 8 && ovq_partition_block(10, 4, 3).count == 2);
  int rc = test_finish("test_partition");
  MPI_Finalize();
  return rc;
}
