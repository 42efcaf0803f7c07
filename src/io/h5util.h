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
 * ncols elements of mem_type (ncols = 1 for rank 1). */
void ovq_h5_read_rows(hid_t dset, hid_t mem_type, void *buf, const int64_t *rows, int64_t n,
                      int64_t ncols, MPI_Comm comm);

/* Writes a scalar string / int attribute on an object. */
void ovq_h5_write_string_attr(hid_t obj, const char *name, const char *value);
void ovq_h5_write_int_attr(hid_t obj, const char *name, int value);

#endif
