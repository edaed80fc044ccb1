package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/mallet-etl/mallet/config"
	"github.com/mallet-etl/mallet/internal/testdb"
	"github.com/mallet-etl/mallet/jobs"
)

// The Kubernetes CronJob and the AWS Batch job definition run sharded
// `run job` tasks that take their shard from the platform's index. They
// are checked like the ECS files: they parse, they run a job of
// config.yaml on its schedule, every shard runs exactly once, secrets come
// from secret stores, the container is not root, and memory follows the
// README's bound.

// shippedConfig parses the repository's config.yaml with a stand-in DSN.
func shippedConfig(t *testing.T) (*config.Config, []byte) {
	t.Helper()
	path := filepath.Join(testdb.Root(), "config.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(path, data, func(k string) (string, bool) {
		return map[string]string{"CRM_DB1_DSN": "u:p@tcp(db1:3306)/"}[k], k == "CRM_DB1_DSN"
	})
	if err != nil {
		t.Fatal(err)
	}
	return cfg, data
}

// neededVars are the variables config.yaml reads without a default.
func neededVars(raw []byte) []string {
	var out []string
	for _, m := range regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`).FindAllSubmatch(raw, -1) {
		out = append(out, string(m[1]))
	}
	return out
}

// minMemoryMiB is the memory one `run job` needs at most, after README's
// "Resource bounds": per tenant extracted at once, an S3 upload's part
// buffers (5 MiB x 4) and one Parquet row group (at most 64 MiB), plus 64
// MiB for the runtime, the driver and the rest.
func minMemoryMiB(concurrency int) int { return concurrency*(20+64) + 64 }

// parseMiB reads a Kubernetes quantity (Mi, Gi) or a GOMEMLIMIT value
// (MiB, GiB) as MiB.
func parseMiB(t *testing.T, s string) int {
	t.Helper()
	for suffix, mul := range map[string]int{"MiB": 1, "Mi": 1, "GiB": 1024, "Gi": 1024} {
		if n, ok := strings.CutSuffix(s, suffix); ok {
			v, err := strconv.Atoi(n)
			if err == nil {
				return v * mul
			}
		}
	}
	t.Fatalf("memory %q: want a number of Mi, Gi, MiB or GiB", s)
	return 0
}

// checkRunJob checks a `run job` command line against config.yaml and
// returns the job.
func checkRunJob(t *testing.T, cfg *config.Config, args []string) *config.Job {
	t.Helper()
	if len(args) < 3 || args[0] != "run" || args[1] != "job" {
		t.Fatalf("command %v, want run job NAME", args)
	}
	job, ok := cfg.Jobs[args[2]]
	if !ok {
		t.Fatalf("job %s is not in config.yaml", args[2])
	}
	return job
}

// checkShards resolves MALLET_SHARD for every index 0..n-1 the platform
// hands out and wants shards 1..n of n, each once, and an error past them.
func checkShards(t *testing.T, shard, indexVar string, n int) {
	t.Helper()
	if n < 2 {
		t.Errorf("%d tasks: want at least 2 for a sharded example", n)
	}
	for i := 0; i <= n; i++ {
		got, err := jobs.ResolveShard(shard, func(k string) (string, bool) { return strconv.Itoa(i), k == indexVar })
		if i == n {
			if err == nil {
				t.Errorf("MALLET_SHARD %q with %s=%d: got shard %v, want an error (only %d tasks)", shard, indexVar, i, got, n)
			}
			continue
		}
		if err != nil || got != (jobs.Shard{K: i + 1, N: n}) {
			t.Errorf("MALLET_SHARD %q with %s=%d: got %v, %v; want shard %d/%d", shard, indexVar, i, got, err, i+1, n)
		}
	}
}

// checkGoMemLimit wants GOMEMLIMIT between 70 % and 90 % of the memory
// limit: the collector works harder near it instead of the process being
// killed.
func checkGoMemLimit(t *testing.T, goMemLimit string, limitMiB int) {
	t.Helper()
	if goMemLimit == "" {
		t.Error("no GOMEMLIMIT")
		return
	}
	if g := parseMiB(t, goMemLimit); g < limitMiB*7/10 || g > limitMiB*9/10 {
		t.Errorf("GOMEMLIMIT %s is not 70-90 %% of the memory limit %d MiB", goMemLimit, limitMiB)
	}
}

func TestDeployKubernetesCronJob(t *testing.T) {
	cfg, raw := shippedConfig(t)
	data, err := os.ReadFile(filepath.Join(testdb.Root(), "deploy", "kubernetes", "cronjob.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	docs := map[string]map[string]any{}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc map[string]any
		if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("cronjob.yaml: %v", err)
		}
		docs[str(doc, "kind")] = doc
	}
	cj := docs["CronJob"]
	if cj == nil || str(cj, "apiVersion") != "batch/v1" {
		t.Fatalf("no batch/v1 CronJob in cronjob.yaml (kinds: %v)", docs)
	}
	spec := dig(cj, "spec")
	if got := str(spec, "concurrencyPolicy"); got != "Forbid" {
		t.Errorf("concurrencyPolicy %q, want Forbid: a late run must not overlap the next", got)
	}
	job := dig(spec, "jobTemplate", "spec")
	if got := str(job, "completionMode"); got != "Indexed" {
		t.Errorf("completionMode %q, want Indexed: pods get JOB_COMPLETION_INDEX", got)
	}
	completions, _ := dig(job, "completions").(int)
	if parallelism, _ := dig(job, "parallelism").(int); parallelism != completions {
		t.Errorf("parallelism %d, completions %d: want all shards at once", parallelism, completions)
	}
	if dig(job, "backoffLimitPerIndex") == nil {
		t.Error("no backoffLimitPerIndex: one failed shard would end the others")
	}
	pod := dig(job, "template", "spec")
	if got := str(pod, "restartPolicy"); got != "Never" {
		t.Errorf("restartPolicy %q, want Never", got)
	}
	if g, _ := dig(pod, "terminationGracePeriodSeconds").(int); g < 30 {
		t.Errorf("terminationGracePeriodSeconds %d, want at least 30 (--shutdown-timeout is 25 s)", g)
	}
	if dig(pod, "securityContext", "runAsNonRoot") != true {
		t.Error("securityContext.runAsNonRoot is not true")
	}
	if uid, _ := dig(pod, "securityContext", "runAsUser").(int); uid == 0 {
		t.Error("runAsUser is 0 or missing: want the image's unprivileged uid")
	}
	if sa := str(pod, "serviceAccountName"); sa == "" || docs["ServiceAccount"] == nil || str(docs["ServiceAccount"], "metadata", "name") != sa {
		t.Errorf("service account %q is not defined in the file", sa)
	}
	c := dig(pod, "containers", "0")
	if dig(c, "securityContext", "readOnlyRootFilesystem") != true || dig(c, "securityContext", "allowPrivilegeEscalation") != false {
		t.Error("container securityContext: want readOnlyRootFilesystem true, allowPrivilegeEscalation false")
	}
	mjob := checkRunJob(t, cfg, strs(dig(c, "args")))
	if got, want := str(spec, "schedule"), mjob.Schedule; got != want {
		t.Errorf("schedule %q, want the job's %q", got, want)
	}
	if got, want := str(spec, "timeZone"), mjob.Location.String(); got != want {
		t.Errorf("timeZone %q, want the job's %q", got, want)
	}
	env := map[string]string{}
	for _, e := range list(c, "env") {
		name := str(e, "name")
		if v, ok := dig(e, "value").(string); ok {
			if strings.Contains(name, "DSN") || strings.Contains(name, "PASSWORD") {
				t.Errorf("env %s holds a secret in plain text: use secretKeyRef", name)
			}
			env[name] = v
			continue
		}
		if str(e, "valueFrom", "secretKeyRef", "name") == "" || str(e, "valueFrom", "secretKeyRef", "key") == "" {
			t.Errorf("env %s: want a value or a secretKeyRef", name)
		}
		env[name] = "(secret)"
	}
	for _, v := range neededVars(raw) {
		if env[v] == "" {
			t.Errorf("config.yaml needs ${%s}, which the pod does not set", v)
		} else if strings.Contains(v, "DSN") && env[v] != "(secret)" {
			t.Errorf("%s does not come from a Secret", v)
		}
	}
	checkShards(t, env["MALLET_SHARD"], "JOB_COMPLETION_INDEX", completions)
	request := parseMiB(t, str(c, "resources", "requests", "memory"))
	limit := parseMiB(t, str(c, "resources", "limits", "memory"))
	need := minMemoryMiB(cfg.Sources[mjob.Source].Concurrency)
	if request < need || limit < request {
		t.Errorf("memory request %d MiB, limit %d MiB: want request >= %d MiB (concurrency %d) and limit >= request", request, limit, need, cfg.Sources[mjob.Source].Concurrency)
	}
	checkGoMemLimit(t, env["GOMEMLIMIT"], limit)
	if str(c, "resources", "requests", "cpu") == "" {
		t.Error("no CPU request")
	}
}

func TestDeployBatch(t *testing.T) {
	cfg, raw := shippedConfig(t)
	jd := readJSON(t, "deploy/batch-job-definition.json")
	td := readJSON(t, "deploy/ecs-task-definition.json")
	if str(jd, "type") != "container" {
		t.Errorf("type %q, want container", str(jd, "type"))
	}
	cp := dig(jd, "containerProperties")
	mjob := checkRunJob(t, cfg, strs(dig(cp, "command")))
	// The same roles as the ECS task: the task policy covers what mallet
	// does, the execution role reads the secrets.
	if got, want := str(cp, "jobRoleArn"), str(td, "taskRoleArn"); got != want {
		t.Errorf("jobRoleArn %q, want the ECS task role %q", got, want)
	}
	if got, want := str(cp, "executionRoleArn"), str(td, "executionRoleArn"); got != want {
		t.Errorf("executionRoleArn %q, want %q", got, want)
	}
	if u := str(cp, "user"); u == "" || u == "0" || strings.HasPrefix(u, "root") || strings.HasPrefix(u, "0:") {
		t.Errorf("user %q, want a non-root uid", u)
	}
	if dig(cp, "readonlyRootFilesystem") != true {
		t.Error("readonlyRootFilesystem is not true")
	}
	if str(cp, "logConfiguration", "logDriver") != "awslogs" {
		t.Error("logDriver is not awslogs")
	}
	// A config error (exit 2) is not retried; other failures are, once.
	exits := map[string]string{}
	for _, e := range list(jd, "retryStrategy", "evaluateOnExit") {
		exits[str(e, "onExitCode")] = str(e, "action")
	}
	if exits["2"] != "EXIT" {
		t.Errorf("retryStrategy.evaluateOnExit %v: want exit code 2 to EXIT", exits)
	}
	env := map[string]string{}
	for _, e := range list(cp, "environment") {
		name := str(e, "name")
		if strings.Contains(name, "DSN") || strings.Contains(name, "PASSWORD") {
			t.Errorf("environment %s holds a secret in plain text: use secrets", name)
		}
		env[name] = str(e, "value")
	}
	exec := readJSON(t, "deploy/iam-execution-policy.json")
	for _, s := range list(cp, "secrets") {
		from := str(s, "valueFrom")
		arn := from
		if parts := strings.Split(from, ":"); len(parts) > 7 {
			arn = strings.Join(parts[:7], ":")
		}
		if !strings.HasPrefix(from, "arn:aws:secretsmanager:") || !allowed(exec, "secretsmanager:GetSecretValue", arn) {
			t.Errorf("secret %s from %q: want a Secrets Manager ARN the execution role may read", str(s, "name"), from)
		}
		env[str(s, "name")] = "(secret)"
	}
	for _, v := range neededVars(raw) {
		if env[v] == "" {
			t.Errorf("config.yaml needs ${%s}, which the job definition does not set", v)
		}
	}
	memory := 0
	for _, r := range list(cp, "resourceRequirements") {
		if str(r, "type") == "MEMORY" {
			memory, _ = strconv.Atoi(str(r, "value"))
		}
	}
	if need := minMemoryMiB(cfg.Sources[mjob.Source].Concurrency); memory < need {
		t.Errorf("MEMORY %d MiB, want at least %d", memory, need)
	}
	checkGoMemLimit(t, env["GOMEMLIMIT"], memory)

	// The schedule submits the definition as an array of N children.
	s := readJSON(t, "deploy/eventbridge-scheduler-batch.json")
	if got := str(s, "Target", "Arn"); got != "arn:aws:scheduler:::aws-sdk:batch:submitJob" {
		t.Errorf("target %q, want Batch SubmitJob", got)
	}
	if got, want := str(s, "ScheduleExpressionTimezone"), mjob.Location.String(); got != want {
		t.Errorf("ScheduleExpressionTimezone %q, want the job's %q", got, want)
	}
	if got, want := str(s, "ScheduleExpression"), awsCron(mjob.Schedule); got != want {
		t.Errorf("ScheduleExpression %q, want %q (the job's %q)", got, want, mjob.Schedule)
	}
	var input map[string]any
	if err := json.Unmarshal([]byte(str(s, "Target", "Input")), &input); err != nil {
		t.Fatalf("Target.Input: %v", err)
	}
	defARN := str(input, "JobDefinition")
	if !strings.HasSuffix(defARN, ":job-definition/"+str(jd, "jobDefinitionName")) {
		t.Errorf("JobDefinition %q is not %s", defARN, str(jd, "jobDefinitionName"))
	}
	size, _ := dig(input, "ArrayProperties", "Size").(float64)
	checkShards(t, env["MALLET_SHARD"], "AWS_BATCH_JOB_ARRAY_INDEX", int(size))
	sched := readJSON(t, "deploy/iam-scheduler-policy.json")
	for _, arn := range []string{defARN, str(input, "JobQueue")} {
		if !allowed(sched, "batch:SubmitJob", arn) {
			t.Errorf("the scheduler role may not batch:SubmitJob on %s", arn)
		}
	}
}

// awsCron turns a five-field cron spec into EventBridge's six-field form.
func awsCron(spec string) string {
	f := strings.Fields(spec)
	if len(f) != 5 {
		return "(not a five-field spec: " + spec + ")"
	}
	dom, dow := f[2], f[4]
	if dow == "*" {
		dow = "?"
	} else if dom == "*" {
		dom = "?"
	}
	return fmt.Sprintf("cron(%s %s %s %s %s *)", f[0], f[1], dom, f[3], dow)
}
