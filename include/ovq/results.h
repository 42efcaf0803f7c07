/* Results files (HDF5, schema "oncovq-results" version 1): what a run learned about a cohort.
 *   /                        attributes: format, format_version, oncovq_version, config
 *   /samples/{id,cancer,label,os_time,os_event[,true_subtype]}   as in the cohort file, [N]
 *   /prep/features string [F], /prep/{mean,scale,weight} float64 [F], /prep/n_mrna int64 [1]:
 *                            the fitted preprocessing transform (ovq/prep.h)
 *   /prep/x float32 [N][F]   the preprocessed matrix (written by oncovq prep)
 *   /models/<type>/params float32 [P]   the parameter slab (layout fixed by the config)
 *   /models/<type>/codebook float32 [G*K][D/G]   (vqvae)
 *   /models/<type>/history/{loss,recon,codebook,commitment,kl,perplexity,seconds} float64 [E],
 *                          used_codes int64 [E]
 *   /models/<type>/latent float32 [N][D]  z_e (vqvae), the code (ae), the mean (vae)
 *   /models/<type>/z_q float32 [N][D], /models/<type>/codes int32 [N][G]   (vqvae)
 *   /models/<type> attribute data_var (float64)
 * Written collectively; the file appears under its name only when complete. */
#ifndef OVQ_RESULTS_H
#define OVQ_RESULTS_H

#include <hdf5.h>
#include <mpi.h>
#include <stdint.h>

#include "ovq/cohort.h"
#include "ovq/error.h"

#define OVQ_RESULTS_FORMAT "oncovq-results"
#define OVQ_RESULTS_FORMAT_VERSION 1

typedef struct OvqResults {
  hid_t file;
  char *tmp, *path;
  MPI_Comm comm;
} OvqResults;

/* Collective. Starts a new results file (temporary name); OVQ_ERR everywhere if unwritable. */
OvqStatus ovq_results_create(OvqResults *r, const char *path, const char *config_text,
                             MPI_Comm comm);

/* Collective. /samples from the cohort's row blocks. */
void ovq_results_write_samples(OvqResults *r, const OvqCohort *c);

/* Collective. A distributed [n_total][n_cols] dataset (n_cols 0: [n_total]) from each rank's rows;
 * intermediate groups are created. type: H5T_NATIVE_FLOAT, H5T_NATIVE_INT32, ... */
void ovq_results_write_rows(OvqResults *r, const char *name, hid_t type, const void *x,
                            int64_t n_total, int64_t n_cols, int64_t row_start, int64_t n_local);

/* Collective. The latent features of a model's samples (rows as in ovq_results_write_rows):
 * /models/<type>/latent [N][D] and, when zq and codes are given (VQ-VAE), z_q [N][D] and
 * codes [N][G]. */
void ovq_results_write_latents(OvqResults *r, const char *type, const float *latent,
                               const float *zq, const int32_t *codes, int64_t n_total, int64_t D,
                               int64_t G, int64_t row_start, int64_t n_local);

/* Collective. A replicated 1-D dataset [n] (rank 0's data) or 2-D [n][n_cols]. */
void ovq_results_write_array(OvqResults *r, const char *name, hid_t type, const void *x, int64_t n,
                             int64_t n_cols);

/* Collective. Replicated strings as a fixed-length string dataset. */
void ovq_results_write_strings(OvqResults *r, const char *name, const OvqStrings *s);

/* Collective. A float64 or string attribute on the object `obj` (a group path). */
void ovq_results_write_attr_double(OvqResults *r, const char *obj, const char *name, double v);

/* Collective. Finishes the file and renames it into place. */
OvqStatus ovq_results_commit(OvqResults *r);

/* Collective. Copies object src_obj (a group or dataset, with everything below it) of the file
 * src_path into r as dst_obj (parent groups created). OVQ_ERR everywhere (message names the file
 * and object) if the source cannot be opened or has no such object. */
OvqStatus ovq_results_copy(OvqResults *r, const char *src_path, const char *src_obj,
                           const char *dst_obj);

/* Collective. Abandons a file being written: closes and removes the temporary file. */
void ovq_results_abort(OvqResults *r);

/* ---- reading ---- */

/* Collective. Opens a results file read-only; OVQ_ERR everywhere (message names the file) if it
 * is missing, not HDF5 or not a results file. */
OvqStatus ovq_results_open(OvqResults *r, const char *path, MPI_Comm comm);

/* Collective. Reads the whole 1-D (or 2-D, flattened) dataset `name` into a new array of
 * mem_type elements on every rank (*n = its element count). OVQ_ERR if it is missing. */
OvqStatus ovq_results_read_array(OvqResults *r, const char *name, hid_t mem_type, void **data,
                                 int64_t *n);

/* Collective. Reads this rank's block ovq_partition_block(N, size, rank) of the rows of a 1-D or
 * 2-D dataset [N][n_cols] (n_cols = 1 for 1-D) into a new array. OVQ_ERR if it is missing. */
OvqStatus ovq_results_read_block(OvqResults *r, const char *name, hid_t mem_type, void **data,
                                 int64_t *n_total, int64_t *n_cols, int64_t *row_start,
                                 int64_t *n_local);

/* Collective. Reads a 1-D fixed-length string dataset on every rank. */
OvqStatus ovq_results_read_strings(OvqResults *r, const char *name, OvqStrings *s);

/* Collective. The root attribute `name` as a new string (caller frees); OVQ_ERR if absent. */
OvqStatus ovq_results_read_attr(OvqResults *r, const char *name, char **value);

/* Collective. Closes a file opened for reading. */
void ovq_results_close(OvqResults *r);

#endif
