/* Row-distributed matrix (see include/ovq/matrix.h). */
#include "ovq/matrix.h"

#include <stdlib.h>
#include <string.h>

#include "ovq/error.h"

void ovq_matrix_alloc(OvqMatrix *m, int64_t n_total, int64_t row_start, int64_t n_local,
                      int64_t n_cols) {
  m->n_total = n_total;
  m->row_start = row_start;
  m->n_local = n_local;
  m->n_cols = n_cols;
  m->x = OVQ_CALLOC((size_t)(n_local * n_cols), sizeof(float));
}

void ovq_matrix_free(OvqMatrix *m) {
  if (!m) return;
  free(m->x);
  memset(m, 0, sizeof *m);
}
