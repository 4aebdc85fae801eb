package stack

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/jsii-runtime-go"

	"github.com/eventlake/eventlake/infra/internal/testenv"
)

// lambdasDir holds the real Lambdas, built once by TestMain.
var lambdasDir string

func TestMain(m *testing.M) {
	testenv.QuietJSII()
	dir, err := os.MkdirTemp("", "eventlake-stack-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	lambdasDir = filepath.Join(dir, "lambdas")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	_, err = testenv.BuildLambdas(ctx, lambdasDir)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "the stack tests synthesize the real Lambdas:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	jsii.Close()
	os.RemoveAll(dir)
	os.Exit(code)
}
