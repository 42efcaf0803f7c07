/* libFuzzer target of opening damaged HDF5 files (src/io/cohort.c, src/io/results.c,
 * src/io/h5util.c; MPI_Init'ed, one process). The input bytes are a whole file, written to the
 * scratch directory and read by fuzz_read_file (fuzz_h5_read.h): ovq_cohort_read (whole and one
 * cancer type), ovq_cohort_read_cancers, ovq_h5_read_string_attr, ovq_results_open and the
 * results readers. Invariants: each call returns OVQ_OK, or OVQ_ERR with a non-empty message;
 * what is read has a consistent shape and NUL-terminated strings; nothing crashes or aborts (an
 * OVQ_H5_CHECK, OVQ_ABORT or out-of-memory abort on a damaged file is a failure).
 *
 * Seeds (tests/fuzz/corpus_cohort_h5): valid cohort files from `oncovq synth --scale 0.02
 * --genes 100 --mirnas 10` (all 10 cancer types; OV and GBM; OV only without miRNAs) and a
 * results file from `oncovq prep`.
 *
 * Restricted mutations. HDF5 1.10 itself crashes on some damaged metadata (a bug in the library,
 * not in OncoVQ; found by the first unrestricted runs, see tools/fuzz.sh): e.g. a SEGV in
 * H5O__msg_iterate_real (memcpy of a damaged object-header message, reached from H5Aexists),
 * multi-GB allocations from damaged size fields in H5C_protect / H5FL_blk_malloc, and a heap
 * over-read when a string attribute's size exceeds its stored value. So a custom
 * mutator changes only bytes whose damage OncoVQ's readers must catch, found in each seed at
 * start-up with the HDF5 API (FUZZ_SEEDS = the seed directory):
 *   - dataset shapes (the dims of every dataspace message),
 *   - the element size of string datasets (not of attributes: HDF5 then copies more bytes than
 *     the attribute message holds, a heap over-read in H5Aexists / H5O attribute decoding),
 *   - link and attribute names (in local heaps and object headers),
 *   - string attribute values and the raw data of every contiguous dataset (content: NaN, ids
 *     without NUL, os_event values, format strings; fuzz_h5_schema.c varies format_version).
 * Inputs keep their seed's size; an input of another size is run but never mutated. The
 * structured generator fuzz_h5_schema.c covers wrong schemas written with valid HDF5.
 * Built and run by tools/fuzz.sh cohort_h5. */
#include "fuzz_mpi.h"

#include <dirent.h>
#include <hdf5.h>

#include "fuzz_h5_read.h"

size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);

/* ---- Where a seed may be mutated -------------------------------------------------------------- */
typedef struct Mask {
  size_t size;           /* the seed's size: inputs of this size use this mask */
  unsigned char *ok;     /* [size] 1 = may change */
  uint32_t *meta, *raw;  /* offsets that may change: metadata, raw data */
  size_t n_meta, n_raw;
} Mask;

static Mask g_masks[16];
static int g_n_masks;

typedef struct Scan {
  const uint8_t *file;
  size_t size;
  unsigned char *ok;
  hid_t fid;
} Scan;

static void mark(Scan *s, size_t off, size_t n) {
  for (size_t i = off; i < off + n && i < s->size; i++) s->ok[i] = 1;
}

/* Marks every occurrence of pat[0..n) in the file (or in [from, to) when to > 0). */
static void mark_all(Scan *s, const void *pat, size_t n, size_t from, size_t to, size_t skip,
                     size_t len) {
  if (!to || to > s->size) to = s->size;
  for (size_t i = from; n && i + n <= to; i++)
    if (memcmp(s->file + i, pat, n) == 0) mark(s, i + skip, len);
}

/* The size field of a string datatype message (class 3, version 1: 0x13, 3 bytes of flags, then
 * the size, little-endian) with this size, in [from, to). */
static void mark_string_size(Scan *s, size_t width, size_t from, size_t to) {
  if (to > s->size) to = s->size;
  uint32_t w = (uint32_t)width;
  for (size_t i = from; i + 8 <= to; i++)
    if (s->file[i] == 0x13 && memcmp(s->file + i + 4, &w, 4) == 0) mark(s, i + 4, 4);
}

static herr_t visit(hid_t obj, const char *name, const H5O_info_t *info, void *data) {
  Scan *s = data;
  const char *last = strrchr(name, '/');
  last = last ? last + 1 : name;
  /* Names of 3+ characters: shorter ones ("id", "x") also match unrelated bytes. */
  if (strlen(last) >= 3) mark_all(s, last, strlen(last) + 1, 0, 0, 0, strlen(last));
  if (info->type != H5O_TYPE_DATASET) return 0;
  hid_t d = H5Dopen2(obj, name, H5P_DEFAULT);
  if (d < 0) return 0;
  size_t hdr = (size_t)info->addr, end = hdr + 1024;
  hid_t sp = H5Dget_space(d), t = H5Dget_type(d);
  hsize_t dims[H5S_MAX_RANK];
  int nd = H5Sget_simple_extent_dims(sp, dims, NULL);
  if (nd > 0) { /* the dims, 8 bytes each, consecutive in the dataspace message */
    uint64_t le[H5S_MAX_RANK];
    for (int k = 0; k < nd; k++) le[k] = dims[k];
    mark_all(s, le, 8 * (size_t)nd, hdr, end, 0, 8 * (size_t)nd);
  }
  if (H5Tget_class(t) == H5T_STRING) mark_string_size(s, H5Tget_size(t), hdr, end);
  haddr_t off = H5Dget_offset(d);
  if (off != HADDR_UNDEF) mark(s, (size_t)off, (size_t)H5Dget_storage_size(d));
  H5Tclose(t);
  H5Sclose(sp);
  H5Dclose(d);
  return 0;
}

static herr_t visit_attr(hid_t obj, const char *name, const H5A_info_t *info, void *data) {
  Scan *s = data;
  for (size_t i = 0; i + strlen(name) + 1 <= s->size; i++) {
    if (memcmp(s->file + i, name, strlen(name) + 1) != 0) continue;
    mark(s, i, strlen(name));
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0) continue;
    hid_t t = H5Aget_type(a);
    size_t w = H5Tget_size(t);
    if (H5Tget_class(t) == H5T_STRING) { /* the value; not its size (see above) */
      char *v = calloc(w + 1, 1);
      if (H5Aread(a, t, v) >= 0 && v[0]) mark_all(s, v, strlen(v), i, i + 160 + w, 0, strlen(v));
      free(v);
    } /* the int format_version: its bytes cannot be told from the message's other fields */
    H5Tclose(t);
    H5Aclose(a);
  }
  return 0;
}

static void add_seed(const char *path) {
  if (g_n_masks == (int)(sizeof g_masks / sizeof g_masks[0])) return;
  FILE *f = fopen(path, "rb");
  if (!f) return;
  uint8_t *buf = malloc(1 << 20);
  size_t n = fread(buf, 1, 1 << 20, f);
  fclose(f);
  for (int i = 0; i < g_n_masks; i++)
    if (g_masks[i].size == n) n = 0; /* one mask per size */
  hid_t fid = n > 8 && memcmp(buf, "\x89HDF\r\n\x1a\n", 8) == 0
                  ? H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT) : -1;
  if (fid < 0) {
    free(buf);
    return;
  }
  Scan s = {buf, n, calloc(n, 1), fid};
  H5Ovisit2(fid, H5_INDEX_NAME, H5_ITER_NATIVE, visit, &s, H5O_INFO_BASIC);
  H5Aiterate2(fid, H5_INDEX_NAME, H5_ITER_NATIVE, NULL, visit_attr, &s);
  H5Fclose(fid);
  Mask *m = &g_masks[g_n_masks++];
  m->size = n;
  m->ok = s.ok;
  m->meta = malloc(sizeof(uint32_t) * n);
  m->raw = malloc(sizeof(uint32_t) * n);
  /* Raw data: the contiguous runs found by H5Dget_offset are long; metadata: short runs. */
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j < n && s.ok[j]) j++;
    for (size_t k = i; k < j; k++) {
      if (j - i > 64)
        m->raw[m->n_raw++] = (uint32_t)k;
      else
        m->meta[m->n_meta++] = (uint32_t)k;
    }
    i = j > i ? j : i + 1;
  }
  fprintf(stderr, "fuzz_cohort_h5: %s: %zu bytes, %zu metadata and %zu data bytes may change\n",
          path, n, m->n_meta, m->n_raw);
  free(buf);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  fuzz_mpi_init(argc, argv, "cohort_h5");
  const char *dir = getenv("FUZZ_SEEDS");
  DIR *d = dir ? opendir(dir) : NULL;
  for (struct dirent *e; d && (e = readdir(d));) {
    if (e->d_name[0] == '.') continue;
    char p[2048];
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    add_seed(p);
  }
  if (d) closedir(d);
  if (!g_n_masks)
    fprintf(stderr, "fuzz_cohort_h5: no seed masks (FUZZ_SEEDS unset?): inputs are not mutated\n");
  return 0;
}

static uint64_t g_rng;
static uint64_t rnd(void) {
  g_rng ^= g_rng << 13;
  g_rng ^= g_rng >> 7;
  g_rng ^= g_rng << 17;
  return g_rng;
}

/* Changes 1-4 allowed bytes: random, bit flips, small steps, or values that matter to a
 * reader (0, 1, 0xff, '\0', 0x7f). */
static void poke(uint8_t *data, const Mask *m) {
  int k = 1 + (int)(rnd() % 4);
  for (int i = 0; i < k; i++) {
    int meta = m->n_meta && (!m->n_raw || rnd() % 10 < 7);
    uint32_t off = meta ? m->meta[rnd() % m->n_meta] : m->raw[rnd() % m->n_raw];
    static const uint8_t kVals[] = {0, 1, 2, 0x7f, 0x80, 0xff, 0x20};
    switch (rnd() % 4) {
    case 0: data[off] = (uint8_t)rnd(); break;
    case 1: data[off] ^= (uint8_t)(1u << (rnd() % 8)); break;
    case 2: data[off] = (uint8_t)(data[off] + (rnd() % 2 ? 1 : -1)); break;
    default: data[off] = kVals[rnd() % sizeof kVals]; break;
    }
  }
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned seed) {
  const Mask *m = NULL;
  for (int i = 0; i < g_n_masks; i++)
    if (g_masks[i].size == size) m = &g_masks[i];
  if (!m || (!m->n_meta && !m->n_raw)) return size; /* not a seed's descendant: unchanged */
  g_rng = 0x9E3779B97F4A7C15ull ^ seed;
  if (rnd() % 2) {
    poke(data, m);
    return size;
  }
  /* libFuzzer's own mutations (dictionary, copies, ...), kept where allowed. */
  uint8_t *orig = malloc(size);
  memcpy(orig, data, size);
  size_t n = LLVMFuzzerMutate(data, size, size);
  int changed = 0;
  if (n != size) {
    memcpy(data, orig, size);
  } else {
    for (size_t i = 0; i < size; i++) {
      if (!m->ok[i]) data[i] = orig[i];
      changed |= data[i] != orig[i];
    }
  }
  if (!changed) poke(data, m);
  free(orig);
  return size;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static char path[1100];
  if (!path[0]) snprintf(path, sizeof path, "%s/input.h5", g_scratch);
  FILE *f = fopen(path, "wb");
  REQUIRE(f && fwrite(data, 1, size, f) == size && fclose(f) == 0);
  fuzz_read_file(path);
  check_closed();
  return 0;
}
