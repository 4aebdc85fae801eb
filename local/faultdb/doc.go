// Package faultdb wraps a real DynamoDB client and injects the faults a
// writer meets in production, so tests exercise retry and idempotency code
// against DynamoDB Local instead of a mock.
//
// A *DB embeds the *dynamodb.Client it wraps, so it has every method of the
// client and satisfies tracker.DynamoDB and any other narrow interface the
// client satisfies. Reads (Query, GetItem, Scan, ...) pass through untouched.
// The write operations PutItem, BatchWriteItem, UpdateItem and DeleteItem
// suffer, per call and with the probabilities in Config:
//
//   - throttling: the call fails before reaching DynamoDB with
//     *types.ProvisionedThroughputExceededException (or Config.ThrottleError),
//     wrapped exactly as the SDK wraps a service error (OperationError,
//     ResponseError with HTTP status 400 and a request ID);
//   - server errors: the call fails before reaching DynamoDB with
//     *types.InternalServerError and HTTP status 500;
//   - a timeout before DynamoDB: the call never reaches it and fails with a
//     timeout (a *url.Error whose Timeout() is true, inside
//     smithyhttp.RequestSendError, as the SDK reports an HTTP client timeout);
//   - a timeout after DynamoDB: the call is performed (the write happens) but
//     the caller sees the same timeout error: the response was "lost";
//   - UnprocessedItems (BatchWriteItem only): floor(UnprocessedShare * n) of
//     the n items of every table in every call are picked at random and
//     returned as UnprocessedItems without being written; the rest are
//     really written. Because fewer than all items are held back, a writer
//     that resends the unprocessed items always makes progress.
//
// Faults are deterministic for a given Seed and call order: the nth write
// call (n counted from 1 across all goroutines) draws from a random source
// seeded with (Seed, n). With concurrent callers the order of calls, and so
// which call meets which fault, varies between runs; the rates do not.
//
// Stall and Resume block every write call (before it reaches DynamoDB) and
// release them, to simulate an outage or to fill a writer's queue
// deterministically; a stalled call returns the caller's context error, as
// the SDK does, when the context ends first.
//
// Stats reports how many faults were injected, so a test can check that the
// faults it asked for really happened.
//
// A *DB is safe for concurrent use.
//
// In an application's tests, wrap the client given to tracker.New (or
// return the wrapper from local/pipeline's Config.WrapDynamoDB) to check
// that the application copes with throttling, timeouts and a DynamoDB
// outage: what the AsyncWriter reports to OnError, how a request behaves
// when Put returns tracker.ErrQueueFull.
package faultdb
