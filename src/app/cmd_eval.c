/* oncovq eval: argument parsing for the evaluation stage (ovq/evaluate.h). The settings are the
 * clusters file's stored config, then --config FILE, then the overrides (--set and the flags). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ovq/evaluate.h"
#include "ovq/results.h"

static void help(void) {
  printf(
      "usage: oncovq eval --input CLUSTERS.h5 --out EVAL.h5 [--methods LIST]\n"
      "                   [--cohort COHORT.h5 [--gmt SETS.gmt]] [--latent RESULTS.h5]\n"
      "                   [--groups G] [--config FILE] [--set section.key=value ...]\n\n"
      "Evaluates the clusters written by 'oncovq cluster': agreement with the published\n"
      "labels (/samples/label) and, for synthetic cohorts, the true subtypes (ARI, NMI with\n"
      "arithmetic and geometric normalisation, purity; unlabelled samples left out and\n"
      "counted), the label flow (contingency table), and survival per cluster (Kaplan-Meier\n"
      "with 95%% CIs and medians, log-rank over all clusters and pairwise with BH, Cox model\n"
      "with hazard ratios and the likelihood-ratio test). Writes EVAL.h5 and the tables\n"
      "EVAL_agreement.tsv, EVAL_flow.tsv, EVAL_survival.tsv, EVAL_pairs.tsv, EVAL_cox.tsv,\n"
      "EVAL_km.tsv next to it; every table is also in EVAL.h5 as /eval/TABLE/COLUMN.\n"
      "With --cohort (the cohort the clusters came from):\n"
      "  - differential expression of each cluster against the rest on the preprocessed,\n"
      "    unstandardised log expression (Welch t, Wilcoxon rank-sum, BH: EVAL_de.tsv);\n"
      "  - the miRNA-gene network (EVAL_network.tsv): a feature is DE if in at least one\n"
      "    cluster (the union over the clusters) its Welch BH q < eval.de_fdr and |log2 FC| >\n"
      "    eval.de_lfc; every pair of a DE miRNA and a DE gene with Pearson r <= -eval.network_r\n"
      "    over the samples is an edge (r, its p-value, BH q over the tested pairs, the\n"
      "    clusters where each is DE); eval.interactions = FILE (TSV with a header line,\n"
      "    miRNA<TAB>gene) restricts the pairs to those listed;\n"
      "  - with --gmt, the over-representation of each cluster's up-regulated genes (q <\n"
      "    eval.de_fdr, log2 FC > eval.de_lfc) among the gene sets (EVAL_enrichment.tsv).\n"
      "With --latent: latent-feature correlations (EVAL_latent_corr.tsv), feature groups\n"
      "(EVAL_latent_groups.tsv), the heatmap matrix ordered by the first method's clusters and\n"
      "the labels (EVAL_latent_heatmap.tsv), PCA and t-SNE maps (EVAL_maps.tsv,\n"
      "EVAL_pca_variance.tsv). Undefined values are NA in the tables, never NaN.\n\n"
      "options:\n"
      "  --input FILE    clusters file of 'oncovq cluster' (its config is the base config)\n"
      "  --out FILE      results file; the tables take its name without .h5\n"
      "  --cohort FILE   cohort file: differential expression, network, enrichment\n"
      "  --latent FILE   results file of 'oncovq train' / 'oncovq embed' (model.type)\n"
      "  --methods LIST  eval.methods: whose labels (default: cluster.methods of the input)\n"
      "  --gmt FILE      eval.gmt: gene sets (GMT: MSigDB, KEGG, tools/export_go_gmt.R's GO)\n"
      "  --groups G      eval.groups: latent feature groups (default 3)\n"
      "  --config FILE   settings over the input's config; --set section.key=value after it\n"
      "[eval] keys: methods, gmt, de_fdr (0.05), de_lfc (1), groups (3), tsne (true),\n"
      "perplexity (50, at most (N - 1) / 3), network_r (0.5), interactions.\n");
}

/* Collective. The clusters file's stored config, then the --config file and the overrides,
 * parsed on rank 0 and broadcast; sets the log level and logs what differs from the defaults. */
static OvqStatus resolve(const char *input, const CliCommon *cc, MPI_Comm comm, OvqConfig *cfg) {
  OvqResults in;
  if (ovq_results_open(&in, input, comm) != OVQ_OK) return OVQ_ERR;
  char *ini = NULL;
  OvqStatus st = ovq_results_read_attr(&in, "config", &ini);
  ovq_results_close(&in);
  int rank;
  MPI_Comm_rank(comm, &rank);
  if (st == OVQ_OK && rank == 0) {
    ovq_config_defaults(cfg);
    st = ovq_config_load_string(cfg, ini, input);
    if (st == OVQ_OK && cc->config_path) st = ovq_config_load_file(cfg, cc->config_path);
    for (int i = 0; st == OVQ_OK && i < cc->n_sets; i++)
      st = ovq_config_set(cfg, cc->sets[i], "--set");
  }
  free(ini);
  st = ovq_status_agree(comm, st);
  if (st != OVQ_OK) return st;
  OVQ_MPI_CHECK(MPI_Bcast(cfg, (int)sizeof *cfg, MPI_BYTE, 0, comm));
  ovq_log_set_level(ovq_config_log_level(cfg));
  char *ov = ovq_config_overrides(cfg);
  ovq_log(OVQ_LOG_INFO, "config: %s", ov[0] ? ov : "(defaults)");
  free(ov);
  return OVQ_OK;
}

int cmd_eval(int argc, char **argv, MPI_Comm comm) {
  const char *input = NULL, *out = NULL, *cohort = NULL, *latent = NULL;
  const CliOption opts[] = {
      {"--input", NULL, &input, NULL},           {"--out", NULL, &out, NULL},
      {"--cohort", NULL, &cohort, NULL},         {"--latent", NULL, &latent, NULL},
      {"--methods", "eval.methods", NULL, NULL}, {"--gmt", "eval.gmt", NULL, NULL},
      {"--groups", "eval.groups", NULL, NULL}};
  static const char *const required[] = {"--input", "--out", NULL};
  CliCommon cc = {0};
  int rc =
      cli_parse("eval", argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), &cc, help, required);
  /* The flag --gmt (not a gene-set file named in a config) makes no sense without a cohort. */
  for (int i = 0; rc == CLI_OK && i < cc.n_owned; i++)
    if (!strncmp(cc.owned[i], "eval.gmt=", 9) && !cohort) {
      cli_usage_error("eval", "--gmt needs --cohort (the expression to test)");
      rc = CLI_USAGE;
    }
  OvqConfig cfg;
  if (rc == CLI_OK && resolve(input, &cc, comm, &cfg) != OVQ_OK) rc = cli_fail();
  cli_common_free(&cc);
  if (rc != CLI_OK) return rc == CLI_HELP ? CLI_OK : rc;
  const OvqEvalInputs in = {.clusters = input, .cohort = cohort, .latent = latent, .out = out};
  return ovq_evaluate(&cfg, &in, comm) == OVQ_OK ? CLI_OK : cli_fail();
}
