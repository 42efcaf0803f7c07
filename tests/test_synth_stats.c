/* Statistics of the synthetic cohort (src/io/synth.c) against the bounds that make it look like
 * TCGA to the later stages, its ground truth, its rank independence and its parameter checks.
 * Every figure is aggregated over ranks (MPI_Allreduce) before it is checked, so all ranks reach
 * the same verdict; run at 1, 2 and 4 ranks. Prints each figure with its bounds; exits non-zero
 * on any failure. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ovq/synth.h"

static int g_failures = 0;
static const char *const kAll = "BRCA,GBM,LGG,OV,LUAD,KIRC,HNSC,COAD,BLCA,PRAD";

/* Prints on rank 0 only. */
static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...) {
  if (ovq_log_rank() != 0) return;
  va_list ap;
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  fflush(stdout);
}

/* Records and prints (rank 0) one figure against its closed bounds. */
static void check(const char *what, double value, double lo, double hi) {
  int ok = value >= lo && value <= hi;
  if (!ok) g_failures++;
  say("%s %-60s %10.4f  in [%g, %g]\n", ok ? "ok  " : "FAIL", what, value, lo, hi);
}

static void sum_i64(int64_t *x, int n) {
  OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, x, n, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD));
}

static void sum_f64(double *x, int n) {
  OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, x, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD));
}

static OvqSynthParams params(const char *list, double scale, int64_t genes, int64_t mirnas) {
  OvqSynthParams p;
  memset(&p, 0, sizeof p);
  char buf[128];
  snprintf(buf, sizeof buf, "%s", list);
  for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
    snprintf(p.cancers[p.n_cancers++], sizeof p.cancers[0], "%s", t);
  p.scale = scale;
  p.seed = 20240611;
  p.n_genes = genes;
  p.n_mirnas = mirnas;
  return p;
}

static OvqCohort generate(const OvqSynthParams *p, MPI_Comm comm) {
  OvqCohort c;
  if (ovq_synth_generate(p, comm, &c) != OVQ_OK)
    OVQ_ABORT("ovq_synth_generate failed: %s", ovq_error_message());
  return c;
}

static int cancer_of(const OvqCohort *c, int64_t i) {
  for (int b = 0; b < ovq_synth_cancer_count(); b++)
    if (!strcmp(ovq_strings_at(&c->cancer, i), ovq_synth_cancer_name(b))) return b;
  OVQ_ABORT("sample %lld has unknown cancer '%s'", (long long)i, ovq_strings_at(&c->cancer, i));
}

static int cmp_id(const void *a, const void *b) {
  return strcmp(a, b);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* ---- pan-cancer cohort ---------------------------------------------------------------------- */

/* Zeros, missing values and the value scale, per feature summed over ranks. */
static void check_values(const OvqCohort *c) {
  int64_t G = c->n_mrna, M = c->n_mirna;
  /* per gene: zeros, observed, missing; per miRNA: missing, zeros */
  int64_t *cnt = OVQ_CALLOC((size_t)(3 * G + 2 * M), sizeof *cnt);
  double *sum = OVQ_CALLOC((size_t)G, sizeof *sum);
  double range[2] = {INFINITY, -INFINITY};
  for (int64_t i = 0; i < c->n_local; i++) {
    for (int64_t g = 0; g < G; g++) {
      float v = c->mrna[i * G + g];
      if (isnan(v)) {
        cnt[2 * G + g]++;
        continue;
      }
      cnt[g] += v == 0.0f;
      cnt[G + g]++;
      sum[g] += v;
      range[0] = fmin(range[0], v);
      range[1] = fmax(range[1], v);
    }
    for (int64_t j = 0; j < M; j++) {
      float v = c->mirna[i * M + j];
      cnt[3 * G + j] += isnan(v);
      cnt[3 * G + M + j] += !isnan(v) && v == 0.0f;
    }
  }
  sum_i64(cnt, (int)(3 * G + 2 * M));
  sum_f64(sum, (int)G);
  range[0] = -range[0];
  OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, range, 2, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD));

  int64_t zeros = 0, observed = 0, nan = 0, sparse = 0, n_expr = 0;
  double *expr_mean = OVQ_MALLOC((size_t)G * sizeof *expr_mean);
  for (int64_t g = 0; g < G; g++) {
    zeros += cnt[g];
    observed += cnt[G + g];
    nan += cnt[2 * G + g];
    sparse += cnt[g] > 0.1 * cnt[G + g];
    if (cnt[g] < 0.01 * cnt[G + g]) expr_mean[n_expr++] = sum[g] / cnt[G + g];
  }
  qsort(expr_mean, (size_t)n_expr, sizeof *expr_mean, cmp_double);
  int64_t mnan = 0, mostly_missing = 0, msparse = 0;
  for (int64_t j = 0; j < M; j++) {
    mnan += cnt[3 * G + j];
    mostly_missing += cnt[3 * G + j] > c->n_total / 2;
    msparse += cnt[3 * G + M + j] > 0.1 * (c->n_total - cnt[3 * G + j]);
  }
  check("mRNA: fraction of observed values that are 0", (double)zeros / observed, 0.03, 0.15);
  check("mRNA: fraction of genes with > 10% zeros", (double)sparse / G, 0.10, 0.25);
  check("mRNA: median over expressed genes of the mean log2 value", expr_mean[n_expr / 2], 7.0,
        11.0);
  check("mRNA: smallest value", -range[0], 0.0, 0.0);
  check("mRNA: largest value", range[1], 14.0, 22.0);
  check("mRNA: fraction missing", (double)nan / (double)(c->n_total * G), 0.0005, 0.002);
  check("miRNA: fraction missing", (double)mnan / (double)(c->n_total * M), 0.005, 0.02);
  check("miRNA: features missing in > 50% of samples", (double)mostly_missing, 1, 8);
  check("miRNA: fraction of features with > 10% zeros", (double)msparse / M, 0.3, 0.7);
  free(expr_mean);
  free(sum);
  free(cnt);
}

/* Event rate per cancer (TCGA clinical tables), unknown survival, batches, labels. */
static void check_clinical(const OvqCohort *c) {
  enum { NB = 10 };
  /* events, known, batch 1, samples per built-in cancer; then unknown, labelled, agreeing */
  int64_t n[4 * NB + 3] = {0};
  for (int64_t i = 0; i < c->n_local; i++) {
    int b = cancer_of(c, i);
    if (c->os_event[i] >= 0) {
      n[b] += c->os_event[i];
      n[NB + b]++;
    } else {
      n[4 * NB] += isnan(c->os_time[i]) != 0;
    }
    n[2 * NB + b] += c->batch[i];
    n[3 * NB + b]++;
    const char *label = ovq_strings_at(&c->label, i);
    if (*label) {
      n[4 * NB + 1]++;
      n[4 * NB + 2] += !strcmp(label, ovq_strings_at(&c->true_subtype, i));
    }
  }
  sum_i64(n, 4 * NB + 3);
  /* BRCA GBM LGG OV LUAD KIRC HNSC COAD BLCA PRAD, around the TCGA rates */
  static const double lo[NB] = {.08, .55, .15, .45, .25, .22, .30, .13, .33, .0};
  static const double hi[NB] = {.20, .92, .35, .70, .47, .44, .53, .33, .55, .08};
  static const int batched[NB] = {0, 1, 0, 1, 0, 0, 0, 1, 0, 0};
  char what[96];
  for (int b = 0; b < NB; b++) {
    const char *name = ovq_synth_cancer_name(b);
    snprintf(what, sizeof what, "%s: samples (= ovq_synth_cancer_size)", name);
    check(what, (double)n[3 * NB + b], (double)ovq_synth_cancer_size(name, 0.5),
          (double)ovq_synth_cancer_size(name, 0.5));
    snprintf(what, sizeof what, "%s: event rate", name);
    check(what, (double)n[b] / n[NB + b], lo[b], hi[b]);
    snprintf(what, sizeof what, "%s: fraction in batch 1", name);
    check(what, (double)n[2 * NB + b] / n[3 * NB + b], batched[b] ? 0.2 : 0.0,
          batched[b] ? 0.55 : 0.0);
  }
  check("survival: fraction unknown (NaN time, event -1)", (double)n[4 * NB] / c->n_total, 0.002,
        0.025);
  check("label: fraction unlabelled", 1.0 - (double)n[4 * NB + 1] / c->n_total, 0.03, 0.08);
  check("label: agreement with the true subtype (labelled samples)",
        (double)n[4 * NB + 2] / n[4 * NB + 1], 0.62, 0.85);
}

/* Barcodes: TCGA-XX-YYYY-01 and unique across the cohort (gathered on every rank). */
static void check_ids(const OvqCohort *c) {
  int size, width = c->sample_id.width;
  OVQ_MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &size));
  int *counts = OVQ_MALLOC((size_t)size * sizeof *counts),
      *displs = OVQ_MALLOC((size_t)size * sizeof *displs);
  int mine = OVQ_INT(c->n_local * width, "id bytes");
  OVQ_MPI_CHECK(MPI_Allgather(&mine, 1, MPI_INT, counts, 1, MPI_INT, MPI_COMM_WORLD));
  for (int r = 0, off = 0; r < size; off += counts[r++])
    displs[r] = off;
  char *all = OVQ_MALLOC((size_t)(c->n_total * width));
  OVQ_MPI_CHECK(MPI_Allgatherv(c->sample_id.data, mine, MPI_CHAR, all, counts, displs, MPI_CHAR,
                               MPI_COMM_WORLD));
  int64_t bad = 0, dup = 0;
  for (int64_t i = 0; i < c->n_total; i++) {
    const char *s = all + i * width;
    bad += strlen(s) != 15 || strncmp(s, "TCGA-", 5) != 0 || s[7] != '-' || strcmp(s + 12, "-01");
  }
  qsort(all, (size_t)c->n_total, (size_t)width, cmp_id);
  for (int64_t i = 1; i < c->n_total; i++)
    dup += !strcmp(all + (i - 1) * width, all + i * width);
  check("ids: barcodes not of the form TCGA-XX-YYYY-01", (double)bad, 0, 0);
  check("ids: duplicate barcodes", (double)dup, 0, 0);
  free(all);
  free(counts);
  free(displs);
}

/* Ground truth: module and target coverage. */
static void check_truth(const OvqCohort *c) {
  int64_t in_module = 0, targeting = 0;
  for (int64_t g = 0; g < c->n_mrna; g++)
    in_module += c->mrna_module[g] >= 0;
  for (int64_t j = 0; j < c->n_mirna; j++)
    targeting += c->mirna_target[j] >= 0;
  check("truth: fraction of genes in a module", (double)in_module / c->n_mrna, 0.4, 0.65);
  check("truth: fraction of miRNAs with a target module", (double)targeting / c->n_mirna, 0.05,
        0.5);
}

/* Between-cancer share of each gene's variance (eta^2): the tissue programmes must separate the
 * cancer types as clearly as in pan-cancer TCGA. */
static void check_tissue(const OvqCohort *c) {
  enum { NB = 10 };
  int64_t G = c->n_mrna;
  double *acc = OVQ_CALLOC((size_t)(3 * NB * G), sizeof *acc); /* [NB][G] n, sum, sum sq */
  for (int64_t i = 0; i < c->n_local; i++) {
    int b = cancer_of(c, i);
    for (int64_t g = 0; g < G; g++) {
      double v = c->mrna[i * G + g];
      if (isnan(v)) continue;
      acc[b * G + g] += 1;
      acc[(NB + b) * G + g] += v;
      acc[(2 * NB + b) * G + g] += v * v;
    }
  }
  sum_f64(acc, (int)(3 * NB * G));
  double *share = OVQ_MALLOC((size_t)G * sizeof *share);
  for (int64_t g = 0; g < G; g++) {
    double n = 0, sx = 0, sxx = 0, between = 0;
    for (int b = 0; b < NB; b++) {
      n += acc[b * G + g];
      sx += acc[(NB + b) * G + g];
      sxx += acc[(2 * NB + b) * G + g];
    }
    for (int b = 0; b < NB; b++) {
      double nb = acc[b * G + g], d = acc[(NB + b) * G + g] / nb - sx / n;
      between += nb * d * d;
    }
    double total = sxx - sx * sx / n;
    share[g] = total > 0 ? between / total : 0;
  }
  qsort(share, (size_t)G, sizeof *share, cmp_double);
  check("pan-cancer: median between-cancer variance share of a gene", share[G / 2], 0.15, 0.6);
  check("pan-cancer: 90th percentile of that share", share[G * 9 / 10], 0.5, 1.0);
  free(share);
  free(acc);
}

/* ---- BRCA at scale 1 ------------------------------------------------------------------------ */

/* Exact PAM50-like counts by largest remainder (50/20/18/8/4 % of 1100). */
static void check_brca_subtypes(const OvqCohort *c) {
  static const char *names[5] = {"LumA", "LumB", "Basal", "Her2", "Normal"};
  static const double prop[5] = {.50, .20, .18, .08, .04};
  /* per subtype; labelled, agreeing; the same for the two smallest (Her2, Normal) */
  int64_t n[9] = {0}, want[5], left = c->n_total;
  double rem[5];
  for (int s = 0; s < 5; s++) {
    want[s] = (int64_t)floor(c->n_total * prop[s]);
    rem[s] = c->n_total * prop[s] - want[s];
    left -= want[s];
  }
  for (; left > 0; left--) {
    int best = 0;
    for (int s = 1; s < 5; s++)
      if (rem[s] > rem[best]) best = s;
    want[best]++;
    rem[best] = -1;
  }
  for (int64_t i = 0; i < c->n_local; i++) {
    const char *label = ovq_strings_at(&c->label, i), *truth = ovq_strings_at(&c->true_subtype, i);
    for (int s = 0; s < 5; s++)
      n[s] += !strcmp(truth, names[s]);
    int small = !strcmp(truth, "Her2") || !strcmp(truth, "Normal");
    n[5] += *label != '\0';
    n[6] += !strcmp(label, truth);
    n[7] += small && *label != '\0';
    n[8] += small && !strcmp(label, truth);
  }
  sum_i64(n, 9);
  char what[96];
  for (int s = 0; s < 5; s++) {
    snprintf(what, sizeof what, "BRCA x1: samples of %s (largest remainder)", names[s]);
    check(what, (double)n[s], (double)want[s], (double)want[s]);
  }
  check("BRCA x1: label agreement with the truth (labelled)", (double)n[6] / n[5], 0.76, 0.9);
  check("BRCA x1: label agreement, Her2 and Normal (mixed into larger)", (double)n[8] / n[7], 0.3,
        0.6);
}

static int subtype_index(const char *name) {
  static const char *names[5] = {"LumA", "LumB", "Basal", "Her2", "Normal"};
  for (int s = 0; s < 5; s++)
    if (!strcmp(name, names[s])) return s;
  OVQ_ABORT("unexpected BRCA subtype '%s'", name);
}

/* Between-subtype share of each gene's variance (eta^2): large for some module genes, chance
 * level for background genes. */
static void check_module_signal(const OvqCohort *c) {
  int64_t G = c->n_mrna;
  /* [5][G] count, sum, sum of squares */
  double *acc = OVQ_CALLOC((size_t)(15 * G), sizeof *acc);
  for (int64_t i = 0; i < c->n_local; i++) {
    int s = subtype_index(ovq_strings_at(&c->true_subtype, i));
    for (int64_t g = 0; g < G; g++) {
      double v = c->mrna[i * G + g];
      if (isnan(v)) continue;
      acc[s * G + g] += 1;
      acc[(5 + s) * G + g] += v;
      acc[(10 + s) * G + g] += v * v;
    }
  }
  sum_f64(acc, (int)(15 * G));
  double best_module = 0, best_background = 0, mean_module = 0, mean_background = 0;
  int64_t n_module = 0;
  for (int64_t g = 0; g < G; g++) {
    double n = 0, sx = 0, sxx = 0, between = 0;
    for (int s = 0; s < 5; s++) {
      n += acc[s * G + g];
      sx += acc[(5 + s) * G + g];
      sxx += acc[(10 + s) * G + g];
    }
    double total = sxx - sx * sx / n;
    for (int s = 0; s < 5; s++) {
      double ns = acc[s * G + g], ms = acc[(5 + s) * G + g] / ns;
      between += ns * (ms - sx / n) * (ms - sx / n);
    }
    double eta2 = total > 0 ? between / total : 0;
    if (c->mrna_module[g] >= 0) {
      best_module = fmax(best_module, eta2);
      mean_module += eta2;
      n_module++;
    } else {
      best_background = fmax(best_background, eta2);
      mean_background += eta2;
    }
  }
  mean_module /= n_module;
  mean_background /= (double)(G - n_module);
  check("BRCA x1: largest between-subtype variance share, module gene", best_module, 0.5, 1.0);
  check("BRCA x1: largest between-subtype variance share, background", best_background, 0.0, 0.05);
  check("BRCA x1: mean share module genes / mean share background", mean_module / mean_background,
        5.0, INFINITY);
  free(acc);
}

/* Within BRCA, each targeting (expressed) miRNA against the mean of its target module. */
static void check_mirna_targets(const OvqCohort *c) {
  int64_t G = c->n_mrna, M = c->n_mirna, K = 0;
  for (int64_t g = 0; g < G; g++)
    if (c->mrna_module[g] + 1 > K) K = c->mrna_module[g] + 1;
  double *module_mean = OVQ_MALLOC((size_t)K * sizeof *module_mean);
  int64_t *module_n = OVQ_MALLOC((size_t)K * sizeof *module_n);
  double *acc = OVQ_CALLOC((size_t)(6 * M), sizeof *acc); /* n, sx, sy, sxx, syy, sxy per miRNA */
  for (int64_t i = 0; i < c->n_local; i++) {
    memset(module_mean, 0, (size_t)K * sizeof *module_mean);
    memset(module_n, 0, (size_t)K * sizeof *module_n);
    for (int64_t g = 0; g < G; g++) {
      float v = c->mrna[i * G + g];
      if (c->mrna_module[g] < 0 || isnan(v)) continue;
      module_mean[c->mrna_module[g]] += v;
      module_n[c->mrna_module[g]]++;
    }
    for (int64_t j = 0; j < M; j++) {
      int32_t k = c->mirna_target[j];
      double x = c->mirna[i * M + j];
      if (k < 0 || isnan(x) || module_n[k] == 0) continue;
      double y = module_mean[k] / module_n[k];
      double *a = acc + 6 * j;
      a[0] += 1;
      a[1] += x;
      a[2] += y;
      a[3] += x * x;
      a[4] += y * y;
      a[5] += x * y;
    }
  }
  sum_f64(acc, (int)(6 * M));
  double sum_r = 0;
  int64_t n_r = 0, n_neg = 0;
  for (int64_t j = 0; j < M; j++) {
    const double *a = acc + 6 * j;
    if (a[0] < 10 || a[1] / a[0] < 5.0) continue; /* not targeting, or barely expressed */
    double cov = a[5] / a[0] - a[1] * a[2] / (a[0] * a[0]);
    double vx = a[3] / a[0] - a[1] * a[1] / (a[0] * a[0]);
    double vy = a[4] / a[0] - a[2] * a[2] / (a[0] * a[0]);
    double r = cov / sqrt(vx * vy);
    sum_r += r;
    n_r++;
    n_neg += r < 0;
  }
  check("BRCA x1: expressed targeting miRNAs", (double)n_r, 3, INFINITY);
  check("BRCA x1: mean corr(miRNA, its target module's mean)", sum_r / n_r, -1.0, -0.3);
  check("BRCA x1: fraction of those correlations < 0", (double)n_neg / n_r, 0.9, 1.0);
  free(acc);
  free(module_n);
  free(module_mean);
}

/* ---- rank independence and parameter checks ------------------------------------------------- */

static int differ(const void *a, const void *b, size_t bytes) {
  return memcmp(a, b, bytes) != 0;
}

static int differ_strings(const OvqStrings *a, const OvqStrings *b, int64_t from, int64_t n) {
  if (a->width != b->width) return 1;
  return differ(a->data, b->data + from * b->width, (size_t)(n * a->width));
}

/* This rank's block generated on MPI_COMM_WORLD must equal the same rows of the whole cohort
 * generated by this rank alone, bit for bit. */
static void check_rank_independence(void) {
  OvqSynthParams p = params("GBM,OV,PRAD", 0.2, 300, 60);
  OvqCohort part = generate(&p, MPI_COMM_WORLD), whole = generate(&p, MPI_COMM_SELF);
  int64_t r0 = part.row_start, n = part.n_local, G = part.n_mrna, M = part.n_mirna;
  int64_t diff = differ(part.mrna, whole.mrna + r0 * G, (size_t)(n * G) * sizeof(float)) +
                 differ(part.mirna, whole.mirna + r0 * M, (size_t)(n * M) * sizeof(float)) +
                 differ(part.os_time, whole.os_time + r0, (size_t)n * sizeof(double)) +
                 differ(part.os_event, whole.os_event + r0, (size_t)n) +
                 differ(part.batch, whole.batch + r0, (size_t)n) +
                 differ(part.mrna_module, whole.mrna_module, (size_t)G * sizeof(int32_t)) +
                 differ(part.mirna_target, whole.mirna_target, (size_t)M * sizeof(int32_t)) +
                 differ_strings(&part.sample_id, &whole.sample_id, r0, n) +
                 differ_strings(&part.cancer, &whole.cancer, r0, n) +
                 differ_strings(&part.label, &whole.label, r0, n) +
                 differ_strings(&part.true_subtype, &whole.true_subtype, r0, n) +
                 differ_strings(&part.mrna_ids, &whole.mrna_ids, 0, G) +
                 differ_strings(&part.mirna_ids, &whole.mirna_ids, 0, M);
  sum_i64(&diff, 1);
  check("rank independence: fields differing from a 1-rank run", (double)diff, 0, 0);
  ovq_cohort_destroy(&part);
  ovq_cohort_destroy(&whole);
}

/* A bad parameter set must fail on every rank with a message naming the problem. */
static void expect_error(const char *what, OvqSynthParams p, const char *needle) {
  OvqCohort c;
  ovq_error_clear();
  OvqStatus st = ovq_synth_generate(&p, MPI_COMM_WORLD, &c);
  int64_t bad = st != OVQ_ERR || !strstr(ovq_error_message(), needle);
  ovq_cohort_destroy(&c);
  sum_i64(&bad, 1);
  say("     %s -> \"%s\"\n", what, ovq_error_message());
  check(what, (double)bad, 0, 0);
}

static void check_params(void) {
  check("size: BRCA at scale 1", (double)ovq_synth_cancer_size("BRCA", 1.0), 1100, 1100);
  check("size: GBM at scale 0.01 (4 per subtype)", (double)ovq_synth_cancer_size("GBM", 0.01), 16,
        16);
  check("size: unknown cancer", (double)ovq_synth_cancer_size("XYZ", 1.0), -1, -1);
  expect_error("error: unknown cancer", params("BRCA,XYZ", 1, 1000, 10), "'XYZ'");
  expect_error("error: cancer listed twice", params("OV,OV", 1, 1000, 10), "twice");
  expect_error("error: n_genes < 100", params("OV", 1, 99, 10), "n_genes");
  expect_error("error: n_mirnas < 0", params("OV", 1, 1000, -1), "n_mirnas");
  expect_error("error: scale 0", params("OV", 0, 1000, 10), "scale");
  expect_error("error: more samples than barcodes", params(kAll, 400, 1000, 10), "barcodes");
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  ovq_log_init(MPI_COMM_WORLD);
  double t0 = MPI_Wtime();

  OvqSynthParams pan = params(kAll, 0.5, 2000, 300);
  OvqCohort c = generate(&pan, MPI_COMM_WORLD);
  check_values(&c);
  check_clinical(&c);
  check_ids(&c);
  check_truth(&c);
  check_tissue(&c);
  ovq_cohort_destroy(&c);

  OvqSynthParams brca = params("BRCA", 1.0, 1000, 200);
  c = generate(&brca, MPI_COMM_WORLD);
  check_brca_subtypes(&c);
  check_module_signal(&c);
  check_mirna_targets(&c);
  ovq_cohort_destroy(&c);

  check_rank_independence();
  check_params();

  int failures = g_failures;
  OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &failures, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD));
  say("test_synth_stats: %d failure(s), %.1f s\n", failures, MPI_Wtime() - t0);
  MPI_Finalize();
  return failures ? 1 : 0;
}
