/* oncovq synth: generate the built-in synthetic pan-cancer cohort. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ovq/cohort.h"
#include "ovq/progress.h"
#include "ovq/synth.h"
#include "ovq/xena.h"

static void help(void) {
  printf("usage: oncovq synth --out FILE.h5 [options]\n\n"
         "Generates a synthetic TCGA-like pan-cancer cohort with known ground truth (true\n"
         "subtypes, gene modules, batches) and writes it as an OncoVQ cohort file. The same\n"
         "seed gives the same file at any number of MPI ranks.\n\n"
         "options:\n"
         "  --out FILE         cohort file to write (HDF5)\n"
         "  --cancers LIST     comma-separated TCGA types (default all 10:\n"
         "                     BRCA,GBM,LGG,OV,LUAD,KIRC,HNSC,COAD,BLCA,PRAD)\n"
         "  --scale X          multiply the TCGA-like sample counts by X (default 1)\n"
         "  --seed S           random seed (default 42)\n"
         "  --genes G          number of genes (default 20000)\n"
         "  --mirnas M         number of miRNAs (default 1800)\n"
         "  --format h5|tsv    tsv also writes Xena-style FILE_mrna.tsv, FILE_mirna.tsv and\n"
         "                     FILE_clinical.tsv next to FILE.h5 (stem without .h5)\n"
         "  --config FILE      INI config ([synth] section); flags above override it\n"
         "  --set KEY=VALUE    override one config setting (repeatable)\n");
}

/* Splits "BRCA,GBM" into params; returns OVQ_ERR with a message for a bad list. */
static OvqStatus parse_cancers(const char *list, OvqSynthParams *p) {
  p->n_cancers = 0;
  char buf[sizeof((OvqConfig *)0)->synth.cancers];
  snprintf(buf, sizeof buf, "%s", list);
  for (char *save = NULL, *tok = strtok_r(buf, ", ", &save); tok;
       tok = strtok_r(NULL, ", ", &save)) {
    if (ovq_synth_cancer_size(tok, 1.0) < 0) {
      char known[128] = "";
      for (int i = 0; i < ovq_synth_cancer_count(); i++)
        snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", i ? "," : "",
                 ovq_synth_cancer_name(i));
      return ovq_error("synth.cancers: unknown cancer type '%s' (known: %s)", tok, known);
    }
    for (int i = 0; i < p->n_cancers; i++)
      if (!strcmp(p->cancers[i], tok))
        return ovq_error("synth.cancers: '%s' is listed twice", tok);
    if (p->n_cancers == OVQ_SYNTH_MAX_CANCERS)
      return ovq_error("synth.cancers: more than %d cancer types", OVQ_SYNTH_MAX_CANCERS);
    snprintf(p->cancers[p->n_cancers++], sizeof p->cancers[0], "%s", tok);
  }
  if (p->n_cancers == 0) return ovq_error("synth.cancers is empty");
  return OVQ_OK;
}

int cmd_synth(int argc, char **argv, MPI_Comm comm) {
  const char *out = NULL;
  const CliOption opts[] = {{"--cancers", "synth.cancers", NULL, NULL},
                            {"--scale", "synth.scale", NULL, NULL},
                            {"--seed", "synth.seed", NULL, NULL},
                            {"--genes", "synth.genes", NULL, NULL},
                            {"--mirnas", "synth.mirnas", NULL, NULL},
                            {"--format", "synth.format", NULL, NULL},
                            {"--out", NULL, &out, NULL}};
  static const char *const required[] = {"--out", NULL};
  OvqConfig cfg;
  int rc = cli_config("synth", argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), help, required,
                      comm, &cfg);
  if (rc != CLI_OK) return rc == CLI_HELP ? CLI_OK : rc;

  OvqSynthParams p;
  memset(&p, 0, sizeof p);
  p.scale = cfg.synth.scale;
  p.seed = (uint64_t)cfg.synth.seed;
  p.n_genes = cfg.synth.genes;
  p.n_mirnas = cfg.synth.mirnas;
  /* Every rank parses the same broadcast config, so they agree without communication. */
  if (parse_cancers(cfg.synth.cancers, &p) != OVQ_OK) return cli_fail();

  int size;
  MPI_Comm_size(comm, &size);

  double t0 = ovq_time();
  OvqCohort c;
  if (ovq_synth_generate(&p, comm, &c) != OVQ_OK) return cli_fail();
  double t_gen = ovq_time_max(ovq_time() - t0, comm);
  ovq_log(OVQ_LOG_INFO, "generated %lld samples x (%lld genes + %lld miRNAs) in %.2f s on %d rank%s",
          (long long)c.n_total, (long long)c.n_mrna, (long long)c.n_mirna, t_gen, size,
          size == 1 ? "" : "s");

  char *ini = ovq_config_to_ini(&cfg);
  t0 = ovq_time();
  OvqStatus st = ovq_cohort_write(&c, out, "synth", ini, comm);
  free(ini);
  if (st == OVQ_OK) {
    double t_write = ovq_time_max(ovq_time() - t0, comm);
    ovq_log(OVQ_LOG_INFO, "wrote %s in %.2f s", out, t_write);
  }
  if (st == OVQ_OK && !strcmp(cfg.synth.format, "tsv")) {
    size_t n = strlen(out);
    char *stem = OVQ_STRDUP(out);
    if (n > 3 && !strcmp(stem + n - 3, ".h5")) stem[n - 3] = '\0';
    t0 = ovq_time();
    st = ovq_xena_write(&c, stem, comm);
    if (st == OVQ_OK)
      ovq_log(OVQ_LOG_INFO, "wrote %s_mrna.tsv%s and %s_clinical.tsv in %.2f s", stem,
              c.n_mirna > 0 ? ", _mirna.tsv" : "", stem, ovq_time_max(ovq_time() - t0, comm));
    free(stem);
  }
  ovq_cohort_destroy(&c);
  return st == OVQ_OK ? CLI_OK : cli_fail();
}
