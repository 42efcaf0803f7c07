/* Separation of a clustering in feature space: the Calinski-Harabasz index (variance ratio,
 * Calinski & Harabasz 1974) and the Davies-Bouldin index (Davies & Bouldin 1979), as
 * sklearn.metrics.calinski_harabasz_score and davies_bouldin_score (scikit-learn 1.2), Euclidean.
 *
 * Only the clusters that have members count (scikit-learn label-encodes the labels, so unused
 * codes are invisible to it). With k_used clusters, N samples, centroids c_j, global mean m:
 *   CH = [sum_j n_j |c_j - m|^2 / (k_used - 1)] / [sum_i |x_i - c_(i)|^2 / (N - k_used)],
 *        1.0 when the within-cluster dispersion is exactly 0;
 *   DB = mean_j max_(l != j) (s_j + s_l) / |c_j - c_l|, s_j = mean distance of cluster j's
 *        members to c_j; a pair with |c_j - c_l| = 0 is skipped (scikit-learn sets the distance
 *        to infinity), and DB = 0 when all s_j or all centroid distances are <= 1e-8
 *        (scikit-learn's np.allclose(., 0)).
 *
 * Layout: rows distributed as everywhere, any split. Two passes over the local rows; every sum
 * over samples is a fixed-point sum (ovq/fixedsum.h), so the results are the same bit for bit
 * at any rank count. Cost O(N d / ranks) time, O(k d) memory. */
#ifndef OVQ_SEPARATION_H
#define OVQ_SEPARATION_H

#include <mpi.h>
#include <stdint.h>

#include "ovq/error.h"

typedef struct OvqSeparation {
  double calinski_harabasz;
  double davies_bouldin;
  int64_t n;  /* samples over all ranks */
  int k_used; /* clusters with at least one member */
} OvqSeparation;

/* Collective on comm. x: [n_local][d] this rank's samples; labels: [n_local] their clusters,
 * codes 0..k-1. Fills *out (the same on every rank). Returns OVQ_ERR on every rank, with a
 * message (ovq_error_message), if a label is outside 0..k-1 or if fewer than 2 or more than
 * N - 1 clusters are used (scikit-learn's requirement); *out is then zeroed. */
OvqStatus ovq_separation(const float *x, int64_t n_local, int64_t d, const int32_t *labels, int k,
                         MPI_Comm comm, OvqSeparation *out);

#endif
