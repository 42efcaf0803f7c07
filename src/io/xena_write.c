/* Writer of Xena-style TSV files (see include/ovq/xena.h). */
#include "ovq/xena.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ovq/partition.h"

/* Features per gather: small enough that rank 0 holds only N x kBlock values at a time. */
enum { kBlock = 64 };

/* Appends v with at most 4 decimals, trailing zeros dropped ("8.4397", "0", "12.5"), NA for NaN.
 * Xena's RSEM files carry 4 decimals; printf would dominate the run time at this volume. */
static char *put_value(char *p, float v) {
  if (isnan(v)) {
    memcpy(p, "NA", 2);
    return p + 2;
  }
  double x = v;
  if (!(fabs(x) < 1e9)) return p + sprintf(p, "%.6g", x);
  if (x < 0) {
    *p++ = '-';
    x = -x;
  }
  long long q = llround(x * 10000.0);
  long long ip = q / 10000, fp = q % 10000;
  char tmp[24];
  int n = 0;
  do {
    tmp[n++] = (char)('0' + ip % 10);
    ip /= 10;
  } while (ip);
  while (n) *p++ = tmp[--n];
  if (fp) {
    *p++ = '.';
    char d[4] = {(char)('0' + fp / 1000), (char)('0' + fp / 100 % 10), (char)('0' + fp / 10 % 10),
                 (char)('0' + fp % 10)};
    int last = 3;
    while (d[last] == '0') last--;
    for (int i = 0; i <= last; i++) *p++ = d[i];
  }
  return p;
}

typedef struct Out {
  FILE *f;
  char *tmp;
  const char *path;
  int failed;
  int err;
} Out;

static void out_open(Out *o, const char *path) {
  memset(o, 0, sizeof *o);
  o->path = path;
  size_t n = strlen(path) + 32;
  o->tmp = OVQ_MALLOC(n);
  snprintf(o->tmp, n, "%s.part-%ld", path, (long)getpid());
  o->f = fopen(o->tmp, "w");
  if (!o->f) {
    o->failed = 1;
    o->err = errno;
  }
}

static void out_write(Out *o, const char *buf, size_t n) {
  if (o->failed) return;
  if (fwrite(buf, 1, n, o->f) != n) {
    o->failed = 1;
    o->err = errno;
  }
}

/* Closes and renames into place, or removes the temporary file; records a message on failure. */
static OvqStatus out_close(Out *o) {
  OvqStatus st = OVQ_OK;
  if (o->f && fclose(o->f) != 0 && !o->failed) {
    o->failed = 1;
    o->err = errno;
  }
  if (!o->failed && rename(o->tmp, o->path) != 0) {
    o->failed = 1;
    o->err = errno;
  }
  if (o->failed) {
    st = ovq_error("%s: cannot write: %s", o->path, strerror(o->err));
    remove(o->tmp);
  }
  free(o->tmp);
  return st;
}

/* Gathers all sample ids on rank 0 (in global order); returns NULL elsewhere. */
static OvqStrings gather_strings(const OvqStrings *s, int64_t n_total, MPI_Comm comm) {
  int rank, size, w = s->width;
  OVQ_MPI_CHECK(MPI_Comm_rank(comm, &rank));
  OVQ_MPI_CHECK(MPI_Comm_size(comm, &size));
  int wmax = w;
  OVQ_MPI_CHECK(MPI_Allreduce(&w, &wmax, 1, MPI_INT, MPI_MAX, comm));
  char *send = OVQ_CALLOC((size_t)(s->n > 0 ? s->n : 1), (size_t)wmax);
  for (int64_t i = 0; i < s->n; i++) strcpy(send + i * wmax, ovq_strings_at(s, i));
  OvqStrings all = {0, 0, NULL};
  int *counts = NULL, *displs = NULL;
  if (rank == 0) {
    ovq_strings_alloc(&all, n_total, wmax);
    counts = OVQ_MALLOC(sizeof(int) * (size_t)size);
    displs = OVQ_MALLOC(sizeof(int) * (size_t)size);
    for (int r = 0; r < size; r++) {
      OvqRange b = ovq_partition_block(n_total, size, r);
      counts[r] = OVQ_INT(b.count * wmax, "gathered string bytes");
      displs[r] = OVQ_INT(b.start * wmax, "gathered string offset");
    }
  }
  OVQ_MPI_CHECK(MPI_Gatherv(send, OVQ_INT(s->n * wmax, "string bytes"), MPI_CHAR, all.data, counts,
                            displs, MPI_CHAR, 0, comm));
  free(send);
  free(counts);
  free(displs);
  return all;
}

/* One expression matrix: features as rows, samples as columns. */
static OvqStatus write_matrix(const float *x, int64_t n_local, int64_t nf, const OvqStrings *ids,
                              const OvqStrings *samples, int64_t n_total, const char *path,
                              MPI_Comm comm) {
  int rank, size;
  OVQ_MPI_CHECK(MPI_Comm_rank(comm, &rank));
  OVQ_MPI_CHECK(MPI_Comm_size(comm, &size));
  Out o;
  float *block = NULL, *send = OVQ_MALLOC(sizeof(float) * (size_t)(n_local * kBlock + 1));
  int *counts = NULL, *displs = NULL;
  char *line = NULL;
  if (rank == 0) {
    out_open(&o, path);
    block = OVQ_MALLOC(sizeof(float) * (size_t)(n_total * kBlock));
    counts = OVQ_MALLOC(sizeof(int) * (size_t)size);
    displs = OVQ_MALLOC(sizeof(int) * (size_t)size);
    /* Longest line: the id plus one tab and up to 16 characters per sample. */
    line = OVQ_MALLOC((size_t)(ids->width + samples->width) + (size_t)n_total * 24 + 16);
    char *p = line;
    p += sprintf(p, "sample");
    for (int64_t i = 0; i < n_total; i++) p += sprintf(p, "\t%s", ovq_strings_at(samples, i));
    *p++ = '\n';
    out_write(&o, line, (size_t)(p - line));
  }
  for (int64_t f0 = 0; f0 < nf; f0 += kBlock) {
    int64_t nb = nf - f0 < kBlock ? nf - f0 : kBlock;
    for (int64_t i = 0; i < n_local; i++)
      memcpy(send + i * nb, x + i * nf + f0, sizeof(float) * (size_t)nb);
    if (rank == 0)
      for (int r = 0; r < size; r++) {
        OvqRange b = ovq_partition_block(n_total, size, r);
        counts[r] = OVQ_INT(b.count * nb, "gather count");
        displs[r] = OVQ_INT(b.start * nb, "gather offset");
      }
    OVQ_MPI_CHECK(MPI_Gatherv(send, OVQ_INT(n_local * nb, "gather count"), MPI_FLOAT, block,
                              counts, displs, MPI_FLOAT, 0, comm));
    if (rank != 0) continue;
    for (int64_t j = 0; j < nb; j++) {
      char *p = line;
      const char *id = ovq_strings_at(ids, f0 + j);
      size_t len = strlen(id);
      memcpy(p, id, len);
      p += len;
      for (int64_t i = 0; i < n_total; i++) {
        *p++ = '\t';
        p = put_value(p, block[i * nb + j]);
      }
      *p++ = '\n';
      out_write(&o, line, (size_t)(p - line));
    }
  }
  OvqStatus st = rank == 0 ? out_close(&o) : OVQ_OK;
  free(send);
  free(block);
  free(counts);
  free(displs);
  free(line);
  return ovq_status_agree(comm, st);
}

static OvqStatus write_clinical(const OvqCohort *c, const char *path, MPI_Comm comm) {
  int rank;
  OVQ_MPI_CHECK(MPI_Comm_rank(comm, &rank));
  int truth = c->true_subtype.data != NULL && c->batch != NULL;
  /* Each rank formats its own rows; rank 0 gathers the text in rank order. */
  size_t cap = (size_t)(c->n_local + 1) * (size_t)(4 * c->sample_id.width + 64), len = 0;
  char *text = OVQ_MALLOC(cap);
  for (int64_t i = 0; i < c->n_local; i++) {
    char t[32] = "NA", e[8] = "NA";
    if (!isnan(c->os_time[i])) snprintf(t, sizeof t, "%.10g", c->os_time[i]);
    if (c->os_event[i] >= 0) snprintf(e, sizeof e, "%d", c->os_event[i]);
    len += (size_t)snprintf(text + len, cap - len, "%s\t%s\t%s\t%s\t%s",
                            ovq_strings_at(&c->sample_id, i), ovq_strings_at(&c->cancer, i),
                            ovq_strings_at(&c->label, i), t, e);
    if (truth)
      len += (size_t)snprintf(text + len, cap - len, "\t%s\t%d",
                              ovq_strings_at(&c->true_subtype, i), c->batch[i]);
    text[len++] = '\n';
  }
  int mylen = OVQ_INT(len, "clinical text bytes"), size;
  OVQ_MPI_CHECK(MPI_Comm_size(comm, &size));
  int *lens = rank == 0 ? OVQ_MALLOC(sizeof(int) * (size_t)size) : NULL;
  int *displs = rank == 0 ? OVQ_MALLOC(sizeof(int) * (size_t)size) : NULL;
  OVQ_MPI_CHECK(MPI_Gather(&mylen, 1, MPI_INT, lens, 1, MPI_INT, 0, comm));
  char *all = NULL;
  int64_t total = 0;
  if (rank == 0) {
    for (int r = 0; r < size; r++) {
      displs[r] = OVQ_INT(total, "clinical text offset");
      total += lens[r];
    }
    all = OVQ_MALLOC((size_t)total + 1);
  }
  OVQ_MPI_CHECK(MPI_Gatherv(text, mylen, MPI_CHAR, all, lens, displs, MPI_CHAR, 0, comm));
  OvqStatus st = OVQ_OK;
  if (rank == 0) {
    Out o;
    out_open(&o, path);
    const char *head = truth ? "sample\tcancer\tlabel\tos_time\tos_event\ttrue_subtype\tbatch\n"
                             : "sample\tcancer\tlabel\tos_time\tos_event\n";
    out_write(&o, head, strlen(head));
    out_write(&o, all, (size_t)total);
    st = out_close(&o);
  }
  free(text);
  free(lens);
  free(displs);
  free(all);
  return ovq_status_agree(comm, st);
}

OvqStatus ovq_xena_write(const OvqCohort *c, const char *prefix, MPI_Comm comm) {
  size_t n = strlen(prefix) + 32;
  char *path = OVQ_MALLOC(n);
  OvqStrings samples = gather_strings(&c->sample_id, c->n_total, comm);
  snprintf(path, n, "%s_mrna.tsv", prefix);
  OvqStatus st = write_matrix(c->mrna, c->n_local, c->n_mrna, &c->mrna_ids, &samples, c->n_total,
                              path, comm);
  if (st == OVQ_OK && c->n_mirna > 0) {
    snprintf(path, n, "%s_mirna.tsv", prefix);
    st = write_matrix(c->mirna, c->n_local, c->n_mirna, &c->mirna_ids, &samples, c->n_total, path,
                      comm);
  }
  if (st == OVQ_OK) {
    snprintf(path, n, "%s_clinical.tsv", prefix);
    st = write_clinical(c, path, comm);
  }
  ovq_strings_free(&samples);
  free(path);
  return st;
}
