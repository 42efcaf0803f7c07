/* Spectral clustering (see include/ovq/spectral.h): affinity rows computed where the samples
 * live, moved to a block-cyclic matrix, turned into the normalised Laplacian in place, a few
 * eigenpairs (ovq_dmat_eigh_range), eigenvectors gathered back to the rows, k-means on them. */
#include "ovq/spectral.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ovq/kmeans.h"
#include "ovq/linalg.h"

void ovq_spectral_defaults(OvqSpectralParams *p) {
  memset(p, 0, sizeof(*p));
  p->k = 8;
  p->affinity = OVQ_SPECTRAL_RBF;
  p->gamma = 1.0;
  p->n_neighbors = 10;
  p->row_normalise = 1;
  p->n_init = 10;
  p->seed = 0;
}

void ovq_spectral_result_free(OvqSpectralResult *r) {
  if (!r) return;
  free(r->labels);
  free(r->embedding);
  free(r->eigenvalues);
  memset(r, 0, sizeof(*r));
}

/* All N samples on every rank, in double (out: [N][d]); the spectral input is the latent
 * space (d ~ 64), so N d doubles are small next to the N^2 / ranks of the affinity. */
static double *gather_all(const float *x, int64_t n_local, int64_t d, int64_t n, MPI_Comm comm) {
  int size;
  OVQ_MPI_CHECK(MPI_Comm_size(comm, &size));
  int64_t *cnt = OVQ_MALLOC(sizeof(int64_t) * (size_t)size);
  OVQ_MPI_CHECK(MPI_Allgather(&n_local, 1, MPI_INT64_T, cnt, 1, MPI_INT64_T, comm));
  int *rc = OVQ_MALLOC(sizeof(int) * (size_t)size), *rd = OVQ_MALLOC(sizeof(int) * (size_t)size);
  int64_t off = 0;
  for (int r = 0; r < size; r++) {
    rc[r] = OVQ_INT(cnt[r] * d, "gather count");
    rd[r] = OVQ_INT(off, "gather displacement");
    off += cnt[r] * d;
  }
  double *mine = OVQ_MALLOC(sizeof(double) * (size_t)(n_local * d + 1));
  for (int64_t i = 0; i < n_local * d; i++)
    mine[i] = x[i];
  double *all = OVQ_MALLOC(sizeof(double) * (size_t)(n * d));
  OVQ_MPI_CHECK(MPI_Allgatherv(mine, OVQ_INT(n_local * d, "gather count"), MPI_DOUBLE, all, rc,
                               rd, MPI_DOUBLE, comm));
  free(mine);
  free(rc);
  free(rd);
  free(cnt);
  return all;
}

/* Affinity rows r0 .. r0 + nr - 1 (out: [nr][n]). kNN rows hold 0.5 at the neighbours (the
 * 0.5 of 0.5 (A + A^T)); the transpose half is added by the caller. */
static void affinity_rows(const OvqSpectralParams *p, double gamma, const double *all, int64_t n,
                          int64_t d, int64_t r0, int64_t nr, double *rows) {
  double *dist = OVQ_MALLOC(sizeof(double) * (size_t)n);
  int nn = p->n_neighbors;
  int64_t *best = OVQ_MALLOC(sizeof(int64_t) * (size_t)(nn + 1));
  for (int64_t i = 0; i < nr; i++) {
    const double *xi = all + (r0 + i) * d;
    double *row = rows + i * n;
    for (int64_t j = 0; j < n; j++) {
      const double *xj = all + j * d;
      double s = 0.0;
      for (int64_t f = 0; f < d; f++) {
        double t = xi[f] - xj[f];
        s += t * t;
      }
      dist[j] = s;
    }
    if (p->affinity == OVQ_SPECTRAL_RBF) {
      for (int64_t j = 0; j < n; j++)
        row[j] = exp(-gamma * dist[j]);
    } else {
      /* The nn nearest by insertion (ties keep the lower index first). */
      int m = 0;
      for (int64_t j = 0; j < n; j++) {
        if (m == nn && !(dist[j] < dist[best[nn - 1]])) continue;
        int pos = m < nn ? m++ : nn - 1;
        while (pos > 0 && dist[j] < dist[best[pos - 1]]) {
          best[pos] = best[pos - 1];
          pos--;
        }
        best[pos] = j;
      }
      memset(row, 0, sizeof(double) * (size_t)n);
      for (int t = 0; t < m; t++)
        row[best[t]] = 0.5;
    }
  }
  free(best);
  free(dist);
}

/* Fixes each column's sign so that its entry of largest |value| (lowest global row on ties) is
 * positive: one MAXLOC and one SUM allreduce over the k columns. */
static void sign_flip(double *e, int64_t n_local, int k, int64_t r0, MPI_Comm comm) {
  struct {
    double v;
    int i;
  } *loc = OVQ_MALLOC(sizeof(*loc) * (size_t)k);
  for (int c = 0; c < k; c++) {
    loc[c].v = -1.0;
    loc[c].i = 0;
    for (int64_t i = 0; i < n_local; i++)
      if (fabs(e[i * k + c]) > loc[c].v) {
        loc[c].v = fabs(e[i * k + c]);
        loc[c].i = OVQ_INT(r0 + i, "sample index");
      }
  }
  OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, loc, k, MPI_DOUBLE_INT, MPI_MAXLOC, comm));
  double *sign = OVQ_CALLOC((size_t)k, sizeof(double));
  for (int c = 0; c < k; c++)
    if (loc[c].i >= r0 && loc[c].i < r0 + n_local)
      sign[c] = e[(loc[c].i - r0) * k + c] < 0 ? -1.0 : 1.0;
  OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, sign, k, MPI_DOUBLE, MPI_SUM, comm));
  for (int64_t i = 0; i < n_local; i++)
    for (int c = 0; c < k; c++)
      e[i * k + c] *= sign[c] < 0 ? -1.0 : 1.0;
  free(sign);
  free(loc);
}

/* Renames clusters in order of their first sample (lowest global index): the embedding of a
 * repeated eigenvalue is defined up to a rotation that depends on the grid, which can rename
 * k-means's clusters without changing the partition. Empty clusters go last. */
static void canonical_names(int32_t *labels, int64_t n_local, int k, int64_t r0, MPI_Comm comm) {
  int64_t *first = OVQ_MALLOC(sizeof(int64_t) * (size_t)k);
  for (int c = 0; c < k; c++)
    first[c] = INT64_MAX;
  for (int64_t i = n_local - 1; i >= 0; i--)
    first[labels[i]] = r0 + i;
  OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, first, k, MPI_INT64_T, MPI_MIN, comm));
  int32_t *name = OVQ_MALLOC(sizeof(int32_t) * (size_t)k);
  for (int c = 0; c < k; c++) {
    int rank_c = 0;
    for (int o = 0; o < k; o++)
      rank_c += first[o] < first[c] || (first[o] == first[c] && o < c);
    name[c] = rank_c;
  }
  for (int64_t i = 0; i < n_local; i++)
    labels[i] = name[labels[i]];
  free(name);
  free(first);
}

static OvqStatus check_input(const OvqSpectralParams *p, const float *x, int64_t n_local,
                             int64_t d, MPI_Comm comm, int64_t *n_out) {
  int64_t n = n_local, dmin = d, dmax = d;
  OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &n, 1, MPI_INT64_T, MPI_SUM, comm));
  OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &dmin, 1, MPI_INT64_T, MPI_MIN, comm));
  OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &dmax, 1, MPI_INT64_T, MPI_MAX, comm));
  *n_out = n;
  OvqStatus st = OVQ_OK;
  if (dmin < 1 || dmin != dmax)
    st = ovq_error("spectral: feature count %lld must be >= 1 and the same on every rank",
                   (long long)d);
  else if (p->k < 1 || p->k >= n)
    st = ovq_error("spectral: k = %d must be between 1 and N - 1 = %lld", p->k,
                   (long long)(n - 1));
  else if (p->affinity == OVQ_SPECTRAL_RBF && !(p->gamma >= 0.0 && isfinite(p->gamma)))
    st = ovq_error("spectral: gamma = %g must be > 0 (or 0: 1 / (d x feature variance))",
                   p->gamma);
  else if (p->affinity == OVQ_SPECTRAL_NEAREST_NEIGHBORS &&
           (p->n_neighbors < 1 || p->n_neighbors > n))
    st = ovq_error("spectral: n_neighbors = %d must be between 1 and N = %lld", p->n_neighbors,
                   (long long)n);
  else if (p->affinity != OVQ_SPECTRAL_RBF && p->affinity != OVQ_SPECTRAL_NEAREST_NEIGHBORS)
    st = ovq_error("spectral: unknown affinity %d", (int)p->affinity);
  else if (p->n_init < 1)
    st = ovq_error("spectral: n_init = %d must be >= 1", p->n_init);
  for (int64_t i = 0; st == OVQ_OK && i < n_local * d; i++)
    if (!isfinite(x[i])) st = ovq_error("spectral: non-finite value in sample row %lld", (long long)(i / d));
  return ovq_status_agree(comm, st);
}

OvqStatus ovq_spectral_embed(const OvqSpectralParams *p, const float *x, int64_t n_local,
                             int64_t d, MPI_Comm comm, OvqSpectralEmbedding *out) {
  memset(out, 0, sizeof(*out));
  int64_t n;
  if (check_input(p, x, n_local, d, comm, &n) != OVQ_OK) return OVQ_ERR;
  const int k = p->k;
  int64_t r0 = 0;
  OVQ_MPI_CHECK(MPI_Exscan(&n_local, &r0, 1, MPI_INT64_T, MPI_SUM, comm));
  int rank;
  OVQ_MPI_CHECK(MPI_Comm_rank(comm, &rank));
  if (rank == 0) r0 = 0; /* MPI_Exscan leaves rank 0's result undefined */

  /* 1. Affinity rows, then the block-cyclic affinity (kNN: 0.5 A + 0.5 A^T). */
  double *all = gather_all(x, n_local, d, n, comm);
  /* gamma = 0: 1 / (d x the mean variance of the features), scikit-learn's gamma = 'scale' (of
   * SVC): a typical pair at squared distance 2 d var gets affinity e^-2 whatever the scale of
   * the features. Every rank holds all rows, so every rank computes the same value. */
  double gamma = p->gamma;
  if (p->affinity == OVQ_SPECTRAL_RBF && gamma == 0.0) {
    double var = 0.0;
    for (int64_t f = 0; f < d; f++) {
      double m = 0.0, v = 0.0;
      for (int64_t i = 0; i < n; i++) m += all[i * d + f];
      m /= (double)n;
      for (int64_t i = 0; i < n; i++) v += (all[i * d + f] - m) * (all[i * d + f] - m);
      var += v / (double)n;
    }
    var /= (double)d;
    gamma = var > 0.0 ? 1.0 / ((double)d * var) : 1.0;
    ovq_log(OVQ_LOG_DEBUG, "spectral: gamma = 1 / (%lld x %.6g) = %.6g", (long long)d, var, gamma);
  }
  double *rows = OVQ_MALLOC(sizeof(double) * (size_t)(n_local * n + 1));
  affinity_rows(p, gamma, all, n, d, r0, n_local, rows);
  free(all);
  OvqGrid *grid = ovq_grid_create(comm);
  OvqDmat *L = ovq_dmat_create(grid, n, n, ovq_dmat_default_nb(grid, n));
  ovq_dmat_from_rows(L, 0.0, 1.0, rows, n_local, n, 0);
  if (p->affinity == OVQ_SPECTRAL_NEAREST_NEIGHBORS)
    ovq_dmat_from_rows(L, 1.0, 1.0, rows, n_local, n, 1);
  free(rows);

  /* 2. L = I - D^-1/2 A D^-1/2 with the diagonal of A ignored (scipy's csgraph.laplacian:
   * m /= w; m /= w[:, None] with w = sqrt(d), 1 for isolated samples). */
  for (int lc = 0; lc < L->lcols; lc++)
    for (int lr = 0; lr < L->lrows; lr++)
      if (ovq_dmat_row_global(L, lr) == ovq_dmat_col_global(L, lc))
        L->a[(size_t)lc * L->lld + lr] = 0.0;
  double *w = OVQ_MALLOC(sizeof(double) * (size_t)n);
  ovq_dmat_row_sums(L, w, NULL);
  for (int64_t i = 0; i < n; i++)
    w[i] = w[i] == 0.0 ? -1.0 : sqrt(w[i]); /* -1 marks an isolated sample */
  for (int lc = 0; lc < L->lcols; lc++) {
    int64_t j = ovq_dmat_col_global(L, lc);
    double wj = w[j] < 0 ? 1.0 : w[j];
    for (int lr = 0; lr < L->lrows; lr++) {
      int64_t i = ovq_dmat_row_global(L, lr);
      double *a = &L->a[(size_t)lc * L->lld + lr];
      if (i == j)
        *a = w[i] < 0 ? 0.0 : 1.0;
      else
        *a = -(*a / wj) / (w[i] < 0 ? 1.0 : w[i]);
    }
  }

  /* 3. The k + 1 smallest eigenpairs (Z holds only their vectors). */
  OvqDmat *Z = ovq_dmat_create(grid, n, k + 1, L->nb);
  double *lambda = OVQ_MALLOC(sizeof(double) * (size_t)(k + 1));
  OvqStatus st = ovq_dmat_eigh_range(L, 1, k + 1, lambda, Z);
  ovq_dmat_destroy(&L);
  st = ovq_status_agree(comm, st);
  double *e = NULL;
  if (st == OVQ_OK) {
    e = OVQ_MALLOC(sizeof(double) * (size_t)(n_local * k + 1));
    ovq_dmat_to_rows(Z, e, n_local, k, k);
  }
  ovq_dmat_destroy(&Z);
  ovq_grid_destroy(&grid);
  if (st != OVQ_OK) {
    free(lambda);
    free(w);
    return OVQ_ERR;
  }

  /* 4. Embedding: D^-1/2 scaling, deterministic signs (per vector, so the first k columns of a
   * larger embedding are the embedding for k). */
  for (int64_t i = 0; i < n_local; i++) {
    double wi = w[r0 + i] < 0 ? 1.0 : w[r0 + i];
    for (int c = 0; c < k; c++)
      e[i * k + c] /= wi;
  }
  free(w);
  sign_flip(e, n_local, k, r0, comm);
  out->k_max = k;
  out->n_local = n_local;
  out->r0 = r0;
  out->rows = e;
  out->eigenvalues = lambda;
  return OVQ_OK;
}

void ovq_spectral_embedding_free(OvqSpectralEmbedding *e) {
  if (!e) return;
  free(e->rows);
  free(e->eigenvalues);
  memset(e, 0, sizeof(*e));
}

OvqStatus ovq_spectral_cluster(const OvqSpectralParams *p, const OvqSpectralEmbedding *e,
                               MPI_Comm comm, OvqSpectralResult *out) {
  memset(out, 0, sizeof(*out));
  const int k = p->k, K = e->k_max;
  const int64_t n_local = e->n_local;
  if (k < 1 || k > K)
    return ovq_error("spectral clustering: k = %d outside the embedding's 1..%d", k, K);
  /* 5. Optional unit rows over the first k columns, then k-means. */
  float *emb = OVQ_MALLOC(sizeof(float) * (size_t)(n_local * k + 1));
  for (int64_t i = 0; i < n_local; i++) {
    const double *row = e->rows + i * K;
    double s = 0.0;
    for (int c = 0; c < k; c++)
      s += row[c] * row[c];
    double scale = p->row_normalise && s > 0.0 ? 1.0 / sqrt(s) : 1.0;
    for (int c = 0; c < k; c++)
      emb[i * k + c] = (float)(row[c] * scale);
  }
  OvqKmeansParams kp;
  ovq_kmeans_defaults(&kp);
  kp.k = k;
  kp.n_init = p->n_init;
  kp.seed = p->seed;
  OvqKmeansResult km;
  if (ovq_kmeans_fit(&kp, emb, n_local, k, comm, &km) != OVQ_OK) {
    free(emb);
    return OVQ_ERR;
  }
  out->k = k;
  out->n_local = n_local;
  canonical_names(km.labels, n_local, k, e->r0, comm);
  out->labels = km.labels;
  km.labels = NULL;
  out->inertia = km.inertia;
  ovq_kmeans_result_free(&km);
  out->embedding = emb;
  out->eigenvalues = OVQ_MALLOC(sizeof(double) * (size_t)(k + 1));
  memcpy(out->eigenvalues, e->eigenvalues, sizeof(double) * (size_t)(k + 1));
  out->eigengap = e->eigenvalues[k] - e->eigenvalues[k - 1];
  return OVQ_OK;
}

OvqStatus ovq_spectral_fit(const OvqSpectralParams *p, const float *x, int64_t n_local,
                           int64_t d, MPI_Comm comm, OvqSpectralResult *out) {
  memset(out, 0, sizeof(*out));
  OvqSpectralEmbedding e;
  if (ovq_spectral_embed(p, x, n_local, d, comm, &e) != OVQ_OK) return OVQ_ERR;
  OvqStatus st = ovq_spectral_cluster(p, &e, comm, out);
  ovq_spectral_embedding_free(&e);
  return st;
}
