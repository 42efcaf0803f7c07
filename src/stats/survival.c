/* Survival analysis of clusters (see include/ovq/survival.h): the known (time, event, group)
 * triples are allgathered once; Kaplan-Meier, log-rank and Cox are then computed on every rank
 * from the same data in the same order, following R's survival 3.5 (survfitKM, survmean's
 * minmin, survdiff2.c, coxfit6.c with cholesky2 / chsolve2) so that results agree to rounding. */
#include "ovq/survival.h"

#include <float.h>
#include <gsl/gsl_cdf.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ovq/padjust.h"

/* ---- gathering ------------------------------------------------------------------------------ */

OvqStatus ovq_survival_gather(const double *time, const int8_t *event, const int32_t *group,
                              int64_t n_local, MPI_Comm comm, OvqSurvData *out) {
  memset(out, 0, sizeof *out);
  int size;
  OVQ_MPI_CHECK(MPI_Comm_size(comm, &size));
  /* {bad arguments, largest group}: one allreduce agrees on both */
  int64_t flags[2] = {n_local < 0 || (n_local > 0 && (!time || !event || !group)), -1};
  /* Packed as doubles (time, event, group: the codes are exact) for one Allgatherv. */
  int64_t known = 0;
  double *mine = OVQ_MALLOC(sizeof(double) * 3 * (size_t)(n_local > 0 ? n_local : 1));
  int64_t unknown_local = 0;
  for (int64_t i = 0; i < n_local && !flags[0]; i++) {
    if (!isfinite(time[i]) || time[i] < 0 || (event[i] != 0 && event[i] != 1) || group[i] < 0) {
      unknown_local++;
      continue;
    }
    if (group[i] > flags[1]) flags[1] = group[i];
    mine[3 * known] = time[i];
    mine[3 * known + 1] = event[i];
    mine[3 * known + 2] = group[i];
    known++;
  }
  OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, flags, 2, MPI_INT64_T, MPI_MAX, comm));
  if (flags[0] || flags[1] >= OVQ_SURVIVAL_MAX_GROUPS) {
    free(mine);
    if (flags[0])
      return ovq_error("survival: no data passed on some rank (n_local or NULL arrays)");
    return ovq_error("survival: group code %lld exceeds %d; groups must be codes 0..k-1",
                     (long long)flags[1], OVQ_SURVIVAL_MAX_GROUPS - 1);
  }
  int64_t counts2[2] = {known, unknown_local};
  int64_t *all = OVQ_MALLOC(sizeof(int64_t) * 2 * (size_t)size);
  OVQ_MPI_CHECK(MPI_Allgather(counts2, 2, MPI_INT64_T, all, 2, MPI_INT64_T, comm));
  int *recv = OVQ_MALLOC(sizeof(int) * (size_t)size),
      *displ = OVQ_MALLOC(sizeof(int) * (size_t)size);
  int64_t n = 0;
  for (int r = 0; r < size; r++) {
    recv[r] = OVQ_INT(3 * all[2 * r], "survival samples");
    displ[r] = OVQ_INT(3 * n, "survival samples");
    n += all[2 * r];
    out->n_unknown += all[2 * r + 1];
  }
  double *packed = OVQ_MALLOC(sizeof(double) * 3 * (size_t)(n > 0 ? n : 1));
  OVQ_MPI_CHECK(MPI_Allgatherv(mine, OVQ_INT(3 * known, "survival samples"), MPI_DOUBLE, packed,
                               recv, displ, MPI_DOUBLE, comm));
  out->n = n;
  out->n_groups = (int)(flags[1] + 1);
  out->time = OVQ_MALLOC(sizeof(double) * (size_t)(n > 0 ? n : 1));
  out->event = OVQ_MALLOC(sizeof(int8_t) * (size_t)(n > 0 ? n : 1));
  out->group = OVQ_MALLOC(sizeof(int32_t) * (size_t)(n > 0 ? n : 1));
  out->size = OVQ_CALLOC((size_t)out->n_groups + 1, sizeof(int64_t));
  for (int64_t i = 0; i < n; i++) {
    out->time[i] = packed[3 * i];
    out->event[i] = (int8_t)packed[3 * i + 1];
    out->group[i] = (int32_t)packed[3 * i + 2];
    out->size[out->group[i]]++;
  }
  free(packed);
  free(recv);
  free(displ);
  free(all);
  free(mine);
  return OVQ_OK;
}

void ovq_survival_data_free(OvqSurvData *d) {
  if (!d) return;
  free(d->time);
  free(d->event);
  free(d->group);
  free(d->size);
  memset(d, 0, sizeof *d);
}

/* Indices of the samples sorted by time (ties by index, so the order is deterministic). */
static const double *g_sort_time;
static int by_time(const void *a, const void *b) {
  int64_t i = *(const int64_t *)a, j = *(const int64_t *)b;
  double ti = g_sort_time[i], tj = g_sort_time[j];
  if (ti != tj) return ti < tj ? -1 : 1;
  return (i > j) - (i < j);
}
static int64_t *sorted_by_time(const OvqSurvData *d) {
  int64_t *idx = OVQ_MALLOC(sizeof(int64_t) * (size_t)(d->n > 0 ? d->n : 1));
  for (int64_t i = 0; i < d->n; i++)
    idx[i] = i;
  g_sort_time = d->time;
  qsort(idx, (size_t)d->n, sizeof(int64_t), by_time);
  return idx;
}

/* ---- Kaplan-Meier --------------------------------------------------------------------------- */

/* survmean's minmin(): the first time y drops to 0.5 (within sqrt(eps)); the midpoint to the
 * next lower step when y equals 0.5 there. Points with skip[i] set are R's NA limits. */
static int km_minmin(const double *y, const double *x, const int *skip, int64_t m, double *out) {
  const double tol = sqrt(DBL_EPSILON);
  int64_t first = -1;
  for (int64_t i = 0; i < m; i++)
    if (!(skip && skip[i]) && y[i] < 0.5 + tol) {
      first = i;
      break;
    }
  *out = INFINITY;
  if (first < 0) return 0;
  *out = x[first];
  if (fabs(y[first] - 0.5) < tol)
    for (int64_t i = first + 1; i < m; i++)
      if (!(skip && skip[i]) && y[i] < 0.5 + tol && y[i] < y[first]) {
        *out = (x[first] + x[i]) / 2;
        break;
      }
  return 1;
}

void ovq_survival_km(const OvqSurvData *d, OvqKm *out) {
  memset(out, 0, sizeof *out);
  for (int g = 0; g < d->n_groups; g++)
    out->n_curves += d->size[g] > 0;
  out->curve = OVQ_CALLOC((size_t)out->n_curves + 1, sizeof(OvqKmCurve));
  int64_t *idx = sorted_by_time(d);
  const double z = gsl_cdf_ugaussian_Pinv(0.975);
  int c = 0;
  for (int g = 0; g < d->n_groups; g++) {
    if (d->size[g] == 0) continue;
    OvqKmCurve *k = &out->curve[c++];
    int64_t n = d->size[g];
    k->group = g;
    k->n = n;
    size_t sz = (size_t)n;
    k->time = OVQ_MALLOC(sizeof(double) * sz);
    k->n_risk = OVQ_MALLOC(sizeof(int64_t) * sz);
    k->n_event = OVQ_MALLOC(sizeof(int64_t) * sz);
    k->n_censor = OVQ_MALLOC(sizeof(int64_t) * sz);
    k->surv = OVQ_MALLOC(sizeof(double) * sz);
    k->std_err = OVQ_MALLOC(sizeof(double) * sz);
    k->lower = OVQ_MALLOC(sizeof(double) * sz);
    k->upper = OVQ_MALLOC(sizeof(double) * sz);
    int *zero = OVQ_CALLOC(sz, sizeof(int));
    int64_t at_risk = n, m = 0;
    double s = 1.0, var = 0.0; /* Greenwood: var(-log S) = sum d / (n (n - d)) */
    for (int64_t p = 0; p < d->n;) {
      int64_t i = idx[p];
      if (d->group[i] != g) {
        p++;
        continue;
      }
      double t = d->time[i];
      int64_t ev = 0, cens = 0;
      for (; p < d->n && d->time[idx[p]] == t; p++)
        if (d->group[idx[p]] == g) {
          if (d->event[idx[p]])
            ev++;
          else
            cens++;
        }
      k->time[m] = t;
      k->n_risk[m] = at_risk;
      k->n_event[m] = ev;
      k->n_censor[m] = cens;
      if (ev > 0) {
        s *= (double)(at_risk - ev) / (double)at_risk;
        var =
            ev < at_risk ? var + (double)ev / ((double)at_risk * (double)(at_risk - ev)) : INFINITY;
      }
      k->surv[m] = s;
      k->n_events += ev;
      if (s > 0) {
        double se = sqrt(var);
        k->std_err[m] = se;
        k->lower[m] = exp(log(s) - z * se);
        k->upper[m] = fmin(1.0, exp(log(s) + z * se));
      } else {
        k->std_err[m] = INFINITY;
        k->lower[m] = k->upper[m] = 0.0;
        zero[m] = 1;
      }
      at_risk -= ev + cens;
      m++;
    }
    k->n_times = m;
    k->median_reached = km_minmin(k->surv, k->time, NULL, m, &k->median);
    k->median_lower_reached = km_minmin(k->lower, k->time, zero, m, &k->median_lower);
    k->median_upper_reached = km_minmin(k->upper, k->time, zero, m, &k->median_upper);
    free(zero);
  }
  free(idx);
}

void ovq_survival_km_free(OvqKm *km) {
  if (!km) return;
  for (int c = 0; c < km->n_curves; c++) {
    OvqKmCurve *k = &km->curve[c];
    free(k->time);
    free(k->n_risk);
    free(k->n_event);
    free(k->n_censor);
    free(k->surv);
    free(k->std_err);
    free(k->lower);
    free(k->upper);
  }
  free(km->curve);
  memset(km, 0, sizeof *km);
}

/* ---- log-rank ------------------------------------------------------------------------------- */

/* Solves a x = b (a: [m][m], overwritten; b -> x) by Gaussian elimination with partial
 * pivoting; returns 0 if a is singular. */
static int solve_small(double *a, double *b, int m) {
  for (int c = 0; c < m; c++) {
    int piv = c;
    for (int r = c + 1; r < m; r++)
      if (fabs(a[r * m + c]) > fabs(a[piv * m + c])) piv = r;
    if (a[piv * m + c] == 0.0) return 0;
    if (piv != c) {
      for (int j = 0; j < m; j++) {
        double t = a[c * m + j];
        a[c * m + j] = a[piv * m + j];
        a[piv * m + j] = t;
      }
      double t = b[c];
      b[c] = b[piv];
      b[piv] = t;
    }
    for (int r = c + 1; r < m; r++) {
      double f = a[r * m + c] / a[c * m + c];
      for (int j = c; j < m; j++)
        a[r * m + j] -= f * a[c * m + j];
      b[r] -= f * b[c];
    }
  }
  for (int c = m - 1; c >= 0; c--) {
    double v = b[c];
    for (int j = c + 1; j < m; j++)
      v -= a[c * m + j] * b[j];
    b[c] = v / a[c * m + c];
  }
  return 1;
}

/* survdiff (rho = 0) over the samples whose group has use[g] set; idx sorts d by time. */
static void logrank_groups(const OvqSurvData *d, const int64_t *idx, const int *use,
                           OvqLogrank *out) {
  const int k = d->n_groups;
  double *o = OVQ_CALLOC((size_t)k, sizeof(double)), *e = OVQ_CALLOC((size_t)k, sizeof(double));
  double *v = OVQ_CALLOC((size_t)k * (size_t)k, sizeof(double));
  double *risk = OVQ_CALLOC((size_t)k, sizeof(double)), *dg = OVQ_CALLOC((size_t)k, sizeof(double));
  double total = 0;
  for (int g = 0; g < k; g++)
    if (use[g]) {
      risk[g] = (double)d->size[g];
      total += risk[g];
    }
  for (int64_t p = 0; p < d->n;) {
    double t = d->time[idx[p]], deaths = 0, leaving = 0;
    memset(dg, 0, sizeof(double) * (size_t)k);
    int64_t q = p;
    for (; q < d->n && d->time[idx[q]] == t; q++) {
      int64_t i = idx[q];
      if (!use[d->group[i]]) continue;
      leaving++;
      if (d->event[i]) {
        dg[d->group[i]]++;
        deaths++;
      }
    }
    if (deaths > 0) {
      double f = total > 1 ? deaths * (total - deaths) / (total - 1) / total : 0.0;
      for (int a = 0; a < k; a++) {
        if (!use[a]) continue;
        o[a] += dg[a];
        e[a] += risk[a] * deaths / total;
        for (int b = 0; b < k; b++)
          if (use[b]) v[a * k + b] += f * ((a == b ? risk[a] : 0.0) - risk[a] * risk[b] / total);
      }
    }
    for (int64_t r = p; r < q; r++)
      if (use[d->group[idx[r]]]) risk[d->group[idx[r]]]--;
    total -= leaving;
    p = q;
  }
  /* As survdiff: groups with expected 0 are dropped, then the first remaining one. */
  int *keep = OVQ_MALLOC(sizeof(int) * (size_t)(k > 0 ? k : 1));
  int m = 0;
  for (int g = 0; g < k; g++)
    if (use[g] && e[g] > 0) keep[m++] = g;
  out->chisq = 0.0;
  out->df = 0;
  out->p = 1.0;
  out->note = "";
  if (m < 2) {
    out->note = m == 0 ? "no events: nothing to test" : "events in one group only: nothing to test";
  } else {
    int mm = m - 1;
    double *a = OVQ_MALLOC(sizeof(double) * (size_t)(mm * mm)),
           *b = OVQ_MALLOC(sizeof(double) * (size_t)mm),
           *r = OVQ_MALLOC(sizeof(double) * (size_t)mm);
    for (int i = 0; i < mm; i++) {
      r[i] = b[i] = o[keep[i + 1]] - e[keep[i + 1]];
      for (int j = 0; j < mm; j++)
        a[i * mm + j] = v[keep[i + 1] * k + keep[j + 1]];
    }
    if (solve_small(a, b, mm)) {
      double chi = 0.0;
      for (int i = 0; i < mm; i++)
        chi += b[i] * r[i];
      out->chisq = chi;
      out->df = mm;
      out->p = gsl_cdf_chisq_Q(chi, mm);
    } else {
      out->note = "singular log-rank variance: nothing to test";
    }
    free(a);
    free(b);
    free(r);
  }
  free(keep);
  free(o);
  free(e);
  free(v);
  free(risk);
  free(dg);
}

void ovq_survival_logrank(const OvqSurvData *d, OvqLogrank *out) {
  int *use = OVQ_CALLOC((size_t)d->n_groups + 1, sizeof(int));
  for (int g = 0; g < d->n_groups; g++)
    use[g] = d->size[g] > 0;
  int64_t *idx = sorted_by_time(d);
  logrank_groups(d, idx, use, out);
  free(idx);
  free(use);
}

void ovq_survival_pairwise(const OvqSurvData *d, OvqPairwise *out) {
  memset(out, 0, sizeof *out);
  int present = 0;
  for (int g = 0; g < d->n_groups; g++)
    present += d->size[g] > 0;
  int np = present * (present - 1) / 2;
  out->n_pairs = np;
  out->group_a = OVQ_MALLOC(sizeof(int32_t) * (size_t)(np + 1));
  out->group_b = OVQ_MALLOC(sizeof(int32_t) * (size_t)(np + 1));
  out->test = OVQ_CALLOC((size_t)np + 1, sizeof(OvqLogrank));
  out->p_adjusted = OVQ_MALLOC(sizeof(double) * (size_t)(np + 1));
  double *p = OVQ_MALLOC(sizeof(double) * (size_t)(np + 1));
  int *use = OVQ_CALLOC((size_t)d->n_groups + 1, sizeof(int));
  int64_t *idx = sorted_by_time(d);
  int k = 0;
  for (int a = 0; a < d->n_groups; a++)
    for (int b = a + 1; b < d->n_groups; b++) {
      if (d->size[a] == 0 || d->size[b] == 0) continue;
      use[a] = use[b] = 1;
      logrank_groups(d, idx, use, &out->test[k]);
      use[a] = use[b] = 0;
      out->group_a[k] = a;
      out->group_b[k] = b;
      p[k] = out->test[k].p;
      k++;
    }
  ovq_bh_adjust(p, np, out->p_adjusted);
  free(idx);
  free(use);
  free(p);
}

void ovq_survival_pairwise_free(OvqPairwise *pw) {
  if (!pw) return;
  free(pw->group_a);
  free(pw->group_b);
  free(pw->test);
  free(pw->p_adjusted);
  memset(pw, 0, sizeof *pw);
}

/* ---- Cox proportional hazards ---------------------------------------------------------------- */

/* R's cholesky2 (survival/src/cholesky2.c): LDL' in place in the lower triangle of a [m][m];
 * pivots below toler * max diagonal count as zero (the column is left out). Returns the rank. */
static int cholesky2(double *a, int m, double toler) {
  double eps = 0;
  for (int i = 0; i < m; i++) {
    if (a[i * m + i] > eps) eps = a[i * m + i];
    for (int j = i + 1; j < m; j++)
      a[j * m + i] = a[i * m + j];
  }
  eps = eps == 0 ? toler : eps * toler;
  int rank = 0;
  for (int i = 0; i < m; i++) {
    double pivot = a[i * m + i];
    if (!isfinite(pivot) || pivot < eps) {
      a[i * m + i] = 0;
    } else {
      rank++;
      for (int j = i + 1; j < m; j++) {
        double t = a[j * m + i] / pivot;
        a[j * m + i] = t;
        a[j * m + j] -= t * t * pivot;
        for (int l = j + 1; l < m; l++)
          a[l * m + j] -= t * a[l * m + i];
      }
    }
  }
  return rank;
}

/* R's chsolve2: solves with the factor of cholesky2; zero pivots give 0. */
static void chsolve2(const double *a, int m, double *y) {
  for (int i = 0; i < m; i++) {
    double t = y[i];
    for (int j = 0; j < i; j++)
      t -= y[j] * a[i * m + j];
    y[i] = t;
  }
  for (int i = m - 1; i >= 0; i--) {
    if (a[i * m + i] == 0) {
      y[i] = 0;
    } else {
      double t = y[i] / a[i * m + i];
      for (int j = i + 1; j < m; j++)
        t -= y[j] * a[j * m + i];
      y[i] = t;
    }
  }
}

/* Efron partial log-likelihood, score u [m] and information imat [m][m] at beta, the covariate
 * of sample i being the dummy of coefficient col[i] (-1 for the reference group). Risk sets are
 * accumulated from the longest time down (coxfit6's order). */
static double efron(const OvqSurvData *d, const int64_t *idx, const int *col, int m,
                    const double *beta, double *u, double *imat) {
  /* With dummies, sum w x is per-coefficient and sum w x x' is diagonal. */
  double denom = 0, *a = OVQ_CALLOC((size_t)m + 1, sizeof(double));
  double *ad = OVQ_CALLOC((size_t)m + 1, sizeof(double));
  memset(u, 0, sizeof(double) * (size_t)m);
  memset(imat, 0, sizeof(double) * (size_t)(m * m));
  double loglik = 0;
  for (int64_t p = d->n - 1; p >= 0;) {
    double t = d->time[idx[p]], denom_d = 0, deaths = 0;
    memset(ad, 0, sizeof(double) * (size_t)m);
    int64_t q = p;
    for (; q >= 0 && d->time[idx[q]] == t; q--) {
      int64_t i = idx[q];
      int c = col[i];
      double eta = c >= 0 ? beta[c] : 0.0, w = exp(eta);
      denom += w;
      if (c >= 0) a[c] += w;
      if (d->event[i]) {
        deaths++;
        denom_d += w;
        loglik += eta;
        if (c >= 0) {
          ad[c] += w;
          u[c] += 1.0;
        }
      }
    }
    for (int r = 0; r < (int)deaths; r++) {
      double f = r / deaths, dd = denom - f * denom_d;
      loglik -= log(dd);
      for (int c = 0; c < m; c++) {
        double xbar = (a[c] - f * ad[c]) / dd;
        u[c] -= xbar;
        imat[c * m + c] += xbar; /* E[x^2] = E[x] for a dummy */
        for (int c2 = 0; c2 < m; c2++)
          imat[c * m + c2] -= xbar * (a[c2] - f * ad[c2]) / dd;
      }
    }
    p = q;
  }
  free(a);
  free(ad);
  return loglik;
}

static void cox_alloc(OvqCox *c, int m) {
  size_t s = (size_t)m + 1;
  c->n_coef = m;
  c->group = OVQ_CALLOC(s, sizeof(int32_t));
  c->coef = OVQ_CALLOC(s, sizeof(double));
  c->se = OVQ_CALLOC(s, sizeof(double));
  c->hr = OVQ_CALLOC(s, sizeof(double));
  c->hr_lower = OVQ_CALLOC(s, sizeof(double));
  c->hr_upper = OVQ_CALLOC(s, sizeof(double));
  c->p = OVQ_CALLOC(s, sizeof(double));
  c->infinite = OVQ_CALLOC(s, sizeof(int));
  for (int i = 0; i < m; i++) {
    c->hr[i] = c->hr_lower[i] = c->hr_upper[i] = c->p[i] = 1.0;
  }
  c->lrt_p = c->wald_p = c->score_p = 1.0;
}

void ovq_survival_cox(const OvqSurvData *d, OvqCox *out) {
  memset(out, 0, sizeof *out);
  out->reference = -1;
  out->note = "";
  int *colof = OVQ_MALLOC(sizeof(int) * ((size_t)d->n_groups + 1));
  int m = -1;
  for (int g = 0; g < d->n_groups; g++) {
    colof[g] = -2;
    if (d->size[g] == 0) continue;
    if (m < 0) out->reference = g;
    colof[g] = m++;
  }
  if (m < 0) m = 0;
  cox_alloc(out, m);
  for (int g = 0; g < d->n_groups; g++)
    if (colof[g] >= 0) out->group[colof[g]] = g;
  int64_t events = 0;
  for (int64_t i = 0; i < d->n; i++)
    events += d->event[i];
  if (m == 0 || events == 0) {
    out->note = m == 0 ? "one group only: Cox model not fitted" : "no events: Cox model not fitted";
    free(colof);
    return;
  }
  int *col = OVQ_MALLOC(sizeof(int) * (size_t)d->n);
  for (int64_t i = 0; i < d->n; i++)
    col[i] = colof[d->group[i]];
  free(colof);
  int64_t *idx = sorted_by_time(d);

  /* coxph.control defaults */
  const double eps = 1e-9, toler_chol = pow(DBL_EPSILON, 0.75), toler_inf = sqrt(eps);
  const int iter_max = 20;
  size_t mm = (size_t)(m * m);
  double *beta = OVQ_CALLOC((size_t)m, sizeof(double)),
         *newbeta = OVQ_CALLOC((size_t)m, sizeof(double));
  double *u = OVQ_MALLOC(sizeof(double) * (size_t)m), *imat = OVQ_MALLOC(sizeof(double) * mm);
  double *step = OVQ_MALLOC(sizeof(double) * (size_t)m),
         *maxbeta = OVQ_MALLOC(sizeof(double) * (size_t)m);

  /* coxfit6: loglik, score test and first step at beta = 0 */
  double loglik = efron(d, idx, col, m, beta, u, imat);
  out->loglik0 = loglik;
  for (int i = 0; i < m; i++)
    maxbeta[i] = 20 * sqrt(imat[i * m + i] / (double)events);
  memcpy(step, u, sizeof(double) * (size_t)m);
  cholesky2(imat, m, toler_chol);
  chsolve2(imat, m, step);
  double sc = 0;
  for (int i = 0; i < m; i++) {
    sc += step[i] * u[i];
    newbeta[i] = beta[i] + step[i];
  }
  out->score = sc;
  int halving = 0, converged = 0, iter;
  double newlk = loglik;
  for (iter = 1; iter <= iter_max; iter++) {
    newlk = efron(d, idx, col, m, newbeta, u, imat);
    if (fabs(1 - loglik / newlk) <= eps && !halving) {
      converged = 1;
      break;
    }
    if (iter == iter_max) break;
    if (newlk < loglik) { /* not converging: halve the step */
      halving = 1;
      for (int i = 0; i < m; i++)
        newbeta[i] = (newbeta[i] + beta[i]) / 2;
    } else {
      halving = 0;
      loglik = newlk;
      memcpy(step, u, sizeof(double) * (size_t)m);
      cholesky2(imat, m, toler_chol);
      chsolve2(imat, m, step);
      for (int i = 0; i < m; i++) {
        beta[i] = newbeta[i];
        newbeta[i] += step[i];
        if (newbeta[i] > maxbeta[i])
          newbeta[i] = maxbeta[i];
        else if (newbeta[i] < -maxbeta[i])
          newbeta[i] = -maxbeta[i];
      }
    }
  }
  if (iter > iter_max) iter = iter_max;
  out->iterations = iter;
  out->converged = converged;
  out->loglik = newlk;

  /* Variance: the inverse of the information at the fit (chinv2: zero pivots give 0 rows). */
  double *fac = OVQ_MALLOC(sizeof(double) * mm), *var = OVQ_CALLOC(mm, sizeof(double));
  memcpy(fac, imat, sizeof(double) * mm);
  cholesky2(fac, m, toler_chol);
  for (int j = 0; j < m; j++) {
    double *e = step;
    memset(e, 0, sizeof(double) * (size_t)m);
    e[j] = 1.0;
    chsolve2(fac, m, e);
    for (int i = 0; i < m; i++)
      var[i * m + j] = fac[j * m + j] == 0 || fac[i * m + i] == 0 ? 0.0 : e[i];
  }
  const double z = gsl_cdf_ugaussian_Pinv(0.975);
  double wald = 0;
  int infinite = 0;
  for (int i = 0; i < m; i++) {
    double b = newbeta[i], se = sqrt(var[i * m + i]);
    for (int j = 0; j < m; j++)
      wald += b * imat[i * m + j] * newbeta[j];
    out->coef[i] = b;
    out->se[i] = se;
    out->hr[i] = exp(b);
    out->hr_lower[i] = exp(b - z * se);
    out->hr_upper[i] = exp(b + z * se);
    out->p[i] = se > 0 ? 2 * gsl_cdf_ugaussian_Q(fabs(b / se)) : 1.0;
    /* coxph's check: the score times the variance still large against the coefficient */
    double inf = 0;
    for (int j = 0; j < m; j++)
      inf += u[j] * var[j * m + i];
    inf = fabs(inf);
    out->infinite[i] = inf > eps && inf > toler_inf * fabs(b);
    infinite |= out->infinite[i];
  }
  out->fitted = 1;
  out->df = m;
  out->wald = wald;
  out->wald_p = gsl_cdf_chisq_Q(wald, m);
  out->score_p = gsl_cdf_chisq_Q(out->score, m);
  out->lrt = 2 * (out->loglik - out->loglik0);
  out->lrt_p = gsl_cdf_chisq_Q(out->lrt, m);
  if (infinite)
    out->note = "a coefficient may be infinite (a group without events?): its HR and CI are "
                "not meaningful";
  else if (!converged)
    out->note = "Cox fit did not converge in 20 iterations";
  free(fac);
  free(var);
  free(beta);
  free(newbeta);
  free(u);
  free(imat);
  free(step);
  free(maxbeta);
  free(idx);
  free(col);
}

void ovq_survival_cox_free(OvqCox *cox) {
  if (!cox) return;
  free(cox->group);
  free(cox->coef);
  free(cox->se);
  free(cox->hr);
  free(cox->hr_lower);
  free(cox->hr_upper);
  free(cox->p);
  free(cox->infinite);
  memset(cox, 0, sizeof *cox);
}
