/* Minimal checks for the C tests: each failed check prints where and what, the test counts
 * them, and test_finish() agrees across ranks and returns the exit code (so every rank exits
 * with the same status and ctest sees a failure on any rank). */
#ifndef OVQ_TESTS_CHECK_H
#define OVQ_TESTS_CHECK_H

#include <math.h>
#include <mpi.h>
#include <stdio.h>

static int g_check_failures = 0;
static int g_check_count = 0;

#define CHECK(cond)                                                                                \
  do {                                                                                             \
    g_check_count++;                                                                               \
    if (!(cond)) {                                                                                 \
      g_check_failures++;                                                                          \
      fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);                              \
    }                                                                                              \
  } while (0)

#define CHECK_MSG(cond, ...)                                                                       \
  do {                                                                                             \
    g_check_count++;                                                                               \
    if (!(cond)) {                                                                                 \
      g_check_failures++;                                                                          \
      fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                              \
      fprintf(stderr, __VA_ARGS__);                                                                \
      fprintf(stderr, "\n");                                                                       \
    }                                                                                              \
  } while (0)

/* |a - b| <= tol, printing both values on failure. */
#define CHECK_NEAR(a, b, tol)                                                                      \
  do {                                                                                             \
    double ca_ = (double)(a), cb_ = (double)(b);                                                   \
    CHECK_MSG(fabs(ca_ - cb_) <= (tol), "%.17g vs %.17g (tol %g)", ca_, cb_, (double)(tol));       \
  } while (0)

/* Collective on MPI_COMM_WORLD: 0 if no rank failed, 1 otherwise. */
static inline int test_finish(const char *name) {
  int rank, mine = g_check_failures, total = 0, checks = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Allreduce(&mine, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  MPI_Allreduce(&g_check_count, &checks, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  if (rank == 0)
    printf("%s: %d checks, %d failed\n", name, checks, total);
  return total ? 1 : 0;
}

#endif
