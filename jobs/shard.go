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
