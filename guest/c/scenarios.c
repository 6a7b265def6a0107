// The polyglot scenario set, in C: `scenarios NAME [N]`.
//
// Bindings: `wit-bindgen c` for the `command` world of wit/aiofs.wit, renamed `aiofs`
// (tests/build.rs generates them with the aiofs-witgen crate). Every aiofs import is an
// async import; aiofs_await.h waits for it. `run` is the async `wasi:cli/run@0.3.0`
// export (callback ABI): it does all its work in its first call, blocking in
// `waitable-set.wait` where it waits, then returns EXIT.
//
// Each scenario checks what the guest sees (values and exact error codes) and traps on a
// mismatch after printing why to stderr; the host test then checks the disk. The fixture
// is `Sandbox` in tests/src/lib.rs. Results are not freed: the guest is short-lived.

#include "aiofs.h"
#include "aiofs_await.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wasi/api.h>

static const char *const CODE_NAMES[] = {
    "access", "bad-descriptor", "busy", "cross-device", "exist", "file-too-large",
    "illegal-byte-sequence", "insufficient-space", "insufficient-memory", "interrupted",
    "invalid", "invalid-seek", "io", "is-directory", "loop", "name-too-long", "no-entry",
    "not-directory", "not-empty", "not-permitted", "overflow", "quota", "read-only",
    "too-many-links", "unsupported",
};

static const char *code_name(unsigned code) {
  return code < sizeof CODE_NAMES / sizeof *CODE_NAMES ? CODE_NAMES[code] : "?";
}

__attribute__((noreturn, format(printf, 1, 2))) static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  fflush(stdout);
  abort();
}

// Run an import call, wait for it, and require success (`res` is its result variable).
#define OK(res, call)                                                                    \
  do {                                                                                   \
    aiofs_await(call);                                                                   \
    if ((res).is_err)                                                                    \
      die("%s:%d: %s failed with %s", __FILE__, __LINE__, #call,                        \
          code_name((res).val.err));                                                     \
  } while (0)

// Run an import call, wait for it, and require the error `code`.
#define FAILS(res, call, code)                                                           \
  do {                                                                                   \
    aiofs_await(call);                                                                   \
    if (!(res).is_err)                                                                   \
      die("%s:%d: %s: expected %s, got success", __FILE__, __LINE__, #call,             \
          code_name(code));                                                              \
    if ((res).val.err != (code))                                                         \
      die("%s:%d: %s: expected %s, got %s", __FILE__, __LINE__, #call, code_name(code), \
          code_name((res).val.err));                                                     \
  } while (0)

#define CHECK(cond)                                                                      \
  do {                                                                                   \
    if (!(cond)) die("%s:%d: check failed: %s", __FILE__, __LINE__, #cond);             \
  } while (0)

#define E(name) AIOFS_FS_TYPES_ERROR_CODE_##name

static aiofs_string_t S(const char *s) {
  return (aiofs_string_t){(uint8_t *)s, strlen(s)};
}

static aiofs_list_u8_t B(const char *s) {
  return (aiofs_list_u8_t){(uint8_t *)s, strlen(s)};
}

static aiofs_option_string_t SOME(const char *s) {
  return (aiofs_option_string_t){true, S(s)};
}

static bool eq(const uint8_t *ptr, size_t len, const char *want) {
  return len == strlen(want) && memcmp(ptr, want, len) == 0;
}

#define EQ(list_or_string, want) eq((list_or_string).ptr, (list_or_string).len, (want))

typedef aiofs_fs_types_borrow_file_t file_t;

static aiofs_fs_files_own_file_t open_file(const char *path, const char *mode) {
  aiofs_fs_files_result_own_file_error_code_t r;
  OK(r, aiofs_fs_files_open(S(path), S(mode), &r));
  return r.val.ok;
}

static uint64_t seek(file_t f, int64_t offset, aiofs_fs_types_whence_t whence) {
  aiofs_fs_types_result_u64_error_code_t r;
  OK(r, aiofs_fs_types_method_file_seek(f, offset, whence, &r));
  return r.val.ok;
}

static void write_file(const char *path, const char *data, bool atomic) {
  aiofs_fs_files_write_file_args_t args = {S(path), B(data), atomic};
  aiofs_fs_files_result_void_error_code_t r;
  OK(r, aiofs_fs_files_write_file(&args, &r));
}

static bool exists(const char *path) {
  aiofs_fs_path_result_bool_error_code_t r;
  OK(r, aiofs_fs_path_exists(S(path), &r));
  return r.val.ok;
}

static void binary_io(void) {
  aiofs_fs_files_own_file_t own = open_file("/data/p.bin", "w+b");
  file_t f = aiofs_fs_types_borrow_file(own);
  CHECK(!aiofs_fs_types_method_file_is_text(f));
  aiofs_fs_types_result_u64_error_code_t n;
  OK(n, aiofs_fs_types_method_file_write(f, B("hello world\nsecond line\nthird"), &n));
  CHECK(n.val.ok == 29);
  OK(n, aiofs_fs_types_method_file_tell(f, &n));
  CHECK(n.val.ok == 29);
  CHECK(seek(f, 0, AIOFS_FS_TYPES_WHENCE_START) == 0);
  aiofs_fs_types_result_list_u8_error_code_t b;
  OK(b, aiofs_fs_types_method_file_read(f, 5, &b));
  CHECK(EQ(b.val.ok, "hello"));
  CHECK(seek(f, 1, AIOFS_FS_TYPES_WHENCE_CURRENT) == 6);
  OK(b, aiofs_fs_types_method_file_read_line(f, &b));
  CHECK(EQ(b.val.ok, "world\n"));
  aiofs_fs_types_result_list_list_u8_error_code_t lines;
  OK(lines, aiofs_fs_types_method_file_read_lines(f, 10, &lines));
  CHECK(lines.val.ok.len == 2);
  CHECK(EQ(lines.val.ok.ptr[0], "second line\n") && EQ(lines.val.ok.ptr[1], "third"));
  OK(b, aiofs_fs_types_method_file_read_line(f, &b));
  CHECK(b.val.ok.len == 0);
  CHECK(seek(f, -5, AIOFS_FS_TYPES_WHENCE_END) == 24);
  OK(b, aiofs_fs_types_method_file_read_all(f, &b));
  CHECK(EQ(b.val.ok, "third"));
  FAILS(n, aiofs_fs_types_method_file_seek(f, -100, AIOFS_FS_TYPES_WHENCE_CURRENT, &n),
        E(INVALID));
  OK(n, aiofs_fs_types_method_file_truncate(f, (aiofs_option_u64_t){true, 11}, &n));
  CHECK(n.val.ok == 11);
  aiofs_fs_types_result_stat_result_error_code_t st;
  OK(st, aiofs_fs_types_method_file_stat(f, &st));
  CHECK(st.val.ok.size == 11);
  aiofs_fs_types_result_string_error_code_t t;
  FAILS(t, aiofs_fs_types_method_file_read_text(f, 1, &t), E(INVALID));
  aiofs_fs_types_result_void_error_code_t v;
  OK(v, aiofs_fs_types_method_file_close(f, &v));
  CHECK(aiofs_fs_types_method_file_closed(f));
  FAILS(b, aiofs_fs_types_method_file_read(f, 1, &b), E(BAD_DESCRIPTOR));
  aiofs_fs_types_file_drop_own(own);
}

static void text_io(void) {
  // lines.txt is "one\r\ntwo\rthree\nfour" on disk: universal newlines.
  aiofs_fs_files_own_file_t own = open_file("/data/lines.txt", "r");
  file_t f = aiofs_fs_types_borrow_file(own);
  CHECK(aiofs_fs_types_method_file_is_text(f));
  aiofs_fs_types_result_string_error_code_t s;
  OK(s, aiofs_fs_types_method_file_read_line_text(f, &s));
  CHECK(EQ(s.val.ok, "one\n"));
  aiofs_fs_types_result_list_string_error_code_t ls;
  OK(ls, aiofs_fs_types_method_file_read_lines_text(f, 10, &ls));
  CHECK(ls.val.ok.len == 3);
  CHECK(EQ(ls.val.ok.ptr[0], "two\n") && EQ(ls.val.ok.ptr[1], "three\n") &&
        EQ(ls.val.ok.ptr[2], "four"));
  OK(s, aiofs_fs_types_method_file_read_line_text(f, &s));
  CHECK(s.val.ok.len == 0);
  CHECK(seek(f, 0, AIOFS_FS_TYPES_WHENCE_START) == 0);
  OK(s, aiofs_fs_types_method_file_read_text(f, 5, &s));
  CHECK(EQ(s.val.ok, "one\nt"));
  OK(s, aiofs_fs_types_method_file_read_all_text(f, &s));
  CHECK(EQ(s.val.ok, "wo\nthree\nfour"));
  aiofs_fs_types_result_list_u8_error_code_t b;
  FAILS(b, aiofs_fs_types_method_file_read(f, 1, &b), E(INVALID));
  aiofs_fs_types_file_drop_own(own);

  own = open_file("/data/p.txt", "w");
  f = aiofs_fs_types_borrow_file(own);
  aiofs_fs_types_result_u64_error_code_t n;
  OK(n, aiofs_fs_types_method_file_write_text(f, S("h\xc3\xa9llo\n"), &n));
  CHECK(n.val.ok == 6); // characters, not bytes
  aiofs_string_t two[] = {S("a\n"), S("b\n")};
  OK(n, aiofs_fs_types_method_file_write_lines_text(f, (aiofs_list_string_t){two, 2}, &n));
  CHECK(n.val.ok == 4);
  aiofs_fs_types_result_void_error_code_t v;
  OK(v, aiofs_fs_types_method_file_close(f, &v));
  aiofs_fs_types_file_drop_own(own);

  own = open_file("/data/p.txt", "a");
  f = aiofs_fs_types_borrow_file(own);
  OK(n, aiofs_fs_types_method_file_write_text(f, S("c\n"), &n));
  aiofs_fs_types_file_drop_own(own);

  own = open_file("/data/p.txt", "r");
  f = aiofs_fs_types_borrow_file(own);
  OK(s, aiofs_fs_types_method_file_read_all_text(f, &s));
  CHECK(EQ(s.val.ok, "h\xc3\xa9llo\na\nb\nc\n"));
  aiofs_fs_types_file_drop_own(own);
}

static void dirs(void) {
  aiofs_fs_os_result_void_error_code_t v;
  OK(v, aiofs_fs_os_makedirs(S("/data/pd/a/b"), false, &v));
  OK(v, aiofs_fs_os_makedirs(S("/data/pd/a/b"), true, &v));
  FAILS(v, aiofs_fs_os_makedirs(S("/data/pd/a/b"), false, &v), E(EXIST));
  write_file("/data/pd/a/f.txt", "f", false);

  aiofs_fs_os_result_list_string_error_code_t names;
  OK(names, aiofs_fs_os_listdir(S("/data/pd/a"), &names));
  CHECK(names.val.ok.len == 2);
  bool b_first = EQ(names.val.ok.ptr[0], "b");
  CHECK(EQ(names.val.ok.ptr[b_first ? 0 : 1], "b"));
  CHECK(EQ(names.val.ok.ptr[b_first ? 1 : 0], "f.txt"));

  aiofs_fs_os_result_list_dir_entry_error_code_t entries;
  OK(entries, aiofs_fs_os_scandir(S("/data/pd/a"), true, &entries));
  CHECK(entries.val.ok.len == 2);
  for (size_t i = 0; i < entries.val.ok.len; i++) {
    aiofs_fs_os_dir_entry_t *e = &entries.val.ok.ptr[i];
    CHECK(e->stat.is_some);
    if (EQ(e->name, "b")) {
      CHECK(e->type == AIOFS_FS_TYPES_FILE_TYPE_DIRECTORY);
    } else {
      CHECK(EQ(e->name, "f.txt"));
      CHECK(e->type == AIOFS_FS_TYPES_FILE_TYPE_REGULAR_FILE && e->stat.val.size == 1);
    }
  }

  aiofs_fs_os_result_stat_result_error_code_t st;
  OK(st, aiofs_fs_os_stat(S("/data/hello.txt"), &st));
  CHECK(st.val.ok.type == AIOFS_FS_TYPES_FILE_TYPE_REGULAR_FILE && st.val.ok.size == 12);
  FAILS(st, aiofs_fs_os_stat(S("/data/missing"), &st), E(NO_ENTRY));
  CHECK(exists("/data/hello.txt"));
  CHECK(!exists("/data/missing"));
  aiofs_fs_path_result_bool_error_code_t isdir;
  OK(isdir, aiofs_fs_path_is_dir(S("/data/pd/a"), &isdir));
  CHECK(isdir.val.ok);

  OK(v, aiofs_fs_os_rename(S("/data/pd/a/f.txt"), S("/data/pd/g.txt"), &v));
  OK(v, aiofs_fs_os_rmdir(S("/data/pd/a/b"), &v));
  write_file("/data/pd/gone.txt", "x", false);
  OK(v, aiofs_fs_os_remove(S("/data/pd/gone.txt"), &v));
  FAILS(v, aiofs_fs_os_remove(S("/data/pd/gone.txt"), &v), E(NO_ENTRY));
  FAILS(v, aiofs_fs_os_rmdir(S("/data/pd"), &v), E(NOT_EMPTY));
}

static void whole_file(void) {
  aiofs_fs_files_result_list_u8_error_code_t b;
  OK(b, aiofs_fs_files_read_file(S("/data/hello.txt"), 1024, &b));
  CHECK(EQ(b.val.ok, "hello\nworld\n"));
  OK(b, aiofs_fs_files_read_file(S("hello.txt"), 1024, &b));
  CHECK(EQ(b.val.ok, "hello\nworld\n"));
  FAILS(b, aiofs_fs_files_read_file(S("/data/hello.txt"), 3, &b), E(FILE_TOO_LARGE));
  write_file("/data/w.txt", "plain", false);
  write_file("/data/wa.txt", "old", true);
  write_file("/data/wa.txt", "new content", true);
  aiofs_fs_files_write_file_args_t args = {S("/data/nodir/x"), B(""), true};
  aiofs_fs_files_result_void_error_code_t v;
  FAILS(v, aiofs_fs_files_write_file(&args, &v), E(NO_ENTRY));
}

static void temp(void) {
  aiofs_fs_tempfile_temp_options_t opts = {{false}, SOME("t-"), SOME(".tmp")};

  aiofs_fs_tempfile_temporary_file_args_t anon_args = {S(""), opts};
  aiofs_fs_tempfile_result_own_file_error_code_t r;
  OK(r, aiofs_fs_tempfile_temporary_file(&anon_args, &r));
  file_t f = aiofs_fs_types_borrow_file(r.val.ok);
  aiofs_fs_types_result_u64_error_code_t n;
  OK(n, aiofs_fs_types_method_file_write(f, B("scratch"), &n));
  CHECK(seek(f, 0, AIOFS_FS_TYPES_WHENCE_START) == 0);
  aiofs_fs_types_result_list_u8_error_code_t b;
  OK(b, aiofs_fs_types_method_file_read_all(f, &b));
  CHECK(EQ(b.val.ok, "scratch"));
  aiofs_fs_types_file_drop_own(r.val.ok);

  aiofs_fs_tempfile_named_temporary_file_args_t named_args = {S("w+"), opts, true};
  OK(r, aiofs_fs_tempfile_named_temporary_file(&named_args, &r));
  f = aiofs_fs_types_borrow_file(r.val.ok);
  aiofs_string_t name;
  aiofs_fs_types_method_file_name(f, &name);
  char *cname = strndup((const char *)name.ptr, name.len);
  CHECK(strncmp(cname, "/data/t-", 8) == 0 && strstr(cname, ".tmp") != NULL);
  CHECK(exists(cname));
  OK(n, aiofs_fs_types_method_file_write_text(f, S("named"), &n));
  aiofs_fs_types_result_void_error_code_t v;
  OK(v, aiofs_fs_types_method_file_close(f, &v));
  CHECK(!exists(cname));
  aiofs_fs_types_file_drop_own(r.val.ok);

  aiofs_fs_tempfile_result_own_temp_dir_error_code_t d;
  OK(d, aiofs_fs_tempfile_temporary_directory(&opts, &d));
  aiofs_fs_tempfile_borrow_temp_dir_t dir = aiofs_fs_tempfile_borrow_temp_dir(d.val.ok);
  aiofs_string_t dpath;
  aiofs_fs_tempfile_method_temp_dir_path(dir, &dpath);
  char inner[512];
  snprintf(inner, sizeof inner, "%.*s/inner.txt", (int)dpath.len, (const char *)dpath.ptr);
  write_file(inner, "i", false);
  char *cdir = strndup((const char *)dpath.ptr, dpath.len);
  CHECK(exists(cdir));
  aiofs_fs_tempfile_result_void_error_code_t tv;
  OK(tv, aiofs_fs_tempfile_method_temp_dir_cleanup(dir, &tv));
  CHECK(!exists(cdir));
  aiofs_fs_tempfile_temp_dir_drop_own(d.val.ok);
}

static void escape(void) {
  aiofs_fs_files_result_list_u8_error_code_t b;
  FAILS(b, aiofs_fs_files_read_file(S("/data/../outside/canary.txt"), 100, &b),
        E(NOT_PERMITTED));
  aiofs_fs_files_result_own_file_error_code_t o;
  FAILS(o, aiofs_fs_files_open(S("/data/escape-link"), S("rb"), &o), E(NOT_PERMITTED));
  aiofs_fs_files_result_void_error_code_t v;
  aiofs_fs_files_write_file_args_t out = {S("/data/escape-dir/new"), B("x"), false};
  FAILS(v, aiofs_fs_files_write_file(&out, &v), E(NOT_PERMITTED));
  aiofs_fs_files_write_file_args_t ro = {S("/ro/new.txt"), B("x"), false};
  FAILS(v, aiofs_fs_files_write_file(&ro, &v), E(READ_ONLY));
}

// Start `n` reads, then wait for all of them at once.
static void concurrent_reads(size_t n) {
  char(*paths)[32] = calloc(n, sizeof *paths);
  aiofs_subtask_status_t *calls = calloc(n, sizeof *calls);
  aiofs_fs_files_result_list_u8_error_code_t *results = calloc(n, sizeof *results);
  for (size_t i = 0; i < n; i++) {
    snprintf(paths[i], sizeof paths[i], "/data/c%zu.txt", i);
    calls[i] = aiofs_fs_files_read_file(S(paths[i]), 100, &results[i]);
  }
  aiofs_await_all(calls, n);
  for (size_t i = 0; i < n; i++) {
    char want[32];
    snprintf(want, sizeof want, "file %zu", i);
    if (results[i].is_err) die("read %s: %s", paths[i], code_name(results[i].val.err));
    CHECK(EQ(results[i].val.ok, want));
  }
}

// argv through WASI preview1 (the adapter maps it to wasi:cli/environment).
static char **args(size_t *argc) {
  size_t size;
  if (__wasi_args_sizes_get(argc, &size) != 0) die("args_sizes_get failed");
  char **argv = calloc(*argc + 1, sizeof *argv);
  char *buf = malloc(size);
  if (__wasi_args_get((uint8_t **)argv, (uint8_t *)buf) != 0) die("args_get failed");
  return argv;
}

aiofs_callback_code_t exports_wasi_cli_run_run(void) {
  size_t argc;
  char **argv = args(&argc);
  const char *name = argc > 1 ? argv[1] : "";
  if (strcmp(name, "binary_io") == 0) binary_io();
  else if (strcmp(name, "text_io") == 0) text_io();
  else if (strcmp(name, "dirs") == 0) dirs();
  else if (strcmp(name, "whole_file") == 0) whole_file();
  else if (strcmp(name, "tempfile") == 0) temp();
  else if (strcmp(name, "escape") == 0) escape();
  else if (strcmp(name, "concurrent_reads") == 0 && argc > 2)
    concurrent_reads((size_t)strtoul(argv[2], NULL, 10));
  else die("unknown scenario \"%s\"", name);
  printf("scenario %s: ok\n", name);
  fflush(stdout);
  exports_wasi_cli_run_run_return((exports_wasi_cli_run_result_void_void_t){.is_err = false});
  return AIOFS_CALLBACK_CODE_EXIT;
}

// Never called: `run` returns EXIT from its first call.
aiofs_callback_code_t exports_wasi_cli_run_run_callback(aiofs_event_t *event) {
  (void)event;
  abort();
}
