/* Spectral clustering of row-distributed samples: affinity, normalised Laplacian, leading
 * eigenvectors from ScaLAPACK on a block-cyclic BLACS grid, row normalisation, k-means.
 *
 * Layout. As k-means (include/ovq/kmeans.h): every rank holds a contiguous block of the N
 * samples, rows in global order; a rank may hold none. The N x N matrices are block-cyclic on a
 * nearly square grid over comm (include/ovq/linalg.h): memory per rank ~ 3 N^2 / ranks doubles
 * (affinity rows, the Laplacian and the N x N eigenvector matrix of the eigensolver).
 *
 * Algorithm (scikit-learn 1.2 SpectralClustering(assign_labels="kmeans") and its
 * spectral_embedding(norm_laplacian=True, drop_first=False), plus Ng-Jordan-Weiss row
 * normalisation):
 * 1. Affinity A: 'rbf' A_ij = exp(-gamma ||x_i - x_j||^2) (sklearn's default gamma = 1.0; gamma
 *    = 0 takes 1 / (d var), var the mean variance of the d features, so that the affinity does
 *    not vanish for data of large scale, e.g. 64 latent features of norm ~10);
 *    'nearest_neighbors' connectivity to the n_neighbors nearest samples, the sample itself
 *    included (kneighbors_graph(include_self=True); ties to the lower index), symmetrised
 *    0.5 (A + A^T). Distances in double, as sums of squared differences.
 * 2. The diagonal of A is ignored (scipy.sparse.csgraph.laplacian), d_i = sum_j!=i A_ij and
 *    L = I - D^-1/2 A D^-1/2 (an isolated sample, d_i = 0, gets L_ii = 0 as in scipy).
 * 3. The k + 1 smallest eigenvalues of L and the eigenvectors of the k smallest
 *    (ovq_dmat_eigh_range: LAPACK dsyevr on one rank; LOBPCG, or dsyevr's steps distributed,
 *    on several)
 *    (sklearn takes the k leading eigenvectors of -L; the same subspace). Reported: the k + 1
 *    eigenvalues (ascending) and the eigengap lambda_{k+1} - lambda_k.
 * 4. Embedding row i = (v_1(i), ..., v_k(i)) / sqrt(d_i) (sklearn's scaling by D^-1/2), each
 *    vector's sign fixed so that its entry of largest |value| (lowest index on ties) is
 *    positive (sklearn's _deterministic_vector_sign_flip); then, if row_normalise, each row is
 *    scaled to unit length (Ng, Jordan & Weiss, NIPS 2001; this cancels the D^-1/2 scaling,
 *    so both conventions give the same embedding). sklearn itself does not row-normalise.
 * 5. k-means (ovq_kmeans_fit, k-means++, n_init restarts, the given seed) on the embedding in
 *    float; clusters are then renamed in order of their first sample (lowest global index).
 *
 * Reproducibility. No random draws of its own (k-means uses streams 16-19). The eigenvectors
 * depend on the grid shape in their last bits, so the embedding may differ in rounding
 * between rank counts; labels agree on data with a clear eigengap (tested at 1, 2 and 4). */
#ifndef OVQ_SPECTRAL_H
#define OVQ_SPECTRAL_H

#include <mpi.h>
#include <stdint.h>

#include "ovq/error.h"

typedef enum {
  OVQ_SPECTRAL_RBF = 0,          /* exp(-gamma ||x_i - x_j||^2) */
  OVQ_SPECTRAL_NEAREST_NEIGHBORS /* symmetrised kNN connectivity */
} OvqSpectralAffinity;

typedef struct OvqSpectralParams {
  int k;                        /* clusters, 1 <= k < N */
  OvqSpectralAffinity affinity; /* default RBF */
  double gamma;                 /* RBF width, > 0; default 1.0 (scikit-learn's); 0: 1 / (d x the
                                   mean variance of the features), scikit-learn SVC's 'scale' */
  int n_neighbors;              /* kNN, 1 <= n_neighbors <= N; default 10 */
  int row_normalise;            /* unit-length embedding rows (default 1) */
  int n_init;                   /* k-means restarts, default 10 */
  uint64_t seed;                /* k-means seed, default 0 */
} OvqSpectralParams;

typedef struct OvqSpectralResult {
  int k;
  int64_t n_local;
  int32_t *labels;      /* [n_local]: cluster 0..k-1, owned */
  float *embedding;     /* [n_local][k]: what k-means clustered, owned */
  double *eigenvalues;  /* [k + 1]: smallest eigenvalues of L, ascending, replicated, owned */
  double eigengap;      /* eigenvalues[k] - eigenvalues[k - 1] */
  double inertia;       /* k-means inertia on the embedding */
} OvqSpectralResult;

/* Local. k = 8 (as sklearn), RBF, gamma 1.0, n_neighbors 10, row_normalise 1, n_init 10,
 * seed 0. */
void ovq_spectral_defaults(OvqSpectralParams *p);

/* Collective on comm. Clusters the N samples held as x (in: [n_local][d], rows in global
 * order). On success fills *out (free with ovq_spectral_result_free). Returns OVQ_ERR on every
 * rank, with a message and *out zeroed, for user errors: k outside 1..N-1, d < 1 or different
 * across ranks, gamma <= 0, n_neighbors outside 1..N, n_init < 1, non-finite values in x, or
 * an eigensolver that does not converge. */
OvqStatus ovq_spectral_fit(const OvqSpectralParams *p, const float *x, int64_t n_local,
                           int64_t d, MPI_Comm comm, OvqSpectralResult *out);

/* Local. Frees the arrays and zeroes *r; NULL-safe and idempotent. */
void ovq_spectral_result_free(OvqSpectralResult *r);

/* Steps 1-4 and 5 apart, so that a range of k shares one eigendecomposition: the first k
 * eigenvectors of a decomposition for k_max >= k are those for k (up to the solver's
 * tolerance where eigenvalues are close), and each vector's sign is fixed on its own. */
typedef struct OvqSpectralEmbedding {
  int k_max;
  int64_t n_local, r0;  /* this rank's rows, from global row r0 */
  double *rows;         /* [n_local][k_max] D^-1/2 v_1 .. v_kmax, signs fixed, owned */
  double *eigenvalues;  /* [k_max + 1] ascending, replicated, owned */
} OvqSpectralEmbedding;

/* Collective on comm. Steps 1-4 for k = p->k (the largest k to be clustered); errors as
 * ovq_spectral_fit. Free with ovq_spectral_embedding_free. */
OvqStatus ovq_spectral_embed(const OvqSpectralParams *p, const float *x, int64_t n_local,
                             int64_t d, MPI_Comm comm, OvqSpectralEmbedding *e);

/* Collective on comm. Step 5 for k = p->k <= e->k_max: the first k columns, row normalisation,
 * k-means; fills *out as ovq_spectral_fit (eigenvalues: the first k + 1). OVQ_ERR if k is out
 * of range. ovq_spectral_fit is ovq_spectral_embed + ovq_spectral_cluster at the same k. */
OvqStatus ovq_spectral_cluster(const OvqSpectralParams *p, const OvqSpectralEmbedding *e,
                               MPI_Comm comm, OvqSpectralResult *out);

/* Local. NULL-safe and idempotent. */
void ovq_spectral_embedding_free(OvqSpectralEmbedding *e);

#endif
