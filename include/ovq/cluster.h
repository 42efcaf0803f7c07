/* One interface over the clustering methods: a feature set distributed by rows, a method name,
 * k and the [cluster] settings -> labels and the method's diagnostics, plus the choice of k over a
 * range with every criterion reported side by side.
 *
 * Layout: every rank holds a contiguous block of rows of every view, blocks in rank order
 * (ovq_partition_block for a whole cohort; the subsamples of consensus clustering give blocks of
 * uneven sizes, which every method accepts). Multi-view methods
 * (SNF, iClusterBayes) take the views as given (raw data: mRNA and miRNA); the others cluster the
 * concatenation of the views. Every method is seeded through the counter RNG from
 * cluster.seed: the same seed gives the same labels at any rank count. */
#ifndef OVQ_CLUSTER_H
#define OVQ_CLUSTER_H

#include <mpi.h>
#include <stdint.h>

#include "ovq/config.h"
#include "ovq/error.h"

enum { OVQ_CLUSTER_MAX_VIEWS = 4 };

typedef struct OvqClusterData {
  int64_t n_total, row_start, n_local;
  int n_views;
  const float *view[OVQ_CLUSTER_MAX_VIEWS]; /* [n_local][d[v]] each, not owned */
  int64_t d[OVQ_CLUSTER_MAX_VIEWS];
  const float *all; /* [n_local][d_all]: the views side by side, not owned */
  int64_t d_all;
  int skip_silhouette; /* 1: leave diag.silhouette NaN (consensus reps do not need it) */
} OvqClusterData;

/* Diagnostics; NaN where a method has no such quantity. */
typedef struct OvqClusterDiag {
  double silhouette; /* mean silhouette on the concatenated features (every method) */
  double calinski_harabasz, davies_bouldin; /* on the concatenated features (every method) */
  double inertia;    /* k-means: within-cluster sum of squares */
  double loglik;     /* GMM: mean log-likelihood per sample */
  double bic;        /* GMM */
  double eigengap;   /* spectral, SNF */
  double cophenetic; /* consensus NMF */
} OvqClusterDiag;

/* Local. 1 if `method` is a known method name. */
int ovq_cluster_known(const char *method);

/* Collective on comm. Clusters data into k groups with `method`; labels [n_local] get 0..k-1.
 * Errors (same on every rank): unknown method, k outside 2..N. */
OvqStatus ovq_cluster_run(const char *method, const OvqConfig *cfg, int k,
                          const OvqClusterData *data, MPI_Comm comm, int32_t *labels,
                          OvqClusterDiag *diag);

#endif
