/* Differential expression of each cluster against the rest: the table behind a volcano plot.
 *
 * Input: the preprocessed, unstandardised log2 expression as a row-distributed samples x features
 * matrix (rank r holds the samples ovq_partition_block(N, size, r)) and each rank's cluster labels
 * (codes 0 .. k-1; a negative label leaves the sample out of every comparison). The matrix is
 * redistributed by features (ovq_matrix_columns), every rank tests its block of features for all
 * k clusters, and the table is gathered to every rank in feature order. Each feature sees all
 * samples in global order whatever the rank count, so the table does not depend on it.
 *
 * For cluster c and feature j, "in" = samples labelled c, "out" = samples with another known label:
 *   log2fc  = mean_in - mean_out (the data are log2, so a difference of means is a log2 fold
 * change) Welch t = log2fc / sqrt(v_in / n_in + v_out / n_out) (variances with n - 1),
 * Welch-Satterthwaite degrees of freedom, two-sided p: scipy.stats.ttest_ind(in, out,
 * equal_var=False) U       = Mann-Whitney U of "in" (rank sum of "in" minus n_in (n_in + 1) / 2,
 * average ranks for ties); two-sided p from the normal approximation with tie correction and
 * continuity correction: scipy.stats.mannwhitneyu(in, out, alternative='two-sided',
 *             method='asymptotic', use_continuity=True)
 *   q       = Benjamini-Hochberg adjusted p, per cluster over all features (R's p.adjust "BH")
 *
 * Rules where SciPy would return NaN (the table never holds NaN):
 *   - n_in < 2 or n_out < 2 (a cluster of one sample, or a cluster holding every sample): the
 *     t-test is undefined: t = 0, t_p = 1. U and its p are still computed (n_in = 1 is valid);
 *     with n_in = 0 or n_out = 0 also U = 0, u_p = 1 and log2fc = 0 (the mean of an
 *     empty group is reported as 0).
 *   - both groups without variance (a constant feature, or constant in each group): if their means
 *     are equal, t = 0, t_p = 1; if not, t = +-Inf and t_p = 0 (as SciPy).
 *   - every value of the feature tied (constant feature): U = n_in n_out / 2, u_p = 1 (as SciPy).
 * Non-finite input values are a user error (impute first). */
#ifndef OVQ_DIFFEXP_H
#define OVQ_DIFFEXP_H

#include <mpi.h>
#include <stdint.h>

#include "ovq/error.h"
#include "ovq/matrix.h"
#include "ovq/padjust.h" /* ovq_bh_adjust */

typedef struct OvqDiffexp {
  int k;              /* clusters: 1 + the largest label */
  int64_t n_features; /* columns of the input */
  int64_t *n_in;      /* [k] samples in each cluster; n_out = n_known - n_in */
  int64_t n_known;    /* samples with a known (>= 0) label */
  /* [k][n_features] each, element [c * n_features + j]; one owned allocation starts at mean_in. */
  double *mean_in, *mean_out, *log2fc;
  double *t, *t_p, *t_q; /* Welch t-test */
  double *u, *u_p, *u_q; /* Wilcoxon rank-sum / Mann-Whitney U */
} OvqDiffexp;

/* Collective on comm. Tests every cluster against the rest for every feature of x (in: rows
 * [x->n_local][x->n_cols], row-distributed as described above) with labels (in: [x->n_local]).
 * *out is the same on every rank; free with ovq_diffexp_free. Returns OVQ_ERR on every rank, *out
 * zeroed, if no label is known, if labels exceed 65535 (not cluster codes), or if x holds a NaN or
 * an infinity. Memory per rank: the feature block (N x F / size floats) and the table (9 k F
 * doubles). */
OvqStatus ovq_diffexp_compute(const OvqMatrix *x, const int32_t *labels, MPI_Comm comm,
                              OvqDiffexp *out);

/* Local. Frees the table and zeroes *d; NULL-safe and idempotent. */
void ovq_diffexp_free(OvqDiffexp *d);

/* Local. Writes the table as TSV, one row per (cluster, feature) in cluster then feature order:
 * cluster, feature, n_in, n_out, mean_in, mean_out, log2fc, t, t_p, t_q, u, u_p, u_q.
 * feature_ids (in: [n_features]) names the features; NULL writes their 0-based indices. Returns
 * OVQ_ERR with a message naming the file if it cannot be written. */
OvqStatus ovq_diffexp_write(const OvqDiffexp *d, const char *const *feature_ids, const char *path);

#endif
