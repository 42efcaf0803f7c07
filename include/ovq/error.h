/* Errors and logging: the two tiers of CONVENTIONS.md.
 *
 * Tier 1, library failures (MPI, HDF5, LAPACK/ScaLAPACK info < 0, out of memory): a checking
 * macro prints "[rank r] file:line: message" with the library's own text and calls MPI_Abort.
 * These mean a bug or a broken machine; there is nothing for the user to fix in their input.
 *
 * Tier 2, user errors (bad config, unreadable or malformed input, bad options): the function
 * that finds one records a message with ovq_error() and returns OVQ_ERR. Callers pass the status
 * up. Before any rank acts on a status that may differ between ranks, the ranks call
 * ovq_status_agree(), which makes every rank return the same status and lets rank 0 print the
 * message of the lowest failing rank. main() then exits non-zero on every rank: never exit() on
 * one rank.
 *
 * Logging: ovq_log() prints on rank 0 only (stderr), filtered by level. */
#ifndef OVQ_ERROR_H
#define OVQ_ERROR_H

#include <mpi.h>
#include <stddef.h>

typedef enum { OVQ_OK = 0, OVQ_ERR = 1 } OvqStatus;

typedef enum { OVQ_LOG_ERROR = 0, OVQ_LOG_WARN, OVQ_LOG_INFO, OVQ_LOG_DEBUG } OvqLogLevel;

/* Local. Records a user-error message for this rank (replacing any earlier one) and returns
 * OVQ_ERR, so a caller can write `return ovq_error("%s:%d: ...", ...)`. */
OvqStatus ovq_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Local. The message recorded last on this rank ("" if none). */
const char *ovq_error_message(void);

/* Local. Forgets the recorded message. */
void ovq_error_clear(void);

/* Collective on comm. Returns OVQ_ERR on every rank if any rank passed OVQ_ERR, else OVQ_OK.
 * On error the message of the lowest failing rank is copied to every rank's message buffer
 * (so rank 0 can report it). */
OvqStatus ovq_status_agree(MPI_Comm comm, OvqStatus st);

/* Local. Sets up rank-aware logging; call once after MPI_Init. */
void ovq_log_init(MPI_Comm comm);
void ovq_log_set_level(OvqLogLevel level);
/* Local. Text put after "oncovq" in every log line (e.g. "[BRCA_vqvae_s1]"); "" for none. */
void ovq_log_set_prefix(const char *prefix);
OvqLogLevel ovq_log_get_level(void);
/* Local. Rank 0 only prints (others return at once); messages below the level are dropped. */
void ovq_log(OvqLogLevel level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int ovq_log_rank(void);

/* Tier 1: never returns. */
_Noreturn void ovq_abort_at(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
_Noreturn void ovq_abort_mpi(const char *file, int line, int code, const char *expr);
_Noreturn void ovq_abort_h5(const char *file, int line, const char *expr);

#define OVQ_ABORT(...) ovq_abort_at(__FILE__, __LINE__, __VA_ARGS__)

/* MPI call that must succeed (MPI_ERRORS_RETURN is set on the communicators we use). */
#define OVQ_MPI_CHECK(call)                                                                        \
  do {                                                                                             \
    int ovq_mpi_rc_ = (call);                                                                      \
    if (ovq_mpi_rc_ != MPI_SUCCESS) ovq_abort_mpi(__FILE__, __LINE__, ovq_mpi_rc_, #call);         \
  } while (0)

/* HDF5 call whose negative return is a library failure (not a user's bad file: those are
 * checked explicitly and reported with ovq_error). Evaluates to the call's value. */
#define OVQ_H5_CHECK(call)                                                                         \
  ({                                                                                               \
    __typeof__(call) ovq_h5_rc_ = (call);                                                          \
    if (ovq_h5_rc_ < 0) ovq_abort_h5(__FILE__, __LINE__, #call);                                   \
    ovq_h5_rc_;                                                                                    \
  })

/* LAPACK / ScaLAPACK info: < 0 is an illegal argument (a bug), > 0 is reported by the caller. */
#define OVQ_LAPACK_CHECK(info, routine)                                                            \
  do {                                                                                             \
    if ((info) < 0)                                                                                \
      ovq_abort_at(__FILE__, __LINE__, "%s: argument %d had an illegal value", (routine),          \
                   -(int)(info));                                                                  \
  } while (0)

/* Allocation that must succeed; size in bytes. Returns zeroed memory for OVQ_CALLOC. */
void *ovq_malloc_at(size_t bytes, const char *file, int line);
void *ovq_calloc_at(size_t n, size_t size, const char *file, int line);
void *ovq_realloc_at(void *p, size_t bytes, const char *file, int line);
char *ovq_strdup_at(const char *s, const char *file, int line);
#define OVQ_MALLOC(bytes) ovq_malloc_at((bytes), __FILE__, __LINE__)
#define OVQ_CALLOC(n, size) ovq_calloc_at((n), (size), __FILE__, __LINE__)
#define OVQ_REALLOC(p, bytes) ovq_realloc_at((p), (bytes), __FILE__, __LINE__)
#define OVQ_STRDUP(s) ovq_strdup_at((s), __FILE__, __LINE__)

/* Checks that a 64-bit count fits the int an MPI/HDF5/BLACS call takes; aborts otherwise. */
int ovq_int_checked_at(long long v, const char *what, const char *file, int line);
#define OVQ_INT(v, what) ovq_int_checked_at((long long)(v), (what), __FILE__, __LINE__)

#endif
