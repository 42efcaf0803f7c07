/* oncovq import semantics at any rank count: a synthetic cohort written as Xena files comes back
 * equal (to the 4 decimals of the text); the transposed layout, GDC per-sample files with a
 * sample sheet, aliquot and duplicate-feature averaging, sample-type filtering, log detection and
 * the label table behave as documented. Usage: test_import SCRATCH_DIR */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "check.h"
#include "ovq/config.h"
#include "ovq/import.h"
#include "ovq/synth.h"
#include "ovq/xena.h"

static int g_rank;
static char g_dir[512];

/* Rank 0 writes a text file (gzip when the name ends in .gz); all ranks wait. */
static void put(const char *name, const char *text) {
  if (g_rank == 0) {
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", g_dir, name);
    size_t n = strlen(name);
    if (n > 3 && !strcmp(name + n - 3, ".gz")) {
      gzFile f = gzopen(p, "wb");
      gzwrite(f, text, (unsigned)strlen(text));
      gzclose(f);
    } else {
      FILE *f = fopen(p, "w");
      fputs(text, f);
      fclose(f);
    }
  }
  MPI_Barrier(MPI_COMM_WORLD);
}

static void setc(OvqConfig *c, const char *kv) {
  if (ovq_config_set(c, kv, "test") != OVQ_OK) {
    fprintf(stderr, "config: %s\n", ovq_error_message());
    exit(1);
  }
}

static void path_set(OvqConfig *c, const char *key, const char *name) {
  char kv[1200];
  snprintf(kv, sizeof kv, "%s=%s/%s", key, g_dir, name);
  setc(c, kv);
}

/* Gathers every sample's value of feature j (mRNA) into a replicated array ordered by sample. */
static double *gather_feature(const OvqCohort *c, int64_t j) {
  double *all = calloc((size_t)c->n_total + 1, sizeof(double));
  for (int64_t i = 0; i < c->n_local; i++) all[c->row_start + i] = c->mrna[i * c->n_mrna + j];
  MPI_Allreduce(MPI_IN_PLACE, all, (int)c->n_total, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
  return all;
}

/* Global row of sample id (or -1), and the rank-local index if this rank holds it. */
static int64_t find_sample(const OvqCohort *c, const char *id) {
  for (int64_t i = 0; i < c->n_local; i++)
    if (!strcmp(ovq_strings_at(&c->sample_id, i), id)) return c->row_start + i;
  return -1;
}

static void round_trip(void) {
  OvqSynthParams sp;
  memset(&sp, 0, sizeof sp);
  sp.seed = 42;
  sp.n_cancers = 2;
  strcpy(sp.cancers[0], "BRCA");
  strcpy(sp.cancers[1], "GBM");
  sp.scale = 0.05;
  sp.n_genes = 300;
  sp.n_mirnas = 60;
  OvqCohort ref;
  if (ovq_synth_generate(&sp, MPI_COMM_WORLD, &ref) != OVQ_OK) OVQ_ABORT("%s", ovq_error_message());
  char prefix[1024];
  snprintf(prefix, sizeof prefix, "%s/rt", g_dir);
  CHECK(ovq_xena_write(&ref, prefix, MPI_COMM_WORLD) == OVQ_OK);
  OvqConfig cfg;
  ovq_config_defaults(&cfg);
  path_set(&cfg, "import.mrna", "rt_mrna.tsv");
  path_set(&cfg, "import.mirna", "rt_mirna.tsv");
  path_set(&cfg, "import.clinical", "rt_clinical.tsv");
  OvqCohort c;
  OvqStatus st = ovq_import(&cfg, MPI_COMM_WORLD, &c);
  CHECK_MSG(st == OVQ_OK, "%s", ovq_error_message());
  if (st != OVQ_OK) return;
  /* Same samples in the same order, same blocks. */
  CHECK(c.n_total == ref.n_total && c.n_local == ref.n_local && c.row_start == ref.row_start);
  CHECK(c.n_mrna == ref.n_mrna && c.n_mirna == ref.n_mirna);
  double maxd = 0;
  int64_t nan_mismatch = 0, str_mismatch = 0;
  for (int64_t i = 0; i < c.n_local && c.n_mrna == ref.n_mrna && c.n_mirna == ref.n_mirna; i++) {
    str_mismatch += strcmp(ovq_strings_at(&c.sample_id, i), ovq_strings_at(&ref.sample_id, i)) != 0;
    str_mismatch += strcmp(ovq_strings_at(&c.cancer, i), ovq_strings_at(&ref.cancer, i)) != 0;
    str_mismatch += strcmp(ovq_strings_at(&c.label, i), ovq_strings_at(&ref.label, i)) != 0;
    str_mismatch += c.os_event[i] != ref.os_event[i];
    if (!(isnan(c.os_time[i]) && isnan(ref.os_time[i])))
      str_mismatch += fabs(c.os_time[i] - ref.os_time[i]) > 0.5;
    for (int64_t j = 0; j < c.n_mrna + c.n_mirna; j++) {
      float a = j < c.n_mrna ? c.mrna[i * c.n_mrna + j] : c.mirna[i * c.n_mirna + j - c.n_mrna];
      float b = j < c.n_mrna ? ref.mrna[i * c.n_mrna + j] : ref.mirna[i * c.n_mirna + j - c.n_mrna];
      if (isnan(a) != isnan(b)) nan_mismatch++;
      else if (!isnan(a) && fabs(a - b) > maxd) maxd = fabs(a - b);
    }
  }
  for (int64_t j = 0; j < c.n_mrna && c.n_mrna == ref.n_mrna; j++)
    str_mismatch += strcmp(ovq_strings_at(&c.mrna_ids, j), ovq_strings_at(&ref.mrna_ids, j)) != 0;
  CHECK_MSG(maxd <= 5.01e-5, "largest difference %g", maxd);
  CHECK_MSG(nan_mismatch == 0, "%lld missing values differ", (long long)nan_mismatch);
  CHECK_MSG(str_mismatch == 0, "%lld ids/labels/survival differ", (long long)str_mismatch);
  ovq_cohort_destroy(&c);
  ovq_cohort_destroy(&ref);
}

/* Small hand-made files: aliquots, duplicate features, sample types, missing clinical, miRNA
 * absent for a sample, raw (non-log) values, a labels table, gzip, CRLF and a BOM. */
static void joins(void) {
  put("j_mrna.tsv.gz",
      "\xEF\xBB\xBFgene\tTCGA-AA-0001-01A-11R\tTCGA-AA-0001-01B-21R\tTCGA-AA-0002-01\t"
      "TCGA-AA-0002-11\tTCGA-AA-0003-01\tTCGA-AA-0004-01\tPAT5\r\n"
      "G1\t100\t300\t0\t5\t63\t7\t15\r\n"
      "G2\t1000\tNA\t1\t1\t3\t1\t1\r\n"
      "G1\t300\t500\t2\t5\t1\t1\t1\r\n"
      "G3\tnull\t\t3\t3\t3\t3\t3\r\n");
  put("j_mirna.tsv",
      "id\tTCGA-AA-0001-01\tTCGA-AA-0002-01\tTCGA-AA-0004-01\tPAT5\n"
      "m1\t1.5\t2.5\t3.5\t4.5\n");
  put("j_clin.tsv",
      "sampleID\tcancer type abbreviation\tOS.time\tOS\n"
      "TCGA-AA-0001-01\tBRCA\t100\t1\n"
      "TCGA-AA-0002-01\tBRCA\tNA\t0\n"
      "TCGA-AA-0004-01\tLUAD\t50.5\tNA\n"
      "PAT5\tLUAD\t10\tdead\n");
  put("j_labels.tsv", "sample\tPAM50Call_RNAseq\nTCGA-AA-0001-01\tLumA\nPAT5\tBasal\n");
  OvqConfig cfg;
  ovq_config_defaults(&cfg);
  path_set(&cfg, "import.mrna", "j_mrna.tsv.gz");
  path_set(&cfg, "import.mirna", "j_mirna.tsv");
  path_set(&cfg, "import.clinical", "j_clin.tsv");
  path_set(&cfg, "import.labels", "j_labels.tsv");
  setc(&cfg, "import.sample_column=sampleID");
  setc(&cfg, "import.cancer_column=cancer type abbreviation");
  setc(&cfg, "import.os_time_column=OS.time");
  setc(&cfg, "import.os_event_column=OS");
  setc(&cfg, "import.label_column=PAM50Call_RNAseq");
  setc(&cfg, "import.log=yes");
  OvqCohort c;
  OvqStatus st = ovq_import(&cfg, MPI_COMM_WORLD, &c);
  CHECK_MSG(st == OVQ_OK, "%s", ovq_error_message());
  if (st != OVQ_OK) return;
  /* Kept: 0001 (two aliquots), 0002 (01 only; 11 is normal tissue), 0004, PAT5; 0003 has no
   * miRNA. Features: G1 (twice, merged), G2, G3. */
  CHECK_MSG(c.n_total == 4, "%lld samples", (long long)c.n_total);
  CHECK(c.n_mrna == 3 && c.n_mirna == 1);
  if (c.n_total == 4 && c.n_mrna == 3) {
    CHECK(!strcmp(ovq_strings_at(&c.mrna_ids, 0), "G1") && !strcmp(ovq_strings_at(&c.mrna_ids, 2), "G3"));
    double *g1 = gather_feature(&c, 0), *g2 = gather_feature(&c, 1), *g3 = gather_feature(&c, 2);
    /* G1 of 0001: mean of 100, 300 (aliquots) and 300, 500 (duplicate row) = 300, then log2(x+1). */
    CHECK_NEAR(g1[0], log2(301.0), 1e-5);
    CHECK_NEAR(g2[0], log2(1001.0), 1e-5); /* NA aliquot ignored */
    CHECK(isnan(g3[0]));                    /* null and empty: missing */
    CHECK_NEAR(g1[1], log2(2.0), 1e-5);     /* 0002: mean of 0 and 2 */
    CHECK_NEAR(g1[2], log2(5.0), 1e-5);     /* 0004: mean of 7 and 1 */
    CHECK_NEAR(g1[3], log2(9.0), 1e-5);     /* PAT5: mean of 15 and 1 */
    free(g1);
    free(g2);
    free(g3);
    int64_t g = find_sample(&c, "TCGA-AA-0001-01");
    if (g >= 0) {
      int64_t i = g - c.row_start;
      CHECK(!strcmp(ovq_strings_at(&c.label, i), "LumA"));
      CHECK(!strcmp(ovq_strings_at(&c.cancer, i), "BRCA"));
      CHECK(c.os_event[i] == 1 && c.os_time[i] == 100.0);
      CHECK_NEAR(c.mirna[i], log2(2.5), 1e-6);
    }
    g = find_sample(&c, "TCGA-AA-0002-01");
    if (g >= 0) {
      int64_t i = g - c.row_start;
      CHECK(!strcmp(ovq_strings_at(&c.label, i), "") && isnan(c.os_time[i]) && c.os_event[i] == 0);
    }
    g = find_sample(&c, "PAT5");
    if (g >= 0) {
      int64_t i = g - c.row_start;
      CHECK(!strcmp(ovq_strings_at(&c.label, i), "Basal") && c.os_event[i] == 1);
      CHECK(!strcmp(ovq_strings_at(&c.cancer, i), "LUAD"));
    }
    g = find_sample(&c, "TCGA-AA-0004-01");
    if (g >= 0) CHECK(c.os_event[g - c.row_start] == -1);
  }
  ovq_cohort_destroy(&c);

  /* Sample types 01 and 11: the normal sample 0002-11 joins... but it has no miRNA: still 4. With
   * --mrna alone and all types: 0001, 0002-01, 0002-11 (no clinical row: dropped), 0003 (no
   * clinical), 0004, PAT5 -> 4. Log auto: max 1000 > 50 -> log applied. */
  ovq_config_defaults(&cfg);
  path_set(&cfg, "import.mrna", "j_mrna.tsv.gz");
  path_set(&cfg, "import.clinical", "j_clin.tsv");
  setc(&cfg, "import.sample_column=sampleID");
  setc(&cfg, "import.cancer=BRCA");
  setc(&cfg, "import.sample_types=all");
  st = ovq_import(&cfg, MPI_COMM_WORLD, &c);
  CHECK_MSG(st == OVQ_OK, "%s", ovq_error_message());
  if (st == OVQ_OK) {
    CHECK_MSG(c.n_total == 4 && c.n_mirna == 0, "%lld samples", (long long)c.n_total);
    double *g1 = gather_feature(&c, 0);
    CHECK_NEAR(g1[0], log2(301.0), 1e-5);
    free(g1);
    for (int64_t i = 0; i < c.n_local; i++) CHECK(!strcmp(ovq_strings_at(&c.cancer, i), "BRCA"));
    ovq_cohort_destroy(&c);
  }
}

/* The transposed layout, and GDC per-sample files with a sample sheet. */
static void layouts(void) {
  put("t_mrna.csv", "sample,G1,G2\nS1,1.5,2\nS2,3,NA\nS3,5,6\n");
  put("t_clin.csv", "sample,cancer,label,os_time,os_event\nS3,OV,x,1,0\nS1,OV,y,2,1\n");
  OvqConfig cfg;
  ovq_config_defaults(&cfg);
  path_set(&cfg, "import.mrna", "t_mrna.csv");
  path_set(&cfg, "import.clinical", "t_clin.csv");
  setc(&cfg, "import.layout=samples_as_rows");
  setc(&cfg, "import.delimiter=comma");
  OvqCohort c;
  OvqStatus st = ovq_import(&cfg, MPI_COMM_WORLD, &c);
  CHECK_MSG(st == OVQ_OK, "%s", ovq_error_message());
  if (st == OVQ_OK) {
    CHECK(c.n_total == 2 && c.n_mrna == 2);
    double *g2 = gather_feature(&c, 1);
    CHECK(g2[0] == 2.0 && g2[1] == 6.0); /* S1, S3 in file order; already log scale */
    free(g2);
    ovq_cohort_destroy(&c);
  }
  /* GDC: three STAR files (one in DIR/<File ID>/), one miRNA file. */
  if (g_rank == 0) {
    char p[1024];
    snprintf(p, sizeof p, "%s/gdc", g_dir);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/gdc/id-b", g_dir);
    mkdir(p, 0755);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  const char *hdr = "# gene-model: GENCODE v36\n"
                    "gene_id\tgene_name\tgene_type\tunstranded\tstranded_first\tstranded_second\t"
                    "tpm_unstranded\tfpkm_unstranded\tfpkm_uq_unstranded\n"
                    "N_unmapped\t\t\t9\t9\t9\t\t\t\n"
                    "N_multimapping\t\t\t9\t9\t9\t\t\t\n";
  char t[2048];
  snprintf(t, sizeof t, "%sENSG1.1\tTP53\tprotein_coding\t10\t5\t5\t100\t1\t1\n"
                        "ENSG2.1\tBRCA1\tprotein_coding\t20\t10\t10\t200\t2\t2\n", hdr);
  put("gdc/a.tsv", t);
  snprintf(t, sizeof t, "%sENSG1.1\tTP53\tprotein_coding\t30\t5\t5\t300\t3\t3\n"
                        "ENSG2.1\tBRCA1\tprotein_coding\t40\t10\t10\t400\t4\t4\n", hdr);
  put("gdc/id-b/b.tsv", t);
  snprintf(t, sizeof t, "%sENSG1.1\tTP53\tprotein_coding\t50\t5\t5\t500\t5\t5\n"
                        "ENSG2.1\tBRCA1\tprotein_coding\t60\t10\t10\t600\t6\t6\n", hdr);
  put("gdc/c.tsv", t);
  put("gdc/m.txt", "miRNA_ID\tread_count\treads_per_million_miRNA_mapped\tcross-mapped\n"
                   "hsa-let-7a-1\t5\t3\tN\n");
  put("gdc/sheet.tsv",
      "File ID\tFile Name\tData Category\tData Type\tProject ID\tCase ID\tSample ID\tSample Type\n"
      "id-a\ta.tsv\tTranscriptome Profiling\tGene Expression Quantification\tTCGA-BRCA\tTCGA-AA-0001\t"
      "TCGA-AA-0001-01A\tPrimary Tumor\n"
      "id-b\tb.tsv\tTranscriptome Profiling\tGene Expression Quantification\tTCGA-BRCA\tTCGA-AA-0002\t"
      "TCGA-AA-0002-01A\tPrimary Tumor\n"
      "id-c\tc.tsv\tTranscriptome Profiling\tGene Expression Quantification\tTCGA-BRCA\tTCGA-AA-0002\t"
      "TCGA-AA-0002-01B\tPrimary Tumor\n"
      "id-m\tm.txt\tTranscriptome Profiling\tmiRNA Expression Quantification\tTCGA-BRCA\tTCGA-AA-0002\t"
      "TCGA-AA-0002-01A\tPrimary Tumor\n");
  put("gdc/clin.tsv", "sample\tcancer\nTCGA-AA-0001-01\tBRCA\nTCGA-AA-0002-01\tBRCA\n");
  ovq_config_defaults(&cfg);
  path_set(&cfg, "import.gdc_sheet", "gdc/sheet.tsv");
  path_set(&cfg, "import.gdc_dir", "gdc");
  path_set(&cfg, "import.clinical", "gdc/clin.tsv");
  st = ovq_import(&cfg, MPI_COMM_WORLD, &c);
  CHECK_MSG(st == OVQ_OK, "%s", ovq_error_message());
  if (st == OVQ_OK) {
    /* 0001 has no miRNA file: dropped; 0002 = mean of b and c. TPM max 500 -> log2(x+1). */
    CHECK_MSG(c.n_total == 1 && c.n_mrna == 2 && c.n_mirna == 1, "%lld x %lld + %lld",
              (long long)c.n_total, (long long)c.n_mrna, (long long)c.n_mirna);
    if (c.n_mrna == 2) CHECK(!strcmp(ovq_strings_at(&c.mrna_ids, 0), "TP53|ENSG1.1"));
    double *g1 = gather_feature(&c, 0);
    CHECK_NEAR(g1[0], log2(401.0), 1e-5);
    free(g1);
    ovq_cohort_destroy(&c);
  }
  setc(&cfg, "import.gdc_value=unstranded");
  setc(&cfg, "import.gdc_mirna_value=bogus_column");
  st = ovq_import(&cfg, MPI_COMM_WORLD, &c);
  CHECK(st == OVQ_ERR && strstr(ovq_error_message(), "no column 'bogus_column'"));
  if (st == OVQ_OK) ovq_cohort_destroy(&c);
}

static int key_is(const char *id, int want_type, const char *want_key) {
  int type;
  char *k = ovq_sample_key(id, &type);
  int ok = type == want_type && !strcmp(k, want_key);
  free(k);
  return ok;
}

static void keys(void) {
  CHECK(key_is("TCGA-A1-A0SB-01A-11R-A144-07", 1, "TCGA-A1-A0SB-01"));
  CHECK(key_is("TCGA.A1.A0SB.11", 11, "TCGA-A1-A0SB-11"));
  CHECK(key_is("TCGA-A1-A0SB", -1, "TCGA-A1-A0SB"));
  CHECK(key_is("GSM12345", -1, "GSM12345"));
  /* Long non-TCGA ids are kept whole: two that differ only after 63 characters stay apart. */
  char a[200], b[200];
  memset(a, 'x', 150);
  a[150] = '\0';
  memcpy(b, a, sizeof a);
  b[149] = 'y';
  CHECK(key_is(a, -1, a) && key_is(b, -1, b));
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  ovq_log_init(MPI_COMM_WORLD);
  ovq_log_set_level(OVQ_LOG_WARN);
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  int size;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  snprintf(g_dir, sizeof g_dir, "%s/test_import_np%d", argc > 1 ? argv[1] : ".", size);
  if (g_rank == 0) mkdir(g_dir, 0755);
  MPI_Barrier(MPI_COMM_WORLD);
  keys();
  round_trip();
  joins();
  layouts();
  int rc = test_finish("test_import");
  MPI_Finalize();
  return rc;
}
