/* The figures after oncovq run / sweep: tools/report.sh on the output directory (rank 0). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"

/* tools/report.sh: $OVQ_REPORT, else next to the binary's source tree (BIN/../tools when the
 * binary is build/oncovq), else "" . */
static void find_script(char *path, size_t n) {
  const char *env = getenv("OVQ_REPORT");
  if (env && env[0]) {
    snprintf(path, n, "%s", env);
    return;
  }
  char exe[PATH_MAX];
  ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
  path[0] = '\0';
  if (len <= 0) return;
  exe[len] = '\0';
  char *slash = strrchr(exe, '/');
  if (!slash) return;
  *slash = '\0';
  const char *rel[] = {"/../tools/report.sh", "/../../tools/report.sh",
                       "/../share/oncovq/tools/report.sh"};
  for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
    snprintf(path, n, "%s%s", exe, rel[i]);
    if (access(path, R_OK) == 0) return;
  }
  path[0] = '\0';
}

int cli_report(const OvqConfig *cfg, const char *dir, MPI_Comm comm) {
  if (!strcmp(cfg->run.report, "no")) return CLI_OK;
  int rank, rc = CLI_OK;
  MPI_Comm_rank(comm, &rank);
  if (rank == 0) {
    char script[PATH_MAX + 64];
    find_script(script, sizeof script);
    int required = !strcmp(cfg->run.report, "yes");
    if (!script[0]) {
      fprintf(stderr, "oncovq %s: no figures: tools/report.sh not found next to the binary; set "
              "OVQ_REPORT=/path/to/tools/report.sh (or run.report = no)\n",
              required ? "error" : "warning");
      rc = required ? CLI_FAIL : CLI_OK;
    } else {
      ovq_log(OVQ_LOG_INFO, "figures: bash %s %s", script, dir);
      fflush(stderr);
      pid_t pid = fork();
      if (pid == 0) {
        execlp("bash", "bash", script, dir, (char *)NULL);
        _exit(127);
      }
      int status = 0;
      if (pid < 0 || waitpid(pid, &status, 0) < 0) status = -1;
      int code = status >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      if (code == 0) {
        ovq_log(OVQ_LOG_INFO, "figures and report: %s/report/index.html", dir);
      } else {
        fprintf(stderr, "oncovq %s: the report failed (%s exited %d)%s\n",
                required ? "error" : "warning", script, code,
                code == 4 ? "; its message above says which packages to install" : "");
        rc = required ? CLI_FAIL : CLI_OK;
      }
    }
  }
  /* The other ranks wait without spinning a core the report could use. */
  MPI_Request req;
  MPI_Ibcast(&rc, 1, MPI_INT, 0, comm, &req);
  for (int done = 0; !done;) {
    MPI_Test(&req, &done, MPI_STATUS_IGNORE);
    if (!done) usleep(50000);
  }
  return rc;
}
