/* A plain C program on wasi-libc's stdio and POSIX calls, with no aiofs header: built for
 * wasm32-wasi (preview1) by tests/build/polyglot.rs and adapted on load, so every call
 * reaches aiofs' wasi:filesystem through the preview1 adapter. tests/all/wasi.rs runs it
 * with /data read-write and /ro read-only, and checks the disk afterwards.
 *
 *   stdio basic   fopen/fwrite/fprintf/fread/fseek/ftell/append, mkdir, stat, readdir,
 *                 rename, remove, symlink (stat follows it, lstat does not), refusals
 *   stdio quota   a file-size limit (EFBIG on flush) and a creation budget (EDQUOT)
 *
 * Prints "stdio NAME: ok" on success; otherwise one line saying what failed, exit 1.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *scenario = "?";

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      printf("stdio %s: line %d: %s (errno %d: %s)\n", scenario, __LINE__,     \
             #cond, errno, strerror(errno));                                   \
      exit(1);                                                                 \
    }                                                                          \
  } while (0)

/* The whole content of `path` into `buf` (at most `cap` bytes); its length. */
static size_t slurp(const char *path, char *buf, size_t cap) {
  FILE *f = fopen(path, "rb");
  CHECK(f != NULL);
  size_t n = fread(buf, 1, cap, f);
  CHECK(!ferror(f));
  CHECK(fclose(f) == 0);
  return n;
}

static int cmp_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static void basic(void) {
  CHECK(mkdir("/data/c", 0755) == 0);
  CHECK(mkdir("/data/c/sub", 0755) == 0);

  /* fprintf and fwrite through one buffered FILE, then read back. */
  FILE *f = fopen("/data/c/notes.txt", "w");
  CHECK(f != NULL);
  CHECK(fprintf(f, "line %d\n", 1) == 7);
  CHECK(fprintf(f, "%s %05.1f\n", "pi", 3.14159) == 9);
  static const char raw[4] = {'a', '\0', 'b', '\n'};
  CHECK(fwrite(raw, 1, sizeof raw, f) == sizeof raw);
  CHECK(fclose(f) == 0);

  char buf[256];
  size_t n = slurp("/data/c/notes.txt", buf, sizeof buf);
  CHECK(n == 20);
  CHECK(memcmp(buf, "line 1\npi 003.1\na\0b\n", 20) == 0);

  /* Seek, tell, partial reads, and an update in place ("r+"). */
  f = fopen("/data/c/notes.txt", "r+");
  CHECK(f != NULL);
  CHECK(fseek(f, 7, SEEK_SET) == 0);
  CHECK(fread(buf, 1, 2, f) == 2 && memcmp(buf, "pi", 2) == 0);
  CHECK(ftell(f) == 9);
  CHECK(fseek(f, 0, SEEK_CUR) == 0); /* required between a read and a write */
  CHECK(fputs("PI", f) >= 0);
  CHECK(fseek(f, 0, SEEK_END) == 0 && ftell(f) == 20);
  CHECK(fclose(f) == 0);

  /* Append mode always writes at the end. */
  f = fopen("/data/c/notes.txt", "a");
  CHECK(f != NULL);
  CHECK(fputs("tail\n", f) >= 0);
  CHECK(fclose(f) == 0);
  n = slurp("/data/c/notes.txt", buf, sizeof buf);
  CHECK(n == 25 && memcmp(buf + 7, "piPI", 4) == 0 && memcmp(buf + 20, "tail\n", 5) == 0);

  /* A larger file in many buffered writes, checked through stat and read back whole. */
  f = fopen("/data/c/big.bin", "wb");
  CHECK(f != NULL);
  for (int i = 0; i < 100000; i++)
    CHECK(fputc(i % 251, f) == i % 251);
  CHECK(fclose(f) == 0);
  struct stat st;
  CHECK(stat("/data/c/big.bin", &st) == 0);
  CHECK(S_ISREG(st.st_mode) && st.st_size == 100000);
  static char big[100001];
  CHECK(slurp("/data/c/big.bin", big, sizeof big) == 100000);
  for (int i = 0; i < 100000; i++)
    CHECK((unsigned char)big[i] == i % 251);

  CHECK(stat("/data/c/sub", &st) == 0 && S_ISDIR(st.st_mode));
  CHECK(stat("/data/hello.txt", &st) == 0 && st.st_size == 12);

  /* Through a symlink: stat reports the target (same inode), lstat the link itself. */
  CHECK(symlink("notes.txt", "/data/c/link") == 0);
  struct stat target, via, link;
  CHECK(stat("/data/c/notes.txt", &target) == 0);
  CHECK(stat("/data/c/link", &via) == 0);
  CHECK(lstat("/data/c/link", &link) == 0);
  CHECK(S_ISREG(via.st_mode) && via.st_size == target.st_size);
  CHECK(via.st_ino == target.st_ino && via.st_dev == target.st_dev);
  CHECK(S_ISLNK(link.st_mode) && link.st_ino != target.st_ino);
  char dest[64];
  ssize_t len = readlink("/data/c/link", dest, sizeof dest);
  CHECK(len == 9 && memcmp(dest, "notes.txt", 9) == 0);

  /* rename and remove. */
  CHECK(rename("/data/c/big.bin", "/data/c/sub/moved.bin") == 0);
  CHECK(access("/data/c/big.bin", F_OK) != 0 && errno == ENOENT);
  f = fopen("/data/c/gone.txt", "w");
  CHECK(f != NULL && fclose(f) == 0);
  CHECK(remove("/data/c/gone.txt") == 0);

  /* readdir: every name once, with its type and an inode that stat agrees with. */
  DIR *d = opendir("/data/c");
  CHECK(d != NULL);
  char *names[16];
  int count = 0;
  struct dirent *e;
  errno = 0;
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
      continue;
    CHECK(count < 16);
    if (strcmp(e->d_name, "notes.txt") == 0)
      CHECK(e->d_type == DT_REG && e->d_ino == target.st_ino);
    if (strcmp(e->d_name, "sub") == 0)
      CHECK(e->d_type == DT_DIR);
    if (strcmp(e->d_name, "link") == 0)
      CHECK(e->d_type == DT_LNK && e->d_ino == link.st_ino);
    names[count++] = strdup(e->d_name);
  }
  CHECK(errno == 0);
  CHECK(closedir(d) == 0);
  qsort(names, count, sizeof names[0], cmp_names);
  CHECK(count == 3);
  CHECK(strcmp(names[0], "link") == 0 && strcmp(names[1], "notes.txt") == 0 &&
        strcmp(names[2], "sub") == 0);

  /* Refusals: a read-only grant, paths outside every grant, a missing file. */
  CHECK(slurp("/ro/ro.txt", buf, sizeof buf) == 10);
  errno = 0;
  CHECK(fopen("/ro/new.txt", "w") == NULL && errno == EROFS);
  errno = 0;
  CHECK(mkdir("/ro/d", 0755) != 0 && errno == EROFS);
  errno = 0;
  CHECK(fopen("/data/../outside/canary.txt", "r") == NULL && errno != 0);
  errno = 0;
  CHECK(fopen("/data/escape-link", "r") == NULL && errno != 0);
  errno = 0;
  CHECK(fopen("/data/c/missing.txt", "r") == NULL && errno == ENOENT);
  errno = 0;
  CHECK(rmdir("/data/c/sub") != 0 && errno == ENOTEMPTY);
}

static void quota(void) {
  /* max_file_size 8: eight bytes fit; a ninth fails when stdio flushes it. */
  FILE *f = fopen("/data/q1.txt", "w");
  CHECK(f != NULL);
  CHECK(fputs("12345678", f) >= 0);
  CHECK(fflush(f) == 0);
  CHECK(fputs("9", f) >= 0);
  errno = 0;
  CHECK(fflush(f) == EOF && errno == EFBIG);
  fclose(f); /* the failed byte is dropped; the close itself may report it again */

  /* max_created 2: q1.txt and one directory; the third creation is refused. */
  CHECK(mkdir("/data/qdir", 0755) == 0);
  errno = 0;
  CHECK(fopen("/data/q2.txt", "w") == NULL && errno == EDQUOT);
  /* Existing files still open for writing. */
  f = fopen("/data/q1.txt", "r+");
  CHECK(f != NULL && fclose(f) == 0);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    printf("usage: stdio basic|quota\n");
    return 2;
  }
  scenario = argv[1];
  if (strcmp(scenario, "basic") == 0)
    basic();
  else if (strcmp(scenario, "quota") == 0)
    quota();
  else {
    printf("stdio: unknown scenario %s\n", scenario);
    return 2;
  }
  printf("stdio %s: ok\n", scenario);
  return 0;
}
