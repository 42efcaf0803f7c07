/* Agreement of two labelings of the same samples: contingency table (label flow), adjusted Rand
 * index, normalised mutual information and purity, as scikit-learn computes them.
 *
 * Samples are distributed: every rank passes the labels of its own samples (any split; the
 * order does not matter). Labels are small codes 0, 1, 2, ... (int32); a negative label means
 * unknown, and a sample whose label is unknown in either labeling is left out of the metrics
 * and counted. Labeling a is the reference (e.g. published subtypes), b the clustering; only
 * purity is asymmetric.
 *
 * ovq_metrics_contingency() is the one collective step (one MPI_Allreduce of the table); the
 * metric functions are Local and read the table, so one table serves all of them. */
#ifndef OVQ_METRICS_H
#define OVQ_METRICS_H

#include <mpi.h>
#include <stdint.h>

#include "ovq/error.h"

/* Largest table ovq_metrics_contingency builds ((n_a + 1) x (n_b + 1) entries). */
#define OVQ_METRICS_MAX_CELLS (1 << 22)

typedef struct OvqContingency {
  int n_a;           /* rows: codes 0 .. n_a - 1 of a (1 + largest code seen; 0 if none) */
  int n_b;           /* columns: codes 0 .. n_b - 1 of b */
  int64_t *count;    /* [n_a + 1][n_b + 1], owned: count[i * (n_b + 1) + j] = samples with a = i
                        and b = j; row n_a counts samples whose a is unknown, column n_b those
                        whose b is unknown (the label flow from "unlabelled") */
  int64_t n_known;   /* samples with both labels known (the metrics' n) */
  int64_t n_unknown; /* samples left out: a or b unknown */
} OvqContingency;

typedef enum {
  OVQ_NMI_ARITHMETIC = 0, /* MI / ((H(a) + H(b)) / 2): scikit-learn's default */
  OVQ_NMI_GEOMETRIC       /* MI / sqrt(H(a) H(b)): SNFtool's calNMI */
} OvqNmiAverage;

typedef struct OvqAgreement {
  double ari;           /* adjusted Rand index */
  double nmi;           /* NMI, arithmetic normalisation */
  double nmi_geometric; /* NMI, geometric normalisation */
  double purity;        /* see ovq_metrics_purity */
  int64_t n_known;      /* samples compared */
  int64_t n_unknown;    /* samples left out */
} OvqAgreement;

/* Collective on comm. Builds the table of a (in: [n_local]) against b (in: [n_local]) over all
 * ranks' samples into *out (free with ovq_metrics_contingency_free; the same on every rank).
 * Returns OVQ_ERR on every rank, *out zeroed, if the codes would make a table of more than
 * OVQ_METRICS_MAX_CELLS entries (labels must be codes 0..n-1, not arbitrary numbers), or if a
 * rank passed n_local < 0 or NULL arrays with n_local > 0. */
OvqStatus ovq_metrics_contingency(const int32_t *a, const int32_t *b, int64_t n_local,
                                  MPI_Comm comm, OvqContingency *out);

/* Local. Frees the table and zeroes *t; NULL-safe and idempotent. */
void ovq_metrics_contingency_free(OvqContingency *t);

/* Local. Samples with a = i and b = j; i = -1 (or any negative) selects the unknown-a row,
 * j < 0 the unknown-b column; codes beyond the table count 0. */
int64_t ovq_metrics_count(const OvqContingency *t, int i, int j);

/* Local. Adjusted Rand index (Hubert & Arabie 1985) as sklearn.metrics.adjusted_rand_score:
 * 1.0 when no pair is split differently (including n_known <= 1 and both labelings a single
 * cluster). Pair counts are exact (128-bit integers). */
double ovq_metrics_ari(const OvqContingency *t);

/* Local. Normalised mutual information as sklearn.metrics.normalized_mutual_info_score with
 * average_method "arithmetic" or "geometric": 1.0 if both labelings have one cluster (or no
 * sample is known), 0.0 if only one of them has. */
double ovq_metrics_nmi(const OvqContingency *t, OvqNmiAverage average);

/* Local. Purity: sum over clusters of b of the size of their largest class of a, divided by
 * n_known; 1.0 when no sample is known. */
double ovq_metrics_purity(const OvqContingency *t);

/* Collective on comm. All of the above at once; OVQ_ERR as ovq_metrics_contingency. */
OvqStatus ovq_metrics_agreement(const int32_t *a, const int32_t *b, int64_t n_local, MPI_Comm comm,
                                OvqAgreement *out);

#endif
