/* Timers and the progress line (see include/ovq/progress.h). */
#include "ovq/progress.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ovq/error.h"

/* A plain-text progress line at most this often (seconds), so batch logs stay short. */
static const double kPlainInterval = 10.0;
/* A terminal bar is redrawn at most this often. */
static const double kTtyInterval = 0.2;

double ovq_time(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double ovq_time_max(double seconds, MPI_Comm comm) {
  double m = seconds;
  OVQ_MPI_CHECK(MPI_Allreduce(&seconds, &m, 1, MPI_DOUBLE, MPI_MAX, comm));
  return m;
}

static void fmt_duration(double s, char *buf, size_t n) {
  if (s < 0 || s > 1e7) {
    snprintf(buf, n, "?");
    return;
  }
  long t = (long)(s + 0.5);
  if (t >= 3600)
    snprintf(buf, n, "%ldh%02ldm", t / 3600, (t % 3600) / 60);
  else if (t >= 60)
    snprintf(buf, n, "%ldm%02lds", t / 60, t % 60);
  else
    snprintf(buf, n, "%lds", t);
}

void ovq_progress_start(OvqProgress *p, const char *label, const char *what, int64_t total) {
  memset(p, 0, sizeof *p);
  snprintf(p->label, sizeof p->label, "%s", label);
  snprintf(p->what, sizeof p->what, "%s", what);
  p->total = total;
  p->t_start = p->t_last = ovq_time();
  p->active = ovq_log_rank() == 0 && ovq_log_get_level() >= OVQ_LOG_INFO;
  p->is_tty = p->active && isatty(fileno(stderr));
}

static void draw(OvqProgress *p, int64_t done, double now, int final) {
  double el = now - p->t_start, rate = el > 0 ? (double)done / el : 0.0;
  char eta[32], elapsed[32];
  fmt_duration(rate > 0 ? (double)(p->total - done) / rate : -1, eta, sizeof eta);
  fmt_duration(el, elapsed, sizeof elapsed);
  double frac = p->total > 0 ? (double)done / (double)p->total : 1.0;
  char rs[32];
  snprintf(rs, sizeof rs, rate < 100 ? "%.2f" : "%.0f", rate);
  if (p->is_tty) {
    char bar[31];
    int fill = (int)(frac * 30.0);
    for (int i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '.';
    bar[30] = '\0';
    int len = fprintf(stderr, "\r%s [%s] %3.0f%% %lld/%lld %s, %s %s/s, %s %s", p->label, bar,
                      100 * frac, (long long)done, (long long)p->total, p->what, rs, p->what,
                      final ? "took" : "ETA", final ? elapsed : eta);
    for (int i = len; i < p->last_len; i++) fputc(' ', stderr);
    p->last_len = len;
    if (final) fputc('\n', stderr);
  } else {
    fprintf(stderr, "oncovq: %s: %lld/%lld %s (%.0f%%), %s %s/s, %s %s\n", p->label,
            (long long)done, (long long)p->total, p->what, 100 * frac, rs, p->what,
            final ? "took" : "ETA", final ? elapsed : eta);
  }
  fflush(stderr);
}

void ovq_progress_update(OvqProgress *p, int64_t done) {
  if (!p->active) return;
  double now = ovq_time();
  if (now - p->t_last < (p->is_tty ? kTtyInterval : kPlainInterval)) return;
  p->t_last = now;
  draw(p, done, now, 0);
}

void ovq_progress_finish(OvqProgress *p) {
  if (!p->active) return;
  draw(p, p->total, ovq_time(), 1);
  p->active = 0;
}
