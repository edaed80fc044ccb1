package publish

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/mallet-etl/mallet/load"
)

// ErrLocked is wrapped by the error of a run that did not start because
// another run of the same job (and shard) holds the job's lease, in this
// container or another. Nothing was read or written; main exits 4.
var ErrLocked = errors.New("job is locked by another run")

// ErrLeaseLost is the cause a run is cancelled with when it could not
// renew its lease before the lease expired: another run may take the job
// over, so this one must not commit.
var ErrLeaseLost = errors.New("lease lost")

// LeaseInfo is the content of a lease object.
type LeaseInfo struct {
	Holder   string    `json:"holder"` // random per run
	Host     string    `json:"host"`
	PID      int       `json:"pid"`
	Job      string    `json:"job"`
	Shard    string    `json:"shard,omitempty"`
	Acquired time.Time `json:"acquired"`
	Expires  time.Time `json:"expires"`
	// Released is when the holder gave the lease up at the end of its run
	// (then Expires is the same instant); zero while held, and for a lease
	// its holder never released (it crashed or was killed).
	Released time.Time `json:"released,omitzero"`
}

// Expired reports whether the lease is free at now.
func (l LeaseInfo) Expired(now time.Time) bool { return !now.Before(l.Expires) }

// Lease is a held lease: while it is held, no other run of the job (or
// shard) starts, and only its holder commits and cleans up. The holder
// renews it every ttl/3 with a write conditional on the ETag it wrote
// last, so a renewal after someone else took the lease over fails.
type Lease struct {
	st   load.Store
	key  string
	ttl  time.Duration
	info LeaseInfo
	log  *slog.Logger

	mu   sync.Mutex
	etag string
	lost error

	stop chan struct{}
	done chan struct{}
}

// ReadLease returns a job's (or shard's) lease and its ETag, ok false when
// none was ever taken. A damaged lease reads as an expired one. Errors are
// the store's.
func ReadLease(ctx context.Context, st load.Store, job string, s Shard) (info LeaseInfo, etag string, ok bool, err error) {
	rc, meta, err := st.Get(ctx, LeaseKey(job, s))
	if errors.Is(err, fs.ErrNotExist) {
		return LeaseInfo{}, "", false, nil
	}
	if err != nil {
		return LeaseInfo{}, "", false, fmt.Errorf("read lease: %w", err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return LeaseInfo{}, "", false, fmt.Errorf("read lease: %w", err)
	}
	if err := json.Unmarshal(data, &info); err != nil {
		// A damaged lease is treated as expired: it can be taken over.
		return LeaseInfo{}, meta.ETag, true, nil
	}
	return info, meta.ETag, true, nil
}

// AcquireLease takes the job's lease for ttl: it creates the lease object
// if there is none, or replaces an expired one conditionally on its ETag.
// A live lease of another holder gives an error wrapping ErrLocked; other
// errors are the store's. log receives take-overs and renewal trouble.
func AcquireLease(ctx context.Context, st load.Store, job string, s Shard, ttl time.Duration, log *slog.Logger) (*Lease, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	host, _ := os.Hostname()
	var b [8]byte
	_, _ = rand.Read(b[:])
	l := &Lease{
		st: st, key: LeaseKey(job, s), ttl: ttl, log: log,
		info: LeaseInfo{Holder: hex.EncodeToString(b[:]), Host: host, PID: os.Getpid(), Job: job, Shard: s.String()},
	}
	for attempt := 0; ; attempt++ {
		cur, etag, exists, err := ReadLease(ctx, st, job, s)
		if err != nil {
			return nil, err
		}
		now := time.Now()
		if exists && !cur.Expired(now) {
			return nil, fmt.Errorf("job %s: lease %s is held by %s on host %s (pid %d) until %s: %w",
				job, st.URI(l.key), cur.Holder, cur.Host, cur.PID, cur.Expires.UTC().Format(time.RFC3339), ErrLocked)
		}
		l.info.Acquired = now.UTC()
		ifMatch := ""
		if exists {
			ifMatch = etag
		}
		err = l.write(ctx, ifMatch)
		if err == nil {
			switch {
			case !exists || !cur.Released.IsZero():
				// The ordinary case: the previous run released it.
				log.Debug("lease acquired", "job", job, "key", st.URI(l.key))
			case cur.Holder == "":
				log.Warn("lease taken over: the lease object was unreadable", "job", job, "key", st.URI(l.key))
			default:
				// Its holder stopped without releasing it (crash, kill,
				// lost container) and it ran out: crash recovery.
				log.Warn("lease taken over from a run that never released it", "job", job, "key", st.URI(l.key),
					"holder", cur.Holder, "host", cur.Host, "pid", cur.PID, "acquired", cur.Acquired,
					"expired", cur.Expires, "stale", now.Sub(cur.Expires).Round(time.Second))
			}
			l.abortUnfinished(ctx, job, s)
			return l, nil
		}
		if !errors.Is(err, load.ErrPrecondition) || attempt >= 2 {
			return nil, err
		}
		// Someone else wrote the lease between our read and write: look
		// again; it is most likely theirs now.
	}
}

// abortUnfinished removes what a holder killed while writing the lease or
// the state left behind (the local folder's temp files; S3's conditional
// writes are single PUTs and leave nothing): only the holder writes them,
// so nothing in flight is lost. (The unsharded lease key is also a prefix
// of the shards' lease keys, so a shard's renewal in flight at this moment
// may fail once, and is retried.) A failure is logged: what is left is
// only clutter.
func (l *Lease) abortUnfinished(ctx context.Context, job string, s Shard) {
	for _, key := range []string{l.key, StateKey(job, s)} {
		if err := l.st.AbortIncomplete(ctx, key); err != nil {
			l.log.Warn("remove unfinished writes", "job", job, "key", l.st.URI(key), "error", err)
		}
	}
}

// write writes the lease with a new expiry, conditionally on ifMatch ("":
// must not exist), and records the new ETag.
func (l *Lease) write(ctx context.Context, ifMatch string) error {
	info := l.info
	info.Expires = time.Now().Add(l.ttl).UTC()
	data, err := json.Marshal(info)
	if err != nil {
		return err
	}
	etag, err := l.st.WriteIf(ctx, l.key, data, ifMatch)
	if errors.Is(err, load.ErrPrecondition) {
		if same, _ := sameContent(ctx, l.st, l.key, data); same != "" {
			etag, err = same, nil
		}
	}
	if err != nil {
		return fmt.Errorf("lease %s: %w", l.st.URI(l.key), err)
	}
	l.etag = etag
	l.info.Expires = info.Expires
	return nil
}

// Renew extends the lease; after a failure that leaves the lease lost
// (someone else wrote it, or it expired before a renewal got through) it
// returns an error wrapping ErrLeaseLost, and keeps returning it. Other
// errors are transient: the lease is still held until it expires. A run
// renews just before it commits and before it cleans up.
func (l *Lease) Renew(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lost != nil {
		return l.lost
	}
	err := l.write(ctx, l.etag)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, load.ErrPrecondition) || !time.Now().Before(l.info.Expires):
		l.lost = fmt.Errorf("%w: %w", ErrLeaseLost, err)
		return l.lost
	}
	return err // transient: the lease is still ours until it expires
}

// Keep renews the lease every ttl/3 until Release, and calls cancel with
// ErrLeaseLost if it is lost. The goroutine belongs to the lease: Release
// stops it and waits for it. Call it at most once.
func (l *Lease) Keep(ctx context.Context, cancel context.CancelCauseFunc) {
	l.stop, l.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(l.done)
		t := time.NewTicker(l.ttl / 3)
		defer t.Stop()
		for {
			select {
			case <-l.stop:
				return
			case <-t.C:
			}
			rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), l.ttl/3)
			err := l.Renew(rctx)
			rcancel()
			if errors.Is(err, ErrLeaseLost) {
				l.log.Error("lease lost: cancelling the run", "job", l.info.Job, "key", l.st.URI(l.key), "error", err)
				cancel(err)
				return
			}
			if err != nil {
				l.log.Warn("lease renewal failed, will retry", "job", l.info.Job, "key", l.st.URI(l.key), "error", err)
			}
		}
	}()
}

// Release stops the renewals and marks the lease released and expired (a
// conditional write, so a lease someone else took over is left alone). It runs even
// when ctx is cancelled, bounded by 10 s; a failure is logged, not
// returned: the lease then expires by itself.
func (l *Lease) Release(ctx context.Context) {
	if l.stop != nil {
		close(l.stop)
		<-l.done
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lost != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	info := l.info
	info.Expires = time.Now().UTC()
	info.Released = info.Expires
	data, err := json.Marshal(info)
	if err == nil {
		_, err = l.st.WriteIf(ctx, l.key, data, l.etag)
	}
	if err != nil {
		l.log.Warn("release lease (it expires by itself)", "job", l.info.Job, "key", l.st.URI(l.key), "error", err)
	}
}
