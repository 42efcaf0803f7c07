/* oncovq cluster: cluster a feature set of a results file (latents or the preprocessed matrix). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ovq/cluster.h"
#include "ovq/cohort.h"
#include "ovq/consensus.h"
#include "ovq/prep.h"
#include "ovq/progress.h"
#include "ovq/results.h"
#include "ovq/silhouette.h"

static void help(void) {
  printf("usage: oncovq cluster --input RESULTS.h5 --out CLUSTERS.h5 [--features latent|raw]\n"
         "                      [--model vqvae|ae|vae] [--methods LIST] [--k K] [--seed S]\n"
         "                      [--config FILE] [--set section.key=value ...]\n\n"
         "Clusters the samples of a results file: the latent features of a trained model\n"
         "(--features latent, from 'oncovq train' or 'oncovq embed'; model.features = zq takes\n"
         "the quantised VQ-VAE output) or the preprocessed expression (--features raw, from\n"
         "'oncovq prep', or a cohort file preprocessed on the fly with the [prep] settings;\n"
         "multi-view methods get the mRNA and miRNA blocks as two views).\n"
         "With --k 0 (the default) every k in cluster.k_min..cluster.k_max is tried and the k\n"
         "with the highest mean silhouette is kept; every criterion is reported per k.\n\n"
         "options:\n"
         "  --input FILE     results file with the features\n"
         "  --features F     latent or raw (cluster.features)\n"
         "  --model TYPE     whose latent features (model.type)\n"
         "  --methods LIST   comma-separated methods (cluster.methods): kmeans\n"
         "  --k K            clusters; 0 = choose over cluster.k_min..k_max (cluster.k)\n"
         "  --seed S         random seed (cluster.seed)\n"
         "  --cancer TYPE    one cancer type of a pan-cancer cohort file (data.cancer)\n"
         "  --out FILE       output: samples, labels per method, the per-k table\n");
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

/* Columns of the per-k table: k, then the criteria. */
enum { NCOL = 10 };

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
  static const char *const required[] = {"--input", "--out", NULL};
  OvqConfig cfg;
  int rc = cli_config("cluster", argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), help,
                      required, comm, &cfg);
  if (rc != CLI_OK) return rc == CLI_HELP ? CLI_OK : rc;
  /* Methods. */
  char methods[16][32];
  int n_methods = 0;
  {
    char buf[sizeof cfg.cluster.methods];
    snprintf(buf, sizeof buf, "%s", cfg.cluster.methods);
    for (char *sv = NULL, *t = strtok_r(buf, ", ", &sv); t; t = strtok_r(NULL, ", ", &sv)) {
      if (!ovq_cluster_known(t)) {
        ovq_error("cluster.methods: unknown method '%s'", t);
        return cli_fail();
      }
      if (n_methods == 16) {
        ovq_error("cluster.methods: more than 16 methods");
        return cli_fail();
      }
      snprintf(methods[n_methods++], sizeof methods[0], "%s", t);
    }
  }
  if (n_methods == 0) {
    ovq_error("cluster.methods is empty");
    return cli_fail();
  }
  int k_lo = (int)(cfg.cluster.k ? cfg.cluster.k : cfg.cluster.k_min);
  int k_hi = (int)(cfg.cluster.k ? cfg.cluster.k : cfg.cluster.k_max);
  if (k_lo > k_hi) {
    ovq_error("cluster.k_min = %d is larger than cluster.k_max = %d", k_lo, k_hi);
    return cli_fail();
  }
  if (cfg.cluster.k == 1) {
    ovq_error("cluster.k = 1: one cluster is not a clustering (0 chooses k)");
    return cli_fail();
  }
  /* Features: from a results file (latents, or /prep/x of 'oncovq prep'), or a cohort file
   * preprocessed here with the [prep] settings (raw features only). */
  char *fmt = NULL;
  if (ovq_h5_read_string_attr(input, "format", comm, &fmt) != OVQ_OK) return cli_fail();
  int is_cohort = fmt && !strcmp(fmt, OVQ_COHORT_FORMAT);
  free(fmt);
  char name[768];
  int raw = !strcmp(cfg.cluster.features, "raw");
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
    st = ovq_status_agree(comm, st);
    if (st != OVQ_OK) {
      ovq_results_close(&in);
      free(x);
      return cli_fail();
    }
  }
  OvqClusterData data;
  memset(&data, 0, sizeof data);
  data.n_total = N;
  data.row_start = row_start;
  data.n_local = n_local;
  data.all = x;
  data.d_all = D;
  float *views[2] = {NULL, NULL};
  if (raw && n_mrna && n_mrna[0] > 0 && n_mrna[0] < D) {
    /* Two views: the mRNA and miRNA columns. */
    int64_t g = n_mrna[0], m = D - g;
    views[0] = OVQ_MALLOC(sizeof(float) * (size_t)(n_local * g + 1));
    views[1] = OVQ_MALLOC(sizeof(float) * (size_t)(n_local * m + 1));
    for (int64_t i = 0; i < n_local; i++) {
      memcpy(views[0] + i * g, x + i * D, sizeof(float) * (size_t)g);
      memcpy(views[1] + i * m, x + i * D + g, sizeof(float) * (size_t)m);
    }
    data.n_views = 2;
    data.view[0] = views[0];
    data.view[1] = views[1];
    data.d[0] = g;
    data.d[1] = m;
  } else {
    data.n_views = 1;
    data.view[0] = x;
    data.d[0] = D;
  }
  free(n_mrna);
  if (k_lo > N) {
    ovq_error("k = %d: needs 2 <= k <= %lld (the number of samples)", k_lo, (long long)N);
    if (!is_cohort) ovq_results_close(&in);
    ovq_cohort_destroy(&coh);
    free(x);
    free(views[0]);
    free(views[1]);
    return cli_fail();
  }
  if (k_hi > N) k_hi = (int)N;
  ovq_log(OVQ_LOG_INFO, "clustering %s of %s: %lld samples x %lld features (%d view%s), k %d..%d",
          name, input, (long long)N, (long long)D, data.n_views, data.n_views > 1 ? "s" : "", k_lo,
          k_hi);

  char *ini = ovq_config_to_ini(&cfg);
  OvqResults r;
  rc = CLI_OK;
  if (ovq_results_create(&r, out, ini, comm) != OVQ_OK) rc = cli_fail();
  free(ini);
  if (rc == CLI_OK) {
    if (is_cohort)
      ovq_results_write_samples(&r, &coh);
    else
      copy_samples(&in, &r);
  }
  if (!is_cohort) ovq_results_close(&in);
  ovq_cohort_destroy(&coh);
  int nk = k_hi - k_lo + 1;
  int32_t *labels = OVQ_MALLOC(sizeof(int32_t) * (size_t)(n_local + 1));
  int32_t *best = OVQ_MALLOC(sizeof(int32_t) * (size_t)(n_local + 1));
  double *tab = OVQ_MALLOC(sizeof(double) * (size_t)(NCOL * nk));
  for (int mi = 0; mi < n_methods && rc == CLI_OK; mi++) {
    const char *meth = methods[mi];
    int best_k = -1;
    double best_s = -INFINITY;
    for (int k = k_lo; k <= k_hi && rc == CLI_OK; k++) {
      OvqClusterDiag dg;
      double t0 = ovq_time();
      if (ovq_cluster_run(meth, &cfg, k, &data, comm, labels, &dg) != OVQ_OK) {
        rc = cli_fail();
        break;
      }
      double area = NAN;
      if (cfg.cluster.consensus_reps > 0) {
        /* Consensus labels replace the single run's; its silhouette is recomputed. */
        OvqConsensusResult cr;
        if (ovq_consensus_run(meth, &cfg, k, (int)cfg.cluster.consensus_reps,
                              cfg.cluster.consensus_fraction, &data, comm, labels, &cr) != OVQ_OK) {
          rc = cli_fail();
          break;
        }
        area = cr.cdf_area;
        double s;
        dg.silhouette = NAN;
        if (ovq_silhouette(data.all, data.n_local, data.d_all, labels, k, comm, NULL, &s) == OVQ_OK)
          dg.silhouette = s;
        else
          ovq_error_clear();
      }
      int q = k - k_lo;
      double row[NCOL] = {k, dg.silhouette, dg.calinski_harabasz, dg.davies_bouldin, dg.inertia,
                          dg.loglik, dg.bic, dg.eigengap, dg.cophenetic, area};
      for (int c = 0; c < NCOL; c++) tab[c * nk + q] = row[c];
      char line[320] = "";
      static const char *const what[NCOL - 1] = {"silhouette", "Calinski-Harabasz",
                                                 "Davies-Bouldin", "inertia", "log-likelihood",
                                                 "BIC", "eigengap", "cophenetic",
                                                 "consensus CDF area"};
      for (int c = 1; c < NCOL; c++)
        if (!isnan(row[c]))
          snprintf(line + strlen(line), sizeof line - strlen(line), " %s %.6g", what[c - 1], row[c]);
      ovq_log(OVQ_LOG_INFO, "%s k=%d:%s (%.2f s)", meth, k, line, ovq_time_max(ovq_time() - t0, comm));
      snprintf(name, sizeof name, "/clusters/%s/k%d/labels", meth, k);
      ovq_results_write_rows(&r, name, H5T_NATIVE_INT32, labels, N, 0, row_start, n_local);
      if (best_k < 0 || dg.silhouette > best_s) {
        best_k = k;
        best_s = isnan(dg.silhouette) ? -INFINITY : dg.silhouette;
        memcpy(best, labels, sizeof(int32_t) * (size_t)n_local);
      }
    }
    if (rc != CLI_OK) break;
    snprintf(name, sizeof name, "/clusters/%s/labels", meth);
    ovq_results_write_rows(&r, name, H5T_NATIVE_INT32, best, N, 0, row_start, n_local);
    static const char *const cols[NCOL] = {"k",      "silhouette", "calinski_harabasz",
                                           "davies_bouldin", "inertia", "loglik", "bic",
                                           "eigengap", "cophenetic", "cdf_area"};
    for (int c = 0; c < NCOL; c++) {
      snprintf(name, sizeof name, "/clusters/%s/choose_k/%s", meth, cols[c]);
      ovq_results_write_array(&r, name, H5T_NATIVE_DOUBLE, tab + c * nk, nk, 0);
    }
    snprintf(name, sizeof name, "/clusters/%s", meth);
    ovq_results_write_attr_double(&r, name, "k", best_k);
    if (k_lo < k_hi)
      ovq_log(OVQ_LOG_INFO, "%s: k = %d has the highest mean silhouette (%.4f)", meth, best_k,
              best_s);
  }
  if (rc == CLI_OK) {
    if (ovq_results_commit(&r) != OVQ_OK)
      rc = cli_fail();
    else
      ovq_log(OVQ_LOG_INFO, "wrote %s", out);
  }
  free(labels);
  free(best);
  free(tab);
  free(views[0]);
  free(views[1]);
  free(x);
  return rc;
}
