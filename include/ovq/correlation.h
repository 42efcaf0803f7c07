/* Correlation matrices between the columns (e.g. latent features) of a row-distributed matrix:
 * Pearson as numpy.corrcoef(x, rowvar=False), Spearman as scipy.stats.spearmanr(x) (Pearson
 * correlation of the columns' ranks, ties given their average rank).
 *
 * Layout: rank r holds rows ovq_partition_block(N, size, r) of an N x d matrix (the layout of
 * OvqMatrix). Sums over samples are fixed-point sums (ovq/fixedsum.h), so the results are the
 * same bit for bit at any rank count. Cost O(N d^2 / ranks) time (one fixed-point product per
 * pair of columns and sample: meant for latent features, d up to a few hundred), O(d^2) memory;
 * Spearman moves the matrix twice (to columns for ranking, and back).
 *
 * A column with zero variance has correlation NaN with every column (numpy and SciPy give NaN,
 * with a warning). Values must be finite. */
#ifndef OVQ_CORRELATION_H
#define OVQ_CORRELATION_H

#include <mpi.h>
#include <stdint.h>

#include "ovq/error.h"

/* Collective on comm. x: [n_local][d] this rank's rows. r: [d][d] caller-allocated, filled on
 * every rank (symmetric, diagonal 1 to rounding, entries clipped to [-1, 1] as numpy does). Returns
 * OVQ_ERR on every rank, r untouched, if N < 2 or d < 1. */
OvqStatus ovq_correlation_pearson(const float *x, int64_t n_local, int64_t d, MPI_Comm comm,
                                  double *r);

/* Collective on comm. As ovq_correlation_pearson, on the ranks of each column (average ranks for
 * ties). Also OVQ_ERR if the rows are not in the block layout above. */
OvqStatus ovq_correlation_spearman(const float *x, int64_t n_local, int64_t d, MPI_Comm comm,
                                   double *r);

#endif
