/* Evaluation of clusters (the pipeline's last stage, and `oncovq eval`): every analysis that judges
 * subtypes, run on the clusters file of `oncovq cluster` as the config asks, into a results file
 * and tidy TSV tables.
 *
 * Per method (cfg->eval.methods, or cfg->cluster.methods when empty), with its labels
 * /clusters/<method>/labels:
 *   - agreement with the published labels (/samples/label) and, for synthetic cohorts, the true
 *     subtypes: ARI, NMI (arithmetic and geometric), purity; unlabelled samples left out and
 *     counted (ovq/metrics.h); the label flow (contingency table, unlabelled included);
 *   - survival per cluster (ovq/survival.h): Kaplan-Meier curves, log-rank over all clusters and
 *     pairwise with BH, Cox model;
 *   with a cohort (the one the clusters came from; same samples, same order, cfg->data.cancer):
 *   - differential expression of each cluster against the rest (ovq/diffexp.h) on the
 *     preprocessed ([prep] settings), unstandardised log expression, mRNA and miRNA;
 *   - with cfg->eval.gmt: over-representation (ovq/enrich.h) of each cluster's up-regulated
 *     genes (mRNA block; Welch BH q < eval.de_fdr, log2 FC > eval.de_lfc) among the gene sets;
 *   - the miRNA-gene network: a feature is "DE" if, for at least one cluster against the rest,
 *     Welch BH q < eval.de_fdr and |log2 FC| > eval.de_lfc (the union over the clusters). Every
 *     pair (DE miRNA, DE gene) is tested (or, with eval.interactions, only the listed pairs whose
 *     both members are DE): Pearson r over all N samples (labelled or not) of the preprocessed
 *     log expression, two-sided p from t = r sqrt((N - 2) / (1 - r^2)) with N - 2 degrees of
 *     freedom (scipy.stats.pearsonr), BH q over the tested pairs. The edges are the tested pairs
 *     with r <= -eval.network_r (miRNAs repress their targets), in miRNA then gene feature order.
 *     A pair with a constant member has no r and is not tested.
 *     eval.interactions: a TSV file (plain or gzip) with a header line and two columns,
 *     miRNA<TAB>gene; a name matches a feature whose id equals it or whose id starts with it
 *     followed by '|' ("TP53" matches "TP53|7157"); names of no kept feature are ignored (the log
 *     counts them). A line without exactly two non-empty cells is an error naming file:line.
 *   with a latent file (cfg->model.type's /models/<type>/latent, the samples of the clusters):
 *   - Pearson and Spearman correlations between the latent features, groups of features
 *     (average-linkage tree of 1 - |Pearson| cut at eval.groups), the samples x features matrix
 *     ordered by the first method's clusters then the labels (the heatmap), a PCA map and, with
 *     eval.tsne, a t-SNE map (perplexity eval.perplexity, at most (N - 1) / 3).
 *
 * Outputs (written only when everything succeeded; each file appears under its name complete):
 *   OUT (in->out, e.g. EVAL.h5), a results file (ovq/results.h) with the resolved config:
 *     /eval/<table>/<column>   one dataset [n_rows] per column of each table below: float64
 *                              (NaN where the TSV has NA), int64, or fixed-length strings
 *     /eval/<method>/<reference>/ari_nmi_nmigeo_purity   float64 [4]
 *     /eval/<method>/survival/logrank_chisq_df_p_coxlrt_p float64 [5]
 *   STEM_<table>.tsv next to it (STEM = OUT without ".h5"), a header line, then one row per line;
 *   a value that is not finite is NA (+Inf as Inf), never NaN. The tables and their columns:
 *     agreement  method k reference ari nmi nmi_geometric purity n_compared n_left_out
 *     flow       method reference label cluster count
 *     survival   method k n n_unknown logrank_chisq logrank_df logrank_p cox_lrt cox_lrt_p note
 *     pairs      method cluster_a cluster_b chisq p p_bh
 *     cox        method cluster reference coef se hr hr_lower hr_upper p
 *     km         method cluster time n_risk n_event n_censor survival lower upper
 *   with a cohort:
 *     de         method cluster feature n_in n_out mean_in mean_out log2fc t t_p t_q u u_p u_q
 *     network    method mirna gene r p q mirna_clusters gene_clusters   (clusters: "0,2", the
 *                clusters where the feature is DE)
 *     enrichment method cluster set size overlap expected p q          (with eval.gmt)
 *   with a latent file:
 *     latent_corr     feature_a feature_b pearson spearman
 *     latent_groups   feature group
 *     latent_heatmap  sample method cluster label feature value  (long format, heatmap order)
 *     maps            sample method cluster label pc1 pc2 tsne1 tsne2
 *     pca_variance    component explained_variance ratio
 *
 * Degenerate input is no error: a cluster of one sample, constant features, no published label,
 * all samples censored, a method whose labels are all unknown, gene sets naming unknown genes
 * each give a note in the log and NA (or the documented value of the module) in the tables. */
#ifndef OVQ_EVALUATE_H
#define OVQ_EVALUATE_H

#include <mpi.h>

#include "ovq/config.h"
#include "ovq/error.h"

/* Collective on comm. Inputs of one evaluation; NULL members are skipped analyses. */
/* clang-format off */
typedef struct OvqEvalInputs {
  const char *clusters; /* clusters file of 'oncovq cluster' (required): /samples, /clusters/M/labels */
  const char *cohort;   /* cohort file the clusters came from: DE, enrichment, miRNA-gene network */
  const char *latent;   /* results file with /models/<cfg->model.type>/latent: latent analyses, maps */
  const char *out;      /* EVAL.h5; the tables are <out without .h5>_NAME.tsv */
} OvqEvalInputs;
/* clang-format on */

/* Collective on comm. Runs the evaluation of in->clusters described above with the settings of
 * cfg (the [eval] section; [prep] for the expression, data.cancer for the cohort, model.type for
 * the latent file) and writes in->out and its tables. Returns OVQ_OK, or OVQ_ERR on every rank
 * with a message (an unreadable or mismatched input, a missing /clusters/<method>/labels, a bad
 * GMT or interactions file, unwritable outputs); on error no output file is left behind (an
 * existing one is kept). eval.gmt or eval.interactions without a cohort are skipped with a
 * warning. */
OvqStatus ovq_evaluate(const OvqConfig *cfg, const OvqEvalInputs *in, MPI_Comm comm);

#endif
