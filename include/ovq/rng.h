/* Counter-based random numbers: Philox4x32-10 (Salmon et al., SC'11, "Parallel random numbers:
 * as easy as 1, 2, 3").
 *
 * A stream of draws is named by (seed, stream, index): `seed` is the user's seed, `stream` one of
 * the OVQ_STREAM_* purposes below, and `index` a global position (a sample's global row, a
 * feature's column, sample * F + feature for per-value draws, an epoch number, ...). Because the
 * draws depend only on that name, a sample's randomness is the same whichever rank holds it and
 * however many ranks there are. The 128-bit Philox counter is (block, stream, index lo, index hi)
 * and the key is the 64-bit seed; `block` counts 4-word blocks within one named stream.
 *
 * All functions are Local and thread-compatible (an OvqRng is a small value; copy it freely). */
#ifndef OVQ_RNG_H
#define OVQ_RNG_H

#include <stdint.h>

/* Purposes; new ones are appended so existing streams keep their values. */
enum {
  OVQ_STREAM_TEST = 0,
  OVQ_STREAM_SYNTH_GLOBAL = 1,  /* synthetic cohort: cohort-wide parameters */
  OVQ_STREAM_SYNTH_FEATURE = 2, /* synthetic cohort: per-feature parameters */
  OVQ_STREAM_SYNTH_SAMPLE = 3,  /* synthetic cohort: per-sample draws */
  OVQ_STREAM_SYNTH_VALUE = 4,   /* synthetic cohort: per (sample, feature) counts */
  OVQ_STREAM_SYNTH_MISSING = 5, /* synthetic cohort: missing-value mask */
  OVQ_STREAM_MODEL_INIT = 6,    /* model parameters, keyed by slab offset */
  OVQ_STREAM_VAE_NOISE = 7,     /* VAE reparameterisation noise, keyed by step and sample */
  OVQ_STREAM_EPOCH_ORDER = 8,   /* training order, keyed by epoch */
  OVQ_STREAM_DEAD_CODES = 9,    /* VQ-VAE dead-code restarts, keyed by epoch */
  /* 10-15: reserved. k-means (src/cluster/kmeans.c): */
  OVQ_STREAM_KMEANS_PP = 16,        /* k-means++ draws: restart << 32 | centre */
  OVQ_STREAM_KMEANS_PAR = 17,       /* k-means|| per-sample draws: (restart*5 + round)*N + row */
  OVQ_STREAM_KMEANS_PAR_FIRST = 18, /* k-means|| first centre: restart */
  OVQ_STREAM_KMEANS_PAR_PP = 19,    /* k-means++ on the k-means|| candidates: restart << 32 | c */
  OVQ_STREAM_IMPUTE_SPLIT = 20,     /* KNN imputation, two-means splits (src/prep/impute.c): set */
  OVQ_STREAM_GMM_RESTART = 21,      /* GMM: k-means seed of restart r >= 1 */
  OVQ_STREAM_NMF_W = 22,            /* NMF random start of W: run */
  OVQ_STREAM_NMF_H = 23,            /* NMF random start of H: run * N + sample */
  /* 24-25: reserved (spectral / SNF use none). iClusterBayes: */
  OVQ_STREAM_ICL_ZINIT = 26,        /* initial z_i: sample */
  OVQ_STREAM_ICL_Z = 27,            /* Metropolis step of z_i */
  OVQ_STREAM_ICL_COEF = 28,         /* sigma2 and (alpha, b) of a feature */
  OVQ_STREAM_ICL_GAMMA = 29,        /* gamma of a feature */
  OVQ_STREAM_CONSENSUS = 30,        /* consensus clustering subsamples: rep * N + sample */
  OVQ_STREAM_TSNE_INIT = 31,        /* t-SNE random initialisation: 2 * sample + coordinate */
  OVQ_STREAM_PCA_PROJECT = 32,      /* randomized PCA test matrix: feature */
};

typedef struct OvqRng {
  uint32_t key[2];
  uint32_t ctr[4]; /* ctr[0] = block counter */
  uint32_t buf[4];
  int used; /* words of buf already handed out (4 = empty) */
  int has_spare_normal;
  double spare_normal;
} OvqRng;

/* The raw Philox4x32-10 bijection: out = philox(ctr, key). */
void ovq_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

/* Starts the stream named (seed, stream, index) at its first draw. */
void ovq_rng_init(OvqRng *r, uint64_t seed, uint32_t stream, uint64_t index);

uint32_t ovq_rng_u32(OvqRng *r);
uint64_t ovq_rng_u64(OvqRng *r);
/* Uniform on the open interval (0, 1), 53 random bits; never 0 or 1. */
double ovq_rng_uniform(OvqRng *r);
/* Uniform integer in [0, n), unbiased (n > 0). */
uint64_t ovq_rng_below(OvqRng *r, uint64_t n);
/* Standard normal (Marsaglia polar method). */
double ovq_rng_normal(OvqRng *r);
/* Gamma(shape, scale = 1), shape > 0 (Marsaglia & Tsang 2000). */
double ovq_rng_gamma(OvqRng *r, double shape);
/* Poisson(lambda), lambda >= 0: inversion for small lambda, PTRS (Hoermann 1993) above 10. */
uint64_t ovq_rng_poisson(OvqRng *r, double lambda);
/* Negative binomial with mean mu and dispersion phi (variance mu + phi mu^2), as a
 * Gamma-Poisson mixture; phi = 0 gives Poisson(mu). */
uint64_t ovq_rng_negbin(OvqRng *r, double mu, double phi);

#endif
