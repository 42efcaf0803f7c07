/* Preprocessing (see include/ovq/prep.h). */
#include "ovq/prep.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ovq/fixedsum.h"
#include "ovq/partition.h"
#include "ovq/strmap.h"

void ovq_prep_options_from_config(const OvqConfig *cfg, OvqPrepOptions *o) {
  memset(o, 0, sizeof *o);
  o->zero_fraction = cfg->prep.zero_fraction;
  o->impute_knn = !strcmp(cfg->prep.impute, "knn");
  o->knn = ovq_knn_defaults();
  o->knn.k = (int)cfg->prep.knn_k;
  o->knn.rowmax = cfg->prep.knn_rowmax;
  o->knn.colmax = cfg->prep.knn_colmax;
  o->knn.maxp = cfg->prep.knn_maxp;
  o->select = !strcmp(cfg->prep.select, "variance") ? 1 : !strcmp(cfg->prep.select, "mad") ? 2 : 0;
  o->top[0] = cfg->prep.top_mrna;
  o->top[1] = cfg->prep.top_mirna;
  o->standardize = cfg->prep.standardize;
  o->weight[0] = cfg->prep.weight_mrna;
  o->weight[1] = cfg->prep.weight_mirna;
}

static const char *const kOmic[2] = {"mRNA", "miRNA"};

/* The block of one omic as a matrix (a copy of the cohort's rows). */
static void omic_matrix(const OvqCohort *c, int o, OvqMatrix *m) {
  int64_t F = o == 0 ? c->n_mrna : c->n_mirna;
  ovq_matrix_alloc(m, c->n_total, c->row_start, c->n_local, F);
  if (F) memcpy(m->x, o == 0 ? c->mrna : c->mirna, sizeof(float) * (size_t)(c->n_local * F));
}

/* Collective. NaN is a missing value; an infinite value (overflow, a bad conversion upstream) is
 * an error naming the first sample and feature that have one (before any feature is dropped, so
 * the message names the cohort's own feature). */
static OvqStatus check_finite(const OvqCohort *c, MPI_Comm comm) {
  OvqStatus st = OVQ_OK;
  for (int om = 0; om < 2 && st == OVQ_OK; om++) {
    const int64_t F = om == 0 ? c->n_mrna : c->n_mirna;
    const float *x = om == 0 ? c->mrna : c->mirna;
    for (int64_t i = 0; i < c->n_local && st == OVQ_OK; i++)
      for (int64_t j = 0; j < F; j++)
        if (isinf(x[i * F + j])) {
          st = ovq_error("expression of sample '%s' (row %lld), %s feature '%s': %s; values must "
                         "be finite (NaN marks a missing value)",
                         ovq_strings_at(&c->sample_id, i), (long long)(c->row_start + i),
                         kOmic[om], ovq_strings_at(om == 0 ? &c->mrna_ids : &c->mirna_ids, j),
                         x[i * F + j] > 0 ? "+Inf" : "-Inf");
          break;
        }
  }
  /* The lowest failing rank holds the first rows: its message names the first bad value. */
  return ovq_status_agree(comm, st);
}

/* Keeps the columns with keep[j] != 0, in order. */
static void keep_columns(OvqMatrix *m, const unsigned char *keep) {
  int64_t F = m->n_cols, k = 0;
  for (int64_t j = 0; j < F; j++) k += keep[j] != 0;
  float *x = OVQ_MALLOC(sizeof(float) * (size_t)(m->n_local * k + 1));
  for (int64_t i = 0; i < m->n_local; i++) {
    int64_t p = 0;
    for (int64_t j = 0; j < F; j++)
      if (keep[j]) x[i * k + p++] = m->x[i * F + j];
  }
  free(m->x);
  m->x = x;
  m->n_cols = k;
}

/* Collective. Per-feature mean and population standard deviation over the observed values
 * (NaN skipped), with order-independent sums; cnt may be NULL. */
static void feature_moments(const OvqMatrix *m, MPI_Comm comm, double *mean, double *sd) {
  const int64_t F = m->n_cols, n = m->n_local;
  double vmax = 0.0;
  for (int64_t i = 0; i < n * F; i++)
    if (!isnan(m->x[i]) && fabs(m->x[i]) > vmax) vmax = fabs(m->x[i]);
  OvqFixedSum sum;
  ovq_fixed_init(&sum, F + 1, ovq_fixed_bound(vmax, m->n_total, comm));
  int64_t *cnt = OVQ_CALLOC((size_t)F + 1, sizeof(int64_t));
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = 0; j < F; j++) {
      float v = m->x[i * F + j];
      if (!isnan(v)) {
        ovq_fixed_add(&sum, j, v);
        cnt[j]++;
      }
    }
  double *tot = OVQ_MALLOC(sizeof(double) * (size_t)(F + 1));
  ovq_fixed_allreduce(&sum, comm, tot);
  ovq_fixed_free(&sum);
  OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, cnt, OVQ_INT(F + 1, "features"), MPI_INT64_T, MPI_SUM,
                              comm));
  for (int64_t j = 0; j < F; j++) mean[j] = cnt[j] > 0 ? tot[j] / (double)cnt[j] : 0.0;
  if (sd) {
    double dmax = 0.0;
    for (int64_t i = 0; i < n; i++)
      for (int64_t j = 0; j < F; j++) {
        float v = m->x[i * F + j];
        double d = isnan(v) ? 0.0 : ((double)v - mean[j]) * ((double)v - mean[j]);
        if (d > dmax) dmax = d;
      }
    OvqFixedSum ss;
    ovq_fixed_init(&ss, F + 1, ovq_fixed_bound(dmax, m->n_total, comm));
    for (int64_t i = 0; i < n; i++)
      for (int64_t j = 0; j < F; j++) {
        float v = m->x[i * F + j];
        if (!isnan(v)) ovq_fixed_add(&ss, j, ((double)v - mean[j]) * ((double)v - mean[j]));
      }
    ovq_fixed_allreduce(&ss, comm, tot);
    ovq_fixed_free(&ss);
    for (int64_t j = 0; j < F; j++) sd[j] = cnt[j] > 0 ? sqrt(tot[j] / (double)cnt[j]) : 0.0;
  }
  free(tot);
  free(cnt);
}

static int cmp_float(const void *a, const void *b) {
  float x = *(const float *)a, y = *(const float *)b;
  return (x > y) - (x < y);
}

static double median_sorted(const float *v, int64_t n) {
  return n % 2 ? v[n / 2] : 0.5 * ((double)v[n / 2 - 1] + (double)v[n / 2]);
}

/* Collective. Median absolute deviation of every feature (no missing values left). */
static void feature_mad(const OvqMatrix *m, MPI_Comm comm, double *mad) {
  int size;
  MPI_Comm_size(comm, &size);
  int64_t c0, nc;
  float *cols;
  ovq_matrix_columns(m, comm, &c0, &nc, &cols);
  const int64_t N = m->n_total;
  double *mine = OVQ_MALLOC(sizeof(double) * (size_t)(nc + 1));
  for (int64_t j = 0; j < nc; j++) {
    float *v = cols + j * N;
    qsort(v, (size_t)N, sizeof(float), cmp_float);
    double med = median_sorted(v, N);
    for (int64_t i = 0; i < N; i++) v[i] = (float)fabs((double)v[i] - med);
    qsort(v, (size_t)N, sizeof(float), cmp_float);
    mine[j] = median_sorted(v, N);
  }
  free(cols);
  int *counts = OVQ_MALLOC(sizeof(int) * (size_t)size), *displs = OVQ_MALLOC(sizeof(int) * (size_t)size);
  for (int r = 0; r < size; r++) {
    OvqRange b = ovq_partition_block(m->n_cols, size, r);
    counts[r] = OVQ_INT(b.count, "features");
    displs[r] = OVQ_INT(b.start, "features");
  }
  OVQ_MPI_CHECK(MPI_Allgatherv(mine, OVQ_INT(nc, "features"), MPI_DOUBLE, mad, counts, displs,
                               MPI_DOUBLE, comm));
  free(mine);
  free(counts);
  free(displs);
}

static const double *g_score; /* for the selection sort: score descending, then position */
static int cmp_score(const void *a, const void *b) {
  int64_t i = *(const int64_t *)a, j = *(const int64_t *)b;
  if (g_score[i] != g_score[j]) return g_score[i] > g_score[j] ? -1 : 1;
  return (i > j) - (i < j);
}

/* Fills missing values of m with the feature means. */
static void impute_mean(OvqMatrix *m, MPI_Comm comm, int64_t *n_missing) {
  double *mean = OVQ_MALLOC(sizeof(double) * (size_t)(m->n_cols + 1));
  feature_moments(m, comm, mean, NULL);
  int64_t k = 0;
  for (int64_t i = 0; i < m->n_local; i++)
    for (int64_t j = 0; j < m->n_cols; j++)
      if (isnan(m->x[i * m->n_cols + j])) {
        m->x[i * m->n_cols + j] = (float)mean[j];
        k++;
      }
  OVQ_MPI_CHECK(MPI_Allreduce(&k, n_missing, 1, MPI_INT64_T, MPI_SUM, comm));
  free(mean);
}

/* Imputes one omic's matrix in place. */
static OvqStatus impute(OvqMatrix *m, const OvqCohort *c, const OvqPrepOptions *o, int omic,
                        MPI_Comm comm, int64_t *n_missing, int64_t *n_rowmax) {
  *n_missing = *n_rowmax = 0;
  if (!o->impute_knn) {
    impute_mean(m, comm, n_missing);
    return OVQ_OK;
  }
  OvqKnnReport rep;
  memset(&rep, 0, sizeof rep);
  if (ovq_impute_knn(m, &o->knn, &c->sample_id, comm, &rep) != OVQ_OK) {
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", ovq_error_message());
    return ovq_error("%s data: %s", kOmic[omic], msg);
  }
  *n_missing = rep.n_missing;
  *n_rowmax = rep.n_rowmax_features;
  return OVQ_OK;
}

OvqStatus ovq_prep_fit(const OvqCohort *c, const OvqPrepOptions *o, MPI_Comm comm, OvqMatrix *out,
                       OvqPrepTransform *t, OvqPrepReport *report) {
  OvqPrepReport rep;
  memset(&rep, 0, sizeof rep);
  memset(t, 0, sizeof *t);
  memset(out, 0, sizeof *out);
  OvqMatrix blk[2];
  memset(blk, 0, sizeof blk);
  int64_t *kept_idx[2] = {NULL, NULL}; /* cohort feature index of each kept feature */
  double *mean[2] = {NULL, NULL}, *sd[2] = {NULL, NULL};
  OvqStatus st = check_finite(c, comm);
  for (int om = 0; om < 2 && st == OVQ_OK; om++) {
    int64_t F = om == 0 ? c->n_mrna : c->n_mirna;
    rep.n_in[om] = F;
    if (F == 0) continue;
    omic_matrix(c, om, &blk[om]);
    OvqMatrix *m = &blk[om];
    /* 1. Zero filter. */
    int64_t *zeros = OVQ_CALLOC((size_t)F, sizeof(int64_t));
    for (int64_t i = 0; i < m->n_local; i++)
      for (int64_t j = 0; j < F; j++) zeros[j] += m->x[i * F + j] == 0.0f;
    OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, zeros, OVQ_INT(F, "features"), MPI_INT64_T, MPI_SUM,
                                comm));
    unsigned char *keep = OVQ_CALLOC((size_t)F, 1);
    int64_t *idx = OVQ_MALLOC(sizeof(int64_t) * (size_t)F), nk = 0;
    for (int64_t j = 0; j < F; j++) {
      keep[j] = (double)zeros[j] <= o->zero_fraction * (double)c->n_total;
      if (keep[j]) idx[nk++] = j;
    }
    rep.n_zero[om] = F - nk;
    free(zeros);
    if (nk == 0) {
      free(keep);
      free(idx);
      st = ovq_error("preprocessing: every %s feature is 0 in more than %g %% of the samples "
                     "(prep.zero_fraction = %g)", kOmic[om], 100 * o->zero_fraction,
                     o->zero_fraction);
      break;
    }
    keep_columns(m, keep);
    free(keep);
    /* 2. Imputation. */
    st = impute(m, c, o, om, comm, &rep.n_missing[om], &rep.n_rowmax[om]);
    if (st != OVQ_OK) {
      free(idx);
      break;
    }
    /* 3. Selection of the most variable features. */
    int64_t top = o->top[om];
    if (o->select && top > 0 && top < nk) {
      double *score = OVQ_MALLOC(sizeof(double) * (size_t)nk);
      if (o->select == 1) {
        double *mu = OVQ_MALLOC(sizeof(double) * (size_t)nk);
        feature_moments(m, comm, mu, score);
        free(mu);
      } else {
        feature_mad(m, comm, score);
      }
      int64_t *order = OVQ_MALLOC(sizeof(int64_t) * (size_t)nk);
      for (int64_t j = 0; j < nk; j++) order[j] = j;
      g_score = score;
      qsort(order, (size_t)nk, sizeof(int64_t), cmp_score);
      unsigned char *sel = OVQ_CALLOC((size_t)nk, 1);
      for (int64_t j = 0; j < top; j++) sel[order[j]] = 1;
      int64_t p = 0;
      for (int64_t j = 0; j < nk; j++)
        if (sel[j]) idx[p++] = idx[j];
      keep_columns(m, sel);
      nk = top;
      free(sel);
      free(order);
      free(score);
    }
    kept_idx[om] = idx;
    rep.n_out[om] = nk;
    /* 4. Standardisation. */
    mean[om] = OVQ_CALLOC((size_t)nk, sizeof(double));
    sd[om] = OVQ_MALLOC(sizeof(double) * (size_t)nk);
    if (o->standardize) {
      feature_moments(m, comm, mean[om], sd[om]);
      for (int64_t j = 0; j < nk; j++) sd[om][j] = sd[om][j] > 1e-12 ? sd[om][j] : 1.0;
    } else {
      for (int64_t j = 0; j < nk; j++) sd[om][j] = 1.0;
    }
  }
  if (st == OVQ_OK) {
    /* 5. The transform and the concatenated matrix. */
    const int64_t F = rep.n_out[0] + rep.n_out[1];
    t->n_features = F;
    t->n_mrna = rep.n_out[0];
    int w = c->mrna_ids.width > c->mirna_ids.width ? c->mrna_ids.width : c->mirna_ids.width;
    ovq_strings_alloc(&t->ids, F, w);
    t->mean = OVQ_MALLOC(sizeof(double) * (size_t)(F + 1));
    t->scale = OVQ_MALLOC(sizeof(double) * (size_t)(F + 1));
    t->weight = OVQ_MALLOC(sizeof(double) * (size_t)(F + 1));
    ovq_matrix_alloc(out, c->n_total, c->row_start, c->n_local, F);
    int64_t off = 0;
    for (int om = 0; om < 2; om++) {
      const OvqStrings *ids = om == 0 ? &c->mrna_ids : &c->mirna_ids;
      int64_t nk = rep.n_out[om];
      for (int64_t j = 0; j < nk; j++) {
        ovq_strings_set(&t->ids, off + j, ovq_strings_at(ids, kept_idx[om][j]));
        t->mean[off + j] = mean[om][j];
        t->scale[off + j] = sd[om][j];
        t->weight[off + j] = o->weight[om];
      }
      for (int64_t i = 0; i < c->n_local; i++)
        for (int64_t j = 0; j < nk; j++)
          out->x[i * F + off + j] = (float)(((double)blk[om].x[i * nk + j] - mean[om][j]) /
                                            sd[om][j] * o->weight[om]);
      off += nk;
    }
  }
  for (int om = 0; om < 2; om++) {
    ovq_matrix_free(&blk[om]);
    free(kept_idx[om]);
    free(mean[om]);
    free(sd[om]);
  }
  if (report) *report = rep;
  return ovq_status_agree(comm, st);
}

OvqStatus ovq_prep_apply(const OvqCohort *c, const OvqPrepTransform *t, const OvqPrepOptions *o,
                         MPI_Comm comm, OvqMatrix *out) {
  memset(out, 0, sizeof *out);
  const int64_t F = t->n_features;
  /* Where each transform feature is in the cohort: one id map per omic. */
  const int64_t G = c->n_mrna, M = c->n_mirna;
  OvqStrMap ids[2];
  ovq_strmap_init(&ids[0], G);
  ovq_strmap_init(&ids[1], M);
  for (int64_t j = 0; j < G; j++) ovq_strmap_put(&ids[0], ovq_strings_at(&c->mrna_ids, j), j);
  for (int64_t j = 0; j < M; j++) ovq_strmap_put(&ids[1], ovq_strings_at(&c->mirna_ids, j), G + j);
  int64_t *src = OVQ_MALLOC(sizeof(int64_t) * (size_t)(F + 1)), n_absent = 0;
  char absent[512] = "";
  for (int64_t f = 0; f < F; f++) {
    const char *id = ovq_strings_at(&t->ids, f);
    src[f] = ovq_strmap_get(&ids[f < t->n_mrna ? 0 : 1], id);
    if (src[f] < 0) {
      if (n_absent < 5)
        snprintf(absent + strlen(absent), sizeof absent - strlen(absent), "%s%s",
                 n_absent ? ", " : "", id);
      n_absent++;
    }
  }
  ovq_strmap_free(&ids[0]);
  ovq_strmap_free(&ids[1]);
  if (n_absent) {
    free(src);
    return ovq_error("%lld of the %lld features of the model are not in the cohort (%s%s)",
                     (long long)n_absent, (long long)F, absent, n_absent > 5 ? ", ..." : "");
  }
  OvqStatus st = check_finite(c, comm);
  ovq_matrix_alloc(out, c->n_total, c->row_start, c->n_local, F);
  for (int om = 0; om < 2 && st == OVQ_OK; om++) {
    int64_t f0 = om == 0 ? 0 : t->n_mrna, nk = om == 0 ? t->n_mrna : F - t->n_mrna;
    if (nk == 0) continue;
    OvqMatrix m;
    ovq_matrix_alloc(&m, c->n_total, c->row_start, c->n_local, nk);
    for (int64_t i = 0; i < c->n_local; i++)
      for (int64_t j = 0; j < nk; j++) {
        int64_t s = src[f0 + j];
        m.x[i * nk + j] = s < G ? c->mrna[i * G + s] : c->mirna[i * M + (s - G)];
      }
    int64_t n_missing, n_rowmax;
    st = impute(&m, c, o, om, comm, &n_missing, &n_rowmax);
    if (st == OVQ_OK) {
      if (n_missing)
        ovq_log(OVQ_LOG_INFO, "prep: %s: %lld missing values imputed", kOmic[om],
                (long long)n_missing);
      for (int64_t i = 0; i < c->n_local; i++)
        for (int64_t j = 0; j < nk; j++)
          out->x[i * F + f0 + j] = (float)(((double)m.x[i * nk + j] - t->mean[f0 + j]) /
                                           t->scale[f0 + j] * t->weight[f0 + j]);
    }
    ovq_matrix_free(&m);
  }
  free(src);
  if (st != OVQ_OK) ovq_matrix_free(out);
  return st;
}

void ovq_prep_log_report(const OvqPrepReport *r) {
  for (int om = 0; om < 2; om++) {
    if (r->n_in[om] == 0) continue;
    ovq_log(OVQ_LOG_INFO,
            "prep: %s: %lld features, %lld dropped (zero in too many samples), %lld missing "
            "values imputed (%lld features by their mean: rowmax), %lld kept",
            kOmic[om], (long long)r->n_in[om], (long long)r->n_zero[om],
            (long long)r->n_missing[om], (long long)r->n_rowmax[om], (long long)r->n_out[om]);
  }
}

void ovq_prep_free(OvqPrepTransform *t) {
  if (!t) return;
  ovq_strings_free(&t->ids);
  free(t->mean);
  free(t->scale);
  free(t->weight);
  memset(t, 0, sizeof *t);
}

void ovq_prep_write(OvqResults *r, const OvqPrepTransform *t) {
  ovq_results_write_strings(r, "/prep/features", &t->ids);
  ovq_results_write_array(r, "/prep/mean", H5T_NATIVE_DOUBLE, t->mean, t->n_features, 0);
  ovq_results_write_array(r, "/prep/scale", H5T_NATIVE_DOUBLE, t->scale, t->n_features, 0);
  ovq_results_write_array(r, "/prep/weight", H5T_NATIVE_DOUBLE, t->weight, t->n_features, 0);
  ovq_results_write_array(r, "/prep/n_mrna", H5T_NATIVE_INT64, &t->n_mrna, 1, 0);
}

OvqStatus ovq_prep_read(OvqResults *r, const char *path, OvqPrepTransform *t) {
  memset(t, 0, sizeof *t);
  int64_t n[4] = {0, 0, 0, 0};
  int64_t *nm = NULL;
  OvqStatus st = ovq_results_read_strings(r, "/prep/features", &t->ids);
  if (st == OVQ_OK)
    st = ovq_results_read_array(r, "/prep/mean", H5T_NATIVE_DOUBLE, (void **)&t->mean, &n[0]);
  if (st == OVQ_OK)
    st = ovq_results_read_array(r, "/prep/scale", H5T_NATIVE_DOUBLE, (void **)&t->scale, &n[1]);
  if (st == OVQ_OK)
    st = ovq_results_read_array(r, "/prep/weight", H5T_NATIVE_DOUBLE, (void **)&t->weight, &n[2]);
  if (st == OVQ_OK) st = ovq_results_read_array(r, "/prep/n_mrna", H5T_NATIVE_INT64, (void **)&nm, &n[3]);
  if (st == OVQ_OK && (n[0] != t->ids.n || n[1] != t->ids.n || n[2] != t->ids.n || n[3] != 1 ||
                       nm[0] < 0 || nm[0] > t->ids.n))
    st = ovq_error("%s: the /prep datasets disagree in length", path);
  if (st == OVQ_OK) {
    t->n_features = t->ids.n;
    t->n_mrna = nm[0];
  } else {
    ovq_prep_free(t);
  }
  free(nm);
  return st;
}
