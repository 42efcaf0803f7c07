/* The clustering front end (see include/ovq/cluster.h): dispatch by method name. */
#include "ovq/cluster.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ovq/gmm.h"
#include "ovq/hclust.h"
#include "ovq/icluster.h"
#include "ovq/kmeans.h"
#include "ovq/nmf.h"
#include "ovq/separation.h"
#include "ovq/silhouette.h"
#include "ovq/snf.h"
#include "ovq/spectral.h"

static const char *const kMethods[] = {"kmeans", "gmm", "spectral", "snf", "hclust", "nmf",
                                       "icluster"};

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

/* Gaussian mixture (EM) of the concatenated features, k-means initialised. */
static OvqStatus run_gmm(const OvqConfig *cfg, int k, const OvqClusterData *data, MPI_Comm comm,
                         int32_t *labels, OvqClusterDiag *diag) {
  OvqGmmParams p;
  ovq_gmm_defaults(&p);
  p.k = k;
  p.covariance = !strcmp(cfg->cluster.gmm_covariance, "diag")        ? OVQ_GMM_DIAG
                 : !strcmp(cfg->cluster.gmm_covariance, "spherical") ? OVQ_GMM_SPHERICAL
                                                                     : OVQ_GMM_FULL;
  p.seed = (uint64_t)cfg->cluster.seed;
  OvqGmmResult r;
  if (ovq_gmm_fit(&p, data->all, data->n_local, data->d_all, comm, &r) != OVQ_OK) return OVQ_ERR;
  memcpy(labels, r.labels, sizeof(int32_t) * (size_t)data->n_local);
  diag->loglik = r.log_likelihood;
  diag->bic = r.bic;
  if (!r.converged)
    ovq_log(OVQ_LOG_WARN, "GMM k=%d did not converge in %d iterations", k, r.n_iter);
  ovq_gmm_result_free(&r);
  return OVQ_OK;
}

/* The last spectral embedding, so that a range of k shares one eigendecomposition (at
 * N = 11,000 one costs ~20 s). Keyed like the hclust tree (affinity settings, row shape and
 * placement, the rows' bytes). The first call on some data computes k + 1 eigenpairs only (a
 * consensus run's subsamples are each seen once); a second call on the same data with a larger k
 * computes them for the largest k the run asks for (cluster.k_max), which serves the rest. */
static struct {
  uint64_t key;
  int have;
  OvqSpectralEmbedding emb;
} g_spec;

static uint64_t fnv_bytes(uint64_t h, const void *p, size_t n);

static OvqStatus run_spectral(const OvqConfig *cfg, int k, const OvqClusterData *data,
                              MPI_Comm comm, int32_t *labels, OvqClusterDiag *diag) {
  OvqSpectralParams p;
  ovq_spectral_defaults(&p);
  p.k = k;
  p.affinity = !strcmp(cfg->cluster.spectral_affinity, "knn") ? OVQ_SPECTRAL_NEAREST_NEIGHBORS
                                                              : OVQ_SPECTRAL_RBF;
  p.gamma = cfg->cluster.spectral_gamma;
  p.n_neighbors = (int)cfg->cluster.spectral_neighbors;
  p.n_init = (int)cfg->cluster.n_init;
  p.seed = (uint64_t)cfg->cluster.seed;
  int size;
  OVQ_MPI_CHECK(MPI_Comm_size(comm, &size));
  int64_t shape[7] = {(int64_t)p.affinity, p.n_neighbors, data->n_total, data->d_all,
                      data->row_start, data->n_local, size};
  uint64_t key = fnv_bytes(1469598103934665603ull, shape, sizeof shape);
  key = fnv_bytes(key, &p.gamma, sizeof p.gamma);
  key = fnv_bytes(key, data->all, sizeof(float) * (size_t)(data->n_local * data->d_all));
  int mine[2] = {g_spec.have && g_spec.key == key, g_spec.have && g_spec.key == key &&
                                                       k <= g_spec.emb.k_max};
  int all[2];
  OVQ_MPI_CHECK(MPI_Allreduce(mine, all, 2, MPI_INT, MPI_MIN, comm));
  if (!all[1]) {
    OvqSpectralParams q = p;
    int64_t k_run = cfg->cluster.k ? cfg->cluster.k : cfg->cluster.k_max;
    if (all[0] && k_run > k) q.k = (int)(k_run < data->n_total - 1 ? k_run : data->n_total - 1);
    if (q.k < k) q.k = k;
    ovq_spectral_embedding_free(&g_spec.emb);
    g_spec.have = 0;
    if (ovq_spectral_embed(&q, data->all, data->n_local, data->d_all, comm, &g_spec.emb) != OVQ_OK)
      return OVQ_ERR;
    g_spec.have = 1;
    g_spec.key = key;
    ovq_log(OVQ_LOG_DEBUG, "spectral: eigenpairs for k <= %d computed", q.k);
  }
  OvqSpectralResult r;
  if (ovq_spectral_cluster(&p, &g_spec.emb, comm, &r) != OVQ_OK) return OVQ_ERR;
  memcpy(labels, r.labels, sizeof(int32_t) * (size_t)data->n_local);
  diag->eigengap = r.eigengap;
  ovq_spectral_result_free(&r);
  return OVQ_OK;
}

/* SNF of the views (one view: its affinity network), then SNFtool's spectral clustering. */
static OvqStatus run_snf(const OvqConfig *cfg, int k, const OvqClusterData *data, MPI_Comm comm,
                         int32_t *labels, OvqClusterDiag *diag) {
  OvqSnfParams p;
  ovq_snf_defaults(&p);
  p.K = (int)cfg->cluster.snf_k;
  p.alpha = cfg->cluster.snf_alpha;
  p.T = (int)cfg->cluster.snf_t;
  p.n_clusters = k;
  OvqSnfView v[OVQ_CLUSTER_MAX_VIEWS];
  for (int t = 0; t < data->n_views; t++) {
    v[t].x = data->view[t];
    v[t].d = data->d[t];
  }
  OvqSnfResult r;
  if (ovq_snf_fit(&p, v, data->n_views, data->n_local, comm, &r) != OVQ_OK) return OVQ_ERR;
  memcpy(labels, r.labels, sizeof(int32_t) * (size_t)data->n_local);
  diag->eigengap = r.eigengap;
  ovq_snf_result_free(&r);
  return OVQ_OK;
}

/* The last tree built by run_hclust, so that choosing k over a range builds it once and cuts it
 * per k (at N = 11,000 a tree costs ~4 s, a cut milliseconds). Keyed by a hash of everything the
 * tree depends on: linkage, the shape and placement of the rows, and the rows' bytes, agreed by
 * every rank (a hit needs all ranks to hit). ~32 bytes per sample, kept until the next tree. */
static struct {
  uint64_t key;
  int64_t n;
  OvqMerge *merge;
} g_tree;

static uint64_t fnv_bytes(uint64_t h, const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
  return h;
}

/* Hierarchical clustering of the concatenated features, cut at k. */
static OvqStatus run_hclust(const OvqConfig *cfg, int k, const OvqClusterData *data, MPI_Comm comm,
                            int32_t *labels) {
  OvqLinkage l = !strcmp(cfg->cluster.hclust_linkage, "ward")       ? OVQ_LINKAGE_WARD
                 : !strcmp(cfg->cluster.hclust_linkage, "complete") ? OVQ_LINKAGE_COMPLETE
                                                                    : OVQ_LINKAGE_AVERAGE;
  int size;
  OVQ_MPI_CHECK(MPI_Comm_size(comm, &size));
  int64_t shape[6] = {(int64_t)l, data->n_total, data->d_all, data->row_start, data->n_local, size};
  uint64_t key = fnv_bytes(1469598103934665603ull, shape, sizeof shape);
  key = fnv_bytes(key, data->all, sizeof(float) * (size_t)(data->n_local * data->d_all));
  int hit = g_tree.merge && g_tree.key == key && g_tree.n == data->n_total && k >= 1 &&
            k <= data->n_total, all_hit;
  OVQ_MPI_CHECK(MPI_Allreduce(&hit, &all_hit, 1, MPI_INT, MPI_MIN, comm));
  if (!all_hit) {
    OvqHclustResult r;
    if (ovq_hclust_fit(l, k, data->all, data->n_local, data->d_all, comm, &r) != OVQ_OK)
      return OVQ_ERR;
    memcpy(labels, r.labels, sizeof(int32_t) * (size_t)data->n_local);
    free(g_tree.merge);
    g_tree.merge = r.merge; /* kept; the rest of r freed */
    g_tree.n = r.n;
    g_tree.key = key;
    r.merge = NULL;
    ovq_hclust_result_free(&r);
    return OVQ_OK;
  }
  int32_t *all = OVQ_MALLOC(sizeof(int32_t) * (size_t)(g_tree.n + 1));
  ovq_hclust_cut(g_tree.merge, g_tree.n, k, all);
  memcpy(labels, all + data->row_start, sizeof(int32_t) * (size_t)data->n_local);
  free(all);
  return OVQ_OK;
}

/* Consensus NMF (Brunet, nrun runs) of the concatenated features; negative values are split into
 * positive and negative parts as CancerSubtypes does. */
static OvqStatus run_nmf(const OvqConfig *cfg, int k, const OvqClusterData *data, MPI_Comm comm,
                         int32_t *labels, OvqClusterDiag *diag) {
  OvqNmfParams p;
  ovq_nmf_defaults(&p);
  p.k = k;
  p.nrun = (int)cfg->cluster.nmf_runs;
  p.method = !strcmp(cfg->cluster.nmf_method, "lee") ? OVQ_NMF_LEE : OVQ_NMF_BRUNET;
  p.seed = (uint64_t)cfg->cluster.seed;
  OvqNmfResult r;
  if (ovq_nmf_fit(&p, data->all, data->n_local, data->d_all, comm, &r) != OVQ_OK) return OVQ_ERR;
  memcpy(labels, r.labels, sizeof(int32_t) * (size_t)data->n_local);
  diag->cophenetic = r.cophenetic;
  ovq_nmf_result_free(&r);
  return OVQ_OK;
}

/* iClusterBayes on the views (mRNA + miRNA of raw data, or the one latent view). */
static OvqStatus run_icluster(const OvqConfig *cfg, int k, const OvqClusterData *data,
                              MPI_Comm comm, int32_t *labels, OvqClusterDiag *diag) {
  OvqIclusterParams p;
  ovq_icluster_defaults(&p);
  p.k_clusters = k;
  p.n_burnin = (int)cfg->cluster.icluster_burnin;
  p.n_draw = (int)cfg->cluster.icluster_draws;
  p.thin = (int)cfg->cluster.icluster_thin;
  for (int t = 0; t < OVQ_ICLUSTER_MAX_VIEWS; t++) p.prior_gamma[t] = cfg->cluster.icluster_prior_gamma;
  p.sdev = cfg->cluster.icluster_sdev;
  p.beta_var_scale = cfg->cluster.icluster_beta_var_scale;
  p.kmeans_n_init = (int)cfg->cluster.n_init;
  p.seed = (uint64_t)cfg->cluster.seed;
  OvqIclusterResult r;
  if (ovq_icluster_fit(&p, data->n_views, data->view, data->d, data->n_local, comm, &r) != OVQ_OK)
    return OVQ_ERR;
  memcpy(labels, r.labels, sizeof(int32_t) * (size_t)data->n_local);
  diag->bic = r.bic;
  diag->loglik = r.loglik / (double)data->n_total;
  if (r.dev_ratio == 0.0)
    ovq_log(OVQ_LOG_WARN, "iClusterBayes k=%d: no feature selected (deviance ratio 0): the chain "
            "did not leave its start; the labels carry little signal", k);
  ovq_icluster_result_free(&r);
  return OVQ_OK;
}

OvqStatus ovq_cluster_run(const char *method, const OvqConfig *cfg, int k,
                          const OvqClusterData *data, MPI_Comm comm, int32_t *labels,
                          OvqClusterDiag *diag) {
  diag->silhouette = diag->calinski_harabasz = diag->davies_bouldin = diag->inertia = diag->loglik = diag->bic = diag->eigengap =
      diag->cophenetic = NAN;
  if (k < 2 || k > data->n_total)
    return ovq_error("k = %d: needs 2 <= k <= %lld (the number of samples)", k,
                     (long long)data->n_total);
  OvqStatus st;
  if (!strcmp(method, "kmeans"))
    st = run_kmeans(cfg, k, data, comm, labels, diag);
  else if (!strcmp(method, "gmm"))
    st = run_gmm(cfg, k, data, comm, labels, diag);
  else if (!strcmp(method, "spectral"))
    st = run_spectral(cfg, k, data, comm, labels, diag);
  else if (!strcmp(method, "snf"))
    st = run_snf(cfg, k, data, comm, labels, diag);
  else if (!strcmp(method, "hclust"))
    st = run_hclust(cfg, k, data, comm, labels);
  else if (!strcmp(method, "nmf"))
    st = run_nmf(cfg, k, data, comm, labels, diag);
  else if (!strcmp(method, "icluster"))
    st = run_icluster(cfg, k, data, comm, labels, diag);
  else
    return ovq_error("unknown clustering method '%s'", method);
  st = ovq_status_agree(comm, st);
  if (st != OVQ_OK) return st;
  /* Silhouette of every result, on the concatenated features; a degenerate clustering (one
   * cluster used) has none. */
  double s;
  if (data->skip_silhouette) return OVQ_OK;
  if (ovq_silhouette(data->all, data->n_local, data->d_all, labels, k, comm, NULL, &s) == OVQ_OK)
    diag->silhouette = s;
  else
    ovq_error_clear();
  OvqSeparation sep;
  if (ovq_separation(data->all, data->n_local, data->d_all, labels, k, comm, &sep) == OVQ_OK) {
    diag->calinski_harabasz = sep.calinski_harabasz;
    diag->davies_bouldin = sep.davies_bouldin;
  } else {
    ovq_error_clear();
  }
  return OVQ_OK;
}
