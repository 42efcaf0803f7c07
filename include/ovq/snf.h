/* Similarity network fusion (Wang et al., Nat. Methods 11:333, 2014) as the R package SNFtool
 * 2.3 computes it, on row-distributed views, then SNFtool's spectralClustering of the fused
 * network (eigensolver on a block-cyclic BLACS grid, include/ovq/linalg.h).
 *
 * Layout. Every view holds the same N samples, row blocks as k-means (include/ovq/kmeans.h):
 * rank r holds rows [start_r, start_r + n_local) of every view, and the same rows of every
 * N x N network (row-major, all N columns). The kNN kernels S_v of the fusion have K nonzeros
 * per row and are replicated (N K indices and values each). A fusion step for view v is
 * S_v P S_v^T with P symmetric: P S_v^T = (S_v P)^T row by row (2 N^2 K / ranks flops), one
 * block transpose (each pair of ranks swaps one block, N^2 / ranks^2 doubles), then
 * (S_v P) S_v^T row by row; normalize is row-wise and (X + X^T) / 2 another block swap. The
 * distances come from a ring (each rank's standardised block travels once round, one DGEMM
 * per step; DSYRK for the diagonal block). Memory per rank: (2 V - 1) N^2 / ranks doubles
 * during the fusion (one for one view), up to 4 N^2 / ranks while the fused network moves to
 * the block-cyclic layout (2 on one rank, where it is adopted in place), plus the
 * eigensolver's matrices and work space, plus one more N^2 / ranks if keep_fused.
 *
 * Algorithm, SNFtool line by line (tools/snf_reference.py is the NumPy transcription the
 * tests compare with):
 * 1. standardNormalization per view: each feature to mean 0, sd 1 (sd with N - 1; sd 0 -> 1).
 * 2. dist2: squared Euclidean distances |x_i|^2 + |x_j|^2 - 2 x_i.x_j (the products by
 *    BLAS, see Layout), negatives set to 0.
 * 3. affinityMatrix(Diff, K, sigma = alpha): Diff = (Diff + Diff^T) / 2, diag 0; m_i = mean of
 *    the K smallest off-diagonal entries of row i (entries 2..K+1 of the sorted row; a
 *    bounded insertion list of the K + 1 smallest, not a sort of the row) + eps;
 *    Sig_ij = ((m_i + m_j) / 2) / 3 * 2 + Diff_ij / 3 + eps (floored at eps);
 *    W_ij = dnorm(Diff_ij, 0, alpha Sig_ij) (a normal density of the squared distance).
 * 4. SNF(Wall, K, T): normalize(X) = X_ij / (2 (sum_j X_ij - X_ii)) (a zero denominator -> 1),
 *    diagonal 0.5, then (X + X^T) / 2; S_v = .dominateset(W_v, K): the K largest entries of
 *    each row kept (ties: the higher column index, as R's stable sort), rows scaled to sum 1;
 *    T times: W_v <- sym(normalize(S_v (sum_{u != v} W_u / (V - 1)) S_v^T)) for every view
 *    from the previous iterates; fused W = sym(normalize(sum_v W_v / V)).
 *    One view: SNFtool's SNF divides by V - 1 = 0; here the fused network is that view's
 *    affinityMatrix (what SNFtool users cluster for a single data type).
 * 5. spectralClustering(W, n_clusters) (type 3): d_i = sum_j W_ij (0 -> eps),
 *    NL = D^-1/2 (D - W) D^-1/2; the n_clusters eigenvectors of smallest eigenvalue
 *    (ovq_dmat_eigh_range), rows scaled to unit length, then SNFtool's .discretisation (Yu & Shi
 * 2003: the first rotation column from row round(N/2), the others from the rows least aligned with
 * those chosen, then at most 20 rounds of discrete assignment + SVD rotation until the Ncut value
 * stops changing); label = the column of each row's 1 (first maximum). Reported: the n_clusters + 1
 * smallest eigenvalues of NL and the eigengap.
 *
 * Reproducibility. No random draws. Every entry of the networks is computed by one rank in
 * an order that does not depend on the rank count, except the distance products (DGEMM /
 * DSYRK block shapes follow the row split) and the eigensolver (dsyevr on one rank, pdsyevd
 * on several); the discretisation is invariant to the sign and rotation of the eigenvectors
 * and runs replicated on every rank, so labels agree across rank counts (tested at 1, 2, 4). */
#ifndef OVQ_SNF_H
#define OVQ_SNF_H

#include <mpi.h>
#include <stdint.h>

#include "ovq/error.h"

typedef struct OvqSnfView {
  const float *x; /* in: [n_local][d], not owned */
  int64_t d;      /* features, >= 1, the same on every rank */
} OvqSnfView;

typedef struct OvqSnfParams {
  int K;          /* neighbours, 1 <= K < N; default 20 */
  double alpha;   /* affinityMatrix sigma, > 0; default 0.5 */
  int T;          /* fusion iterations, >= 0; default 20 */
  int n_clusters; /* 1 <= n_clusters < N; default 2 */
  int keep_fused; /* return this rank's rows of the fused network (default 0) */
} OvqSnfParams;

typedef struct OvqSnfResult {
  int n_clusters;
  int64_t n_local, n;
  int32_t *labels;     /* [n_local]: 0..n_clusters-1 (SNFtool's label - 1), owned */
  double *eigenvalues; /* [n_clusters + 1]: smallest eigenvalues of NL, ascending, owned */
  double eigengap;     /* eigenvalues[n_clusters] - eigenvalues[n_clusters - 1] */
  double *fused;       /* [n_local][n] rows of the fused W if keep_fused, else NULL; owned */
} OvqSnfResult;

/* Local. K = 20, alpha = 0.5, T = 20 (SNFtool's defaults), n_clusters = 2, keep_fused = 0. */
void ovq_snf_defaults(OvqSnfParams *p);

/* Collective on comm. Fuses the n_views views (each row-distributed, n_local rows here) and
 * clusters the fused network. Returns OVQ_ERR on every rank, with a message and *out zeroed,
 * for user errors: no views, d < 1 or different across ranks, N < 2, K or n_clusters outside
 * 1..N-1, alpha <= 0, T < 0, non-finite values, or an eigensolver failure. */
OvqStatus ovq_snf_fit(const OvqSnfParams *p, const OvqSnfView *views, int n_views, int64_t n_local,
                      MPI_Comm comm, OvqSnfResult *out);

/* Local. Frees the arrays and zeroes *r; NULL-safe and idempotent. */
void ovq_snf_result_free(OvqSnfResult *r);

#endif
