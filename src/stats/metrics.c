/* Agreement of two labelings (see include/ovq/metrics.h): the contingency table is built from
 * each rank's samples and allreduced; every metric is then computed from the table alone,
 * following scikit-learn 1.2's sklearn/metrics/cluster/_supervised.py formula by formula so
 * that results agree to rounding, edge cases included. */
#include "ovq/metrics.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Pair counts reach n^4 (2^80 for a million samples): exact in 128 bits, as Python's integers
 * are exact in scikit-learn. */
__extension__ typedef __int128 i128;

OvqStatus ovq_metrics_contingency(const int32_t *a, const int32_t *b, int64_t n_local,
                                  MPI_Comm comm, OvqContingency *out) {
  memset(out, 0, sizeof *out);
  /* {largest a, largest b, bad arguments here}: one allreduce agrees on all three. */
  int64_t top[3] = {-1, -1, n_local < 0 || (n_local > 0 && (!a || !b))};
  for (int64_t i = 0; i < n_local && !top[2]; i++) {
    if (a[i] > top[0]) top[0] = a[i];
    if (b[i] > top[1]) top[1] = b[i];
  }
  OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, top, 3, MPI_INT64_T, MPI_MAX, comm));
  if (top[2]) return ovq_error("metrics: no labels passed on some rank (n_local or NULL arrays)");
  int64_t n_a = top[0] + 1, n_b = top[1] + 1, cells = (n_a + 1) * (n_b + 1);
  if (cells > OVQ_METRICS_MAX_CELLS)
    return ovq_error("metrics: labels up to %lld and %lld would need a %lld-cell contingency "
                     "table; labels must be codes 0..n-1 (recode them first)",
                     (long long)top[0], (long long)top[1], (long long)cells);

  int64_t *count = OVQ_CALLOC((size_t)cells, sizeof(int64_t));
  for (int64_t i = 0; i < n_local; i++) {
    int64_t r = a[i] < 0 ? n_a : a[i], c = b[i] < 0 ? n_b : b[i];
    count[r * (n_b + 1) + c]++;
  }
  OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, count, OVQ_INT(cells, "contingency cells"), MPI_INT64_T,
                              MPI_SUM, comm));
  out->n_a = (int)n_a;
  out->n_b = (int)n_b;
  out->count = count;
  for (int64_t r = 0; r <= n_a; r++)
    for (int64_t c = 0; c <= n_b; c++) {
      int64_t v = count[r * (n_b + 1) + c];
      if (r < n_a && c < n_b)
        out->n_known += v;
      else
        out->n_unknown += v;
    }
  return OVQ_OK;
}

void ovq_metrics_contingency_free(OvqContingency *t) {
  if (!t) return;
  free(t->count);
  memset(t, 0, sizeof *t);
}

int64_t ovq_metrics_count(const OvqContingency *t, int i, int j) {
  if (i >= t->n_a || j >= t->n_b) return 0;
  int r = i < 0 ? t->n_a : i, c = j < 0 ? t->n_b : j;
  return t->count[(int64_t)r * (t->n_b + 1) + c];
}

/* Row (a) and column (b) totals over the known samples; returns how many are non-zero in
 * *rows_used / *cols_used. Caller frees *rows and *cols. */
static void margins(const OvqContingency *t, int64_t **rows, int64_t **cols, int *rows_used,
                    int *cols_used) {
  const int64_t w = t->n_b + 1;
  *rows = OVQ_CALLOC((size_t)t->n_a + 1, sizeof(int64_t));
  *cols = OVQ_CALLOC((size_t)t->n_b + 1, sizeof(int64_t));
  for (int i = 0; i < t->n_a; i++)
    for (int j = 0; j < t->n_b; j++) {
      (*rows)[i] += t->count[i * w + j];
      (*cols)[j] += t->count[i * w + j];
    }
  *rows_used = 0;
  *cols_used = 0;
  for (int i = 0; i < t->n_a; i++)
    *rows_used += (*rows)[i] > 0;
  for (int j = 0; j < t->n_b; j++)
    *cols_used += (*cols)[j] > 0;
}

double ovq_metrics_ari(const OvqContingency *t) {
  int64_t *rows, *cols;
  int ru, cu;
  margins(t, &rows, &cols, &ru, &cu);
  const int64_t w = t->n_b + 1;
  i128 n = t->n_known, sum_sq = 0, rows_sq = 0, cols_sq = 0;
  for (int i = 0; i < t->n_a; i++) {
    rows_sq += (i128)rows[i] * rows[i];
    for (int j = 0; j < t->n_b; j++)
      sum_sq += (i128)t->count[i * w + j] * t->count[i * w + j];
  }
  for (int j = 0; j < t->n_b; j++)
    cols_sq += (i128)cols[j] * cols[j];
  free(rows);
  free(cols);
  /* sklearn's pair_confusion_matrix (ordered pairs) */
  i128 tp = sum_sq - n, fp = cols_sq - sum_sq, fn = rows_sq - sum_sq;
  i128 tn = n * n - fp - fn - sum_sq;
  if (fn == 0 && fp == 0) return 1.0;
  /* As in Python: the integer numerator and denominator are each rounded to double. */
  double num = (double)(tp * tn - fn * fp),
         den = (double)((tp + fn) * (fn + tn) + (tp + fp) * (fp + tn));
  return 2.0 * num / den;
}

/* sklearn's entropy(): natural log, 0 for a single cluster. */
static double entropy(const int64_t *p, int m) {
  double total = 0.0;
  int used = 0;
  for (int i = 0; i < m; i++) {
    total += (double)p[i];
    used += p[i] > 0;
  }
  if (used <= 1) return 0.0;
  double h = 0.0, log_total = log(total);
  for (int i = 0; i < m; i++)
    if (p[i] > 0) h += ((double)p[i] / total) * (log((double)p[i]) - log_total);
  return -h;
}

double ovq_metrics_nmi(const OvqContingency *t, OvqNmiAverage average) {
  int64_t *rows, *cols;
  int ru, cu;
  margins(t, &rows, &cols, &ru, &cu);
  double nmi;
  if ((ru == 1 && cu == 1) || (ru == 0 && cu == 0)) {
    nmi = 1.0; /* no split at all on either side: a perfect match */
  } else if (ru == 1 || cu == 1) {
    nmi = 0.0; /* MI <= min(H(a), H(b)) = 0 */
  } else {
    /* sklearn's mutual_info_score term by term, terms below machine epsilon dropped */
    const int64_t w = t->n_b + 1;
    double n = (double)t->n_known, log_n = log(n), mi = 0.0;
    for (int i = 0; i < t->n_a; i++)
      for (int j = 0; j < t->n_b; j++) {
        int64_t c = t->count[i * w + j];
        if (c == 0) continue;
        double nm = (double)c / n;
        double log_outer = -log((double)(rows[i] * cols[j])) + log_n + log_n;
        double term = nm * (log((double)c) - log_n) + nm * log_outer;
        if (fabs(term) >= DBL_EPSILON) mi += term;
      }
    if (mi <= 0.0) {
      nmi = 0.0;
    } else {
      double ha = entropy(rows, t->n_a), hb = entropy(cols, t->n_b);
      double norm = average == OVQ_NMI_GEOMETRIC ? sqrt(ha * hb) : (ha + hb) / 2.0;
      nmi = mi / norm;
    }
  }
  free(rows);
  free(cols);
  return nmi;
}

double ovq_metrics_purity(const OvqContingency *t) {
  if (t->n_known == 0) return 1.0;
  const int64_t w = t->n_b + 1;
  int64_t hit = 0;
  for (int j = 0; j < t->n_b; j++) {
    int64_t best = 0;
    for (int i = 0; i < t->n_a; i++)
      if (t->count[i * w + j] > best) best = t->count[i * w + j];
    hit += best;
  }
  return (double)hit / (double)t->n_known;
}

OvqStatus ovq_metrics_agreement(const int32_t *a, const int32_t *b, int64_t n_local, MPI_Comm comm,
                                OvqAgreement *out) {
  memset(out, 0, sizeof *out);
  OvqContingency t;
  OvqStatus st = ovq_metrics_contingency(a, b, n_local, comm, &t);
  if (st != OVQ_OK) return st;
  out->ari = ovq_metrics_ari(&t);
  out->nmi = ovq_metrics_nmi(&t, OVQ_NMI_ARITHMETIC);
  out->nmi_geometric = ovq_metrics_nmi(&t, OVQ_NMI_GEOMETRIC);
  out->purity = ovq_metrics_purity(&t);
  out->n_known = t.n_known;
  out->n_unknown = t.n_unknown;
  ovq_metrics_contingency_free(&t);
  return OVQ_OK;
}
