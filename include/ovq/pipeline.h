/* The stages of one run, and the run itself (oncovq run).
 *
 * A stage takes what the stage before it produced, in memory, and writes its own results file:
 *   prep (ovq/prep.h) -> train (one model) -> features (raw, pca, model latents) -> cluster
 *   (every method x k) -> evaluate (ovq/evaluate.h) -> summary
 * Only ovq_run knows the order. It keeps each stage's file under OUT/stages/ with a key (a hash
 * of the inputs' identity and the settings the stage depends on); a repeated run skips a stage
 * whose key matches and recomputes it (and what depends on it) when not. Layout of OUT:
 *   OUT/stages/model_<m>.h5          train stage (results file, ovq/results.h)
 *   OUT/stages/clusters_<fs>_s<seed>.h5   cluster stage of feature set fs with seed
 *   OUT/eval/<fs>.h5, OUT/eval/<fs>_*.tsv   evaluation of the first seed's clusters
 *   OUT/summary.tsv                  one row per feature set x method x k x seed + published labels
 *   OUT/results.h5                   everything merged:
 *     /samples, /prep, /models/<m>, /features/<fs> [N][D] (pca, model latents),
 *     /features/pca_variance_ratio [D] (explained variance ratio of each principal component),
 *     /clusters/<fs>/s<seed>/<method>/{labels,k<K>/labels,choose_k/...}, /eval/<fs>/...,
 *     /summary/<column>
 * Every file is written under a temporary name and renamed when complete; summary.tsv is
 * written last, after results.h5, so it marks a finished run. */
#ifndef OVQ_PIPELINE_H
#define OVQ_PIPELINE_H

#include <mpi.h>

#include "ovq/cluster.h"
#include "ovq/cohort.h"
#include "ovq/config.h"
#include "ovq/error.h"
#include "ovq/matrix.h"
#include "ovq/prep.h"
#include "ovq/results.h"

/* Outcome of a stage or run that may be stopped by SIGTERM / SIGUSR1. */
typedef enum { OVQ_STAGE_DONE = 0, OVQ_STAGE_INTERRUPTED = 1 } OvqStageOutcome;

/* Collective. Trains model cfg->model.type on the prepared matrix x (rows as in x; c gives the
 * samples, tr the fitted transform) and writes a results file `out` with /samples, /prep (the
 * transform), /models/<type>/{params,codebook,history,latent,z_q,codes}. Checkpoints go to
 * cfg->train.checkpoint (default out.ckpt); resume = 1 continues from it. On a stop request the
 * checkpoint is written, nothing else, and *outcome = OVQ_STAGE_INTERRUPTED. */
OvqStatus ovq_stage_train(const OvqConfig *cfg, const OvqCohort *c, const OvqMatrix *x,
                          const OvqPrepTransform *tr, const char *out, int resume, MPI_Comm comm,
                          OvqStageOutcome *outcome);

/* Collective. Every method of cfg->cluster.methods x every k (cfg->cluster.k, or
 * k_min..k_max) on data (with consensus when cfg->cluster.consensus_reps > 0), written into the
 * open results file r under `prefix` ("" or e.g. "/clusters/raw/s1"; methods go to
 * PREFIX/clusters/<method>/...):
 *   <method>/k<K>/labels int32 [N]      labels for each k
 *   <method>/labels int32 [N]           labels at the k with the highest mean silhouette
 *   <method>/choose_k/<criterion> float64 [nk]: k, silhouette, calinski_harabasz, davies_bouldin,
 *       inertia, loglik, bic, eigengap, cophenetic, cdf_area, seconds (NaN where not defined),
 *       failed (1: the method failed at this k, e.g. a degenerate mixture; its labels are -1)
 *   <method> attribute k (the chosen k)
 * Errors (same on every rank): unknown method, empty list, k outside 2..N. A method failing at
 * one k is a warning, not an error. */
OvqStatus ovq_stage_cluster(const OvqConfig *cfg, const OvqClusterData *data, OvqResults *r,
                            const char *prefix, MPI_Comm comm);

/* Local. Fills d for a feature matrix x [n_local][D] (not copied): one view, or, when
 * 0 < n_mrna < D, the mRNA and miRNA column blocks as two views (copied into new arrays that
 * ovq_cluster_data_free releases). */
void ovq_cluster_data_init(OvqClusterData *d, const float *x, int64_t n_total, int64_t row_start,
                           int64_t n_local, int64_t D, int64_t n_mrna);
void ovq_cluster_data_free(OvqClusterData *d);

/* Collective. A key for everything a run of cfg depends on: the cohort file's identity (path,
 * size, modification time) and the canonical text of cfg (the log level excluded). */
uint64_t ovq_run_key(const OvqConfig *cfg, MPI_Comm comm);

/* Collective. The whole run of cfg on cfg->data.cohort (cfg->data.cancer) into directory outdir
 * (created if missing), as described at the top. *outcome tells whether a stop request ended it
 * early (finished stages are kept; the same call continues). */
OvqStatus ovq_run(const OvqConfig *cfg, const char *outdir, MPI_Comm comm,
                  OvqStageOutcome *outcome);

#endif
