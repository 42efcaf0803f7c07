/* Adam / AdamW with gradient-norm clipping and a warm-up + cosine schedule (include/ovq/adam.h).
 *
 * The update follows torch.optim.Adam / AdamW (torch 1.13, _single_tensor_adam[w]) operation by
 * operation: the per-step scalars are formed in double as Python forms them, then rounded to float
 * as torch does when it passes a Python number into a float32 kernel, and the per-element work is
 * float, like torch's float32 tensors. */
#include "ovq/adam.h"

#include <float.h>
#include <math.h>

#include "ovq/error.h"

void ovq_adam_defaults(OvqAdamConfig *c) {
  *c = (OvqAdamConfig){.lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8};
}

/* With W = warmup_steps, T = total_steps, r = min_lr_ratio (t = 1 is the first update):
 *   t <= W:        lr * t / W                                  (linear warm-up, reaches lr at W)
 *   T == 0:        lr                                          (no decay)
 *   W < t < T:     lr * (r + (1 - r) * 0.5 * (1 + cos(pi * (t - W) / (T - W))))
 *   t >= T:        lr * r                                      (the floor, from step T on)
 * which is the usual linear-warm-up cosine schedule (e.g. Hugging Face's
 * get_cosine_schedule_with_warmup with a floor) counted from 1. */
double ovq_adam_lr(const OvqAdamConfig *c, int64_t t) {
  if (c->warmup_steps > 0 && t <= c->warmup_steps)
    return c->lr * (double)t / (double)c->warmup_steps;
  if (c->total_steps == 0) return c->lr;
  if (t >= c->total_steps) return c->lr * c->min_lr_ratio;
  double progress = (double)(t - c->warmup_steps) / (double)(c->total_steps - c->warmup_steps);
  double cosine = 0.5 * (1.0 + cos(M_PI * progress));
  return c->lr * (c->min_lr_ratio + (1.0 - c->min_lr_ratio) * cosine);
}

/* Built for baseline x86-64 and, chosen at load time, for AVX2 (glibc ifunc): the loops are
 * memory bound and AVX2 halves their time. Both clones do the same IEEE operations in the same
 * order (no FMA: the file is compiled with -ffp-contract=off), so results are bit-identical. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define OVQ_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define OVQ_CLONES
#endif

OVQ_CLONES double ovq_grad_norm(const float *g, int64_t n) {
  /* Eight independent partial sums: a single double accumulator would serialise on the add
   * latency (90M parameters), and a fixed split keeps the result deterministic. */
  double s[8] = {0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; j++)
      s[j] += (double)g[i + j] * (double)g[i + j];
  for (; i < n; i++)
    s[0] += (double)g[i] * (double)g[i];
  return sqrt(((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7])));
}

/* The slabs are distinct buffers, so restrict: it lets the compiler keep the loop free of
 * aliasing checks. */
OVQ_CLONES int ovq_adam_step(const OvqAdamConfig *c, int64_t t, float *restrict p,
                             const float *restrict g, float *restrict m, float *restrict v,
                             int64_t n, double grad_norm) {
  if (t < 1) OVQ_ABORT("ovq_adam_step: step %lld, must be >= 1", (long long)t);
  double lr_t = ovq_adam_lr(c, t);
  /* torch.nn.utils.clip_grad_norm_: coef = max_norm / (norm + 1e-6), clamped at 1. Folded into
   * the update as a factor on g so the gradient slab stays read-only and is read once. */
  float gscale = 1.0f;
  if (c->clip_norm > 0) {
    double coef = c->clip_norm / (grad_norm + 1e-6);
    if (coef < 1.0) gscale = (float)coef;
  }
  /* AdamW's p.mul_(1 - lr wd); for plain Adam the factor is exactly 1 and the product is p. */
  const float decay = (float)(1.0 - lr_t * c->weight_decay);
  const float b1 = (float)c->beta1, one_minus_b1 = (float)(1.0 - c->beta1);
  const float b2 = (float)c->beta2, one_minus_b2 = (float)(1.0 - c->beta2);
  const double bc1 = 1.0 - pow(c->beta1, (double)t);
  const double bc2 = 1.0 - pow(c->beta2, (double)t);
  const float step_size = (float)(lr_t / bc1);
  const float bc2_sqrt = (float)sqrt(bc2);
  const float eps = (float)c->eps;
  /* Branch-free with restrict pointers so that it can vectorise; GCC does so only with
   * -fno-math-errno (sqrtf may set errno) and a cost model that allows an epilogue (-O3 or
   * -fvect-cost-model=dynamic), which measured 2.2x faster than scalar at 90M parameters. */
  int bad = 0;
  for (int64_t i = 0; i < n; i++) {
    /* A non-finite gradient is noticed here, in the pass that reads it anyway. */
    bad |= !(fabsf(g[i]) <= FLT_MAX);
    float gi = g[i] * gscale;
    float mi = m[i] * b1 + one_minus_b1 * gi;
    float vi = v[i] * b2 + one_minus_b2 * gi * gi;
    float denom = sqrtf(vi) / bc2_sqrt + eps;
    m[i] = mi;
    v[i] = vi;
    p[i] = p[i] * decay - step_size * mi / denom;
  }
  return bad;
}
