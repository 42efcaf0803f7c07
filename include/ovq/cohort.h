/* The cohort: expression of N samples, their clinical data and labels, in memory and on disk.
 *
 * In memory every rank holds a contiguous block of rows (samples) of the selected cohort, the
 * block given by ovq_partition_block(n_total, size, rank); feature ids are replicated.
 *
 * On disk (HDF5, schema "oncovq-cohort" version 1). N samples, G genes, M miRNAs:
 *   /                       attributes: format = "oncovq-cohort", format_version = 1 (int),
 *                           oncovq_version, source ("synth" | "import"), config (the resolved
 *                           configuration, INI text)
 *   /expression/mrna        float32 [N][G]  log2-scale expression, NaN = missing
 *   /expression/mirna       float32 [N][M]  same for miRNAs; absent when M = 0
 *   /features/mrna          string  [G]     feature ids (e.g. "TP53|7157"), unique
 *   /features/mirna         string  [M]     absent when M = 0
 *   /samples/id             string  [N]     sample ids (TCGA barcodes: first 15 characters), unique
 *   /samples/cancer         string  [N]     cancer type (TCGA study abbreviation, e.g. "BRCA")
 *   /samples/label          string  [N]     published subtype label, "" = unknown
 *   /samples/os_time        float64 [N]     overall-survival time in days, NaN = unknown
 *   /samples/os_event       int8    [N]     1 = dead, 0 = censored, -1 = unknown
 * Synthetic cohorts also carry their ground truth:
 *   /samples/true_subtype   string  [N]     the subtype that generated the sample
 *   /samples/batch          int8    [N]     platform batch (0 = none)
 *   /truth/mrna_module      int32   [G]     expression module of each gene, -1 = none
 *   /truth/mirna_target     int32   [M]     gene module a miRNA represses, -1 = none
 * Strings are fixed-length, NUL-padded, ASCII (fixed length lets every rank write its rows in
 * one collective hyperslab). Samples of one cancer need not be contiguous in the file.
 */
#ifndef OVQ_COHORT_H
#define OVQ_COHORT_H

#include <mpi.h>
#include <stdint.h>

#include "ovq/error.h"

#define OVQ_COHORT_FORMAT "oncovq-cohort"
#define OVQ_COHORT_FORMAT_VERSION 1

/* n fixed-width strings in one buffer: string i starts at data + i * width and is NUL-terminated
 * within it (width = longest string + 1, at least 2). */
typedef struct OvqStrings {
  int64_t n;
  int width;
  char *data; /* owned */
} OvqStrings;

/* Local. Allocates n empty strings of the given width (>= 2). */
void ovq_strings_alloc(OvqStrings *s, int64_t n, int width);
/* Local. String i (0 <= i < n). */
static inline const char *ovq_strings_at(const OvqStrings *s, int64_t i) {
  return s->data + i * (int64_t)s->width;
}
/* Local. Copies str into slot i; aborts if it does not fit the width (a bug in the caller). */
void ovq_strings_set(OvqStrings *s, int64_t i, const char *str);
void ovq_strings_free(OvqStrings *s);

typedef struct OvqCohort {
  int64_t n_total;   /* N: samples in the cohort (all ranks) */
  int64_t row_start; /* global index of this rank's first sample */
  int64_t n_local;   /* samples on this rank */
  int64_t n_mrna;    /* G */
  int64_t n_mirna;   /* M (0 = no miRNA data) */

  float *mrna;  /* [n_local][n_mrna], row-major, owned */
  float *mirna; /* [n_local][n_mirna], owned, NULL when n_mirna = 0 */

  OvqStrings mrna_ids;  /* [n_mrna], replicated */
  OvqStrings mirna_ids; /* [n_mirna], replicated */

  OvqStrings sample_id; /* [n_local] */
  OvqStrings cancer;    /* [n_local] */
  OvqStrings label;     /* [n_local], "" = unknown */
  double *os_time;      /* [n_local], days, NaN = unknown */
  int8_t *os_event;     /* [n_local], 1 dead, 0 censored, -1 unknown */

  /* Ground truth of synthetic cohorts; n = 0 / NULL when absent. */
  OvqStrings true_subtype; /* [n_local] */
  int8_t *batch;           /* [n_local] */
  int32_t *mrna_module;    /* [n_mrna], replicated */
  int32_t *mirna_target;   /* [n_mirna], replicated */
} OvqCohort;

/* Local. Allocates the arrays of a cohort block (expression, per-sample metadata, and the truth
 * arrays when with_truth != 0); strings get the given widths. Values are zero / empty. */
void ovq_cohort_alloc(OvqCohort *c, int64_t n_total, int64_t row_start, int64_t n_local,
                      int64_t n_mrna, int64_t n_mirna, int feature_id_width, int sample_str_width,
                      int with_truth);

/* Local. Frees everything and zeroes the struct; NULL-safe and idempotent. */
void ovq_cohort_destroy(OvqCohort *c);

/* Collective on comm. Writes the cohort to `path` atomically: the data go to a temporary file
 * next to it that is renamed over `path` only when complete, so an existing file is never left
 * half-written. Rank r's block must be ovq_partition_block(n_total, size, r). `config_text` (the
 * resolved configuration) and `source` are stored as root attributes.
 * Returns OVQ_ERR on every rank (message set) if the file cannot be created. */
OvqStatus ovq_cohort_write(const OvqCohort *c, const char *path, const char *source,
                           const char *config_text, MPI_Comm comm);

/* Collective on comm. Reads the samples of cancer type `cancer` (NULL or "" = all samples) from
 * `path`, each rank its block of them in file order. Returns OVQ_ERR on every rank, with a
 * message naming the file and what is wrong, if the file is missing, not HDF5, not a cohort
 * file, has inconsistent shapes, or holds no sample of that cancer. */
OvqStatus ovq_cohort_read(const char *path, const char *cancer, MPI_Comm comm, OvqCohort *out);

/* Collective on comm. The cancer type of every sample (/samples/cancer, [N], replicated on every
 * rank) without the expression: what a sweep needs to plan its tasks. Errors as ovq_cohort_read
 * (missing file, not a cohort file, no /samples/cancer). */
OvqStatus ovq_cohort_read_cancers(const char *path, MPI_Comm comm, OvqStrings *cancer);

/* Collective on comm. Reads the root attribute `name` (a string) of a cohort or results file
 * into a new string (caller frees); *out = NULL if the attribute is absent. */
OvqStatus ovq_h5_read_string_attr(const char *path, const char *name, MPI_Comm comm, char **out);

#endif
