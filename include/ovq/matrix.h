/* A row-distributed dense matrix: the form in which features travel between stages
 * (preprocessing -> training -> clustering). Rank r holds rows
 * ovq_partition_block(n_total, size, r) of an n_total x n_cols matrix. */
#ifndef OVQ_MATRIX_H
#define OVQ_MATRIX_H

#include <mpi.h>
#include <stdint.h>

typedef struct OvqMatrix {
  int64_t n_total;   /* rows over all ranks */
  int64_t row_start; /* global index of this rank's first row */
  int64_t n_local;   /* rows on this rank */
  int64_t n_cols;
  float *x; /* [n_local][n_cols], owned */
} OvqMatrix;

/* Local. Allocates a zeroed block. */
void ovq_matrix_alloc(OvqMatrix *m, int64_t n_total, int64_t row_start, int64_t n_local,
                      int64_t n_cols);
/* Local. Frees and zeroes; NULL-safe. */
void ovq_matrix_free(OvqMatrix *m);

/* Collective on comm. The columns of a row-distributed matrix, redistributed by columns: rank r
 * gets the columns ovq_partition_block(n_cols, size, r) (first column *col_start, *n_cols_local of
 * them) for all n_total rows, column-major: out[j * n_total + i] = element (i, col_start + j).
 * *out is allocated (caller frees). */
void ovq_matrix_columns(const OvqMatrix *m, MPI_Comm comm, int64_t *col_start,
                        int64_t *n_cols_local, float **out);

#endif
