/* Unit test of the config: defaults, a good file, every kind of bad file or override (message
 * names file, line and key), canonical text round trip, and the shipped configs/ files.
 * argv[1] = a scratch directory, argv[2] = the source tree's configs/ directory. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ovq/config.h"

static char g_dir[512];

static const char *write_file(const char *name, const char *text) {
  static char path[1024];
  snprintf(path, sizeof path, "%s/%s", g_dir, name);
  FILE *f = fopen(path, "wb");
  fputs(text, f);
  fclose(f);
  return path;
}

/* Loading `text` must fail with a message containing every needle. */
static void expect_bad(const char *text, const char *needle1, const char *needle2) {
  OvqConfig c;
  ovq_config_defaults(&c);
  const char *path = write_file("bad.ini", text);
  OvqStatus st = ovq_config_load_file(&c, path);
  const char *msg = ovq_error_message();
  CHECK_MSG(st == OVQ_ERR, "accepted: %s", text);
  CHECK_MSG(strstr(msg, needle1) != NULL, "message '%s' lacks '%s'", msg, needle1);
  if (needle2) CHECK_MSG(strstr(msg, needle2) != NULL, "message '%s' lacks '%s'", msg, needle2);
  printf("  rejected as expected: %s\n", msg);
}

static void expect_bad_set(const char *assignment, const char *needle) {
  OvqConfig c;
  ovq_config_defaults(&c);
  OvqStatus st = ovq_config_set(&c, assignment, "--set");
  CHECK_MSG(st == OVQ_ERR, "accepted --set %s", assignment);
  CHECK_MSG(strstr(ovq_error_message(), needle) != NULL, "message '%s' lacks '%s'",
            ovq_error_message(), needle);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  ovq_log_init(MPI_COMM_WORLD);
  if (argc < 3) {
    fprintf(stderr, "usage: test_config SCRATCH_DIR CONFIGS_DIR\n");
    MPI_Finalize();
    return 2;
  }
  snprintf(g_dir, sizeof g_dir, "%s", argv[1]);

  OvqConfig c;
  ovq_config_defaults(&c);
  CHECK(!strcmp(c.log.level, "info"));
  CHECK(c.synth.scale == 1.0 && c.synth.genes == 20000 && c.synth.mirnas == 1800);
  CHECK(!strcmp(c.synth.format, "h5"));

  /* A good file: comments, blank lines, spaces, quotes, CRLF line ends and a UTF-8 BOM. */
  char good[1024];
  snprintf(good, sizeof good, "%s", write_file("good.ini", "\xEF\xBB\xBF# comment\r\n"
                                            "[synth]\r\n"
                                            "  scale = 0.25   \r\n"
                                            "; another comment\n"
                                            "cancers=BRCA,GBM\n"
                                            "\n"
                                            "[data]\n"
                                            "cohort = \"my cohort.h5\"\n"
                                            "[log]\nlevel = debug\n"));
  CHECK_MSG(ovq_config_load_file(&c, good) == OVQ_OK, "%s", ovq_error_message());
  CHECK(c.synth.scale == 0.25);
  CHECK(!strcmp(c.synth.cancers, "BRCA,GBM"));
  CHECK(!strcmp(c.data.cohort, "my cohort.h5"));
  CHECK(ovq_config_log_level(&c) == OVQ_LOG_DEBUG);

  /* Overrides apply after the file. */
  CHECK(ovq_config_set(&c, "synth.seed=7", "--set") == OVQ_OK);
  CHECK(ovq_config_set(&c, " synth.scale = 0.5 ", "--set") == OVQ_OK);
  CHECK(c.synth.seed == 7 && c.synth.scale == 0.5);
  char *ov = ovq_config_overrides(&c);
  printf("  overrides: %s\n", ov);
  CHECK(strstr(ov, "synth.seed=7") && strstr(ov, "synth.scale=0.5") && !strstr(ov, "genes"));
  free(ov);

  /* Canonical text round trip: parse what we print, get the same struct text back. */
  char *ini = ovq_config_to_ini(&c);
  OvqConfig d;
  ovq_config_defaults(&d);
  CHECK_MSG(ovq_config_load_file(&d, write_file("roundtrip.ini", ini)) == OVQ_OK, "%s",
            ovq_error_message());
  char *ini2 = ovq_config_to_ini(&d);
  CHECK(!strcmp(ini, ini2));
  CHECK(strstr(ini, "scale = 0.5\n") != NULL);
  free(ini);
  free(ini2);

  expect_bad("[synth]\nscael = 1\n", "bad.ini:2", "unknown key 'scael'");
  expect_bad("[sinth]\nscale = 1\n", "bad.ini:1", "unknown section [sinth]");
  expect_bad("scale = 1\n", "bad.ini:1", "outside any [section]");
  expect_bad("[synth]\nscale 1\n", "bad.ini:2", "expected 'key = value'");
  expect_bad("[synth\n", "bad.ini:1", "malformed section");
  expect_bad("[synth]\nscale = abc\n", "synth.scale", "not a finite number");
  expect_bad("[synth]\nscale = -1\n", "synth.scale", "out of range");
  expect_bad("[synth]\nscale = nan\n", "synth.scale", "not a finite number");
  expect_bad("[synth]\ngenes = 12.5\n", "synth.genes", "not an integer");
  expect_bad("[synth]\ngenes = 99999999999999999999\n", "synth.genes", "not an integer");
  expect_bad("[synth]\nformat = csv\n", "synth.format", "h5|tsv");
  expect_bad("[synth]\nseed = 1\nseed = 2\n", "bad.ini:3", "set twice");
  expect_bad("[log]\nlevel = loud\n", "log.level", "error|warn|info|debug");
  {
    char longline[6000];
    memset(longline, 'x', sizeof longline - 2);
    longline[sizeof longline - 2] = '\n';
    longline[sizeof longline - 1] = '\0';
    expect_bad(longline, "bad.ini:1", "longer than");
  }
  OvqConfig e;
  ovq_config_defaults(&e);
  CHECK(ovq_config_load_file(&e, "/nonexistent/dir/x.ini") == OVQ_ERR);
  CHECK(strstr(ovq_error_message(), "cannot open config file") != NULL);

  expect_bad_set("synth.scale", "expected section.key=value");
  expect_bad_set("scale=1", "expected section.key=value");
  expect_bad_set("synth.nokey=1", "unknown key 'nokey'");
  expect_bad_set("synth.genes=5", "out of range");

  /* The collective resolve gives every rank the same struct (run here at 1 rank; the CLI tests
   * run it at several). */
  char *sets[] = {"synth.genes=150"};
  OvqConfig f;
  CHECK(ovq_config_resolve(&f, good, 1, sets, MPI_COMM_WORLD) == OVQ_OK);
  CHECK(f.synth.genes == 150 && f.synth.scale == 0.25);

  /* Every shipped config must load. */
  const char *shipped[] = {"quickstart.ini"};
  for (size_t i = 0; i < sizeof shipped / sizeof shipped[0]; i++) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", argv[2], shipped[i]);
    OvqConfig s;
    ovq_config_defaults(&s);
    CHECK_MSG(ovq_config_load_file(&s, path) == OVQ_OK, "%s", ovq_error_message());
  }
  int rc = test_finish("test_config");
  MPI_Finalize();
  return rc;
}
