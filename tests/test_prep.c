/* Preprocessing (ovq/prep.h) on a small cohort with known answers, at any rank count: the zero
 * filter, mean imputation, selection by variance and by MAD, standardisation, omic weights, and
 * ovq_prep_apply reproducing the fit on the same cohort; a transform naming absent features is
 * an error. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ovq/partition.h"
#include "ovq/prep.h"

enum { N = 20, G = 6, M = 2 };

/* mRNA features (columns):
 *  0 "zeros": 0 in 5 of 20 samples (25 %) -> dropped by the 10 % filter
 *  1 "wide":  i            (variance 33.25, MAD 5)
 *  2 "narrow": 1 + i % 2   (variance 0.25, MAD 0.5)
 *  3 "spiky": 1 except 100 at sample 0  (huge variance, MAD 0)
 *  4 "mid":   1 + (i % 5) * 2, missing at sample 3 (mean-imputed; MAD 2)
 *  5 "const": 7            (variance 0: only centred)
 * miRNA: two features i / 2 and 1 + i % 4. */
static float mrna_value(int64_t i, int j) {
  switch (j) {
  case 0: return i < 5 ? 0.0f : 1.0f + (float)i;
  case 1: return (float)i;
  case 2: return (float)(1 + i % 2);
  case 3: return i == 0 ? 100.0f : 1.0f;
  case 4: return i == 3 ? NAN : (float)(1 + (i % 5) * 2);
  default: return 7.0f;
  }
}

static void make(OvqCohort *c, MPI_Comm comm) {
  int rank, size;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  OvqRange b = ovq_partition_block(N, size, rank);
  ovq_cohort_alloc(c, N, b.start, b.count, G, M, 16, 16, 0);
  const char *ids[G] = {"zeros", "wide", "narrow", "spiky", "mid", "const"};
  for (int j = 0; j < G; j++) ovq_strings_set(&c->mrna_ids, j, ids[j]);
  ovq_strings_set(&c->mirna_ids, 0, "mir-a");
  ovq_strings_set(&c->mirna_ids, 1, "mir-b");
  for (int64_t i = 0; i < b.count; i++) {
    int64_t g = b.start + i;
    char s[16];
    snprintf(s, sizeof s, "S%02lld", (long long)g);
    ovq_strings_set(&c->sample_id, i, s);
    for (int j = 0; j < G; j++) c->mrna[i * G + j] = mrna_value(g, j);
    c->mirna[i * M] = (float)g / 2.0f;
    c->mirna[i * M + 1] = (float)(1 + g % 4);
  }
}

/* Column j of the fitted matrix gathered over the ranks. */
static void column(const OvqMatrix *x, int64_t j, double *out) {
  memset(out, 0, sizeof(double) * N);
  for (int64_t i = 0; i < x->n_local; i++) out[x->row_start + i] = x->x[i * x->n_cols + j];
  MPI_Allreduce(MPI_IN_PLACE, out, N, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  ovq_log_init(MPI_COMM_WORLD);
  ovq_log_set_level(OVQ_LOG_WARN);
  MPI_Comm comm = MPI_COMM_WORLD;
  OvqCohort c;
  make(&c, comm);
  OvqConfig cfg;
  ovq_config_defaults(&cfg);
  OvqPrepOptions o;
  ovq_prep_options_from_config(&cfg, &o);
  o.impute_knn = 0;

  /* 1. Defaults (no selection): zero filter, mean imputation, standardisation. */
  OvqMatrix x;
  OvqPrepTransform t;
  OvqPrepReport rep;
  CHECK(ovq_prep_fit(&c, &o, comm, &x, &t, &rep) == OVQ_OK);
  CHECK(rep.n_zero[0] == 1 && rep.n_out[0] == 5 && rep.n_out[1] == 2);
  CHECK(rep.n_missing[0] == 1);
  CHECK(t.n_features == 7 && t.n_mrna == 5 && x.n_cols == 7);
  if (t.n_features == 7) {
    CHECK(!strcmp(ovq_strings_at(&t.ids, 0), "wide") && !strcmp(ovq_strings_at(&t.ids, 5), "mir-a"));
    double col[N];
    for (int64_t j = 0; j < 7; j++) {
      column(&x, j, col);
      double m = 0, v = 0;
      for (int i = 0; i < N; i++) m += col[i];
      m /= N;
      for (int i = 0; i < N; i++) v += (col[i] - m) * (col[i] - m);
      v /= N;
      CHECK_NEAR(m, 0.0, 1e-6);
      CHECK_NEAR(v, j == 4 ? 0.0 : 1.0, 1e-5); /* "const" only centred */
    }
    /* "wide" = i: mean 9.5, population sd sqrt(33.25). */
    CHECK_NEAR(t.mean[0], 9.5, 1e-12);
    CHECK_NEAR(t.scale[0], sqrt(33.25), 1e-12);
    /* "mid" at sample 3 took the mean of the other 19 values. */
    double mid_mean = 0;
    for (int i = 0; i < N; i++) mid_mean += i == 3 ? 0 : 1 + (i % 5) * 2;
    mid_mean /= 19;
    CHECK_NEAR(t.mean[3], mid_mean, 1e-6); /* the imputed value is stored as a float */
    column(&x, 3, col);
    CHECK_NEAR(col[3], 0.0, 1e-6);
  }
  /* ovq_prep_apply on the same cohort reproduces the fitted matrix. */
  OvqMatrix y;
  CHECK(ovq_prep_apply(&c, &t, &o, comm, &y) == OVQ_OK);
  int same = y.n_cols == x.n_cols;
  for (int64_t i = 0; same && i < x.n_local * x.n_cols; i++) same = fabsf(x.x[i] - y.x[i]) <= 1e-6f;
  CHECK_MSG(same, "apply differs from fit");
  ovq_matrix_free(&y);
  /* A transform with a feature the cohort lacks. */
  ovq_strings_set(&t.ids, 1, "absent");
  CHECK(ovq_prep_apply(&c, &t, &o, comm, &y) == OVQ_ERR &&
        strstr(ovq_error_message(), "absent") != NULL);
  ovq_prep_free(&t);
  ovq_matrix_free(&x);

  /* 2. Top 2 mRNA by variance: spiky (var ~470) and wide (33.25); weights 2 and 0.5. */
  o.select = 1;
  o.top[0] = 2;
  o.weight[0] = 2.0;
  o.weight[1] = 0.5;
  CHECK(ovq_prep_fit(&c, &o, comm, &x, &t, &rep) == OVQ_OK);
  CHECK(t.n_mrna == 2 && t.n_features == 4);
  if (t.n_mrna == 2) {
    /* Kept in their original order. */
    CHECK(!strcmp(ovq_strings_at(&t.ids, 0), "wide") && !strcmp(ovq_strings_at(&t.ids, 1), "spiky"));
    double col[N], v = 0;
    column(&x, 0, col);
    for (int i = 0; i < N; i++) v += col[i] * col[i];
    CHECK_NEAR(v / N, 4.0, 1e-5); /* weight 2 -> variance 4 */
    column(&x, 2, col);
    v = 0;
    for (int i = 0; i < N; i++) v += col[i] * col[i];
    CHECK_NEAR(v / N, 0.25, 1e-5);
  }
  ovq_prep_free(&t);
  ovq_matrix_free(&x);

  /* 3. Top 2 mRNA by MAD: wide (5) and mid (2: values 1,3,5,7,9), not spiky (0). */
  o.select = 2;
  CHECK(ovq_prep_fit(&c, &o, comm, &x, &t, &rep) == OVQ_OK);
  if (t.n_mrna == 2)
    CHECK(!strcmp(ovq_strings_at(&t.ids, 0), "wide") && !strcmp(ovq_strings_at(&t.ids, 1), "mid"));
  else
    CHECK(0);
  ovq_prep_free(&t);
  ovq_matrix_free(&x);

  /* 4. Everything filtered: an error on every rank. */
  o.zero_fraction = 0.0;
  o.select = 0;
  for (int64_t i = 0; i < c.n_local; i++) c.mirna[i * M] = c.mirna[i * M + 1] = 0.0f;
  CHECK(ovq_prep_fit(&c, &o, comm, &x, &t, &rep) == OVQ_ERR &&
        strstr(ovq_error_message(), "every miRNA feature is 0") != NULL);

  ovq_cohort_destroy(&c);
  int rc = test_finish("test_prep");
  MPI_Finalize();
  return rc;
}
