/* Row-distributed matrix (see include/ovq/matrix.h). */
#include "ovq/matrix.h"

#include <stdlib.h>
#include <string.h>

#include "ovq/error.h"
#include "ovq/partition.h"

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

void ovq_matrix_columns(const OvqMatrix *m, MPI_Comm comm, int64_t *col_start,
                        int64_t *n_cols_local, float **out) {
  int rank, size;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  OvqRange mine = ovq_partition_block(m->n_cols, size, rank);
  *col_start = mine.start;
  *n_cols_local = mine.count;
  /* Pack: for each destination d, its column block of my rows, column-major within the block. */
  int *scount = OVQ_MALLOC(sizeof(int) * (size_t)size), *sdisp = OVQ_MALLOC(sizeof(int) * (size_t)size);
  int *rcount = OVQ_MALLOC(sizeof(int) * (size_t)size), *rdisp = OVQ_MALLOC(sizeof(int) * (size_t)size);
  float *send = OVQ_MALLOC(sizeof(float) * (size_t)(m->n_local * m->n_cols + 1));
  int64_t pos = 0;
  for (int d = 0; d < size; d++) {
    OvqRange cb = ovq_partition_block(m->n_cols, size, d);
    sdisp[d] = OVQ_INT(pos, "send displacement");
    for (int64_t j = 0; j < cb.count; j++)
      for (int64_t i = 0; i < m->n_local; i++) send[pos++] = m->x[i * m->n_cols + cb.start + j];
    scount[d] = OVQ_INT(pos - sdisp[d], "send count");
  }
  pos = 0;
  for (int s = 0; s < size; s++) {
    OvqRange rb = ovq_partition_block(m->n_total, size, s);
    rdisp[s] = OVQ_INT(pos, "receive displacement");
    rcount[s] = OVQ_INT(rb.count * mine.count, "receive count");
    pos += rb.count * mine.count;
  }
  float *recv = OVQ_MALLOC(sizeof(float) * (size_t)(pos + 1));
  OVQ_MPI_CHECK(MPI_Alltoallv(send, scount, sdisp, MPI_FLOAT, recv, rcount, rdisp, MPI_FLOAT, comm));
  free(send);
  /* Unpack: the block from rank s holds its rows for each of my columns. */
  float *o = OVQ_MALLOC(sizeof(float) * (size_t)(m->n_total * mine.count + 1));
  for (int s = 0; s < size; s++) {
    OvqRange rb = ovq_partition_block(m->n_total, size, s);
    const float *b = recv + rdisp[s];
    for (int64_t j = 0; j < mine.count; j++)
      memcpy(o + j * m->n_total + rb.start, b + j * rb.count, sizeof(float) * (size_t)rb.count);
  }
  free(recv);
  free(scount);
  free(sdisp);
  free(rcount);
  free(rdisp);
  *out = o;
}
