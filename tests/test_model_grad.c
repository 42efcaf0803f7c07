/* Gradient checks of the whole models, in double precision (this test compiles src/nn/layers.c
 * and src/model/model.c with OVQ_NN_DOUBLE). For the AE and the VAE (with fixed noise) the
 * analytic gradient of the total loss is compared with central differences for every parameter.
 * The VQ-VAE's loss is piecewise constant in the encoder through the argmin, so its gradient is
 * checked against the surrogate the straight-through estimator differentiates:
 *   L_s = recon(dec(z_e + c)) + |sg(z_e0) - e|^2 / (B D) + beta |z_e - sg(e0)|^2 / (B D)
 * with c = z_q0 - z_e0 and the codes frozen at the point of evaluation. Each check runs also
 * with per-feature weights in the reconstruction term (ovq_model_set_recon_weights, one of them
 * 0), whose recon must equal sum w_f (x_hat - x)^2 / (global batch F var) computed here. */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ovq/error.h"
#include "ovq/model.h"
#include "ovq/rng.h"

enum { B = 3, GLOBAL_B = 4 };
static const double kVar = 1.3, kH = 1e-5;
/* Reconstruction weights of the 7 features for the weighted runs. */
static const double kW[7] = {0.3, 1.7, 0.0, 2.5, 1.0, 0.6, 4.0};

static OvqModelSpec small_spec(OvqModelType type, OvqActivation act) {
  OvqModelSpec s;
  memset(&s, 0, sizeof s);
  s.type = type;
  s.n_in = 7;
  s.n_hidden = 2;
  s.hidden[0] = 6;
  s.hidden[1] = 5;
  s.n_res = 1;
  s.res_width = 3;
  s.latent = 4;
  s.activation = act;
  s.codebook_size = 5;
  s.groups = 2;
  s.beta = 0.7;
  s.kl_weight = 0.9;
  return s;
}

static void random_fill(double *x, int64_t n, uint64_t idx, double scale) {
  OvqRng r;
  ovq_rng_init(&r, 5, OVQ_STREAM_TEST, idx);
  for (int64_t i = 0; i < n; i++) x[i] = scale * ovq_rng_normal(&r);
}

/* Surrogate loss of the VQ-VAE at the current parameters, with c and codes frozen. */
static double vq_surrogate(OvqModel *m, const double *x, const double *c, const int32_t *codes,
                           const double *ze0, const double *e0) {
  const int64_t D = m->spec.latent, G = m->spec.groups, K = m->spec.codebook_size, d = D / G;
  const int64_t F = m->spec.n_in;
  ovq_net_forward(m, &m->enc, x, B);
  const double *ze = m->enc.ops[m->enc.n_ops - 1].act;
  double z[B * 4], cb = 0, cm = 0;
  for (int64_t k = 0; k < B * D; k++) z[k] = ze[k] + c[k];
  const double *E = m->params + m->codebook;
  for (int64_t b = 0; b < B; b++)
    for (int64_t g = 0; g < G; g++)
      for (int64_t j = 0; j < d; j++) {
        int64_t col = g * d + j, code = codes[b * G + g];
        double e = E[(g * K + code) * d + j], e_frozen = e0[(g * K + code) * d + j];
        cb += (ze0[b * D + col] - e) * (ze0[b * D + col] - e);
        cm += (ze[b * D + col] - e_frozen) * (ze[b * D + col] - e_frozen);
      }
  ovq_net_forward(m, &m->dec, z, B);
  const double *xh = m->dec.ops[m->dec.n_ops - 1].act;
  double rs = 0;
  for (int64_t k = 0; k < B * F; k++)
    rs += (m->recon_w ? m->recon_w[k % F] : 1.0) * (xh[k] - x[k]) * (xh[k] - x[k]);
  double per = 1.0 / ((double)GLOBAL_B * (double)D);
  return rs / ((double)GLOBAL_B * (double)F * kVar) + (m->spec.ema ? 0 : cb * per) +
         m->spec.beta * cm * per;
}

static void check_model(OvqModelType type, OvqActivation act, int ema, int weighted,
                        const char *base) {
  OvqModelSpec spec = small_spec(type, act);
  spec.ema = ema;
  OvqModel m;
  char msg[128], name[64];
  snprintf(name, sizeof name, "%s%s", base, weighted ? " weighted" : "");
  CHECK(ovq_model_create(&m, &spec, B, 0, msg, sizeof msg) == 0);
  ovq_model_init_params(&m, 11);
  if (weighted) CHECK(ovq_model_set_recon_weights(&m, kW) == 0);
  /* Larger weights than the default init, so every path carries a visible gradient. */
  for (int64_t k = 0; k < m.n_params; k++) m.params[k] *= 3.0;
  double x[B * 7], eps[B * 4];
  random_fill(x, B * spec.n_in, 1, 1.0);
  random_fill(eps, B * spec.latent, 2, 1.0);
  const double *noise = type == OVQ_MODEL_VAE ? eps : NULL;

  OvqLoss loss;
  ovq_model_forward(&m, x, B, GLOBAL_B, kVar, noise, &loss);
  {
    const double *xh = m.dec.ops[m.dec.n_ops - 1].act;
    double rs = 0.0;
    for (int64_t k = 0; k < B * spec.n_in; k++)
      rs += (weighted ? kW[k % spec.n_in] : 1.0) * (xh[k] - x[k]) * (xh[k] - x[k]);
    rs /= (double)GLOBAL_B * (double)spec.n_in * kVar;
    CHECK_MSG(fabs(rs - loss.recon) <= 1e-13 * rs, "%s: recon %.17g, expected %.17g", name,
              loss.recon, rs);
  }
  memset(m.grads, 0, sizeof(double) * (size_t)m.n_params);
  ovq_model_backward(&m, x, B, GLOBAL_B, kVar);
  double *analytic = malloc(sizeof(double) * (size_t)m.n_params);
  memcpy(analytic, m.grads, sizeof(double) * (size_t)m.n_params);

  /* Frozen quantities for the VQ surrogate. */
  const int64_t D = spec.latent, GK = spec.groups * spec.codebook_size;
  double ze0[B * 4], c[B * 4], e0[64];
  int32_t codes[B * 2];
  if (type == OVQ_MODEL_VQVAE) {
    const double *ze = m.enc.ops[m.enc.n_ops - 1].act;
    for (int64_t k = 0; k < B * D; k++) {
      ze0[k] = ze[k];
      c[k] = m.z[k] - ze[k];
    }
    memcpy(codes, m.codes, sizeof(int32_t) * (size_t)(B * spec.groups));
    memcpy(e0, m.params + m.codebook, sizeof(double) * (size_t)(GK * D / spec.groups));
    double s0 = vq_surrogate(&m, x, c, codes, ze0, e0);
    CHECK_MSG(fabs(s0 - loss.total) < 1e-12 * fmax(1.0, fabs(s0)), "%s surrogate %.17g vs loss %.17g",
              name, s0, loss.total);
  }

  /* Central differences carry a rounding error of about eps_machine * |L| / h, so gradients far
   * below the largest are compared on the scale of the largest. */
  double gmax = 0.0;
  for (int64_t k = 0; k < m.n_params; k++) gmax = fmax(gmax, fabs(analytic[k]));
  double worst = 0.0;
  int64_t worst_at = -1, nonzero = 0;
  for (int64_t k = 0; k < m.n_params; k++) {
    double keep = m.params[k], lp, lm;
    m.params[k] = keep + kH;
    if (type == OVQ_MODEL_VQVAE) {
      lp = vq_surrogate(&m, x, c, codes, ze0, e0);
    } else {
      ovq_model_forward(&m, x, B, GLOBAL_B, kVar, noise, &loss);
      lp = loss.total;
    }
    m.params[k] = keep - kH;
    if (type == OVQ_MODEL_VQVAE) {
      lm = vq_surrogate(&m, x, c, codes, ze0, e0);
    } else {
      ovq_model_forward(&m, x, B, GLOBAL_B, kVar, noise, &loss);
      lm = loss.total;
    }
    m.params[k] = keep;
    double fd = (lp - lm) / (2 * kH), a = analytic[k];
    double rel = fabs(fd - a) / fmax(fmax(fabs(fd), fabs(a)), 1e-4 * gmax);
    nonzero += fabs(a) > 1e-10;
    if (rel > worst) {
      worst = rel;
      worst_at = k;
    }
  }
  printf("  %-22s %lld parameters (%lld with nonzero gradient), largest relative error %.2e "
         "(at %lld)\n", name, (long long)m.n_params, (long long)nonzero, worst,
         (long long)worst_at);
  CHECK_MSG(worst < 1e-6, "%s: gradient error %.3e at parameter %lld", name, worst,
            (long long)worst_at);
  CHECK_MSG(nonzero > m.n_params / 2, "%s: only %lld nonzero gradients", name, (long long)nonzero);
  if (ema) {
    double cbmax = 0;
    for (int64_t k = m.codebook; k < m.n_params; k++) cbmax = fmax(cbmax, fabs(analytic[k]));
    CHECK_MSG(cbmax == 0.0, "%s: EMA codebook got gradient %.3e", name, cbmax);
  }
  free(analytic);
  ovq_model_destroy(&m);
}

/* The feature-split step (model.h, ovq_model_split_*) with the F features divided among R
 * workers, each a model of its own with the same parameters, the partial sums added in worker
 * order, against the whole model's forward and backward on the same batch (a part of a larger
 * global batch, as on one of several hosts): the loss and every gradient agree to rounding, and
 * the workers' gradients of the narrow middle are identical. */
static void check_split(OvqModelType type, int ema, int R, int weighted, const char *base) {
  OvqModelSpec spec = small_spec(type, OVQ_ACT_GELU);
  spec.ema = ema;
  char msg[128], name[64];
  snprintf(name, sizeof name, "%s%s", base, weighted ? " weighted" : "");
  OvqModel ref, w[8];
  CHECK(ovq_model_create(&ref, &spec, B, 0, msg, sizeof msg) == 0);
  ovq_model_init_params(&ref, 13);
  if (weighted) CHECK(ovq_model_set_recon_weights(&ref, kW) == 0);
  for (int64_t k = 0; k < ref.n_params; k++) ref.params[k] *= 3.0;
  const int64_t F = spec.n_in, P = ref.n_params, h1 = spec.hidden[0];
  double x[B * 7], eps[B * 4], xr[B * 7], part[B * 6], sum[B * 6];
  random_fill(x, B * F, 3, 1.0);
  random_fill(eps, B * spec.latent, 4, 1.0);
  const double *noise = type == OVQ_MODEL_VAE ? eps : NULL;
  OvqLoss lref, l;
  ovq_model_forward(&ref, x, B, GLOBAL_B, kVar, noise, &lref);
  memset(ref.grads, 0, sizeof(double) * (size_t)P);
  ovq_model_backward(&ref, x, B, GLOBAL_B, kVar);

  const OvqOp *first = &ref.enc.ops[0], *last = &ref.dec.ops[ref.dec.n_ops - 1];
  int64_t f0[8], fn[8];
  for (int r = 0; r < R; r++) {
    CHECK(ovq_model_create(&w[r], &spec, B, 0, msg, sizeof msg) == 0);
    memcpy(w[r].params, ref.params, sizeof(double) * (size_t)P);
    memset(w[r].grads, 0, sizeof(double) * (size_t)P);
    if (weighted) CHECK(ovq_model_set_recon_weights(&w[r], kW) == 0);
    f0[r] = F * r / R;
    fn[r] = F * (r + 1) / R - f0[r];
  }
#define XR(r)                                                                                      \
  for (int64_t b = 0; b < B; b++)                                                                  \
    for (int64_t j = 0; j < fn[r]; j++) xr[b * fn[r] + j] = x[b * F + f0[r] + j]
  memset(sum, 0, sizeof sum);
  for (int r = 0; r < R; r++) {
    XR(r);
    ovq_model_split_in(&w[r], xr, B, f0[r], fn[r], part);
    for (int64_t k = 0; k < B * h1; k++) sum[k] += part[k];
  }
  double recon = 0.0;
  for (int r = 0; r < R; r++) {
    XR(r);
    memcpy(w[r].enc.ops[0].act, sum, sizeof(double) * (size_t)(B * h1));
    ovq_model_split_mid(&w[r], xr, B, GLOBAL_B, f0[r], fn[r], kVar, noise, &l);
    recon += l.recon;
  }
  double dh[B * 6];
  memset(dh, 0, sizeof dh);
  for (int r = 0; r < R; r++) {
    XR(r);
    ovq_model_split_out_backward(&w[r], xr, B, GLOBAL_B, f0[r], fn[r], kVar, part);
    for (int64_t k = 0; k < B * h1; k++) dh[k] += part[k];
  }
  for (int r = 0; r < R; r++) {
    XR(r);
    double d[B * 6];
    memcpy(d, dh, sizeof d);
    ovq_model_split_backward(&w[r], xr, B, GLOBAL_B, f0[r], fn[r], d);
  }
#undef XR
  double total = recon + l.codebook + l.commitment + l.kl;
  CHECK_MSG(fabs(total - lref.total) <= 1e-12 * fabs(lref.total), "%s R=%d: loss %.17g vs %.17g",
            name, R, total, lref.total);
  /* Assemble the split gradient: W1's columns and the last layer's rows from their owners,
   * everything else from worker 0 (and the other workers must agree with it exactly). */
  double *g = malloc(sizeof(double) * (size_t)P), gmax = 0.0, worst = 0.0;
  memcpy(g, w[0].grads, sizeof(double) * (size_t)P);
  int mid_same = 1;
  for (int r = 0; r < R; r++) {
    for (int64_t i = 0; i < h1; i++)
      for (int64_t j = f0[r]; j < f0[r] + fn[r]; j++)
        g[first->w + i * F + j] = w[r].grads[first->w + i * F + j];
    for (int64_t j = f0[r]; j < f0[r] + fn[r]; j++) {
      memcpy(g + last->w + j * h1, w[r].grads + last->w + j * h1, sizeof(double) * (size_t)h1);
      g[last->b + j] = w[r].grads[last->b + j];
    }
    for (int64_t k = first->b; k < last->w; k++) mid_same &= w[r].grads[k] == w[0].grads[k];
    for (int64_t k = last->b + F; k < P; k++) mid_same &= w[r].grads[k] == w[0].grads[k];
  }
  CHECK_MSG(mid_same, "%s R=%d: workers' middle gradients differ", name, R);
  for (int64_t k = 0; k < P; k++) gmax = fmax(gmax, fabs(ref.grads[k]));
  for (int64_t k = 0; k < P; k++) worst = fmax(worst, fabs(g[k] - ref.grads[k]) / gmax);
  printf("  split %-16s R=%d: loss %.3e apart, largest gradient difference %.2e (of the largest)\n",
         name, R, fabs(total - lref.total), worst);
  CHECK_MSG(worst < 1e-12, "%s R=%d: split gradient differs by %.3e", name, R, worst);
  free(g);
  for (int r = 0; r < R; r++) ovq_model_destroy(&w[r]);
  ovq_model_destroy(&ref);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  ovq_log_init(MPI_COMM_WORLD);
  for (int wt = 0; wt <= 1; wt++) {
    check_model(OVQ_MODEL_AE, OVQ_ACT_GELU, 0, wt, "AE (GELU)");
    check_model(OVQ_MODEL_AE, OVQ_ACT_RELU, 0, wt, "AE (ReLU)");
    check_model(OVQ_MODEL_VAE, OVQ_ACT_GELU, 0, wt, "VAE");
    check_model(OVQ_MODEL_VQVAE, OVQ_ACT_GELU, 0, wt, "VQ-VAE (surrogate)");
    check_model(OVQ_MODEL_VQVAE, OVQ_ACT_GELU, 1, wt, "VQ-VAE EMA (surrogate)");
  }
  for (int R = 1; R <= 8; R *= 2) /* R = 8 > F = 7: a worker with no features */
    for (int wt = 0; wt <= 1; wt++) {
      check_split(OVQ_MODEL_AE, 0, R, wt, "AE");
      check_split(OVQ_MODEL_VAE, 0, R, wt, "VAE");
      check_split(OVQ_MODEL_VQVAE, 0, R, wt, "VQ-VAE");
      check_split(OVQ_MODEL_VQVAE, 1, R, wt, "VQ-VAE EMA");
    }
  { /* Negative or non-finite weights are refused and leave the model unweighted. */
    OvqModelSpec spec = small_spec(OVQ_MODEL_AE, OVQ_ACT_GELU);
    OvqModel m;
    char msg[128];
    CHECK(ovq_model_create(&m, &spec, B, 0, msg, sizeof msg) == 0);
    double bad[7];
    memcpy(bad, kW, sizeof bad);
    bad[3] = -0.5;
    CHECK(ovq_model_set_recon_weights(&m, bad) == -1 && m.recon_w == NULL);
    bad[3] = NAN;
    CHECK(ovq_model_set_recon_weights(&m, bad) == -1 && m.recon_w == NULL);
    CHECK(ovq_model_set_recon_weights(&m, kW) == 0 && m.recon_w && m.recon_w[6] == 4.0);
    CHECK(ovq_model_set_recon_weights(&m, NULL) == 0 && m.recon_w == NULL);
    ovq_model_destroy(&m);
  }
  int rc = test_finish("test_model_grad");
  MPI_Finalize();
  return rc;
}
