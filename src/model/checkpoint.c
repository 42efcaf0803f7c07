/* Checkpoint files (see checkpoint.h). */
#include "checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
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

/* Free bytes on the file system of `path`'s directory (< 0 if unknown). */
static double free_bytes(const char *path) {
  char dir[4096];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (slash)
    slash[slash == dir ? 1 : 0] = '\0';
  else
    snprintf(dir, sizeof dir, ".");
  struct statvfs v;
  return statvfs(dir, &v) == 0 ? (double)v.f_bavail * (double)v.f_frsize : -1.0;
}

/* Why a write failed: errno's text when it names a cause, or a full device. */
static const char *why(int err, const char *path) {
  double avail = free_bytes(path);
  if (err == ENOSPC || (avail >= 0 && avail < 1048576.0)) return "no space left on the device";
  if (err == EDQUOT || err == EFBIG || err == EIO || err == EROFS) return strerror(err);
  return "I/O error";
}

static OvqStatus write_local(const char *path, const char *fingerprint, const CkptArray *a, int n) {
  /* The space first: a device that fills up half-way makes HDF5's close fail, and a file that
   * failed to close crashes HDF5 when the library shuts down. */
  double need = 65536.0;
  for (int i = 0; i < n; i++) need += (double)a[i].count * (double)elem_size(a[i].type) + 4096.0;
  double avail = free_bytes(path);
  if (avail >= 0 && avail < need)
    return ovq_error("%s: cannot write the checkpoint: no space left on the device (%.1f MiB free, "
                     "%.1f MiB needed); the previous checkpoint, if any, is kept",
                     path, avail / 1048576.0, need / 1048576.0);
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
  /* HDF5 writes the layout only: contiguous datasets whose space is allocated at creation and
   * never filled, so the file it closes holds just metadata (a few KB). The arrays then go in
   * with pwrite at the datasets' offsets, where a full device or an exceeded quota is our own
   * error to report and clean up: a failed H5Fclose (data HDF5 could not flush) leaves the
   * library in a state that crashes it at MPI_Finalize (seen with EDQUOT on btrfs). */
  haddr_t *off = OVQ_MALLOC(sizeof(haddr_t) * (size_t)(n + 1));
  hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  OvqStatus st = OVQ_OK;
  if (f < 0) st = ovq_error("%s: HDF5 cannot create the checkpoint %s", path, tmp);
  hid_t dcpl = OVQ_H5_CHECK(H5Pcreate(H5P_DATASET_CREATE));
  OVQ_H5_CHECK(H5Pset_layout(dcpl, H5D_CONTIGUOUS));
  OVQ_H5_CHECK(H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY));
  OVQ_H5_CHECK(H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER));
  for (int i = 0; st == OVQ_OK && i < n; i++) {
    hsize_t dim = (hsize_t)a[i].count;
    hid_t sp = OVQ_H5_CHECK(H5Screate_simple(1, &dim, NULL));
    hid_t d = H5Dcreate2(f, a[i].name, mem_type(a[i].type), sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    off[i] = d >= 0 ? H5Dget_offset(d) : HADDR_UNDEF;
    if (d < 0 || (a[i].count > 0 && off[i] == HADDR_UNDEF))
      st = ovq_error("%s: cannot write the checkpoint: creating %s in %s failed: %s; the "
                     "previous checkpoint, if any, is kept", path, a[i].name, tmp, why(errno, tmp));
    if (d >= 0) H5Dclose(d);
    H5Sclose(sp);
  }
  H5Pclose(dcpl);
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
  if (f >= 0 && H5Fclose(f) < 0 && st == OVQ_OK)
    st = ovq_error("%s: cannot write the checkpoint: closing %s failed: %s", path, tmp,
                   why(errno, tmp));
  /* The arrays, in the native layout the datasets were created with. */
  int fd = st == OVQ_OK ? open(tmp, O_WRONLY) : -1;
  if (st == OVQ_OK && fd < 0)
    st = ovq_error("%s: cannot reopen %s: %s", path, tmp, strerror(errno));
  for (int i = 0; st == OVQ_OK && i < n; i++) {
    const char *p = a[i].data;
    size_t left = (size_t)a[i].count * elem_size(a[i].type);
    off_t at = (off_t)off[i];
    while (left > 0) {
      ssize_t w = pwrite(fd, p, left, at);
      if (w <= 0) {
        st = ovq_error("%s: cannot write the checkpoint: writing %s to %s failed: %s; the "
                       "previous checkpoint, if any, is kept", path, a[i].name, tmp,
                       why(w < 0 ? errno : ENOSPC, tmp));
        break;
      }
      p += w;
      left -= (size_t)w;
      at += w;
    }
  }
  if (st == OVQ_OK && fsync(fd) != 0)
    st = ovq_error("%s: cannot write the checkpoint: flushing %s failed: %s; the previous "
                   "checkpoint, if any, is kept", path, tmp, why(errno, tmp));
  if (fd >= 0 && close(fd) != 0 && st == OVQ_OK)
    st = ovq_error("%s: cannot write the checkpoint: closing %s failed: %s", path, tmp,
                   why(errno, tmp));
  free(off);
  if (st == OVQ_OK && rename(tmp, path) != 0)
    st = ovq_error("%s: cannot rename the checkpoint into place: %s", path, strerror(errno));
  if (st != OVQ_OK) remove(tmp);
  free(tmp);
  return st;
}

OvqStatus ovq_ckpt_check_writable(const char *path, MPI_Comm comm) {
  int rank;
  OVQ_MPI_CHECK(MPI_Comm_rank(comm, &rank));
  OvqStatus st = OVQ_OK;
  if (rank == 0) {
    size_t len = strlen(path) + 32;
    char *tmp = OVQ_MALLOC(len);
    snprintf(tmp, len, "%s.part-%ld", path, (long)getpid());
    FILE *probe = fopen(tmp, "wb");
    if (!probe)
      st = ovq_error("%s: cannot write checkpoint: %s", path, strerror(errno));
    else {
      fclose(probe);
      remove(tmp);
    }
    free(tmp);
  }
  return ovq_status_agree(comm, st);
}

OvqStatus ovq_ckpt_write(const char *path, const char *fingerprint, const CkptArray *arrays,
                         int n, MPI_Comm comm) {
  int rank;
  OVQ_MPI_CHECK(MPI_Comm_rank(comm, &rank));
  OvqStatus st = rank == 0 ? write_local(path, fingerprint, arrays, n) : OVQ_OK;
  return ovq_status_agree(comm, st);
}

/* The end of every message about a checkpoint that is refused. */
#define NOT_LOADING "; not loading it (remove it to train from the start)"

static OvqStatus read_local(const char *path, const char *fingerprint, CkptArray *a, int n) {
  if (access(path, R_OK) != 0)
    return ovq_error("%s: cannot open checkpoint: %s", path, strerror(errno));
  if (H5Fis_hdf5(path) <= 0)
    return ovq_error("%s: the checkpoint is not an HDF5 file (damaged?)" NOT_LOADING, path);
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0)
    return ovq_error("%s: the checkpoint is damaged (HDF5 cannot open it: truncated?)" NOT_LOADING,
                     path);
  /* Every HDF5 call below can fail on a damaged file: each failure is a user error that names
   * the file, never an abort. */
  OvqStatus st = OVQ_OK;
  char *fp = NULL;
  if (H5Aexists(f, "fingerprint") <= 0 || H5Aexists(f, "checksum") <= 0) {
    st = ovq_error("%s: not an OncoVQ checkpoint, or a damaged one (no fingerprint/checksum)"
                   NOT_LOADING, path);
  } else {
    hid_t at = H5Aopen(f, "fingerprint", H5P_DEFAULT);
    hid_t t = at >= 0 ? H5Aget_type(at) : -1;
    size_t sz = t >= 0 ? H5Tget_size(t) : 0;
    if (t < 0 || H5Tget_class(t) != H5T_STRING || sz == 0 || sz > 65536) {
      st = ovq_error("%s: the checkpoint is damaged (its fingerprint cannot be read)"
                     NOT_LOADING, path);
    } else {
      fp = OVQ_CALLOC(sz + 1, 1);
      if (H5Aread(at, t, fp) < 0)
        st = ovq_error("%s: the checkpoint is damaged (its fingerprint cannot be read)"
                       NOT_LOADING, path);
    }
    if (t >= 0) H5Tclose(t);
    if (at >= 0) H5Aclose(at);
    if (st == OVQ_OK && strcmp(fp, fingerprint) != 0)
      st = ovq_error("%s: the checkpoint was written by a different model or run configuration "
                     "(checkpoint: %s; this run: %s); remove it or point train.checkpoint elsewhere",
                     path, fp, fingerprint);
  }
  for (int i = 0; st == OVQ_OK && i < n; i++) {
    if (H5Lexists(f, a[i].name, H5P_DEFAULT) <= 0) {
      st = ovq_error("%s: the checkpoint lacks %s (damaged?)" NOT_LOADING, path, a[i].name);
      break;
    }
    hid_t d = H5Dopen2(f, a[i].name, H5P_DEFAULT);
    hid_t sp = d >= 0 ? H5Dget_space(d) : -1;
    hssize_t cnt = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
    if (d < 0 || sp < 0 || cnt < 0)
      st = ovq_error("%s: the checkpoint is damaged (%s cannot be opened)" NOT_LOADING, path,
                     a[i].name);
    else if (cnt != (hssize_t)a[i].count)
      st = ovq_error("%s: the checkpoint's %s has %lld values, this run expects %lld (damaged?)"
                     NOT_LOADING, path, a[i].name, (long long)cnt, (long long)a[i].count);
    else if (H5Dread(d, mem_type(a[i].type), H5S_ALL, H5S_ALL, H5P_DEFAULT, a[i].data) < 0)
      st = ovq_error("%s: the checkpoint is damaged (reading %s failed)" NOT_LOADING, path,
                     a[i].name);
    if (sp >= 0) H5Sclose(sp);
    if (d >= 0) H5Dclose(d);
  }
  if (st == OVQ_OK) {
    uint64_t want = 0;
    hid_t at = H5Aopen(f, "checksum", H5P_DEFAULT);
    if (at < 0 || H5Aread(at, H5T_NATIVE_UINT64, &want) < 0)
      st = ovq_error("%s: the checkpoint is damaged (its checksum cannot be read)" NOT_LOADING,
                     path);
    else if (checksum(a, n) != want)
      st = ovq_error("%s: the checkpoint is damaged (checksum mismatch)" NOT_LOADING, path);
    if (at >= 0) H5Aclose(at);
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
