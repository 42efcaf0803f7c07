/* Survival analysis against R's survival package (fixtures from tools/gen_survival_fixtures.R)
 * at the rank count it is run with: each data set is split over the ranks in blocks and, a
 * second time, all on the last rank; survfit curves must match to 1e-10, medians exactly,
 * survdiff (multi-group and pairwise with BH) and coxph (coef, se, HR, CI, p, loglik, LRT,
 * Wald, score) to 1e-8. Then the documented edge cases: all samples censored, a group of size
 * one without an event, unknown samples left out, and no NaN anywhere.
 * Usage: test_survival <fixtures dir> */
#include <math.h>
#include <mpi.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ovq/error.h"
#include "ovq/partition.h"
#include "ovq/survival.h"

#define TOL_KM 1e-10
#define TOL_TEST 1e-8

typedef struct Fixture {
  int64_t n;
  double *time;
  int8_t *event;
  int32_t *group;
  int64_t km_rows;
  double *km; /* [km_rows][9]: group time nrisk nevent ncensor surv stderr lower upper */
  int n_med;
  double *med; /* [n_med][4]: group median lcl ucl (NaN = R's NA) */
  double lr[3];
  int n_pairs;
  double *pairs; /* [n_pairs][5]: a b chisq p padj */
  int n_coef;
  double *cox;      /* [n_coef][6]: coef se hr lower upper p */
  double tests[10]; /* loglik0 loglik lrt df lrt_p wald wald_p score score_p iter */
} Fixture;

static double g_maxdiff_km = 0, g_maxdiff_test = 0;

/* A number or "NA" (-> NaN). */
static int read_num(FILE *f, double *v) {
  char tok[64];
  if (fscanf(f, "%63s", tok) != 1) return 0;
  if (strcmp(tok, "NA") == 0) {
    *v = NAN;
    return 1;
  }
  char *end;
  *v = strtod(tok, &end);
  return *end == '\0';
}

static int read_nums(FILE *f, double *v, int64_t n) {
  for (int64_t i = 0; i < n; i++)
    if (!read_num(f, &v[i])) return 0;
  return 1;
}

static int expect(FILE *f, const char *word) {
  char tok[64];
  int c;
  while (fscanf(f, "%63s", tok) == 1) {
    if (tok[0] != '#') return strcmp(tok, word) == 0;
    while ((c = fgetc(f)) != EOF && c != '\n')
      continue;
  }
  return 0;
}

static int read_fixture(const char *path, Fixture *fx) {
  memset(fx, 0, sizeof *fx);
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  int ok = 0;
  long long n, rows;
  if (!expect(f, "data") || fscanf(f, "%lld", &n) != 1) goto done;
  fx->n = n;
  fx->time = malloc(sizeof(double) * (size_t)n);
  fx->event = malloc((size_t)n);
  fx->group = malloc(sizeof(int32_t) * (size_t)n);
  for (int64_t i = 0; i < n; i++) {
    double v[3];
    if (!read_nums(f, v, 3)) goto done;
    fx->time[i] = v[0];
    fx->event[i] = (int8_t)v[1];
    fx->group[i] = (int32_t)v[2];
  }
  if (!expect(f, "km") || fscanf(f, "%lld", &rows) != 1) goto done;
  fx->km_rows = rows;
  fx->km = malloc(sizeof(double) * 9 * (size_t)rows);
  if (!read_nums(f, fx->km, 9 * rows)) goto done;
  if (!expect(f, "median") || fscanf(f, "%d", &fx->n_med) != 1) goto done;
  fx->med = malloc(sizeof(double) * 4 * (size_t)fx->n_med);
  if (!read_nums(f, fx->med, 4 * fx->n_med)) goto done;
  if (!expect(f, "logrank") || !read_nums(f, fx->lr, 3)) goto done;
  if (!expect(f, "pairwise") || fscanf(f, "%d", &fx->n_pairs) != 1) goto done;
  fx->pairs = malloc(sizeof(double) * 5 * (size_t)fx->n_pairs);
  if (!read_nums(f, fx->pairs, 5 * fx->n_pairs)) goto done;
  if (!expect(f, "cox") || fscanf(f, "%d", &fx->n_coef) != 1) goto done;
  fx->cox = malloc(sizeof(double) * 6 * (size_t)fx->n_coef);
  if (!read_nums(f, fx->cox, 6 * fx->n_coef)) goto done;
  if (!expect(f, "cox_tests") || !read_nums(f, fx->tests, 10)) goto done;
  ok = expect(f, "end");
done:
  fclose(f);
  return ok;
}

static void fixture_free(Fixture *fx) {
  free(fx->time);
  free(fx->event);
  free(fx->group);
  free(fx->km);
  free(fx->med);
  free(fx->pairs);
  free(fx->cox);
}

static void near(double a, double b, double tol, double *maxdiff, const char *what, long long i) {
  double diff = fabs(a - b);
  if (isnan(diff)) diff = INFINITY;
  if (diff > *maxdiff) *maxdiff = diff;
  CHECK_MSG(diff <= tol, "%s [%lld]: %.17g vs R %.17g", what, i, a, b);
}

/* A median from C against R's NA-or-value. */
static void check_median(double v, int reached, double r, const char *what, long long g) {
  CHECK_MSG(isnan(r) ? !reached && isinf(v) : reached && v == r,
            "%s of group %lld: %g (reached %d) vs R %g", what, g, v, reached, r);
}

/* Gathers the block of fx this rank holds under `layout` (0: blocks, 1: all on the last rank). */
static OvqStatus gather(const Fixture *fx, int layout, OvqSurvData *d) {
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  OvqRange r = ovq_partition_block(fx->n, size, rank);
  if (layout == 1) r = rank == size - 1 ? (OvqRange){0, fx->n} : (OvqRange){0, 0};
  return ovq_survival_gather(fx->time + r.start, fx->event + r.start, fx->group + r.start, r.count,
                             MPI_COMM_WORLD, d);
}

static void check_fixture(const Fixture *fx, int layout) {
  OvqSurvData d;
  CHECK(gather(fx, layout, &d) == OVQ_OK);
  CHECK(d.n == fx->n && d.n_unknown == 0);

  OvqKm km;
  ovq_survival_km(&d, &km);
  CHECK(km.n_curves == fx->n_med);
  int64_t row = 0;
  for (int c = 0; c < km.n_curves; c++) {
    const OvqKmCurve *k = &km.curve[c];
    for (int64_t t = 0; t < k->n_times; t++, row++) {
      if (row >= fx->km_rows) break;
      const double *r = &fx->km[9 * row];
      CHECK_MSG(r[0] == k->group && r[2] == (double)k->n_risk[t] && r[3] == (double)k->n_event[t] &&
                    r[4] == (double)k->n_censor[t],
                "km row %lld: counts differ", (long long)row);
      near(k->time[t], r[1], 0, &g_maxdiff_km, "km time", row);
      near(k->surv[t], r[5], TOL_KM, &g_maxdiff_km, "km surv", row);
      if (isinf(r[6])) {
        CHECK_MSG(isinf(k->std_err[t]) && k->lower[t] == 0 && k->upper[t] == 0 && isnan(r[7]),
                  "km row %lld: S = 0 convention", (long long)row);
      } else {
        near(k->std_err[t], r[6], TOL_KM, &g_maxdiff_km, "km std.err", row);
        near(k->lower[t], r[7], TOL_KM, &g_maxdiff_km, "km lower", row);
        near(k->upper[t], r[8], TOL_KM, &g_maxdiff_km, "km upper", row);
      }
    }
    const double *m = &fx->med[4 * c];
    check_median(k->median, k->median_reached, m[1], "median", k->group);
    check_median(k->median_lower, k->median_lower_reached, m[2], "median LCL", k->group);
    check_median(k->median_upper, k->median_upper_reached, m[3], "median UCL", k->group);
  }
  CHECK_MSG(row == fx->km_rows, "km rows %lld vs R %lld", (long long)row, (long long)fx->km_rows);
  ovq_survival_km_free(&km);

  OvqLogrank lr;
  ovq_survival_logrank(&d, &lr);
  near(lr.chisq, fx->lr[0], TOL_TEST, &g_maxdiff_test, "logrank chisq", 0);
  CHECK(lr.df == (int)fx->lr[1]);
  near(lr.p, fx->lr[2], TOL_TEST, &g_maxdiff_test, "logrank p", 0);

  OvqPairwise pw;
  ovq_survival_pairwise(&d, &pw);
  CHECK(pw.n_pairs == fx->n_pairs);
  for (int i = 0; i < pw.n_pairs && i < fx->n_pairs; i++) {
    const double *r = &fx->pairs[5 * i];
    CHECK(pw.group_a[i] == (int32_t)r[0] && pw.group_b[i] == (int32_t)r[1]);
    near(pw.test[i].chisq, r[2], TOL_TEST, &g_maxdiff_test, "pairwise chisq", i);
    near(pw.test[i].p, r[3], TOL_TEST, &g_maxdiff_test, "pairwise p", i);
    near(pw.p_adjusted[i], r[4], TOL_TEST, &g_maxdiff_test, "pairwise BH", i);
  }
  ovq_survival_pairwise_free(&pw);

  OvqCox cox;
  ovq_survival_cox(&d, &cox);
  CHECK(cox.fitted && cox.converged && cox.n_coef == fx->n_coef);
  for (int i = 0; i < cox.n_coef && i < fx->n_coef; i++) {
    const double *r = &fx->cox[6 * i];
    near(cox.coef[i], r[0], TOL_TEST, &g_maxdiff_test, "cox coef", i);
    near(cox.se[i], r[1], TOL_TEST, &g_maxdiff_test, "cox se", i);
    near(cox.hr[i], r[2], TOL_TEST, &g_maxdiff_test, "cox HR", i);
    near(cox.hr_lower[i], r[3], TOL_TEST, &g_maxdiff_test, "cox HR lower", i);
    near(cox.hr_upper[i], r[4], TOL_TEST, &g_maxdiff_test, "cox HR upper", i);
    near(cox.p[i], r[5], TOL_TEST, &g_maxdiff_test, "cox p", i);
    CHECK(!cox.infinite[i]);
  }
  const double *t = fx->tests;
  near(cox.loglik0, t[0], TOL_TEST, &g_maxdiff_test, "cox loglik0", 0);
  near(cox.loglik, t[1], TOL_TEST, &g_maxdiff_test, "cox loglik", 0);
  near(cox.lrt, t[2], TOL_TEST, &g_maxdiff_test, "cox LRT", 0);
  CHECK(cox.df == (int)t[3]);
  near(cox.lrt_p, t[4], TOL_TEST, &g_maxdiff_test, "cox LRT p", 0);
  near(cox.wald, t[5], TOL_TEST, &g_maxdiff_test, "cox Wald", 0);
  near(cox.wald_p, t[6], TOL_TEST, &g_maxdiff_test, "cox Wald p", 0);
  near(cox.score, t[7], TOL_TEST, &g_maxdiff_test, "cox score", 0);
  near(cox.score_p, t[8], TOL_TEST, &g_maxdiff_test, "cox score p", 0);
  CHECK_MSG(cox.iterations == (int)t[9], "cox iterations %d vs R %g", cox.iterations, t[9]);
  ovq_survival_cox_free(&cox);
  ovq_survival_data_free(&d);
}

/* Every number the analyses report is finite or a documented +Inf, never NaN. */
static int no_nan(const OvqSurvData *d) {
  int bad = 0;
  OvqKm km;
  ovq_survival_km(d, &km);
  for (int c = 0; c < km.n_curves; c++) {
    const OvqKmCurve *k = &km.curve[c];
    for (int64_t t = 0; t < k->n_times; t++)
      bad |= isnan(k->surv[t]) || isnan(k->std_err[t]) || isnan(k->lower[t]) || isnan(k->upper[t]);
    bad |= isnan(k->median) || isnan(k->median_lower) || isnan(k->median_upper);
  }
  ovq_survival_km_free(&km);
  OvqLogrank lr;
  ovq_survival_logrank(d, &lr);
  bad |= isnan(lr.chisq) || isnan(lr.p);
  OvqPairwise pw;
  ovq_survival_pairwise(d, &pw);
  for (int i = 0; i < pw.n_pairs; i++)
    bad |= isnan(pw.test[i].chisq) || isnan(pw.test[i].p) || isnan(pw.p_adjusted[i]);
  ovq_survival_pairwise_free(&pw);
  OvqCox cox;
  ovq_survival_cox(d, &cox);
  for (int i = 0; i < cox.n_coef; i++)
    bad |= !isfinite(cox.coef[i]) || !isfinite(cox.se[i]) || isnan(cox.hr[i]) ||
           isnan(cox.hr_lower[i]) || isnan(cox.hr_upper[i]) || isnan(cox.p[i]);
  bad |= isnan(cox.lrt) || isnan(cox.lrt_p) || isnan(cox.wald) || isnan(cox.wald_p) ||
         isnan(cox.score) || isnan(cox.score_p);
  ovq_survival_cox_free(&cox);
  return !bad;
}

static void check_edge_cases(void) {
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  enum { N = 13 };
  /* 3 groups; the last sample is unknown in every way that counts */
  double time[N] = {5, 8, 8, 12, 3, 9, 9, 15, 20, 4, 7, NAN, 6};
  int8_t event[N] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, -1};
  int32_t group[N] = {0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 0, 1};
  OvqRange r = ovq_partition_block(N, size, rank);
  OvqSurvData d;

  /* All samples censored. */
  CHECK(ovq_survival_gather(time + r.start, event + r.start, group + r.start, r.count,
                            MPI_COMM_WORLD, &d) == OVQ_OK);
  CHECK(d.n == N - 2 && d.n_unknown == 2);
  CHECK(no_nan(&d));
  OvqKm km;
  ovq_survival_km(&d, &km);
  for (int c = 0; c < km.n_curves; c++) {
    const OvqKmCurve *k = &km.curve[c];
    CHECK(!k->median_reached && isinf(k->median) && !k->median_lower_reached);
    for (int64_t t = 0; t < k->n_times; t++)
      CHECK(k->surv[t] == 1 && k->std_err[t] == 0 && k->lower[t] == 1 && k->upper[t] == 1);
  }
  ovq_survival_km_free(&km);
  OvqLogrank lr;
  ovq_survival_logrank(&d, &lr);
  CHECK(lr.chisq == 0 && lr.df == 0 && lr.p == 1 && lr.note[0] != '\0');
  OvqCox cox;
  ovq_survival_cox(&d, &cox);
  CHECK(!cox.fitted && cox.n_coef == 2 && cox.hr[0] == 1 && cox.lrt_p == 1 && cox.note[0] != '\0');
  ovq_survival_cox_free(&cox);
  ovq_survival_data_free(&d);

  /* Events in groups 0 and 1; group 2 is one censored sample: its Cox coefficient diverges and is
   * flagged, its curve is flat at 1, and nothing is NaN. */
  int8_t ev2[N] = {1, 1, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0, -1};
  int32_t g2[N] = {0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 2, 0, 1};
  CHECK(ovq_survival_gather(time + r.start, ev2 + r.start, g2 + r.start, r.count, MPI_COMM_WORLD,
                            &d) == OVQ_OK);
  CHECK(d.size[2] == 1);
  CHECK(no_nan(&d));
  ovq_survival_km(&d, &km);
  CHECK(km.n_curves == 3 && km.curve[2].n_times == 1 && km.curve[2].surv[0] == 1);
  ovq_survival_km_free(&km);
  ovq_survival_cox(&d, &cox);
  CHECK(cox.fitted && cox.infinite[1] && !cox.infinite[0] && cox.note[0] != '\0');
  ovq_survival_cox_free(&cox);
  ovq_survival_data_free(&d);

  /* Bad arguments are refused on every rank. */
  CHECK(ovq_survival_gather(NULL, NULL, NULL, rank == 0 ? 3 : 0, MPI_COMM_WORLD, &d) == OVQ_ERR);
  CHECK(d.n == 0 && d.time == NULL);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (argc < 2) {
    if (rank == 0) fprintf(stderr, "usage: test_survival <fixtures dir>\n");
    MPI_Finalize();
    return 2;
  }
  const char *names[] = {"survival_sim.txt", "survival_single.txt"};
  for (int i = 0; i < 2; i++) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", argv[1], names[i]);
    Fixture fx;
    int ok = read_fixture(path, &fx);
    CHECK_MSG(ok, "cannot read fixture %s", path);
    if (ok)
      for (int layout = 0; layout < 2; layout++)
        check_fixture(&fx, layout);
    fixture_free(&fx);
  }
  check_edge_cases();
  if (rank == 0)
    printf("largest difference from R: survfit %.3g (tol %g), survdiff/coxph %.3g (tol %g)\n",
           g_maxdiff_km, TOL_KM, g_maxdiff_test, TOL_TEST);
  int rc = test_finish("test_survival");
  MPI_Finalize();
  return rc;
}
