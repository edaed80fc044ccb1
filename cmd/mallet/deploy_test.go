package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/mallet-etl/mallet/internal/testdb"
	"github.com/mallet-etl/mallet/jobs"
)

// The deploy/ examples are what an operator copies: they must parse, and
// agree with each other and with config.yaml on the names that matter.

func readJSON(t *testing.T, rel string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testdb.Root(), rel))
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("%s: invalid JSON: %v", rel, err)
	}
	return v
}

// dig walks a JSON value by keys and indexes ("0").
func dig(v any, path ...string) any {
	for _, p := range path {
		switch x := v.(type) {
		case map[string]any:
			v = x[p]
		case []any:
			i := 0
			for _, c := range p {
				i = i*10 + int(c-'0')
			}
			if i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

func str(v any, path ...string) string { s, _ := dig(v, path...).(string); return s }

func list(v any, path ...string) []any { l, _ := dig(v, path...).([]any); return l }

// strs returns a string or a list of strings as a list.
func strs(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			s, _ := e.(string)
			out = append(out, s)
		}
		return out
	}
	return nil
}

// arnMatch reports whether an IAM resource pattern (with * wildcards) covers arn.
func arnMatch(pattern, arn string) bool {
	re := "^" + strings.ReplaceAll(regexp.QuoteMeta(pattern), `\*`, ".*") + "$"
	return regexp.MustCompile(re).MatchString(arn)
}

// allowed reports whether some statement of policy allows action on resource
// (conditions aside).
func allowed(policy map[string]any, action, resource string) bool {
	for _, st := range list(policy, "Statement") {
		if str(st, "Effect") != "Allow" || !slices.Contains(strs(dig(st, "Action")), action) {
			continue
		}
		for _, r := range strs(dig(st, "Resource")) {
			if arnMatch(r, resource) {
				return true
			}
		}
	}
	return false
}

func TestDeployFilesAreValidJSON(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join(testdb.Root(), "deploy", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) < 4 {
		t.Fatalf("deploy/ has %d JSON files, want the task definition, schedules and policies", len(paths))
	}
	for _, p := range paths {
		rel, _ := filepath.Rel(testdb.Root(), p)
		t.Run(filepath.Base(p), func(t *testing.T) { readJSON(t, rel) })
	}
}

func TestDeployTaskDefinition(t *testing.T) {
	td := readJSON(t, "deploy/ecs-task-definition.json")
	c := dig(td, "containerDefinitions", "0")
	if c == nil {
		t.Fatal("no container definition")
	}
	if cmd := strs(dig(c, "command")); len(cmd) == 0 || cmd[0] != "schedule" {
		t.Errorf("command %v, want schedule ...", cmd)
	}
	if got := str(c, "logConfiguration", "logDriver"); got != "awslogs" {
		t.Errorf("logDriver %q, want awslogs", got)
	}
	for _, opt := range []string{"awslogs-group", "awslogs-region", "awslogs-stream-prefix"} {
		if str(c, "logConfiguration", "options", opt) == "" {
			t.Errorf("awslogs option %s missing", opt)
		}
	}
	// ECS sends SIGKILL stopTimeout after SIGTERM: it must exceed the
	// default --shutdown-timeout (25 s) so cancelled runs can clean up.
	if st, _ := dig(c, "stopTimeout").(float64); st < 30 {
		t.Errorf("stopTimeout %v, want at least 30", st)
	}
	if u := str(c, "user"); u == "" || u == "0" || strings.HasPrefix(u, "root") || strings.HasPrefix(u, "0:") {
		t.Errorf("user %q, want a non-root uid", u)
	}
	injected := map[string]bool{}
	for _, e := range list(c, "environment") {
		name := str(e, "name")
		if strings.Contains(name, "DSN") || strings.Contains(name, "PASSWORD") {
			t.Errorf("environment %s holds a secret in plain text: use secrets", name)
		}
		injected[name] = true
	}
	secrets := list(c, "secrets")
	if len(secrets) == 0 {
		t.Error("no secrets: the database DSNs come from Secrets Manager")
	}
	exec := readJSON(t, "deploy/iam-execution-policy.json")
	for _, s := range secrets {
		from := str(s, "valueFrom")
		if !strings.HasPrefix(from, "arn:aws:secretsmanager:") {
			t.Errorf("secret %s from %q, want a Secrets Manager ARN", str(s, "name"), from)
		}
		// valueFrom may add ":json-key:version-stage:version-id" to the ARN.
		arn := from
		if parts := strings.Split(from, ":"); len(parts) > 7 {
			arn = strings.Join(parts[:7], ":")
		}
		if !allowed(exec, "secretsmanager:GetSecretValue", arn) {
			t.Errorf("the execution role may not read secret %s", from)
		}
		injected[str(s, "name")] = true
	}
	// Every variable config.yaml needs without a default is injected.
	cfg, err := os.ReadFile(filepath.Join(testdb.Root(), "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`).FindAllStringSubmatch(string(cfg), -1) {
		if !injected[m[1]] {
			t.Errorf("config.yaml needs ${%s}, which the task definition neither sets nor injects", m[1])
		}
	}
	// The task role may write where the task writes.
	task := readJSON(t, "deploy/iam-task-policy.json")
	var out string
	for _, e := range list(c, "environment") {
		if str(e, "name") == "MALLET_OUTPUT" {
			out = str(e, "value")
		}
	}
	bucket, prefix, ok := strings.Cut(strings.TrimPrefix(out, "s3://"), "/")
	if !ok || !strings.HasPrefix(out, "s3://") {
		t.Fatalf("MALLET_OUTPUT %q, want s3://bucket/prefix", out)
	}
	obj := "arn:aws:s3:::" + bucket + "/" + prefix + "/mail_send_counts/_mallet/state.json"
	for _, a := range []string{"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"} {
		if !allowed(task, a, obj) {
			t.Errorf("the task role may not %s %s", a, obj)
		}
	}
	for _, a := range []string{"s3:ListBucket", "s3:ListBucketMultipartUploads"} {
		if !allowed(task, a, "arn:aws:s3:::"+bucket) {
			t.Errorf("the task role may not %s on %s", a, bucket)
		}
	}
	for _, st := range list(task, "Statement") {
		for _, a := range strs(dig(st, "Action")) {
			if a == "*" || strings.HasSuffix(a, ":*") {
				t.Errorf("task policy allows %s: least privilege names actions", a)
			}
		}
		for _, r := range strs(dig(st, "Resource")) {
			if strings.HasPrefix(r, "arn:aws:s3:::") && (r == "arn:aws:s3:::*" || strings.HasSuffix(r, bucket+"/*")) {
				t.Errorf("task policy resource %s covers more than the output prefix", r)
			}
		}
	}
	// The scheduler's role may pass both task roles.
	sched := readJSON(t, "deploy/iam-scheduler-policy.json")
	for _, role := range []string{str(td, "executionRoleArn"), str(td, "taskRoleArn")} {
		if !allowed(sched, "iam:PassRole", role) {
			t.Errorf("the scheduler role may not pass %s", role)
		}
	}
}

func TestDeploySchedules(t *testing.T) {
	td := readJSON(t, "deploy/ecs-task-definition.json")
	container := str(td, "containerDefinitions", "0", "name")
	cfg, err := os.ReadFile(filepath.Join(testdb.Root(), "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		file  string
		shard bool
	}{
		{"deploy/eventbridge-scheduler.json", false},
		{"deploy/eventbridge-scheduler-shard.json", true},
	} {
		t.Run(filepath.Base(tc.file), func(t *testing.T) {
			s := readJSON(t, tc.file)
			if e := str(s, "ScheduleExpression"); !strings.HasPrefix(e, "cron(") && !strings.HasPrefix(e, "rate(") {
				t.Errorf("ScheduleExpression %q, want cron(...) or rate(...)", e)
			}
			if str(s, "ScheduleExpressionTimezone") == "" {
				t.Error("no ScheduleExpressionTimezone: cron() would run in UTC")
			}
			if !strings.HasSuffix(str(s, "Target", "EcsParameters", "TaskDefinitionArn"), "task-definition/"+str(td, "family")) {
				t.Errorf("TaskDefinitionArn %q is not family %s", str(s, "Target", "EcsParameters", "TaskDefinitionArn"), str(td, "family"))
			}
			var input map[string]any
			if err := json.Unmarshal([]byte(str(s, "Target", "Input")), &input); err != nil {
				t.Fatalf("Target.Input: invalid JSON: %v", err)
			}
			o := dig(input, "containerOverrides", "0")
			if str(o, "name") != container {
				t.Errorf("override for container %q, want %q", str(o, "name"), container)
			}
			cmd := strs(dig(o, "command"))
			if len(cmd) < 3 || cmd[0] != "run" || cmd[1] != "job" {
				t.Fatalf("command %v, want run job NAME", cmd)
			}
			if !regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(cmd[2]) + `:`).Match(cfg) {
				t.Errorf("job %s is not in config.yaml", cmd[2])
			}
			var shard string
			for _, e := range list(o, "environment") {
				if str(e, "name") == "MALLET_SHARD" {
					shard = str(e, "value")
				}
			}
			if sh, err := jobs.ParseShard(shard); err != nil || (sh.N > 1) != tc.shard {
				t.Errorf("MALLET_SHARD %q (%v), want sharded: %v", shard, err, tc.shard)
			}
		})
	}
}

// TestDeployCatalogPolicy checks the task role's Glue and QuickSight
// statements: the exact actions mallet calls, on the tables of
// config.yaml's jobs and the documented dataset, and nothing wider than
// mallet's database and those datasets.
func TestDeployCatalogPolicy(t *testing.T) {
	task := readJSON(t, "deploy/iam-task-policy.json")
	cfg, _ := shippedConfig(t)
	const region, account = "ap-northeast-1", "123456789012"
	glueARN := func(kind, name string) string {
		return "arn:aws:glue:" + region + ":" + account + ":" + kind + name
	}
	datasets := []string{"mail-send-counts"} // the example in docs/athena.md
	for _, name := range cfg.JobNames() {
		job := cfg.Jobs[name]
		db := job.Athena.Database
		tables := []string{job.Athena.Table}
		if job.Output.Format != "parquet" {
			tables = append(tables, job.Athena.Table+"_raw") // the view is read, the raw table written
		}
		for _, a := range []string{"glue:GetDatabase", "glue:CreateDatabase"} {
			for _, r := range []string{glueARN("catalog", ""), glueARN("database/", db)} {
				if !allowed(task, a, r) {
					t.Errorf("job %s: the task role may not %s on %s", name, a, r)
				}
			}
		}
		for _, tbl := range tables {
			for _, a := range []string{"glue:GetTable", "glue:CreateTable", "glue:UpdateTable"} {
				for _, r := range []string{glueARN("catalog", ""), glueARN("database/", db), glueARN("table/", db+"/"+tbl)} {
					if !allowed(task, a, r) {
						t.Errorf("job %s: the task role may not %s on %s", name, a, r)
					}
				}
			}
		}
		datasets = append(datasets, job.QuickSight.Datasets...)
	}
	for _, ds := range datasets {
		for _, a := range []string{"quicksight:CreateIngestion", "quicksight:DescribeIngestion"} {
			r := "arn:aws:quicksight:" + region + ":" + account + ":dataset/" + ds + "/ingestion/mallet-20261125T183000Z-0a1b2c3d"
			if !allowed(task, a, r) {
				t.Errorf("the task role may not %s on %s", a, r)
			}
		}
	}
	want := map[string]bool{"glue:GetDatabase": true, "glue:CreateDatabase": true, "glue:GetTable": true, "glue:CreateTable": true,
		"glue:UpdateTable": true, "quicksight:CreateIngestion": true, "quicksight:DescribeIngestion": true}
	for _, st := range list(task, "Statement") {
		for _, a := range strs(dig(st, "Action")) {
			if (strings.HasPrefix(a, "glue:") || strings.HasPrefix(a, "quicksight:")) && !want[a] {
				t.Errorf("task policy allows %s, which mallet does not call", a)
			}
		}
		for _, r := range strs(dig(st, "Resource")) {
			if strings.HasPrefix(r, "arn:aws:glue:") && (strings.HasSuffix(r, ":table/*") || strings.HasSuffix(r, ":database/*") || strings.Contains(r, "table/*/")) {
				t.Errorf("task policy resource %s covers other databases", r)
			}
			if strings.HasPrefix(r, "arn:aws:quicksight:") && strings.Contains(r, "dataset/*") {
				t.Errorf("task policy resource %s covers every dataset", r)
			}
		}
	}
}
