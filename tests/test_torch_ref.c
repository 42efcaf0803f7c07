/* The models of include/ovq/model.h (float build) against PyTorch: for each fixture written by
 * tools/gen_torch_reference.py, the same initial parameter slab and batch must give the same
 * encoder output, codes (exactly), decoder output, loss terms and gradient of every parameter
 * tensor (to TOL relative), and the same total loss after each of 10 Adam steps (ADAM_TOL).
 * A fixture with an "omics" record balances the reconstruction over two omics
 * (model.recon_balance = omics): the weights come from ovq_omic_recon_weights, torch computes the
 * mean of the two blocks' MSE / variance directly.
 *
 *   test_torch_ref FIXTURE...      (tests/fixtures/torch_ref_*.txt)
 *
 * Relative differences are taken element by element against max(|torch|, FLOOR * max|torch|)
 * over the tensor: float32 sums with cancellation leave an absolute error of the order of the
 * tensor's scale, so an element far below that scale has no meaningful relative accuracy. */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ovq/adam.h"
#include "ovq/error.h"
#include "ovq/model.h"
#include "ovq/trainer.h"

#define TOL 1e-4
#define ADAM_TOL 1e-3
#define FLOOR 1e-2
enum { STEPS = 10, MAX_RECORDS = 32, MAX_TENSORS = 4 * 2 * OVQ_MODEL_MAX_OPS + 1 };

/* ---- the fixture: records "NAME COUNT" followed by COUNT numbers; '#' lines are comments ---- */

typedef struct {
  char name[32];
  int64_t n;
  double *v;
} Record;

typedef struct {
  int n;
  Record rec[MAX_RECORDS];
} Fixture;

static void fixture_free(Fixture *fx) {
  for (int i = 0; i < fx->n; i++)
    free(fx->rec[i].v);
  fx->n = 0;
}

/* Returns 0, or -1 with a message printed (unreadable file, malformed record). */
static int fixture_read(const char *path, Fixture *fx) {
  memset(fx, 0, sizeof *fx);
  FILE *f = fopen(path, "r");
  if (!f) {
    fprintf(stderr, "cannot open the fixture %s\n", path);
    return -1;
  }
  char tok[64];
  int rc = 0;
  while (fscanf(f, "%63s", tok) == 1) {
    if (tok[0] == '#') {
      int c;
      while ((c = fgetc(f)) != EOF && c != '\n')
        continue;
      continue;
    }
    long long n;
    if (fx->n == MAX_RECORDS || strlen(tok) >= sizeof fx->rec[0].name ||
        fscanf(f, "%lld", &n) != 1 || n < 0 || n > 100000000) {
      fprintf(stderr, "%s: bad record header at '%s'\n", path, tok);
      rc = -1;
      break;
    }
    Record *r = &fx->rec[fx->n++];
    snprintf(r->name, sizeof r->name, "%s", tok);
    r->n = n;
    r->v = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
    if (!r->v) OVQ_ABORT("out of memory reading %s", path);
    for (long long i = 0; i < n && rc == 0; i++)
      if (fscanf(f, "%lf", &r->v[i]) != 1) {
        fprintf(stderr, "%s: record %s: value %lld of %lld unreadable\n", path, tok, i, n);
        rc = -1;
      }
    if (rc) break;
  }
  fclose(f);
  if (rc) fixture_free(fx);
  return rc;
}

/* The record NAME; with n >= 0 it must have exactly n values. NULL (and a failed check) if not. */
static const double *fixture_get(const Fixture *fx, const char *name, int64_t n) {
  for (int i = 0; i < fx->n; i++)
    if (strcmp(fx->rec[i].name, name) == 0) {
      CHECK_MSG(n < 0 || fx->rec[i].n == n, "fixture record %s has %lld values, expected %lld",
                name, (long long)fx->rec[i].n, (long long)n);
      return n < 0 || fx->rec[i].n == n ? fx->rec[i].v : NULL;
    }
  CHECK_MSG(0, "fixture lacks the record %s", name);
  return NULL;
}

static int64_t fixture_count(const Fixture *fx, const char *name) {
  for (int i = 0; i < fx->n; i++)
    if (strcmp(fx->rec[i].name, name) == 0) return fx->rec[i].n;
  return -1;
}

/* ---- comparisons ------------------------------------------------------------------------------
 */

/* Largest |got - want| / max(|want|, FLOOR * max|want|) over n values (0 if want is all zero and
 * got equals it). */
static double rel_diff(const float *got, const double *want, int64_t n) {
  double scale = 0, worst = 0;
  for (int64_t i = 0; i < n; i++)
    scale = fmax(scale, fabs(want[i]));
  for (int64_t i = 0; i < n; i++) {
    double den = fmax(fabs(want[i]), FLOOR * scale), diff = fabs((double)got[i] - want[i]);
    double e = diff == 0 ? 0 : den > 0 ? diff / den : INFINITY;
    if (!(e <= worst)) worst = e; /* NaN sticks */
  }
  return worst;
}

static double rel_scalar(double got, double want) {
  double diff = fabs(got - want);
  return diff == 0 ? 0 : diff / fabs(want);
}

/* Slab tensors in slab order with the generator's names (net.op.w|b|w2|b2, codebook). */
typedef struct {
  char name[24];
  int64_t off, n;
} Tensor;

static int list_tensors(const OvqModel *m, Tensor *t) {
  int n = 0;
  const OvqNet *nets[2] = {&m->enc, &m->dec};
  const char *names[2] = {"enc", "dec"};
  for (int k = 0; k < 2; k++)
    for (int i = 0; i < nets[k]->n_ops; i++) {
      const OvqOp *op = &nets[k]->ops[i];
      if (op->type == OVQ_OP_LINEAR) {
        t[n++] = (Tensor){"", op->w, op->in * op->out};
        snprintf(t[n - 1].name, sizeof t[n - 1].name, "%s.%d.w", names[k], i);
        t[n++] = (Tensor){"", op->b, op->out};
        snprintf(t[n - 1].name, sizeof t[n - 1].name, "%s.%d.b", names[k], i);
      } else if (op->type == OVQ_OP_RES) {
        const char *suffix[4] = {"w", "b", "w2", "b2"};
        int64_t off[4] = {op->w, op->b, op->w2, op->b2};
        int64_t len[4] = {op->in * op->r, op->r, op->r * op->in, op->in};
        for (int j = 0; j < 4; j++) {
          t[n++] = (Tensor){"", off[j], len[j]};
          snprintf(t[n - 1].name, sizeof t[n - 1].name, "%s.%d.%s", names[k], i, suffix[j]);
        }
      }
    }
  if (m->codebook >= 0) t[n++] = (Tensor){"codebook", m->codebook, m->n_params - m->codebook};
  return n;
}

/* ---- one fixture ------------------------------------------------------------------------------
 */

static float *to_float(const double *v, int64_t n) {
  float *f = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
  if (!f) OVQ_ABORT("out of memory");
  for (int64_t i = 0; i < n; i++)
    f[i] = (float)v[i];
  return f;
}

/* Builds the spec from the "spec" record (see tools/gen_torch_reference.py); -1 if malformed. */
static int read_spec(const Fixture *fx, OvqModelSpec *s) {
  int64_t n = fixture_count(fx, "spec");
  const double *v = fixture_get(fx, "spec", -1);
  if (!v || n < 12 || n != 11 + (int64_t)v[10] || v[10] > OVQ_MODEL_MAX_HIDDEN) {
    CHECK_MSG(0, "malformed spec record");
    return -1;
  }
  memset(s, 0, sizeof *s);
  s->type = (OvqModelType)v[0];
  s->n_in = (int64_t)v[1];
  s->n_res = (int)v[2];
  s->res_width = (int64_t)v[3];
  s->latent = (int64_t)v[4];
  s->activation = (OvqActivation)v[5];
  s->codebook_size = (int64_t)v[6];
  s->groups = (int)v[7];
  s->beta = v[8];
  s->kl_weight = v[9];
  s->n_hidden = (int)v[10];
  for (int i = 0; i < s->n_hidden; i++)
    s->hidden[i] = (int64_t)v[11 + i];
  return 0;
}

/* Counts a comparison: prints the difference and fails if it exceeds tol. */
static void report(const char *label, const char *what, double diff, double tol) {
  printf("  %-16s %-14s max rel diff %.3g\n", label, what, diff);
  CHECK_MSG(diff <= tol, "%s: %s differs from torch by %.3g (tol %g)", label, what, diff, tol);
}

static void check_fixture(const char *path) {
  Fixture fx;
  CHECK_MSG(fixture_read(path, &fx) == 0, "fixture %s unreadable", path);
  if (fx.n == 0) return;
  const char *label = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
  if (strncmp(label, "torch_ref_", 10) == 0) label += 10;
  char name[64];
  snprintf(name, sizeof name, "%s", label);
  if (strrchr(name, '.')) *strrchr(name, '.') = '\0';
  printf("%s (%s)\n", name, path);

  OvqModelSpec spec;
  const double *batch = fixture_get(&fx, "batch", 2);
  if (read_spec(&fx, &spec) != 0 || !batch) {
    fixture_free(&fx);
    return;
  }
  const int64_t B = (int64_t)batch[0], F = spec.n_in, D = spec.latent;
  const double data_var = batch[1];
  const int vq = spec.type == OVQ_MODEL_VQVAE, vae = spec.type == OVQ_MODEL_VAE;
  const int64_t G = vq ? spec.groups : 0, D_out = vae ? 2 * D : D;
  OvqModel m;
  char msg[256];
  int rc = ovq_model_create(&m, &spec, B, 0, msg, sizeof msg);
  CHECK_MSG(rc == 0, "%s: ovq_model_create: %s", name, msg);
  if (rc != 0) {
    fixture_free(&fx);
    return;
  }
  const int64_t P = m.n_params;
  Tensor tensors[MAX_TENSORS];
  int nt = list_tensors(&m, tensors);

  const double *x_d = fixture_get(&fx, "x", B * F);
  const double *eps_d = vae ? fixture_get(&fx, "eps", B * D) : NULL;
  const double *offsets = fixture_get(&fx, "tensor_offsets", nt);
  const double *params = fixture_get(&fx, "params", P);
  const double *ze_w = fixture_get(&fx, "z_e", B * D_out);
  const double *codes_w = vq ? fixture_get(&fx, "codes", B * G) : NULL;
  const double *xh_w = fixture_get(&fx, "x_hat", B * F);
  const double *loss_w = fixture_get(&fx, "loss", 5);
  const double *grads_w = fixture_get(&fx, "grads", P);
  const double *adam_w = fixture_get(&fx, "adam_loss", STEPS);
  if (!x_d || (vae && !eps_d) || !offsets || !params || !ze_w || (vq && !codes_w) || !xh_w ||
      !loss_w || !grads_w || !adam_w) {
    ovq_model_destroy(&m);
    fixture_free(&fx);
    return;
  }
  /* The slab layouts must agree before any value can be compared. */
  int layout_ok = 1;
  for (int i = 0; i < nt; i++)
    layout_ok &= offsets[i] == (double)tensors[i].off;
  CHECK_MSG(layout_ok, "%s: the fixture's tensor offsets differ from the model's slab", name);
  if (!layout_ok) {
    ovq_model_destroy(&m);
    fixture_free(&fx);
    return;
  }

  float *x = to_float(x_d, B * F);
  float *eps = vae ? to_float(eps_d, B * D) : NULL;
  for (int64_t i = 0; i < P; i++)
    m.params[i] = (float)params[i];
  if (fixture_count(&fx, "omics") >= 0) {
    const double *n_first = fixture_get(&fx, "omics", 1);
    OvqMatrix xm;
    ovq_matrix_alloc(&xm, B, 0, B, F);
    memcpy(xm.x, x, sizeof(float) * (size_t)(B * F));
    double *w = malloc(sizeof(double) * (size_t)F);
    ovq_omic_recon_weights(&xm, n_first ? (int64_t)n_first[0] : F,
                           ovq_matrix_variance(&xm, MPI_COMM_SELF), MPI_COMM_SELF, w);
    CHECK(ovq_model_set_recon_weights(&m, w) == 0);
    printf("  %-16s omics: weights %.4f (first %lld features), %.4f (the other %lld)\n", name,
           w[0], (long long)(n_first ? n_first[0] : F), w[F - 1],
           (long long)(F - (n_first ? n_first[0] : F)));
    free(w);
    ovq_matrix_free(&xm);
  }

  /* Forward and backward at the initial parameters. */
  OvqLoss loss;
  memset(m.grads, 0, sizeof(float) * (size_t)P);
  ovq_model_forward(&m, x, B, B, data_var, eps, &loss);
  ovq_model_backward(&m, x, B, B, data_var);
  report(name, "z_e", rel_diff(m.enc.ops[m.enc.n_ops - 1].act, ze_w, B * D_out), TOL);
  if (vq) {
    int64_t wrong = 0;
    for (int64_t i = 0; i < B * G; i++)
      wrong += m.codes[i] != (int32_t)codes_w[i];
    printf("  %-16s %-14s %lld of %lld differ\n", name, "codes", (long long)wrong,
           (long long)(B * G));
    CHECK_MSG(wrong == 0, "%s: %lld codes differ from torch's", name, (long long)wrong);
  }
  report(name, "x_hat", rel_diff(m.dec.ops[m.dec.n_ops - 1].act, xh_w, B * F), TOL);
  const double got_loss[5] = {loss.recon, loss.codebook, loss.commitment, loss.kl, loss.total};
  const char *loss_names[5] = {"loss.recon", "loss.codebook", "loss.commit", "loss.kl",
                               "loss.total"};
  for (int k = 0; k < 5; k++)
    report(name, loss_names[k], rel_scalar(got_loss[k], loss_w[k]), TOL);
  double worst_grad = 0;
  for (int i = 0; i < nt; i++) {
    char what[40];
    snprintf(what, sizeof what, "d %.30s", tensors[i].name);
    double e = rel_diff(m.grads + tensors[i].off, grads_w + tensors[i].off, tensors[i].n);
    report(name, what, e, TOL);
    worst_grad = fmax(worst_grad, e);
  }
  printf("  %-16s %-14s max rel diff %.3g (over all tensors)\n", name, "gradients", worst_grad);

  /* Ten Adam steps on the same batch (and noise); the loss at the parameters after each. */
  OvqAdamConfig cfg;
  ovq_adam_defaults(&cfg);
  cfg.lr = 1e-3;
  float *am = calloc((size_t)P, sizeof(float)), *av = calloc((size_t)P, sizeof(float));
  if (!am || !av) OVQ_ABORT("out of memory");
  double worst_adam = 0;
  for (int t = 1; t <= STEPS; t++) {
    memset(m.grads, 0, sizeof(float) * (size_t)P);
    ovq_model_forward(&m, x, B, B, data_var, eps, &loss);
    ovq_model_backward(&m, x, B, B, data_var);
    ovq_adam_step(&cfg, t, m.params, m.grads, am, av, P, ovq_grad_norm(m.grads, P));
    ovq_model_forward(&m, x, B, B, data_var, eps, &loss);
    double e = rel_scalar(loss.total, adam_w[t - 1]);
    printf("  %-16s adam step %-4d loss %.8f torch %.8f rel diff %.3g\n", name, t, loss.total,
           adam_w[t - 1], e);
    worst_adam = fmax(worst_adam, e);
  }
  report(name, "adam losses", worst_adam, ADAM_TOL);

  free(am);
  free(av);
  free(x);
  free(eps);
  ovq_model_destroy(&m);
  fixture_free(&fx);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  ovq_log_init(MPI_COMM_WORLD);
  CHECK_MSG(argc > 1, "usage: test_torch_ref FIXTURE... (tests/fixtures/torch_ref_*.txt)");
  for (int i = 1; i < argc; i++)
    check_fixture(argv[i]);
  int rc = test_finish("test_torch_ref");
  MPI_Finalize();
  return rc;
}
