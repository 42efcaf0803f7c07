/* Shared by fuzz_cohort_h5.c and fuzz_h5_schema.c: fuzz_read_file() reads an HDF5 file the way
 * oncovq's commands do (ovq_cohort_read whole and for one cancer type, ovq_cohort_read_cancers,
 * ovq_h5_read_string_attr; ovq_results_open and its readers) and checks every status: OVQ_OK, or
 * OVQ_ERR with a non-empty message; what is read has a consistent shape and NUL-terminated
 * strings; afterwards no HDF5 object is left open (check_closed). Include after fuzz_mpi.h, in
 * one file per target. */
#ifndef OVQ_FUZZ_H5_READ_H
#define OVQ_FUZZ_H5_READ_H

#include "ovq/cohort.h"
#include "ovq/results.h"

static void check_strings(const OvqStrings *s, int64_t n) {
  REQUIRE(s->n == n && (n == 0 || (s->width >= 2 && s->data)));
  for (int64_t i = 0; i < n; i++) REQUIRE(memchr(ovq_strings_at(s, i), '\0', (size_t)s->width));
}

static void check_cohort(const OvqCohort *c) {
  REQUIRE(c->n_total >= 1 && c->n_local == c->n_total && c->row_start == 0);
  REQUIRE(c->n_mrna >= 1 && c->n_mirna >= 0);
  check_strings(&c->mrna_ids, c->n_mrna);
  check_strings(&c->mirna_ids, c->n_mirna);
  check_strings(&c->sample_id, c->n_local);
  check_strings(&c->cancer, c->n_local);
  check_strings(&c->label, c->n_local);
  if (c->true_subtype.data) check_strings(&c->true_subtype, c->n_local);
  for (int64_t i = 0; i < c->n_local; i++)
    REQUIRE(c->os_event[i] == -1 || c->os_event[i] == 0 || c->os_event[i] == 1);
}

static void fuzz_read_file(const char *path) {
  OvqCohort c;
  ovq_error_clear();
  OvqStatus st = ovq_cohort_read(path, NULL, MPI_COMM_WORLD, &c);
  check_status(st);
  char cancer[64] = "OV";
  if (st == OVQ_OK) {
    check_cohort(&c);
    snprintf(cancer, sizeof cancer, "%s", ovq_strings_at(&c.cancer, c.n_local - 1));
  }
  ovq_cohort_destroy(&c);
  ovq_error_clear();
  st = ovq_cohort_read(path, cancer, MPI_COMM_WORLD, &c);
  check_status(st);
  if (st == OVQ_OK) {
    check_cohort(&c);
    for (int64_t i = 0; cancer[0] && i < c.n_local; i++) /* "" = every sample */
      REQUIRE(!strcmp(ovq_strings_at(&c.cancer, i), cancer));
  }
  ovq_cohort_destroy(&c);

  OvqStrings s;
  ovq_error_clear();
  st = ovq_cohort_read_cancers(path, MPI_COMM_WORLD, &s);
  check_status(st);
  if (st == OVQ_OK) check_strings(&s, s.n);
  ovq_strings_free(&s);
  char *text = NULL;
  ovq_error_clear();
  check_status(ovq_h5_read_string_attr(path, "config", MPI_COMM_WORLD, &text));
  free(text);

  OvqResults r;
  ovq_error_clear();
  st = ovq_results_open(&r, path, MPI_COMM_WORLD);
  check_status(st);
  if (st != OVQ_OK) return;
  ovq_error_clear();
  if ((st = ovq_results_read_strings(&r, "/samples/id", &s)) == OVQ_OK) {
    check_strings(&s, s.n);
    ovq_strings_free(&s);
  }
  check_status(st);
  void *x = NULL;
  int64_t n, n_total, n_cols, row_start, n_local;
  ovq_error_clear();
  if ((st = ovq_results_read_array(&r, "/prep/mean", H5T_NATIVE_DOUBLE, &x, &n)) == OVQ_OK)
    REQUIRE(n >= 0);
  check_status(st);
  free(x);
  x = NULL;
  ovq_error_clear();
  st = ovq_results_read_block(&r, "/prep/x", H5T_NATIVE_FLOAT, &x, &n_total, &n_cols, &row_start,
                              &n_local);
  check_status(st);
  if (st == OVQ_OK) /* [N][0] is an empty matrix, not an error */
    REQUIRE(n_local == n_total && row_start == 0 && n_cols >= 0);
  free(x);
  ovq_error_clear();
  st = ovq_results_read_attr(&r, "config", &text);
  check_status(st);
  free(text);
  ovq_results_close(&r);
}

/* After the reads: no HDF5 object left open (a leaked handle keeps the file open). */
static void check_closed(void) {
  REQUIRE(H5Fget_obj_count((hid_t)H5F_OBJ_ALL, H5F_OBJ_ALL) == 0);
}

#endif
