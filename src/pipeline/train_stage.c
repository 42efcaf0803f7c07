/* Train stage: one model on a prepared matrix, written to a results file (ovq/pipeline.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ovq/pipeline.h"
#include "ovq/progress.h"
#include "ovq/trainer.h"

static void write_model(OvqResults *r, const OvqModel *m, const OvqHistory *h,
                        const OvqMatrix *x, const OvqLatents *lat, double data_var,
                        const char *type) {
  char name[128];
  const int64_t D = m->spec.latent;
  snprintf(name, sizeof name, "/models/%s/params", type);
  ovq_results_write_array(r, name, H5T_NATIVE_FLOAT, m->params, m->n_params, 0);
  if (m->codebook >= 0) {
    int64_t d = D / m->spec.groups;
    snprintf(name, sizeof name, "/models/%s/codebook", type);
    ovq_results_write_array(r, name, H5T_NATIVE_FLOAT, m->params + m->codebook,
                            m->spec.groups * m->spec.codebook_size, d);
  }
  const struct {
    const char *n;
    const double *v;
  } series[] = {{"loss", h->loss},   {"recon", h->recon},           {"codebook", h->codebook},
                {"commitment", h->commitment}, {"kl", h->kl}, {"perplexity", h->perplexity},
                {"seconds", h->seconds}};
  for (size_t i = 0; i < sizeof series / sizeof series[0]; i++) {
    snprintf(name, sizeof name, "/models/%s/history/%s", type, series[i].n);
    ovq_results_write_array(r, name, H5T_NATIVE_DOUBLE, series[i].v, h->n, 0);
  }
  snprintf(name, sizeof name, "/models/%s/history/used_codes", type);
  ovq_results_write_array(r, name, H5T_NATIVE_INT64, h->used_codes, h->n, 0);
  ovq_results_write_latents(r, type, lat->z, lat->zq, lat->codes, x->n_total, lat->D, lat->G,
                            x->row_start, x->n_local);
  snprintf(name, sizeof name, "/models/%s", type);
  ovq_results_write_attr_double(r, name, "data_var", data_var);
}

OvqStatus ovq_stage_train(const OvqConfig *cfg_in, const OvqCohort *c, const OvqMatrix *x,
                          const OvqPrepTransform *tr, const char *out, int resume, MPI_Comm comm,
                          OvqStageOutcome *outcome) {
  *outcome = OVQ_STAGE_DONE;
  OvqConfig cfg = *cfg_in;
  if (!cfg.train.checkpoint[0])
    snprintf(cfg.train.checkpoint, sizeof cfg.train.checkpoint, "%s.ckpt", out);
  double var = ovq_matrix_variance(x, comm);
  int size;
  MPI_Comm_size(comm, &size);
  ovq_log(OVQ_LOG_INFO, "data: %lld samples%s%s x %lld features (%lld genes + %lld miRNAs), "
          "variance %.4f, %d rank%s", (long long)x->n_total, cfg.data.cancer[0] ? " of " : "",
          cfg.data.cancer, (long long)x->n_cols, (long long)tr->n_mrna,
          (long long)(tr->n_features - tr->n_mrna), var, size, size == 1 ? "" : "s");

  OvqModelSpec spec;
  OvqModel m;
  memset(&m, 0, sizeof m);
  OvqTrainConfig tc;
  char msg[256];
  OvqStatus st = ovq_model_spec_from_config(&cfg, x->n_cols, &spec);
  int64_t max_batch = cfg.train.batch < x->n_total ? cfg.train.batch : x->n_total;
  if (st == OVQ_OK &&
      ovq_model_create(&m, &spec, max_batch, ovq_train_grad_extra(&spec), msg, (int)sizeof msg))
    st = ovq_error("%s", msg);
  OvqHistory hist;
  memset(&hist, 0, sizeof hist);
  OvqTrainOutcome to = OVQ_TRAIN_DONE;
  if (st == OVQ_OK) {
    ovq_model_init_params(&m, (uint64_t)cfg.train.seed);
    ovq_log(OVQ_LOG_INFO, "model: %s, %lld parameters", cfg.model.type, (long long)m.n_params);
    if (!strcmp(cfg.model.recon_balance, "omics")) {
      ovq_train_balance_omics(&m, x, tr->n_mrna, var, comm);
      if (tr->n_mrna > 0 && tr->n_mrna < x->n_cols)
        ovq_log(OVQ_LOG_INFO, "reconstruction: each omic counts the same (weight %.3g per gene, "
                "%.3g per miRNA)", (double)m.recon_w[0], (double)m.recon_w[x->n_cols - 1]);
      else
        ovq_log(OVQ_LOG_INFO, "reconstruction: one omic, every feature counts the same");
    }
  }
  if (st == OVQ_OK) {
    ovq_train_config_from_config(&cfg, &tc);
    tc.resume = resume;
    double t0 = ovq_time();
    st = ovq_train(&m, &tc, x, var, comm, &hist, &to);
    if (st == OVQ_OK)
      ovq_log(OVQ_LOG_INFO, "trained %lld epochs in %.1f s", (long long)hist.n,
              ovq_time_max(ovq_time() - t0, comm));
    if (st == OVQ_OK && to == OVQ_TRAIN_INTERRUPTED) *outcome = OVQ_STAGE_INTERRUPTED;
  }
  if (st == OVQ_OK && *outcome == OVQ_STAGE_DONE) {
    OvqLatents lat;
    ovq_latents_compute(&m, x, cfg.train.reproducible ? cfg.train.repro_workers : 0, comm, &lat);
    char *ini = ovq_config_to_ini(&cfg);
    OvqResults r;
    st = ovq_results_create(&r, out, ini, comm);
    if (st == OVQ_OK) {
      ovq_results_write_samples(&r, c);
      ovq_prep_write(&r, tr);
      write_model(&r, &m, &hist, x, &lat, var, cfg.model.type);
      st = ovq_results_commit(&r);
      if (st == OVQ_OK) ovq_log(OVQ_LOG_INFO, "wrote %s", out);
    }
    free(ini);
    ovq_latents_free(&lat);
  }
  ovq_history_free(&hist);
  ovq_model_destroy(&m);
  return st;
}
