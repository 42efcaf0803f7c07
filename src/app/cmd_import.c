/* oncovq import: Xena / GDC text files -> cohort file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ovq/cohort.h"
#include "ovq/import.h"
#include "ovq/progress.h"

static void help(void) {
  printf(
      "usage: oncovq import --mrna FILE [--mirna FILE] --clinical FILE --out COHORT.h5 [options]\n"
      "       oncovq import --gdc-sheet SHEET.tsv --gdc-dir DIR --clinical FILE --out COHORT.h5\n\n"
      "Reads expression as downloaded from UCSC Xena (matrices, features as rows, plain or .gz)\n"
      "or from the GDC portal (per-sample quantification files and their sample sheet), joins\n"
      "it with a clinical table and writes an OncoVQ cohort file. TCGA barcodes are matched on\n"
      "their first 15 characters (primary tumours, type 01, by default); aliquots of a sample and\n"
      "duplicate feature ids are averaged; values not on a log scale get log2(x + 1).\n\n"
      "options (each sets the config key in brackets; see configs/xena_pancan.ini):\n"
      "  --mrna FILE            gene-expression matrix [import.mrna]\n"
      "  --mirna FILE           miRNA matrix [import.mirna]\n"
      "  --clinical FILE        one row per sample [import.clinical]\n"
      "  --labels FILE          optional table with subtype labels [import.labels]\n"
      "  --layout L             features_as_rows (Xena) or samples_as_rows [import.layout]\n"
      "  --gdc-sheet FILE       GDC sample sheet (File ID, File Name, Data Type, Sample ID)\n"
      "  --gdc-dir DIR          folder of the GDC files [import.gdc_dir]\n"
      "  --gdc-value COL        value column of gene files, e.g. tpm_unstranded,\n"
      "                         fpkm_unstranded, unstranded [import.gdc_value]\n"
      "  --sample-column C      clinical sample-id column (default sample; Xena: sampleID)\n"
      "  --label-column C       subtype column (default label; e.g. PAM50Call_RNAseq)\n"
      "  --os-time-column C     survival time in days (default os_time; Xena: OS.time)\n"
      "  --os-event-column C    1 dead, 0 censored (default os_event; Xena: OS)\n"
      "  --cancer-column C      cancer type column (default cancer; Xena: 'cancer type\n"
      "                         abbreviation')\n"
      "  --cancer TYPE          the cancer type of every sample instead of a column\n"
      "  --sample-types LIST    TCGA sample types kept: 01 (default), e.g. 01,03, or all\n"
      "  --log auto|yes|no      apply log2(x + 1): auto detects it [import.log]\n"
      "  --out FILE             the cohort file to write\n"
      "  --config FILE, --set section.key=value   as for every command\n");
}

int cmd_import(int argc, char **argv, MPI_Comm comm) {
  const char *out = NULL;
  const CliOption opts[] = {
      {"--mrna", "import.mrna", NULL, NULL},
      {"--mirna", "import.mirna", NULL, NULL},
      {"--clinical", "import.clinical", NULL, NULL},
      {"--labels", "import.labels", NULL, NULL},
      {"--layout", "import.layout", NULL, NULL},
      {"--gdc-sheet", "import.gdc_sheet", NULL, NULL},
      {"--gdc-dir", "import.gdc_dir", NULL, NULL},
      {"--gdc-value", "import.gdc_value", NULL, NULL},
      {"--sample-column", "import.sample_column", NULL, NULL},
      {"--label-column", "import.label_column", NULL, NULL},
      {"--os-time-column", "import.os_time_column", NULL, NULL},
      {"--os-event-column", "import.os_event_column", NULL, NULL},
      {"--cancer-column", "import.cancer_column", NULL, NULL},
      {"--cancer", "import.cancer", NULL, NULL},
      {"--sample-types", "import.sample_types", NULL, NULL},
      {"--log", "import.log", NULL, NULL},
      {"--out", NULL, &out, NULL},
  };
  OvqConfig cfg;
  int rc = cli_config("import", argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), help, NULL,
                      comm, &cfg);
  if (rc != CLI_OK) return rc == CLI_HELP ? CLI_OK : rc;
  if (!out) out = cfg.data.cohort[0] ? cfg.data.cohort : NULL;
  if (!out) {
    ovq_error("no output: give --out COHORT.h5 (or data.cohort in the config)");
    return cli_fail();
  }
  double t0 = ovq_time();
  OvqCohort c;
  if (ovq_import(&cfg, comm, &c) != OVQ_OK) return cli_fail();
  double t1 = ovq_time();
  char *ini = ovq_config_to_ini(&cfg);
  OvqStatus st = ovq_cohort_write(&c, out, "import", ini, comm);
  free(ini);
  if (st == OVQ_OK)
    ovq_log(OVQ_LOG_INFO, "wrote %s (import %.1f s, write %.1f s)", out,
            ovq_time_max(t1 - t0, comm), ovq_time_max(ovq_time() - t1, comm));
  ovq_cohort_destroy(&c);
  return st == OVQ_OK ? CLI_OK : cli_fail();
}
