/* Unit test of src/nn/adam.c: the learning-rate schedule against hand-computed values, the
 * gradient norm, and three update steps of Adam, AdamW, Adam with clipping and AdamW with
 * clipping and the schedule, compared with (1) a double-precision re-implementation of torch's
 * formulas written out below and (2) the trajectories torch.optim.Adam / AdamW produced for the
 * same inputs (argv[1] = tests/fixtures/adam_ref.txt, made by tools/gen_adam_fixture.py), to
 * 1e-6 relative to each state tensor's largest element. */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ovq/adam.h"
#include "ovq/error.h"

#define N 5
#define STEPS 3
#define NCASES 4
#define TOL 1e-6

/* Keep identical to CASES, P0 and GRADS in tools/gen_adam_fixture.py. */
typedef struct {
  const char *name;
  OvqAdamConfig c;
} Case;
static const Case CASES[NCASES] = {
    {"adam", {0.05, 0.9, 0.999, 1e-8, 0.0, 0.0, 0, 0, 0.0}},
    {"adamw", {0.05, 0.9, 0.999, 1e-8, 0.1, 0.0, 0, 0, 0.0}},
    /* Step 1's norm (0.377) is below 0.45, so clipping is off there and on in steps 2 and 3. */
    {"adam_clip", {0.05, 0.9, 0.999, 1e-8, 0.0, 0.45, 0, 0, 0.0}},
    {"adamw_clip_sched", {0.05, 0.8, 0.99, 1e-6, 0.1, 0.45, 1, 3, 0.1}},
};
static const float P0[N] = {0.5f, -1.25f, 2.0f, -0.75f, 1.5f};
static const float GRADS[STEPS][N] = {
    {0.1f, -0.2f, 0.3f, 0.0f, -0.05f},
    {-0.4f, 0.25f, 0.1f, 0.05f, 0.0f},
    {0.2f, 0.2f, -0.6f, -0.1f, 0.35f},
};

static double rel_err(double a, double b) {
  double d = fabs(a - b);
  return d == 0 ? 0 : d / fmax(fabs(a), fabs(b));
}

/* Relative difference of one state tensor (p, m or v): max |got - want| / max |want|. Not element
 * by element, because m is a difference of terms (b1 m vs (1 - b1) g) and an element that nearly
 * cancels magnifies float rounding (e.g. a clip coefficient one float ulp away from torch's,
 * which takes its norm in float) to ~1e-6 of itself while staying ~1e-7 of the tensor. */
static double tensor_err(const float *got, const double *want) {
  double num = 0, den = 0;
  for (int i = 0; i < N; i++) {
    num = fmax(num, fabs(got[i] - want[i]));
    den = fmax(den, fabs(want[i]));
  }
  return den > 0 ? num / den : num;
}

/* torch's update, step t, in double: clip_grad_norm_, then AdamW's p *= 1 - lr wd (a no-op for
 * wd = 0, i.e. torch.optim.Adam), the moment updates, and p -= (lr / bc1) m / (sqrt(v) / sqrt(bc2)
 * + eps). */
static void reference_step(const OvqAdamConfig *c, int64_t t, double *p, const float *g, double *m,
                           double *v) {
  double norm = 0;
  for (int i = 0; i < N; i++)
    norm += (double)g[i] * g[i];
  norm = sqrt(norm);
  double coef = 1;
  if (c->clip_norm > 0 && c->clip_norm / (norm + 1e-6) < 1) coef = c->clip_norm / (norm + 1e-6);
  double lr = ovq_adam_lr(c, t);
  double bc1 = 1 - pow(c->beta1, (double)t), bc2 = 1 - pow(c->beta2, (double)t);
  for (int i = 0; i < N; i++) {
    double gi = g[i] * coef;
    p[i] *= 1 - lr * c->weight_decay;
    m[i] = c->beta1 * m[i] + (1 - c->beta1) * gi;
    v[i] = c->beta2 * v[i] + (1 - c->beta2) * gi * gi;
    p[i] -= (lr / bc1) * m[i] / (sqrt(v[i]) / sqrt(bc2) + c->eps);
  }
}

/* Runs the library's optimiser for STEPS steps on case k, storing the state after each step. */
static void run_case(int k, float out[STEPS][3][N]) {
  float p[N], m[N] = {0}, v[N] = {0};
  memcpy(p, P0, sizeof p);
  for (int t = 1; t <= STEPS; t++) {
    double norm = ovq_grad_norm(GRADS[t - 1], N);
    ovq_adam_step(&CASES[k].c, t, p, GRADS[t - 1], m, v, N, norm);
    memcpy(out[t - 1][0], p, sizeof p);
    memcpy(out[t - 1][1], m, sizeof m);
    memcpy(out[t - 1][2], v, sizeof v);
  }
}

static void check_schedule(void) {
  OvqAdamConfig c;
  ovq_adam_defaults(&c);
  CHECK(c.lr == 1e-3 && c.beta1 == 0.9 && c.beta2 == 0.999 && c.eps == 1e-8);
  CHECK(c.weight_decay == 0 && c.clip_norm == 0 && c.warmup_steps == 0 && c.total_steps == 0);
  CHECK(ovq_adam_lr(&c, 1) == 1e-3 && ovq_adam_lr(&c, 100000) == 1e-3);

  /* lr 1e-3, warm-up 10, cosine to 1e-4 at step 110: the cosine runs over t - 10 in (0, 100).
   * Hand values: t = 11 is 1/100 in, 0.5 (1 + cos(pi / 100)) = 0.99975328018287; t = 35 is a
   * quarter in, 0.5 (1 + cos(pi / 4)) = 0.85355339059327. */
  c.warmup_steps = 10;
  c.total_steps = 110;
  c.min_lr_ratio = 0.1;
  const struct {
    int64_t t;
    double lr;
  } want[] = {
      {1, 1e-4},                /* warm-up start */
      {5, 5e-4},                /* warm-up middle */
      {10, 1e-3},               /* warm-up end: the peak */
      {11, 9.9977795216458e-4}, /* first cosine step: 1e-4 + 9e-4 * 0.99975328018287 */
      {35, 8.6819805153395e-4}, /* 1e-4 + 9e-4 * 0.85355339059327 */
      {60, 5.5e-4},             /* cosine middle: halfway between peak and floor */
      {110, 1e-4},              /* end: the floor */
      {200, 1e-4},              /* past the end */
  };
  double worst = 0;
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    double got = ovq_adam_lr(&c, want[i].t), e = rel_err(got, want[i].lr);
    CHECK_MSG(e < 1e-12, "lr(t=%lld) = %.17g, want %.17g", (long long)want[i].t, got, want[i].lr);
    worst = fmax(worst, e);
  }
  /* Warm-up without decay stays at the peak afterwards. */
  c.total_steps = 0;
  CHECK(ovq_adam_lr(&c, 5) == 5e-4 && ovq_adam_lr(&c, 11) == 1e-3 && ovq_adam_lr(&c, 5000) == 1e-3);
  printf("schedule: max relative error %.3g\n", worst);
}

static void check_grad_norm(void) {
  /* 3-4-12-84 is a Pythagorean chain: sqrt(9 + 16 + 144 + 7056) = 85; 21 elements exercise both
   * the 8-wide body and the tail. */
  float g[21] = {0};
  g[0] = 3;
  g[9] = -4;
  g[17] = 12;
  g[20] = -84;
  CHECK(ovq_grad_norm(g, 21) == 85.0);
  CHECK(ovq_grad_norm(g, 0) == 0.0);
}

/* Library (float) against the double re-implementation, every tensor after every step. */
static void check_against_reference(void) {
  for (int k = 0; k < NCASES; k++) {
    float got[STEPS][3][N];
    run_case(k, got);
    double p[N], m[N] = {0}, v[N] = {0}, worst = 0;
    for (int i = 0; i < N; i++)
      p[i] = P0[i];
    for (int t = 1; t <= STEPS; t++) {
      reference_step(&CASES[k].c, t, p, GRADS[t - 1], m, v);
      worst = fmax(worst, tensor_err(got[t - 1][0], p));
      worst = fmax(worst, tensor_err(got[t - 1][1], m));
      worst = fmax(worst, tensor_err(got[t - 1][2], v));
    }
    printf("%s vs double reference: max relative error %.3g\n", CASES[k].name, worst);
    CHECK_MSG(worst < TOL, "%s: %.3g", CASES[k].name, worst);
  }
}

/* Reads up to n numbers from the rest of a fixture line; returns how many it read. */
static int read_numbers(const char *s, double *out, int n) {
  int count = 0;
  char *end;
  for (; count < n; count++) {
    out[count] = strtod(s, &end);
    if (end == s) break;
    s = end;
  }
  return count;
}

static int case_index(const char *name) {
  for (int k = 0; k < NCASES; k++)
    if (strcmp(CASES[k].name, name) == 0) return k;
  return -1;
}

/* Library (float) against torch's float32 trajectories. The fixture also carries the inputs it
 * was made from; they must equal the tables above, or the comparison would be meaningless. */
static void check_against_torch(const char *path) {
  FILE *f = fopen(path, "r");
  CHECK_MSG(f != NULL, "cannot open the fixture %s", path);
  if (!f) return;
  double want[NCASES][STEPS][3 * N];
  int have[NCASES][STEPS] = {{0}};
  char line[4096];
  while (fgets(line, sizeof line, f)) {
    char kind[16], name[64];
    int used = 0;
    if (line[0] == '#' || sscanf(line, "%15s %63s %n", kind, name, &used) < 2) continue;
    int k = case_index(name);
    CHECK_MSG(k >= 0, "fixture case %s unknown to the test", name);
    if (k < 0) continue;
    const char *rest = line + used;
    double x[3 * N + 9];
    if (strcmp(kind, "config") == 0) {
      const OvqAdamConfig *c = &CASES[k].c;
      CHECK_MSG(read_numbers(rest, x, 9) == 9 && x[0] == c->lr && x[1] == c->beta1 &&
                    x[2] == c->beta2 && x[3] == c->eps && x[4] == c->weight_decay &&
                    x[5] == c->clip_norm && x[6] == (double)c->warmup_steps &&
                    x[7] == (double)c->total_steps && x[8] == c->min_lr_ratio,
                "fixture config of %s differs from the test's", name);
    } else if (strcmp(kind, "init") == 0) {
      int ok = read_numbers(rest, x, N) == N;
      for (int i = 0; ok && i < N; i++)
        ok = (float)x[i] == P0[i];
      CHECK_MSG(ok, "fixture initial parameters of %s differ from the test's", name);
    } else {
      char *end;
      long t = strtol(rest, &end, 10);
      CHECK_MSG(t >= 1 && t <= STEPS, "fixture %s %s: bad step", kind, name);
      if (t < 1 || t > STEPS) continue;
      if (strcmp(kind, "grad") == 0) {
        int ok = read_numbers(end, x, N) == N;
        for (int i = 0; ok && i < N; i++)
          ok = (float)x[i] == GRADS[t - 1][i];
        CHECK_MSG(ok, "fixture gradient %ld of %s differs from the test's", t, name);
      } else if (strcmp(kind, "state") == 0) {
        CHECK_MSG(read_numbers(end, want[k][t - 1], 3 * N) == 3 * N, "short state line");
        have[k][t - 1] = 1;
      } else {
        CHECK_MSG(0, "unknown fixture line kind %s", kind);
      }
    }
  }
  fclose(f);
  for (int k = 0; k < NCASES; k++) {
    float got[STEPS][3][N];
    run_case(k, got);
    double worst = 0;
    for (int t = 0; t < STEPS; t++) {
      CHECK_MSG(have[k][t], "fixture lacks step %d of %s", t + 1, CASES[k].name);
      if (!have[k][t]) continue;
      for (int j = 0; j < 3; j++)
        worst = fmax(worst, tensor_err(got[t][j], want[k][t] + j * N));
    }
    printf("%s vs torch: max relative error %.3g\n", CASES[k].name, worst);
    CHECK_MSG(worst < TOL, "%s: %.3g", CASES[k].name, worst);
  }
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  ovq_log_init(MPI_COMM_WORLD);
  check_schedule();
  check_grad_norm();
  check_against_reference();
  CHECK_MSG(argc > 1, "usage: test_adam FIXTURE (tests/fixtures/adam_ref.txt)");
  if (argc > 1) check_against_torch(argv[1]);
  int rc = test_finish("test_adam");
  MPI_Finalize();
  return rc;
}
