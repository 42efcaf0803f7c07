/* Dense distributed linear algebra: BLACS process grids, block-cyclic matrices and the
 * ScaLAPACK calls the N x N methods need (spectral clustering, SNF, consensus matrices).
 *
 * Layouts. OncoVQ data are row-distributed: rank r holds a contiguous block of rows, rows in
 * global order (rank r's rows before rank r + 1's; blocks may be empty). ScaLAPACK wants a 2-D
 * block-cyclic layout on a process grid. An OvqDmat is a global m x n matrix in that layout:
 * square nb x nb blocks, first block on process (0, 0), each process's part column-major in
 * `a` with leading dimension lld (numroc_ sizes). ovq_dmat_from_rows / ovq_dmat_to_rows move
 * between the two layouts with one MPI_Alltoallv each (no pdgemr2d: the row blocks of the
 * OncoVQ partition are not block-cyclic).
 *
 * Errors. ScaLAPACK argument errors (info < 0) and MPI failures abort (OVQ_LAPACK_CHECK,
 * OVQ_MPI_CHECK); counts passed to MPI / ScaLAPACK as int are checked (OVQ_INT). */
#ifndef OVQ_LINALG_H
#define OVQ_LINALG_H

#include <mpi.h>
#include <stdint.h>

#include "ovq/error.h"

/* A nearly square BLACS grid over all ranks of a communicator, row-major: rank p * npcol + q
 * of comm is process (p, q). nprow <= npcol, nprow the largest divisor of size <= sqrt(size). */
typedef struct OvqGrid {
  MPI_Comm comm; /* not owned */
  int rank, size;
  int sys_handle; /* Csys2blacs_handle(comm) */
  int ctx;        /* BLACS context */
  int nprow, npcol, myrow, mycol;
} OvqGrid;

/* A global m x n double matrix, block-cyclic over grid (blocks nb x nb, source process (0,0)). */
typedef struct OvqDmat {
  const OvqGrid *grid; /* not owned */
  int64_t m, n;
  int nb;
  int lrows, lcols; /* this process's rows and columns (numroc_) */
  int lld;          /* leading dimension of a, max(1, lrows) */
  int desc[9];      /* ScaLAPACK descriptor */
  double *a;        /* [lcols][lld], column-major, owned; zeroed at creation */
} OvqDmat;

/* Collective on comm. Creates the grid (aborts on BLACS failure). Free with ovq_grid_destroy. */
OvqGrid *ovq_grid_create(MPI_Comm comm);

/* Collective on the grid's comm. Releases the BLACS context; NULL-safe, sets *g to NULL. */
void ovq_grid_destroy(OvqGrid **g);

/* Local. The block size used for an n x n problem on this grid: 64, or smaller so that every
 * process row and column holds a few blocks when n is small (min 2). */
int ovq_dmat_default_nb(const OvqGrid *g, int64_t n);

/* Collective on the grid's comm (descinit_). A zeroed m x n matrix; free with
 * ovq_dmat_destroy. m, n >= 1. */
OvqDmat *ovq_dmat_create(const OvqGrid *g, int64_t m, int64_t n, int nb);

/* Local. NULL-safe; sets *A to NULL. */
void ovq_dmat_destroy(OvqDmat **A);

/* Local. Global row (column) index of local row (column) l. */
int64_t ovq_dmat_row_global(const OvqDmat *A, int l);
int64_t ovq_dmat_col_global(const OvqDmat *A, int l);

/* Collective on the grid's comm. A := beta A + alpha op(S), S the row-distributed matrix whose
 * rows this rank holds in rows (in: [n_local][ld], first n_local rows after those of the lower
 * ranks), op(S) = S (S is A->m x A->n) or S^T (transpose != 0: S is A->n x A->m). beta = 0
 * overwrites A (NaNs in A are not propagated). Aborts if the row blocks do not add up. */
void ovq_dmat_from_rows(OvqDmat *A, double beta, double alpha, const double *rows,
                        int64_t n_local, int64_t ld, int transpose);

/* Collective on the grid's comm. Copies the first ncols (1..A->n) columns of this rank's
 * block of rows of A to rows (out: [n_local][ld]); row blocks as in ovq_dmat_from_rows. */
void ovq_dmat_to_rows(const OvqDmat *A, double *rows, int64_t n_local, int64_t ld,
                      int64_t ncols);

/* Collective. C := alpha op(A) op(B) + beta C (pdgemm_); ta, tb are 'N' or 'T'. */
void ovq_dmat_gemm(char ta, char tb, double alpha, const OvqDmat *A, const OvqDmat *B,
                   double beta, OvqDmat *C);

/* Collective. C := beta C + alpha A^T (pdtran_); C is m x n, A is n x m. */
void ovq_dmat_tran_add(double alpha, const OvqDmat *A, double beta, OvqDmat *C);

/* Collective. Row sums of A (out: [A->m], replicated on every rank) and, if diag is not NULL,
 * its diagonal (out: [min(m, n)], replicated). One MPI_Allreduce of doubles: the sums are
 * computed per process in column order, so they may differ in the last bits between grids. */
void ovq_dmat_row_sums(const OvqDmat *A, double *sums, double *diag);

/* Collective. The iu smallest eigenvalues (il must be 1; 1 <= iu <= n), ascending, of the
 * symmetric n x n matrix A (lower triangle used; A may be overwritten) and their eigenvectors in
 * the first iu columns of Z (n x c, c >= iu, on the same grid with the same block size; the
 * other columns are not touched). w (out: [iu]) replicated. Only those eigenpairs are computed:
 * - one process: LAPACK dsyevr (tridiagonal reduction, bisection, inverse iteration);
 * - several, n >= 1000 and n >= 8 b (b = iu + max(4, iu / 2)): LOBPCG (no preconditioner),
 *   one product of A's lower triangle with an n x 2b block per iteration, stopped when every
 *   wanted residual ||A z - w z|| <= 1e-11 ||A||, at most 300 iterations;
 * - several, otherwise or if LOBPCG did not converge (an INFO log line says so): the steps of
 *   dsyevr distributed: pdsytrd_, bisection + inverse iteration on the tridiagonal matrix on
 *   rank 0 (clusters of close eigenvalues reorthogonalised whatever their size; MRRR if inverse
 *   iteration fails, with a warning), pdormtr_ on the iu columns.
 * Extra memory per process: O(n (iu + nb)) besides A and Z (LOBPCG: ~13 n b doubles on rank 0).
 * Eigenvalues agree with the one-process path to ~1e-14 ||A||; eigenvectors up to sign and
 * rotation within groups of (nearly) equal eigenvalues. Returns OVQ_OK, or OVQ_ERR (same on
 * every rank) with a message if the solver reports info > 0 or finds fewer eigenpairs. Aborts
 * on bad arguments. */
OvqStatus ovq_dmat_eigh_range(OvqDmat *A, int il, int iu, double *w, OvqDmat *Z);

#endif
