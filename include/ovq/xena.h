/* Xena-style text files of a cohort (what UCSC Xena serves for TCGA): expression matrices with
 * features as rows and samples as columns (first header cell "sample", values with 4 decimals,
 * NA = missing), and a clinical table with one row per sample. */
#ifndef OVQ_XENA_H
#define OVQ_XENA_H

#include <mpi.h>

#include "ovq/cohort.h"
#include "ovq/error.h"

/* Collective on comm. Writes PREFIX_mrna.tsv, PREFIX_mirna.tsv (when the cohort has miRNAs) and
 * PREFIX_clinical.tsv (columns sample, cancer, label, os_time, os_event, and true_subtype and
 * batch for synthetic cohorts). Rank 0 writes; the other ranks send it their rows one block of
 * features at a time, so no rank holds the whole matrix. Each file appears complete or not at
 * all (temporary name, then rename). Returns OVQ_ERR everywhere if a file cannot be written. */
OvqStatus ovq_xena_write(const OvqCohort *c, const char *prefix, MPI_Comm comm);

#endif
