/* Import of Xena / GDC files into a cohort (see include/ovq/import.h).
 *
 * Layout of the work. A matrix source is read with ovq_tsv_read_matrix: every rank parses a
 * block of its rows. The row ids are then gathered so that every rank knows all sample and
 * feature ids of every source; the joins (sample keys, kept samples, unique features) are computed
 * identically on every rank from those replicated lists. The values then travel once, rank to
 * rank, from the parsed layout to the cohort's layout (each rank its block of kept samples, all
 * features), and are averaged where aliquots or feature ids repeat (sums in double, so the result
 * does not depend on the number of ranks). GDC per-sample files are shared out by file: a rank
 * holds the samples of its files as rows, the transposed layout. */
#include "ovq/import.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "ovq/partition.h"
#include "ovq/strmap.h"
#include "ovq/tsv.h"

/* ---- Sample keys -------------------------------------------------------------------------- */
char *ovq_sample_key(const char *id, int *type) {
  size_t n = strlen(id);
  /* TCGA-XX-XXXX-NN...: project, tissue source site, participant, sample type (+ vial...). R
   * turns '-' into '.' in column names, so "TCGA.A1.A0SB.01" is read the same way. */
  int tcga = n >= 15 && (!strncmp(id, "TCGA-", 5) || !strncmp(id, "TCGA.", 5)) &&
             (id[7] == '-' || id[7] == '.') && (id[12] == '-' || id[12] == '.') &&
             isdigit((unsigned char)id[13]) && isdigit((unsigned char)id[14]) &&
             (n == 15 || !isdigit((unsigned char)id[15]));
  if (!tcga) {
    *type = -1;
    return OVQ_STRDUP(id); /* any length: other ids are matched whole */
  }
  char *key = OVQ_MALLOC(16);
  memcpy(key, id, 15);
  key[15] = '\0';
  for (int i = 0; i < 15; i++)
    if (key[i] == '.') key[i] = '-';
  *type = (id[13] - '0') * 10 + (id[14] - '0');
  return key;
}

/* ---- Sources ------------------------------------------------------------------------------ */
/* One omic as read: a block of rows per rank, every id replicated. */
typedef struct Source {
  const char *what; /* "mRNA" / "miRNA" */
  char path[OVQ_PATH_MAX];
  int samples_on_rows;
  int64_t n_rows_total, row_start, n_rows_local, n_cols;
  float *x;          /* [n_rows_local][n_cols] */
  char **row_ids;    /* [n_rows_total], all ranks */
  int64_t *row_line; /* file line of each row (matrix sources) or NULL */
  char **col_ids;    /* [n_cols] */
  /* Derived by the join: */
  int64_t n_samples_file; /* samples in the file */
  char **sample_ids;      /* = row_ids or col_ids (borrowed) */
  int64_t n_features_file;
  char **feature_ids; /* borrowed */
  int64_t *smap;      /* [n_samples_file] -> kept sample index or -1 */
  int64_t *fmap;      /* [n_features_file] -> unique feature index */
  int64_t n_features; /* unique features */
  char **features;    /* [n_features] (borrowed) */
} Source;

static void source_free(Source *s) {
  free(s->x);
  if (s->row_ids)
    for (int64_t i = 0; i < s->n_rows_total; i++) free(s->row_ids[i]);
  free(s->row_ids);
  if (s->col_ids)
    for (int64_t j = 0; j < s->n_cols; j++) free(s->col_ids[j]);
  free(s->col_ids);
  free(s->row_line);
  free(s->smap);
  free(s->fmap);
  free(s->features);
  memset(s, 0, sizeof *s);
}

/* Collective. Every rank's strings (n_local of them) gathered in rank order on every rank. */
static char **allgather_strings(char *const *local, int64_t n_local, int64_t n_total,
                                MPI_Comm comm) {
  int size;
  MPI_Comm_size(comm, &size);
  size_t bytes = 0;
  for (int64_t i = 0; i < n_local; i++) bytes += strlen(local[i]) + 1;
  char *buf = OVQ_MALLOC(bytes + 1), *p = buf;
  for (int64_t i = 0; i < n_local; i++) {
    size_t l = strlen(local[i]) + 1;
    memcpy(p, local[i], l);
    p += l;
  }
  int mine = OVQ_INT(bytes, "id bytes");
  int *counts = OVQ_MALLOC(sizeof(int) * (size_t)size), *displs = OVQ_MALLOC(sizeof(int) * (size_t)size);
  OVQ_MPI_CHECK(MPI_Allgather(&mine, 1, MPI_INT, counts, 1, MPI_INT, comm));
  int64_t total = 0;
  for (int r = 0; r < size; r++) {
    displs[r] = OVQ_INT(total, "id bytes");
    total += counts[r];
  }
  char *all = OVQ_MALLOC((size_t)total + 1);
  OVQ_MPI_CHECK(MPI_Allgatherv(buf, mine, MPI_CHAR, all, counts, displs, MPI_CHAR, comm));
  char **out = OVQ_MALLOC(sizeof(char *) * (size_t)(n_total + 1));
  const char *q = all;
  for (int64_t i = 0; i < n_total; i++) {
    out[i] = OVQ_STRDUP(q);
    q += strlen(q) + 1;
  }
  free(all);
  free(buf);
  free(counts);
  free(displs);
  return out;
}

/* Collective. Reads a matrix file into a source. */
static OvqStatus read_matrix_source(const char *what, const char *path, int samples_on_rows,
                                    char delim, MPI_Comm comm, Source *s) {
  memset(s, 0, sizeof *s);
  s->what = what;
  snprintf(s->path, sizeof s->path, "%s", path);
  s->samples_on_rows = samples_on_rows;
  OvqTsvMatrix m;
  if (ovq_tsv_read_matrix(path, delim, comm, &m) != OVQ_OK) return OVQ_ERR;
  s->n_rows_total = m.n_rows_total;
  s->row_start = m.row_start;
  s->n_rows_local = m.n_rows_local;
  s->n_cols = m.n_cols;
  s->x = m.x;
  m.x = NULL;
  char **local = OVQ_MALLOC(sizeof(char *) * (size_t)(m.n_rows_local + 1));
  for (int64_t i = 0; i < m.n_rows_local; i++) local[i] = (char *)ovq_strings_at(&m.row_ids, i);
  s->row_ids = allgather_strings(local, m.n_rows_local, m.n_rows_total, comm);
  free(local);
  s->col_ids = OVQ_MALLOC(sizeof(char *) * (size_t)(m.n_cols + 1));
  for (int64_t j = 0; j < m.n_cols; j++) s->col_ids[j] = OVQ_STRDUP(ovq_strings_at(&m.col_ids, j));
  ovq_tsv_matrix_free(&m);
  return OVQ_OK;
}

/* ---- GDC per-sample files ----------------------------------------------------------------- */
static int file_exists(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* Splits a line at tabs in place; returns the number of fields (at most max). */
static int split_tabs(char *line, char **f, int max) {
  int n = 0;
  f[n++] = line;
  for (char *p = line; *p && n < max; p++)
    if (*p == '\t') {
      *p = 0;
      f[n++] = p + 1;
    }
  return n;
}

/* Reads one per-sample quantification file: ids (when ids_out) and values of the column named
 * value_col. Rows whose id starts with "N_" (STAR summary rows) or "__" (HTSeq) are skipped. If
 * ref_ids is given, the ids must equal it (same genes, same order). */
static OvqStatus read_gdc_file(const char *path, const char *value_col, char **ref_ids,
                               int64_t n_ref, char ***ids_out, int64_t *n_out, float *values) {
  OvqLineReader *r;
  if (ovq_lines_open(path, &r) != OVQ_OK) return OVQ_ERR;
  char *line;
  size_t len;
  int rc, vcol = -1, ncol = 0, name_col = -1;
  char *f[64];
  int64_t n = 0, cap = 0;
  char **ids = NULL;
  OvqStatus st = OVQ_OK;
  while ((rc = ovq_lines_next(r, &line, &len)) == 1) {
    if (len == 0 || line[0] == '#') continue;
    int nf = split_tabs(line, f, 64);
    if (vcol < 0) { /* header */
      ncol = nf;
      for (int j = 0; j < nf; j++) {
        if (!strcmp(f[j], value_col)) vcol = j;
        if (!strcmp(f[j], "gene_name")) name_col = j;
      }
      if (vcol < 0) {
        char have[512] = "";
        for (int j = 0; j < nf; j++)
          snprintf(have + strlen(have), sizeof have - strlen(have), "%s%s", j ? ", " : "", f[j]);
        st = ovq_error("%s:%lld: no column '%s' (columns: %s); choose one with import.gdc_value "
                       "or import.gdc_mirna_value", path, (long long)ovq_lines_number(r),
                       value_col, have);
        break;
      }
      continue;
    }
    if (!strncmp(f[0], "N_", 2) || !strncmp(f[0], "__", 2)) continue;
    if (nf != ncol) {
      st = ovq_error("%s:%lld: %d fields, the header has %d", path, (long long)ovq_lines_number(r),
                     nf, ncol);
      break;
    }
    char id[512];
    if (name_col >= 0 && f[name_col][0])
      snprintf(id, sizeof id, "%s|%s", f[name_col], f[0]);
    else
      snprintf(id, sizeof id, "%s", f[0]);
    if (ref_ids) {
      if (n >= n_ref || strcmp(ref_ids[n], id) != 0) {
        st = ovq_error("%s:%lld: feature '%s' where the first file of the sample sheet has '%s': "
                       "every file must list the same features in the same order",
                       path, (long long)ovq_lines_number(r), id, n < n_ref ? ref_ids[n] : "(end)");
        break;
      }
    } else {
      if (n == cap) {
        cap = cap ? 2 * cap : 65536;
        ids = OVQ_REALLOC(ids, sizeof(char *) * (size_t)cap);
      }
      ids[n] = OVQ_STRDUP(id);
    }
    if (values) {
      float v;
      OvqValueKind k = ovq_parse_value(f[vcol], strlen(f[vcol]), &v);
      if (k == OVQ_VALUE_BAD || k == OVQ_VALUE_INF) {
        st = ovq_error("%s:%lld: column %d (%s): '%s' is not a finite number", path,
                       (long long)ovq_lines_number(r), vcol + 1, value_col, f[vcol]);
        break;
      }
      values[n] = v;
    }
    n++;
  }
  if (rc < 0) st = OVQ_ERR;
  if (st == OVQ_OK && vcol < 0) st = ovq_error("%s: no header line (empty file?)", path);
  if (st == OVQ_OK && ref_ids && n != n_ref)
    st = ovq_error("%s: %lld features, the first file of the sample sheet has %lld", path,
                   (long long)n, (long long)n_ref);
  if (st == OVQ_OK && n == 0) st = ovq_error("%s: no feature rows", path);
  ovq_lines_close(r);
  if (ids_out && st == OVQ_OK) {
    *ids_out = ids;
    *n_out = n;
  } else if (ids) {
    for (int64_t i = 0; i < n; i++) free(ids[i]);
    free(ids);
  }
  return st;
}

/* Collective. Reads the files of one data type ("Gene Expression" or "miRNA") of a GDC sample
 * sheet; each rank reads a block of them. */
static OvqStatus read_gdc_source(const char *what, const OvqTable *sheet, const char *sheet_path,
                                 const char *dir, int want_mirna, const char *value_col,
                                 MPI_Comm comm, Source *s, int *found) {
  memset(s, 0, sizeof *s);
  s->what = what;
  snprintf(s->path, sizeof s->path, "%s", sheet_path);
  s->samples_on_rows = 1;
  int rank, size;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  int64_t c_id = ovq_table_col(sheet, "File ID"), c_name = ovq_table_col(sheet, "File Name"),
          c_type = ovq_table_col(sheet, "Data Type"), c_sample = ovq_table_col(sheet, "Sample ID");
  if (c_name < 0 || c_sample < 0)
    return ovq_error("%s: a GDC sample sheet needs the columns 'File Name' and 'Sample ID'",
                     sheet_path);
  /* Rows of the wanted data type. */
  int64_t *rows = OVQ_MALLOC(sizeof(int64_t) * (size_t)(sheet->n_rows + 1)), n = 0;
  for (int64_t i = 0; i < sheet->n_rows; i++) {
    int is_mirna = c_type >= 0 && strstr(ovq_table_cell(sheet, i, c_type), "miRNA") != NULL;
    if (is_mirna == want_mirna) rows[n++] = i;
  }
  *found = n > 0;
  if (n == 0) {
    free(rows);
    return OVQ_OK;
  }
  /* Paths: DIR/File ID/File Name (the layout of the GDC client) or DIR/File Name. */
  char **paths = OVQ_MALLOC(sizeof(char *) * (size_t)n);
  OvqStatus st = OVQ_OK;
  for (int64_t k = 0; k < n; k++) {
    char p[2 * OVQ_PATH_MAX + 64];
    const char *name = ovq_table_cell(sheet, rows[k], c_name);
    p[0] = 0;
    if (c_id >= 0) {
      snprintf(p, sizeof p, "%s/%s/%s", dir, ovq_table_cell(sheet, rows[k], c_id), name);
      if (!file_exists(p)) p[0] = 0;
    }
    if (!p[0]) snprintf(p, sizeof p, "%s/%s", dir, name);
    if (st == OVQ_OK && !file_exists(p))
      st = ovq_error("%s:%lld: file '%s' not found (looked in %s/<File ID>/ and %s/)", sheet_path,
                     (long long)sheet->line[rows[k]], name, dir, dir);
    paths[k] = OVQ_STRDUP(p);
  }
  /* Reference feature list: the first file, read by rank 0 and broadcast. */
  char **ref = NULL;
  int64_t n_ref = 0;
  if (st == OVQ_OK && rank == 0) st = read_gdc_file(paths[0], value_col, NULL, 0, &ref, &n_ref, NULL);
  st = ovq_status_agree(comm, st);
  if (st == OVQ_OK) {
    OVQ_MPI_CHECK(MPI_Bcast(&n_ref, 1, MPI_INT64_T, 0, comm));
    char **all = rank == 0 ? ref : NULL;
    int64_t bytes = 0;
    if (rank == 0)
      for (int64_t j = 0; j < n_ref; j++) bytes += (int64_t)strlen(ref[j]) + 1;
    OVQ_MPI_CHECK(MPI_Bcast(&bytes, 1, MPI_INT64_T, 0, comm));
    char *buf = OVQ_MALLOC((size_t)bytes + 1), *p = buf;
    if (rank == 0)
      for (int64_t j = 0; j < n_ref; j++) {
        size_t l = strlen(ref[j]) + 1;
        memcpy(p, ref[j], l);
        p += l;
      }
    OVQ_MPI_CHECK(MPI_Bcast(buf, OVQ_INT(bytes, "feature id bytes"), MPI_CHAR, 0, comm));
    if (rank != 0) {
      all = OVQ_MALLOC(sizeof(char *) * (size_t)n_ref);
      p = buf;
      for (int64_t j = 0; j < n_ref; j++) {
        all[j] = OVQ_STRDUP(p);
        p += strlen(p) + 1;
      }
    }
    free(buf);
    ref = all;
  }
  if (st == OVQ_OK) {
    OvqRange b = ovq_partition_block(n, size, rank);
    s->n_rows_total = n;
    s->row_start = b.start;
    s->n_rows_local = b.count;
    s->n_cols = n_ref;
    s->x = OVQ_MALLOC(sizeof(float) * (size_t)(b.count * n_ref + 1));
    s->col_ids = ref;
    ref = NULL;
    OvqStatus mine = OVQ_OK;
    for (int64_t k = 0; k < b.count && mine == OVQ_OK; k++)
      mine = read_gdc_file(paths[b.start + k], value_col, s->col_ids, n_ref, NULL, NULL,
                           s->x + k * n_ref);
    st = ovq_status_agree(comm, mine);
    /* Sample ids: the sheet's Sample ID (the first one when a file lists several). */
    s->row_ids = OVQ_MALLOC(sizeof(char *) * (size_t)n);
    for (int64_t k = 0; k < n; k++) {
      char id[256];
      snprintf(id, sizeof id, "%s", ovq_table_cell(sheet, rows[k], c_sample));
      id[strcspn(id, ", ")] = 0;
      s->row_ids[k] = OVQ_STRDUP(id);
    }
  }
  if (ref) {
    for (int64_t j = 0; j < n_ref; j++) free(ref[j]);
    free(ref);
  }
  for (int64_t k = 0; k < n; k++) free(paths[k]);
  free(paths);
  free(rows);
  if (st == OVQ_OK)
    ovq_log(OVQ_LOG_INFO, "%s: %lld GDC files of %s, %lld features, column %s", what,
            (long long)s->n_rows_total, sheet_path, (long long)s->n_cols, value_col);
  return st;
}

/* ---- Joining ------------------------------------------------------------------------------ */
/* Parsed list of sample types ("01,02" or "all"); keep[t] for t in 0..99. */
static OvqStatus parse_types(const char *list, unsigned char keep[100]) {
  memset(keep, 0, 100);
  if (!strcmp(list, "all")) {
    memset(keep, 1, 100);
    return OVQ_OK;
  }
  char buf[64];
  snprintf(buf, sizeof buf, "%s", list);
  int any = 0;
  for (char *save = NULL, *t = strtok_r(buf, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
    char *end;
    long v = strtol(t, &end, 10);
    if (*end || v < 0 || v > 99)
      return ovq_error("import.sample_types: '%s' is not a TCGA sample-type code (00-99)", t);
    keep[v] = 1;
    any = 1;
  }
  if (!any) return ovq_error("import.sample_types is empty (use \"all\" to keep every type)");
  return OVQ_OK;
}

/* Keys of a source's samples. keys[i] = NULL for samples of an unwanted type. Exact duplicate
 * ids are an error. */
static OvqStatus source_keys(Source *s, const unsigned char types[100], char ***keys_out,
                             int64_t *n_type_dropped) {
  s->sample_ids = s->samples_on_rows ? s->row_ids : s->col_ids;
  s->n_samples_file = s->samples_on_rows ? s->n_rows_total : s->n_cols;
  s->feature_ids = s->samples_on_rows ? s->col_ids : s->row_ids;
  s->n_features_file = s->samples_on_rows ? s->n_cols : s->n_rows_total;
  if (s->n_samples_file == 0) return ovq_error("%s: no samples", s->path);
  OvqStrMap seen;
  ovq_strmap_init(&seen, s->n_samples_file);
  char **keys = OVQ_CALLOC((size_t)s->n_samples_file, sizeof(char *));
  OvqStatus st = OVQ_OK;
  *n_type_dropped = 0;
  for (int64_t i = 0; i < s->n_samples_file && st == OVQ_OK; i++) {
    const char *id = s->sample_ids[i];
    if (!id[0]) {
      st = ovq_error("%s: sample %lld has an empty id", s->path, (long long)i + 1);
      break;
    }
    int64_t prev = ovq_strmap_put(&seen, id, i);
    if (prev != i) {
      st = ovq_error("%s: sample id '%s' appears twice (%s %lld and %lld)", s->path, id,
                     s->samples_on_rows ? "rows" : "columns", (long long)prev + 1,
                     (long long)i + 1);
      break;
    }
    int type;
    char *key = ovq_sample_key(id, &type);
    if (type >= 0 && !types[type]) {
      (*n_type_dropped)++;
      free(key);
      continue;
    }
    keys[i] = key;
  }
  ovq_strmap_free(&seen);
  *keys_out = keys;
  return st;
}

static void free_keys(char **k, int64_t n) {
  if (!k) return;
  for (int64_t i = 0; i < n; i++) free(k[i]);
  free(k);
}

/* Unique feature ids of a source (first occurrence order) and the map file feature -> unique. */
static void source_features(Source *s) {
  OvqStrMap m;
  ovq_strmap_init(&m, s->n_features_file);
  s->fmap = OVQ_MALLOC(sizeof(int64_t) * (size_t)(s->n_features_file + 1));
  s->features = OVQ_MALLOC(sizeof(char *) * (size_t)(s->n_features_file + 1));
  int64_t n_dup = 0;
  char ex[256] = "";
  for (int64_t j = 0; j < s->n_features_file; j++) {
    int64_t u = ovq_strmap_put(&m, s->feature_ids[j], s->n_features);
    if (u == s->n_features) {
      s->features[s->n_features++] = s->feature_ids[j];
    } else {
      if (n_dup < 3)
        snprintf(ex + strlen(ex), sizeof ex - strlen(ex), "%s%s", n_dup ? ", " : "",
                 s->feature_ids[j]);
      n_dup++;
    }
    s->fmap[j] = u;
  }
  ovq_strmap_free(&m);
  if (n_dup)
    ovq_log(OVQ_LOG_WARN, "%s: %lld duplicate feature ids (%s%s) merged by their mean", s->path,
            (long long)n_dup, ex, n_dup > 3 ? ", ..." : "");
}

/* Logs a list of ids (all at debug level, the first 20 at info). */
static void log_list(const char *what, char **ids, int64_t n) {
  if (n == 0) return;
  char buf[2048] = "";
  for (int64_t i = 0; i < n && strlen(buf) < sizeof buf - 80; i++)
    snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s%s", i ? " " : "", ids[i]);
  ovq_log(OVQ_LOG_INFO, "%s: %lld: %s%s", what, (long long)n, buf,
          strlen(buf) >= sizeof buf - 80 ? " ..." : "");
}

/* ---- Moving values into the cohort layout -------------------------------------------------- */
/* Accumulates the source's values into sum/cnt [n_local][G] (this rank's kept samples). */
static void scatter_source(const Source *s, int64_t N, int64_t G, MPI_Comm comm, double *sum,
                           uint16_t *cnt) {
  int rank, size;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  OvqRange me = ovq_partition_block(N, size, rank);
  int64_t *rstart = OVQ_MALLOC(sizeof(int64_t) * (size_t)size), *rcount = OVQ_MALLOC(sizeof(int64_t) * (size_t)size);
  OVQ_MPI_CHECK(MPI_Allgather(&s->row_start, 1, MPI_INT64_T, rstart, 1, MPI_INT64_T, comm));
  OVQ_MPI_CHECK(MPI_Allgather(&s->n_rows_local, 1, MPI_INT64_T, rcount, 1, MPI_INT64_T, comm));
  const int64_t C = s->n_cols;
  /* Owner of each kept sample's row / column (-1: not kept). */
  int64_t n_sdim = s->n_samples_file;
  int *owner = OVQ_MALLOC(sizeof(int) * (size_t)(n_sdim + 1));
  for (int64_t i = 0; i < n_sdim; i++)
    owner[i] = s->smap[i] >= 0 ? ovq_partition_owner(N, size, s->smap[i]) : -1;
  /* Columns of a sample-on-columns source owned by each rank, in order. */
  int64_t *cols = NULL, *cols_off = NULL;
  if (!s->samples_on_rows) {
    cols = OVQ_MALLOC(sizeof(int64_t) * (size_t)(C + 1));
    cols_off = OVQ_CALLOC((size_t)size + 1, sizeof(int64_t));
    for (int64_t c = 0; c < C; c++)
      if (owner[c] >= 0) cols_off[owner[c] + 1]++;
    for (int d = 0; d < size; d++) cols_off[d + 1] += cols_off[d];
    int64_t *fill = OVQ_MALLOC(sizeof(int64_t) * (size_t)size);
    memcpy(fill, cols_off, sizeof(int64_t) * (size_t)size);
    for (int64_t c = 0; c < C; c++)
      if (owner[c] >= 0) cols[fill[owner[c]]++] = c;
    free(fill);
  }
  const int64_t CHUNK = (int64_t)1 << 26; /* floats per message */
  for (int step = 0; step < size; step++) {
    int dst = (rank + step) % size, src = (rank - step + size) % size;
    /* Pack for dst. */
    int64_t ns = 0;
    float *sbuf;
    if (s->samples_on_rows) {
      for (int64_t r = 0; r < s->n_rows_local; r++) ns += owner[s->row_start + r] == dst;
      sbuf = OVQ_MALLOC(sizeof(float) * (size_t)(ns * C + 1));
      int64_t k = 0;
      for (int64_t r = 0; r < s->n_rows_local; r++)
        if (owner[s->row_start + r] == dst) memcpy(sbuf + (k++) * C, s->x + r * C, sizeof(float) * (size_t)C);
      ns *= C;
    } else {
      int64_t nc = cols_off[dst + 1] - cols_off[dst];
      ns = s->n_rows_local * nc;
      sbuf = OVQ_MALLOC(sizeof(float) * (size_t)(ns + 1));
      int64_t k = 0;
      for (int64_t r = 0; r < s->n_rows_local; r++)
        for (int64_t q = cols_off[dst]; q < cols_off[dst + 1]; q++) sbuf[k++] = s->x[r * C + cols[q]];
    }
    /* Size of what src sends me. */
    int64_t nr;
    if (s->samples_on_rows) {
      nr = 0;
      for (int64_t g = rstart[src]; g < rstart[src] + rcount[src]; g++) nr += owner[g] == rank;
      nr *= C;
    } else {
      nr = rcount[src] * (cols_off[rank + 1] - cols_off[rank]);
    }
    float *rbuf = OVQ_MALLOC(sizeof(float) * (size_t)(nr + 1));
    /* In chunks of at most CHUNK floats; both sides count max(1, ceil(n / CHUNK)) messages. */
    int n_s = (int)(ns > 0 ? (ns + CHUNK - 1) / CHUNK : 1), n_r = (int)(nr > 0 ? (nr + CHUNK - 1) / CHUNK : 1);
    MPI_Request *req = OVQ_MALLOC(sizeof(MPI_Request) * (size_t)(n_s + n_r));
    for (int q = 0; q < n_r; q++) {
      int64_t off = (int64_t)q * CHUNK, len = nr - off < CHUNK ? nr - off : CHUNK;
      OVQ_MPI_CHECK(MPI_Irecv(rbuf + off, (int)(len > 0 ? len : 0), MPI_FLOAT, src, 17, comm, &req[q]));
    }
    for (int q = 0; q < n_s; q++) {
      int64_t off = (int64_t)q * CHUNK, len = ns - off < CHUNK ? ns - off : CHUNK;
      OVQ_MPI_CHECK(MPI_Isend(sbuf + off, (int)(len > 0 ? len : 0), MPI_FLOAT, dst, 17, comm,
                              &req[n_r + q]));
    }
    OVQ_MPI_CHECK(MPI_Waitall(n_s + n_r, req, MPI_STATUSES_IGNORE));
    free(req);
    free(sbuf);
    /* Accumulate what src sent. */
    int64_t k = 0;
    if (s->samples_on_rows) {
      for (int64_t g = rstart[src]; g < rstart[src] + rcount[src]; g++) {
        if (owner[g] != rank) continue;
        int64_t i = s->smap[g] - me.start;
        for (int64_t c = 0; c < C; c++, k++) {
          float v = rbuf[k];
          if (isnan(v)) continue;
          int64_t f = s->fmap[c];
          sum[i * G + f] += v;
          cnt[i * G + f]++;
        }
      }
    } else {
      for (int64_t g = rstart[src]; g < rstart[src] + rcount[src]; g++) {
        int64_t f = s->fmap[g];
        for (int64_t q = cols_off[rank]; q < cols_off[rank + 1]; q++, k++) {
          float v = rbuf[k];
          if (isnan(v)) continue;
          int64_t i = s->smap[cols[q]] - me.start;
          sum[i * G + f] += v;
          cnt[i * G + f]++;
        }
      }
    }
    free(rbuf);
  }
  free(cols);
  free(cols_off);
  free(owner);
  free(rstart);
  free(rcount);
}

/* Collective. Builds the omic block [n_local][G] (G = unique features) as means of the
 * contributions; NaN where none. */
static float *assemble(const Source *s, int64_t N, MPI_Comm comm, int64_t n_local) {
  const int64_t G = s->n_features;
  double *sum = OVQ_CALLOC((size_t)(n_local * G + 1), sizeof(double));
  uint16_t *cnt = OVQ_CALLOC((size_t)(n_local * G + 1), sizeof(uint16_t));
  scatter_source(s, N, G, comm, sum, cnt);
  float *x = OVQ_MALLOC(sizeof(float) * (size_t)(n_local * G + 1));
  for (int64_t i = 0; i < n_local * G; i++)
    x[i] = cnt[i] ? (float)(sum[i] / cnt[i]) : NAN;
  free(sum);
  free(cnt);
  return x;
}

/* ---- Log scale, empty features --------------------------------------------------------------- */
static OvqStatus log_scale(const char *what, const char *mode, float *x, int64_t n, MPI_Comm comm) {
  double mm[2] = {INFINITY, INFINITY}; /* min, -max */
  for (int64_t i = 0; i < n; i++) {
    if (isnan(x[i])) continue;
    if (x[i] < mm[0]) mm[0] = x[i];
    if (-x[i] < mm[1]) mm[1] = -x[i];
  }
  OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, mm, 2, MPI_DOUBLE, MPI_MIN, comm));
  double lo = mm[0], hi = -mm[1];
  int apply;
  if (!strcmp(mode, "auto")) {
    /* log2-scale expression stays below ~25 (2^25 reads per million would be absurd) and
     * standardised or log-ratio data go negative; counts, TPM, FPKM and RPM exceed 50. */
    apply = lo >= 0 && hi > 50;
    ovq_log(OVQ_LOG_INFO, "%s: values from %g to %g: %s", what, lo, hi,
            apply ? "not on a log scale, applying log2(x + 1)"
                  : "already on a log scale (import.log = yes forces log2(x + 1))");
  } else {
    apply = !strcmp(mode, "yes");
    ovq_log(OVQ_LOG_INFO, "%s: values from %g to %g; import.log = %s", what, lo, hi, mode);
  }
  if (apply && lo <= -1)
    return ovq_error("%s: log2(x + 1) of values <= -1 (smallest %g) is undefined; are the "
                     "values already log-scaled? (import.log = no)", what, lo);
  if (apply)
    for (int64_t i = 0; i < n; i++)
      if (!isnan(x[i])) x[i] = (float)log2(1.0 + (double)x[i]);
  return OVQ_OK;
}

/* Features missing in every kept sample: error, or dropped (x, ids compacted). */
static OvqStatus empty_features(Source *s, float **x, int64_t n_local, const char *mode,
                                MPI_Comm comm) {
  const int64_t G = s->n_features;
  int64_t *obs = OVQ_CALLOC((size_t)G + 1, sizeof(int64_t));
  for (int64_t i = 0; i < n_local; i++)
    for (int64_t j = 0; j < G; j++) obs[j] += !isnan((*x)[i * G + j]);
  OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, obs, OVQ_INT(G + 1, "features"), MPI_INT64_T, MPI_SUM,
                              comm));
  int64_t n_empty = 0, first = -1;
  for (int64_t j = 0; j < G; j++)
    if (!obs[j]) {
      if (first < 0) first = j;
      n_empty++;
    }
  OvqStatus st = OVQ_OK;
  if (n_empty && !strcmp(mode, "error")) {
    st = ovq_error("%s: feature '%s'%s is missing in every kept sample (%lld such feature%s); "
                   "remove it or set import.empty_features = drop", s->path, s->features[first],
                   n_empty > 1 ? " and others" : "", (long long)n_empty, n_empty > 1 ? "s" : "");
  } else if (n_empty) {
    ovq_log(OVQ_LOG_WARN, "%s: %lld features missing in every sample dropped (first: %s)",
            s->path, (long long)n_empty, s->features[first]);
    int64_t k = 0;
    for (int64_t j = 0; j < G; j++)
      if (obs[j]) s->features[k++] = s->features[j];
    float *y = OVQ_MALLOC(sizeof(float) * (size_t)(n_local * k + 1));
    for (int64_t i = 0; i < n_local; i++) {
      int64_t p = 0;
      for (int64_t j = 0; j < G; j++)
        if (obs[j]) y[i * k + p++] = (*x)[i * G + j];
    }
    free(*x);
    *x = y;
    s->n_features = k;
  }
  free(obs);
  return st;
}

/* ---- Clinical --------------------------------------------------------------------------- */
static OvqStatus parse_event(const char *path, int64_t line, int64_t col, const char *v,
                             int8_t *out) {
  char b[32];
  size_t n = strlen(v);
  if (n >= sizeof b) n = sizeof b - 1;
  for (size_t i = 0; i < n; i++) b[i] = (char)tolower((unsigned char)v[i]);
  b[n] = 0;
  if (!b[0] || !strcmp(b, "na") || !strcmp(b, "nan") || !strcmp(b, "null") || !strcmp(b, "[not available]") ||
      !strcmp(b, "[unknown]") || !strcmp(b, "[discrepancy]") || !strcmp(b, "[not applicable]"))
    *out = -1;
  else if (!strcmp(b, "1") || !strcmp(b, "1.0") || !strcmp(b, "dead") || !strcmp(b, "deceased"))
    *out = 1;
  else if (!strcmp(b, "0") || !strcmp(b, "0.0") || !strcmp(b, "alive") || !strcmp(b, "living"))
    *out = 0;
  else
    return ovq_error("%s:%lld: column %lld: overall-survival event '%s' is not 1/0 (or "
                     "dead/alive)", path, (long long)line, (long long)col + 1, v);
  return OVQ_OK;
}

static OvqStatus parse_time(const char *path, int64_t line, int64_t col, const char *v,
                            double *out) {
  float f;
  OvqValueKind k = ovq_parse_value(v, strlen(v), &f);
  if (k == OVQ_VALUE_MISSING || !strncmp(v, "[", 1)) {
    *out = NAN;
    return OVQ_OK;
  }
  if (k != OVQ_VALUE_NUMBER || f < 0)
    return ovq_error("%s:%lld: column %lld: overall-survival time '%s' is not a number of days "
                     ">= 0", path, (long long)line, (long long)col + 1, v);
  *out = f;
  return OVQ_OK;
}

static int is_missing_label(const char *v) {
  return !v[0] || !strcasecmp(v, "NA") || !strcasecmp(v, "NaN") || !strcasecmp(v, "null") ||
         v[0] == '[';
}

/* ---- The whole import ----------------------------------------------------------------------- */
OvqStatus ovq_import(const OvqConfig *cfg, MPI_Comm comm, OvqCohort *out) {
  memset(out, 0, sizeof *out);
  const typeof(cfg->import) *im = &cfg->import;
  int rank, size;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  const char delim = !strcmp(im->delimiter, "comma") ? ',' : '\t';
  const int on_rows = !strcmp(im->layout, "samples_as_rows");
  if (!im->clinical[0]) return ovq_error("no clinical table: give --clinical FILE (import.clinical)");
  if (!im->mrna[0] && !im->gdc_sheet[0])
    return ovq_error("no expression: give --mrna FILE (import.mrna) or --gdc-sheet FILE "
                     "(import.gdc_sheet)");
  if (im->mrna[0] && im->gdc_sheet[0])
    return ovq_error("give either --mrna (a matrix) or --gdc-sheet (per-sample files), not both");
  unsigned char types[100];
  if (parse_types(im->sample_types, types) != OVQ_OK) return OVQ_ERR;

  Source src[2];
  memset(src, 0, sizeof src);
  int n_src = 0;
  OvqStatus st = OVQ_OK;
  if (im->gdc_sheet[0]) {
    OvqTable sheet;
    if (ovq_table_read_bcast(im->gdc_sheet, '#', '\t', comm, &sheet) != OVQ_OK) return OVQ_ERR;
    const char *dir = im->gdc_dir[0] ? im->gdc_dir : ".";
    int found = 0;
    st = read_gdc_source("mRNA", &sheet, im->gdc_sheet, dir, 0, im->gdc_value, comm, &src[0], &found);
    if (st == OVQ_OK && !found)
      st = ovq_error("%s: no gene-expression files listed (Data Type)", im->gdc_sheet);
    if (st == OVQ_OK) {
      n_src = 1;
      st = read_gdc_source("miRNA", &sheet, im->gdc_sheet, dir, 1, im->gdc_mirna_value, comm,
                           &src[1], &found);
      if (st == OVQ_OK && found) n_src = 2;
    }
    ovq_table_free(&sheet);
  } else {
    st = read_matrix_source("mRNA", im->mrna, on_rows, delim, comm, &src[0]);
    if (st == OVQ_OK) n_src = 1;
    if (st == OVQ_OK && im->mirna[0]) {
      st = read_matrix_source("miRNA", im->mirna, on_rows, delim, comm, &src[1]);
      if (st == OVQ_OK) n_src = 2;
    }
  }
  OvqTable clin, lab;
  memset(&clin, 0, sizeof clin);
  memset(&lab, 0, sizeof lab);
  if (st == OVQ_OK) st = ovq_table_read_bcast(im->clinical, '#', delim, comm, &clin);
  if (st == OVQ_OK && im->labels[0]) st = ovq_table_read_bcast(im->labels, '#', delim, comm, &lab);

  char **keys[2] = {NULL, NULL};
  int64_t c_sample = -1, c_label = -1, c_time = -1, c_event = -1, c_cancer = -1, l_sample = -1,
          l_label = -1;
  OvqStrMap clin_map, lab_map;
  memset(&clin_map, 0, sizeof clin_map);
  memset(&lab_map, 0, sizeof lab_map);
  char **clin_keys = NULL, **lab_keys = NULL;
  /* Clinical columns and keys (identical on every rank: the table is replicated). */
  if (st == OVQ_OK) {
    c_sample = ovq_table_col(&clin, im->sample_column);
    if (c_sample < 0)
      st = ovq_error("%s: no sample column '%s' (set import.sample_column, e.g. sampleID)",
                     im->clinical, im->sample_column);
    c_label = ovq_table_col(&clin, im->label_column);
    c_time = ovq_table_col(&clin, im->os_time_column);
    c_event = ovq_table_col(&clin, im->os_event_column);
    if (!im->cancer[0]) {
      c_cancer = ovq_table_col(&clin, im->cancer_column);
      if (st == OVQ_OK && c_cancer < 0)
        st = ovq_error("%s: no cancer-type column '%s': set import.cancer_column (Xena: 'cancer "
                       "type abbreviation') or give the type with --cancer", im->clinical,
                       im->cancer_column);
    }
    if (st == OVQ_OK && c_label < 0 && !im->labels[0])
      ovq_log(OVQ_LOG_WARN, "%s: no label column '%s': samples get no published subtype",
              im->clinical, im->label_column);
    if (st == OVQ_OK && (c_time < 0 || c_event < 0))
      ovq_log(OVQ_LOG_WARN, "%s: no survival columns '%s' / '%s': survival is unknown",
              im->clinical, im->os_time_column, im->os_event_column);
  }
  if (st == OVQ_OK) {
    ovq_strmap_init(&clin_map, clin.n_rows);
    clin_keys = OVQ_CALLOC((size_t)clin.n_rows + 1, sizeof(char *));
    for (int64_t i = 0; i < clin.n_rows && st == OVQ_OK; i++) {
      const char *id = ovq_table_cell(&clin, i, c_sample);
      if (!id[0]) {
        st = ovq_error("%s:%lld: empty sample id", im->clinical, (long long)clin.line[i]);
        break;
      }
      int type;
      char *key = ovq_sample_key(id, &type);
      if (type >= 0 && !types[type]) {
        free(key);
        continue;
      }
      clin_keys[i] = key;
      int64_t prev = ovq_strmap_put(&clin_map, clin_keys[i], i);
      if (prev != i)
        st = ovq_error("%s:%lld: sample '%s' is already on line %lld", im->clinical,
                       (long long)clin.line[i], id, (long long)clin.line[prev]);
    }
  }
  if (st == OVQ_OK && im->labels[0]) {
    l_sample = ovq_table_col(&lab, im->labels_sample_column);
    l_label = ovq_table_col(&lab, im->label_column);
    if (l_sample < 0 || l_label < 0)
      st = ovq_error("%s: the labels table needs the columns '%s' (import.labels_sample_column) "
                     "and '%s' (import.label_column)", im->labels, im->labels_sample_column,
                     im->label_column);
    if (st == OVQ_OK) {
      ovq_strmap_init(&lab_map, lab.n_rows);
      lab_keys = OVQ_CALLOC((size_t)lab.n_rows + 1, sizeof(char *));
      for (int64_t i = 0; i < lab.n_rows && st == OVQ_OK; i++) {
        int type;
        char *key = ovq_sample_key(ovq_table_cell(&lab, i, l_sample), &type);
        if (type >= 0 && !types[type]) {
          free(key);
          continue;
        }
        lab_keys[i] = key;
        int64_t prev = ovq_strmap_put(&lab_map, lab_keys[i], i);
        if (prev != i)
          st = ovq_error("%s:%lld: sample '%s' is already on line %lld", im->labels,
                         (long long)lab.line[i], ovq_table_cell(&lab, i, l_sample),
                         (long long)lab.line[prev]);
      }
    }
  }
  /* Sample keys of each source; the kept samples: in the mRNA source's order, present in every
   * source and in the clinical table. */
  int64_t n_type_dropped[2] = {0, 0};
  for (int k = 0; k < n_src && st == OVQ_OK; k++) st = source_keys(&src[k], types, &keys[k], &n_type_dropped[k]);
  OvqStrMap kept_map, mirna_keys;
  memset(&kept_map, 0, sizeof kept_map);
  memset(&mirna_keys, 0, sizeof mirna_keys);
  char **kept = NULL;
  int64_t N = 0;
  if (st == OVQ_OK) {
    if (n_type_dropped[0])
      ovq_log(OVQ_LOG_INFO, "%s: %lld samples of other sample types than %s skipped",
              src[0].path, (long long)n_type_dropped[0], im->sample_types);
    if (n_src == 2) {
      ovq_strmap_init(&mirna_keys, src[1].n_samples_file);
      for (int64_t i = 0; i < src[1].n_samples_file; i++)
        if (keys[1][i]) ovq_strmap_put(&mirna_keys, keys[1][i], i);
    }
    ovq_strmap_init(&kept_map, src[0].n_samples_file);
    kept = OVQ_MALLOC(sizeof(char *) * (size_t)(src[0].n_samples_file + 1));
    char **no_mirna = OVQ_MALLOC(sizeof(char *) * (size_t)(src[0].n_samples_file + 1)),
         **no_clin = OVQ_MALLOC(sizeof(char *) * (size_t)(src[0].n_samples_file + 1));
    int64_t n_no_mirna = 0, n_no_clin = 0, n_aliquots = 0;
    for (int64_t i = 0; i < src[0].n_samples_file; i++) {
      const char *key = keys[0][i];
      if (!key) continue;
      if (ovq_strmap_get(&kept_map, key) >= 0) {
        n_aliquots++;
        continue;
      }
      if (n_src == 2 && ovq_strmap_get(&mirna_keys, key) < 0) {
        no_mirna[n_no_mirna++] = (char *)key;
        continue;
      }
      if (ovq_strmap_get(&clin_map, key) < 0) {
        no_clin[n_no_clin++] = (char *)key;
        continue;
      }
      ovq_strmap_put(&kept_map, key, N);
      kept[N++] = (char *)key;
    }
    if (n_aliquots)
      ovq_log(OVQ_LOG_INFO, "%s: %lld further aliquots of kept samples averaged", src[0].path,
              (long long)n_aliquots);
    log_list("samples dropped: no miRNA data", no_mirna, n_no_mirna);
    log_list("samples dropped: not in the clinical table", no_clin, n_no_clin);
    if (n_src == 2) {
      int64_t n_only = 0;
      OvqStrMap m0;
      ovq_strmap_init(&m0, src[0].n_samples_file);
      for (int64_t i = 0; i < src[0].n_samples_file; i++)
        if (keys[0][i]) ovq_strmap_put(&m0, keys[0][i], i);
      char **only = OVQ_MALLOC(sizeof(char *) * (size_t)(src[1].n_samples_file + 1));
      for (int64_t i = 0; i < src[1].n_samples_file; i++)
        if (keys[1][i] && ovq_strmap_get(&m0, keys[1][i]) < 0) {
          int dup = 0;
          for (int64_t q = 0; q < n_only && !dup; q++) dup = !strcmp(only[q], keys[1][i]);
          if (!dup && n_only < 100000) only[n_only++] = keys[1][i];
        }
      log_list("samples dropped: miRNA data but no mRNA data", only, n_only);
      free(only);
      ovq_strmap_free(&m0);
    }
    free(no_mirna);
    free(no_clin);
    if (N == 0)
      st = ovq_error("no samples in common between %s%s%s and %s (sample ids are matched on "
                     "their first 15 characters for TCGA barcodes, sample types %s)",
                     src[0].path, n_src == 2 ? ", " : "", n_src == 2 ? src[1].path : "",
                     im->clinical, im->sample_types);
  }
  /* Sample and feature maps, then the values in the cohort layout. */
  float *x[2] = {NULL, NULL};
  OvqRange me = ovq_partition_block(N, size, rank);
  for (int k = 0; k < n_src && st == OVQ_OK; k++) {
    Source *s = &src[k];
    s->smap = OVQ_MALLOC(sizeof(int64_t) * (size_t)(s->n_samples_file + 1));
    for (int64_t i = 0; i < s->n_samples_file; i++)
      s->smap[i] = keys[k][i] ? ovq_strmap_get(&kept_map, keys[k][i]) : -1;
    source_features(s);
    x[k] = assemble(s, N, comm, me.count);
    free(s->x); /* the parsed block is no longer needed */
    s->x = NULL;
    st = log_scale(s->what, im->log, x[k], me.count * s->n_features, comm);
    if (st == OVQ_OK) st = empty_features(s, &x[k], me.count, im->empty_features, comm);
  }
  /* The cohort. */
  if (st == OVQ_OK) {
    int fw = 2, sw = 16;
    for (int k = 0; k < n_src; k++)
      for (int64_t j = 0; j < src[k].n_features; j++)
        if ((int)strlen(src[k].features[j]) + 1 > fw) fw = (int)strlen(src[k].features[j]) + 1;
    /* String width: the longest kept id, cancer type and label (same on every rank: the
     * clinical table is replicated). */
    for (int64_t s = 0; s < N; s++) {
      int64_t ci = ovq_strmap_get(&clin_map, kept[s]);
      const char *strs[3] = {kept[s], c_cancer >= 0 ? ovq_table_cell(&clin, ci, c_cancer) : im->cancer,
                             c_label >= 0 ? ovq_table_cell(&clin, ci, c_label) : ""};
      if (lab_keys) {
        int64_t li = ovq_strmap_get(&lab_map, kept[s]);
        strs[2] = li >= 0 ? ovq_table_cell(&lab, li, l_label) : "";
      }
      for (int q = 0; q < 3; q++)
        if ((int)strlen(strs[q]) + 1 > sw) sw = (int)strlen(strs[q]) + 1;
    }
    ovq_cohort_alloc(out, N, me.start, me.count, src[0].n_features,
                     n_src == 2 ? src[1].n_features : 0, fw, sw, 0);
    memcpy(out->mrna, x[0], sizeof(float) * (size_t)(me.count * src[0].n_features));
    for (int64_t j = 0; j < src[0].n_features; j++) ovq_strings_set(&out->mrna_ids, j, src[0].features[j]);
    if (n_src == 2) {
      memcpy(out->mirna, x[1], sizeof(float) * (size_t)(me.count * src[1].n_features));
      for (int64_t j = 0; j < src[1].n_features; j++)
        ovq_strings_set(&out->mirna_ids, j, src[1].features[j]);
    }
    int64_t n_labeled = 0, n_events = 0;
    for (int64_t i = 0; i < me.count && st == OVQ_OK; i++) {
      int64_t s = me.start + i, ci = ovq_strmap_get(&clin_map, kept[s]);
      ovq_strings_set(&out->sample_id, i, kept[s]);
      const char *cancer = c_cancer >= 0 ? ovq_table_cell(&clin, ci, c_cancer) : im->cancer;
      if (is_missing_label(cancer)) {
        st = ovq_error("%s:%lld: sample %s has no cancer type (column '%s')", im->clinical,
                       (long long)clin.line[ci], kept[s], im->cancer_column);
        break;
      }
      ovq_strings_set(&out->cancer, i, cancer);
      const char *label = "";
      if (lab_keys) {
        int64_t li = ovq_strmap_get(&lab_map, kept[s]);
        if (li >= 0) label = ovq_table_cell(&lab, li, l_label);
      } else if (c_label >= 0) {
        label = ovq_table_cell(&clin, ci, c_label);
      }
      if (!is_missing_label(label)) {
        ovq_strings_set(&out->label, i, label);
        n_labeled++;
      }
      out->os_time[i] = NAN;
      out->os_event[i] = -1;
      if (c_time >= 0 && c_event >= 0) {
        st = parse_time(im->clinical, clin.line[ci], c_time, ovq_table_cell(&clin, ci, c_time),
                        &out->os_time[i]);
        if (st == OVQ_OK)
          st = parse_event(im->clinical, clin.line[ci], c_event,
                           ovq_table_cell(&clin, ci, c_event), &out->os_event[i]);
        n_events += out->os_event[i] == 1;
      }
    }
    st = ovq_status_agree(comm, st);
    if (st == OVQ_OK) {
      int64_t t[2] = {n_labeled, n_events};
      OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, t, 2, MPI_INT64_T, MPI_SUM, comm));
      ovq_log(OVQ_LOG_INFO, "imported %lld samples x %lld genes + %lld miRNAs; %lld with a "
              "label, %lld deaths", (long long)N, (long long)src[0].n_features,
              (long long)(n_src == 2 ? src[1].n_features : 0), (long long)t[0], (long long)t[1]);
    } else {
      ovq_cohort_destroy(out);
    }
  }
  free(x[0]);
  free(x[1]);
  free(kept);
  ovq_strmap_free(&kept_map);
  ovq_strmap_free(&mirna_keys);
  ovq_strmap_free(&clin_map);
  ovq_strmap_free(&lab_map);
  free_keys(clin_keys, clin.n_rows);
  free_keys(lab_keys, lab.n_rows);
  for (int k = 0; k < 2; k++) {
    free_keys(keys[k], src[k].n_samples_file);
    source_free(&src[k]);
  }
  ovq_table_free(&clin);
  ovq_table_free(&lab);
  return ovq_status_agree(comm, st);
}
