/* oncovq prep: preprocess a cohort and write the feature matrix with its fitted transform. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ovq/cohort.h"
#include "ovq/prep.h"
#include "ovq/progress.h"
#include "ovq/results.h"

static void help(void) {
  printf("usage: oncovq prep --config FILE [--set section.key=value ...] --out PREP.h5\n"
         "                   [--cohort COHORT.h5] [--cancer TYPE]\n\n"
         "Preprocesses a cohort as every run does ([prep] settings): drops features that are 0\n"
         "in too many samples, imputes missing values (KNN as R's impute.knn, or means),\n"
         "optionally keeps the most variable features per omic, standardises, and concatenates\n"
         "mRNA and miRNA. Writes the matrix (/prep/x [N][F]), the samples and the fitted\n"
         "transform (/prep/features, mean, scale, weight) to PREP.h5.\n\n"
         "options:\n"
         "  --cohort FILE   cohort file (data.cohort)\n"
         "  --cancer TYPE   one cancer type of a pan-cancer cohort (data.cancer)\n");
}

int cmd_prep(int argc, char **argv, MPI_Comm comm) {
  const char *out = NULL;
  const CliOption opts[] = {{"--cohort", "data.cohort", NULL, NULL},
                            {"--cancer", "data.cancer", NULL, NULL},
                            {"--out", NULL, &out, NULL}};
  static const char *const required[] = {"--out", NULL};
  OvqConfig cfg;
  int rc = cli_config("prep", argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), help, required,
                      comm, &cfg);
  if (rc != CLI_OK) return rc == CLI_HELP ? CLI_OK : rc;
  if (!cfg.data.cohort[0]) {
    ovq_error("data.cohort is not set: give --cohort FILE or --set data.cohort=FILE");
    return cli_fail();
  }
  OvqCohort c;
  if (ovq_cohort_read(cfg.data.cohort, cfg.data.cancer, comm, &c) != OVQ_OK) return cli_fail();
  double t0 = ovq_time();
  OvqMatrix x;
  OvqPrepTransform tr;
  OvqPrepOptions po;
  OvqPrepReport rep;
  ovq_prep_options_from_config(&cfg, &po);
  if (ovq_prep_fit(&c, &po, comm, &x, &tr, &rep) != OVQ_OK) {
    ovq_cohort_destroy(&c);
    return cli_fail();
  }
  ovq_prep_log_report(&rep);
  ovq_log(OVQ_LOG_INFO, "prep: %lld samples x %lld features in %.1f s", (long long)x.n_total,
          (long long)x.n_cols, ovq_time_max(ovq_time() - t0, comm));
  char *ini = ovq_config_to_ini(&cfg);
  OvqResults r;
  rc = CLI_OK;
  if (ovq_results_create(&r, out, ini, comm) != OVQ_OK) {
    rc = cli_fail();
  } else {
    ovq_results_write_samples(&r, &c);
    ovq_prep_write(&r, &tr);
    ovq_results_write_rows(&r, "/prep/x", H5T_NATIVE_FLOAT, x.x, x.n_total, x.n_cols, x.row_start,
                           x.n_local);
    if (ovq_results_commit(&r) != OVQ_OK)
      rc = cli_fail();
    else
      ovq_log(OVQ_LOG_INFO, "wrote %s", out);
  }
  free(ini);
  ovq_prep_free(&tr);
  ovq_matrix_free(&x);
  ovq_cohort_destroy(&c);
  return rc;
}
