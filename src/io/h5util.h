/* Internal helpers shared by the HDF5 readers and writers of src/io (not a public header).
 * Every function is collective on the file's communicator unless it says Local. */
#ifndef OVQ_IO_H5UTIL_H
#define OVQ_IO_H5UTIL_H

#include <hdf5.h>
#include <mpi.h>
#include <stdint.h>

#include "ovq/error.h"

/* Checks on rank 0 that `path` exists and is an HDF5 file, then opens it read-only with the MPI-IO
 * driver. Returns OVQ_ERR everywhere with a message naming the file otherwise. */
OvqStatus ovq_h5_open_read(const char *path, MPI_Comm comm, hid_t *file);

/* Creates a new file at a temporary name next to `path` (same name on every rank); *tmp gets that
 * name (caller frees). Returns OVQ_ERR everywhere if the directory is not writable. */
OvqStatus ovq_h5_create_tmp(const char *path, MPI_Comm comm, hid_t *file, char **tmp);

/* Closes the file, then renames tmp over path (rank 0). On failure removes tmp. */
OvqStatus ovq_h5_commit(hid_t file, const char *tmp, const char *path, MPI_Comm comm);

/* Local. A write to a file being created (loc: the file or an object in it) failed: prints which
 * file, what and why (e.g. no space left on the device), removes the partial temporary files of
 * this process and ends the job on every rank with exit status 1. For failures that may occur
 * on one rank only (the ranks cannot agree on a status). */
_Noreturn void ovq_h5_write_failed(hid_t loc, const char *what);

/* Collective. Ends the job (as ovq_h5_write_failed, on every rank) unless the device of the file
 * of loc has room for `bytes` more plus the file's pending metadata and a margin. Call before
 * writes that HDF5 does not survive failing (metadata flushes, H5Ocopy). */
void ovq_h5_ensure_space(hid_t loc, double bytes, const char *what, MPI_Comm comm);

/* Local. Fixed-length NUL-terminated string type of the given width (caller closes). */
hid_t ovq_h5_str_type(int width);

/* Creates a dataset of rank 1 (ncols = 0) or 2 ([nrows][ncols]) and writes rows
 * [row_start, row_start + n_local) of it from buf on each rank. */
void ovq_h5_write_rows(hid_t loc, const char *name, hid_t type, const void *buf, int64_t nrows,
                       int64_t ncols, int64_t row_start, int64_t n_local, MPI_Comm comm);

/* Creates a dataset [n] and writes it from rank 0's buf (other ranks' buf is ignored). */
void ovq_h5_write_replicated(hid_t loc, const char *name, hid_t type, const void *buf, int64_t n,
                             MPI_Comm comm);

/* Reads rows `rows[0..n)` (ascending file rows) of a rank-1 or rank-2 dataset into buf, each row
 * ncols elements of mem_type (ncols = 1 for rank 1). OVQ_ERR on every rank, with a message naming
 * the file and dataset, if the data cannot be read (damaged file, type that does not convert). */
OvqStatus ovq_h5_read_rows(hid_t dset, hid_t mem_type, void *buf, const int64_t *rows, int64_t n,
                           int64_t ncols, MPI_Comm comm);

/* Writes a scalar string / int attribute on an object. */
void ovq_h5_write_string_attr(hid_t obj, const char *name, const char *value);
void ovq_h5_write_int_attr(hid_t obj, const char *name, int value);

/* Local. Reads the attribute `name` of obj, which must hold one fixed-length string, into a new
 * string (caller frees). Returns 1 (*out set), 0 if there is no such attribute, -1 if it is not
 * one fixed-length string (another type, several values) or cannot be read (damaged file). */
int ovq_h5_get_string_attr(hid_t obj, const char *name, char **out);

/* Local. Whether a dataset's stored data match its shape: 0 if elements x element size
 * overflows, or if a contiguous or compact dataset holds another number of bytes (a damaged
 * shape, or data never written). Chunked datasets (perhaps compressed) are not checked. */
int ovq_h5_shape_ok(hid_t dset);

#endif
