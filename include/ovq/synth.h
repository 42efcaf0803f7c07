/* Synthetic TCGA-like pan-cancer cohort with known ground truth: the built-in data set.
 *
 * Model (documented in full in src/io/synth.c): per cancer type a TCGA-sized set of primary
 * tumours in subtypes of unequal size; genes in co-expression modules whose activity depends on
 * the cancer type and the subtype, partly through threshold-like (on/off) effects; miRNA families
 * that follow the subtypes and repress target gene modules; negative-binomial counts with
 * per-sample library sizes, normalised and written as log2(x + 1) like Xena's RSEM files; lowly
 * expressed genes with many zeros; a few missing values; a platform batch effect in some cancer
 * types; a published label that agrees only partly with the truth; overall survival from a
 * subtype-dependent hazard with censoring.
 *
 * Every random draw is named by (seed, stream, global index), so the cohort is identical for any
 * number of ranks. */
#ifndef OVQ_SYNTH_H
#define OVQ_SYNTH_H

#include <mpi.h>
#include <stdint.h>

#include "ovq/cohort.h"
#include "ovq/error.h"

#define OVQ_SYNTH_MAX_CANCERS 10

typedef struct OvqSynthParams {
  int n_cancers;
  char cancers[OVQ_SYNTH_MAX_CANCERS][8]; /* TCGA abbreviations, in output order */
  double scale;                           /* multiplies every cancer's sample count, > 0 */
  uint64_t seed;
  int64_t n_genes;  /* G >= 100 */
  int64_t n_mirnas; /* M >= 0 */
} OvqSynthParams;

/* Local. Number of built-in cancer types and the i-th one's abbreviation (0 <= i < count). */
int ovq_synth_cancer_count(void);
const char *ovq_synth_cancer_name(int i);

/* Local. Samples the cancer type gets at this scale (>= its number of subtypes x 4), or -1 if
 * the name is not a built-in cancer type. */
int64_t ovq_synth_cancer_size(const char *cancer, double scale);

/* Collective on comm. Generates this rank's block of the cohort into *out (allocated here; free
 * with ovq_cohort_destroy). Returns OVQ_ERR on every rank with a message for unknown cancer
 * names or out-of-range sizes. */
OvqStatus ovq_synth_generate(const OvqSynthParams *p, MPI_Comm comm, OvqCohort *out);

#endif
