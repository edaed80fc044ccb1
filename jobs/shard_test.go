package jobs_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/mallet-etl/mallet/extract"
	"github.com/mallet-etl/mallet/jobs"
)

func shardFleet(n int) []extract.Tenant {
	var list []extract.Tenant
	for i := range n {
		list = append(list, extract.Tenant{Server: fmt.Sprintf("db%d", i%3+1), Database: fmt.Sprintf("crm_t%05d", i)})
	}
	return list
}

// assignment maps each tenant to its shard, failing on a tenant in no shard
// or in two.
func assignment(t *testing.T, list []extract.Tenant, n int) map[string]int {
	t.Helper()
	got := map[string]int{}
	for k := 1; k <= n; k++ {
		for _, tn := range jobs.ShardTenants(list, jobs.Shard{K: k, N: n}) {
			if prev, ok := got[tn.String()]; ok {
				t.Fatalf("N=%d: %s is in shard %d and shard %d", n, tn, prev, k)
			}
			got[tn.String()] = k
		}
	}
	if len(got) != len(list) {
		t.Fatalf("N=%d: union of shards has %d tenants, want %d", n, len(got), len(list))
	}
	return got
}

func TestShardTenantsPartition(t *testing.T) {
	const total = 1000
	list := shardFleet(total)
	for n := 1; n <= 5; n++ {
		t.Run(fmt.Sprintf("N=%d", n), func(t *testing.T) {
			before := assignment(t, list, n)
			// Balance: every shard within 25% of its fair share.
			sizes := map[int]int{}
			for _, k := range before {
				sizes[k]++
			}
			for k := 1; k <= n; k++ {
				if fair := total / n; sizes[k] < fair*3/4 || sizes[k] > fair*5/4 {
					t.Errorf("shard %d/%d has %d tenants, want about %d", k, n, sizes[k], fair)
				}
			}
			// Order: each shard keeps the input order.
			for k := 1; k <= n; k++ {
				got := jobs.ShardTenants(list, jobs.Shard{K: k, N: n})
				for i := 1; i < len(got); i++ {
					if got[i-1].Database >= got[i].Database {
						t.Fatalf("shard %d/%d: %s before %s, want input order", k, n, got[i-1], got[i])
					}
				}
			}
			// Adding one tenant moves at most 2/N of the others (HRW: none).
			grown := append(append([]extract.Tenant(nil), list...), extract.Tenant{Server: "db9", Database: "crm_new"})
			after := assignment(t, grown, n)
			moved := 0
			for key, k := range before {
				if after[key] != k {
					moved++
				}
			}
			if limit := 2*total/n + 10; moved > limit {
				t.Errorf("adding one tenant moved %d of %d tenants, want at most %d", moved, total, limit)
			}
		})
	}
}

// Going from N to N+1 shards moves only tenants that land in the new shard.
func TestShardTenantsGrowN(t *testing.T) {
	list := shardFleet(1000)
	for n := 1; n < 5; n++ {
		before, after := assignment(t, list, n), assignment(t, list, n+1)
		moved := 0
		for key, k := range before {
			if after[key] != k {
				moved++
				if after[key] != n+1 {
					t.Errorf("N %d->%d: %s moved from shard %d to %d, want only moves to the new shard", n, n+1, key, k, after[key])
				}
			}
		}
		if want := 1000 / (n + 1); moved > want*5/4 {
			t.Errorf("N %d->%d: moved %d tenants, want about %d", n, n+1, moved, want)
		}
	}
}

func TestShardTenantsUnsharded(t *testing.T) {
	list := shardFleet(7)
	for _, s := range []jobs.Shard{{}, {K: 1, N: 1}} {
		if got := jobs.ShardTenants(list, s); len(got) != len(list) {
			t.Errorf("shard %+v: got %d tenants, want all %d", s, len(got), len(list))
		}
	}
}

func TestParseShard(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want jobs.Shard
		err  bool
	}{
		{in: "", want: jobs.Shard{}},
		{in: "1/1", want: jobs.Shard{K: 1, N: 1}},
		{in: "2/4", want: jobs.Shard{K: 2, N: 4}},
		{in: "4/4", want: jobs.Shard{K: 4, N: 4}},
		{in: "0/4", err: true},
		{in: "5/4", err: true},
		{in: "2", err: true},
		{in: "a/b", err: true},
		{in: "1/0", err: true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := jobs.ParseShard(tc.in)
			if (err != nil) != tc.err {
				t.Fatalf("ParseShard(%q): got error %v, want error %v", tc.in, err, tc.err)
			}
			if got != tc.want {
				t.Errorf("ParseShard(%q) = %+v, want %+v", tc.in, got, tc.want)
			}
		})
	}
	if got := (jobs.Shard{K: 2, N: 4}).String(); got != "s2of4" {
		t.Errorf("Shard{2,4}.String() = %q, want s2of4", got)
	}
}

func TestResolveShard(t *testing.T) {
	tests := []struct {
		name string
		in   string
		env  map[string]string
		want jobs.Shard
		err  string
	}{
		{"none", "", nil, jobs.Shard{}, ""},
		{"K/N", "2/4", map[string]string{"JOB_COMPLETION_INDEX": "0"}, jobs.Shard{K: 2, N: 4}, ""},
		{"kubernetes first index", "auto/4", map[string]string{"JOB_COMPLETION_INDEX": "0"}, jobs.Shard{K: 1, N: 4}, ""},
		{"kubernetes last index", "auto/4", map[string]string{"JOB_COMPLETION_INDEX": "3"}, jobs.Shard{K: 4, N: 4}, ""},
		{"batch", "auto/3", map[string]string{"AWS_BATCH_JOB_ARRAY_INDEX": "1"}, jobs.Shard{K: 2, N: 3}, ""},
		{"both agree", "auto/3", map[string]string{"JOB_COMPLETION_INDEX": "2", "AWS_BATCH_JOB_ARRAY_INDEX": "2"}, jobs.Shard{K: 3, N: 3}, ""},
		{"one shard", "auto/1", map[string]string{"JOB_COMPLETION_INDEX": "0"}, jobs.Shard{K: 1, N: 1}, ""},
		{"neither set", "auto/4", nil, jobs.Shard{}, "neither JOB_COMPLETION_INDEX (a Kubernetes Indexed Job) nor AWS_BATCH_JOB_ARRAY_INDEX (an AWS Batch array job) is set"},
		{"index equals N", "auto/4", map[string]string{"JOB_COMPLETION_INDEX": "4"}, jobs.Shard{}, `JOB_COMPLETION_INDEX="4" is not an index in 0..3: the job's completions or array size must be 4`},
		{"negative index", "auto/4", map[string]string{"AWS_BATCH_JOB_ARRAY_INDEX": "-1"}, jobs.Shard{}, `AWS_BATCH_JOB_ARRAY_INDEX="-1" is not an index in 0..3`},
		{"index not a number", "auto/4", map[string]string{"JOB_COMPLETION_INDEX": "x"}, jobs.Shard{}, "is not an index"},
		{"empty index", "auto/4", map[string]string{"JOB_COMPLETION_INDEX": ""}, jobs.Shard{}, "is not an index"},
		{"both disagree", "auto/4", map[string]string{"JOB_COMPLETION_INDEX": "1", "AWS_BATCH_JOB_ARRAY_INDEX": "2"}, jobs.Shard{}, "JOB_COMPLETION_INDEX=1 and AWS_BATCH_JOB_ARRAY_INDEX=2 disagree"},
		{"bad N", "auto/0", map[string]string{"JOB_COMPLETION_INDEX": "0"}, jobs.Shard{}, "want auto/N with N >= 1"},
		{"no N", "auto/", nil, jobs.Shard{}, "want auto/N"},
		{"auto alone", "auto", nil, jobs.Shard{}, "want K/N"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := jobs.ResolveShard(tt.in, func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok })
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("got %v, %v; want an error containing %q", got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}
