/* Consensus NMF (see include/ovq/nmf.h): R NMF's Brunet and Lee multiplicative updates on
 * sample-distributed data, NMF's connectivity stopping rule, nrun random starts, the consensus
 * matrix and its average-linkage tree (hclust.h).
 *
 * Sums over samples. Only the W update needs them (H columns update from their own sample and
 * the replicated W). Each term is rounded to a multiple of 2^-s and added as a 64-bit integer,
 * so the totals are exact and do not depend on how samples are spread over ranks. The scale of
 * each total comes from a bound that every rank knows without communicating:
 * - Brunet numerator sum_j H_aj V_ij / (WH)_ij: as W_ia H_aj <= (WH)_ij, each term is at most
 *   V_ij / W_ia, so the total is at most rowsum(V)_i / W_ia (rowsum computed once, exactly);
 * - sum_j H_aj and Lee's (V H')_ia, (H H')_ab: from the largest H_a over all samples (one small
 *   MAX allreduce per iteration): N max H_a, rowsum(V)_i max H_a, N max H_a max H_b.
 * With one bit of headroom (totals below 2^62), the resolution is 2^-61 of the bound.
 * A zero W_ia (its update is 0 whatever the sum) contributes nothing. */
#include "ovq/nmf.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ovq/fixedsum.h"
#include "ovq/hclust.h"
#include "ovq/rng.h"

#define LEE_EPS 1e-9 /* NMF:::nmf_update.lee's eps */

typedef struct Ctx {
  int64_t n_local, n, first, fe; /* local samples, all samples, first global sample, F' */
  int k;
  float *v;        /* [n_local][fe]: local columns of V (exact: parts of float values) */
  double *rowsum;  /* [fe]: sums of V's rows over all samples (exact) */
  int64_t *starts; /* [size + 1] */
  MPI_Comm comm;
  int rank, size;
} Ctx;

/* 2^(61 - e) with bound < 2^e: totals up to the bound stay below 2^62. 0 for no bound. */
static double scale_for(double bound) {
  if (!(bound > 0.0) || !isfinite(bound)) return 0.0;
  int e;
  frexp(bound, &e);
  return ldexp(1.0, 61 - e);
}

static inline int64_t fix(double v, double scale) {
  return scale > 0.0 ? llrint(v * scale) : 0;
}

/* Largest H_a over all samples, [k]. Collective. */
static void global_hmax(const Ctx *c, const double *H, double *hmax) {
  for (int a = 0; a < c->k; a++)
    hmax[a] = 0.0;
  for (int64_t j = 0; j < c->n_local; j++)
    for (int a = 0; a < c->k; a++)
      hmax[a] = fmax(hmax[a], H[j * c->k + a]);
  OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, hmax, c->k, MPI_DOUBLE, MPI_MAX, c->comm));
}

/* One Brunet iteration (divergence.cpp: H with the old W, then W with the new H). */
static void brunet_step(const Ctx *c, double *W, double *H, int it, int64_t *acc, double *scale,
                        double *tmp) {
  const int k = c->k;
  const int64_t fe = c->fe, nk = fe * k;
  double *colsum = tmp, *hacc = tmp + k, *hmax = tmp + 2 * k, *hsc = tmp + 3 * k;
  for (int a = 0; a < k; a++)
    colsum[a] = 0.0;
  for (int64_t f = 0; f < fe; f++)
    for (int a = 0; a < k; a++)
      colsum[a] += W[f * k + a];
  for (int64_t j = 0; j < c->n_local; j++) {
    const float *vj = c->v + j * fe;
    double *hj = H + j * k;
    for (int a = 0; a < k; a++)
      hacc[a] = 0.0;
    for (int64_t f = 0; f < fe; f++) {
      const double *wf = W + f * k;
      double wh = 0.0;
      for (int a = 0; a < k; a++)
        wh += wf[a] * hj[a];
      double r = vj[f] / wh;
      for (int a = 0; a < k; a++)
        hacc[a] += wf[a] * r;
    }
    for (int a = 0; a < k; a++)
      hj[a] = hj[a] * hacc[a] / colsum[a];
  }

  global_hmax(c, H, hmax);
  for (int a = 0; a < k; a++)
    hsc[a] = scale_for(hmax[a] * (double)c->n);
  for (int64_t f = 0; f < fe; f++)
    for (int a = 0; a < k; a++)
      scale[f * k + a] = W[f * k + a] > 0.0 ? scale_for(c->rowsum[f] / W[f * k + a]) : 0.0;
  memset(acc, 0, sizeof(int64_t) * (size_t)(nk + k));
  for (int64_t j = 0; j < c->n_local; j++) {
    const float *vj = c->v + j * fe;
    const double *hj = H + j * k;
    for (int64_t f = 0; f < fe; f++) {
      const double *wf = W + f * k;
      double wh = 0.0;
      for (int a = 0; a < k; a++)
        wh += wf[a] * hj[a];
      double r = vj[f] / wh;
      for (int a = 0; a < k; a++)
        acc[f * k + a] += fix(hj[a] * r, scale[f * k + a]);
    }
    for (int a = 0; a < k; a++)
      acc[nk + a] += fix(hj[a], hsc[a]);
  }
  OVQ_MPI_CHECK(
      MPI_Allreduce(MPI_IN_PLACE, acc, OVQ_INT(nk + k, "F' k"), MPI_INT64_T, MPI_SUM, c->comm));
  for (int64_t f = 0; f < fe; f++)
    for (int a = 0; a < k; a++) {
      double s = scale[f * k + a];
      double num = s > 0.0 ? (double)acc[f * k + a] / s : 0.0;
      W[f * k + a] = W[f * k + a] * num / ((double)acc[nk + a] / hsc[a]);
    }
  if (it % 10 == 0) { /* nmf_update.brunet: pmax(h, eps), pmax(w, eps) every 10 iterations */
    for (int64_t i = 0; i < c->n_local * k; i++)
      H[i] = fmax(H[i], DBL_EPSILON);
    for (int64_t i = 0; i < nk; i++)
      W[i] = fmax(W[i], DBL_EPSILON);
  }
}

/* One Lee iteration (euclidean.cpp, then nmf_update.lee's rescaling of W's columns). */
static void lee_step(const Ctx *c, double *W, double *H, int64_t *acc, double *scale, double *tmp) {
  const int k = c->k, kk = k * k;
  const int64_t fe = c->fe, nk = fe * k;
  double *wtw = tmp, *hb = tmp + kk, *num = tmp + kk + k, *hmax = tmp + kk + 2 * k,
         *hsc = tmp + kk + 3 * k;
  for (int a = 0; a < k; a++)
    for (int b = 0; b < k; b++) {
      double s = 0.0;
      for (int64_t f = 0; f < fe; f++)
        s += W[f * k + a] * W[f * k + b];
      wtw[a * k + b] = s;
    }
  for (int64_t j = 0; j < c->n_local; j++) {
    const float *vj = c->v + j * fe;
    double *hj = H + j * k;
    for (int a = 0; a < k; a++) {
      hb[a] = hj[a];
      num[a] = 0.0;
    }
    for (int64_t f = 0; f < fe; f++)
      for (int a = 0; a < k; a++)
        num[a] += W[f * k + a] * vj[f];
    for (int a = 0; a < k; a++) {
      double den = 0.0;
      for (int b = 0; b < k; b++)
        den += wtw[a * k + b] * hb[b];
      double t = hb[a] * num[a];
      hj[a] = (t > LEE_EPS ? t : LEE_EPS) / (den + LEE_EPS);
    }
  }

  global_hmax(c, H, hmax);
  for (int64_t f = 0; f < fe; f++)
    for (int a = 0; a < k; a++)
      scale[f * k + a] = scale_for(c->rowsum[f] * hmax[a]);
  for (int a = 0; a < k; a++)
    for (int b = 0; b < k; b++)
      hsc[a * k + b] = scale_for((double)c->n * hmax[a] * hmax[b]);
  memset(acc, 0, sizeof(int64_t) * (size_t)(nk + kk));
  for (int64_t j = 0; j < c->n_local; j++) {
    const float *vj = c->v + j * fe;
    const double *hj = H + j * k;
    for (int64_t f = 0; f < fe; f++)
      for (int a = 0; a < k; a++)
        acc[f * k + a] += fix(vj[f] * hj[a], scale[f * k + a]);
    for (int a = 0; a < k; a++)
      for (int b = 0; b < k; b++)
        acc[nk + a * k + b] += fix(hj[a] * hj[b], hsc[a * k + b]);
  }
  OVQ_MPI_CHECK(
      MPI_Allreduce(MPI_IN_PLACE, acc, OVQ_INT(nk + kk, "F' k"), MPI_INT64_T, MPI_SUM, c->comm));
  double *hht = wtw; /* W'W is no longer needed */
  for (int a = 0; a < kk; a++)
    hht[a] = hsc[a] > 0.0 ? (double)acc[nk + a] / hsc[a] : 0.0;
  for (int64_t f = 0; f < fe; f++) {
    double *wf = W + f * k;
    for (int a = 0; a < k; a++)
      hb[a] = wf[a];
    for (int a = 0; a < k; a++) {
      double vh = scale[f * k + a] > 0.0 ? (double)acc[f * k + a] / scale[f * k + a] : 0.0;
      double den = 0.0;
      for (int l = 0; l < k; l++)
        den += hb[l] * hht[l * k + a];
      double t = hb[a] * vh;
      wf[a] = (t < LEE_EPS ? LEE_EPS : t) / (den + LEE_EPS);
    }
  }
  for (int a = 0; a < k; a++) {
    double s = 0.0;
    for (int64_t f = 0; f < fe; f++)
      s += W[f * k + a];
    for (int64_t f = 0; f < fe; f++)
      W[f * k + a] /= s;
  }
}

/* Argmax of each local H column (first maximum, as R's which.max). */
static void argmax_labels(const Ctx *c, const double *H, int32_t *lab) {
  for (int64_t j = 0; j < c->n_local; j++) {
    int best = 0;
    for (int a = 1; a < c->k; a++)
      if (H[j * c->k + a] > H[j * c->k + best]) best = a;
    lab[j] = best;
  }
}

/* Do a and b (local labels 0..k-1) form the same partition of all samples? Collective. */
static int same_partition(const Ctx *c, const int32_t *a, const int32_t *b) {
  const int k = c->k;
  unsigned char *seen = OVQ_CALLOC((size_t)(k * k), 1);
  for (int64_t j = 0; j < c->n_local; j++)
    seen[a[j] * k + b[j]] = 1;
  OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, seen, k * k, MPI_UNSIGNED_CHAR, MPI_MAX, c->comm));
  int same = 1;
  for (int i = 0; i < k && same; i++) {
    int row = 0, col = 0;
    for (int j = 0; j < k; j++) {
      row += seen[i * k + j];
      col += seen[j * k + i];
    }
    same = row <= 1 && col <= 1;
  }
  free(seen);
  return same;
}

/* Term (j, f) of the objective: KL divergence (Brunet; V = 0 contributes WH) or half the
 * squared error (Lee). */
static double objective_term(const Ctx *c, OvqNmfMethod method, const double *W, const double *H,
                             int64_t j, int64_t f) {
  double wh = 0.0;
  for (int a = 0; a < c->k; a++)
    wh += W[f * c->k + a] * H[j * c->k + a];
  double v = c->v[j * c->fe + f];
  if (method == OVQ_NMF_BRUNET) return v > 0.0 ? v * log(v / wh) - v + wh : wh;
  return 0.5 * (v - wh) * (v - wh);
}

/* Final objective of a run, as an exact fixed-point sum. Collective. */
static double objective(const Ctx *c, OvqNmfMethod method, const double *W, const double *H) {
  double top = 0.0, total;
  for (int64_t j = 0; j < c->n_local; j++)
    for (int64_t f = 0; f < c->fe; f++)
      top = fmax(top, fabs(objective_term(c, method, W, H, j, f)));
  OvqFixedSum s;
  ovq_fixed_init(&s, 1, ovq_fixed_bound(top, c->n * c->fe, c->comm));
  for (int64_t j = 0; j < c->n_local; j++)
    for (int64_t f = 0; f < c->fe; f++)
      ovq_fixed_add(&s, 0, objective_term(c, method, W, H, j, f));
  ovq_fixed_allreduce(&s, c->comm, &total);
  ovq_fixed_free(&s);
  return total;
}

void ovq_nmf_defaults(OvqNmfParams *p) {
  p->k = 2;
  p->method = OVQ_NMF_BRUNET;
  p->nrun = 30;
  p->max_iter = 2000;
  p->stopconv = 40;
  p->check_interval = 10;
  p->seed = 0;
  p->init_w = NULL;
  p->init_h = NULL;
}

void ovq_nmf_result_free(OvqNmfResult *r) {
  if (!r) return;
  free(r->feature_of);
  free(r->w);
  free(r->h);
  free(r->objective);
  free(r->n_iter);
  free(r->run_labels);
  free(r->labels);
  free(r->best_labels);
  memset(r, 0, sizeof *r);
}

void ovq_nmf_consensus(const OvqNmfResult *r, double *out) {
  const int64_t n = r->n;
  for (int64_t i = 0; i < n; i++) {
    out[i * n + i] = 1.0;
    for (int64_t j = i + 1; j < n; j++) {
      int same = 0;
      for (int t = 0; t < r->nrun; t++)
        same += r->run_labels[(int64_t)t * n + i] == r->run_labels[(int64_t)t * n + j];
      out[i * n + j] = out[j * n + i] = (double)same / r->nrun;
    }
  }
}

/* User errors visible from the arguments alone. */
static OvqStatus check_params(const OvqNmfParams *p, const float *x, int64_t n_local, int64_t F,
                              int same_f, int64_t n, int any_w, int any_h, int all_w, int all_h) {
  if (n_local < 0 || (n_local > 0 && !x))
    return ovq_error("nmf: no data on this rank (n_local = %lld)", (long long)n_local);
  if (F < 1) return ovq_error("nmf: F = %lld features; need at least 1", (long long)F);
  if (!same_f)
    return ovq_error("nmf: ranks hold samples of different widths (here F = %lld)", (long long)F);
  if (p->k < 1 || p->k > n)
    return ovq_error("nmf: rank k = %d must be between 1 and the number of samples (%lld)", p->k,
                     (long long)n);
  if (p->method != OVQ_NMF_BRUNET && p->method != OVQ_NMF_LEE)
    return ovq_error("nmf: unknown method %d", (int)p->method);
  if (p->nrun < 1) return ovq_error("nmf: nrun = %d; need at least 1 run", p->nrun);
  if (p->max_iter < 1) return ovq_error("nmf: max_iter = %d; need at least 1", p->max_iter);
  if (p->check_interval < 1)
    return ovq_error("nmf: check_interval = %d; need at least 1", p->check_interval);
  if (any_w || any_h) {
    if (!all_w || !all_h)
      return ovq_error("nmf: give both init_w and init_h on every rank, or neither");
    if (p->nrun != 1)
      return ovq_error("nmf: given starting W and H need nrun = 1 (here %d)", p->nrun);
  }
  return OVQ_OK;
}

OvqStatus ovq_nmf_fit(const OvqNmfParams *p, const float *x, int64_t n_local, int64_t F,
                      MPI_Comm comm, OvqNmfResult *out) {
  memset(out, 0, sizeof *out);
  Ctx c = {.n_local = n_local, .k = p->k, .comm = comm};
  OVQ_MPI_CHECK(MPI_Comm_rank(comm, &c.rank));
  OVQ_MPI_CHECK(MPI_Comm_size(comm, &c.size));
  int64_t mine[4] = {n_local, F, p->init_w != NULL, p->init_h != NULL || n_local == 0};
  int64_t *shape = OVQ_MALLOC(sizeof(int64_t) * 4 * (size_t)c.size);
  OVQ_MPI_CHECK(MPI_Allgather(mine, 4, MPI_INT64_T, shape, 4, MPI_INT64_T, comm));
  c.starts = OVQ_MALLOC(sizeof(int64_t) * (size_t)(c.size + 1));
  c.starts[0] = 0;
  int same_f = 1, any_w = 0, all_w = 1, any_h = 0, all_h = 1;
  for (int r = 0; r < c.size; r++) {
    c.starts[r + 1] = c.starts[r] + (shape[4 * r] > 0 ? shape[4 * r] : 0);
    same_f &= shape[4 * r + 1] == F;
    any_w |= shape[4 * r + 2] != 0;
    all_w &= shape[4 * r + 2] != 0;
    any_h |= shape[4 * r + 3] != 0 && shape[4 * r] > 0;
    all_h &= shape[4 * r + 3] != 0;
  }
  free(shape);
  c.n = c.starts[c.size];
  c.first = c.starts[c.rank];
  OvqStatus st = ovq_status_agree(
      comm, check_params(p, x, n_local, F, same_f, c.n, any_w, any_h, all_w, all_h));
  if (st != OVQ_OK) {
    free(c.starts);
    return st;
  }
  const int k = p->k;

  /* Effective features (ExecuteCNMF's rbind(pmax(X, 0), -pmin(X, 0)) minus all-zero rows):
   * row sums of both parts as exact fixed-point sums; bad[0] flags non-finite data. */
  double top = 0.0, bad = 0.0;
  for (int64_t i = 0; i < n_local * F; i++) {
    if (!isfinite(x[i]))
      bad = 1.0;
    else
      top = fmax(top, fabs(x[i]));
  }
  double flags[2] = {top, bad};
  OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, flags, 2, MPI_DOUBLE, MPI_MAX, comm));
  top = flags[0]; /* max |x| over all samples */
  bad = flags[1];
  if (bad > 0.0) {
    free(c.starts);
    return ovq_status_agree(comm, ovq_error("nmf: the data hold NaN or infinite values"));
  }
  OvqFixedSum rs;
  ovq_fixed_init(&rs, 2 * F, ovq_fixed_bound(top, c.n, comm));
  unsigned char *nz = OVQ_CALLOC((size_t)(2 * F), 1);
  for (int64_t j = 0; j < n_local; j++)
    for (int64_t f = 0; f < F; f++) {
      float v = x[j * F + f];
      if (v > 0.0f) {
        ovq_fixed_add(&rs, f, v);
        nz[f] = 1;
      } else if (v < 0.0f) {
        ovq_fixed_add(&rs, F + f, -v);
        nz[F + f] = 1;
      }
    }
  double *sums = OVQ_MALLOC(sizeof(double) * (size_t)(2 * F));
  ovq_fixed_allreduce(&rs, comm, sums);
  ovq_fixed_free(&rs);
  OVQ_MPI_CHECK(
      MPI_Allreduce(MPI_IN_PLACE, nz, OVQ_INT(2 * F, "2 F"), MPI_UNSIGNED_CHAR, MPI_MAX, comm));
  c.fe = 0;
  for (int64_t f = 0; f < 2 * F; f++)
    c.fe += nz[f];
  const int64_t fe = c.fe;
  st = OVQ_OK;
  if (k > fe)
    st = ovq_error("nmf: rank k = %d exceeds the %lld features with nonzero values", k,
                   (long long)fe);
  else if (p->init_w)
    for (int64_t i = 0; i < fe * k && st == OVQ_OK; i++)
      if (!(p->init_w[i] >= 0.0) || !isfinite(p->init_w[i]))
        st = ovq_error("nmf: init_w[%lld] = %g; need finite values >= 0", (long long)i,
                       p->init_w[i]);
  if (st == OVQ_OK && p->init_h)
    for (int64_t i = 0; i < n_local * k && st == OVQ_OK; i++)
      if (!(p->init_h[i] >= 0.0) || !isfinite(p->init_h[i]))
        st = ovq_error("nmf: init_h[%lld] = %g; need finite values >= 0", (long long)i,
                       p->init_h[i]);
  st = ovq_status_agree(comm, st);
  if (st != OVQ_OK) {
    free(nz);
    free(sums);
    free(c.starts);
    return st;
  }
  out->feature_of = OVQ_MALLOC(sizeof(int64_t) * (size_t)fe);
  c.rowsum = OVQ_MALLOC(sizeof(double) * (size_t)fe);
  for (int64_t f = 0, t = 0; f < 2 * F; f++)
    if (nz[f]) {
      out->feature_of[t] = f;
      c.rowsum[t++] = sums[f];
    }
  free(nz);
  free(sums);
  c.v = OVQ_MALLOC(sizeof(float) * (size_t)(n_local * fe + 1));
  for (int64_t j = 0; j < n_local; j++)
    for (int64_t t = 0; t < fe; t++) {
      int64_t f = out->feature_of[t];
      float v = f < F ? x[j * F + f] : -x[j * F + f - F];
      c.v[j * fe + t] = v > 0.0f ? v : 0.0f;
    }
  const double vmax = top; /* max V = max |x| over all samples (its part is kept) */

  const int64_t nk = fe * k, hk = n_local * k;
  out->k = k;
  out->nrun = p->nrun;
  out->n = c.n;
  out->first = c.first;
  out->n_local = n_local;
  out->n_feat = fe;
  out->w = OVQ_MALLOC(sizeof(double) * (size_t)nk);
  out->h = OVQ_MALLOC(sizeof(double) * (size_t)(hk + 1));
  out->objective = OVQ_MALLOC(sizeof(double) * (size_t)p->nrun);
  out->n_iter = OVQ_MALLOC(sizeof(int) * (size_t)p->nrun);
  out->run_labels = OVQ_MALLOC(sizeof(int32_t) * (size_t)(p->nrun * c.n));
  out->best_labels = OVQ_MALLOC(sizeof(int32_t) * (size_t)(n_local + 1));
  double *W = OVQ_MALLOC(sizeof(double) * (size_t)nk);
  double *H = OVQ_MALLOC(sizeof(double) * (size_t)(hk + 1));
  int64_t *acc = OVQ_MALLOC(sizeof(int64_t) * (size_t)(nk + k * k));
  double *scale = OVQ_MALLOC(sizeof(double) * (size_t)nk);
  double *tmp = OVQ_MALLOC(sizeof(double) * (size_t)(k * k + 4 * k + k * k));
  int32_t *lab = OVQ_MALLOC(sizeof(int32_t) * (size_t)(n_local + 1));
  int32_t *old = OVQ_MALLOC(sizeof(int32_t) * (size_t)(n_local + 1));
  int *counts = OVQ_MALLOC(sizeof(int) * (size_t)c.size),
      *displs = OVQ_MALLOC(sizeof(int) * (size_t)c.size);
  for (int r = 0; r < c.size; r++) {
    counts[r] = OVQ_INT(c.starts[r + 1] - c.starts[r], "samples");
    displs[r] = OVQ_INT(c.starts[r], "samples");
  }

  for (int run = 0; run < p->nrun; run++) {
    if (p->init_w) {
      memcpy(W, p->init_w, sizeof(double) * (size_t)nk);
      if (hk) memcpy(H, p->init_h, sizeof(double) * (size_t)hk);
    } else { /* NMF's seed "random": U(0, max V) */
      OvqRng r;
      ovq_rng_init(&r, p->seed, OVQ_STREAM_NMF_W, (uint64_t)run);
      for (int64_t i = 0; i < nk; i++)
        W[i] = vmax * ovq_rng_uniform(&r);
      for (int64_t j = 0; j < n_local; j++) {
        ovq_rng_init(&r, p->seed, OVQ_STREAM_NMF_H,
                     (uint64_t)run * (uint64_t)c.n + (uint64_t)(c.first + j));
        for (int a = 0; a < k; a++)
          H[j * k + a] = vmax * ovq_rng_uniform(&r);
      }
    }
    int it = 0, inc = 0, have_old = 0;
    while (it < p->max_iter) {
      it++;
      if (p->method == OVQ_NMF_BRUNET)
        brunet_step(&c, W, H, it, acc, scale, tmp);
      else
        lee_step(&c, W, H, acc, scale, tmp);
      if (p->stopconv >= 0 && it % p->check_interval == 0) {
        argmax_labels(&c, H, lab);
        if (have_old && same_partition(&c, old, lab)) {
          inc++;
        } else {
          memcpy(old, lab, sizeof(int32_t) * (size_t)n_local);
          have_old = 1;
          inc = 0;
        }
        if (inc > p->stopconv) break;
      }
    }
    out->n_iter[run] = it;
    out->objective[run] = objective(&c, p->method, W, H);
    argmax_labels(&c, H, lab);
    OVQ_MPI_CHECK(MPI_Allgatherv(lab, OVQ_INT(n_local, "samples"), MPI_INT32_T,
                                 out->run_labels + (int64_t)run * c.n, counts, displs, MPI_INT32_T,
                                 comm));
    ovq_log(OVQ_LOG_DEBUG, "nmf run %d: %d iterations, objective %.9g", run, it,
            out->objective[run]);
    if (run == 0 || out->objective[run] < out->objective[out->best_run]) {
      out->best_run = run;
      memcpy(out->w, W, sizeof(double) * (size_t)nk);
      if (hk) memcpy(out->h, H, sizeof(double) * (size_t)hk);
      memcpy(out->best_labels, lab, sizeof(int32_t) * (size_t)n_local);
    }
  }
  free(W);
  free(H);
  free(acc);
  free(scale);
  free(tmp);
  free(lab);
  free(old);
  free(counts);
  free(displs);
  free(c.v);
  free(c.rowsum);

  /* Consensus: 1 - C as a condensed triangle on rank 0, its average-linkage tree cut at k. */
  const int64_t n = c.n;
  double *cond = NULL;
  if (c.rank == 0 && n > 1) {
    cond = OVQ_MALLOC(sizeof(double) * (size_t)(n * (n - 1) / 2));
    int64_t t = 0;
    for (int64_t i = 0; i < n; i++)
      for (int64_t j = i + 1; j < n; j++) {
        int same = 0;
        for (int r = 0; r < p->nrun; r++)
          same += out->run_labels[(int64_t)r * n + i] == out->run_labels[(int64_t)r * n + j];
        cond[t++] = 1.0 - (double)same / p->nrun;
      }
  }
  OvqHclustResult tree;
  st = ovq_hclust_from_condensed(OVQ_LINKAGE_AVERAGE, k, cond, n, comm, &tree);
  if (st != OVQ_OK) OVQ_ABORT("nmf: consensus tree: %s", ovq_error_message()); /* valid input */
  out->cophenetic = c.rank == 0 ? ovq_hclust_cophenetic_correlation(tree.merge, n, cond) : 0.0;
  OVQ_MPI_CHECK(MPI_Bcast(&out->cophenetic, 1, MPI_DOUBLE, 0, comm));
  out->n_clusters = tree.k;
  out->labels = OVQ_MALLOC(sizeof(int32_t) * (size_t)(n_local + 1));
  memcpy(out->labels, tree.labels + c.first, sizeof(int32_t) * (size_t)n_local);
  ovq_hclust_result_free(&tree);
  free(cond);
  free(c.starts);
  return OVQ_OK;
}
