/* oncovq cluster: cluster a feature set of a results file (latents or the preprocessed matrix). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ovq/cluster.h"
#include "ovq/pca.h"
#include "ovq/pipeline.h"
#include "ovq/cohort.h"
#include "ovq/prep.h"
#include "ovq/progress.h"
#include "ovq/results.h"

static void help(void) {
  printf("usage: oncovq cluster --input RESULTS.h5 [--out CLUSTERS.h5] [--features latent|raw|pca]\n"
         "                      [--model vqvae|ae|vae] [--methods LIST] [--k K] [--seed S]\n"
         "                      [--config FILE] [--set section.key=value ...]\n\n"
         "Clusters the samples of a results file: the latent features of a trained model\n"
         "(--features latent, from 'oncovq train' or 'oncovq embed'; model.features = zq takes\n"
         "the quantised VQ-VAE output) or the preprocessed expression (--features raw, from\n"
         "'oncovq prep', or a cohort file preprocessed on the fly with the [prep] settings;\n"
         "--features pca: its first cluster.pca_components principal components;\n"
         "multi-view methods get the mRNA and miRNA blocks as two views).\n"
         "With --k 0 (the default) every k in cluster.k_min..cluster.k_max is tried and the k\n"
         "with the highest mean silhouette is kept; every criterion is reported per k.\n\n"
         "options:\n"
         "  --input FILE     results file with the features\n"
         "  --features F     latent, raw or pca (cluster.features)\n"
         "  --model TYPE     whose latent features (model.type)\n"
         "  --methods LIST   comma-separated methods (cluster.methods): kmeans\n"
         "  --k K            clusters; 0 = choose over cluster.k_min..k_max (cluster.k)\n"
         "  --seed S         random seed (cluster.seed)\n"
         "  --cancer TYPE    one cancer type of a pan-cancer cohort file (data.cancer)\n"
         "  --out FILE       output: samples, labels per method, the per-k table; without\n"
         "                   --out they are written back into the input results file (its\n"
         "                   other contents kept, a previous /clusters replaced; the file is\n"
         "                   rewritten under a temporary name and renamed when complete)\n");
}

/* Copies the /samples datasets that exist (strings and numbers) from the input to the output. */
static void copy_samples(OvqResults *in, OvqResults *out) {
  static const char *const str[] = {"/samples/id", "/samples/cancer", "/samples/label",
                                    "/samples/true_subtype"};
  for (size_t i = 0; i < sizeof str / sizeof str[0]; i++) {
    OvqStrings s = {0, 0, NULL};
    if (ovq_results_read_strings(in, str[i], &s) == OVQ_OK) {
      ovq_results_write_strings(out, str[i], &s);
      ovq_strings_free(&s);
    } else {
      ovq_error_clear();
    }
  }
  double *t = NULL;
  int64_t n = 0;
  if (ovq_results_read_array(in, "/samples/os_time", H5T_NATIVE_DOUBLE, (void **)&t, &n) == OVQ_OK)
    ovq_results_write_array(out, "/samples/os_time", H5T_NATIVE_DOUBLE, t, n, 0);
  else
    ovq_error_clear();
  free(t);
  int8_t *e = NULL;
  if (ovq_results_read_array(in, "/samples/os_event", H5T_NATIVE_INT8, (void **)&e, &n) == OVQ_OK)
    ovq_results_write_array(out, "/samples/os_event", H5T_NATIVE_INT8, e, n, 0);
  else
    ovq_error_clear();
  free(e);
}

int cmd_cluster(int argc, char **argv, MPI_Comm comm) {
  const char *input = NULL, *out = NULL;
  const CliOption opts[] = {{"--input", NULL, &input, NULL},
                            {"--out", NULL, &out, NULL},
                            {"--features", "cluster.features", NULL, NULL},
                            {"--model", "model.type", NULL, NULL},
                            {"--methods", "cluster.methods", NULL, NULL},
                            {"--k", "cluster.k", NULL, NULL},
                            {"--seed", "cluster.seed", NULL, NULL},
                            {"--cancer", "data.cancer", NULL, NULL}};
  static const char *const required[] = {"--input", NULL};
  OvqConfig cfg;
  int rc = cli_config("cluster", argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), help,
                      required, comm, &cfg);
  if (rc != CLI_OK) return rc == CLI_HELP ? CLI_OK : rc;
  /* Features: from a results file (latents, or /prep/x of 'oncovq prep'), or a cohort file
   * preprocessed here with the [prep] settings (raw features only). */
  char *fmt = NULL;
  if (ovq_h5_read_string_attr(input, "format", comm, &fmt) != OVQ_OK) return cli_fail();
  int is_cohort = fmt && !strcmp(fmt, OVQ_COHORT_FORMAT);
  free(fmt);
  const int write_back = !out || !strcmp(out, input);
  char *keep_config = NULL;
  if (write_back && is_cohort) {
    ovq_error("%s is a cohort file: give --out for the clusters (only results files take them "
              "back)", input);
    return cli_fail();
  }
  if (write_back) out = input;
  char name[768];
  /* pca: the leading principal components of the preprocessed matrix. */
  const int pca = !strcmp(cfg.cluster.features, "pca");
  int raw = pca || !strcmp(cfg.cluster.features, "raw");
  OvqResults in;
  memset(&in, 0, sizeof in);
  OvqCohort coh;
  memset(&coh, 0, sizeof coh);
  float *x = NULL;
  int64_t N = 0, D = 0, row_start = 0, n_local = 0, *n_mrna = NULL, n1 = 0;
  OvqStatus st = OVQ_OK;
  if (is_cohort) {
    if (!raw) {
      ovq_error("%s is a cohort file: it has no latent features (use --features raw to cluster "
                "its preprocessed expression, or give a results file of 'oncovq train')", input);
      return cli_fail();
    }
    snprintf(name, sizeof name, "preprocessed expression");
    if (ovq_cohort_read(input, cfg.data.cancer, comm, &coh) != OVQ_OK) return cli_fail();
    OvqPrepOptions po;
    OvqPrepTransform tr;
    OvqPrepReport rep;
    OvqMatrix m;
    ovq_prep_options_from_config(&cfg, &po);
    st = ovq_prep_fit(&coh, &po, comm, &m, &tr, &rep);
    if (st != OVQ_OK) {
      ovq_cohort_destroy(&coh);
      return cli_fail();
    }
    ovq_prep_log_report(&rep);
    x = m.x;
    N = m.n_total;
    D = m.n_cols;
    row_start = m.row_start;
    n_local = m.n_local;
    n_mrna = OVQ_MALLOC(sizeof(int64_t));
    n_mrna[0] = tr.n_mrna;
    ovq_prep_free(&tr);
  } else {
    if (ovq_results_open(&in, input, comm) != OVQ_OK) return cli_fail();
    if (raw)
      snprintf(name, sizeof name, "/prep/x");
    else
      snprintf(name, sizeof name, "/models/%s/%s", cfg.model.type,
               !strcmp(cfg.model.type, "vqvae") && !strcmp(cfg.model.features, "zq") ? "z_q"
                                                                                       : "latent");
    st = ovq_results_read_block(&in, name, H5T_NATIVE_FLOAT, (void **)&x, &N, &D, &row_start,
                                &n_local);
    if (st != OVQ_OK) {
      char msg[1024];
      snprintf(msg, sizeof msg, "%s", ovq_error_message());
      ovq_error("%s (%s)", msg, raw ? "--features raw needs a file from 'oncovq prep' or a cohort file"
                                    : "--features latent needs a file from 'oncovq train' or "
                                      "'oncovq embed' with that model (--model)");
    }
    if (st == OVQ_OK && raw)
      st = ovq_results_read_array(&in, "/prep/n_mrna", H5T_NATIVE_INT64, (void **)&n_mrna, &n1);
    if (st == OVQ_OK && write_back) st = ovq_results_read_attr(&in, "config", &keep_config);
    st = ovq_status_agree(comm, st);
    if (st != OVQ_OK) {
      ovq_results_close(&in);
      free(x);
      free(keep_config);
      return cli_fail();
    }
  }
  if (pca) {
    int64_t lim = N - 1 < D ? N - 1 : D;
    int64_t nc = cfg.cluster.pca_components < lim ? cfg.cluster.pca_components : lim;
    OvqPca p;
    double *sc = OVQ_MALLOC(sizeof(double) * (size_t)(n_local * nc + 1));
    if (ovq_pca_fit(x, n_local, D, nc, comm, &p, sc) != OVQ_OK) {
      if (!is_cohort) ovq_results_close(&in);
      ovq_cohort_destroy(&coh);
      free(sc);
      free(x);
      free(n_mrna);
      free(keep_config);
      return cli_fail();
    }
    ovq_pca_destroy(&p);
    free(x);
    x = OVQ_MALLOC(sizeof(float) * (size_t)(n_local * nc + 1));
    for (int64_t i = 0; i < n_local * nc; i++) x[i] = (float)sc[i];
    free(sc);
    snprintf(name + strlen(name), sizeof name - strlen(name), ": %lld principal components",
             (long long)nc);
    D = nc;
    raw = 0; /* one view */
  }
  OvqClusterData data;
  ovq_cluster_data_init(&data, x, N, row_start, n_local, D, raw && n_mrna ? n_mrna[0] : 0);
  free(n_mrna);
  ovq_log(OVQ_LOG_INFO, "clustering %s of %s: %lld samples x %lld features (%d view%s)", name,
          input, (long long)N, (long long)D, data.n_views, data.n_views > 1 ? "s" : "");
  /* Written back: the input's config and contents (but /clusters) carried over. */
  char *ini = keep_config ? keep_config : ovq_config_to_ini(&cfg);
  OvqResults r;
  rc = CLI_OK;
  if (ovq_results_create(&r, out, ini, comm) != OVQ_OK) rc = cli_fail();
  free(ini);
  int has[6] = {0};
  static const char *const groups[6] = {"/samples", "/prep",  "/models",
                                        "/features", "/eval", "/summary"};
  if (rc == CLI_OK) {
    if (is_cohort)
      ovq_results_write_samples(&r, &coh);
    else if (!write_back)
      copy_samples(&in, &r);
    else
      for (int g = 0; g < 6; g++) has[g] = H5Lexists(in.file, groups[g], H5P_DEFAULT) > 0;
  }
  if (!is_cohort) ovq_results_close(&in);
  for (int g = 0; g < 6 && rc == CLI_OK; g++)
    if (has[g] && ovq_results_copy(&r, input, groups[g], groups[g]) != OVQ_OK) {
      ovq_results_abort(&r);
      rc = cli_fail();
    }
  ovq_cohort_destroy(&coh);
  if (rc == CLI_OK && ovq_stage_cluster(&cfg, &data, &r, "", comm) != OVQ_OK) {
    ovq_results_abort(&r);
    rc = cli_fail();
  }
  if (rc == CLI_OK) {
    if (ovq_results_commit(&r) != OVQ_OK)
      rc = cli_fail();
    else
      ovq_log(OVQ_LOG_INFO, "wrote %s", out);
  }
  ovq_cluster_data_free(&data);
  free(x);
  return rc;
}
