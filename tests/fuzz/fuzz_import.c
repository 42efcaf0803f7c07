/* libFuzzer target of the import of outside tables (src/io/import.c: Xena matrices, GDC sample
 * sheets and per-sample quantification files, clinical and labels tables, and their joins; with
 * the readers of src/io/tsv.c). ovq_import is collective, so it runs MPI_Init'ed in this one
 * process, on files written from the input to a scratch directory. The input is text:
 *   import.* settings, one `key=value` a line (e.g. layout=samples_as_rows, delimiter=comma,
 *   sample_types=all, log=yes, empty_features=drop, gdc_value=unstranded, cancer=BRCA)
 *   === mrna        then the file's bytes, up to the next line starting with "=== "
 *   === mirna | === clinical | === labels | === sheet (a GDC sample sheet)
 *   === NAME        any other name: a GDC file gdc/NAME (NAME may be ID/FILE: gdc/ID/FILE)
 * The path settings follow the files given (import.gdc_dir is the gdc directory); a file not
 * given is not set, so the "missing input" errors are reached too.
 * Invariants: OVQ_ERR comes with a non-empty message; an imported cohort has >= 1 sample and
 * >= 1 gene, unique non-empty sample and feature ids, a cancer type for every sample, os_event in
 * {-1, 0, 1}, os_time NaN or >= 0, no infinite value, and no feature missing in every sample.
 * Any invariant broken aborts (a crash for libFuzzer), as do the sanitizers' findings and any
 * OVQ_ABORT (see fuzz_mpi.h). Built and run by tools/fuzz.sh import. */
#include "fuzz_mpi.h"

#include <math.h>

#include "ovq/config.h"
#include "ovq/import.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  fuzz_mpi_init(argc, argv, "import");
  return 0;
}

static int name_ok(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > 64 || s[0] == '/' || s[0] == '.' || strstr(s, "..") || strstr(s, "//"))
    return 0;
  int slashes = 0;
  for (const char *p = s; *p; p++) {
    if (*p == '/')
      slashes++;
    else if (!(*p == '.' || *p == '_' || *p == '-' || (*p >= '0' && *p <= '9') ||
               (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
      return 0;
  }
  return slashes <= 1 && s[n - 1] != '/';
}

static void write_file(const char *path, const uint8_t *p, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f) return; /* e.g. gdc/a/b when gdc/a is a file: that section is left out */
  REQUIRE(fwrite(p, 1, n, f) == n);
  REQUIRE(fclose(f) == 0);
}

/* A string table's values are unique. */
static void check_unique(const OvqStrings *s) {
  for (int64_t i = 0; i < s->n; i++) {
    const char *a = ovq_strings_at(s, i);
    REQUIRE(a[0] != '\0' && strlen(a) < (size_t)s->width);
    for (int64_t j = 0; j < i; j++) REQUIRE(strcmp(a, ovq_strings_at(s, j)) != 0);
  }
}

static void check_block(const float *x, int64_t n, int64_t g) {
  for (int64_t j = 0; j < g; j++) {
    int seen = 0;
    for (int64_t i = 0; i < n; i++) {
      REQUIRE(!isinf(x[i * g + j]));
      seen |= !isnan(x[i * g + j]);
    }
    REQUIRE(seen);
  }
}

static void check_cohort(const OvqCohort *c) {
  REQUIRE(c->n_total >= 1 && c->n_local == c->n_total && c->row_start == 0);
  REQUIRE(c->n_mrna >= 1 && c->n_mirna >= 0 && c->mrna_ids.n == c->n_mrna);
  REQUIRE((c->n_mirna > 0) == (c->mirna != NULL) && c->mirna_ids.n == c->n_mirna);
  check_unique(&c->mrna_ids);
  check_unique(&c->mirna_ids);
  check_unique(&c->sample_id);
  REQUIRE(c->sample_id.n == c->n_local && c->cancer.n == c->n_local && c->label.n == c->n_local);
  for (int64_t i = 0; i < c->n_local; i++) {
    REQUIRE(ovq_strings_at(&c->cancer, i)[0] != '\0');
    REQUIRE(strlen(ovq_strings_at(&c->label, i)) < (size_t)c->label.width);
    REQUIRE(c->os_event[i] == -1 || c->os_event[i] == 0 || c->os_event[i] == 1);
    REQUIRE(isnan(c->os_time[i]) || (isfinite(c->os_time[i]) && c->os_time[i] >= 0));
  }
  check_block(c->mrna, c->n_local, c->n_mrna);
  if (c->n_mirna > 0) check_block(c->mirna, c->n_local, c->n_mirna);
}

/* Input lines [p, e) of the settings part: import.* assignments. */
static void apply_settings(OvqConfig *cfg, const char *p, const char *e) {
  while (p < e) {
    const char *nl = memchr(p, '\n', (size_t)(e - p));
    const char *le = nl ? nl : e;
    size_t n = (size_t)(le - p);
    if (n && p[n - 1] == '\r') n--;
    if (n > 0 && n < 512 && !memchr(p, '\0', n)) {
      char a[600];
      snprintf(a, sizeof a, "import.%.*s", (int)n, p);
      ovq_error_clear();
      check_status(ovq_config_set(cfg, a, "fuzz"));
    }
    p = nl ? nl + 1 : e;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static unsigned long run_no;
  char dir[1200], gdc[1300], path[1500];
  snprintf(dir, sizeof dir, "%s/run%lu", g_scratch, run_no++);
  snprintf(gdc, sizeof gdc, "%s/gdc", dir);
  REQUIRE(mkdir(dir, 0755) == 0 && mkdir(gdc, 0755) == 0);

  OvqConfig cfg;
  ovq_config_defaults(&cfg);
  const char *text = (const char *)data, *end = text + size;
  /* The section starts: "=== " at the start of the input or of a line. */
  const char *sec = NULL;
  if (size >= 4 && memcmp(text, "=== ", 4) == 0) sec = text;
  for (const char *q = text; !sec && q < end; q++)
    if (*q == '\n' && end - q > 4 && memcmp(q + 1, "=== ", 4) == 0) sec = q + 1;
  apply_settings(&cfg, text, sec ? sec : end);
  int has[5] = {0};
  static const char *kFixed[5] = {"mrna", "mirna", "clinical", "labels", "sheet"};
  while (sec) {
    const char *nl = memchr(sec, '\n', (size_t)(end - sec));
    const char *name_end = nl ? nl : end;
    /* The body: up to the next "\n=== " (the newline belongs to the body). */
    const char *body = nl ? nl + 1 : end, *next = NULL;
    for (const char *q = body; q < end; q++)
      if ((q == body || q[-1] == '\n') && end - q >= 4 && memcmp(q, "=== ", 4) == 0) {
        next = q;
        break;
      }
    const char *body_end = next ? next : end;
    char name[80];
    size_t nn = (size_t)(name_end - sec - 4);
    if (nn && sec[4 + nn - 1] == '\r') nn--;
    if (nn < sizeof name && !memchr(sec + 4, '\0', nn)) {
      memcpy(name, sec + 4, nn);
      name[nn] = '\0';
      int k = 0;
      while (k < 5 && strcmp(name, kFixed[k]) != 0) k++;
      if (k < 5) {
        snprintf(path, sizeof path, "%s/%s.txt", dir, name);
        write_file(path, (const uint8_t *)body, (size_t)(body_end - body));
        has[k] = 1;
      } else if (name_ok(name)) {
        char *slash = strchr(name, '/');
        if (slash) {
          *slash = '\0';
          snprintf(path, sizeof path, "%s/%s", gdc, name);
          mkdir(path, 0755);
          *slash = '/';
        }
        snprintf(path, sizeof path, "%s/%s", gdc, name);
        struct stat st;
        if (stat(path, &st) != 0 || S_ISREG(st.st_mode))
          write_file(path, (const uint8_t *)body, (size_t)(body_end - body));
      }
    }
    sec = next;
  }
  char *fields[5] = {cfg.import.mrna, cfg.import.mirna, cfg.import.clinical, cfg.import.labels,
                     cfg.import.gdc_sheet};
  for (int k = 0; k < 5; k++) {
    if (has[k])
      snprintf(fields[k], OVQ_PATH_MAX, "%s/%s.txt", dir, kFixed[k]);
    else
      fields[k][0] = '\0';
  }
  snprintf(cfg.import.gdc_dir, sizeof cfg.import.gdc_dir, "%s", gdc);

  OvqCohort c;
  ovq_error_clear();
  OvqStatus st = ovq_import(&cfg, MPI_COMM_WORLD, &c);
  check_status(st);
  if (st == OVQ_OK) check_cohort(&c);
  ovq_cohort_destroy(&c);
  rm_tree(dir);
  return 0;
}
