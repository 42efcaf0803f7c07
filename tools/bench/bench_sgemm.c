/* Single-thread OpenBLAS sgemm rates at the shapes of the VQ-VAE's training step, and the memory
 * bandwidth of one optimiser-shaped pass, for tools/bench/bench_train.sh.
 *
 *   cc -O3 -fno-math-errno bench_sgemm.c -o bench_sgemm $(pkg-config --cflags --libs openblas)
 *   OPENBLAS_NUM_THREADS=1 ./bench_sgemm [--step-only] [N F B h1 h2 r D K]
 *        (defaults: 1100 21800 256 2048 512 64 64 64, the BRCA-sized default model;
 *        --step-only skips the single shapes, for runs of one copy per core that measure a
 *        rank's share of the step under data parallelism: N/ranks samples in batches of B/ranks)
 *
 * Prints, for humans, one line per GEMM shape (row-major cblas_sgemm as src/nn/layers.c calls
 * it: forward y = x W^T is NT, dW += dy^T x is TN, dx = dy W is NN) and then key=value lines
 * for the driver script:
 *   peak_gflops     the best rate over all shapes measured (the "sgemm peak")
 *   square_gflops   2048^3 NN
 *   step_gemm_s     every GEMM of one training step at batch B, in the order the model runs them
 *                   (the first layer's dx is not computed: the data need no gradient)
 *   epoch_gemm_s    the same for one epoch of N samples (full batches + the remainder batch)
 *   step_gemm_flop  FLOPs of the GEMMs of one full step; nominal_step_flop = 6 P B
 *   n_params        P of the model (weights, biases, codebook K x D)
 *   stream_gbs      bandwidth of a pass reading 4 and writing 3 float arrays of P elements
 *                   (the traffic of Adam: p, g, m, v in; p, m, v out) with only FMAs
 *   adam_pass_s     one pass of the real Adam update over P parameters: ovq_adam_step from
 *                   the project's library (linked in), as training runs it
 * Each figure is the best of several repetitions after a warm-up. */
#include <cblas.h>

#include "ovq/adam.h"
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* OpenBLAS extensions (declared by its cblas.h; repeated here so another cblas.h still works). */
extern char *openblas_get_corename(void);
extern char *openblas_get_config(void);
extern void openblas_set_num_threads(int);

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static float *alloc_fill(size_t n, float v) {
  float *p = malloc(n * sizeof *p);
  if (!p) {
    fprintf(stderr, "bench_sgemm: out of memory (%zu floats)\n", n);
    exit(1);
  }
  /* Small varied values: no denormals, no overflow, and every page touched before timing. */
  for (size_t i = 0; i < n; i++)
    p[i] = v * (float)((i * 2654435761u) % 1000) * 1e-3f;
  return p;
}

typedef enum { NT, TN, NN } Kind;
static const char *kind_name[] = {"NT", "TN", "NN"};

/* C[m][n] (+)= op(A) op(B), leading dimensions as layers.c passes them. */
static void gemm(Kind kind, int m, int n, int k, const float *A, const float *B, float beta,
                 float *C) {
  switch (kind) {
  case NT:
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.f, A, k, B, k, beta, C, n);
    break;
  case TN:
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, m, n, k, 1.f, A, m, B, n, beta, C, n);
    break;
  case NN:
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.f, A, k, B, n, beta, C, n);
    break;
  }
}

/* Rate of one shape: best of reps after one warm-up call; repeats a call until >= 0.2 s. */
static double rate_of(Kind kind, int m, int n, int k, float beta, const char *what) {
  float *A = alloc_fill((size_t)m * k, 1.f), *B = alloc_fill((size_t)k * n, 1.f);
  float *C = alloc_fill((size_t)m * n, 0.f);
  double flop = 2.0 * m * n * k, best = 1e30;
  gemm(kind, m, n, k, A, B, beta, C);
  for (int rep = 0; rep < 3; rep++) {
    int calls = 0;
    double t0 = now(), el;
    do {
      gemm(kind, m, n, k, A, B, beta, C);
      calls++;
      el = now() - t0;
    } while (el < 0.2);
    if (el / calls < best) best = el / calls;
  }
  double g = flop / best * 1e-9;
  printf("  sgemm %s m=%-6d n=%-6d k=%-6d beta=%g  %8.2f ms  %7.2f GFLOP/s  %s\n", kind_name[kind],
         m, n, k, (double)beta, best * 1e3, g, what);
  free(A);
  free(B);
  free(C);
  return g;
}

/* The linear maps of the model in the order model.c builds them (encoder then decoder); the
 * residual block is two maps h -> r -> h. dx = 0 for the map whose input is the data. */
typedef struct {
  int in, out, dx;
} Lin;

typedef struct {
  int n;
  Lin l[16];
  float *w[16], *dw[16], *act[17], *dact[17];
} Net;

static void net_add(Net *net, int in, int out, int dx) {
  net->l[net->n++] = (Lin){in, out, dx};
}

/* All GEMMs of one step at batch b: forward of every map, then backward in reverse (dW, then dx
 * if needed). Biases, activations and the loss are left out: this is the GEMM work only. */
static void step_gemms(Net *net, int b) {
  for (int i = 0; i < net->n; i++)
    gemm(NT, b, net->l[i].out, net->l[i].in, net->act[i], net->w[i], 1.f, net->act[i + 1]);
  for (int i = net->n - 1; i >= 0; i--) {
    gemm(TN, net->l[i].out, net->l[i].in, b, net->dact[i + 1], net->act[i], 1.f, net->dw[i]);
    if (net->l[i].dx)
      gemm(NN, b, net->l[i].in, net->l[i].out, net->dact[i + 1], net->w[i], 0.f, net->dact[i]);
  }
}

static double best_time_step(Net *net, int b) {
  if (b <= 0) return 0.0;
  step_gemms(net, b);
  double best = 1e30;
  for (int rep = 0; rep < 3; rep++) {
    double t0 = now();
    step_gemms(net, b);
    double el = now() - t0;
    if (el < best) best = el;
  }
  return best;
}

/* The traffic of Adam (4 streams in, 3 out) with cheap arithmetic: a bandwidth measurement. */
static void stream_pass(float *restrict p, const float *restrict g, float *restrict m,
                        float *restrict v, size_t n) {
  for (size_t i = 0; i < n; i++) {
    float gi = g[i];
    float mi = 0.9f * m[i] + 0.1f * gi;
    float vi = 0.999f * v[i] + 0.001f * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = p[i] - 1e-3f * mi + 1e-9f * vi;
  }
}

int main(int argc, char **argv) {
  long a[8] = {1100, 21800, 256, 2048, 512, 64, 64, 64};
  int step_only = argc > 1 && strcmp(argv[1], "--step-only") == 0;
  for (int i = 1 + step_only; i < argc && i - step_only <= 8; i++) {
    char *end;
    a[i - 1 - step_only] = strtol(argv[i], &end, 10);
    if (*end || a[i - 1 - step_only] < 1) {
      fprintf(stderr, "bench_sgemm: argument '%s' is not a positive integer\n", argv[i]);
      return 2;
    }
  }
  const int N = (int)a[0], F = (int)a[1], B = (int)a[2], h1 = (int)a[3], h2 = (int)a[4],
            r = (int)a[5], D = (int)a[6], K = (int)a[7];
  setvbuf(stdout, NULL, _IOLBF, 0); /* progress shows through the driver's tee */
  openblas_set_num_threads(1);
  printf("OpenBLAS: %s (core %s), 1 thread\n", openblas_get_config(), openblas_get_corename());
  printf("model: N=%d F=%d B=%d hidden %d,%d res %d latent %d codebook %d\n", N, F, B, h1, h2, r, D,
         K);

  /* ---- single shapes ---- */
  double peak = 0, g, square = 0;
#define TRY(kind, m, n, k, beta, what)                                                             \
  do {                                                                                             \
    g = rate_of(kind, m, n, k, beta, what);                                                        \
    if (g > peak) peak = g;                                                                        \
  } while (0)
  if (!step_only) {
    printf("single shapes (best of 3 after a warm-up):\n");
    TRY(NT, B, h1, F, 1.f, "enc L1 forward   y = x W^T");
    TRY(TN, h1, F, B, 1.f, "enc L1 backward  dW += dy^T x");
    TRY(NT, B, F, h1, 1.f, "dec L4 forward");
    TRY(TN, F, h1, B, 1.f, "dec L4 backward  dW");
    TRY(NN, B, h1, F, 0.f, "dec L4 backward  dx = dy W");
    TRY(NT, B, h2, h1, 1.f, "enc L2 forward");
    TRY(TN, h2, h1, B, 1.f, "enc L2 backward  dW");
    TRY(NN, B, h1, h2, 0.f, "dec L3 backward  dx");
    square = rate_of(NN, 2048, 2048, 2048, 0.f, "square 2048^3");
    if (square > peak) peak = square;
  }

  /* ---- the step's GEMM sequence ---- */
  Net net = {0};
  net_add(&net, F, h1, 0);
  net_add(&net, h1, h2, 1);
  net_add(&net, h2, r, 1);
  net_add(&net, r, h2, 1);
  net_add(&net, h2, D, 1);
  net_add(&net, D, h2, 1);
  net_add(&net, h2, r, 1);
  net_add(&net, r, h2, 1);
  net_add(&net, h2, h1, 1);
  net_add(&net, h1, F, 1);
  double wflop = 0;
  long long n_params = (long long)K * D;
  for (int i = 0; i < net.n; i++) {
    Lin l = net.l[i];
    net.w[i] = alloc_fill((size_t)l.in * l.out, 1e-2f);
    net.dw[i] = alloc_fill((size_t)l.in * l.out, 0.f);
    net.act[i] = alloc_fill((size_t)B * l.in, 1.f);
    net.dact[i] = alloc_fill((size_t)B * l.in, 1e-3f);
    wflop += 2.0 * l.in * l.out * (l.dx ? 3 : 2);
    n_params += (long long)l.in * l.out + l.out;
  }
  net.act[net.n] = alloc_fill((size_t)B * F, 1.f);
  net.dact[net.n] = alloc_fill((size_t)B * F, 1e-3f);
  /* The codebook distances: one NT GEMM [B][D] x [K][D]^T (negligible, included for honesty). */
  wflop += 2.0 * D * K;
  double t_full = best_time_step(&net, B), t_rem = best_time_step(&net, N % B);
  double step_flop = wflop * B, nominal = 6.0 * (double)n_params * B;
  double epoch_gemm = (N / B) * t_full + t_rem;
  printf("step GEMMs at B=%d: %.1f ms, %.1f GFLOP executed (%.1f nominal 6PB): %.2f GFLOP/s\n", B,
         t_full * 1e3, step_flop * 1e-9, nominal * 1e-9, step_flop / t_full * 1e-9);
  printf("epoch GEMMs (%d x B=%d + B=%d): %.3f s\n", N / B, B, N % B, epoch_gemm);
  for (int i = 0; i < net.n; i++) {
    free(net.w[i]);
    free(net.dw[i]);
    free(net.act[i]);
    free(net.dact[i]);
  }
  free(net.act[net.n]);
  free(net.dact[net.n]);

  /* ---- optimiser passes over P parameters ---- */
  size_t P = (size_t)n_params;
  float *p = alloc_fill(P, 1e-2f), *gr = alloc_fill(P, 1e-3f), *m = alloc_fill(P, 0.f),
        *v = alloc_fill(P, 0.f);
  double best_stream = 1e30, best_adam = 1e30;
  for (int rep = 0; rep < 4; rep++) {
    double t0 = now();
    stream_pass(p, gr, m, v, P);
    double el = now() - t0;
    if (rep > 0 && el < best_stream) best_stream = el;
  }
  OvqAdamConfig ac;
  ovq_adam_defaults(&ac);
  for (int rep = 0; rep < 4; rep++) {
    double t0 = now();
    ovq_adam_step(&ac, rep + 1, p, gr, m, v, (int64_t)P, 0.0);
    double el = now() - t0;
    if (rep > 0 && el < best_adam) best_adam = el;
  }
  double bytes = 28.0 * (double)P; /* 4 reads + 3 writes of 4 bytes */
  printf("optimiser pass over %lld params (%.2f GB moved): stream %.1f ms = %.1f GB/s; "
         "Adam loop %.1f ms = %.1f GB/s\n",
         n_params, bytes * 1e-9, best_stream * 1e3, bytes / best_stream * 1e-9, best_adam * 1e3,
         bytes / best_adam * 1e-9);
  /* Keep the results live so the passes are not optimised away. */
  double chk = 0;
  for (size_t i = 0; i < P; i += 4096)
    chk += p[i];
  free(p);
  free(gr);
  free(m);
  free(v);

  if (!step_only) {
    printf("peak_gflops=%.3f\n", peak);
    printf("square_gflops=%.3f\n", square);
  }
  printf("step_gemm_s=%.6f\n", t_full);
  printf("epoch_gemm_s=%.6f\n", epoch_gemm);
  printf("step_gemm_flop=%.6e\n", step_flop);
  printf("nominal_step_flop=%.6e\n", nominal);
  printf("n_params=%lld\n", n_params);
  printf("stream_gbs=%.3f\n", bytes / best_stream * 1e-9);
  printf("adam_pass_s=%.6f\n", best_adam);
  printf("checksum=%g\n", chk);
  return 0;
}
