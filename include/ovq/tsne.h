/* t-SNE (van der Maaten & Hinton 2008) of a row-distributed samples x features matrix into 2
 * dimensions, following sklearn.manifold.TSNE(method='exact') of scikit-learn 1.2, and
 * sklearn.manifold.trustworthiness to score an embedding.
 *
 * Algorithm (as scikit-learn 1.2): squared Euclidean input distances; per sample a binary search
 * of the Gaussian precision beta_i to the perplexity (entropy tolerance 1e-5, at most 100 steps)
 * gives p_j|i; P = (p_j|i + p_i|j) / sum, floored at DBL_EPSILON. Student-t (1 degree of
 * freedom) similarities q_ij = max(w_ij / Z, DBL_EPSILON), w_ij = 1 / (1 + |y_i - y_j|^2),
 * Z = sum_{k != l} w_kl; gradient 4 sum_j (p_ij - q_ij) w_ij (y_i - y_j). Gradient descent with
 * per-coordinate gains (+0.2 / *0.8, floor min_gain 0.01) and momentum: 250 iterations with P
 * multiplied by the early exaggeration and momentum 0.5, then momentum 0.8 up to n_iter (gains
 * and momentum buffer restart between the two phases, as in scikit-learn). Every 50 iterations
 * the KL divergence is evaluated: a phase stops when it has not improved for
 * n_iter_without_progress iterations (250 in the first phase) or the gradient norm is
 * <= min_grad_norm. Init 'pca': the first two PCA scores (ovq/pca.h; scikit-learn uses the
 * randomized solver, so signs may differ), rounded to float as scikit-learn does, scaled so
 * that the standard deviation of PC1 is 1e-4. Init 'random': 1e-4 N(0, 1) from the counter RNG
 * (ovq/rng.h) with stream 31 (OVQ_STREAM_TSNE_INIT), index 2 * global row + coordinate.
 *
 * Distribution: rank r holds a contiguous block of samples in global order (any block sizes).
 * The inputs are allgathered once (N x d floats on every rank); each rank computes the P rows
 * and gradient rows of its own samples; each iteration allgathers the N x 2 embedding. Z, the
 * KL divergence and the gradient norm are summed in fixed point (ovq/fixedsum.h), and the PCA
 * init is rounded to float, so the embedding is the same bit for bit at any rank count (barring
 * a PCA score within rounding of a float boundary).
 *
 * Exact method (N <= exact_max_n): O(N^2 d) once and O(N^2) per iteration, N^2 / ranks doubles
 * of P per rank (200 MB at N = 5000 on one rank).
 *
 * Barnes-Hut (N > exact_max_n; scikit-learn's method='barnes_hut', van der Maaten 2014): P from
 * the k = min(N - 1, 3 perplexity + 1) exact nearest neighbours (brute force, O(N^2 d / ranks)
 * once; the N x k lists are allgathered to symmetrise), P = (C + C^T) / sum without the
 * DBL_EPSILON floor; attractive forces over the entries of P; repulsive forces and Z from a
 * quadtree of all of Y (rebuilt on every rank each iteration, so the same everywhere) with the
 * criterion cell_width^2 / dist^2 < theta^2; the leaf holding the point itself is skipped. The
 * KL divergence is then evaluated over the entries of P only (as scikit-learn). */
#ifndef OVQ_TSNE_H
#define OVQ_TSNE_H

#include <mpi.h>
#include <stdint.h>

#include "ovq/error.h"

typedef enum { OVQ_TSNE_INIT_PCA = 0, OVQ_TSNE_INIT_RANDOM = 1 } OvqTsneInit;

typedef struct OvqTsneParams {
  double perplexity;               /* 30 (scikit-learn's default; the paper used 50); < N */
  double early_exaggeration;       /* 12, >= 1 */
  double learning_rate;            /* <= 0 means "auto": max(N / early_exaggeration / 4, 50) */
  int64_t n_iter;                  /* 1000, >= 250 */
  int64_t n_iter_without_progress; /* 300 (second phase) */
  double min_grad_norm;            /* 1e-7 */
  double min_gain;                 /* 0.01 */
  OvqTsneInit init;                /* OVQ_TSNE_INIT_PCA */
  uint64_t seed;                   /* random init only; 0 */
  int64_t exact_max_n;             /* 5000: larger N uses Barnes-Hut */
  double theta;                    /* 0.5: Barnes-Hut angle (0: every leaf, i.e. exact forces) */
} OvqTsneParams;

/* Local. The defaults above (scikit-learn 1.2's). */
OvqTsneParams ovq_tsne_default_params(void);

/* Collective on comm. x: [n_local][d] this rank's samples (blocks in rank order). Writes this
 * rank's embedding y_local [n_local][2]. Returns OVQ_ERR on every rank (y_local untouched) for
 * bad options, N < 3, d < 2 with init pca, or perplexity >= N. Aborts on MPI failure or out of
 * memory. */
OvqStatus ovq_tsne_fit(const OvqTsneParams *params, const float *x, int64_t n_local, int64_t d,
                       MPI_Comm comm, double *y_local);

/* Local. The objective and its gradient as the fit uses them, on one process (for tests): the
 * KL divergence sum_{i != j} p_ij log(p_ij / q_ij) of the embedding y [n][2] for the joint
 * probabilities p [n][n] (symmetric, summing to 1, diagonal ignored; entries >= DBL_EPSILON),
 * returned, and its gradient grad [n][2]. */
double ovq_tsne_kl_gradient(const double *p, const double *y, int64_t n, double *grad);

/* Collective on comm. sklearn.manifold.trustworthiness(X, Y, n_neighbors) (Euclidean) of the
 * embedding y [n_local][dy] of x [n_local][d]: 1 - 2 / (N k (2N - 3k - 1)) * sum over samples i
 * and their k nearest neighbours j in Y of max(0, r(i, j) - k), r = rank of j among i's
 * neighbours in X. Gathers x and y on every rank (N x (d + dy) values: fine for N <= ~5000);
 * distance ties are broken by the lower global index. *out is the same on every rank. Returns
 * OVQ_ERR on every rank if n_neighbors < 1 or n_neighbors >= N / 2 (as scikit-learn). */
OvqStatus ovq_trustworthiness(const float *x, int64_t d, const double *y, int64_t dy,
                              int64_t n_local, int64_t n_neighbors, MPI_Comm comm, double *out);

#endif
