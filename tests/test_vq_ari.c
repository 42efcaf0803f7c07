/* End-to-end science check: the synthetic BRCA cohort (1,100 samples, 5 true subtypes; fewer
 * genes than the default so the test stays short), the default preprocessing, a VQ-VAE with
 * oncovq's default settings (narrower layers) trained data-parallel in reproducible mode with a
 * fixed seed (so the result is the same at any rank count), k-means (k = 5, 10 restarts) on z_e
 * and on the raw standardised matrix, and the adjusted Rand index of each against the truth.
 *
 * What it asserts: raw k-means finds the subtypes only partly (ARI 0.669: the sample-state
 * programmes of the generator dominate distances over all features); k-means on z_e finds them
 * better, by a wide margin (ARI >= 0.90 and at least 0.15 above raw); the codebook does not
 * collapse (at least 90 % of the codes in use in the last epoch).
 * Measured with the defaults over training seeds 1-8, 30 epochs (2026-11-24): z_e ARI 0.995,
 * 0.995, 0.995, 1.000, 0.994, 0.996, 0.996, 0.984 (z_q 0.986-0.998), 64 codes in use; on two
 * other cohorts (synth.seed 1 and 7, raw 0.671 / 0.677) 0.984-1.000.
 * What makes the difference is model.recon_balance = omics (each omic's reconstruction error
 * counts the same). With the paper's plain mean over all features (recon_balance = features) the
 * ~140 miRNAs are 8 % of the loss, and z_e gave 0.61-0.72 over the same seeds (this test fails), no better than raw
 * (earlier defaults: 0.21-0.78; notes of issue 3). Under the same balanced loss the plain AE stays
 * at raw's level (0.653, seed 1) while the VAE mean reaches 0.998: the discrete bottleneck, not
 * balancing alone, lifts the VQ-VAE. For fairness: on this generator the miRNA block alone
 * separates the subtypes (k-means on it: ARI 1.0), so raw k-means with the miRNAs weighted up
 * (prep.weight_mirna = 1.5) also reaches 0.999; the test compares with the unweighted matrix, as
 * the paper does.
 * argv: [genes mirnas epochs seed [section.key=value ...]] to explore by hand (synth.scale and
 * synth.seed change the cohort, model.type=vae trains the VAE); OVQ_VQ_ARI_VERBOSE=1 logs each
 * epoch, OVQ_VQ_ARI_DUMP=FILE and OVQ_VQ_ARI_DUMP_RAW=FILE write the latents / the prepared
 * matrix with the true subtype in the first column. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ovq/kmeans.h"
#include "ovq/metrics.h"
#include "ovq/prep.h"
#include "ovq/progress.h"
#include "ovq/synth.h"
#include "ovq/trainer.h"

/* Bounds well inside the values observed (see the printout and the comment above). */
static const double kMinAriVq = 0.90, kMinGain = 0.15, kMinAriRaw = 0.35, kMaxAriRaw = 0.90,
                    kMinUsed = 0.9;

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

/* Writes the rows of every rank (z [n_local][d], truth) to path from rank 0, for analysis by
 * hand (OVQ_VQ_ARI_DUMP). Collective on comm. */
static void dump(const char *path, const float *z, const int32_t *truth, int64_t n_local, int64_t d,
                 MPI_Comm comm) {
  int rank, size;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  int cnt = (int)(n_local * (d + 1)), *all = calloc((size_t)size, sizeof(int));
  int *disp = calloc((size_t)size, sizeof(int));
  MPI_Gather(&cnt, 1, MPI_INT, all, 1, MPI_INT, 0, comm);
  int total = 0;
  for (int r = 0; r < size; r++) {
    disp[r] = total;
    total += all[r];
  }
  float *mine = malloc(sizeof(float) * (size_t)(cnt + 1)),
        *buf = malloc(sizeof(float) * (size_t)(total + 1));
  for (int64_t i = 0; i < n_local; i++) {
    mine[i * (d + 1)] = (float)truth[i];
    memcpy(mine + i * (d + 1) + 1, z + i * d, sizeof(float) * (size_t)d);
  }
  MPI_Gatherv(mine, cnt, MPI_FLOAT, buf, all, disp, MPI_FLOAT, 0, comm);
  if (rank == 0) {
    FILE *f = fopen(path, "w");
    if (!f) OVQ_ABORT("cannot write %s", path);
    for (int k = 0; k < total; k++)
      fprintf(f, "%.7g%c", buf[k], (k + 1) % (d + 1) ? '\t' : '\n');
    fclose(f);
  }
  free(all);
  free(disp);
  free(mine);
  free(buf);
}

/* Trains the model of cfg on x (reproducible mode: the same weights at any rank count) and
 * returns its latents z [n_local][latent] (z_e for the VQ-VAE, the mean for the VAE), for the
 * VQ-VAE also z_q in *zq (else NULL), and the last epoch's history in *h. Collective. */
static float *train_latents(const OvqConfig *cfg, const OvqMatrix *x, int64_t n_mrna, double var,
                            MPI_Comm comm, float **zq, OvqHistory *h, int64_t *latent) {
  OvqModelSpec spec;
  if (ovq_model_spec_from_config(cfg, x->n_cols, &spec) != OVQ_OK) OVQ_ABORT("spec");
  OvqTrainConfig tc;
  ovq_train_config_from_config(cfg, &tc);
  OvqModel m;
  char msg[128];
  if (ovq_model_create(&m, &spec, tc.batch, ovq_train_grad_extra(&spec), msg, sizeof msg) != 0)
    OVQ_ABORT("%s", msg);
  ovq_model_init_params(&m, (uint64_t)cfg->train.seed);
  if (!strcmp(cfg->model.recon_balance, "omics")) /* as the train stage does */
    ovq_train_balance_omics(&m, x, n_mrna, var, comm);
  OvqTrainOutcome out;
  if (ovq_train(&m, &tc, x, var, comm, h, &out) != OVQ_OK) OVQ_ABORT("%s", ovq_error_message());
  size_t n = (size_t)(x->n_local * spec.latent + 1);
  float *z = malloc(sizeof(float) * n);
  *zq = spec.type == OVQ_MODEL_VQVAE ? malloc(sizeof(float) * n) : NULL;
  ovq_model_embed_repro(&m, x, tc.repro_workers, comm, z, *zq, NULL);
  *latent = spec.latent;
  ovq_model_destroy(&m);
  return z;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  ovq_log_init(MPI_COMM_WORLD);
  ovq_log_set_level(getenv("OVQ_VQ_ARI_VERBOSE") ? OVQ_LOG_INFO : OVQ_LOG_WARN);
  MPI_Comm comm = MPI_COMM_WORLD;
  int rank;
  MPI_Comm_rank(comm, &rank);
  double t0 = ovq_time();
  /* The defaults of `oncovq` (model, training, preprocessing), with the paper's architecture
   * narrower for the smaller input and reproducible mode; argv overrides come last (synth.scale
   * and synth.seed change the cohort). */
  OvqConfig cfg;
  ovq_config_defaults(&cfg);
  strcpy(cfg.model.hidden, "512,128");
  cfg.train.epochs = argc > 3 ? atoll(argv[3]) : 30;
  cfg.train.seed = argc > 4 ? atoll(argv[4]) : 3;
  cfg.train.reproducible = 1;
  for (int i = 5; i < argc; i++)
    if (ovq_config_set(&cfg, argv[i], "argv") != OVQ_OK) OVQ_ABORT("%s", ovq_error_message());
  OvqSynthParams sp;
  memset(&sp, 0, sizeof sp);
  sp.n_cancers = 1;
  strcpy(sp.cancers[0], "BRCA");
  sp.scale = cfg.synth.scale;
  sp.seed = (uint64_t)cfg.synth.seed;
  sp.n_genes = argc > 1 ? atoll(argv[1]) : 2000;
  sp.n_mirnas = argc > 2 ? atoll(argv[2]) : 200;
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
  /* The run's default preprocessing (KNN imputation, standardisation). */
  OvqMatrix x;
  OvqPrepTransform tr;
  OvqPrepOptions po;
  ovq_prep_options_from_config(&cfg, &po);
  if (ovq_prep_fit(&c, &po, comm, &x, &tr, NULL) != OVQ_OK) OVQ_ABORT("%s", ovq_error_message());
  double var = ovq_matrix_variance(&x, comm);
  double ari_raw = kmeans_ari(x.x, x.n_local, x.n_cols, truth, comm);

  OvqHistory h;
  float *zq = NULL;
  int64_t D = 0;
  float *z = train_latents(&cfg, &x, tr.n_mrna, var, comm, &zq, &h, &D);
  int is_vq = zq != NULL;
  double ari_z = kmeans_ari(z, x.n_local, D, truth, comm);
  double ari_zq = is_vq ? kmeans_ari(zq, x.n_local, D, truth, comm) : 0.0;
  if (getenv("OVQ_VQ_ARI_DUMP")) dump(getenv("OVQ_VQ_ARI_DUMP"), z, truth, x.n_local, D, comm);
  if (getenv("OVQ_VQ_ARI_DUMP_RAW"))
    dump(getenv("OVQ_VQ_ARI_DUMP_RAW"), x.x, truth, x.n_local, x.n_cols, comm);
  int64_t K = cfg.model.codebook_size * cfg.model.groups, used = h.used_codes[h.n - 1];
  double secs = ovq_time_max(ovq_time() - t0, comm);
  if (rank == 0) {
    printf("synthetic BRCA %lld samples x %lld features, %s %lld epochs (final loss %.4f, "
           "perplexity %.1f, used codes %lld/%lld), %.1f s\n",
           (long long)x.n_total, (long long)x.n_cols, cfg.model.type, (long long)cfg.train.epochs,
           h.loss[h.n - 1], h.perplexity[h.n - 1], (long long)used, (long long)(is_vq ? K : 0),
           secs);
    printf("ARI vs true subtypes: k-means on raw standardised data %.3f (required in [%.2f, "
           "%.2f]), on %s %.3f (required >= %.2f and >= raw + %.2f)\n",
           ari_raw, kMinAriRaw, kMaxAriRaw, is_vq ? "VQ-VAE z_e" : "the latents", ari_z, kMinAriVq,
           kMinGain);
    printf("diagnostics: recon %.4f, used codes %lld (required >= %.0f), ARI of k-means on z_q "
           "%.3f\n",
           h.recon[h.n - 1], (long long)used, kMinUsed * (double)K, ari_zq);
  }
  CHECK_MSG(ari_raw >= kMinAriRaw && ari_raw <= kMaxAriRaw, "raw k-means ARI %.3f", ari_raw);
  CHECK_MSG(ari_z >= kMinAriVq, "%s ARI %.3f below %.2f", cfg.model.type, ari_z, kMinAriVq);
  CHECK_MSG(ari_z >= ari_raw + kMinGain, "%s ARI %.3f does not beat raw k-means (%.3f) by %.2f",
            cfg.model.type, ari_z, ari_raw, kMinGain);
  if (is_vq)
    CHECK_MSG((double)used >= kMinUsed * (double)K, "codebook collapse: %lld of %lld codes used",
              (long long)used, (long long)K);
  free(z);
  free(zq);
  free(truth);
  ovq_history_free(&h);
  ovq_prep_free(&tr);
  ovq_matrix_free(&x);
  ovq_cohort_destroy(&c);
  int rc = test_finish("test_vq_ari");
  MPI_Finalize();
  return rc;
}
