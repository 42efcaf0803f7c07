/* Cluster stage: every method x k on one feature set, written into a results file
 * (ovq/pipeline.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ovq/consensus.h"
#include "ovq/pipeline.h"
#include "ovq/progress.h"
#include "ovq/silhouette.h"

void ovq_cluster_data_init(OvqClusterData *d, const float *x, int64_t n_total, int64_t row_start,
                           int64_t n_local, int64_t D, int64_t n_mrna) {
  memset(d, 0, sizeof *d);
  d->n_total = n_total;
  d->row_start = row_start;
  d->n_local = n_local;
  d->all = x;
  d->d_all = D;
  if (n_mrna > 0 && n_mrna < D) {
    const int64_t g = n_mrna, m = D - g;
    float *a = OVQ_MALLOC(sizeof(float) * (size_t)(n_local * g + 1));
    float *b = OVQ_MALLOC(sizeof(float) * (size_t)(n_local * m + 1));
    for (int64_t i = 0; i < n_local; i++) {
      memcpy(a + i * g, x + i * D, sizeof(float) * (size_t)g);
      memcpy(b + i * m, x + i * D + g, sizeof(float) * (size_t)m);
    }
    d->n_views = 2;
    d->view[0] = a;
    d->view[1] = b;
    d->d[0] = g;
    d->d[1] = m;
  } else {
    d->n_views = 1;
    d->view[0] = x;
    d->d[0] = D;
  }
}

void ovq_cluster_data_free(OvqClusterData *d) {
  if (d->n_views == 2) {
    free((void *)d->view[0]);
    free((void *)d->view[1]);
  }
  memset(d, 0, sizeof *d);
}

/* Columns of the per-k table: k, the criteria, the seconds. */
enum { NCOL = 12 };
static const char *const kCols[NCOL] = {"k",       "silhouette", "calinski_harabasz",
                                        "davies_bouldin", "inertia", "loglik", "bic",
                                        "eigengap", "cophenetic", "cdf_area", "seconds",
                                        "failed"};

OvqStatus ovq_stage_cluster(const OvqConfig *cfg, const OvqClusterData *data, OvqResults *r,
                            const char *prefix, MPI_Comm comm) {
  char methods[16][32];
  int n_methods = 0;
  char buf[sizeof cfg->cluster.methods];
  snprintf(buf, sizeof buf, "%s", cfg->cluster.methods);
  for (char *sv = NULL, *t = strtok_r(buf, ", ", &sv); t; t = strtok_r(NULL, ", ", &sv)) {
    if (!ovq_cluster_known(t))
      return ovq_error("cluster.methods: unknown method '%s' (kmeans, gmm, spectral, snf, nmf, "
                       "icluster, hclust)", t);
    if (n_methods == 16) return ovq_error("cluster.methods: more than 16 methods");
    snprintf(methods[n_methods++], sizeof methods[0], "%s", t);
  }
  if (n_methods == 0) return ovq_error("cluster.methods is empty");
  int k_lo = (int)(cfg->cluster.k ? cfg->cluster.k : cfg->cluster.k_min);
  int k_hi = (int)(cfg->cluster.k ? cfg->cluster.k : cfg->cluster.k_max);
  const int64_t N = data->n_total, n_local = data->n_local;
  if (cfg->cluster.k == 1)
    return ovq_error("cluster.k = 1: one cluster is not a clustering (0 chooses k)");
  if (k_lo > k_hi)
    return ovq_error("cluster.k_min = %d is larger than cluster.k_max = %d", k_lo, k_hi);
  if (k_lo > N)
    return ovq_error("k = %d: needs 2 <= k <= %lld (the number of samples)", k_lo, (long long)N);
  if (k_hi > N) k_hi = (int)N;
  const int nk = k_hi - k_lo + 1;
  int32_t *labels = OVQ_MALLOC(sizeof(int32_t) * (size_t)(n_local + 1));
  int32_t *best = OVQ_MALLOC(sizeof(int32_t) * (size_t)(n_local + 1));
  double *tab = OVQ_MALLOC(sizeof(double) * (size_t)(NCOL * nk));
  char name[1024];
  OvqStatus st = OVQ_OK;
  for (int mi = 0; mi < n_methods && st == OVQ_OK; mi++) {
    const char *meth = methods[mi];
    int best_k = -1;
    double best_s = -INFINITY;
    for (int k = k_lo; k <= k_hi && st == OVQ_OK; k++) {
      OvqClusterDiag dg;
      double t0 = ovq_time();
      st = ovq_cluster_run(meth, cfg, k, data, comm, labels, &dg);
      double area = NAN;
      if (st == OVQ_OK && cfg->cluster.consensus_reps > 0) {
        /* Consensus labels replace the single run's; its silhouette is recomputed. */
        OvqConsensusResult cr;
        st = ovq_consensus_run(meth, cfg, k, (int)cfg->cluster.consensus_reps,
                               cfg->cluster.consensus_fraction, data, comm, labels, &cr);
        if (st == OVQ_OK) {
          area = cr.cdf_area;
          double s;
          dg.silhouette = NAN;
          if (ovq_silhouette(data->all, data->n_local, data->d_all, labels, k, comm, NULL, &s) ==
              OVQ_OK)
            dg.silhouette = s;
          else
            ovq_error_clear();
        }
      }
      /* A method that fails at one k (a degenerate mixture, a singular matrix: the same on
       * every rank) does not end the stage: its labels are unknown (-1) and its row NaN. */
      const int failed = st != OVQ_OK;
      if (failed) {
        ovq_log(OVQ_LOG_WARN, "%s k=%d failed: %s; its labels are left unknown", meth, k,
                ovq_error_message());
        ovq_error_clear();
        st = OVQ_OK;
        for (int64_t i = 0; i < n_local; i++) labels[i] = -1;
        dg.silhouette = dg.calinski_harabasz = dg.davies_bouldin = dg.inertia = NAN;
        dg.loglik = dg.bic = dg.eigengap = dg.cophenetic = NAN;
      }
      double secs = ovq_time_max(ovq_time() - t0, comm);
      int q = k - k_lo;
      double row[NCOL] = {k,         dg.silhouette, dg.calinski_harabasz, dg.davies_bouldin,
                          dg.inertia, dg.loglik,    dg.bic,               dg.eigengap,
                          dg.cophenetic, area,      secs,                 failed};
      for (int c = 0; c < NCOL; c++) tab[c * nk + q] = row[c];
      char line[320] = "";
      for (int c = 1; c < NCOL - 2; c++)
        if (!isnan(row[c]))
          snprintf(line + strlen(line), sizeof line - strlen(line), " %s %.6g", kCols[c], row[c]);
      if (!failed) ovq_log(OVQ_LOG_INFO, "%s k=%d:%s (%.2f s)", meth, k, line, secs);
      snprintf(name, sizeof name, "%s/clusters/%s/k%d/labels", prefix, meth, k);
      ovq_results_write_rows(r, name, H5T_NATIVE_INT32, labels, N, 0, data->row_start, n_local);
      if (best_k < 0 || (!failed && (dg.silhouette > best_s || best_s == -INFINITY))) {
        best_k = k;
        best_s = isnan(dg.silhouette) ? -INFINITY : dg.silhouette;
        memcpy(best, labels, sizeof(int32_t) * (size_t)n_local);
      }
    }
    if (st != OVQ_OK) break;
    snprintf(name, sizeof name, "%s/clusters/%s/labels", prefix, meth);
    ovq_results_write_rows(r, name, H5T_NATIVE_INT32, best, N, 0, data->row_start, n_local);
    for (int c = 0; c < NCOL; c++) {
      snprintf(name, sizeof name, "%s/clusters/%s/choose_k/%s", prefix, meth, kCols[c]);
      ovq_results_write_array(r, name, H5T_NATIVE_DOUBLE, tab + c * nk, nk, 0);
    }
    snprintf(name, sizeof name, "%s/clusters/%s", prefix, meth);
    ovq_results_write_attr_double(r, name, "k", best_k);
    if (k_lo < k_hi)
      ovq_log(OVQ_LOG_INFO, "%s: k = %d has the highest mean silhouette (%.4f)", meth, best_k,
              best_s);
  }
  free(labels);
  free(best);
  free(tab);
  return st;
}
