/* PCA through the covariance eigenproblem (see include/ovq/pca.h). */
#include "ovq/pca.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ovq/fixedsum.h"

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

OvqStatus ovq_pca_fit(const float *x, int64_t n_local, int64_t d, int64_t n_components,
                      MPI_Comm comm, OvqPca *pca, double *scores) {
  memset(pca, 0, sizeof(*pca));
  int64_t n = n_local, row_start = 0;
  OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &n, 1, MPI_INT64_T, MPI_SUM, comm));
  OVQ_MPI_CHECK(MPI_Exscan(&n_local, &row_start, 1, MPI_INT64_T, MPI_SUM, comm));
  int rank;
  MPI_Comm_rank(comm, &rank);
  if (rank == 0) row_start = 0; /* MPI_Exscan leaves rank 0's result undefined */
  const int64_t c = n_components;
  if (d < 1 || d > OVQ_PCA_MAX_FEATURES)
    return ovq_error("pca: %lld features; 1 to %d supported (select features first)", (long long)d,
                     OVQ_PCA_MAX_FEATURES);
  if (n < 2 || c < 1 || c > (n < d ? n : d))
    return ovq_error("pca: %lld components of %lld samples x %lld features; need 1 to "
                     "min(samples, features) and at least 2 samples",
                     (long long)c, (long long)n, (long long)d);

  /* Global means (fixed point: the same at any rank count), then the centred block. */
  double amax = 0;
  for (int64_t i = 0; i < n_local * d; i++)
    amax = fmax(amax, fabs((double)x[i]));
  OvqFixedSum fs;
  ovq_fixed_init(&fs, d, ovq_fixed_bound(amax, n, comm));
  for (int64_t i = 0; i < n_local; i++)
    for (int64_t j = 0; j < d; j++)
      ovq_fixed_add(&fs, j, x[i * d + j]);
  double *mean = OVQ_MALLOC(sizeof(double) * (size_t)d);
  ovq_fixed_allreduce(&fs, comm, mean);
  ovq_fixed_free(&fs);
  for (int64_t j = 0; j < d; j++)
    mean[j] /= (double)n;
  double *xc = OVQ_MALLOC(sizeof(double) * (size_t)(n_local * d + 1));
  for (int64_t i = 0; i < n_local; i++)
    for (int64_t j = 0; j < d; j++)
      xc[i * d + j] = (double)x[i * d + j] - mean[j];

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

  /* Scores, then svd_flip's u-based signs: per component, the largest |score| (lowest global
   * index on a tie) made positive. */
  double *sc = scores ? scores : OVQ_MALLOC(sizeof(double) * (size_t)(n_local * c + 1));
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
  if (!scores) free(sc);
  free(xc);
  free(best);
  free(where);
  free(sign);
  return OVQ_OK;
}
