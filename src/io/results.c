/* Results files (see include/ovq/results.h). */
#include "ovq/results.h"

#include "ovq/partition.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "h5util.h"
#include "ovq/version.h"

OvqStatus ovq_results_create(OvqResults *r, const char *path, const char *config_text,
                             MPI_Comm comm) {
  memset(r, 0, sizeof *r);
  r->comm = comm;
  if (ovq_h5_create_tmp(path, comm, &r->file, &r->tmp) != OVQ_OK) return OVQ_ERR;
  r->path = OVQ_STRDUP(path);
  ovq_h5_write_string_attr(r->file, "format", OVQ_RESULTS_FORMAT);
  ovq_h5_write_int_attr(r->file, "format_version", OVQ_RESULTS_FORMAT_VERSION);
  ovq_h5_write_string_attr(r->file, "oncovq_version", OVQ_VERSION " (" OVQ_GIT_DESCRIBE ")");
  ovq_h5_write_string_attr(r->file, "config", config_text ? config_text : "");
  return OVQ_OK;
}

/* Creates the groups on the way to `name` ("/a/b/c" makes /a and /a/b). */
static void make_parents(hid_t file, const char *name) {
  char buf[512];
  snprintf(buf, sizeof buf, "%s", name);
  for (char *p = strchr(buf + 1, '/'); p; p = strchr(p + 1, '/')) {
    *p = '\0';
    if (H5Lexists(file, buf, H5P_DEFAULT) <= 0) {
      hid_t g = OVQ_H5_CHECK(H5Gcreate2(file, buf, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
      H5Gclose(g);
    }
    *p = '/';
  }
}

void ovq_results_write_rows(OvqResults *r, const char *name, hid_t type, const void *x,
                            int64_t n_total, int64_t n_cols, int64_t row_start, int64_t n_local) {
  make_parents(r->file, name);
  ovq_h5_write_rows(r->file, name, type, x, n_total, n_cols, row_start, n_local, r->comm);
}

void ovq_results_write_latents(OvqResults *r, const char *type, const float *latent,
                               const float *zq, const int32_t *codes, int64_t n_total, int64_t D,
                               int64_t G, int64_t row_start, int64_t n_local) {
  char name[128];
  snprintf(name, sizeof name, "/models/%s/latent", type);
  ovq_results_write_rows(r, name, H5T_NATIVE_FLOAT, latent, n_total, D, row_start, n_local);
  if (!zq || !codes) return;
  snprintf(name, sizeof name, "/models/%s/z_q", type);
  ovq_results_write_rows(r, name, H5T_NATIVE_FLOAT, zq, n_total, D, row_start, n_local);
  snprintf(name, sizeof name, "/models/%s/codes", type);
  ovq_results_write_rows(r, name, H5T_NATIVE_INT32, codes, n_total, G, row_start, n_local);
}

void ovq_results_write_array(OvqResults *r, const char *name, hid_t type, const void *x, int64_t n,
                             int64_t n_cols) {
  int rank;
  OVQ_MPI_CHECK(MPI_Comm_rank(r->comm, &rank));
  make_parents(r->file, name);
  ovq_h5_write_rows(r->file, name, type, x, n, n_cols, 0, rank == 0 ? n : 0, r->comm);
}

void ovq_results_write_strings(OvqResults *r, const char *name, const OvqStrings *s) {
  hid_t t = ovq_h5_str_type(s->width);
  ovq_results_write_array(r, name, t, s->data, s->n, 0);
  H5Tclose(t);
}

/* Strings of a distributed column, at the width that fits every rank's longest. */
static void write_local_strings(OvqResults *r, const char *name, const OvqStrings *s,
                                int64_t n_total, int64_t row_start) {
  int w = s->width, wmax = w;
  OVQ_MPI_CHECK(MPI_Allreduce(&w, &wmax, 1, MPI_INT, MPI_MAX, r->comm));
  char *buf = OVQ_CALLOC((size_t)(s->n > 0 ? s->n : 1), (size_t)wmax);
  for (int64_t i = 0; i < s->n; i++) strcpy(buf + i * wmax, ovq_strings_at(s, i));
  hid_t t = ovq_h5_str_type(wmax);
  ovq_results_write_rows(r, name, t, buf, n_total, 0, row_start, s->n);
  H5Tclose(t);
  free(buf);
}

void ovq_results_write_samples(OvqResults *r, const OvqCohort *c) {
  const int64_t N = c->n_total, r0 = c->row_start, n = c->n_local;
  write_local_strings(r, "/samples/id", &c->sample_id, N, r0);
  write_local_strings(r, "/samples/cancer", &c->cancer, N, r0);
  write_local_strings(r, "/samples/label", &c->label, N, r0);
  ovq_results_write_rows(r, "/samples/os_time", H5T_NATIVE_DOUBLE, c->os_time, N, 0, r0, n);
  ovq_results_write_rows(r, "/samples/os_event", H5T_NATIVE_INT8, c->os_event, N, 0, r0, n);
  int has = c->true_subtype.data != NULL, any = 0;
  OVQ_MPI_CHECK(MPI_Allreduce(&has, &any, 1, MPI_INT, MPI_MAX, r->comm));
  if (any) write_local_strings(r, "/samples/true_subtype", &c->true_subtype, N, r0);
}

void ovq_results_write_attr_double(OvqResults *r, const char *obj, const char *name, double v) {
  hid_t o = OVQ_H5_CHECK(H5Oopen(r->file, obj, H5P_DEFAULT));
  hid_t sp = OVQ_H5_CHECK(H5Screate(H5S_SCALAR));
  hid_t a = OVQ_H5_CHECK(H5Acreate2(o, name, H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT));
  OVQ_H5_CHECK(H5Awrite(a, H5T_NATIVE_DOUBLE, &v));
  H5Aclose(a);
  H5Sclose(sp);
  H5Oclose(o);
}

OvqStatus ovq_results_commit(OvqResults *r) {
  OvqStatus st = ovq_h5_commit(r->file, r->tmp, r->path, r->comm);
  free(r->tmp);
  free(r->path);
  memset(r, 0, sizeof *r);
  return st;
}

OvqStatus ovq_results_copy(OvqResults *r, const char *src_path, const char *src_obj,
                           const char *dst_obj) {
  OvqStatus st = OVQ_OK;
  hid_t src = -1;
  H5E_BEGIN_TRY {
    src = H5Fopen(src_path, H5F_ACC_RDONLY, H5P_DEFAULT);
  } H5E_END_TRY;
  if (src < 0)
    st = ovq_error("%s: cannot open it to copy %s into %s", src_path, src_obj, r->path);
  else if (H5Lexists(src, src_obj, H5P_DEFAULT) <= 0)
    st = ovq_error("%s: has no %s to copy into %s", src_path, src_obj, r->path);
  st = ovq_status_agree(r->comm, st);
  if (st == OVQ_OK) {
    make_parents(r->file, dst_obj);
    /* Copies data too: HDF5 can crash when a write of H5Ocopy fails, so first make sure the
     * device has room (the whole source file's size, an upper bound). */
    char what[1200];
    snprintf(what, sizeof what, "copying %s of %s into it", src_obj, src_path);
    struct stat sb;
    ovq_h5_ensure_space(r->file, stat(src_path, &sb) == 0 ? (double)sb.st_size : 0.0, what, r->comm);
    if (H5Ocopy(src, src_obj, r->file, dst_obj, H5P_DEFAULT, H5P_DEFAULT) < 0)
      ovq_h5_write_failed(r->file, what);
  }
  if (src >= 0) H5Fclose(src);
  return st;
}

void ovq_results_abort(OvqResults *r) {
  int rank;
  OVQ_MPI_CHECK(MPI_Comm_rank(r->comm, &rank));
  if (r->file >= 0) H5Fclose(r->file);
  OVQ_MPI_CHECK(MPI_Barrier(r->comm));
  if (rank == 0 && r->tmp) remove(r->tmp);
  free(r->tmp);
  free(r->path);
  memset(r, 0, sizeof *r);
}

/* ---- reading ------------------------------------------------------------------------------ */

OvqStatus ovq_results_open(OvqResults *r, const char *path, MPI_Comm comm) {
  memset(r, 0, sizeof *r);
  r->comm = comm;
  if (ovq_h5_open_read(path, comm, &r->file) != OVQ_OK) return OVQ_ERR;
  r->path = OVQ_STRDUP(path);
  char *fmt = NULL;
  if (ovq_results_read_attr(r, "format", &fmt) != OVQ_OK || strcmp(fmt, OVQ_RESULTS_FORMAT) != 0) {
    free(fmt);
    ovq_error("%s: not an OncoVQ results file (make one with 'oncovq train')", path);
    ovq_results_close(r);
    return OVQ_ERR;
  }
  free(fmt);
  return OVQ_OK;
}

OvqStatus ovq_results_read_attr(OvqResults *r, const char *name, char **value) {
  int got = ovq_h5_get_string_attr(r->file, name, value);
  if (got == 0) return ovq_error("%s: attribute '%s' is missing", r->path, name);
  if (got < 0)
    return ovq_error("%s: attribute '%s' is not a fixed-length string (or is damaged)", r->path,
                     name);
  return OVQ_OK;
}

static OvqStatus open_whole(OvqResults *r, const char *name, hid_t *d, int64_t *rows,
                            int64_t *cols) {
  if (H5Lexists(r->file, name, H5P_DEFAULT) <= 0) {
    /* Intermediate groups may be missing too; H5Lexists fails on those, which also means no. */
    return ovq_error("%s: dataset %s is missing", r->path, name);
  }
  /* A group, a dangling link or a damaged object at that name: a user's bad file. */
  *d = H5Dopen2(r->file, name, H5P_DEFAULT);
  if (*d < 0) return ovq_error("%s: %s is not a readable dataset", r->path, name);
  hid_t sp = H5Dget_space(*d);
  hsize_t dims[2] = {0, 1};
  int nd = sp < 0 ? -1 : H5Sget_simple_extent_ndims(sp);
  if (nd >= 1 && nd <= 2) H5Sget_simple_extent_dims(sp, dims, NULL);
  if (sp >= 0) H5Sclose(sp);
  if (nd < 1 || nd > 2) {
    H5Dclose(*d);
    return ovq_error("%s: dataset %s has %d dimensions", r->path, name, nd);
  }
  if (!ovq_h5_shape_ok(*d)) { /* before anything is allocated for its shape */
    H5Dclose(*d);
    return ovq_error("%s: dataset %s is damaged (its shape does not match the data stored)",
                     r->path, name);
  }
  *rows = (int64_t)dims[0];
  *cols = nd == 2 ? (int64_t)dims[1] : 1;
  return OVQ_OK;
}

OvqStatus ovq_results_read_array(OvqResults *r, const char *name, hid_t mem_type, void **data,
                                 int64_t *n) {
  hid_t d;
  int64_t rows, cols;
  if (open_whole(r, name, &d, &rows, &cols) != OVQ_OK) return OVQ_ERR;
  int64_t *idx = OVQ_MALLOC(sizeof(int64_t) * (size_t)(rows > 0 ? rows : 1));
  for (int64_t i = 0; i < rows; i++) idx[i] = i;
  *data = OVQ_MALLOC(H5Tget_size(mem_type) * (size_t)(rows * cols > 0 ? rows * cols : 1));
  OvqStatus st = ovq_h5_read_rows(d, mem_type, *data, idx, rows, cols, r->comm);
  free(idx);
  H5Dclose(d);
  *n = rows * cols;
  if (st != OVQ_OK) {
    free(*data);
    *data = NULL;
    *n = 0;
  }
  return st;
}

OvqStatus ovq_results_read_block(OvqResults *r, const char *name, hid_t mem_type, void **data,
                                 int64_t *n_total, int64_t *n_cols, int64_t *row_start,
                                 int64_t *n_local) {
  hid_t d;
  int64_t rows, cols;
  if (open_whole(r, name, &d, &rows, &cols) != OVQ_OK) return OVQ_ERR;
  int rank, size;
  MPI_Comm_rank(r->comm, &rank);
  MPI_Comm_size(r->comm, &size);
  OvqRange b = ovq_partition_block(rows, size, rank);
  int64_t *idx = OVQ_MALLOC(sizeof(int64_t) * (size_t)(b.count > 0 ? b.count : 1));
  for (int64_t i = 0; i < b.count; i++) idx[i] = b.start + i;
  *data = OVQ_MALLOC(H5Tget_size(mem_type) * (size_t)(b.count * cols > 0 ? b.count * cols : 1));
  OvqStatus st = ovq_h5_read_rows(d, mem_type, *data, idx, b.count, cols, r->comm);
  free(idx);
  H5Dclose(d);
  *n_total = rows;
  *n_cols = cols;
  *row_start = b.start;
  *n_local = b.count;
  if (st != OVQ_OK) {
    free(*data);
    *data = NULL;
  }
  return st;
}

OvqStatus ovq_results_read_strings(OvqResults *r, const char *name, OvqStrings *s) {
  hid_t d;
  int64_t rows, cols;
  if (open_whole(r, name, &d, &rows, &cols) != OVQ_OK) return OVQ_ERR;
  hid_t ft = OVQ_H5_CHECK(H5Dget_type(d));
  int w = (int)H5Tget_size(ft) + 1;
  int is_str = H5Tget_class(ft) == H5T_STRING && H5Tis_variable_str(ft) <= 0;
  H5Tclose(ft);
  if (!is_str) {
    H5Dclose(d);
    return ovq_error("%s: dataset %s is not fixed-length strings", r->path, name);
  }
  ovq_strings_alloc(s, rows, w);
  int64_t *idx = OVQ_MALLOC(sizeof(int64_t) * (size_t)(rows > 0 ? rows : 1));
  for (int64_t i = 0; i < rows; i++) idx[i] = i;
  hid_t mt = ovq_h5_str_type(w);
  OvqStatus st = ovq_h5_read_rows(d, mt, s->data, idx, rows, 1, r->comm);
  H5Tclose(mt);
  free(idx);
  H5Dclose(d);
  if (st != OVQ_OK) ovq_strings_free(s);
  return st;
}

void ovq_results_close(OvqResults *r) {
  if (r->file > 0) H5Fclose(r->file);
  free(r->path);
  memset(r, 0, sizeof *r);
}
