/* Multiple-testing correction shared by the statistics modules (differential expression,
 * enrichment, pairwise survival tests). */
#ifndef OVQ_PADJUST_H
#define OVQ_PADJUST_H

#include <stdint.h>

/* Local. Benjamini-Hochberg adjusted p-values of p (in: [n]) into q (out: [n]; may be p itself),
 * as R's p.adjust(p, "BH"): q_(i) = min_{j >= i} min(1, p_(j) n / j) over the sorted p. */
void ovq_bh_adjust(const double *p, int64_t n, double *q);

#endif
