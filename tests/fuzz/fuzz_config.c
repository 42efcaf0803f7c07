/* libFuzzer target of the configuration parser (src/core/config.c). The input bytes are
 *   - INI text for ovq_config_load_string (up to the first NUL) on top of the defaults;
 *   - the same bytes, NULs included, as a file for ovq_config_load_file (an in-memory file);
 *     without a NUL both must agree (status, message, resulting config);
 *   - each line as a `section.key=value` override for ovq_config_set (the --set flag).
 * Invariants: every call returns OVQ_OK, or OVQ_ERR with a non-empty message (ovq_error_message);
 * after OVQ_OK, ovq_config_to_ini round-trips: loading its text over fresh defaults succeeds and
 * gives the same text again (the config stored in every output file reproduces the run).
 * Any invariant broken aborts (a crash for libFuzzer), as do the sanitizers' findings.
 * Built and run by tools/fuzz.sh config. */
#define _GNU_SOURCE /* memfd_create */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz_util.h"
#include "ovq/config.h"


/* A status and its message: OVQ_OK, or OVQ_ERR with text. */
static void check_status(OvqStatus st) {
  REQUIRE(st == OVQ_OK || st == OVQ_ERR);
  if (st == OVQ_ERR) REQUIRE(ovq_error_message()[0] != '\0');
}

/* The config's canonical text reads back to itself. */
static void check_round_trip(const OvqConfig *c) {
  char *ini = ovq_config_to_ini(c);
  OvqConfig d;
  ovq_config_defaults(&d);
  ovq_error_clear();
  OvqStatus st = ovq_config_load_string(&d, ini, "round-trip");
  if (st != OVQ_OK) {
    fprintf(stderr, "fuzz_config: the canonical text does not load: %s\n", ovq_error_message());
    abort();
  }
  char *again = ovq_config_to_ini(&d);
  if (strcmp(ini, again) != 0) {
    const char *a = ini, *b = again;
    while (*a && *a == *b) a++, b++;
    while (a > ini && a[-1] != '\n') a--, b--;
    fprintf(stderr, "fuzz_config: round trip differs at\n  first: %.*s\n  again: %.*s\n",
            (int)strcspn(a, "\n"), a, (int)strcspn(b, "\n"), b);
    abort();
  }
  /* The --set line of the differences from the defaults: must not crash. */
  free(ovq_config_overrides(c));
  REQUIRE(ovq_config_log_level(c) >= OVQ_LOG_ERROR && ovq_config_log_level(c) <= OVQ_LOG_DEBUG);
  free(again);
  free(ini);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = malloc(size + 1);
  memcpy(text, data, size);
  text[size] = '\0';
  int has_nul = strlen(text) != size;

  /* INI text in memory. */
  OvqConfig c;
  ovq_config_defaults(&c);
  ovq_error_clear();
  OvqStatus st = ovq_config_load_string(&c, text, "fuzz.ini");
  check_status(st);
  char *msg = strdup(ovq_error_message());
  if (st == OVQ_OK) check_round_trip(&c);

  /* The same bytes as a file. */
  const char *path = fuzz_bytes_as_file(data, size);
  OvqConfig f;
  ovq_config_defaults(&f);
  ovq_error_clear();
  OvqStatus st_file = ovq_config_load_file(&f, path);
  check_status(st_file);
  if (st_file == OVQ_OK) check_round_trip(&f);
  if (!has_nul) {
    REQUIRE(st_file == st);
    /* Messages name the origin: compare what follows it. */
    const char *m1 = strstr(msg, "fuzz.ini"), *m2 = strstr(ovq_error_message(), path);
    if (st == OVQ_ERR && m1 && m2 && strlen(msg) < 4000 && strlen(ovq_error_message()) < 4000)
      REQUIRE(strcmp(m1 + strlen("fuzz.ini"), m2 + strlen(path)) == 0);
    if (st == OVQ_OK) {
      char *a = ovq_config_to_ini(&c), *b = ovq_config_to_ini(&f);
      REQUIRE(strcmp(a, b) == 0);
      free(a);
      free(b);
    }
  }
  free(msg);

  /* Every line as one --set assignment, applied in turn. */
  OvqConfig s;
  ovq_config_defaults(&s);
  int any_ok = 0;
  for (char *line = text, *next; line; line = next) {
    next = strchr(line, '\n');
    if (next) *next++ = '\0';
    ovq_error_clear();
    OvqStatus st_set = ovq_config_set(&s, line, "--set");
    check_status(st_set);
    any_ok |= st_set == OVQ_OK;
  }
  if (any_ok) check_round_trip(&s);
  free(text);
  return 0;
}
