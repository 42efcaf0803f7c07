/* Hierarchical clustering at the rank count it is run with (registered at 1, 2 and 4 ranks):
 * 1. Against SciPy (fixtures from tools/gen_hclust_fixtures.py): for average, complete and Ward
 *    linkage, on row-distributed features (ovq_hclust_fit) and on a given dissimilarity
 *    (ovq_hclust_from_dissimilarity, ovq_hclust_from_condensed): merge pairs and sizes
 *    identical, heights to 1e-9 (relative to the largest height), cuts at several k identical
 *    up to renaming, cophenetic correlation to 1e-9.
 * 2. The world result equals rank 0's alone with all the data, bit for bit (tree and labels).
 * 3. Ties and edges: duplicated samples (height-0 merges, fewer clusters at a tied cut, as
 *    fcluster), N = 1, ranks holding no rows, k = N; user errors reported on every rank.
 * 4. Row-distributed input (ovq_hclust_from_rows): on the SciPy fixtures, on the features
 *    fixture's distance matrix and on tie-heavy matrices (values in steps of 1/20, as consensus
 *    matrices are), balanced and skewed row blocks (rank 0 holding none): tree and labels
 *    bit-identical to ovq_hclust_from_dissimilarity / ovq_hclust_fit; the mean dissimilarity
 *    within the clusters of an average-linkage cut equals the one from the merge heights.
 * 5. Consensus clustering (ovq_consensus_run, k-means base) on planted blobs: labels, CDF area
 *    and mean consensus at this rank count equal rank 0's alone, bit for bit; the blobs are found.
 * Usage: test_hclust <fixtures dir> */
#include <mpi.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ovq/config.h"
#include "ovq/consensus.h"
#include "ovq/error.h"
#include "ovq/hclust.h"
#include "ovq/partition.h"
#include "ovq/rng.h"

enum { MAX_BLOCKS = 8, MAX_CUTS = 8 };

typedef struct Block {
  OvqLinkage link;
  char name[16];
  double *z; /* [n - 1][4] */
  int n_cuts;
  int k[MAX_CUTS];
  int32_t *cut[MAX_CUTS]; /* [n] fcluster labels (1-based) */
  double coph;
} Block;

typedef struct Fixture {
  int64_t n, d; /* d = 0: a dissimilarity */
  float *x;     /* [n][d] */
  double *dis;  /* [n][n] */
  int nb;
  Block b[MAX_BLOCKS];
} Fixture;

static int g_rank, g_size;
static double g_worst_h = 0.0, g_worst_coph = 0.0;

static int read_fixture(const char *path, Fixture *fx) {
  memset(fx, 0, sizeof *fx);
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  char tok[64];
  int c, ok = 1;
  long long n = 0, d = 0;
  while (ok && fscanf(f, "%63s", tok) == 1) {
    if (tok[0] == '#') {
      while ((c = fgetc(f)) != EOF && c != '\n')
        continue;
    } else if (strcmp(tok, "data") == 0) {
      ok = fscanf(f, "%lld %lld", &n, &d) == 2 && n > 1 && d > 0;
      fx->n = n;
      fx->d = d;
      fx->x = malloc(sizeof(float) * (size_t)(n * d));
      for (int64_t i = 0; ok && i < n * d; i++)
        ok = fscanf(f, "%f", &fx->x[i]) == 1;
    } else if (strcmp(tok, "dis") == 0) {
      ok = fscanf(f, "%lld", &n) == 1 && n > 1;
      fx->n = n;
      fx->dis = malloc(sizeof(double) * (size_t)(n * n));
      for (int64_t i = 0; ok && i < n * n; i++)
        ok = fscanf(f, "%lf", &fx->dis[i]) == 1;
    } else if (strcmp(tok, "linkage") == 0 && fx->nb < MAX_BLOCKS && n > 1) {
      Block *b = &fx->b[fx->nb++];
      ok = fscanf(f, "%15s", b->name) == 1;
      b->link = strcmp(b->name, "average") == 0    ? OVQ_LINKAGE_AVERAGE
                : strcmp(b->name, "complete") == 0 ? OVQ_LINKAGE_COMPLETE
                                                   : OVQ_LINKAGE_WARD;
      ok = ok && fscanf(f, "%63s", tok) == 1 && strcmp(tok, "Z") == 0;
      b->z = malloc(sizeof(double) * 4 * (size_t)(n - 1));
      for (int64_t i = 0; ok && i < 4 * (n - 1); i++)
        ok = fscanf(f, "%lf", &b->z[i]) == 1;
      while (ok && fscanf(f, "%63s", tok) == 1 && strcmp(tok, "cut") == 0 && b->n_cuts < MAX_CUTS) {
        int j = b->n_cuts++;
        b->cut[j] = malloc(sizeof(int32_t) * (size_t)n);
        ok = fscanf(f, "%d", &b->k[j]) == 1;
        for (int64_t i = 0; ok && i < n; i++)
          ok = fscanf(f, "%d", &b->cut[j][i]) == 1;
      }
      ok = ok && strcmp(tok, "coph") == 0 && fscanf(f, "%lf", &b->coph) == 1;
      ok = ok && fscanf(f, "%63s", tok) == 1 && strcmp(tok, "end") == 0;
    } else {
      ok = 0;
    }
  }
  fclose(f);
  return ok && fx->nb > 0;
}

/* a and b (length n) are the same partition up to renaming. */
static int same_partition(const int32_t *a, const int32_t *b, int64_t n) {
  int32_t amax = 0, bmax = 0;
  for (int64_t i = 0; i < n; i++) {
    amax = a[i] > amax ? a[i] : amax;
    bmax = b[i] > bmax ? b[i] : bmax;
  }
  int32_t *ab = malloc(sizeof(int32_t) * (size_t)(amax + 1)),
          *ba = malloc(sizeof(int32_t) * (size_t)(bmax + 1));
  for (int32_t i = 0; i <= amax; i++)
    ab[i] = -1;
  for (int32_t i = 0; i <= bmax; i++)
    ba[i] = -1;
  int ok = 1;
  for (int64_t i = 0; i < n && ok; i++) {
    if (ab[a[i]] < 0) ab[a[i]] = b[i];
    if (ba[b[i]] < 0) ba[b[i]] = a[i];
    ok = ab[a[i]] == b[i] && ba[b[i]] == a[i];
  }
  free(ab);
  free(ba);
  return ok;
}

/* Labels of all n samples on every rank, from each rank's block. */
static int32_t *allgather_labels(const OvqHclustResult *r) {
  int *counts = malloc(sizeof(int) * (size_t)g_size),
      *displs = malloc(sizeof(int) * (size_t)g_size);
  int mine = (int)r->n_local, first = (int)r->first;
  MPI_Allgather(&mine, 1, MPI_INT, counts, 1, MPI_INT, MPI_COMM_WORLD);
  MPI_Allgather(&first, 1, MPI_INT, displs, 1, MPI_INT, MPI_COMM_WORLD);
  int32_t *all = malloc(sizeof(int32_t) * (size_t)r->n);
  MPI_Allgatherv(r->labels, mine, MPI_INT32_T, all, counts, displs, MPI_INT32_T, MPI_COMM_WORLD);
  free(counts);
  free(displs);
  return all;
}

/* Condensed upper triangle of a full n x n matrix (new array). */
static double *condense(const double *full, int64_t n) {
  double *c = malloc(sizeof(double) * (size_t)(n * (n - 1) / 2 + 1));
  int64_t t = 0;
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = i + 1; j < n; j++)
      c[t++] = full[i * n + j];
  return c;
}

/* Tree, labels at each k and cophenetic correlation vs SciPy. dis: the condensed dissimilarity
 * the tree was built from (for the cophenetic correlation). */
static void compare(const char *what, const Block *b, const OvqHclustResult *r, int64_t n,
                    const double *dis) {
  int wrong_ids = 0;
  double top = 0.0, dh = 0.0;
  for (int64_t m = 0; m < n - 1; m++)
    top = fmax(top, fabs(b->z[4 * m + 2]));
  for (int64_t m = 0; m < n - 1; m++) {
    const double *z = b->z + 4 * m;
    wrong_ids += r->merge[m].a != (int64_t)z[0] || r->merge[m].b != (int64_t)z[1] ||
                 r->merge[m].size != (int64_t)z[3];
    dh = fmax(dh, fabs(r->merge[m].height - z[2]) / top);
  }
  CHECK_MSG(wrong_ids == 0, "%s %s: %d merges differ from SciPy's", what, b->name, wrong_ids);
  CHECK_MSG(dh <= 1e-9, "%s %s: heights differ by %.3g relative", what, b->name, dh);
  int32_t *lab = malloc(sizeof(int32_t) * (size_t)n);
  int cuts_ok = 0;
  for (int j = 0; j < b->n_cuts; j++) {
    int got = ovq_hclust_cut(r->merge, n, b->k[j], lab);
    int ok = got == b->k[j] && same_partition(lab, b->cut[j], n);
    CHECK_MSG(ok, "%s %s: cut at k = %d (%d clusters) differs from fcluster", what, b->name,
              b->k[j], got);
    cuts_ok += ok;
  }
  free(lab);
  double coph = ovq_hclust_cophenetic_correlation(r->merge, n, dis);
  double dc = fabs(coph - b->coph);
  CHECK_MSG(dc <= 1e-9, "%s %s: cophenetic correlation %.17g vs SciPy %.17g", what, b->name, coph,
            b->coph);
  g_worst_h = fmax(g_worst_h, dh);
  g_worst_coph = fmax(g_worst_coph, dc);
  if (g_rank == 0)
    printf("  %-13s %-8s: %d merges differ, heights %.2e, %d/%d cuts agree, cophenetic %.6f "
           "(diff %.2e)\n",
           what, b->name, wrong_ids, dh, cuts_ok, b->n_cuts, coph, dc);
}

/* Two trees and label vectors are bit-identical. */
static int same_tree(const OvqHclustResult *a, const OvqHclustResult *b) {
  if (a->n != b->n || a->k != b->k) return 0;
  for (int64_t m = 0; m < a->n - 1; m++)
    if (memcmp(&a->merge[m], &b->merge[m], sizeof(OvqMerge)) != 0) return 0;
  return 1;
}

static void check_features(const Fixture *fx) {
  const int64_t n = fx->n, d = fx->d;
  OvqRange q = ovq_partition_block(n, g_size, g_rank);
  /* dissimilarity for the cophenetic correlation: Euclidean distances in double */
  double *dis = malloc(sizeof(double) * (size_t)(n * n));
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = 0; j < n; j++) {
      double s = 0.0;
      for (int64_t f = 0; f < d; f++) {
        double v = (double)fx->x[i * d + f] - fx->x[j * d + f];
        s += v * v;
      }
      dis[i * n + j] = sqrt(s);
    }
  double *full = dis;
  dis = condense(full, n);
  free(full);
  for (int i = 0; i < fx->nb; i++) {
    const Block *b = &fx->b[i];
    const int k = b->k[b->n_cuts - 1];
    OvqHclustResult r;
    OvqStatus st = ovq_hclust_fit(b->link, k, fx->x + q.start * d, q.count, d, MPI_COMM_WORLD, &r);
    CHECK_MSG(st == OVQ_OK, "features %s: %s", b->name, ovq_error_message());
    if (st != OVQ_OK) continue;
    CHECK(r.first == q.start && r.n_local == q.count && r.k == k);
    compare("features", b, &r, n, dis);
    int32_t *all = allgather_labels(&r);
    CHECK_MSG(same_partition(all, b->cut[b->n_cuts - 1], n),
              "features %s: distributed labels at k = %d differ from fcluster", b->name, k);
    CHECK_MSG(all[0] == 0, "features %s: sample 0 in cluster %d, not 0", b->name, all[0]);
    if (g_rank == 0) {
      OvqHclustResult s;
      CHECK(ovq_hclust_fit(b->link, k, fx->x, n, d, MPI_COMM_SELF, &s) == OVQ_OK);
      int same = same_tree(&r, &s) && memcmp(all, s.labels, sizeof(int32_t) * (size_t)n) == 0;
      CHECK_MSG(same, "features %s: %d ranks and 1 rank give different trees or labels", b->name,
                g_size);
      printf("  %-13s %-8s: %d ranks vs 1: %s\n", "features", b->name, g_size,
             same ? "bit-identical" : "DIFFERENT");
      ovq_hclust_result_free(&s);
    }
    free(all);
    ovq_hclust_result_free(&r);
  }
  free(dis);
}

static void check_dissimilarity(const Fixture *fx) {
  double *cond = condense(fx->dis, fx->n);
  for (int i = 0; i < fx->nb; i++) {
    const Block *b = &fx->b[i];
    const int k = b->k[b->n_cuts - 1];
    OvqHclustResult r, c;
    OvqStatus st = ovq_hclust_from_dissimilarity(b->link, k, fx->dis, fx->n, MPI_COMM_WORLD, &r);
    CHECK_MSG(st == OVQ_OK, "dissimilarity %s: %s", b->name, ovq_error_message());
    if (st != OVQ_OK) continue;
    CHECK(r.first == 0 && r.n_local == fx->n && r.k == k);
    compare("dissimilarity", b, &r, fx->n, cond);
    CHECK_MSG(same_partition(r.labels, b->cut[b->n_cuts - 1], fx->n),
              "dissimilarity %s: labels at k = %d differ from fcluster", b->name, k);
    /* every rank holds the same tree */
    double h = r.merge[fx->n - 2].height, hmax = h, hmin = h;
    MPI_Allreduce(MPI_IN_PLACE, &hmax, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    MPI_Allreduce(MPI_IN_PLACE, &hmin, 1, MPI_DOUBLE, MPI_MIN, MPI_COMM_WORLD);
    CHECK(hmax == hmin);
    /* the condensed entry point (matrix on rank 0 only) gives the same tree and labels */
    CHECK(ovq_hclust_from_condensed(b->link, k, g_rank == 0 ? cond : NULL, fx->n, MPI_COMM_WORLD,
                                    &c) == OVQ_OK);
    CHECK_MSG(same_tree(&r, &c) && memcmp(r.labels, c.labels, sizeof(int32_t) * (size_t)fx->n) == 0,
              "dissimilarity %s: condensed input gives a different tree", b->name);
    ovq_hclust_result_free(&c);
    ovq_hclust_result_free(&r);
  }
  free(cond);
}

/* 3. Ties and edges. */
static void check_edges(void) {
  /* Points 0, 0, 0.5, 5, 5, 6.4 (1-D), with duplicates: height-0 merges come first; the cut at
   * k = 5 ties with the other height-0 merge and gives 4 clusters, as fcluster does. */
  const float pts[6] = {0.0f, 0.0f, 0.5f, 5.0f, 5.0f, 6.4f};
  const int64_t n = 6;
  OvqRange q = ovq_partition_block(n, g_size, g_rank);
  OvqHclustResult r;
  CHECK(ovq_hclust_fit(OVQ_LINKAGE_COMPLETE, 5, q.count ? pts + q.start : NULL, q.count, 1,
                       MPI_COMM_WORLD, &r) == OVQ_OK);
  CHECK_MSG(r.merge[0].height == 0.0 && r.merge[1].height == 0.0 && r.merge[0].a == 0 &&
                r.merge[0].b == 1 && r.merge[1].a == 3 && r.merge[1].b == 4,
            "duplicates: first merges (%lld %lld %g) (%lld %lld %g)", (long long)r.merge[0].a,
            (long long)r.merge[0].b, r.merge[0].height, (long long)r.merge[1].a,
            (long long)r.merge[1].b, r.merge[1].height);
  CHECK_MSG(r.k == 4, "duplicates: k = 5 gives %d clusters, want 4 (tied cut)", r.k);
  int32_t lab[6], want3[6] = {0, 0, 0, 1, 1, 2};
  int got = ovq_hclust_cut(r.merge, n, 3, lab);
  CHECK_MSG(got == 3 && memcmp(lab, want3, sizeof lab) == 0,
            "duplicates: k = 3 labels %d %d %d %d %d %d", lab[0], lab[1], lab[2], lab[3], lab[4],
            lab[5]);
  got = ovq_hclust_cut(r.merge, n, 6, lab);
  CHECK_MSG(got == 6, "k = N gives %d clusters", got);
  ovq_hclust_result_free(&r);

  /* N = 1 (ranks other than 0 hold nothing) and N = 2 on up to 4 ranks */
  const float one[2] = {3.0f, 4.0f};
  CHECK(ovq_hclust_fit(OVQ_LINKAGE_WARD, 1, g_rank == 0 ? one : NULL, g_rank == 0, 2,
                       MPI_COMM_WORLD, &r) == OVQ_OK);
  CHECK(r.n == 1 && r.k == 1 && (g_rank != 0 || r.labels[0] == 0));
  ovq_hclust_result_free(&r);
  int mine = g_rank == g_size - 1 ? 2 : 0;
  CHECK(ovq_hclust_fit(OVQ_LINKAGE_WARD, 2, mine ? one : NULL, mine, 1, MPI_COMM_WORLD, &r) ==
        OVQ_OK);
  CHECK(r.n == 2 && r.k == 2 && fabs(r.merge[0].height - 1.0) == 0.0 && r.merge[0].size == 2);
  if (mine) CHECK(r.labels[0] == 0 && r.labels[1] == 1);
  ovq_hclust_result_free(&r);
}

static void expect_error(const char *what, OvqStatus st, const OvqHclustResult *r,
                         const char *needle) {
  int bad = st == OVQ_ERR, all = 0;
  MPI_Allreduce(&bad, &all, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  CHECK_MSG(all == g_size, "%s: OVQ_ERR on %d of %d ranks", what, all, g_size);
  CHECK_MSG(strstr(ovq_error_message(), needle) != NULL, "%s: message '%s' lacks '%s'", what,
            ovq_error_message(), needle);
  CHECK(r->merge == NULL && r->labels == NULL);
  if (g_rank == 0) printf("  %-22s -> %s\n", what, ovq_error_message());
}

static void check_errors(void) {
  const int64_t n = 8;
  OvqRange q = ovq_partition_block(n, g_size, g_rank);
  float x[16];
  for (int i = 0; i < 16; i++)
    x[i] = (float)(i * i % 7);
  OvqHclustResult r;
  ovq_error_clear();
  expect_error("k = 0", ovq_hclust_fit(OVQ_LINKAGE_AVERAGE, 0, x, q.count, 2, MPI_COMM_WORLD, &r),
               &r, "k = 0");
  expect_error("k > N", ovq_hclust_fit(OVQ_LINKAGE_AVERAGE, 9, x, q.count, 2, MPI_COMM_WORLD, &r),
               &r, "number of samples (8)");
  expect_error("bad linkage", ovq_hclust_fit((OvqLinkage)7, 2, x, q.count, 2, MPI_COMM_WORLD, &r),
               &r, "unknown linkage");
  if (g_size > 1)
    expect_error(
        "d differs",
        ovq_hclust_fit(OVQ_LINKAGE_AVERAGE, 2, x, q.count, g_rank ? 1 : 2, MPI_COMM_WORLD, &r), &r,
        "different widths");
  if (g_rank == g_size - 1 && q.count > 0) x[0] = NAN;
  expect_error("NaN in data",
               ovq_hclust_fit(OVQ_LINKAGE_AVERAGE, 2, x, q.count, 2, MPI_COMM_WORLD, &r), &r,
               "NaN");
  double dis[9] = {0, 1, 2, 1, 0, -3, 2, -3, 0};
  expect_error("negative dissimilarity",
               ovq_hclust_from_dissimilarity(OVQ_LINKAGE_AVERAGE, 2, dis, 3, MPI_COMM_WORLD, &r),
               &r, "(1, 2) = -3");
  expect_error("k > n (dissimilarity)",
               ovq_hclust_from_dissimilarity(OVQ_LINKAGE_AVERAGE, 4, dis, 3, MPI_COMM_WORLD, &r),
               &r, "number of objects (3)");
}

/* 4. Row-distributed input. This rank's rows: balanced blocks, or (skew 1) none on rank 0 and the
 * rest in balanced blocks over ranks 1.. (one rank: all); skew 2: object i on rank i % size, in
 * descending order (given as indices). */
static OvqRange row_block(int64_t n, int skew) {
  if (!skew || g_size == 1) return ovq_partition_block(n, g_size, g_rank);
  if (g_rank == 0) return (OvqRange){0, 0};
  OvqRange q = ovq_partition_block(n, g_size - 1, g_rank - 1);
  return q;
}

/* ovq_hclust_from_rows on this rank's block of full (n x n) vs the reference tree and labels of
 * all n objects; returns 1 when bit-identical on every rank. */
static int rows_match(const char *what, OvqLinkage link, int k, const double *full, int64_t n,
                      int skew, const OvqHclustResult *ref, const int32_t *ref_labels) {
  OvqRange q = row_block(n, skew);
  double *rows = malloc(sizeof(double) * (size_t)(q.count * n + 1));
  memcpy(rows, full + q.start * n, sizeof(double) * (size_t)(q.count * n));
  OvqHclustResult r;
  OvqStatus st = ovq_hclust_from_rows(link, k, rows, q.count, MPI_COMM_WORLD, &r);
  free(rows);
  int same = st == OVQ_OK && r.n == n && r.first == q.start && r.n_local == q.count &&
             same_tree(&r, ref) &&
             (q.count == 0 ||
              memcmp(r.labels, ref_labels + q.start, sizeof(int32_t) * (size_t)q.count) == 0);
  int all = 0;
  MPI_Allreduce(&same, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  CHECK_MSG(all, "%s (%s blocks): rows give a different tree or labels (%s)", what,
            skew ? "skewed" : "balanced", st == OVQ_OK ? "ok" : ovq_error_message());
  if (st == OVQ_OK) ovq_hclust_result_free(&r);
  return all;
}

/* Full matrix with values k / 20 (k = 0..20, many ties), symmetric, zero diagonal. */
static double *tie_matrix(int64_t n, uint64_t seed) {
  double *a = malloc(sizeof(double) * (size_t)(n * n));
  for (int64_t i = 0; i < n; i++) {
    a[i * n + i] = 0.0;
    for (int64_t j = i + 1; j < n; j++) {
      OvqRng r;
      ovq_rng_init(&r, seed, OVQ_STREAM_TEST, (uint64_t)(i * n + j));
      /* clustered: pairs in the same of 4 groups are nearer */
      double u = ovq_rng_uniform(&r) * ((i % 4) == (j % 4) ? 8.0 : 21.0);
      a[i * n + j] = a[j * n + i] = floor(u > 20.0 ? 20.0 : u) / 20.0;
    }
  }
  return a;
}

static void check_rows(const Fixture *fe, const Fixture *fd) {
  static const OvqLinkage links[3] = {OVQ_LINKAGE_AVERAGE, OVQ_LINKAGE_COMPLETE, OVQ_LINKAGE_WARD};
  static const char *names[3] = {"average", "complete", "ward"};
  int agree = 0, cases = 0;
  /* SciPy's dissimilarity fixture: vs SciPy, and vs the replicated entry point */
  if (fd && fd->dis) {
    double *cond = condense(fd->dis, fd->n);
    for (int i = 0; i < fd->nb; i++) {
      const Block *b = &fd->b[i];
      const int k = b->k[b->n_cuts - 1];
      OvqHclustResult ref;
      CHECK(ovq_hclust_from_dissimilarity(b->link, k, fd->dis, fd->n, MPI_COMM_WORLD, &ref) ==
            OVQ_OK);
      OvqRange q = ovq_partition_block(fd->n, g_size, g_rank);
      double *rows = malloc(sizeof(double) * (size_t)(q.count * fd->n + 1));
      memcpy(rows, fd->dis + q.start * fd->n, sizeof(double) * (size_t)(q.count * fd->n));
      OvqHclustResult r;
      CHECK(ovq_hclust_from_rows(b->link, k, rows, q.count, MPI_COMM_WORLD, &r) == OVQ_OK);
      free(rows);
      compare("rows", b, &r, fd->n, cond);
      ovq_hclust_result_free(&r);
      for (int skew = 0; skew < 2; skew++, cases++)
        agree +=
            rows_match("dissimilarity fixture", b->link, k, fd->dis, fd->n, skew, &ref, ref.labels);
      ovq_hclust_result_free(&ref);
    }
    free(cond);
  }
  /* the features fixture's Euclidean distances (computed as ovq_hclust_fit does) vs its tree */
  if (fe && fe->x) {
    const int64_t n = fe->n, d = fe->d;
    double *full = malloc(sizeof(double) * (size_t)(n * n));
    for (int64_t i = 0; i < n; i++)
      for (int64_t j = 0; j < n; j++) {
        double s = 0.0;
        for (int64_t f = 0; f < d; f++) {
          double v = (double)fe->x[i * d + f] - fe->x[j * d + f];
          s += v * v;
        }
        full[i * n + j] = sqrt(s);
      }
    for (int i = 0; i < fe->nb; i++) {
      const Block *b = &fe->b[i];
      const int k = b->k[b->n_cuts - 1];
      OvqHclustResult ref;
      CHECK(ovq_hclust_fit(b->link, k, fe->x, n, d, MPI_COMM_SELF, &ref) == OVQ_OK);
      for (int skew = 0; skew < 2; skew++, cases++)
        agree += rows_match("features fixture", b->link, k, full, n, skew, &ref, ref.labels);
      ovq_hclust_result_free(&ref);
    }
    free(full);
  }
  /* tie-heavy matrices */
  double worst_mean = 0.0;
  for (int t = 0; t < 3; t++) {
    const int64_t n = t == 0 ? 7 : t == 1 ? 64 : 251;
    double *full = tie_matrix(n, 40 + (uint64_t)t);
    for (int l = 0; l < 3; l++) {
      const int k = n < 5 ? 2 : 5;
      OvqHclustResult ref;
      CHECK(ovq_hclust_from_dissimilarity(links[l], k, full, n, MPI_COMM_WORLD, &ref) == OVQ_OK);
      char what[64];
      snprintf(what, sizeof what, "ties n=%lld %s", (long long)n, names[l]);
      for (int skew = 0; skew < 2; skew++, cases++)
        agree += rows_match(what, links[l], k, full, n, skew, &ref, ref.labels);
      if (links[l] == OVQ_LINKAGE_AVERAGE) {
        /* mean within the clusters: directly, and from the first n - k merge heights */
        double direct = 0.0, pairs = 0.0, tree = 0.0, tp = 0.0;
        for (int64_t i = 0; i < n; i++)
          for (int64_t j = i + 1; j < n; j++)
            if (ref.labels[i] == ref.labels[j]) {
              direct += full[i * n + j];
              pairs += 1.0;
            }
        for (int64_t m = 0; m < n - ref.k; m++) {
          const OvqMerge *g = &ref.merge[m];
          double na = g->a < n ? 1.0 : (double)ref.merge[g->a - n].size;
          double nb = g->b < n ? 1.0 : (double)ref.merge[g->b - n].size;
          tree += na * nb * g->height;
          tp += na * nb;
        }
        CHECK_MSG(tp == pairs, "%s: %g within pairs from the tree, %g directly", what, tp, pairs);
        double diff = fabs(tree / tp - direct / pairs);
        CHECK_MSG(diff <= 1e-12, "%s: mean within %.17g (tree) vs %.17g", what, tree / tp,
                  direct / pairs);
        worst_mean = fmax(worst_mean, diff);
      }
      ovq_hclust_result_free(&ref);
    }
    free(full);
  }
  if (g_rank == 0)
    printf("  rows vs replicated: %d/%d cases bit-identical; mean within a cut from the tree vs "
           "direct: %.2e\n",
           agree, cases, worst_mean);
  /* user errors */
  double bad[9] = {0, 1, 2, 1, 0, -3, 2, -3, 0};
  OvqRange q = row_block(3, 0);
  OvqHclustResult r;
  expect_error(
      "rows: negative",
      ovq_hclust_from_rows(OVQ_LINKAGE_AVERAGE, 2, bad + 3 * q.start, q.count, MPI_COMM_WORLD, &r),
      &r, "(1, 2) = -3");
  expect_error(
      "rows: k > n",
      ovq_hclust_from_rows(OVQ_LINKAGE_AVERAGE, 4, bad + 3 * q.start, q.count, MPI_COMM_WORLD, &r),
      &r, "number of objects (3)");
  expect_error("rows: none",
               ovq_hclust_from_rows(OVQ_LINKAGE_AVERAGE, 1, NULL, 0, MPI_COMM_WORLD, &r), &r,
               "n = 0");
}

/* 5. Consensus clustering, k-means base, on 4 planted blobs (values named by (sample, feature));
 * every tenth sample sits between two blobs, so the consensus is not all 0 or 1. */
static void check_consensus(void) {
  const int64_t n = 160, d = 6;
  const int k = 4, reps = 12;
  float *x = malloc(sizeof(float) * (size_t)(n * d));
  int32_t *truth = malloc(sizeof(int32_t) * (size_t)n);
  for (int64_t i = 0; i < n; i++) {
    truth[i] = (int32_t)((i * 7) % 4);
    for (int64_t f = 0; f < d; f++) {
      OvqRng r;
      ovq_rng_init(&r, 77, OVQ_STREAM_TEST, (uint64_t)(i * d + f));
      double centre = f == truth[i] ? 4.0 : 0.0;
      if (i % 10 == 9) centre = f == truth[i] || f == (truth[i] + 1) % 4 ? 2.0 : 0.0;
      x[i * d + f] = (float)(0.7 * ovq_rng_normal(&r) + centre);
    }
  }
  OvqConfig cfg;
  ovq_config_defaults(&cfg);
  OvqRange q = ovq_partition_block(n, g_size, g_rank);
  OvqClusterData data;
  memset(&data, 0, sizeof data);
  data.n_total = n;
  data.row_start = q.start;
  data.n_local = q.count;
  data.n_views = 1;
  data.view[0] = data.all = x + q.start * d;
  data.d[0] = data.d_all = d;
  int32_t *lab = malloc(sizeof(int32_t) * (size_t)(q.count + 1));
  OvqConsensusResult res = {0};
  OvqStatus st = ovq_consensus_run("kmeans", &cfg, k, reps, 0.8, &data, MPI_COMM_WORLD, lab, &res);
  CHECK_MSG(st == OVQ_OK, "consensus: %s", ovq_error_message());
  int *counts = malloc(sizeof(int) * (size_t)g_size),
      *displs = malloc(sizeof(int) * (size_t)g_size);
  int mine = (int)q.count, first = (int)q.start;
  MPI_Allgather(&mine, 1, MPI_INT, counts, 1, MPI_INT, MPI_COMM_WORLD);
  MPI_Allgather(&first, 1, MPI_INT, displs, 1, MPI_INT, MPI_COMM_WORLD);
  int32_t *all = malloc(sizeof(int32_t) * (size_t)n);
  MPI_Allgatherv(lab, mine, MPI_INT32_T, all, counts, displs, MPI_INT32_T, MPI_COMM_WORLD);
  if (g_rank == 0) {
    OvqClusterData one = data;
    one.row_start = 0;
    one.n_local = n;
    one.view[0] = one.all = x;
    int32_t *lab1 = malloc(sizeof(int32_t) * (size_t)n);
    OvqConsensusResult r1 = {0};
    CHECK(ovq_consensus_run("kmeans", &cfg, k, reps, 0.8, &one, MPI_COMM_SELF, lab1, &r1) ==
          OVQ_OK);
    int same = memcmp(all, lab1, sizeof(int32_t) * (size_t)n) == 0 && r1.cdf_area == res.cdf_area &&
               r1.mean_consensus == res.mean_consensus;
    CHECK_MSG(same,
              "consensus: %d ranks and 1 rank differ (cdf area %.17g vs %.17g, mean %.17g "
              "vs %.17g)",
              g_size, res.cdf_area, r1.cdf_area, res.mean_consensus, r1.mean_consensus);
    int32_t *core = malloc(sizeof(int32_t) * (size_t)n),
            *core_truth = malloc(sizeof(int32_t) * (size_t)n);
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++)
      if (i % 10 != 9) {
        core[m] = all[i];
        core_truth[m++] = truth[i];
      }
    int found = same_partition(core, core_truth, m);
    free(core);
    free(core_truth);
    CHECK_MSG(found, "consensus: the 4 planted blobs are not recovered");
    CHECK(res.cdf_area > 0.0 && res.cdf_area < 1.0 && res.mean_consensus > 0.5 &&
          res.mean_consensus < 1.0);
    printf("  consensus k-means k = %d, %d reps: %d ranks vs 1: %s; blobs %s; cdf area %.6f, "
           "mean consensus %.6f\n",
           k, reps, g_size, same ? "bit-identical" : "DIFFERENT", found ? "found" : "MISSED",
           res.cdf_area, res.mean_consensus);
    free(lab1);
  }
  free(counts);
  free(displs);
  free(all);
  free(lab);
  free(truth);
  free(x);
}

static void free_fixture(Fixture *fx) {
  for (int i = 0; i < fx->nb; i++) {
    free(fx->b[i].z);
    for (int j = 0; j < fx->b[i].n_cuts; j++)
      free(fx->b[i].cut[j]);
  }
  free(fx->x);
  free(fx->dis);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  ovq_log_init(MPI_COMM_WORLD);
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_size);
  char path[4096];
  Fixture fe, fd;
  snprintf(path, sizeof path, "%s/hclust_euclid.txt", argc > 1 ? argv[1] : ".");
  int ok_e = read_fixture(path, &fe);
  CHECK_MSG(ok_e && fe.d > 0, "cannot read %s (usage: test_hclust <fixtures dir>)", path);
  snprintf(path, sizeof path, "%s/hclust_dissim.txt", argc > 1 ? argv[1] : ".");
  int ok_d = read_fixture(path, &fd);
  CHECK_MSG(ok_d && fd.dis, "cannot read %s", path);

  if (g_rank == 0) printf("vs SciPy at %d ranks:\n", g_size);
  if (ok_e && fe.d > 0) check_features(&fe);
  if (ok_d && fd.dis) check_dissimilarity(&fd);
  if (g_rank == 0) printf("ties, edge cases and user errors:\n");
  check_edges();
  check_errors();
  if (g_rank == 0) printf("row-distributed input and consensus clustering:\n");
  check_rows(ok_e ? &fe : NULL, ok_d ? &fd : NULL);
  check_consensus();
  if (g_rank == 0)
    printf("test_hclust: largest differences vs SciPy: heights %.2e (relative), cophenetic "
           "correlation %.2e\n",
           g_worst_h, g_worst_coph);
  free_fixture(&fe);
  free_fixture(&fd);
  int rc = test_finish("test_hclust");
  MPI_Finalize();
  return rc;
}
