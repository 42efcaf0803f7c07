/* iClusterBayes (Mo et al., Biostatistics 19(1), 2018) for Gaussian views on row-distributed
 * samples: a Bayesian latent-variable model whose posterior mean latent matrix is clustered by
 * k-means, as iClusterPlus::iClusterBayes(type = "gaussian") does.
 *
 * Model. m views (m = 2 for mRNA + miRNA, m = 1 for one feature set such as learned latents);
 * view t has p_t features. With K = k_clusters - 1 latent dimensions, for sample i and feature j
 * of view t:
 *   x_tij = alpha_tj + gamma_tj b_tj . z_i + e,   e ~ N(0, sigma2_tj),   z_i ~ N(0, I_K),
 *   gamma_tj ~ Bernoulli(prior_gamma[t]),  b_tj ~ N(0, beta_var_scale I_K),  alpha_tj ~ N(0, 1),
 *   sigma2_tj ~ inverse gamma (shape 1, scale 1).
 * The spike and slab is Kuo and Mallick's (1998) form, as in iClusterPlus's bvsNormal: the
 * loading b_tj keeps its slab prior whatever gamma_tj is, and gamma_tj decides whether it enters
 * the likelihood, so gamma_tj = 0 is an exact zero loading.
 *
 * Sampler (one iteration; iClusterPlus's mcmcBayes / mcmcMix6d / bvsNormal, with the deviations
 * listed below). The chain starts, as iClusterPlus's cold start, from alpha = feature means,
 * sigma2 = feature variances (divisor N), b = 0, gamma = 0 and z_i ~ N(0, I).
 * 1. z_i: one random-walk Metropolis step per sample, proposal z_i + sdev N(0, I), target
 *    prod_t prod_j N(x_tij; alpha_tj + gamma_tj b_tj . z, sigma2_tj) N(z; 0, I).
 * 2. The latent matrix is standardised (every column to mean 0 and standard deviation 1, divisor
 *    N - 1); the standardised copy is what the feature updates condition on and what the
 *    posterior mean averages; the chain itself moves on from the unstandardised z (as in
 *    iClusterPlus, where lastZ is kept and meanZ is standardised).
 * 3. For every feature, given the standardised Z: sigma2 from its inverse-gamma conditional
 *    (given the current alpha, b, gamma); then (alpha, b) jointly from their Gaussian
 *    conditional given sigma2 and gamma (the prior alone for b when gamma = 0); then gamma from
 *    its Bernoulli conditional given (alpha, b, sigma2): P(gamma = 1) = 1 / (1 + exp(-lhr)),
 *    lhr = (RSS(b = 0) - RSS(b)) / (2 sigma2) + log(prior_gamma / (1 - prior_gamma)).
 * After n_burnin iterations, n_draw more: every thin-th of them (draw index % thin == 0) adds
 * the standardised Z, alpha, gamma b and sigma2 to the posterior means; gamma is counted at every
 * draw (the feature's posterior selection probability = count / n_draw, as iClusterPlus's beta.pp)
 * and so are the accepted z moves (acceptance rate over all samples and draws).
 * Labels: k-means (ovq_kmeans_fit, k-means++, n_init restarts, the given seed) of the posterior
 * mean of Z into K + 1 clusters. Summaries as iClusterPlus's totalBICbayes and dev.ratio.bayes,
 * at the posterior means: features with selection probability > pp_cutoff keep their mean
 * loading and count K + 1 parameters, the others have loading 0 and count 1;
 * BIC = sum -2 loglik + parameters * log N; dev_ratio = 1 - loglik / loglik(all loadings 0).
 *
 * Deviations from iClusterPlus (src/iClusterBayes.c, Bioconductor), each deliberate:
 * - sigma2: iClusterPlus draws sigma2 = rgamma(a, 1 / b), a Gamma draw (the conditional of the
 *   precision 1 / sigma2) used as the variance; here sigma2 = 1 / Gamma(a, rate b), the
 *   inverse-gamma conditional the model states.
 * - alpha when gamma = 0: iClusterPlus multiplies the whole right-hand side, the intercept's
 *   included, by gamma, so with gamma = 0 alpha is drawn around 0; here alpha is drawn from its
 *   conditional given the data (mean sum_i x_i / sigma2 / (N / sigma2 + 1)).
 * - beta_var_scale: iClusterPlus uses it only for the proposal variance of binomial and Poisson
 *   loadings (Gaussian loadings have prior covariance I); here it scales the slab prior
 *   covariance of b, which at the default 1 is iClusterPlus's prior.
 * - The z target is evaluated from the quadratic form -z'(I + sum_j b_j b_j' / sigma2_j) z / 2
 *   + z . sum_j (x_j - alpha_j) b_j / sigma2_j over the selected features (gamma = 1), which is
 *   the log density up to a constant, instead of summing every feature's squared residual: the
 *   same Metropolis decisions up to rounding.
 * - Reported loadings are the posterior means of gamma b (the loading that enters the
 *   likelihood); iClusterPlus averages b, including the prior draws made while gamma = 0.
 * - k-means restarts: n_init (default 10) instead of R's nstart = 100.
 *
 * Behaviour worth knowing. From the cold start every gamma is 0 and b = 0, so Z first moves
 * under its prior and a feature is switched on only when a loading drawn from the slab happens
 * to fit; the chain leaves the empty model only if the cluster signal is strong enough. In the
 * planted test (450 samples, 25 of 250 features informative, noise sd 1) cluster-mean offsets of
 * 2 sd are recovered exactly within 200 burn-in iterations, while offsets of 1.2 sd left the
 * chain in the empty model (every selection probability near 0, ARI ~ 0). Scale features to
 * unit variance beforehand, as iClusterBayes2 does; check dev_ratio (0 means nothing selected).
 *
 * Layout. Samples are row-distributed: rank r holds a contiguous block of the N samples in
 * global order (e.g. ovq_partition_block(N, size, r)), the same rows in every view; a rank may
 * hold no rows. z_i lives with its sample; alpha, b, gamma, sigma2 are replicated. Each iteration
 * needs the sums over samples of z (standardisation), z z' and z x_j for every feature; these are
 * allreduced as 64-bit fixed-point integers (ovq/fixedsum.h), so every rank holds the same
 * statistics bit for bit and updates the feature parameters identically.
 *
 * Reproducibility. Every draw is named by (seed, stream, index), never by rank:
 *   stream 26: initial z_i, index = global sample;
 *   stream 27: Metropolis step of z_i, index = iteration * N + global sample;
 *   stream 28: sigma2 and (alpha, b) of a feature, index = iteration * P + global feature
 *              (P = sum of p_t, features numbered view after view);
 *   stream 29: gamma of a feature, same index.
 * With the fixed-point statistics the chain, the posterior means and the labels are
 * bit-identical for any number of ranks (tested at 1, 2 and 4). The BIC and deviance ratio are
 * computed from fixed-point sums too.
 *
 * Cost per iteration: the z step reads the selected features only (N x p_selected x K), the
 * statistics read every value (N x P x K, one rounding to fixed point per term); the feature
 * updates are P small (K + 1)^2 Cholesky factorisations, replicated. */
#ifndef OVQ_ICLUSTER_H
#define OVQ_ICLUSTER_H

#include <mpi.h>
#include <stdint.h>

#include "ovq/error.h"

#define OVQ_ICLUSTER_MAX_VIEWS 6 /* as iClusterPlus (dt1 .. dt6) */

typedef struct OvqIclusterParams {
  int k_clusters; /* clusters K + 1 >= 2; the model has K = k_clusters - 1 latent dimensions */
  int n_burnin;   /* burn-in iterations, >= 0 (iClusterPlus n.burnin) */
  int n_draw;     /* iterations after burn-in, >= 1 (n.draw) */
  int thin;       /* every thin-th draw enters the posterior means, >= 1 */
  double prior_gamma[OVQ_ICLUSTER_MAX_VIEWS]; /* per view, in (0, 1) (prior.gamma) */
  double sdev;                                /* random-walk proposal sd for z, > 0 */
  double beta_var_scale;                      /* slab prior variance of the loadings, > 0 */
  double pp_cutoff;  /* selection probability above which a feature counts in BIC, [0, 1) */
  int kmeans_n_init; /* k-means restarts on the posterior mean of Z, >= 1 */
  uint64_t seed;     /* names every random draw (the chain's and k-means') */
} OvqIclusterParams;

typedef struct OvqIclusterResult {
  int k;                                          /* latent dimensions K */
  int n_views;                                    /* m */
  int64_t n_local;                                /* local samples */
  int64_t n_total;                                /* N */
  int64_t p[OVQ_ICLUSTER_MAX_VIEWS];              /* features per view */
  int64_t view_start[OVQ_ICLUSTER_MAX_VIEWS + 1]; /* view t's features are [start[t], start[t+1])
                                                     of the arrays below; start[m] = P */
  double *mean_z;     /* [n_local][K]: posterior mean of the standardised Z, owned */
  int32_t *labels;    /* [n_local]: k-means cluster 0..K of each local sample, owned */
  double *gamma_prob; /* [P]: posterior P(gamma = 1) of each feature, replicated, owned */
  double *alpha;      /* [P]: posterior mean intercepts, replicated, owned */
  double *beta;       /* [P][K]: posterior mean of gamma b, replicated, owned */
  double *sigma2;     /* [P]: posterior mean noise variances, replicated, owned */
  double z_accept;    /* accepted z moves / (N * n_draw) */
  double bic;         /* see above */
  double dev_ratio;   /* see above */
  double loglik;      /* Gaussian log-likelihood at the posterior means (selected loadings) */
} OvqIclusterResult;

/* Local. Defaults as iClusterPlus::iClusterBayes: k_clusters 3 (K = 2), n_burnin 1000,
 * n_draw 1200, thin 1, prior_gamma 0.1 for every view, sdev 0.5, beta_var_scale 1,
 * pp_cutoff 0.5; kmeans_n_init 10, seed 0. */
void ovq_icluster_defaults(OvqIclusterParams *p);

/* Collective on comm. Fits the model to n_views views: x[t] (in: [n_local][p_view[t]], row-major,
 * the same samples in the same order in every view, rows in global order as above; not owned).
 * On success fills *out (free with ovq_icluster_result_free). Returns OVQ_ERR on every rank, with
 * a message and *out zeroed, for user errors: n_views outside 1..OVQ_ICLUSTER_MAX_VIEWS,
 * p_view[t] < 1 or different across ranks, N < k_clusters, parameters outside the ranges above,
 * non-finite values in x. */
OvqStatus ovq_icluster_fit(const OvqIclusterParams *prm, int n_views, const float *const *x,
                           const int64_t *p_view, int64_t n_local, MPI_Comm comm,
                           OvqIclusterResult *out);

/* Local. Frees the arrays and zeroes *r; NULL-safe and idempotent. */
void ovq_icluster_result_free(OvqIclusterResult *r);

#endif
