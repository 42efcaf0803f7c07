/* Data-parallel trainer (see include/ovq/trainer.h). */
#include "ovq/trainer.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "ovq/fixedsum.h"
#include "ovq/partition.h"
#include "ovq/progress.h"
#include "ovq/rng.h"
#include "ovq/stop.h"

/* Statistics appended to the gradient slab, in the same allreduce: the loss terms, the stop flag
 * (a signal seen by any rank), then the code counts [G][K] and, with EMA, the sums of the
 * encoder outputs assigned to each code [G][K][D/G]. */
enum { X_RECON, X_CODEBOOK, X_COMMIT, X_KL, X_STOP, N_FIXED };
enum { ACC_RECON, ACC_CODEBOOK, ACC_COMMIT, ACC_KL, N_ACC };


typedef struct Trainer {
  OvqModel *m;
  const OvqTrainConfig *cfg;
  OvqAdamConfig adam;
  const OvqMatrix *data;
  MPI_Comm comm;
  double data_var;
  int64_t N, F, B, D, G, K, d, steps_per_epoch;
  int is_vq, is_vae, ema;
  int64_t n_adam;        /* parameters moved by Adam: all but an EMA codebook */
  float *adam_m, *adam_v; /* [n_adam] */
  double *ema_n;         /* [G][K] EMA cluster sizes */
  float *ema_m;          /* [G][K][d] EMA sums */
  double *usage;         /* [G][K] samples assigned to each code this epoch */
  double *window;        /* [G][K] the same since the last restart (dead_code_every > 0) */
  int64_t restarted;     /* codes restarted this epoch (dead_code_every > 0), for the log */
  double acc[N_ACC];     /* loss terms of this epoch, summed as term * batch size */
  int64_t pos[4];        /* epoch, step within epoch, Adam step t, epochs in history */
  int64_t *perm;         /* [N] this epoch's order */
  float *xb;             /* [B][F] local samples of the current batch */
  int64_t *xb_global;    /* [B] their global indices */
  OvqHistory *hist;
  /* Reproducible mode */
  int repro;
  int64_t V;            /* virtual workers */
  OvqRange workers;     /* the virtual workers this rank hosts */
  OvqMatrix aligned;    /* the data redistributed so each worker's rows are on one rank */
  OvqFixedSum gsum;     /* [n_params] gradient sums */
  OvqFixedSum xsum;     /* [grad_extra] statistics sums */
  double gbound;        /* bound on any worker's largest |gradient| */
  /* The parameters this rank's Adam updates: pieces [start, start + count) of the slab (all of
   * them in one piece, except on one node where each rank updates its own). */
  OvqRange *seg;
  int64_t n_seg;
  /* Default mode: the features split among the ranks of each host group (see split_gradient);
   * the group's parameters, each rank's batch rows, its partial sums and statistics in MPI-3
   * shared memory (the gradients stay private: no other rank reads them). rank and size are
   * within the group; cross joins the ranks of the same group rank on the other groups. */
  int shm;
  int rank, size, n_groups;
  MPI_Comm node, cross;
  float *pack;          /* [own pieces] this rank's gradient pieces, for the allreduce over cross */
  MPI_Win pwin, xwin, swin;
  float **xb_of;        /* [size] every rank's batch rows [B][F] (t->xb while active) */
  float **sum_of;       /* [size] every rank's two partial sums [2][B][h1], then its statistics
                           [grad_extra] */
  float *own_xb;        /* the batch buffer shared memory replaces, put back at the end */
  OvqRange feat;        /* the features [start, start + count) this rank handles */
  OvqRange *rows_of;    /* [size] every rank's data rows */
  float *xr;            /* [B][feat.count] the batch's columns feat, all ranks' rows in rank order */
  float *dh;            /* [B][h1] summed gradient at the last layer's input */
  int64_t *cat_global;  /* [B] global index of each sample of xr */
  float *stats;         /* [grad_extra] the step's statistics */
} Trainer;

enum { P_EPOCH, P_STEP, P_T, P_HIST };

int64_t ovq_train_grad_extra(const OvqModelSpec *s) {
  int vq = s->type == OVQ_MODEL_VQVAE;
  return N_FIXED + (vq ? (int64_t)s->groups * s->codebook_size : 0) +
         (vq && s->ema ? s->codebook_size * s->latent : 0);
}

/* ---- epoch order ------------------------------------------------------------------------------ */

static void epoch_order(Trainer *t, int64_t epoch) {
  for (int64_t i = 0; i < t->N; i++) t->perm[i] = i;
  OvqRng r;
  ovq_rng_init(&r, t->cfg->seed, OVQ_STREAM_EPOCH_ORDER, (uint64_t)epoch);
  for (int64_t i = t->N - 1; i > 0; i--) {
    int64_t j = (int64_t)ovq_rng_below(&r, (uint64_t)(i + 1));
    int64_t tmp = t->perm[i];
    t->perm[i] = t->perm[j];
    t->perm[j] = tmp;
  }
}

/* ---- checkpoints ------------------------------------------------------------------------------ */

/* FNV-1a over the bytes of the reconstruction weights (0 when there are none). */
static uint64_t recon_w_hash(const OvqModel *m) {
  if (!m->recon_w) return 0;
  uint64_t h = 1469598103934665603ull;
  const unsigned char *p = (const unsigned char *)m->recon_w;
  const size_t n = sizeof(ovq_real) * (size_t)m->spec.n_in;
  for (size_t k = 0; k < n; k++) h = (h ^ p[k]) * 1099511628211ull;
  return h;
}

static void fingerprint(const Trainer *t, char *buf, size_t n) {
  const OvqModelSpec *s = &t->m->spec;
  const OvqTrainConfig *c = t->cfg;
  snprintf(buf, n,
           "type=%d F=%lld hidden=%lld,%lld,%lld,%lld/%d res=%d:%lld latent=%lld act=%d K=%lld "
           "G=%d beta=%.17g ema=%d kl=%.17g | N=%lld batch=%lld seed=%llu epochs=%lld lr=%.17g "
           "wd=%.17g clip=%.17g warmup=%lld cosine=%d ema_decay=%.17g dead=%.17g/%lld "
           "repro=%d:%lld init=%d recon_w=%016llx",
           (int)s->type, (long long)s->n_in, (long long)s->hidden[0], (long long)s->hidden[1],
           (long long)s->hidden[2], (long long)s->hidden[3], s->n_hidden, s->n_res,
           (long long)s->res_width, (long long)s->latent, (int)s->activation,
           (long long)s->codebook_size, s->groups, s->beta, s->ema, s->kl_weight, (long long)t->N,
           (long long)t->B, (unsigned long long)c->seed, (long long)c->epochs, c->adam.lr,
           c->adam.weight_decay, c->adam.clip_norm, (long long)c->adam.warmup_steps, c->cosine,
           c->ema_decay, c->dead_code_threshold, (long long)c->dead_code_every, c->reproducible,
           (long long)t->V, c->codebook_from_data, (unsigned long long)recon_w_hash(t->m));
}

static int ckpt_arrays(Trainer *t, CkptArray *a) {
  OvqHistory *h = t->hist;
  int64_t E = t->cfg->epochs, GK = t->G * t->K;
  int n = 0;
  a[n++] = (CkptArray){"params", CKPT_FLOAT, t->m->n_params, t->m->params};
  a[n++] = (CkptArray){"adam_m", CKPT_FLOAT, t->n_adam, t->adam_m};
  a[n++] = (CkptArray){"adam_v", CKPT_FLOAT, t->n_adam, t->adam_v};
  a[n++] = (CkptArray){"position", CKPT_INT64, 4, t->pos};
  a[n++] = (CkptArray){"epoch_sums", CKPT_DOUBLE, N_ACC, t->acc};
  a[n++] = (CkptArray){"gradient_bound", CKPT_DOUBLE, 1, &t->gbound};
  if (t->is_vq) a[n++] = (CkptArray){"usage", CKPT_DOUBLE, GK, t->usage};
  if (t->is_vq) a[n++] = (CkptArray){"usage_window", CKPT_DOUBLE, GK, t->window};
  if (t->ema) {
    a[n++] = (CkptArray){"ema_n", CKPT_DOUBLE, GK, t->ema_n};
    a[n++] = (CkptArray){"ema_m", CKPT_FLOAT, t->K * t->D, t->ema_m};
  }
  a[n++] = (CkptArray){"history_loss", CKPT_DOUBLE, E, h->loss};
  a[n++] = (CkptArray){"history_recon", CKPT_DOUBLE, E, h->recon};
  a[n++] = (CkptArray){"history_codebook", CKPT_DOUBLE, E, h->codebook};
  a[n++] = (CkptArray){"history_commitment", CKPT_DOUBLE, E, h->commitment};
  a[n++] = (CkptArray){"history_kl", CKPT_DOUBLE, E, h->kl};
  a[n++] = (CkptArray){"history_perplexity", CKPT_DOUBLE, E, h->perplexity};
  a[n++] = (CkptArray){"history_seconds", CKPT_DOUBLE, E, h->seconds};
  a[n++] = (CkptArray){"history_used_codes", CKPT_INT64, E, h->used_codes};
  return n;
}

static void shm_gather_adam(Trainer *t);


static int all_finite(const float *x, int64_t n) {
  int ok = 1;
  for (int64_t i = 0; i < n; i++) ok &= fabsf(x[i]) <= FLT_MAX;
  return ok;
}

/* Whether x is finite in every piece of seg. */
static int all_finite_in(const float *x, const OvqRange *seg, int64_t n_seg) {
  int ok = 1;
  for (int64_t s = 0; s < n_seg; s++) ok &= all_finite(x + seg[s].start, seg[s].count);
  return ok;
}

/* Collective. The step checks the loss terms and the gradient, but Adam's moments can overflow
 * while the gradient is still finite (the second moment holds its square): the parameters then
 * stop moving, and a checkpoint would keep the broken state. Checked at every epoch end and
 * before every checkpoint; an error names the first non-finite array and the epoch. */
static OvqStatus check_state(Trainer *t) {
  int code = 0; /* 1 parameters, 2 Adam first moment, 3 Adam second moment */
  if (!all_finite_in(t->m->params, t->seg, t->n_seg)) code = 1;
  /* Parameters Adam does not move (an EMA codebook): rank 0 in shared memory, else everyone. */
  else if ((!t->shm || t->rank == 0) &&
           !all_finite(t->m->params + t->n_adam, t->m->n_params - t->n_adam))
    code = 1;
  else if (!all_finite_in(t->adam_m, t->seg, t->n_seg)) code = 2;
  else if (!all_finite_in(t->adam_v, t->seg, t->n_seg)) code = 3;
  int first = code ? code : 99;
  OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &first, 1, MPI_INT, MPI_MIN, t->comm));
  if (first == 99) return OVQ_OK;
  static const char *const what[] = {"", "parameters", "Adam first moments",
                                     "Adam second moments (squared gradients overflowed)"};
  char when[96];
  if (t->pos[P_STEP] == 0)
    snprintf(when, sizeof when, "at the end of epoch %lld", (long long)t->pos[P_EPOCH]);
  else
    snprintf(when, sizeof when, "at epoch %lld, step %lld", (long long)t->pos[P_EPOCH] + 1,
             (long long)t->pos[P_STEP]);
  return ovq_error("training diverged: non-finite %s %s; the last checkpoint (if any) is kept. "
                   "Try a smaller train.lr or train.clip_norm", what[first], when);
}

static OvqStatus save(Trainer *t) {
  if (!t->cfg->checkpoint || !t->cfg->checkpoint[0]) return OVQ_OK;
  /* Never a checkpoint of a diverged state. */
  if (check_state(t) != OVQ_OK) return OVQ_ERR;
  CkptArray a[24];
  char fp[1024];
  fingerprint(t, fp, sizeof fp);
  t->pos[P_HIST] = t->hist->n;
  if (t->shm) shm_gather_adam(t);
  double t0 = ovq_time();
  OvqStatus st = ovq_ckpt_write(t->cfg->checkpoint, fp, a, ckpt_arrays(t, a), t->comm);
  if (st == OVQ_OK)
    ovq_log(OVQ_LOG_DEBUG, "checkpoint %s written at epoch %lld step %lld (%.2f s)",
            t->cfg->checkpoint, (long long)t->pos[P_EPOCH], (long long)t->pos[P_STEP],
            ovq_time() - t0);
  return st;
}

static OvqStatus restore(Trainer *t) {
  CkptArray a[24];
  char fp[1024];
  fingerprint(t, fp, sizeof fp);
  OvqStatus st = ovq_ckpt_read(t->cfg->checkpoint, fp, a, ckpt_arrays(t, a), t->comm);
  if (st == OVQ_OK) {
    t->hist->n = t->pos[P_HIST];
    ovq_log(OVQ_LOG_INFO, "resuming from %s at epoch %lld, step %lld", t->cfg->checkpoint,
            (long long)t->pos[P_EPOCH] + 1, (long long)t->pos[P_STEP]);
  }
  return st;
}

/* ---- reproducible mode: data layout ------------------------------------------------------ */

/* Moves rows of row_bytes bytes so that this rank holds global rows [out_start, out_start +
 * out_count) instead of [in_start, in_start + in_count) (the ranks' new ranges must tile the
 * old ones). One MPI_Alltoallv of whole rows. Collective on comm. */
static void redistribute(const void *in, int64_t in_start, int64_t in_count, void *out,
                         int64_t out_start, int64_t out_count, int64_t row_bytes, MPI_Comm comm) {
  int size;
  OVQ_MPI_CHECK(MPI_Comm_size(comm, &size));
  int64_t mine[4] = {in_start, in_count, out_start, out_count};
  int64_t *all = OVQ_MALLOC(sizeof(int64_t) * 4 * (size_t)size);
  OVQ_MPI_CHECK(MPI_Allgather(mine, 4, MPI_INT64_T, all, 4, MPI_INT64_T, comm));
  int *sc = OVQ_CALLOC((size_t)size, sizeof(int)), *sd = OVQ_CALLOC((size_t)size, sizeof(int));
  int *rc = OVQ_CALLOC((size_t)size, sizeof(int)), *rd = OVQ_CALLOC((size_t)size, sizeof(int));
  for (int r = 0; r < size; r++) {
    /* What I send to r: my old rows within r's new range; what I get from r: r's old rows
     * within my new range. Counts and offsets are in rows. */
    int64_t lo = in_start > all[4 * r + 2] ? in_start : all[4 * r + 2];
    int64_t hi = in_start + in_count < all[4 * r + 2] + all[4 * r + 3]
                     ? in_start + in_count : all[4 * r + 2] + all[4 * r + 3];
    sc[r] = hi > lo ? OVQ_INT(hi - lo, "rows") : 0;
    sd[r] = hi > lo ? OVQ_INT(lo - in_start, "row offset") : 0;
    lo = out_start > all[4 * r] ? out_start : all[4 * r];
    hi = out_start + out_count < all[4 * r] + all[4 * r + 1] ? out_start + out_count
                                                              : all[4 * r] + all[4 * r + 1];
    rc[r] = hi > lo ? OVQ_INT(hi - lo, "rows") : 0;
    rd[r] = hi > lo ? OVQ_INT(lo - out_start, "row offset") : 0;
  }
  MPI_Datatype row;
  OVQ_MPI_CHECK(MPI_Type_contiguous(OVQ_INT(row_bytes, "row bytes"), MPI_BYTE, &row));
  OVQ_MPI_CHECK(MPI_Type_commit(&row));
  OVQ_MPI_CHECK(MPI_Alltoallv(in, sc, sd, row, out, rc, rd, row, comm));
  MPI_Type_free(&row);
  free(all);
  free(sc);
  free(sd);
  free(rc);
  free(rd);
}

/* The virtual workers this rank hosts and the global rows they cover (reproducible mode). */
static OvqRange hosted_rows(int64_t N, int64_t V, MPI_Comm comm, OvqRange *workers) {
  int rank, size;
  OVQ_MPI_CHECK(MPI_Comm_rank(comm, &rank));
  OVQ_MPI_CHECK(MPI_Comm_size(comm, &size));
  *workers = ovq_partition_block(V, size, rank);
  OvqRange rows = {0, 0};
  if (workers->count == 0) return rows;
  OvqRange first = ovq_partition_block(N, (int)V, (int)workers->start);
  OvqRange last = ovq_partition_block(N, (int)V, (int)(workers->start + workers->count - 1));
  rows.start = first.start;
  rows.count = last.start + last.count - first.start;
  return rows;
}

/* ---- one step --------------------------------------------------------------------------------- */

/* Gathers the samples of global batch [b0, b0 + bsz) of the epoch order whose global index lies
 * in [lo, hi) (rows this rank holds) into xb, in batch order. */
static int64_t gather_batch(Trainer *t, int64_t b0, int64_t bsz, int64_t lo, int64_t hi) {
  const OvqMatrix *x = t->data;
  int64_t nb = 0;
  for (int64_t k = b0; k < b0 + bsz; k++) {
    int64_t g = t->perm[k];
    if (g < lo || g >= hi) continue;
    memcpy(t->xb + nb * t->F, x->x + (g - x->row_start) * t->F, sizeof(float) * (size_t)t->F);
    t->xb_global[nb++] = g;
  }
  return nb;
}

/* VAE noise for nb samples of global indices idx, keyed by (Adam step, global sample). */
static void draw_noise(Trainer *t, const int64_t *idx, int64_t nb, float *eps) {
  for (int64_t b = 0; b < nb; b++) {
    OvqRng r;
    ovq_rng_init(&r, t->cfg->seed, OVQ_STREAM_VAE_NOISE, (uint64_t)(t->pos[P_T] * t->N + idx[b]));
    for (int64_t j = 0; j < t->D; j++) eps[b * t->D + j] = (float)ovq_rng_normal(&r);
  }
}

/* Adds the code counts (and EMA sums) of the local batch into the extras. */
static void code_stats(Trainer *t, int64_t nb, float *extra) {
  const float *ze = t->m->enc.ops[t->m->enc.n_ops - 1].act;
  float *counts = extra + N_FIXED, *sums = counts + t->G * t->K;
  for (int64_t b = 0; b < nb; b++)
    for (int64_t g = 0; g < t->G; g++) {
      int64_t k = t->m->codes[b * t->G + g];
      counts[g * t->K + k] += 1.0f;
      if (t->ema)
        for (int64_t j = 0; j < t->d; j++)
          sums[(g * t->K + k) * t->d + j] += ze[b * t->D + g * t->d + j];
    }
}

/* EMA codebook update (van den Oord et al. 2017, appendix; Laplace-smoothed cluster sizes). */
static void ema_update(Trainer *t, const float *extra, int write_codebook) {
  const float *counts = extra + N_FIXED, *sums = counts + t->G * t->K;
  const double gamma = t->cfg->ema_decay, eps = t->cfg->ema_eps;
  float *E = t->m->params + t->m->codebook;
  for (int64_t g = 0; g < t->G; g++) {
    double n = 0.0;
    for (int64_t k = 0; k < t->K; k++) {
      int64_t gk = g * t->K + k;
      t->ema_n[gk] = gamma * t->ema_n[gk] + (1.0 - gamma) * counts[gk];
      n += t->ema_n[gk];
      for (int64_t j = 0; j < t->d; j++) {
        float *mm = &t->ema_m[gk * t->d + j];
        *mm = (float)(gamma * *mm + (1.0 - gamma) * sums[gk * t->d + j]);
      }
    }
    for (int64_t k = 0; write_codebook && k < t->K; k++) {
      int64_t gk = g * t->K + k;
      double size = (t->ema_n[gk] + eps) / (n + (double)t->K * eps) * n;
      for (int64_t j = 0; j < t->d; j++) E[gk * t->d + j] = (float)(t->ema_m[gk * t->d + j] / size);
    }
  }
}

static const char *first_nonfinite(const float *extra, double gnorm) {
  if (!isfinite(extra[X_RECON])) return "reconstruction loss";
  if (!isfinite(extra[X_CODEBOOK])) return "codebook loss";
  if (!isfinite(extra[X_COMMIT])) return "commitment loss";
  if (!isfinite(extra[X_KL])) return "KL term";
  if (!isfinite(gnorm)) return "gradient";
  return NULL;
}

/* Forward and backward of this rank's samples of the batch that lie in [lo, hi): fills the
 * gradient slab and its extras (zeroed first) with the local sums. */
static void local_gradient(Trainer *t, int64_t b0, int64_t bsz, int64_t lo, int64_t hi) {
  OvqModel *m = t->m;
  const int64_t P = m->n_params;
  memset(m->grads, 0, sizeof(float) * (size_t)(P + m->grad_extra));
  int64_t nb = gather_batch(t, b0, bsz, lo, hi);
  if (nb == 0) return;
  float *extra = m->grads + P, *eps = NULL;
  OvqLoss loss;
  if (t->is_vae) {
    eps = m->eps; /* the model copies it before use, so its own buffer can hold the draws */
    draw_noise(t, t->xb_global, nb, eps);
  }
  ovq_model_forward(m, t->xb, nb, bsz, t->data_var, eps, &loss);
  ovq_model_backward(m, t->xb, nb, bsz, t->data_var);
  extra[X_RECON] = (float)loss.recon;
  extra[X_CODEBOOK] = (float)loss.codebook;
  extra[X_COMMIT] = (float)loss.commitment;
  extra[X_KL] = (float)loss.kl;
  if (t->is_vq) code_stats(t, nb, extra);
}

/* Default mode: one local gradient and one float allreduce of the slab (fast; the float sum
 * depends on how samples are spread over ranks, so rank counts agree to rounding only). */
static void reduce_default(Trainer *t, int64_t b0, int64_t bsz) {
  OvqModel *m = t->m;
  const OvqMatrix *x = t->data;
  local_gradient(t, b0, bsz, x->row_start, x->row_start + x->n_local);
  m->grads[m->n_params + X_STOP] = ovq_stop_requested() ? 1.0f : 0.0f;
  OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, m->grads,
                              OVQ_INT(m->n_params + m->grad_extra, "gradient slab"), MPI_FLOAT,
                              MPI_SUM, t->comm));
}

/* Reproducible mode: the samples are split into V fixed virtual workers (blocks of global rows,
 * each held whole by one rank after the redistribution at start). Each worker's gradient is
 * computed on its own, always by the same code on the same samples in the same order, so it is
 * the same bit for bit at any rank count; the workers' gradients are then summed in 64-bit fixed
 * point (fixedsum.h), which is exact and order-independent. The fixed-point scale comes from a
 * bound on the gradient's magnitude: the previous step's largest value times 256; a step whose
 * gradient exceeds the bound (and the first step) is computed again with a larger bound. Every
 * decision uses allreduced values, so all ranks take the same path. */
static void reduce_repro(Trainer *t, int64_t b0, int64_t bsz) {
  OvqModel *m = t->m;
  const int64_t P = m->n_params, X = m->grad_extra;
  for (;;) {
    t->gsum.scale = ldexp(1.0, 62 - (int)ceil(log2(t->gbound * (double)t->V)));
    ovq_fixed_zero(&t->gsum);
    ovq_fixed_zero(&t->xsum);
    double flags[3] = {0.0, 0.0, 0.0}; /* largest |gradient|, non-finite seen, stop */
    for (int64_t w = t->workers.start; w < t->workers.start + t->workers.count; w++) {
      OvqRange rows = ovq_partition_block(t->N, (int)t->V, (int)w);
      local_gradient(t, b0, bsz, rows.start, rows.start + rows.count);
      double gmax = 0.0;
      int bad = 0;
      for (int64_t k = 0; k < P; k++) {
        double v = m->grads[k];
        if (!isfinite(v)) bad = 1;
        else if (fabs(v) > gmax) gmax = fabs(v);
        if (fabs(v) <= t->gbound) ovq_fixed_add(&t->gsum, k, v);
      }
      for (int64_t k = 0; k < X; k++) {
        double v = m->grads[P + k];
        if (!isfinite(v)) bad = 1;
        else ovq_fixed_add(&t->xsum, k, v);
      }
      flags[0] = fmax(flags[0], gmax);
      flags[1] = fmax(flags[1], (double)bad);
    }
    flags[2] = ovq_stop_requested() ? 1.0 : 0.0;
    OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, flags, 3, MPI_DOUBLE, MPI_MAX, t->comm));
    if (flags[1] > 0) {
      /* Hand the non-finite value on to the common check, which names the term. */
      m->grads[P + X_RECON] = NAN;
      return;
    }
    if (flags[0] > t->gbound) {
      t->gbound = flags[0] * 256.0;
      continue;
    }
    ovq_fixed_allreduce(&t->gsum, t->comm, NULL);
    ovq_fixed_allreduce(&t->xsum, t->comm, NULL);
    for (int64_t k = 0; k < P; k++) m->grads[k] = (float)((double)t->gsum.acc[k] / t->gsum.scale);
    for (int64_t k = 0; k < X; k++)
      m->grads[P + k] = (float)((double)t->xsum.acc[k] / t->xsum.scale);
    m->grads[P + X_STOP] = (float)flags[2];
    /* Let the bound follow the gradient down as well as up. */
    t->gbound = flags[0] > 0 ? flags[0] * 256.0 : t->gbound;
    return;
  }
}

/* ---- one node: features split among the ranks ------------------------------------------------ */

/* Makes every rank's writes to shared memory visible to the others (MPI-3 unified model). */
static void shm_fence(Trainer *t) {
  MPI_Win wins[3] = {t->pwin, t->xwin, t->swin};
  for (int i = 0; i < 3; i++) OVQ_MPI_CHECK(MPI_Win_sync(wins[i]));
  OVQ_MPI_CHECK(MPI_Barrier(t->node));
  for (int i = 0; i < 3; i++) OVQ_MPI_CHECK(MPI_Win_sync(wins[i]));
}

/* The parameters rank q updates when the features are split: its columns of the first layer's
 * weights (h1 pieces), its rows of the last layer's weights and bias, and a block of the
 * parameters in between (the narrow middle, whose gradient every rank computes in full) and of the
 * codebook when Adam moves it. Writes at most h1 + 5 pieces to seg; returns how many. */
static int64_t split_segments(const Trainer *t, int q, OvqRange *seg) {
  const OvqModel *m = t->m;
  const OvqOp *first = &m->enc.ops[0], *last = &m->dec.ops[m->dec.n_ops - 1];
  const int64_t F = t->F, h1 = first->out;
  OvqRange f = ovq_partition_block(F, t->size, q);
  int64_t n = 0;
  if (f.count > 0) {
    for (int64_t i = 0; i < h1; i++) seg[n++] = (OvqRange){first->w + i * F + f.start, f.count};
    seg[n++] = (OvqRange){last->w + f.start * h1, f.count * h1};
    seg[n++] = (OvqRange){last->b + f.start, f.count};
  }
  OvqRange mid = ovq_partition_block(last->w - first->b, t->size, q);
  if (mid.count > 0) seg[n++] = (OvqRange){first->b + mid.start, mid.count};
  int64_t tail0 = last->b + F;
  OvqRange tail = ovq_partition_block(t->n_adam > tail0 ? t->n_adam - tail0 : 0, t->size, q);
  if (tail.count > 0) seg[n++] = (OvqRange){tail0 + tail.start, tail.count};
  return n;
}

/* When every rank of comm is on one node, splits the features among the ranks (split_gradient)
 * and puts one copy of the parameters, the batch rows and the partial sums in shared memory.
 * The data-parallel alternative (each rank half the batch, gradients summed) runs
 * its GEMMs at half the batch, 10 % below the full batch's rate, and moves the whole gradient slab
 * every step (tools/bench/README.md). Returns 0 (nothing changed) otherwise. */
static int shm_setup(Trainer *t) {
  int wrank, wsize;
  OVQ_MPI_CHECK(MPI_Comm_rank(t->comm, &wrank));
  OVQ_MPI_CHECK(MPI_Comm_size(t->comm, &wsize));
  MPI_Comm node;
  const int64_t want = t->cfg->node_ranks;
  if (want > 0) { /* checked by ovq_train: want divides wsize */
    OVQ_MPI_CHECK(MPI_Comm_split(t->comm, (int)(wrank / want), wrank, &node));
  } else {
    OVQ_MPI_CHECK(MPI_Comm_split_type(t->comm, MPI_COMM_TYPE_SHARED, wrank, MPI_INFO_NULL, &node));
  }
  int nsize, nrank;
  OVQ_MPI_CHECK(MPI_Comm_size(node, &nsize));
  OVQ_MPI_CHECK(MPI_Comm_rank(node, &nrank));
  /* Every group the same size (so the pieces match across groups), and more than one rank. */
  int sizes_mm[2] = {-nsize, nsize};
  OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, sizes_mm, 2, MPI_INT, MPI_MAX, t->comm));
  if (-sizes_mm[0] != sizes_mm[1] || nsize == 1) {
    if (nsize > 1)
      ovq_log(OVQ_LOG_INFO, "hosts with %d to %d ranks: training data-parallel over all ranks "
              "(the feature split needs the same rank count on every host)", -sizes_mm[0],
              sizes_mm[1]);
    MPI_Comm_free(&node);
    return 0;
  }
  OvqModel *m = t->m;
  t->rank = nrank;
  t->size = nsize;
  t->n_groups = wsize / nsize;
  OVQ_MPI_CHECK(MPI_Comm_split(t->comm, nrank, wrank, &t->cross));
  t->node = node;
  const int64_t P = m->n_params, X = m->grad_extra, h1 = m->enc.ops[0].out;
  const int64_t sizes[3] = {t->rank == 0 ? P : 0, t->B * t->F, 2 * t->B * h1 + X};
  MPI_Win *wins[3] = {&t->pwin, &t->xwin, &t->swin};
  float ***bases[3] = {NULL, &t->xb_of, &t->sum_of};
  float *params = NULL;
  for (int w = 0; w < 3; w++) {
    float *base = NULL;
    OVQ_MPI_CHECK(MPI_Win_allocate_shared((MPI_Aint)(sizes[w] * (int64_t)sizeof(float)),
                                          (int)sizeof(float), MPI_INFO_NULL, node, &base, wins[w]));
    OVQ_MPI_CHECK(MPI_Win_lock_all(MPI_MODE_NOCHECK, *wins[w]));
    MPI_Aint sz;
    int disp;
    if (!bases[w]) {
      OVQ_MPI_CHECK(MPI_Win_shared_query(*wins[w], 0, &sz, &disp, &params));
      continue;
    }
    *bases[w] = OVQ_MALLOC(sizeof(float *) * (size_t)t->size);
    for (int q = 0; q < t->size; q++)
      OVQ_MPI_CHECK(MPI_Win_shared_query(*wins[w], q, &sz, &disp, &(*bases[w])[q]));
  }
  if (t->rank == 0) memcpy(params, m->params, sizeof(float) * (size_t)P);
  /* The model's own copy of the parameters is not needed while the shared one is in use. */
  free(m->params);
  t->own_xb = t->xb;
  m->params = params;
  t->xb = t->xb_of[t->rank];
  t->feat = ovq_partition_block(t->F, t->size, t->rank);
  t->n_seg = split_segments(t, t->rank, t->seg);
  int64_t mine[2] = {t->data->row_start, t->data->n_local}, *all_rows;
  all_rows = OVQ_MALLOC(sizeof(int64_t) * 2 * (size_t)t->size);
  OVQ_MPI_CHECK(MPI_Allgather(mine, 2, MPI_INT64_T, all_rows, 2, MPI_INT64_T, t->node));
  t->rows_of = OVQ_MALLOC(sizeof(OvqRange) * (size_t)t->size);
  for (int q = 0; q < t->size; q++) t->rows_of[q] = (OvqRange){all_rows[2 * q], all_rows[2 * q + 1]};
  free(all_rows);
  t->xr = OVQ_MALLOC(sizeof(float) * (size_t)(t->B * t->feat.count + 1));
  t->dh = OVQ_MALLOC(sizeof(float) * (size_t)(t->B * h1));
  t->cat_global = OVQ_MALLOC(sizeof(int64_t) * (size_t)t->B);
  t->stats = OVQ_CALLOC((size_t)(X > 0 ? X : 1), sizeof(float));
  int64_t own = 0;
  for (int64_t s = 0; s < t->n_seg; s++) own += t->seg[s].count;
  t->pack = t->n_groups > 1 ? OVQ_MALLOC(sizeof(float) * (size_t)(own + X + 1)) : NULL;
  t->shm = 1;
  shm_fence(t);
  ovq_log(OVQ_LOG_DEBUG, "features split among %d ranks per group, %d group(s): %lld features here",
          t->size, t->n_groups, (long long)t->feat.count);
  return 1;
}

/* Gives the model its own buffers back (with the trained parameters) and frees the windows. */
static void shm_teardown(Trainer *t) {
  if (!t->shm) return;
  OvqModel *m = t->m;
  shm_fence(t);
  float *own = OVQ_MALLOC(sizeof(float) * (size_t)m->n_params);
  memcpy(own, m->params, sizeof(float) * (size_t)m->n_params);
  m->params = own;
  t->xb = t->own_xb;
  MPI_Win *wins[3] = {&t->pwin, &t->xwin, &t->swin};
  for (int w = 0; w < 3; w++) {
    MPI_Win_unlock_all(*wins[w]);
    MPI_Win_free(wins[w]);
  }
  MPI_Comm_free(&t->node);
  MPI_Comm_free(&t->cross);
  free(t->pack);
  free(t->xb_of);
  free(t->sum_of);
  free(t->rows_of);
  free(t->xr);
  free(t->dh);
  free(t->cat_global);
  free(t->stats);
  t->shm = 0;
}

/* Rank 0 gets every rank's pieces of the Adam moments (for a checkpoint) from the ranks of its
 * group (the other groups hold the same values), packed in the gradient buffers, which are free
 * between steps. */
static void shm_gather_adam(Trainer *t) {
  const int64_t h1 = t->m->enc.ops[0].out;
  OvqRange *seg = OVQ_MALLOC(sizeof(OvqRange) * (size_t)(h1 + 5));
  int *cnt = OVQ_CALLOC((size_t)t->size, sizeof(int)), *dsp = OVQ_CALLOC((size_t)t->size, sizeof(int));
  for (int q = 1, off = 0; q < t->size; q++) {
    int64_t n = split_segments(t, q, seg), c = 0;
    for (int64_t s = 0; s < n; s++) c += seg[s].count;
    cnt[q] = OVQ_INT(c, "Adam pieces");
    dsp[q] = off;
    off = OVQ_INT((int64_t)off + c, "Adam pieces");
  }
  float *arrays[2] = {t->adam_m, t->adam_v}, *buf = t->m->grads;
  for (int a = 0; a < 2; a++) {
    if (t->rank == 0) {
      OVQ_MPI_CHECK(MPI_Gatherv(MPI_IN_PLACE, 0, MPI_FLOAT, buf, cnt, dsp, MPI_FLOAT, 0, t->node));
      for (int q = 1; q < t->size; q++) {
        int64_t n = split_segments(t, q, seg);
        for (int64_t s = 0, off = dsp[q]; s < n; off += seg[s].count, s++)
          memcpy(arrays[a] + seg[s].start, buf + off, sizeof(float) * (size_t)seg[s].count);
      }
    } else {
      int64_t off = 0;
      for (int64_t s = 0; s < t->n_seg; off += t->seg[s].count, s++)
        memcpy(buf + off, arrays[a] + t->seg[s].start, sizeof(float) * (size_t)t->seg[s].count);
      OVQ_MPI_CHECK(MPI_Gatherv(buf, OVQ_INT(off, "Adam pieces"), MPI_FLOAT, NULL, cnt, dsp,
                                MPI_FLOAT, 0, t->node));
    }
  }
  free(cnt);
  free(dsp);
  free(seg);
}

/* Sums the partial sums in slot `slot` of every rank, in rank order (the same result on every
 * rank), into out [n]. */
static void sum_parts(Trainer *t, int slot, int64_t n, float *out) {
  const int64_t off = slot * t->B * t->m->enc.ops[0].out;
  memcpy(out, t->sum_of[0] + off, sizeof(float) * (size_t)n);
  for (int q = 1; q < t->size; q++) {
    const float *src = t->sum_of[q] + off;
    for (int64_t k = 0; k < n; k++) out[k] += src[k];
  }
}

/* One node: the step with the features split among the ranks (model.h, ovq_model_split_*).
 * Each rank puts its rows of the batch in shared memory and takes the columns feat of all of
 * them (rank order), so the two wide layers run at the full batch on 1/size of their width; the
 * two [B][h1] partial sums are added through shared memory; every rank runs the narrow middle
 * identically. A rank's gradient slab then holds the gradients of its columns / rows of the wide
 * layers and the whole middle: no gradient moves between ranks. Returns the statistics (the
 * reconstruction term and the stop flag summed, the rest the same on every rank). */
static const float *split_gradient(Trainer *t, int64_t b0, int64_t bsz) {
  OvqModel *m = t->m;
  const int64_t P = m->n_params, X = m->grad_extra, F = t->F;
  const OvqOp *first = &m->enc.ops[0], *last = &m->dec.ops[m->dec.n_ops - 1];
  const int64_t h1 = first->out, f0 = t->feat.start, fn = t->feat.count;
  float *g = m->grads;
  /* The phases write the wide layers' gradients and add the others': zero those. */
  memset(g + first->b, 0, sizeof(float) * (size_t)(last->w - first->b));
  memset(g + last->b + F, 0, sizeof(float) * (size_t)(P + X - last->b - F));
  gather_batch(t, b0, bsz, t->data->row_start, t->data->row_start + t->data->n_local);
  shm_fence(t);
  int64_t nb = 0; /* the group's samples of the batch, all its ranks' rows in rank order */
  for (int q = 0; q < t->size; q++) {
    const OvqRange rows = t->rows_of[q];
    int64_t iq = 0;
    for (int64_t k = b0; k < b0 + bsz; k++) {
      int64_t gi = t->perm[k];
      if (gi < rows.start || gi >= rows.start + rows.count) continue;
      memcpy(t->xr + nb * fn, t->xb_of[q] + iq++ * F + f0, sizeof(float) * (size_t)fn);
      t->cat_global[nb++] = gi;
    }
  }
  /* nb = bsz on one host; with several, this group's share of the batch. */
  float *mine = t->sum_of[t->rank];
  ovq_model_split_in(m, t->xr, nb, f0, fn, mine);
  shm_fence(t);
  sum_parts(t, 0, nb * h1, m->enc.ops[0].act);
  float *eps = NULL;
  if (t->is_vae) {
    eps = m->eps; /* the model copies it before use, so its own buffer can hold the draws */
    draw_noise(t, t->cat_global, nb, eps);
  }
  OvqLoss loss;
  ovq_model_split_mid(m, t->xr, nb, bsz, f0, fn, t->data_var, eps, &loss);
  ovq_model_split_out_backward(m, t->xr, nb, bsz, f0, fn, t->data_var, mine + t->B * h1);
  shm_fence(t);
  sum_parts(t, 1, nb * h1, t->dh);
  ovq_model_split_backward(m, t->xr, nb, bsz, f0, fn, t->dh);
  float *extra = g + P;
  extra[X_RECON] = (float)loss.recon;
  extra[X_CODEBOOK] = (float)loss.codebook;
  extra[X_COMMIT] = (float)loss.commitment;
  extra[X_KL] = (float)loss.kl;
  extra[X_STOP] = ovq_stop_requested() ? 1.0f : 0.0f;
  if (t->is_vq) code_stats(t, nb, extra);
  const int64_t s0 = 2 * t->B * h1; /* the statistics follow the partial sums */
  mine[s0 + X_RECON] = extra[X_RECON];
  mine[s0 + X_STOP] = extra[X_STOP];
  shm_fence(t);
  memcpy(t->stats, extra, sizeof(float) * (size_t)X);
  const int summed[2] = {X_RECON, X_STOP};
  for (int i = 0; i < 2; i++) {
    float v = t->sum_of[0][s0 + summed[i]];
    for (int q = 1; q < t->size; q++) v += t->sum_of[q][s0 + summed[i]];
    t->stats[summed[i]] = v;
  }
  if (t->n_groups > 1) {
    /* The groups' sums of this rank's pieces and of the statistics, in one allreduce with the
     * ranks holding the same pieces. */
    int64_t off = 0;
    for (int64_t s = 0; s < t->n_seg; off += t->seg[s].count, s++)
      memcpy(t->pack + off, g + t->seg[s].start, sizeof(float) * (size_t)t->seg[s].count);
    memcpy(t->pack + off, t->stats, sizeof(float) * (size_t)X);
    OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, t->pack, OVQ_INT(off + X, "gradient pieces"),
                                MPI_FLOAT, MPI_SUM, t->cross));
    off = 0;
    for (int64_t s = 0; s < t->n_seg; off += t->seg[s].count, s++)
      memcpy(g + t->seg[s].start, t->pack + off, sizeof(float) * (size_t)t->seg[s].count);
    memcpy(t->stats, t->pack + off, sizeof(float) * (size_t)X);
  }
  return t->stats;
}

/* One optimisation step. Returns OVQ_ERR (agreed: every rank sees the same reduced values) on a
 * non-finite loss or gradient; sets *stop when any rank caught a signal. */
static OvqStatus step(Trainer *t, int *stop) {
  OvqModel *m = t->m;
  const int64_t P = m->n_params, b0 = t->pos[P_STEP] * t->B;
  const int64_t bsz = t->N - b0 < t->B ? t->N - b0 : t->B;
  const float *extra = m->grads + P;
  if (t->repro)
    reduce_repro(t, b0, bsz);
  else if (t->shm)
    extra = split_gradient(t, b0, bsz);
  else
    reduce_default(t, b0, bsz);
  /* The norm is only needed for clipping; otherwise a non-finite gradient is caught by the Adam
   * pass itself (the weights it spoils are never saved: training stops). */
  double gnorm = 0.0;
  if (t->adam.clip_norm > 0) {
    double part = 0.0;
    for (int64_t s = 0; s < t->n_seg; s++) {
      double n = ovq_grad_norm(m->grads + t->seg[s].start, t->seg[s].count);
      part += n * n;
    }
    /* Each group holds every piece once (the groups hold the same values). */
    if (t->shm) OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &part, 1, MPI_DOUBLE, MPI_SUM, t->node));
    gnorm = sqrt(part);
  }
  const char *bad = first_nonfinite(extra, gnorm);
  int adam_bad = 0;
  for (int64_t s = 0; !bad && s < t->n_seg; s++) {
    const int64_t a0 = t->seg[s].start;
    adam_bad |= ovq_adam_step(&t->adam, t->pos[P_T] + 1, m->params + a0, m->grads + a0,
                              t->adam_m + a0, t->adam_v + a0, t->seg[s].count, gnorm);
  }
  if (t->shm)
    OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &adam_bad, 1, MPI_INT, MPI_MAX, t->comm));
  if (adam_bad) bad = "gradient";
  if (bad)
    return ovq_error("training diverged: non-finite %s at epoch %lld, step %lld; the last "
                     "checkpoint (if any) is kept. Try a smaller train.lr or train.clip_norm",
                     bad, (long long)t->pos[P_EPOCH] + 1, (long long)t->pos[P_STEP] + 1);
  t->pos[P_T]++;
  /* In shared memory the codebook exists once: rank 0 writes it. */
  if (t->ema) ema_update(t, extra, !t->shm || t->rank == 0);
  if (t->is_vq)
    for (int64_t k = 0; k < t->G * t->K; k++) {
      t->usage[k] += extra[N_FIXED + k];
      t->window[k] += extra[N_FIXED + k];
    }
  t->acc[ACC_RECON] += extra[X_RECON] * (double)bsz;
  t->acc[ACC_CODEBOOK] += extra[X_CODEBOOK] * (double)bsz;
  t->acc[ACC_COMMIT] += extra[X_COMMIT] * (double)bsz;
  t->acc[ACC_KL] += extra[X_KL] * (double)bsz;
  *stop = extra[X_STOP] > 0.0f;
  /* Every piece of the parameters is updated before anyone starts the next step (and no rank
   * overwrites its batch rows or partial sums while another still reads them). */
  if (t->shm) shm_fence(t);
  return OVQ_OK;
}

/* Aborts if the replicas' parameters differ (a bug: every rank applies the same update). */
static void check_replicas(const Trainer *t) {
  uint64_t h = 1469598103934665603ull;
  const unsigned char *p = (const unsigned char *)t->m->params;
  for (size_t k = 0; k < (size_t)t->m->n_params * sizeof(float); k++) h = (h ^ p[k]) * 1099511628211ull;
  uint64_t lo = h, hi = h;
  OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &lo, 1, MPI_UINT64_T, MPI_MIN, t->comm));
  OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &hi, 1, MPI_UINT64_T, MPI_MAX, t->comm));
  if (lo != hi)
    OVQ_ABORT("model replicas diverged at step %lld (parameter hashes differ)",
              (long long)t->pos[P_T]);
}

/* ---- epoch end -------------------------------------------------------------------------------- */

/* Replaces codes used by fewer than `threshold` samples (over the last window) with the encoder
 * output of a sample chosen by global index (draws keyed by `key`, so the choice does not depend
 * on the rank layout). The chosen samples' rows go to rank 0, which encodes them in batches of
 * fixed composition (the dead codes in order, max_batch at a time: the same GEMMs, so the same
 * bits, at any rank count; one pass over the first layer's weights per batch, where encoding
 * the samples one by one read them once per sample), and broadcasts the new vectors. Returns
 * the number of codes restarted. Collective. */
static int64_t restart_codes(Trainer *t, const double *usage, double threshold, uint64_t key) {
  const int64_t GK = t->G * t->K;
  int64_t n_dead = 0;
  for (int64_t gk = 0; gk < GK; gk++) n_dead += usage[gk] < threshold;
  if (n_dead == 0) return 0;
  float *vec = OVQ_CALLOC((size_t)(n_dead * t->d), sizeof(float));
  const OvqMatrix *x = t->data;
  /* The sample of each code. At the initialisation (key 0) each group's K codes take K distinct
   * samples when there are that many (a partial shuffle per group): codes drawn twice would start
   * as exact ties, wasting codes and leaving the assignments between the twins to rounding. */
  int64_t *pick = OVQ_MALLOC(sizeof(int64_t) * (size_t)GK);
  if (key == 0 && t->K <= t->N) {
    int64_t *idx = OVQ_MALLOC(sizeof(int64_t) * (size_t)t->N);
    for (int64_t g = 0; g < t->G; g++) {
      OvqRng r;
      ovq_rng_init(&r, t->cfg->seed, OVQ_STREAM_DEAD_CODES, (uint64_t)g); /* epoch keys are >= GK */
      for (int64_t j = 0; j < t->N; j++) idx[j] = j;
      for (int64_t k = 0; k < t->K; k++) {
        int64_t j = k + (int64_t)ovq_rng_below(&r, (uint64_t)(t->N - k)), tmp = idx[k];
        idx[k] = idx[j];
        idx[j] = tmp;
        pick[g * t->K + k] = idx[k];
      }
    }
    free(idx);
  } else {
    for (int64_t gk = 0; gk < GK; gk++) {
      OvqRng r;
      ovq_rng_init(&r, t->cfg->seed, OVQ_STREAM_DEAD_CODES, key * (uint64_t)GK + (uint64_t)gk);
      pick[gk] = (int64_t)ovq_rng_below(&r, (uint64_t)t->N);
    }
  }
  /* dead[i]: the i-th dead code (slab order). */
  int64_t *dead = OVQ_MALLOC(sizeof(int64_t) * (size_t)n_dead);
  for (int64_t gk = 0, i = 0; gk < GK; gk++)
    if (usage[gk] < threshold) dead[i++] = gk;
  const int64_t C = t->m->max_batch, F = t->F;
  int crank, csize; /* in t->comm (t->rank and t->size are within the host group) */
  MPI_Comm_rank(t->comm, &crank);
  MPI_Comm_size(t->comm, &csize);
  float *rows = OVQ_MALLOC(sizeof(float) * (size_t)(C * F)); /* this rank's chosen rows */
  int *slot = OVQ_MALLOC(sizeof(int) * (size_t)C), *cnt = NULL, *disp = NULL, *slots = NULL;
  float *xs = NULL, *zs = NULL;
  if (crank == 0) {
    cnt = OVQ_MALLOC(sizeof(int) * (size_t)csize);
    disp = OVQ_MALLOC(sizeof(int) * (size_t)csize);
    slots = OVQ_MALLOC(sizeof(int) * (size_t)C);
    xs = OVQ_MALLOC(sizeof(float) * (size_t)(C * F));
    zs = OVQ_MALLOC(sizeof(float) * (size_t)(C * t->D));
  }
  for (int64_t c0 = 0; c0 < n_dead; c0 += C) {
    const int64_t nc = n_dead - c0 < C ? n_dead - c0 : C;
    int mine = 0;
    for (int64_t j = 0; j < nc; j++) {
      int64_t s = pick[dead[c0 + j]];
      if (s >= x->row_start && s < x->row_start + x->n_local) {
        memcpy(rows + mine * F, x->x + (s - x->row_start) * F, sizeof(float) * (size_t)F);
        slot[mine++] = (int)j;
      }
    }
    /* Rank 0 collects the chunk's rows in dead-code order (every row has exactly one owner). */
    OVQ_MPI_CHECK(MPI_Gather(&mine, 1, MPI_INT, cnt, 1, MPI_INT, 0, t->comm));
    if (crank == 0)
      for (int r = 0, o = 0; r < csize; o += cnt[r], r++) disp[r] = o;
    OVQ_MPI_CHECK(MPI_Gatherv(slot, mine, MPI_INT, slots, cnt, disp, MPI_INT, 0, t->comm));
    if (crank == 0)
      for (int r = 0; r < csize; r++) { /* rows in units of one row */
        cnt[r] *= (int)F;
        disp[r] *= (int)F;
      }
    OVQ_MPI_CHECK(MPI_Gatherv(rows, mine * (int)F, MPI_FLOAT, xs, cnt, disp,
                              MPI_FLOAT, 0, t->comm));
    if (crank == 0) {
      /* xs holds the rows in rank order; put them in chunk order, then encode the chunk. */
      float *ordered = rows; /* rank 0's own rows were copied already: reuse as scratch */
      for (int64_t j = 0; j < nc; j++)
        memcpy(ordered + (int64_t)slots[j] * F, xs + j * F, sizeof(float) * (size_t)F);
      ovq_model_encode(t->m, ordered, nc, zs, NULL, NULL);
      for (int64_t j = 0; j < nc; j++) {
        int64_t gk = dead[c0 + j];
        memcpy(vec + (c0 + j) * t->d, zs + j * t->D + (gk / t->K) * t->d,
               sizeof(float) * (size_t)t->d);
      }
    }
  }
  OVQ_MPI_CHECK(MPI_Bcast(vec, OVQ_INT(n_dead * t->d, "dead codes"), MPI_FLOAT, 0, t->comm));
  free(rows);
  free(slot);
  free(cnt);
  free(disp);
  free(slots);
  free(xs);
  free(zs);
  free(dead);
  float *E = t->m->params + t->m->codebook;
  int64_t i = 0;
  for (int64_t gk = 0; gk < GK; gk++) {
    if (!(usage[gk] < threshold)) continue;
    if (!t->shm || t->rank == 0) /* the host's one copy */
      memcpy(E + gk * t->d, vec + i * t->d, sizeof(float) * (size_t)t->d);
    if (t->ema) {
      t->ema_n[gk] = 1.0;
      memcpy(t->ema_m + gk * t->d, vec + i * t->d, sizeof(float) * (size_t)t->d);
    } else {
      /* Forget the optimiser's memory of the old vector. */
      int64_t off = t->m->codebook + gk * t->d;
      memset(t->adam_m + off, 0, sizeof(float) * (size_t)t->d);
      memset(t->adam_v + off, 0, sizeof(float) * (size_t)t->d);
    }
    i++;
  }
  free(vec);
  free(pick);
  if (t->shm) shm_fence(t);
  return n_dead;
}

static void end_epoch(Trainer *t, double seconds, double samples_per_s, double eta) {
  OvqHistory *h = t->hist;
  int64_t e = h->n++;
  double N = (double)t->N;
  h->recon[e] = t->acc[ACC_RECON] / N;
  h->codebook[e] = t->acc[ACC_CODEBOOK] / N;
  h->commitment[e] = t->acc[ACC_COMMIT] / N;
  h->kl[e] = t->acc[ACC_KL] / N;
  h->loss[e] = h->recon[e] + h->codebook[e] + h->commitment[e] + h->kl[e];
  h->seconds[e] = seconds;
  h->perplexity[e] = 0.0;
  h->used_codes[e] = 0;
  if (t->is_vq) {
    /* Perplexity over the whole epoch's assignments, averaged over the groups. */
    for (int64_t g = 0; g < t->G; g++) {
      double ent = 0.0;
      for (int64_t k = 0; k < t->K; k++) {
        double p = t->usage[g * t->K + k] / N;
        if (p > 0) ent -= p * log(p);
        h->used_codes[e] += t->usage[g * t->K + k] > 0;
      }
      h->perplexity[e] += exp(ent) / (double)t->G;
    }
  }
  char etas[32];
  snprintf(etas, sizeof etas, eta >= 60 ? "%.1f min" : "%.0f s", eta >= 60 ? eta / 60 : eta);
  if (t->is_vq)
    ovq_log(OVQ_LOG_INFO,
            "epoch %lld/%lld  loss %.5f  recon %.5f  codebook %.5f  commit %.5f  perplexity %.1f  "
            "used codes %lld/%lld  %.0f samples/s  ETA %s",
            (long long)e + 1, (long long)t->cfg->epochs, h->loss[e], h->recon[e], h->codebook[e],
            h->commitment[e], h->perplexity[e], (long long)h->used_codes[e],
            (long long)(t->G * t->K), samples_per_s, etas);
  else if (t->is_vae)
    ovq_log(OVQ_LOG_INFO, "epoch %lld/%lld  loss %.5f  recon %.5f  kl %.5f  %.0f samples/s  ETA %s",
            (long long)e + 1, (long long)t->cfg->epochs, h->loss[e], h->recon[e], h->kl[e],
            samples_per_s, etas);
  else
    ovq_log(OVQ_LOG_INFO, "epoch %lld/%lld  loss %.5f  %.0f samples/s  ETA %s", (long long)e + 1,
            (long long)t->cfg->epochs, h->loss[e], samples_per_s, etas);
  if (t->is_vq && t->cfg->dead_code_threshold > 0 && t->cfg->dead_code_every == 0) {
    /* Keyed by the epoch just finished (>= 1); key 0 is the initialisation from data. */
    int64_t n = restart_codes(t, t->usage, t->cfg->dead_code_threshold, (uint64_t)t->pos[P_EPOCH]);
    if (n) ovq_log(OVQ_LOG_INFO, "restarted %lld dead codes", (long long)n);
  }
  if (t->restarted)
    ovq_log(OVQ_LOG_INFO, "restarted %lld dead codes during the epoch (every %lld steps)",
            (long long)t->restarted, (long long)t->cfg->dead_code_every);
  t->restarted = 0;
  memset(t->acc, 0, sizeof t->acc);
  if (t->is_vq) memset(t->usage, 0, sizeof(double) * (size_t)(t->G * t->K));
}

/* ---- the loop --------------------------------------------------------------------------------- */

static void history_alloc(OvqHistory *h, int64_t epochs) {
  memset(h, 0, sizeof *h);
  size_t n = (size_t)(epochs > 0 ? epochs : 1);
  h->loss = OVQ_CALLOC(n, sizeof(double));
  h->recon = OVQ_CALLOC(n, sizeof(double));
  h->codebook = OVQ_CALLOC(n, sizeof(double));
  h->commitment = OVQ_CALLOC(n, sizeof(double));
  h->kl = OVQ_CALLOC(n, sizeof(double));
  h->perplexity = OVQ_CALLOC(n, sizeof(double));
  h->seconds = OVQ_CALLOC(n, sizeof(double));
  h->used_codes = OVQ_CALLOC(n, sizeof(int64_t));
}

void ovq_history_free(OvqHistory *h) {
  if (!h) return;
  free(h->loss);
  free(h->recon);
  free(h->codebook);
  free(h->commitment);
  free(h->kl);
  free(h->perplexity);
  free(h->seconds);
  free(h->used_codes);
  memset(h, 0, sizeof *h);
}

static void trainer_free(Trainer *t) {
  free(t->adam_m);
  free(t->adam_v);
  free(t->ema_n);
  free(t->ema_m);
  free(t->usage);
  free(t->window);
  free(t->perm);
  free(t->xb);
  free(t->xb_global);
  free(t->seg);
  ovq_matrix_free(&t->aligned);
  ovq_fixed_free(&t->gsum);
  ovq_fixed_free(&t->xsum);
}

static OvqStatus run(Trainer *t, OvqTrainOutcome *outcome) {
  const OvqTrainConfig *c = t->cfg;
  double t_start = ovq_time();
  int64_t samples_done = 0;
  *outcome = OVQ_TRAIN_DONE;
  while (t->pos[P_EPOCH] < c->epochs) {
    double t_epoch = ovq_time();
    epoch_order(t, t->pos[P_EPOCH]);
    while (t->pos[P_STEP] < t->steps_per_epoch) {
      int stop = 0;
      int64_t bsz = t->N - t->pos[P_STEP] * t->B < t->B ? t->N - t->pos[P_STEP] * t->B : t->B;
      if (step(t, &stop) != OVQ_OK) return OVQ_ERR;
      t->pos[P_STEP]++;
      samples_done += bsz;
      if (t->is_vq && c->dead_code_threshold > 0 && c->dead_code_every > 0 &&
          t->pos[P_T] % c->dead_code_every == 0) {
        /* Keys above every epoch key (epochs < 2^40) and the initialisation's (0). */
        int64_t n = restart_codes(t, t->window, c->dead_code_threshold,
                                  ((uint64_t)1 << 40) + (uint64_t)t->pos[P_T]);
        t->restarted += n;
        memset(t->window, 0, sizeof(double) * (size_t)(t->G * t->K));
      }
      if (c->check_replicas_every > 0 && t->pos[P_T] % c->check_replicas_every == 0)
        check_replicas(t);
      if (stop) {
        *outcome = OVQ_TRAIN_INTERRUPTED;
        ovq_log(OVQ_LOG_WARN, "signal received: stopping at epoch %lld, step %lld%s",
                (long long)t->pos[P_EPOCH] + 1, (long long)t->pos[P_STEP],
                c->checkpoint && c->checkpoint[0] ? "; writing a checkpoint to resume from"
                                                  : " (no checkpoint path set)");
        return save(t);
      }
    }
    /* The log shows this epoch's rate; the ETA uses the average since the start. */
    double now = ovq_time(), secs = now - t_epoch, el = now - t_start;
    double avg = (double)samples_done / (el > 0 ? el : 1e-9);
    double left = (double)(c->epochs - t->pos[P_EPOCH] - 1) * (double)t->N / (avg > 0 ? avg : 1);
    t->pos[P_EPOCH]++;
    t->pos[P_STEP] = 0;
    end_epoch(t, secs, (double)t->N / (secs > 0 ? secs : 1e-9), left);
    if (check_state(t) != OVQ_OK) return OVQ_ERR;
    int last = t->pos[P_EPOCH] == c->epochs;
    if (last || (c->checkpoint_every > 0 && t->pos[P_EPOCH] % c->checkpoint_every == 0))
      if (save(t) != OVQ_OK) return OVQ_ERR;
  }
  return OVQ_OK;
}

OvqStatus ovq_train(OvqModel *m, const OvqTrainConfig *cfg, const OvqMatrix *data,
                    double data_var, MPI_Comm comm, OvqHistory *hist, OvqTrainOutcome *outcome) {
  Trainer t;
  memset(&t, 0, sizeof t);
  t.m = m;
  t.cfg = cfg;
  t.adam = cfg->adam;
  t.data = data;
  t.comm = comm;
  t.data_var = data_var > 0 ? data_var : 1.0;
  t.N = data->n_total;
  t.F = data->n_cols;
  t.B = cfg->batch < t.N ? cfg->batch : t.N;
  t.D = m->spec.latent;
  t.is_vq = m->spec.type == OVQ_MODEL_VQVAE;
  t.is_vae = m->spec.type == OVQ_MODEL_VAE;
  t.ema = t.is_vq && m->spec.ema;
  t.G = t.is_vq ? m->spec.groups : 1;
  t.K = t.is_vq ? m->spec.codebook_size : 0;
  t.d = t.D / t.G;
  t.steps_per_epoch = (t.N + t.B - 1) / t.B;
  if (t.F != m->spec.n_in)
    OVQ_ABORT("data has %lld features, the model %lld", (long long)t.F, (long long)m->spec.n_in);
  if (m->grad_extra < ovq_train_grad_extra(&m->spec) || m->max_batch < t.B)
    OVQ_ABORT("model created with too small buffers for this trainer");
  if (cfg->cosine) t.adam.total_steps = cfg->epochs * t.steps_per_epoch;
  t.n_adam = t.ema ? m->codebook : m->n_params;
  t.adam_m = OVQ_CALLOC((size_t)t.n_adam, sizeof(float));
  t.seg = OVQ_MALLOC(sizeof(OvqRange) * (size_t)(m->enc.ops[0].out + 5));
  t.seg[0] = (OvqRange){0, t.n_adam};
  t.n_seg = 1;
  t.adam_v = OVQ_CALLOC((size_t)t.n_adam, sizeof(float));
  if (t.is_vq) t.usage = OVQ_CALLOC((size_t)(t.G * t.K), sizeof(double));
  if (t.is_vq) t.window = OVQ_CALLOC((size_t)(t.G * t.K), sizeof(double));
  if (t.ema) {
    /* Start the EMA as if each code had been chosen once at its initial value, so e = m / n
     * begins at the initial codebook instead of dividing by a near-zero size. */
    t.ema_n = OVQ_MALLOC(sizeof(double) * (size_t)(t.G * t.K));
    for (int64_t k = 0; k < t.G * t.K; k++) t.ema_n[k] = 1.0;
    t.ema_m = OVQ_MALLOC(sizeof(float) * (size_t)(t.K * t.D));
    memcpy(t.ema_m, m->params + m->codebook, sizeof(float) * (size_t)(t.K * t.D));
  }
  t.perm = OVQ_MALLOC(sizeof(int64_t) * (size_t)(t.N > 0 ? t.N : 1));
  t.xb = OVQ_MALLOC(sizeof(float) * (size_t)(t.B * t.F));
  t.xb_global = OVQ_MALLOC(sizeof(int64_t) * (size_t)t.B);
  history_alloc(hist, cfg->epochs);
  t.hist = hist;

  OvqStatus st = OVQ_OK;
  t.gbound = 1e-30; /* no bound yet: the first step measures one */
  if (cfg->reproducible) {
    int size;
    OVQ_MPI_CHECK(MPI_Comm_size(comm, &size));
    t.repro = 1;
    t.V = cfg->repro_workers;
    if (size > t.V || t.V > t.N)
      st = ovq_error("train.reproducible: %d ranks and %lld samples need train.repro_workers "
                     "between the rank count and the sample count (it is %lld)", size,
                     (long long)t.N, (long long)t.V);
    if (st == OVQ_OK) {
      OvqRange rows = hosted_rows(t.N, t.V, comm, &t.workers);
      ovq_matrix_alloc(&t.aligned, t.N, rows.start, rows.count, t.F);
      redistribute(data->x, data->row_start, data->n_local, t.aligned.x, rows.start, rows.count,
                   t.F * (int64_t)sizeof(float), comm);
      t.data = &t.aligned;
      ovq_fixed_init(&t.gsum, m->n_params, 1.0);
      /* Statistics: losses O(1), counts <= batch, EMA sums <= batch * |z|: 2^32 is ample. */
      ovq_fixed_init(&t.xsum, m->grad_extra, 4294967296.0);
    }
  }
  if (st == OVQ_OK && !cfg->reproducible && cfg->node_ranks > 0) {
    int size;
    OVQ_MPI_CHECK(MPI_Comm_size(comm, &size));
    if (size % cfg->node_ranks != 0)
      st = ovq_error("train.node_ranks = %lld does not divide the %d ranks",
                     (long long)cfg->node_ranks, size);
  }
  if (st == OVQ_OK && cfg->resume) {
    if (!cfg->checkpoint || !cfg->checkpoint[0])
      st = ovq_error("--resume needs a checkpoint path (train.checkpoint)");
    else
      st = restore(&t);
  }
  /* A checkpoint directory that cannot be written is found now, not after the first epochs. */
  if (st == OVQ_OK && cfg->checkpoint && cfg->checkpoint[0])
    st = ovq_ckpt_check_writable(cfg->checkpoint, comm);
  if (st == OVQ_OK && !cfg->resume && t.is_vq && cfg->codebook_from_data) {
    /* Every code starts at the encoder output of a sample drawn by global index (usage is all
     * zero here, so every code is below the threshold). */
    restart_codes(&t, t.usage, INFINITY, 0);
    ovq_log(OVQ_LOG_DEBUG, "codebook initialised from %lld encoder outputs",
            (long long)(t.G * t.K));
  }
  ovq_stop_catch();
  /* After any restore or initialisation, which write the model's own buffers. */
  if (st == OVQ_OK && !t.repro) shm_setup(&t);
  if (st == OVQ_OK) st = run(&t, outcome);
  shm_teardown(&t);
  trainer_free(&t);
  return st;
}

/* The variance of the values in columns [c0, c1) of x, with order-independent sums (fixedsum.h):
 * the same value at any number of ranks. Collective. */
static double variance_cols(const OvqMatrix *x, int64_t c0, int64_t c1, MPI_Comm comm) {
  const int64_t F = x->n_cols, w = c1 - c0, total = x->n_total * w;
  double vmax = 0.0;
  for (int64_t i = 0; i < x->n_local; i++)
    for (int64_t j = c0; j < c1; j++) vmax = fmax(vmax, fabs(x->x[i * F + j]));
  OvqFixedSum s;
  ovq_fixed_init(&s, 1, ovq_fixed_bound(vmax, total, comm));
  for (int64_t i = 0; i < x->n_local; i++)
    for (int64_t j = c0; j < c1; j++) ovq_fixed_add(&s, 0, x->x[i * F + j]);
  double sum;
  ovq_fixed_allreduce(&s, comm, &sum);
  ovq_fixed_free(&s);
  double mean = total > 0 ? sum / (double)total : 0.0, dmax = 0.0;
  for (int64_t i = 0; i < x->n_local; i++)
    for (int64_t j = c0; j < c1; j++) {
      double d = x->x[i * F + j] - mean;
      dmax = fmax(dmax, d * d);
    }
  ovq_fixed_init(&s, 1, ovq_fixed_bound(dmax, total, comm));
  for (int64_t i = 0; i < x->n_local; i++)
    for (int64_t j = c0; j < c1; j++) {
      double d = x->x[i * F + j] - mean;
      ovq_fixed_add(&s, 0, d * d);
    }
  double ss;
  ovq_fixed_allreduce(&s, comm, &ss);
  ovq_fixed_free(&s);
  return total > 0 ? ss / (double)total : 0.0;
}

double ovq_matrix_variance(const OvqMatrix *x, MPI_Comm comm) {
  return variance_cols(x, 0, x->n_cols, comm);
}

void ovq_omic_recon_weights(const OvqMatrix *x, int64_t n_first, double data_var, MPI_Comm comm,
                            double *w) {
  const int64_t F = x->n_cols, edge[3] = {0, n_first < 0 ? 0 : n_first > F ? F : n_first, F};
  const double var = data_var;
  double vb[2];
  int nb = 0;
  for (int b = 0; b < 2; b++) {
    vb[b] = variance_cols(x, edge[b], edge[b + 1], comm);
    nb += edge[b + 1] > edge[b];
  }
  for (int b = 0; b < 2; b++)
    for (int64_t f = edge[b]; f < edge[b + 1]; f++)
      /* A constant block (variance 0) keeps the plain weight: nothing to balance. */
      w[f] = nb > 1 && vb[b] > 0.0 && var > 0.0
                 ? (double)F * var / ((double)nb * (double)(edge[b + 1] - edge[b]) * vb[b])
                 : 1.0;
}

void ovq_train_balance_omics(OvqModel *m, const OvqMatrix *x, int64_t n_first, double data_var,
                             MPI_Comm comm) {
  double *w = OVQ_MALLOC(sizeof(double) * (size_t)(x->n_cols + 1));
  ovq_omic_recon_weights(x, n_first, data_var, comm, w);
  /* The weights are valid by construction: a failure is out of memory, on one rank. */
  if (ovq_model_set_recon_weights(m, w))
    OVQ_ABORT("out of memory for %lld reconstruction weights", (long long)x->n_cols);
  free(w);
}

void ovq_model_embed(OvqModel *m, const OvqMatrix *data, float *out, float *zq, int32_t *codes) {
  const int64_t D = m->spec.latent, G = m->spec.type == OVQ_MODEL_VQVAE ? m->spec.groups : 1;
  for (int64_t i = 0; i < data->n_local; i += m->max_batch) {
    int64_t nb = data->n_local - i < m->max_batch ? data->n_local - i : m->max_batch;
    ovq_model_encode(m, data->x + i * data->n_cols, nb, out + i * D, zq ? zq + i * D : NULL,
                     codes ? codes + i * G : NULL);
  }
}

void ovq_model_embed_repro(OvqModel *m, const OvqMatrix *data, int64_t V, MPI_Comm comm,
                           float *out, float *zq, int32_t *codes) {
  const int64_t D = m->spec.latent, G = m->spec.type == OVQ_MODEL_VQVAE ? m->spec.groups : 1;
  const int64_t N = data->n_total, F = data->n_cols;
  OvqRange workers, rows = hosted_rows(N, V, comm, &workers);
  OvqMatrix a;
  ovq_matrix_alloc(&a, N, rows.start, rows.count, F);
  redistribute(data->x, data->row_start, data->n_local, a.x, rows.start, rows.count,
               F * (int64_t)sizeof(float), comm);
  float *ao = OVQ_MALLOC(sizeof(float) * (size_t)(rows.count * D + 1));
  float *az = zq ? OVQ_MALLOC(sizeof(float) * (size_t)(rows.count * D + 1)) : NULL;
  int32_t *ac = codes ? OVQ_MALLOC(sizeof(int32_t) * (size_t)(rows.count * G + 1)) : NULL;
  /* Each worker's rows in batches from the worker's first row: the same GEMM shapes on the same
   * rows at any rank count. */
  for (int64_t w = workers.start; w < workers.start + workers.count; w++) {
    OvqRange b = ovq_partition_block(N, (int)V, (int)w);
    OvqMatrix view = {N, b.start, b.count, F, a.x + (b.start - rows.start) * F};
    int64_t off = b.start - rows.start;
    ovq_model_embed(m, &view, ao + off * D, az ? az + off * D : NULL, ac ? ac + off * G : NULL);
  }
  redistribute(ao, rows.start, rows.count, out, data->row_start, data->n_local,
               D * (int64_t)sizeof(float), comm);
  if (zq)
    redistribute(az, rows.start, rows.count, zq, data->row_start, data->n_local,
                 D * (int64_t)sizeof(float), comm);
  if (codes)
    redistribute(ac, rows.start, rows.count, codes, data->row_start, data->n_local,
                 G * (int64_t)sizeof(int32_t), comm);
  free(ao);
  free(az);
  free(ac);
  ovq_matrix_free(&a);
}

void ovq_latents_compute(OvqModel *m, const OvqMatrix *x, int64_t repro_workers, MPI_Comm comm,
                         OvqLatents *out) {
  int vq = m->spec.type == OVQ_MODEL_VQVAE;
  out->n_local = x->n_local;
  out->D = m->spec.latent;
  out->G = vq ? m->spec.groups : 1;
  out->z = OVQ_MALLOC(sizeof(float) * (size_t)(x->n_local * out->D + 1));
  out->zq = vq ? OVQ_MALLOC(sizeof(float) * (size_t)(x->n_local * out->D + 1)) : NULL;
  out->codes = vq ? OVQ_MALLOC(sizeof(int32_t) * (size_t)(x->n_local * out->G + 1)) : NULL;
  if (repro_workers > 0)
    ovq_model_embed_repro(m, x, repro_workers, comm, out->z, out->zq, out->codes);
  else
    ovq_model_embed(m, x, out->z, out->zq, out->codes);
}

void ovq_latents_free(OvqLatents *l) {
  if (!l) return;
  free(l->z);
  free(l->zq);
  free(l->codes);
  memset(l, 0, sizeof *l);
}
