/* Parse benchmark of the delimited-text reader (include/ovq/tsv.h), driven by bench_parse.sh.
 *
 *   mpirun -np P bench_parse FILE [--reps R] [--peers]
 *
 * Times ovq_tsv_read_matrix(FILE) R times at this run's rank count (time = the slowest rank,
 * barrier before each run; best and median reported) and prints the text throughput, total and
 * per core (text bytes = the decompressed size for a .gz). With --peers, rank 0 alone then
 * measures, on the same text held in memory, what simpler tools cost:
 *   read      read(2) of the file into memory (page cache; inflate for a .gz: the serial part of
 *             a .gz read)
 *   memchr    counting the newlines (a bandwidth bound: every byte looked at once)
 *   strtof    the C library's strtof over every field (fields found by strtof itself; NA -> NaN)
 *   value     ovq_parse_value over every field (fields found with memchr), best of R
 *   rows      ovq_tsv_parse_rows, the reader's own per-rank parse (no I/O, no MPI; its output
 *             array touched beforehand, so only the parse is timed), best of R
 * All figures are MB/s of text (1 MB = 10^6 bytes) on one core. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "ovq/tsv.h"
#include "tsv_parse.h"

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* The whole text of a plain or gzip file (rank 0, peers). */
static char *load_text(const char *path, size_t *len) {
  gzFile g = gzopen(path, "rb");
  if (!g) {
    fprintf(stderr, "bench_parse: cannot open %s\n", path);
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  gzbuffer(g, 1 << 20);
  size_t cap = 1 << 26, n = 0;
  char *b = malloc(cap + 1);
  for (;;) {
    if (cap - n < (1u << 24)) {
      cap *= 2;
      b = realloc(b, cap + 1);
    }
    int k = gzread(g, b + n, 1u << 24);
    if (k <= 0) break;
    n += (size_t)k;
  }
  gzclose(g);
  b[n] = '\0';
  *len = n;
  return b;
}

static double mbps(size_t bytes, double s) {
  return bytes / 1e6 / s;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  ovq_log_init(MPI_COMM_WORLD);
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  const char *path = NULL;
  int reps = 3, peers = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--reps") && i + 1 < argc)
      reps = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--peers"))
      peers = 1;
    else
      path = argv[i];
  }
  if (!path || reps < 1) {
    if (rank == 0) fprintf(stderr, "usage: bench_parse FILE [--reps R] [--peers]\n");
    MPI_Finalize();
    return 2;
  }

  /* Text size: the file's, or the inflated size of a .gz (rank 0 measures, all know). */
  double text_bytes = 0;
  int is_gz = 0;
  if (rank == 0) {
    struct stat st;
    unsigned char m[2] = {0, 0};
    int fd = open(path, O_RDONLY);
    if (fd < 0 || fstat(fd, &st) != 0 || read(fd, m, 2) < 0) {
      fprintf(stderr, "bench_parse: %s: %s\n", path, strerror(errno));
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
    close(fd);
    is_gz = m[0] == 0x1f && m[1] == 0x8b;
    text_bytes = (double)st.st_size;
    if (is_gz) {
      size_t n;
      free(load_text(path, &n));
      text_bytes = (double)n;
    }
  }
  MPI_Bcast(&text_bytes, 1, MPI_DOUBLE, 0, MPI_COMM_WORLD);
  MPI_Bcast(&is_gz, 1, MPI_INT, 0, MPI_COMM_WORLD);

  double *t = malloc(sizeof(double) * (size_t)reps);
  OvqTsvMatrix m;
  for (int r = 0; r < reps; r++) {
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = MPI_Wtime();
    if (ovq_tsv_read_matrix(path, '\t', MPI_COMM_WORLD, &m) != OVQ_OK) {
      if (rank == 0) fprintf(stderr, "bench_parse: %s\n", ovq_error_message());
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
    double dt = MPI_Wtime() - t0;
    MPI_Allreduce(MPI_IN_PLACE, &dt, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    t[r] = dt;
    if (r < reps - 1) ovq_tsv_matrix_free(&m);
  }
  qsort(t, (size_t)reps, sizeof *t, cmp_double);
  double best = t[0], med = t[reps / 2];
  if (rank == 0) {
    printf("file %s: %s, %.1f MB of text, %lld rows x %lld columns (%.1f M values)\n", path,
           is_gz ? "gzip" : "plain", text_bytes / 1e6, (long long)m.n_rows_total,
           (long long)m.n_cols, (double)m.n_rows_total * (double)m.n_cols / 1e6);
    printf("read_matrix ranks=%d best_s=%.3f median_s=%.3f MB/s=%.1f MB/s/core=%.1f\n", size, best,
           med, text_bytes / 1e6 / best, text_bytes / 1e6 / best / size);
  }
  int64_t n_cols = m.n_cols;
  ovq_tsv_matrix_free(&m);
  free(t);

  if (peers && rank == 0) {
    double t0 = MPI_Wtime();
    size_t len;
    char *text = load_text(path, &len);
    double t_read = MPI_Wtime() - t0;

    t0 = MPI_Wtime();
    int64_t lines = ovq_tsv_count_lines(text, len);
    double t_memchr = MPI_Wtime() - t0;

    /* strtof, as a plain C program would write it. */
    t0 = MPI_Wtime();
    double sum = 0;
    int64_t fields = 0;
    const char *p = memchr(text, '\n', len) + 1, *e = text + len;
    while (p < e) {
      const char *nl = memchr(p, '\n', (size_t)(e - p));
      if (!nl) nl = e;
      const char *q = memchr(p, '\t', (size_t)(nl - p));
      while (q && q < nl) {
        char *end;
        float v = strtof(q + 1, &end);
        if (end == q + 1) { /* NA or another word */
          v = NAN;
          end = memchr(q + 1, '\t', (size_t)(nl - q - 1));
          if (!end) end = (char *)nl;
        }
        if (v == v) sum += v;
        fields++;
        q = end < nl ? end : NULL;
      }
      p = nl + 1;
    }
    double t_strtof = MPI_Wtime() - t0;

    /* ovq_parse_value per field (best of R: the fast peers vary with the VM's memory). */
    double t_value = 1e30, sum2 = 0;
    for (int r = 0; r < reps; r++) {
      t0 = MPI_Wtime();
      sum2 = 0;
      p = memchr(text, '\n', len) + 1;
      while (p < e) {
        const char *nl = memchr(p, '\n', (size_t)(e - p));
        if (!nl) nl = e;
        const char *q = memchr(p, '\t', (size_t)(nl - p));
        while (q && q < nl) {
          const char *f = q + 1, *fe = memchr(f, '\t', (size_t)(nl - f));
          if (!fe) fe = nl;
          float v;
          if (ovq_parse_value(f, (size_t)(fe - f), &v) == OVQ_VALUE_NUMBER) sum2 += v;
          q = fe < nl ? fe : NULL;
        }
        p = nl + 1;
      }
      double dt = MPI_Wtime() - t0;
      if (dt < t_value) t_value = dt;
    }

    /* The reader's per-rank parse on the whole text. */
    const char *data = memchr(text, '\n', len) + 1;
    size_t dlen = len - (size_t)(data - text);
    int64_t nl_data = ovq_tsv_count_lines(data, dlen);
    float *x = malloc(sizeof(float) * (size_t)(nl_data * n_cols));
    OvqSpan *ids = malloc(sizeof(OvqSpan) * (size_t)nl_data);
    OvqRowError err;
    /* Touch x first (on a VM, the first write to fresh memory can cost as much as the parse),
     * then best of R. */
    memset(x, 0, sizeof(float) * (size_t)(nl_data * n_cols));
    double t_rows = 1e30;
    int64_t rows = 0;
    for (int r = 0; r < reps; r++) {
      t0 = MPI_Wtime();
      rows = ovq_tsv_parse_rows(data, dlen, '\t', n_cols, x, ids, &err);
      double dt = MPI_Wtime() - t0;
      if (dt < t_rows) t_rows = dt;
    }
    free(x);
    free(ids);

    printf("peers on rank 0 alone (one core; %lld lines, %lld fields, checksums %.6g %.6g, "
           "%lld rows):\n",
           (long long)lines, (long long)fields, sum, sum2, (long long)rows);
    printf("peer read   %.3f s  %7.1f MB/s  (%s)\n", t_read, mbps(len, t_read),
           is_gz ? "zlib inflate of the .gz" : "read(2) from the page cache");
    printf("peer memchr %.3f s  %7.1f MB/s  (newline count: bandwidth bound)\n", t_memchr,
           mbps(len, t_memchr));
    printf("peer strtof %.3f s  %7.1f MB/s  (C library strtof per field)\n", t_strtof,
           mbps(len, t_strtof));
    printf("peer value  %.3f s  %7.1f MB/s  (ovq_parse_value per field, memchr for fields)\n",
           t_value, mbps(len, t_value));
    printf("peer rows   %.3f s  %7.1f MB/s  (ovq_tsv_parse_rows: the reader's parse, no I/O, "
           "no MPI)\n",
           t_rows, mbps(len, t_rows));
    free(text);
  }
  MPI_Finalize();
  return 0;
}
