package tracker

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// SpoolSync says when an AsyncWriter's spool reaches stable storage.
type SpoolSync int

const (
	// SpoolSyncPeriodic (the default): Put returns once the event is in the
	// segment file, that is in the operating system's page cache after a
	// write(2) shared by the Puts of the moment. A process that is killed
	// or crashes loses nothing it accepted. Every SpoolSyncInterval the
	// writer starts a new segment file and fsyncs the ones it closed (never
	// one that is appended to, which would hold up Puts), so a kernel crash
	// or a power loss may lose what was accepted in the last one to two
	// intervals.
	SpoolSyncPeriodic SpoolSync = iota
	// SpoolSyncAlways: Put returns once the event is fsynced, so nothing
	// accepted is lost even on power loss. Concurrent Puts share one write
	// and one fsync (group commit), but every Put waits for a flush of the
	// disk: hundreds of microseconds to milliseconds.
	SpoolSyncAlways
)

// Defaults of the spool settings of AsyncConfig.
const (
	DefaultSpoolSyncInterval = time.Second
	DefaultSpoolSegmentBytes = 1 << 20
	// spoolSegmentAge is how long a segment file takes appends before a
	// new one is started, so that the files of written events are removed
	// even when few events arrive.
	spoolSegmentAge = 2 * time.Second
)

// Spool file names: <20-digit number>.seg, and the lock file.
const (
	spoolSegmentExt = ".seg"
	spoolLockName   = "LOCK"
)

var errSpoolClosed = errors.New("tracker: spool is closed")

// spool is an AsyncWriter's write-ahead log: accepted events are appended
// to segment files before Put returns, and a segment file is removed once
// every event in it has been written or has failed. Appends are group
// committed: the first appender of a group writes it (and fsyncs it under
// SpoolSyncAlways) for everyone who appended while the previous group was
// being written.
type spool struct {
	dir      string
	always   bool
	interval time.Duration
	segBytes int64
	log      *slog.Logger
	lock     *os.File

	mu       sync.Mutex
	cond     sync.Cond
	writing  bool        // a leader owns the active segment's file
	cur      *spoolGroup // the group being filled
	free     []*spoolGroup
	active   *segment // the segment appended to; leader-owned
	next     uint64   // number of the next segment file
	closed   bool
	dirty    bool       // the active segment has data not yet fsynced
	rotate   bool       // the next leader starts a new segment first
	dirDirty bool       // a segment file was created since the directory was fsynced
	unsynced []*segment // sealed segments whose files the ticker fsyncs and closes

	stop chan struct{}
	done chan struct{}
}

// spoolGroup is the records of one group commit.
type spoolGroup struct {
	buf     []byte
	n       int
	refs    int // appenders still to read the result
	written bool
	seg     *segment
	err     error
}

// segment is one spool file and the count of its events still to be
// written.
type segment struct {
	sp      *spool
	path    string
	f       *os.File // while it is appended to, or until the ticker closed it
	size    int64    // leader-owned
	created time.Time

	mu       sync.Mutex
	appended int64 // events in the file; -1 until a replayed file was read
	done     int64 // events written or failed
	sealed   bool  // no more appends
	removed  bool
}

// openSpool opens (creating it if needed) and locks the spool directory,
// and returns the spool and the segments left by earlier writers, oldest
// first, to replay.
func openSpool(dir string, policy SpoolSync, interval time.Duration, segBytes int64, log *slog.Logger) (*spool, []*segment, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("tracker: spool directory: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, spoolLockName), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("tracker: spool lock: %w", err)
	}
	if err := lockFile(lock); err != nil {
		lock.Close()
		return nil, nil, fmt.Errorf("tracker: spool %s is in use by another AsyncWriter: %w", dir, err)
	}
	s := &spool{
		dir: dir, always: policy == SpoolSyncAlways, interval: interval, segBytes: segBytes, log: log, lock: lock,
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	s.cond.L = &s.mu
	entries, err := os.ReadDir(dir)
	if err != nil {
		lock.Close()
		return nil, nil, fmt.Errorf("tracker: spool directory: %w", err)
	}
	var old []*segment
	for _, e := range entries {
		num, ok := strings.CutSuffix(e.Name(), spoolSegmentExt)
		n, err := strconv.ParseUint(num, 10, 64)
		if !ok || err != nil || !e.Type().IsRegular() {
			continue
		}
		old = append(old, &segment{sp: s, path: filepath.Join(dir, e.Name()), appended: -1, sealed: true})
		s.next = max(s.next, n+1)
	}
	slices.SortFunc(old, func(a, b *segment) int { return strings.Compare(a.path, b.path) })
	go s.run()
	return s, old, nil
}

// append writes the record of e to the spool and returns its segment once
// the record is written (and fsynced under SpoolSyncAlways).
func (s *spool) append(e *Event, generated bool) (*segment, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, errSpoolClosed
	}
	g := s.cur
	if g == nil {
		if n := len(s.free); n > 0 {
			g, s.free = s.free[n-1], s.free[:n-1]
		} else {
			g = new(spoolGroup)
		}
		s.cur = g
	}
	g.buf = appendRecord(g.buf, e, generated)
	g.n++
	g.refs++
	for !g.written {
		if s.writing {
			s.cond.Wait()
			continue
		}
		// Lead: g is still the group being filled, as only a leader takes
		// it.
		s.cur = nil
		if s.closed {
			g.err, g.written = errSpoolClosed, true
			break
		}
		s.writing = true
		s.mu.Unlock()
		seg, err := s.commit(g)
		s.mu.Lock()
		g.seg, g.err, g.written = seg, err, true
		s.writing = false
		s.cond.Broadcast()
	}
	seg, err := g.seg, g.err
	if g.refs--; g.refs == 0 {
		*g = spoolGroup{buf: g.buf[:0]}
		if cap(g.buf) <= 1<<20 {
			s.free = append(s.free, g)
		}
	}
	s.mu.Unlock()
	return seg, err
}

// commit writes a group to the active segment, starting a new segment
// first when the active one is full or old. Only the leader calls it.
func (s *spool) commit(g *spoolGroup) (*segment, error) {
	s.mu.Lock()
	seg, rotate := s.active, s.rotate
	s.rotate = false
	s.mu.Unlock()
	if seg != nil && (rotate || seg.size >= s.segBytes || time.Since(seg.created) >= spoolSegmentAge) {
		s.seal(seg)
		seg = nil
	}
	if seg == nil {
		var err error
		if seg, err = s.create(); err != nil {
			return nil, err
		}
	}
	_, err := seg.f.Write(g.buf)
	if err == nil && s.always {
		err = seg.f.Sync()
	}
	if err != nil {
		// The appenders get the error and their events are not accepted:
		// cut the records off, so that no replay writes them, and start a
		// new file next time.
		if terr := seg.f.Truncate(seg.size); terr != nil {
			s.log.Error("tracker: spool: cannot cut off a failed write; its events may be written after a restart",
				"file", seg.path, "error", terr.Error())
		}
		s.seal(seg)
		return nil, fmt.Errorf("tracker: spool %s: %w", seg.path, err)
	}
	seg.size += int64(len(g.buf))
	seg.mu.Lock()
	seg.appended += int64(g.n)
	seg.mu.Unlock()
	if !s.always {
		s.mu.Lock()
		s.dirty = true
		s.mu.Unlock()
	}
	return seg, nil
}

// create starts a new active segment file. Only the leader calls it.
func (s *spool) create() (*segment, error) {
	s.mu.Lock()
	n := s.next
	s.next++
	s.mu.Unlock()
	path := filepath.Join(s.dir, fmt.Sprintf("%020d%s", n, spoolSegmentExt))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("tracker: spool: %w", err)
	}
	if s.always {
		if err := syncDir(s.dir); err != nil {
			f.Close()
			os.Remove(path)
			return nil, fmt.Errorf("tracker: spool: %w", err)
		}
	}
	seg := &segment{sp: s, path: path, f: f, created: time.Now()}
	s.mu.Lock()
	s.active = seg
	s.dirDirty = !s.always
	s.mu.Unlock()
	return seg, nil
}

// seal ends appends to the active segment: its file is closed (under
// SpoolSyncAlways at once, else by the ticker after an fsync) and removed
// once its events are all written or failed. Only the leader calls it.
func (s *spool) seal(seg *segment) {
	s.mu.Lock()
	if s.active == seg {
		s.active = nil
	}
	if !s.always {
		s.unsynced = append(s.unsynced, seg)
		s.dirty = false
	}
	s.mu.Unlock()
	if s.always {
		seg.f.Close()
	}
	seg.finish(0, true)
}

// finish counts n of the segment's events as written or failed, seals it
// when seal is true, and removes its file when it is sealed and complete.
func (seg *segment) finish(n int64, seal bool) {
	seg.mu.Lock()
	defer seg.mu.Unlock()
	seg.done += n
	seg.sealed = seg.sealed || seal
	if !seg.sealed || seg.removed || seg.appended < 0 || seg.done < seg.appended {
		return
	}
	seg.removed = true
	if err := os.Remove(seg.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		seg.sp.log.Error("tracker: spool: cannot remove a written segment; its events will be written again after a restart",
			"file", seg.path, "error", err.Error())
	}
}

// setAppended records how many events a replayed segment file holds, once
// it has been read; an empty one is removed at once.
func (seg *segment) setAppended(n int) {
	seg.mu.Lock()
	seg.appended = int64(n)
	seg.mu.Unlock()
	seg.finish(0, true)
}

// run is the ticker: every interval it starts a new segment file when
// the active one holds data not yet fsynced, then fsyncs and closes the
// sealed files. It never fsyncs a file that is appended to: on common file
// systems that would hold the appends (and the Puts behind them) until the
// disk is done.
func (s *spool) run() {
	defer close(s.done)
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.tick()
		}
	}
}

func (s *spool) tick() {
	s.mu.Lock()
	seg := s.active
	rotate := seg != nil && (s.dirty || time.Since(seg.created) >= spoolSegmentAge)
	lead := rotate && !s.writing
	if lead {
		s.writing = true
	} else if rotate {
		s.rotate = true // the leader busy now rotates before its next write
	}
	s.mu.Unlock()
	if lead {
		s.seal(seg)
		s.mu.Lock()
		s.writing = false
		s.cond.Broadcast()
		s.mu.Unlock()
	}
	s.mu.Lock()
	dirDirty, unsynced := s.dirDirty, s.unsynced
	s.dirDirty, s.unsynced = false, nil
	s.mu.Unlock()
	s.syncAndClose(unsynced)
	if dirDirty {
		if err := syncDir(s.dir); err != nil {
			s.log.Error("tracker: spool: fsync directory", "dir", s.dir, "error", err.Error())
		}
	}
}

// syncAndClose fsyncs and closes sealed segment files.
func (s *spool) syncAndClose(segs []*segment) {
	for _, seg := range segs {
		seg.mu.Lock()
		removed := seg.removed
		seg.mu.Unlock()
		if !removed {
			if err := seg.f.Sync(); err != nil {
				s.log.Error("tracker: spool: fsync", "file", seg.path, "error", err.Error())
			}
		}
		seg.f.Close()
	}
}

// close seals the active segment, syncs and closes every file, and unlocks
// the directory. The segments of events not written stay for the next
// writer. Nothing may be appended or finished afterwards.
func (s *spool) close() {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	s.closed = true
	for s.writing {
		s.cond.Wait()
	}
	seg := s.active
	s.mu.Unlock()
	if seg != nil {
		s.seal(seg)
	}
	s.mu.Lock()
	unsynced := s.unsynced
	s.unsynced = nil
	s.mu.Unlock()
	s.syncAndClose(unsynced)
	if err := syncDir(s.dir); err != nil {
		s.log.Error("tracker: spool: fsync directory", "dir", s.dir, "error", err.Error())
	}
	s.lock.Close() // releases the lock
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// A record is the payload's length and CRC-32C (both little-endian
// uint32), then the payload: version 1, flags (bit 0: the writer generated
// the ID), event_at in Unix milliseconds (varint), user_id, anonymous_id,
// event_type, event_id, user_agent, ip_address (each a uvarint length and
// the bytes), the number of attributes (uvarint) and each key and value.
const (
	recordHeader     = 8
	recordVersion    = 1
	flagGenerated    = 1
	maxRecordPayload = 1 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// appendRecord appends the spool record of a normalized event with its ID.
func appendRecord(b []byte, e *Event, generated bool) []byte {
	start := len(b)
	b = append(b, make([]byte, recordHeader)...)
	flags := byte(0)
	if generated {
		flags |= flagGenerated
	}
	b = append(b, recordVersion, flags)
	b = binary.AppendVarint(b, e.At.UnixMilli())
	for _, s := range [...]string{e.UserID, e.AnonymousID, e.Type, e.ID, e.UserAgent, e.IP} {
		b = appendString(b, s)
	}
	b = binary.AppendUvarint(b, uint64(len(e.Attributes)))
	for k, v := range e.Attributes {
		b = appendString(b, k)
		b = appendString(b, v)
	}
	payload := b[start+recordHeader:]
	binary.LittleEndian.PutUint32(b[start:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(b[start+4:], crc32.Checksum(payload, castagnoli))
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// spooledEvent is a record read back.
type spooledEvent struct {
	e         Event
	generated bool
}

// errBadRecord reports a record that is torn or corrupt.
var errBadRecord = errors.New("torn or corrupt record")

// decodeRecords decodes the records of a segment file. It stops at the
// first record that is torn or corrupt and returns the records before it
// and how many bytes it could not read.
func decodeRecords(data []byte) (evs []spooledEvent, unread int) {
	for len(data) > 0 {
		if len(data) < recordHeader {
			return evs, len(data)
		}
		n := binary.LittleEndian.Uint32(data)
		if n > maxRecordPayload || int(n) > len(data)-recordHeader {
			return evs, len(data)
		}
		payload := data[recordHeader : recordHeader+int(n)]
		if crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(data[4:]) {
			return evs, len(data)
		}
		se, err := decodePayload(payload)
		if err != nil {
			return evs, len(data)
		}
		evs = append(evs, se)
		data = data[recordHeader+int(n):]
	}
	return evs, 0
}

// decodePayload decodes one record's payload.
func decodePayload(p []byte) (spooledEvent, error) {
	if len(p) < 2 || p[0] != recordVersion {
		return spooledEvent{}, errBadRecord
	}
	se := spooledEvent{generated: p[1]&flagGenerated != 0}
	p = p[2:]
	ms, k := binary.Varint(p)
	if k <= 0 {
		return spooledEvent{}, errBadRecord
	}
	p = p[k:]
	se.e.At = time.UnixMilli(ms).UTC()
	for _, dst := range [...]*string{&se.e.UserID, &se.e.AnonymousID, &se.e.Type, &se.e.ID, &se.e.UserAgent, &se.e.IP} {
		var ok bool
		if *dst, p, ok = readString(p); !ok {
			return spooledEvent{}, errBadRecord
		}
	}
	n, k := binary.Uvarint(p)
	if k <= 0 || n > uint64(len(p)) {
		return spooledEvent{}, errBadRecord
	}
	p = p[k:]
	if n > 0 {
		se.e.Attributes = make(map[string]string, n)
	}
	for range n {
		var key, val string
		var ok bool
		if key, p, ok = readString(p); !ok {
			return spooledEvent{}, errBadRecord
		}
		if val, p, ok = readString(p); !ok {
			return spooledEvent{}, errBadRecord
		}
		se.e.Attributes[key] = val
	}
	if len(p) != 0 {
		return spooledEvent{}, errBadRecord
	}
	return se, nil
}

func readString(p []byte) (string, []byte, bool) {
	n, k := binary.Uvarint(p)
	if k <= 0 || n > uint64(len(p)-k) {
		return "", nil, false
	}
	return string(p[k : k+int(n)]), p[k+int(n):], true
}
