package deploy_test

import (
	"debug/elf"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// `sam build` runs `make build-<LogicalId>` with ARTIFACTS_DIR; each target must leave a static
// linux/arm64 executable named bootstrap there. The three build in parallel (shared build cache).
func TestMakeTargetsBuildArm64Bootstraps(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-compiles three binaries (minutes on a cold build cache)")
	}
	makeBin := requireTool(t, "make")
	requireTool(t, "go")
	root := repoRoot(t)
	// The top-level Makefile includes deploy/sam.mk: the targets must be reachable from there.
	for _, id := range functionIDs {
		dry := exec.Command(makeBin, "-n", "build-"+id, "ARTIFACTS_DIR=/nonexistent")
		dry.Dir = root
		if out, err := dry.CombinedOutput(); err != nil {
			t.Errorf("top-level Makefile has no build-%s: %v\n%s", id, err, out)
		}
	}
	for _, id := range functionIDs {
		t.Run(id, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			cmd := exec.Command(makeBin, "-f", "deploy/sam.mk", "build-"+id, "ARTIFACTS_DIR="+dir, "RDS_CA_URL=")
			cmd.Dir = root
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("make build-%s: %v\n%s", id, err, out)
			}
			f, err := elf.Open(filepath.Join(dir, "bootstrap"))
			if err != nil {
				t.Fatalf("bootstrap: %v", err)
			}
			defer f.Close()
			if f.Machine != elf.EM_AARCH64 || f.Class != elf.ELFCLASS64 {
				t.Errorf("bootstrap is %v/%v, want aarch64 ELF64 (Architectures: arm64)", f.Machine, f.Class)
			}
			for _, p := range f.Progs {
				if p.Type == elf.PT_INTERP {
					t.Error("bootstrap is dynamically linked; provided.al2023 wants a static binary (CGO_ENABLED=0)")
				}
			}
		})
	}
}

func TestMakefileFragmentMatchesTemplate(t *testing.T) {
	makeBin := requireTool(t, "make")
	root := repoRoot(t)
	for _, id := range functionIDs {
		cmd := exec.Command(makeBin, "-n", "-f", "deploy/sam.mk", "build-"+id, "ARTIFACTS_DIR=/x")
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		s := string(out)
		pkg := "./lambdas/cmd/" + strings.ToLower(strings.TrimSuffix(id, "Function"))
		for _, want := range []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64", "-tags lambda.norpc", "-o /x/bootstrap", pkg} {
			if !strings.Contains(s, want) {
				t.Errorf("build-%s: %q missing from: %s", id, want, s)
			}
		}
	}
}
