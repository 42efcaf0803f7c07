/* Unit test of the counter RNG: Random123 known-answer vectors, determinism, stream independence,
 * and the moments of each distribution against their exact values (bounds of 6 standard errors,
 * so a correct generator fails with probability < 1e-8 per check). */
#include <mpi.h>
#include <stdint.h>

#include "check.h"
#include "ovq/error.h"
#include "ovq/rng.h"

static void check_kat(void) {
  /* Random123 kat_vectors, philox4x32 10 (Salmon et al. 2011). */
  const uint32_t cases[3][10] = {
      {0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
      {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0x408f276d,
       0x41c83b0e, 0xa20bc7c6, 0x6d5451fd},
      {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, 0xd16cfe09,
       0x94fdcceb, 0x5001e420, 0x24126ea1},
  };
  for (int c = 0; c < 3; c++) {
    uint32_t out[4];
    ovq_philox4x32_10(cases[c], cases[c] + 4, out);
    for (int w = 0; w < 4; w++)
      CHECK_MSG(out[w] == cases[c][6 + w], "KAT %d word %d: %08x vs %08x", c, w, out[w],
                cases[c][6 + w]);
  }
  /* The stream API lays the counter out as (block, stream, index lo, index hi), key = seed. */
  OvqRng r;
  ovq_rng_init(&r, 0x299f31d0a4093822ull, 0x85a308d3u, 0x0370734413198a2eull);
  r.ctr[0] = 0x243f6a88u;
  CHECK(ovq_rng_u32(&r) == 0xd16cfe09u);
  CHECK(r.ctr[0] == 0x243f6a89u);
}

static void check_determinism(void) {
  OvqRng a, b, c, d;
  ovq_rng_init(&a, 7, OVQ_STREAM_TEST, 123);
  ovq_rng_init(&b, 7, OVQ_STREAM_TEST, 123);
  ovq_rng_init(&c, 7, OVQ_STREAM_TEST, 124);
  ovq_rng_init(&d, 8, OVQ_STREAM_TEST, 123);
  int same_ab = 1, same_ac = 0, same_ad = 0;
  for (int i = 0; i < 1000; i++) {
    uint32_t x = ovq_rng_u32(&a), y = ovq_rng_u32(&b), z = ovq_rng_u32(&c), w = ovq_rng_u32(&d);
    same_ab &= x == y;
    same_ac += x == z;
    same_ad += x == w;
  }
  CHECK(same_ab);
  CHECK(same_ac < 3 && same_ad < 3);
}

/* Mean and variance of n draws of f. */
typedef double (*Draw)(OvqRng *, double);
static void moments(Draw f, double par, int n, double *mean, double *var) {
  OvqRng r;
  ovq_rng_init(&r, 2024, OVQ_STREAM_TEST, (uint64_t)(par * 1000));
  double s = 0, s2 = 0;
  for (int i = 0; i < n; i++) {
    double x = f(&r, par);
    s += x;
    s2 += x * x;
  }
  *mean = s / n;
  *var = s2 / n - *mean * *mean;
}

static double d_uniform(OvqRng *r, double p) { return ovq_rng_uniform(r); }
static double d_normal(OvqRng *r, double p) { return ovq_rng_normal(r); }
static double d_gamma(OvqRng *r, double p) { return ovq_rng_gamma(r, p); }
static double d_poisson(OvqRng *r, double p) { return (double)ovq_rng_poisson(r, p); }
static double d_negbin(OvqRng *r, double p) { return (double)ovq_rng_negbin(r, p, 0.2); }
static double d_below(OvqRng *r, double p) { return (double)ovq_rng_below(r, (uint64_t)p); }

/* Checks mean and variance of a distribution with exact mean mu, variance v and 4th central
 * moment m4 (for the standard error of the variance). */
static void check_moments(const char *name, Draw f, double par, double mu, double v, double m4) {
  const int n = 400000;
  double m, s2;
  moments(f, par, n, &m, &s2);
  double se_mean = sqrt(v / n), se_var = sqrt((m4 - v * v) / n);
  printf("  %-8s par %-6g mean %.5f (exact %.5f)  var %.5f (exact %.5f)\n", name, par, m, mu, s2,
         v);
  CHECK_MSG(fabs(m - mu) < 6 * se_mean, "%s(%g) mean %.6f vs %.6f", name, par, m, mu);
  CHECK_MSG(fabs(s2 - v) < 6 * se_var, "%s(%g) var %.6f vs %.6f", name, par, s2, v);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  ovq_log_init(MPI_COMM_WORLD);
  check_kat();
  check_determinism();
  /* Uniform on (0, 1): mean 1/2, var 1/12, m4 1/80; never the endpoints. */
  check_moments("uniform", d_uniform, 0, 0.5, 1.0 / 12, 1.0 / 80);
  /* Discrete uniform on 0..9: var (n^2-1)/12, m4 (n^2-1)(3n^2-7)/240 */
  check_moments("below", d_below, 10, 4.5, 8.25, 99.0 * 293.0 / 240.0);
  check_moments("normal", d_normal, 0, 0, 1, 3);
  const double shapes[] = {0.3, 1.0, 2.5, 20.0};
  for (int i = 0; i < 4; i++) {
    double k = shapes[i]; /* Gamma(k): mean k, var k, m4 = 3k^2 + 6k */
    check_moments("gamma", d_gamma, k, k, k, 3 * k * k + 6 * k);
  }
  const double lambdas[] = {0.05, 3.0, 9.99, 10.0, 57.0, 2500.0};
  for (int i = 0; i < 6; i++) {
    double l = lambdas[i]; /* Poisson: mean = var = l, m4 = l + 3 l^2 */
    check_moments("poisson", d_poisson, l, l, l, l + 3 * l * l);
  }
  const double mus[] = {0.5, 40.0, 3000.0};
  for (int i = 0; i < 3; i++) {
    /* NB(size r = 1/phi, prob p = r / (r + mu)): var mu / p, excess kurtosis 6/r + p^2/(r(1-p)) */
    double mu = mus[i], r = 1.0 / 0.2, p = r / (r + mu), v = mu / p;
    double kurt = 6.0 / r + p * p / (r * (1.0 - p));
    check_moments("negbin", d_negbin, mu, mu, v, v * v * (3.0 + kurt));
  }
  OvqRng r;
  ovq_rng_init(&r, 1, OVQ_STREAM_TEST, 0);
  int in_range = 1;
  for (int i = 0; i < 100000; i++) {
    double u = ovq_rng_uniform(&r);
    in_range &= u > 0.0 && u < 1.0;
  }
  CHECK(in_range);
  int rc = test_finish("test_rng");
  MPI_Finalize();
  return rc;
}
