/* Synthetic TCGA-like pan-cancer cohort with known ground truth (see include/ovq/synth.h).
 *
 * The model, and why each part is there (every later stage must meet what it meets in TCGA):
 *
 * Samples. Ten TCGA studies at their usual sizes (x scale, at least 4 per subtype), ordered by
 *   cancer in the caller's order. Each cancer has 3-5 subtypes of unequal size with their
 *   published names (BRCA like PAM50: 50/20/18/8/4 %). Counts per subtype are exact (largest
 *   remainder) and a permutation of the cancer's samples, drawn from the cohort-wide stream,
 *   says which sample gets which subtype, so neither the row order nor the barcode reveals it.
 *
 * Genes. G genes, about 60 % of them in K = max(40, G / 150) co-expression modules (pathways)
 *   of 30-200 genes (smaller when G is small); genes are dealt to modules by a random
 *   permutation, so the gene index carries no truth. The rest are background genes with no
 *   programme. Module k's activity A_ik enters gene g's log2 mean as w_g * A_ik (w_g mostly
 *   positive, 15 % negative, as in real programmes where some genes are repressed).
 *   - Tissue programmes: module t (t < 10) is the tissue module of built-in cancer t, high in
 *     that cancer and low elsewhere; with a per-gene, per-cancer offset (sd 0.4) and ~5 % of
 *     genes switched off (log2 mean -4..-1) in a random half of the cancers, cancers separate as
 *     clearly as they do in pan-cancer TCGA, and tissue-restricted genes are mostly zero where
 *     off.
 *   - Subtype programmes: each cancer drives S + 4 modules. Module d < S is the marker of
 *     subtype d and two more are shared by random subsets of subtypes; these are switches: a
 *     latent L ~ N(+-0.9, 1) passed through a steep logistic gives an on/off activity of
 *     amplitude 1.0-2.2 log2, so subtypes differ by threshold-like effects (with ~18 % of
 *     samples on the wrong side of the threshold), not only by mean shifts. Two more modules
 *     shift linearly per subtype (N(0, 0.8^2)).
 *   - Sample-state programmes: six other modules per cancer vary strongly between tumours
 *     (sd 1.1) independently of the subtype, like purity, proliferation and immune or stromal
 *     infiltration in TCGA; they dominate naive distances, so k-means on the raw matrix finds
 *     the subtypes only partly (ARI about 0.67 on BRCA, checked in tests/test_vq_ari.c).
 *     Every remaining module varies per sample (sd 0.35): co-expression without subtype signal.
 * miRNAs. M miRNAs in families of about 5 (again dealt by permutation). A family's activity has
 *   a per-(cancer, subtype) mean N(0, 0.7^2) plus sample noise (sd 0.5), so miRNAs follow the
 *   subtypes. Half of the modules are repressed by one family each: gene g of such a module
 *   gets -rho_g * F_i (rho in 0.4-0.9), so a targeting miRNA anticorrelates with its targets
 *   (truth: mirna_target = that module).
 * Counts. Gene g of sample i: mu = 2^eta * d_i with eta the log2 mean above plus the gene's
 *   base level, d_i a log-normal library size (relative to the reference depth L0), and a count
 *   drawn NB(mu, phi_g) with phi_g log-normal around 0.1 plus a trend 0.5 / (1 + 2^base) that
 *   gives lowly expressed genes their extra dispersion. The stored value is log2(count / d_i + 1),
 *   the RSEM-normalised count on Xena's log2(x + 1) scale; 80 % of genes have base levels
 *   N(8.8, 1.9^2) (medians ~6-12) and 20 % are low (-3..3.2), so 15-20 % of genes have more
 *   than 10 % zeros, as the zero filter expects. miRNAs are the same on log2(RPM + 1) with a
 *   depth of ~3 M reads and more low features (55 %), as in TCGA miRNA-seq.
 * Batch. OV, GBM and COAD have a second platform (batch 1, 30-40 % of their samples) that
 *   shifts every feature by its own amount (N(0, 0.3^2), 10 % of features by N(0, 1) more),
 *   independent of subtype, as array/sequencer changes did in those TCGA studies.
 * Missing values. mRNA 0.1 % and miRNA 0.6 % of values scattered, plus a handful of miRNAs
 *   (M / 300, 2-8, none when M < 50) missing in 55-85 % of samples, so both the mostly-missing
 *   filter and KNN imputation have work to do.
 * Published label. 5 % unlabelled; half of the samples of the two smallest subtypes carry the
 *   name of a larger one (drawn by size), and 10 % of the rest a random other subtype, so the
 *   label agrees with the truth only partly, like PAM50 with expression clusters.
 * Survival. Weibull times with a cancer-specific scale and shape (GBM median ~14 months, PRAD
 *   and LGG long) and per-subtype hazard ratios taken from the literature's ordering (Basal and
 *   Her2 worse than LumA, IDHwt far worse than codeleted LGG, CMS4 worst in COAD, ...);
 *   censoring by administrative follow-up U(30 d, cancer's maximum) and exponential loss, which
 *   give TCGA-like event rates (BRCA ~14 %, GBM ~75 %, PRAD ~3 %); 1 % of samples unknown.
 * Ids. Barcodes TCGA-XX-YYYY-01 with a cancer-specific tissue-source code XX and YYYY the
 *   base-36 image of the global index under a bijection of [0, 36^4), unique in the cohort;
 *   genes "SG00001|100001", miRNAs "hsa-mir-s0001".
 *
 * Reproducibility and cost. Cohort-wide structure (module sizes, permutations, subtype
 * programmes) comes from the SYNTH_GLOBAL stream and per-feature parameters from SYNTH_FEATURE
 * keyed by feature index; every rank computes them (cheap). Per-sample draws use SYNTH_SAMPLE
 * keyed by the global row, each count SYNTH_VALUE keyed by row * (G + M) + feature, and the
 * missing mask SYNTH_MISSING keyed by the global row (geometric gaps between missing features:
 * one draw per missing value instead of one per value, still independent of the rank layout).
 * The NB draws dominate the cost; everything per value besides them is one exp2f and one log2f.
 */
#include "ovq/synth.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ovq/partition.h"
#include "ovq/progress.h"
#include "ovq/rng.h"

#define N_BUILTIN 10
#define MAX_SUB 5

typedef struct CancerSpec {
  const char *name;
  int base_n;      /* samples at scale 1 */
  const char *tss; /* tissue-source-site code in the barcode */
  int n_sub;
  const char *sub[MAX_SUB];
  double prop[MAX_SUB];
  double hr[MAX_SUB]; /* hazard ratio of each subtype */
  double os_median;   /* days, median survival at hazard ratio 1 */
  double os_shape;    /* Weibull shape (> 1: hazard rising with time, as in GBM) */
  double follow_up;   /* days, longest administrative follow-up */
  double loss_mean;   /* days, mean time to loss to follow-up */
  double batch_frac;  /* samples on the second platform (0 = single platform) */
} CancerSpec;

/* Sizes, subtype names and proportions follow the TCGA marker papers; survival parameters are
 * calibrated so that the event rates match the TCGA clinical tables. */
/* clang-format off */
static const CancerSpec kCancers[N_BUILTIN] = {
    {"BRCA", 1100, "A2", 5, {"LumA", "LumB", "Basal", "Her2", "Normal"},
     {.50, .20, .18, .08, .04}, {1.0, 1.6, 1.8, 2.0, 1.1}, 7000, 1.1, 4500, 2500, 0},
    {"GBM", 170, "06", 4, {"Classical", "Mesenchymal", "Proneural", "Neural"},
     {.27, .32, .25, .16}, {1.0, 1.2, 0.8, 1.0}, 420, 1.4, 2500, 5000, .40},
    {"LGG", 510, "DU", 3, {"IDHmut-codel", "IDHmut-non-codel", "IDHwt"},
     {.30, .48, .22}, {1.0, 1.7, 6.0}, 4800, 1.2, 3500, 3000, 0},
    {"OV", 300, "13", 4, {"Differentiated", "Immunoreactive", "Mesenchymal", "Proliferative"},
     {.30, .28, .22, .20}, {1.0, 0.8, 1.25, 1.15}, 1300, 1.4, 4500, 8000, .35},
    {"LUAD", 510, "55", 3, {"TRU", "PP", "PI"},
     {.42, .32, .26}, {0.8, 1.1, 1.3}, 1400, 1.1, 3000, 2500, 0},
    {"KIRC", 530, "B0", 4, {"m1", "m2", "m3", "m4"},
     {.30, .22, .28, .20}, {0.6, 1.0, 1.8, 1.2}, 2000, 1.1, 3500, 3000, 0},
    {"HNSC", 520, "CV", 4, {"Atypical", "Basal", "Classical", "Mesenchymal"},
     {.24, .31, .18, .27}, {0.8, 1.3, 1.2, 1.0}, 1300, 1.0, 3000, 3000, 0},
    {"COAD", 450, "AA", 4, {"CMS1", "CMS2", "CMS3", "CMS4"},
     {.16, .43, .15, .26}, {1.2, 0.8, 1.0, 1.6}, 2300, 1.1, 2500, 2000, .30},
    {"BLCA", 410, "BT", 5,
     {"Luminal-papillary", "Luminal-infiltrated", "Luminal", "Basal-squamous", "Neuronal"},
     {.35, .19, .06, .35, .05}, {0.6, 1.1, 0.9, 1.3, 2.0}, 900, 1.0, 2500, 2500, 0},
    {"PRAD", 500, "EJ", 3, {"PCS1", "PCS2", "PCS3"},
     {.22, .43, .35}, {3.0, 1.0, 0.8}, 20000, 1.3, 3000, 2500, 0},
};
/* clang-format on */

/* Model constants (log2 units unless stated); the block comment above says why. */
static const double kModuleFraction = 0.6; /* genes in modules, at most */
static const float kModuleNoise = 0.35f;   /* sd of a module's per-sample activity */
static const double kSwitchLatent = 0.9;   /* |mean| of a switch module's latent */
static const float kStateNoise = 1.1f;     /* sd of the sample-state programmes' activity */
enum { N_STATE = 6 };                      /* sample-state programmes per cancer */
static const double kSwitchSlope = 3.0;    /* steepness of the on/off logistic */
static const float kTissueOn = 2.0f, kTissueOff = -0.5f;
static const double kFamilyMeanSd = 0.7, kFamilyNoise = 0.5;
static const double kMissMrna = 0.001, kMissMirna = 0.006;
static const double kUnlabelled = 0.05, kSmallMixed = 0.5, kLabelNoise = 0.10;
static const double kOsUnknown = 0.01;
static const int64_t kBarcodeSpace = 36 * 36 * 36 * 36;

/* Cohort-wide streams: index = tag << 32 | argument. */
enum {
  TAG_MODULE_SIZE = 1,
  TAG_GENE_PERM,
  TAG_MIRNA_PERM,
  TAG_DRIVERS,
  TAG_FAMILY,
  TAG_TARGETS,
  TAG_SUBTYPES
};

/* How one module behaves in one built-in cancer type. */
typedef struct ModuleSpec {
  int is_switch;
  float noise;         /* sd of the per-sample activity (linear modules) */
  float amp;           /* switch: activity ranges over [-amp/2, amp/2] */
  float mean[MAX_SUB]; /* switch: mean of the latent; linear: mean activity, per subtype */
} ModuleSpec;

typedef struct Model {
  int64_t G, M, K, n_fam;
  int n_c;
  int cancer[OVQ_SYNTH_MAX_CANCERS];        /* built-in index of each selected cancer */
  int64_t first[OVQ_SYNTH_MAX_CANCERS + 1]; /* global row of each cancer's first sample */
  /* genes */
  int32_t *module; /* [G] module, -1 = none (truth) */
  int32_t *slot;   /* [G] index into a sample's activity arrays (K = none, activity 0) */
  float *base;     /* [n_c][G] log2 mean without programmes, per selected cancer */
  float *w, *rho, *phi, *shift; /* [G] loading, repression, dispersion, batch shift */
  /* miRNAs */
  int32_t *family; /* [M] */
  float *mbase;    /* [n_c][M] */
  float *mw, *mphi, *mshift;
  int64_t n_bad; /* mostly-missing miRNAs */
  int64_t *bad;  /* [n_bad] their indices */
  double *bad_p; /* [n_bad] their missing probabilities */
  /* programmes */
  ModuleSpec *spec;   /* [N_BUILTIN][K] */
  int32_t *repressor; /* [K] family repressing the module, -1 = none */
  int32_t *target;    /* [n_fam] module a family represses, -1 = none */
  float *fam_mean;    /* [N_BUILTIN][MAX_SUB][n_fam] */
} Model;

/* Everything drawn once per sample. */
typedef struct Sample {
  int c; /* selected-cancer index */
  int s; /* subtype */
  int batch;
  double depth, mdepth; /* library size / L0; miRNA reads in millions */
  float *act;           /* [K + 1] module activities, act[K] = 0 */
  float *rep;           /* [K + 1] activity of the module's repressing family, 0 if none */
  float *fam;           /* [n_fam] family activities */
} Sample;

int ovq_synth_cancer_count(void) {
  return N_BUILTIN;
}

const char *ovq_synth_cancer_name(int i) {
  return (i >= 0 && i < N_BUILTIN) ? kCancers[i].name : NULL;
}

static int builtin_index(const char *name) {
  for (int i = 0; i < N_BUILTIN; i++)
    if (!strcmp(kCancers[i].name, name)) return i;
  return -1;
}

int64_t ovq_synth_cancer_size(const char *cancer, double scale) {
  int b = builtin_index(cancer);
  if (b < 0) return -1;
  int64_t n = llround(kCancers[b].base_n * scale), min = 4 * kCancers[b].n_sub;
  return n > min ? n : min;
}

/* ---- small helpers -------------------------------------------------------------------------- */

static OvqRng global_rng(uint64_t seed, uint32_t tag, uint32_t arg) {
  OvqRng r;
  ovq_rng_init(&r, seed, OVQ_STREAM_SYNTH_GLOBAL, ((uint64_t)tag << 32) | arg);
  return r;
}

static double uniform(OvqRng *r, double lo, double hi) {
  return lo + (hi - lo) * ovq_rng_uniform(r);
}

static double normal(OvqRng *r, double mean, double sd) {
  return mean + sd * ovq_rng_normal(r);
}

static double clamp(double x, double lo, double hi) {
  return x < lo ? lo : x > hi ? hi : x;
}

/* perm[0..n) = a uniformly random permutation of 0..n-1 (Fisher-Yates). */
static void random_permutation(OvqRng *r, int64_t n, int64_t *perm) {
  for (int64_t i = 0; i < n; i++)
    perm[i] = i;
  for (int64_t i = n - 1; i > 0; i--) {
    int64_t j = (int64_t)ovq_rng_below(r, (uint64_t)i + 1);
    int64_t t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
}

/* Exact subtype counts summing to n: floor of the quotas, then one more each to the largest
 * remainders (ties to the lower index). */
static void largest_remainder(int64_t n, const CancerSpec *cs, int64_t *count) {
  double total = 0, rem[MAX_SUB];
  for (int s = 0; s < cs->n_sub; s++)
    total += cs->prop[s];
  int64_t left = n;
  for (int s = 0; s < cs->n_sub; s++) {
    double quota = n * cs->prop[s] / total;
    count[s] = (int64_t)floor(quota);
    rem[s] = quota - count[s];
    left -= count[s];
  }
  for (; left > 0; left--) {
    int best = 0;
    for (int s = 1; s < cs->n_sub; s++)
      if (rem[s] > rem[best]) best = s;
    count[best]++;
    rem[best] = -1.0;
  }
}

/* ---- validation ----------------------------------------------------------------------------- */

static OvqStatus validate(const OvqSynthParams *p, Model *m) {
  if (p->n_cancers < 1 || p->n_cancers > OVQ_SYNTH_MAX_CANCERS)
    return ovq_error("synth: %d cancer types given; choose 1 to %d", p->n_cancers,
                     OVQ_SYNTH_MAX_CANCERS);
  /* The upper bound only keeps the sample counts far from overflow; the barcode space below
   * is the real limit. */
  if (!(p->scale > 0 && p->scale <= 1e6))
    return ovq_error("synth: scale must be a positive number up to 1e6 (got %g)", p->scale);
  if (p->n_genes < 100)
    return ovq_error("synth: n_genes must be >= 100 (got %lld)", (long long)p->n_genes);
  if (p->n_mirnas < 0)
    return ovq_error("synth: n_mirnas must be >= 0 (got %lld)", (long long)p->n_mirnas);
  m->n_c = p->n_cancers;
  m->first[0] = 0;
  for (int c = 0; c < p->n_cancers; c++) {
    int b = builtin_index(p->cancers[c]);
    if (b < 0) {
      char known[96] = "";
      for (int i = 0; i < N_BUILTIN; i++)
        snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", i ? ", " : "",
                 kCancers[i].name);
      return ovq_error("synth: unknown cancer type '%s' (known: %s)", p->cancers[c], known);
    }
    for (int d = 0; d < c; d++)
      if (m->cancer[d] == b)
        return ovq_error("synth: cancer type '%s' listed twice", p->cancers[c]);
    m->cancer[c] = b;
    m->first[c + 1] = m->first[c] + ovq_synth_cancer_size(p->cancers[c], p->scale);
  }
  if (m->first[m->n_c] > kBarcodeSpace)
    return ovq_error("synth: %lld samples exceed the %lld distinct barcodes; lower the scale",
                     (long long)m->first[m->n_c], (long long)kBarcodeSpace);
  m->G = p->n_genes;
  m->M = p->n_mirnas;
  return OVQ_OK;
}

/* ---- cohort-wide structure ------------------------------------------------------------------ */

/* Module sizes log-uniform in [30, 200], shrunk together when they would exceed the module
 * fraction of G; then genes are dealt to modules in a random order. */
static void build_modules(Model *m, uint64_t seed) {
  m->K = llround(m->G / 150.0);
  if (m->K < 40) m->K = 40;
  int64_t *size = OVQ_MALLOC((size_t)m->K * sizeof *size);
  OvqRng r = global_rng(seed, TAG_MODULE_SIZE, 0);
  double sum = 0, cap = kModuleFraction * m->G;
  double *raw = OVQ_MALLOC((size_t)m->K * sizeof *raw);
  for (int64_t k = 0; k < m->K; k++)
    sum += raw[k] = 30.0 * pow(200.0 / 30.0, ovq_rng_uniform(&r));
  double f = sum > cap ? cap / sum : 1.0;
  for (int64_t k = 0; k < m->K; k++)
    size[k] = (int64_t)fmax(1.0, floor(raw[k] * f));
  free(raw);

  int64_t *perm = OVQ_MALLOC((size_t)m->G * sizeof *perm);
  r = global_rng(seed, TAG_GENE_PERM, 0);
  random_permutation(&r, m->G, perm);
  m->module = OVQ_MALLOC((size_t)m->G * sizeof *m->module);
  m->slot = OVQ_MALLOC((size_t)m->G * sizeof *m->slot);
  int64_t pos = 0;
  for (int64_t k = 0; k < m->K; k++)
    for (int64_t j = 0; j < size[k] && pos < m->G; j++, pos++)
      m->module[perm[pos]] = (int32_t)k;
  for (; pos < m->G; pos++)
    m->module[perm[pos]] = -1;
  for (int64_t g = 0; g < m->G; g++)
    m->slot[g] = m->module[g] >= 0 ? m->module[g] : (int32_t)m->K;
  free(perm);
  free(size);
}

/* What each module does in built-in cancer b: its tissue module is on, the other cancers'
 * tissue modules are low, S + 4 driver modules (drawn among the non-tissue ones) carry the
 * subtypes, every other module only varies per sample. */
static void build_programmes(Model *m, uint64_t seed) {
  m->spec = OVQ_CALLOC((size_t)(N_BUILTIN * m->K), sizeof *m->spec);
  int64_t n_free = m->K - N_BUILTIN;
  int64_t *pick = OVQ_MALLOC((size_t)n_free * sizeof *pick);
  for (int b = 0; b < N_BUILTIN; b++) {
    const CancerSpec *cs = &kCancers[b];
    ModuleSpec *sp = m->spec + (int64_t)b * m->K;
    for (int64_t k = 0; k < m->K; k++) sp[k].noise = kModuleNoise;
    for (int t = 0; t < N_BUILTIN; t++)
      for (int s = 0; s < MAX_SUB; s++)
        sp[t].mean[s] = t == b ? kTissueOn : kTissueOff;
    OvqRng r = global_rng(seed, TAG_DRIVERS, (uint32_t)b);
    random_permutation(&r, n_free, pick);
    /* Sample-state programmes (purity, proliferation, immune and stromal infiltration, ...):
     * strong variation between tumours that has nothing to do with the subtype, as in TCGA,
     * where it dominates naive distances between samples. */
    for (int d = cs->n_sub + 4; d < cs->n_sub + 4 + N_STATE && d < n_free; d++)
      sp[N_BUILTIN + pick[d]].noise = kStateNoise;
    for (int d = 0; d < cs->n_sub + 4; d++) {
      ModuleSpec *ms = &sp[N_BUILTIN + pick[d]];
      ms->is_switch = d < cs->n_sub + 2;
      ms->amp = (float)(d < cs->n_sub ? uniform(&r, 1.0, 2.2) : uniform(&r, 0.8, 1.8));
      for (int s = 0; s < cs->n_sub; s++) {
        int on = d < cs->n_sub ? s == d : ovq_rng_uniform(&r) < 0.5;
        ms->mean[s] = ms->is_switch ? (float)(on ? kSwitchLatent : -kSwitchLatent)
                                    : (float)normal(&r, 0.0, 0.8);
      }
    }
  }
  free(pick);
}

/* miRNA families (dealt by permutation), their per-subtype means, and which module each of the
 * first min(n_fam, K / 2) families represses. */
static void build_families(Model *m, uint64_t seed) {
  m->n_fam = m->M / 5 > 1 ? m->M / 5 : 1;
  m->family = OVQ_MALLOC((size_t)(m->M > 0 ? m->M : 1) * sizeof *m->family);
  int64_t *perm = OVQ_MALLOC((size_t)(m->M > m->K ? m->M : m->K) * sizeof *perm);
  OvqRng r = global_rng(seed, TAG_MIRNA_PERM, 0);
  random_permutation(&r, m->M, perm);
  for (int64_t j = 0; j < m->M; j++)
    m->family[j] = (int32_t)(perm[j] % m->n_fam);

  /* Mostly-missing miRNAs: the last n_bad positions of the same permutation. */
  m->n_bad = m->M < 50 ? 0 : (int64_t)clamp((double)(m->M / 300), 2, 8);
  m->bad = OVQ_MALLOC((size_t)(m->n_bad > 0 ? m->n_bad : 1) * sizeof *m->bad);
  m->bad_p = OVQ_MALLOC((size_t)(m->n_bad > 0 ? m->n_bad : 1) * sizeof *m->bad_p);
  for (int64_t j = 0; j < m->n_bad; j++) {
    m->bad[j] = perm[m->M - 1 - j];
    m->bad_p[j] = uniform(&r, 0.55, 0.85);
  }

  m->fam_mean = OVQ_MALLOC((size_t)(N_BUILTIN * MAX_SUB * m->n_fam) * sizeof *m->fam_mean);
  for (int b = 0; b < N_BUILTIN; b++) {
    r = global_rng(seed, TAG_FAMILY, (uint32_t)b);
    for (int64_t i = 0; i < MAX_SUB * m->n_fam; i++)
      m->fam_mean[b * MAX_SUB * m->n_fam + i] = (float)normal(&r, 0.0, kFamilyMeanSd);
  }

  m->repressor = OVQ_MALLOC((size_t)m->K * sizeof *m->repressor);
  m->target = OVQ_MALLOC((size_t)m->n_fam * sizeof *m->target);
  for (int64_t k = 0; k < m->K; k++)
    m->repressor[k] = -1;
  for (int64_t f = 0; f < m->n_fam; f++)
    m->target[f] = -1;
  if (m->M > 0) {
    r = global_rng(seed, TAG_TARGETS, 0);
    random_permutation(&r, m->K, perm);
    int64_t n_target = m->n_fam < m->K / 2 ? m->n_fam : m->K / 2;
    for (int64_t f = 0; f < n_target; f++) {
      m->target[f] = (int32_t)perm[f];
      m->repressor[perm[f]] = (int32_t)f;
    }
  }
  free(perm);
}

/* ---- per-feature parameters (stream SYNTH_FEATURE, index = feature) ------------------------- */

/* Base level: expressed (normal, medians ~6-12) or low (uniform, many zeros). */
static double draw_base(OvqRng *r, double p_expressed, double mean, double sd, double lo, double hi,
                        double low_lo, double low_hi) {
  if (ovq_rng_uniform(r) < p_expressed) return clamp(normal(r, mean, sd), lo, hi);
  return uniform(r, low_lo, low_hi);
}

/* Dispersion: log-normal around 0.1 plus a low-expression trend; below 1 so the gamma shape
 * stays >= 1 (no pow per draw). */
static float draw_phi(OvqRng *r, double base) {
  return (float)clamp(exp(normal(r, log(0.1), 0.5)) + 0.5 / (1.0 + exp2(base)), 0.01, 0.9);
}

/* Platform shift: small for most features, large for some. */
static float draw_shift(OvqRng *r) {
  double s = normal(r, 0.0, 0.3), big = normal(r, 0.0, 1.0);
  return (float)(ovq_rng_uniform(r) < 0.1 ? s + big : s);
}

static void build_genes(Model *m, uint64_t seed) {
  int64_t G = m->G;
  m->base = OVQ_MALLOC((size_t)(m->n_c * G) * sizeof *m->base);
  m->w = OVQ_MALLOC((size_t)G * sizeof *m->w);
  m->rho = OVQ_MALLOC((size_t)G * sizeof *m->rho);
  m->phi = OVQ_MALLOC((size_t)G * sizeof *m->phi);
  m->shift = OVQ_MALLOC((size_t)G * sizeof *m->shift);
  for (int64_t g = 0; g < G; g++) {
    OvqRng r;
    ovq_rng_init(&r, seed, OVQ_STREAM_SYNTH_FEATURE, (uint64_t)g);
    double base = draw_base(&r, 0.80, 8.8, 1.9, 3.5, 15.5, -3.0, 3.2);
    m->phi[g] = draw_phi(&r, base);
    m->shift[g] = draw_shift(&r);
    double sign = ovq_rng_uniform(&r) < 0.15 ? -1.0 : 1.0;
    double w = sign * uniform(&r, 0.6, 1.4), rho = uniform(&r, 0.4, 0.9);
    int in_module = m->module[g] >= 0;
    m->w[g] = in_module ? (float)w : 0.0f;
    m->rho[g] = in_module && m->repressor[m->module[g]] >= 0 ? (float)rho : 0.0f;
    /* Offsets for all built-in cancers in a fixed order, so a gene's profile in one cancer does
     * not depend on which other cancers were selected. */
    double tissue[N_BUILTIN];
    int restricted = ovq_rng_uniform(&r) < 0.05;
    for (int b = 0; b < N_BUILTIN; b++) {
      tissue[b] = normal(&r, 0.0, 0.4);
      double off = uniform(&r, -4.0, -1.0); /* log2 level where a restricted gene is off */
      if (ovq_rng_uniform(&r) < 0.5 && restricted) tissue[b] = off - base;
    }
    for (int c = 0; c < m->n_c; c++)
      m->base[c * G + g] = (float)(base + tissue[m->cancer[c]]);
  }
}

static void build_mirnas(Model *m, uint64_t seed) {
  int64_t M = m->M, n = M > 0 ? M : 1;
  m->mbase = OVQ_MALLOC((size_t)(m->n_c * n) * sizeof *m->mbase);
  m->mw = OVQ_MALLOC((size_t)n * sizeof *m->mw);
  m->mphi = OVQ_MALLOC((size_t)n * sizeof *m->mphi);
  m->mshift = OVQ_MALLOC((size_t)n * sizeof *m->mshift);
  for (int64_t j = 0; j < M; j++) {
    OvqRng r;
    ovq_rng_init(&r, seed, OVQ_STREAM_SYNTH_FEATURE, (uint64_t)(m->G + j));
    double base = draw_base(&r, 0.45, 9.0, 2.2, 3.0, 17.0, -3.0, 3.0);
    m->mphi[j] = draw_phi(&r, base);
    m->mshift[j] = draw_shift(&r);
    m->mw[j] = (float)uniform(&r, 0.7, 1.3);
    double tissue[N_BUILTIN];
    for (int b = 0; b < N_BUILTIN; b++)
      tissue[b] = normal(&r, 0.0, 0.5);
    for (int c = 0; c < m->n_c; c++)
      m->mbase[c * M + j] = (float)(base + tissue[m->cancer[c]]);
  }
}

static void model_free(Model *m) {
  free(m->module);
  free(m->slot);
  free(m->base);
  free(m->w);
  free(m->rho);
  free(m->phi);
  free(m->shift);
  free(m->family);
  free(m->mbase);
  free(m->mw);
  free(m->mphi);
  free(m->mshift);
  free(m->bad);
  free(m->bad_p);
  free(m->spec);
  free(m->repressor);
  free(m->target);
  free(m->fam_mean);
}

/* ---- per-sample draws (stream SYNTH_SAMPLE, index = global row) ----------------------------- */

/* Subtypes of rows [lo, hi) of selected cancer c: exact counts, shuffled by the cancer's own
 * cohort-wide stream (every rank computes the same full permutation). */
static void assign_subtypes(const Model *m, uint64_t seed, int c, int64_t lo, int64_t hi,
                            int8_t *out) {
  const CancerSpec *cs = &kCancers[m->cancer[c]];
  int64_t n = m->first[c + 1] - m->first[c], count[MAX_SUB];
  largest_remainder(n, cs, count);
  int64_t *perm = OVQ_MALLOC((size_t)n * sizeof *perm);
  OvqRng r = global_rng(seed, TAG_SUBTYPES, (uint32_t)m->cancer[c]);
  random_permutation(&r, n, perm);
  int8_t *sorted = OVQ_MALLOC((size_t)n);
  int64_t j = 0;
  for (int s = 0; s < cs->n_sub; s++)
    for (int64_t k = 0; k < count[s]; k++)
      sorted[j++] = (int8_t)s;
  for (int64_t i = lo; i < hi; i++)
    out[i - lo] = sorted[perm[i - m->first[c]]];
  free(sorted);
  free(perm);
}

static void draw_activities(const Model *m, OvqRng *r, Sample *sd) {
  int b = m->cancer[sd->c];
  const ModuleSpec *sp = m->spec + (int64_t)b * m->K;
  for (int64_t k = 0; k < m->K; k++) {
    if (sp[k].is_switch) {
      double latent = normal(r, sp[k].mean[sd->s], 1.0);
      sd->act[k] = (float)(sp[k].amp * (1.0 / (1.0 + exp(-kSwitchSlope * latent)) - 0.5));
    } else {
      sd->act[k] = (float)normal(r, sp[k].mean[sd->s], sp[k].noise);
    }
  }
  sd->act[m->K] = 0.0f;
  const float *fm = m->fam_mean + ((int64_t)b * MAX_SUB + sd->s) * m->n_fam;
  for (int64_t f = 0; f < m->n_fam; f++)
    sd->fam[f] = (float)normal(r, fm[f], kFamilyNoise);
  for (int64_t k = 0; k < m->K; k++)
    sd->rep[k] = m->repressor[k] >= 0 ? sd->fam[m->repressor[k]] : 0.0f;
  sd->rep[m->K] = 0.0f;
}

/* Published label: unlabelled, mixed into a larger subtype (two smallest subtypes), a random
 * other subtype, or the truth. Every value is drawn before deciding, so the draws that follow
 * in the sample's stream do not depend on the branch taken. */
static const char *draw_label(OvqRng *r, const CancerSpec *cs, int s) {
  double u_unl = ovq_rng_uniform(r), u_mix = ovq_rng_uniform(r), u_noise = ovq_rng_uniform(r);
  double u_pick = ovq_rng_uniform(r);
  int other = (int)ovq_rng_below(r, (uint64_t)cs->n_sub - 1);
  if (u_unl < kUnlabelled) return "";
  /* The two smallest subtypes (ties: the later one counts as smaller). */
  int small1 = 0, small2 = -1;
  for (int k = 1; k < cs->n_sub; k++)
    if (cs->prop[k] <= cs->prop[small1]) small1 = k;
  for (int k = 0; k < cs->n_sub; k++)
    if (k != small1 && (small2 < 0 || cs->prop[k] <= cs->prop[small2])) small2 = k;
  if ((s == small1 || s == small2) && u_mix < kSmallMixed) {
    double total = 0, acc = 0;
    for (int k = 0; k < cs->n_sub; k++)
      if (k != small1 && k != small2) total += cs->prop[k];
    for (int k = 0; k < cs->n_sub; k++) {
      if (k == small1 || k == small2) continue;
      acc += cs->prop[k];
      if (u_pick * total < acc) return cs->sub[k];
    }
  }
  if (u_noise < kLabelNoise) return cs->sub[other < s ? other : other + 1];
  return cs->sub[s];
}

/* Weibull event time against administrative and random censoring; 1 % unknown. */
static void draw_survival(OvqRng *r, const CancerSpec *cs, int s, double *time, int8_t *event) {
  double u_unknown = ovq_rng_uniform(r);
  double e = -log(ovq_rng_uniform(r));
  double t =
      cs->os_median / pow(M_LN2, 1.0 / cs->os_shape) * pow(e / cs->hr[s], 1.0 / cs->os_shape);
  double admin = uniform(r, 30.0, cs->follow_up);
  double loss = -cs->loss_mean * log(ovq_rng_uniform(r));
  double cens = admin < loss ? admin : loss;
  if (u_unknown < kOsUnknown) {
    *time = NAN;
    *event = -1;
    return;
  }
  *event = t <= cens ? 1 : 0;
  *time = ceil(t <= cens ? t : cens);
}

/* TCGA-XX-YYYY-01: YYYY = base 36 of (a * i + c) mod 36^4 with a coprime to 36, a bijection. */
static void barcode(const CancerSpec *cs, int64_t i, char *out, size_t size) {
  static const char digits[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
  int64_t v = (i * 1000003 + 123457) % kBarcodeSpace;
  char y[5];
  for (int k = 3; k >= 0; k--, v /= 36)
    y[k] = digits[v % 36];
  y[4] = '\0';
  snprintf(out, size, "TCGA-%s-%s-01", cs->tss, y);
}

/* ---- values --------------------------------------------------------------------------------- */

/* One NB count on the log2(normalised + 1) scale. */
static float draw_value(uint64_t seed, uint64_t index, float eta, double depth, float phi) {
  OvqRng r;
  ovq_rng_init(&r, seed, OVQ_STREAM_SYNTH_VALUE, index);
  uint64_t x = ovq_rng_negbin(&r, exp2f(eta) * depth, phi);
  return x ? log2f((float)((double)x / depth) + 1.0f) : 0.0f;
}

static void fill_mrna(const Model *m, uint64_t seed, int64_t row, const Sample *sd, float *out) {
  const float *base = m->base + sd->c * m->G;
  uint64_t index = (uint64_t)row * (uint64_t)(m->G + m->M);
  for (int64_t g = 0; g < m->G; g++) {
    int32_t k = m->slot[g];
    float eta = base[g] + m->w[g] * sd->act[k] - m->rho[g] * sd->rep[k];
    if (sd->batch) eta += m->shift[g];
    out[g] = draw_value(seed, index + (uint64_t)g, eta, sd->depth, m->phi[g]);
  }
}

static void fill_mirna(const Model *m, uint64_t seed, int64_t row, const Sample *sd, float *out) {
  const float *base = m->mbase + sd->c * m->M;
  uint64_t index = (uint64_t)row * (uint64_t)(m->G + m->M) + (uint64_t)m->G;
  for (int64_t j = 0; j < m->M; j++) {
    float eta = base[j] + m->mw[j] * sd->fam[m->family[j]];
    if (sd->batch) eta += m->mshift[j];
    out[j] = draw_value(seed, index + (uint64_t)j, eta, sd->mdepth, m->mphi[j]);
  }
}

/* NaN at geometric gaps with rate p (one draw per missing value). */
static void scatter_missing(OvqRng *r, double p, int64_t n, float *x) {
  double scale = 1.0 / log1p(-p);
  for (int64_t pos = (int64_t)floor(log(ovq_rng_uniform(r)) * scale); pos < n;
       pos += 1 + (int64_t)floor(log(ovq_rng_uniform(r)) * scale))
    x[pos] = NAN;
}

static void mask_missing(const Model *m, uint64_t seed, int64_t row, float *mrna, float *mirna) {
  OvqRng r;
  ovq_rng_init(&r, seed, OVQ_STREAM_SYNTH_MISSING, (uint64_t)row);
  scatter_missing(&r, kMissMrna, m->G, mrna);
  if (m->M == 0) return;
  scatter_missing(&r, kMissMirna, m->M, mirna);
  for (int64_t j = 0; j < m->n_bad; j++)
    if (ovq_rng_uniform(&r) < m->bad_p[j]) mirna[m->bad[j]] = NAN;
}

/* ---- output --------------------------------------------------------------------------------- */

static void feature_ids(const Model *m, OvqCohort *out) {
  char buf[64];
  for (int64_t g = 0; g < m->G; g++) {
    snprintf(buf, sizeof buf, "SG%05lld|%lld", (long long)(g + 1), (long long)(100001 + g));
    ovq_strings_set(&out->mrna_ids, g, buf);
    out->mrna_module[g] = m->module[g];
  }
  for (int64_t j = 0; j < m->M; j++) {
    snprintf(buf, sizeof buf, "hsa-mir-s%04lld", (long long)(j + 1));
    ovq_strings_set(&out->mirna_ids, j, buf);
    out->mirna_target[j] = m->target[m->family[j]];
  }
}

static int id_width(const Model *m) {
  char buf[64];
  int w = snprintf(buf, sizeof buf, "SG%05lld|%lld", (long long)m->G, (long long)(100000 + m->G));
  int wm = snprintf(buf, sizeof buf, "hsa-mir-s%04lld", (long long)m->M);
  return (w > wm ? w : wm) + 1;
}

/* Room for a barcode and every subtype name of the selected cancers. */
static int sample_width(const Model *m) {
  int w = 16;
  for (int c = 0; c < m->n_c; c++) {
    const CancerSpec *cs = &kCancers[m->cancer[c]];
    for (int s = 0; s < cs->n_sub; s++)
      if ((int)strlen(cs->sub[s]) + 1 > w) w = (int)strlen(cs->sub[s]) + 1;
  }
  return w;
}

/* Rows [start, start + count): which selected cancer each belongs to and its subtype. */
static void locate_rows(const Model *m, uint64_t seed, OvqRange blk, int8_t *cancer,
                        int8_t *subtype) {
  for (int c = 0; c < m->n_c; c++) {
    int64_t lo = m->first[c] > blk.start ? m->first[c] : blk.start;
    int64_t hi = m->first[c + 1] < blk.start + blk.count ? m->first[c + 1] : blk.start + blk.count;
    if (lo >= hi) continue;
    assign_subtypes(m, seed, c, lo, hi, subtype + (lo - blk.start));
    memset(cancer + (lo - blk.start), c, (size_t)(hi - lo));
  }
}

/* Progress is shown for the whole cohort from rank 0's share: the blocks differ by at most one
 * row, so rank 0's fraction done is everyone's. */
static void generate_rows(const Model *m, uint64_t seed, int n_ranks, OvqCohort *out) {
  OvqRange blk = {out->row_start, out->n_local};
  OvqProgress prog;
  ovq_progress_start(&prog, "synth", "samples", out->n_total);
  int8_t *cancer = OVQ_MALLOC((size_t)(blk.count > 0 ? blk.count : 1));
  int8_t *subtype = OVQ_MALLOC((size_t)(blk.count > 0 ? blk.count : 1));
  locate_rows(m, seed, blk, cancer, subtype);
  Sample sd;
  sd.act = OVQ_MALLOC((size_t)(m->K + 1) * sizeof(float));
  sd.rep = OVQ_MALLOC((size_t)(m->K + 1) * sizeof(float));
  sd.fam = OVQ_MALLOC((size_t)m->n_fam * sizeof(float));
  char id[32];
  for (int64_t i = 0; i < blk.count; i++) {
    int64_t row = blk.start + i;
    const CancerSpec *cs = &kCancers[m->cancer[cancer[i]]];
    OvqRng r;
    ovq_rng_init(&r, seed, OVQ_STREAM_SYNTH_SAMPLE, (uint64_t)row);
    sd.c = cancer[i];
    sd.s = subtype[i];
    sd.depth = exp(normal(&r, log(1.2), 0.35));
    sd.mdepth = exp(normal(&r, log(3.0), 0.4));
    sd.batch = ovq_rng_uniform(&r) < cs->batch_frac;
    draw_activities(m, &r, &sd);
    ovq_strings_set(&out->label, i, draw_label(&r, cs, sd.s));
    draw_survival(&r, cs, sd.s, &out->os_time[i], &out->os_event[i]);
    barcode(cs, row, id, sizeof id);
    ovq_strings_set(&out->sample_id, i, id);
    ovq_strings_set(&out->cancer, i, cs->name);
    ovq_strings_set(&out->true_subtype, i, cs->sub[sd.s]);
    out->batch[i] = (int8_t)sd.batch;
    float *mrna = out->mrna + i * m->G, *mirna = m->M ? out->mirna + i * m->M : NULL;
    fill_mrna(m, seed, row, &sd, mrna);
    if (m->M) fill_mirna(m, seed, row, &sd, mirna);
    mask_missing(m, seed, row, mrna, mirna);
    ovq_progress_update(&prog, (i + 1) * n_ranks < out->n_total ? (i + 1) * n_ranks : out->n_total);
  }
  ovq_progress_finish(&prog);
  free(sd.act);
  free(sd.rep);
  free(sd.fam);
  free(cancer);
  free(subtype);
}

OvqStatus ovq_synth_generate(const OvqSynthParams *p, MPI_Comm comm, OvqCohort *out) {
  Model m;
  memset(&m, 0, sizeof m);
  memset(out, 0, sizeof *out); /* so that ovq_cohort_destroy is safe after an error too */
  if (validate(p, &m) != OVQ_OK) return OVQ_ERR;
  int rank, size;
  OVQ_MPI_CHECK(MPI_Comm_rank(comm, &rank));
  OVQ_MPI_CHECK(MPI_Comm_size(comm, &size));
  build_modules(&m, p->seed);
  build_programmes(&m, p->seed);
  build_families(&m, p->seed);
  build_genes(&m, p->seed);
  build_mirnas(&m, p->seed);

  int64_t N = m.first[m.n_c];
  OvqRange blk = ovq_partition_block(N, size, rank);
  ovq_cohort_alloc(out, N, blk.start, blk.count, m.G, m.M, id_width(&m), sample_width(&m), 1);
  feature_ids(&m, out);
  generate_rows(&m, p->seed, size, out);
  ovq_log(OVQ_LOG_INFO,
          "synth: %lld samples of %d cancer types, %lld genes (%lld modules), "
          "%lld miRNAs (%lld families)",
          (long long)N, m.n_c, (long long)m.G, (long long)m.K, (long long)m.M, (long long)m.n_fam);
  model_free(&m);
  return OVQ_OK;
}
