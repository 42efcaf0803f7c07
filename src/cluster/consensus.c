/* Consensus clustering (see include/ovq/consensus.h). */
#include "ovq/consensus.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ovq/hclust.h"
#include "ovq/partition.h"
#include "ovq/rng.h"

OvqStatus ovq_consensus_run(const char *method, const OvqConfig *cfg, int k, int reps,
                            double fraction, const OvqClusterData *data, MPI_Comm comm,
                            int32_t *labels, OvqConsensusResult *res) {
  int rank, size;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  const int64_t N = data->n_total, nl = data->n_local;
  if (reps < 1 || reps > 65535) return ovq_error("consensus clustering: reps = %d is not in 1..65535", reps);
  if (!(fraction > 0 && fraction <= 1))
    return ovq_error("consensus clustering: the subsample fraction %g is not in (0, 1]", fraction);
  uint16_t *together = OVQ_CALLOC((size_t)(nl * N + 1), sizeof(uint16_t));
  uint16_t *both = OVQ_CALLOC((size_t)(nl * N + 1), sizeof(uint16_t));
  unsigned char *drawn = OVQ_MALLOC((size_t)N + 1);
  int32_t *all = OVQ_MALLOC(sizeof(int32_t) * (size_t)(N + 1));
  int32_t *sub_labels = OVQ_MALLOC(sizeof(int32_t) * (size_t)(nl + 1));
  int *counts = OVQ_MALLOC(sizeof(int) * (size_t)size), *displs = OVQ_MALLOC(sizeof(int) * (size_t)size);
  float *sub_all = OVQ_MALLOC(sizeof(float) * (size_t)(nl * data->d_all + 1));
  float *sub_view[OVQ_CLUSTER_MAX_VIEWS] = {NULL};
  for (int v = 0; v < data->n_views; v++)
    sub_view[v] = OVQ_MALLOC(sizeof(float) * (size_t)(nl * data->d[v] + 1));
  OvqStatus st = OVQ_OK;
  OvqConfig sub_cfg = *cfg;
  for (int h = 0; h < reps && st == OVQ_OK; h++) {
    /* The subsample: every rank draws every sample's coin (cheap), so all know it. */
    int64_t m = 0;
    for (int64_t i = 0; i < N; i++) {
      OvqRng r;
      ovq_rng_init(&r, (uint64_t)cfg->cluster.seed, OVQ_STREAM_CONSENSUS, (uint64_t)h * (uint64_t)N + (uint64_t)i);
      drawn[i] = ovq_rng_uniform(&r) < fraction;
      m += drawn[i];
    }
    if (m < k) continue; /* too few samples drawn for k clusters: skip the rep */
    /* My drawn rows, in global order; their position among the drawn samples. */
    int64_t ml = 0, before = 0;
    for (int64_t i = 0; i < data->row_start; i++) before += drawn[i];
    for (int64_t i = 0; i < nl; i++)
      if (drawn[data->row_start + i]) {
        memcpy(sub_all + ml * data->d_all, data->all + i * data->d_all, sizeof(float) * (size_t)data->d_all);
        for (int v = 0; v < data->n_views; v++)
          memcpy(sub_view[v] + ml * data->d[v], data->view[v] + i * data->d[v], sizeof(float) * (size_t)data->d[v]);
        ml++;
      }
    OvqClusterData sub = *data;
    sub.n_total = m;
    sub.row_start = before;
    sub.n_local = ml;
    sub.all = sub_all;
    for (int v = 0; v < data->n_views; v++) sub.view[v] = sub_view[v];
    sub.skip_silhouette = 1;
    sub_cfg.cluster.seed = cfg->cluster.seed + (int64_t)h + 1; /* a different start per rep */
    OvqClusterDiag dg;
    st = ovq_cluster_run(method, &sub_cfg, k, &sub, comm, sub_labels, &dg);
    if (st != OVQ_OK) break;
    /* Every drawn sample's label, in global order. */
    int mine = OVQ_INT(ml, "samples");
    OVQ_MPI_CHECK(MPI_Allgather(&mine, 1, MPI_INT, counts, 1, MPI_INT, comm));
    int off = 0;
    for (int q = 0; q < size; q++) {
      displs[q] = off;
      off += counts[q];
    }
    OVQ_MPI_CHECK(MPI_Allgatherv(sub_labels, mine, MPI_INT32_T, all, counts, displs, MPI_INT32_T, comm));
    /* all[j'] is the label of the j'-th drawn sample; expand in place to global indices. */
    int64_t q = m;
    for (int64_t i = N - 1; i >= 0; i--) all[i] = drawn[i] ? all[--q] : -1;
    for (int64_t i = 0; i < nl; i++) {
      int32_t li = all[data->row_start + i];
      if (li < 0) continue;
      uint16_t *t = together + i * N, *b = both + i * N;
      for (int64_t j = 0; j < N; j++)
        if (all[j] >= 0) {
          b[j]++;
          t[j] += all[j] == li;
        }
    }
  }
  st = ovq_status_agree(comm, st);
  if (st == OVQ_OK) {
    /* 1 - C on every rank (rows gathered), then the final tree. */
    double *dis = OVQ_MALLOC(sizeof(double) * (size_t)(N * N));
    double *rows = OVQ_MALLOC(sizeof(double) * (size_t)(nl * N + 1));
    for (int64_t i = 0; i < nl * N; i++) rows[i] = both[i] ? 1.0 - (double)together[i] / both[i] : 1.0;
    for (int64_t i = 0; i < nl; i++) rows[i * N + data->row_start + i] = 0.0;
    int64_t *cnt64 = OVQ_MALLOC(sizeof(int64_t) * (size_t)size);
    int64_t mine = nl * N;
    OVQ_MPI_CHECK(MPI_Allgather(&mine, 1, MPI_INT64_T, cnt64, 1, MPI_INT64_T, comm));
    /* Each rank's rows broadcast in pieces small enough for int counts. */
    int64_t off = 0;
    for (int q = 0; q < size; q++) {
      for (int64_t p = 0; p < cnt64[q]; p += (int64_t)1 << 27) {
        int64_t len = cnt64[q] - p < ((int64_t)1 << 27) ? cnt64[q] - p : ((int64_t)1 << 27);
        if (rank == q) memcpy(dis + off + p, rows + p, sizeof(double) * (size_t)len);
        OVQ_MPI_CHECK(MPI_Bcast(dis + off + p, (int)len, MPI_DOUBLE, q, comm));
      }
      off += cnt64[q];
    }
    free(cnt64);
    free(rows);
    OvqHclustResult hr;
    st = ovq_hclust_from_dissimilarity(OVQ_LINKAGE_AVERAGE, k, dis, N, comm, &hr);
    if (st == OVQ_OK) {
      memcpy(labels, hr.labels + data->row_start, sizeof(int32_t) * (size_t)nl);
      /* CDF area over pairs i < j of C = 1 - dis (ConsensusClusterPlus: 100 bins). */
      int64_t hist[100] = {0}, n_pairs = 0;
      double within = 0;
      int64_t n_within = 0;
      for (int64_t i = 0; i < N; i++)
        for (int64_t j = i + 1; j < N; j++) {
          double c = 1.0 - dis[i * N + j];
          int b = (int)ceil(c * 100.0 - 1e-9) - 1; /* R hist: right-closed bins (a, b], first [0, .01] */
          if (b < 0) b = 0;
          if (b > 99) b = 99;
          hist[b]++;
          n_pairs++;
          if (hr.labels[i] == hr.labels[j]) {
            within += c;
            n_within++;
          }
        }
      double area = 0, cum = 0;
      for (int b = 0; b < 100; b++) {
        cum += (double)hist[b];
        area += (n_pairs ? cum / (double)n_pairs : 0) * 0.01;
      }
      res->cdf_area = area;
      res->mean_consensus = n_within ? within / (double)n_within : NAN;
      ovq_hclust_result_free(&hr);
    }
    free(dis);
  }
  free(together);
  free(both);
  free(drawn);
  free(all);
  free(sub_labels);
  free(counts);
  free(displs);
  free(sub_all);
  for (int v = 0; v < data->n_views; v++) free(sub_view[v]);
  return st;
}
