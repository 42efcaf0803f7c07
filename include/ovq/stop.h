/* Stop requests: SIGTERM and SIGUSR1 (what SLURM and mpirun deliver before a time limit or on
 * scancel) set a flag instead of killing the process, so long loops can stop at a consistent
 * point, agree across ranks (see the trainer) and write a checkpoint. All functions are Local. */
#ifndef OVQ_STOP_H
#define OVQ_STOP_H

/* Installs the handlers (idempotent; the flag is not cleared). Call it as early as possible in a
 * command that checkpoints, so a signal during start-up is not fatal either. */
void ovq_stop_catch(void);

/* The signal number received since the last clear, or 0. */
int ovq_stop_requested(void);

/* Forgets a received signal (e.g. after a checkpoint was written). */
void ovq_stop_clear(void);

#endif
