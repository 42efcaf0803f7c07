/* Neural-network layers on raw arrays, forward and backward side by side (llm.c style).
 *
 * Shapes are row-major with the batch first: x [B][in]. Every backward ADDS into the parameter
 * gradients (dw, db) so one slab can accumulate over several calls, and WRITES the input
 * gradient dx (dx may be NULL when not needed, e.g. for the first layer). All functions are
 * Local (no communication) and single-threaded apart from what the BLAS does.
 *
 * Precision: the library builds these in float (ovq_real = float, GEMM = sgemm). The gradient
 * checks compile the same sources with -DOVQ_NN_DOUBLE, which makes ovq_real double and renames
 * every function with an _f64 suffix, so central differences are taken in double precision on
 * exactly the code that trains. */
#ifndef OVQ_NN_H
#define OVQ_NN_H

#include <stdint.h>

#ifdef OVQ_NN_DOUBLE
typedef double ovq_real;
#define OVQ_NN_FN(name) name##_f64
#else
typedef float ovq_real;
#define OVQ_NN_FN(name) name
#endif

#define ovq_linear_forward OVQ_NN_FN(ovq_linear_forward)
#define ovq_linear_backward OVQ_NN_FN(ovq_linear_backward)
#define ovq_gelu_forward OVQ_NN_FN(ovq_gelu_forward)
#define ovq_gelu_backward OVQ_NN_FN(ovq_gelu_backward)
#define ovq_relu_forward OVQ_NN_FN(ovq_relu_forward)
#define ovq_relu_backward OVQ_NN_FN(ovq_relu_backward)
#define ovq_gemm_nn OVQ_NN_FN(ovq_gemm_nn)
#define ovq_gemm_nt OVQ_NN_FN(ovq_gemm_nt)
#define ovq_gemm_tn OVQ_NN_FN(ovq_gemm_tn)
#define ovq_gemm_ld OVQ_NN_FN(ovq_gemm_ld)

/* C[m][n] = alpha * A[m][k] B[k][n] + beta * C (row-major, via BLAS). */
void ovq_gemm_nn(int64_t m, int64_t n, int64_t k, ovq_real alpha, const ovq_real *A,
                 const ovq_real *B, ovq_real beta, ovq_real *C);
/* C[m][n] = alpha * A[m][k] B[n][k]^T + beta * C. */
void ovq_gemm_nt(int64_t m, int64_t n, int64_t k, ovq_real alpha, const ovq_real *A,
                 const ovq_real *B, ovq_real beta, ovq_real *C);
/* C[m][n] = alpha * A[k][m]^T B[k][n] + beta * C. */
void ovq_gemm_tn(int64_t m, int64_t n, int64_t k, ovq_real alpha, const ovq_real *A,
                 const ovq_real *B, ovq_real beta, ovq_real *C);

/* C = alpha op(A) op(B) + beta C with explicit leading dimensions (row-major), op(X) = X^T when
 * trans_x is nonzero: for submatrices, e.g. a block of columns of a weight matrix. op(A) is m x k,
 * op(B) k x n, C m x n with rows ldc apart. */
void ovq_gemm_ld(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, ovq_real alpha,
                 const ovq_real *A, int64_t lda, const ovq_real *B, int64_t ldb, ovq_real beta,
                 ovq_real *C, int64_t ldc);

/* Linear: y = x W^T + b.  x [B][in], w [out][in] (PyTorch's layout), b [out], y [B][out]. */
void ovq_linear_forward(ovq_real *y, const ovq_real *x, const ovq_real *w, const ovq_real *b,
                        int64_t B, int64_t in, int64_t out);
/* dw += dy^T x; db += sum_b dy; dx = dy W (if dx != NULL). */
void ovq_linear_backward(ovq_real *dx, ovq_real *dw, ovq_real *db, const ovq_real *dy,
                         const ovq_real *x, const ovq_real *w, int64_t B, int64_t in, int64_t out);

/* GELU, exact form 0.5 x (1 + erf(x / sqrt 2)) as PyTorch's default. n elements; y may alias x
 * in forward; backward: dx = dy * gelu'(x) (dx may alias dy). */
void ovq_gelu_forward(ovq_real *y, const ovq_real *x, int64_t n);
void ovq_gelu_backward(ovq_real *dx, const ovq_real *dy, const ovq_real *x, int64_t n);

/* ReLU; backward uses the forward input x (gradient 0 at x <= 0, as PyTorch). */
void ovq_relu_forward(ovq_real *y, const ovq_real *x, int64_t n);
void ovq_relu_backward(ovq_real *dx, const ovq_real *dy, const ovq_real *x, int64_t n);

#endif
