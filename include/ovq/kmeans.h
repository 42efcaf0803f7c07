/* k-means on row-distributed data: Lloyd iterations as scikit-learn's KMeans(algorithm="lloyd")
 * runs them, with k-means++, k-means|| or given initial centres and n_init restarts.
 *
 * Layout. Every rank holds a contiguous block of the N samples, rows in global order (rank r's
 * rows come before rank r + 1's; e.g. the block ovq_partition_block(N, size, r)); a rank may
 * hold no rows. Centres and every other piece of state are replicated.
 *
 * Algorithm (what the implementation matches, see src/cluster/kmeans.c):
 * - Each iteration assigns every sample to its nearest centre (squared distances from one SGEMM
 *   per block of rows, ties to the lowest centre), updates the per-cluster sums of the samples
 *   whose label changed and moves every centre to its cluster mean; one MPI_Allreduce (sums,
 *   counts, inertia, changed labels) per iteration.
 * - An empty cluster takes the sample farthest from its own centre (ties: lowest global index),
 *   which leaves its old cluster (as scikit-learn relocates); a sample is taken only from a
 *   cluster with more than one member, so every centre update has samples behind it and no
 *   centre stays at a stale or zero position. (With fewer distinct points than k, clusters
 *   whose centres coincide keep tying, and the later ones end empty.)
 * - Stops when no label changed (strict convergence) or when the summed squared shift of the
 *   centres is <= tol * mean per-feature variance of the data (scikit-learn's tolerance), or
 *   after max_iter iterations; then, unless labels were already stable, one more assignment so
 *   labels match the final centres.
 * - k-means++ is scikit-learn's greedy variant (2 + floor(ln k) candidates per centre, the one
 *   that lowers the potential most is kept) with distributed D^2 sampling. k-means|| follows
 *   Bahmani et al. (PVLDB 2012): oversampling factor l = 2k, 5 rounds, candidates weighted by
 *   the samples nearest to them, then weighted greedy k-means++ on the candidates (replicated);
 *   if the rounds draw fewer than k candidates (tiny data) that restart uses k-means++.
 * - Of n_init restarts the one with the lowest inertia is kept; as in scikit-learn a later
 *   restart that finds the same partition (up to renaming) does not replace an earlier one.
 *
 * Accuracy. Distances are float: ||x - c||^2 is computed as ||x - m||^2 + (||c - m||^2 +
 * 2 m.(c - m)) - 2 x.(c - m) with m the data mean, so that the rows need not be copied; the
 * rounding error of x.(c - m) grows with |x| / |x - m|. Labels equal scikit-learn's (float64)
 * on data whose mean lies 300 standard deviations from the origin (tested); at 3 x 10^4 sd a
 * few near-tied samples differ, so centre such data before clustering.
 *
 * Reproducibility. Every random draw is named by (seed, stream, restart / centre / round, global
 * row), never by rank. For the same seed the labels and centres do not depend on the number of
 * ranks (tested at 1, 2 and 4): each sample's distances are computed the same way whichever
 * rank holds it, and cluster sums are exact 64-bit fixed-point integers (resolution
 * 2^-(62 - log2 N) of a feature's largest |value|), so centres are bit-identical. Only the
 * reported inertia (a double sum) may differ in the last bits, and the D^2 sampling of the
 * initialisations compares draws with double cumulative sums, so a draw falling within a
 * rounding of an interval boundary could pick a neighbouring sample (probability ~1e-16).
 *
 * Random streams used (listed in rng.h): 16 k-means++ draws, 17 k-means|| per-sample
 * draws, 18 k-means|| first centre, 19 k-means|| reclustering of the candidates. */
#ifndef OVQ_KMEANS_H
#define OVQ_KMEANS_H

#include <mpi.h>
#include <stdint.h>

#include "ovq/error.h"

typedef enum {
  OVQ_KMEANS_INIT_PLUSPLUS = 0, /* greedy k-means++ (default) */
  OVQ_KMEANS_INIT_PARALLEL,     /* k-means|| */
  OVQ_KMEANS_INIT_GIVEN         /* init_centres, for reference tests; n_init is then 1 */
} OvqKmeansInit;

typedef struct OvqKmeansParams {
  int k;                     /* clusters, 1 <= k <= N */
  int n_init;                /* restarts, >= 1 (ignored for OVQ_KMEANS_INIT_GIVEN) */
  int max_iter;              /* Lloyd iterations per restart, >= 1 */
  double tol;                /* relative tolerance, >= 0 (see above) */
  OvqKmeansInit init;        /* how restarts start */
  uint64_t seed;             /* names every random draw */
  const float *init_centres; /* in: [k][d], the same on every rank, for INIT_GIVEN; not owned */
} OvqKmeansParams;

typedef struct OvqKmeansResult {
  int k;
  int64_t d;
  int64_t n_local;
  int32_t *labels;  /* [n_local]: cluster 0..k-1 of each local sample, owned */
  float *centres;   /* [k][d]: cluster means, replicated, owned */
  double inertia;   /* sum over all N samples of the squared distance to their centre */
  int n_iter;       /* Lloyd iterations of the kept restart */
  int best_restart; /* which restart was kept, 0-based */
} OvqKmeansResult;

/* Local. Defaults as scikit-learn 1.2: k = 8, n_init = 10, max_iter = 300, tol = 1e-4,
 * k-means++, seed 0, no given centres. */
void ovq_kmeans_defaults(OvqKmeansParams *p);

/* Collective on comm. Clusters the N samples held as x (in: [n_local][d], row-major, rows in
 * global order as above). On success fills *out (free with ovq_kmeans_result_free). Returns
 * OVQ_ERR on every rank, with a message and *out zeroed, for user errors: k outside 1..N, d < 1
 * or different across ranks, n_init or max_iter < 1, tol < 0, INIT_GIVEN without centres,
 * non-finite values in x or in the given centres. */
OvqStatus ovq_kmeans_fit(const OvqKmeansParams *p, const float *x, int64_t n_local, int64_t d,
                         MPI_Comm comm, OvqKmeansResult *out);

/* Local. Frees the arrays and zeroes *r; NULL-safe and idempotent. */
void ovq_kmeans_result_free(OvqKmeansResult *r);

#endif
