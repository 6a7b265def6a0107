// Package export_wasi_cli_run is the polyglot scenario set in Go: `scenarios NAME [N]`.
//
// The bindings come from `wit-bindgen go --async=-all` for the `command` world of
// wit/aiofs.wit (tests/build.rs generates them with the aiofs-witgen crate): every aiofs
// import is lowered synchronously, so a call blocks this guest until the host's pool has
// done the work (the host itself never blocks), and `Run` is lifted synchronously too.
// Stock Go cannot use the async lowering: the generated async runtime needs a
// `runtime.wasiOnIdle` hook that only componentize-go's patched Go has.
//
// The package name is fixed by the generated wit_exports.go, which calls Run for the
// `wasi:cli/run` export. Each scenario checks what the guest sees (values and exact error
// codes) and panics on a mismatch; the host test then checks the disk. The fixture is
// `Sandbox` in tests/src/lib.rs.
package export_wasi_cli_run

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"

	"wit_component/aiofs_fs_files"
	"wit_component/aiofs_fs_os"
	"wit_component/aiofs_fs_path"
	"wit_component/aiofs_fs_tempfile"
	types "wit_component/aiofs_fs_types"

	witTypes "go.bytecodealliance.org/pkg/wit/types"
)

var codeNames = []string{
	"access", "bad-descriptor", "busy", "cross-device", "exist", "file-too-large",
	"illegal-byte-sequence", "insufficient-space", "insufficient-memory", "interrupted",
	"invalid", "invalid-seek", "io", "is-directory", "loop", "name-too-long", "no-entry",
	"not-directory", "not-empty", "not-permitted", "overflow", "quota", "read-only",
	"too-many-links", "unsupported",
}

func codeName(c types.ErrorCode) string {
	if int(c) < len(codeNames) {
		return codeNames[c]
	}
	return "?"
}

func fail(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}

// ok requires success and returns the value.
func ok[T any](r witTypes.Result[T, types.ErrorCode], what string) T {
	if r.IsErr() {
		fail("%s: failed with %s", what, codeName(r.Err()))
	}
	return r.Ok()
}

// fails requires the error `want`.
func fails[T any](r witTypes.Result[T, types.ErrorCode], want types.ErrorCode, what string) {
	if r.IsOk() {
		fail("%s: expected %s, got success", what, codeName(want))
	}
	if r.Err() != want {
		fail("%s: expected %s, got %s", what, codeName(want), codeName(r.Err()))
	}
}

func check[T comparable](got, want T, what string) {
	if got != want {
		fail("%s: expected %v, got %v", what, want, got)
	}
}

func binaryIO() {
	f := ok(aiofs_fs_files.Open("/data/p.bin", "w+b"), "open")
	defer f.Drop()
	check(f.IsText(), false, "is-text")
	check(ok(f.Write([]byte("hello world\nsecond line\nthird")), "write"), 29, "write")
	check(ok(f.Tell(), "tell"), 29, "tell")
	check(ok(f.Seek(0, types.WhenceStart), "seek"), 0, "seek start")
	check(string(ok(f.Read(5), "read")), "hello", "read")
	check(ok(f.Seek(1, types.WhenceCurrent), "seek"), 6, "seek current")
	check(string(ok(f.ReadLine(), "read-line")), "world\n", "read-line")
	lines := ok(f.ReadLines(10), "read-lines")
	check(len(lines), 2, "read-lines count")
	check(string(lines[0])+"|"+string(lines[1]), "second line\n|third", "read-lines")
	check(len(ok(f.ReadLine(), "read-line")), 0, "read-line at eof")
	check(ok(f.Seek(-5, types.WhenceEnd), "seek"), 24, "seek end")
	check(string(ok(f.ReadAll(), "read-all")), "third", "read-all")
	fails(f.Seek(-100, types.WhenceCurrent), types.ErrorCodeInvalid, "negative seek")
	check(ok(f.Truncate(witTypes.Some[uint64](11)), "truncate"), 11, "truncate")
	check(ok(f.Stat(), "stat").Size, 11, "fstat size")
	fails(f.ReadText(1), types.ErrorCodeInvalid, "read-text on binary")
	ok(f.Close(), "close")
	check(f.Closed(), true, "closed")
	fails(f.Read(1), types.ErrorCodeBadDescriptor, "read after close")
}

func textIO() {
	// lines.txt is "one\r\ntwo\rthree\nfour" on disk: universal newlines.
	f := ok(aiofs_fs_files.Open("/data/lines.txt", "r"), "open")
	check(ok(f.ReadLineText(), "read-line-text"), "one\n", "read-line-text")
	check(strings.Join(ok(f.ReadLinesText(10), "read-lines-text"), "|"), "two\n|three\n|four",
		"read-lines-text")
	check(ok(f.ReadLineText(), "read-line-text"), "", "eof")
	check(ok(f.Seek(0, types.WhenceStart), "seek"), 0, "seek")
	check(ok(f.ReadText(5), "read-text"), "one\nt", "read-text")
	check(ok(f.ReadAllText(), "read-all-text"), "wo\nthree\nfour", "read-all-text")
	fails(f.Read(1), types.ErrorCodeInvalid, "bytes on text")
	f.Drop()

	w := ok(aiofs_fs_files.Open("/data/p.txt", "w"), "open w")
	check(ok(w.WriteText("héllo\n"), "write-text"), 6, "write-text counts characters")
	check(ok(w.WriteLinesText([]string{"a\n", "b\n"}), "write-lines-text"), 4, "write-lines-text")
	ok(w.Close(), "close")
	w.Drop()
	a := ok(aiofs_fs_files.Open("/data/p.txt", "a"), "open a")
	ok(a.WriteText("c\n"), "append")
	a.Drop()
	r := ok(aiofs_fs_files.Open("/data/p.txt", "r"), "open r")
	check(ok(r.ReadAllText(), "read back"), "héllo\na\nb\nc\n", "read back")
	r.Drop()
}

func dirs() {
	ok(aiofs_fs_os.Makedirs("/data/pd/a/b", false), "makedirs")
	ok(aiofs_fs_os.Makedirs("/data/pd/a/b", true), "makedirs exist-ok")
	fails(aiofs_fs_os.Makedirs("/data/pd/a/b", false), types.ErrorCodeExist, "makedirs twice")
	ok(aiofs_fs_files.WriteFile("/data/pd/a/f.txt", []byte("f"), false), "write-file")
	names := ok(aiofs_fs_os.Listdir("/data/pd/a"), "listdir")
	slices.Sort(names)
	check(strings.Join(names, ","), "b,f.txt", "listdir")
	entries := ok(aiofs_fs_os.Scandir("/data/pd/a", true), "scandir")
	check(len(entries), 2, "scandir count")
	for _, e := range entries {
		switch e.Name {
		case "b":
			check(e.Type, types.FileTypeDirectory, "scandir b")
		case "f.txt":
			check(e.Type, types.FileTypeRegularFile, "scandir f.txt")
			check(e.Stat.Some().Size, 1, "scandir f.txt size")
		default:
			fail("scandir: unexpected %q", e.Name)
		}
	}
	st := ok(aiofs_fs_os.Stat("/data/hello.txt"), "stat")
	check(st.Type, types.FileTypeRegularFile, "stat type")
	check(st.Size, 12, "stat size")
	fails(aiofs_fs_os.Stat("/data/missing"), types.ErrorCodeNoEntry, "stat missing")
	check(ok(aiofs_fs_path.Exists("/data/hello.txt"), "exists"), true, "exists")
	check(ok(aiofs_fs_path.Exists("/data/missing"), "exists"), false, "exists missing")
	check(ok(aiofs_fs_path.IsDir("/data/pd/a"), "is-dir"), true, "is-dir")
	ok(aiofs_fs_os.Rename("/data/pd/a/f.txt", "/data/pd/g.txt"), "rename")
	ok(aiofs_fs_os.Rmdir("/data/pd/a/b"), "rmdir")
	ok(aiofs_fs_files.WriteFile("/data/pd/gone.txt", []byte("x"), false), "write-file")
	ok(aiofs_fs_os.Remove("/data/pd/gone.txt"), "remove")
	fails(aiofs_fs_os.Remove("/data/pd/gone.txt"), types.ErrorCodeNoEntry, "remove twice")
	fails(aiofs_fs_os.Rmdir("/data/pd"), types.ErrorCodeNotEmpty, "rmdir non-empty")
}

func wholeFile() {
	check(string(ok(aiofs_fs_files.ReadFile("/data/hello.txt", 1024), "read-file")),
		"hello\nworld\n", "read-file")
	check(string(ok(aiofs_fs_files.ReadFile("hello.txt", 1024), "relative")),
		"hello\nworld\n", "relative path")
	fails(aiofs_fs_files.ReadFile("/data/hello.txt", 3), types.ErrorCodeFileTooLarge, "max")
	ok(aiofs_fs_files.WriteFile("/data/w.txt", []byte("plain"), false), "write-file")
	ok(aiofs_fs_files.WriteFile("/data/wa.txt", []byte("old"), true), "atomic")
	ok(aiofs_fs_files.WriteFile("/data/wa.txt", []byte("new content"), true), "atomic again")
	fails(aiofs_fs_files.WriteFile("/data/nodir/x", nil, true), types.ErrorCodeNoEntry,
		"no parent")
}

func temp() {
	opts := aiofs_fs_tempfile.TempOptions{
		Dir:    witTypes.None[string](),
		Prefix: witTypes.Some("t-"),
		Suffix: witTypes.Some(".tmp"),
	}
	anon := ok(aiofs_fs_tempfile.TemporaryFile("", opts), "temporary-file")
	ok(anon.Write([]byte("scratch")), "write")
	ok(anon.Seek(0, types.WhenceStart), "seek")
	check(string(ok(anon.ReadAll(), "read-all")), "scratch", "anonymous temp")
	anon.Drop()

	named := ok(aiofs_fs_tempfile.NamedTemporaryFile("w+", opts, true), "named-temporary-file")
	name := named.Name()
	check(strings.HasPrefix(name, "/data/t-") && strings.HasSuffix(name, ".tmp"), true, name)
	check(ok(aiofs_fs_path.IsFile(name), "is-file"), true, "named exists")
	ok(named.WriteText("named"), "write-text")
	ok(named.Close(), "close")
	check(ok(aiofs_fs_path.Exists(name), "exists"), false, "named removed on close")
	named.Drop()

	d := ok(aiofs_fs_tempfile.TemporaryDirectory(opts), "temporary-directory")
	ok(aiofs_fs_files.WriteFile(d.Path()+"/inner.txt", []byte("i"), false), "write inside")
	check(ok(aiofs_fs_path.IsDir(d.Path()), "is-dir"), true, "temp dir")
	ok(d.Cleanup(), "cleanup")
	check(ok(aiofs_fs_path.Exists(d.Path()), "exists"), false, "temp dir removed")
	d.Drop()
}

func escape() {
	np := types.ErrorCodeNotPermitted
	fails(aiofs_fs_files.ReadFile("/data/../outside/canary.txt", 100), np, "dot-dot")
	fails(aiofs_fs_files.Open("/data/escape-link", "rb"), np, "symlink out")
	fails(aiofs_fs_files.WriteFile("/data/escape-dir/new", []byte("x"), false), np,
		"write via link")
	fails(aiofs_fs_files.WriteFile("/ro/new.txt", []byte("x"), false), types.ErrorCodeReadOnly,
		"read-only")
}

// concurrentReads reads n files from n goroutines. With synchronously lowered imports
// each call blocks the whole guest, so the host sees them one at a time.
func concurrentReads(n int) {
	results := make([]witTypes.Result[[]uint8, types.ErrorCode], n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = aiofs_fs_files.ReadFile(fmt.Sprintf("/data/c%d.txt", i), 100)
		}()
	}
	wg.Wait()
	for i, r := range results {
		check(string(ok(r, "read")), fmt.Sprintf("file %d", i), fmt.Sprintf("c%d.txt", i))
	}
}

// Run is the `wasi:cli/run` export.
func Run() witTypes.Result[witTypes.Unit, witTypes.Unit] {
	name := ""
	if len(os.Args) > 1 {
		name = os.Args[1]
	}
	switch name {
	case "binary_io":
		binaryIO()
	case "text_io":
		textIO()
	case "dirs":
		dirs()
	case "whole_file":
		wholeFile()
	case "tempfile":
		temp()
	case "escape":
		escape()
	case "concurrent_reads":
		n, err := strconv.Atoi(os.Args[2])
		if err != nil {
			fail("bad count: %v", err)
		}
		concurrentReads(n)
	default:
		fail("unknown scenario %q", name)
	}
	fmt.Printf("scenario %s: ok\n", name)
	return witTypes.Ok[witTypes.Unit, witTypes.Unit](witTypes.Unit{})
}
