/* Consensus clustering around any method of ovq/cluster.h, as R's ConsensusClusterPlus
 * (Wilkerson & Hayes 2010; Monti et al. 2003) does it:
 *   for rep h = 1..reps: a random subsample of the samples (each sample kept with probability
 *   `fraction`, drawn from the counter RNG keyed by (seed, rep, sample), so the same subsamples
 *   serve every k, as in ConsensusClusterPlus) is clustered into k groups by the base method;
 *   consensus C(i, j) = (reps where i and j were both drawn and put together) / (reps where both
 *   were drawn); final labels: average-linkage tree of 1 - C cut at k (finalLinkage "average");
 *   CDF area: the empirical CDF of C over pairs i < j on 100 equal bins of [0, 1], area =
 *   sum over bins of CDF(bin end) * bin width, as ConsensusClusterPlus's CDF() computes it
 *   (the "delta area" plot compares it across k).
 * Differences from ConsensusClusterPlus: subsamples are Bernoulli(fraction) draws rather than
 * exactly round(fraction * N) samples; features are not resampled (pFeature = 1).
 *
 * Layout: each rank holds the consensus counts of its own samples' rows ([n_local][N] pairs of
 * 16-bit counts, so reps <= 65535), turned in place into its rows of 1 - C in double; the CDF
 * area is summed from those rows (integer bin counts, allreduced) and the final tree is built on
 * them without gathering (ovq_hclust_from_rows: the same tree as on the whole matrix). Memory per
 * rank: 8 N n_local bytes (968 MB at N = 11,000 on one rank, half that on each of two) plus the
 * base method's. mean_consensus comes from the tree: an average-linkage height is the mean of
 * 1 - C over the pairs the merge joins. Labels, CDF area and mean consensus are the same at any
 * rank count when the base method's labels are. */
#ifndef OVQ_CONSENSUS_H
#define OVQ_CONSENSUS_H

#include <mpi.h>

#include "ovq/cluster.h"

typedef struct OvqConsensusResult {
  double cdf_area;       /* area under the CDF of the consensus values */
  double mean_consensus; /* mean of C within the final clusters (pairs i < j) */
} OvqConsensusResult;

/* Collective on comm. labels [n_local] get the final 0..k-1 labels. */
OvqStatus ovq_consensus_run(const char *method, const OvqConfig *cfg, int k, int reps,
                            double fraction, const OvqClusterData *data, MPI_Comm comm,
                            int32_t *labels, OvqConsensusResult *res);

#endif
