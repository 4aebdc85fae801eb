// Package testenv holds what the infra tests share: a quiet JSII runtime,
// building the real Lambdas (every lambdas/<name>/main.go: the relay and the
// summarize Lambda) the way `make lambdas` does, and reading
// the CDK context of the repository's cdk.json, so tests synthesize with the
// feature flags that `cdk synth` uses.
package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/aws/jsii-runtime-go"
)

// QuietJSII silences the JSII runtime's warnings for the test process, as
// the Makefile does for `make test`, so that `go test ./infra/...` run
// directly does not print Node's end-of-life banner (Node 20 is past its
// end of life for JSII) or the CDK's deprecation notices. Call it first in
// TestMain.
//
// Setting the variables is not enough on its own: the JSII runtime prepares
// its Node process, environment included, when the CDK packages register
// their types during package initialization, before TestMain runs; the
// process starts later, on the first call. QuietJSII therefore also closes
// that prepared client (jsii.Close), so the first call prepares a new one
// with the variables set.
func QuietJSII() {
	os.Setenv("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", nodeMajor())
	os.Setenv("JSII_DEPRECATED", "quiet")
	jsii.Close()
}

// nodeMajor returns the major version of the node on PATH ("20"), so the
// silencing names the version in use, as JSII requires; "20" when node
// cannot be asked (the JSII runtime will then fail with its own message).
func nodeMajor() string {
	out, err := exec.Command("node", "--version").Output()
	if err != nil {
		return "20"
	}
	v := strings.TrimPrefix(strings.TrimSpace(string(out)), "v")
	major, _, _ := strings.Cut(v, ".")
	if major == "" {
		return "20"
	}
	return major
}

// RelayPackage is the stream Lambda's main package, relative to the module root.
const RelayPackage = "./lambdas/streamtofirehose"

// ModuleRoot returns the directory of go.mod, searching up from the working
// directory.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find module root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("find module root: no go.mod above the working directory")
		}
		dir = parent
	}
}

// BuildLambdas builds every Lambda of the repository (each lambdas/<name>
// with a main.go) for linux/arm64 into lambdasDir/<name>/bootstrap, exactly
// as `make lambdas` does (CGO off, -tags lambda.norpc, -trimpath), and
// returns the names. It fails with the compiler's output when a package does
// not build. ctx bounds the builds.
func BuildLambdas(ctx context.Context, lambdasDir string) ([]string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return nil, err
	}
	mains, err := filepath.Glob(filepath.Join(root, "lambdas", "*", "main.go"))
	if err != nil || len(mains) == 0 {
		return nil, fmt.Errorf("no lambdas/*/main.go under %s", root)
	}
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		goBin = "go"
	}
	var names []string
	for _, m := range mains {
		name := filepath.Base(filepath.Dir(m))
		cmd := exec.CommandContext(ctx, goBin, "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w",
			"-o", filepath.Join(lambdasDir, name, "bootstrap"), "./lambdas/"+name)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("build lambdas/%s for linux/arm64: %w\n%s", name, err, out.String())
		}
		names = append(names, name)
	}
	return names, nil
}

// CDKContext returns the "context" object of the repository's cdk.json: the
// feature flags (and eventlake:* settings) `cdk synth` passes to the app.
func CDKContext() (map[string]interface{}, error) {
	root, err := ModuleRoot()
	if err != nil {
		return nil, err
	}
	raw, err := os.ReadFile(filepath.Join(root, "cdk.json"))
	if err != nil {
		return nil, fmt.Errorf("read cdk.json: %w", err)
	}
	var cfg struct {
		Context map[string]interface{} `json:"context"`
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("parse cdk.json: %w", err)
	}
	if len(cfg.Context) == 0 {
		return nil, fmt.Errorf("cdk.json has no context")
	}
	return cfg.Context, nil
}

// CDKBuild returns the "build" command of the repository's cdk.json, which
// the CDK CLI runs before it runs the app.
func CDKBuild() (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	raw, err := os.ReadFile(filepath.Join(root, "cdk.json"))
	if err != nil {
		return "", fmt.Errorf("read cdk.json: %w", err)
	}
	var cfg struct {
		Build string `json:"build"`
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return "", fmt.Errorf("parse cdk.json: %w", err)
	}
	return cfg.Build, nil
}

// CfnLint returns the path of cfn-lint: on PATH, or where `pip install
// --user` puts it (make lint-template installs it there or with apt-get).
// Without it, the error says how to install it; tests that lint fail on it
// rather than skip.
func CfnLint() (string, error) {
	if p, err := exec.LookPath("cfn-lint"); err == nil {
		return p, nil
	}
	if home, err := os.UserHomeDir(); err == nil {
		p := filepath.Join(home, ".local", "bin", "cfn-lint")
		if st, err := os.Stat(p); err == nil && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("cfn-lint is not installed: `make lint-template` installs it (pip install cfn-lint, or apt-get install cfn-lint)")
}
