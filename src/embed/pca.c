/* PCA through the covariance eigenproblem (see include/ovq/pca.h). */
#include "ovq/pca.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ovq/fixedsum.h"
#include "ovq/rng.h"

/* LAPACK (Fortran symbol): selected eigenpairs of a symmetric matrix (MRRR). */
extern void dsyevr_(char *jobz, char *range, char *uplo, int *n, double *a, int *lda, double *vl,
                    double *vu, int *il, int *iu, double *abstol, int *m, double *w, double *z,
                    int *ldz, int *isuppz, double *work, int *lwork, int *iwork, int *liwork,
                    int *info);

void ovq_pca_destroy(OvqPca *pca) {
  if (!pca) return;
  free(pca->mean);
  free(pca->components);
  free(pca->explained_variance);
  free(pca->explained_variance_ratio);
  memset(pca, 0, sizeof(*pca));
}

/* The c largest eigenpairs of the symmetric d x d matrix a (destroyed): values descending in
 * w[c], vectors as rows of v[c][d]. */
static void top_eigen(double *a, int d, int c, double *w, double *v) {
  char jobz = 'V', range = 'I', uplo = 'U';
  int lda = d, il = d - c + 1, iu = d, m = 0, ldz = d, info = 0, lwork = -1, liwork = -1, iw;
  double vl = 0, vu = 0, abstol = 0, wq;
  double *wall = OVQ_MALLOC(sizeof(double) * (size_t)d);
  double *z = OVQ_MALLOC(sizeof(double) * (size_t)d * (size_t)c);
  int *isuppz = OVQ_MALLOC(sizeof(int) * (size_t)(2 * c));
  dsyevr_(&jobz, &range, &uplo, &d, a, &lda, &vl, &vu, &il, &iu, &abstol, &m, wall, z, &ldz, isuppz,
          &wq, &lwork, &iw, &liwork, &info);
  OVQ_LAPACK_CHECK(info, "dsyevr");
  lwork = (int)wq;
  liwork = iw;
  double *work = OVQ_MALLOC(sizeof(double) * (size_t)lwork);
  int *iwork = OVQ_MALLOC(sizeof(int) * (size_t)liwork);
  dsyevr_(&jobz, &range, &uplo, &d, a, &lda, &vl, &vu, &il, &iu, &abstol, &m, wall, z, &ldz, isuppz,
          work, &lwork, iwork, &liwork, &info);
  OVQ_LAPACK_CHECK(info, "dsyevr");
  if (info > 0 || m != c) OVQ_ABORT("dsyevr: internal error %d (%d of %d eigenpairs)", info, m, c);
  /* Ascending from LAPACK, column-major z: column t is the eigenvector of wall[t]. */
  for (int t = 0; t < c; t++) {
    w[t] = wall[c - 1 - t];
    memcpy(v + (size_t)t * d, z + (size_t)(c - 1 - t) * d, sizeof(double) * (size_t)d);
  }
  free(wall);
  free(z);
  free(isuppz);
  free(work);
  free(iwork);
}

/* Global column means (fixed point: the same at any rank count) into mean[d]; the centred
 * block into a new array. */
static double *centre(const float *x, int64_t n_local, int64_t d, int64_t n, MPI_Comm comm,
                      double *mean) {
  double amax = 0;
  for (int64_t i = 0; i < n_local * d; i++)
    amax = fmax(amax, fabs((double)x[i]));
  OvqFixedSum fs;
  ovq_fixed_init(&fs, d, ovq_fixed_bound(amax, n, comm));
  for (int64_t i = 0; i < n_local; i++)
    for (int64_t j = 0; j < d; j++)
      ovq_fixed_add(&fs, j, x[i * d + j]);
  ovq_fixed_allreduce(&fs, comm, mean);
  ovq_fixed_free(&fs);
  for (int64_t j = 0; j < d; j++)
    mean[j] /= (double)n;
  double *xc = OVQ_MALLOC(sizeof(double) * (size_t)(n_local * d + 1));
  for (int64_t i = 0; i < n_local; i++)
    for (int64_t j = 0; j < d; j++)
      xc[i * d + j] = (double)x[i * d + j] - mean[j];
  return xc;
}

/* Scores sc = xc comp^T, then svd_flip's u-based signs: per component, the largest |score|
 * (lowest global index on a tie) made positive; comp flipped with it. */
static void scores_and_signs(const double *xc, int64_t n_local, int64_t row_start, int64_t d,
                             int64_t c, double *comp, double *sc, MPI_Comm comm) {
  if (n_local > 0)
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n_local, (int)c, (int)d, 1.0, xc,
                (int)d, comp, (int)d, 0.0, sc, (int)c);
  double *best = OVQ_MALLOC(sizeof(double) * (size_t)c);
  int64_t *where = OVQ_MALLOC(sizeof(int64_t) * (size_t)c);
  double *sign = OVQ_MALLOC(sizeof(double) * (size_t)c);
  for (int64_t t = 0; t < c; t++) {
    best[t] = -1;
    for (int64_t i = 0; i < n_local; i++)
      best[t] = fmax(best[t], fabs(sc[i * c + t]));
  }
  OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, best, (int)c, MPI_DOUBLE, MPI_MAX, comm));
  for (int64_t t = 0; t < c; t++) {
    where[t] = INT64_MAX;
    sign[t] = 0;
    for (int64_t i = 0; i < n_local; i++)
      if (fabs(sc[i * c + t]) == best[t]) {
        where[t] = row_start + i;
        break;
      }
  }
  OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, where, (int)c, MPI_INT64_T, MPI_MIN, comm));
  for (int64_t t = 0; t < c; t++)
    if (where[t] >= row_start && where[t] < row_start + n_local)
      sign[t] = sc[(where[t] - row_start) * c + t] < 0 ? -1.0 : 1.0;
  OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, sign, (int)c, MPI_DOUBLE, MPI_SUM, comm));
  for (int64_t t = 0; t < c; t++)
    if (sign[t] < 0) {
      for (int64_t j = 0; j < d; j++)
        comp[t * d + j] = -comp[t * d + j];
      for (int64_t i = 0; i < n_local; i++)
        sc[i * c + t] = -sc[i * c + t];
    }
  free(best);
  free(where);
  free(sign);
}

static void finish(OvqPca *pca, int64_t d, int64_t c, int64_t n, double *mean, double *comp,
                   double *ev, double trace) {
  pca->d = d;
  pca->n_components = c;
  pca->n_samples = n;
  pca->mean = mean;
  pca->components = comp;
  pca->explained_variance = ev;
  pca->explained_variance_ratio = OVQ_MALLOC(sizeof(double) * (size_t)c);
  for (int64_t t = 0; t < c; t++)
    pca->explained_variance_ratio[t] = trace > 0 ? ev[t] / trace : 0.0;
  pca->total_variance = trace;
}

/* Samples over all ranks and this rank's first global row; checks the shape. */
static OvqStatus shape(int64_t n_local, int64_t d, int64_t c, MPI_Comm comm, int64_t *n,
                       int64_t *row_start) {
  *n = n_local;
  *row_start = 0;
  OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, n, 1, MPI_INT64_T, MPI_SUM, comm));
  OVQ_MPI_CHECK(MPI_Exscan(&n_local, row_start, 1, MPI_INT64_T, MPI_SUM, comm));
  int rank;
  MPI_Comm_rank(comm, &rank);
  if (rank == 0) *row_start = 0; /* MPI_Exscan leaves rank 0's result undefined */
  if (d < 1 || *n < 2 || c < 1 || c > (*n < d ? *n : d))
    return ovq_error("pca: %lld components of %lld samples x %lld features; need 1 to "
                     "min(samples, features) and at least 2 samples",
                     (long long)c, (long long)*n, (long long)d);
  return OVQ_OK;
}

OvqStatus ovq_pca_fit(const float *x, int64_t n_local, int64_t d, int64_t n_components,
                      MPI_Comm comm, OvqPca *pca, double *scores) {
  memset(pca, 0, sizeof(*pca));
  if (d > OVQ_PCA_MAX_FEATURES)
    return ovq_pca_fit_randomized(x, n_local, d, n_components, 7, 0, comm, pca, scores);
  int64_t n, row_start;
  const int64_t c = n_components;
  if (shape(n_local, d, c, comm, &n, &row_start) != OVQ_OK) return OVQ_ERR;
  double *mean = OVQ_MALLOC(sizeof(double) * (size_t)d);
  double *xc = centre(x, n_local, d, n, comm, mean);

  /* Covariance: local DSYRK (upper triangle), summed over ranks, mirrored, / (N - 1). */
  double *cov = OVQ_CALLOC((size_t)d * (size_t)d, sizeof(double));
  if (n_local > 0)
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)d, OVQ_INT(n_local, "rows"), 1.0, xc,
                (int)d, 0.0, cov, (int)d);
  OVQ_MPI_CHECK(
      MPI_Allreduce(MPI_IN_PLACE, cov, OVQ_INT(d * d, "covariance"), MPI_DOUBLE, MPI_SUM, comm));
  double trace = 0;
  for (int64_t a = 0; a < d; a++) {
    for (int64_t b = a; b < d; b++)
      cov[b * d + a] = cov[a * d + b] /= (double)(n - 1);
    trace += cov[a * d + a];
  }
  double *ev = OVQ_MALLOC(sizeof(double) * (size_t)c);
  double *comp = OVQ_MALLOC(sizeof(double) * (size_t)(c * d));
  top_eigen(cov, (int)d, (int)c, ev, comp);
  free(cov);
  double *sc = scores ? scores : OVQ_MALLOC(sizeof(double) * (size_t)(n_local * c + 1));
  scores_and_signs(xc, n_local, row_start, d, c, comp, sc, comm);
  if (!scores) free(sc);
  free(xc);
  finish(pca, d, c, n, mean, comp, ev, trace);
  return OVQ_OK;
}

/* Orthonormalises the l columns of the row-distributed y [n_local][l] in place through the
 * eigendecomposition of the Gram matrix y^T y (allreduced when comm != MPI_COMM_NULL): y <- y V
 * Lambda^(-1/2); directions with eigenvalue below 1e-13 of the largest are zeroed. Twice, for
 * orthogonality to rounding. */
static void orthonormalise(double *y, int64_t n_local, int l, MPI_Comm comm) {
  double *g = OVQ_MALLOC(sizeof(double) * (size_t)(l * l));
  double *w = OVQ_MALLOC(sizeof(double) * (size_t)l);
  double *v = OVQ_MALLOC(sizeof(double) * (size_t)(l * l));
  double *t = OVQ_MALLOC(sizeof(double) * (size_t)(n_local * l + 1));
  for (int pass = 0; pass < 2; pass++) {
    memset(g, 0, sizeof(double) * (size_t)(l * l));
    if (n_local > 0)
      cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, l, (int)n_local, 1.0, y, l, 0.0, g, l);
    if (comm != MPI_COMM_NULL)
      OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, g, l * l, MPI_DOUBLE, MPI_SUM, comm));
    for (int a = 0; a < l; a++)
      for (int b = a + 1; b < l; b++) g[b * l + a] = g[a * l + b];
    top_eigen(g, l, l, w, v); /* v rows: eigenvectors, by decreasing eigenvalue */
    for (int q = 0; q < l; q++) {
      double s = w[q] > 1e-13 * w[0] && w[q] > 0 ? 1.0 / sqrt(w[q]) : 0.0;
      for (int a = 0; a < l; a++) v[q * l + a] *= s;
    }
    /* t = y v^T (columns: scaled eigen-directions) */
    if (n_local > 0) {
      cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n_local, l, l, 1.0, y, l, v, l,
                  0.0, t, l);
      memcpy(y, t, sizeof(double) * (size_t)(n_local * l));
    }
  }
  free(g);
  free(w);
  free(v);
  free(t);
}

OvqStatus ovq_pca_fit_randomized(const float *x, int64_t n_local, int64_t d, int64_t n_components,
                                 int power_iters, uint64_t seed, MPI_Comm comm, OvqPca *pca,
                                 double *scores) {
  memset(pca, 0, sizeof(*pca));
  int64_t n, row_start;
  const int64_t c = n_components;
  if (shape(n_local, d, c, comm, &n, &row_start) != OVQ_OK) return OVQ_ERR;
  int64_t lim = n < d ? n : d;
  const int l = (int)(c + 10 < lim ? c + 10 : lim);
  double *mean = OVQ_MALLOC(sizeof(double) * (size_t)d);
  double *xc = centre(x, n_local, d, n, comm, mean);
  double trace = 0;
  for (int64_t i = 0; i < n_local * d; i++) trace += xc[i] * xc[i];
  OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &trace, 1, MPI_DOUBLE, MPI_SUM, comm));
  trace /= (double)(n - 1);
  /* Test matrix omega [d][l], row j from the stream of feature j. */
  double *om = OVQ_MALLOC(sizeof(double) * (size_t)(d * l));
  for (int64_t j = 0; j < d; j++) {
    OvqRng r;
    ovq_rng_init(&r, seed, OVQ_STREAM_PCA_PROJECT, (uint64_t)j);
    for (int q = 0; q < l; q++) om[j * l + q] = ovq_rng_normal(&r);
  }
  double *y = OVQ_MALLOC(sizeof(double) * (size_t)(n_local * l + 1));
  for (int it = 0; it <= power_iters; it++) {
    if (it > 0) { /* om <- orth(xc^T y) */
      if (n_local > 0)
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)d, l, (int)n_local, 1.0, xc,
                    (int)d, y, l, 0.0, om, l);
      else
        memset(om, 0, sizeof(double) * (size_t)(d * l));
      OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, om, OVQ_INT(d * l, "projection"), MPI_DOUBLE,
                                  MPI_SUM, comm));
      orthonormalise(om, d, l, MPI_COMM_NULL);
    }
    if (n_local > 0)
      cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n_local, l, (int)d, 1.0, xc,
                  (int)d, om, l, 0.0, y, l);
    orthonormalise(y, n_local, l, comm);
  }
  /* B = y^T xc [l][d]; its right singular vectors from the eigenproblem of B B^T. */
  double *b = OVQ_CALLOC((size_t)(l * d), sizeof(double));
  if (n_local > 0)
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, l, (int)d, (int)n_local, 1.0, y, l, xc,
                (int)d, 0.0, b, (int)d);
  OVQ_MPI_CHECK(
      MPI_Allreduce(MPI_IN_PLACE, b, OVQ_INT(l * d, "projection"), MPI_DOUBLE, MPI_SUM, comm));
  double *bb = OVQ_MALLOC(sizeof(double) * (size_t)(l * l));
  cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, l, (int)d, 1.0, b, (int)d, 0.0, bb, l);
  for (int a = 0; a < l; a++)
    for (int q = a + 1; q < l; q++) bb[q * l + a] = bb[a * l + q];
  double *s2 = OVQ_MALLOC(sizeof(double) * (size_t)l);
  double *u = OVQ_MALLOC(sizeof(double) * (size_t)(l * l));
  top_eigen(bb, l, l, s2, u);
  double *ev = OVQ_MALLOC(sizeof(double) * (size_t)c);
  double *comp = OVQ_CALLOC((size_t)(c * d), sizeof(double));
  for (int64_t t = 0; t < c; t++) {
    double sv = s2[t] > 0 ? sqrt(s2[t]) : 0.0;
    ev[t] = (s2[t] > 0 ? s2[t] : 0.0) / (double)(n - 1);
    /* component t = u_t^T B / s_t */
    if (sv > 0)
      cblas_dgemv(CblasRowMajor, CblasTrans, l, (int)d, 1.0 / sv, b, (int)d, u + t * l, 1, 0.0,
                  comp + t * d, 1);
  }
  double *sc = scores ? scores : OVQ_MALLOC(sizeof(double) * (size_t)(n_local * c + 1));
  scores_and_signs(xc, n_local, row_start, d, c, comp, sc, comm);
  if (!scores) free(sc);
  free(xc);
  free(om);
  free(y);
  free(b);
  free(bb);
  free(s2);
  free(u);
  finish(pca, d, c, n, mean, comp, ev, trace);
  return OVQ_OK;
}
