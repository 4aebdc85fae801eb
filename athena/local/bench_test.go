package local

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eventlake/eventlake/athena"
	"github.com/eventlake/eventlake/athena/lakegen"
)

// benchEvents events of benchUsers accounts (and their visitors) over 90
// days; objects are cut every 15 minutes, Firehose's longest buffering
// interval, so each holds about a hundred events, as the pipeline would
// write them at this rate.
const (
	benchUsers  = 2000
	benchEvents = 1_000_000
)

var benchLayout = lakegen.Layout{Interval: 15 * time.Minute}

// BenchmarkLoginsPerDayBytesRead measures the bytes read by "logins per day
// over the last 7 days" (athena/queries/logins_per_day.sql, unchanged) over
// 90 days of a million events, in these layouts of the same events:
//
//   - unpartitioned-json: plain JSON lines in one folder, as the design this
//     project replaces stored them; every query reads every object.
//   - gzip-json: this project's layout, gzip NDJSON under
//     events/dt=YYYY-MM-DD/; the dt filter reads 7 days' objects.
//   - parquet: the same partitions as Parquet (SNAPPY, Firehose's default);
//     of those, only the footers and the column chunks the query uses.
//   - parquet-gzip: the same with Firehose's GZIP Parquet compression.
//   - parquet-gzip-union-by-name: the same objects read with union_by_name,
//     which the runner uses only when some object lacks a column (written
//     before the column existed): what unifying the schemas costs, since
//     DuckDB then reads every object's footer at every query.
//
// bytes_read/op is what the process read from files during the query
// (rchar of /proc/self/io; DuckDB reads each gzip object whole and once, and
// from Parquet the footers and the needed column chunks, as Athena does), so
// it is what Athena would bill. x_fewer is the baseline's bytes divided by
// the layout's; every layout but the union_by_name measurement must read at
// least 50 times fewer bytes. The lake is generated once per run in a
// temporary folder.
func BenchmarkLoginsPerDayBytesRead(b *testing.B) {
	dir := b.TempDir()
	start := time.Now()
	ds := lakegen.Generate(lakegen.Config{End: time.Now().UTC(), Users: benchUsers, Events: benchEvents})
	plain := filepath.Join(dir, "plain")
	gz := filepath.Join(dir, "gzip")
	pq := filepath.Join(dir, "parquet")
	pqgz := filepath.Join(dir, "parquet-gzip")
	if _, err := ds.WritePlainJSON(plain, benchLayout); err != nil {
		b.Fatal(err)
	}
	objects, err := ds.WriteNDJSON(gz, benchLayout)
	if err != nil {
		b.Fatal(err)
	}
	if err := toParquet(gz, pq, "SNAPPY", objects); err != nil {
		b.Fatal(err)
	}
	if err := toParquet(gz, pqgz, "GZIP", objects); err != nil {
		b.Fatal(err)
	}
	b.Logf("%d events (%d deliveries) in %d objects per layout, %s..%s, built in %s; sizes: plain %s, gzip %s, parquet %s, parquet-gzip %s",
		len(ds.Events), len(ds.Deliveries), len(objects), ds.Start, ds.End, time.Since(start).Round(time.Second),
		athena.FormatBytes(dirSize(b, plain)), athena.FormatBytes(dirSize(b, gz)), athena.FormatBytes(dirSize(b, pq)),
		athena.FormatBytes(dirSize(b, pqgz)))

	q, err := athena.Lookup("logins_per_day")
	if err != nil {
		b.Fatal(err)
	}
	layouts := []struct {
		name string
		cfg  Config
	}{
		{"unpartitioned-json", Config{Root: plain, unpartitioned: true}},
		{"gzip-json", Config{Root: gz, Format: athena.FormatJSON}},
		{"parquet", Config{Root: pq, Format: athena.FormatParquet}},
		{"parquet-gzip", Config{Root: pqgz, Format: athena.FormatParquet}},
		{"parquet-gzip-union-by-name", Config{Root: pqgz, Format: athena.FormatParquet, unionByName: true}},
	}
	var baseline float64
	var answer string
	for _, l := range layouts {
		b.Run(l.name, func(b *testing.B) {
			db, err := Open(context.Background(), l.cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			// The first query defines the view (and reads each Parquet
			// object's footer once to learn its columns); the measured
			// ones reuse it.
			if _, err := db.Run(context.Background(), q, nil); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			var bytes, files int64
			var last *athena.Result
			for b.Loop() {
				res, err := db.Run(context.Background(), q, nil)
				if err != nil {
					b.Fatal(err)
				}
				if res.Stats.BytesScanned < 0 {
					b.Fatal("bytes read unknown: the benchmark needs Linux's /proc/self/io")
				}
				bytes += res.Stats.BytesScanned
				files += int64(res.Stats.FilesRead)
				last = res
			}
			perOp := float64(bytes) / float64(b.N)
			b.ReportMetric(perOp, "bytes_read/op")
			b.ReportMetric(float64(files)/float64(b.N), "files_read/op")
			// Every layout must give the same answer.
			var rows []string
			for _, r := range last.Rows {
				rows = append(rows, r[0].String+"="+r[1].String)
			}
			got := strings.Join(rows, ",")
			if answer == "" {
				answer = got
			} else if got != answer {
				b.Errorf("%s answered %s, the baseline %s", l.name, got, answer)
			}
			if l.cfg.unpartitioned {
				baseline = perOp
				return
			}
			if baseline > 0 {
				ratio := baseline / perOp
				b.ReportMetric(ratio, "x_fewer")
				if ratio < 50 && !l.cfg.unionByName {
					b.Errorf("%s reads %.0f bytes, only %.1fx fewer than the unpartitioned %.0f (target 50x)", l.name, perOp, ratio, baseline)
				}
			}
		})
	}
}

// toParquet converts every gzip object to a Parquet object of the same name
// in the same partition under dst, on two workers.
func toParquet(src, dst, codec string, objects []string) error {
	w, err := NewParquetWriter()
	if err != nil {
		return err
	}
	defer w.Close()
	w.Compression = codec
	return w.ConvertTree(context.Background(), src, dst, objects, 2)
}

func dirSize(b *testing.B, dir string) int64 {
	var n int64
	err := filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n += fi.Size()
		}
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	return n
}
