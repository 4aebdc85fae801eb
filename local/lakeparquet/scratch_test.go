package lakeparquet_test

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/eventlake/eventlake/local/lakeparquet"
)

// TestNothingLeftAfterSIGKILL kills a process that made an encoder and
// encoded an object: nothing of the encoder's may stay in the temporary
// folder, not even an empty scratch folder (Close never runs after
// SIGKILL).
func TestNothingLeftAfterSIGKILL(t *testing.T) {
	if os.Getenv("LAKEPARQUET_CHILD") == "1" {
		enc, err := lakeparquet.NewEncoder(lakeparquet.Options{})
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		var out bytes.Buffer
		if err := enc.Encode(&out, []byte(strings.Join(lines, "\n")+"\n")); err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println("ready")
		select {} // until killed
	}
	tmp := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestNothingLeftAfterSIGKILL$")
	cmd.Env = append(os.Environ(), "LAKEPARQUET_CHILD=1", "TMPDIR="+tmp)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "ready\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child said %q (%v)", line, err)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	entries, err := os.ReadDir(tmp)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("left behind in the temporary folder: %s", e.Name())
	}
}

// TestScratchFilesGoAfterEachObject: between conversions the encoder's
// scratch folder holds nothing.
func TestScratchFilesGoAfterEachObject(t *testing.T) {
	dir := t.TempDir()
	enc, err := lakeparquet.NewEncoder(lakeparquet.Options{TempDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	for _, data := range []string{strings.Join(lines, "\n") + "\n", "not json\n"} {
		var out bytes.Buffer
		err := enc.Encode(&out, []byte(data))
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Errorf("after Encode (%v) the scratch folder holds %d files", err, len(entries))
		}
	}
}
