package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// commonFlags are the flags every command takes; README says so once.
var commonFlags = []string{"config", "log-format"}

// helpedCommand is a command as "mallet help" lists it, with the flags its
// --help prints and its synopsis (the usage lines before the first blank).
type helpedCommand struct {
	words    []string // "run", "job"
	flags    []string
	synopsis string
}

var (
	commandLine = regexp.MustCompile(`^  ([a-z]+(?: [a-z]+)?)(?: [A-Z]+)?\s{2,}`)
	flagLine    = regexp.MustCompile(`^  -([a-z0-9-]+)`)
)

// helpOf runs mallet with args in this process and returns what it
// printed as help.
func helpOf(t *testing.T, args ...string) string {
	t.Helper()
	var b strings.Builder
	helpOut = &b
	defer func() { helpOut = os.Stdout }()
	if err := runMain(t.Context(), args); err != nil {
		t.Fatalf("mallet %s: %v", strings.Join(args, " "), err)
	}
	return b.String()
}

// helpedCommands runs "mallet help" and "mallet <command> --help" for every
// command it lists, and returns what they print.
func helpedCommands(t *testing.T) []helpedCommand {
	t.Helper()
	help := helpOf(t, "help")
	var cmds []helpedCommand
	seen := map[string]bool{}
	for _, line := range strings.Split(help, "\n") {
		m := commandLine.FindStringSubmatch(line)
		if m == nil || seen[m[1]] {
			continue
		}
		seen[m[1]] = true
		c := helpedCommand{words: strings.Fields(m[1])}
		out := helpOf(t, append(c.words, "--help")...)
		usage, _, ok := strings.Cut(strings.TrimPrefix(out, "Usage: "), "\n\n")
		if !ok || !strings.HasPrefix(out, "Usage: ") {
			t.Fatalf("mallet %s --help: no usage line:\n%s", m[1], out)
		}
		c.synopsis = usage
		for _, l := range strings.Split(out, "\n") {
			if f := flagLine.FindStringSubmatch(l); f != nil {
				c.flags = append(c.flags, f[1])
			}
		}
		cmds = append(cmds, c)
	}
	if len(cmds) < 8 {
		t.Fatalf("found %d commands in mallet help, want every command:\n%s", len(cmds), help)
	}
	return cmds
}

// TestEveryFlagDocumented fails when a command's flag is missing from its
// own usage line or from the README's CLI section.
func TestEveryFlagDocumented(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, cli, _ := strings.Cut(string(readme), "\n## CLI\n")
	cli, _, _ = strings.Cut(cli, "\n## ")
	block, _, _ := strings.Cut(strings.SplitN(cli, "```\n", 2)[1], "```")
	for _, f := range commonFlags {
		if !strings.Contains(cli, "`--"+f) {
			t.Errorf("README's CLI section does not mention --%s", f)
		}
	}
	for _, c := range helpedCommands(t) {
		name := strings.Join(c.words, " ")
		// The README lines of the command: those that start with
		// "mallet <command>", and the indented lines that continue them.
		var lines []string
		in := false
		for _, l := range strings.Split(block, "\n") {
			if !strings.HasPrefix(l, " ") {
				in = strings.HasPrefix(l, "mallet "+c.words[0]+" ") || l == "mallet "+c.words[0]
			}
			if in {
				lines = append(lines, l)
			}
		}
		if len(lines) == 0 {
			t.Errorf("README's CLI block has no line for mallet %s", name)
			continue
		}
		doc := strings.Join(lines, "\n")
		for _, f := range c.flags {
			if slices.Contains(commonFlags, f) {
				continue
			}
			if !strings.Contains(doc, "--"+f) {
				t.Errorf("mallet %s --%s is missing from README's CLI block", name, f)
			}
			if !strings.Contains(c.synopsis, "--"+f) {
				t.Errorf("mallet %s --%s is missing from its usage line %q", name, f, c.synopsis)
			}
		}
	}
}

// sectionRef is how the repository's files point at a README section:
// (README, "Least privilege") or README.md, "Least privilege".
var sectionRef = regexp.MustCompile(`README(?:\.md)?\s*,\s*"([^"]+)"`)

// TestREADMESectionReferences fails when a file points at a README section
// that does not exist.
func TestREADMESectionReferences(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	headings := map[string]bool{}
	for _, l := range strings.Split(string(readme), "\n") {
		if h, ok := strings.CutPrefix(strings.TrimLeft(l, "#"), " "); ok && strings.HasPrefix(l, "#") {
			headings[h] = true
		}
	}
	files, err := filepath.Glob("../../*.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, pattern := range []string{"../../docs/*.md", "../../deploy/*", "../../deploy/*/*", "../../*.yaml", "../../queries/*", "../../testdata/sample/*", "*.go"} {
		more, _ := filepath.Glob(pattern)
		files = append(files, more...)
	}
	refs := 0
	for _, f := range files {
		if fi, err := os.Stat(f); err == nil && fi.IsDir() {
			continue // deploy/kubernetes: its files are matched by deploy/*/*
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range sectionRef.FindAllStringSubmatch(string(b), -1) {
			refs++
			if !headings[m[1]] {
				t.Errorf("%s points at README section %q, which does not exist", f, m[1])
			}
		}
	}
	if refs < 2 {
		t.Errorf("found %d references to README sections, want at least the two of config.yaml and docs/deploy.md", refs)
	}
}
