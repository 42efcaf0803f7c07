/* The clustering front end (see include/ovq/cluster.h): dispatch by method name. */
#include "ovq/cluster.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ovq/kmeans.h"
#include "ovq/silhouette.h"

static const char *const kMethods[] = {"kmeans"};

int ovq_cluster_known(const char *method) {
  for (size_t i = 0; i < sizeof kMethods / sizeof kMethods[0]; i++)
    if (!strcmp(kMethods[i], method)) return 1;
  return 0;
}

static OvqStatus run_kmeans(const OvqConfig *cfg, int k, const OvqClusterData *data,
                            MPI_Comm comm, int32_t *labels, OvqClusterDiag *diag) {
  OvqKmeansParams p;
  ovq_kmeans_defaults(&p);
  p.k = k;
  p.n_init = (int)cfg->cluster.n_init;
  p.max_iter = (int)cfg->cluster.max_iter;
  p.seed = (uint64_t)cfg->cluster.seed;
  p.init = !strcmp(cfg->cluster.kmeans_init, "kmeans||") ? OVQ_KMEANS_INIT_PARALLEL
                                                          : OVQ_KMEANS_INIT_PLUSPLUS;
  OvqKmeansResult r;
  if (ovq_kmeans_fit(&p, data->all, data->n_local, data->d_all, comm, &r) != OVQ_OK) return OVQ_ERR;
  memcpy(labels, r.labels, sizeof(int32_t) * (size_t)data->n_local);
  diag->inertia = r.inertia;
  ovq_kmeans_result_free(&r);
  return OVQ_OK;
}

OvqStatus ovq_cluster_run(const char *method, const OvqConfig *cfg, int k,
                          const OvqClusterData *data, MPI_Comm comm, int32_t *labels,
                          OvqClusterDiag *diag) {
  diag->silhouette = diag->inertia = diag->loglik = diag->bic = diag->eigengap =
      diag->cophenetic = NAN;
  if (k < 2 || k > data->n_total)
    return ovq_error("k = %d: needs 2 <= k <= %lld (the number of samples)", k,
                     (long long)data->n_total);
  OvqStatus st;
  if (!strcmp(method, "kmeans"))
    st = run_kmeans(cfg, k, data, comm, labels, diag);
  else
    return ovq_error("unknown clustering method '%s'", method);
  st = ovq_status_agree(comm, st);
  if (st != OVQ_OK) return st;
  /* Silhouette of every result, on the concatenated features; a degenerate clustering (one
   * cluster used) has none. */
  double s;
  if (ovq_silhouette(data->all, data->n_local, data->d_all, labels, k, comm, NULL, &s) == OVQ_OK)
    diag->silhouette = s;
  else
    ovq_error_clear();
  return OVQ_OK;
}
