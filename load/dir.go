package load

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Dir is a store in a local folder. Objects are regular files under the
// root; a key "a/b.csv" is the file root/a/b.csv. Files are created 0640
// and folders 0750, so the output is never world-readable.
//
// Writes go to a temp file beside the target (".mallet-tmp-<name>.<n>"),
// which is fsynced and renamed into place: readers see an object whole or
// not at all. The ETag is the hex SHA-256 of the content; Put records it,
// with the file's size and mtime, in the extended attribute
// user.mallet.sha256 so that Stat and List need not re-read big files
// (where the file system has no user xattrs, they hash the file instead).
//
// Unlike S3, a key cannot be both an object and a folder: with "a" stored,
// Put("a/b") fails. Like S3, which has no folders, the store shows no
// empty ones: Delete removes the folders it leaves empty, up to the root.
type Dir struct {
	root string // absolute and clean
}

const (
	tmpPrefix = reservedPrefix + "tmp-"
	lockName  = reservedPrefix + "lock"
	dirPerm   = 0o750
	filePerm  = 0o640
	etagXattr = "user.mallet.sha256"
	// maxTmpBase keeps temp file names under the usual 255-byte limit.
	maxTmpBase = 200
)

// NewDir returns a store rooted at the folder root, creating it (0750) if
// needed. An error means root could not be resolved or created.
func NewDir(root string) (*Dir, error) {
	if root == "" {
		return nil, errors.New("dir: empty root")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("dir: %s: %w", root, err)
	}
	if err := os.MkdirAll(abs, dirPerm); err != nil {
		return nil, fmt.Errorf("dir: %w", err)
	}
	return &Dir{root: abs}, nil
}

// URI returns "file:///abs/root/key", percent-encoded where needed.
func (d *Dir) URI(key string) string {
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(d.root) + "/" + key}
	return u.String()
}

func (d *Dir) path(key string) string { return filepath.Join(d.root, filepath.FromSlash(key)) }

func (d *Dir) errorf(op, key string, err error) error {
	return fmt.Errorf("dir: %s %s: %w", op, d.URI(key), bare(err))
}

// Put streams r into key, replacing any object there, and returns the
// number of bytes written. The file appears only once r is read to EOF and
// the data is on disk; when r fails or ctx is done first (ctx is checked
// between Reads, a blocked Read is not interrupted), the previous object
// stays and nothing else is left behind.
func (d *Dir) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	if err := checkKey(key); err != nil {
		return 0, d.errorf("put", key, err)
	}
	n, _, err := d.writeFile(ctx, key, hashing(r))
	if err != nil {
		return 0, d.errorf("put", key, err)
	}
	return n, nil
}

// WriteIf writes data to key if the condition holds: with ifMatch == "",
// only if key does not exist; otherwise only if key's current ETag is
// ifMatch. It returns the new ETag. When the condition fails, the error
// wraps ErrPrecondition. Conditional writes are serialised across
// processes by flock on the store's lock file; a plain Put or Delete of the
// same key does not take the lock.
func (d *Dir) WriteIf(ctx context.Context, key string, data []byte, ifMatch string) (string, error) {
	if err := checkKey(key); err != nil {
		return "", d.errorf("write", key, err)
	}
	unlock, err := d.lock(ctx)
	if err != nil {
		return "", d.errorf("write", key, err)
	}
	defer unlock()

	cur, err := hashFile(d.path(key))
	exists := err == nil
	if err != nil && !isNotExist(err) {
		return "", d.errorf("write", key, err)
	}
	switch {
	case ifMatch == "" && exists:
		return "", d.errorf("write", key, fmt.Errorf("%w: object exists", ErrPrecondition))
	case ifMatch != "" && !exists:
		return "", d.errorf("write", key, fmt.Errorf("%w: object does not exist", ErrPrecondition))
	case ifMatch != "" && cur != ifMatch:
		return "", d.errorf("write", key, fmt.Errorf("%w: etag is %s, not %s", ErrPrecondition, cur, ifMatch))
	}
	_, etag, err := d.writeFile(ctx, key, hashing(bytes.NewReader(data)))
	if err != nil {
		return "", d.errorf("write", key, err)
	}
	return etag, nil
}

// Get opens key for reading. The caller closes the reader. A missing key is
// an error wrapping fs.ErrNotExist.
func (d *Dir) Get(ctx context.Context, key string) (io.ReadCloser, Info, error) {
	if err := checkKey(key); err != nil {
		return nil, Info{}, d.errorf("get", key, err)
	}
	f, err := os.Open(d.path(key))
	if err != nil {
		return nil, Info{}, d.errorf("get", key, notExistIfNotDir(err))
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fs.ErrNotExist
	}
	var info Info
	if err == nil {
		info, err = d.info(key, f, fi)
	}
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return nil, Info{}, d.errorf("get", key, err)
	}
	return f, info, nil
}

// Stat describes key. A missing key is an error wrapping fs.ErrNotExist.
func (d *Dir) Stat(ctx context.Context, key string) (Info, error) {
	if err := checkKey(key); err != nil {
		return Info{}, d.errorf("stat", key, err)
	}
	info, err := d.stat(key)
	if err != nil {
		return Info{}, d.errorf("stat", key, err)
	}
	return info, nil
}

func (d *Dir) stat(key string) (Info, error) {
	f, err := os.Open(d.path(key))
	if err != nil {
		return Info{}, notExistIfNotDir(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Info{}, err
	}
	if !fi.Mode().IsRegular() {
		return Info{}, fs.ErrNotExist
	}
	return d.info(key, f, fi)
}

// List returns every object whose key starts with prefix, sorted by key.
// The store's own temp and lock files are never listed. A prefix matching
// nothing gives an empty list, not an error.
func (d *Dir) List(ctx context.Context, prefix string) ([]Info, error) {
	if err := checkPrefix(prefix); err != nil {
		return nil, d.errorf("list", prefix, err)
	}
	var out []Info
	err := d.walk(ctx, prefix, func(key string, de fs.DirEntry) error {
		if strings.HasPrefix(de.Name(), reservedPrefix) || !de.Type().IsRegular() {
			return nil
		}
		info, err := d.stat(key)
		if isNotExist(err) {
			return nil // removed while we walked
		}
		if err != nil {
			return err
		}
		out = append(out, info)
		return nil
	})
	if err != nil {
		return nil, d.errorf("list", prefix, err)
	}
	// A walk visits "a/b" before "a-c" but '-' sorts before '/'.
	slices.SortFunc(out, func(a, b Info) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

// walk calls fn for each file under the folder holding prefix whose key
// starts with prefix. It does not descend into folders that cannot match.
func (d *Dir) walk(ctx context.Context, prefix string, fn func(key string, de fs.DirEntry) error) error {
	base := prefix[:strings.LastIndex(prefix, "/")+1] // "" or "a/b/"
	start := d.path(strings.TrimSuffix(base, "/"))
	err := filepath.WalkDir(start, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			if isNotExist(notExistIfNotDir(err)) {
				return nil // no such folder, or removed while we walked
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(d.root, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if de.IsDir() {
			if p == start {
				return nil
			}
			// Descend only where keys can still start with prefix.
			if dir := key + "/"; !strings.HasPrefix(dir, prefix) && !strings.HasPrefix(prefix, dir) {
				return fs.SkipDir
			}
			return nil
		}
		if strings.HasPrefix(key, prefix) || strings.HasPrefix(de.Name(), tmpPrefix) {
			return fn(key, de)
		}
		return nil
	})
	return err
}

// Delete removes keys. Missing keys are not an error; the error joins one
// error per key that could not be removed.
func (d *Dir) Delete(ctx context.Context, keys ...string) error {
	var errs []error
	for _, key := range keys {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("dir: delete: %w", err)
		}
		if err := checkKey(key); err != nil {
			errs = append(errs, d.errorf("delete", key, err))
			continue
		}
		p := d.path(key)
		fi, err := os.Lstat(p)
		if err == nil && fi.IsDir() {
			continue // a folder is not an object
		}
		if err == nil {
			err = os.Remove(p)
		}
		if err != nil && !isNotExist(notExistIfNotDir(err)) {
			errs = append(errs, d.errorf("delete", key, err))
			continue
		}
		d.removeEmptyParents(filepath.Dir(p))
	}
	return errors.Join(errs...)
}

// removeEmptyParents removes dir and its parents while they are empty,
// stopping below the root: a clean-up that deletes old runs leaves no
// empty run folders behind. A folder that is not empty (or that a
// concurrent Put just filled) stops it; writeFile recreates a folder
// removed under it.
func (d *Dir) removeEmptyParents(dir string) {
	for dir != d.root && strings.HasPrefix(dir, d.root+string(filepath.Separator)) {
		if os.Remove(dir) != nil {
			return
		}
		dir = filepath.Dir(dir)
	}
}

// AbortIncomplete removes the temp files of unfinished writes under prefix,
// left by a process that died mid-Put. A Put in progress under prefix in
// another process fails, so call it only while no one else writes there.
func (d *Dir) AbortIncomplete(ctx context.Context, prefix string) error {
	if err := checkPrefix(prefix); err != nil {
		return d.errorf("abort", prefix, err)
	}
	var errs []error
	err := d.walk(ctx, prefix, func(key string, de fs.DirEntry) error {
		target, ok := tmpTarget(key)
		if !ok || !strings.HasPrefix(target, prefix) {
			return nil
		}
		if err := os.Remove(d.path(key)); err != nil && !isNotExist(err) {
			errs = append(errs, err)
		}
		return nil
	})
	if err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return d.errorf("abort", prefix, err)
	}
	return nil
}

// tmpTarget returns the key a temp file "dir/.mallet-tmp-<name>.<n>" was
// going to become.
func tmpTarget(key string) (string, bool) {
	dir, name := path.Split(key)
	rest, ok := strings.CutPrefix(name, tmpPrefix)
	if !ok {
		return "", false
	}
	i := strings.LastIndexByte(rest, '.')
	if i < 0 {
		return "", false
	}
	return dir + rest[:i], true
}

// writeFile streams m into a temp file beside key's file, fsyncs it and
// renames it over the key. It returns the size and hex SHA-256, the ETag,
// which m computed as it read: when m is an Upload's, the bytes are hashed
// once for both.
func (d *Dir) writeFile(ctx context.Context, key string, m *meter) (n int64, etag string, err error) {
	p := d.path(key)
	dir, base := filepath.Split(p)
	if len(base) > maxTmpBase {
		base = base[:maxTmpBase]
	}
	var f *os.File
	// A Delete that empties the folder removes it; between MkdirAll and
	// CreateTemp that can happen, so a vanished folder is made again.
	for attempt := 0; ; attempt++ {
		if err := os.MkdirAll(dir, dirPerm); err != nil {
			return 0, "", err
		}
		f, err = os.CreateTemp(dir, tmpPrefix+base+".*")
		if err == nil {
			break
		}
		if !isNotExist(err) || attempt == 10 {
			return 0, "", err
		}
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := f.Chmod(filePerm); err != nil {
		return 0, "", err
	}
	if n, err = io.Copy(f, &ctxReader{ctx: ctx, r: m}); err != nil {
		return 0, "", err
	}
	if err := f.Sync(); err != nil {
		return 0, "", err
	}
	etag = m.sum()
	if fi, err := f.Stat(); err == nil {
		// Best effort: without the cache, Stat and List hash the file.
		_ = unix.Fsetxattr(int(f.Fd()), etagXattr, []byte(xattrValue(fi, etag)), 0)
	}
	if err := f.Close(); err != nil {
		return 0, "", err
	}
	// The last chance to give up: after the rename the object is visible.
	if err := ctx.Err(); err != nil {
		return 0, "", err
	}
	if err := os.Rename(f.Name(), p); err != nil {
		return 0, "", err
	}
	return n, etag, syncDir(dir)
}

// info builds key's Info from the open file f and its fi, taking the ETag
// from the xattr cache when it matches fi's size and mtime, else hashing f.
// It leaves f's offset anywhere.
func (d *Dir) info(key string, f *os.File, fi fs.FileInfo) (Info, error) {
	info := Info{Key: key, Size: fi.Size(), Modified: fi.ModTime()}
	buf := make([]byte, 128)
	n, err := unix.Fgetxattr(int(f.Fd()), etagXattr, buf)
	if tag, ok := strings.CutPrefix(string(buf[:max(n, 0)]), xattrValue(fi, "")); err == nil && ok && len(tag) == sha256.Size*2 {
		info.ETag = tag
		return info, nil
	}
	info.ETag, err = hashReader(f)
	return info, err
}

// xattrValue ties a cached ETag to the file's size and mtime, so a file
// changed behind the store's back is hashed again.
func xattrValue(fi fs.FileInfo, etag string) string {
	return strconv.FormatInt(fi.Size(), 10) + ":" + strconv.FormatInt(fi.ModTime().UnixNano(), 10) + ":" + etag
}

func hashFile(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", notExistIfNotDir(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	if !fi.Mode().IsRegular() {
		return "", fs.ErrNotExist
	}
	return hashReader(f)
}

func hashReader(r io.Reader) (string, error) {
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// lock takes the store's exclusive flock, polling so that ctx can stop the
// wait. flock belongs to the open file, so two Dir values in one process
// exclude each other just as two processes do.
func (d *Dir) lock(ctx context.Context) (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(d.root, lockName), os.O_RDWR|os.O_CREATE, filePerm)
	if err != nil {
		return nil, err
	}
	fd := int(f.Fd())
	wait := time.Millisecond
	for {
		err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", f.Name(), err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 50*time.Millisecond)
	}
	return func() {
		unix.Flock(fd, unix.LOCK_UN)
		f.Close()
	}, nil
}

// syncDir fsyncs a folder so a rename in it survives a crash.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil && !errors.Is(err, unix.EINVAL) {
		return err
	}
	return nil
}

func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

// notExistIfNotDir maps ENOTDIR ("a/b" where a is a file) to not-exist: no
// object has that key.
func notExistIfNotDir(err error) error {
	if errors.Is(err, unix.ENOTDIR) {
		return fmt.Errorf("%w: %w", fs.ErrNotExist, bare(err))
	}
	return err
}

// bare strips the path from os errors: the message already names the URI.
func bare(err error) error {
	switch e := err.(type) {
	case *fs.PathError:
		return e.Err
	case *os.LinkError:
		return e.Err
	}
	return err
}
