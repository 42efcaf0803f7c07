/* HDF5 helpers: open/create with the MPI-IO driver, atomic commit, row-block I/O. */
#include "h5util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Bytes moved per rank in one H5Dread/H5Dwrite call; MPI-IO counts are ints, so large blocks
 * are moved in several collective calls. */
static const int64_t kMaxBytesPerCall = (int64_t)1 << 30;

/* A valid address for ranks that take part in a collective call with an empty selection. */
static const double kDummy = 0.0;
static double kDummyRead;

static hid_t mpio_fapl(MPI_Comm comm) {
  hid_t fapl = OVQ_H5_CHECK(H5Pcreate(H5P_FILE_ACCESS));
  OVQ_H5_CHECK(H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL));
  return fapl;
}

static hid_t collective_dxpl(void) {
  hid_t dxpl = OVQ_H5_CHECK(H5Pcreate(H5P_DATASET_XFER));
  OVQ_H5_CHECK(H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE));
  return dxpl;
}

OvqStatus ovq_h5_open_read(const char *path, MPI_Comm comm, hid_t *file) {
  int rank;
  OVQ_MPI_CHECK(MPI_Comm_rank(comm, &rank));
  OvqStatus st = OVQ_OK;
  if (rank == 0) {
    FILE *f = fopen(path, "rb");
    if (!f)
      st = ovq_error("%s: cannot open: %s", path, strerror(errno));
    else {
      fclose(f);
      htri_t is = H5Fis_hdf5(path);
      if (is <= 0) st = ovq_error("%s: not an HDF5 file", path);
    }
  }
  st = ovq_status_agree(comm, st);
  if (st != OVQ_OK) return st;
  hid_t fapl = mpio_fapl(comm);
  *file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
  H5Pclose(fapl);
  /* Every rank opened the same file, so they all fail or all succeed. */
  if (*file < 0) return ovq_error("%s: HDF5 cannot open the file (damaged or truncated?)", path);
  return OVQ_OK;
}

OvqStatus ovq_h5_create_tmp(const char *path, MPI_Comm comm, hid_t *file, char **tmp) {
  int rank;
  OVQ_MPI_CHECK(MPI_Comm_rank(comm, &rank));
  /* The temporary name carries rank 0's pid, so concurrent jobs writing the same path do not
   * share a temporary file. */
  long pid = (long)getpid();
  OVQ_MPI_CHECK(MPI_Bcast(&pid, 1, MPI_LONG, 0, comm));
  size_t n = strlen(path) + 32;
  *tmp = OVQ_MALLOC(n);
  snprintf(*tmp, n, "%s.part-%ld", path, pid);
  OvqStatus st = OVQ_OK;
  if (rank == 0) {
    /* Ask the OS first: its message (permission denied, no such directory) is the useful one. */
    FILE *f = fopen(*tmp, "wb");
    if (!f)
      st = ovq_error("%s: cannot write output: %s", path, strerror(errno));
    else {
      fclose(f);
      remove(*tmp);
    }
  }
  st = ovq_status_agree(comm, st);
  if (st != OVQ_OK) {
    free(*tmp);
    *tmp = NULL;
    return st;
  }
  hid_t fapl = mpio_fapl(comm);
  *file = H5Fcreate(*tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
  H5Pclose(fapl);
  if (*file < 0) {
    st = ovq_error("%s: HDF5 cannot create the file", *tmp);
    free(*tmp);
    *tmp = NULL;
  }
  return st;
}

OvqStatus ovq_h5_commit(hid_t file, const char *tmp, const char *path, MPI_Comm comm) {
  int rank;
  OVQ_MPI_CHECK(MPI_Comm_rank(comm, &rank));
  OVQ_H5_CHECK(H5Fclose(file));
  OvqStatus st = OVQ_OK;
  if (rank == 0 && rename(tmp, path) != 0) {
    st = ovq_error("%s: cannot rename the finished file into place: %s", path, strerror(errno));
    remove(tmp);
  }
  return ovq_status_agree(comm, st);
}


hid_t ovq_h5_str_type(int width) {
  hid_t t = OVQ_H5_CHECK(H5Tcopy(H5T_C_S1));
  OVQ_H5_CHECK(H5Tset_size(t, (size_t)width));
  OVQ_H5_CHECK(H5Tset_strpad(t, H5T_STR_NULLTERM));
  return t;
}

static int64_t rows_per_call(int64_t ncols, size_t elem) {
  int64_t row_bytes = (ncols > 0 ? ncols : 1) * (int64_t)elem;
  int64_t r = kMaxBytesPerCall / (row_bytes > 0 ? row_bytes : 1);
  return r > 0 ? r : 1;
}

static int64_t agreed_calls(int64_t local_calls, MPI_Comm comm) {
  int64_t m = local_calls;
  OVQ_MPI_CHECK(MPI_Allreduce(&local_calls, &m, 1, MPI_INT64_T, MPI_MAX, comm));
  return m;
}

void ovq_h5_write_rows(hid_t loc, const char *name, hid_t type, const void *buf, int64_t nrows,
                       int64_t ncols, int64_t row_start, int64_t n_local, MPI_Comm comm) {
  int rank2 = ncols > 0;
  hsize_t dims[2] = {(hsize_t)nrows, (hsize_t)(rank2 ? ncols : 1)};
  hid_t fspace = OVQ_H5_CHECK(H5Screate_simple(rank2 ? 2 : 1, dims, NULL));
  hid_t dset = OVQ_H5_CHECK(
      H5Dcreate2(loc, name, type, fspace, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  hid_t dxpl = collective_dxpl();
  size_t elem = H5Tget_size(type);
  int64_t per = rows_per_call(ncols, elem);
  int64_t calls = agreed_calls((n_local + per - 1) / per, comm);
  for (int64_t c = 0; c < calls; c++) {
    int64_t r0 = c * per, nr = n_local - r0 < per ? n_local - r0 : per;
    if (nr < 0) nr = 0;
    hsize_t start[2] = {(hsize_t)(row_start + r0), 0}, count[2] = {(hsize_t)nr, dims[1]};
    hsize_t mdims[2] = {(hsize_t)(nr > 0 ? nr : 1), dims[1]};
    hid_t mspace = OVQ_H5_CHECK(H5Screate_simple(rank2 ? 2 : 1, mdims, NULL));
    if (nr > 0) {
      OVQ_H5_CHECK(H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL));
    } else {
      OVQ_H5_CHECK(H5Sselect_none(fspace));
      OVQ_H5_CHECK(H5Sselect_none(mspace));
    }
    const char *src = (const char *)buf + (size_t)(r0 * (rank2 ? ncols : 1)) * elem;
    OVQ_H5_CHECK(H5Dwrite(dset, type, mspace, fspace, dxpl, nr > 0 ? (const void *)src : (const void *)&kDummy));
    H5Sclose(mspace);
  }
  H5Pclose(dxpl);
  H5Dclose(dset);
  H5Sclose(fspace);
}

void ovq_h5_write_replicated(hid_t loc, const char *name, hid_t type, const void *buf, int64_t n,
                             MPI_Comm comm) {
  int rank;
  OVQ_MPI_CHECK(MPI_Comm_rank(comm, &rank));
  ovq_h5_write_rows(loc, name, type, buf, n, 0, 0, rank == 0 ? n : 0, comm);
}

void ovq_h5_read_rows(hid_t dset, hid_t mem_type, void *buf, const int64_t *rows, int64_t n,
                      int64_t ncols, MPI_Comm comm) {
  hid_t fspace = OVQ_H5_CHECK(H5Dget_space(dset));
  int ndims = OVQ_H5_CHECK(H5Sget_simple_extent_ndims(fspace));
  hid_t dxpl = collective_dxpl();
  size_t elem = H5Tget_size(mem_type);
  int64_t per = rows_per_call(ncols, elem);
  int64_t calls = agreed_calls((n + per - 1) / per, comm);
  for (int64_t c = 0; c < calls; c++) {
    int64_t i0 = c * per, nr = n - i0 < per ? n - i0 : per;
    if (nr < 0) nr = 0;
    hsize_t mdims[2] = {(hsize_t)(nr > 0 ? nr : 1), (hsize_t)ncols};
    hid_t mspace = OVQ_H5_CHECK(H5Screate_simple(ndims, mdims, NULL));
    OVQ_H5_CHECK(H5Sselect_none(fspace));
    if (nr == 0) OVQ_H5_CHECK(H5Sselect_none(mspace));
    /* One hyperslab per run of consecutive rows: a contiguous block is a single slab. */
    for (int64_t i = i0; i < i0 + nr;) {
      int64_t j = i + 1;
      while (j < i0 + nr && rows[j] == rows[j - 1] + 1) j++;
      hsize_t start[2] = {(hsize_t)rows[i], 0}, count[2] = {(hsize_t)(j - i), (hsize_t)ncols};
      OVQ_H5_CHECK(H5Sselect_hyperslab(fspace, H5S_SELECT_OR, start, NULL, count, NULL));
      i = j;
    }
    char *dst = (char *)buf + (size_t)(i0 * ncols) * elem;
    OVQ_H5_CHECK(H5Dread(dset, mem_type, mspace, fspace, dxpl, nr > 0 ? (void *)dst : (void *)&kDummyRead));
    H5Sclose(mspace);
  }
  H5Pclose(dxpl);
  H5Sclose(fspace);
}

void ovq_h5_write_string_attr(hid_t obj, const char *name, const char *value) {
  hid_t t = ovq_h5_str_type((int)strlen(value) + 1);
  hid_t sp = OVQ_H5_CHECK(H5Screate(H5S_SCALAR));
  hid_t a = OVQ_H5_CHECK(H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT));
  OVQ_H5_CHECK(H5Awrite(a, t, value));
  H5Aclose(a);
  H5Sclose(sp);
  H5Tclose(t);
}

void ovq_h5_write_int_attr(hid_t obj, const char *name, int value) {
  hid_t sp = OVQ_H5_CHECK(H5Screate(H5S_SCALAR));
  hid_t a = OVQ_H5_CHECK(H5Acreate2(obj, name, H5T_STD_I32LE, sp, H5P_DEFAULT, H5P_DEFAULT));
  OVQ_H5_CHECK(H5Awrite(a, H5T_NATIVE_INT, &value));
  H5Aclose(a);
  H5Sclose(sp);
}
