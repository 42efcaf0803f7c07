/* Adam optimiser over one flat parameter slab, with decoupled weight decay (AdamW, Loshchilov &
 * Hutter 2019; weight_decay = 0 gives plain Adam as torch.optim.Adam), gradient-norm clipping and
 * a linear warm-up + cosine learning-rate schedule. Local: call it with the same (allreduced)
 * gradient on every rank and the replicas stay identical. */
#ifndef OVQ_ADAM_H
#define OVQ_ADAM_H

#include <stdint.h>

typedef struct OvqAdamConfig {
  double lr;            /* peak learning rate (1e-3) */
  double beta1, beta2;  /* 0.9, 0.999 */
  double eps;           /* 1e-8 */
  double weight_decay;  /* decoupled: p -= lr_t * wd * p (0 = off) */
  double clip_norm;     /* clip the global gradient L2 norm to this (0 = off) */
  int64_t warmup_steps; /* linear warm-up from 0 to lr over these steps (0 = none) */
  int64_t total_steps;  /* cosine decay to min_lr_ratio * lr at this step (0 = constant lr) */
  double min_lr_ratio;  /* floor of the cosine, as a fraction of lr (0) */
} OvqAdamConfig;

/* Local. Fills the defaults above (lr 1e-3, 0.9/0.999, eps 1e-8, everything else off). */
void ovq_adam_defaults(OvqAdamConfig *c);

/* Local. Learning rate at step t (t = 1 is the first update). */
double ovq_adam_lr(const OvqAdamConfig *c, int64_t t);

/* Local. L2 norm of g[0..n), accumulated in double. */
double ovq_grad_norm(const float *g, int64_t n);

/* Local. One update, step t >= 1 (bias correction uses t):
 *   g' = g * min(1, clip_norm / grad_norm)       (when clip_norm > 0; grad_norm passed in so the
 *                                                  caller computes it once, e.g. for logging)
 *   m = b1 m + (1 - b1) g';  v = b2 v + (1 - b2) g'^2
 *   p -= lr_t * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps) + lr_t * wd * p
 * p, m, v are [n]; g is read only. Same arithmetic as torch.optim.Adam / AdamW (float32).
 * grad_norm is only used when clip_norm > 0. Returns 1 if any gradient value was not finite (the
 * parameters are then spoilt and the caller must stop without saving them), else 0. */
int ovq_adam_step(const OvqAdamConfig *c, int64_t t, float *p, const float *g, float *m, float *v,
                  int64_t n, double grad_norm);

#endif
