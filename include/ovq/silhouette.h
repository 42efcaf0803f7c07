/* Silhouette of a clustering (Rousseeuw 1987), as scikit-learn's silhouette_samples /
 * silhouette_score with the Euclidean metric: for sample i in cluster C, a(i) = mean distance to
 * the other members of C, b(i) = the smallest mean distance to the members of another cluster,
 * s(i) = (b - a) / max(a, b), and s(i) = 0 for a sample alone in its cluster.
 *
 * Layout: rows distributed as everywhere (rank r holds a contiguous block of samples in global
 * order). The blocks travel round a ring of ranks; each rank sums, for its own samples, the
 * distances to every passing block per cluster (distances in double from one DGEMM per pair of
 * blocks). Cost O(N^2 d / ranks) time, O(block) memory. */
#ifndef OVQ_SILHOUETTE_H
#define OVQ_SILHOUETTE_H

#include <mpi.h>
#include <stdint.h>

#include "ovq/error.h"

/* Collective on comm. x: [n_local][d] this rank's samples; labels: their clusters 0..k-1.
 * s_local (may be NULL): [n_local] per-sample silhouettes. Returns the mean over all samples in
 * *mean; OVQ_ERR (same on every rank) if fewer than 2 or more than N - 1 clusters are used, as
 * scikit-learn requires. */
OvqStatus ovq_silhouette(const float *x, int64_t n_local, int64_t d, const int32_t *labels, int k,
                         MPI_Comm comm, double *s_local, double *mean);

#endif
