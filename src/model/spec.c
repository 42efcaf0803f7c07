/* From the configuration to a model spec and a trainer configuration. */
#include <stdlib.h>
#include <string.h>

#include "ovq/trainer.h"

OvqStatus ovq_model_spec_from_config(const OvqConfig *c, int64_t n_in, OvqModelSpec *s) {
  memset(s, 0, sizeof *s);
  s->type = !strcmp(c->model.type, "ae") ? OVQ_MODEL_AE
            : !strcmp(c->model.type, "vae") ? OVQ_MODEL_VAE : OVQ_MODEL_VQVAE;
  s->n_in = n_in;
  char buf[sizeof c->model.hidden];
  memcpy(buf, c->model.hidden, sizeof buf);
  for (char *save = NULL, *tok = strtok_r(buf, ", ", &save); tok;
       tok = strtok_r(NULL, ", ", &save)) {
    char *end;
    long long w = strtoll(tok, &end, 10);
    if (*end || w < 1 || w > 1000000)
      return ovq_error("model.hidden = '%s': '%s' is not a width (1 to 1000000)", c->model.hidden,
                       tok);
    if (s->n_hidden == OVQ_MODEL_MAX_HIDDEN)
      return ovq_error("model.hidden = '%s': at most %d widths", c->model.hidden,
                       OVQ_MODEL_MAX_HIDDEN);
    s->hidden[s->n_hidden++] = w;
  }
  if (s->n_hidden == 0) return ovq_error("model.hidden is empty (e.g. 2048,512)");
  s->n_res = (int)c->model.res_blocks;
  s->res_width = c->model.res_width;
  s->latent = c->model.latent;
  s->activation = !strcmp(c->model.activation, "relu") ? OVQ_ACT_RELU : OVQ_ACT_GELU;
  s->codebook_size = c->model.codebook_size;
  s->groups = (int)c->model.groups;
  s->beta = c->model.beta;
  s->ema = c->model.ema;
  s->kl_weight = c->model.kl_weight;
  if (s->type == OVQ_MODEL_VQVAE && s->latent % s->groups != 0)
    return ovq_error("model.groups = %d does not divide model.latent = %lld", s->groups,
                     (long long)s->latent);
  return OVQ_OK;
}

void ovq_train_config_from_config(const OvqConfig *c, OvqTrainConfig *t) {
  memset(t, 0, sizeof *t);
  t->epochs = c->train.epochs;
  t->batch = c->train.batch;
  t->seed = (uint64_t)c->train.seed;
  ovq_adam_defaults(&t->adam);
  t->adam.lr = c->train.lr;
  t->adam.beta1 = c->train.adam_beta1;
  t->adam.beta2 = c->train.adam_beta2;
  t->adam.eps = c->train.adam_eps;
  t->adam.weight_decay = c->train.weight_decay;
  t->adam.clip_norm = c->train.clip_norm;
  t->adam.warmup_steps = c->train.warmup_steps;
  t->cosine = !strcmp(c->train.schedule, "cosine");
  t->ema_decay = c->model.ema_decay;
  t->ema_eps = c->model.ema_eps;
  t->dead_code_threshold = c->model.dead_code_threshold;
  t->dead_code_every = c->model.dead_code_every;
  t->codebook_from_data = !strcmp(c->model.codebook_init, "data");
  t->checkpoint = c->train.checkpoint;
  t->checkpoint_every = c->train.checkpoint_every;
  t->check_replicas_every = c->train.check_replicas_every;
  t->reproducible = c->train.reproducible;
  t->repro_workers = c->train.repro_workers;
  t->node_ranks = c->train.node_ranks;
}
