package local

import (
	"bytes"
	"os"
	"strconv"
)

// readBytes returns the bytes this process has read with read(2)-like
// system calls so far (rchar of /proc/self/io), or -1 when it cannot tell.
func readBytes() int64 {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return -1
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("rchar: ")); ok {
			n, err := strconv.ParseInt(string(v), 10, 64)
			if err != nil {
				return -1
			}
			return n
		}
	}
	return -1
}
