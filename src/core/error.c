/* Errors, user-error status agreement and rank-0 logging (see include/ovq/error.h). */
#include "ovq/error.h"

#include <hdf5.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MSG_CAP = 4096 };

static char g_msg[MSG_CAP];
static int g_rank = 0;
static OvqLogLevel g_level = OVQ_LOG_INFO;

OvqStatus ovq_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(g_msg, sizeof g_msg, fmt, ap);
  va_end(ap);
  return OVQ_ERR;
}

const char *ovq_error_message(void) { return g_msg; }

void ovq_error_clear(void) { g_msg[0] = '\0'; }

OvqStatus ovq_status_agree(MPI_Comm comm, OvqStatus st) {
  int rank, size;
  OVQ_MPI_CHECK(MPI_Comm_rank(comm, &rank));
  OVQ_MPI_CHECK(MPI_Comm_size(comm, &size));
  /* The lowest failing rank reports, so the message does not depend on timing. */
  int mine = (st != OVQ_OK) ? rank : size, first = size;
  OVQ_MPI_CHECK(MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, comm));
  if (first == size) return OVQ_OK;
  g_msg[MSG_CAP - 1] = '\0';
  OVQ_MPI_CHECK(MPI_Bcast(g_msg, MSG_CAP, MPI_CHAR, first, comm));
  return OVQ_ERR;
}

void ovq_log_init(MPI_Comm comm) {
  OVQ_MPI_CHECK(MPI_Comm_rank(comm, &g_rank));
  /* Report MPI failures through our macros instead of the default abort without context. */
  MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN);
  /* HDF5 would print its error stack for every failed call, including a user's missing file;
   * we print the stack ourselves for library failures only. */
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

int ovq_log_rank(void) { return g_rank; }
static char g_prefix[96] = "";
void ovq_log_set_prefix(const char *prefix) {
  snprintf(g_prefix, sizeof g_prefix, "%s%s", prefix && prefix[0] ? " " : "", prefix ? prefix : "");
}
void ovq_log_set_level(OvqLogLevel level) { g_level = level; }
OvqLogLevel ovq_log_get_level(void) { return g_level; }

static const char *level_name(OvqLogLevel l) {
  switch (l) {
  case OVQ_LOG_ERROR: return "error";
  case OVQ_LOG_WARN: return "warning";
  case OVQ_LOG_INFO: return "info";
  default: return "debug";
  }
}

void ovq_log(OvqLogLevel level, const char *fmt, ...) {
  if (g_rank != 0 || level > g_level) return;
  char buf[8192];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  /* Info lines read as plain progress; the other levels say what they are. */
  if (level == OVQ_LOG_INFO)
    fprintf(stderr, "oncovq%s: %s\n", g_prefix, buf);
  else
    fprintf(stderr, "oncovq%s %s: %s\n", g_prefix, level_name(level), buf);
  fflush(stderr);
}


_Noreturn void ovq_abort_at(const char *file, int line, const char *fmt, ...) {
  char buf[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  fprintf(stderr, "[rank %d] %s:%d: %s\n", g_rank, file, line, buf);
  fflush(stderr);
  int init = 0, fin = 0;
  MPI_Initialized(&init);
  MPI_Finalized(&fin);
  if (init && !fin) MPI_Abort(MPI_COMM_WORLD, 70);
  abort();
}

_Noreturn void ovq_abort_mpi(const char *file, int line, int code, const char *expr) {
  char msg[MPI_MAX_ERROR_STRING] = "";
  int len = 0;
  MPI_Error_string(code, msg, &len);
  ovq_abort_at(file, line, "MPI call failed: %s: %s", expr, msg);
}

static herr_t h5_walk(unsigned n, const H5E_error2_t *e, void *out) {
  char *buf = out;
  size_t used = strlen(buf);
  if (used + 1 < 2048)
    snprintf(buf + used, 2048 - used, "%s  #%u %s:%u %s(): %s", n ? "\n" : "", n, e->file_name,
             e->line, e->func_name, e->desc ? e->desc : "");
  return 0;
}

_Noreturn void ovq_abort_h5(const char *file, int line, const char *expr) {
  char stack[2048] = "";
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, h5_walk, stack);
  ovq_abort_at(file, line, "HDF5 call failed: %s\n%s", expr, stack);
}

void *ovq_malloc_at(size_t bytes, const char *file, int line) {
  void *p = malloc(bytes ? bytes : 1);
  if (!p) ovq_abort_at(file, line, "out of memory allocating %zu bytes", bytes);
  return p;
}

void *ovq_calloc_at(size_t n, size_t size, const char *file, int line) {
  void *p = calloc(n ? n : 1, size ? size : 1);
  if (!p) ovq_abort_at(file, line, "out of memory allocating %zu x %zu bytes", n, size);
  return p;
}

void *ovq_realloc_at(void *p, size_t bytes, const char *file, int line) {
  void *q = realloc(p, bytes ? bytes : 1);
  if (!q) ovq_abort_at(file, line, "out of memory reallocating %zu bytes", bytes);
  return q;
}

char *ovq_strdup_at(const char *s, const char *file, int line) {
  size_t n = strlen(s) + 1;
  char *p = ovq_malloc_at(n, file, line);
  memcpy(p, s, n);
  return p;
}

int ovq_int_checked_at(long long v, const char *what, const char *file, int line) {
  if (v < -2147483647LL - 1 || v > 2147483647LL)
    ovq_abort_at(file, line, "%s = %lld does not fit in an int", what, v);
  return (int)v;
}
