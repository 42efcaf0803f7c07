/* Survival analysis of clusters: Kaplan-Meier curves with Greenwood confidence intervals and
 * median survival per group, the multi-group log-rank test, pairwise log-rank tests with
 * Benjamini-Hochberg adjustment, and the Cox proportional-hazards model (Efron ties) with the
 * group as a categorical covariate, each as R's survival package (3.5) computes it: survfit,
 * print.survfit's medians, survdiff, p.adjust "BH" and coxph (tests/test_survival.c checks them
 * against tools/gen_survival_fixtures.R).
 *
 * Samples are distributed by rows (rank r holds a contiguous block). ovq_survival_gather() is
 * the one collective step: it gathers the (small: N <= ~10^4) triples (time, event, group) of
 * the known samples to every rank in global order, and every analysis is then Local and reads
 * the gathered data, so results do not depend on the rank count.
 *
 * Conventions for degenerate input (no NaN ever appears in a result; `note` says what happened):
 *   - a sample is unknown, left out and counted, if its time is NaN, infinite or negative, its
 *     event is not 0 / 1 (-1 = unknown), or its group is negative;
 *   - groups are the codes 0 .. n_groups - 1 that have at least one known sample ("present");
 *     codes without samples are skipped by every analysis;
 *   - median survival (or a limit of its CI) that the curve never reaches is "not reached":
 *     reached flag 0 and value +INFINITY (R prints NA);
 *   - where S(t) = 0 the Greenwood std.err is +INFINITY (as R) and the log-scale limits, NA in
 *     R, are lower = upper = 0;
 *   - all samples censored: curves stay at 1 (std.err 0, limits 1); log-rank chisq 0, df 0,
 *     p 1; the Cox model is not fitted (fitted 0: coef 0, se 0, HR 1, CI [1, 1], tests 0 / p 1);
 *   - a single present group: log-rank and Cox as for no events (nothing to compare);
 *   - a pair without events: chisq 0, p 1 (R's survdiff gives df -1 and p NaN there);
 *   - a group of size one is an ordinary group (its curve has one time; its Cox coefficient may
 *     be infinite if it has no event, flagged as coxph warns, with a finite estimate reported).
 */
#ifndef OVQ_SURVIVAL_H
#define OVQ_SURVIVAL_H

#include <mpi.h>
#include <stdint.h>

#include "ovq/error.h"

/* Largest group code + 1 accepted (groups are cluster codes 0..k-1, not arbitrary numbers). */
#define OVQ_SURVIVAL_MAX_GROUPS 4096

/* The gathered survival data, identical on every rank. */
typedef struct OvqSurvData {
  int64_t n;         /* known samples */
  int64_t n_unknown; /* samples left out (unknown time, event or group) */
  int n_groups;      /* 1 + largest known group code (0 if n = 0) */
  double *time;      /* [n], owned: days (or any unit) >= 0 */
  int8_t *event;     /* [n], owned: 1 dead, 0 censored */
  int32_t *group;    /* [n], owned: 0 .. n_groups - 1 */
  int64_t *size;     /* [n_groups], owned: known samples per group */
} OvqSurvData;

/* Collective on comm. Gathers this rank's samples (in: [n_local] each; time NaN = unknown,
 * event -1 = unknown, group < 0 = unknown) from all ranks, in rank order, into *out (free with
 * ovq_survival_data_free). Returns OVQ_ERR on every rank, *out zeroed, if a rank passed
 * n_local < 0 or NULL arrays with n_local > 0, or a group code >= OVQ_SURVIVAL_MAX_GROUPS. */
OvqStatus ovq_survival_gather(const double *time, const int8_t *event, const int32_t *group,
                              int64_t n_local, MPI_Comm comm, OvqSurvData *out);

/* Local. Frees and zeroes *d; NULL-safe and idempotent. */
void ovq_survival_data_free(OvqSurvData *d);

/* One Kaplan-Meier curve, as survfit(Surv(time, event) ~ group): one row per distinct time
 * (event or censoring) of the group. */
typedef struct OvqKmCurve {
  int32_t group;
  int64_t n, n_events;
  int64_t n_times;
  double *time;      /* [n_times], increasing */
  int64_t *n_risk;   /* [n_times] at risk just before time[i] */
  int64_t *n_event;  /* [n_times] */
  int64_t *n_censor; /* [n_times] */
  double *surv;      /* [n_times] S(time[i]) */
  double *std_err;   /* [n_times] Greenwood standard error of -log S (survfit's std.err) */
  double *lower;     /* [n_times] 95% limits, conf.type "log": S exp(-/+ 1.96 std_err), */
  double *upper;     /*           upper capped at 1 */
  /* Median survival as print.survfit: smallest t with S(t) <= 0.5 (the midpoint to the next
   * time if S equals 0.5 there, to sqrt(DBL_EPSILON)); its 95% CI applies the same rule to the
   * lower (-> median_lower) and upper (-> median_upper) curves. +INFINITY when not reached. */
  double median, median_lower, median_upper;
  int median_reached, median_lower_reached, median_upper_reached;
} OvqKmCurve;

typedef struct OvqKm {
  int n_curves;      /* present groups */
  OvqKmCurve *curve; /* [n_curves], owned, in group order */
} OvqKm;

/* Local. Kaplan-Meier curve of every present group into *out (free with ovq_survival_km_free). */
void ovq_survival_km(const OvqSurvData *d, OvqKm *out);
void ovq_survival_km_free(OvqKm *km);

/* A log-rank test (survdiff, rho = 0). */
typedef struct OvqLogrank {
  double chisq;
  int df;           /* groups with expected > 0, minus 1 (0 if none can be tested) */
  double p;         /* upper tail of chi-square(df); 1 when df = 0 */
  const char *note; /* static text: "" or why the test is degenerate */
} OvqLogrank;

/* Local. Log-rank test over all present groups. */
void ovq_survival_logrank(const OvqSurvData *d, OvqLogrank *out);

typedef struct OvqPairwise {
  int n_pairs;        /* present groups choose 2 */
  int32_t *group_a;   /* [n_pairs], owned: a < b, pairs in order (0,1), (0,2), ..., (1,2), ... */
  int32_t *group_b;   /* [n_pairs], owned */
  OvqLogrank *test;   /* [n_pairs], owned: log-rank of the samples of a and b only */
  double *p_adjusted; /* [n_pairs], owned: Benjamini-Hochberg over the pairs */
} OvqPairwise;

/* Local. Log-rank test of every pair of present groups, BH-adjusted (free with
 * ovq_survival_pairwise_free). */
void ovq_survival_pairwise(const OvqSurvData *d, OvqPairwise *out);
void ovq_survival_pairwise_free(OvqPairwise *pw);

/* Cox proportional hazards with the group as a factor: one coefficient per present group after
 * the first (the reference), Efron's approximation for ties, fitted as coxph: Newton-Raphson
 * from 0 with step halving, converged when |1 - loglik_old / loglik_new| <= 1e-9, at most 20
 * iterations, Cholesky with tolerance DBL_EPSILON^0.75. */
typedef struct OvqCox {
  int fitted;        /* 0: not fitted (no events or a single group): see the header comment */
  int n_coef;        /* present groups - 1 */
  int32_t *group;    /* [n_coef], owned: the group of each coefficient */
  int32_t reference; /* the reference group (-1 if none) */
  double *coef;      /* [n_coef], owned: log hazard ratio against the reference */
  double *se;        /* [n_coef] */
  double *hr;        /* [n_coef] exp(coef) */
  double *hr_lower;  /* [n_coef] exp(coef -/+ 1.96 se) */
  double *hr_upper;
  double *p;              /* [n_coef] Wald p, 2 Q(|coef / se|) */
  int *infinite;          /* [n_coef] 1 if the coefficient may be infinite (coxph's warning rule) */
  double loglik0, loglik; /* partial log-likelihood at 0 and at the fit */
  double lrt, lrt_p;      /* likelihood-ratio test 2 (loglik - loglik0), df = n_coef */
  double wald, wald_p;    /* coef' I coef */
  double score, score_p;  /* score (log-rank) test at 0 */
  int df;
  int iterations;
  int converged;
  const char *note; /* static text: "" or what was special */
} OvqCox;

/* Local. Fits the model to *d into *out (free with ovq_survival_cox_free). */
void ovq_survival_cox(const OvqSurvData *d, OvqCox *out);
void ovq_survival_cox_free(OvqCox *cox);

#endif
