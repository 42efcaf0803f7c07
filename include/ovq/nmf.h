/* Consensus NMF as the paper's baseline runs it: CancerSubtypes' ExecuteCNMF, i.e. R package
 * NMF's nmf(V, rank = k, nrun = 30) with its default method "brunet" (Brunet et al., PNAS 101,
 * 2004; Gaujoux & Seoighe, BMC Bioinformatics 11:367, 2010).
 *
 * Layout. V is features x samples; samples are distributed as in kmeans.h: rank r holds a
 * contiguous block of samples in global order, given as rows x[n_local][F] (= local columns of
 * V). The columns of H live with their samples; W (features x k) is replicated.
 *
 * Input (ExecuteCNMF): V = rbind(pmax(X, 0), -pmin(X, 0)) with X = features x samples, then rows
 * whose sum is 0 are dropped. Effective feature f' is the positive part of feature f (listed
 * first, f' -> f) or the negative part (f' -> F + f); nonnegative data keep their features
 * (minus all-zero ones) unchanged. (ExecuteCNMF's data1[-index, ] drops every row when no row
 * sums to 0, a bug in the R code; here all-zero rows are dropped and nothing else.)
 *
 * Updates (what the implementation matches, see src/cluster/nmf.c), iteration i = 1, 2, ...:
 * - Brunet (Kullback-Leibler; NMF:::nmf_update.brunet and its C code divergence.cpp):
 *     H_aj <- H_aj sum_u W_ua V_uj / (WH)_uj / sum_u W_ua
 *     W_ia <- W_ia sum_j H_aj V_ij / (WH)_ij / sum_j H_aj     (WH with the new H, old W)
 *   and every 10th iteration H and W are floored at .Machine$double.eps (2^-52); no epsilon in
 *   the updates themselves (as R, an entry of WH equal to 0 where V > 0 gives Inf/NaN).
 * - Lee (Frobenius; NMF:::nmf_update.lee, euclidean.cpp, eps = 1e-9):
 *     H_aj <- max(H_aj (W'V)_aj, eps) / ((W'W H)_aj + eps)
 *     W_ia <- max(W_ia (V H')_ia, eps) / ((W H H')_ia + eps), then each column of W / its sum.
 * - Stop as NMF's default nmf.stop.connectivity: every check_interval (10) iterations the
 *   sample labels (argmax of each H column, first maximum) are compared as a partition with the
 *   last changed one; after more than stopconv (40) unchanged checks in a row the run stops;
 *   at most max_iter (2000) iterations. stopconv < 0: exactly max_iter iterations (NMF's
 *   .stop = max_iter, used by the reference test).
 * - Random starts as NMF's seed "random": every entry of W and H uniform on (0, max V).
 *
 * Consensus (nrun runs): each run's labels are the argmax of H's columns; consensus C_ij = the
 * fraction of runs in which i and j share a label; the final labels are the average-linkage tree
 * of 1 - C (hclust.h, SciPy's nn_chain; R's NMF uses hclust(method = "average") and may break
 * ties between equal consensus values differently) cut at k; cophenetic correlation = Pearson
 * correlation between 1 - C and that tree's cophenetic distances (NMF's cophcor). The run with
 * the lowest objective (KL divergence sum V log(V / WH) - V + WH for Brunet, 1/2 ||V - WH||^2
 * for Lee; first on ties) is kept as the best fit (W, H); its argmax labels are what
 * ExecuteCNMF's predict(res) returns (best_labels).
 *
 * Reproducibility. Every random draw is named by (seed, stream, run, global sample): W by
 * (seed, 22, run), the H column of sample g by (seed, 23, run * N + g). Column updates depend
 * only on the sample's own column and W; the sums over samples that update W are exact 64-bit
 * fixed-point integers (a scale per entry from a bound on its total, see nmf.c), so W, H and all
 * labels are bit-identical for any number of ranks (tested at 1, 2 and 4). The objective that
 * picks the best run is a fixed-point sum as well.
 *
 * Cost per iteration O(F' k N / ranks) plus one allreduce of F' k + k integers. The consensus
 * tree needs N (N - 1) / 2 doubles on rank 0 (484 MB at N = 11,000). */
#ifndef OVQ_NMF_H
#define OVQ_NMF_H

#include <mpi.h>
#include <stdint.h>

#include "ovq/error.h"

typedef enum {
  OVQ_NMF_BRUNET = 0, /* Kullback-Leibler multiplicative updates (R NMF "brunet", default) */
  OVQ_NMF_LEE         /* Frobenius multiplicative updates (R NMF "lee") */
} OvqNmfMethod;

typedef struct OvqNmfParams {
  int k;                /* factorisation rank = clusters, 1 <= k <= min(N, F') */
  OvqNmfMethod method;  /* update rule */
  int nrun;             /* runs from random starts, >= 1 (1 with given starts) */
  int max_iter;         /* iterations per run, >= 1 */
  int stopconv;         /* unchanged connectivity checks before stopping; < 0: never stop early */
  int check_interval;   /* iterations between connectivity checks, >= 1 */
  uint64_t seed;        /* names every random draw */
  const double *init_w; /* in: [F'][k] starting W, the same on every rank, or NULL; not owned */
  const double *init_h; /* in: [n_local][k] starting H columns of the local samples, or NULL */
} OvqNmfParams;

typedef struct OvqNmfResult {
  int k, nrun;
  int64_t n;            /* samples */
  int64_t first;        /* global index of the first local sample */
  int64_t n_local;      /* local samples */
  int64_t n_feat;       /* F': rows of W */
  int64_t *feature_of;  /* [n_feat]: f (positive part of feature f) or F + f (negative part) */
  double *w;            /* [n_feat][k]: W of the best run, replicated, owned */
  double *h;            /* [n_local][k]: H columns of the local samples, best run, owned */
  int best_run;         /* 0-based */
  double *objective;    /* [nrun]: final objective of each run */
  int *n_iter;          /* [nrun]: iterations of each run */
  int32_t *run_labels;  /* [nrun][n]: argmax labels of every run, all samples, replicated */
  int32_t *labels;      /* [n_local]: consensus labels, 0.. numbered by first sample */
  int n_clusters;       /* clusters in labels (k; fewer if consensus heights tie at the cut) */
  int32_t *best_labels; /* [n_local]: argmax of the best run's H (ExecuteCNMF's group) */
  double cophenetic;    /* cophenetic correlation of the consensus (NaN if undefined) */
} OvqNmfResult;

/* Local. Defaults as R NMF / ExecuteCNMF: k = 2, Brunet, nrun = 30, max_iter = 2000,
 * stopconv = 40, check_interval = 10, seed 0, random starts. */
void ovq_nmf_defaults(OvqNmfParams *p);

/* Collective on comm. Factorises V (x = local samples [n_local][F], rows in global order; see
 * above for negative values) nrun times and builds the consensus. Fills *out (free with
 * ovq_nmf_result_free). Returns OVQ_ERR on every rank, with a message and *out zeroed, for user
 * errors: k outside 1..min(N, F'), F < 1 or different across ranks, nrun, max_iter or
 * check_interval < 1, only one of init_w / init_h given or given with nrun > 1, negative or
 * non-finite starting values, non-finite data. */
OvqStatus ovq_nmf_fit(const OvqNmfParams *p, const float *x, int64_t n_local, int64_t F,
                      MPI_Comm comm, OvqNmfResult *out);

/* Local. The consensus matrix (out: [n][n]) from r->run_labels: fraction of runs in which two
 * samples share a label (1 on the diagonal). */
void ovq_nmf_consensus(const OvqNmfResult *r, double *out);

/* Local. Frees the arrays and zeroes *r; NULL-safe and idempotent. */
void ovq_nmf_result_free(OvqNmfResult *r);

#endif
