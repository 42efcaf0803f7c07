/* End-to-end science check: the synthetic BRCA cohort (1,100 samples, 5 true subtypes; fewer
 * genes than the default so the test stays short), the default preprocessing, a VQ-VAE
 * trained data-parallel in reproducible mode with a fixed seed (so the result is the same at
 * any rank count), k-means (k = 5, 10 restarts) on z_e and on the raw standardised matrix, and
 * the adjusted Rand index of each against the true subtypes.
 *
 * What it asserts, and what it does not: raw k-means must find the subtypes only partly (the
 * generator is meant to be hard, like TCGA), and the VQ-VAE latents must carry the subtypes far
 * above chance. It does NOT assert that the latents beat raw k-means: over training seeds
 * 1-5 (30 epochs) z_e gave ARI 0.42-0.87 against 0.67 for raw k-means, so on this data the
 * claim does not hold robustly (see the issue notes).
 * argv: [genes mirnas epochs seed [section.key=value ...]] to explore by hand. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ovq/kmeans.h"
#include "ovq/metrics.h"
#include "ovq/progress.h"
#include "ovq/prep.h"
#include "ovq/synth.h"
#include "ovq/trainer.h"

/* Bounds well inside the values observed (see the printout and the comment above). */
static const double kMinAriVq = 0.30, kMinAriRaw = 0.35, kMaxAriRaw = 0.90;

static double kmeans_ari(const float *x, int64_t n_local, int64_t d, const int32_t *truth,
                         MPI_Comm comm) {
  OvqKmeansParams p;
  ovq_kmeans_defaults(&p);
  p.k = 5;
  p.n_init = 10;
  p.seed = 7;
  OvqKmeansResult r;
  if (ovq_kmeans_fit(&p, x, n_local, d, comm, &r) != OVQ_OK) OVQ_ABORT("%s", ovq_error_message());
  OvqAgreement a;
  if (ovq_metrics_agreement(truth, r.labels, n_local, comm, &a) != OVQ_OK)
    OVQ_ABORT("%s", ovq_error_message());
  ovq_kmeans_result_free(&r);
  return a.ari;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  ovq_log_init(MPI_COMM_WORLD);
  ovq_log_set_level(OVQ_LOG_WARN);
  MPI_Comm comm = MPI_COMM_WORLD;
  OvqSynthParams sp;
  memset(&sp, 0, sizeof sp);
  sp.n_cancers = 1;
  strcpy(sp.cancers[0], "BRCA");
  sp.scale = 1.0;
  sp.seed = 42;
  sp.n_genes = argc > 1 ? atoll(argv[1]) : 2000;
  sp.n_mirnas = argc > 2 ? atoll(argv[2]) : 200;
  int64_t epochs = argc > 3 ? atoll(argv[3]) : 30;
  double t0 = ovq_time();
  OvqCohort c;
  if (ovq_synth_generate(&sp, comm, &c) != OVQ_OK) OVQ_ABORT("%s", ovq_error_message());
  static const char *kSub[] = {"LumA", "LumB", "Basal", "Her2", "Normal"};
  int32_t *truth = malloc(sizeof(int32_t) * (size_t)(c.n_local + 1));
  for (int64_t i = 0; i < c.n_local; i++) {
    truth[i] = -1;
    for (int k = 0; k < 5; k++)
      if (!strcmp(ovq_strings_at(&c.true_subtype, i), kSub[k])) truth[i] = k;
    CHECK(truth[i] >= 0);
  }
  OvqConfig cfg;
  ovq_config_defaults(&cfg);
  /* The run's default preprocessing (KNN imputation, standardisation). */
  OvqMatrix x;
  OvqPrepTransform tr;
  OvqPrepOptions po;
  ovq_prep_options_from_config(&cfg, &po);
  if (ovq_prep_fit(&c, &po, comm, &x, &tr, NULL) != OVQ_OK) OVQ_ABORT("%s", ovq_error_message());
  double var = ovq_matrix_variance(&x, comm);
  /* The paper's architecture, narrower for the smaller input. */
  strcpy(cfg.model.hidden, "512,128");
  cfg.train.epochs = epochs;
  cfg.train.seed = argc > 4 ? atoll(argv[4]) : 3;
  cfg.train.reproducible = 1;
  for (int i = 5; i < argc; i++)
    if (ovq_config_set(&cfg, argv[i], "argv") != OVQ_OK) OVQ_ABORT("%s", ovq_error_message());
  OvqModelSpec spec;
  if (ovq_model_spec_from_config(&cfg, x.n_cols, &spec) != OVQ_OK) OVQ_ABORT("spec");
  OvqTrainConfig tc;
  ovq_train_config_from_config(&cfg, &tc);
  OvqModel m;
  char msg[128];
  if (ovq_model_create(&m, &spec, tc.batch, ovq_train_grad_extra(&spec), msg, sizeof msg) != 0)
    OVQ_ABORT("%s", msg);
  ovq_model_init_params(&m, (uint64_t)cfg.train.seed);
  OvqHistory h;
  OvqTrainOutcome out;
  if (ovq_train(&m, &tc, &x, var, comm, &h, &out) != OVQ_OK) OVQ_ABORT("%s", ovq_error_message());
  float *ze = malloc(sizeof(float) * (size_t)(x.n_local * spec.latent + 1));
  ovq_model_embed_repro(&m, &x, tc.repro_workers, comm, ze, NULL, NULL);

  double ari_raw = kmeans_ari(x.x, x.n_local, x.n_cols, truth, comm);
  double ari_vq = kmeans_ari(ze, x.n_local, spec.latent, truth, comm);
  double secs = ovq_time_max(ovq_time() - t0, comm);
  int rank;
  MPI_Comm_rank(comm, &rank);
  if (rank == 0) {
    printf("synthetic BRCA %lld samples x %lld features, VQ-VAE %lld epochs (final loss %.4f, "
           "perplexity %.1f), %.1f s\n", (long long)x.n_total, (long long)x.n_cols,
           (long long)epochs, h.loss[h.n - 1], h.perplexity[h.n - 1], secs);
    printf("ARI vs true subtypes: k-means on raw standardised data %.3f (required in [%.2f, "
           "%.2f]), on VQ-VAE z_e %.3f (required >= %.2f)\n", ari_raw, kMinAriRaw, kMaxAriRaw,
           ari_vq, kMinAriVq);
  }
  CHECK_MSG(ari_raw >= kMinAriRaw && ari_raw <= kMaxAriRaw, "raw k-means ARI %.3f", ari_raw);
  CHECK_MSG(ari_vq >= kMinAriVq, "VQ-VAE ARI %.3f below %.2f", ari_vq, kMinAriVq);
  free(ze);
  free(truth);
  ovq_history_free(&h);
  ovq_model_destroy(&m);
  ovq_prep_free(&tr);
  ovq_matrix_free(&x);
  ovq_cohort_destroy(&c);
  int rc = test_finish("test_vq_ari");
  MPI_Finalize();
  return rc;
}
