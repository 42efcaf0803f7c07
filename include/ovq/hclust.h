/* Agglomerative hierarchical clustering with average, complete or Ward linkage, as SciPy's
 * scipy.cluster.hierarchy.linkage builds the tree and fcluster(Z, k, 'maxclust') cuts it.
 *
 * Two entry points:
 * - ovq_hclust_fit: Euclidean distances between samples held row-distributed as in kmeans.h
 *   (rank r holds a contiguous block of the N samples, rows in global order; a rank may hold
 *   none). The condensed distance matrix is computed distributed (blocks of rows travel round
 *   a ring; each rank computes the rows i of its block against all j > i) and gathered on rank
 *   0, which merges; the tree is broadcast.
 * - ovq_hclust_from_dissimilarity: a given N x N dissimilarity, replicated on every rank (e.g.
 *   1 - consensus for consensus NMF / consensus clustering); rank 0 merges, the tree is
 *   broadcast. Only the strict upper triangle (i < j) is read, as R's as.dist reads one triangle.
 *   ovq_hclust_from_condensed takes the same as a condensed triangle on rank 0 only.
 * - ovq_hclust_from_rows: a symmetric N x N dissimilarity held by rows (rank r a contiguous block
 *   of rows, as x above), never gathered: the same nn_chain run on the distributed rows (see
 *   Storage), giving the same tree bit for bit. For N x N inputs that are built distributed
 *   (consensus clustering's 1 - C).
 *
 * Algorithm (what the implementation matches, see src/cluster/hclust.c): SciPy's nn_chain
 * (the nearest-neighbour chain algorithm, Murtagh 1983; Muellner, arXiv:1109.2378), with the
 * Lance-Williams updates of SciPy's _hierarchy_distance_update.pxi:
 *   average  d(xy, i) = (n_x d(x, i) + n_y d(y, i)) / (n_x + n_y)          (UPGMA)
 *   complete d(xy, i) = max(d(x, i), d(y, i))
 *   ward     d(xy, i) = sqrt(((n_i + n_x) d(x,i)^2 + (n_i + n_y) d(y,i)^2 - n_i d(x,y)^2)
 *                            / (n_x + n_y + n_i))
 * on Euclidean (not squared) distances, so Ward heights are SciPy's (and R's hclust "ward.D2").
 * The merges are then sorted by height (stable) and renumbered as SciPy's Z: singletons are
 * 0..N-1, merge m creates cluster N + m, and each merge lists the smaller id first.
 *
 * Cut at k (fcluster 'maxclust'): the smallest merge height t such that applying every merge
 * of height <= t leaves at most k clusters; all merges of height <= t are applied. Without ties
 * this gives exactly k clusters. Clusters are numbered 0, 1, ... in the order of their first
 * (lowest-index) sample, so sample 0 is in cluster 0 (fcluster numbers them 1.. in tree order:
 * the partitions are the same, the names differ). One deliberate difference: for k >= N - 1
 * fcluster's binary search never tries the lowest height and returns N - 2 clusters; here
 * k = N - 1 applies the lowest merge only and k = N none.
 *
 * Ties. Distances are compared with <, so the lowest-index candidate wins, and the chain
 * prefers its previous element (SciPy's rules; given bit-identical distances the tree is
 * SciPy's). Merges of equal height keep the order nn_chain produced them in. If merge heights
 * tie at the cut, all of them are applied and fewer than k clusters result, as with fcluster.
 * Note that distances computed in float from the features rarely tie exactly, but duplicated
 * samples do (distance 0).
 *
 * Storage. The merging keeps the condensed distances (N(N-1)/2 doubles, SciPy's layout) on
 * rank 0 only: 484 MB at N = 11,000 (doubles, so Ward's and average's Lance-Williams updates
 * keep full precision; float would halve it but drift from SciPy by ~1e-7). Each other rank
 * holds its block's rows of it while gathering. Time O(N^2 d / 2) for the distances (spread
 * over the ranks) plus O(N^2) for the merging (rank 0).
 * ovq_hclust_from_rows keeps no N x N matrix anywhere: it merges in the caller's rows (8 N^2 /
 * ranks bytes per rank, full rows, both triangles, so a row scan is contiguous) plus O(N) per
 * rank. Each chain step, the owner of the chain's tail scans that row for its nearest active
 * neighbour and broadcasts it (16 bytes); each merge of x into y, every rank updates column y of
 * its own rows and y's owner updates row y with row x (sent without waiting, 8 N bytes). Time:
 * the scans (O(N) per step, 2-3 N steps, one rank at a time) plus the column updates (O(N) per
 * merge, spread over the ranks, memory-latency bound: one cache line per row); the messages are
 * 2-3 N broadcasts of 16 bytes and at most N - 1 rows. The chain is sequential, so each time it
 * moves to a row on another rank the ranks wait for each other: cheap on idle cores, but on
 * oversubscribed cores every such hand-over can cost a scheduler time slice.
 *
 * Reproducibility. Each distance is computed the same way (double sum in feature order) whichever
 * rank holds its rows, so the distances, tree and labels are bit-identical for any number of
 * ranks (tested at 1, 2 and 4). No randomness. */
#ifndef OVQ_HCLUST_H
#define OVQ_HCLUST_H

#include <mpi.h>
#include <stdint.h>

#include "ovq/error.h"

typedef enum {
  OVQ_LINKAGE_AVERAGE = 0, /* UPGMA: SciPy 'average', R hclust "average" */
  OVQ_LINKAGE_COMPLETE,    /* SciPy 'complete', R "complete" */
  OVQ_LINKAGE_WARD         /* SciPy 'ward', R "ward.D2" */
} OvqLinkage;

/* One row of SciPy's linkage matrix Z. */
typedef struct OvqMerge {
  int64_t a, b;  /* merged cluster ids, a < b (0..N-1 samples, N + m the cluster of merge m) */
  double height; /* linkage distance of the merge; non-decreasing along the list */
  int64_t size;  /* samples in the new cluster */
} OvqMerge;

typedef struct OvqHclustResult {
  int64_t n;       /* samples N */
  OvqMerge *merge; /* [n - 1]: the tree, replicated, owned */
  int k;           /* clusters in labels (the k asked for, fewer if heights tie at the cut) */
  int64_t first;   /* global index of labels[0] */
  int64_t n_local; /* labels held */
  int32_t *labels; /* [n_local]: cluster 0..k-1 of samples first .. first + n_local - 1, owned */
} OvqHclustResult;

/* Collective on comm. Clusters the N samples held as x (in: [n_local][d], row-major, rows in
 * global order) with Euclidean distances and the given linkage, and cuts the tree at k. Fills
 * *out (free with ovq_hclust_result_free): the tree on every rank, labels of the local rows.
 * Returns OVQ_ERR on every rank, with a message and *out zeroed, for user errors: k outside
 * 1..N, d < 1 or different across ranks, unknown linkage, non-finite values in x. */
OvqStatus ovq_hclust_fit(OvqLinkage linkage, int k, const float *x, int64_t n_local, int64_t d,
                         MPI_Comm comm, OvqHclustResult *out);

/* Collective on comm. Clusters n objects from the dissimilarity dis (in: [n][n], row-major, the
 * same on every rank; entries (i, j), i < j, are read) and cuts the tree at k. Fills *out with
 * the tree and the labels of all n objects (first = 0, n_local = n) on every rank. Returns
 * OVQ_ERR on every rank for user errors: n < 1, k outside 1..n, unknown linkage, NaN, infinite
 * or negative entries. */
OvqStatus ovq_hclust_from_dissimilarity(OvqLinkage linkage, int k, const double *dis, int64_t n,
                                        MPI_Comm comm, OvqHclustResult *out);

/* Collective on comm. Clusters the n objects of a symmetric dissimilarity held by rows: rank r
 * holds the rows of objects starts[r] .. starts[r] + n_local - 1, where the blocks follow one
 * another in rank order from 0 (a rank may hold none) and n is the sum of n_local over the
 * ranks; rows (in: [n_local][n], row-major; destroyed: it is the working matrix, its contents
 * are unspecified on return). Entries (i, j) and (j, i) must be equal (not checked: a
 * non-symmetric matrix gives an unspecified tree); the diagonal is ignored. Same tree and labels,
 * bit for bit, as ovq_hclust_from_dissimilarity on the whole matrix, at any number of ranks.
 * Fills *out (free with ovq_hclust_result_free): the tree on every rank, the labels of the local
 * rows (first = this rank's first object). Returns OVQ_ERR on every rank, with *out zeroed, for
 * user errors: n < 1, k outside 1..n, unknown linkage, rows missing, NaN, infinite or negative
 * off-diagonal entries. */
OvqStatus ovq_hclust_from_rows(OvqLinkage linkage, int k, double *rows, int64_t n_local,
                               MPI_Comm comm, OvqHclustResult *out);

/* Local. Labels of all n samples (out: [n]) for a cut of the tree at k clusters (1 <= k <= n),
 * numbered as above; returns the number of clusters (< k when heights tie at the cut). */
int ovq_hclust_cut(const OvqMerge *merge, int64_t n, int k, int32_t *labels);

/* Collective on comm. As ovq_hclust_from_dissimilarity, from the condensed upper triangle
 * (SciPy's pdist layout: pair (i, j), i < j, at n i - i (i + 1) / 2 + j - i - 1; n (n - 1) / 2
 * values), needed on rank 0 only (others may pass NULL): half the memory, on one rank. */
OvqStatus ovq_hclust_from_condensed(OvqLinkage linkage, int k, const double *cond, int64_t n,
                                    MPI_Comm comm, OvqHclustResult *out);

/* Local. Cophenetic correlation: Pearson correlation over all pairs i < j between the
 * dissimilarity (in: condensed, as above) and the height of the merge that first joins i and
 * j, as SciPy's cophenet(Z, Y)[0] and R's cor(as.dist(dis), cophenetic(tree)). Returns NaN when
 * it is undefined (n < 3, or either side constant). */
double ovq_hclust_cophenetic_correlation(const OvqMerge *merge, int64_t n, const double *cond);

/* Local. Frees the arrays and zeroes *r; NULL-safe and idempotent. */
void ovq_hclust_result_free(OvqHclustResult *r);

#endif
