/* Philox4x32-10 and the distributions drawn from it (see include/ovq/rng.h). */
#include "ovq/rng.h"

#include <math.h>

static inline void mulhilo(uint32_t a, uint32_t b, uint32_t *hi, uint32_t *lo) {
  uint64_t p = (uint64_t)a * b;
  *hi = (uint32_t)(p >> 32);
  *lo = (uint32_t)p;
}

void ovq_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]) {
  uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
  uint32_t k0 = key[0], k1 = key[1];
  for (int round = 0; round < 10; round++) {
    uint32_t hi0, lo0, hi1, lo1;
    mulhilo(0xD2511F53u, c0, &hi0, &lo0);
    mulhilo(0xCD9E8D57u, c2, &hi1, &lo1);
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
    k0 += 0x9E3779B9u; /* Weyl key schedule */
    k1 += 0xBB67AE85u;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
}

void ovq_rng_init(OvqRng *r, uint64_t seed, uint32_t stream, uint64_t index) {
  r->key[0] = (uint32_t)seed;
  r->key[1] = (uint32_t)(seed >> 32);
  r->ctr[0] = 0;
  r->ctr[1] = stream;
  r->ctr[2] = (uint32_t)index;
  r->ctr[3] = (uint32_t)(index >> 32);
  r->used = 4;
  r->has_spare_normal = 0;
  r->spare_normal = 0.0;
}

uint32_t ovq_rng_u32(OvqRng *r) {
  if (r->used == 4) {
    ovq_philox4x32_10(r->ctr, r->key, r->buf);
    r->ctr[0]++; /* 2^32 blocks per named stream is far more than any use draws */
    r->used = 0;
  }
  return r->buf[r->used++];
}

uint64_t ovq_rng_u64(OvqRng *r) {
  uint64_t hi = ovq_rng_u32(r);
  return (hi << 32) | ovq_rng_u32(r);
}

double ovq_rng_uniform(OvqRng *r) {
  /* 53 bits, shifted by half a step so that 0 and 1 cannot occur. */
  return ((double)(ovq_rng_u64(r) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

uint64_t ovq_rng_below(OvqRng *r, uint64_t n) {
  /* Rejection of the incomplete top range keeps the result unbiased. */
  uint64_t limit = UINT64_MAX - (UINT64_MAX % n) - 1;
  for (;;) {
    uint64_t x = ovq_rng_u64(r);
    if (x <= limit) return x % n;
  }
}

double ovq_rng_normal(OvqRng *r) {
  if (r->has_spare_normal) {
    r->has_spare_normal = 0;
    return r->spare_normal;
  }
  double u, v, s;
  do {
    u = 2.0 * ovq_rng_uniform(r) - 1.0;
    v = 2.0 * ovq_rng_uniform(r) - 1.0;
    s = u * u + v * v;
  } while (s >= 1.0 || s == 0.0);
  double f = sqrt(-2.0 * log(s) / s);
  r->spare_normal = v * f;
  r->has_spare_normal = 1;
  return u * f;
}

double ovq_rng_gamma(OvqRng *r, double shape) {
  if (shape < 1.0) {
    /* Gamma(a) = Gamma(a + 1) * U^(1/a) */
    double g = ovq_rng_gamma(r, shape + 1.0);
    return g * pow(ovq_rng_uniform(r), 1.0 / shape);
  }
  double d = shape - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
  for (;;) {
    double x, v;
    do {
      x = ovq_rng_normal(r);
      v = 1.0 + c * x;
    } while (v <= 0.0);
    v = v * v * v;
    double u = ovq_rng_uniform(r);
    if (u < 1.0 - 0.0331 * x * x * x * x) return d * v;
    if (log(u) < 0.5 * x * x + d * (1.0 - v + log(v))) return d * v;
  }
}

uint64_t ovq_rng_poisson(OvqRng *r, double lambda) {
  if (!(lambda > 0.0)) return 0;
  if (lambda < 10.0) {
    double limit = exp(-lambda), prod = ovq_rng_uniform(r);
    uint64_t k = 0;
    while (prod > limit) {
      k++;
      prod *= ovq_rng_uniform(r);
    }
    return k;
  }
  /* PTRS: transformed rejection with squeeze (Hoermann, Insurance: Math. & Econ. 12, 1993). */
  double slam = sqrt(lambda), loglam = log(lambda);
  double b = 0.931 + 2.53 * slam, a = -0.059 + 0.02483 * b;
  double invalpha = 1.1239 + 1.1328 / (b - 3.4), vr = 0.9277 - 3.6224 / (b - 2.0);
  for (;;) {
    double u = ovq_rng_uniform(r) - 0.5, v = ovq_rng_uniform(r);
    double us = 0.5 - fabs(u);
    double k = floor((2.0 * a / us + b) * u + lambda + 0.43);
    if (us >= 0.07 && v <= vr) return (uint64_t)k;
    if (k < 0.0 || (us < 0.013 && v > us)) continue;
    if (log(v) + log(invalpha) - log(a / (us * us) + b) <= -lambda + k * loglam - lgamma(k + 1.0))
      return (uint64_t)k;
  }
}

uint64_t ovq_rng_negbin(OvqRng *r, double mu, double phi) {
  if (!(mu > 0.0)) return 0;
  if (phi <= 0.0) return ovq_rng_poisson(r, mu);
  double shape = 1.0 / phi;
  return ovq_rng_poisson(r, ovq_rng_gamma(r, shape) * mu * phi);
}
