/* VQ-VAE, AE and VAE: architecture, forward and backward (see include/ovq/model.h). */
#include "ovq/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ovq/error.h"
#include "ovq/rng.h"

#ifdef OVQ_NN_DOUBLE
#define R_EXP exp
#else
#define R_EXP expf
#endif

/* ---- building ------------------------------------------------------------------------------ */

static OvqOp *add_op(OvqNet *net, OvqOpType type, int64_t in, int64_t out) {
  if (net->n_ops == OVQ_MODEL_MAX_OPS) OVQ_ABORT("too many layers (max %d)", OVQ_MODEL_MAX_OPS);
  OvqOp *op = &net->ops[net->n_ops++];
  memset(op, 0, sizeof *op);
  op->type = type;
  op->in = in;
  op->out = out;
  op->w = op->b = op->w2 = op->b2 = -1;
  return op;
}

static void add_linear(OvqNet *net, int64_t in, int64_t out, int64_t *slab) {
  OvqOp *op = add_op(net, OVQ_OP_LINEAR, in, out);
  op->w = *slab;
  op->b = op->w + in * out;
  *slab = op->b + out;
}

static void add_act(OvqNet *net, OvqActivation a, int64_t width) {
  add_op(net, a == OVQ_ACT_GELU ? OVQ_OP_GELU : OVQ_OP_RELU, width, width);
}

static void add_res(OvqNet *net, int64_t h, int64_t r, int64_t *slab) {
  OvqOp *op = add_op(net, OVQ_OP_RES, h, h);
  op->r = r;
  op->w = *slab;
  op->b = op->w + h * r;
  op->w2 = op->b + r;
  op->b2 = op->w2 + r * h;
  *slab = op->b2 + h;
}

static void build(OvqModel *m, int64_t *slab) {
  const OvqModelSpec *s = &m->spec;
  int64_t D = s->latent, top = s->hidden[s->n_hidden - 1];
  OvqNet *e = &m->enc, *d = &m->dec;
  e->n_in = s->n_in;
  e->n_out = s->type == OVQ_MODEL_VAE ? 2 * D : D;
  add_linear(e, s->n_in, s->hidden[0], slab);
  add_act(e, s->activation, s->hidden[0]);
  for (int i = 1; i < s->n_hidden; i++) {
    add_linear(e, s->hidden[i - 1], s->hidden[i], slab);
    add_act(e, s->activation, s->hidden[i]);
  }
  for (int i = 0; i < s->n_res; i++) add_res(e, top, s->res_width, slab);
  add_linear(e, top, e->n_out, slab);

  d->n_in = D;
  d->n_out = s->n_in;
  add_linear(d, D, top, slab);
  for (int i = 0; i < s->n_res; i++) add_res(d, top, s->res_width, slab);
  for (int i = s->n_hidden - 1; i >= 1; i--) {
    add_linear(d, s->hidden[i], s->hidden[i - 1], slab);
    add_act(d, s->activation, s->hidden[i - 1]);
  }
  add_linear(d, s->hidden[0], s->n_in, slab);
}

static void alloc_net(OvqNet *net, int64_t B) {
  for (int i = 0; i < net->n_ops; i++) {
    OvqOp *op = &net->ops[i];
    op->act = OVQ_CALLOC((size_t)(B * op->out), sizeof(ovq_real));
    /* RES: relu(x) [B][h], inner [B][r], relu(inner) [B][r], and for backward d_inner [B][r] */
    if (op->type == OVQ_OP_RES)
      op->scratch = OVQ_CALLOC((size_t)(B * (op->in + 3 * op->r)), sizeof(ovq_real));
  }
}

static void free_net(OvqNet *net) {
  for (int i = 0; i < net->n_ops; i++) {
    free(net->ops[i].act);
    free(net->ops[i].scratch);
  }
  memset(net, 0, sizeof *net);
}

int ovq_model_create(OvqModel *m, const OvqModelSpec *spec, int64_t max_batch,
                     int64_t grad_extra, char *msg, int msg_size) {
  memset(m, 0, sizeof *m);
  const OvqModelSpec *s = spec;
#define BAD(...)                                                                                   \
  do {                                                                                             \
    snprintf(msg, (size_t)msg_size, __VA_ARGS__);                                                  \
    return -1;                                                                                     \
  } while (0)
  if (s->n_in < 1) BAD("the model needs at least one input feature");
  if (s->n_hidden < 1 || s->n_hidden > OVQ_MODEL_MAX_HIDDEN)
    BAD("model.hidden: 1 to %d widths", OVQ_MODEL_MAX_HIDDEN);
  for (int i = 0; i < s->n_hidden; i++)
    if (s->hidden[i] < 1) BAD("model.hidden: width %lld is not positive", (long long)s->hidden[i]);
  if (s->n_res < 0 || s->n_res > OVQ_MODEL_MAX_RES)
    BAD("model.res_blocks must be 0 to %d", OVQ_MODEL_MAX_RES);
  if (s->n_res > 0 && s->res_width < 1) BAD("model.res_width must be positive");
  if (s->latent < 1) BAD("model.latent must be positive");
  if (s->type == OVQ_MODEL_VQVAE) {
    if (s->codebook_size < 1) BAD("model.codebook_size must be positive");
    if (s->groups < 1 || s->latent % s->groups != 0)
      BAD("model.groups = %d must divide model.latent = %lld", s->groups, (long long)s->latent);
  }
  if (max_batch < 1) BAD("the batch size must be positive");
#undef BAD
  m->spec = *spec;
  m->max_batch = max_batch;
  int64_t slab = 0;
  build(m, &slab);
  m->codebook = -1;
  int64_t D = s->latent, G = s->type == OVQ_MODEL_VQVAE ? s->groups : 1;
  if (s->type == OVQ_MODEL_VQVAE) {
    m->codebook = slab;
    slab += s->codebook_size * D; /* G groups of K codes of D/G: K * D values */
  }
  m->n_params = slab;
  m->params = OVQ_CALLOC((size_t)slab, sizeof(ovq_real));
  m->grad_extra = grad_extra;
  m->grads = OVQ_CALLOC((size_t)(slab + grad_extra), sizeof(ovq_real));
  alloc_net(&m->enc, max_batch);
  alloc_net(&m->dec, max_batch);
  int64_t widest = s->n_in;
  for (int i = 0; i < s->n_hidden; i++) widest = s->hidden[i] > widest ? s->hidden[i] : widest;
  widest = 2 * D > widest ? 2 * D : widest;
  m->z = OVQ_CALLOC((size_t)(max_batch * D), sizeof(ovq_real));
  m->eps = OVQ_CALLOC((size_t)(max_batch * D), sizeof(ovq_real));
  m->codes = OVQ_CALLOC((size_t)(max_batch * G), sizeof(int32_t));
  m->dz = OVQ_CALLOC((size_t)(max_batch * 2 * D), sizeof(ovq_real));
  m->dbuf1 = OVQ_CALLOC((size_t)(max_batch * widest), sizeof(ovq_real));
  m->dbuf2 = OVQ_CALLOC((size_t)(max_batch * widest), sizeof(ovq_real));
  int64_t K = s->type == OVQ_MODEL_VQVAE ? s->codebook_size : 1;
  m->dist = OVQ_CALLOC((size_t)(max_batch * K), sizeof(ovq_real));
  m->code_norm = OVQ_CALLOC((size_t)K, sizeof(ovq_real));
  return 0;
}

void ovq_model_destroy(OvqModel *m) {
  if (!m) return;
  free(m->params);
  free(m->grads);
  free_net(&m->enc);
  free_net(&m->dec);
  free(m->z);
  free(m->eps);
  free(m->codes);
  free(m->dz);
  free(m->dbuf1);
  free(m->dbuf2);
  free(m->dist);
  free(m->code_norm);
  free(m->recon_w);
  memset(m, 0, sizeof *m);
}

static void init_uniform(ovq_real *p, int64_t off, int64_t n, double bound, uint64_t seed) {
  /* One stream per parameter tensor (keyed by its slab offset), so adding a layer elsewhere does
   * not change the values of this one. */
  OvqRng r;
  ovq_rng_init(&r, seed, OVQ_STREAM_MODEL_INIT, (uint64_t)off);
  for (int64_t i = 0; i < n; i++)
    p[off + i] = (ovq_real)(bound * (2.0 * ovq_rng_uniform(&r) - 1.0));
}

static void init_net(OvqModel *m, const OvqNet *net, uint64_t seed) {
  for (int i = 0; i < net->n_ops; i++) {
    const OvqOp *op = &net->ops[i];
    if (op->type == OVQ_OP_LINEAR) {
      double bound = 1.0 / sqrt((double)op->in); /* torch.nn.Linear's default */
      init_uniform(m->params, op->w, op->in * op->out, bound, seed);
      init_uniform(m->params, op->b, op->out, bound, seed);
    } else if (op->type == OVQ_OP_RES) {
      double b1 = 1.0 / sqrt((double)op->in), b2 = 1.0 / sqrt((double)op->r);
      init_uniform(m->params, op->w, op->in * op->r, b1, seed);
      init_uniform(m->params, op->b, op->r, b1, seed);
      init_uniform(m->params, op->w2, op->r * op->in, b2, seed);
      init_uniform(m->params, op->b2, op->in, b2, seed);
    }
  }
}

void ovq_model_init_params(OvqModel *m, uint64_t seed) {
  init_net(m, &m->enc, seed);
  init_net(m, &m->dec, seed);
  if (m->codebook >= 0) /* uniform(-1/K, 1/K), as the VQ-VAE reference code */
    init_uniform(m->params, m->codebook, m->spec.codebook_size * m->spec.latent,
                 1.0 / (double)m->spec.codebook_size, seed);
}

/* ---- one network ----------------------------------------------------------------------------- */

void ovq_net_forward(OvqModel *m, OvqNet *net, const ovq_real *x, int64_t B) {
  const ovq_real *P = m->params;
  for (int i = 0; i < net->n_ops; i++) {
    OvqOp *op = &net->ops[i];
    const ovq_real *in = i == 0 ? x : net->ops[i - 1].act;
    switch (op->type) {
    case OVQ_OP_LINEAR: ovq_linear_forward(op->act, in, P + op->w, P + op->b, B, op->in, op->out); break;
    case OVQ_OP_GELU: ovq_gelu_forward(op->act, in, B * op->in); break;
    case OVQ_OP_RELU: ovq_relu_forward(op->act, in, B * op->in); break;
    case OVQ_OP_RES: {
      int64_t h = op->in, r = op->r;
      ovq_real *s0 = op->scratch, *s1 = s0 + B * h, *s2 = s1 + B * r;
      ovq_relu_forward(s0, in, B * h);
      ovq_linear_forward(s1, s0, P + op->w, P + op->b, B, h, r);
      ovq_relu_forward(s2, s1, B * r);
      ovq_linear_forward(op->act, s2, P + op->w2, P + op->b2, B, r, h);
      for (int64_t k = 0; k < B * h; k++) op->act[k] += in[k];
      break;
    }
    }
  }
}

void ovq_net_backward(OvqModel *m, OvqNet *net, const ovq_real *x, const ovq_real *dout,
                      ovq_real *din, int64_t B) {
  const ovq_real *P = m->params;
  ovq_real *G = m->grads;
  /* Gradients travel through two ping-pong buffers; the first one is seeded with dout. */
  ovq_real *cur = m->dbuf1, *nxt = m->dbuf2;
  int64_t n_last = net->ops[net->n_ops - 1].out;
  if (dout != cur) memcpy(cur, dout, sizeof(ovq_real) * (size_t)(B * n_last));
  for (int i = net->n_ops - 1; i >= 0; i--) {
    OvqOp *op = &net->ops[i];
    const ovq_real *in = i == 0 ? x : net->ops[i - 1].act;
    /* The input gradient of the first op goes to din (or nowhere). */
    ovq_real *dst = i == 0 ? din : nxt;
    switch (op->type) {
    case OVQ_OP_LINEAR:
      ovq_linear_backward(dst, G + op->w, G + op->b, cur, in, P + op->w, B, op->in, op->out);
      break;
    case OVQ_OP_GELU:
      if (dst) ovq_gelu_backward(dst, cur, in, B * op->in);
      break;
    case OVQ_OP_RELU:
      if (dst) ovq_relu_backward(dst, cur, in, B * op->in);
      break;
    case OVQ_OP_RES: {
      int64_t h = op->in, r = op->r;
      ovq_real *s0 = op->scratch, *s1 = s0 + B * h, *s2 = s1 + B * r, *ds = s2 + B * r;
      /* y = x + W2 relu(W1 relu(x) + b1) + b2 */
      ovq_linear_backward(ds, G + op->w2, G + op->b2, cur, s2, P + op->w2, B, r, h);
      ovq_relu_backward(ds, ds, s1, B * r);
      /* d relu(x) lands in dst, then becomes d x in place; skip it when no one needs it. */
      ovq_linear_backward(dst, G + op->w, G + op->b, ds, s0, P + op->w, B, h, r);
      if (dst) {
        ovq_relu_backward(dst, dst, in, B * h);
        for (int64_t k = 0; k < B * h; k++) dst[k] += cur[k];
      }
      break;
    }
    }
    ovq_real *t = cur;
    cur = nxt;
    nxt = t;
  }
}

/* ---- the models -------------------------------------------------------------------------------- */

double ovq_model_quantise(OvqModel *m, const ovq_real *z, int64_t B, int32_t *codes, ovq_real *zq) {
  const int64_t D = m->spec.latent, G = m->spec.groups, K = m->spec.codebook_size, d = D / G;
  double total = 0.0;
  for (int64_t g = 0; g < G; g++) {
    const ovq_real *E = m->params + m->codebook + g * K * d; /* [K][d] */
    for (int64_t k = 0; k < K; k++) {
      ovq_real s = 0;
      for (int64_t j = 0; j < d; j++) s += E[k * d + j] * E[k * d + j];
      m->code_norm[k] = s;
    }
    /* ||z - e||^2 = ||z||^2 - 2 z.e + ||e||^2; the z term does not change the argmin. The group's
     * slice of z is a strided [B][d] view, so copy it (B * d values) into dz as scratch. */
    ovq_real *zg = m->dz;
    for (int64_t b = 0; b < B; b++) memcpy(zg + b * d, z + b * D + g * d, sizeof(ovq_real) * (size_t)d);
    ovq_gemm_nt(B, K, d, (ovq_real)-2, zg, E, (ovq_real)0, m->dist);
    for (int64_t b = 0; b < B; b++) {
      const ovq_real *row = m->dist + b * K;
      int64_t best = 0;
      ovq_real bv = row[0] + m->code_norm[0];
      for (int64_t k = 1; k < K; k++) {
        ovq_real v = row[k] + m->code_norm[k];
        if (v < bv) { /* ties go to the lowest index, as torch.argmin */
          bv = v;
          best = k;
        }
      }
      codes[b * G + g] = (int32_t)best;
      double s = 0.0;
      for (int64_t j = 0; j < d; j++) {
        ovq_real e = E[best * d + j];
        double diff = (double)zg[b * d + j] - (double)e;
        s += diff * diff;
        if (zq) zq[b * D + g * d + j] = e;
      }
      total += s;
    }
  }
  return total;
}

/* The latent stage of the forward pass, from the encoder output z_e to the decoder input m->z:
 * quantisation (VQ-VAE), reparameterisation (VAE, eps as in ovq_model_forward) or a copy (AE);
 * sets the codebook, commitment and KL terms of *loss. */
static void latent_forward(OvqModel *m, int64_t B, int64_t global_batch, const ovq_real *eps,
                           OvqLoss *loss) {
  const OvqModelSpec *s = &m->spec;
  const int64_t D = s->latent;
  const ovq_real *ze = m->enc.ops[m->enc.n_ops - 1].act; /* [B][D'] */
  const double per_latent = 1.0 / ((double)global_batch * (double)D);
  if (s->type == OVQ_MODEL_AE) {
    memcpy(m->z, ze, sizeof(ovq_real) * (size_t)(B * D));
  } else if (s->type == OVQ_MODEL_VAE) {
    double kl = 0.0;
    for (int64_t b = 0; b < B; b++)
      for (int64_t j = 0; j < D; j++) {
        ovq_real mu = ze[b * 2 * D + j], lv = ze[b * 2 * D + D + j];
        m->eps[b * D + j] = eps ? eps[b * D + j] : 0;
        m->z[b * D + j] = mu + (eps ? R_EXP((ovq_real)0.5 * lv) * eps[b * D + j] : 0);
        kl += -0.5 * (1.0 + (double)lv - (double)mu * mu - exp((double)lv));
      }
    loss->kl = s->kl_weight * kl * per_latent;
  } else {
    double sq = ovq_model_quantise(m, ze, B, m->codes, m->z);
    loss->codebook = s->ema ? 0.0 : sq * per_latent;
    loss->commitment = s->beta * sq * per_latent;
  }
}

/* The latent stage of the backward pass: m->dz holds the gradient at the decoder input [B][D];
 * turns it into the gradient at the encoder output [B][D'] (in place) and ADDS the codebook
 * gradient. */
static void latent_backward(OvqModel *m, int64_t B, int64_t global_batch) {
  const OvqModelSpec *s = &m->spec;
  const int64_t D = s->latent;
  const ovq_real *ze = m->enc.ops[m->enc.n_ops - 1].act;
  ovq_real *dzin = m->dz;
  const double per_latent = 1.0 / ((double)global_batch * (double)D);
  if (s->type == OVQ_MODEL_VAE) {
    /* Expand [B][D] -> [B][2D] in place from the back, so rows do not overwrite each other. */
    const ovq_real ck = (ovq_real)(s->kl_weight * per_latent);
    for (int64_t b = B - 1; b >= 0; b--)
      for (int64_t j = D - 1; j >= 0; j--) {
        ovq_real g = dzin[b * D + j], mu = ze[b * 2 * D + j], lv = ze[b * 2 * D + D + j];
        ovq_real e = m->eps[b * D + j];
        dzin[b * 2 * D + D + j] =
            g * (ovq_real)0.5 * R_EXP((ovq_real)0.5 * lv) * e + ck * (ovq_real)0.5 * (R_EXP(lv) - 1);
        dzin[b * 2 * D + j] = g + ck * mu;
      }
  } else if (s->type == OVQ_MODEL_VQVAE) {
    const int64_t G = s->groups, K = s->codebook_size, d = D / G;
    const ovq_real cc = (ovq_real)(2.0 * s->beta * per_latent), ce = (ovq_real)(2.0 * per_latent);
    ovq_real *gE = m->grads + m->codebook;
    for (int64_t b = 0; b < B; b++)
      for (int64_t g = 0; g < G; g++) {
        int64_t k = m->codes[b * G + g];
        for (int64_t j = 0; j < d; j++) {
          int64_t col = g * d + j;
          ovq_real diff = ze[b * D + col] - m->z[b * D + col]; /* z_e - e */
          /* straight-through: the decoder-input gradient passes to z_e unchanged */
          dzin[b * D + col] += cc * diff;
          if (!s->ema) gE[(g * K + k) * d + j] -= ce * diff;
        }
      }
  }
}

int ovq_model_set_recon_weights(OvqModel *m, const double *w) {
  const int64_t F = m->spec.n_in;
  if (!w) {
    free(m->recon_w);
    m->recon_w = NULL;
    return 0;
  }
  for (int64_t f = 0; f < F; f++)
    if (!(w[f] >= 0.0) || !isfinite(w[f])) return -1;
  ovq_real *c = malloc(sizeof(ovq_real) * (size_t)(F + 1));
  if (!c) return -1;
  for (int64_t f = 0; f < F; f++) c[f] = (ovq_real)w[f];
  free(m->recon_w);
  m->recon_w = c;
  return 0;
}

/* Sum over B rows of n columns (a and b [B][n]) of w_j (a - b)^2, w = NULL meaning 1. */
static double sq_diff_sum(const ovq_real *a, const ovq_real *b, int64_t B, int64_t n,
                          const ovq_real *w) {
  double rs = 0.0;
  if (!w) {
    for (int64_t k = 0; k < B * n; k++) {
      double diff = (double)a[k] - (double)b[k];
      rs += diff * diff;
    }
    return rs;
  }
  for (int64_t i = 0; i < B; i++)
    for (int64_t j = 0; j < n; j++) {
      double diff = (double)a[i * n + j] - (double)b[i * n + j];
      rs += (double)w[j] * diff * diff;
    }
  return rs;
}

/* d recon / d x_hat for B rows of n columns: dy = c w_j (x_hat - x), w = NULL meaning 1. */
static void recon_grad(ovq_real *dy, const ovq_real *xh, const ovq_real *x, int64_t B, int64_t n,
                       ovq_real c, const ovq_real *w) {
  if (!w) {
    for (int64_t k = 0; k < B * n; k++) dy[k] = c * (xh[k] - x[k]);
    return;
  }
  for (int64_t i = 0; i < B; i++)
    for (int64_t j = 0; j < n; j++) dy[i * n + j] = c * w[j] * (xh[i * n + j] - x[i * n + j]);
}

void ovq_model_forward(OvqModel *m, const ovq_real *x, int64_t B, int64_t global_batch,
                       double data_var, const ovq_real *eps, OvqLoss *loss) {
  const int64_t F = m->spec.n_in;
  memset(loss, 0, sizeof *loss);
  ovq_net_forward(m, &m->enc, x, B);
  latent_forward(m, B, global_batch, eps, loss);
  ovq_net_forward(m, &m->dec, m->z, B);
  const ovq_real *xh = m->dec.ops[m->dec.n_ops - 1].act;
  loss->recon =
      sq_diff_sum(xh, x, B, F, m->recon_w) / ((double)global_batch * (double)F * data_var);
  loss->total = loss->recon + loss->codebook + loss->commitment + loss->kl;
}

void ovq_model_backward(OvqModel *m, const ovq_real *x, int64_t B, int64_t global_batch,
                        double data_var) {
  const int64_t F = m->spec.n_in;
  const ovq_real *xh = m->dec.ops[m->dec.n_ops - 1].act;
  /* d recon / d x_hat goes straight into the buffer where the decoder's backward starts. */
  ovq_real *dxh = m->dbuf1;
  const ovq_real c = (ovq_real)(2.0 / ((double)global_batch * (double)F * data_var));
  recon_grad(dxh, xh, x, B, F, c, m->recon_w);
  ovq_net_backward(m, &m->dec, m->z, dxh, m->dz, B);
  latent_backward(m, B, global_batch);
  ovq_net_backward(m, &m->enc, x, m->dz, NULL, B);
}

/* ---- feature-split training --------------------------------------------------------------------- */

/* Views of ops [from, from + n) of a network (the ops, and so their buffers, are shared). */
static OvqNet net_view(const OvqNet *net, int from, int n) {
  OvqNet v;
  memset(&v, 0, sizeof v);
  v.n_ops = n;
  memcpy(v.ops, net->ops + from, sizeof(OvqOp) * (size_t)n);
  v.n_in = net->ops[from].in;
  v.n_out = net->ops[from + n - 1].out;
  return v;
}

void ovq_model_split_in(OvqModel *m, const ovq_real *xr, int64_t B, int64_t f0, int64_t fn,
                        ovq_real *part) {
  const OvqOp *op = &m->enc.ops[0];
  if (fn == 0) {
    memset(part, 0, sizeof(ovq_real) * (size_t)(B * op->out));
    return;
  }
  /* W1 [h1][F]: columns f0 .. f0 + fn are a submatrix with rows F apart. */
  ovq_gemm_ld(0, 1, B, op->out, fn, 1, xr, fn, m->params + op->w + f0, op->in, 0, part, op->out);
}

void ovq_model_split_mid(OvqModel *m, const ovq_real *xr, int64_t B, int64_t global_batch,
                         int64_t f0, int64_t fn, double data_var, const ovq_real *eps,
                         OvqLoss *loss) {
  const int64_t F = m->spec.n_in;
  OvqOp *first = &m->enc.ops[0], *last = &m->dec.ops[m->dec.n_ops - 1];
  const ovq_real *b1 = m->params + first->b;
  for (int64_t b = 0; b < B; b++)
    for (int64_t j = 0; j < first->out; j++) first->act[b * first->out + j] += b1[j];
  memset(loss, 0, sizeof *loss);
  OvqNet enc_rest = net_view(&m->enc, 1, m->enc.n_ops - 1);
  ovq_net_forward(m, &enc_rest, first->act, B);
  latent_forward(m, B, global_batch, eps, loss);
  OvqNet dec_head = net_view(&m->dec, 0, m->dec.n_ops - 1);
  ovq_net_forward(m, &dec_head, m->z, B);
  const ovq_real *h = m->dec.ops[m->dec.n_ops - 2].act;
  /* Rows f0 .. f0 + fn of the last layer's W [F][h1] are contiguous: x_hat's columns f. */
  ovq_linear_forward(last->act, h, m->params + last->w + f0 * last->in, m->params + last->b + f0,
                     B, last->in, fn);
  loss->recon = sq_diff_sum(last->act, xr, B, fn, m->recon_w ? m->recon_w + f0 : NULL) /
                ((double)global_batch * (double)F * data_var);
  loss->total = loss->recon + loss->codebook + loss->commitment + loss->kl;
}

void ovq_model_split_out_backward(OvqModel *m, const ovq_real *xr, int64_t B,
                                  int64_t global_batch, int64_t f0, int64_t fn, double data_var,
                                  ovq_real *part) {
  const int64_t F = m->spec.n_in;
  const OvqOp *last = &m->dec.ops[m->dec.n_ops - 1];
  const int64_t h1 = last->in;
  const ovq_real *h = m->dec.ops[m->dec.n_ops - 2].act, *xh = last->act;
  ovq_real *dy = m->dbuf1; /* [B][fn] */
  const ovq_real c = (ovq_real)(2.0 / ((double)global_batch * (double)F * data_var));
  recon_grad(dy, xh, xr, B, fn, c, m->recon_w ? m->recon_w + f0 : NULL);
  if (fn == 0) {
    memset(part, 0, sizeof(ovq_real) * (size_t)(B * h1));
    return;
  }
  ovq_real *gw = m->grads + last->w + f0 * h1, *gb = m->grads + last->b + f0;
  if (B == 0) { /* no samples (a group without any of this batch): zero gradients, no BLAS */
    memset(gw, 0, sizeof(ovq_real) * (size_t)(fn * h1));
    memset(gb, 0, sizeof(ovq_real) * (size_t)fn);
    return;
  }
  ovq_gemm_tn(fn, h1, B, 1, dy, h, 0, gw); /* dW[f] = dy^T h, written */
  for (int64_t j = 0; j < fn; j++) {
    ovq_real s = 0;
    for (int64_t b = 0; b < B; b++) s += dy[b * fn + j];
    gb[j] = s;
  }
  ovq_gemm_nn(B, h1, fn, 1, dy, m->params + last->w + f0 * h1, 0, part); /* dy W[f] */
}

void ovq_model_split_backward(OvqModel *m, const ovq_real *xr, int64_t B, int64_t global_batch,
                              int64_t f0, int64_t fn, ovq_real *dh) {
  OvqNet dec_head = net_view(&m->dec, 0, m->dec.n_ops - 1);
  ovq_net_backward(m, &dec_head, m->z, dh, m->dz, B);
  latent_backward(m, B, global_batch);
  OvqOp *first = &m->enc.ops[0];
  OvqNet enc_rest = net_view(&m->enc, 1, m->enc.n_ops - 1);
  /* dh was copied into the backward buffers above, so it can take the gradient at W1's output. */
  ovq_net_backward(m, &enc_rest, first->act, m->dz, dh, B);
  const int64_t h1 = first->out, F = first->in;
  if (fn > 0 && B > 0) /* dW1[:, f] = dh^T xr, written into the columns f of [h1][F] */
    ovq_gemm_ld(1, 0, h1, fn, B, 1, dh, h1, xr, fn, 0, m->grads + first->w + f0, F);
  else
    for (int64_t i = 0; i < h1; i++)
      memset(m->grads + first->w + i * F + f0, 0, sizeof(ovq_real) * (size_t)fn);
  ovq_real *gb = m->grads + first->b;
  for (int64_t j = 0; j < h1; j++) gb[j] = 0;
  for (int64_t b = 0; b < B; b++)
    for (int64_t j = 0; j < h1; j++) gb[j] += dh[b * h1 + j];
}

void ovq_model_encode(OvqModel *m, const ovq_real *x, int64_t B, ovq_real *out, ovq_real *zq,
                      int32_t *codes) {
  const int64_t D = m->spec.latent;
  ovq_net_forward(m, &m->enc, x, B);
  const ovq_real *ze = m->enc.ops[m->enc.n_ops - 1].act;
  int64_t width = m->enc.n_out; /* D, or 2D for the VAE whose first half is mu */
  for (int64_t b = 0; b < B; b++) memcpy(out + b * D, ze + b * width, sizeof(ovq_real) * (size_t)D);
  if (m->spec.type == OVQ_MODEL_VQVAE && (zq || codes))
    ovq_model_quantise(m, ze, B, codes ? codes : m->codes, zq);
}
