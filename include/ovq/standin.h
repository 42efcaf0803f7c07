/* Stand-in preprocessing until the preprocessing stage exists: concatenates a cohort's mRNA and
 * miRNA log-expression, fills missing values with the feature's mean and standardises every
 * feature (mean 0, population standard deviation 1; constant features are only centred).
 * The preprocessing issue replaces this module as a whole. */
#ifndef OVQ_STANDIN_H
#define OVQ_STANDIN_H

#include <mpi.h>

#include "ovq/cohort.h"
#include "ovq/matrix.h"

typedef struct OvqStandinTransform {
  int64_t n_features; /* G + M */
  double *mean;       /* [n_features], owned */
  double *scale;      /* [n_features], owned: the divisor (1 for constant features) */
} OvqStandinTransform;

/* Collective on comm. Fits the transform on the cohort (means and deviations over all samples,
 * allreduced) and applies it: out gets the cohort's row block [n_local][G + M]. A feature missing
 * in every sample is filled with 0. */
void ovq_standin_fit_apply(const OvqCohort *c, MPI_Comm comm, OvqMatrix *out,
                           OvqStandinTransform *t);

/* Local. Applies a fitted transform to a cohort block with the same features. */
void ovq_standin_apply(const OvqStandinTransform *t, const OvqCohort *c, OvqMatrix *out);

void ovq_standin_free(OvqStandinTransform *t);

#endif
