/* oncovq eval: judge the clusters of a results file (from oncovq cluster) against the published
 * labels (and, for synthetic cohorts, the true subtypes), survival, and their separation;
 * everything into a results file and tidy TSV tables. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "ovq/cohort.h"
#include "ovq/correlation.h"
#include "ovq/hclust.h"
#include "ovq/pca.h"
#include "ovq/diffexp.h"
#include "ovq/enrich.h"
#include "ovq/metrics.h"
#include "ovq/prep.h"
#include "ovq/partition.h"
#include "ovq/results.h"
#include "ovq/survival.h"
#include "ovq/tsne.h"

static void help(void) {
  printf("usage: oncovq eval --input CLUSTERS.h5 --out EVAL.h5 [--methods LIST]\n"
         "                   [--cohort COHORT.h5 [--gmt SETS.gmt]]\n\n"
         "Evaluates the clusters written by 'oncovq cluster': agreement with the published\n"
         "labels (/samples/label) and, for synthetic cohorts, the true subtypes (ARI, NMI with\n"
         "arithmetic and geometric normalisation, purity; unlabelled samples left out and\n"
         "counted), the label flow (contingency table), and survival per cluster (Kaplan-Meier\n"
         "with 95%% CIs and medians, log-rank over all clusters and pairwise with BH, Cox model\n"
         "with hazard ratios and the likelihood-ratio test). Writes EVAL.h5 and the tables\n"
         "EVAL_agreement.tsv, EVAL_flow.tsv, EVAL_survival.tsv, EVAL_pairs.tsv, EVAL_cox.tsv,\n"
         "EVAL_km.tsv next to it. With --cohort (the cohort the clusters came from), also\n"
         "differential expression of each cluster against the rest on the preprocessed,\n"
         "unstandardised log expression (Welch t, Wilcoxon rank-sum, BH: EVAL_de.tsv), and\n"
         "with --gmt the over-representation of each cluster's up-regulated genes (BH q < 0.05,\n"
         "log2 FC > 1) among the gene sets (EVAL_enrichment.tsv).\n\n"
         "options:\n"
         "  --input FILE    clusters file of 'oncovq cluster'\n"
         "  --methods LIST  which methods' labels (default: cluster.methods of the input)\n"
         "  --cohort FILE   cohort file for differential expression\n"
         "  --gmt FILE      gene sets (GMT: MSigDB, KEGG, or tools/export_go_gmt.R's GO sets)\n"
         "  --latent FILE   results file of 'oncovq train' / 'oncovq embed' (model.type of the\n"
         "                  input's config): latent-feature correlations (EVAL_latent_corr.tsv),\n"
         "                  feature groups (EVAL_latent_groups.tsv), the heatmap matrix ordered by\n"
         "                  the first method's clusters and labels (EVAL_latent_heatmap.tsv), and\n"
         "                  PCA and t-SNE maps (perplexity 50: EVAL_maps.tsv, EVAL_pca_variance.tsv)\n"
         "  --groups G      latent feature groups (default 3)\n"
         "  --out FILE      results file; the tables take its name without .h5\n");
}

/* Codes for reference label strings: sorted distinct non-empty values -> 0..; "" -> -1. */
static int encode(const OvqStrings *s, int64_t start, int64_t n, int32_t *code, char ***names) {
  int64_t N = s->n;
  char **u = OVQ_MALLOC(sizeof(char *) * (size_t)(N + 1));
  int nu = 0;
  for (int64_t i = 0; i < N; i++) {
    const char *v = ovq_strings_at(s, i);
    if (!v[0]) continue;
    int seen = 0;
    for (int q = 0; q < nu && !seen; q++) seen = !strcmp(u[q], v);
    if (!seen) u[nu++] = (char *)v;
  }
  for (int a = 1; a < nu; a++) /* insertion sort: few labels */
    for (int b = a; b > 0 && strcmp(u[b - 1], u[b]) > 0; b--) {
      char *t = u[b];
      u[b] = u[b - 1];
      u[b - 1] = t;
    }
  for (int64_t i = 0; i < n; i++) {
    const char *v = ovq_strings_at(s, start + i);
    code[i] = -1;
    for (int q = 0; q < nu; q++)
      if (!strcmp(u[q], v)) code[i] = q;
  }
  *names = u;
  return nu;
}

/* A table written by rank 0 under a temporary name, renamed when complete. */
typedef struct Table {
  FILE *f;
  char path[OVQ_PATH_MAX + 32], tmp[OVQ_PATH_MAX + 64];
} Table;

static int table_open(Table *t, const char *stem, const char *name, const char *header) {
  snprintf(t->path, sizeof t->path, "%s_%s.tsv", stem, name);
  snprintf(t->tmp, sizeof t->tmp, "%s.tmp.%d", t->path, (int)getpid());
  t->f = fopen(t->tmp, "w");
  if (!t->f) return 0;
  fprintf(t->f, "%s\n", header);
  return 1;
}

static int table_close(Table *t) {
  int ok = t->f && !ferror(t->f);
  if (t->f && fclose(t->f) != 0) ok = 0;
  t->f = NULL;
  if (ok && rename(t->tmp, t->path) != 0) ok = 0;
  if (!ok) remove(t->tmp);
  return ok;
}

/* %g, or NA for a non-finite value (tables carry no NaN). */
static const char *num(char *buf, double v) {
  if (isfinite(v))
    snprintf(buf, 32, "%.10g", v);
  else
    snprintf(buf, 32, isinf(v) && v > 0 ? "Inf" : "NA");
  return buf;
}

/* Latent features of a trained model: their correlations, groups of features (average-linkage
 * tree of 1 - |Pearson| cut at n_groups), the samples x features matrix ordered by cluster and
 * label (the heatmap), and a 2-D PCA map. Tables written by rank 0 under temporary names. */
static OvqStatus latent_analysis(const char *path, const char *model, const OvqStrings *ids,
                                 const OvqStrings *lab, const char *method, const int32_t *cl,
                                 int n_groups, const char *stem, MPI_Comm comm) {
  int rank, size;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  OvqResults r;
  if (ovq_results_open(&r, path, comm) != OVQ_OK) return OVQ_ERR;
  char name[128];
  snprintf(name, sizeof name, "/models/%s/latent", model);
  float *z = NULL;
  int64_t N = 0, D = 0, r0 = 0, nl = 0;
  OvqStatus st = ovq_results_read_block(&r, name, H5T_NATIVE_FLOAT, (void **)&z, &N, &D, &r0, &nl);
  OvqStrings zid = {0, 0, NULL};
  if (st == OVQ_OK) st = ovq_results_read_strings(&r, "/samples/id", &zid);
  st = ovq_status_agree(comm, st);
  ovq_results_close(&r);
  if (st == OVQ_OK && zid.n != ids->n) st = ovq_error("%s: %lld samples, the clusters %lld", path, (long long)zid.n, (long long)ids->n);
  for (int64_t i = 0; st == OVQ_OK && i < zid.n; i++)
    if (strcmp(ovq_strings_at(&zid, i), ovq_strings_at(ids, i)) != 0)
      st = ovq_error("%s: sample %lld is %s, in the clusters file %s", path, (long long)i,
                     ovq_strings_at(&zid, i), ovq_strings_at(ids, i));
  ovq_strings_free(&zid);
  if (st != OVQ_OK || D < 2) {
    if (st == OVQ_OK) st = ovq_error("%s: fewer than 2 latent features", path);
    free(z);
    return st;
  }
  double *pr = OVQ_MALLOC(sizeof(double) * (size_t)(D * D)), *sr = OVQ_MALLOC(sizeof(double) * (size_t)(D * D));
  st = ovq_correlation_pearson(z, nl, D, comm, pr);
  if (st == OVQ_OK) st = ovq_correlation_spearman(z, nl, D, comm, sr);
  /* Feature groups. */
  int32_t *grp = OVQ_CALLOC((size_t)D, sizeof(int32_t));
  if (st == OVQ_OK) {
    double *dis = OVQ_MALLOC(sizeof(double) * (size_t)(D * D));
    for (int64_t i = 0; i < D * D; i++) dis[i] = isfinite(pr[i]) ? 1.0 - fabs(pr[i]) : 1.0;
    for (int64_t i = 0; i < D; i++) dis[i * D + i] = 0.0;
    int g = n_groups < D ? n_groups : (int)D;
    OvqHclustResult hr;
    st = ovq_hclust_from_dissimilarity(OVQ_LINKAGE_AVERAGE, g, dis, D, comm, &hr);
    if (st == OVQ_OK) {
      memcpy(grp, hr.labels, sizeof(int32_t) * (size_t)D);
      ovq_hclust_result_free(&hr);
    }
    free(dis);
  }
  /* PCA map (2 components). */
  OvqPca pca;
  memset(&pca, 0, sizeof pca);
  double *sc = OVQ_MALLOC(sizeof(double) * (size_t)(nl * 2 + 1));
  if (st == OVQ_OK) st = ovq_pca_fit(z, nl, D, 2, comm, &pca, sc);
  /* t-SNE map: perplexity 50 as the paper (at most (N - 1) / 3 for small cohorts). */
  double *ts = OVQ_MALLOC(sizeof(double) * (size_t)(nl * 2 + 1));
  double trust = NAN;
  if (st == OVQ_OK) {
    OvqTsneParams tp = ovq_tsne_default_params();
    tp.perplexity = 50.0 < (double)(N - 1) / 3.0 ? 50.0 : (double)(N - 1) / 3.0;
    st = ovq_tsne_fit(&tp, z, nl, D, comm, ts);
    if (st == OVQ_OK && N <= 5000 && ovq_trustworthiness(z, D, ts, 2, nl, 5, comm, &trust) != OVQ_OK) {
      ovq_error_clear();
      trust = NAN;
    }
  }
  /* Gather latents, scores and clusters on rank 0 (N x D floats: small for latents). */
  float *zall = rank == 0 ? OVQ_MALLOC(sizeof(float) * (size_t)(N * D + 1)) : NULL;
  double *sall = rank == 0 ? OVQ_MALLOC(sizeof(double) * (size_t)(N * 2 + 1)) : NULL;
  double *tall = rank == 0 ? OVQ_MALLOC(sizeof(double) * (size_t)(N * 2 + 1)) : NULL;
  int32_t *call = rank == 0 ? OVQ_MALLOC(sizeof(int32_t) * (size_t)(N + 1)) : NULL;
  if (st == OVQ_OK) {
    int *cnt = OVQ_MALLOC(sizeof(int) * (size_t)size), *dsp = OVQ_MALLOC(sizeof(int) * (size_t)size);
    for (int mult = 0; mult < 4; mult++) {
      int64_t w = mult == 0 ? D : mult == 1 || mult == 3 ? 2 : 1;
      for (int q = 0; q < size; q++) {
        OvqRange b = ovq_partition_block(N, size, q);
        cnt[q] = OVQ_INT(b.count * w, "gather");
        dsp[q] = OVQ_INT(b.start * w, "gather");
      }
      if (mult == 0)
        OVQ_MPI_CHECK(MPI_Gatherv(z, OVQ_INT(nl * D, "gather"), MPI_FLOAT, zall, cnt, dsp, MPI_FLOAT, 0, comm));
      else if (mult == 1)
        OVQ_MPI_CHECK(MPI_Gatherv(sc, OVQ_INT(nl * 2, "gather"), MPI_DOUBLE, sall, cnt, dsp, MPI_DOUBLE, 0, comm));
      else if (mult == 2)
        OVQ_MPI_CHECK(MPI_Gatherv(cl, OVQ_INT(nl, "gather"), MPI_INT32_T, call, cnt, dsp, MPI_INT32_T, 0, comm));
      else
        OVQ_MPI_CHECK(MPI_Gatherv(ts, OVQ_INT(nl * 2, "gather"), MPI_DOUBLE, tall, cnt, dsp, MPI_DOUBLE, 0, comm));
    }
    free(cnt);
    free(dsp);
  }
  int ok = 1;
  if (st == OVQ_OK && rank == 0) {
    char b1[32], b2[32];
    Table tc = {0}, tg = {0}, th = {0}, tm = {0}, tv = {0};
    ok = table_open(&tc, stem, "latent_corr", "feature_a\tfeature_b\tpearson\tspearman") &&
         table_open(&tg, stem, "latent_groups", "feature\tgroup") &&
         table_open(&th, stem, "latent_heatmap", "sample\tmethod\tcluster\tlabel\tfeature\tvalue") &&
         table_open(&tm, stem, "maps", "sample\tmethod\tcluster\tlabel\tpc1\tpc2\ttsne1\ttsne2") &&
         table_open(&tv, stem, "pca_variance", "component\texplained_variance\tratio");
    if (ok) {
      for (int64_t a = 0; a < D; a++)
        for (int64_t b = a + 1; b < D; b++)
          fprintf(tc.f, "z%lld\tz%lld\t%s\t%s\n", (long long)a, (long long)b, num(b1, pr[a * D + b]),
                  num(b2, sr[a * D + b]));
      for (int64_t a = 0; a < D; a++) fprintf(tg.f, "z%lld\t%d\n", (long long)a, grp[a]);
      for (int c = 0; c < 2; c++)
        fprintf(tv.f, "PC%d\t%s\t%s\n", c + 1, num(b1, pca.explained_variance[c]),
                num(b2, pca.explained_variance_ratio[c]));
      /* Samples ordered by cluster, then label, then position: the heatmap's row order. */
      int64_t *ord = OVQ_MALLOC(sizeof(int64_t) * (size_t)N);
      for (int64_t i = 0; i < N; i++) ord[i] = i;
      for (int64_t i = 1; i < N; i++) /* insertion sort: stable, N of a cohort */
        for (int64_t j = i; j > 0; j--) {
          int64_t x = ord[j - 1], y = ord[j];
          int c = (call[x] > call[y]) - (call[x] < call[y]);
          if (!c && lab && lab->n == N) c = strcmp(ovq_strings_at(lab, x), ovq_strings_at(lab, y));
          if (c <= 0) break;
          ord[j - 1] = y;
          ord[j] = x;
        }
      for (int64_t q = 0; q < N; q++) {
        int64_t i = ord[q];
        const char *l = lab && lab->n == N && ovq_strings_at(lab, i)[0] ? ovq_strings_at(lab, i) : "NA";
        char b3[32], b4[32];
        fprintf(tm.f, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", ovq_strings_at(ids, i), method, call[i], l,
                num(b1, sall[i * 2]), num(b2, sall[i * 2 + 1]), num(b3, tall[i * 2]),
                num(b4, tall[i * 2 + 1]));
        for (int64_t f = 0; f < D; f++)
          fprintf(th.f, "%s\t%s\t%d\t%s\tz%lld\t%s\n", ovq_strings_at(ids, i), method, call[i], l,
                  (long long)f, num(b1, zall[i * D + f]));
      }
      free(ord);
    }
    Table *all[5] = {&tc, &tg, &th, &tm, &tv};
    for (int q = 0; q < 5; q++)
      if (all[q]->f && !table_close(all[q])) ok = 0;
    if (!ok) ovq_error("%s_latent_*.tsv / %s_maps.tsv: could not be written", stem, stem);
  }
  if (st == OVQ_OK) st = ovq_status_agree(comm, ok ? OVQ_OK : OVQ_ERR);
  if (st == OVQ_OK)
    ovq_log(OVQ_LOG_INFO, "latent features of %s (%s): %lld x %lld; PCA explains %.1f %% + %.1f %%; "
            "t-SNE trustworthiness (5 neighbours) %.4f", path, model, (long long)N, (long long)D,
            100 * pca.explained_variance_ratio[0], 100 * pca.explained_variance_ratio[1], trust);
  ovq_pca_destroy(&pca);
  free(zall);
  free(sall);
  free(tall);
  free(ts);
  free(call);
  free(sc);
  free(pr);
  free(sr);
  free(grp);
  free(z);
  return st;
}

int cmd_eval(int argc, char **argv, MPI_Comm comm) {
  const char *input = NULL, *out = NULL, *methods_opt = NULL, *cohort = NULL, *gmt = NULL,
             *latent = NULL, *groups_opt = NULL;
  const CliOption opts[] = {{"--input", NULL, &input, NULL},
                            {"--out", NULL, &out, NULL},
                            {"--methods", NULL, &methods_opt, NULL},
                            {"--cohort", NULL, &cohort, NULL},
                            {"--gmt", NULL, &gmt, NULL},
                            {"--latent", NULL, &latent, NULL},
                            {"--groups", NULL, &groups_opt, NULL}};
  static const char *const required[] = {"--input", "--out", NULL};
  int rc = cli_parse("eval", argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), NULL, help,
                     required);
  if (rc != CLI_OK) return rc == CLI_HELP ? CLI_OK : rc;
  int rank, size;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);

  OvqResults in;
  if (ovq_results_open(&in, input, comm) != OVQ_OK) return cli_fail();
  char *ini = NULL;
  OvqConfig cfg;
  ovq_config_defaults(&cfg);
  OvqStatus st = ovq_results_read_attr(&in, "config", &ini);
  if (st == OVQ_OK) st = ovq_config_load_string(&cfg, ini, input);
  free(ini);
  OvqStrings ids = {0, 0, NULL}, lab = {0, 0, NULL}, truth = {0, 0, NULL};
  double *os_time = NULL;
  int8_t *os_event = NULL;
  int64_t n_t = 0, n_e = 0;
  if (st == OVQ_OK) st = ovq_results_read_strings(&in, "/samples/id", &ids);
  int has_label = 0, has_truth = 0, has_surv = 0;
  if (st == OVQ_OK) {
    has_label = ovq_results_read_strings(&in, "/samples/label", &lab) == OVQ_OK;
    has_truth = ovq_results_read_strings(&in, "/samples/true_subtype", &truth) == OVQ_OK;
    has_surv = ovq_results_read_array(&in, "/samples/os_time", H5T_NATIVE_DOUBLE,
                                      (void **)&os_time, &n_t) == OVQ_OK &&
               ovq_results_read_array(&in, "/samples/os_event", H5T_NATIVE_INT8,
                                      (void **)&os_event, &n_e) == OVQ_OK;
    ovq_error_clear();
  }
  st = ovq_status_agree(comm, st);
  if (st != OVQ_OK) {
    ovq_results_close(&in);
    return cli_fail();
  }
  const int64_t N = ids.n;
  OvqRange me = ovq_partition_block(N, size, rank);
  char methods[sizeof cfg.cluster.methods];
  snprintf(methods, sizeof methods, "%s", methods_opt ? methods_opt : cfg.cluster.methods);

  /* Differential expression: the cohort's preprocessed, unstandardised expression of the same
   * samples in the same order. */
  OvqMatrix xde;
  memset(&xde, 0, sizeof xde);
  OvqPrepTransform trde;
  memset(&trde, 0, sizeof trde);
  OvqGmt sets;
  memset(&sets, 0, sizeof sets);
  if (gmt && !cohort) {
    ovq_error("--gmt needs --cohort (the expression to test)");
    ovq_results_close(&in);
    return cli_fail();
  }
  if (cohort) {
    OvqCohort c;
    st = ovq_cohort_read(cohort, cfg.data.cancer, comm, &c);
    if (st == OVQ_OK) {
      int mism = c.n_total != N;
      for (int64_t i = 0; !mism && i < c.n_local; i++)
        mism = strcmp(ovq_strings_at(&c.sample_id, i), ovq_strings_at(&ids, c.row_start + i)) != 0;
      OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &mism, 1, MPI_INT, MPI_MAX, comm));
      if (mism)
        st = ovq_error("%s%s%s: its samples are not those of %s (same cohort and data.cancer "
                       "needed)", cohort, cfg.data.cancer[0] ? " / " : "", cfg.data.cancer, input);
      if (st == OVQ_OK) {
        OvqPrepOptions po;
        ovq_prep_options_from_config(&cfg, &po);
        po.standardize = 0;
        po.select = 0;
        po.weight[0] = po.weight[1] = 1.0;
        st = ovq_prep_fit(&c, &po, comm, &xde, &trde, NULL);
      }
      ovq_cohort_destroy(&c);
    }
    if (st == OVQ_OK && gmt) {
      OvqStatus gs = OVQ_OK;
      if (rank == 0) gs = ovq_gmt_read(gmt, &sets);
      st = ovq_status_agree(comm, gs);
    }
    if (st != OVQ_OK) {
      ovq_results_close(&in);
      ovq_matrix_free(&xde);
      ovq_prep_free(&trde);
      return cli_fail();
    }
  }

  /* Reference codes of this rank's samples. */
  int32_t *ref = OVQ_MALLOC(sizeof(int32_t) * (size_t)(me.count + 1));
  int32_t *tru = OVQ_MALLOC(sizeof(int32_t) * (size_t)(me.count + 1));
  char **ref_names = NULL, **tru_names = NULL;
  int n_ref = has_label ? encode(&lab, me.start, me.count, ref, &ref_names) : 0;
  int n_tru = has_truth ? encode(&truth, me.start, me.count, tru, &tru_names) : 0;
  if (n_ref == 0)
    ovq_log(OVQ_LOG_WARN, "%s: no sample has a published label: agreement with labels skipped",
            input);

  char stem[OVQ_PATH_MAX];
  snprintf(stem, sizeof stem, "%s", out);
  size_t sl = strlen(stem);
  if (sl > 3 && !strcmp(stem + sl - 3, ".h5")) stem[sl - 3] = 0;
  Table ta = {0}, tf = {0}, ts = {0}, tp = {0}, tc = {0}, tk = {0}, te = {0};
  char de_path[OVQ_PATH_MAX + 32], de_tmp[OVQ_PATH_MAX + 64];
  snprintf(de_path, sizeof de_path, "%s_de.tsv", stem);
  snprintf(de_tmp, sizeof de_tmp, "%s.tmp.%d", de_path, (int)getpid());
  FILE *de_f = NULL;
  int ok = 1;
  if (rank == 0) {
    ok = table_open(&ta, stem, "agreement",
                    "method\tk\treference\tari\tnmi\tnmi_geometric\tpurity\tn_compared\tn_left_out") &&
         table_open(&tf, stem, "flow", "method\treference\tlabel\tcluster\tcount") &&
         table_open(&ts, stem, "survival",
                    "method\tk\tn\tn_unknown\tlogrank_chisq\tlogrank_df\tlogrank_p\tcox_lrt\t"
                    "cox_lrt_p\tnote") &&
         table_open(&tp, stem, "pairs", "method\tcluster_a\tcluster_b\tchisq\tp\tp_bh") &&
         table_open(&tc, stem, "cox",
                    "method\tcluster\treference\tcoef\tse\thr\thr_lower\thr_upper\tp") &&
         table_open(&tk, stem, "km",
                    "method\tcluster\ttime\tn_risk\tn_event\tn_censor\tsurvival\tlower\tupper") &&
         (!gmt || table_open(&te, stem, "enrichment",
                             "method\tcluster\tset\tsize\toverlap\texpected\tp\tq"));
    if (ok && cohort) {
      de_f = fopen(de_tmp, "w");
      ok = de_f != NULL;
      if (ok)
        fprintf(de_f, "method\tcluster\tfeature\tn_in\tn_out\tmean_in\tmean_out\tlog2fc\tt\tt_p\t"
                      "t_q\tu\tu_p\tu_q\n");
    }
    if (!ok) ovq_error("%s: cannot write the tables next to it (%s_*.tsv)", out, stem);
  }
  st = ovq_status_agree(comm, ok ? OVQ_OK : OVQ_ERR);
  OvqResults r;
  memset(&r, 0, sizeof r);
  if (st == OVQ_OK) {
    char *text = ovq_config_to_ini(&cfg);
    st = ovq_results_create(&r, out, text, comm);
    free(text);
  }
  char b1[32], b2[32], b3[32], b4[32], b5[32], b6[32], b7[32], bb[9][32];
  for (char *sv = NULL, *m = strtok_r(methods, ", ", &sv); m && st == OVQ_OK;
       m = strtok_r(NULL, ", ", &sv)) {
    char name[256];
    snprintf(name, sizeof name, "/clusters/%s/labels", m);
    int32_t *cl = NULL;
    int64_t nt, nc, rs, nl;
    st = ovq_status_agree(comm, ovq_results_read_block(&in, name, H5T_NATIVE_INT32, (void **)&cl,
                                                       &nt, &nc, &rs, &nl));
    if (st != OVQ_OK) break;
    int k = 0;
    for (int64_t i = 0; i < nl; i++)
      if (cl[i] + 1 > k) k = cl[i] + 1;
    OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &k, 1, MPI_INT, MPI_MAX, comm));
    /* Agreement and label flow. */
    for (int which = 0; which < 2; which++) {
      int nref = which == 0 ? n_ref : n_tru;
      if (nref == 0) continue;
      const int32_t *a = which == 0 ? ref : tru;
      char **names = which == 0 ? ref_names : tru_names;
      const char *refname = which == 0 ? "published_label" : "true_subtype";
      OvqAgreement ag;
      if (ovq_metrics_agreement(a, cl, nl, comm, &ag) != OVQ_OK) {
        st = OVQ_ERR;
        break;
      }
      OvqContingency ct;
      if (ovq_metrics_contingency(a, cl, nl, comm, &ct) != OVQ_OK) {
        st = OVQ_ERR;
        break;
      }
      ovq_log(OVQ_LOG_INFO, "%s vs %s: ARI %.4f, NMI %.4f (geometric %.4f), purity %.4f, %lld "
              "samples (%lld left out)", m, refname, ag.ari, ag.nmi, ag.nmi_geometric, ag.purity,
              (long long)ag.n_known, (long long)ag.n_unknown);
      if (rank == 0) {
        fprintf(ta.f, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%lld\t%lld\n", m, k, refname, num(b1, ag.ari),
                num(b2, ag.nmi), num(b3, ag.nmi_geometric), num(b4, ag.purity),
                (long long)ag.n_known, (long long)ag.n_unknown);
        for (int i = 0; i <= ct.n_a; i++)
          for (int j = 0; j < ct.n_b; j++) {
            int64_t c = ct.count[i * (ct.n_b + 1) + j];
            if (c) fprintf(tf.f, "%s\t%s\t%s\t%d\t%lld\n", m, refname,
                           i < ct.n_a && i < nref ? names[i] : "(unlabelled)", j, (long long)c);
          }
      }
      char dn[256];
      double v[4] = {ag.ari, ag.nmi, ag.nmi_geometric, ag.purity};
      snprintf(dn, sizeof dn, "/eval/%s/%s/ari_nmi_nmigeo_purity", m, refname);
      ovq_results_write_array(&r, dn, H5T_NATIVE_DOUBLE, v, 4, 0);
      ovq_metrics_contingency_free(&ct);
    }
    /* Survival per cluster. */
    if (st == OVQ_OK && has_surv && n_t == N && n_e == N) {
      OvqSurvData sd;
      if (ovq_survival_gather(os_time + me.start, os_event + me.start, cl, nl, comm, &sd) != OVQ_OK) {
        st = OVQ_ERR;
        free(cl);
        break;
      }
      OvqLogrank lr;
      ovq_survival_logrank(&sd, &lr);
      OvqCox cx;
      ovq_survival_cox(&sd, &cx);
      OvqPairwise pw;
      ovq_survival_pairwise(&sd, &pw);
      OvqKm km;
      ovq_survival_km(&sd, &km);
      ovq_log(OVQ_LOG_INFO, "%s survival: log-rank chi2 %.3f (df %d) p %.3g; Cox LRT %.3f p %.3g "
              "(%lld samples, %lld unknown)%s%s", m, lr.chisq, lr.df, lr.p, cx.lrt, cx.lrt_p,
              (long long)sd.n, (long long)sd.n_unknown, lr.note[0] ? "; " : "", lr.note);
      if (rank == 0) {
        const char *note = lr.note[0] ? lr.note : cx.note;
        fprintf(ts.f, "%s\t%d\t%lld\t%lld\t%s\t%d\t%s\t%s\t%s\t%s\n", m, k, (long long)sd.n,
                (long long)sd.n_unknown, num(b1, lr.chisq), lr.df, num(b2, lr.p), num(b3, cx.lrt),
                num(b4, cx.lrt_p), note[0] ? note : "-");
        for (int q = 0; q < pw.n_pairs; q++)
          fprintf(tp.f, "%s\t%d\t%d\t%s\t%s\t%s\n", m, pw.group_a[q], pw.group_b[q],
                  num(b1, pw.test[q].chisq), num(b2, pw.test[q].p), num(b3, pw.p_adjusted[q]));
        for (int q = 0; q < cx.n_coef; q++)
          fprintf(tc.f, "%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", m, cx.group[q], cx.reference,
                  num(b1, cx.coef[q]), num(b2, cx.se[q]), num(b3, cx.hr[q]),
                  num(b4, cx.hr_lower[q]), num(b5, cx.hr_upper[q]), num(b6, cx.p[q]));
        for (int c = 0; c < km.n_curves; c++) {
          const OvqKmCurve *cv = &km.curve[c];
          for (int64_t t = 0; t < cv->n_times; t++)
            fprintf(tk.f, "%s\t%d\t%s\t%lld\t%lld\t%lld\t%s\t%s\t%s\n", m, cv->group,
                    num(b1, cv->time[t]), (long long)cv->n_risk[t], (long long)cv->n_event[t],
                    (long long)cv->n_censor[t], num(b2, cv->surv[t]), num(b3, cv->lower[t]),
                    num(b7, cv->upper[t]));
        }
      }
      char dn[256];
      double v[5] = {lr.chisq, (double)lr.df, lr.p, cx.lrt, cx.lrt_p};
      snprintf(dn, sizeof dn, "/eval/%s/survival/logrank_chisq_df_p_coxlrt_p", m);
      ovq_results_write_array(&r, dn, H5T_NATIVE_DOUBLE, v, 5, 0);
      ovq_survival_km_free(&km);
      ovq_survival_pairwise_free(&pw);
      ovq_survival_cox_free(&cx);
      ovq_survival_data_free(&sd);
    }
    if (st == OVQ_OK && cohort) {
      OvqDiffexp de;
      if (ovq_diffexp_compute(&xde, cl, comm, &de) != OVQ_OK) {
        st = OVQ_ERR;
      } else {
        const int64_t F = de.n_features;
        int64_t n_sig = 0;
        for (int c = 0; c < de.k; c++)
          for (int64_t j = 0; j < F; j++) {
            int64_t e = (int64_t)c * F + j;
            n_sig += de.t_q[e] < 0.05 && fabs(de.log2fc[e]) > 1.0;
            if (rank == 0)
              fprintf(de_f, "%s\t%d\t%s\t%lld\t%lld\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", m, c,
                      ovq_strings_at(&trde.ids, j), (long long)de.n_in[c],
                      (long long)(de.n_known - de.n_in[c]), num(bb[0], de.mean_in[e]),
                      num(bb[1], de.mean_out[e]), num(bb[2], de.log2fc[e]), num(bb[3], de.t[e]),
                      num(bb[4], de.t_p[e]), num(bb[5], de.t_q[e]), num(bb[6], de.u[e]),
                      num(bb[7], de.u_p[e]), num(bb[8], de.u_q[e]));
          }
        ovq_log(OVQ_LOG_INFO, "%s: %lld (cluster, feature) pairs with Welch BH q < 0.05 and |log2 "
                "FC| > 1", m, (long long)n_sig);
        if (gmt && rank == 0) {
          /* Genes (the mRNA block) up in each cluster against the sets. */
          const char **fid = OVQ_MALLOC(sizeof(char *) * (size_t)(trde.n_mrna + 1));
          unsigned char *sel = OVQ_MALLOC((size_t)trde.n_mrna + 1);
          for (int64_t j = 0; j < trde.n_mrna; j++) fid[j] = ovq_strings_at(&trde.ids, j);
          for (int c = 0; c < de.k && st == OVQ_OK; c++) {
            for (int64_t j = 0; j < trde.n_mrna; j++)
              sel[j] = de.t_q[(int64_t)c * F + j] < 0.05 && de.log2fc[(int64_t)c * F + j] > 1.0;
            OvqEnrich en;
            if (ovq_enrich_ora(&sets, fid, trde.n_mrna, sel, NULL, &en) != OVQ_OK) {
              st = OVQ_ERR;
              break;
            }
            for (int64_t q = 0; q < en.n_tested; q++)
              fprintf(te.f, "%s\t%d\t%s\t%lld\t%lld\t%s\t%s\t%s\n", m, c, sets.name[en.set[q]],
                      (long long)en.size[q], (long long)en.overlap[q], num(b1, en.expected[q]),
                      num(b2, en.p[q]), num(b3, en.q[q]));
            ovq_enrich_free(&en);
          }
          free(fid);
          free(sel);
        }
        ovq_diffexp_free(&de);
      }
    }
    free(cl);
    st = ovq_status_agree(comm, st);
  }
  if (st == OVQ_OK && latent) {
    char first[sizeof cfg.cluster.methods];
    snprintf(first, sizeof first, "%s", methods_opt ? methods_opt : cfg.cluster.methods);
    first[strcspn(first, ", ")] = 0;
    char name[sizeof first + 32];
    snprintf(name, sizeof name, "/clusters/%s/labels", first);
    int32_t *cl = NULL;
    int64_t nt, nc, rs, nl;
    int groups = groups_opt ? atoi(groups_opt) : 3;
    if (groups < 1) groups = 1;
    st = ovq_status_agree(comm, ovq_results_read_block(&in, name, H5T_NATIVE_INT32, (void **)&cl,
                                                       &nt, &nc, &rs, &nl));
    if (st == OVQ_OK)
      st = ovq_status_agree(comm, latent_analysis(latent, cfg.model.type, &ids,
                                                  has_label ? &lab : NULL, first, cl, groups,
                                                  stem, comm));
    free(cl);
  }
  ovq_results_close(&in);
  if (rank == 0) {
    if (de_f) {
      int good = st == OVQ_OK && !ferror(de_f);
      if (fclose(de_f) != 0) good = 0;
      if (good && rename(de_tmp, de_path) != 0) good = 0;
      if (!good) {
        remove(de_tmp);
        if (st == OVQ_OK && ok) {
          ok = 0;
          ovq_error("%s: could not be written", de_path);
        }
      }
    }
    Table *all[7] = {&ta, &tf, &ts, &tp, &tc, &tk, &te};
    for (int q = 0; q < 7; q++) {
      if (!all[q]->f && q == 6) continue;
      if (st == OVQ_OK) {
        if (!table_close(all[q]) && ok) {
          ok = 0;
          ovq_error("%s: could not be written", all[q]->path);
        }
      } else if (all[q]->f) {
        fclose(all[q]->f);
        remove(all[q]->tmp);
      }
    }
  }
  if (st == OVQ_OK) st = ovq_status_agree(comm, ok ? OVQ_OK : OVQ_ERR);
  if (st == OVQ_OK) {
    st = ovq_results_commit(&r);
  } else if (r.path) {
    /* Nothing under the final name: drop the temporary file (an existing EVAL.h5 stays). */
    H5Fclose(r.file);
    if (rank == 0) remove(r.tmp);
    free(r.tmp);
    free(r.path);
  }
  if (st == OVQ_OK) ovq_log(OVQ_LOG_INFO, "wrote %s and %s_*.tsv", out, stem);
  ovq_matrix_free(&xde);
  ovq_prep_free(&trde);
  ovq_gmt_free(&sets);
  free(ref);
  free(tru);
  free(ref_names);
  free(tru_names);
  ovq_strings_free(&ids);
  ovq_strings_free(&lab);
  ovq_strings_free(&truth);
  free(os_time);
  free(os_event);
  return st == OVQ_OK ? CLI_OK : cli_fail();
}
