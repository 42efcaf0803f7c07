/* Principal component analysis of a row-distributed samples x features matrix, as
 * sklearn.decomposition.PCA(n_components=c, svd_solver='full') in scikit-learn 1.2:
 * mean_, components_, explained_variance_ (ddof 1), explained_variance_ratio_, and the scores of
 * fit_transform.
 *
 * Method: centre with the global column means (fixed-point sums, ovq/fixedsum.h); each rank
 * forms its part of the d x d scatter matrix Xc^T Xc with one DSYRK, one MPI_Allreduce sums
 * them, and every rank solves the same symmetric eigenproblem (LAPACK dsyevr, the c largest
 * eigenpairs). The covariance route is used whatever N is, also for d > N (the covariance then
 * has rank <= N - 1; components beyond that have eigenvalue ~0 and arbitrary directions, as in
 * scikit-learn). Above OVQ_PCA_MAX_FEATURES features (the d x d matrix would be held on every
 * rank: 128 MiB at the limit) ovq_pca_fit switches to ovq_pca_fit_randomized.
 *
 * Signs follow scikit-learn 1.2's svd_flip(U, Vt) with u_based_decision=True: for each
 * component, the sample with the largest |score| (the first in global order on a tie) has a
 * positive score. Note scikit-learn >= 1.5 decides from the components instead
 * (u_based_decision=False), so its signs can differ.
 *
 * Rank-count dependence: the scatter matrix is summed in floating point, so results at
 * different rank counts agree to rounding (the tests see ~1e-15), not bit for bit; a sign
 * can only differ if two samples' |scores| tie to rounding. */
#ifndef OVQ_PCA_H
#define OVQ_PCA_H

#include <mpi.h>
#include <stdint.h>

#include "ovq/error.h"

#define OVQ_PCA_MAX_FEATURES 4096

typedef struct OvqPca {
  int64_t d;                        /* features */
  int64_t n_components;             /* c */
  int64_t n_samples;                /* N over all ranks */
  double *mean;                     /* [d], owned */
  double *components;               /* [c][d], owned: unit rows, by decreasing variance */
  double *explained_variance;       /* [c], owned: eigenvalues of the covariance (ddof 1) */
  double *explained_variance_ratio; /* [c], owned: explained_variance / total_variance */
  double total_variance;            /* trace of the covariance */
} OvqPca;

/* Collective on comm. x: [n_local][d] this rank's samples (any split of rows; the order of the
 * ranks is the global order). Fits into *pca (the same on every rank; free with
 * ovq_pca_destroy) and, if scores is not NULL, writes this rank's scores [n_local][c]
 * ((x - mean) components^T). Returns OVQ_ERR on every rank, *pca zeroed, if d < 1, N < 2, or c outside
 * 1..min(N, d). Above OVQ_PCA_MAX_FEATURES features: ovq_pca_fit_randomized (7 iterations,
 * seed 0). Aborts if dsyevr fails. */
OvqStatus ovq_pca_fit(const float *x, int64_t n_local, int64_t d, int64_t n_components,
                      MPI_Comm comm, OvqPca *pca, double *scores);

/* Collective on comm. Randomized PCA (Halko, Martinsson & Tropp 2011, Algorithm 4.4, as
 * scikit-learn's svd_solver='randomized'): a d x (c + 10) Gaussian test matrix (counter RNG:
 * the same at any rank count), power_iters subspace iterations on the row-distributed centred
 * matrix, each basis re-orthonormalised through the eigendecomposition of its small Gram matrix
 * (one allreduce), then the exact SVD of the projected (c + 10) x d matrix. Memory: the centred
 * block plus d x (c + 10) on every rank, for any d. Same outputs and sign rule as ovq_pca_fit;
 * total_variance is exact, the leading components agree with the exact route to the accuracy
 * of the iteration (the tests ask 1e-6 on a decaying spectrum with power_iters = 7). */
OvqStatus ovq_pca_fit_randomized(const float *x, int64_t n_local, int64_t d, int64_t n_components,
                                 int power_iters, uint64_t seed, MPI_Comm comm, OvqPca *pca,
                                 double *scores);

/* Local. Frees and zeroes *pca; NULL-safe and idempotent. */
void ovq_pca_destroy(OvqPca *pca);

#endif
