/* The library's float layers (src/nn/layers.c as linked into libovq) against double-precision
 * references computed here by plain loops on the same (float-rounded) data: the three GEMM
 * wrappers, linear forward / backward, GELU and ReLU, at sizes that take OpenBLAS's blocked
 * kernels rather than its small-matrix paths. Also GELU at known values and the empty cases
 * (k = 0, an empty minibatch). Tolerance 1e-5 relative: max |float - double| / max |double| over a
 * tensor for sums and products, element by element for GELU forward. */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "ovq/error.h"
#include "ovq/nn.h"
#include "ovq/rng.h"

#define TOL 1e-5
#define SEED 77u

/* Random normal data in float, and the same values in double for the references. */
static void fill(float *f, double *d, int64_t n, uint64_t index) {
  OvqRng r;
  ovq_rng_init(&r, SEED, OVQ_STREAM_TEST, index);
  for (int64_t i = 0; i < n; i++) {
    f[i] = (float)ovq_rng_normal(&r);
    d[i] = f[i];
  }
}

/* Normwise relative difference: max |a - b| / max |b|. */
static double norm_err(const float *a, const double *b, int64_t n) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < n; i++) {
    num = fmax(num, fabs(a[i] - b[i]));
    den = fmax(den, fabs(b[i]));
  }
  return den > 0 ? num / den : num;
}

static void report(const char *what, double err) {
  printf("%-28s max relative error %.3g\n", what, err);
  CHECK_MSG(err < TOL, "%s: %.3g", what, err);
}

/* op(A)[i][l] for the three layouts: A[m][k] (nn, nt), A[k][m] (tn); op(B)[l][j]: B[k][n] (nn,
 * tn), B[n][k] (nt). */
enum { NN, NT, TN };
static void gemm_ref(int kind, int64_t m, int64_t n, int64_t k, double alpha, const double *A,
                     const double *Bm, double beta, double *C) {
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = 0; j < n; j++) {
      double s = 0;
      for (int64_t l = 0; l < k; l++) {
        double a = kind == TN ? A[l * m + i] : A[i * k + l];
        double b = kind == NT ? Bm[j * k + l] : Bm[l * n + j];
        s += a * b;
      }
      C[i * n + j] = alpha * s + beta * C[i * n + j];
    }
}

static void check_gemm(void) {
  enum { M = 7, N = 9, K = 300 };
  static float A[M * K], Bm[K * N], C[M * N];
  static double Ad[M * K], Bd[K * N], Cd[M * N];
  const char *names[] = {"gemm_nn", "gemm_nt", "gemm_tn"};
  for (int kind = NN; kind <= TN; kind++) {
    fill(A, Ad, M * K, 1);
    fill(Bm, Bd, K * N, 2);
    fill(C, Cd, M * N, 3);
    if (kind == NN) ovq_gemm_nn(M, N, K, 0.7f, A, Bm, -0.3f, C);
    if (kind == NT) ovq_gemm_nt(M, N, K, 0.7f, A, Bm, -0.3f, C);
    if (kind == TN) ovq_gemm_tn(M, N, K, 0.7f, A, Bm, -0.3f, C);
    gemm_ref(kind, M, N, K, 0.7f, Ad, Bd, -0.3f, Cd);
    report(names[kind], norm_err(C, Cd, M * N));
  }
  /* k = 0 leaves C = beta C; m = 0 touches nothing. */
  fill(C, Cd, M * N, 3);
  ovq_gemm_nn(M, N, 0, 1, A, Bm, 0.5f, C);
  int ok = 1;
  for (int i = 0; i < M * N; i++)
    ok &= C[i] == (float)(0.5 * Cd[i]);
  CHECK_MSG(ok, "gemm with k = 0 is not C = beta C");
  fill(C, Cd, M * N, 3);
  ovq_gemm_tn(0, N, K, 1, A, Bm, 0, C);
  ok = 1;
  for (int i = 0; i < M * N; i++)
    ok &= C[i] == (float)Cd[i];
  CHECK_MSG(ok, "gemm with m = 0 changed C");
}

static void check_linear(void) {
  enum { B = 7, IN = 300, OUT = 33 };
  static float x[B * IN], w[OUT * IN], b[OUT], y[B * OUT], dy[B * OUT], dx[B * IN], dw[OUT * IN],
      db[OUT];
  static double xd[B * IN], wd[OUT * IN], bd[OUT], yd[B * OUT], dyd[B * OUT], dxd[B * IN],
      dwd[OUT * IN], dbd[OUT];
  fill(x, xd, B * IN, 10);
  fill(w, wd, OUT * IN, 11);
  fill(b, bd, OUT, 12);
  fill(dy, dyd, B * OUT, 13);
  /* Nonzero starting gradients: backward adds to them. */
  fill(dw, dwd, OUT * IN, 14);
  fill(db, dbd, OUT, 15);

  ovq_linear_forward(y, x, w, b, B, IN, OUT);
  for (int i = 0; i < B; i++)
    for (int o = 0; o < OUT; o++)
      yd[i * OUT + o] = bd[o];
  gemm_ref(NT, B, OUT, IN, 1, xd, wd, 1, yd);
  report("linear forward y", norm_err(y, yd, B * OUT));

  for (int i = 0; i < B * IN; i++)
    dx[i] = NAN;
  ovq_linear_backward(dx, dw, db, dy, x, w, B, IN, OUT);
  gemm_ref(TN, OUT, IN, B, 1, dyd, xd, 1, dwd);
  for (int i = 0; i < B; i++)
    for (int o = 0; o < OUT; o++)
      dbd[o] += dyd[i * OUT + o];
  gemm_ref(NN, B, IN, OUT, 1, dyd, wd, 0, dxd);
  report("linear backward dW", norm_err(dw, dwd, OUT * IN));
  report("linear backward db", norm_err(db, dbd, OUT));
  report("linear backward dx", norm_err(dx, dxd, B * IN));

  /* An empty minibatch (a rank with no samples in this step) changes no gradient. */
  float dw0[OUT * IN], db0[OUT];
  memcpy(dw0, dw, sizeof dw0);
  memcpy(db0, db, sizeof db0);
  ovq_linear_forward(y, x, w, b, 0, IN, OUT);
  ovq_linear_backward(dx, dw, db, dy, x, w, 0, IN, OUT);
  CHECK_MSG(memcmp(dw0, dw, sizeof dw0) == 0 && memcmp(db0, db, sizeof db0) == 0,
            "backward of an empty batch changed the gradients");
}

static double gelu_ref(double x) {
  return 0.5 * x * erfc(-x / sqrt(2.0));
}
static double gelu_grad_ref(double x) {
  return 0.5 * erfc(-x / sqrt(2.0)) + x * exp(-0.5 * x * x) / sqrt(2 * M_PI);
}

static void check_gelu(void) {
  /* x Phi(x) at known points (Phi from tables: Phi(1) = 0.8413447460685429, Phi(0.5) =
   * 0.6914624612740131, Phi(-3) = 0.0013498980316301), the values torch.nn.GELU() gives. */
  const float xs[] = {1.0f, -1.0f, 0.5f, -3.0f, 0.0f};
  const double want[] = {0.8413447460685429, -0.15865525393145707, 0.34573123063700656,
                         -0.004049694094890287, 0.0};
  float ys[5];
  ovq_gelu_forward(ys, xs, 5);
  double worst = 0;
  for (int i = 0; i < 5; i++)
    worst = fmax(worst, fabs(ys[i] - want[i]) / fmax(fabs(want[i]), 1e-30));
  report("gelu known values", worst);

  /* A grid over [-8, 8] (both tails) plus dy from the RNG. */
  enum { NG = 1601 };
  static float x[NG], y[NG], dy[NG], dx[NG];
  static double dyd[NG], yd[NG], dxd[NG];
  fill(dy, dyd, NG, 20);
  worst = 0;
  for (int i = 0; i < NG; i++) {
    x[i] = (float)(-8.0 + 0.01 * i);
    yd[i] = gelu_ref(x[i]);
    dxd[i] = dyd[i] * gelu_grad_ref(x[i]);
  }
  ovq_gelu_forward(y, x, NG);
  for (int i = 0; i < NG; i++)
    worst = fmax(worst, fabs(y[i] - yd[i]) / fmax(fmax(fabs(y[i]), fabs(yd[i])), 1e-8));
  report("gelu forward (elementwise)", worst);
  ovq_gelu_backward(dx, dy, x, NG);
  report("gelu backward", norm_err(dx, dxd, NG));
}

static void check_relu(void) {
  enum { NR = 1000 };
  static float x[NR], y[NR], dy[NR], dx[NR];
  static double xd[NR], dyd[NR];
  fill(x, xd, NR, 30);
  fill(dy, dyd, NR, 31);
  ovq_relu_forward(y, x, NR);
  ovq_relu_backward(dx, dy, x, NR);
  int ok = 1;
  for (int i = 0; i < NR; i++)
    ok &= y[i] == (xd[i] > 0 ? x[i] : 0.0f) && dx[i] == (xd[i] > 0 ? dy[i] : 0.0f);
  CHECK_MSG(ok, "relu differs from max(x, 0) / dy [x > 0]");
  /* NaN propagates through the forward, as torch.relu. */
  float nan_in = NAN, nan_out;
  ovq_relu_forward(&nan_out, &nan_in, 1);
  CHECK(isnan(nan_out));
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  ovq_log_init(MPI_COMM_WORLD);
  check_gemm();
  check_linear();
  check_gelu();
  check_relu();
  int rc = test_finish("test_nn_float");
  MPI_Finalize();
  return rc;
}
