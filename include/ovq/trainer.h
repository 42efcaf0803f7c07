/* Data-parallel training of an OvqModel over MPI ranks (DESIGN.md, "Parallel layout").
 *
 * Every rank holds the whole model and optimiser state and its row block of the data. Each epoch
 * the global sample order is a permutation drawn from the counter RNG keyed by (seed, epoch); a
 * step takes the next `batch` samples of that order, each rank computes the gradient of the
 * samples it holds, and ONE in-place MPI_Allreduce of the flat gradient slab (with the loss terms,
 * code counts and EMA sums appended) gives every rank the same update, so the replicas never
 * drift. Within a host the work is split by features instead of samples: rank r of the host
 * takes columns f_r of the first encoder layer and rows f_r of the last decoder layer for all of
 * the host's samples of the batch (the two wide layers hold ~97 % of the parameters and FLOPs) and
 * every rank runs the narrow middle; two [batch][h1] partial sums per step go through MPI-3 shared
 * memory, where the host's one copy of the parameters also lives, and each rank's Adam updates its
 * own columns / rows and a block of the middle. On one host no gradient moves; with several hosts
 * (all with the same number of ranks) each rank allreduces just its own pieces (1/ranks-per-host
 * of the slab) with the ranks holding the same pieces on the other hosts, and the hosts share the
 * batch by the samples they hold (model.h, ovq_model_split_*). Dead codes are restarted from the
 * encoder outputs of samples chosen by global index.
 *
 * Reproducible mode (train.reproducible): the samples form V fixed virtual workers whose
 * gradients are computed independently and summed in 64-bit fixed point, so weights are
 * bit-identical for any number of ranks up to V; it costs the per-worker conversions and a
 * twice larger allreduce.
 *
 * Checkpoints (HDF5, written by rank 0 under a temporary name and renamed) hold everything a
 * resumed run needs to end bit-identical to an uninterrupted one: parameters, Adam moments, EMA
 * state, the position (epoch, step) and the history so far. SIGTERM and SIGUSR1 (what SLURM sends
 * before a time limit; see stop.h) make every rank stop at the same step and write a checkpoint;
 * the caller clears the request (ovq_stop_clear) once it has acted on it.
 * A non-finite loss or gradient stops training with a message naming the epoch and the term; the
 * last checkpoint is kept. */
#ifndef OVQ_TRAINER_H
#define OVQ_TRAINER_H

#include <mpi.h>
#include <stdint.h>

#include "ovq/adam.h"
#include "ovq/config.h"
#include "ovq/error.h"
#include "ovq/matrix.h"
#include "ovq/model.h"

typedef struct OvqTrainConfig {
  int64_t epochs;
  int64_t batch; /* global minibatch */
  uint64_t seed;
  OvqAdamConfig adam; /* total_steps is filled in by the trainer when the schedule is cosine */
  int cosine;         /* warm-up + cosine schedule over the whole run */
  /* VQ-VAE */
  double ema_decay, ema_eps;   /* EMA codebook (model spec.ema) */
  double dead_code_threshold;  /* restart codes used by fewer samples than this (0 = off) ... */
  int64_t dead_code_every;     /* ... over each dead_code_every steps (0: over each epoch) */
  int codebook_from_data;      /* start the codes at encoder outputs of random samples */
  /* Checkpoints */
  const char *checkpoint;      /* path ("" = none) */
  int64_t checkpoint_every;    /* epochs (0 = only at the end and on signals) */
  int resume;                  /* continue from the checkpoint */
  int64_t check_replicas_every; /* steps between parameter-hash comparisons (0 = off) */
  /* Reproducible mode: results bit-identical at any rank count up to repro_workers (see
   * trainer.c, reduce_repro). */
  int reproducible;
  int64_t repro_workers;
  /* Default mode: ranks per feature-split group (0 = the ranks of each host; see above). */
  int64_t node_ranks;
} OvqTrainConfig;

/* Per-epoch history (rank 0 and every other rank hold the same values). */
typedef struct OvqHistory {
  int64_t n; /* epochs recorded */
  double *loss, *recon, *codebook, *commitment, *kl, *perplexity, *seconds;
  int64_t *used_codes;
} OvqHistory;

/* Outcome of ovq_train besides success. */
typedef enum { OVQ_TRAIN_DONE = 0, OVQ_TRAIN_INTERRUPTED = 1 } OvqTrainOutcome;

/* Collective on comm. Trains m (parameters already initialised identically on every rank, or
 * restored from the checkpoint when cfg->resume) on data (rank r's row block; n_cols = F).
 * data_var is the variance of the whole data (the reconstruction normaliser). Fills *hist (free
 * with ovq_history_free) and *outcome. Returns OVQ_ERR everywhere with a message on divergence
 * (non-finite loss or gradient), an unreadable or mismatched checkpoint, or an unwritable
 * checkpoint path. */
OvqStatus ovq_train(OvqModel *m, const OvqTrainConfig *cfg, const OvqMatrix *data,
                    double data_var, MPI_Comm comm, OvqHistory *hist, OvqTrainOutcome *outcome);

void ovq_history_free(OvqHistory *h);

/* Local. The model of the [model] settings for n_in input features; OVQ_ERR with a message
 * naming the setting when they do not make a model (e.g. model.groups not dividing latent). */
OvqStatus ovq_model_spec_from_config(const OvqConfig *c, int64_t n_in, OvqModelSpec *s);

/* Local. The [train] settings as a trainer configuration (checkpoint points into c). */
void ovq_train_config_from_config(const OvqConfig *c, OvqTrainConfig *t);

/* Gradient-slab slots the trainer appends to the model's gradients (pass to ovq_model_create). */
int64_t ovq_train_grad_extra(const OvqModelSpec *s);

/* Collective on comm. The variance of all values of a distributed matrix (the paper's
 * train_variance = np.var(x_train)). */
double ovq_matrix_variance(const OvqMatrix *x, MPI_Comm comm);

/* Collective on comm. Weights of the features in the reconstruction term
 * (ovq_model_set_recon_weights) that make each omic count the same (model.recon_balance =
 * omics): with the matrix's columns [0, n_first) one omic and [n_first, F) the other,
 * w [F] = F var / (n_b F_b var_b) for the features of block b, where var = data_var is the
 * variance of the whole matrix (ovq_matrix_variance, the recon normaliser), F_b and var_b the
 * block's width and variance, and n_b the number of non-empty blocks. The recon term then is the
 * mean over the omics of each one's mean squared error relative to its own variance; with one
 * omic every weight is 1. The same values at any number of ranks. */
void ovq_omic_recon_weights(const OvqMatrix *x, int64_t n_first, double data_var, MPI_Comm comm,
                            double *w);

/* Collective on comm. model.recon_balance = omics: gives m the weights of
 * ovq_omic_recon_weights. Aborts every rank when out of memory. */
void ovq_train_balance_omics(OvqModel *m, const OvqMatrix *x, int64_t n_first, double data_var,
                             MPI_Comm comm);

/* Local. Latent features of every local row: out [n_local][D] and, for the VQ-VAE,
 * zq [n_local][D] and codes [n_local][G] (either may be NULL). Rows are encoded in batches. */
void ovq_model_embed(OvqModel *m, const OvqMatrix *data, float *out, float *zq, int32_t *codes);

/* Collective on comm. The same, for reproducible mode: rows are encoded by the V virtual workers
 * of the trainer in batches that start at each worker's first row, so every row goes through the
 * same GEMM shapes at any rank count (BLAS results may depend on the batch shape) and the
 * latents are bit-identical; outputs land in data's row layout. */
void ovq_model_embed_repro(OvqModel *m, const OvqMatrix *data, int64_t V, MPI_Comm comm,
                           float *out, float *zq, int32_t *codes);

/* The latent features of a model for this rank's rows. */
typedef struct OvqLatents {
  int64_t n_local, D, G;
  float *z;       /* [n_local][D]: z_e (VQ-VAE), the code (AE), the mean (VAE); owned */
  float *zq;      /* [n_local][D] quantised vectors (VQ-VAE), else NULL; owned */
  int32_t *codes; /* [n_local][G] code indices (VQ-VAE), else NULL; owned */
} OvqLatents;

/* Collective on comm when repro_workers > 0 (ovq_model_embed_repro, bit-identical at any rank
 * count), Local otherwise (ovq_model_embed). Allocates out; free with ovq_latents_free. */
void ovq_latents_compute(OvqModel *m, const OvqMatrix *x, int64_t repro_workers, MPI_Comm comm,
                         OvqLatents *out);
void ovq_latents_free(OvqLatents *l);

#endif
