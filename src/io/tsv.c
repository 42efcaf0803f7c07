/* Delimited text input (see include/ovq/tsv.h): files (plain or gzip), the line reader, small
 * string tables, and the parallel reader of numeric matrices. The parsing of text in memory is in
 * tsv_parse.c; this file adds files and MPI.
 *
 * Matrix layout of the work. Rank 0 reads the header line and broadcasts it. A plain file's data
 * bytes are split into one block per rank (ovq_partition_block over bytes); a block starts at the
 * first line start at or after its nominal first byte, so every line belongs to exactly one rank
 * and a rank's lines precede the next rank's. Each rank maps its block (mmap: the page cache is
 * parsed in place, with no copy and no fresh buffer for the kernel to zero; pread where mapping
 * is refused), counts its lines (an MPI_Exscan gives the file line number of its first one, for
 * messages) and parses its rows. A file truncated by another process while it is mapped would
 * end the run with SIGBUS; input files are not expected to change under a reader. A .gz file
 * cannot be entered in the middle: rank 0 inflates it whole and sends every rank its
 * line-aligned block of the text. The first error in file order wins: each rank stops at its
 * first faulty line and ovq_status_agree reports the lowest failing rank's message. */
#include "ovq/tsv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "ovq/partition.h"
#include "tsv_parse.h"

/* Largest piece of one read call or MPI message (both take int-sized counts). */
static const size_t kPiece = (size_t)1 << 30;

/* Delimiters that could be mistaken for part of a number, a quote or a line end are a bug in
 * the caller. */
static void check_delim(char delim) {
  if (delim == '\0' || delim == '\n' || delim == '\r' || delim == '"' || delim == '.' ||
      delim == '+' || delim == '-' || (delim >= '0' && delim <= '9') ||
      ((delim | 0x20) >= 'a' && (delim | 0x20) <= 'z'))
    OVQ_ABORT("delimiter 0x%02x is not supported (use '\\t' or ',')", (unsigned char)delim);
}

/* ---- Files: plain or gzip ------------------------------------------------------------------ */
/* gzip data are inflated with zlib's inflate() rather than gzread(): gzread (zlib 1.2.13) returns
 * a clean end of file, without the Z_BUF_ERROR that gzerror reports for other truncations, when
 * only the last bytes of the trailer are missing. Here the end of the file before the end of a
 * gzip member is always an error. Members may follow each other (as `cat a.gz b.gz` makes);
 * bytes after the last member that do not start another one are ignored, as gzip(1) does. */
typedef struct Input {
  const char *path;
  int fd;
  int gz;       /* gzip content */
  int64_t size; /* bytes on disk */
  /* gzip only: */
  z_stream zs;
  unsigned char *zbuf; /* compressed input */
  int zeof;            /* the file has been read to its end */
  int member_done;     /* inflate reached the end of a member */
} Input;

enum { kZBuf = 1 << 18 };

static OvqStatus input_open(Input *in, const char *path) {
  memset(in, 0, sizeof *in);
  in->path = path;
  in->fd = -1;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ovq_error("%s: cannot open: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    close(fd);
    return ovq_error("%s: cannot open: %s", path, strerror(e));
  }
  if (S_ISDIR(st.st_mode)) {
    close(fd);
    return ovq_error("%s: is a directory, not a file", path);
  }
  in->fd = fd;
  in->size = (int64_t)st.st_size;
  unsigned char magic[2];
  ssize_t k;
  do
    k = pread(fd, magic, 2, 0);
  while (k < 0 && errno == EINTR);
  if (k < 0) {
    int e = errno;
    close(fd);
    in->fd = -1;
    return ovq_error("%s: cannot read: %s", path, strerror(e));
  }
  if (k == 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
    in->gz = 1;
    in->zbuf = OVQ_MALLOC(kZBuf);
    /* 15 + 16: the largest window, gzip wrapper only. */
    int rc = inflateInit2(&in->zs, 15 + 16);
    if (rc != Z_OK) OVQ_ABORT("inflateInit2 failed (%d): out of memory", rc);
  }
  return OVQ_OK;
}

static void input_close(Input *in) {
  if (in->gz) inflateEnd(&in->zs);
  free(in->zbuf);
  if (in->fd >= 0) close(in->fd);
  in->zbuf = NULL;
  in->gz = 0;
  in->fd = -1;
}

/* read(2) without EINTR; -1 with the message set on error. */
static int64_t read_fd(const Input *in, void *buf, size_t n) {
  for (;;) {
    ssize_t k = read(in->fd, buf, n);
    if (k >= 0) return k;
    if (errno != EINTR) {
      ovq_error("%s: read error: %s", in->path, strerror(errno));
      return -1;
    }
  }
}

static int64_t gz_read(Input *in, char *buf, size_t n) {
  z_stream *zs = &in->zs;
  zs->next_out = (unsigned char *)buf;
  zs->avail_out = (uInt)n;
  while (zs->avail_out > 0) {
    if (zs->avail_in == 0 && !in->zeof) {
      int64_t k = read_fd(in, in->zbuf, kZBuf);
      if (k < 0) return -1;
      if (k == 0) in->zeof = 1;
      zs->next_in = in->zbuf;
      zs->avail_in = (uInt)k;
    }
    if (in->member_done) {
      if (zs->avail_in == 0) {
        if (in->zeof) break;
        continue;
      }
      if (zs->next_in[0] != 0x1f) { /* not another member: trailing bytes, ignored */
        zs->avail_in = 0;
        in->zeof = 1;
        break;
      }
      inflateReset(zs);
      in->member_done = 0;
    }
    if (zs->avail_in == 0 && in->zeof) {
      ovq_error("%s: truncated gzip file (the compressed data end early)", in->path);
      return -1;
    }
    int rc = inflate(zs, Z_NO_FLUSH);
    if (rc == Z_STREAM_END) {
      in->member_done = 1;
    } else if (rc == Z_MEM_ERROR) {
      OVQ_ABORT("inflate: out of memory");
    } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
      ovq_error("%s: corrupt gzip data (%s)", in->path, zs->msg ? zs->msg : "inflate failed");
      return -1;
    }
  }
  return (int64_t)(n - zs->avail_out);
}

/* Reads up to n bytes of (decompressed) content at the current position. Returns the count, 0 at
 * the end, or -1 with the message set (read error, corrupt or truncated gzip data). */
static int64_t input_read(Input *in, char *buf, size_t n) {
  if (n > kPiece) n = kPiece;
  return in->gz ? gz_read(in, buf, n) : read_fd(in, buf, n);
}

/* The whole (decompressed) content from the current position into *buf (owned by the caller),
 * with one spare byte after *len set to '\0'. */
static OvqStatus input_read_all(Input *in, char **buf, size_t *len) {
  /* Capacity guess: the file size (plain), a typical text compression ratio (gzip). */
  size_t cap = (size_t)in->size + ((size_t)1 << 16);
  if (in->gz) cap += 4 * (size_t)in->size;
  char *b = OVQ_MALLOC(cap);
  size_t n = 0;
  for (;;) {
    if (cap - n < 2) {
      cap *= 2;
      b = OVQ_REALLOC(b, cap);
    }
    int64_t k = input_read(in, b + n, cap - 1 - n);
    if (k < 0) {
      free(b);
      return OVQ_ERR;
    }
    if (k == 0) break;
    n += (size_t)k;
  }
  b[n] = '\0';
  *buf = b;
  *len = n;
  return OVQ_OK;
}

static OvqStatus read_all(const char *path, char **buf, size_t *len) {
  Input in;
  if (input_open(&in, path) != OVQ_OK) return OVQ_ERR;
  OvqStatus st = input_read_all(&in, buf, len);
  input_close(&in);
  return st;
}

/* pread of exactly n bytes at off of a plain file. */
static OvqStatus pread_all(const Input *in, char *buf, int64_t off, size_t n) {
  while (n > 0) {
    ssize_t k = pread(in->fd, buf, n < kPiece ? n : kPiece, (off_t)off);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0) return ovq_error("%s: read error: %s", in->path, strerror(errno));
    if (k == 0) return ovq_error("%s: the file became shorter while it was read", in->path);
    buf += k;
    off += k;
    n -= (size_t)k;
  }
  return OVQ_OK;
}

/* ---- Line reader --------------------------------------------------------------------------- */
struct OvqLineReader {
  Input in;
  char *path;
  char *buf; /* unread text in buf[beg..end), one spare byte after end */
  size_t cap, beg, end;
  size_t scanned; /* buf[beg..scanned) is known to hold no newline */
  int eof, failed;
  int bom_done; /* the start of the file has been checked for a BOM */
  int64_t line_no;
};

OvqStatus ovq_lines_open(const char *path, OvqLineReader **out) {
  *out = NULL;
  OvqLineReader *r = OVQ_CALLOC(1, sizeof *r);
  r->path = OVQ_STRDUP(path);
  if (input_open(&r->in, r->path) != OVQ_OK) {
    free(r->path);
    free(r);
    return OVQ_ERR;
  }
  r->cap = (size_t)1 << 18;
  r->buf = OVQ_MALLOC(r->cap);
  *out = r;
  return OVQ_OK;
}

int ovq_lines_next(OvqLineReader *r, char **line, size_t *len) {
  if (r->failed) return -1;
  for (;;) {
    char *p = r->buf + r->beg;
    size_t avail = r->end - r->beg;
    if (!r->bom_done && (avail >= 3 || r->eof)) { /* a BOM is not text: a file of one has no line */
      r->beg += ovq_tsv_bom(p, avail);
      if (r->scanned < r->beg) r->scanned = r->beg;
      r->bom_done = 1;
      continue;
    }
    char *nl = r->bom_done ? memchr(r->buf + r->scanned, '\n', r->end - r->scanned) : NULL;
    if (nl || (r->eof && avail > 0)) {
      size_t k = nl ? (size_t)(nl - p) : avail;
      r->beg += nl ? k + 1 : k;
      r->scanned = r->beg;
      if (k > 0 && p[k - 1] == '\r') k--;
      p[k] = '\0'; /* the newline, the '\r' or the spare byte */
      r->line_no++;
      *line = p;
      *len = k;
      return 1;
    }
    if (r->eof) return 0;
    if (r->bom_done) r->scanned = r->end; /* else nothing was searched yet */
    if (r->beg > 0) {                     /* keep the partial line, at the front */
      memmove(r->buf, p, avail);
      r->scanned -= r->beg;
      r->beg = 0;
      r->end = avail;
    }
    if (r->cap - r->end < 2) {
      r->cap *= 2;
      r->buf = OVQ_REALLOC(r->buf, r->cap);
    }
    int64_t k = input_read(&r->in, r->buf + r->end, r->cap - 1 - r->end);
    if (k < 0) {
      r->failed = 1;
      return -1;
    }
    if (k == 0)
      r->eof = 1;
    else
      r->end += (size_t)k;
  }
}

int64_t ovq_lines_number(const OvqLineReader *r) {
  return r->line_no;
}
const char *ovq_lines_path(const OvqLineReader *r) {
  return r->path;
}

void ovq_lines_close(OvqLineReader *r) {
  if (!r) return;
  input_close(&r->in);
  free(r->buf);
  free(r->path);
  free(r);
}

/* ---- MPI helpers --------------------------------------------------------------------------- */
static void bcast_bytes(void *buf, size_t n, int root, MPI_Comm comm) {
  for (char *p = buf; n > 0;) {
    size_t k = n < kPiece ? n : kPiece;
    OVQ_MPI_CHECK(MPI_Bcast(p, (int)k, MPI_BYTE, root, comm));
    p += k;
    n -= k;
  }
}

static void send_bytes(const char *p, size_t n, int dest, MPI_Comm comm) {
  while (n > 0) {
    size_t k = n < kPiece ? n : kPiece;
    OVQ_MPI_CHECK(MPI_Send(p, (int)k, MPI_BYTE, dest, 0, comm));
    p += k;
    n -= k;
  }
}

static void recv_bytes(char *p, size_t n, int src, MPI_Comm comm) {
  while (n > 0) {
    size_t k = n < kPiece ? n : kPiece;
    OVQ_MPI_CHECK(MPI_Recv(p, (int)k, MPI_BYTE, src, 0, comm, MPI_STATUS_IGNORE));
    p += k;
    n -= k;
  }
}

/* ---- Small tables -------------------------------------------------------------------------- */
OvqStatus ovq_table_read(const char *path, char comment, char delim, OvqTable *t) {
  memset(t, 0, sizeof *t);
  check_delim(delim);
  char *text;
  size_t len;
  if (read_all(path, &text, &len) != OVQ_OK) return OVQ_ERR;
  OvqTableError err;
  if (ovq_tsv_table_parse(text, len, comment, delim, t, &err) != 0) {
    free(text);
    switch (err.fault) {
    case OVQ_TABLE_NO_HEADER:
      return ovq_error("%s: no header line (the file is empty%s)", path,
                       comment ? " or has only comment lines" : "");
    case OVQ_TABLE_NO_ROWS: return ovq_error("%s: a header line but no data rows", path);
    default:
      return ovq_error("%s:%lld: %lld cells, the header has %lld", path, (long long)err.line,
                       (long long)err.n_cells, (long long)err.n_header);
    }
  }
  t->path = OVQ_STRDUP(path);
  return OVQ_OK;
}

/* Bytes of the string block of a parsed table: from header[0] to the end of its last cell (cells
 * lie in file order, after the header). */
static size_t table_block_len(const OvqTable *t) {
  const char *last = t->cells[t->n_rows * t->n_cols - 1];
  return (size_t)(last - t->header[0]) + strlen(last) + 1;
}

OvqStatus ovq_table_read_bcast(const char *path, char comment, char delim, MPI_Comm comm,
                               OvqTable *t) {
  int rank;
  OVQ_MPI_CHECK(MPI_Comm_rank(comm, &rank));
  memset(t, 0, sizeof *t);
  OvqStatus st = rank == 0 ? ovq_table_read(path, comment, delim, t) : OVQ_OK;
  if (ovq_status_agree(comm, st) != OVQ_OK) {
    ovq_table_free(t);
    return OVQ_ERR;
  }
  /* The string block travels whole; every string is sent as its offset in it. */
  int64_t meta[3] = {t->n_cols, t->n_rows, 0};
  if (rank == 0) meta[2] = (int64_t)table_block_len(t);
  OVQ_MPI_CHECK(MPI_Bcast(meta, 3, MPI_INT64_T, 0, comm));
  int64_t n_cols = meta[0], n_rows = meta[1], n_str = n_cols * (1 + n_rows);
  int64_t *off = OVQ_MALLOC(sizeof(int64_t) * (size_t)n_str);
  if (rank == 0) {
    for (int64_t j = 0; j < n_cols; j++)
      off[j] = t->header[j] - t->header[0];
    for (int64_t i = 0; i < n_rows * n_cols; i++)
      off[n_cols + i] = t->cells[i] - t->header[0];
  } else {
    t->n_cols = n_cols;
    t->n_rows = n_rows;
    t->path = OVQ_STRDUP(path);
    t->header = OVQ_MALLOC(sizeof(char *) * (size_t)n_cols);
    t->cells = OVQ_MALLOC(sizeof(char *) * (size_t)(n_rows * n_cols));
    t->line = OVQ_MALLOC(sizeof(int64_t) * (size_t)n_rows);
    t->header[0] = OVQ_MALLOC((size_t)meta[2]);
  }
  bcast_bytes(off, sizeof(int64_t) * (size_t)n_str, 0, comm);
  bcast_bytes(t->line, sizeof(int64_t) * (size_t)n_rows, 0, comm);
  bcast_bytes(t->header[0], (size_t)meta[2], 0, comm);
  if (rank != 0) {
    char *block = t->header[0];
    for (int64_t j = 0; j < n_cols; j++)
      t->header[j] = block + off[j];
    for (int64_t i = 0; i < n_rows * n_cols; i++)
      t->cells[i] = block + off[n_cols + i];
  }
  free(off);
  return OVQ_OK;
}

int64_t ovq_table_col(const OvqTable *t, const char *name) {
  for (int64_t j = 0; j < t->n_cols; j++)
    if (strcmp(t->header[j], name) == 0) return j;
  return -1;
}

void ovq_table_free(OvqTable *t) {
  if (!t) return;
  if (t->header && t->n_cols > 0) free(t->header[0]);
  free(t->header);
  free(t->cells);
  free(t->line);
  free(t->path);
  memset(t, 0, sizeof *t);
}

/* ---- Numeric matrices ---------------------------------------------------------------------- */

/* Rank 0, plain file: the first line (BOM and line ending removed) into *hdr (owned, one spare
 * byte) and the offset of the line after it (the file size if there is none). */
static OvqStatus plain_header(const Input *in, char **hdr, size_t *hlen, int64_t *d0) {
  size_t cap = (size_t)1 << 16, n = 0;
  char *b = OVQ_MALLOC(cap);
  const char *nl = NULL;
  for (;;) {
    if (cap - n < 2) {
      cap *= 2;
      b = OVQ_REALLOC(b, cap);
    }
    ssize_t k = pread(in->fd, b + n, cap - 1 - n, (off_t)n);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0) {
      free(b);
      return ovq_error("%s: read error: %s", in->path, strerror(errno));
    }
    nl = memchr(b + n, '\n', (size_t)k);
    n += (size_t)k;
    if (nl || k == 0) break;
  }
  size_t k = nl ? (size_t)(nl - b) : n;
  *d0 = nl ? (int64_t)k + 1 : (int64_t)n;
  if (k > 0 && b[k - 1] == '\r') k--;
  size_t bom = ovq_tsv_bom(b, k);
  memmove(b, b + bom, k - bom);
  b[k - bom] = '\0';
  *hdr = b;
  *hlen = k - bom;
  return OVQ_OK;
}

/* The first line start at or after byte a of a plain file whose data lines are [d0, size). */
static OvqStatus plain_line_start(const Input *in, int64_t a, int64_t d0, int64_t size,
                                  int64_t *out) {
  *out = size;
  if (a <= d0) {
    *out = d0;
    return OVQ_OK;
  }
  char chunk[1 << 16];
  for (int64_t pos = a - 1; pos < size;) {
    size_t want = size - pos < (int64_t)sizeof chunk ? (size_t)(size - pos) : sizeof chunk;
    ssize_t k = pread(in->fd, chunk, want, (off_t)pos);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0) return ovq_error("%s: read error: %s", in->path, strerror(errno));
    if (k == 0) break;
    const char *nl = memchr(chunk, '\n', (size_t)k);
    if (nl) {
      *out = pos + (nl - chunk) + 1;
      break;
    }
    pos += k;
  }
  return OVQ_OK;
}

/* Bytes [s, e) of a plain file: mapped (no copy: the parse reads the page cache in place), or
 * read into *owned where mapping is refused. */
static OvqStatus plain_block(const Input *in, int64_t s, int64_t e, const char **part, char **owned,
                             void **map, size_t *map_len) {
  if (e <= s) {
    *part = "";
    return OVQ_OK;
  }
  int64_t page = (int64_t)sysconf(_SC_PAGESIZE), a = s - s % page;
  void *p = mmap(NULL, (size_t)(e - a), PROT_READ, MAP_PRIVATE | MAP_POPULATE, in->fd, (off_t)a);
  if (p != MAP_FAILED) {
    *map = p;
    *map_len = (size_t)(e - a);
    *part = (const char *)p + (s - a);
    return OVQ_OK;
  }
  *owned = OVQ_MALLOC((size_t)(e - s) + 1);
  *part = *owned;
  return pread_all(in, *owned, s, (size_t)(e - s));
}

/* The same in text held in memory. */
static int64_t text_line_start(const char *text, int64_t a, int64_t d0, int64_t len) {
  if (a <= d0) return d0;
  if (a >= len) return len;
  const char *nl = memchr(text + a - 1, '\n', (size_t)(len - a + 1));
  return nl ? (int64_t)(nl - text) + 1 : len;
}

/* A field's text for a message: quoted as it is, or its start and "..." when long. */
static void shown_text(const char *p, size_t n, char *out, size_t cap) {
  if (n + 1 <= cap)
    snprintf(out, cap, "%.*s", (int)n, p);
  else
    snprintf(out, cap, "%.*s...", (int)(cap - 4), p);
}

static OvqStatus row_error(const char *path, const OvqRowError *e, int64_t first_line,
                           const char *buf, const OvqTsvMatrix *m) {
  long long line = (long long)(first_line + e->line);
  char text[72];
  switch (e->fault) {
  case OVQ_ROW_EMPTY_ID: return ovq_error("%s:%lld: empty row id (first cell)", path, line);
  case OVQ_ROW_LONG_ID:
    shown_text(buf + e->off, e->len, text, sizeof text);
    return ovq_error("%s:%lld: row id '%s' has %zu bytes (at most %d)", path, line, text, e->len,
                     OVQ_TSV_MAX_ID);
  case OVQ_ROW_RAGGED:
    return ovq_error("%s:%lld: %lld values, the header has %lld columns", path, line,
                     (long long)e->n_values, (long long)m->n_cols);
  default:
    shown_text(buf + e->off, e->len, text, sizeof text);
    /* Column numbers count the row-id column as 1, as a spreadsheet or `cut -f` does. */
    return ovq_error("%s:%lld: column %lld (%s): '%s' %s", path, line, (long long)e->value + 2,
                     ovq_strings_at(&m->col_ids, e->value), text,
                     e->fault == OVQ_ROW_BAD ? "is not a number"
                                             : "is infinite or too large for a float");
  }
}

/* All ranks: the header line hdr[0..hlen) (writable, one spare byte) into corner and col_ids. */
static OvqStatus matrix_header(const char *path, char *hdr, size_t hlen, char delim,
                               OvqTsvMatrix *m) {
  int64_t n_cells = ovq_tsv_split(hdr, hlen, delim, NULL, 0);
  char **cells = OVQ_MALLOC(sizeof(char *) * (size_t)n_cells);
  ovq_tsv_split(hdr, hlen, delim, cells, n_cells);
  OvqStatus st = OVQ_OK;
  size_t width = 2;
  for (int64_t j = 1; j < n_cells && st == OVQ_OK; j++) {
    size_t n = strlen(cells[j]);
    if (n == 0)
      st = ovq_error("%s:1: column %lld of the header has an empty id", path, (long long)j + 1);
    else if (n > OVQ_TSV_MAX_ID)
      st = ovq_error("%s:1: column %lld of the header has an id of %zu bytes (at most %d)", path,
                     (long long)j + 1, n, OVQ_TSV_MAX_ID);
    if (n + 1 > width) width = n + 1;
  }
  if (st == OVQ_OK && n_cells < 2)
    st = ovq_error("%s:1: the header has no column ids after '%.40s' (is the file delimited by "
                   "%s?)",
                   path, cells[0], delim == '\t' ? "tabs" : "this delimiter");
  if (st == OVQ_OK) {
    m->corner = OVQ_STRDUP(cells[0]);
    m->n_cols = n_cells - 1;
    ovq_strings_alloc(&m->col_ids, m->n_cols, (int)width);
    for (int64_t j = 1; j < n_cells; j++)
      ovq_strings_set(&m->col_ids, j - 1, cells[j]);
  }
  free(cells);
  return st;
}

OvqStatus ovq_tsv_read_matrix(const char *path, char delim, MPI_Comm comm, OvqTsvMatrix *out) {
  memset(out, 0, sizeof *out);
  check_delim(delim);
  int rank, size;
  OVQ_MPI_CHECK(MPI_Comm_rank(comm, &rank));
  OVQ_MPI_CHECK(MPI_Comm_size(comm, &size));

  /* 1. Rank 0: file kind and header line. meta = {gzip, first data byte, end, header length}. */
  Input in;
  memset(&in, 0, sizeof in);
  in.fd = -1;
  char *text = NULL, *hdr = NULL; /* rank 0, gzip: the whole text; the header line */
  size_t text_len = 0, hlen = 0;
  int64_t meta[4] = {0, 0, 0, 0};
  OvqStatus st = OVQ_OK;
  if (rank == 0) {
    st = input_open(&in, path);
    if (st == OVQ_OK && in.gz) {
      st = input_read_all(&in, &text, &text_len);
      input_close(&in);
      if (st == OVQ_OK) {
        size_t pos = ovq_tsv_bom(text, text_len), n = 0;
        const char *line = text + pos;
        ovq_tsv_next_line(text, text_len, &pos, &line, &n);
        hdr = OVQ_MALLOC(n + 1);
        memcpy(hdr, line, n);
        hdr[n] = '\0';
        hlen = n;
        meta[0] = 1;
        meta[1] = (int64_t)pos;
        meta[2] = (int64_t)text_len;
      }
    } else if (st == OVQ_OK) {
      st = plain_header(&in, &hdr, &hlen, &meta[1]);
      meta[2] = in.size;
    }
    meta[3] = (int64_t)hlen;
    if (st == OVQ_OK && hlen == 0)
      st = meta[1] >= meta[2] ? ovq_error("%s: empty file", path)
                              : ovq_error("%s:1: the header line is empty", path);
  }
  st = ovq_status_agree(comm, st);
  if (st == OVQ_OK) {
    OVQ_MPI_CHECK(MPI_Bcast(meta, 4, MPI_INT64_T, 0, comm));
    hlen = (size_t)meta[3];
    if (rank != 0) hdr = OVQ_MALLOC(hlen + 1);
    bcast_bytes(hdr, hlen, 0, comm);
    hdr[hlen] = '\0';
    st = ovq_status_agree(comm, matrix_header(path, hdr, hlen, delim, out));
  }
  free(hdr);
  if (st != OVQ_OK) {
    input_close(&in);
    free(text);
    ovq_tsv_matrix_free(out);
    return OVQ_ERR;
  }
  const int is_gz = (int)meta[0];
  const int64_t d0 = meta[1], end = meta[2];

  /* 2. This rank's line-aligned block of the data lines. */
  const char *part = NULL;
  char *part_owned = NULL;
  void *map = NULL;
  size_t part_len = 0, map_len = 0;
  if (!is_gz) {
    if (rank != 0) st = input_open(&in, path);
    OvqRange b = ovq_partition_block(end - d0, size, rank);
    int64_t s = 0, e = 0;
    if (st == OVQ_OK) st = plain_line_start(&in, d0 + b.start, d0, end, &s);
    if (st == OVQ_OK) st = plain_line_start(&in, d0 + b.start + b.count, d0, end, &e);
    if (st == OVQ_OK) st = plain_block(&in, s, e, &part, &part_owned, &map, &map_len);
    if (st == OVQ_OK) part_len = (size_t)(e - s);
    input_close(&in);
  } else {
    int64_t *cut = OVQ_MALLOC(sizeof(int64_t) * (size_t)(size + 1));
    if (rank == 0) {
      for (int r = 0; r < size; r++)
        cut[r] = text_line_start(text, d0 + ovq_partition_block(end - d0, size, r).start, d0, end);
      cut[size] = end;
    }
    OVQ_MPI_CHECK(MPI_Bcast(cut, size + 1, MPI_INT64_T, 0, comm));
    part_len = (size_t)(cut[rank + 1] - cut[rank]);
    if (rank == 0) {
      for (int r = 1; r < size; r++)
        send_bytes(text + cut[r], (size_t)(cut[r + 1] - cut[r]), r, comm);
      part = text + cut[0];
    } else {
      part = part_owned = OVQ_MALLOC(part_len + 1);
      recv_bytes(part_owned, part_len, 0, comm);
    }
    free(cut);
  }
  st = ovq_status_agree(comm, st);

  /* 3. Parse; line numbers continue from the ranks before (the header is line 1). */
  int64_t n_lines = st == OVQ_OK ? ovq_tsv_count_lines(part, part_len) : 0, lines_before = 0;
  OVQ_MPI_CHECK(MPI_Exscan(&n_lines, &lines_before, 1, MPI_INT64_T, MPI_SUM, comm));
  if (rank == 0) lines_before = 0;
  OvqSpan *ids = NULL;
  int64_t n_rows = 0;
  if (st == OVQ_OK) {
    out->x = OVQ_MALLOC(sizeof(float) * (size_t)(n_lines * out->n_cols));
    ids = OVQ_MALLOC(sizeof(OvqSpan) * (size_t)n_lines);
    OvqRowError err;
    n_rows = ovq_tsv_parse_rows(part, part_len, delim, out->n_cols, out->x, ids, &err);
    if (n_rows < 0) {
      st = row_error(path, &err, 2 + lines_before, part, out);
      n_rows = 0;
    }
  }
  st = ovq_status_agree(comm, st);

  /* 4. Row counts, ids (one width on every rank). */
  int64_t width = 2, row_start = 0;
  if (st == OVQ_OK) {
    for (int64_t i = 0; i < n_rows; i++)
      if ((int64_t)ids[i].len + 1 > width) width = (int64_t)ids[i].len + 1;
    OVQ_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &width, 1, MPI_INT64_T, MPI_MAX, comm));
    OVQ_MPI_CHECK(MPI_Exscan(&n_rows, &row_start, 1, MPI_INT64_T, MPI_SUM, comm));
    if (rank == 0) row_start = 0;
    OVQ_MPI_CHECK(MPI_Allreduce(&n_rows, &out->n_rows_total, 1, MPI_INT64_T, MPI_SUM, comm));
    if (out->n_rows_total == 0) st = ovq_error("%s: a header line but no data rows", path);
  }
  if (st == OVQ_OK) {
    out->row_start = row_start;
    out->n_rows_local = n_rows;
    if (n_rows < n_lines) /* empty lines skipped */
      out->x = OVQ_REALLOC(out->x, sizeof(float) * (size_t)(n_rows * out->n_cols));
    ovq_strings_alloc(&out->row_ids, n_rows, (int)width);
    for (int64_t i = 0; i < n_rows; i++)
      memcpy(out->row_ids.data + i * width, part + ids[i].off, ids[i].len);
  }
  free(ids);
  free(part_owned);
  if (map) munmap(map, map_len);
  free(text);
  if (st != OVQ_OK) {
    ovq_tsv_matrix_free(out);
    return OVQ_ERR;
  }
  return OVQ_OK;
}

void ovq_tsv_matrix_free(OvqTsvMatrix *m) {
  if (!m) return;
  free(m->corner);
  ovq_strings_free(&m->col_ids);
  ovq_strings_free(&m->row_ids);
  free(m->x);
  memset(m, 0, sizeof *m);
}
