/* KNN imputation (include/ovq/impute.h) at the rank count it is run with (registered at 1, 2, 4):
 * 1. R's impute::impute.knn (fixtures from tools/gen_impute_fixtures.R): every imputed value
 *    within 1e-6 relative to max(1, |R|) of R's double (ours is a float; the number of values
 *    equal to R's rounded to float is printed too), observed values unchanged, report counts;
 *    R's colmax error reproduced, the message naming the first offending sample.
 * 2. A direct port of R's Fortran (misdis / porder / misave, below: slow and simple) agrees with
 *    R on the same fixtures; the library then agrees with it bit for bit on larger cases (many
 *    row chunks and candidate tiles, integer data with many equal distances, duplicate
 *    features) and on edge cases where OncoVQ deliberately departs from R's bugs (one rowmax
 *    feature, fewer features than k + 1).
 * 3. Above maxp (the split, which is not R's): every NaN filled, observed values unchanged,
 *    values within the range of their sample's observed values, and the same bytes on
 *    communicators of 1, 2 and 4 ranks inside this run.
 * 4. User errors on every rank: bad options, a sample with no observed kept feature.
 * Usage: test_impute <fixtures dir> */
#include <math.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ovq/cohort.h"
#include "ovq/error.h"
#include "ovq/impute.h"
#include "ovq/matrix.h"
#include "ovq/partition.h"
#include "ovq/rng.h"

#define TOL 1e-6 /* relative to max(1, |R|) */

static int g_rank, g_size;

/* ---- Fixtures ---------------------------------------------------------------------------- */
typedef struct Fixture {
  char name[64];
  int64_t p, n; /* features, samples */
  OvqKnnOptions opt;
  float *x; /* [n][p], NaN = missing */
  int ok;   /* expect ok (1) or error (0) */
  int64_t missing, rowmax_features, unresolved, n_imp;
  int64_t *imp_s, *imp_f;
  double *imp_v;
  int64_t n_err;
  int64_t err_samples[16];
} Fixture;

static int expect_word(FILE *f, const char *w) {
  char tok[64];
  return fscanf(f, "%63s", tok) == 1 && strcmp(tok, w) == 0;
}

/* Returns 0, or -1 with a message (unreadable or malformed file). */
static int fixture_read(const char *path, Fixture *fx) {
  memset(fx, 0, sizeof *fx);
  FILE *f = fopen(path, "r");
  if (!f) {
    fprintf(stderr, "cannot open %s\n", path);
    return -1;
  }
  char tok[64];
  int rc = -1;
  long long p = 0, n = 0, k = 0, maxp = 0;
  /* Header comments, then the fixed keys. */
  while (fscanf(f, "%63s", tok) == 1 && tok[0] == '#') {
    int c;
    while ((c = fgetc(f)) != EOF && c != '\n')
      continue;
  }
  if (strcmp(tok, "name") != 0 || fscanf(f, "%63s", fx->name) != 1) goto done;
  fx->opt = ovq_knn_defaults();
  if (!expect_word(f, "features") || fscanf(f, "%lld", &p) != 1 || !expect_word(f, "samples") ||
      fscanf(f, "%lld", &n) != 1 || !expect_word(f, "k") || fscanf(f, "%lld", &k) != 1 ||
      !expect_word(f, "rowmax") || fscanf(f, "%lf", &fx->opt.rowmax) != 1 ||
      !expect_word(f, "colmax") || fscanf(f, "%lf", &fx->opt.colmax) != 1 ||
      !expect_word(f, "maxp") || fscanf(f, "%lld", &maxp) != 1 || !expect_word(f, "input"))
    goto done;
  fx->p = p;
  fx->n = n;
  fx->opt.k = (int)k;
  fx->opt.maxp = maxp;
  fx->x = malloc(sizeof(float) * (size_t)(p * n));
  for (int64_t i = 0; i < p * n; i++) {
    if (fscanf(f, "%63s", tok) != 1) goto done;
    fx->x[i] = strcmp(tok, "NA") == 0 ? NAN : (float)strtod(tok, NULL);
  }
  if (!expect_word(f, "expect") || fscanf(f, "%63s", tok) != 1) goto done;
  if (strcmp(tok, "ok") == 0) {
    long long a, b, c, d;
    fx->ok = 1;
    if (!expect_word(f, "missing") || fscanf(f, "%lld", &a) != 1 ||
        !expect_word(f, "rowmax_features") || fscanf(f, "%lld", &b) != 1 ||
        !expect_word(f, "unresolved") || fscanf(f, "%lld", &c) != 1 || !expect_word(f, "imputed") ||
        fscanf(f, "%lld", &d) != 1)
      goto done;
    fx->missing = a;
    fx->rowmax_features = b;
    fx->unresolved = c;
    fx->n_imp = d;
    fx->imp_s = malloc(sizeof(int64_t) * (size_t)(d + 1));
    fx->imp_f = malloc(sizeof(int64_t) * (size_t)(d + 1));
    fx->imp_v = malloc(sizeof(double) * (size_t)(d + 1));
    for (int64_t i = 0; i < d; i++) {
      long long s, j;
      if (fscanf(f, "%lld %lld %lf", &s, &j, &fx->imp_v[i]) != 3) goto done;
      fx->imp_s[i] = s;
      fx->imp_f[i] = j;
    }
  } else if (strcmp(tok, "error") == 0) {
    long long c;
    if (!expect_word(f, "error_samples") || fscanf(f, "%lld", &c) != 1 || c < 1 || c > 16)
      goto done;
    fx->n_err = c;
    for (int64_t i = 0; i < c; i++) {
      long long s;
      if (fscanf(f, "%lld", &s) != 1) goto done;
      fx->err_samples[i] = s;
    }
  } else {
    goto done;
  }
  rc = 0;
done:
  if (rc) fprintf(stderr, "%s: malformed fixture\n", path);
  fclose(f);
  return rc;
}

static void fixture_free(Fixture *fx) {
  free(fx->x);
  free(fx->imp_s);
  free(fx->imp_f);
  free(fx->imp_v);
  memset(fx, 0, sizeof *fx);
}

/* ---- Helpers ------------------------------------------------------------------------------ */
/* This rank's rows of full ([n][p]) on comm, with ids "S000"... */
static void scatter(const float *full, int64_t n, int64_t p, MPI_Comm comm, OvqMatrix *m,
                    OvqStrings *ids) {
  int r, s;
  MPI_Comm_rank(comm, &r);
  MPI_Comm_size(comm, &s);
  OvqRange b = ovq_partition_block(n, s, r);
  ovq_matrix_alloc(m, n, b.start, b.count, p);
  if (b.count) memcpy(m->x, full + b.start * p, sizeof(float) * (size_t)(b.count * p));
  if (ids) {
    ovq_strings_alloc(ids, b.count, 16);
    for (int64_t i = 0; i < b.count; i++) {
      char name[16];
      snprintf(name, sizeof name, "S%03lld", (long long)(b.start + i));
      ovq_strings_set(ids, i, name);
    }
  }
}

/* Every rank of comm gets the whole matrix. */
static void gather(const OvqMatrix *m, MPI_Comm comm, float *full) {
  int s;
  MPI_Comm_size(comm, &s);
  int *cnt = malloc(sizeof(int) * 2 * (size_t)s), *dsp = cnt + s;
  for (int q = 0; q < s; q++) {
    OvqRange b = ovq_partition_block(m->n_total, s, q);
    cnt[q] = (int)(b.count * m->n_cols);
    dsp[q] = (int)(b.start * m->n_cols);
  }
  MPI_Allgatherv(m->x, (int)(m->n_local * m->n_cols), MPI_FLOAT, full, cnt, dsp, MPI_FLOAT, comm);
  free(cnt);
}

/* ---- Reference: R's algorithm written out as the Fortran does it -------------------------- */
typedef struct {
  double d;
  int64_t j;
} DistIdx;

static int dist_cmp(const void *a, const void *b) {
  const DistIdx *x = a, *y = b;
  if (x->d != y->d) return x->d < y->d ? -1 : 1;
  return x->j < y->j ? -1 : x->j > y->j;
}

/* x, out: [n][p]. R's semantics, except where src/prep/impute.c says it fixes an R bug: one
 * rowmax feature gets sample means too, sample 1's mean uses its value, fewer than k + 1
 * features use all the others. */
static void reference(const float *x, int64_t n, int64_t p, int k, double rowmax, float *out) {
  int64_t *fmiss = calloc((size_t)p, sizeof(int64_t)), *kept = malloc(sizeof(int64_t) * (size_t)p);
  int64_t pk = 0;
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = 0; j < p; j++)
      fmiss[j] += isnan(x[i * p + j]) != 0;
  for (int64_t j = 0; j < p; j++)
    if (!((double)fmiss[j] > trunc(rowmax * (double)n))) kept[pk++] = j;
  double *xbar = malloc(sizeof(double) * (size_t)n);
  for (int64_t i = 0; i < n; i++) {
    double s = 0;
    int64_t c = 0;
    for (int64_t t = 0; t < pk; t++)
      if (!isnan(x[i * p + kept[t]])) s += x[i * p + kept[t]], c++;
    xbar[i] = c ? s / (double)c : NAN;
  }
  memcpy(out, x, sizeof(float) * (size_t)(n * p));
  DistIdx *di = malloc(sizeof(DistIdx) * (size_t)(pk + 1));
  const int64_t m = (int64_t)k + 1 < pk ? (int64_t)k + 1 : pk;
  for (int64_t a = 0; a < pk; a++) {
    const int64_t fa = kept[a];
    int any = 0;
    for (int64_t i = 0; i < n; i++)
      any |= isnan(x[i * p + fa]) != 0;
    if (!any) continue;
    for (int64_t b = 0; b < pk; b++) { /* misdis */
      double s = 0;
      int64_t c = 0;
      for (int64_t i = 0; i < n; i++) {
        float va = x[i * p + fa], vb = x[i * p + kept[b]];
        if (isnan(va) || isnan(vb)) continue;
        double d = (double)va - (double)vb;
        s += d * d;
        c++;
      }
      di[b].d = c ? s / (double)c : 1e10;
      di[b].j = b;
    }
    qsort(di, (size_t)pk, sizeof(DistIdx), dist_cmp); /* porder: ties by index */
    for (int64_t i = 0; i < n; i++) {                 /* misave over positions 2..k+1 */
      if (!isnan(x[i * p + fa])) continue;
      double s = 0;
      int64_t c = 0;
      for (int64_t t = 1; t < m; t++) {
        float v = x[i * p + kept[di[t].j]];
        if (!isnan(v)) s += v, c++;
      }
      out[i * p + fa] = c ? (float)(s / (double)c) : (float)xbar[i];
    }
  }
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = 0; j < p; j++)
      if (isnan(out[i * p + j])) out[i * p + j] = (float)xbar[i];
  free(di);
  free(xbar);
  free(kept);
  free(fmiss);
}

/* ---- 1-2. R fixtures ---------------------------------------------------------------------- */
static void check_fixture(const char *dir, const char *name) {
  char path[1024];
  snprintf(path, sizeof path, "%s/impute_%s.txt", dir, name);
  Fixture fx;
  int rc = fixture_read(path, &fx);
  CHECK_MSG(rc == 0, "cannot read %s", path);
  if (rc) return;
  OvqMatrix m;
  OvqStrings ids;
  scatter(fx.x, fx.n, fx.p, MPI_COMM_WORLD, &m, &ids);
  OvqKnnReport rep;
  ovq_error_clear();
  OvqStatus st = ovq_impute_knn(&m, &fx.opt, &ids, MPI_COMM_WORLD, &rep);
  if (!fx.ok) {
    char want[32];
    snprintf(want, sizeof want, "'S%03lld'", (long long)fx.err_samples[0]);
    CHECK_MSG(st == OVQ_ERR, "%s: R stops (colmax) but ovq_impute_knn returned OK", name);
    CHECK_MSG(strstr(ovq_error_message(), want) != NULL && strstr(ovq_error_message(), "colmax"),
              "%s: the message should name sample %s and colmax: %s", name, want,
              ovq_error_message());
    if (g_rank == 0) printf("  %-13s R and OncoVQ stop: %s\n", name, ovq_error_message());
  } else {
    CHECK_MSG(st == OVQ_OK, "%s: %s", name, ovq_error_message());
    CHECK(rep.n_missing == fx.missing);
    CHECK(rep.n_rowmax_features == fx.rowmax_features);
    CHECK(rep.n_blocks == 1);
    /* Imputed values against R (each rank its rows); observed values unchanged. */
    double maxrel = 0;
    int64_t exact = 0, seen = 0, changed = 0;
    for (int64_t e = 0; e < fx.n_imp; e++) {
      int64_t i = fx.imp_s[e] - m.row_start;
      if (i < 0 || i >= m.n_local) continue;
      double ours = m.x[i * fx.p + fx.imp_f[e]], r = fx.imp_v[e];
      double rel = fabs(ours - r) / fmax(1.0, fabs(r));
      if (!(rel <= maxrel)) maxrel = isnan(rel) ? INFINITY : rel;
      exact += (float)r == (float)ours;
      seen++;
    }
    for (int64_t i = 0; i < m.n_local; i++)
      for (int64_t j = 0; j < fx.p; j++) {
        float in = fx.x[(m.row_start + i) * fx.p + j];
        if (!isnan(in) && memcmp(&in, &m.x[i * fx.p + j], sizeof in) != 0) changed++;
      }
    MPI_Allreduce(MPI_IN_PLACE, &maxrel, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    MPI_Allreduce(MPI_IN_PLACE, &exact, 1, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
    MPI_Allreduce(MPI_IN_PLACE, &seen, 1, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
    MPI_Allreduce(MPI_IN_PLACE, &changed, 1, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
    CHECK_MSG(maxrel <= TOL, "%s: largest relative difference to R %.3g", name, maxrel);
    CHECK(seen == fx.n_imp);
    CHECK_MSG(changed == 0, "%s: %lld observed values changed", name, (long long)changed);

    /* The reference port agrees with R too (it is what the larger cases are checked against). */
    float *ref = malloc(sizeof(float) * (size_t)(fx.n * fx.p));
    reference(fx.x, fx.n, fx.p, fx.opt.k, fx.opt.rowmax, ref);
    double refrel = 0;
    for (int64_t e = 0; e < fx.n_imp; e++) {
      double v = ref[fx.imp_s[e] * fx.p + fx.imp_f[e]], r = fx.imp_v[e];
      refrel = fmax(refrel, fabs(v - r) / fmax(1.0, fabs(r)));
    }
    CHECK_MSG(refrel <= TOL, "%s: the reference port differs from R by %.3g", name, refrel);
    free(ref);
    if (g_rank == 0)
      printf("  %-13s %3lld x %3lld k %2d: %4lld imputed (%lld rowmax features, %lld from sample "
             "means), max rel. diff to R %.2e, %lld/%lld equal to R's value as float\n",
             name, (long long)fx.n, (long long)fx.p, fx.opt.k, (long long)fx.n_imp,
             (long long)fx.rowmax_features, (long long)fx.unresolved, maxrel, (long long)exact,
             (long long)seen);
  }
  ovq_strings_free(&ids);
  ovq_matrix_free(&m);
  fixture_free(&fx);
}

/* ---- Synthetic data ------------------------------------------------------------------------ */
/* [n][p]: `groups` co-expressed groups; values on a grid of step `grid` (grid 1: integers, many
 * equal distances); missing at random with probability rate. */
static float *synth(int64_t n, int64_t p, int groups, double grid, double rate, uint64_t seed) {
  float *x = malloc(sizeof(float) * (size_t)(n * p));
  double *cen = malloc(sizeof(double) * (size_t)(groups * n));
  OvqRng r;
  ovq_rng_init(&r, seed, OVQ_STREAM_TEST, 0);
  for (int64_t i = 0; i < groups * n; i++)
    cen[i] = 1.5 * ovq_rng_normal(&r);
  for (int64_t j = 0; j < p; j++) {
    int g = (int)ovq_rng_below(&r, (uint64_t)groups);
    double off = 8 + 2 * ovq_rng_normal(&r);
    for (int64_t i = 0; i < n; i++) {
      double v = cen[g * n + i] + off + 0.7 * ovq_rng_normal(&r);
      x[i * p + j] = (float)(round(v / grid) * grid);
    }
  }
  for (int64_t i = 0; i < n * p; i++)
    if (ovq_rng_uniform(&r) < rate) x[i] = NAN;
  free(cen);
  return x;
}

/* The library on the world communicator against the reference, bit for bit. */
static void check_against_reference(const char *what, const float *x, int64_t n, int64_t p,
                                    const OvqKnnOptions *opt) {
  OvqMatrix m;
  scatter(x, n, p, MPI_COMM_WORLD, &m, NULL);
  OvqKnnReport rep;
  OvqStatus st = ovq_impute_knn(&m, opt, NULL, MPI_COMM_WORLD, &rep);
  CHECK_MSG(st == OVQ_OK, "%s: %s", what, ovq_error_message());
  float *got = malloc(sizeof(float) * (size_t)(n * p)),
        *ref = malloc(sizeof(float) * (size_t)(n * p));
  gather(&m, MPI_COMM_WORLD, got);
  reference(x, n, p, opt->k, opt->rowmax, ref);
  int64_t diff = 0, nan = 0;
  double maxabs = 0;
  for (int64_t i = 0; i < n * p; i++) {
    nan += isnan(got[i]) != 0;
    if (memcmp(&got[i], &ref[i], sizeof(float)) != 0) {
      diff++;
      maxabs = fmax(maxabs, fabs((double)got[i] - ref[i]));
    }
  }
  CHECK_MSG(diff == 0 && nan == 0, "%s: %lld values differ from the reference (max %.3g), %lld NaN",
            what, (long long)diff, maxabs, (long long)nan);
  if (g_rank == 0)
    printf("  %-40s %4lld x %4lld k %2d: %6lld missing, %lld rowmax features: %s\n", what,
           (long long)n, (long long)p, opt->k, (long long)rep.n_missing,
           (long long)rep.n_rowmax_features, diff ? "DIFFERENT" : "identical");
  free(got);
  free(ref);
  ovq_matrix_free(&m);
}

static void check_reference_cases(void) {
  OvqKnnOptions o = ovq_knn_defaults();
  /* Several row chunks (256) and candidate tiles (2048) at 1 rank; integer values, so many
   * distances are equal; duplicated features (distance 0 to a lower-indexed twin). */
  const int64_t n1 = 16, p1 = 2500;
  float *x = synth(n1, p1, 6, 1.0, 0.05, 11);
  for (int64_t i = 0; i < n1; i++) {
    x[i * p1 + 40] = x[i * p1 + 7];
    x[i * p1 + 2000] = x[i * p1 + 1999];
  }
  x[3 * p1 + 7] = NAN;
  o.maxp = p1;
  check_against_reference("tiles and chunks, integer data, twins", x, n1, p1, &o);
  free(x);

  /* Finer values, k = 4, exactly one rowmax feature (R would leave it at 0). */
  const int64_t n2 = 30, p2 = 300;
  x = synth(n2, p2, 4, 1.0 / 256, 0.03, 12);
  for (int64_t i = 1; i < 20; i++)
    x[i * p2 + 5] = NAN;
  o = ovq_knn_defaults();
  o.k = 4;
  check_against_reference("k = 4, one rowmax feature", x, n2, p2, &o);
  free(x);

  /* Exactly equal distances that the DGEMM route cannot resolve: per group a base a(s) in
   * [1100, 1900] at full float precision (100 samples: sums of squares round), 4 features equal
   * to it (the only ones with missing values) and complete features a(s) + m sigma_j(s) e(s),
   * eight with m = 1 and four with m = 2, with e(s) in (0, 1] on a's float grid and random signs
   * sigma_j(s): features with the same m are at exactly the same distance m^2 mean(e^2) from
   * the base features in R's arithmetic, but their values differ, and the (k+1)-th nearest falls
   * among the eight at m = 1, where the feature index decides. (Checked: with the shortlist
   * tolerance set to 0 the library fails this case.) */
  {
    const int64_t n4 = 100, groups = 20, per = 16, p4 = groups * per;
    OvqRng r;
    ovq_rng_init(&r, 16, OVQ_STREAM_TEST, 1);
    int64_t *perm = malloc(sizeof(int64_t) * (size_t)p4);
    for (int64_t j = 0; j < p4; j++)
      perm[j] = j;
    for (int64_t j = p4 - 1; j > 0; j--) {
      int64_t t = (int64_t)ovq_rng_below(&r, (uint64_t)(j + 1)), tmp = perm[j];
      perm[j] = perm[t];
      perm[t] = tmp;
    }
    x = malloc(sizeof(float) * (size_t)(n4 * p4));
    for (int64_t g = 0; g < groups; g++)
      for (int64_t i = 0; i < n4; i++) {
        const float a = (float)(1100 + 800 * ovq_rng_uniform(&r));
        const float e = ldexpf(1.0f, -13) * (float)(1 + ovq_rng_below(&r, 8192));
        for (int t = 0; t < per; t++) {
          const int64_t j = perm[g * per + t];
          const int m = t < 4 ? 0 : t < 12 ? 1 : 2;
          const float sign = ovq_rng_below(&r, 2) ? 1.0f : -1.0f;
          x[i * p4 + j] = a + sign * (float)m * e;
          if (m == 0 && ovq_rng_uniform(&r) < 0.1) x[i * p4 + j] = NAN;
        }
      }
    free(perm);
    o = ovq_knn_defaults();
    check_against_reference("equal distances, large values", x, n4, p4, &o);
    free(x);
  }

  /* Fewer features than k + 1: all the others are the neighbours. */
  const int64_t n3 = 12, p3 = 6;
  x = synth(n3, p3, 2, 1.0 / 16, 0.1, 13);
  o = ovq_knn_defaults();
  check_against_reference("6 features, k = 10", x, n3, p3, &o);
  free(x);

  /* Nothing missing: nothing changes. */
  x = synth(10, 20, 2, 1.0 / 16, 0.0, 14);
  check_against_reference("no missing value", x, 10, 20, &o);
  free(x);
}

/* ---- 3. The split: the same bytes on 1, 2 and 4 ranks -------------------------------------- */
static void check_split(void) {
  const int64_t n = 30, p = 400;
  float *x = synth(n, p, 5, 1.0 / 256, 0.05, 21);
  for (int64_t i = 0; i < 22; i++)
    x[i * p + 9] = NAN; /* rowmax features */
  for (int64_t i = 3; i < 25; i++)
    x[i * p + 10] = NAN;
  for (int64_t i = 0; i < n; i++)
    x[i * p + 50] = x[i * p + 49]; /* identical twins */
  OvqKnnOptions o = ovq_knn_defaults();
  o.k = 5;
  o.maxp = 40;
  o.seed = 7;
  float *first = malloc(sizeof(float) * (size_t)(n * p)),
        *got = malloc(sizeof(float) * (size_t)(n * p));
  int sizes[3] = {1, 2, 4};
  for (int t = 0; t < 3; t++) {
    const int s = sizes[t];
    if (s > g_size || g_size % s) continue;
    MPI_Comm sub;
    MPI_Comm_split(MPI_COMM_WORLD, g_rank / s, g_rank, &sub);
    OvqMatrix m;
    scatter(x, n, p, sub, &m, NULL);
    OvqKnnReport rep;
    OvqStatus st = ovq_impute_knn(&m, &o, NULL, sub, &rep);
    CHECK_MSG(st == OVQ_OK, "split at %d ranks: %s", s, ovq_error_message());
    gather(&m, sub, got);
    if (s == 1) { /* world rank 0's run is the one every other is compared with */
      memcpy(first, got, sizeof(float) * (size_t)(n * p));
      MPI_Bcast(first, (int)(n * p), MPI_FLOAT, 0, MPI_COMM_WORLD);
      /* Filled, observed unchanged, within the sample's observed range. */
      int64_t bad = 0;
      for (int64_t i = 0; i < n; i++) {
        float lo = INFINITY, hi = -INFINITY;
        for (int64_t j = 0; j < p; j++)
          if (!isnan(x[i * p + j])) lo = fminf(lo, x[i * p + j]), hi = fmaxf(hi, x[i * p + j]);
        for (int64_t j = 0; j < p; j++) {
          float v = got[i * p + j], in = x[i * p + j];
          if (isnan(in) ? (isnan(v) || v < lo || v > hi) : memcmp(&v, &in, sizeof v) != 0) bad++;
        }
      }
      CHECK_MSG(bad == 0, "split: %lld values unfilled, changed or out of range", (long long)bad);
      CHECK_MSG(rep.n_blocks >= (p - 2 + o.maxp - 1) / o.maxp,
                "split: %lld parts for %lld features at maxp %lld", (long long)rep.n_blocks,
                (long long)p - 2, (long long)o.maxp);
      CHECK(rep.n_rowmax_features == 2);
      if (g_rank == 0)
        printf("  split: %lld x %lld, maxp %lld: %lld parts, %lld missing, all filled\n",
               (long long)n, (long long)p, (long long)o.maxp, (long long)rep.n_blocks,
               (long long)rep.n_missing);
    }
    int64_t diff = 0;
    for (int64_t i = 0; i < n * p; i++)
      diff += memcmp(&got[i], &first[i], sizeof(float)) != 0;
    CHECK_MSG(diff == 0, "split on %d ranks: %lld values differ from 1 rank", s, (long long)diff);
    if (g_rank == 0)
      printf("  split on %d rank(s): %s 1 rank\n", s, diff ? "DIFFERS from" : "same bytes as");
    ovq_matrix_free(&m);
    MPI_Comm_free(&sub);
  }
  free(first);
  free(got);
  free(x);
}

/* ---- 4. User errors ------------------------------------------------------------------------ */
static void expect_error(const char *what, const float *x, int64_t n, int64_t p,
                         const OvqKnnOptions *o, const char *needle) {
  OvqMatrix m;
  OvqStrings ids;
  scatter(x, n, p, MPI_COMM_WORLD, &m, &ids);
  ovq_error_clear();
  OvqStatus st = ovq_impute_knn(&m, o, &ids, MPI_COMM_WORLD, NULL);
  CHECK_MSG(st == OVQ_ERR && strstr(ovq_error_message(), needle),
            "%s: expected an error naming \"%s\", got %s: %s", what, needle,
            st == OVQ_OK ? "OK" : "error", ovq_error_message());
  if (g_rank == 0) printf("  %-28s %s\n", what, ovq_error_message());
  ovq_strings_free(&ids);
  ovq_matrix_free(&m);
}

static void check_errors(void) {
  const int64_t n = 10, p = 4;
  float *x = synth(n, p, 1, 1.0 / 16, 0.0, 31);
  OvqKnnOptions o = ovq_knn_defaults();
  o.k = 0;
  expect_error("k = 0", x, n, p, &o, "k = 0");
  o = ovq_knn_defaults();
  /* Sample 7 misses features 0-2 (75% <= colmax); feature 3 misses 6 of 10 samples (> rowmax)
   * but not sample 7: no kept feature observes sample 7. */
  for (int64_t j = 0; j < 3; j++)
    x[7 * p + j] = NAN;
  for (int64_t i = 0; i < 6; i++)
    x[i * p + 3] = NAN;
  expect_error("no observed kept feature", x, n, p, &o, "'S007'");
  free(x);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  ovq_log_init(MPI_COMM_WORLD);
  ovq_log_set_level(OVQ_LOG_WARN);
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_size);
  CHECK_MSG(argc > 1, "usage: test_impute <fixtures dir>");
  if (argc > 1) {
    if (g_rank == 0) printf("R's impute.knn at %d rank(s):\n", g_size);
    const char *names[] = {"default", "k3_ties", "rowmax", "many_missing", "colmax_error"};
    for (int i = 0; i < 5; i++)
      check_fixture(argv[1], names[i]);
  }
  if (g_rank == 0) printf("against the reference port, bit for bit:\n");
  check_reference_cases();
  if (g_rank == 0) printf("split above maxp:\n");
  check_split();
  if (g_rank == 0) printf("user errors:\n");
  check_errors();
  int rc = test_finish("test_impute");
  MPI_Finalize();
  return rc;
}
