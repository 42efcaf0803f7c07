/* Wall-clock timers and a progress line for long loops.
 *
 * The progress line is printed by rank 0 only: a redrawn bar when stderr is a terminal, plain
 * lines (at most one every few seconds, and at the end) otherwise, e.g. in SLURM output files.
 * Each shows done/total, rate and ETA. */
#ifndef OVQ_PROGRESS_H
#define OVQ_PROGRESS_H

#include <mpi.h>
#include <stdint.h>

/* Local. Seconds since an arbitrary fixed point (monotonic). */
double ovq_time(void);

/* Collective on comm. The largest of the ranks' values (timings are reported as the maximum). */
double ovq_time_max(double seconds, MPI_Comm comm);

typedef struct OvqProgress {
  char what[64];  /* what is counted, e.g. "samples" */
  char label[64]; /* what is being done, e.g. "synth" */
  int64_t total;
  double t_start, t_last;
  int is_tty, active, last_len;
} OvqProgress;

/* Local (rank 0 prints, other ranks keep silent). */
void ovq_progress_start(OvqProgress *p, const char *label, const char *what, int64_t total);
void ovq_progress_update(OvqProgress *p, int64_t done);
void ovq_progress_finish(OvqProgress *p);

#endif
