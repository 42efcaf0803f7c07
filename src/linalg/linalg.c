/* BLACS grids, block-cyclic matrices, layout changes and the ScaLAPACK calls (see
 * include/ovq/linalg.h). Debian ships no C header for BLACS / ScaLAPACK, so the prototypes
 * are declared here; the Fortran routines take trailing hidden string lengths (gfortran:
 * size_t). */
#include "ovq/linalg.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- BLACS / ScaLAPACK prototypes ---------------------------------------------------------- */
int Csys2blacs_handle(MPI_Comm comm);
void Cfree_blacs_system_handle(int handle);
void Cblacs_gridinit(int *ctx, const char *order, int nprow, int npcol);
void Cblacs_gridinfo(int ctx, int *nprow, int *npcol, int *myrow, int *mycol);
void Cblacs_gridexit(int ctx);
int numroc_(const int *n, const int *nb, const int *iproc, const int *isrcproc,
            const int *nprocs);
void descinit_(int *desc, const int *m, const int *n, const int *mb, const int *nb,
               const int *irsrc, const int *icsrc, const int *ictxt, const int *lld, int *info);
void pdgemm_(const char *ta, const char *tb, const int *m, const int *n, const int *k,
             const double *alpha, const double *a, const int *ia, const int *ja, const int *desca,
             const double *b, const int *ib, const int *jb, const int *descb, const double *beta,
             double *c, const int *ic, const int *jc, const int *descc, size_t lta, size_t ltb);
void pdtran_(const int *m, const int *n, const double *alpha, const double *a, const int *ia,
             const int *ja, const int *desca, const double *beta, double *c, const int *ic,
             const int *jc, const int *descc);
void pdsyevd_(const char *jobz, const char *uplo, const int *n, double *a, const int *ia,
              const int *ja, const int *desca, double *w, double *z, const int *iz, const int *jz,
              const int *descz, double *work, const int *lwork, int *iwork, const int *liwork,
              int *info, size_t ljobz, size_t luplo);
void dsyevr_(const char *jobz, const char *range, const char *uplo, const int *n, double *a,
             const int *lda, const double *vl, const double *vu, const int *il, const int *iu,
             const double *abstol, int *m, double *w, double *z, const int *ldz, int *isuppz,
             double *work, const int *lwork, int *iwork, const int *liwork, int *info,
             size_t ljobz, size_t lrange, size_t luplo);

/* ---- Grid ---------------------------------------------------------------------------------- */
OvqGrid *ovq_grid_create(MPI_Comm comm) {
  OvqGrid *g = OVQ_CALLOC(1, sizeof(*g));
  g->comm = comm;
  OVQ_MPI_CHECK(MPI_Comm_rank(comm, &g->rank));
  OVQ_MPI_CHECK(MPI_Comm_size(comm, &g->size));
  int p = (int)floor(sqrt((double)g->size));
  while (p > 1 && g->size % p)
    p--;
  g->nprow = p;
  g->npcol = g->size / p;
  g->sys_handle = Csys2blacs_handle(comm);
  g->ctx = g->sys_handle;
  Cblacs_gridinit(&g->ctx, "Row", g->nprow, g->npcol);
  int pr, pc;
  Cblacs_gridinfo(g->ctx, &pr, &pc, &g->myrow, &g->mycol);
  /* The layout changes assume rank p * npcol + q is process (p, q). */
  if (pr != g->nprow || pc != g->npcol || g->myrow * g->npcol + g->mycol != g->rank)
    OVQ_ABORT("BLACS grid %dx%d: rank %d got process (%d, %d) of %dx%d", g->nprow, g->npcol,
              g->rank, g->myrow, g->mycol, pr, pc);
  return g;
}

void ovq_grid_destroy(OvqGrid **g) {
  if (!g || !*g) return;
  Cblacs_gridexit((*g)->ctx);
  Cfree_blacs_system_handle((*g)->sys_handle);
  free(*g);
  *g = NULL;
}

/* ---- Matrices ------------------------------------------------------------------------------ */
int ovq_dmat_default_nb(const OvqGrid *g, int64_t n) {
  int maxp = g->nprow > g->npcol ? g->nprow : g->npcol;
  int64_t nb = n / (4 * (int64_t)maxp); /* >= 4 blocks per process row / column */
  if (nb > 64) nb = 64;
  if (nb < 2) nb = 2;
  return (int)nb;
}

static int numroc(int64_t n, int nb, int iproc, int nprocs) {
  int ni = OVQ_INT(n, "ScaLAPACK dimension"), zero = 0;
  return numroc_(&ni, &nb, &iproc, &zero, &nprocs);
}

OvqDmat *ovq_dmat_create(const OvqGrid *g, int64_t m, int64_t n, int nb) {
  OvqDmat *A = OVQ_CALLOC(1, sizeof(*A));
  A->grid = g;
  A->m = m;
  A->n = n;
  A->nb = nb;
  A->lrows = numroc(m, nb, g->myrow, g->nprow);
  A->lcols = numroc(n, nb, g->mycol, g->npcol);
  A->lld = A->lrows > 1 ? A->lrows : 1;
  int mi = OVQ_INT(m, "matrix rows"), ni = OVQ_INT(n, "matrix columns"), zero = 0, info = 0;
  descinit_(A->desc, &mi, &ni, &nb, &nb, &zero, &zero, &g->ctx, &A->lld, &info);
  OVQ_LAPACK_CHECK(info, "descinit");
  A->a = OVQ_CALLOC((size_t)A->lld * (size_t)(A->lcols > 0 ? A->lcols : 1), sizeof(double));
  return A;
}

void ovq_dmat_destroy(OvqDmat **A) {
  if (!A || !*A) return;
  free((*A)->a);
  free(*A);
  *A = NULL;
}

/* Block-cyclic index maps (source process 0): owner and local index of global index i. */
static inline int owner_of(int64_t i, int nb, int np) { return (int)((i / nb) % np); }
static inline int local_of(int64_t i, int nb, int np) {
  return (int)((i / ((int64_t)nb * np)) * nb + i % nb);
}
static inline int64_t global_of(int l, int nb, int p, int np) {
  return ((int64_t)(l / nb) * np + p) * nb + l % nb;
}

int64_t ovq_dmat_row_global(const OvqDmat *A, int l) {
  return global_of(l, A->nb, A->grid->myrow, A->grid->nprow);
}
int64_t ovq_dmat_col_global(const OvqDmat *A, int l) {
  return global_of(l, A->nb, A->grid->mycol, A->grid->npcol);
}

/* First row of every rank's block (starts[size] = total), from the local counts. */
static int64_t *row_starts(const OvqGrid *g, int64_t n_local) {
  int64_t *s = OVQ_MALLOC(sizeof(int64_t) * (size_t)(g->size + 1));
  OVQ_MPI_CHECK(MPI_Allgather(&n_local, 1, MPI_INT64_T, s + 1, 1, MPI_INT64_T, g->comm));
  s[0] = 0;
  for (int r = 0; r < g->size; r++)
    s[r + 1] += s[r];
  return s;
}

static int *int_array(int n) { return OVQ_CALLOC((size_t)n, sizeof(int)); }

static void displs_of(const int64_t *counts, int *icounts, int *idispls, int n) {
  int64_t off = 0;
  for (int r = 0; r < n; r++) {
    icounts[r] = OVQ_INT(counts[r], "Alltoallv count");
    idispls[r] = OVQ_INT(off, "Alltoallv displacement");
    off += counts[r];
  }
}

/* ---- Layout changes ------------------------------------------------------------------------ */
/* Sender: every local element S(g, j) goes to the process owning A(g, j) (or A(j, g)), packed
 * per destination in (g, j) order. Receiver: walks the same (g, j) order per source, visiting
 * only the elements it owns, so no indices travel. */
void ovq_dmat_from_rows(OvqDmat *A, double beta, double alpha, const double *rows,
                        int64_t n_local, int64_t ld, int transpose) {
  const OvqGrid *g = A->grid;
  const int nb = A->nb, P = g->size;
  int64_t s_rows = transpose ? A->n : A->m, s_cols = transpose ? A->m : A->n;
  int64_t *starts = row_starts(g, n_local);
  if (starts[P] != s_rows)
    OVQ_ABORT("ovq_dmat_from_rows: row blocks add up to %lld rows, expected %lld",
              (long long)starts[P], (long long)s_rows);
  int64_t r0 = starts[g->rank];
  /* Destination process coordinate of every source column j (pcol, or prow if transposed),
   * and of every source row (prow, or pcol if transposed). */
  int *colown = OVQ_MALLOC(sizeof(int) * (size_t)s_cols);
  for (int64_t j = 0; j < s_cols; j++)
    colown[j] = transpose ? owner_of(j, nb, g->nprow) : owner_of(j, nb, g->npcol);
  int64_t *scount = OVQ_CALLOC((size_t)P, sizeof(int64_t));
  int64_t *rcount = OVQ_CALLOC((size_t)P, sizeof(int64_t));
  for (int64_t i = 0; i < n_local; i++) {
    int64_t gi = r0 + i;
    if (!transpose) {
      int p = owner_of(gi, nb, g->nprow);
      for (int q = 0; q < g->npcol; q++)
        scount[p * g->npcol + q] += numroc(s_cols, nb, q, g->npcol);
    } else {
      int q = owner_of(gi, nb, g->npcol);
      for (int p = 0; p < g->nprow; p++)
        scount[p * g->npcol + q] += numroc(s_cols, nb, p, g->nprow);
    }
  }
  for (int s = 0; s < P; s++)
    for (int64_t gi = starts[s]; gi < starts[s + 1]; gi++) {
      if (!transpose && owner_of(gi, nb, g->nprow) == g->myrow) rcount[s] += A->lcols;
      if (transpose && owner_of(gi, nb, g->npcol) == g->mycol) rcount[s] += A->lrows;
    }
  int *sc = int_array(P), *sd = int_array(P), *rc = int_array(P), *rd = int_array(P);
  displs_of(scount, sc, sd, P);
  displs_of(rcount, rc, rd, P);
  int64_t stotal = (int64_t)sd[P - 1] + sc[P - 1], rtotal = (int64_t)rd[P - 1] + rc[P - 1];
  double *sbuf = OVQ_MALLOC(sizeof(double) * (size_t)(stotal + 1));
  double *rbuf = OVQ_MALLOC(sizeof(double) * (size_t)(rtotal + 1));
  int64_t *cur = OVQ_MALLOC(sizeof(int64_t) * (size_t)P);
  for (int r = 0; r < P; r++)
    cur[r] = sd[r];
  for (int64_t i = 0; i < n_local; i++) {
    int64_t gi = r0 + i;
    const double *row = rows + i * ld;
    if (!transpose) {
      int base = owner_of(gi, nb, g->nprow) * g->npcol;
      for (int64_t j = 0; j < s_cols; j++)
        sbuf[cur[base + colown[j]]++] = row[j];
    } else {
      int q = owner_of(gi, nb, g->npcol);
      for (int64_t j = 0; j < s_cols; j++)
        sbuf[cur[colown[j] * g->npcol + q]++] = row[j];
    }
  }
  OVQ_MPI_CHECK(
      MPI_Alltoallv(sbuf, sc, sd, MPI_DOUBLE, rbuf, rc, rd, MPI_DOUBLE, g->comm));
  int64_t pos = 0;
  for (int s = 0; s < P; s++)
    for (int64_t gi = starts[s]; gi < starts[s + 1]; gi++) {
      if (!transpose) {
        if (owner_of(gi, nb, g->nprow) != g->myrow) continue;
        int lr = local_of(gi, nb, g->nprow);
        for (int lc = 0; lc < A->lcols; lc++) {
          double *a = &A->a[(size_t)lc * A->lld + lr];
          *a = beta == 0.0 ? alpha * rbuf[pos++] : beta * *a + alpha * rbuf[pos++];
        }
      } else {
        if (owner_of(gi, nb, g->npcol) != g->mycol) continue;
        double *col = A->a + (size_t)local_of(gi, nb, g->npcol) * A->lld;
        for (int lr = 0; lr < A->lrows; lr++)
          col[lr] = beta == 0.0 ? alpha * rbuf[pos++] : beta * col[lr] + alpha * rbuf[pos++];
      }
    }
  free(cur);
  free(sbuf);
  free(rbuf);
  free(sc);
  free(sd);
  free(rc);
  free(rd);
  free(scount);
  free(rcount);
  free(colown);
  free(starts);
}

void ovq_dmat_to_rows(const OvqDmat *A, double *rows, int64_t n_local, int64_t ld,
                      int64_t ncols) {
  const OvqGrid *g = A->grid;
  const int nb = A->nb, P = g->size;
  int64_t *starts = row_starts(g, n_local);
  if (starts[P] != A->m || ncols < 1 || ncols > A->n)
    OVQ_ABORT("ovq_dmat_to_rows: row blocks add up to %lld rows (expected %lld), ncols %lld",
              (long long)starts[P], (long long)A->m, (long long)ncols);
  int lc_end = numroc(ncols, nb, g->mycol, g->npcol); /* local columns with global j < ncols */
  int64_t *scount = OVQ_CALLOC((size_t)P, sizeof(int64_t));
  int64_t *rcount = OVQ_CALLOC((size_t)P, sizeof(int64_t));
  for (int d = 0; d < P; d++)
    for (int64_t gi = starts[d]; gi < starts[d + 1]; gi++)
      if (owner_of(gi, nb, g->nprow) == g->myrow) scount[d] += lc_end;
  for (int s = 0; s < P; s++) {
    int p = s / g->npcol, q = s % g->npcol;
    int64_t nrow = 0;
    for (int64_t gi = starts[g->rank]; gi < starts[g->rank + 1]; gi++)
      nrow += owner_of(gi, nb, g->nprow) == p;
    rcount[s] = nrow * numroc(ncols, nb, q, g->npcol);
  }
  int *sc = int_array(P), *sd = int_array(P), *rc = int_array(P), *rd = int_array(P);
  displs_of(scount, sc, sd, P);
  displs_of(rcount, rc, rd, P);
  int64_t stotal = (int64_t)sd[P - 1] + sc[P - 1], rtotal = (int64_t)rd[P - 1] + rc[P - 1];
  double *sbuf = OVQ_MALLOC(sizeof(double) * (size_t)(stotal + 1));
  double *rbuf = OVQ_MALLOC(sizeof(double) * (size_t)(rtotal + 1));
  int64_t pos = 0;
  for (int d = 0; d < P; d++)
    for (int64_t gi = starts[d]; gi < starts[d + 1]; gi++) {
      if (owner_of(gi, nb, g->nprow) != g->myrow) continue;
      int lr = local_of(gi, nb, g->nprow);
      for (int lc = 0; lc < lc_end; lc++)
        sbuf[pos++] = A->a[(size_t)lc * A->lld + lr];
    }
  OVQ_MPI_CHECK(
      MPI_Alltoallv(sbuf, sc, sd, MPI_DOUBLE, rbuf, rc, rd, MPI_DOUBLE, g->comm));
  pos = 0;
  int64_t r0 = starts[g->rank];
  for (int s = 0; s < P; s++) {
    int p = s / g->npcol, q = s % g->npcol;
    for (int64_t gi = r0; gi < starts[g->rank + 1]; gi++) {
      if (owner_of(gi, nb, g->nprow) != p) continue;
      double *row = rows + (gi - r0) * ld;
      for (int64_t j = (int64_t)q * nb; j < ncols; j += (int64_t)nb * g->npcol)
        for (int64_t jj = j; jj < j + nb && jj < ncols; jj++)
          row[jj] = rbuf[pos++];
    }
  }
  free(sbuf);
  free(rbuf);
  free(sc);
  free(sd);
  free(rc);
  free(rd);
  free(scount);
  free(rcount);
  free(starts);
}

/* ---- ScaLAPACK calls ----------------------------------------------------------------------- */
void ovq_dmat_gemm(char ta, char tb, double alpha, const OvqDmat *A, const OvqDmat *B,
                   double beta, OvqDmat *C) {
  int m = OVQ_INT(C->m, "gemm m"), n = OVQ_INT(C->n, "gemm n");
  int k = OVQ_INT(ta == 'N' ? A->n : A->m, "gemm k"), one = 1;
  pdgemm_(&ta, &tb, &m, &n, &k, &alpha, A->a, &one, &one, A->desc, B->a, &one, &one, B->desc,
          &beta, C->a, &one, &one, C->desc, 1, 1);
}

void ovq_dmat_tran_add(double alpha, const OvqDmat *A, double beta, OvqDmat *C) {
  int m = OVQ_INT(C->m, "tran m"), n = OVQ_INT(C->n, "tran n"), one = 1;
  pdtran_(&m, &n, &alpha, A->a, &one, &one, A->desc, &beta, C->a, &one, &one, C->desc);
}

void ovq_dmat_row_sums(const OvqDmat *A, double *sums, double *diag) {
  int64_t nd = A->m < A->n ? A->m : A->n, len = A->m + (diag ? nd : 0);
  double *buf = OVQ_CALLOC((size_t)len, sizeof(double));
  for (int lc = 0; lc < A->lcols; lc++) {
    int64_t j = ovq_dmat_col_global(A, lc);
    const double *col = A->a + (size_t)lc * A->lld;
    for (int lr = 0; lr < A->lrows; lr++) {
      int64_t i = ovq_dmat_row_global(A, lr);
      buf[i] += col[lr];
      if (diag && i == j) buf[A->m + i] = col[lr];
    }
  }
  OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, buf, OVQ_INT(len, "row sums"), MPI_DOUBLE, MPI_SUM,
                              A->grid->comm));
  memcpy(sums, buf, sizeof(double) * (size_t)A->m);
  if (diag) memcpy(diag, buf + A->m, sizeof(double) * (size_t)nd);
  free(buf);
}

/* One process: LAPACK's dsyevr on the local array (a subset of eigenpairs). Several
 * processes: pdsyevd_ (all eigenpairs, divide and conquer). pdsyevr_ would compute only the
 * subset, but ScaLAPACK 2.2.1's pdsyevr_ hands PDORMTR a too small LWORK (on 1 x 1 and 1 x 2
 * grids, N >= 2000 with NB = 64) whatever workspace it is given, prints an error and returns
 * the untransformed eigenvectors with info = 0, so it is not used. */
static int eigh_serial(OvqDmat *A, int il, int iu, double *wall, OvqDmat *Z, int *m) {
  int n = (int)A->n, lwork = -1, liwork = -1, info = 0, iwq = 0;
  double vl = 0.0, vu = 0.0, abstol = 0.0, wq = 0.0;
  int *isuppz = OVQ_MALLOC(sizeof(int) * 2 * (size_t)n);
  dsyevr_("V", "I", "L", &n, A->a, &A->lld, &vl, &vu, &il, &iu, &abstol, m, wall, Z->a, &Z->lld,
          isuppz, &wq, &lwork, &iwq, &liwork, &info, 1, 1, 1);
  OVQ_LAPACK_CHECK(info, "dsyevr (workspace query)");
  lwork = (int)wq + 1;
  liwork = iwq > 1 ? iwq : 1;
  double *work = OVQ_MALLOC(sizeof(double) * (size_t)lwork);
  int *iwork = OVQ_MALLOC(sizeof(int) * (size_t)liwork);
  dsyevr_("V", "I", "L", &n, A->a, &A->lld, &vl, &vu, &il, &iu, &abstol, m, wall, Z->a, &Z->lld,
          isuppz, work, &lwork, iwork, &liwork, &info, 1, 1, 1);
  OVQ_LAPACK_CHECK(info, "dsyevr");
  free(work);
  free(iwork);
  free(isuppz);
  return info;
}

OvqStatus ovq_dmat_eigh_range(OvqDmat *A, int il, int iu, double *w, OvqDmat *Z) {
  int n = OVQ_INT(A->n, "eigh n"), one = 1, m = 0, nz = 0, info = 0, lwork = -1, liwork = -1;
  double wq = 0.0;
  int iwq = 0;
  if (il != 1 || iu < il || iu > n) OVQ_ABORT("ovq_dmat_eigh_range: il %d, iu %d, n %d", il, iu, n);
  double *wall = OVQ_MALLOC(sizeof(double) * (size_t)n);
  if (A->grid->size == 1) {
    info = eigh_serial(A, il, iu, wall, Z, &m);
    nz = m;
  } else {
    pdsyevd_("V", "L", &n, A->a, &one, &one, A->desc, wall, Z->a, &one, &one, Z->desc, &wq,
             &lwork, &iwq, &liwork, &info, 1, 1);
    OVQ_LAPACK_CHECK(info, "pdsyevd (workspace query)");
    lwork = OVQ_INT((int64_t)wq + 1, "pdsyevd lwork");
    liwork = iwq > 1 ? iwq : 1;
    double *work = OVQ_MALLOC(sizeof(double) * (size_t)lwork);
    int *iwork = OVQ_MALLOC(sizeof(int) * (size_t)liwork);
    pdsyevd_("V", "L", &n, A->a, &one, &one, A->desc, wall, Z->a, &one, &one, Z->desc, work,
             &lwork, iwork, &liwork, &info, 1, 1);
    OVQ_LAPACK_CHECK(info, "pdsyevd");
    free(work);
    free(iwork);
    /* The eigenvalues come ascending; the vectors of 1..iu are the first iu columns of Z. */
    m = nz = iu - il + 1;
  }
  OvqStatus st = OVQ_OK;
  if (info > 0 || m != iu - il + 1 || nz != m)
    st = ovq_error("eigensolver: info %d, %d eigenvalues and %d eigenvectors of %d requested",
                   info, m, nz, iu - il + 1);
  else
    memcpy(w, wall, sizeof(double) * (size_t)m);
  free(wall);
  return st;
}
