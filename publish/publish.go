// Package publish is mallet's commit protocol: how a run's uploaded files
// become visible to readers all at once, or not at all, and how the next
// run finishes or cleans up what a crashed one left. It knows the layout of
// a job's output, the state (the commit point), the lease, run manifests,
// symlink manifests and QuickSight manifests, and nothing of databases,
// queries or encoders: it works over a load.Store, so every step is
// testable on the local folder and on an S3 server without MariaDB.
//
// A run calls the steps in this order (docs/publishing.md tells what a
// reader sees between them and after a crash at each):
//
//  1. Lease: AcquireLease, then Lease.Keep renews it while the run goes.
//  2. State and roll forward: ReadState, then RollForward rewrites the
//     symlinks (and a CSV job's QuickSight manifests) of the last commit
//     if a crash left them behind.
//  3. (the caller plans its windows and uploads each one's parts, straight
//     to PartKey keys under RunDataPrefix: invisible until committed)
//  4. Run manifest: WriteRunManifest names everything the run wrote.
//  5. Verify: every part is stored with its size; then Lease.Renew.
//  6. Commit: State.Next records the run, Commit writes that state
//     conditionally on the one read in step 2.
//  7. Symlink: WriteSymlink makes the partition's symlink manifest list the
//     committed runs, and for CSV WriteQuickSight its QuickSight manifest
//     and latest.json; both derive them from the state stored at the
//     moment of the write (settle), never from the state the run committed.
//  8. Clean up: CleanUp deletes runs neither committed nor previous, and
//     aborts unfinished uploads of the shard's partition.
//  9. Release: Lease.Release.
//
// A run that fails before step 6 calls Discard to remove what it wrote.
package publish

import "fmt"

// Shard is shard K of N (1 <= K <= N); the zero value means no sharding.
// Each shard of a job has a state, a lease and symlink manifests of its
// own, and a folder of its own in each partition's data.
type Shard struct{ K, N int }

// String names the shard in keys and logs: "s2of4", or "" when unsharded.
func (s Shard) String() string {
	if s.N <= 1 {
		return ""
	}
	return fmt.Sprintf("s%dof%d", s.K, s.N)
}

// Dir names the shard in data and run manifest keys, and in
// RunManifest.Shard: "s2of4", or "all" when unsharded.
func (s Shard) Dir() string {
	if n := s.String(); n != "" {
		return n
	}
	return "all"
}

// ParseShardName is the inverse of Shard.String: "s2of4" is shard 2 of 4,
// "" (or anything else) no sharding.
func ParseShardName(name string) Shard {
	var s Shard
	if _, err := fmt.Sscanf(name, "s%dof%d", &s.K, &s.N); err != nil || s.K < 1 || s.K > s.N {
		return Shard{}
	}
	return s
}

// Object is one published file.
type Object struct {
	URI    string `json:"uri"`
	Key    string `json:"key"`
	Rows   int64  `json:"rows"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

// The layout under a job's output root (output.to), for job J, partition
// date D, shard S ("all" when unsharded) and run R; docs/publishing.md
// tells what a reader sees when.
//
//	J/data/dt=D/S/R/part[-S]-NNNNN.ext  data, written once, never replaced
//	J/symlinks/dt=D/manifest[-S]        what Athena reads: one data URI a line
//	J/_mallet/runs/dt=D/S/R.json        the run manifest
//	J/_mallet/state[-S].json            the commit point: cursors, committed runs
//	J/_mallet/lease[-S]                 who is running the job now
//	J/quicksight/dt=D.json, latest.json QuickSight's manifests (CSV output)
//
// The shard is a folder of its own under the data partition, so that one
// shard's clean-up (deleting and aborting under its prefix) never touches
// another shard's files while that shard runs.

// DataPrefix is the key prefix of a partition's data objects, all shards.
func DataPrefix(job, date string) string { return job + "/data/dt=" + date + "/" }

func shardDataPrefix(job, date string, s Shard) string {
	return DataPrefix(job, date) + s.Dir() + "/"
}

// RunDataPrefix is the folder of one run's data objects: nothing else is
// ever written under it.
func RunDataPrefix(job, date string, s Shard, runID string) string {
	return shardDataPrefix(job, date, s) + runID + "/"
}

// PartKey is the key of data part n of a run, with file extension ext: n is
// the tenant's index in the run's tenant order, or 0 for a run's single
// part.
func PartKey(job, date string, s Shard, runID string, n int, ext string) string {
	return SplitPartKey(job, date, s, runID, n, 0, ext)
}

// SplitPartKey is the key of the part number seq of a tenant that has parts
// of its own, more than one when it outgrows output.file_size: seq 0 is
// PartKey's, the next ones add "_001", "_002" and so on, which sort after it.
func SplitPartKey(job, date string, s Shard, runID string, n, seq int, ext string) string {
	name := "part-"
	if sn := s.String(); sn != "" {
		name += sn + "-"
	}
	name += fmt.Sprintf("%05d", n)
	if seq > 0 {
		name += fmt.Sprintf("_%03d", seq)
	}
	return RunDataPrefix(job, date, s, runID) + name + "." + ext
}

// SymlinksPrefix is the Athena table location: partition dt=D is the
// folder SymlinksPrefix(job)+"dt=D/", read with SymlinkTextInputFormat.
func SymlinksPrefix(job string) string { return job + "/symlinks/" }

// PartitionPrefix is the key prefix Athena reads for a partition: the
// folder of its symlink manifests (one per shard).
func PartitionPrefix(job, date string) string { return SymlinksPrefix(job) + "dt=" + date + "/" }

// SymlinkKey is the key of a partition's symlink manifest for shard s.
func SymlinkKey(job, date string, s Shard) string {
	if n := s.String(); n != "" {
		return PartitionPrefix(job, date) + "manifest-" + n
	}
	return PartitionPrefix(job, date) + "manifest"
}

// RunsPrefix is the key prefix of a job's run manifests.
func RunsPrefix(job string) string { return job + "/_mallet/runs/" }

func shardRunsPrefix(job, date string, s Shard) string {
	return RunsPrefix(job) + "dt=" + date + "/" + s.Dir() + "/"
}

// RunManifestKey is the key of a run's manifest.
func RunManifestKey(job, date string, s Shard, runID string) string {
	return shardRunsPrefix(job, date, s) + runID + ".json"
}

// StateKey is the key of the state of a job, or of one shard of it.
func StateKey(job string, s Shard) string {
	if n := s.String(); n != "" {
		return job + "/_mallet/state-" + n + ".json"
	}
	return job + "/_mallet/state.json"
}

// LeaseKey is the key of the lease of a job, or of one shard of it.
func LeaseKey(job string, s Shard) string {
	if n := s.String(); n != "" {
		return job + "/_mallet/lease-" + n
	}
	return job + "/_mallet/lease"
}
