/* Results files (see include/ovq/results.h). */
#include "ovq/results.h"

#include <stdlib.h>
#include <string.h>

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

void ovq_results_discard(OvqResults *r) {
  ovq_h5_discard(r->file, r->tmp, r->comm);
  free(r->tmp);
  free(r->path);
  memset(r, 0, sizeof *r);
}
