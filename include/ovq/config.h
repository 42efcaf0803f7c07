/* Run configuration: one struct, its defaults in one table (src/core/config.c), INI files and
 * `section.key=value` overrides.
 *
 * Resolution order: built-in defaults, then the INI file (if any), then each --set in command-line
 * order. Unknown sections or keys, malformed lines and values of the wrong type or out of range
 * are user errors that name the file, line and key. Rank 0 parses; the resolved struct is
 * broadcast, so every rank runs with the same settings. ovq_config_to_ini() gives the canonical
 * text of the resolved config, which every output file stores. */
#ifndef OVQ_CONFIG_H
#define OVQ_CONFIG_H

#include <mpi.h>
#include <stdint.h>

#include "ovq/error.h"

#define OVQ_PATH_MAX 1024

typedef struct OvqConfig {
  struct {
    char level[8]; /* error | warn | info | debug */
  } log;
  struct {
    char cohort[OVQ_PATH_MAX]; /* cohort file (HDF5) */
    char cancer[16];           /* one cancer type of a pan-cancer file; "" = all */
  } data;
  struct {
    /* Input files (Xena-style matrices, plain or .gz) and how to read them. */
    char mrna[OVQ_PATH_MAX];
    char mirna[OVQ_PATH_MAX];     /* optional */
    char clinical[OVQ_PATH_MAX];  /* one row per sample */
    char labels[OVQ_PATH_MAX];    /* optional second table with subtype labels */
    char layout[20];              /* features_as_rows (Xena) | samples_as_rows */
    char delimiter[8];            /* tab | comma */
    char gdc_sheet[OVQ_PATH_MAX]; /* GDC sample sheet: per-sample files instead of matrices */
    char gdc_dir[OVQ_PATH_MAX];   /* where the GDC files are (DIR/File ID/File Name or DIR/File Name) */
    char gdc_value[64];           /* value column of gene-expression files */
    char gdc_mirna_value[64];     /* value column of miRNA files */
    char sample_column[64], label_column[64], os_time_column[64], os_event_column[64];
    char cancer_column[64];
    char labels_sample_column[64];
    char cancer[16];        /* cancer type of every sample (instead of cancer_column) */
    char sample_types[64];  /* TCGA sample-type codes kept, comma-separated, or "all" */
    char log[8];            /* auto | yes | no: apply log2(x + 1) */
    char empty_features[8]; /* error | drop: features missing in every sample */
  } import;
  struct {
    double zero_fraction;   /* drop features that are 0 in more than this fraction of samples */
    char impute[8];         /* knn | mean */
    int64_t knn_k;
    double knn_rowmax, knn_colmax;
    int64_t knn_maxp;
    char select[12];        /* none | variance | mad: keep the most variable features per omic */
    int64_t top_mrna, top_mirna; /* features kept per omic (0 = all) */
    int standardize;        /* per-feature mean 0, standard deviation 1 */
    double weight_mrna, weight_mirna; /* multiply each omic's block after standardisation */
  } prep;
  struct {
    char features[8];   /* latent (a model's latent features) | raw (the preprocessed matrix) |
                           pca (its leading principal components) */
    int64_t pca_components; /* components of the pca feature set */
    char methods[128];  /* comma-separated: kmeans, gmm, spectral, snf, nmf, icluster, hclust */
    int64_t k;          /* clusters; 0 = choose over k_min..k_max */
    int64_t k_min, k_max;
    int64_t seed;
    int64_t n_init, max_iter;
    char kmeans_init[12];       /* kmeans++ | kmeans|| */
    char gmm_covariance[12];    /* full | diag | spherical */
    char hclust_linkage[12];    /* average | complete | ward */
    char spectral_affinity[8];  /* rbf | knn */
    double spectral_gamma;
    int64_t spectral_neighbors;
    int64_t snf_k, snf_t;
    double snf_alpha;
    int64_t nmf_runs;
    char nmf_method[8];         /* brunet | lee */
    int64_t icluster_burnin, icluster_draws, icluster_thin;
    double icluster_prior_gamma, icluster_sdev, icluster_beta_var_scale;
    int64_t consensus_reps;     /* > 0: consensus clustering with this many subsamples */
    double consensus_fraction;  /* samples drawn per subsample */
  } cluster;
  struct {
    char cancers[128]; /* comma-separated TCGA abbreviations */
    double scale;      /* multiplies the TCGA-like sample counts */
    int64_t seed;
    int64_t genes;
    int64_t mirnas;
    char format[8]; /* h5 | tsv (tsv also writes the HDF5 file) */
  } synth;
  struct {
    char type[8];       /* vqvae | ae | vae */
    char hidden[64];    /* widths of the wide layers, input side first: "2048,512" */
    int64_t res_blocks; /* residual blocks in encoder and decoder */
    int64_t res_width;
    int64_t latent;
    char activation[8]; /* gelu | relu */
    int64_t codebook_size;
    int64_t groups;
    double beta;
    int ema;
    double ema_decay, ema_eps;
    double dead_code_threshold;
    int64_t dead_code_every;
    char codebook_init[8]; /* uniform | data */
    double kl_weight;
    char features[4]; /* ze | zq: which VQ-VAE output feeds clustering */
    char recon_balance[10]; /* omics | features: what counts the same in the recon term */
  } model;
  struct {
    int64_t epochs;
    int64_t batch;
    double lr;
    double adam_beta1, adam_beta2, adam_eps;
    double weight_decay;
    double clip_norm;
    int64_t warmup_steps;
    char schedule[12]; /* constant | cosine */
    int64_t seed;
    char checkpoint[OVQ_PATH_MAX];
    int64_t checkpoint_every;
    int64_t check_replicas_every;
    int reproducible;
    int64_t repro_workers;
    int64_t node_ranks;
  } train;
  struct {
    char methods[128];      /* whose labels are judged; "" = every method in the clusters file */
    char gmt[OVQ_PATH_MAX]; /* gene sets for over-representation ("" = none) */
    double de_fdr, de_lfc;  /* a cluster's up-regulated genes: BH q below, log2 FC above */
    int64_t groups;         /* latent feature groups */
    int tsne;               /* t-SNE maps next to PCA */
    double perplexity;
    double network_r;       /* miRNA-gene network: Pearson r at most -network_r */
    char interactions[OVQ_PATH_MAX]; /* optional miRNA-target pairs restricting the network */
  } eval;
  struct {
    char models[64];     /* models trained by oncovq run: vqvae,ae,vae */
    char features[64];   /* feature sets clustered: raw,pca,ae,vae,vqvae */
    char seeds[128];     /* clustering seeds, comma-separated */
    char report[8];      /* auto | yes | no: figures and HTML page after the run */
  } run;
  struct {
    char cancers[256];   /* cancer types swept; "" = every type in the cohort */
    char models[64];     /* vqvae,ae,vae */
    /* Hyperparameter grids: comma-separated values (hidden: ';'-separated width lists). */
    char codebook_size[128], latent[128], beta[128], lr[128], epochs[128];
    char hidden[256];
    char seeds[128];     /* training seeds */
    int64_t group_size;  /* ranks per task group */
  } sweep;
} OvqConfig;

/* Local. Fills c with the built-in defaults. */
void ovq_config_defaults(OvqConfig *c);

/* Local. Applies every `key = value` of an INI file. On error returns OVQ_ERR with a message
 * "FILE:LINE: ..." naming the key or the malformed text. */
OvqStatus ovq_config_load_file(OvqConfig *c, const char *path);

/* Local. Applies INI text held in memory (e.g. the config stored in a results file); `origin`
 * names it in messages. */
OvqStatus ovq_config_load_string(OvqConfig *c, const char *text, const char *origin);

/* Local. Applies one "section.key=value" assignment; `origin` names it in messages. */
OvqStatus ovq_config_set(OvqConfig *c, const char *assignment, const char *origin);

/* Collective on comm. Defaults, then the file (path may be NULL), then the n_sets assignments,
 * parsed on rank 0 and broadcast. Returns the same status on every rank. */
OvqStatus ovq_config_resolve(OvqConfig *c, const char *path, int n_sets, char *const *sets,
                             MPI_Comm comm);

/* Local. The canonical INI text of c (every key, in table order). Caller frees. */
char *ovq_config_to_ini(const OvqConfig *c);

/* Local. The settings that differ from the defaults, as "section.key=value ..." (a line that
 * repeats the run with --set). Caller frees. */
char *ovq_config_overrides(const OvqConfig *c);

/* Local. The log level named by c->log.level. */
OvqLogLevel ovq_config_log_level(const OvqConfig *c);

#endif
