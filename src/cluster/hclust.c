/* Hierarchical clustering (see include/ovq/hclust.h): distributed condensed Euclidean distances,
 * SciPy's nearest-neighbour chain (scipy/cluster/_hierarchy.pyx: nn_chain, label) on rank 0,
 * the tree broadcast, fcluster-style cuts and the cophenetic correlation.
 *
 * Condensed layout (SciPy's pdist): pair (i, j), i < j, of n points is entry
 * n i - i (i + 1) / 2 + (j - i - 1), so the rows of a block of samples are one contiguous slice:
 * each rank computes its slice and sends it to rank 0 in order. */
#include "ovq/hclust.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum {
  CHUNK = 1 << 26 /* doubles per message when gathering the distances (512 MB) */
};

/* Entries of the condensed matrix before row i. */
static inline int64_t row_start(int64_t n, int64_t i) {
  return n * i - i * (i + 1) / 2;
}

/* Entry (i, j) of the condensed matrix, i != j. */
static inline int64_t cidx(int64_t n, int64_t i, int64_t j) {
  if (i > j) {
    int64_t t = i;
    i = j;
    j = t;
  }
  return row_start(n, i) + (j - i - 1);
}

/* SciPy's _hierarchy_distance_update.pxi: distance from the merge of x and y to i. */
static inline double lance_williams(OvqLinkage link, double d_xi, double d_yi, double d_xy,
                                    int64_t nx, int64_t ny, int64_t ni) {
  switch (link) {
  case OVQ_LINKAGE_AVERAGE: return ((double)nx * d_xi + (double)ny * d_yi) / (double)(nx + ny);
  case OVQ_LINKAGE_COMPLETE: return d_xi > d_yi ? d_xi : d_yi;
  default: {
    double t = 1.0 / (double)(nx + ny + ni);
    return sqrt((double)(ni + nx) * t * d_xi * d_xi + (double)(ni + ny) * t * d_yi * d_yi -
                (double)ni * t * d_xy * d_xy);
  }
  }
}

typedef struct Raw {
  int64_t x, y; /* representatives (point indices) */
  double h;
  int64_t order; /* creation order: the stable tie-break of the sort */
} Raw;

static int raw_cmp(const void *pa, const void *pb) {
  const Raw *a = pa, *b = pb;
  if (a->h < b->h) return -1;
  if (a->h > b->h) return 1;
  return (a->order > b->order) - (a->order < b->order);
}

static int64_t uf_find(int64_t *parent, int64_t v) {
  int64_t root = v;
  while (parent[root] != root)
    root = parent[root];
  while (parent[v] != root) { /* path compression */
    int64_t next = parent[v];
    parent[v] = root;
    v = next;
  }
  return root;
}

/* SciPy's stable sort of the merges by height, then its label(): union-find over
 * representatives, merge m gets id n + m. Writes the n - 1 merges of Z. Local. */
static void sort_and_label(Raw *raw, int64_t n, OvqMerge *out) {
  qsort(raw, (size_t)(n - 1), sizeof(Raw), raw_cmp);
  int64_t *parent = OVQ_MALLOC(sizeof(int64_t) * (size_t)(2 * n - 1));
  int64_t *csize = OVQ_MALLOC(sizeof(int64_t) * (size_t)(2 * n - 1));
  for (int64_t i = 0; i < 2 * n - 1; i++) {
    parent[i] = i;
    csize[i] = 1;
  }
  for (int64_t m = 0; m < n - 1; m++) {
    int64_t rx = uf_find(parent, raw[m].x), ry = uf_find(parent, raw[m].y);
    int64_t id = n + m;
    out[m].a = rx < ry ? rx : ry;
    out[m].b = rx < ry ? ry : rx;
    out[m].height = raw[m].h;
    csize[id] = csize[rx] + csize[ry];
    out[m].size = csize[id];
    parent[rx] = id;
    parent[ry] = id;
  }
  free(parent);
  free(csize);
}

/* SciPy's nn_chain on the condensed distances D (destroyed), then sort_and_label: writes the
 * n - 1 merges of Z. Local. */
static void nn_chain(OvqLinkage link, double *D, int64_t n, OvqMerge *out) {
  if (n < 2) return;
  int64_t *size = OVQ_MALLOC(sizeof(int64_t) * (size_t)n);
  int64_t *chain = OVQ_MALLOC(sizeof(int64_t) * (size_t)n);
  Raw *raw = OVQ_MALLOC(sizeof(Raw) * (size_t)(n - 1));
  for (int64_t i = 0; i < n; i++)
    size[i] = 1;
  int64_t len = 0, y = 0;
  for (int64_t m = 0; m < n - 1; m++) {
    if (len == 0) {
      for (int64_t i = 0; i < n; i++)
        if (size[i] > 0) {
          chain[len++] = i;
          break;
        }
    }
    int64_t x;
    double cur;
    for (;;) { /* follow nearest neighbours until two are mutual */
      x = chain[len - 1];
      /* prefer the previous element of the chain, so the chain cannot cycle on ties */
      if (len > 1) {
        y = chain[len - 2];
        cur = D[cidx(n, x, y)];
      } else {
        cur = INFINITY;
      }
      for (int64_t i = 0; i < n; i++) {
        if (size[i] == 0 || i == x) continue;
        double v = D[cidx(n, x, i)];
        if (v < cur) {
          cur = v;
          y = i;
        }
      }
      if (len > 1 && y == chain[len - 2]) break;
      chain[len++] = y;
    }
    len -= 2;
    if (x > y) { /* fastcluster's convention: the merged cluster lives on at the larger index */
      int64_t t = x;
      x = y;
      y = t;
    }
    int64_t nx = size[x], ny = size[y];
    raw[m] = (Raw){.x = x, .y = y, .h = cur, .order = m};
    size[x] = 0;
    size[y] = nx + ny;
    for (int64_t i = 0; i < n; i++) {
      int64_t ni = size[i];
      if (ni == 0 || i == y) continue;
      int64_t iy = cidx(n, i, y);
      D[iy] = lance_williams(link, D[cidx(n, i, x)], D[iy], cur, nx, ny, ni);
    }
  }
  sort_and_label(raw, n, out);
  free(size);
  free(chain);
  free(raw);
}

int ovq_hclust_cut(const OvqMerge *merge, int64_t n, int k, int32_t *labels) {
  /* merges applied: those of height <= the (n - k)-th smallest height (heights are sorted) */
  int64_t applied = 0;
  if (k < n) {
    double t = merge[n - k - 1].height;
    applied = n - k;
    while (applied < n - 1 && merge[applied].height <= t)
      applied++;
  }
  int64_t *parent = OVQ_MALLOC(sizeof(int64_t) * (size_t)(2 * n));
  int64_t *name = OVQ_MALLOC(sizeof(int64_t) * (size_t)(2 * n));
  for (int64_t i = 0; i < 2 * n; i++) {
    parent[i] = i;
    name[i] = -1;
  }
  for (int64_t m = 0; m < applied; m++) {
    parent[merge[m].a] = n + m;
    parent[merge[m].b] = n + m;
  }
  int next = 0;
  for (int64_t i = 0; i < n; i++) {
    int64_t r = uf_find(parent, i);
    if (name[r] < 0) name[r] = next++;
    labels[i] = (int32_t)name[r];
  }
  free(parent);
  free(name);
  return next;
}

double ovq_hclust_cophenetic_correlation(const OvqMerge *merge, int64_t n, const double *cond) {
  if (n < 3) return NAN;
  /* Members of each cluster as linked lists of samples: head[c], tail[c], next[sample]. */
  int64_t *head = OVQ_MALLOC(sizeof(int64_t) * (size_t)(2 * n - 1));
  int64_t *tail = OVQ_MALLOC(sizeof(int64_t) * (size_t)(2 * n - 1));
  int64_t *next = OVQ_MALLOC(sizeof(int64_t) * (size_t)n);
  const double pairs = (double)n * (double)(n - 1) / 2.0;
  /* Two passes for accuracy: means, then centred cross products. */
  double sx = 0.0, sy = 0.0;
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = i + 1; j < n; j++)
      sx += cond[cidx(n, i, j)];
  for (int64_t m = 0; m < n - 1; m++) {
    int64_t na = merge[m].a < n ? 1 : merge[merge[m].a - n].size;
    int64_t nb = merge[m].b < n ? 1 : merge[merge[m].b - n].size;
    sy += (double)na * (double)nb * merge[m].height;
  }
  const double mx = sx / pairs, my = sy / pairs;
  double sxy = 0.0, sxx = 0.0, syy = 0.0;
  for (int64_t i = 0; i < n; i++) {
    head[i] = tail[i] = i;
    next[i] = -1;
  }
  for (int64_t m = 0; m < n - 1; m++) {
    int64_t a = merge[m].a, b = merge[m].b, c = n + m;
    double hy = merge[m].height - my;
    for (int64_t i = head[a]; i >= 0; i = next[i])
      for (int64_t j = head[b]; j >= 0; j = next[j]) {
        double hx = cond[cidx(n, i, j)] - mx;
        sxy += hx * hy;
        sxx += hx * hx;
        syy += hy * hy;
      }
    next[tail[a]] = head[b];
    head[c] = head[a];
    tail[c] = tail[b];
  }
  free(head);
  free(tail);
  free(next);
  if (!(sxx > 0.0) || !(syy > 0.0)) return NAN;
  return sxy / sqrt(sxx * syy);
}

void ovq_hclust_result_free(OvqHclustResult *r) {
  if (!r) return;
  free(r->merge);
  free(r->labels);
  memset(r, 0, sizeof *r);
}

/* Rank 0's tree to every rank, as SciPy's Z: [n - 1][4] doubles (ids and sizes are exact). */
static void bcast_tree(OvqMerge *merge, int64_t n, MPI_Comm comm) {
  if (n < 2) return;
  int rank;
  OVQ_MPI_CHECK(MPI_Comm_rank(comm, &rank));
  double *z = OVQ_MALLOC(sizeof(double) * 4 * (size_t)(n - 1));
  if (rank == 0)
    for (int64_t m = 0; m < n - 1; m++) {
      z[4 * m] = (double)merge[m].a;
      z[4 * m + 1] = (double)merge[m].b;
      z[4 * m + 2] = merge[m].height;
      z[4 * m + 3] = (double)merge[m].size;
    }
  OVQ_MPI_CHECK(MPI_Bcast(z, OVQ_INT(4 * (n - 1), "4 (n - 1)"), MPI_DOUBLE, 0, comm));
  if (rank != 0)
    for (int64_t m = 0; m < n - 1; m++)
      merge[m] = (OvqMerge){.a = (int64_t)z[4 * m],
                            .b = (int64_t)z[4 * m + 1],
                            .height = z[4 * m + 2],
                            .size = (int64_t)z[4 * m + 3]};
  free(z);
}

/* Tree -> labels of samples first .. first + n_local - 1, into *out. Local. */
static void finish(OvqHclustResult *out, int k, int64_t first, int64_t n_local) {
  int32_t *all = OVQ_MALLOC(sizeof(int32_t) * (size_t)out->n);
  out->k = ovq_hclust_cut(out->merge, out->n, k, all);
  out->first = first;
  out->n_local = n_local;
  out->labels = OVQ_MALLOC(sizeof(int32_t) * (size_t)(n_local + 1));
  memcpy(out->labels, all + first, sizeof(int32_t) * (size_t)n_local);
  free(all);
}

static int linkage_ok(OvqLinkage link) {
  return link == OVQ_LINKAGE_AVERAGE || link == OVQ_LINKAGE_COMPLETE || link == OVQ_LINKAGE_WARD;
}

/* Checks the arguments every rank sees; cond (rank 0 only, NULL elsewhere) is checked on rank 0.
 * Collective. */
static OvqStatus check_dissimilarity(OvqLinkage linkage, int k, int64_t n, const double *cond,
                                     int rank, MPI_Comm comm) {
  OvqStatus st = OVQ_OK;
  if (n < 1)
    st = ovq_error("hclust: no dissimilarities (n = %lld)", (long long)n);
  else if (k < 1 || k > n)
    st = ovq_error("hclust: k = %d clusters must be between 1 and the number of objects (%lld)", k,
                   (long long)n);
  else if (!linkage_ok(linkage))
    st = ovq_error("hclust: unknown linkage %d", (int)linkage);
  else if (rank == 0 && n > 1 && !cond)
    st = ovq_error("hclust: no dissimilarity matrix on rank 0");
  else if (rank == 0)
    for (int64_t i = 0; i < n && st == OVQ_OK; i++)
      for (int64_t j = i + 1; j < n; j++) {
        double v = cond[cidx(n, i, j)];
        if (!isfinite(v) || v < 0.0) {
          st = ovq_error("hclust: dissimilarity (%lld, %lld) = %g; need finite values >= 0",
                         (long long)i, (long long)j, v);
          break;
        }
      }
  return ovq_status_agree(comm, st);
}

/* The tree from condensed distances D on rank 0 (destroyed; NULL elsewhere), broadcast, and
 * the labels of all n objects. Collective. */
static void tree_and_labels(OvqLinkage linkage, int k, double *D, int64_t n, int rank,
                            MPI_Comm comm, OvqHclustResult *out) {
  out->n = n;
  out->merge = OVQ_CALLOC((size_t)(n > 1 ? n - 1 : 1), sizeof(OvqMerge));
  if (rank == 0 && n > 1) nn_chain(linkage, D, n, out->merge);
  bcast_tree(out->merge, n, comm);
  finish(out, k, 0, n);
}

OvqStatus ovq_hclust_from_dissimilarity(OvqLinkage linkage, int k, const double *dis, int64_t n,
                                        MPI_Comm comm, OvqHclustResult *out) {
  memset(out, 0, sizeof *out);
  int rank;
  OVQ_MPI_CHECK(MPI_Comm_rank(comm, &rank));
  OvqStatus st = ovq_status_agree(
      comm, dis || n < 1 ? OVQ_OK : ovq_error("hclust: no dissimilarity matrix on this rank"));
  if (st != OVQ_OK) return st;
  double *D = NULL;
  if (rank == 0 && n > 1) {
    D = OVQ_MALLOC(sizeof(double) * (size_t)row_start(n, n - 1));
    for (int64_t i = 0; i < n; i++)
      memcpy(D + row_start(n, i), dis + i * n + i + 1, sizeof(double) * (size_t)(n - 1 - i));
  }
  st = check_dissimilarity(linkage, k, n, D, rank, comm);
  if (st == OVQ_OK) tree_and_labels(linkage, k, D, n, rank, comm, out);
  free(D);
  return st;
}

OvqStatus ovq_hclust_from_condensed(OvqLinkage linkage, int k, const double *cond, int64_t n,
                                    MPI_Comm comm, OvqHclustResult *out) {
  memset(out, 0, sizeof *out);
  int rank;
  OVQ_MPI_CHECK(MPI_Comm_rank(comm, &rank));
  OvqStatus st = check_dissimilarity(linkage, k, n, cond, rank, comm);
  if (st != OVQ_OK) return st;
  double *D = NULL;
  if (rank == 0 && n > 1) {
    size_t bytes = sizeof(double) * (size_t)row_start(n, n - 1);
    D = OVQ_MALLOC(bytes);
    memcpy(D, cond, bytes);
  }
  tree_and_labels(linkage, k, D, n, rank, comm, out);
  free(D);
  return OVQ_OK;
}

/* One step of the distributed chain: the tail's nearest active neighbour, from the tail's owner. */
typedef struct ChainStep {
  double d;
  int64_t y;
} ChainStep;

/* nn_chain on a row-distributed symmetric matrix: the same steps, comparisons and Lance-Williams
 * updates in the same order, so the merges and heights are nn_chain's bit for bit. Row i holds
 * d(i, j) of the current clusters (i, j active); the diagonal and the columns of clusters merged
 * away hold +inf, so a nearest-neighbour search is a plain scan of one row, done by its owner,
 * whose answer is broadcast. A merge of x into y: every rank updates column y of its active
 * rows, and y's owner updates row y from row x (sent by x's owner when they differ); both apply
 * the same formula to the same values, so row y and column y stay equal. Local row i is object
 * gid[i]; owner[g] is the rank holding object g, loc[g] its local row there. Collective. */
static void nn_chain_rows(OvqLinkage link, double *rows, const int64_t *gid, int64_t nl,
                          const int *owner, const int64_t *loc, int rank, int64_t n, MPI_Comm comm,
                          OvqMerge *out) {
  int nranks;
  OVQ_MPI_CHECK(MPI_Comm_size(comm, &nranks));
  int64_t *size = OVQ_MALLOC(sizeof(int64_t) * (size_t)n);
  int64_t *chain = OVQ_MALLOC(sizeof(int64_t) * (size_t)n);
  Raw *raw = OVQ_MALLOC(sizeof(Raw) * (size_t)(n - 1));
  /* active local rows (any order: each row's update is independent) and their positions */
  int64_t *act = OVQ_MALLOC(sizeof(int64_t) * (size_t)(nl + 1));
  int64_t *pos = OVQ_MALLOC(sizeof(int64_t) * (size_t)(nl + 1));
  double *xrow = OVQ_MALLOC(sizeof(double) * (size_t)n); /* row x received from its owner */
  /* Rows sent: non-blocking, so the sender does not wait for the receiver (a merged-away row is
   * never written again); completed at the end. */
  MPI_Request *sent = OVQ_MALLOC(sizeof(MPI_Request) * (size_t)n);
  int64_t n_sent = 0;
  int64_t n_act = nl;
  for (int64_t i = 0; i < n; i++)
    size[i] = 1;
  for (int64_t i = 0; i < nl; i++) {
    act[i] = pos[i] = i;
    rows[i * n + gid[i]] = INFINITY;
  }
  const int count = OVQ_INT(n, "objects");
  int64_t len = 0, y = 0;
  for (int64_t m = 0; m < n - 1; m++) {
    if (len == 0) {
      for (int64_t i = 0; i < n; i++)
        if (size[i] > 0) {
          chain[len++] = i;
          break;
        }
    }
    int64_t x;
    double cur;
    for (;;) {
      x = chain[len - 1];
      ChainStep step = {0.0, 0};
      if (owner[x] == rank) {
        const double *r = rows + loc[x] * n;
        if (len > 1) {
          y = chain[len - 2];
          cur = r[y];
        } else {
          cur = INFINITY;
        }
        for (int64_t i = 0; i < n; i++)
          if (r[i] < cur) {
            cur = r[i];
            y = i;
          }
        step = (ChainStep){cur, y};
      }
      if (nranks > 1) OVQ_MPI_CHECK(MPI_Bcast(&step, (int)sizeof step, MPI_BYTE, owner[x], comm));
      cur = step.d;
      y = step.y;
      if (len > 1 && y == chain[len - 2]) break;
      chain[len++] = y;
    }
    len -= 2;
    if (x > y) {
      int64_t t = x;
      x = y;
      y = t;
    }
    const int64_t nx = size[x], ny = size[y];
    raw[m] = (Raw){.x = x, .y = y, .h = cur, .order = m};
    size[x] = 0;
    size[y] = nx + ny;
    const double *rx = NULL;
    if (owner[x] == rank && owner[y] == rank) {
      rx = rows + loc[x] * n;
    } else if (owner[x] == rank) {
      OVQ_MPI_CHECK(
          MPI_Isend(rows + loc[x] * n, count, MPI_DOUBLE, owner[y], 2, comm, &sent[n_sent++]));
    } else if (owner[y] == rank) {
      OVQ_MPI_CHECK(MPI_Recv(xrow, count, MPI_DOUBLE, owner[x], 2, comm, MPI_STATUS_IGNORE));
      rx = xrow;
    }
    if (owner[x] == rank) { /* x leaves the active rows */
      int64_t p = pos[loc[x]], last = act[--n_act];
      act[p] = last;
      pos[last] = p;
    }
    for (int64_t a = 0; a < n_act; a++) {
      int64_t i = act[a];
      if (a + 8 < n_act) { /* one cache line per row, 8 N bytes apart: fetch ahead */
        const double *p = rows + act[a + 8] * n;
        __builtin_prefetch(p + x, 1);
        __builtin_prefetch(p + y, 1);
      }
      if (gid[i] == y) continue;
      double *r = rows + i * n;
      r[y] = lance_williams(link, r[x], r[y], cur, nx, ny, size[gid[i]]);
      r[x] = INFINITY;
    }
    if (owner[y] == rank) {
      double *r = rows + loc[y] * n;
      for (int64_t i = 0; i < n; i++) {
        int64_t ni = size[i];
        if (ni == 0 || i == y) continue;
        r[i] = lance_williams(link, rx[i], r[i], cur, nx, ny, ni);
      }
      r[x] = INFINITY;
    }
  }
  sort_and_label(raw, n, out);
  free(size);
  free(chain);
  free(raw);
  free(act);
  free(pos);
  free(xrow);
  OVQ_MPI_CHECK(MPI_Waitall(OVQ_INT(n_sent, "rows sent"), sent, MPI_STATUSES_IGNORE));
  free(sent);
}

OvqStatus ovq_hclust_from_rows(OvqLinkage linkage, int k, double *rows, int64_t n_local,
                               MPI_Comm comm, OvqHclustResult *out) {
  memset(out, 0, sizeof *out);
  int rank, nranks;
  OVQ_MPI_CHECK(MPI_Comm_rank(comm, &rank));
  OVQ_MPI_CHECK(MPI_Comm_size(comm, &nranks));
  const int64_t nl = n_local > 0 ? n_local : 0;
  int64_t *starts = OVQ_MALLOC(sizeof(int64_t) * (size_t)(nranks + 1));
  OVQ_MPI_CHECK(MPI_Allgather(&nl, 1, MPI_INT64_T, starts + 1, 1, MPI_INT64_T, comm));
  starts[0] = 0;
  for (int r = 0; r < nranks; r++)
    starts[r + 1] += starts[r];
  const int64_t n = starts[nranks];
  OvqStatus st = OVQ_OK;
  if (n_local < 0 || (n_local > 0 && !rows))
    st = ovq_error("hclust: no dissimilarity rows on this rank (n_local = %lld)",
                   (long long)n_local);
  else if (n < 1)
    st = ovq_error("hclust: no dissimilarities (n = %lld)", (long long)n);
  else if (k < 1 || k > n)
    st = ovq_error("hclust: k = %d clusters must be between 1 and the number of objects (%lld)", k,
                   (long long)n);
  else if (!linkage_ok(linkage))
    st = ovq_error("hclust: unknown linkage %d", (int)linkage);
  st = ovq_status_agree(comm, st);
  /* Local row i is object starts[rank] + i; owner and local row of every object. */
  int64_t *gid = OVQ_MALLOC(sizeof(int64_t) * (size_t)(nl + 1));
  int *owner = OVQ_MALLOC(sizeof(int) * (size_t)(n > 0 ? n : 1));
  int64_t *loc = OVQ_MALLOC(sizeof(int64_t) * (size_t)(n > 0 ? n : 1));
  for (int64_t i = 0; i < nl; i++)
    gid[i] = starts[rank] + i;
  for (int r = 0; r < nranks; r++)
    for (int64_t i = starts[r]; i < starts[r + 1]; i++) {
      owner[i] = r;
      loc[i] = i - starts[r];
    }
  for (int64_t i = 0; st == OVQ_OK && i < nl; i++)
    for (int64_t j = 0; j < n; j++) {
      double v = rows[i * n + j];
      if (j != gid[i] && (!isfinite(v) || v < 0.0)) {
        int64_t a = gid[i] < j ? gid[i] : j, b = gid[i] < j ? j : gid[i];
        st = ovq_error("hclust: dissimilarity (%lld, %lld) = %g; need finite values >= 0",
                       (long long)a, (long long)b, v);
        break;
      }
    }
  st = ovq_status_agree(comm, st);
  if (st == OVQ_OK) {
    out->n = n;
    out->merge = OVQ_CALLOC((size_t)(n > 1 ? n - 1 : 1), sizeof(OvqMerge));
    if (n > 1) nn_chain_rows(linkage, rows, gid, nl, owner, loc, rank, n, comm, out->merge);
    int32_t *lab = OVQ_MALLOC(sizeof(int32_t) * (size_t)n);
    out->k = ovq_hclust_cut(out->merge, n, k, lab);
    out->first = starts[rank];
    out->n_local = nl;
    out->labels = OVQ_MALLOC(sizeof(int32_t) * (size_t)(nl + 1));
    for (int64_t i = 0; i < nl; i++)
      out->labels[i] = lab[gid[i]];
    free(lab);
  }
  free(gid);
  free(owner);
  free(loc);
  free(starts);
  return st;
}

/* Euclidean distance in double, summed in feature order (the same wherever the rows live). */
static double euclid(const float *a, const float *b, int64_t d) {
  double s = 0.0;
  for (int64_t f = 0; f < d; f++) {
    double v = (double)a[f] - b[f];
    s += v * v;
  }
  return sqrt(s);
}

OvqStatus ovq_hclust_fit(OvqLinkage linkage, int k, const float *x, int64_t n_local, int64_t d,
                         MPI_Comm comm, OvqHclustResult *out) {
  memset(out, 0, sizeof *out);
  int rank, size;
  OVQ_MPI_CHECK(MPI_Comm_rank(comm, &rank));
  OVQ_MPI_CHECK(MPI_Comm_size(comm, &size));
  int64_t mine[3] = {n_local, d, 0};
  OvqStatus st = OVQ_OK;
  if (n_local < 0 || (n_local > 0 && !x))
    st = ovq_error("hclust: no data on this rank (n_local = %lld)", (long long)n_local);
  for (int64_t i = 0; st == OVQ_OK && i < n_local * d; i++)
    if (!isfinite(x[i])) mine[2] = 1;
  int64_t *shape = OVQ_MALLOC(sizeof(int64_t) * 3 * (size_t)size);
  OVQ_MPI_CHECK(MPI_Allgather(mine, 3, MPI_INT64_T, shape, 3, MPI_INT64_T, comm));
  int64_t *starts = OVQ_MALLOC(sizeof(int64_t) * (size_t)(size + 1));
  starts[0] = 0;
  int same_d = 1, bad = 0;
  int64_t max_rows = 0;
  for (int r = 0; r < size; r++) {
    int64_t nr = shape[3 * r] > 0 ? shape[3 * r] : 0;
    starts[r + 1] = starts[r] + nr;
    max_rows = nr > max_rows ? nr : max_rows;
    same_d &= shape[3 * r + 1] == d;
    bad |= shape[3 * r + 2] != 0;
  }
  free(shape);
  const int64_t n = starts[size];
  if (st == OVQ_OK) {
    if (d < 1)
      st = ovq_error("hclust: d = %lld features; need at least 1", (long long)d);
    else if (!same_d)
      st = ovq_error("hclust: ranks hold rows of different widths (here d = %lld)", (long long)d);
    else if (k < 1 || k > n)
      st = ovq_error("hclust: k = %d clusters must be between 1 and the number of samples (%lld)",
                     k, (long long)n);
    else if (!linkage_ok(linkage))
      st = ovq_error("hclust: unknown linkage %d", (int)linkage);
    else if (bad)
      st = ovq_error("hclust: the data hold NaN or infinite values");
  }
  st = ovq_status_agree(comm, st);
  if (st != OVQ_OK) {
    free(starts);
    return st;
  }

  /* This rank's rows of the condensed matrix; on rank 0 (first block) they are the head of the
   * full matrix, so rank 0 computes in place. */
  const int64_t s0 = starts[rank], s1 = starts[rank + 1];
  const int64_t c0 = row_start(n, s0), len = row_start(n, s1) - c0;
  double *D = rank == 0 ? OVQ_MALLOC(sizeof(double) * (size_t)(row_start(n, n - 1) + 1))
                        : OVQ_MALLOC(sizeof(double) * (size_t)(len + 1));
  /* Blocks travel round the ring: at step s this rank holds block (rank + s) % size. */
  float *buf = OVQ_MALLOC(sizeof(float) * (size_t)(max_rows * d + 1));
  if (n_local > 0) memcpy(buf, x, sizeof(float) * (size_t)(n_local * d));
  const int count = OVQ_INT(max_rows * d, "rows x d");
  for (int s = 0; s < size; s++) {
    int b = (rank + s) % size;
    if (b >= rank)
      for (int64_t i = s0; i < s1; i++) {
        const float *xi = x + (i - s0) * d;
        const int64_t at = row_start(n, i) - c0 - i - 1; /* entry (i, j) is D[at + j] */
        for (int64_t j = starts[b] > i + 1 ? starts[b] : i + 1; j < starts[b + 1]; j++)
          D[at + j] = euclid(xi, buf + (j - starts[b]) * d, d);
      }
    if (s + 1 < size)
      OVQ_MPI_CHECK(MPI_Sendrecv_replace(buf, count, MPI_FLOAT, (rank + size - 1) % size, 0,
                                         (rank + 1) % size, 0, comm, MPI_STATUS_IGNORE));
  }
  free(buf);
  /* Gather the slices on rank 0, in rank order, in messages of at most CHUNK doubles. */
  if (rank == 0) {
    for (int r = 1; r < size; r++) {
      int64_t at = row_start(n, starts[r]), end = row_start(n, starts[r + 1]);
      for (; at < end; at += CHUNK) {
        int c = (int)(end - at < CHUNK ? end - at : CHUNK);
        OVQ_MPI_CHECK(MPI_Recv(D + at, c, MPI_DOUBLE, r, 1, comm, MPI_STATUS_IGNORE));
      }
    }
  } else {
    for (int64_t at = 0; at < len; at += CHUNK) {
      int c = (int)(len - at < CHUNK ? len - at : CHUNK);
      OVQ_MPI_CHECK(MPI_Send(D + at, c, MPI_DOUBLE, 0, 1, comm));
    }
  }
  out->n = n;
  out->merge = OVQ_CALLOC((size_t)(n > 1 ? n - 1 : 1), sizeof(OvqMerge));
  if (rank == 0) nn_chain(linkage, D, n, out->merge);
  free(D);
  bcast_tree(out->merge, n, comm);
  finish(out, k, s0, n_local);
  free(starts);
  return OVQ_OK;
}
