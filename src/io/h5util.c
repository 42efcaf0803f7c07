/* HDF5 helpers: open/create with the MPI-IO driver, atomic commit, row-block I/O. */
#define _GNU_SOURCE /* fallocate(2) */
#include "h5util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

/* Bytes moved per rank in one H5Dread/H5Dwrite call; MPI-IO counts are ints, so large blocks
 * are moved in several collective calls. */
static const int64_t kMaxBytesPerCall = (int64_t)1 << 30;

/* A valid address for ranks that take part in a collective call with an empty selection. */
static const double kDummy = 0.0;
static double kDummyRead;

/* ---- write failures --------------------------------------------------------------------------
 * The files this process is creating (between ovq_h5_create_tmp and ovq_h5_commit), so that a
 * failed write (device full, quota, I/O error) can name the file and remove its partial
 * temporary copy. Such a failure is seen by the rank whose write failed (the MPI-IO aggregator
 * or, for metadata, rank 0) while the others may already be in a later collective call, so no
 * status agreement is possible: ovq_h5_write_failed() ends the job on every rank (exit 1), and
 * ovq_h5_commit() has the ranks meet before the rename, so a failure on any rank stops the
 * partial file from reaching the final name. */
enum { kMaxOpen = 16 };
static struct {
  char *tmp, *path;
} g_open[kMaxOpen];

static void open_drop(int i) {
  free(g_open[i].tmp);
  free(g_open[i].path);
  g_open[i].tmp = g_open[i].path = NULL;
}

static void open_add(const char *tmp, const char *path) {
  /* Forget files that are gone (removed by a caller that abandoned them) and this name. */
  for (int i = 0; i < kMaxOpen; i++)
    if (g_open[i].tmp && (access(g_open[i].tmp, F_OK) != 0 || strcmp(g_open[i].tmp, tmp) == 0))
      open_drop(i);
  for (int i = 0; i < kMaxOpen; i++)
    if (!g_open[i].tmp) {
      g_open[i].tmp = OVQ_STRDUP(tmp);
      g_open[i].path = OVQ_STRDUP(path);
      return;
    }
}

static void open_forget(const char *tmp) {
  for (int i = 0; i < kMaxOpen; i++)
    if (g_open[i].tmp && strcmp(g_open[i].tmp, tmp) == 0) open_drop(i);
}

/* The directory of `path` into dir ("." for a bare file name). */
static void dir_of(const char *path, char *dir, size_t n) {
  snprintf(dir, n, "%s", path);
  char *slash = strrchr(dir, '/');
  if (slash)
    slash[slash == dir ? 1 : 0] = '\0';
  else
    snprintf(dir, n, ".");
}

/* Why a write to `file` failed: the device is (nearly) full, or errno's text when it names a
 * cause (errno may also be left over from an unrelated call); NULL if unknown. */
static const char *failure_reason(const char *file, int err, double need, char *buf, size_t n) {
  char dir[4096];
  dir_of(file, dir, sizeof dir);
  struct statvfs vfs;
  int known = statvfs(dir, &vfs) == 0;
  double avail = known ? (double)vfs.f_bavail * (double)vfs.f_frsize : 0.0;
  if (err == ENOSPC || (known && avail < 1048576.0)) {
    if (need > 0)
      snprintf(buf, n, "no space left on the device (%.0f KiB free, about %.0f KiB needed)",
               avail / 1024.0, need / 1024.0);
    else
      snprintf(buf, n, "no space left on the device (%.0f KiB free)", avail / 1024.0);
    return buf;
  }
  if (err == EDQUOT || err == EFBIG || err == EROFS || err == EIO || err == EACCES) {
    snprintf(buf, n, "%s", strerror(err));
    return buf;
  }
  return NULL;
}

/* Local. See above: names the file, removes this process's partial files, ends the job. */
static _Noreturn void write_failed_at(const char *file, int err, double need, const char *what) {
  const char *path = file;
  for (int i = 0; i < kMaxOpen; i++)
    if (g_open[i].tmp && strcmp(g_open[i].tmp, file) == 0) path = g_open[i].path;
  char buf[256];
  const char *reason = failure_reason(file, err, need, buf, sizeof buf);
  if (!reason) {
    /* Not a recognisable device problem (perhaps a bug): show HDF5's own account. */
    H5Eprint2(H5E_DEFAULT, stderr);
    reason = "I/O error (HDF5's error stack above)";
  }
  fprintf(stderr, "oncovq error: %s: %s failed: %s\n", path, what, reason);
  /* Every partial file of this process goes; the final names were never touched. */
  for (int i = 0; i < kMaxOpen; i++)
    if (g_open[i].tmp && remove(g_open[i].tmp) == 0)
      fprintf(stderr, "oncovq: removed the partial file %s; nothing was written under %s\n",
              g_open[i].tmp, g_open[i].path);
  fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, 1);
  abort();
}

void ovq_h5_write_failed(hid_t loc, const char *what) {
  int err = errno;
  char name[4096] = "(output file)";
  if (H5Fget_name(loc, name, sizeof name) < 0) snprintf(name, sizeof name, "(output file)");
  write_failed_at(name, err, 0.0, what);
}

/* Local. A disk quota is invisible to statvfs: reserve `bytes` in a probe file next to the output
 * (fallocate, no data written) and give it back. Returns EDQUOT / ENOSPC when the reservation is
 * refused, 0 otherwise (also where the file system cannot reserve or the probe cannot be made:
 * then the write itself will say what is wrong). */
static int reserve_probe(const char *dir, double bytes) {
  char probe[4200];
  snprintf(probe, sizeof probe, "%s/.oncovq-space-%ld", dir, (long)getpid());
  int fd = open(probe, O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (fd < 0) return 0;
  int err = 0;
  if (fallocate(fd, 0, 0, (off_t)bytes) != 0 && (errno == EDQUOT || errno == ENOSPC)) err = errno;
  close(fd);
  unlink(probe);
  return err;
}

/* Collective (see h5util.h). HDF5 does not fail cleanly when the device fills up under it: a
 * metadata write that fails inside a flush makes the failing rank skip a barrier the other ranks
 * wait in (the job hangs), and H5Ocopy can crash on a failed write. So before writing, rank 0
 * checks that the device has room for the data plus everything in the metadata cache (twice
 * its size: entries share blocks) plus 64 KiB, free on the device (statvfs) and within the
 * user's quota (a reservation probe), and all ranks end the job together if not. Another job
 * filling the device in between can still defeat this. */
void ovq_h5_ensure_space(hid_t loc, double bytes, const char *what, MPI_Comm comm) {
  int rank;
  OVQ_MPI_CHECK(MPI_Comm_rank(comm, &rank));
  int err = 0;
  double need = 0.0;
  char name[4096] = "(output file)";
  if (rank == 0) {
    hid_t f = H5Iget_file_id(loc);
    size_t max_size = 0, min_clean = 0, cur_size = 0;
    int n_entries = 0;
    if (f >= 0) {
      if (H5Fget_name(f, name, sizeof name) < 0) snprintf(name, sizeof name, "(output file)");
      if (H5Fget_mdc_size(f, &max_size, &min_clean, &cur_size, &n_entries) < 0) cur_size = 0;
      H5Idec_ref(f); /* only the reference H5Iget_file_id took */
    }
    char dir[4096];
    dir_of(name, dir, sizeof dir);
    struct statvfs vfs;
    need = bytes + 2.0 * (double)cur_size + 65536.0;
    if (f >= 0 && statvfs(dir, &vfs) == 0 && (double)vfs.f_bavail * (double)vfs.f_frsize < need)
      err = ENOSPC;
    if (f >= 0 && err == 0) err = reserve_probe(dir, need);
  }
  OVQ_MPI_CHECK(MPI_Bcast(&err, 1, MPI_INT, 0, comm));
  if (err == 0) return;
  if (rank == 0) write_failed_at(name, err, need, what);
  /* The others wait to be ended by rank 0's MPI_Abort. */
  OVQ_MPI_CHECK(MPI_Barrier(comm));
  abort();
}

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
  } else {
    open_add(*tmp, path);
  }
  return st;
}

OvqStatus ovq_h5_commit(hid_t file, const char *tmp, const char *path, MPI_Comm comm) {
  int rank;
  OVQ_MPI_CHECK(MPI_Comm_rank(comm, &rank));
  /* The metadata go out first on their own, after a check that they fit (a write that fails
   * inside a flush hangs the job, see ovq_h5_ensure_space), so a failure ends the job here. */
  ovq_h5_ensure_space(file, 0.0, "writing its metadata", comm);
  if (H5Fflush(file, H5F_SCOPE_LOCAL) < 0) write_failed_at(tmp, errno, 0.0, "writing its metadata");
  if (H5Fclose(file) < 0) write_failed_at(tmp, errno, 0.0, "closing it");
  open_forget(tmp);
  /* A rank whose write failed is ending the job and never gets here: the others wait here
   * instead of renaming a partial file into place. */
  OVQ_MPI_CHECK(MPI_Barrier(comm));
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
  hid_t dset = H5Dcreate2(loc, name, type, fspace, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  char what[600];
  snprintf(what, sizeof what, "creating dataset %s", name);
  if (dset < 0) ovq_h5_write_failed(loc, what);
  char full[512];
  snprintf(what, sizeof what, "writing dataset %s",
           H5Iget_name(dset, full, sizeof full) > 0 ? full : name);
  ovq_h5_ensure_space(loc, (double)dims[0] * (double)dims[1] * (double)H5Tget_size(type), what,
                      comm);
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
    if (H5Dwrite(dset, type, mspace, fspace, dxpl, nr > 0 ? (const void *)src : (const void *)&kDummy) < 0)
      ovq_h5_write_failed(dset, what);
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

OvqStatus ovq_h5_read_rows(hid_t dset, hid_t mem_type, void *buf, const int64_t *rows, int64_t n,
                           int64_t ncols, MPI_Comm comm) {
  /* A damaged file or a datatype that does not convert to mem_type makes H5Dread fail: a user
   * error. Every rank still makes the same number of (collective) calls; the status is agreed at
   * the end. */
  hid_t fspace = H5Dget_space(dset);
  int ndims = fspace < 0 ? -1 : H5Sget_simple_extent_ndims(fspace);
  int ok = ndims >= 1;
  hid_t dxpl = collective_dxpl();
  size_t elem = H5Tget_size(mem_type);
  int64_t per = rows_per_call(ncols, elem);
  int64_t calls = agreed_calls((n + per - 1) / per, comm);
  for (int64_t c = 0; c < calls && ndims >= 1; c++) {
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
    void *to = nr > 0 ? (void *)dst : (void *)&kDummyRead;
    if (H5Dread(dset, mem_type, mspace, fspace, dxpl, to) < 0) ok = 0;
    H5Sclose(mspace);
  }
  H5Pclose(dxpl);
  if (fspace >= 0) H5Sclose(fspace);
  OvqStatus st = OVQ_OK;
  if (!ok) {
    char file[1024] = "(HDF5 file)", name[512] = "(dataset)";
    if (H5Fget_name(dset, file, sizeof file) < 0) snprintf(file, sizeof file, "(HDF5 file)");
    if (H5Iget_name(dset, name, sizeof name) <= 0) snprintf(name, sizeof name, "(dataset)");
    st = ovq_error("%s: dataset %s cannot be read (damaged file, or a datatype that does not "
                   "convert to the expected one)", file, name);
  }
  return ovq_status_agree(comm, st);
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

int ovq_h5_get_string_attr(hid_t obj, const char *name, char **out) {
  *out = NULL;
  if (H5Aexists(obj, name) <= 0) return 0;
  hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
  if (a < 0) return -1;
  hid_t t = H5Aget_type(a), sp = H5Aget_space(a);
  /* One value only: H5Aread writes every element of the attribute into *out. */
  int ok = t >= 0 && sp >= 0 && H5Sget_simple_extent_npoints(sp) == 1 &&
           H5Tget_class(t) == H5T_STRING && H5Tis_variable_str(t) == 0 &&
           H5Tget_size(t) < ((size_t)1 << 26);
  if (ok) {
    *out = OVQ_CALLOC(H5Tget_size(t) + 1, 1);
    if (H5Aread(a, t, *out) < 0) {
      free(*out);
      *out = NULL;
      ok = 0;
    }
  }
  if (sp >= 0) H5Sclose(sp);
  if (t >= 0) H5Tclose(t);
  H5Aclose(a);
  return ok ? 1 : -1;
}

int ovq_h5_shape_ok(hid_t dset) {
  hid_t sp = H5Dget_space(dset), t = H5Dget_type(dset), dcpl = H5Dget_create_plist(dset);
  int nd = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
  hsize_t dims[H5S_MAX_RANK];
  int ok = t >= 0 && dcpl >= 0 && nd >= 0 && nd <= H5S_MAX_RANK &&
           H5Sget_simple_extent_dims(sp, dims, NULL) >= 0;
  hsize_t bytes = ok ? H5Tget_size(t) : 0;
  for (int k = 0; ok && k < nd; k++) {
    if (dims[k] && bytes > ((hsize_t)1 << 62) / dims[k]) ok = 0;
    bytes *= dims[k];
  }
  if (ok && H5Sget_simple_extent_type(sp) == H5S_NULL) bytes = 0;
  H5D_layout_t layout = ok ? H5Pget_layout(dcpl) : H5D_LAYOUT_ERROR;
  if (ok && (layout == H5D_CONTIGUOUS || layout == H5D_COMPACT))
    ok = H5Dget_storage_size(dset) == bytes;
  if (dcpl >= 0) H5Pclose(dcpl);
  if (t >= 0) H5Tclose(t);
  if (sp >= 0) H5Sclose(sp);
  return ok;
}
