/* Differential expression, cluster against rest (see include/ovq/diffexp.h): Welch t-test and
 * Wilcoxon rank-sum following SciPy 1.10's scipy/stats/_stats_py.py (ttest_ind) and
 * _mannwhitneyu.py (asymptotic method) formula by formula, BH as R's p.adjust. The samples are
 * redistributed by features, so each rank sees whole features and needs no further communication
 * until the table is gathered. */
#include "ovq/diffexp.h"

#include <gsl/gsl_cdf.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ovq/padjust.h"
#include "ovq/partition.h"

/* Per (feature, cluster) values computed locally, in this order, before BH. */
enum { F_MEAN_IN, F_MEAN_OUT, F_LOG2FC, F_T, F_T_P, F_U, F_U_P, N_FIELDS };

/* Largest label accepted: labels are cluster codes, not arbitrary numbers. */
#define MAX_LABEL 65535

typedef struct Item {
  double v;
  int32_t label;
} Item;

static int cmp_item(const void *pa, const void *pb) {
  double a = ((const Item *)pa)->v, b = ((const Item *)pb)->v;
  return (a > b) - (a < b);
}

/* Welch's t-test of two groups given their sizes, means and sums of squared deviations
 * (scipy.stats._stats_py._unequal_var_ttest_denom + _ttest_finish), with the rules of the header
 * for the cases where SciPy gives NaN. */
static void welch(int64_t n1, double m1, double ss1, int64_t n2, double m2, double ss2, double *t,
                  double *p) {
  if (n1 < 2 || n2 < 2) {
    *t = 0.0;
    *p = 1.0;
    return;
  }
  double vn1 = ss1 / (double)(n1 - 1) / (double)n1, vn2 = ss2 / (double)(n2 - 1) / (double)n2;
  double d = m1 - m2, denom = sqrt(vn1 + vn2);
  if (denom == 0.0) {
    *t = d == 0.0 ? 0.0 : (d > 0 ? INFINITY : -INFINITY);
    *p = d == 0.0 ? 1.0 : 0.0;
    return;
  }
  double df =
      (vn1 + vn2) * (vn1 + vn2) / (vn1 * vn1 / (double)(n1 - 1) + vn2 * vn2 / (double)(n2 - 1));
  *t = d / denom;
  double pv = 2.0 * gsl_cdf_tdist_Q(fabs(*t), df);
  *p = pv > 1.0 ? 1.0 : pv;
}

/* One feature: col (in: [n] values of all samples in global order), lab (in: [n]); writes
 * res[c * N_FIELDS + field] for every cluster c. Scratch: items [n], 6 k doubles in acc. */
static void test_feature(const float *col, const int32_t *lab, int64_t n, int k,
                         const int64_t *n_in, int64_t n_known, Item *items, double *acc,
                         double *res) {
  double *sum = acc, *rank_sum = acc + k, *mean_in = acc + 2 * k, *mean_out = acc + 3 * k,
         *ss_in = acc + 4 * k, *ss_out = acc + 5 * k;
  memset(acc, 0, sizeof(double) * 6 * (size_t)k);
  int64_t m = 0;
  double total = 0.0;
  for (int64_t i = 0; i < n; i++) {
    if (lab[i] < 0) continue;
    items[m++] = (Item){col[i], lab[i]};
    sum[lab[i]] += col[i];
    total += col[i];
  }
  for (int c = 0; c < k; c++) {
    int64_t no = n_known - n_in[c];
    mean_in[c] = n_in[c] > 0 ? sum[c] / (double)n_in[c] : 0.0;
    mean_out[c] = no > 0 ? (total - sum[c]) / (double)no : 0.0;
  }
  /* Two-pass variances (as numpy.var): the deviations from each group's mean. */
  for (int64_t i = 0; i < m; i++) {
    double v = items[i].v;
    int32_t l = items[i].label;
    for (int c = 0; c < k; c++) {
      if (c == l) {
        ss_in[c] += (v - mean_in[c]) * (v - mean_in[c]);
      } else {
        ss_out[c] += (v - mean_out[c]) * (v - mean_out[c]);
      }
    }
  }
  /* Average ranks (1-based) of tied runs and the tie term sum(t^3 - t) (scipy: rankdata and
   * _tie_term). Ranks are half-integers, so the rank sums are exact. */
  qsort(items, (size_t)m, sizeof *items, cmp_item);
  double tie_term = 0.0;
  for (int64_t a = 0; a < m;) {
    int64_t b = a + 1;
    while (b < m && items[b].v == items[a].v)
      b++;
    double r = 0.5 * (double)(a + 1 + b), t = (double)(b - a);
    tie_term += t * t * t - t;
    for (int64_t i = a; i < b; i++)
      rank_sum[items[i].label] += r;
    a = b;
  }
  for (int c = 0; c < k; c++) {
    double *o = res + (int64_t)c * N_FIELDS;
    int64_t n1 = n_in[c], n2 = n_known - n1;
    o[F_MEAN_IN] = mean_in[c];
    o[F_MEAN_OUT] = mean_out[c];
    if (n1 == 0 || n2 == 0) {
      o[F_LOG2FC] = 0.0;
      o[F_T] = 0.0;
      o[F_T_P] = 1.0;
      o[F_U] = 0.0;
      o[F_U_P] = 1.0;
      continue;
    }
    o[F_LOG2FC] = mean_in[c] - mean_out[c];
    welch(n1, mean_in[c], ss_in[c], n2, mean_out[c], ss_out[c], &o[F_T], &o[F_T_P]);
    /* Mann-Whitney U (scipy _mannwhitneyu: _get_mwu_z and the two-sided p). */
    double dn1 = (double)n1, dn2 = (double)n2, nn = dn1 + dn2;
    double u1 = rank_sum[c] - dn1 * (dn1 + 1.0) / 2.0, u2 = dn1 * dn2 - u1;
    double mu = dn1 * dn2 / 2.0;
    double s = sqrt(dn1 * dn2 / 12.0 * ((nn + 1.0) - tie_term / (nn * (nn - 1.0))));
    o[F_U] = u1;
    if (!(s > 0.0)) {
      o[F_U_P] = 1.0; /* every value tied: z = -0.5 / 0, p clipped to 1 */
    } else {
      double z = ((u1 > u2 ? u1 : u2) - mu - 0.5) / s;
      double pv = 2.0 * gsl_cdf_ugaussian_Q(z);
      o[F_U_P] = pv > 1.0 ? 1.0 : pv;
    }
  }
}

OvqStatus ovq_diffexp_compute(const OvqMatrix *x, const int32_t *labels, MPI_Comm comm,
                              OvqDiffexp *out) {
  memset(out, 0, sizeof *out);
  int rank, size;
  OVQ_MPI_CHECK(MPI_Comm_rank(comm, &rank));
  OVQ_MPI_CHECK(MPI_Comm_size(comm, &size));

  /* {largest label, a non-finite value here}: one allreduce agrees on both. */
  int64_t top[2] = {-1, 0};
  for (int64_t i = 0; i < x->n_local; i++)
    if (labels[i] > top[0]) top[0] = labels[i];
  for (int64_t i = 0; i < x->n_local * x->n_cols && !top[1]; i++)
    if (!isfinite(x->x[i])) top[1] = 1;
  OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, top, 2, MPI_INT64_T, MPI_MAX, comm));
  if (top[1])
    return ovq_error("diffexp: the expression matrix holds missing or infinite values; impute "
                     "or filter them before testing");
  if (top[0] < 0) return ovq_error("diffexp: no sample has a cluster label");
  if (top[0] > MAX_LABEL)
    return ovq_error("diffexp: label %lld is not a cluster code (0..%d expected)",
                     (long long)top[0], MAX_LABEL);
  const int k = (int)top[0] + 1;
  const int64_t n = x->n_total, F = x->n_cols;

  /* Every rank needs all labels in global sample order (its feature block spans all samples). */
  int *cnt = OVQ_MALLOC(sizeof(int) * (size_t)size), *disp = OVQ_MALLOC(sizeof(int) * (size_t)size);
  int mine = OVQ_INT(x->n_local, "diffexp labels");
  OVQ_MPI_CHECK(MPI_Allgather(&mine, 1, MPI_INT, cnt, 1, MPI_INT, comm));
  int64_t off = 0;
  for (int r = 0; r < size; r++) {
    disp[r] = OVQ_INT(off, "diffexp labels");
    off += cnt[r];
  }
  int32_t *lab = OVQ_MALLOC(sizeof(int32_t) * (size_t)(n + 1));
  OVQ_MPI_CHECK(MPI_Allgatherv(labels, mine, MPI_INT32_T, lab, cnt, disp, MPI_INT32_T, comm));

  int64_t *n_in = OVQ_CALLOC((size_t)k, sizeof(int64_t)), n_known = 0;
  for (int64_t i = 0; i < n; i++)
    if (lab[i] >= 0) {
      n_in[lab[i]]++;
      n_known++;
    }

  int64_t col_start, n_cols_local;
  float *cols;
  ovq_matrix_columns(x, comm, &col_start, &n_cols_local, &cols);

  const int64_t rec = (int64_t)k * N_FIELDS; /* doubles per feature */
  double *local = OVQ_MALLOC(sizeof(double) * (size_t)(n_cols_local * rec + 1));
  Item *items = OVQ_MALLOC(sizeof(Item) * (size_t)(n + 1));
  double *acc = OVQ_MALLOC(sizeof(double) * 6 * (size_t)k);
  for (int64_t j = 0; j < n_cols_local; j++)
    test_feature(cols + j * n, lab, n, k, n_in, n_known, items, acc, local + j * rec);
  free(items);
  free(acc);
  free(cols);

  /* Gather [F][k][N_FIELDS] in feature order: rank r holds features partition_block(F, size, r). */
  double *all = OVQ_MALLOC(sizeof(double) * (size_t)(F * rec + 1));
  for (int r = 0; r < size; r++) {
    OvqRange b = ovq_partition_block(F, size, r);
    cnt[r] = OVQ_INT(b.count * rec, "diffexp table");
    disp[r] = OVQ_INT(b.start * rec, "diffexp table");
  }
  OVQ_MPI_CHECK(MPI_Allgatherv(local, OVQ_INT(n_cols_local * rec, "diffexp table"), MPI_DOUBLE, all,
                               cnt, disp, MPI_DOUBLE, comm));
  free(local);
  free(cnt);
  free(disp);
  free(lab);

  out->k = k;
  out->n_features = F;
  out->n_in = n_in;
  out->n_known = n_known;
  const int64_t kf = (int64_t)k * F;
  double *slab = OVQ_MALLOC(sizeof(double) * (size_t)(9 * kf + 1));
  double **fields[9] = {&out->mean_in, &out->mean_out, &out->log2fc, &out->t,  &out->t_p,
                        &out->u,       &out->u_p,      &out->t_q,    &out->u_q};
  for (int f = 0; f < 9; f++)
    *fields[f] = slab + f * kf;
  for (int c = 0; c < k; c++)
    for (int64_t j = 0; j < F; j++) {
      const double *o = all + j * rec + (int64_t)c * N_FIELDS;
      for (int f = 0; f < N_FIELDS; f++)
        (*fields[f])[c * F + j] = o[f];
    }
  free(all);
  for (int c = 0; c < k; c++) {
    ovq_bh_adjust(out->t_p + c * F, F, out->t_q + c * F);
    ovq_bh_adjust(out->u_p + c * F, F, out->u_q + c * F);
  }
  return OVQ_OK;
}

void ovq_diffexp_free(OvqDiffexp *d) {
  if (!d) return;
  free(d->n_in);
  free(d->mean_in);
  memset(d, 0, sizeof *d);
}

OvqStatus ovq_diffexp_write(const OvqDiffexp *d, const char *const *feature_ids, const char *path) {
  FILE *f = fopen(path, "w");
  if (!f) return ovq_error("%s: cannot open for writing", path);
  fprintf(f,
          "cluster\tfeature\tn_in\tn_out\tmean_in\tmean_out\tlog2fc\tt\tt_p\tt_q\tu\tu_p\tu_q\n");
  const int64_t F = d->n_features;
  for (int c = 0; c < d->k; c++)
    for (int64_t j = 0; j < F; j++) {
      int64_t e = c * F + j;
      fprintf(f, "%d\t", c);
      if (feature_ids)
        fprintf(f, "%s\t", feature_ids[j]);
      else
        fprintf(f, "%lld\t", (long long)j);
      fprintf(f, "%lld\t%lld\t%.9g\t%.9g\t%.9g\t%.9g\t%.9g\t%.9g\t%.9g\t%.9g\t%.9g\n",
              (long long)d->n_in[c], (long long)(d->n_known - d->n_in[c]), d->mean_in[e],
              d->mean_out[e], d->log2fc[e], d->t[e], d->t_p[e], d->t_q[e], d->u[e], d->u_p[e],
              d->u_q[e]);
    }
  if (ferror(f) | (fclose(f) != 0)) return ovq_error("%s: write failed (disk full?)", path);
  return OVQ_OK;
}
