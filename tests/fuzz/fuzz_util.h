/* Shared by the libFuzzer targets: an invariant check that crashes (what libFuzzer reports) and
 * the input bytes as a file (an in-memory file, reused across inputs). Include after
 * `#define _GNU_SOURCE` (memfd_create). */
#ifndef OVQ_FUZZ_UTIL_H
#define OVQ_FUZZ_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#define REQUIRE(cond)                                                                              \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "fuzz: %s:%d: %s\n", __FILE__, __LINE__, #cond);                            \
      abort();                                                                                     \
    }                                                                                              \
  } while (0)

/* The path (/proc/self/fd/N) of an in-memory file holding exactly data[0..size). One file per
 * process, rewritten at each call; the returned string is static. */
static inline const char *fuzz_bytes_as_file(const uint8_t *data, size_t size) {
  static int fd = -1;
  static char path[64];
  if (fd < 0) {
    fd = memfd_create("fuzz_input", 0);
    REQUIRE(fd >= 0);
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  }
  REQUIRE(ftruncate(fd, 0) == 0);
  REQUIRE(size == 0 || pwrite(fd, data, size, 0) == (ssize_t)size);
  return path;
}

#endif
