/* libFuzzer target of opening HDF5 files with a wrong schema (src/io/cohort.c, src/io/results.c,
 * src/io/h5util.c; MPI_Init'ed, one process). The input bytes drive a structured generator that
 * writes a valid HDF5 file with the HDF5 API, close to a cohort (or results) file but wrong in
 * the ways the bytes choose:
 *   - root attributes format / format_version / config: absent, right, another string, wrong
 *     type (int, float, variable-length string), wrong dataspace (several elements, null);
 *   - each object of the cohort schema (expression, features, samples, truth) and /prep/x,
 *     /prep/mean of a results file: absent, a group, a dangling or looping soft link, an
 *     external link, a named datatype, or a dataset of the right or a wrong rank (0-3), shape
 *     (other sizes, zero, mismatched between datasets), type (floats and integers of every size,
 *     fixed strings of any width and padding, variable-length strings, compound, enum, opaque,
 *     array, reference types), storage (contiguous, compact, chunked, deflate, shuffle,
 *     fletcher32, never written: fill values) and content (NaN, out-of-range os_event, strings
 *     without a NUL);
 *   - the file format (HDF5 1.8-compatible or latest: other object-header and B-tree versions).
 * The file is then read by fuzz_read_file (fuzz_h5_read.h): every call returns OVQ_OK or OVQ_ERR
 * with a message; nothing crashes or aborts. Built and run by tools/fuzz.sh h5_schema. */
#include "fuzz_mpi.h"

#include <hdf5.h>
#include <math.h>

#include "fuzz_h5_read.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  fuzz_mpi_init(argc, argv, "h5_schema");
  return 0;
}

/* ---- The input as a stream of choices --------------------------------------------------------- */
typedef struct In {
  const uint8_t *p;
  size_t n;
} In;

static unsigned byte(In *in) {
  if (!in->n) return 0;
  in->n--;
  return *in->p++;
}

/* 0 with probability ~ 5/8 (a right element), else 1..k: the element is wrong in way k. */
static unsigned wrong(In *in, unsigned k) {
  unsigned b = byte(in);
  return b < 160 ? 0 : 1 + (b - 160) % k;
}

/* ---- Types ---------------------------------------------------------------------------------- */
enum { K_FLOAT, K_INT, K_STRING }; /* what the schema expects of a dataset */

static hid_t make_type(In *in, int expect) {
  unsigned w = wrong(in, 16);
  if (w == 0) {
    if (expect == K_FLOAT) return H5Tcopy(byte(in) & 1 ? H5T_IEEE_F64LE : H5T_IEEE_F32LE);
    if (expect == K_INT) return H5Tcopy(byte(in) & 1 ? H5T_STD_I8LE : H5T_STD_I32LE);
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, 1 + byte(in) % 24);
    return t;
  }
  switch (w) {
  case 1: return H5Tcopy(H5T_IEEE_F32BE);
  case 2: return H5Tcopy(H5T_STD_I64BE);
  case 3: return H5Tcopy(H5T_STD_U64LE);
  case 4: return H5Tcopy(H5T_STD_U8LE);
  case 5: return H5Tcopy(H5T_STD_I16LE);
  case 6: { /* variable-length string */
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    return t;
  }
  case 7: { /* fixed string, other padding or width */
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, 1 + byte(in) % 300);
    H5Tset_strpad(t, byte(in) % 3 == 0 ? H5T_STR_NULLPAD : byte(in) & 1 ? H5T_STR_SPACEPAD
                                                                             : H5T_STR_NULLTERM);
    return t;
  }
  case 8: { /* compound of one float */
    hid_t t = H5Tcreate(H5T_COMPOUND, 8);
    H5Tinsert(t, "v", 0, H5T_IEEE_F64LE);
    return t;
  }
  case 9: { /* enum */
    hid_t t = H5Tenum_create(H5T_STD_I8LE);
    int8_t a = 0, b = 1;
    H5Tenum_insert(t, "a", &a);
    H5Tenum_insert(t, "b", &b);
    return t;
  }
  case 10: return H5Tcreate(H5T_OPAQUE, 1 + byte(in) % 8);
  case 11: { /* array of 2 floats */
    hsize_t d = 2;
    return H5Tarray_create2(H5T_IEEE_F32LE, 1, &d);
  }
  case 12: return H5Tcopy(H5T_STD_REF_OBJ);
  case 13: return H5Tcopy(H5T_STD_B8LE); /* bitfield */
  case 14: { /* a float of unusual precision: 16 bits */
    hid_t t = H5Tcopy(H5T_IEEE_F32LE);
    H5Tset_fields(t, 15, 10, 5, 0, 10);
    H5Tset_precision(t, 16);
    H5Tset_size(t, 2);
    H5Tset_ebias(t, 15);
    return t;
  }
  case 15: { /* vlen sequence of ints */
    return H5Tvlen_create(H5T_STD_I32LE);
  }
  default: /* 16: the expected type of another kind */
    if (expect == K_STRING) return H5Tcopy(H5T_IEEE_F32LE);
    if (expect == K_FLOAT) return H5Tcopy(H5T_STD_I32LE);
    {
      hid_t t = H5Tcopy(H5T_C_S1);
      H5Tset_size(t, 8);
      return t;
    }
  }
}

/* ---- Objects -------------------------------------------------------------------------------- */
static void make_parents(hid_t f, const char *name) {
  char buf[256];
  snprintf(buf, sizeof buf, "%s", name);
  for (char *p = strchr(buf + 1, '/'); p; p = strchr(p + 1, '/')) {
    *p = '\0';
    if (H5Lexists(f, buf, H5P_DEFAULT) <= 0) {
      hid_t g = H5Gcreate2(f, buf, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
      if (g >= 0) H5Gclose(g);
    }
    *p = '/';
  }
}

/* Data for n elements of type t: bytes from the input (repeated), with typical values when the
 * type is the expected one. Returns NULL when the type cannot be written from plain bytes. */
static void *make_data(In *in, hid_t t, size_t n, int expect) {
  H5T_class_t cls = H5Tget_class(t);
  if (cls == H5T_REFERENCE || cls == H5T_VLEN || (cls == H5T_STRING && H5Tis_variable_str(t) > 0))
    return NULL;
  size_t es = H5Tget_size(t);
  unsigned char *buf = calloc(n ? n : 1, es ? es : 1);
  unsigned mode = byte(in) % 4;
  for (size_t i = 0; i < n; i++) {
    unsigned char *e = buf + i * es;
    if (mode == 0 && cls == H5T_FLOAT && es == 4 && H5Tequal(t, H5T_IEEE_F32LE) > 0) {
      float v = (byte(in) % 5 == 0) ? NAN : (float)byte(in) / 16.0f - 4.0f;
      memcpy(e, &v, 4);
    } else if (mode == 0 && cls == H5T_FLOAT && es == 8 && H5Tequal(t, H5T_IEEE_F64LE) > 0) {
      double v = (byte(in) % 5 == 0) ? NAN : (double)byte(in) * 3.0;
      memcpy(e, &v, 8);
    } else if (mode == 0 && cls == H5T_INTEGER && expect == K_INT) {
      e[0] = (unsigned char)((int)(byte(in) % 4) - 1); /* -1, 0, 1, 2 (bad) */
      for (size_t k = 1; k < es; k++) e[k] = (e[0] & 0x80) ? 0xff : 0;
    } else if (mode <= 1 && cls == H5T_STRING) {
      /* "S<i>" ids (unique), a cancer type, or raw bytes without a NUL. */
      char s[32];
      unsigned c = byte(in) % 3;
      snprintf(s, sizeof s, c == 0 ? "S%zu" : c == 1 ? "OV" : "x%zu-%zu", i, i * 7);
      memcpy(e, s, strlen(s) < es ? strlen(s) : es);
    } else {
      for (size_t k = 0; k < es; k++) e[k] = (unsigned char)byte(in);
    }
  }
  return buf;
}

/* Dataset `name` of the expected kind and shape dims[0..rank) (or a wrong one). */
static void make_dataset(hid_t f, In *in, const char *name, int expect, int rank,
                         const hsize_t *want) {
  hsize_t dims[3] = {want[0], rank > 1 ? want[1] : 1, 1};
  unsigned w = wrong(in, 6);
  if (w == 1) rank = (rank + 1 + byte(in) % 3) % 4; /* another rank, 0 = scalar */
  if (w == 2) dims[byte(in) % 2] = byte(in) % 8;    /* another size (maybe 0) */
  if (w == 3) dims[0] = 0;
  if (w == 4) dims[0] += 1;
  hid_t sp;
  if (w == 5)
    sp = H5Screate(H5S_NULL);
  else if (rank == 0)
    sp = H5Screate(H5S_SCALAR);
  else
    sp = H5Screate_simple(rank, dims, NULL);
  hid_t t = make_type(in, expect);
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  unsigned layout = wrong(in, 6);
  if (layout && rank > 0 && w != 5) {
    hsize_t chunk[3] = {1, 1, 1};
    for (int k = 0; k < rank; k++) chunk[k] = dims[k] ? dims[k] : 1;
    if (layout == 1) {
      H5Pset_layout(dcpl, H5D_COMPACT);
    } else {
      H5Pset_chunk(dcpl, rank, chunk);
      if (layout == 3) H5Pset_deflate(dcpl, 1 + byte(in) % 9);
      if (layout == 4) H5Pset_shuffle(dcpl);
      if (layout == 5) H5Pset_fletcher32(dcpl);
      if (layout == 6) H5Pset_nbit(dcpl);
    }
  }
  if (byte(in) % 4 == 3) H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER);
  make_parents(f, name);
  hid_t d = H5Dcreate2(f, name, t, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  if (d >= 0) {
    hssize_t n = H5Sget_simple_extent_npoints(sp);
    if (n > 0 && n < 4096 && byte(in) % 8 != 7) { /* 1 in 8: never written (fill values) */
      void *buf = make_data(in, t, (size_t)n, expect);
      if (buf) H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
      free(buf);
    }
    H5Dclose(d);
  }
  H5Pclose(dcpl);
  H5Tclose(t);
  H5Sclose(sp);
}

/* Object `name`: usually a dataset as above; or something else at that path. */
static void make_object(hid_t f, In *in, const char *name, int expect, int rank,
                        const hsize_t *dims) {
  unsigned w = wrong(in, 7);
  if (w > 0 && w <= 6) make_parents(f, name);
  switch (w) {
  case 0: make_dataset(f, in, name, expect, rank, dims); return;
  case 1: return; /* missing */
  case 2: {       /* a group */
    hid_t g = H5Gcreate2(f, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g >= 0) H5Gclose(g);
    return;
  }
  case 3: H5Lcreate_soft("/nowhere/at/all", f, name, H5P_DEFAULT, H5P_DEFAULT); return;
  case 4: H5Lcreate_soft(name, f, name, H5P_DEFAULT, H5P_DEFAULT); return; /* loops */
  case 5: H5Lcreate_external("missing-file.h5", "/x", f, name, H5P_DEFAULT, H5P_DEFAULT); return;
  case 6: { /* a named datatype */
    hid_t t = H5Tcopy(H5T_IEEE_F32LE);
    H5Tcommit2(f, name, t, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Tclose(t);
    return;
  }
  default: /* 7: a hard link to another object (maybe a group or the root) */
    make_parents(f, name);
    H5Lcreate_hard(f, byte(in) & 1 ? "/" : "/samples", f, name, H5P_DEFAULT, H5P_DEFAULT);
    return;
  }
}

/* A root attribute: a string by default. */
static void make_attr(hid_t f, In *in, const char *name, const char *value, int is_int) {
  unsigned w = wrong(in, 7);
  if (w == 1) return; /* missing */
  hid_t sp = w == 2 ? H5Screate_simple(1, (hsize_t[]){2 + byte(in) % 3}, NULL)
                    : w == 3 ? H5Screate(H5S_NULL) : H5Screate(H5S_SCALAR);
  hid_t t;
  char text[64];
  snprintf(text, sizeof text, "%s", value);
  if (w == 4) snprintf(text, sizeof text, "%s%c", value, 'a' + byte(in) % 26); /* other text */
  if (w == 5) is_int = !is_int;                                                 /* other kind */
  if (w == 6) {
    t = H5Tcopy(H5T_IEEE_F64LE);
  } else if (w == 7) {
    t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
  } else if (is_int) {
    t = H5Tcopy(byte(in) & 1 ? H5T_STD_I32LE : H5T_STD_I64BE);
  } else {
    t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, strlen(text) + (byte(in) % 4 ? 1 : 0)); /* sometimes without the NUL */
  }
  hid_t a = H5Acreate2(f, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
  if (a >= 0) {
    hssize_t n = w == 3 ? 0 : H5Sget_simple_extent_npoints(sp);
    if (n > 0) {
      H5T_class_t cls = H5Tget_class(t);
      if (cls == H5T_STRING && H5Tis_variable_str(t) > 0) {
        const char *v[4] = {text, text, text, text};
        H5Awrite(a, t, v);
      } else if (cls == H5T_STRING) {
        size_t es = H5Tget_size(t);
        char *buf = calloc((size_t)n, es);
        for (hssize_t i = 0; i < n; i++) memcpy(buf + i * es, text, strlen(text) < es ? strlen(text) : es);
        H5Awrite(a, t, buf);
        free(buf);
      } else {
        double v[4] = {1, 1, 1, 1};
        int64_t iv[4] = {1, 1, 1, 1};
        if (w == 4) v[0] = iv[0] = 2 + byte(in) % 3; /* an unsupported version */
        H5Awrite(a, cls == H5T_FLOAT ? H5T_NATIVE_DOUBLE : H5T_NATIVE_INT64,
                 cls == H5T_FLOAT ? (void *)v : (void *)iv);
      }
    }
    H5Aclose(a);
  }
  H5Tclose(t);
  H5Sclose(sp);
}

static int generate(const char *path, In *in) {
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  if (byte(in) % 4 == 3) H5Pset_libver_bounds(fapl, H5F_LIBVER_LATEST, H5F_LIBVER_LATEST);
  hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
  H5Pclose(fapl);
  if (f < 0) return 0;
  /* Sizes: N samples, G genes, M miRNAs (0 = none). */
  hsize_t N = 1 + byte(in) % 6, G = 1 + byte(in) % 6, M = byte(in) % 4;
  int results = byte(in) % 4 == 3;
  make_attr(f, in, "format", results ? OVQ_RESULTS_FORMAT : OVQ_COHORT_FORMAT, 0);
  make_attr(f, in, "format_version", "", 1);
  make_attr(f, in, "config", "[data]\ncohort = x.h5\n", 0);
  hsize_t ng[2] = {N, G}, nm[2] = {N, M}, n1[1] = {N}, g1[1] = {G}, m1[1] = {M};
  if (!results) {
    make_object(f, in, "/expression/mrna", K_FLOAT, 2, ng);
    if (M) make_object(f, in, "/expression/mirna", K_FLOAT, 2, nm);
    make_object(f, in, "/features/mrna", K_STRING, 1, g1);
    if (M) make_object(f, in, "/features/mirna", K_STRING, 1, m1);
  } else {
    make_object(f, in, "/prep/x", K_FLOAT, 2, ng);
    make_object(f, in, "/prep/mean", K_FLOAT, 1, g1);
  }
  make_object(f, in, "/samples/id", K_STRING, 1, n1);
  make_object(f, in, "/samples/cancer", K_STRING, 1, n1);
  make_object(f, in, "/samples/label", K_STRING, 1, n1);
  make_object(f, in, "/samples/os_time", K_FLOAT, 1, n1);
  make_object(f, in, "/samples/os_event", K_INT, 1, n1);
  if (byte(in) & 1) {
    make_object(f, in, "/samples/true_subtype", K_STRING, 1, n1);
    make_object(f, in, "/samples/batch", K_INT, 1, n1);
    make_object(f, in, "/truth/mrna_module", K_INT, 1, g1);
    if (M) make_object(f, in, "/truth/mirna_target", K_INT, 1, m1);
  }
  H5Fclose(f);
  return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static char path[1100];
  if (!path[0]) snprintf(path, sizeof path, "%s/schema.h5", g_scratch);
  In in = {data, size};
  remove(path);
  if (!generate(path, &in)) return 0;
  fuzz_read_file(path);
  check_closed();
  return 0;
}
