/* oncovq sweep: oncovq run over a task grid on groups of ranks (see include/ovq/sweep.h). */
#include "ovq/sweep.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ovq/cohort.h"
#include "ovq/progress.h"
#include "ovq/results.h"
#include "ovq/stop.h"

enum { MAX_VALUES = 32, VALUE_LEN = 64, ID_LEN = 192 };

typedef struct Task {
  char id[ID_LEN];
  char cancer[16];
  char model[8]; /* "" = baseline (raw, pca) */
  char codebook[VALUE_LEN], latent[VALUE_LEN], beta[VALUE_LEN], lr[VALUE_LEN],
      epochs[VALUE_LEN], hidden[VALUE_LEN], seed[VALUE_LEN];
  double cost;
} Task;

typedef struct List {
  int n;
  char v[MAX_VALUES][VALUE_LEN];
} List;

static void fmt(char *buf, size_t n, const char *f, ...) __attribute__((format(printf, 3, 4)));
static void fmt(char *buf, size_t n, const char *f, ...) {
  va_list ap;
  va_start(ap, f);
  vsnprintf(buf, n, f, ap);
  va_end(ap);
}

/* Splits text at sep into the list; numeric lists are checked. */
static OvqStatus parse_list(const char *key, const char *text, const char *sep, int numeric,
                            List *l) {
  char buf[512];
  fmt(buf, sizeof buf, "%s", text);
  l->n = 0;
  for (char *sv = NULL, *t = strtok_r(buf, sep, &sv); t; t = strtok_r(NULL, sep, &sv)) {
    while (*t == ' ') t++;
    if (!*t) continue;
    if (l->n == MAX_VALUES || strlen(t) >= VALUE_LEN)
      return ovq_error("sweep.%s: more than %d values or a value longer than %d characters", key,
                       MAX_VALUES, VALUE_LEN - 1);
    if (numeric) {
      char *end;
      double v = strtod(t, &end);
      if (*end || !(v > 0) || !isfinite(v))
        return ovq_error("sweep.%s: '%s' is not a positive number", key, t);
    }
    fmt(l->v[l->n++], VALUE_LEN, "%s", t);
  }
  if (l->n == 0) return ovq_error("sweep.%s is empty", key);
  return OVQ_OK;
}

static double width_sum(const char *hidden) {
  double s = 0;
  for (const char *p = hidden; *p;) {
    s += strtod(p, (char **)&p);
    while (*p == ',' || *p == ' ') p++;
    if (*p && (*p < '0' || *p > '9')) break;
  }
  return s > 0 ? s : 1;
}

/* Characters of a hyperparameter value safe in a directory name. */
static void id_part(char *dst, size_t n, const char *v) {
  size_t k = 0;
  for (; *v && k + 1 < n; v++) dst[k++] = (*v == ',' || *v == ';' || *v == '/') ? '-' : *v;
  dst[k] = '\0';
}

static int cmp_task(const void *a, const void *b) {
  const Task *x = a, *y = b;
  if (x->cost != y->cost) return x->cost > y->cost ? -1 : 1;
  return strcmp(x->id, y->id);
}

/* The config of one task. */
static OvqStatus task_config(const OvqConfig *base, const Task *t, OvqConfig *cfg) {
  *cfg = *base;
  char a[VALUE_LEN + 64], origin[ID_LEN + 32];
  fmt(origin, sizeof origin, "sweep grid, task %s", t->id);
  OvqStatus st = OVQ_OK;
#define SET(...)                                                                                   \
  do {                                                                                             \
    fmt(a, sizeof a, __VA_ARGS__);                                                                 \
    if (st == OVQ_OK) st = ovq_config_set(cfg, a, origin);                                          \
  } while (0)
  SET("data.cancer=%s", t->cancer);
  SET("train.checkpoint=");
  if (!t->model[0]) {
    SET("run.models=");
    SET("run.features=raw,pca");
  } else {
    SET("run.models=%s", t->model);
    SET("run.features=%s", t->model);
    SET("model.type=%s", t->model);
    if (t->codebook[0]) SET("model.codebook_size=%s", t->codebook);
    if (t->beta[0]) SET("model.beta=%s", t->beta);
    SET("model.latent=%s", t->latent);
    SET("train.lr=%s", t->lr);
    SET("train.epochs=%s", t->epochs);
    SET("model.hidden=%s", t->hidden);
    SET("train.seed=%s", t->seed);
  }
#undef SET
  return st;
}

/* The task grid, largest first. */
static OvqStatus plan(const OvqConfig *cfg, MPI_Comm comm, Task **tasks, int *n_tasks) {
  OvqStrings all;
  if (ovq_cohort_read_cancers(cfg->data.cohort, comm, &all) != OVQ_OK) return OVQ_ERR;
  /* Cancer types present, with their sample counts. */
  List present;
  int64_t count[MAX_VALUES] = {0};
  present.n = 0;
  OvqStatus st = OVQ_OK;
  for (int64_t i = 0; i < all.n && st == OVQ_OK; i++) {
    const char *c = ovq_strings_at(&all, i);
    int q = 0;
    while (q < present.n && strcmp(present.v[q], c)) q++;
    if (q == present.n) {
      if (present.n == MAX_VALUES)
        st = ovq_error("%s: more than %d cancer types", cfg->data.cohort, MAX_VALUES);
      else
        fmt(present.v[present.n++], VALUE_LEN, "%s", c);
    }
    if (st == OVQ_OK) count[q]++;
  }
  ovq_strings_free(&all);
  List cancers, models, cb, lat, beta, lr, ep, hid, seeds;
  if (st == OVQ_OK) {
    if (cfg->sweep.cancers[0])
      st = parse_list("cancers", cfg->sweep.cancers, ",", 0, &cancers);
    else
      cancers = present;
  }
  for (int i = 0; i < cancers.n && st == OVQ_OK; i++) {
    int q = 0;
    while (q < present.n && strcmp(present.v[q], cancers.v[i])) q++;
    if (q == present.n)
      st = ovq_error("sweep.cancers: no sample of cancer type '%s' in %s (see 'oncovq info %s')",
                     cancers.v[i], cfg->data.cohort, cfg->data.cohort);
  }
  if (st == OVQ_OK) st = parse_list("models", cfg->sweep.models, ",", 0, &models);
  for (int i = 0; i < models.n && st == OVQ_OK; i++)
    if (strcmp(models.v[i], "vqvae") && strcmp(models.v[i], "ae") && strcmp(models.v[i], "vae"))
      st = ovq_error("sweep.models: unknown model '%s' (vqvae, ae, vae)", models.v[i]);
  if (st == OVQ_OK) st = parse_list("codebook_size", cfg->sweep.codebook_size, ",", 1, &cb);
  if (st == OVQ_OK) st = parse_list("latent", cfg->sweep.latent, ",", 1, &lat);
  if (st == OVQ_OK) st = parse_list("beta", cfg->sweep.beta, ",", 1, &beta);
  if (st == OVQ_OK) st = parse_list("lr", cfg->sweep.lr, ",", 1, &lr);
  if (st == OVQ_OK) st = parse_list("epochs", cfg->sweep.epochs, ",", 1, &ep);
  if (st == OVQ_OK) st = parse_list("hidden", cfg->sweep.hidden, ";", 0, &hid);
  if (st == OVQ_OK) st = parse_list("seeds", cfg->sweep.seeds, ",", 1, &seeds);
  if (st != OVQ_OK) return ovq_status_agree(comm, st);

  int cap = 64, n = 0;
  Task *t = OVQ_MALLOC(sizeof(Task) * (size_t)cap);
  for (int c = 0; c < cancers.n; c++) {
    int q = 0;
    while (strcmp(present.v[q], cancers.v[c])) q++;
    const double N = (double)count[q];
    for (int m = -1; m < models.n; m++) {
      int vq = m >= 0 && !strcmp(models.v[m], "vqvae");
      int ncb = m < 0 ? 1 : vq ? cb.n : 1, nb = m < 0 ? 1 : vq ? beta.n : 1;
      int nl = m < 0 ? 1 : lat.n, nr = m < 0 ? 1 : lr.n, ne = m < 0 ? 1 : ep.n,
          nh = m < 0 ? 1 : hid.n, ns = m < 0 ? 1 : seeds.n;
      for (int i1 = 0; i1 < ncb; i1++)
        for (int i2 = 0; i2 < nl; i2++)
          for (int i3 = 0; i3 < nb; i3++)
            for (int i4 = 0; i4 < nr; i4++)
              for (int i5 = 0; i5 < ne; i5++)
                for (int i6 = 0; i6 < nh; i6++)
                  for (int i7 = 0; i7 < ns; i7++) {
                    if (n == cap) t = OVQ_REALLOC(t, sizeof(Task) * (size_t)(cap *= 2));
                    Task *k = &t[n++];
                    memset(k, 0, sizeof *k);
                    fmt(k->cancer, sizeof k->cancer, "%s", cancers.v[c]);
                    if (m < 0) {
                      fmt(k->id, sizeof k->id, "%s_baseline", k->cancer);
                      k->cost = N * N;
                      continue;
                    }
                    fmt(k->model, sizeof k->model, "%s", models.v[m]);
                    fmt(k->codebook, VALUE_LEN, "%s", vq ? cb.v[i1] : "");
                    fmt(k->beta, VALUE_LEN, "%s", vq ? beta.v[i3] : "");
                    fmt(k->latent, VALUE_LEN, "%s", lat.v[i2]);
                    fmt(k->lr, VALUE_LEN, "%s", lr.v[i4]);
                    fmt(k->epochs, VALUE_LEN, "%s", ep.v[i5]);
                    fmt(k->hidden, VALUE_LEN, "%s", hid.v[i6]);
                    fmt(k->seed, VALUE_LEN, "%s", seeds.v[i7]);
                    char h[VALUE_LEN];
                    id_part(h, sizeof h, k->hidden);
                    if (vq)
                      fmt(k->id, sizeof k->id, "%s_%s_K%s_D%s_b%s_lr%s_e%s_h%s_s%s", k->cancer,
                          k->model, k->codebook, k->latent, k->beta, k->lr, k->epochs, h,
                          k->seed);
                    else
                      fmt(k->id, sizeof k->id, "%s_%s_D%s_lr%s_e%s_h%s_s%s", k->cancer,
                          k->model, k->latent, k->lr, k->epochs, h, k->seed);
                    k->cost = N * strtod(k->epochs, NULL) * width_sum(k->hidden);
                  }
    }
  }
  /* Every grid value must be a valid setting (e.g. train.lr <= 10). */
  for (int i = 0; i < n && st == OVQ_OK; i++) {
    OvqConfig tc;
    st = task_config(cfg, &t[i], &tc);
  }
  if (ovq_status_agree(comm, st) != OVQ_OK) {
    free(t);
    return OVQ_ERR;
  }
  qsort(t, (size_t)n, sizeof(Task), cmp_task);
  *tasks = t;
  *n_tasks = n;
  return OVQ_OK;
}

/* Status file of a task: "done KEY" / "failed KEY\nmessage". Returns 1 done, 2 failed, 0 none
 * (or another key). Local (the caller reads it on one rank). */
static int read_status(const char *dir, uint64_t key, char *msg, size_t n) {
  char path[OVQ_PATH_MAX + 32];
  fmt(path, sizeof path, "%s/status", dir);
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  char word[16] = "";
  unsigned long long k = 0;
  int r = 0;
  if (fscanf(f, "%15s %llx", word, &k) == 2 && k == key) {
    r = !strcmp(word, "done") ? 1 : !strcmp(word, "failed") ? 2 : 0;
    if (msg && n) {
      msg[0] = '\0';
      int c = fgetc(f); /* the newline */
      (void)c;
      if (!fgets(msg, (int)n, f)) msg[0] = '\0';
      msg[strcspn(msg, "\n")] = '\0';
    }
  }
  fclose(f);
  return r;
}

static void write_status(const char *dir, uint64_t key, const char *word, const char *msg) {
  char path[OVQ_PATH_MAX + 32], tmp[OVQ_PATH_MAX + 40];
  fmt(path, sizeof path, "%s/status", dir);
  fmt(tmp, sizeof tmp, "%s.tmp", path);
  FILE *f = fopen(tmp, "w");
  if (!f) return;
  fprintf(f, "%s %016llx\n%s\n", word, (unsigned long long)key, msg ? msg : "");
  if (fclose(f) == 0) rename(tmp, path);
}

/* Appends the lines of a TSV file after its header, each followed by extra, to out; with
 * skip_published, rows whose features column is "published" are left out. */
static void append_rows(FILE *out, const char *path, const char *extra, int skip_published,
                        int *header_done) {
  FILE *f = fopen(path, "r");
  if (!f) return;
  char line[8192];
  int first = 1;
  while (fgets(line, sizeof line, f)) {
    line[strcspn(line, "\n")] = '\0';
    if (first) {
      first = 0;
      if (!*header_done) {
        fprintf(out, "%s\ttask\tmodel\tcodebook_size\tlatent\tbeta\tlr\tepochs\thidden\t"
                     "train_seed\n", line);
        *header_done = 1;
      }
      continue;
    }
    if (skip_published) {
      const char *tab = strchr(line, '\t');
      if (tab && !strncmp(tab + 1, "published\t", 10)) continue;
    }
    fprintf(out, "%s\t%s\n", line, extra);
  }
  fclose(f);
}

/* Column index of name in a tab-separated header, or -1. */
static int column(const char *header, const char *name) {
  int i = 0;
  size_t n = strlen(name);
  for (const char *p = header;; i++) {
    const char *e = strchr(p, '\t');
    size_t len = e ? (size_t)(e - p) : strcspn(p, "\n");
    if (len == n && !strncmp(p, name, n)) return i;
    if (!e) return -1;
    p = e + 1;
  }
}

/* Field i of a tab-separated line into buf. */
static const char *field(const char *line, int i, char *buf, size_t n) {
  const char *p = line;
  for (int k = 0; k < i && p; k++) {
    p = strchr(p, '\t');
    if (p) p++;
  }
  buf[0] = '\0';
  if (!p) return buf;
  size_t len = strcspn(p, "\t\n");
  if (len >= n) len = n - 1;
  memcpy(buf, p, len);
  buf[len] = '\0';
  return buf;
}

/* OUT/pancancer.tsv from the merged summary: per cancer the best row by log-rank p and by NMI,
 * and the published labels' log-rank p. Rank 0. */
static int write_pancancer(const char *summary, const char *path) {
  FILE *f = fopen(summary, "r");
  if (!f) return 0;
  char line[8192], hdr[8192];
  if (!fgets(hdr, sizeof hdr, f)) {
    fclose(f);
    return 0;
  }
  int cc = column(hdr, "cancer"), cf = column(hdr, "features"), cm = column(hdr, "method"),
      ck = column(hdr, "k"), cn = column(hdr, "nmi"), cp = column(hdr, "logrank_p"),
      ct = column(hdr, "task");
  enum { MAXC = 64 };
  struct Best {
    char cancer[16];
    char p_line[8192], n_line[8192];
    double p, nmi, pub_p;
  } *b = OVQ_CALLOC(MAXC, sizeof(struct Best));
  int nb = 0;
  char v[256];
  while (fgets(line, sizeof line, f)) {
    field(line, cc, v, sizeof v);
    int q = 0;
    while (q < nb && strcmp(b[q].cancer, v)) q++;
    if (q == nb) {
      if (nb == MAXC) continue;
      fmt(b[nb].cancer, sizeof b[nb].cancer, "%s", v);
      b[nb].p = INFINITY;
      b[nb].nmi = -INFINITY;
      b[nb].pub_p = NAN;
      nb++;
    }
    char fs[64], pv[64], nv[64];
    field(line, cf, fs, sizeof fs);
    field(line, cp, pv, sizeof pv);
    field(line, cn, nv, sizeof nv);
    if (!strcmp(fs, "published")) {
      if (pv[0]) b[q].pub_p = strtod(pv, NULL);
      continue;
    }
    if (pv[0] && strtod(pv, NULL) < b[q].p) {
      b[q].p = strtod(pv, NULL);
      fmt(b[q].p_line, sizeof b[q].p_line, "%s", line);
    }
    if (nv[0] && strtod(nv, NULL) > b[q].nmi) {
      b[q].nmi = strtod(nv, NULL);
      fmt(b[q].n_line, sizeof b[q].n_line, "%s", line);
    }
  }
  fclose(f);
  char tmp[OVQ_PATH_MAX + 16];
  fmt(tmp, sizeof tmp, "%s.tmp", path);
  FILE *o = fopen(tmp, "w");
  if (!o) {
    free(b);
    return 0;
  }
  fprintf(o, "cancer\tbest_p_task\tbest_p_features\tbest_p_method\tbest_p_k\tbest_logrank_p\t"
             "best_nmi_task\tbest_nmi_features\tbest_nmi_method\tbest_nmi_k\tbest_nmi\t"
             "published_logrank_p\n");
  for (int q = 0; q < nb; q++) {
    char a[4][128];
    fprintf(o, "%s", b[q].cancer);
    const char *src[2] = {b[q].p_line, b[q].n_line};
    for (int s = 0; s < 2; s++) {
      field(src[s], ct, a[0], sizeof a[0]);
      field(src[s], cf, a[1], sizeof a[1]);
      field(src[s], cm, a[2], sizeof a[2]);
      field(src[s], ck, a[3], sizeof a[3]);
      fprintf(o, "\t%s\t%s\t%s\t%s\t", a[0], a[1], a[2], a[3]);
      double val = s == 0 ? b[q].p : b[q].nmi;
      if (isfinite(val)) fprintf(o, "%.10g", val);
    }
    fputc('\t', o);
    if (isfinite(b[q].pub_p)) fprintf(o, "%.10g", b[q].pub_p);
    fputc('\n', o);
  }
  int ok = !ferror(o);
  if (fclose(o) != 0) ok = 0;
  free(b);
  return ok && rename(tmp, path) == 0;
}

static OvqStatus make_dir(const char *path) {
  if (mkdir(path, 0777) != 0 && errno != EEXIST)
    return ovq_error("%s: cannot create the directory: %s", path, strerror(errno));
  return OVQ_OK;
}

OvqStatus ovq_sweep(const OvqConfig *cfg, const char *outdir, MPI_Comm comm,
                    OvqStageOutcome *outcome) {
  *outcome = OVQ_STAGE_DONE;
  int rank, size;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  if (!cfg->data.cohort[0])
    return ovq_error("data.cohort is not set: give --cohort FILE or --set data.cohort=FILE");
  if (strlen(outdir) > OVQ_PATH_MAX - 320)
    return ovq_error("--out %s: the path is too long", outdir);
  Task *tasks = NULL;
  int n_tasks = 0;
  if (plan(cfg, comm, &tasks, &n_tasks) != OVQ_OK) return OVQ_ERR;
  char path[OVQ_PATH_MAX + 64];
  OvqStatus st = OVQ_OK;
  if (rank == 0) {
    st = make_dir(outdir);
    fmt(path, sizeof path, "%s/tasks", outdir);
    if (st == OVQ_OK) st = make_dir(path);
  }
  if (ovq_status_agree(comm, st) != OVQ_OK) {
    free(tasks);
    return OVQ_ERR;
  }
  const int gsize = (int)(cfg->sweep.group_size < size ? cfg->sweep.group_size : size);
  const int group = rank / gsize, n_groups = (size + gsize - 1) / gsize;
  MPI_Comm gcomm;
  MPI_Comm_split(comm, group, rank, &gcomm);
  int grank;
  MPI_Comm_rank(gcomm, &grank);
  ovq_log(OVQ_LOG_INFO, "sweep: %d tasks on %d group%s of %d rank%s -> %s", n_tasks, n_groups,
          n_groups > 1 ? "s" : "", gsize, gsize > 1 ? "s" : "", outdir);
  /* Logs of a task come from its group's first rank, prefixed with the task. */
  ovq_log_init(gcomm);

  /* The task counter: one int64 in a window on world rank 0. */
  int64_t *counter = NULL;
  MPI_Win win;
  MPI_Win_allocate(rank == 0 ? (MPI_Aint)sizeof(int64_t) : 0, sizeof(int64_t), MPI_INFO_NULL, comm,
                   &counter, &win);
  if (rank == 0) {
    MPI_Win_lock(MPI_LOCK_EXCLUSIVE, 0, 0, win);
    *counter = 0;
    MPI_Win_unlock(0, win);
  }
  MPI_Barrier(comm);

  double *secs = OVQ_CALLOC((size_t)n_tasks + 1, sizeof(double));
  int *state = OVQ_CALLOC((size_t)n_tasks + 1, sizeof(int)); /* 1 done 2 failed 3 skipped-done
                                                                 4 skipped-failed, per group */
  int *where = OVQ_CALLOC((size_t)n_tasks + 1, sizeof(int));
  double busy = 0, t_start = ovq_time();
  int interrupted = 0;
  for (;;) {
    int64_t next = 0, one = 1;
    if (grank == 0) {
      MPI_Win_lock(MPI_LOCK_SHARED, 0, 0, win);
      MPI_Fetch_and_op(&one, &next, MPI_INT64_T, 0, 0, MPI_SUM, win);
      MPI_Win_unlock(0, win);
    }
    MPI_Bcast(&next, 1, MPI_INT64_T, 0, gcomm);
    if (next >= n_tasks) break;
    const Task *t = &tasks[next];
    OvqConfig tc;
    char dir[OVQ_PATH_MAX + 64 + ID_LEN];
    fmt(dir, sizeof dir, "%s/tasks/%s", outdir, t->id);
    if (task_config(cfg, t, &tc) != OVQ_OK) /* a bug: the grid made a refused setting */
      OVQ_ABORT("sweep: task %s: %s", t->id, ovq_error_message());
    uint64_t key = ovq_run_key(&tc, gcomm);
    int prev = 0;
    if (grank == 0) prev = read_status(dir, key, NULL, 0);
    MPI_Bcast(&prev, 1, MPI_INT, 0, gcomm);
    where[next] = group;
    if (prev) {
      state[next] = prev + 2;
      ovq_log(OVQ_LOG_INFO, "sweep: task %s already %s", t->id, prev == 1 ? "done" : "failed");
      continue;
    }
    char prefix[ID_LEN + 4];
    fmt(prefix, sizeof prefix, "[%s]", t->id);
    ovq_log_set_prefix(prefix);
    double t0 = ovq_time();
    OvqStageOutcome out = OVQ_STAGE_DONE;
    st = ovq_run(&tc, dir, gcomm, &out);
    double dt = ovq_time_max(ovq_time() - t0, gcomm);
    ovq_log_set_prefix("");
    secs[next] = dt;
    busy += dt;
    if (st != OVQ_OK) {
      char msg[1024];
      fmt(msg, sizeof msg, "%s", ovq_error_message());
      ovq_error_clear();
      for (char *p = msg; *p; p++)
        if (*p == '\n' || *p == '\t') *p = ' ';
      if (grank == 0) write_status(dir, key, "failed", msg);
      state[next] = 2;
      ovq_log(OVQ_LOG_WARN, "sweep: task %s failed after %.1f s: %s; the sweep goes on", t->id,
              dt, msg);
      st = OVQ_OK;
    } else if (out == OVQ_STAGE_INTERRUPTED) {
      interrupted = 1;
      break;
    } else {
      if (grank == 0) write_status(dir, key, "done", "");
      state[next] = 1;
      ovq_log(OVQ_LOG_INFO, "sweep: task %s done in %.1f s", t->id, dt);
    }
    int stop = ovq_stop_requested() != 0;
    MPI_Allreduce(MPI_IN_PLACE, &stop, 1, MPI_INT, MPI_MAX, gcomm);
    if (stop) {
      interrupted = 1;
      break;
    }
  }
  ovq_log_init(comm);
  double wall = ovq_time() - t_start;
  MPI_Win_free(&win);
  /* Per-task outcome and time to every rank (each task was run by exactly one group; its first
   * rank contributes). */
  if (grank != 0) {
    memset(secs, 0, sizeof(double) * (size_t)n_tasks);
    memset(state, 0, sizeof(int) * (size_t)n_tasks);
    memset(where, 0, sizeof(int) * (size_t)n_tasks);
  }
  MPI_Allreduce(MPI_IN_PLACE, secs, n_tasks, MPI_DOUBLE, MPI_SUM, comm);
  MPI_Allreduce(MPI_IN_PLACE, state, n_tasks, MPI_INT, MPI_SUM, comm);
  MPI_Allreduce(MPI_IN_PLACE, where, n_tasks, MPI_INT, MPI_SUM, comm);
  double rank_busy = busy, wall_max = wall;
  MPI_Allreduce(MPI_IN_PLACE, &rank_busy, 1, MPI_DOUBLE, MPI_SUM, comm);
  MPI_Allreduce(MPI_IN_PLACE, &wall_max, 1, MPI_DOUBLE, MPI_MAX, comm);
  MPI_Allreduce(MPI_IN_PLACE, &interrupted, 1, MPI_INT, MPI_MAX, comm);
  int ran_tasks = 0, failed = 0;
  for (int i = 0; i < n_tasks; i++) {
    ran_tasks += state[i] == 1 || state[i] == 2;
    failed += state[i] == 2 || state[i] == 4;
  }
  /* rank_busy counts each task once per rank of its group: rank-seconds. */
  ovq_log(OVQ_LOG_INFO, "sweep: %d task%s run in %.1f s (%.2f tasks/min), %d failed; ranks idle "
          "%.1f%% of the time", ran_tasks, ran_tasks == 1 ? "" : "s", wall_max,
          wall_max > 0 ? 60.0 * ran_tasks / wall_max : 0.0, failed,
          wall_max > 0 ? 100.0 * (1.0 - rank_busy / (wall_max * size)) : 0.0);
  MPI_Comm_free(&gcomm);
  if (interrupted) {
    *outcome = OVQ_STAGE_INTERRUPTED;
    free(tasks);
    free(secs);
    free(state);
    free(where);
    return OVQ_OK;
  }

  /* Merged outputs. */
  st = OVQ_OK;
  if (rank == 0) {
    char tmp[OVQ_PATH_MAX + 80], p2[OVQ_PATH_MAX + 64];
    fmt(path, sizeof path, "%s/summary.tsv", outdir);
    fmt(tmp, sizeof tmp, "%s.tmp", path);
    FILE *s = fopen(tmp, "w");
    fmt(p2, sizeof p2, "%s/failed.tsv.tmp", outdir);
    FILE *fl = fopen(p2, "w");
    char tp[OVQ_PATH_MAX + 64];
    fmt(tp, sizeof tp, "%s/tasks.tsv.tmp", outdir);
    FILE *tl = fopen(tp, "w");
    if (!s || !fl || !tl) {
      st = ovq_error("%s: cannot write the merged tables: %s", outdir, strerror(errno));
    } else {
      int header = 0;
      fprintf(fl, "task\terror\n");
      fprintf(tl, "task\tcancer\tmodel\tcodebook_size\tlatent\tbeta\tlr\tepochs\thidden\t"
                  "train_seed\tstatus\tseconds\tgroup\n");
      /* Baseline tasks first so the published rows come once per cancer, then the grid. */
      for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < n_tasks; i++) {
          const Task *t = &tasks[i];
          if ((pass == 0) != (t->model[0] == '\0')) continue;
          char dir[OVQ_PATH_MAX + 64 + ID_LEN], f[OVQ_PATH_MAX + 96 + ID_LEN], msg[1024];
          fmt(dir, sizeof dir, "%s/tasks/%s", outdir, t->id);
          int ok = state[i] == 1 || state[i] == 3;
          fprintf(tl, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t", t->id, t->cancer,
                  t->model[0] ? t->model : "baseline", t->codebook, t->latent, t->beta, t->lr,
                  t->epochs, t->hidden, t->seed, ok ? "done" : "failed");
          if (state[i] == 1 || state[i] == 2) fprintf(tl, "%.3f", secs[i]);
          fprintf(tl, "\t%d\n", where[i]);
          if (!ok) {
            msg[0] = '\0';
            FILE *sf;
            fmt(f, sizeof f, "%s/status", dir);
            if ((sf = fopen(f, "r"))) {
              char w[64];
              if (fgets(w, sizeof w, sf) && fgets(msg, sizeof msg, sf))
                msg[strcspn(msg, "\n")] = '\0';
              fclose(sf);
            }
            fprintf(fl, "%s\t%s\n", t->id, msg);
            continue;
          }
          char extra[8 * VALUE_LEN + ID_LEN];
          fmt(extra, sizeof extra, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s", t->id,
              t->model[0] ? t->model : "baseline", t->codebook, t->latent, t->beta, t->lr,
              t->epochs, t->hidden, t->seed);
          fmt(f, sizeof f, "%s/summary.tsv", dir);
          append_rows(s, f, extra, pass == 1, &header);
        }
      int ok = !ferror(s) && !ferror(fl) && !ferror(tl);
      ok &= fclose(s) == 0;
      ok &= fclose(fl) == 0;
      ok &= fclose(tl) == 0;
      s = fl = tl = NULL;
      char fin[OVQ_PATH_MAX + 64];
      fmt(fin, sizeof fin, "%s/failed.tsv", outdir);
      if (ok) ok = rename(p2, fin) == 0;
      fmt(fin, sizeof fin, "%s/tasks.tsv", outdir);
      if (ok) ok = rename(tp, fin) == 0;
      if (ok) ok = rename(tmp, path) == 0;
      fmt(fin, sizeof fin, "%s/pancancer.tsv", outdir);
      if (ok) ok = write_pancancer(path, fin);
      if (!ok) st = ovq_error("%s: cannot write the merged tables: %s", outdir, strerror(errno));
    }
    if (s) fclose(s);
    if (fl) fclose(fl);
    if (tl) fclose(tl);
  }
  st = ovq_status_agree(comm, st);
  if (st == OVQ_OK) {
    fmt(path, sizeof path, "%s/results.h5", outdir);
    char *ini = ovq_config_to_ini(cfg);
    OvqResults r;
    st = ovq_results_create(&r, path, ini, comm);
    free(ini);
    static const char *const groups[] = {"/samples", "/models", "/features", "/clusters",
                                         "/eval", "/summary"};
    for (int i = 0; i < n_tasks && st == OVQ_OK; i++) {
      if (!(state[i] == 1 || state[i] == 3)) continue;
      char src[OVQ_PATH_MAX + 96 + ID_LEN], dst[ID_LEN + 64];
      fmt(src, sizeof src, "%s/tasks/%s/results.h5", outdir, tasks[i].id);
      OvqResults in;
      if ((st = ovq_results_open(&in, src, comm)) != OVQ_OK) break;
      /* Which of the groups the task's file has (the same on every rank). */
      int has[6];
      for (int g = 0; g < 6; g++) has[g] = H5Lexists(in.file, groups[g], H5P_DEFAULT) > 0;
      ovq_results_close(&in);
      for (int g = 0; g < 6 && st == OVQ_OK; g++) {
        if (!has[g]) continue;
        fmt(dst, sizeof dst, "/tasks/%s%s", tasks[i].id, groups[g]);
        st = ovq_results_copy(&r, src, groups[g], dst);
      }
    }
    if (st == OVQ_OK)
      st = ovq_results_commit(&r);
    else
      ovq_results_abort(&r);
  }
  if (st == OVQ_OK)
    ovq_log(OVQ_LOG_INFO, "sweep: wrote %s/summary.tsv, pancancer.tsv, tasks.tsv, failed.tsv, "
            "results.h5", outdir);
  free(tasks);
  free(secs);
  free(state);
  free(where);
  return st;
}
