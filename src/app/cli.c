/* Shared argument handling of the subcommands. */
#include "cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "ovq/error.h"

void cli_usage_error(const char *cmd, const char *fmt, ...) {
  if (ovq_log_rank() != 0) return;
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  fprintf(stderr, "oncovq %s: %s (see 'oncovq %s --help')\n", cmd, buf, cmd);
}

int cli_fail(void) {
  ovq_log(OVQ_LOG_ERROR, "%s", ovq_error_message());
  return CLI_FAIL;
}

int cli_common_take(CliCommon *cc, int argc, char **argv, int *i) {
  const char *a = argv[*i];
  int is_config = !strcmp(a, "--config") || !strcmp(a, "-c");
  int is_set = !strcmp(a, "--set") || !strcmp(a, "-s");
  if (!is_config && !is_set) return 0;
  if (*i + 1 >= argc) {
    if (ovq_log_rank() == 0) fprintf(stderr, "oncovq: %s needs a value\n", a);
    return -1;
  }
  const char *v = argv[++*i];
  if (is_config) {
    cc->config_path = v;
  } else {
    if (cc->n_sets == CLI_MAX_SETS) {
      if (ovq_log_rank() == 0) fprintf(stderr, "oncovq: too many --set options\n");
      return -1;
    }
    cc->sets[cc->n_sets++] = (char *)v;
  }
  return 1;
}

void cli_common_add(CliCommon *cc, const char *key, const char *value) {
  if (cc->n_sets == CLI_MAX_SETS) OVQ_ABORT("too many overrides");
  size_t n = strlen(key) + strlen(value) + 2;
  char *s = OVQ_MALLOC(n);
  snprintf(s, n, "%s=%s", key, value);
  cc->owned[cc->n_owned++] = s;
  cc->sets[cc->n_sets++] = s;
}

void cli_common_free(CliCommon *cc) {
  for (int i = 0; i < cc->n_owned; i++) free(cc->owned[i]);
  cc->n_owned = 0;
}

int cli_resolve(CliCommon *cc, MPI_Comm comm, OvqConfig *cfg) {
  if (ovq_config_resolve(cfg, cc->config_path, cc->n_sets, cc->sets, comm) != OVQ_OK)
    return cli_fail();
  ovq_log_set_level(ovq_config_log_level(cfg));
  return CLI_OK;
}

int cli_parse(const char *cmd, int argc, char **argv, const CliOption *opts, int n_opts,
              CliCommon *cc, void (*help)(void), const char *const *required) {
  unsigned char seen[64] = {0};
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      if (ovq_log_rank() == 0) help();
      return CLI_HELP;
    }
    if (cc) {
      int took = cli_common_take(cc, argc, argv, &i);
      if (took < 0) return CLI_USAGE;
      if (took) continue;
    }
    int o = 0;
    while (o < n_opts && strcmp(argv[i], opts[o].flag) != 0) o++;
    if (o == n_opts) {
      cli_usage_error(cmd, "unknown option '%s'", argv[i]);
      return CLI_USAGE;
    }
    if (o < 64) seen[o] = 1;
    if (opts[o].on) {
      *opts[o].on = 1;
      continue;
    }
    if (i + 1 >= argc) {
      cli_usage_error(cmd, "%s needs a value", argv[i]);
      return CLI_USAGE;
    }
    if (opts[o].key)
      cli_common_add(cc, opts[o].key, argv[++i]);
    else
      *opts[o].value = argv[++i];
  }
  for (int r = 0; required && required[r]; r++)
    for (int o = 0; o < n_opts && o < 64; o++)
      if (!strcmp(opts[o].flag, required[r]) && !seen[o]) {
        cli_usage_error(cmd, "%s is required", required[r]);
        return CLI_USAGE;
      }
  return CLI_OK;
}

int cli_config(const char *cmd, int argc, char **argv, const CliOption *opts, int n_opts,
               void (*help)(void), const char *const *required, MPI_Comm comm, OvqConfig *cfg) {
  CliCommon cc = {0};
  int rc = cli_parse(cmd, argc, argv, opts, n_opts, &cc, help, required);
  if (rc == CLI_OK) rc = cli_resolve(&cc, comm, cfg);
  cli_common_free(&cc);
  if (rc == CLI_OK) {
    char *ov = ovq_config_overrides(cfg);
    ovq_log(OVQ_LOG_INFO, "config: %s", ov[0] ? ov : "(defaults)");
    free(ov);
  }
  return rc;
}

void cli_log_peak_memory(MPI_Comm comm) {
  struct rusage ru;
  /* ru_maxrss is in KiB on Linux; a failed call reports 0 rather than failing the command. */
  long long kib = getrusage(RUSAGE_SELF, &ru) == 0 ? (long long)ru.ru_maxrss : 0;
  long long mib = (kib + 512) / 1024;
  int rank, size;
  OVQ_MPI_CHECK(MPI_Comm_rank(comm, &rank));
  OVQ_MPI_CHECK(MPI_Comm_size(comm, &size));
  long long *all = rank == 0 ? OVQ_MALLOC((size_t)size * sizeof *all) : NULL;
  OVQ_MPI_CHECK(MPI_Gather(&mib, 1, MPI_LONG_LONG, all, 1, MPI_LONG_LONG, 0, comm));
  if (rank != 0) return;
  enum { LIST_MAX = 32 };
  if (size <= LIST_MAX) {
    char buf[LIST_MAX * 24];
    size_t used = 0;
    for (int r = 0; r < size; r++)
      used += (size_t)snprintf(buf + used, sizeof buf - used, "%s%lld", r ? ", " : "", all[r]);
    ovq_log(OVQ_LOG_INFO, "peak memory per rank: %s MiB", buf);
  } else {
    int rmax = 0, rmin = 0;
    long double sum = 0;
    for (int r = 0; r < size; r++) {
      if (all[r] > all[rmax]) rmax = r;
      if (all[r] < all[rmin]) rmin = r;
      sum += all[r];
    }
    ovq_log(OVQ_LOG_INFO,
            "peak memory per rank (%d ranks): max %lld MiB (rank %d), min %lld MiB (rank %d), "
            "mean %.0Lf MiB",
            size, all[rmax], rmax, all[rmin], rmin, sum / size);
  }
  free(all);
}
