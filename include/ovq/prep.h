/* Preprocessing: from a cohort's log-expression to the feature matrix every model and clustering
 * method takes. Per omic (mRNA, then miRNA):
 *   1. drop features that are exactly 0 in more than zero_fraction of the samples;
 *   2. impute missing values: KNN as R's impute::impute.knn (ovq/impute.h), or the feature mean;
 *   3. optionally keep the top_* most variable features (variance or MAD; ties by position);
 *   4. standardise each feature (mean 0, population standard deviation 1; constant features are
 *      only centred) and multiply the omic's block by its weight;
 * then concatenate mRNA and miRNA. Values already on the log2 scale are expected: `oncovq import`
 * applies log2(x + 1) where the input needs it, so every cohort file holds log-scale values.
 *
 * The fitted transform (kept feature ids, means, scales, weights) is stored in results files so
 * that a trained model can embed a new cohort with the same transform (ovq_prep_apply).
 * Every statistic is computed with order-independent sums, so the result does not depend on the
 * number of ranks. */
#ifndef OVQ_PREP_H
#define OVQ_PREP_H

#include <mpi.h>

#include "ovq/cohort.h"
#include "ovq/config.h"
#include "ovq/error.h"
#include "ovq/impute.h"
#include "ovq/matrix.h"
#include "ovq/results.h"

typedef struct OvqPrepOptions {
  double zero_fraction;
  int impute_knn; /* 1 = KNN, 0 = feature mean */
  OvqKnnOptions knn;
  int select; /* 0 none, 1 variance, 2 MAD */
  int64_t top[2]; /* per omic (mRNA, miRNA); 0 = all */
  int standardize;
  double weight[2];
} OvqPrepOptions;

/* Local. The options of the [prep] section. */
void ovq_prep_options_from_config(const OvqConfig *cfg, OvqPrepOptions *o);

typedef struct OvqPrepTransform {
  int64_t n_features; /* F: kept features, mRNA first */
  int64_t n_mrna;     /* how many of them are mRNA */
  OvqStrings ids;     /* [F] feature ids */
  double *mean;       /* [F]: out = (x - mean) / scale * weight */
  double *scale;      /* [F] */
  double *weight;     /* [F] */
} OvqPrepTransform;

typedef struct OvqPrepReport {
  int64_t n_in[2];          /* features per omic in the cohort */
  int64_t n_zero[2];        /* dropped by the zero filter */
  int64_t n_missing[2];     /* missing values imputed */
  int64_t n_rowmax[2];      /* features filled with means because of knn_rowmax */
  int64_t n_out[2];         /* kept */
} OvqPrepReport;

/* Collective on comm. Fits the transform on cohort c and applies it: out gets this rank's rows
 * [c->n_local][F]. Errors (same on every rank): an omic left without features, a sample missing
 * more than knn_colmax of an omic. report may be NULL. */
OvqStatus ovq_prep_fit(const OvqCohort *c, const OvqPrepOptions *o, MPI_Comm comm, OvqMatrix *out,
                       OvqPrepTransform *t, OvqPrepReport *report);

/* Collective on comm. Applies a fitted transform to another cohort: features are matched by id
 * (an error lists the first missing ones), missing values are imputed within c as in the fit, then
 * standardised with the stored means and scales. */
OvqStatus ovq_prep_apply(const OvqCohort *c, const OvqPrepTransform *t, const OvqPrepOptions *o,
                         MPI_Comm comm, OvqMatrix *out);

/* Local. Logs the report (rank 0). */
void ovq_prep_log_report(const OvqPrepReport *r);

/* Collective. Stores the transform in a results file: /prep/features [F], /prep/mean,
 * /prep/scale, /prep/weight float64 [F], /prep/n_mrna int64 [1]. */
void ovq_prep_write(OvqResults *r, const OvqPrepTransform *t);
/* Collective. Reads it back; OVQ_ERR everywhere if a dataset is missing or the lengths disagree. */
OvqStatus ovq_prep_read(OvqResults *r, const char *path, OvqPrepTransform *t);

void ovq_prep_free(OvqPrepTransform *t);

#endif
