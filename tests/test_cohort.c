/* MPI test of the cohort file: a cohort written at this run's rank count reads back identically
 * at 1, 2 and all ranks (sub-communicators), also one cancer type at a time (non-contiguous rows),
 * and damaged files give clear errors. argv[1] = scratch directory. */
#include <hdf5.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ovq/cohort.h"
#include "ovq/partition.h"

enum { N = 203, G = 37, M = 11 };
static const char *kTypes[] = {"BRCA", "GBM", "LGG"};

static float expect_x(int64_t i, int64_t j, int mirna) {
  if ((i + j + mirna) % 97 == 0) return NAN;
  return (float)(i * 1000 + j) * (mirna ? -0.5f : 0.25f);
}

static void fill(OvqCohort *c, int rank, int size) {
  OvqRange b = ovq_partition_block(N, size, rank);
  ovq_cohort_alloc(c, N, b.start, b.count, G, M, 16, 16, 1);
  for (int64_t j = 0; j < G; j++) {
    char s[16];
    snprintf(s, sizeof s, "G%lld|%lld", (long long)j, (long long)(1000 + j));
    ovq_strings_set(&c->mrna_ids, j, s);
    c->mrna_module[j] = (int32_t)(j % 4) - 1;
  }
  for (int64_t j = 0; j < M; j++) {
    char s[16];
    snprintf(s, sizeof s, "hsa-mir-%lld", (long long)j);
    ovq_strings_set(&c->mirna_ids, j, s);
    c->mirna_target[j] = (int32_t)j;
  }
  for (int64_t k = 0; k < b.count; k++) {
    int64_t i = b.start + k;
    char s[16];
    snprintf(s, sizeof s, "S%05lld", (long long)i);
    ovq_strings_set(&c->sample_id, k, s);
    ovq_strings_set(&c->cancer, k, kTypes[i % 3]);
    snprintf(s, sizeof s, "L%lld", (long long)(i % 4));
    ovq_strings_set(&c->label, k, i % 5 == 0 ? "" : s);
    snprintf(s, sizeof s, "T%lld", (long long)(i % 3));
    ovq_strings_set(&c->true_subtype, k, s);
    c->os_time[k] = i % 7 == 0 ? NAN : 10.5 * (double)i;
    c->os_event[k] = (int8_t)(i % 7 == 0 ? -1 : i % 2);
    c->batch[k] = (int8_t)(i % 2);
    for (int64_t j = 0; j < G; j++) c->mrna[k * G + j] = expect_x(i, j, 0);
    for (int64_t j = 0; j < M; j++) c->mirna[k * M + j] = expect_x(i, j, 1);
  }
}

static int same_float(float a, float b) { return (isnan(a) && isnan(b)) || a == b; }

/* Checks a block read with `cancer` against the generating formulas; returns rows seen. */
static int64_t verify(const OvqCohort *c, const char *cancer) {
  int64_t sel[N], n = 0;
  for (int64_t i = 0; i < N; i++)
    if (!cancer || !strcmp(kTypes[i % 3], cancer)) sel[n++] = i;
  CHECK(c->n_total == n && c->n_mrna == G && c->n_mirna == M);
  int bad = 0;
  for (int64_t k = 0; k < c->n_local; k++) {
    int64_t i = sel[c->row_start + k];
    char s[16];
    snprintf(s, sizeof s, "S%05lld", (long long)i);
    bad += strcmp(ovq_strings_at(&c->sample_id, k), s) != 0;
    bad += strcmp(ovq_strings_at(&c->cancer, k), kTypes[i % 3]) != 0;
    snprintf(s, sizeof s, "L%lld", (long long)(i % 4));
    bad += strcmp(ovq_strings_at(&c->label, k), i % 5 == 0 ? "" : s) != 0;
    snprintf(s, sizeof s, "T%lld", (long long)(i % 3));
    bad += strcmp(ovq_strings_at(&c->true_subtype, k), s) != 0;
    bad += i % 7 == 0 ? !isnan(c->os_time[k]) : c->os_time[k] != 10.5 * (double)i;
    bad += c->os_event[k] != (i % 7 == 0 ? -1 : i % 2);
    bad += c->batch[k] != i % 2;
    for (int64_t j = 0; j < G; j++) bad += !same_float(c->mrna[k * G + j], expect_x(i, j, 0));
    for (int64_t j = 0; j < M; j++) bad += !same_float(c->mirna[k * M + j], expect_x(i, j, 1));
  }
  for (int64_t j = 0; j < G; j++) bad += c->mrna_module[j] != (int32_t)(j % 4) - 1;
  CHECK(!strcmp(ovq_strings_at(&c->mrna_ids, 3), "G3|1003"));
  CHECK(!strcmp(ovq_strings_at(&c->mirna_ids, 10), "hsa-mir-10"));
  CHECK_MSG(bad == 0, "%d mismatches reading %s", bad, cancer ? cancer : "all");
  return c->n_local;
}

/* Reads path with `comm` (all samples, then each cancer type) and verifies. */
static void read_and_verify(const char *path, MPI_Comm comm) {
  OvqCohort c;
  CHECK_MSG(ovq_cohort_read(path, NULL, comm, &c) == OVQ_OK, "%s", ovq_error_message());
  int64_t seen = verify(&c, NULL), total = 0;
  MPI_Allreduce(&seen, &total, 1, MPI_INT64_T, MPI_SUM, comm);
  CHECK(total == N);
  ovq_cohort_destroy(&c);
  for (int t = 0; t < 3; t++) {
    CHECK_MSG(ovq_cohort_read(path, kTypes[t], comm, &c) == OVQ_OK, "%s", ovq_error_message());
    verify(&c, kTypes[t]);
    ovq_cohort_destroy(&c);
  }
}

/* A damaged copy must be refused with a message containing `needle`. */
static void expect_refused(const char *path, const char *needle) {
  OvqCohort c;
  OvqStatus st = ovq_cohort_read(path, NULL, MPI_COMM_WORLD, &c);
  CHECK_MSG(st == OVQ_ERR, "damaged file %s was accepted", path);
  CHECK_MSG(strstr(ovq_error_message(), needle) != NULL, "message '%s' lacks '%s'",
            ovq_error_message(), needle);
  int rank;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank == 0) printf("  refused as expected: %s\n", ovq_error_message());
}

/* Rank 0 edits a copy of the good file with the serial driver, the others wait. */
static void damage(const char *good, const char *bad, const char *what) {
  int rank;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank == 0) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", good, bad);
    if (system(cmd) != 0) fprintf(stderr, "cp failed\n");
    hid_t f = H5Fopen(bad, H5F_ACC_RDWR, H5P_DEFAULT);
    if (!strcmp(what, "drop_os_time")) H5Ldelete(f, "/samples/os_time", H5P_DEFAULT);
    if (!strcmp(what, "drop_format")) H5Adelete(f, "format");
    if (!strcmp(what, "short_label")) {
      H5Ldelete(f, "/samples/label", H5P_DEFAULT);
      hsize_t d = N - 1;
      hid_t sp = H5Screate_simple(1, &d, NULL), t = H5Tcopy(H5T_C_S1);
      H5Tset_size(t, 4);
      hid_t ds = H5Dcreate2(f, "/samples/label", t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
      H5Dclose(ds);
      H5Tclose(t);
      H5Sclose(sp);
    }
    if (!strcmp(what, "float_ids")) {
      H5Ldelete(f, "/samples/id", H5P_DEFAULT);
      hsize_t d = N;
      hid_t sp = H5Screate_simple(1, &d, NULL);
      hid_t ds = H5Dcreate2(f, "/samples/id", H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT,
                            H5P_DEFAULT);
      H5Dclose(ds);
      H5Sclose(sp);
    }
    H5Fclose(f);
  }
  MPI_Barrier(MPI_COMM_WORLD);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  ovq_log_init(MPI_COMM_WORLD);
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  char path[1024], bad[1024];
  snprintf(path, sizeof path, "%s/test_cohort_np%d.h5", argc > 1 ? argv[1] : ".", size);

  OvqCohort c;
  fill(&c, rank, size);
  OvqStatus st = ovq_cohort_write(&c, path, "test", "[test]\nk = v\n", MPI_COMM_WORLD);
  CHECK_MSG(st == OVQ_OK, "%s", ovq_error_message());
  ovq_cohort_destroy(&c);

  /* Read at every rank count up to this run's: 1, 2, ..., size (ranks beyond sit out). */
  for (int p = 1; p <= size; p *= 2) {
    MPI_Comm sub;
    MPI_Comm_split(MPI_COMM_WORLD, rank < p ? 0 : MPI_UNDEFINED, rank, &sub);
    if (sub != MPI_COMM_NULL) {
      read_and_verify(path, sub);
      MPI_Comm_free(&sub);
    }
  }
  char *cfg = NULL;
  CHECK(ovq_h5_read_string_attr(path, "config", MPI_COMM_WORLD, &cfg) == OVQ_OK);
  CHECK(cfg && !strcmp(cfg, "[test]\nk = v\n"));
  free(cfg);

  /* An unwritable path leaves no file and says why. */
  st = ovq_cohort_write(&c, "/nonexistent-dir/x.h5", "test", "", MPI_COMM_WORLD);
  CHECK(st == OVQ_ERR && strstr(ovq_error_message(), "cannot write output"));

  snprintf(bad, sizeof bad, "%s/test_cohort_bad_np%d.h5", argc > 1 ? argv[1] : ".", size);
  damage(path, bad, "drop_os_time");
  expect_refused(bad, "/samples/os_time is missing");
  damage(path, bad, "drop_format");
  expect_refused(bad, "not an OncoVQ cohort file");
  damage(path, bad, "short_label");
  expect_refused(bad, "/samples/label has 202 rows, expected 203");
  damage(path, bad, "float_ids");
  expect_refused(bad, "/samples/id has the wrong type");
  expect_refused("/nonexistent-dir/none.h5", "cannot open");
  {
    OvqCohort d;
    CHECK(ovq_cohort_read(path, "PRAD", MPI_COMM_WORLD, &d) == OVQ_ERR);
    CHECK(strstr(ovq_error_message(), "no sample of cancer type 'PRAD'") != NULL);
  }
  int rc = test_finish("test_cohort");
  MPI_Finalize();
  return rc;
}
