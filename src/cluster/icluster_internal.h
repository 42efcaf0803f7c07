/* The conditional updates of the iClusterBayes sampler (src/cluster/icluster.c), exposed so that
 * tests/test_icluster.c can check each against its closed-form conditional. All Local; every
 * function draws only from the generator it is given.
 *
 * A feature's data enter through its sufficient statistics given the (standardised) latent
 * matrix Z, with c = (alpha, b) of length k1 = K + 1 and C1Z = [1, Z] (N x k1):
 *   g [k1][k1] = C1Z' C1Z,  h [k1] = C1Z' x_j,  sxx = x_j' x_j,
 *   RSS(c) = sum_i (x_ij - alpha - b . z_i)^2 = sxx - 2 c . h + c' g c. */
#ifndef OVQ_ICLUSTER_INTERNAL_H
#define OVQ_ICLUSTER_INTERNAL_H

#include "ovq/rng.h"

/* Inverse-gamma prior of sigma2 (iClusterPlus's invga0, invgb0). */
#define OVQ_ICL_IG_SHAPE 1.0
#define OVQ_ICL_IG_SCALE 1.0
/* Prior variance of the intercept (iClusterPlus's invSigma0[0][0] = 1). */
#define OVQ_ICL_ALPHA_VAR 1.0

/* RSS(c) from the statistics, clamped at 0 (the expansion can round below it). */
double ovq_icl_rss(int k1, const double *g, const double *h, double sxx, const double *c);

/* sigma2 ~ IG(shape + n / 2, scale + rss / 2), drawn as scale' / Gamma(shape', 1). */
double ovq_icl_draw_sigma2(OvqRng *r, double n, double rss);

/* c = (alpha, b) from its Gaussian conditional given sigma2 and gamma: precision
 * Q = D + (gamma ? g : g[0][0] e0 e0') / sigma2 and mean Q^-1 (gamma ? h : h[0] e0) / sigma2, with
 * D = diag(1 / OVQ_ICL_ALPHA_VAR, 1 / slab_var, ...). work: [k1 * k1 + k1]. Draws k1 normals. */
void ovq_icl_draw_coef(OvqRng *r, int k1, const double *g, const double *h, double sigma2,
                       int gamma, double slab_var, double *c, double *work);

/* P(gamma = 1 | c, sigma2) = 1 / (1 + exp(-lhr)) with
 * lhr = (rss0 - rss1) / (2 sigma2) + log(prior / (1 - prior)). */
double ovq_icl_gamma_prob(double prior, double rss1, double rss0, double sigma2);
/* gamma drawn with that probability (one uniform). */
int ovq_icl_draw_gamma(OvqRng *r, double prior, double rss1, double rss0, double sigma2);

/* One random-walk Metropolis step of z (k values) targeting the density proportional to
 * exp(-z' m z / 2 + v . z) (m: [k][k], symmetric positive definite; the prior's I included):
 * proposal z + sdev N(0, I) (k normals), then one uniform. Returns 1 if the move was accepted
 * (z updated in place), 0 otherwise. work: [k]. */
int ovq_icl_z_step(OvqRng *r, int k, const double *m, const double *v, double sdev, double *z,
                   double *work);

#endif
