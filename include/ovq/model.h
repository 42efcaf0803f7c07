/* The autoencoders: VQ-VAE, AE and VAE of the same shape, on one parameter slab.
 *
 * Architecture (the paper's code; widths and depth are settings). F inputs, latent D:
 *   encoder  Linear(F, h1) GELU  Linear(h1, h2) GELU  [Res(h2, r)] x n_res  Linear(h2, D')
 *   decoder  Linear(D, h2)  [Res(h2, r)] x n_res  Linear(h2, h1) GELU  Linear(h1, F)
 * with Res(h, r): y = x + Linear(r, h)(ReLU(Linear(h, r)(ReLU(x)))), the residual unit of the
 * VQ-VAE papers, D' = D (AE, VQ-VAE) or 2D (VAE: mean and log-variance heads). The activation
 * between the wide layers (GELU by default) is a setting.
 *
 * VQ-VAE: z_e is split into G groups of D/G, each quantised to the nearest of its K codes
 * (squared Euclidean distance, computed with a GEMM); the decoder gets z_q and the gradient
 * passes straight through to z_e (van den Oord et al. 2017). Loss (per the paper's code):
 *   recon = mean (x - x_hat)^2 / var(data)
 * or, with per-feature weights w (ovq_model_set_recon_weights), mean w_f (x_f - x_hat_f)^2 / var:
 * the trainer's way of letting each omic count the same (trainer.h, ovq_omic_recon_weights).
 *   codebook = mean ||sg(z_e) - e||^2          (dropped when codes are learned by EMA)
 *   commitment = beta * mean ||z_e - sg(e)||^2
 * AE: recon only. VAE: z = mu + exp(logvar / 2) eps and
 *   kl = kl_weight * mean over samples and latent dims of -0.5 (1 + logvar - mu^2 - e^logvar).
 * Means are over the GLOBAL minibatch: a rank passes the global batch size, computes the sums of
 * its own samples, and the allreduce of gradients and loss sums gives the global values.
 *
 * Precision: like nn.h, model.c compiles in float for training and in double (OVQ_NN_DOUBLE,
 * _f64 names) for the gradient checks. All functions are Local. */
#ifndef OVQ_MODEL_H
#define OVQ_MODEL_H

#include <stdint.h>

#include "ovq/nn.h"

#define ovq_model_create OVQ_NN_FN(ovq_model_create)
#define ovq_model_destroy OVQ_NN_FN(ovq_model_destroy)
#define ovq_model_init_params OVQ_NN_FN(ovq_model_init_params)
#define ovq_model_forward OVQ_NN_FN(ovq_model_forward)
#define ovq_model_backward OVQ_NN_FN(ovq_model_backward)
#define ovq_model_encode OVQ_NN_FN(ovq_model_encode)
#define ovq_model_quantise OVQ_NN_FN(ovq_model_quantise)
#define ovq_net_forward OVQ_NN_FN(ovq_net_forward)
#define ovq_net_backward OVQ_NN_FN(ovq_net_backward)
#define ovq_model_split_in OVQ_NN_FN(ovq_model_split_in)
#define ovq_model_split_mid OVQ_NN_FN(ovq_model_split_mid)
#define ovq_model_split_out_backward OVQ_NN_FN(ovq_model_split_out_backward)
#define ovq_model_split_backward OVQ_NN_FN(ovq_model_split_backward)
#define ovq_model_set_recon_weights OVQ_NN_FN(ovq_model_set_recon_weights)

typedef enum { OVQ_MODEL_VQVAE = 0, OVQ_MODEL_AE = 1, OVQ_MODEL_VAE = 2 } OvqModelType;
typedef enum { OVQ_ACT_GELU = 0, OVQ_ACT_RELU = 1 } OvqActivation;

enum { OVQ_MODEL_MAX_HIDDEN = 4, OVQ_MODEL_MAX_RES = 4, OVQ_MODEL_MAX_OPS = 32 };

typedef struct OvqModelSpec {
  OvqModelType type;
  int64_t n_in;                          /* F */
  int n_hidden;                          /* number of wide layers (2) */
  int64_t hidden[OVQ_MODEL_MAX_HIDDEN];  /* widths, input side first (2048, 512) */
  int n_res;                             /* residual blocks in encoder and decoder (1) */
  int64_t res_width;                     /* r (64) */
  int64_t latent;                        /* D (64) */
  OvqActivation activation;              /* between wide layers (GELU) */
  /* VQ-VAE */
  int64_t codebook_size; /* K per group (64) */
  int groups;            /* G, divides D (1) */
  double beta;           /* commitment weight (1) */
  int ema;               /* learn codes by EMA instead of gradients */
  /* VAE */
  double kl_weight; /* (1) */
} OvqModelSpec;

/* One layer of a network: a linear map (w [out][in], b [out] at slab offsets), an activation, or
 * a residual block (two linear maps). */
typedef enum { OVQ_OP_LINEAR, OVQ_OP_GELU, OVQ_OP_RELU, OVQ_OP_RES } OvqOpType;
typedef struct OvqOp {
  OvqOpType type;
  int64_t in, out;    /* widths (equal for activations and residual blocks) */
  int64_t w, b;       /* slab offsets: LINEAR, and the first map of RES (h -> r) */
  int64_t w2, b2;     /* RES: second map (r -> h) */
  int64_t r;          /* RES: inner width */
  ovq_real *act;      /* [max_batch][out] output of this op */
  ovq_real *scratch;  /* RES: relu(x) [B][h], inner pre-activation [B][r], relu(inner) [B][r] */
} OvqOp;

typedef struct OvqNet {
  int n_ops;
  OvqOp ops[OVQ_MODEL_MAX_OPS];
  int64_t n_in, n_out;
} OvqNet;

/* Loss terms of a batch as SUMS over the local samples, already divided by the global batch
 * normalisers (so summing them over ranks gives the global loss). */
typedef struct OvqLoss {
  double recon, codebook, commitment, kl;
  double total; /* recon + codebook + commitment + kl */
} OvqLoss;

typedef struct OvqModel {
  OvqModelSpec spec;
  int64_t max_batch;
  int64_t n_params;  /* length of the slab */
  ovq_real *params;  /* [n_params], owned */
  ovq_real *grads;   /* [n_params + grad_extra], owned; backward ADDS into the first n_params */
  int64_t grad_extra; /* slots after the gradients for statistics that travel in the same
                         allreduce (loss terms, code counts): the caller's to use */
  int64_t codebook;  /* slab offset of the codebook [G][K][D/G] (VQ-VAE), else -1 */
  OvqNet enc, dec;
  /* Batch buffers (max_batch rows), owned. */
  ovq_real *z;      /* [B][D] decoder input: z_q (VQ-VAE), z_e (AE), sample z (VAE) */
  ovq_real *eps;    /* [B][D] VAE noise */
  int32_t *codes;   /* [B][G] nearest code per group (VQ-VAE) */
  ovq_real *dz;     /* [B][D'] gradient at the encoder output */
  ovq_real *dbuf1, *dbuf2; /* [B][widest] backward ping-pong buffers */
  ovq_real *dist;   /* [B][K] distances for one group */
  ovq_real *code_norm; /* [K] squared norms of one group's codes */
  ovq_real *recon_w;   /* [F] weights of the features in the reconstruction term, owned;
                          NULL = all 1 */
} OvqModel;

/* One network over the model's slab: forward stores each op's output (the last is the net's
 * output). Backward takes dout [B][n_out] (it may already be m->dbuf1, where the backward pass
 * starts; otherwise it is copied there), writes din [B][n_in] (NULL: skip the input gradient,
 * as for the data layer) and ADDS the parameter gradients. Uses m->dbuf1/dbuf2 as scratch. */
void ovq_net_forward(OvqModel *m, OvqNet *net, const ovq_real *x, int64_t B);
void ovq_net_backward(OvqModel *m, OvqNet *net, const ovq_real *x, const ovq_real *dout,
                      ovq_real *din, int64_t B);

/* Validates spec; returns 0 and fills *m (buffers for up to max_batch samples, grad_extra spare
 * gradient slots) or returns -1 with a message in msg (a bad width, G not dividing D, ...).
 * Destroy with ovq_model_destroy. */
int ovq_model_create(OvqModel *m, const OvqModelSpec *spec, int64_t max_batch,
                     int64_t grad_extra, char *msg, int msg_size);
void ovq_model_destroy(OvqModel *m);

/* Sets the weight of each of the F features in the reconstruction term (w [F], copied; NULL =
 * every feature 1, the default). Returns -1 (and changes nothing) if a weight is negative or not
 * finite, or there is no memory. */
int ovq_model_set_recon_weights(OvqModel *m, const double *w);

/* Initialises the parameters like PyTorch's defaults (Linear: U(-1/sqrt(in), 1/sqrt(in)) for
 * weights and biases; codebook U(-1/K, 1/K)), drawing from the counter RNG keyed by seed, so every
 * rank gets the same values without communication. */
void ovq_model_init_params(OvqModel *m, uint64_t seed);

/* Forward pass of B samples x [B][F] (B <= max_batch). global_batch is the number of samples of
 * the global minibatch (for the means), data_var the variance of the data (recon normaliser).
 * eps [B][D] is the VAE noise (NULL for the other models; then z = mu, as at inference).
 * Stores what backward needs; returns the loss sums in *loss. x_hat is the decoder output (the
 * last op's act). */
void ovq_model_forward(OvqModel *m, const ovq_real *x, int64_t B, int64_t global_batch,
                       double data_var, const ovq_real *eps, OvqLoss *loss);

/* Backward of the last forward: ADDS parameter gradients into m->grads. */
void ovq_model_backward(OvqModel *m, const ovq_real *x, int64_t B, int64_t global_batch,
                        double data_var);

/* Feature-split training step (the trainer's layout on one node, trainer.h). The F features are
 * divided among R workers; worker r takes columns f = [f0, f0 + fn) of the first encoder layer
 * W1 [h1][F] and rows f of the last decoder layer W [F][h1], for the WHOLE batch of B samples
 * (xr [B][fn]: the batch's columns f), and every worker runs the narrow rest of the network the
 * same way. Four phases, with a sum over the workers after the first and the third:
 *   1. split_in: part [B][h1] = xr W1[:, f]^T (written).
 *   -> the caller puts the sum of all workers' parts in m->enc.ops[0].act
 *   2. split_mid: adds W1's bias, runs the encoder's rest, the latent stage and the decoder up to
 *      its last layer, whose rows f give x_hat's columns f; loss->recon is this worker's part of
 *      the reconstruction term (sum them over workers), the other terms are whole.
 *   3. split_out_backward: WRITES the gradients of the last layer's rows f and bias f, and
 *      part [B][h1] = this worker's part of the gradient at that layer's input.
 *   -> the caller sums the parts into dh [B][h1]
 *   4. split_backward: the rest of the backward from dh (dh is overwritten); WRITES the gradient
 *      of W1[:, f] and of W1's bias, ADDS those of every parameter in between (zero them first)
 *      and the codebook's. B is the number of samples (rows of xr), global_batch the size of the
 *      global minibatch the means are over (B when one group of workers takes the whole batch);
 *      eps as in forward.
 * Every worker thus needs gradient slab room for the whole model but writes only its columns /
 * rows of the two wide layers. */
void ovq_model_split_in(OvqModel *m, const ovq_real *xr, int64_t B, int64_t f0, int64_t fn,
                        ovq_real *part);
void ovq_model_split_mid(OvqModel *m, const ovq_real *xr, int64_t B, int64_t global_batch,
                         int64_t f0, int64_t fn, double data_var, const ovq_real *eps,
                         OvqLoss *loss);
void ovq_model_split_out_backward(OvqModel *m, const ovq_real *xr, int64_t B,
                                  int64_t global_batch, int64_t f0, int64_t fn, double data_var,
                                  ovq_real *part);
void ovq_model_split_backward(OvqModel *m, const ovq_real *xr, int64_t B, int64_t global_batch,
                              int64_t f0, int64_t fn, ovq_real *dh);

/* Encoder only: the latent feature of each sample, out [B][D]: z_e (VQ-VAE), the code (AE), mu
 * (VAE). If zq != NULL (VQ-VAE) also the quantised vectors [B][D] and codes [B][G]. */
void ovq_model_encode(OvqModel *m, const ovq_real *x, int64_t B, ovq_real *out, ovq_real *zq,
                      int32_t *codes);

/* Nearest codes of z [B][D] under the current codebook: codes [B][G], zq [B][D] (zq may be NULL);
 * returns sum ||z - e||^2 over the batch. */
double ovq_model_quantise(OvqModel *m, const ovq_real *z, int64_t B, int32_t *codes, ovq_real *zq);

#endif
