/* The cohort in memory and its HDF5 file (schema in include/ovq/cohort.h). */
#include "ovq/cohort.h"

#include <hdf5.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "h5util.h"
#include "ovq/partition.h"
#include "ovq/version.h"

void ovq_strings_alloc(OvqStrings *s, int64_t n, int width) {
  if (width < 2) width = 2;
  s->n = n;
  s->width = width;
  s->data = OVQ_CALLOC((size_t)(n > 0 ? n : 1), (size_t)width);
}

void ovq_strings_set(OvqStrings *s, int64_t i, const char *str) {
  size_t len = strlen(str);
  if (i < 0 || i >= s->n || len >= (size_t)s->width)
    OVQ_ABORT("string '%s' does not fit slot %lld of %lld (width %d)", str, (long long)i,
              (long long)s->n, s->width);
  memcpy(s->data + i * (int64_t)s->width, str, len + 1);
}

void ovq_strings_free(OvqStrings *s) {
  free(s->data);
  s->data = NULL;
  s->n = 0;
  s->width = 0;
}

void ovq_cohort_alloc(OvqCohort *c, int64_t n_total, int64_t row_start, int64_t n_local,
                      int64_t n_mrna, int64_t n_mirna, int feature_id_width, int sample_str_width,
                      int with_truth) {
  memset(c, 0, sizeof *c);
  c->n_total = n_total;
  c->row_start = row_start;
  c->n_local = n_local;
  c->n_mrna = n_mrna;
  c->n_mirna = n_mirna;
  c->mrna = OVQ_CALLOC((size_t)(n_local * n_mrna), sizeof(float));
  c->mirna = n_mirna > 0 ? OVQ_CALLOC((size_t)(n_local * n_mirna), sizeof(float)) : NULL;
  ovq_strings_alloc(&c->mrna_ids, n_mrna, feature_id_width);
  ovq_strings_alloc(&c->mirna_ids, n_mirna, feature_id_width);
  ovq_strings_alloc(&c->sample_id, n_local, sample_str_width);
  ovq_strings_alloc(&c->cancer, n_local, sample_str_width);
  ovq_strings_alloc(&c->label, n_local, sample_str_width);
  c->os_time = OVQ_CALLOC((size_t)n_local, sizeof(double));
  c->os_event = OVQ_CALLOC((size_t)n_local, sizeof(int8_t));
  if (with_truth) {
    ovq_strings_alloc(&c->true_subtype, n_local, sample_str_width);
    c->batch = OVQ_CALLOC((size_t)n_local, sizeof(int8_t));
    c->mrna_module = OVQ_CALLOC((size_t)n_mrna, sizeof(int32_t));
    c->mirna_target = OVQ_CALLOC((size_t)n_mirna, sizeof(int32_t));
  }
}

void ovq_cohort_destroy(OvqCohort *c) {
  if (!c) return;
  free(c->mrna);
  free(c->mirna);
  ovq_strings_free(&c->mrna_ids);
  ovq_strings_free(&c->mirna_ids);
  ovq_strings_free(&c->sample_id);
  ovq_strings_free(&c->cancer);
  ovq_strings_free(&c->label);
  ovq_strings_free(&c->true_subtype);
  free(c->os_time);
  free(c->os_event);
  free(c->batch);
  free(c->mrna_module);
  free(c->mirna_target);
  memset(c, 0, sizeof *c);
}

/* ---- writing ------------------------------------------------------------------------------ */

/* Width that fits the longest string of s on any rank (the file's fixed string length). */
static int agreed_width(const OvqStrings *s, MPI_Comm comm) {
  int w = 2;
  for (int64_t i = 0; i < s->n; i++) {
    int len = (int)strlen(ovq_strings_at(s, i)) + 1;
    if (len > w) w = len;
  }
  int m = w;
  OVQ_MPI_CHECK(MPI_Allreduce(&w, &m, 1, MPI_INT, MPI_MAX, comm));
  return m;
}

/* Writes local strings as rows [row_start, row_start + s->n) of a fixed-length string dataset. */
static void write_strings(hid_t loc, const char *name, const OvqStrings *s, int64_t nrows,
                          int64_t row_start, int replicated, MPI_Comm comm) {
  int w = agreed_width(s, comm);
  char *buf = OVQ_CALLOC((size_t)(s->n > 0 ? s->n : 1), (size_t)w);
  for (int64_t i = 0; i < s->n; i++) strcpy(buf + i * w, ovq_strings_at(s, i));
  hid_t t = ovq_h5_str_type(w);
  if (replicated)
    ovq_h5_write_replicated(loc, name, t, buf, nrows, comm);
  else
    ovq_h5_write_rows(loc, name, t, buf, nrows, 0, row_start, s->n, comm);
  H5Tclose(t);
  free(buf);
}

OvqStatus ovq_cohort_write(const OvqCohort *c, const char *path, const char *source,
                           const char *config_text, MPI_Comm comm) {
  int rank, size;
  OVQ_MPI_CHECK(MPI_Comm_rank(comm, &rank));
  OVQ_MPI_CHECK(MPI_Comm_size(comm, &size));
  OvqRange mine = ovq_partition_block(c->n_total, size, rank);
  if (mine.start != c->row_start || mine.count != c->n_local)
    OVQ_ABORT("cohort block [%lld, +%lld) is not this rank's partition block [%lld, +%lld)",
              (long long)c->row_start, (long long)c->n_local, (long long)mine.start,
              (long long)mine.count);
  hid_t file;
  char *tmp;
  if (ovq_h5_create_tmp(path, comm, &file, &tmp) != OVQ_OK) return OVQ_ERR;

  ovq_h5_write_string_attr(file, "format", OVQ_COHORT_FORMAT);
  ovq_h5_write_int_attr(file, "format_version", OVQ_COHORT_FORMAT_VERSION);
  ovq_h5_write_string_attr(file, "oncovq_version", OVQ_VERSION " (" OVQ_GIT_DESCRIBE ")");
  ovq_h5_write_string_attr(file, "source", source);
  ovq_h5_write_string_attr(file, "config", config_text ? config_text : "");

  hid_t gexpr = OVQ_H5_CHECK(H5Gcreate2(file, "expression", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  hid_t gfeat = OVQ_H5_CHECK(H5Gcreate2(file, "features", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  hid_t gsamp = OVQ_H5_CHECK(H5Gcreate2(file, "samples", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  const int64_t N = c->n_total, r0 = c->row_start, n = c->n_local;

  ovq_h5_write_rows(gexpr, "mrna", H5T_NATIVE_FLOAT, c->mrna, N, c->n_mrna, r0, n, comm);
  write_strings(gfeat, "mrna", &c->mrna_ids, c->n_mrna, 0, 1, comm);
  if (c->n_mirna > 0) {
    ovq_h5_write_rows(gexpr, "mirna", H5T_NATIVE_FLOAT, c->mirna, N, c->n_mirna, r0, n, comm);
    write_strings(gfeat, "mirna", &c->mirna_ids, c->n_mirna, 0, 1, comm);
  }
  write_strings(gsamp, "id", &c->sample_id, N, r0, 0, comm);
  write_strings(gsamp, "cancer", &c->cancer, N, r0, 0, comm);
  write_strings(gsamp, "label", &c->label, N, r0, 0, comm);
  ovq_h5_write_rows(gsamp, "os_time", H5T_NATIVE_DOUBLE, c->os_time, N, 0, r0, n, comm);
  ovq_h5_write_rows(gsamp, "os_event", H5T_NATIVE_INT8, c->os_event, N, 0, r0, n, comm);
  if (c->true_subtype.data && c->batch) {
    write_strings(gsamp, "true_subtype", &c->true_subtype, N, r0, 0, comm);
    ovq_h5_write_rows(gsamp, "batch", H5T_NATIVE_INT8, c->batch, N, 0, r0, n, comm);
    hid_t gt = OVQ_H5_CHECK(H5Gcreate2(file, "truth", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    ovq_h5_write_replicated(gt, "mrna_module", H5T_NATIVE_INT32, c->mrna_module, c->n_mrna, comm);
    if (c->n_mirna > 0)
      ovq_h5_write_replicated(gt, "mirna_target", H5T_NATIVE_INT32, c->mirna_target, c->n_mirna,
                              comm);
    H5Gclose(gt);
  }
  H5Gclose(gexpr);
  H5Gclose(gfeat);
  H5Gclose(gsamp);
  OvqStatus st = ovq_h5_commit(file, tmp, path, comm);
  free(tmp);
  return st;
}

/* ---- reading ------------------------------------------------------------------------------ */

typedef struct Reader {
  const char *path;
  hid_t file;
  int64_t N;
} Reader;

static int exists(hid_t file, const char *name) {
  /* H5Lexists needs each parent group to exist, so test the path one component at a time. */
  char buf[256];
  snprintf(buf, sizeof buf, "%s", name);
  for (char *p = strchr(buf + 1, '/');; p = strchr(p + 1, '/')) {
    if (p) *p = '\0';
    if (H5Lexists(file, buf, H5P_DEFAULT) <= 0) return 0;
    if (!p) return 1;
    *p = '/';
  }
}

/* Opens dataset `name`, checking it exists, has the expected rank and class, and that its first
 * dimension is n0 (if n0 >= 0) and its second n1 (if n1 >= 0). */
static OvqStatus open_dataset(const Reader *r, const char *name, int rank, H5T_class_t cls,
                              int64_t n0, int64_t n1, hid_t *dset, hsize_t dims[2]) {
  if (!exists(r->file, name))
    return ovq_error("%s: not a valid cohort file: dataset %s is missing", r->path, name);
  /* The name may be a group, a dangling link or a damaged object: a user's bad file. */
  *dset = H5Dopen2(r->file, name, H5P_DEFAULT);
  if (*dset < 0)
    return ovq_error("%s: not a valid cohort file: %s is not a readable dataset", r->path, name);
  hid_t sp = H5Dget_space(*dset), t = H5Dget_type(*dset);
  if (sp < 0 || t < 0) {
    if (sp >= 0) H5Sclose(sp);
    if (t >= 0) H5Tclose(t);
    H5Dclose(*dset);
    return ovq_error("%s: dataset %s is damaged", r->path, name);
  }
  int nd = H5Sget_simple_extent_ndims(sp);
  dims[0] = dims[1] = 0;
  if (nd == rank) H5Sget_simple_extent_dims(sp, dims, NULL);
  H5T_class_t got = H5Tget_class(t);
  int vlen = got == H5T_STRING && H5Tis_variable_str(t) > 0;
  H5Sclose(sp);
  H5Tclose(t);
  OvqStatus st = OVQ_OK;
  if (nd != rank)
    st = ovq_error("%s: dataset %s has %d dimensions, expected %d", r->path, name, nd, rank);
  else if (got != cls || vlen)
    st = ovq_error("%s: dataset %s has the wrong type (expected %s)", r->path, name,
                   cls == H5T_STRING ? "fixed-length strings"
                   : cls == H5T_FLOAT ? "floating point" : "integers");
  else if (n0 >= 0 && (int64_t)dims[0] != n0)
    st = ovq_error("%s: dataset %s has %llu rows, expected %lld (one per %s)", r->path, name,
                   (unsigned long long)dims[0], (long long)n0,
                   strncmp(name, "/samples", 8) == 0 || strncmp(name, "/expression", 11) == 0
                       ? "sample" : "feature");
  else if (rank == 2 && n1 >= 0 && (int64_t)dims[1] != n1)
    st = ovq_error("%s: dataset %s has %llu columns, expected %lld", r->path, name,
                   (unsigned long long)dims[1], (long long)n1);
  else if (!ovq_h5_shape_ok(*dset)) /* before anything is allocated for its shape */
    st = ovq_error("%s: dataset %s is damaged (its shape does not match the data stored)",
                   r->path, name);
  if (st != OVQ_OK) H5Dclose(*dset);
  return st;
}

/* Reads rows `rows` (n of them) of a string dataset into s. */
static OvqStatus read_strings(const Reader *r, const char *name, int64_t n0, const int64_t *rows,
                              int64_t n, OvqStrings *s, MPI_Comm comm) {
  hid_t d;
  hsize_t dims[2];
  if (open_dataset(r, name, 1, H5T_STRING, n0, -1, &d, dims) != OVQ_OK) return OVQ_ERR;
  hid_t ft = OVQ_H5_CHECK(H5Dget_type(d));
  int w = (int)H5Tget_size(ft) + 1; /* + 1: a NUL even for NULLPAD strings of full width */
  H5Tclose(ft);
  ovq_strings_alloc(s, n, w);
  hid_t mt = ovq_h5_str_type(w);
  OvqStatus st = ovq_h5_read_rows(d, mt, s->data, rows, n, 1, comm);
  H5Tclose(mt);
  H5Dclose(d);
  if (st != OVQ_OK) ovq_strings_free(s);
  return st;
}

static OvqStatus read_numbers(const Reader *r, const char *name, H5T_class_t cls, hid_t mem_type,
                              int64_t n0, int64_t ncols, const int64_t *rows, int64_t n, void *buf,
                              MPI_Comm comm) {
  hid_t d;
  hsize_t dims[2];
  if (open_dataset(r, name, ncols > 0 ? 2 : 1, cls, n0, ncols > 0 ? ncols : -1, &d, dims) != OVQ_OK)
    return OVQ_ERR;
  OvqStatus st = ovq_h5_read_rows(d, mem_type, buf, rows, n, ncols > 0 ? ncols : 1, comm);
  H5Dclose(d);
  return st;
}

static OvqStatus check_format(const Reader *r) {
  char *fmt = NULL;
  int got = ovq_h5_get_string_attr(r->file, "format", &fmt);
  if (got == 0)
    return ovq_error("%s: not an OncoVQ cohort file (no 'format' attribute; make one with "
                     "'oncovq import' or 'oncovq synth')", r->path);
  OvqStatus st = OVQ_OK;
  if (got < 0)
    st = ovq_error("%s: not an OncoVQ cohort file (bad 'format' attribute)", r->path);
  else if (strcmp(fmt, OVQ_COHORT_FORMAT) != 0)
    st = ovq_error("%s: not a cohort file (format is '%s')", r->path, fmt);
  free(fmt);
  if (st != OVQ_OK) return st;
  int version = 0;
  if (H5Aexists(r->file, "format_version") > 0) {
    /* One integer (H5Aread would write every element of an array into `version`). */
    hid_t a = H5Aopen(r->file, "format_version", H5P_DEFAULT);
    hid_t t = a >= 0 ? H5Aget_type(a) : -1, sp = a >= 0 ? H5Aget_space(a) : -1;
    int ok = t >= 0 && sp >= 0 && H5Sget_simple_extent_npoints(sp) == 1 &&
             H5Tget_class(t) == H5T_INTEGER && H5Aread(a, H5T_NATIVE_INT, &version) >= 0;
    if (sp >= 0) H5Sclose(sp);
    if (t >= 0) H5Tclose(t);
    if (a >= 0) H5Aclose(a);
    if (!ok)
      return ovq_error("%s: not an OncoVQ cohort file (bad 'format_version' attribute)", r->path);
  }
  if (version < 1 || version > OVQ_COHORT_FORMAT_VERSION)
    return ovq_error("%s: cohort format version %d is not supported (this oncovq reads up to %d)",
                     r->path, version, OVQ_COHORT_FORMAT_VERSION);
  return OVQ_OK;
}

/* Global file rows of the selected samples (all of them, or those of one cancer type). */
static OvqStatus select_rows(const Reader *r, const char *cancer, MPI_Comm comm, int64_t **rows,
                             int64_t *n) {
  int64_t *all = OVQ_MALLOC((size_t)(r->N > 0 ? r->N : 1) * sizeof(int64_t));
  for (int64_t i = 0; i < r->N; i++) all[i] = i;
  if (!cancer || !cancer[0]) {
    *rows = all;
    *n = r->N;
    return OVQ_OK;
  }
  /* Every rank reads the whole cancer column: N short strings, far smaller than one row block
   * of expression. */
  OvqStrings types;
  if (read_strings(r, "/samples/cancer", r->N, all, r->N, &types, comm) != OVQ_OK) {
    free(all);
    return OVQ_ERR;
  }
  int64_t k = 0;
  for (int64_t i = 0; i < r->N; i++)
    if (strcmp(ovq_strings_at(&types, i), cancer) == 0) all[k++] = i;
  ovq_strings_free(&types);
  if (k == 0) {
    free(all);
    return ovq_error("%s: no sample of cancer type '%s' (see 'oncovq info %s')", r->path, cancer,
                     r->path);
  }
  *rows = all;
  *n = k;
  return OVQ_OK;
}

static OvqStatus read_all(Reader *r, const char *cancer, MPI_Comm comm, OvqCohort *c) {
  if (check_format(r) != OVQ_OK) return OVQ_ERR;
  hid_t d;
  hsize_t dims[2];
  if (open_dataset(r, "/expression/mrna", 2, H5T_FLOAT, -1, -1, &d, dims) != OVQ_OK)
    return OVQ_ERR;
  H5Dclose(d);
  r->N = (int64_t)dims[0];
  int64_t G = (int64_t)dims[1], M = 0;
  if (exists(r->file, "/expression/mirna")) {
    if (open_dataset(r, "/expression/mirna", 2, H5T_FLOAT, r->N, -1, &d, dims) != OVQ_OK)
      return OVQ_ERR;
    H5Dclose(d);
    M = (int64_t)dims[1];
  }
  if (r->N == 0 || G == 0)
    return ovq_error("%s: the cohort is empty (%lld samples x %lld genes)", r->path,
                     (long long)r->N, (long long)G);

  int64_t *sel = NULL, n_sel = 0;
  if (select_rows(r, cancer, comm, &sel, &n_sel) != OVQ_OK) return OVQ_ERR;
  int rank, size;
  OVQ_MPI_CHECK(MPI_Comm_rank(comm, &rank));
  OVQ_MPI_CHECK(MPI_Comm_size(comm, &size));
  OvqRange b = ovq_partition_block(n_sel, size, rank);
  const int64_t *rows = sel + b.start;
  int64_t n = b.count;

  int with_truth = exists(r->file, "/samples/true_subtype") && exists(r->file, "/samples/batch");
  memset(c, 0, sizeof *c);
  c->n_total = n_sel;
  c->row_start = b.start;
  c->n_local = n;
  c->n_mrna = G;
  c->n_mirna = M;
  c->mrna = OVQ_MALLOC((size_t)(n * G > 0 ? n * G : 1) * sizeof(float));
  c->os_time = OVQ_MALLOC((size_t)(n > 0 ? n : 1) * sizeof(double));
  c->os_event = OVQ_MALLOC((size_t)(n > 0 ? n : 1));
  int64_t *feat = OVQ_MALLOC((size_t)(G > M ? G : M) * sizeof(int64_t));
  for (int64_t j = 0; j < (G > M ? G : M); j++) feat[j] = j;

  OvqStatus st = read_numbers(r, "/expression/mrna", H5T_FLOAT, H5T_NATIVE_FLOAT, r->N, G, rows,
                              n, c->mrna, comm);
  if (st == OVQ_OK) st = read_strings(r, "/features/mrna", G, feat, G, &c->mrna_ids, comm);
  if (st == OVQ_OK && M > 0) {
    c->mirna = OVQ_MALLOC((size_t)(n * M > 0 ? n * M : 1) * sizeof(float));
    st = read_numbers(r, "/expression/mirna", H5T_FLOAT, H5T_NATIVE_FLOAT, r->N, M, rows, n,
                      c->mirna, comm);
    if (st == OVQ_OK) st = read_strings(r, "/features/mirna", M, feat, M, &c->mirna_ids, comm);
  }
  if (st == OVQ_OK) st = read_strings(r, "/samples/id", r->N, rows, n, &c->sample_id, comm);
  if (st == OVQ_OK) st = read_strings(r, "/samples/cancer", r->N, rows, n, &c->cancer, comm);
  if (st == OVQ_OK) st = read_strings(r, "/samples/label", r->N, rows, n, &c->label, comm);
  if (st == OVQ_OK)
    st = read_numbers(r, "/samples/os_time", H5T_FLOAT, H5T_NATIVE_DOUBLE, r->N, 0, rows, n,
                      c->os_time, comm);
  if (st == OVQ_OK)
    st = read_numbers(r, "/samples/os_event", H5T_INTEGER, H5T_NATIVE_INT8, r->N, 0, rows, n,
                      c->os_event, comm);
  if (st == OVQ_OK && with_truth) {
    c->batch = OVQ_MALLOC((size_t)(n > 0 ? n : 1));
    st = read_strings(r, "/samples/true_subtype", r->N, rows, n, &c->true_subtype, comm);
    if (st == OVQ_OK)
      st = read_numbers(r, "/samples/batch", H5T_INTEGER, H5T_NATIVE_INT8, r->N, 0, rows, n,
                        c->batch, comm);
    if (st == OVQ_OK && exists(r->file, "/truth/mrna_module")) {
      c->mrna_module = OVQ_MALLOC((size_t)G * sizeof(int32_t));
      st = read_numbers(r, "/truth/mrna_module", H5T_INTEGER, H5T_NATIVE_INT32, G, 0, feat, G,
                        c->mrna_module, comm);
    }
    if (st == OVQ_OK && M > 0 && exists(r->file, "/truth/mirna_target")) {
      c->mirna_target = OVQ_MALLOC((size_t)M * sizeof(int32_t));
      st = read_numbers(r, "/truth/mirna_target", H5T_INTEGER, H5T_NATIVE_INT32, M, 0, feat, M,
                        c->mirna_target, comm);
    }
  }
  for (int64_t i = 0; st == OVQ_OK && i < n; i++) {
    int8_t e = c->os_event[i];
    if (e != 0 && e != 1 && e != -1)
      st = ovq_error("%s: /samples/os_event of sample %s is %d (expected 1, 0 or -1)", r->path,
                     ovq_strings_at(&c->sample_id, i), e);
  }
  free(feat);
  free(sel);
  return st;
}

OvqStatus ovq_cohort_read(const char *path, const char *cancer, MPI_Comm comm, OvqCohort *out) {
  memset(out, 0, sizeof *out);
  Reader r = {path, -1, 0};
  if (ovq_h5_open_read(path, comm, &r.file) != OVQ_OK) return OVQ_ERR;
  /* Schema problems are the same on every rank (they read the same metadata); the sample check
   * at the end is not, so the status is agreed once, after the file is closed. */
  OvqStatus st = read_all(&r, cancer, comm, out);
  H5Fclose(r.file);
  st = ovq_status_agree(comm, st);
  if (st != OVQ_OK) ovq_cohort_destroy(out);
  return st;
}

OvqStatus ovq_cohort_read_cancers(const char *path, MPI_Comm comm, OvqStrings *cancer) {
  memset(cancer, 0, sizeof *cancer);
  Reader r = {path, -1, 0};
  if (ovq_h5_open_read(path, comm, &r.file) != OVQ_OK) return OVQ_ERR;
  OvqStatus st = check_format(&r);
  hid_t d;
  hsize_t dims[2];
  if (st == OVQ_OK) st = open_dataset(&r, "/samples/cancer", 1, H5T_STRING, -1, -1, &d, dims);
  if (st == OVQ_OK) {
    H5Dclose(d);
    r.N = (int64_t)dims[0];
    int64_t *all = OVQ_MALLOC((size_t)(r.N > 0 ? r.N : 1) * sizeof(int64_t));
    for (int64_t i = 0; i < r.N; i++) all[i] = i;
    st = read_strings(&r, "/samples/cancer", r.N, all, r.N, cancer, comm);
    free(all);
  }
  H5Fclose(r.file);
  st = ovq_status_agree(comm, st);
  if (st != OVQ_OK) ovq_strings_free(cancer);
  return st;
}

OvqStatus ovq_h5_read_string_attr(const char *path, const char *name, MPI_Comm comm, char **out) {
  *out = NULL;
  hid_t file;
  if (ovq_h5_open_read(path, comm, &file) != OVQ_OK) return OVQ_ERR;
  OvqStatus st = OVQ_OK;
  if (ovq_h5_get_string_attr(file, name, out) < 0)
    st = ovq_error("%s: attribute '%s' is not a fixed-length string (or is damaged)", path, name);
  H5Fclose(file);
  return st;
}
