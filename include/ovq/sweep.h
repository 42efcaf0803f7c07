/* The sweep (oncovq sweep): oncovq run over a grid of cancer types x models x hyperparameters x
 * seeds, on groups of ranks.
 *
 * Tasks. For every cancer type of sweep.cancers (empty: every type in the cohort):
 *   - one baseline task: the raw and PCA feature sets (run.models = "", run.features = raw,pca);
 *   - one task per model of sweep.models x codebook_size x latent x beta x lr x epochs x hidden x
 *     seeds (comma-separated lists; hidden is ';'-separated, e.g. "2048,512;1024,256"). The
 *     VQ-VAE-only settings (codebook_size, beta) are not varied for ae and vae. A task trains its
 *     model and clusters its latents (run.features = the model).
 * Every task is followed by every method of cluster.methods x k x run.seeds and the evaluation,
 * exactly as oncovq run; its directory is OUT/tasks/<task id>/.
 *
 * Parallel layout. The world communicator is split into groups of sweep.group_size consecutive
 * ranks (the last group may be smaller); a group runs one task at a time, data-parallel. Tasks
 * are ordered largest first (estimated cost: samples x epochs x the widths of the hidden layers
 * for model tasks, samples^2 for baseline tasks, which hold the dense N x N methods on raw data)
 * and handed out dynamically: a group's first rank takes the next index from a counter in an
 * MPI window on world rank 0 (MPI_Fetch_and_op), so no rank only schedules.
 *
 * Resume and failures. A finished task writes OUT/tasks/<id>/status ("done KEY" or "failed KEY"
 * and the error) atomically; a rerun skips tasks whose status has the same key (the key covers
 * the cohort file and every setting, ovq_run_key) and resumes the others (their finished stages
 * are kept, training continues from its checkpoint). A failed task (bad data, divergence) is
 * recorded and the sweep goes on. A stop request (SIGTERM / SIGUSR1) ends every group after its
 * current stage; the sweep then reports OVQ_STAGE_INTERRUPTED.
 *
 * Outputs, when every task is done or failed (rank 0 writes them atomically):
 *   OUT/summary.tsv    every task's summary rows (published labels once per cancer, from its
 *                      baseline task) with the columns of oncovq run's summary.tsv, then task,
 *                      model, codebook_size, latent, beta, lr, epochs, hidden, train_seed
 *   OUT/pancancer.tsv  per cancer: the best task/feature set/method/k by log-rank p and by NMI,
 *                      next to the published labels' own log-rank p
 *   OUT/failed.tsv     task, error (header only when none failed)
 *   OUT/results.h5     /tasks/<id>/... : each task's results.h5
 *   OUT/tasks.tsv      task, cancer, model, hyperparameters, status, seconds, group */
#ifndef OVQ_SWEEP_H
#define OVQ_SWEEP_H

#include <mpi.h>

#include "ovq/config.h"
#include "ovq/error.h"
#include "ovq/pipeline.h"

/* Collective on comm (the world of the sweep). */
OvqStatus ovq_sweep(const OvqConfig *cfg, const char *outdir, MPI_Comm comm,
                    OvqStageOutcome *outcome);

#endif
