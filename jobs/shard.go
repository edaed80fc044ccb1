package jobs

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"

	"github.com/mallet-etl/mallet/extract"
)

// ParseShard parses "K/N" (1 <= K <= N); "" is the zero Shard, no sharding.
// Errors name the mistake in the text.
func ParseShard(s string) (Shard, error) {
	if s == "" {
		return Shard{}, nil
	}
	ks, ns, ok := strings.Cut(s, "/")
	k, errK := strconv.Atoi(strings.TrimSpace(ks))
	n, errN := strconv.Atoi(strings.TrimSpace(ns))
	switch {
	case !ok || errK != nil || errN != nil:
		return Shard{}, fmt.Errorf("shard %q: want K/N, such as 2/4", s)
	case n < 1 || k < 1 || k > n:
		return Shard{}, fmt.Errorf("shard %q: want 1 <= K <= N", s)
	}
	return Shard{K: k, N: n}, nil
}

// ShardIndexEnv are the environment variables that hand a task its 0-based
// index among N, in the order ResolveShard reads them: a Kubernetes Indexed
// Job's completion index, an AWS Batch array job's child index.
var ShardIndexEnv = []string{"JOB_COMPLETION_INDEX", "AWS_BATCH_JOB_ARRAY_INDEX"}

// ResolveShard parses a shard as ParseShard does, and also "auto/N": shard
// K of N where K is 1 + the 0-based index the platform gives the task in
// the first of ShardIndexEnv that lookup finds. It fails, naming the
// variables, when neither is set, when the index is not a number in
// 0..N-1, or when both are set and disagree.
func ResolveShard(s string, lookup func(string) (string, bool)) (Shard, error) {
	ns, ok := strings.CutPrefix(strings.TrimSpace(s), "auto/")
	if !ok {
		return ParseShard(s)
	}
	n, err := strconv.Atoi(strings.TrimSpace(ns))
	if err != nil || n < 1 {
		return Shard{}, fmt.Errorf("shard %q: want auto/N with N >= 1, such as auto/4", s)
	}
	from, index := "", ""
	for _, name := range ShardIndexEnv {
		v, set := lookup(name)
		if !set {
			continue
		}
		if from != "" && strings.TrimSpace(v) != index {
			return Shard{}, fmt.Errorf("shard %q: %s=%s and %s=%s disagree", s, from, index, name, v)
		}
		if from == "" {
			from, index = name, strings.TrimSpace(v)
		}
	}
	if from == "" {
		return Shard{}, fmt.Errorf("shard %q: neither %s (a Kubernetes Indexed Job) nor %s (an AWS Batch array job) is set: run it as one of those, or give K/N", s, ShardIndexEnv[0], ShardIndexEnv[1])
	}
	i, err := strconv.Atoi(index)
	if err != nil || i < 0 || i >= n {
		return Shard{}, fmt.Errorf("shard %q: %s=%q is not an index in 0..%d: the job's completions or array size must be %d", s, from, index, n-1, n)
	}
	return Shard{K: i + 1, N: n}, nil
}

// ShardTenants returns the tenants that belong to shard s, in their order;
// with N <= 1, every tenant.
//
// A tenant belongs to the shard with the highest score for it (rendezvous,
// or highest-random-weight, hashing on "server/database"). The choice depends
// on the tenant and N only: for a given N every tenant is in exactly one
// shard, and adding or removing a tenant never moves another one. Going from
// N to N+1 shards moves about 1/(N+1) of the tenants, all to the new shard.
func ShardTenants(list []extract.Tenant, s Shard) []extract.Tenant {
	if s.N <= 1 {
		return list
	}
	var out []extract.Tenant
	for _, t := range list {
		if ShardOf(t, s.N) == s.K {
			out = append(out, t)
		}
	}
	return out
}

// ShardOf returns the shard, 1..n, that tenant t belongs to among n shards.
func ShardOf(t extract.Tenant, n int) int {
	if n <= 1 {
		return 1
	}
	h := fnv.New64a()
	h.Write([]byte(t.Server))
	h.Write([]byte{'/'})
	h.Write([]byte(t.Database))
	key := h.Sum64()
	best, bestScore := 1, uint64(0)
	for k := 1; k <= n; k++ {
		// FNV alone mixes its last bytes poorly; splitmix64's finalizer over
		// the key and the shard number gives independent, uniform scores.
		score := mix64(key ^ mix64(uint64(k)))
		if k == 1 || score > bestScore {
			best, bestScore = k, score
		}
	}
	return best
}

// mix64 is the splitmix64 finalizer.
func mix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
