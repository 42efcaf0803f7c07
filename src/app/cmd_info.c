/* oncovq info: summary of a cohort file, computed over the ranks' row blocks. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ovq/cohort.h"

static void help(void) {
  printf("usage: oncovq info [--cancer TYPE] FILE.h5\n\n"
         "Prints a summary of a cohort file: shape, cancer types, published-label and (for\n"
         "synthetic cohorts) true-subtype counts, survival events, missing and zero values.\n");
}

/* Counts of (cancer, class) pairs; a few hundred at most, so a linear table is enough. */
typedef struct Tally {
  int n, cap;
  char (*key)[96];
  long long *count;
} Tally;

static void tally_add(Tally *t, const char *key, long long k) {
  for (int i = 0; i < t->n; i++)
    if (!strcmp(t->key[i], key)) {
      t->count[i] += k;
      return;
    }
  if (t->n == t->cap) {
    t->cap = t->cap ? 2 * t->cap : 64;
    t->key = OVQ_REALLOC(t->key, sizeof *t->key * (size_t)t->cap);
    t->count = OVQ_REALLOC(t->count, sizeof *t->count * (size_t)t->cap);
  }
  snprintf(t->key[t->n], sizeof t->key[0], "%s", key);
  t->count[t->n++] = k;
}

static long long tally_get(const Tally *t, const char *key) {
  for (int i = 0; i < t->n; i++)
    if (!strcmp(t->key[i], key)) return t->count[i];
  return 0;
}

static int cmp_key(const void *a, const void *b) { return strcmp(a, b); }

/* Merges every rank's tally into rank 0's, keys sorted. Collective on comm. */
static void tally_merge(Tally *t, MPI_Comm comm) {
  int rank, size;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  size_t rec = sizeof t->key[0] + sizeof(long long);
  int bytes = OVQ_INT((size_t)t->n * rec, "tally bytes");
  char *send = OVQ_MALLOC((size_t)bytes + 1);
  for (int i = 0; i < t->n; i++) {
    memcpy(send + (size_t)i * rec, t->key[i], sizeof t->key[0]);
    memcpy(send + (size_t)i * rec + sizeof t->key[0], &t->count[i], sizeof(long long));
  }
  int *lens = OVQ_MALLOC(sizeof(int) * (size_t)size), *displs = OVQ_MALLOC(sizeof(int) * (size_t)size);
  OVQ_MPI_CHECK(MPI_Gather(&bytes, 1, MPI_INT, lens, 1, MPI_INT, 0, comm));
  int total = 0;
  for (int r = 0; rank == 0 && r < size; r++) {
    displs[r] = total;
    total += lens[r];
  }
  char *all = OVQ_MALLOC((size_t)total + 1);
  OVQ_MPI_CHECK(MPI_Gatherv(send, bytes, MPI_BYTE, all, lens, displs, MPI_BYTE, 0, comm));
  if (rank == 0) {
    t->n = 0;
    for (size_t off = 0; off < (size_t)total; off += rec) {
      long long k;
      memcpy(&k, all + off + sizeof t->key[0], sizeof k);
      tally_add(t, all + off, k);
    }
    /* Sort keys; the counts travel with them via a paired copy. */
    Tally s = {0};
    char (*keys)[96] = OVQ_MALLOC(sizeof *keys * (size_t)(t->n + 1));
    if (t->n > 0) memcpy(keys, t->key, sizeof *keys * (size_t)t->n);
    qsort(keys, (size_t)t->n, sizeof *keys, cmp_key);
    for (int i = 0; i < t->n; i++) tally_add(&s, keys[i], tally_get(t, keys[i]));
    free(keys);
    free(t->key);
    free(t->count);
    *t = s;
  }
  free(send);
  free(lens);
  free(displs);
  free(all);
}

static void tally_free(Tally *t) {
  free(t->key);
  free(t->count);
}

/* Prints the classes of one cancer from a "cancer\tclass" tally; "" is shown as "unknown". */
static void print_classes(const Tally *t, const char *cancer, const char *title) {
  printf("    %-14s", title);
  size_t n = strlen(cancer);
  int any = 0;
  for (int i = 0; i < t->n; i++) {
    if (strncmp(t->key[i], cancer, n) || t->key[i][n] != '\t') continue;
    const char *cls = t->key[i] + n + 1;
    printf("%s%s %lld", any ? ", " : "", cls[0] ? cls : "unknown", t->count[i]);
    any = 1;
  }
  printf("\n");
}

static void count_matrix(const float *x, int64_t n, int64_t f, long long *nan, long long *zero,
                         long long *col_zero) {
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = 0; j < f; j++) {
      float v = x[i * f + j];
      if (isnan(v))
        (*nan)++;
      else if (v == 0.0f) {
        (*zero)++;
        col_zero[j]++;
      }
    }
}

int cmd_info(int argc, char **argv, MPI_Comm comm) {
  const char *path = NULL, *cancer = "";
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      if (ovq_log_rank() == 0) help();
      return CLI_OK;
    } else if (!strcmp(argv[i], "--cancer")) {
      if (i + 1 >= argc) {
        cli_usage_error("info", "--cancer needs a cancer type");
        return CLI_USAGE;
      }
      cancer = argv[++i];
    } else if (argv[i][0] == '-' && argv[i][1]) {
      cli_usage_error("info", "unknown option '%s'", argv[i]);
      return CLI_USAGE;
    } else if (path) {
      cli_usage_error("info", "one file at a time ('%s' and '%s' given)", path, argv[i]);
      return CLI_USAGE;
    } else {
      path = argv[i];
    }
  }
  if (!path) {
    cli_usage_error("info", "a cohort file is required");
    return CLI_USAGE;
  }
  OvqCohort c;
  if (ovq_cohort_read(path, cancer, comm, &c) != OVQ_OK) return cli_fail();
  char *source = NULL, *version = NULL;
  if (ovq_h5_read_string_attr(path, "source", comm, &source) != OVQ_OK ||
      ovq_h5_read_string_attr(path, "oncovq_version", comm, &version) != OVQ_OK) {
    ovq_cohort_destroy(&c);
    return cli_fail();
  }

  Tally cancers = {0}, labels = {0}, truth = {0}, events = {0};
  char key[96];
  for (int64_t i = 0; i < c.n_local; i++) {
    const char *ct = ovq_strings_at(&c.cancer, i);
    tally_add(&cancers, ct, 1);
    snprintf(key, sizeof key, "%s\t%s", ct, ovq_strings_at(&c.label, i));
    tally_add(&labels, key, 1);
    if (c.true_subtype.data) {
      snprintf(key, sizeof key, "%s\t%s", ct, ovq_strings_at(&c.true_subtype, i));
      tally_add(&truth, key, 1);
    }
    int e = isnan(c.os_time[i]) ? -1 : c.os_event[i];
    snprintf(key, sizeof key, "%s\t%s", ct, e == 1 ? "dead" : e == 0 ? "censored" : "unknown");
    tally_add(&events, key, 1);
  }
  /* A rank that read no truth contributes nothing, so check that some rank has it. */
  int has_truth = c.true_subtype.data != NULL, any_truth = 0;
  OVQ_MPI_CHECK(MPI_Allreduce(&has_truth, &any_truth, 1, MPI_INT, MPI_MAX, comm));
  tally_merge(&cancers, comm);
  tally_merge(&labels, comm);
  tally_merge(&truth, comm);
  tally_merge(&events, comm);

  long long cnt[4] = {0, 0, 0, 0}; /* mRNA NaN, zero; miRNA NaN, zero */
  long long *gz = OVQ_CALLOC((size_t)(c.n_mrna + c.n_mirna + 1), sizeof(long long));
  count_matrix(c.mrna, c.n_local, c.n_mrna, &cnt[0], &cnt[1], gz);
  if (c.n_mirna) count_matrix(c.mirna, c.n_local, c.n_mirna, &cnt[2], &cnt[3], gz + c.n_mrna);
  OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, cnt, 4, MPI_LONG_LONG, MPI_SUM, comm));
  OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, gz, OVQ_INT(c.n_mrna + c.n_mirna, "features"),
                              MPI_LONG_LONG, MPI_SUM, comm));

  if (ovq_log_rank() == 0) {
    double N = (double)c.n_total;
    long long g_many_zero = 0, m_many_zero = 0;
    for (int64_t j = 0; j < c.n_mrna; j++) g_many_zero += gz[j] > 0.1 * N;
    for (int64_t j = 0; j < c.n_mirna; j++) m_many_zero += gz[c.n_mrna + j] > 0.1 * N;
    printf("file       %s\n", path);
    printf("format     %s v%d, source %s, written by oncovq %s\n", OVQ_COHORT_FORMAT,
           OVQ_COHORT_FORMAT_VERSION, source ? source : "?", version ? version : "?");
    printf("samples    %lld%s%s\n", (long long)c.n_total, cancer[0] ? " of cancer type " : "",
           cancer);
    printf("genes      %lld  missing %.4f%%  zeros %.2f%%  genes with >10%% zeros %lld\n",
           (long long)c.n_mrna, 100.0 * (double)cnt[0] / (N * (double)c.n_mrna),
           100.0 * (double)cnt[1] / (N * (double)c.n_mrna), g_many_zero);
    if (c.n_mirna)
      printf("miRNAs     %lld  missing %.4f%%  zeros %.2f%%  miRNAs with >10%% zeros %lld\n",
             (long long)c.n_mirna, 100.0 * (double)cnt[2] / (N * (double)c.n_mirna),
             100.0 * (double)cnt[3] / (N * (double)c.n_mirna), m_many_zero);
    else
      printf("miRNAs     none\n");
    printf("cancers    %d\n", cancers.n);
    for (int k = 0; k < cancers.n; k++) {
      const char *ct = cancers.key[k];
      char kd[96], kc[96], ku[96];
      snprintf(kd, sizeof kd, "%s\tdead", ct);
      snprintf(kc, sizeof kc, "%s\tcensored", ct);
      snprintf(ku, sizeof ku, "%s\tunknown", ct);
      long long dead = tally_get(&events, kd);
      printf("  %-6s %5lld samples, survival: %lld dead (%.1f%%), %lld censored, %lld unknown\n",
             ct, cancers.count[k], dead, 100.0 * (double)dead / (double)cancers.count[k],
             tally_get(&events, kc), tally_get(&events, ku));
      print_classes(&labels, ct, "labels");
      if (any_truth) print_classes(&truth, ct, "true subtypes");
    }
  }
  free(gz);
  free(source);
  free(version);
  tally_free(&cancers);
  tally_free(&labels);
  tally_free(&truth);
  tally_free(&events);
  ovq_cohort_destroy(&c);
  return CLI_OK;
}
