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
void pdsytrd_(const char *uplo, const int *n, double *a, const int *ia, const int *ja,
              const int *desca, double *d, double *e, double *tau, double *work, const int *lwork,
              int *info, size_t luplo);
void pdormtr_(const char *side, const char *uplo, const char *trans, const int *m, const int *n,
              const double *a, const int *ia, const int *ja, const int *desca, const double *tau,
              double *c, const int *ic, const int *jc, const int *descc, double *work,
              const int *lwork, int *info, size_t lside, size_t luplo, size_t ltrans);
void dstebz_(const char *range, const char *order, const int *n, const double *vl,
             const double *vu, const int *il, const int *iu, const double *abstol, const double *d,
             const double *e, int *m, int *nsplit, double *w, int *iblock, int *isplit,
             double *work, int *iwork, int *info, size_t lrange, size_t lorder);
void dstein_(const int *n, const double *d, const double *e, const int *m, const double *w,
             const int *iblock, const int *isplit, double *z, const int *ldz, double *work,
             int *iwork, int *ifail, int *info);
void dstemr_(const char *jobz, const char *range, const int *n, double *d, double *e,
             const double *vl, const double *vu, const int *il, const int *iu, int *m, double *w,
             double *z, const int *ldz, const int *nzc, int *isuppz, int *tryrac, double *work,
             const int *lwork, int *iwork, const int *liwork, int *info, size_t ljobz,
             size_t lrange);
void dsyevr_(const char *jobz, const char *range, const char *uplo, const int *n, double *a,
             const int *lda, const double *vl, const double *vu, const int *il, const int *iu,
             const double *abstol, int *m, double *w, double *z, const int *ldz, int *isuppz,
             double *work, const int *lwork, int *iwork, const int *liwork, int *info,
             size_t ljobz, size_t lrange, size_t luplo);

void dgemm_(const char *ta, const char *tb, const int *m, const int *n, const int *k,
            const double *alpha, const double *a, const int *lda, const double *b, const int *ldb,
            const double *beta, double *c, const int *ldc, size_t lta, size_t ltb);
void dsymm_(const char *side, const char *uplo, const int *m, const int *n, const double *alpha,
            const double *a, const int *lda, const double *b, const int *ldb, const double *beta,
            double *c, const int *ldc, size_t lside, size_t luplo);
void dgeqrf_(const int *m, const int *n, double *a, const int *lda, double *tau, double *work,
             const int *lwork, int *info);
void dorgqr_(const int *m, const int *n, const int *k, double *a, const int *lda,
             const double *tau, double *work, const int *lwork, int *info);
void dsyev_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w,
            double *work, const int *lwork, int *info, size_t ljobz, size_t luplo);

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


/* ---- Symmetric eigenproblems --------------------------------------------------------------- */
/* One process: LAPACK's dsyevr, which for a subset of the spectrum (il = 1, iu < n) runs dsytrd,
 * then bisection (dstebz) and inverse iteration (dstein) on the tridiagonal matrix T, then
 * dormtr on the iu vectors only. */
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

/* The iu smallest eigenpairs of the tridiagonal T = (d, e) (in: [n], [n - 1]), as dsyevr does
 * for a subset: dstebz (bisection; abstol 0 means eps ||T||_1, dsyevr's default) then dstein
 * (inverse iteration; eigenvectors whose eigenvalues lie within 1e-3 ||T||_1 of each other are
 * reorthogonalised, however large the cluster: it runs on one process). If dstein reports
 * vectors that did not converge, MRRR (dstemr) is tried instead, with a log note. Eigenvalues
 * ascending in w (out: [n]), vectors in zt (out: [iu][n], column-major). Returns the number of
 * pairs found (iu on success) and the LAPACK info in *info. */
static int tridiag_subset(int n, const double *d, const double *e, int iu, double *w, double *zt,
                          int *info) {
  int il = 1, m = 0, nsplit = 0;
  double vl = 0.0, vu = 0.0, abstol = 0.0;
  int *iblock = OVQ_MALLOC(sizeof(int) * (size_t)n), *isplit = OVQ_MALLOC(sizeof(int) * (size_t)n);
  int *iwork = OVQ_MALLOC(sizeof(int) * 3 * (size_t)n), *ifail = OVQ_MALLOC(sizeof(int) * (size_t)n);
  double *work = OVQ_MALLOC(sizeof(double) * 5 * (size_t)n);
  dstebz_("I", "B", &n, &vl, &vu, &il, &iu, &abstol, d, e, &m, &nsplit, w, iblock, isplit, work,
          iwork, info, 1, 1);
  OVQ_LAPACK_CHECK(*info, "dstebz");
  if (*info == 0 && m == iu) {
    dstein_(&n, d, e, &m, w, iblock, isplit, zt, &n, work, iwork, ifail, info);
    OVQ_LAPACK_CHECK(*info, "dstein");
    /* With ORDER = 'B' the values come grouped by split-off block of T: sort them ascending,
     * moving the vectors along (dsyevr's final selection sort). */
    for (int i = 0; *info == 0 && i < m - 1; i++) {
      int best = i;
      for (int j = i + 1; j < m; j++)
        if (w[j] < w[best]) best = j;
      if (best == i) continue;
      double t = w[i];
      w[i] = w[best];
      w[best] = t;
      for (int r = 0; r < n; r++) {
        t = zt[(size_t)i * n + r];
        zt[(size_t)i * n + r] = zt[(size_t)best * n + r];
        zt[(size_t)best * n + r] = t;
      }
    }
  }
  if (*info > 0) {
    ovq_log(OVQ_LOG_WARN, "eigh: bisection / inverse iteration on the tridiagonal matrix "
                          "failed (info %d); trying MRRR (dstemr)", *info);
    double *dc = OVQ_MALLOC(sizeof(double) * (size_t)n), *ec = OVQ_MALLOC(sizeof(double) * (size_t)n);
    memcpy(dc, d, sizeof(double) * (size_t)n);
    memcpy(ec, e, sizeof(double) * (size_t)(n - 1));
    ec[n - 1] = 0.0;
    int nzc = iu, tryrac = 1, lwork = -1, liwork = -1, iwq = 0;
    double wq = 0.0;
    int *isuppz = OVQ_MALLOC(sizeof(int) * 2 * (size_t)iu);
    dstemr_("V", "I", &n, dc, ec, &vl, &vu, &il, &iu, &m, w, zt, &n, &nzc, isuppz, &tryrac, &wq,
            &lwork, &iwq, &liwork, info, 1, 1);
    OVQ_LAPACK_CHECK(*info, "dstemr (workspace query)");
    lwork = (int)wq + 1;
    liwork = iwq > 1 ? iwq : 1;
    double *mwork = OVQ_MALLOC(sizeof(double) * (size_t)lwork);
    int *miwork = OVQ_MALLOC(sizeof(int) * (size_t)liwork);
    dstemr_("V", "I", &n, dc, ec, &vl, &vu, &il, &iu, &m, w, zt, &n, &nzc, isuppz, &tryrac, mwork,
            &lwork, miwork, &liwork, info, 1, 1);
    OVQ_LAPACK_CHECK(*info, "dstemr");
    free(mwork);
    free(miwork);
    free(isuppz);
    free(dc);
    free(ec);
  }
  free(iblock);
  free(isplit);
  free(iwork);
  free(ifail);
  free(work);
  return m;
}

/* ---- LOBPCG (several processes) ------------------------------------------------------------
 * Knyazev's locally optimal block preconditioned conjugate gradient (SIAM J. Sci. Comput. 23,
 * 2001), without preconditioner, with the basis [X R P] orthonormalised explicitly (Hetmaniuk &
 * Lehoucq, J. Comput. Phys. 218, 2006) so that the Rayleigh-Ritz step is a standard eigenproblem.
 * The only O(n^2) work is the product of A with the n x 2b block [R P] once per iteration: one
 * pass over this process's lower-triangle blocks (BLAS3) and one MPI_Reduce, instead of the
 * several synchronisations per column of a tridiagonal reduction. Everything else (n x 3b
 * blocks, b = iu + guard vectors) runs on rank 0, which broadcasts [R P]; so every process uses
 * the same vectors. */

/* Y = A V for V replicated (in: [m][n], column-major, ld n), using only the lower triangle of
 * A (diagonal blocks with dsymm, off-diagonal blocks as themselves and transposed). Y is the sum
 * over processes: complete on rank 0 only (out: [m][n] there; y is scratch on the others). */
static void lower_product(const OvqDmat *A, const double *V, int m, double *part, double *Y) {
  const OvqGrid *g = A->grid;
  const int nb = A->nb, n = (int)A->n, ldv = n;
  const double one = 1.0;
  memset(part, 0, sizeof(double) * (size_t)n * (size_t)m);
  for (int lc0 = 0; lc0 < A->lcols; lc0 += nb) {
    int j0 = (int)ovq_dmat_col_global(A, lc0), cw = A->lcols - lc0 < nb ? A->lcols - lc0 : nb;
    for (int lr0 = 0; lr0 < A->lrows; lr0 += nb) {
      int i0 = (int)ovq_dmat_row_global(A, lr0), rh = A->lrows - lr0 < nb ? A->lrows - lr0 : nb;
      if (i0 < j0) continue; /* upper triangle */
      const double *blk = A->a + (size_t)lc0 * A->lld + lr0;
      if (i0 == j0) {
        dsymm_("L", "L", &rh, &m, &one, blk, &A->lld, V + i0, &ldv, &one, part + i0, &ldv, 1, 1);
      } else {
        dgemm_("N", "N", &rh, &m, &cw, &one, blk, &A->lld, V + j0, &ldv, &one, part + i0, &ldv, 1,
               1);
        dgemm_("T", "N", &cw, &m, &rh, &one, blk, &A->lld, V + i0, &ldv, &one, part + j0, &ldv, 1,
               1);
      }
    }
  }
  OVQ_MPI_CHECK(MPI_Reduce(part, Y, OVQ_INT((int64_t)n * m, "LOBPCG block"), MPI_DOUBLE, MPI_SUM,
                           0, g->comm));
}

/* C (m1 x m2) = A^T B, A n x m1, B n x m2 (column-major, ld n). */
static void gemm_tn(int n, int m1, int m2, const double *a, const double *b, double *c) {
  const double one = 1.0, zero = 0.0;
  dgemm_("T", "N", &m1, &m2, &n, &one, a, &n, b, &n, &zero, c, &m1, 1, 1);
}

/* V (n x m) := V - X (X^T V), X n x k with orthonormal columns. */
static void project_out(int n, const double *x, int k, double *v, int m, double *tmp) {
  if (k == 0 || m == 0) return;
  const double one = 1.0, mone = -1.0;
  gemm_tn(n, k, m, x, v, tmp);
  dgemm_("N", "N", &n, &m, &k, &mone, x, &n, tmp, &k, &one, v, &n, 1, 1);
}

/* Orthonormal basis of the columns of V (n x m, in place): Householder QR; the columns of Q
 * are orthonormal even if V is rank deficient (they then add arbitrary directions, which the
 * Rayleigh-Ritz step may use or not). */
static void orthonormalise(int n, double *v, int m) {
  if (m == 0) return;
  int info = 0, lwork = -1;
  double wq = 0.0, wq2 = 0.0;
  double *tau = OVQ_MALLOC(sizeof(double) * (size_t)m);
  dgeqrf_(&n, &m, v, &n, tau, &wq, &lwork, &info);
  dorgqr_(&n, &m, &m, v, &n, tau, &wq2, &lwork, &info);
  lwork = (int)(wq > wq2 ? wq : wq2) + 1;
  double *work = OVQ_MALLOC(sizeof(double) * (size_t)lwork);
  dgeqrf_(&n, &m, v, &n, tau, work, &lwork, &info);
  OVQ_LAPACK_CHECK(info, "dgeqrf");
  dorgqr_(&n, &m, &m, v, &n, tau, work, &lwork, &info);
  OVQ_LAPACK_CHECK(info, "dorgqr");
  free(work);
  free(tau);
}

/* Eigen-decomposition of the symmetric m x m matrix h (in place: eigenvectors), values in th.
 * Returns the LAPACK info. */
static int small_eig(int m, double *h, double *th) {
  int info = 0, lwork = -1;
  double wq = 0.0;
  dsyev_("V", "L", &m, h, &m, th, &wq, &lwork, &info, 1, 1);
  lwork = (int)wq + 1;
  double *work = OVQ_MALLOC(sizeof(double) * (size_t)lwork);
  dsyev_("V", "L", &m, h, &m, th, work, &lwork, &info, 1, 1);
  OVQ_LAPACK_CHECK(info, "dsyev");
  free(work);
  return info;
}

/* LOBPCG block size: the iu wanted vectors and max(4, iu / 2) guard vectors, which speed up
 * the convergence of the last wanted ones when the next eigenvalues are close. */
static int lobpcg_block(int iu) { return iu + (iu / 2 > 4 ? iu / 2 : 4); }

/* A few well-spread start vectors, the same on every grid (splitmix64 of the index). */
static double start_value(uint64_t i) {
  uint64_t z = i + 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return (double)(z >> 11) * 0x1.0p-53 - 0.5;
}

/* The iu smallest eigenpairs by LOBPCG; residuals max_j ||A x_j - w_j x_j|| <= tol ||A||
 * (||A|| estimated by the largest |Ritz value| seen). Returns 1 and fills w, Z if converged
 * within max_iter iterations, else 0 (A and Z untouched; the caller falls back to the direct
 * solver). A is not modified. */
static int eigh_lobpcg(const OvqDmat *A, int iu, double *w, OvqDmat *Z, int *iters) {
  const OvqGrid *g = A->grid;
  const int n = (int)A->n, b = lobpcg_block(iu), max_iter = 300;
  const double tol = 1e-11;
  const int root = g->rank == 0;
  size_t nbk = (size_t)n * (size_t)b;
  /* S = [X R P] and AS = [AX AR AP], n x 3b each (rank 0); RP: [R P] on every process. */
  double *S = OVQ_CALLOC(3 * nbk, sizeof(double)), *AS = OVQ_CALLOC(3 * nbk, sizeof(double));
  double *RP = OVQ_CALLOC(2 * nbk, sizeof(double)), *part = OVQ_MALLOC(sizeof(double) * 2 * nbk);
  double *H = OVQ_MALLOC(sizeof(double) * 9 * (size_t)b * b), *th = OVQ_MALLOC(sizeof(double) * 3 * (size_t)b);
  double *tmp = OVQ_MALLOC(sizeof(double) * 9 * (size_t)b * b), *T2 = OVQ_MALLOC(sizeof(double) * 3 * nbk);
  double anorm = 0.0;
  int np = 0, converged = 0, it = 0;
  const double one = 1.0, zero = 0.0;
  /* Start: X = orthonormalised pseudo-random block, then Rayleigh-Ritz on it. */
  if (root) {
    for (size_t i = 0; i < nbk; i++)
      RP[i] = start_value(i);
    orthonormalise(n, RP, b);
  }
  OVQ_MPI_CHECK(MPI_Bcast(RP, OVQ_INT(nbk, "LOBPCG block"), MPI_DOUBLE, 0, g->comm));
  lower_product(A, RP, b, part, AS);
  if (root) {
    memcpy(S, RP, sizeof(double) * nbk);
    gemm_tn(n, b, b, S, AS, H);
    small_eig(b, H, th);
    dgemm_("N", "N", &n, &b, &b, &one, S, &n, H, &b, &zero, T2, &n, 1, 1);
    memcpy(S, T2, sizeof(double) * nbk);
    dgemm_("N", "N", &n, &b, &b, &one, AS, &n, H, &b, &zero, T2, &n, 1, 1);
    memcpy(AS, T2, sizeof(double) * nbk);
    for (int j = 0; j < b; j++)
      anorm = fmax(anorm, fabs(th[j]));
  }
  for (it = 0; it <= max_iter; it++) {
    int flag[2] = {0, 0}; /* converged, columns of [R P] */
    if (root) {
      /* R = AX - X diag(theta); converged when the iu wanted residuals are small. */
      double *R = S + nbk, rmax = 0.0;
      for (int j = 0; j < b; j++) {
        double r2 = 0.0;
        for (int i = 0; i < n; i++) {
          double r = AS[(size_t)j * n + i] - th[j] * S[(size_t)j * n + i];
          R[(size_t)j * n + i] = r;
          r2 += r * r;
        }
        if (j < iu) rmax = fmax(rmax, sqrt(r2));
      }
      flag[0] = rmax <= tol * (anorm > 0.0 ? anorm : 1.0);
      if (!flag[0]) {
        /* Orthonormalise R against X, and P against X and R (twice: the second pass removes
         * what rounding left of the first). */
        for (int pass = 0; pass < 2; pass++) {
          project_out(n, S, b, R, b, tmp);
          orthonormalise(n, R, b);
        }
        double *P = S + 2 * nbk;
        for (int pass = 0; pass < 2 && np > 0; pass++) {
          project_out(n, S, b, P, np, tmp);
          project_out(n, R, b, P, np, tmp);
          orthonormalise(n, P, np);
        }
        memcpy(RP, R, sizeof(double) * nbk * (np > 0 ? 2 : 1));
      }
      flag[1] = b + np;
    }
    OVQ_MPI_CHECK(MPI_Bcast(flag, 2, MPI_INT, 0, g->comm));
    if (flag[0]) {
      converged = 1;
      break;
    }
    if (it == max_iter) break;
    OVQ_MPI_CHECK(MPI_Bcast(RP, OVQ_INT((size_t)n * flag[1], "LOBPCG block"), MPI_DOUBLE, 0,
                            g->comm));
    lower_product(A, RP, flag[1], part, AS + nbk);
    if (root) {
      /* Rayleigh-Ritz on span[X R P] (orthonormal): the b smallest Ritz pairs. */
      int ms = b + b + np;
      gemm_tn(n, ms, ms, S, AS, H);
      for (int c = 0; c < ms; c++) /* symmetrise */
        for (int r = c + 1; r < ms; r++)
          H[(size_t)c * ms + r] = H[(size_t)r * ms + c] =
              0.5 * (H[(size_t)c * ms + r] + H[(size_t)r * ms + c]);
      small_eig(ms, H, th);
      for (int j = 0; j < ms; j++)
        anorm = fmax(anorm, fabs(th[j]));
      /* New P = [R P] C([R P] rows), new X = S C, AX = AS C, with C the first b vectors. */
      int mrp = ms - b;
      dgemm_("N", "N", &n, &b, &mrp, &one, S + nbk, &n, H + b, &ms, &zero, T2 + 2 * nbk, &n, 1,
             1);
      dgemm_("N", "N", &n, &b, &ms, &one, S, &n, H, &ms, &zero, T2, &n, 1, 1);
      dgemm_("N", "N", &n, &b, &ms, &one, AS, &n, H, &ms, &zero, T2 + nbk, &n, 1, 1);
      memcpy(S, T2, sizeof(double) * nbk);
      memcpy(AS, T2 + nbk, sizeof(double) * nbk);
      memcpy(S + 2 * nbk, T2 + 2 * nbk, sizeof(double) * nbk);
      np = b;
    }
  }
  *iters = it;
  if (converged) {
    if (root) {
      memcpy(w, th, sizeof(double) * (size_t)iu);
      memcpy(RP, S, sizeof(double) * (size_t)n * iu);
    }
    OVQ_MPI_CHECK(MPI_Bcast(w, iu, MPI_DOUBLE, 0, g->comm));
    OVQ_MPI_CHECK(MPI_Bcast(RP, OVQ_INT((int64_t)n * iu, "eigenvector block"), MPI_DOUBLE, 0,
                            g->comm));
    for (int l = 0; l < Z->lcols; l++) {
      int64_t j = ovq_dmat_col_global(Z, l);
      if (j >= iu) continue;
      double *col = Z->a + (size_t)l * Z->lld;
      for (int r = 0; r < Z->lrows; r++)
        col[r] = RP[(size_t)j * n + ovq_dmat_row_global(Z, r)];
    }
  }
  free(S);
  free(AS);
  free(RP);
  free(part);
  free(H);
  free(th);
  free(tmp);
  free(T2);
  return converged;
}

/* Several processes: the same three steps as dsyevr, distributed where the work is O(n^3):
 * 1. pdsytrd_ reduces A to T = Q^T A Q (Q kept as reflectors in A and tau);
 * 2. T (O(n) numbers) is gathered to every process; rank 0 computes the iu eigenpairs of T
 *    (tridiag_subset, O(n iu) work) and broadcasts them; each process copies its part of the
 *    vectors into Z;
 * 3. pdormtr_ applies Q to the first iu columns of Z.
 * Memory beyond A and those iu columns of Z: O(n (iu + nb)) per process. ScaLAPACK's own subset
 * drivers are not used: pdsyevr_ (2.2.1) hands pdormtr_ a too small LWORK on 1 x 1 and 1 x 2
 * grids (N >= 2000, NB = 64) whatever workspace it is given and returns untransformed vectors
 * with info = 0; pdsyevx_ reorthogonalises a cluster of eigenvalues only when it fits one
 * process's workspace (ICLUSTR / info 2), and on a 1 x 2 grid its default workspace lets
 * pdsyntrd_ copy all of A to one process. */
static OvqStatus eigh_dist(OvqDmat *A, int iu, double *w, OvqDmat *Z) {
  const OvqGrid *g = A->grid;
  int n = OVQ_INT(A->n, "eigh n"), one = 1, info = 0, lwork = -1;
  int lc = A->lcols > 0 ? A->lcols : 1;
  double wq = 0.0, t0 = MPI_Wtime();
  double *d = OVQ_CALLOC((size_t)lc, sizeof(double)), *e = OVQ_CALLOC((size_t)lc, sizeof(double));
  double *tau = OVQ_CALLOC((size_t)lc, sizeof(double));
  pdsytrd_("L", &n, A->a, &one, &one, A->desc, d, e, tau, &wq, &lwork, &info, 1);
  OVQ_LAPACK_CHECK(info, "pdsytrd (workspace query)");
  lwork = OVQ_INT((int64_t)wq + 1, "pdsytrd lwork");
  double *work = OVQ_MALLOC(sizeof(double) * (size_t)lwork);
  pdsytrd_("L", &n, A->a, &one, &one, A->desc, d, e, tau, work, &lwork, &info, 1);
  OVQ_LAPACK_CHECK(info, "pdsytrd");
  free(work);
  double t1 = MPI_Wtime();

  /* d and e are indexed by local column and replicated down each process column: process row
   * 0 contributes its columns, the others zeros, so the sum is exact. */
  double *de = OVQ_CALLOC(2 * (size_t)n, sizeof(double));
  if (g->myrow == 0)
    for (int l = 0; l < A->lcols; l++) {
      int64_t j = ovq_dmat_col_global(A, l);
      de[j] = d[l];
      if (j < n - 1) de[n + j] = e[l];
    }
  free(d);
  free(e);
  OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, de, 2 * n, MPI_DOUBLE, MPI_SUM, g->comm));
  /* Rank 0 alone solves the tridiagonal problem, so every process gets the very same vectors
   * (the n x iu block is a few MB). */
  double *zt = OVQ_MALLOC(sizeof(double) * (size_t)n * (size_t)iu);
  int found[2] = {0, 0}; /* pairs found, info */
  if (g->rank == 0) {
    double *wall = OVQ_MALLOC(sizeof(double) * (size_t)n); /* dstebz may return more on ties */
    found[0] = tridiag_subset(n, de, de + n, iu, wall, zt, &found[1]);
    memcpy(w, wall, sizeof(double) * (size_t)iu);
    free(wall);
  }
  free(de);
  OVQ_MPI_CHECK(MPI_Bcast(found, 2, MPI_INT, 0, g->comm));
  OvqStatus st = OVQ_OK;
  if (found[1] != 0 || found[0] != iu) {
    st = ovq_error("eigensolver: info %d, %d eigenpairs of %d requested", found[1], found[0], iu);
  } else {
    OVQ_MPI_CHECK(MPI_Bcast(w, iu, MPI_DOUBLE, 0, g->comm));
    OVQ_MPI_CHECK(MPI_Bcast(zt, OVQ_INT((int64_t)n * iu, "eigenvector block"), MPI_DOUBLE, 0,
                            g->comm));
  }
  double t2 = MPI_Wtime();
  if (st == OVQ_OK) {
    for (int l = 0; l < Z->lcols; l++) {
      int64_t j = ovq_dmat_col_global(Z, l);
      if (j >= iu) continue;
      double *col = Z->a + (size_t)l * Z->lld;
      for (int r = 0; r < Z->lrows; r++)
        col[r] = zt[(size_t)j * n + ovq_dmat_row_global(Z, r)];
    }
    lwork = -1;
    pdormtr_("L", "L", "N", &n, &iu, A->a, &one, &one, A->desc, tau, Z->a, &one, &one, Z->desc,
             &wq, &lwork, &info, 1, 1, 1);
    OVQ_LAPACK_CHECK(info, "pdormtr (workspace query)");
    lwork = OVQ_INT((int64_t)wq + 1, "pdormtr lwork");
    work = OVQ_MALLOC(sizeof(double) * (size_t)lwork);
    pdormtr_("L", "L", "N", &n, &iu, A->a, &one, &one, A->desc, tau, Z->a, &one, &one, Z->desc,
             work, &lwork, &info, 1, 1, 1);
    OVQ_LAPACK_CHECK(info, "pdormtr");
    free(work);
  }
  ovq_log(OVQ_LOG_DEBUG,
          "eigh n=%d, %d pairs, %dx%d grid: pdsytrd %.2f s, tridiagonal %.2f s, pdormtr %.2f s", n,
          iu, g->nprow, g->npcol, t1 - t0, t2 - t1, MPI_Wtime() - t2);
  free(zt);
  free(tau);
  return st;
}

OvqStatus ovq_dmat_eigh_range(OvqDmat *A, int il, int iu, double *w, OvqDmat *Z) {
  int n = OVQ_INT(A->n, "eigh n");
  if (il != 1 || iu < il || iu > n || A->m != A->n || Z->m != A->n || Z->n < iu ||
      Z->nb != A->nb || Z->grid != A->grid)
    OVQ_ABORT("ovq_dmat_eigh_range: il %d, iu %d, A %lld x %lld, Z %lld x %lld", il, iu,
              (long long)A->m, (long long)A->n, (long long)Z->m, (long long)Z->n);
  if (A->grid->size > 1) {
    /* LOBPCG where the block is small next to n (every case of interest: a few eigenpairs of
     * an N x N affinity); the direct solver for small n or when LOBPCG does not converge. */
    if (n >= 1000 && 8 * lobpcg_block(iu) <= n) {
      int iters = 0;
      double t0 = MPI_Wtime();
      int ok = eigh_lobpcg(A, iu, w, Z, &iters);
      ovq_log(ok ? OVQ_LOG_DEBUG : OVQ_LOG_INFO, "eigh n=%d, %d pairs: LOBPCG %s after %d iterations, %.2f s%s", n, iu,
              ok ? "converged" : "did not converge", iters, MPI_Wtime() - t0,
              ok ? "" : "; using the direct solver");
      if (ok) return OVQ_OK;
    }
    return eigh_dist(A, iu, w, Z);
  }
  double *wall = OVQ_MALLOC(sizeof(double) * (size_t)n);
  int m = 0, info = eigh_serial(A, il, iu, wall, Z, &m);
  OvqStatus st = OVQ_OK;
  if (info > 0 || m != iu - il + 1)
    st = ovq_error("eigensolver: info %d, %d eigenpairs of %d requested", info, m, iu - il + 1);
  else
    memcpy(w, wall, sizeof(double) * (size_t)m);
  free(wall);
  return st;
}
