/* K-nearest-neighbour imputation of missing expression values, as R's impute::impute.knn
 * (Bioconductor package impute; Troyanskaya et al. 2001): neighbours are *features*, ranked by
 * the mean squared difference over the samples both features observe; a missing value is the
 * mean of the k nearest features' values in that sample, over those that observe it.
 *
 * The data are a samples x features matrix (the transpose of R's genes x samples argument),
 * row-distributed over the ranks as everywhere in OncoVQ. NaN marks a missing value; other
 * values must be finite. Without a split (features kept after rowmax <= maxp) every value is
 * R's, computed in double as R does (then rounded to float), ties included; R's semantics, the
 * few R bugs deliberately not copied, and how sets of more than maxp features are split (not
 * as R does) are documented in src/prep/impute.c. */
#ifndef OVQ_IMPUTE_H
#define OVQ_IMPUTE_H

#include <mpi.h>
#include <stdint.h>

#include "ovq/cohort.h" /* OvqStrings */
#include "ovq/error.h"
#include "ovq/matrix.h"

typedef struct OvqKnnOptions {
  int k;         /* neighbours (R: k = 10) */
  double rowmax; /* features missing in more than trunc(rowmax * samples) samples get the mean
                    of the sample over the other features instead (R: rowmax = 0.5) */
  double colmax; /* a sample missing more than colmax * features values is an error (R: 0.8) */
  int64_t maxp;  /* largest feature set imputed without a split (R: maxp = 1500) */
  uint64_t seed; /* seed of the two-means splits above maxp (R's rng.seed default 362436069) */
} OvqKnnOptions;

/* The defaults of R's impute.knn. */
OvqKnnOptions ovq_knn_defaults(void);

typedef struct OvqKnnReport {
  int64_t n_missing;         /* missing values found (all ranks) */
  int64_t n_rowmax_features; /* features filled without KNN because of rowmax */
  int64_t n_blocks;          /* feature sets imputed separately after splitting (1 = no split,
                                also when nothing was missing) */
} OvqKnnReport;

/* Collective on comm. Imputes every missing value of x in place (x's rows must be in rank order,
 * as ovq_partition_block gives them); observed values are not changed. sample_ids holds this
 * rank's sample ids (x->n_local of them) for messages, or NULL. Returns OVQ_ERR on every rank,
 * with a message naming the sample (x unchanged), when a sample misses more than colmax of the
 * features, has an infinite value, or has missing values but no observed value among the
 * features kept after rowmax (R would leave NA there); also for k < 1, maxp < 1, or rowmax or
 * colmax outside [0, 1]. report may be NULL. The result does not depend on the number of ranks. */
OvqStatus ovq_impute_knn(OvqMatrix *x, const OvqKnnOptions *opt, const OvqStrings *sample_ids,
                         MPI_Comm comm, OvqKnnReport *report);

#endif
