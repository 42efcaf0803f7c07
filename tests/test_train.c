/* MPI test of the data-parallel trainer, run at 4 ranks (and 2): the same training on
 * sub-communicators of 1, 2 and 4 ranks gives the same parameters to 1e-5; an interrupted run
 * (SIGUSR1 to one rank only, at a random moment) writes a checkpoint, and resuming from it ends
 * bit-identical to an uninterrupted run; a diverging run stops with a message naming the epoch
 * and term; the omic-balance weights of the reconstruction term are the same at any rank count and
 * as computed here, and training with them agrees across rank counts and layouts.
 * argv[1] = scratch directory. */
#include <math.h>
#include <mpi.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "ovq/partition.h"
#include "ovq/rng.h"
#include "ovq/stop.h"
#include "ovq/trainer.h"

enum { N = 150, F = 40 };
/* Columns [0, kFirst) are one "omic", the rest the other (on a smaller scale). */
enum { kFirst = 28 };

/* Data: two groups of samples with different means, values keyed by global row. */
static void make_data(OvqMatrix *x, MPI_Comm comm) {
  int rank, size;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  OvqRange b = ovq_partition_block(N, size, rank);
  ovq_matrix_alloc(x, N, b.start, b.count, F);
  for (int64_t i = 0; i < b.count; i++) {
    int64_t g = b.start + i;
    OvqRng r;
    ovq_rng_init(&r, 3, OVQ_STREAM_TEST, (uint64_t)g);
    for (int64_t j = 0; j < F; j++)
      x->x[i * F + j] = (float)((ovq_rng_normal(&r) + ((g % 3 == 0) == (j < F / 2) ? 1.0 : -1.0)) *
                                (j >= kFirst ? 0.4 : 1.0));
  }
}

static OvqModelSpec spec_of(OvqModelType type) {
  OvqModelSpec s;
  memset(&s, 0, sizeof s);
  s.type = type;
  s.n_in = F;
  s.n_hidden = 2;
  s.hidden[0] = 32;
  s.hidden[1] = 16;
  s.n_res = 1;
  s.res_width = 8;
  s.latent = 8;
  s.codebook_size = 16;
  s.groups = 2;
  s.beta = 0.25;
  s.kl_weight = 1.0;
  return s;
}

/* Ranks per feature-split group in default mode (0 = every rank of the host). */
static int64_t g_node_ranks = 0;
/* Dead-code restarts every n steps (0: at epoch ends). The rank-count comparisons restart at
 * epoch ends: a code restarted at a sample's encoder output (computed whole) and then chosen only
 * by that sample has a gradient of exactly 0 at 1 rank but of rounding size when the first
 * layer is summed from parts, and Adam's first step on it is ~lr * sign(g) either way, so frequent
 * restarts make single weights differ by ~1e-4 between layouts (6e-6 in norm). */
static int64_t g_dead_every = 0;

static OvqTrainConfig train_cfg(int64_t epochs, const char *ckpt) {
  OvqTrainConfig t;
  memset(&t, 0, sizeof t);
  t.epochs = epochs;
  t.batch = 32;
  t.seed = 9;
  ovq_adam_defaults(&t.adam);
  t.adam.lr = 3e-3;
  t.cosine = 1;
  t.adam.warmup_steps = 3;
  /* Clipping on (below the early gradient norms): every layout must form the same global norm. */
  t.adam.clip_norm = 0.2;
  t.ema_decay = 0.99;
  t.ema_eps = 1e-5;
  t.dead_code_threshold = 1.0;
  t.dead_code_every = g_dead_every; /* 3 in the resume test: windows straddle epochs */
  t.checkpoint = ckpt;
  t.check_replicas_every = 1;
  t.node_ranks = g_node_ranks;
  return t;
}

/* Train with ovq_train_balance_omics (model.recon_balance = omics). */
static int g_weighted = 0;

/* Latents of the last trained model, gathered on rank 0 of its communicator ([N][D]). */
static float *g_latents = NULL;

/* Trains on comm and returns the parameters (caller frees) and status. */
static float *train(MPI_Comm comm, OvqModelSpec spec, OvqTrainConfig tc, OvqStatus *st,
                    OvqTrainOutcome *outcome, int64_t *n_params) {
  OvqMatrix x;
  make_data(&x, comm);
  OvqModel m;
  char msg[128];
  if (ovq_model_create(&m, &spec, tc.batch, ovq_train_grad_extra(&spec), msg, sizeof msg) != 0)
    OVQ_ABORT("%s", msg);
  ovq_model_init_params(&m, 4);
  const double var = ovq_matrix_variance(&x, comm);
  if (g_weighted) ovq_train_balance_omics(&m, &x, kFirst, var, comm);
  OvqHistory h;
  *st = ovq_train(&m, &tc, &x, var, comm, &h, outcome);
  float *p = malloc(sizeof(float) * (size_t)m.n_params);
  memcpy(p, m.params, sizeof(float) * (size_t)m.n_params);
  /* Latent features of every sample, gathered in global order. */
  int rank, size;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  const int64_t D = spec.latent;
  float *lat = malloc(sizeof(float) * (size_t)(x.n_local * D + 1));
  if (tc.reproducible)
    ovq_model_embed_repro(&m, &x, tc.repro_workers, comm, lat, NULL, NULL);
  else
    ovq_model_embed(&m, &x, lat, NULL, NULL);
  int counts[64], displs[64];
  for (int r = 0; r < size; r++) {
    OvqRange b = ovq_partition_block(N, size, r);
    counts[r] = (int)(b.count * D);
    displs[r] = (int)(b.start * D);
  }
  free(g_latents);
  g_latents = rank == 0 ? malloc(sizeof(float) * N * D) : NULL;
  MPI_Gatherv(lat, (int)(x.n_local * D), MPI_FLOAT, g_latents, counts, displs, MPI_FLOAT, 0, comm);
  free(lat);
  *n_params = m.n_params;
  ovq_history_free(&h);
  ovq_model_destroy(&m);
  ovq_matrix_free(&x);
  return p;
}

static double max_rel(const float *a, const float *b, int64_t n) {
  double scale = 0, d = 0;
  for (int64_t k = 0; k < n; k++) scale = fmax(scale, fabs(a[k]));
  for (int64_t k = 0; k < n; k++) d = fmax(d, fabs((double)a[k] - b[k]));
  return d / (scale > 0 ? scale : 1);
}

/* ||a - b|| / ||a||. */
static double rel_l2(const float *a, const float *b, int64_t n) {
  double num = 0, den = 0;
  for (int64_t k = 0; k < n; k++) {
    num += ((double)a[k] - b[k]) * ((double)a[k] - b[k]);
    den += (double)a[k] * a[k];
  }
  return sqrt(num / (den > 0 ? den : 1));
}

/* node_ranks > 0: default mode in groups of that many ranks, data-parallel between the groups
 * (what several hosts do), at the rank counts it divides. */
static void check_rank_counts(OvqModelType type, int ema, int repro, int data_init,
                              int node_ranks, const char *name) {
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  OvqModelSpec spec = spec_of(type);
  spec.ema = ema;
  float *ref = NULL, *ref_lat = NULL;
  int64_t np = 0;
  OvqTrainConfig tc = train_cfg(3, "");
  tc.reproducible = repro;
  tc.repro_workers = 8;
  tc.codebook_from_data = data_init;
  /* With codes from data, more codes (2 x 24) than the batch (32): the restart encodes the
   * chosen samples in two batches on rank 0, whose composition must not depend on the ranks. */
  if (data_init) spec.codebook_size = 24;
  for (int p = 1; p <= size; p *= 2) {
    MPI_Comm sub;
    MPI_Comm_split(MPI_COMM_WORLD, rank < p ? 0 : MPI_UNDEFINED, rank, &sub);
    if (sub == MPI_COMM_NULL) continue;
    tc.node_ranks = node_ranks > 0 && p % node_ranks == 0 ? node_ranks : 0;
    OvqStatus st;
    OvqTrainOutcome out;
    float *w = train(sub, spec, tc, &st, &out, &np);
    CHECK_MSG(st == OVQ_OK, "%s", ovq_error_message());
    if (rank == 0) {
      if (!ref) {
        ref = w;
        w = NULL;
        ref_lat = g_latents;
        g_latents = NULL;
      } else if (repro) {
        int same_w = memcmp(ref, w, sizeof(float) * (size_t)np) == 0;
        int same_z = memcmp(ref_lat, g_latents, sizeof(float) * N * (size_t)spec.latent) == 0;
        printf("  %-14s 1 rank vs %d ranks: weights %s, latents %s\n", name, p,
               same_w ? "bit-identical" : "DIFFER", same_z ? "bit-identical" : "DIFFER");
        CHECK_MSG(same_w && same_z, "%s: %d ranks not bit-identical to 1 rank", name, p);
      } else {
        double d = max_rel(ref, w, np), dn = rel_l2(ref, w, np);
        printf("  %-14s 1 rank vs %d ranks: largest parameter difference %.2e (relative to max), "
               "%.2e in norm\n", name, p, d, dn);
        CHECK_MSG(d < 1e-5, "%s: %d ranks differ from 1 rank by %.3e", name, p, d);
      }
    }
    free(w);
    MPI_Comm_free(&sub);
  }
  free(ref);
  free(ref_lat);
}

static void check_resume(const char *dir) {
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  char ckpt_a[1024], ckpt_b[1024];
  snprintf(ckpt_a, sizeof ckpt_a, "%s/train_full_np%d_g%lld.ckpt", dir, size,
           (long long)g_node_ranks);
  snprintf(ckpt_b, sizeof ckpt_b, "%s/train_cut_np%d_g%lld.ckpt", dir, size,
           (long long)g_node_ranks);
  OvqModelSpec spec = spec_of(OVQ_MODEL_VQVAE);
  const int64_t epochs = 200;
  OvqStatus st;
  OvqTrainOutcome out;
  int64_t np;
  double t0 = MPI_Wtime();
  float *full = train(MPI_COMM_WORLD, spec, train_cfg(epochs, ckpt_a), &st, &out, &np);
  double took = MPI_Wtime() - t0;
  CHECK(st == OVQ_OK && out == OVQ_TRAIN_DONE);

  /* Interrupt: SIGUSR1 to the last rank only, 20-60 % into a run as long as the one just timed,
   * so the stop lands at a different step from run to run. Oversubscribed ranks run at uneven
   * speed, so a run that ends before the signal is retried with a shorter delay. The handler
   * stays installed between runs, so a late signal only sets the flag, cleared after each run. */
  double delay = took * (0.2 + 0.4 * (double)(time(NULL) % 7) / 7.0);
  MPI_Bcast(&delay, 1, MPI_DOUBLE, 0, MPI_COMM_WORLD);
  int interrupted = 0;
  float *cut = NULL;
  ovq_stop_catch();
  for (int attempt = 0; attempt < 6 && !interrupted; attempt++, delay /= 4) {
    timer_t timer;
    if (rank == size - 1) {
      struct sigevent sev;
      memset(&sev, 0, sizeof sev);
      sev.sigev_notify = SIGEV_SIGNAL;
      sev.sigev_signo = SIGUSR1;
      timer_create(CLOCK_MONOTONIC, &sev, &timer);
      struct itimerspec its;
      memset(&its, 0, sizeof its);
      its.it_value.tv_sec = (time_t)delay;
      its.it_value.tv_nsec = (long)((delay - (double)(time_t)delay) * 1e9) + 1;
      timer_settime(timer, 0, &its, NULL);
    }
    free(cut);
    cut = train(MPI_COMM_WORLD, spec, train_cfg(epochs, ckpt_b), &st, &out, &np);
    if (rank == size - 1) timer_delete(timer);
    CHECK_MSG(st == OVQ_OK, "%s", ovq_error_message());
    interrupted = out == OVQ_TRAIN_INTERRUPTED;
    ovq_stop_clear();
    if (rank == 0)
      printf("  uninterrupted run %.2f s; signal after %.3f s: %s\n", took, delay,
             interrupted ? "interrupted" : "ran to the end, retrying sooner");
  }
  CHECK_MSG(interrupted, "no run was interrupted");
  OvqTrainConfig tc = train_cfg(epochs, ckpt_b);
  tc.resume = 1;
  float *resumed = train(MPI_COMM_WORLD, spec, tc, &st, &out, &np);
  CHECK_MSG(st == OVQ_OK && out == OVQ_TRAIN_DONE, "%s", ovq_error_message());
  int same = memcmp(full, resumed, sizeof(float) * (size_t)np) == 0;
  if (rank == 0)
    printf("  resumed run vs uninterrupted: %s (largest difference %.2e)\n",
           same ? "bit-identical" : "DIFFERENT", max_rel(full, resumed, np));
  CHECK(same);
  free(full);
  free(cut);
  free(resumed);

  /* A checkpoint of another configuration is refused with a clear message. */
  tc = train_cfg(epochs + 1, ckpt_b);
  tc.resume = 1;
  free(train(MPI_COMM_WORLD, spec, tc, &st, &out, &np));
  CHECK(st == OVQ_ERR && strstr(ovq_error_message(), "different model or run configuration"));
  /* A damaged checkpoint is detected, not loaded. */
  if (rank == 0) {
    /* The middle of the file lies in the parameter and optimiser arrays. */
    FILE *f = fopen(ckpt_b, "r+b");
    fseek(f, 0, SEEK_END);
    fseek(f, ftell(f) / 2, SEEK_SET);
    fputc(0x5A, f);
    fputc(0xA5, f);
    fclose(f);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  tc = train_cfg(epochs, ckpt_b);
  tc.resume = 1;
  free(train(MPI_COMM_WORLD, spec, tc, &st, &out, &np));
  CHECK_MSG(st == OVQ_ERR && strstr(ovq_error_message(), "damaged"), "damaged checkpoint: %s",
            ovq_error_message());
  if (rank == 0) printf("  damaged checkpoint: %s\n", ovq_error_message());
}

/* ovq_omic_recon_weights on this communicator against a serial computation in double on the whole
 * matrix (made on every rank): blocks [0, kFirst) and [kFirst, F) of different variance, and the
 * one-block cases (all weights 1). */
static void check_omic_weights(MPI_Comm comm) {
  OvqMatrix x, all;
  make_data(&x, comm);
  make_data(&all, MPI_COMM_SELF);
  double mean = 0, var = 0, mb[2] = {0, 0}, vb[2] = {0, 0}, w[F];
  for (int64_t k = 0; k < N * F; k++) mean += all.x[k];
  mean /= (double)(N * F);
  for (int64_t k = 0; k < N * F; k++) var += (all.x[k] - mean) * (all.x[k] - mean);
  var /= (double)(N * F);
  for (int64_t k = 0; k < N * F; k++) mb[k % F >= kFirst] += all.x[k];
  mb[0] /= (double)(N * kFirst);
  mb[1] /= (double)(N * (F - kFirst));
  for (int64_t k = 0; k < N * F; k++) {
    int b = k % F >= kFirst;
    vb[b] += (all.x[k] - mb[b]) * (all.x[k] - mb[b]);
  }
  vb[0] /= (double)(N * kFirst);
  vb[1] /= (double)(N * (F - kFirst));
  const double data_var = ovq_matrix_variance(&x, comm);
  ovq_omic_recon_weights(&x, kFirst, data_var, comm, w);
  double worst = 0;
  for (int64_t f = 0; f < F; f++) {
    int b = f >= kFirst;
    double want = (double)F * var / (2.0 * (double)(b ? F - kFirst : kFirst) * vb[b]);
    worst = fmax(worst, fabs(w[f] - want) / want);
  }
  CHECK_MSG(worst < 1e-12, "omic weights differ from the serial values by %.3e", worst);
  CHECK_MSG(w[F - 1] > 2.0 * w[0], "the low-variance, narrow block should weigh more (%g vs %g)",
            w[F - 1], w[0]);
  for (int64_t first = 0; first <= F; first += F) {
    ovq_omic_recon_weights(&x, first, data_var, comm, w);
    int ones = 1;
    for (int64_t f = 0; f < F; f++) ones &= w[f] == 1.0;
    CHECK_MSG(ones, "one omic (n_first = %lld): weights should all be 1", (long long)first);
  }
  ovq_matrix_free(&x);
  ovq_matrix_free(&all);
}

static void check_divergence(void) {
  OvqStatus st;
  OvqTrainOutcome out;
  int64_t np;
  OvqTrainConfig tc = train_cfg(5, "");
  tc.adam.lr = 1e30;
  tc.cosine = 0;
  tc.adam.warmup_steps = 0;
  free(train(MPI_COMM_WORLD, spec_of(OVQ_MODEL_AE), tc, &st, &out, &np));
  int rank;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank == 0) printf("  diverging run: %s\n", ovq_error_message());
  CHECK(st == OVQ_ERR && strstr(ovq_error_message(), "non-finite") &&
        strstr(ovq_error_message(), "epoch"));
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  ovq_log_init(MPI_COMM_WORLD);
  ovq_log_set_level(OVQ_LOG_WARN);
  check_rank_counts(OVQ_MODEL_VQVAE, 0, 0, 0, 0, "VQ-VAE");
  check_rank_counts(OVQ_MODEL_VQVAE, 1, 0, 0, 0, "VQ-EMA");
  check_rank_counts(OVQ_MODEL_AE, 0, 0, 0, 0, "AE");
  check_rank_counts(OVQ_MODEL_VAE, 0, 0, 0, 0, "VAE");
  /* Groups of 2 ranks, data-parallel between groups (2 and 4 "hosts" at 4 and 8 ranks). */
  /* Not compared in default mode: codes started from data (model.codebook_init = data). A code
   * chosen only by the sample it started from has a gradient of exactly 0 when z_e is computed as
   * at the initialisation (1 rank, data-parallel) but of rounding size when the first layer's
   * output is summed from parts (features split), and Adam's first steps move a weight by ~lr *
   * sign(g) whatever |g| is: such codes drift by lr per step in one layout and not in the other
   * (1e-4 of the largest weight after 3 epochs here; the runs agree to rounding otherwise). */
  check_rank_counts(OVQ_MODEL_VQVAE, 0, 0, 0, 2, "VQ-VAE 2/group");
  check_rank_counts(OVQ_MODEL_VQVAE, 1, 0, 0, 2, "VQ-EMA 2/group");
  check_rank_counts(OVQ_MODEL_VAE, 0, 0, 0, 2, "VAE 2/group");
  check_rank_counts(OVQ_MODEL_VQVAE, 0, 1, 0, 0, "VQ-VAE repro");
  check_rank_counts(OVQ_MODEL_VQVAE, 1, 1, 0, 0, "VQ-EMA repro");
  check_rank_counts(OVQ_MODEL_VAE, 0, 1, 0, 0, "VAE repro");
  check_rank_counts(OVQ_MODEL_VQVAE, 0, 1, 1, 0, "VQ data-init");
  check_omic_weights(MPI_COMM_WORLD);
  g_weighted = 1;
  check_rank_counts(OVQ_MODEL_VQVAE, 0, 0, 0, 0, "VQ-VAE omics");
  check_rank_counts(OVQ_MODEL_VQVAE, 0, 0, 0, 2, "VQ-VAE omics 2/group");
  check_rank_counts(OVQ_MODEL_VQVAE, 0, 1, 0, 0, "VQ-VAE omics repro");
  g_weighted = 0;
  g_dead_every = 3;
  check_resume(argc > 1 ? argv[1] : ".");
  int size;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (size >= 4 && size % 2 == 0) { /* resume with several groups (checkpoint gathers per group) */
    g_node_ranks = 2;
    check_resume(argc > 1 ? argv[1] : ".");
    g_node_ranks = 0;
  }
  check_divergence();
  free(g_latents);
  int rc = test_finish("test_train");
  MPI_Finalize();
  return rc;
}
