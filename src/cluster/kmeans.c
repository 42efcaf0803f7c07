/* k-means on row-distributed data (see include/ovq/kmeans.h): Lloyd iterations as scikit-learn's
 * _kmeans_single_lloyd, greedy k-means++ (scikit-learn's _kmeans_plusplus) with distributed D^2
 * sampling, k-means|| (Bahmani et al., PVLDB 5(7), 2012, Algorithm 2) and n_init restarts.
 *
 * Distances. ||x - c||^2 is computed in the frame of the data's mean m, as scikit-learn centres
 * X before clustering, so that data far from the origin do not lose the distance to
 * cancellation; but the rows are not copied: with c' = c - m,
 *   ||x - c||^2 = ||x - m||^2 + (||c'||^2 + 2 m.c') - 2 x.c'
 * where ||x - m||^2 is computed once per fit, the bracket once per centre, and x.c' by one
 * SGEMM per block of BLOCK_ROWS rows (the block's distance matrix stays in cache). The
 * assignment compares the last two terms only, as scikit-learn does.
 *
 * Cluster sums. Lloyd keeps each cluster's sum in 64-bit fixed point: feature f of a row
 * becomes q = trunc(x_f 2^e_f), with e_f chosen from the largest |x_f| over all samples so that
 * a sum of all N rows cannot overflow (resolution 2^-(62 - log2 N) of that largest value:
 * 2^-42 at N = 10^6, far below float precision). Integer sums are exact, so they (1) do not
 * depend on the order of addition: centres are bit-identical for any number of ranks; and (2)
 * can be updated instead of recomputed: a sample whose label changes moves its q from one sum
 * to the other, so late iterations, which change few labels, cost little more than the SGEMM.
 * The data mean (the distance frame) is summed the same way.
 *
 * Rank independence. A sample's distances depend only on its row and the centres (BLAS computes
 * each row of a product the same way wherever the row sits in the block: checked by the
 * 1/2/4-rank tests); every random draw is keyed by global row, restart, centre or round; D^2
 * sampling locates a draw in the global cumulative mass by rank offsets gathered in rank
 * order, so the same sample is chosen for any rank count up to double rounding at an interval
 * boundary (the cumulative masses, like the reported inertia, are double sums). */
#include "ovq/kmeans.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ovq/partition.h"
#include "ovq/rng.h"

/* Random streams of this module (listed in rng.h). */
enum {
  STREAM_KMEANS_PP = OVQ_STREAM_KMEANS_PP,
  STREAM_KMEANS_PAR_SAMPLE = OVQ_STREAM_KMEANS_PAR,
  STREAM_KMEANS_PAR_FIRST = OVQ_STREAM_KMEANS_PAR_FIRST,
  STREAM_KMEANS_PAR_RECLUSTER = OVQ_STREAM_KMEANS_PAR_PP
};

enum {
  BLOCK_ROWS = 1024, /* rows per SGEMM: x block (d = 64: 256 KB) and distances stay in L2 */
  PAR_ROUNDS = 5     /* k-means|| rounds: Bahmani et al. find 5 enough for l = 2k (sec. 5) */
};

/* The samples as one rank sees them. */
typedef struct Shard {
  const float *x;  /* [n][d] */
  int64_t n, d;    /* local rows, features */
  int di;          /* d as the int BLAS takes */
  int64_t n_total; /* rows on all ranks */
  MPI_Comm comm;   /* MPI_COMM_SELF for the replicated k-means|| candidates */
  int rank, size;
  int64_t *starts;      /* [size + 1]: first global row of each rank, starts[size] = n_total */
  const float *mean;    /* [d]: the frame distances are computed in */
  const double *qscale; /* [d]: fixed-point scale 2^e_f of feature f (see "Cluster sums") */
  float *xn;            /* [n]: ||x - mean||^2 */
  const double *weight; /* [n]: sample weights, NULL = all 1 */
} Shard;

/* Squared distances of a block of rows to m centres. */
typedef struct Dist {
  int m;
  float *cc;   /* [m][d]: c - mean */
  float *cfix; /* [m]: ||c - mean||^2 + 2 mean.(c - mean) */
  float *d2;   /* [BLOCK_ROWS][m]: cfix - 2 x.cc; add xn for the squared distance */
} Dist;

static void dist_alloc(Dist *w, const Shard *s, int m) {
  w->m = m;
  w->cc = OVQ_MALLOC(sizeof(float) * (size_t)m * (size_t)s->d);
  w->cfix = OVQ_MALLOC(sizeof(float) * (size_t)m);
  w->d2 = OVQ_MALLOC(sizeof(float) * (size_t)m * BLOCK_ROWS);
}

static void dist_free(Dist *w) {
  free(w->cc);
  free(w->cfix);
  free(w->d2);
  memset(w, 0, sizeof *w);
}

/* Sets the m centres (in: [m][d]) the next blocks are measured against. */
static void dist_centres(Dist *w, const Shard *s, const float *c) {
  const int64_t d = s->d;
  for (int j = 0; j < w->m; j++) {
    double nrm = 0.0, dot = 0.0;
    for (int64_t f = 0; f < d; f++) {
      float v = c[j * d + f] - s->mean[f];
      w->cc[j * d + f] = v;
      nrm += (double)v * v;
      dot += (double)s->mean[f] * v;
    }
    w->cfix[j] = (float)(nrm + 2.0 * dot);
  }
}

/* w->d2 for rows i0 .. i0 + nb - 1 (nb <= BLOCK_ROWS). */
static void dist_block(Dist *w, const Shard *s, int64_t i0, int64_t nb) {
  const int m = w->m;
  /* cfix in every row (the GEMM adds to it), by doubling: a few long copies, not nb short ones */
  const int64_t total = nb * m;
  memcpy(w->d2, w->cfix, sizeof(float) * (size_t)m);
  for (int64_t done = m; done < total; done *= 2)
    memcpy(w->d2 + done, w->d2,
           sizeof(float) * (size_t)(total - done < done ? total - done : done));
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nb, m, s->di, -2.0f, s->x + i0 * s->d,
              s->di, w->cc, s->di, 1.0f, w->d2, m);
}

/* Squared distance in double; four partial sums keep the adds independent. */
static double sqdist(const float *a, const float *b, int64_t d) {
  double acc[4] = {0.0, 0.0, 0.0, 0.0};
  int64_t f = 0;
  for (; f + 4 <= d; f += 4)
    for (int u = 0; u < 4; u++) {
      double v = (double)a[f + u] - b[f + u];
      acc[u] += v * v;
    }
  for (; f < d; f++) {
    double v = (double)a[f] - b[f];
    acc[0] += v * v;
  }
  return (acc[0] + acc[1]) + (acc[2] + acc[3]);
}

static inline float clamp0(float v) {
  return v > 0.0f ? v : 0.0f;
}

/* Index of the first minimum of row[0 .. m) (its value in *vmin). Four interleaved running
 * minima shorten the chain of dependent compares four-fold; each keeps its first minimum and
 * the merge takes the lowest index holding the minimum, so the result is the first minimum
 * overall. Selects, not branches: a branch here mispredicts on every other sample. */
static inline int row_argmin(const float *row, int m, float *vmin) {
  float v0 = row[0], v1 = row[0], v2 = row[0], v3 = row[0];
  int i0 = 0, i1 = 0, i2 = 0, i3 = 0, j = 1;
  for (; j + 4 <= m; j += 4) {
    int l0 = row[j] < v0, l1 = row[j + 1] < v1, l2 = row[j + 2] < v2, l3 = row[j + 3] < v3;
    i0 = l0 ? j : i0;
    i1 = l1 ? j + 1 : i1;
    i2 = l2 ? j + 2 : i2;
    i3 = l3 ? j + 3 : i3;
    v0 = l0 ? row[j] : v0;
    v1 = l1 ? row[j + 1] : v1;
    v2 = l2 ? row[j + 2] : v2;
    v3 = l3 ? row[j + 3] : v3;
  }
  for (; j < m; j++) {
    int l0 = row[j] < v0;
    i0 = l0 ? j : i0;
    v0 = l0 ? row[j] : v0;
  }
  float v01 = v1 < v0 ? v1 : v0, v23 = v3 < v2 ? v3 : v2, v = v23 < v01 ? v23 : v01;
  /* the lowest index among the running minima that hold the minimum (vc >= v, so "not
   * greater" is "equal", and an ordered compare needs no unordered-case branch) */
  int c0 = v0 > v ? m : i0, c1 = v1 > v ? m : i1, c2 = v2 > v ? m : i2, c3 = v3 > v ? m : i3;
  int c01 = c1 < c0 ? c1 : c0, c23 = c3 < c2 ? c3 : c2;
  *vmin = v;
  return c23 < c01 ? c23 : c01;
}

static int owner_of(const Shard *s, int64_t g) {
  int lo = 0, hi = s->size - 1;
  while (lo < hi) { /* last rank whose first row is <= g */
    int mid = (lo + hi + 1) / 2;
    if (s->starts[mid] <= g)
      lo = mid;
    else
      hi = mid - 1;
  }
  return lo;
}

/* Copies rows named by (owner[t], local[t]) into out [m][d] on every rank. Only the owner's
 * local index is read; the others contribute zeros, so the sum is the row exactly. */
static void share_rows(const Shard *s, int m, const int *owner, const int64_t *local, float *out) {
  const int64_t d = s->d;
  memset(out, 0, sizeof(float) * (size_t)m * (size_t)d);
  for (int t = 0; t < m; t++)
    if (owner[t] == s->rank) memcpy(out + t * d, s->x + local[t] * d, sizeof(float) * (size_t)d);
  OVQ_MPI_CHECK(
      MPI_Allreduce(MPI_IN_PLACE, out, OVQ_INT(m * d, "rows x d"), MPI_FLOAT, MPI_SUM, s->comm));
}

/* cum [n] becomes the inclusive running sum of mass [n] (NULL = weights); prefix [size + 1]
 * gets every rank's offset in rank order, prefix[size] = total mass (the same on all ranks). */
static void cumulate(const Shard *s, const float *mass, double *cum, double *prefix) {
  double run = 0.0;
  for (int64_t i = 0; i < s->n; i++) {
    double w = s->weight ? s->weight[i] : 1.0;
    run += mass ? w * mass[i] : w;
    cum[i] = run;
  }
  double *tot = prefix + 1;
  OVQ_MPI_CHECK(MPI_Allgather(&run, 1, MPI_DOUBLE, tot, 1, MPI_DOUBLE, s->comm));
  prefix[0] = 0.0;
  for (int r = 0; r < s->size; r++)
    prefix[r + 1] = prefix[r] + tot[r];
}

/* The sample whose cumulative-mass interval holds v (0 <= v < prefix[size], total > 0): every
 * rank gets its owner, the owner its local index. Rounding can put v past the end; then the
 * last sample with positive mass is taken, never one of zero mass (an existing centre). */
static void locate(const Shard *s, const double *cum, const double *prefix, double v, int *owner,
                   int64_t *local) {
  int r = -1, last = -1;
  for (int q = 0; q < s->size; q++) {
    if (!(prefix[q + 1] > prefix[q])) continue;
    last = q;
    if (r < 0 && prefix[q + 1] > v) r = q;
  }
  if (r < 0) r = last;
  *owner = r;
  *local = -1;
  if (r != s->rank) return;
  double target = v - prefix[r];
  int64_t lo = 0, hi = s->n; /* first i with cum[i] > target */
  while (lo < hi) {
    int64_t mid = lo + (hi - lo) / 2;
    if (cum[mid] > target)
      hi = mid;
    else
      lo = mid + 1;
  }
  if (lo == s->n) {
    lo = s->n - 1;
    while (lo > 0 && !(cum[lo] > cum[lo - 1]))
      lo--;
  }
  *local = lo;
}

/* Greedy k-means++ (scikit-learn's _kmeans_plusplus, after Arthur & Vassilvitskii 2007): each
 * new centre is the best, by the potential it leaves, of 2 + floor(ln k) D^2-sampled
 * candidates. Writes centres [k][d] (replicated). Collective on s->comm. */
static void kmeanspp(const Shard *s, int k, uint64_t seed, uint32_t stream, uint64_t restart,
                     float *centres) {
  const int64_t n = s->n, d = s->d;
  const int nt = 2 + (int)log((double)k);
  float *closest = OVQ_MALLOC(sizeof(float) * (size_t)(n + 1));
  float *trial = OVQ_MALLOC(sizeof(float) * (size_t)(n + 1) * (size_t)nt);
  double *cum = OVQ_MALLOC(sizeof(double) * (size_t)(n + 1));
  double *prefix = OVQ_MALLOC(sizeof(double) * (size_t)(s->size + 1));
  float *cand = OVQ_MALLOC(sizeof(float) * (size_t)nt * (size_t)d);
  int *owner = OVQ_MALLOC(sizeof(int) * (size_t)nt);
  int64_t *local = OVQ_MALLOC(sizeof(int64_t) * (size_t)nt);
  double *pot = OVQ_MALLOC(sizeof(double) * (size_t)nt);
  Dist w1, wt;
  dist_alloc(&w1, s, 1);
  dist_alloc(&wt, s, nt);
  OvqRng rng;

  /* First centre: uniform over samples, or by weight. */
  ovq_rng_init(&rng, seed, stream, restart << 32);
  if (s->weight) {
    cumulate(s, NULL, cum, prefix);
    locate(s, cum, prefix, ovq_rng_uniform(&rng) * prefix[s->size], &owner[0], &local[0]);
  } else {
    int64_t g = (int64_t)ovq_rng_below(&rng, (uint64_t)s->n_total);
    owner[0] = owner_of(s, g);
    local[0] = g - s->starts[owner[0]];
  }
  share_rows(s, 1, owner, local, centres);
  dist_centres(&w1, s, centres);
  for (int64_t i0 = 0; i0 < n; i0 += BLOCK_ROWS) {
    int64_t nb = n - i0 < BLOCK_ROWS ? n - i0 : BLOCK_ROWS;
    dist_block(&w1, s, i0, nb);
    for (int64_t b = 0; b < nb; b++)
      closest[i0 + b] = clamp0(s->xn[i0 + b] + w1.d2[b]);
  }

  for (int c = 1; c < k; c++) {
    ovq_rng_init(&rng, seed, stream, restart << 32 | (uint64_t)c);
    cumulate(s, closest, cum, prefix);
    double total = prefix[s->size];
    for (int t = 0; t < nt; t++) {
      if (total > 0.0) {
        locate(s, cum, prefix, ovq_rng_uniform(&rng) * total, &owner[t], &local[t]);
      } else { /* every sample sits on a centre: no D^2 mass left, any sample will do */
        int64_t g = (int64_t)ovq_rng_below(&rng, (uint64_t)s->n_total);
        owner[t] = owner_of(s, g);
        local[t] = g - s->starts[owner[t]];
      }
    }
    share_rows(s, nt, owner, local, cand);
    dist_centres(&wt, s, cand);
    for (int t = 0; t < nt; t++)
      pot[t] = 0.0;
    for (int64_t i0 = 0; i0 < n; i0 += BLOCK_ROWS) {
      int64_t nb = n - i0 < BLOCK_ROWS ? n - i0 : BLOCK_ROWS;
      dist_block(&wt, s, i0, nb);
      for (int64_t b = 0; b < nb; b++) {
        int64_t i = i0 + b;
        double wi = s->weight ? s->weight[i] : 1.0;
        for (int t = 0; t < nt; t++) {
          float v = clamp0(s->xn[i] + wt.d2[b * nt + t]);
          v = v < closest[i] ? v : closest[i];
          trial[i * nt + t] = v;
          pot[t] += wi * v;
        }
      }
    }
    OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, pot, nt, MPI_DOUBLE, MPI_SUM, s->comm));
    int best = 0;
    for (int t = 1; t < nt; t++)
      if (pot[t] < pot[best]) best = t;
    for (int64_t i = 0; i < n; i++)
      closest[i] = trial[i * nt + best];
    memcpy(centres + c * d, cand + best * d, sizeof(float) * (size_t)d);
  }

  dist_free(&w1);
  dist_free(&wt);
  free(closest);
  free(trial);
  free(cum);
  free(prefix);
  free(cand);
  free(owner);
  free(local);
  free(pot);
}

/* k-means|| (Bahmani et al. 2012, Algorithm 2): a uniform first candidate, then PAR_ROUNDS
 * rounds in which every sample joins the candidates independently with probability
 * min(1, l d^2 / phi), l = 2k; candidates are weighted by the samples nearest to them and
 * reduced to k centres by weighted k-means++ on every rank. Returns 0 (centres untouched) if
 * fewer than k candidates were drawn. Collective on s->comm. */
static int kmeans_parallel(const Shard *s, int k, uint64_t seed, uint64_t restart, float *centres) {
  const int64_t n = s->n, d = s->d;
  const double l = 2.0 * k;
  int64_t m = 1, cap = 4 * (int64_t)k + 16;
  float *cand = OVQ_MALLOC(sizeof(float) * (size_t)cap * (size_t)d);
  float *closest = OVQ_MALLOC(sizeof(float) * (size_t)(n + 1));
  int64_t picked_cap = 64, *picked = OVQ_MALLOC(sizeof(int64_t) * (size_t)picked_cap);
  int *counts = OVQ_MALLOC(sizeof(int) * (size_t)s->size);
  int *displs = OVQ_MALLOC(sizeof(int) * (size_t)s->size);
  for (int64_t i = 0; i < n; i++)
    closest[i] = INFINITY;

  OvqRng rng;
  ovq_rng_init(&rng, seed, STREAM_KMEANS_PAR_FIRST, restart);
  int64_t g0 = (int64_t)ovq_rng_below(&rng, (uint64_t)s->n_total);
  int own0 = owner_of(s, g0);
  int64_t loc0 = g0 - s->starts[own0];
  share_rows(s, 1, &own0, &loc0, cand);

  int64_t fresh = 0; /* candidates [fresh, m) are not yet in `closest` */
  for (int round = 0; round < PAR_ROUNDS; round++) {
    if (m > fresh) {
      Dist w;
      dist_alloc(&w, s, (int)(m - fresh));
      dist_centres(&w, s, cand + fresh * d);
      for (int64_t i0 = 0; i0 < n; i0 += BLOCK_ROWS) {
        int64_t nb = n - i0 < BLOCK_ROWS ? n - i0 : BLOCK_ROWS;
        dist_block(&w, s, i0, nb);
        for (int64_t b = 0; b < nb; b++) {
          float v;
          row_argmin(w.d2 + b * w.m, w.m, &v);
          v = clamp0(s->xn[i0 + b] + v);
          closest[i0 + b] = v < closest[i0 + b] ? v : closest[i0 + b];
        }
      }
      dist_free(&w);
    }
    double phi = 0.0;
    for (int64_t i = 0; i < n; i++)
      phi += closest[i];
    OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &phi, 1, MPI_DOUBLE, MPI_SUM, s->comm));
    if (!(phi > 0.0)) break; /* every sample is a candidate */

    /* Each sample's draw is named by its global row, so the same samples join at any rank
     * count; they are gathered in rank order, which is global row order. */
    int64_t np = 0;
    uint64_t base = (restart * PAR_ROUNDS + (uint64_t)round) * (uint64_t)s->n_total;
    int64_t g_first = s->starts[s->rank];
    for (int64_t i = 0; i < n; i++) {
      if (!(closest[i] > 0.0f)) continue;
      ovq_rng_init(&rng, seed, STREAM_KMEANS_PAR_SAMPLE, base + (uint64_t)(g_first + i));
      if (!(ovq_rng_uniform(&rng) < l * closest[i] / phi)) continue;
      if (np == picked_cap) {
        picked_cap *= 2;
        picked = OVQ_REALLOC(picked, sizeof(int64_t) * (size_t)picked_cap);
      }
      picked[np++] = i;
    }
    int mine = OVQ_INT(np * d, "k-means|| candidates x d");
    OVQ_MPI_CHECK(MPI_Allgather(&mine, 1, MPI_INT, counts, 1, MPI_INT, s->comm));
    int64_t add = 0;
    for (int r = 0; r < s->size; r++) {
      displs[r] = OVQ_INT(add, "k-means|| candidates x d");
      add += counts[r];
    }
    add /= d;
    if (m + add > cap) {
      cap = 2 * (m + add);
      cand = OVQ_REALLOC(cand, sizeof(float) * (size_t)cap * (size_t)d);
    }
    /* This rank's picks go straight to their place in the gathered list. */
    float *dst = cand + m * d + displs[s->rank];
    for (int64_t t = 0; t < np; t++)
      memcpy(dst + t * d, s->x + picked[t] * d, sizeof(float) * (size_t)d);
    OVQ_MPI_CHECK(MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, cand + m * d, counts, displs,
                                 MPI_FLOAT, s->comm));
    fresh = m;
    m += add;
  }
  free(closest);
  free(picked);
  free(counts);
  free(displs);
  if (m < k) {
    free(cand);
    return 0;
  }

  /* Weight of a candidate = samples nearest to it (ties to the first candidate). */
  double *weight = OVQ_CALLOC((size_t)m, sizeof(double));
  Dist w;
  dist_alloc(&w, s, (int)m);
  dist_centres(&w, s, cand);
  for (int64_t i0 = 0; i0 < n; i0 += BLOCK_ROWS) {
    int64_t nb = n - i0 < BLOCK_ROWS ? n - i0 : BLOCK_ROWS;
    dist_block(&w, s, i0, nb);
    for (int64_t b = 0; b < nb; b++) {
      float v;
      weight[row_argmin(w.d2 + b * m, (int)m, &v)] += 1.0;
    }
  }
  dist_free(&w);
  OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, weight, OVQ_INT(m, "k-means|| candidates"), MPI_DOUBLE,
                              MPI_SUM, s->comm));

  /* The candidates are replicated: recluster them on each rank alone, identically. */
  int64_t starts[2] = {0, m};
  Shard cs = {.x = cand,
              .n = m,
              .d = d,
              .di = s->di,
              .n_total = m,
              .comm = MPI_COMM_SELF,
              .rank = 0,
              .size = 1,
              .starts = starts,
              .mean = s->mean,
              .weight = weight};
  cs.xn = OVQ_MALLOC(sizeof(float) * (size_t)m);
  for (int64_t j = 0; j < m; j++)
    cs.xn[j] = (float)sqdist(cand + j * d, s->mean, d);
  kmeanspp(&cs, k, seed, STREAM_KMEANS_PAR_RECLUSTER, restart, centres);
  free(cs.xn);
  free(weight);
  free(cand);
  return 1;
}

/* sum[0 .. d) += sign * q(x), q the fixed-point image of a row (see "Cluster sums" above). */
static inline void fixed_add(int64_t *sum, const float *x, const double *scale, int64_t d,
                             int64_t sign) {
  for (int64_t f = 0; f < d; f++)
    sum[f] += sign * (int64_t)((double)x[f] * scale[f]);
}

/* This rank's part of a Lloyd run: per-cluster fixed-point sums and counts of its samples under
 * their current labels, kept up to date as labels change. */
typedef struct LocalSums {
  int64_t *sum;    /* [k][d] */
  int64_t *count;  /* [k] */
  double inertia;  /* of the last assignment, from the GEMM distances (for the log) */
  int64_t changed; /* labels changed by the last assignment */
} LocalSums;

/* Assigns every local sample to its nearest centre (the centres set in w). With ls != NULL
 * also moves each sample whose label changed between the cluster sums (exact, so updating
 * beats re-summing: late iterations change few labels) and counts the inertia. */
static void assign(const Shard *s, Dist *w, int32_t *labels, LocalSums *ls) {
  const int64_t n = s->n, d = s->d;
  const int k = w->m;
  double inertia = 0.0;
  int64_t changed = 0;
  for (int64_t i0 = 0; i0 < n; i0 += BLOCK_ROWS) {
    int64_t nb = n - i0 < BLOCK_ROWS ? n - i0 : BLOCK_ROWS;
    dist_block(w, s, i0, nb);
    for (int64_t b = 0; b < nb; b++) {
      float bd;
      int best = row_argmin(w->d2 + b * k, k, &bd);
      int64_t i = i0 + b;
      if (ls) {
        inertia += clamp0(s->xn[i] + bd);
        int old = labels[i];
        if (old != best) {
          const float *xi = s->x + i * d;
          changed++;
          if (old >= 0) {
            fixed_add(ls->sum + old * d, xi, s->qscale, d, -1);
            ls->count[old]--;
          }
          fixed_add(ls->sum + best * d, xi, s->qscale, d, 1);
          ls->count[best]++;
        }
      }
      labels[i] = best;
    }
  }
  if (ls) {
    ls->inertia = inertia;
    ls->changed = changed;
  }
}

/* scikit-learn's _relocate_empty_clusters_dense: each empty cluster (in index order) takes the
 * sample farthest from its centre (old_centres: those the labels were assigned with), which
 * leaves its cluster; ties go to the lowest global row. Only clusters with more than one
 * member give a sample away, so no cluster is emptied in turn (scikit-learn can then leave its
 * centre at the origin). sum [k][d] and count [k] are the global cluster sums. Collective. */
static void relocate_empty(const Shard *s, int k, const float *old_centres, const int32_t *labels,
                           int64_t *sum, int64_t *count) {
  const int64_t d = s->d;
  int64_t *taken = NULL;
  int n_taken = 0;
  double mine[3], *all = NULL;
  float *row = NULL;
  for (int e = 0; e < k; e++) {
    if (count[e] > 0) continue;
    if (!all) {
      all = OVQ_MALLOC(sizeof(double) * 3 * (size_t)s->size);
      row = OVQ_MALLOC(sizeof(float) * (size_t)d);
      taken = OVQ_MALLOC(sizeof(int64_t) * (size_t)k);
    }
    /* this rank's farthest eligible sample: {distance, global row, label}; -1 = none */
    mine[0] = -1.0;
    mine[1] = -1.0;
    mine[2] = -1.0;
    for (int64_t i = 0; i < s->n; i++) {
      int32_t c = labels[i];
      if (count[c] <= 1) continue;
      int64_t g = s->starts[s->rank] + i;
      int was_taken = 0;
      for (int t = 0; t < n_taken; t++)
        was_taken |= taken[t] == g;
      if (was_taken) continue;
      double dist = sqdist(s->x + i * d, old_centres + c * d, d);
      if (dist > mine[0]) {
        mine[0] = dist;
        mine[1] = (double)g; /* exact: rows < 2^53 */
        mine[2] = c;
      }
    }
    OVQ_MPI_CHECK(MPI_Allgather(mine, 3, MPI_DOUBLE, all, 3, MPI_DOUBLE, s->comm));
    int win = -1; /* rank order = global row order, so a strict > keeps the lowest row */
    for (int r = 0; r < s->size; r++)
      if (all[3 * r + 1] >= 0.0 && (win < 0 || all[3 * r] > all[3 * win])) win = r;
    /* n >= k and an empty cluster exist, so some cluster has two members: win >= 0 */
    if (win == s->rank)
      memcpy(row, s->x + ((int64_t)all[3 * win + 1] - s->starts[s->rank]) * d,
             sizeof(float) * (size_t)d);
    OVQ_MPI_CHECK(MPI_Bcast(row, s->di, MPI_FLOAT, win, s->comm));
    int from = (int)all[3 * win + 2];
    fixed_add(sum + from * d, row, s->qscale, d, -1);
    memset(sum + e * d, 0, sizeof(int64_t) * (size_t)d);
    fixed_add(sum + e * d, row, s->qscale, d, 1);
    count[from]--;
    count[e] = 1;
    taken[n_taken++] = (int64_t)all[3 * win + 1];
  }
  free(all);
  free(row);
  free(taken);
}

/* Lloyd iterations from centres [k][d] (updated in place) as scikit-learn's
 * _kmeans_single_lloyd: stop on unchanged labels or a summed squared centre shift <= tol_abs;
 * then, unless labels were stable, assign once more. Returns the iterations run and writes
 * labels and the exact inertia. Collective. */
static int lloyd(const Shard *s, int k, int max_iter, double tol_abs, int restart, float *centres,
                 int32_t *labels, double *inertia) {
  const int64_t d = s->d, kd = (int64_t)k * d;
  /* One allreduce moves everything, all as doubles: each fixed-point sum as two exact integer
   * halves (high part and low 31 bits), so the sum over ranks is exact whatever the order;
   * then counts, inertia and the number of changed labels. */
  const int nbuf = OVQ_INT(2 * kd + k + 2, "2 k d");
  double *buf = OVQ_MALLOC(sizeof(double) * (size_t)nbuf);
  LocalSums ls = {.sum = OVQ_CALLOC((size_t)kd, sizeof(int64_t)),
                  .count = OVQ_CALLOC((size_t)k, sizeof(int64_t))};
  int64_t *sum = OVQ_MALLOC(sizeof(int64_t) * (size_t)kd);
  int64_t *count = OVQ_MALLOC(sizeof(int64_t) * (size_t)k);
  float *old = OVQ_MALLOC(sizeof(float) * (size_t)kd);
  Dist w;
  dist_alloc(&w, s, k);
  for (int64_t i = 0; i < s->n; i++)
    labels[i] = -1;

  int it = 0, stable = 0;
  while (it < max_iter) {
    dist_centres(&w, s, centres);
    assign(s, &w, labels, &ls);
    for (int64_t e = 0; e < kd; e++) {
      int64_t lo = ls.sum[e] & 0x7fffffff;
      buf[e] = (double)((ls.sum[e] - lo) / 0x80000000LL);
      buf[kd + e] = (double)lo;
    }
    for (int j = 0; j < k; j++)
      buf[2 * kd + j] = (double)ls.count[j];
    buf[2 * kd + k] = ls.inertia;
    buf[2 * kd + k + 1] = (double)ls.changed;
    OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, buf, nbuf, MPI_DOUBLE, MPI_SUM, s->comm));
    for (int64_t e = 0; e < kd; e++)
      sum[e] = (int64_t)buf[e] * 0x80000000LL + (int64_t)buf[kd + e];
    for (int j = 0; j < k; j++)
      count[j] = (int64_t)buf[2 * kd + j];

    memcpy(old, centres, sizeof(float) * (size_t)kd);
    relocate_empty(s, k, old, labels, sum, count);
    double shift = 0.0;
    for (int j = 0; j < k; j++)
      for (int64_t f = 0; f < d; f++) {
        float c = (float)((double)sum[j * d + f] / s->qscale[f] / (double)count[j]);
        double delta = (double)c - old[j * d + f];
        shift += delta * delta;
        centres[j * d + f] = c;
      }
    it++;
    ovq_log(OVQ_LOG_DEBUG,
            "kmeans restart %d iteration %d: inertia %.9g, %.0f labels changed, "
            "centre shift %.3g (tolerance %.3g)",
            restart, it, buf[2 * kd + k], buf[2 * kd + k + 1], shift, tol_abs);
    if (buf[2 * kd + k + 1] == 0.0) {
      stable = 1;
      break;
    }
    if (shift <= tol_abs) break;
  }
  if (!stable) {
    dist_centres(&w, s, centres);
    assign(s, &w, labels, NULL);
  }

  double local = 0.0;
  for (int64_t i = 0; i < s->n; i++)
    local += sqdist(s->x + i * d, centres + labels[i] * d, d);
  OVQ_MPI_CHECK(MPI_Allreduce(&local, inertia, 1, MPI_DOUBLE, MPI_SUM, s->comm));
  dist_free(&w);
  free(buf);
  free(ls.sum);
  free(ls.count);
  free(sum);
  free(count);
  free(old);
  return it;
}

/* scikit-learn's _is_same_clustering: every cluster of a maps into a single cluster of b. */
static int same_clustering(const Shard *s, int k, const int32_t *a, const int32_t *b) {
  unsigned char *seen = OVQ_CALLOC((size_t)k * (size_t)k, 1);
  for (int64_t i = 0; i < s->n; i++)
    seen[(int64_t)a[i] * k + b[i]] = 1;
  OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, seen, OVQ_INT((int64_t)k * k, "k x k"),
                              MPI_UNSIGNED_CHAR, MPI_MAX, s->comm));
  int same = 1;
  for (int i = 0; i < k && same; i++) {
    int hits = 0;
    for (int j = 0; j < k; j++)
      hits += seen[(int64_t)i * k + j];
    same = hits <= 1;
  }
  free(seen);
  return same;
}

void ovq_kmeans_defaults(OvqKmeansParams *p) {
  p->k = 8;
  p->n_init = 10;
  p->max_iter = 300;
  p->tol = 1e-4;
  p->init = OVQ_KMEANS_INIT_PLUSPLUS;
  p->seed = 0;
  p->init_centres = NULL;
}

void ovq_kmeans_result_free(OvqKmeansResult *r) {
  if (!r) return;
  free(r->labels);
  free(r->centres);
  memset(r, 0, sizeof *r);
}

/* User errors that every rank can see from its own arguments. */
static OvqStatus check_args(const OvqKmeansParams *p, const float *x, int64_t n_local, int64_t d,
                            int same_d, int64_t n_total) {
  if (n_local < 0 || (n_local > 0 && !x))
    return ovq_error("kmeans: no data on this rank (n_local = %lld, x = %p)", (long long)n_local,
                     (const void *)x);
  if (d < 1) return ovq_error("kmeans: d = %lld features; need at least 1", (long long)d);
  if (!same_d)
    return ovq_error("kmeans: ranks hold rows of different widths (here d = %lld)", (long long)d);
  if (p->k < 1 || p->k > n_total)
    return ovq_error("kmeans: k = %d clusters must be between 1 and the number of samples (%lld)",
                     p->k, (long long)n_total);
  if (p->n_init < 1) return ovq_error("kmeans: n_init = %d; need at least 1 restart", p->n_init);
  if (p->max_iter < 1)
    return ovq_error("kmeans: max_iter = %d; need at least 1 iteration", p->max_iter);
  if (!(p->tol >= 0.0) || isinf(p->tol))
    return ovq_error("kmeans: tol = %g must be a finite number >= 0", p->tol);
  if (p->init != OVQ_KMEANS_INIT_PLUSPLUS && p->init != OVQ_KMEANS_INIT_PARALLEL &&
      p->init != OVQ_KMEANS_INIT_GIVEN)
    return ovq_error("kmeans: unknown initialisation %d", (int)p->init);
  if (p->init == OVQ_KMEANS_INIT_GIVEN) {
    if (!p->init_centres)
      return ovq_error("kmeans: initialisation 'given' needs init_centres ([k][d])");
    for (int64_t i = 0; i < (int64_t)p->k * d; i++)
      if (!isfinite(p->init_centres[i]))
        return ovq_error("kmeans: given centre %lld, feature %lld is not finite",
                         (long long)(i / d), (long long)(i % d));
  }
  return OVQ_OK;
}

/* Fixed-point scales (see "Cluster sums"), feature means (the distance frame, from exact
 * fixed-point sums, so they too are the same for any rank count), ||x - mean||^2 per row and
 * the tolerance scaled as scikit-learn's _tolerance: tol * mean over features of the
 * population variance. Returns OVQ_ERR on every rank if x holds a non-finite value.
 * Collective. */
static OvqStatus moments(Shard *s, double *qscale, float *mean, double tol, double *tol_abs) {
  const int64_t d = s->d;
  double *top = OVQ_CALLOC((size_t)d + 1, sizeof(double)); /* max |x_f|, then 1 if non-finite */
  for (int64_t i = 0; i < s->n; i++)
    for (int64_t f = 0; f < d; f++) {
      float v = s->x[i * d + f];
      if (!isfinite(v))
        top[d] = 1.0;
      else if (fabsf(v) > top[f])
        top[f] = fabsf(v);
    }
  OVQ_MPI_CHECK(
      MPI_Allreduce(MPI_IN_PLACE, top, OVQ_INT(d + 1, "d"), MPI_DOUBLE, MPI_MAX, s->comm));
  if (top[d] > 0.0) {
    free(top);
    return ovq_error("kmeans: the data hold NaN or infinite values");
  }
  /* |q(x)| <= max|x_f| 2^e < 2^(62 - bits(N)), so any sum of at most N of them fits 62 bits. */
  int bits = 1;
  while (bits < 62 && ((int64_t)1 << bits) <= s->n_total)
    bits++;
  for (int64_t f = 0; f < d; f++) {
    int ex = 0;
    if (top[f] > 0.0) frexp(top[f], &ex); /* max|x_f| < 2^ex */
    qscale[f] = ldexp(1.0, 62 - bits - ex);
  }
  free(top);

  int64_t *isum = OVQ_CALLOC((size_t)d, sizeof(int64_t));
  for (int64_t i = 0; i < s->n; i++)
    fixed_add(isum, s->x + i * d, qscale, d, 1);
  OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, isum, OVQ_INT(d, "d"), MPI_INT64_T, MPI_SUM, s->comm));
  for (int64_t f = 0; f < d; f++)
    mean[f] = (float)((double)isum[f] / qscale[f] / (double)s->n_total);
  free(isum);

  double *ss = OVQ_CALLOC((size_t)d + 1, sizeof(double));
  for (int64_t i = 0; i < s->n; i++) {
    const float *xi = s->x + i * d;
    double nrm = sqdist(xi, mean, d);
    s->xn[i] = (float)nrm;
    ss[d] += nrm;
    for (int64_t f = 0; f < d; f++)
      ss[f] += (double)xi[f] - mean[f];
  }
  OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, ss, OVQ_INT(d + 1, "d"), MPI_DOUBLE, MPI_SUM, s->comm));
  /* Deviations are from the float mean a: sum_f var_f = E||x - a||^2 - sum_f (mean_f - a_f)^2. */
  double var = ss[d] / (double)s->n_total;
  for (int64_t f = 0; f < d; f++) {
    double off = ss[f] / (double)s->n_total;
    var -= off * off;
  }
  *tol_abs = tol > 0.0 ? tol * var / (double)d : 0.0;
  free(ss);
  return OVQ_OK;
}

OvqStatus ovq_kmeans_fit(const OvqKmeansParams *p, const float *x, int64_t n_local, int64_t d,
                         MPI_Comm comm, OvqKmeansResult *out) {
  memset(out, 0, sizeof *out);
  Shard s = {.x = x, .n = n_local, .d = d, .comm = comm};
  OVQ_MPI_CHECK(MPI_Comm_rank(comm, &s.rank));
  OVQ_MPI_CHECK(MPI_Comm_size(comm, &s.size));

  int same_d;
  s.starts = ovq_row_starts(n_local, d, comm, &s.n_total, &same_d);
  OvqStatus st = ovq_status_agree(comm, check_args(p, x, n_local, d, same_d, s.n_total));
  if (st != OVQ_OK) {
    free(s.starts);
    return st;
  }
  s.di = OVQ_INT(d, "d");

  const int k = p->k;
  const int64_t kd = (int64_t)k * d;
  float *mean = OVQ_MALLOC(sizeof(float) * (size_t)d);
  double *qscale = OVQ_MALLOC(sizeof(double) * (size_t)d);
  s.mean = mean;
  s.qscale = qscale;
  s.xn = OVQ_MALLOC(sizeof(float) * (size_t)(n_local + 1));
  double tol_abs = 0.0;
  st = moments(&s, qscale, mean, p->tol, &tol_abs);
  if (st != OVQ_OK) {
    free(mean);
    free(qscale);
    free(s.xn);
    free(s.starts);
    return st;
  }

  const int n_init = p->init == OVQ_KMEANS_INIT_GIVEN ? 1 : p->n_init;
  int32_t *labels = OVQ_MALLOC(sizeof(int32_t) * (size_t)(n_local + 1));
  float *centres = OVQ_MALLOC(sizeof(float) * (size_t)kd);
  out->labels = OVQ_MALLOC(sizeof(int32_t) * (size_t)(n_local + 1));
  out->centres = OVQ_MALLOC(sizeof(float) * (size_t)kd);
  out->k = k;
  out->d = d;
  out->n_local = n_local;
  for (int r = 0; r < n_init; r++) {
    if (p->init == OVQ_KMEANS_INIT_GIVEN)
      memcpy(centres, p->init_centres, sizeof(float) * (size_t)kd);
    else if (p->init == OVQ_KMEANS_INIT_PLUSPLUS ||
             !kmeans_parallel(&s, k, p->seed, (uint64_t)r, centres))
      kmeanspp(&s, k, p->seed, STREAM_KMEANS_PP, (uint64_t)r, centres);
    double inertia;
    int n_iter = lloyd(&s, k, p->max_iter, tol_abs, r, centres, labels, &inertia);
    ovq_log(OVQ_LOG_DEBUG, "kmeans restart %d: inertia %.9g after %d iterations", r, inertia,
            n_iter);
    if (r == 0 || (inertia < out->inertia && !same_clustering(&s, k, labels, out->labels))) {
      int32_t *swap = out->labels;
      out->labels = labels;
      labels = swap;
      memcpy(out->centres, centres, sizeof(float) * (size_t)kd);
      out->inertia = inertia;
      out->n_iter = n_iter;
      out->best_restart = r;
    }
  }
  free(labels);
  free(centres);
  free(mean);
  free(qscale);
  free(s.xn);
  free(s.starts);
  return OVQ_OK;
}
