/* Checkpoint files (see checkpoint.h). */
#include "checkpoint.h"

#include <errno.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static size_t elem_size(CkptType t) { return t == CKPT_FLOAT ? sizeof(float) : 8; }

static hid_t mem_type(CkptType t) {
  return t == CKPT_FLOAT ? H5T_NATIVE_FLOAT : t == CKPT_DOUBLE ? H5T_NATIVE_DOUBLE : H5T_NATIVE_INT64;
}

/* FNV-1a over the bytes of every array, in order. */
static uint64_t checksum(const CkptArray *a, int n) {
  uint64_t h = 1469598103934665603ull;
  for (int i = 0; i < n; i++) {
    const unsigned char *p = a[i].data;
    size_t bytes = (size_t)a[i].count * elem_size(a[i].type);
    for (size_t k = 0; k < bytes; k++) h = (h ^ p[k]) * 1099511628211ull;
  }
  return h;
}

static OvqStatus write_local(const char *path, const char *fingerprint, const CkptArray *a, int n) {
  size_t len = strlen(path) + 32;
  char *tmp = OVQ_MALLOC(len);
  snprintf(tmp, len, "%s.part-%ld", path, (long)getpid());
  FILE *probe = fopen(tmp, "wb");
  if (!probe) {
    OvqStatus st = ovq_error("%s: cannot write checkpoint: %s", path, strerror(errno));
    free(tmp);
    return st;
  }
  fclose(probe);
  hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  OvqStatus st = OVQ_OK;
  if (f < 0) st = ovq_error("%s: HDF5 cannot create the checkpoint", tmp);
  for (int i = 0; st == OVQ_OK && i < n; i++) {
    hsize_t dim = (hsize_t)a[i].count;
    hid_t sp = OVQ_H5_CHECK(H5Screate_simple(1, &dim, NULL));
    hid_t d = H5Dcreate2(f, a[i].name, mem_type(a[i].type), sp, H5P_DEFAULT, H5P_DEFAULT,
                         H5P_DEFAULT);
    if (d < 0 || H5Dwrite(d, mem_type(a[i].type), H5S_ALL, H5S_ALL, H5P_DEFAULT, a[i].data) < 0)
      st = ovq_error("%s: writing %s failed (disk full?)", tmp, a[i].name);
    if (d >= 0) H5Dclose(d);
    H5Sclose(sp);
  }
  if (st == OVQ_OK) {
    hid_t t = OVQ_H5_CHECK(H5Tcopy(H5T_C_S1));
    H5Tset_size(t, strlen(fingerprint) + 1);
    hid_t sp = OVQ_H5_CHECK(H5Screate(H5S_SCALAR));
    hid_t at = H5Acreate2(f, "fingerprint", t, sp, H5P_DEFAULT, H5P_DEFAULT);
    if (at < 0 || H5Awrite(at, t, fingerprint) < 0) st = ovq_error("%s: writing failed", tmp);
    if (at >= 0) H5Aclose(at);
    H5Tclose(t);
    uint64_t sum = checksum(a, n);
    at = H5Acreate2(f, "checksum", H5T_STD_U64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    if (at < 0 || H5Awrite(at, H5T_NATIVE_UINT64, &sum) < 0) st = ovq_error("%s: writing failed", tmp);
    if (at >= 0) H5Aclose(at);
    H5Sclose(sp);
  }
  if (f >= 0 && H5Fclose(f) < 0 && st == OVQ_OK) st = ovq_error("%s: closing failed (disk full?)", tmp);
  if (st == OVQ_OK && rename(tmp, path) != 0)
    st = ovq_error("%s: cannot rename the checkpoint into place: %s", path, strerror(errno));
  if (st != OVQ_OK) remove(tmp);
  free(tmp);
  return st;
}

OvqStatus ovq_ckpt_write(const char *path, const char *fingerprint, const CkptArray *arrays,
                         int n, MPI_Comm comm) {
  int rank;
  OVQ_MPI_CHECK(MPI_Comm_rank(comm, &rank));
  OvqStatus st = rank == 0 ? write_local(path, fingerprint, arrays, n) : OVQ_OK;
  return ovq_status_agree(comm, st);
}

static OvqStatus read_local(const char *path, const char *fingerprint, CkptArray *a, int n) {
  if (access(path, R_OK) != 0)
    return ovq_error("%s: cannot open checkpoint: %s", path, strerror(errno));
  if (H5Fis_hdf5(path) <= 0) return ovq_error("%s: the checkpoint is not an HDF5 file", path);
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) return ovq_error("%s: the checkpoint is damaged (HDF5 cannot open it)", path);
  OvqStatus st = OVQ_OK;
  char *fp = NULL;
  if (H5Aexists(f, "fingerprint") <= 0 || H5Aexists(f, "checksum") <= 0) {
    st = ovq_error("%s: not an OncoVQ checkpoint (no fingerprint/checksum)", path);
  } else {
    hid_t at = OVQ_H5_CHECK(H5Aopen(f, "fingerprint", H5P_DEFAULT));
    hid_t t = OVQ_H5_CHECK(H5Aget_type(at));
    fp = OVQ_CALLOC(H5Tget_size(t) + 1, 1);
    if (H5Aread(at, t, fp) < 0) st = ovq_error("%s: the checkpoint is damaged", path);
    H5Tclose(t);
    H5Aclose(at);
    if (st == OVQ_OK && strcmp(fp, fingerprint) != 0)
      st = ovq_error("%s: the checkpoint was written by a different model or run configuration "
                     "(checkpoint: %s; this run: %s); remove it or point train.checkpoint elsewhere",
                     path, fp, fingerprint);
  }
  for (int i = 0; st == OVQ_OK && i < n; i++) {
    if (H5Lexists(f, a[i].name, H5P_DEFAULT) <= 0) {
      st = ovq_error("%s: the checkpoint lacks %s", path, a[i].name);
      break;
    }
    hid_t d = OVQ_H5_CHECK(H5Dopen2(f, a[i].name, H5P_DEFAULT));
    hid_t sp = OVQ_H5_CHECK(H5Dget_space(d));
    hssize_t cnt = H5Sget_simple_extent_npoints(sp);
    if (cnt != (hssize_t)a[i].count)
      st = ovq_error("%s: %s has %lld values, expected %lld", path, a[i].name, (long long)cnt,
                     (long long)a[i].count);
    else if (H5Dread(d, mem_type(a[i].type), H5S_ALL, H5S_ALL, H5P_DEFAULT, a[i].data) < 0)
      st = ovq_error("%s: reading %s failed (damaged file?)", path, a[i].name);
    H5Sclose(sp);
    H5Dclose(d);
  }
  if (st == OVQ_OK) {
    uint64_t want = 0;
    hid_t at = OVQ_H5_CHECK(H5Aopen(f, "checksum", H5P_DEFAULT));
    H5Aread(at, H5T_NATIVE_UINT64, &want);
    H5Aclose(at);
    if (checksum(a, n) != want)
      st = ovq_error("%s: the checkpoint is damaged (checksum mismatch); not loading it", path);
  }
  free(fp);
  H5Fclose(f);
  return st;
}

OvqStatus ovq_ckpt_read(const char *path, const char *fingerprint, CkptArray *arrays, int n,
                        MPI_Comm comm) {
  int rank;
  OVQ_MPI_CHECK(MPI_Comm_rank(comm, &rank));
  OvqStatus st = rank == 0 ? read_local(path, fingerprint, arrays, n) : OVQ_OK;
  st = ovq_status_agree(comm, st);
  if (st != OVQ_OK) return st;
  for (int i = 0; i < n; i++) {
    /* Large arrays in chunks: MPI counts are ints. */
    size_t bytes = (size_t)arrays[i].count * elem_size(arrays[i].type);
    for (size_t off = 0; off < bytes; off += (size_t)1 << 30) {
      size_t chunk = bytes - off < ((size_t)1 << 30) ? bytes - off : (size_t)1 << 30;
      OVQ_MPI_CHECK(MPI_Bcast((char *)arrays[i].data + off, (int)chunk, MPI_BYTE, 0, comm));
    }
  }
  return OVQ_OK;
}
