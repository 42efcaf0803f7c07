/* Gaussian mixture on row-distributed data: EM as scikit-learn's GaussianMixture runs it, with
 * full, diagonal or spherical covariances, reg_covar, k-means or given initial parameters and
 * n_init restarts; reports the mean log-likelihood (lower_bound_) and the BIC.
 *
 * Layout. Every rank holds a contiguous block of the N samples, rows in global order (rank r's
 * rows come before rank r + 1's); a rank may hold no rows. Mixture parameters are replicated.
 *
 * Algorithm (what the implementation matches, see src/cluster/gmm.c), all in double:
 * - E-step as sklearn's _estimate_weighted_log_prob: with W_k the Cholesky factor of component
 *   k's precision (P_k = W_k W_k^T), log N(x | mu_k, P_k^-1) = -(d log 2 pi + |(x - mu_k) W_k|^2)
 *   / 2 + sum log diag W_k; plus log weight_k; log-sum-exp over k gives the sample's
 *   log-likelihood, the responsibilities r_ik and the label (argmax, ties to the lowest k).
 *   Full: one DGEMM per block of rows against all W_k side by side; diagonal and spherical: one
 *   DGEMM of [x, x^2] against the precision-weighted means and precisions.
 * - M-step as sklearn's _estimate_gaussian_parameters: n_k = sum_i r_ik + 10 eps, means
 *   sum r x / n_k, covariances sum r (x - mu)(x - mu)^T / n_k + reg_covar I (diagonal: its
 *   diagonal; spherical: the mean of the diagonal), weights n_k / sum n_k; then W_k from the
 *   Cholesky factorisation of the covariance (LAPACK dpotrf, W_k = C_k^-T). A covariance that
 *   is not positive definite is a user error (as sklearn: fewer components or more reg_covar).
 * - The iteration's lower bound is the mean log-likelihood of the E-step (parameters before the
 *   M-step); EM stops when it changes by less than tol, or after max_iter iterations.
 * - k-means initialisation (sklearn's init_params="kmeans"): one-hot responsibilities from
 *   ovq_kmeans_fit (k-means++, n_init 1, the given seed for restart 0), then one M-step with
 *   weights n_k / N. Given initialisation: weights, means and precisions as sklearn's
 *   weights_init, means_init, precisions_init (full: W_k = cholesky(P_k) lower).
 * - Of n_init restarts the one with the highest lower bound is kept; a final E-step with the
 *   kept parameters gives the labels and the log-likelihood the BIC is computed from
 *   (-2 N loglik + n_params log N, sklearn's bic()). (sklearn 1.2 takes that final E-step with
 *   the last restart's parameters; with n_init = 1 the two agree.)
 *
 * Reproducibility. For the same seed, labels, parameters, lower bound and n_iter do not depend
 * on the number of ranks (tested at 1, 2 and 4). The samples are cut into global blocks of
 * OVQ_GMM_BLOCK rows aligned to the global index; each block is processed whole by the rank
 * holding its first row (the few rows it lacks are fetched once per fit from the next ranks,
 * labels of rows processed elsewhere are sent back at the end), so each block's double partial
 * sums are the same at any rank count. The partial sums of n_k, sum r x and sum r x x^T are
 * rounded to 64-bit fixed point (per-entry power-of-two scales from each feature's largest
 * |x - mean|, so no total can overflow; resolution ~2^-62 of that bound per block) and added
 * as integers, which is exact; the blocks' log-likelihood sums are gathered and added in block
 * order. Data are centred on the global mean (itself an exact fixed-point sum) first.
 *
 * Random streams used (listed in rng.h): 21 k-means seeds of restarts >= 1 (index =
 * restart); the k-means initialisation itself draws from the k-means streams 16-19. */
#ifndef OVQ_GMM_H
#define OVQ_GMM_H

#include <mpi.h>
#include <stdint.h>

#include "ovq/error.h"

enum { OVQ_GMM_BLOCK = 4096 }; /* rows per global block of the exact sums (see above) */

typedef enum {
  OVQ_GMM_FULL = 0,  /* one d x d covariance per component (sklearn "full", the default) */
  OVQ_GMM_DIAG,      /* one variance per component and feature ("diag") */
  OVQ_GMM_SPHERICAL  /* one variance per component ("spherical") */
} OvqGmmCovariance;

typedef enum {
  OVQ_GMM_INIT_KMEANS = 0, /* one-hot responsibilities from k-means (default) */
  OVQ_GMM_INIT_GIVEN       /* init_weights/means/precisions, for reference tests; n_init is 1 */
} OvqGmmInit;

typedef struct OvqGmmParams {
  int k;                       /* components, 1 <= k <= N */
  OvqGmmCovariance covariance; /* covariance type */
  double reg_covar;            /* added to the covariance diagonals, >= 0 */
  double tol;                  /* on the change of the mean log-likelihood, >= 0 */
  int max_iter;                /* EM iterations per restart, >= 1 */
  int n_init;                  /* restarts, >= 1 (ignored for OVQ_GMM_INIT_GIVEN) */
  OvqGmmInit init;             /* how restarts start */
  uint64_t seed;               /* of the k-means initialisation */
  /* For OVQ_GMM_INIT_GIVEN, the same on every rank, not owned: */
  const double *init_weights;    /* [k], >= 0, summing to 1 */
  const double *init_means;      /* [k][d] */
  const double *init_precisions; /* full [k][d][d] (symmetric positive definite), diag [k][d],
                                    spherical [k] (> 0): inverse covariances */
} OvqGmmParams;

typedef struct OvqGmmResult {
  int k;
  int64_t d;
  int64_t n_local;
  OvqGmmCovariance covariance;
  int32_t *labels;     /* [n_local]: component of highest responsibility, owned */
  double *weights;     /* [k], replicated, owned */
  double *means;       /* [k][d], replicated, owned */
  double *covariances; /* full [k][d][d], diag [k][d], spherical [k]; replicated, owned */
  double log_likelihood; /* mean per sample, sklearn's lower_bound_ (before the last M-step) */
  double bic;            /* sklearn's bic(X): from the final parameters */
  int n_iter;            /* EM iterations of the kept restart */
  int converged;         /* 1 if the kept restart met tol before max_iter */
  int best_restart;      /* which restart was kept, 0-based */
} OvqGmmResult;

/* Local. Defaults as scikit-learn 1.2: k = 1, full covariances, reg_covar = 1e-6, tol = 1e-3,
 * max_iter = 100, n_init = 1, k-means initialisation, seed 0, no given parameters. */
void ovq_gmm_defaults(OvqGmmParams *p);

/* Collective on comm. Fits the mixture to the N samples held as x (in: [n_local][d],
 * row-major, rows in global order as above). On success fills *out (free with
 * ovq_gmm_result_free). Returns OVQ_ERR on every rank, with a message and *out zeroed, for user
 * errors: k outside 1..N, d < 1 or different across ranks, max_iter or n_init < 1, tol or
 * reg_covar < 0, an unknown covariance type or initialisation, INIT_GIVEN without its arrays or
 * with weights not in [0, 1] summing to 1, precisions not positive (definite), non-finite
 * values in x, and a component whose covariance is not positive definite during EM. */
OvqStatus ovq_gmm_fit(const OvqGmmParams *p, const float *x, int64_t n_local, int64_t d,
                      MPI_Comm comm, OvqGmmResult *out);

/* Local. Number of free parameters of the mixture (sklearn's _n_parameters). */
int64_t ovq_gmm_n_parameters(OvqGmmCovariance cov, int k, int64_t d);

/* Local. Frees the arrays and zeroes *r; NULL-safe and idempotent. */
void ovq_gmm_result_free(OvqGmmResult *r);

#endif
