/* Gradient checks of src/nn/layers.c, compiled here in double (OVQ_NN_DOUBLE, _f64 names): every
 * backward (linear with and without dx, GELU, ReLU, and a residual block composed of them) against
 * central finite differences of the scalar loss L = sum(y * r) for a fixed random r, over every
 * parameter and input element; plus the accumulation contract (dw, db are added to, dx is
 * overwritten) and in-place use. */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "ovq/error.h"
#include "ovq/nn.h"
#include "ovq/rng.h"

#define FD_H 1e-6
#define TOL 1e-6
#define SEED 20240611u

/* Small shapes: every element gets its own pair of forward passes. */
enum { B = 3, IN = 5, OUT = 4, HID = 4 };

/* Each tensor draws from its own index of the test stream, so adding one leaves the others. */
static void fill_normal(double *a, int n, uint64_t index) {
  OvqRng r;
  ovq_rng_init(&r, SEED, OVQ_STREAM_TEST, index);
  for (int i = 0; i < n; i++)
    a[i] = ovq_rng_normal(&r);
}

/* ReLU inputs kept at least 0.1 away from the kink so x +- h never crosses it. */
static void fill_away_from_zero(double *a, int n, uint64_t index) {
  fill_normal(a, n, index);
  for (int i = 0; i < n; i++)
    a[i] += a[i] < 0 ? -0.1 : 0.1;
}

static double rel_err(double a, double b) {
  return fabs(a - b) / fmax(fmax(fabs(a), fabs(b)), 1e-8);
}

static double dot(const double *a, const double *b, int n) {
  double s = 0;
  for (int i = 0; i < n; i++)
    s += a[i] * b[i];
  return s;
}

/* A loss recomputed from whatever the perturbed arrays hold. */
typedef double (*LossFn)(void *ctx);

/* Largest relative error between grad[i] and the central difference (L(+h) - L(-h)) / 2h of the
 * loss with respect to param[i], over i < n. */
static double fd_check(LossFn loss, void *ctx, double *param, const double *grad, int n) {
  double worst = 0;
  for (int i = 0; i < n; i++) {
    double saved = param[i];
    param[i] = saved + FD_H;
    double lp = loss(ctx);
    param[i] = saved - FD_H;
    double lm = loss(ctx);
    param[i] = saved;
    worst = fmax(worst, rel_err((lp - lm) / (2 * FD_H), grad[i]));
  }
  return worst;
}

static void report(const char *what, double worst) {
  printf("%-34s max relative error %.3g\n", what, worst);
  CHECK_MSG(worst < TOL, "%s: %.3g", what, worst);
}

/* ---- linear ---------------------------------------------------------------------------------- */

typedef struct {
  double x[B * IN], w[OUT * IN], b[OUT], r[B * OUT], y[B * OUT];
} Linear;

static double linear_loss(void *ctx) {
  Linear *s = ctx;
  ovq_linear_forward(s->y, s->x, s->w, s->b, B, IN, OUT);
  return dot(s->y, s->r, B * OUT);
}

static void check_linear(void) {
  Linear s;
  fill_normal(s.x, B * IN, 1);
  fill_normal(s.w, OUT * IN, 2);
  fill_normal(s.b, OUT, 3);
  fill_normal(s.r, B * OUT, 4);
  double dx[B * IN], dw[OUT * IN] = {0}, db[OUT] = {0};
  /* NaN prefill: dx must be written (beta = 0), never read. */
  for (int i = 0; i < B * IN; i++)
    dx[i] = NAN;
  ovq_linear_backward(dx, dw, db, s.r, s.x, s.w, B, IN, OUT);
  report("linear dW", fd_check(linear_loss, &s, s.w, dw, OUT * IN));
  report("linear db", fd_check(linear_loss, &s, s.b, db, OUT));
  report("linear dx", fd_check(linear_loss, &s, s.x, dx, B * IN));

  /* Without dx the parameter gradients are the same. */
  double dw1[OUT * IN] = {0}, db1[OUT] = {0};
  ovq_linear_backward(NULL, dw1, db1, s.r, s.x, s.w, B, IN, OUT);
  CHECK(memcmp(dw1, dw, sizeof dw) == 0 && memcmp(db1, db, sizeof db) == 0);
  report("linear (dx = NULL) dW", fd_check(linear_loss, &s, s.w, dw1, OUT * IN));
  report("linear (dx = NULL) db", fd_check(linear_loss, &s, s.b, db1, OUT));

  /* A second call adds the same amount again: dw, db double; dx is rewritten, not doubled. */
  ovq_linear_backward(dx, dw1, db1, s.r, s.x, s.w, B, IN, OUT);
  double worst = 0;
  for (int i = 0; i < OUT * IN; i++)
    worst = fmax(worst, rel_err(dw1[i], 2 * dw[i]));
  for (int i = 0; i < OUT; i++)
    worst = fmax(worst, rel_err(db1[i], 2 * db[i]));
  printf("%-34s max relative error %.3g\n", "linear backward twice = 2x", worst);
  CHECK_MSG(worst < 1e-14, "backward does not accumulate: %.3g", worst);
  double dx2[B * IN];
  for (int i = 0; i < B * IN; i++)
    dx2[i] = 1e30;
  ovq_linear_backward(dx2, dw1, db1, s.r, s.x, s.w, B, IN, OUT);
  CHECK_MSG(memcmp(dx2, dx, sizeof dx) == 0, "dx is not overwritten");
}

/* ---- elementwise: GELU, ReLU ----------------------------------------------------------------- */

enum { NE = B * OUT };
typedef struct {
  void (*forward)(double *y, const double *x, int64_t n);
  double x[NE], r[NE], y[NE];
} Elementwise;

static double elementwise_loss(void *ctx) {
  Elementwise *s = ctx;
  s->forward(s->y, s->x, NE);
  return dot(s->y, s->r, NE);
}

static void check_elementwise(const char *name, Elementwise *s,
                              void (*backward)(double *, const double *, const double *, int64_t)) {
  fill_normal(s->r, NE, 11);
  double dx[NE];
  for (int i = 0; i < NE; i++)
    dx[i] = NAN;
  backward(dx, s->r, s->x, NE);
  char what[64];
  snprintf(what, sizeof what, "%s dx", name);
  report(what, fd_check(elementwise_loss, s, s->x, dx, NE));

  /* In place (dx aliasing dy, y aliasing x) gives the same numbers. */
  double buf[NE], y[NE];
  memcpy(buf, s->r, sizeof buf);
  backward(buf, buf, s->x, NE);
  CHECK_MSG(memcmp(buf, dx, sizeof buf) == 0, "%s backward in place differs", name);
  s->forward(y, s->x, NE);
  memcpy(buf, s->x, sizeof buf);
  s->forward(buf, buf, NE);
  CHECK_MSG(memcmp(buf, y, sizeof buf) == 0, "%s forward in place differs", name);
}

static void check_gelu(void) {
  Elementwise s = {.forward = ovq_gelu_forward};
  /* Standard deviation 2, to reach into both tails as well as the centre. */
  fill_normal(s.x, NE, 10);
  for (int i = 0; i < NE; i++)
    s.x[i] *= 2;
  check_elementwise("gelu", &s, ovq_gelu_backward);
}

static void check_relu(void) {
  Elementwise s = {.forward = ovq_relu_forward};
  fill_away_from_zero(s.x, NE, 12);
  check_elementwise("relu", &s, ovq_relu_backward);
  /* Gradient 0 at x <= 0 (including exactly 0, as PyTorch), dy where x > 0. */
  double x[3] = {-1, 0, 2}, dy[3] = {5, 6, 7}, dx[3];
  ovq_relu_backward(dx, dy, x, 3);
  CHECK(dx[0] == 0 && dx[1] == 0 && dx[2] == 7);
}

/* ---- residual block: y = x + W2 relu(W1 relu(x) + b1) + b2 ------------------------------------
 */

typedef struct {
  double x[B * IN], w1[HID * IN], b1[HID], w2[IN * HID], b2[IN], r[B * IN];
  double h0[B * IN], h1[B * HID], h2[B * HID], y[B * IN]; /* activations */
} Residual;

static void residual_forward(Residual *s) {
  ovq_relu_forward(s->h0, s->x, B * IN);
  ovq_linear_forward(s->h1, s->h0, s->w1, s->b1, B, IN, HID);
  ovq_relu_forward(s->h2, s->h1, B * HID);
  ovq_linear_forward(s->y, s->h2, s->w2, s->b2, B, HID, IN);
  for (int i = 0; i < B * IN; i++)
    s->y[i] += s->x[i];
}

static double residual_loss(void *ctx) {
  Residual *s = ctx;
  residual_forward(s);
  return dot(s->y, s->r, B * IN);
}

static void check_residual(void) {
  Residual s;
  fill_away_from_zero(s.x, B * IN, 20);
  fill_normal(s.w1, HID * IN, 21);
  fill_normal(s.b1, HID, 22);
  fill_normal(s.w2, IN * HID, 23);
  fill_normal(s.b2, IN, 24);
  fill_normal(s.r, B * IN, 25);
  residual_forward(&s);
  /* The hidden ReLU's inputs must also stay clear of the kink for the differences to hold. */
  double closest = INFINITY;
  for (int i = 0; i < B * HID; i++)
    closest = fmin(closest, fabs(s.h1[i]));
  CHECK_MSG(closest > 1e-3, "hidden pre-activation %.3g too close to the ReLU kink", closest);

  double dw1[HID * IN] = {0}, db1[HID] = {0}, dw2[IN * HID] = {0}, db2[IN] = {0};
  double dh2[B * HID], dh1[B * HID], dh0[B * IN], dx[B * IN];
  ovq_linear_backward(dh2, dw2, db2, s.r, s.h2, s.w2, B, HID, IN);
  ovq_relu_backward(dh1, dh2, s.h1, B * HID);
  ovq_linear_backward(dh0, dw1, db1, dh1, s.h0, s.w1, B, IN, HID);
  ovq_relu_backward(dx, dh0, s.x, B * IN);
  for (int i = 0; i < B * IN; i++)
    dx[i] += s.r[i]; /* the skip connection */
  report("residual dW1", fd_check(residual_loss, &s, s.w1, dw1, HID * IN));
  report("residual db1", fd_check(residual_loss, &s, s.b1, db1, HID));
  report("residual dW2", fd_check(residual_loss, &s, s.w2, dw2, IN * HID));
  report("residual db2", fd_check(residual_loss, &s, s.b2, db2, IN));
  report("residual dx", fd_check(residual_loss, &s, s.x, dx, B * IN));
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  ovq_log_init(MPI_COMM_WORLD);
  check_linear();
  check_gelu();
  check_relu();
  check_residual();
  int rc = test_finish("test_nn_grad");
  MPI_Finalize();
  return rc;
}
