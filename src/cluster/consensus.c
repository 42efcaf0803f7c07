/* Consensus clustering (see include/ovq/consensus.h). */
#include "ovq/consensus.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ovq/hclust.h"
#include "ovq/partition.h"
#include "ovq/rng.h"

/* The count pairs of entries 0..n-1 (cnt[2 e] together, cnt[2 e + 1] both, in the first half
 * of buf) become dis[e] = 1 - together / both (1 where never drawn together), in place: double e
 * overwrites the pairs 2 e and 2 e + 1, both >= e, so going from the end in blocks, with the
 * block's own pairs copied out first, every pair is read before it is overwritten. memcpy reads
 * the bytes, so no uint16_t load is reordered after a double store. */
static void to_dissimilarity(double *buf, int64_t n) {
  enum { BLOCK = 4096 };
  uint16_t pair[2 * BLOCK];
  for (int64_t hi = n; hi > 0;) {
    int64_t lo = hi > BLOCK ? hi - BLOCK : 0;
    memcpy(pair, (const unsigned char *)buf + 4 * lo, 4 * (size_t)(hi - lo));
    for (int64_t e = lo; e < hi; e++) {
      const uint16_t t = pair[2 * (e - lo)], b = pair[2 * (e - lo) + 1];
      buf[e] = b ? 1.0 - (double)t / b : 1.0;
    }
    hi = lo;
  }
}

OvqStatus ovq_consensus_run(const char *method, const OvqConfig *cfg, int k, int reps,
                            double fraction, const OvqClusterData *data, MPI_Comm comm,
                            int32_t *labels, OvqConsensusResult *res) {
  int size;
  OVQ_MPI_CHECK(MPI_Comm_size(comm, &size));
  const int64_t N = data->n_total, nl = data->n_local;
  if (reps < 1 || reps > 65535)
    return ovq_error("consensus clustering: reps = %d is not in 1..65535", reps);
  if (!(fraction > 0 && fraction <= 1))
    return ovq_error("consensus clustering: the subsample fraction %g is not in (0, 1]", fraction);
  /* One allocation of 8 bytes per (local row, sample): while the reps run its first half holds
   * the 16-bit count pairs (together, both) of entry e at cnt[2 e], cnt[2 e + 1]; afterwards it
   * becomes the rows of 1 - C in place (to_dissimilarity). calloc leaves the second half
   * untouched (no resident pages) until then. */
  double *dis = OVQ_CALLOC((size_t)(nl * N + 1), sizeof(double));
  uint16_t *cnt = (uint16_t *)dis;
  unsigned char *drawn = OVQ_MALLOC((size_t)N + 1);
  int32_t *all = OVQ_MALLOC(sizeof(int32_t) * (size_t)(N + 1));
  int32_t *sub_labels = OVQ_MALLOC(sizeof(int32_t) * (size_t)(nl + 1));
  int *counts = OVQ_MALLOC(sizeof(int) * (size_t)size),
      *displs = OVQ_MALLOC(sizeof(int) * (size_t)size);
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
      ovq_rng_init(&r, (uint64_t)cfg->cluster.seed, OVQ_STREAM_CONSENSUS,
                   (uint64_t)h * (uint64_t)N + (uint64_t)i);
      drawn[i] = ovq_rng_uniform(&r) < fraction;
      m += drawn[i];
    }
    if (m < k) continue; /* too few samples drawn for k clusters: skip the rep */
    /* My drawn rows, in global order; their position among the drawn samples. */
    int64_t ml = 0, before = 0;
    for (int64_t i = 0; i < data->row_start; i++)
      before += drawn[i];
    for (int64_t i = 0; i < nl; i++)
      if (drawn[data->row_start + i]) {
        memcpy(sub_all + ml * data->d_all, data->all + i * data->d_all,
               sizeof(float) * (size_t)data->d_all);
        for (int v = 0; v < data->n_views; v++)
          memcpy(sub_view[v] + ml * data->d[v], data->view[v] + i * data->d[v],
                 sizeof(float) * (size_t)data->d[v]);
        ml++;
      }
    OvqClusterData sub = *data;
    sub.n_total = m;
    sub.row_start = before;
    sub.n_local = ml;
    sub.all = sub_all;
    for (int v = 0; v < data->n_views; v++)
      sub.view[v] = sub_view[v];
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
    OVQ_MPI_CHECK(
        MPI_Allgatherv(sub_labels, mine, MPI_INT32_T, all, counts, displs, MPI_INT32_T, comm));
    /* all[j'] is the label of the j'-th drawn sample; expand in place to global indices. */
    int64_t q = m;
    for (int64_t i = N - 1; i >= 0; i--)
      all[i] = drawn[i] ? all[--q] : -1;
    for (int64_t i = 0; i < nl; i++) {
      int32_t li = all[data->row_start + i];
      if (li < 0) continue;
      uint16_t *c = cnt + 2 * i * N;
      for (int64_t j = 0; j < N; j++)
        if (all[j] >= 0) {
          c[2 * j] += all[j] == li;
          c[2 * j + 1]++;
        }
    }
  }
  st = ovq_status_agree(comm, st);
  if (st == OVQ_OK) {
    to_dissimilarity(dis, nl * N);
    /* CDF of C over pairs i < j (ConsensusClusterPlus: 100 bins): each rank its rows' pairs,
     * integer counts summed, so the area is the same at any rank count. */
    int64_t hist[100] = {0};
    for (int64_t i = 0; i < nl; i++)
      for (int64_t j = data->row_start + i + 1; j < N; j++) {
        double c = 1.0 - dis[i * N + j];
        int b =
            (int)ceil(c * 100.0 - 1e-9) - 1; /* R hist: right-closed bins (a, b], first [0, .01] */
        if (b < 0) b = 0;
        if (b > 99) b = 99;
        hist[b]++;
      }
    OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, hist, 100, MPI_INT64_T, MPI_SUM, comm));
    const double n_pairs = (double)N * (double)(N - 1) / 2.0;
    double area = 0, cum = 0;
    for (int b = 0; b < 100; b++) {
      cum += (double)hist[b];
      area += (n_pairs > 0 ? cum / n_pairs : 0) * 0.01;
    }
    res->cdf_area = area;
    OvqHclustResult hr;
    st = ovq_hclust_from_rows(OVQ_LINKAGE_AVERAGE, k, dis, nl, comm, &hr);
    if (st == OVQ_OK) {
      memcpy(labels, hr.labels, sizeof(int32_t) * (size_t)nl);
      /* Mean C within the final clusters from the tree (the rows are gone): an average-linkage
       * merge height is the mean of 1 - C over the pairs it joins (UPGMA), so the merges the
       * cut applies (the first N - hr.k) sum 1 - C over exactly the within-cluster pairs. */
      double within = 0, n_within = 0;
      for (int64_t m = 0; m < N - hr.k; m++) {
        const OvqMerge *g = &hr.merge[m];
        double na = g->a < N ? 1.0 : (double)hr.merge[g->a - N].size;
        double nb = g->b < N ? 1.0 : (double)hr.merge[g->b - N].size;
        within += na * nb * g->height;
        n_within += na * nb;
      }
      res->mean_consensus = n_within > 0 ? 1.0 - within / n_within : NAN;
      ovq_hclust_result_free(&hr);
    }
  }
  free(dis);
  free(drawn);
  free(all);
  free(sub_labels);
  free(counts);
  free(displs);
  free(sub_all);
  for (int v = 0; v < data->n_views; v++)
    free(sub_view[v]);
  return st;
}
