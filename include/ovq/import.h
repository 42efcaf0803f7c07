/* Import of expression and clinical data as users download them (UCSC Xena matrices, GDC
 * per-sample quantification files with their sample sheet) into a cohort (ovq/cohort.h).
 *
 * What it does, in order:
 *   - reads the mRNA source (Xena matrix, features as rows, or its transpose; or the gene-
 *     expression files listed in a GDC sample sheet), the optional miRNA source, the clinical
 *     table and an optional labels table (ovq/tsv.h: plain or .gz, ranks share the parsing);
 *   - matches samples by key: a TCGA sample barcode (TCGA-XX-XXXX-NN...) by its first 15
 *     characters, keeping only the sample types listed in import.sample_types (default "01",
 *     primary tumour); any other id as it is. Aliquots of one sample are averaged; the same id
 *     twice in one file is an error;
 *   - keeps the samples present in every source, logging how many (and which) were dropped from
 *     each; merges duplicate feature ids by their mean (with a warning);
 *   - detects whether values are on a log scale (import.log = auto) and applies log2(x + 1)
 *     where they are not;
 *   - checks for features missing in every sample (error, or dropped with
 *     import.empty_features = drop).
 * Errors name the file, line and column (or sample / feature) and are the same on every rank. */
#ifndef OVQ_IMPORT_H
#define OVQ_IMPORT_H

#include <mpi.h>

#include "ovq/cohort.h"
#include "ovq/config.h"
#include "ovq/error.h"

/* Collective on comm. Imports according to cfg->import into *out (rank r holds block r of the
 * kept samples, in the order of the mRNA source). */
OvqStatus ovq_import(const OvqConfig *cfg, MPI_Comm comm, OvqCohort *out);

/* Local. The matching key of a sample id (TCGA barcode -> its first 15 characters, '.' read as
 * '-'; any other id -> itself, whatever its length), newly allocated (the caller frees it), and
 * in *type the TCGA sample-type code (e.g. 1 for "01"), or -1 for an id that is not a TCGA
 * sample barcode. */
char *ovq_sample_key(const char *id, int *type);

#endif
