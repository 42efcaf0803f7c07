/* ovq_dmat_eigh_range at the rank count it is run with (registered at 1, 2 and 4 ranks; one
 * rank is LAPACK's dsyevr; on several, the N = 2000 case takes the LOBPCG path and the smaller
 * ones the distributed dsyevr steps, see include/ovq/linalg.h).
 * Matrices with a known spectrum, A = Q diag(lambda) Q^T, Q a product of R Householder
 * reflectors, whose smallest eigenvalues form a tight cluster (exact zeros and 1e-12-spaced
 * values, as the normalised Laplacian of well-separated clusters has). For every case:
 * 1. the eigenvalues equal lambda to 1e-11;
 * 2. residuals max |A z - w z| and max |Z^T Z - I| are <= 1e-10 (untransformed or
 *    non-orthogonal vectors inside the cluster fail this);
 * 3. on several ranks, the eigenvalues agree with rank 0 alone (dsyevr) to 1e-11 and so do the
 *    invariant subspaces of each group of eigenvalues closer than 1e-6 (Z1^T Z of the group is
 *    orthogonal to 1e-9): eigenvectors agree up to sign / rotation within degenerate groups.
 * Cases: N = 2000, nb = 64 (where ScaLAPACK 2.2.1's pdsyevr_ returns untransformed vectors on
 * a 1 x 2 grid); N = 301, nb = 8 (many blocks per process, a cluster of 8); a permuted diagonal
 * matrix (the tridiagonal matrix splits into 1 x 1 blocks, so bisection returns the eigenvalues
 * block by block and the solver must sort them). */
#include <math.h>
#include <mpi.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ovq/error.h"
#include "ovq/linalg.h"
#include "ovq/partition.h"
#include "ovq/rng.h"

static int g_rank, g_size;

/* A = diag(lam) + sum_k (4 beta_k p_k p_k^T - 2 p_k q_k^T - 2 q_k p_k^T): after reflector
 * H = I - 2 v v^T (unit v), H A H = A - 2 v (Av)^T - 2 (Av) v^T + 4 (v^T A v) v v^T, so
 * p_k = v_k, q_k = A_(k-1) v_k, beta_k = v_k^T q_k. Every element and product is computed the
 * same way on every rank, so every grid sees the same matrix. */
typedef struct Spec {
  int n, R;
  double *lam;     /* [n] diagonal of the unrotated matrix */
  double *p, *q;   /* [R][n] */
  double *beta;    /* [R] */
  double *sorted;  /* [n] the eigenvalues, ascending */
} Spec;

static void spec_apply(const Spec *s, int R, const double *x, double *y) {
  for (int i = 0; i < s->n; i++)
    y[i] = s->lam[i] * x[i];
  for (int k = 0; k < R; k++) {
    const double *p = s->p + (size_t)k * s->n, *q = s->q + (size_t)k * s->n;
    double px = 0.0, qx = 0.0;
    for (int i = 0; i < s->n; i++) {
      px += p[i] * x[i];
      qx += q[i] * x[i];
    }
    for (int i = 0; i < s->n; i++)
      y[i] += 4.0 * s->beta[k] * p[i] * px - 2.0 * p[i] * qx - 2.0 * q[i] * px;
  }
}

static double spec_elem(const Spec *s, int i, int j) {
  double a = i == j ? s->lam[i] : 0.0;
  for (int k = 0; k < s->R; k++) {
    const double *p = s->p + (size_t)k * s->n, *q = s->q + (size_t)k * s->n;
    a += 4.0 * s->beta[k] * p[i] * p[j] - 2.0 * p[i] * q[j] - 2.0 * q[i] * p[j];
  }
  return a;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* sorted: the spectrum ascending; it is laid on the diagonal in the order i -> (i * 7919) % n
 * (n coprime to 7919), then rotated by R reflectors drawn from seed. */
static Spec spec_create(int n, const double *sorted, int R, uint64_t seed) {
  Spec s = {n, R, NULL, NULL, NULL, NULL, NULL};
  s.lam = malloc(sizeof(double) * (size_t)n);
  s.sorted = malloc(sizeof(double) * (size_t)n);
  memcpy(s.sorted, sorted, sizeof(double) * (size_t)n);
  qsort(s.sorted, (size_t)n, sizeof(double), cmp_double);
  for (int i = 0; i < n; i++)
    s.lam[(int)(((int64_t)i * 7919) % n)] = sorted[i];
  s.p = malloc(sizeof(double) * (size_t)(R * n + 1));
  s.q = malloc(sizeof(double) * (size_t)(R * n + 1));
  s.beta = malloc(sizeof(double) * (size_t)(R + 1));
  for (int k = 0; k < R; k++) {
    double *v = s.p + (size_t)k * n, norm = 0.0;
    for (int i = 0; i < n; i++) {
      OvqRng r;
      ovq_rng_init(&r, seed, OVQ_STREAM_TEST, (uint64_t)k * (uint64_t)n + (uint64_t)i);
      v[i] = ovq_rng_normal(&r);
      norm += v[i] * v[i];
    }
    for (int i = 0; i < n; i++)
      v[i] /= sqrt(norm);
    spec_apply(&s, k, v, s.q + (size_t)k * n);
    s.beta[k] = 0.0;
    for (int i = 0; i < n; i++)
      s.beta[k] += v[i] * s.q[(size_t)k * n + i];
  }
  return s;
}

static void spec_free(Spec *s) {
  free(s->lam);
  free(s->p);
  free(s->q);
  free(s->beta);
  free(s->sorted);
}

static OvqDmat *spec_dmat(const Spec *s, const OvqGrid *g, int nb) {
  OvqDmat *A = ovq_dmat_create(g, s->n, s->n, nb);
  for (int lc = 0; lc < A->lcols; lc++)
    for (int lr = 0; lr < A->lrows; lr++)
      A->a[(size_t)lc * A->lld + lr] =
          spec_elem(s, (int)ovq_dmat_row_global(A, lr), (int)ovq_dmat_col_global(A, lc));
  return A;
}

/* Solves on comm's grid; eigenvalues (out: [iu]) and vectors (out: [iu][n], column-major,
 * on every rank of comm). Returns the solver's status. */
static OvqStatus solve(const Spec *s, MPI_Comm comm, int nb, int iu, double *w, double *zt) {
  int rank, size;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  OvqGrid *g = ovq_grid_create(comm);
  OvqDmat *A = spec_dmat(s, g, nb);
  OvqDmat *Z = ovq_dmat_create(g, s->n, iu, nb);
  OvqStatus st = ovq_dmat_eigh_range(A, 1, iu, w, Z);
  if (st == OVQ_OK) {
    OvqRange b = ovq_partition_block(s->n, size, rank);
    double *rows = malloc(sizeof(double) * (size_t)(b.count * iu + 1));
    ovq_dmat_to_rows(Z, rows, b.count, iu, iu);
    double *all = malloc(sizeof(double) * (size_t)s->n * (size_t)iu);
    int *cnt = malloc(sizeof(int) * (size_t)size), *dsp = malloc(sizeof(int) * (size_t)size);
    for (int r = 0; r < size; r++) {
      OvqRange br = ovq_partition_block(s->n, size, r);
      cnt[r] = (int)(br.count * iu);
      dsp[r] = (int)(br.start * iu);
    }
    MPI_Allgatherv(rows, (int)(b.count * iu), MPI_DOUBLE, all, cnt, dsp, MPI_DOUBLE, comm);
    for (int i = 0; i < s->n; i++)
      for (int c = 0; c < iu; c++)
        zt[(size_t)c * s->n + i] = all[(size_t)i * iu + c];
    free(cnt);
    free(dsp);
    free(all);
    free(rows);
  }
  ovq_dmat_destroy(&Z);
  ovq_dmat_destroy(&A);
  ovq_grid_destroy(&g);
  return st;
}

/* Largest deviation from orthogonality of X^T Y over the groups of eigenvalues closer than
 * 1e-6 (X, Y: [iu][n]): max |M^T M - I| with M = X_G^T Y_G. */
static double subspace_dev(const double *x, const double *y, const double *w, int n, int iu) {
  double dev = 0.0;
  for (int g0 = 0; g0 < iu;) {
    int g1 = g0 + 1;
    while (g1 < iu && w[g1] - w[g1 - 1] < 1e-6)
      g1++;
    int m = g1 - g0;
    double *M = calloc((size_t)(m * m), sizeof(double));
    for (int a = 0; a < m; a++)
      for (int b = 0; b < m; b++)
        for (int i = 0; i < n; i++)
          M[a * m + b] += x[(size_t)(g0 + a) * n + i] * y[(size_t)(g0 + b) * n + i];
    for (int a = 0; a < m; a++)
      for (int b = 0; b < m; b++) {
        double t = 0.0;
        for (int c = 0; c < m; c++)
          t += M[c * m + a] * M[c * m + b];
        dev = fmax(dev, fabs(t - (a == b)));
      }
    free(M);
    g0 = g1;
  }
  return dev;
}

static void check_case(const char *name, int n, const double *lambda, int R, int nb, int iu) {
  Spec s = spec_create(n, lambda, R, 41);
  double *w = malloc(sizeof(double) * (size_t)iu);
  double *zt = malloc(sizeof(double) * (size_t)n * (size_t)iu);
  double t0 = MPI_Wtime();
  OvqStatus st = solve(&s, MPI_COMM_WORLD, nb, iu, w, zt);
  double secs = MPI_Wtime() - t0;
  CHECK_MSG(st == OVQ_OK, "%s: %s", name, ovq_error_message());
  if (st == OVQ_OK && g_rank == 0) {
    double ev = 0.0, res = 0.0, orth = 0.0, evs = 0.0, sub = 0.0;
    double *az = malloc(sizeof(double) * (size_t)n);
    for (int c = 0; c < iu; c++) {
      ev = fmax(ev, fabs(w[c] - s.sorted[c]));
      const double *z = zt + (size_t)c * n;
      spec_apply(&s, R, z, az);
      for (int i = 0; i < n; i++)
        res = fmax(res, fabs(az[i] - w[c] * z[i]));
      for (int c2 = 0; c2 < iu; c2++) {
        double dot = 0.0;
        for (int i = 0; i < n; i++)
          dot += z[i] * zt[(size_t)c2 * n + i];
        orth = fmax(orth, fabs(dot - (c == c2)));
      }
    }
    free(az);
    CHECK_MSG(ev <= 1e-11, "%s: eigenvalues differ from the spectrum by %.3g", name, ev);
    CHECK_MSG(res <= 1e-10, "%s: residual max |A z - w z| = %.3g", name, res);
    CHECK_MSG(orth <= 1e-10, "%s: max |Z^T Z - I| = %.3g", name, orth);
    if (g_size > 1) {
      double *w1 = malloc(sizeof(double) * (size_t)iu);
      double *z1 = malloc(sizeof(double) * (size_t)n * (size_t)iu);
      CHECK(solve(&s, MPI_COMM_SELF, nb, iu, w1, z1) == OVQ_OK);
      for (int c = 0; c < iu; c++)
        evs = fmax(evs, fabs(w[c] - w1[c]));
      sub = subspace_dev(z1, zt, w1, n, iu);
      CHECK_MSG(evs <= 1e-11, "%s: eigenvalues differ from 1 rank by %.3g", name, evs);
      CHECK_MSG(sub <= 1e-9, "%s: invariant subspaces differ from 1 rank by %.3g", name, sub);
      free(w1);
      free(z1);
    }
    printf("  %-10s N=%d nb=%d %d pairs, %.2f s: eigenvalue max |diff| %.2e, residual %.2e, "
           "orthogonality %.2e; vs 1 rank: eigenvalues %.2e, subspaces %.2e\n",
           name, n, nb, iu, secs, ev, res, orth, evs, sub);
  }
  free(w);
  free(zt);
  spec_free(&s);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_size);
  ovq_log_init(MPI_COMM_WORLD);

  /* Five near-zero eigenvalues (two exact zeros), a gap, then the bulk in [0.2, 2]. */
  int n1 = 2000;
  double *l1 = malloc(sizeof(double) * (size_t)n1);
  const double low1[6] = {0.0, 0.0, 1e-12, 2e-12, 3e-12, 0.05};
  for (int i = 0; i < n1; i++)
    l1[i] = i < 6 ? low1[i] : 0.2 + 1.8 * (double)(i - 6) / (double)(n1 - 7);
  check_case("n2000", n1, l1, 4, 64, 6);

  /* A cluster of eight below 2e-11, then two close but separate eigenvalues. */
  int n2 = 301;
  double *l2 = malloc(sizeof(double) * (size_t)n2);
  const double low2[10] = {0.0, 0.0, 0.0, 1e-12, 2e-12, 5e-12, 1e-11, 2e-11, 0.3, 0.31};
  for (int i = 0; i < n2; i++)
    l2[i] = i < 10 ? low2[i] : 0.5 + 1.5 * (double)(i - 10) / (double)(n2 - 11);
  check_case("n301", n2, l2, 3, 8, 10);

  /* Diagonal (no reflector), repeated eigenvalues: T splits into 1 x 1 blocks. */
  int n3 = 97;
  double *l3 = malloc(sizeof(double) * (size_t)n3);
  const double low3[7] = {0.0, 0.0, 0.0, 1.0, 1.0, 2.0, 3.0};
  for (int i = 0; i < n3; i++)
    l3[i] = i < 7 ? low3[i] : 4.0 + (double)(i - 7);
  check_case("diagonal", n3, l3, 0, 4, 7);

  free(l1);
  free(l2);
  free(l3);
  int code = test_finish("test_linalg_eigh");
  MPI_Finalize();
  return code;
}
