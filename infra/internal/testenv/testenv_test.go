package testenv

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
)

// TestQuietJSII runs a CDK call in a child process whose environment does
// not silence JSII (as `go test ./infra/...` run directly, without the
// Makefile's exports): after QuietJSII, no banner is printed.
func TestQuietJSII(t *testing.T) {
	if os.Getenv("EVENTLAKE_TESTENV_CHILD") == "1" {
		QuietJSII()
		awscdk.NewApp(nil).Node().Id()
		jsii.Close()
		os.Exit(0)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestQuietJSII$")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "JSII_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "EVENTLAKE_TESTENV_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	// (Only JSII's warnings: its Close may print "Runtime process exited
	// abnormally: waitid: no child processes", a race of its own.)
	if strings.Contains(string(out), "end-of-life") || strings.Contains(string(out), "!!!!") {
		t.Errorf("a CDK call printed the Node end-of-life banner:\n%s", out)
	}
}
