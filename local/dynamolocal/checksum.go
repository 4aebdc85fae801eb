package dynamolocal

import (
	"context"
	"io"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// checksumMiddlewareID is the SDK's DynamoDB response checksum validation.
const checksumMiddlewareID = "DynamoDB:ResponseChecksumValidation"

// crc32WhenSent wraps the SDK's DynamoDB response checksum validation so
// that it validates the responses that carry an X-Amz-Crc32 header and
// leaves alone those that carry none.
//
// DynamoDB (the service) puts the header on every response. DynamoDB Local
// leaves it off its error responses, such as ConditionalCheckFailedException;
// the SDK's validation (service/dynamodb/internal/customizations) parses the
// missing header as "no checksum" but validates the body against 0 anyway,
// so each such error ended with the warning "failed to close HTTP response
// body, this may affect connection reuse: response did not match expected
// checksum, 0, ...". With the wrapper, a response without the header is read
// as it came, and one with a wrong checksum is still reported.
type crc32WhenSent struct {
	sdk middleware.DeserializeMiddleware
}

func (m crc32WhenSent) ID() string { return m.sdk.ID() }

func (m crc32WhenSent) HandleDeserialize(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (
	middleware.DeserializeOutput, middleware.Metadata, error,
) {
	var resp *smithyhttp.Response
	var body io.ReadCloser
	out, md, err := m.sdk.HandleDeserialize(ctx, in, middleware.DeserializeHandlerFunc(
		func(ctx context.Context, in middleware.DeserializeInput) (middleware.DeserializeOutput, middleware.Metadata, error) {
			out, md, err := next.HandleDeserialize(ctx, in)
			if r, ok := out.RawResponse.(*smithyhttp.Response); ok {
				resp, body = r, r.Body
			}
			return out, md, err
		}))
	if resp != nil && resp.Header.Get("X-Amz-Crc32") == "" {
		resp.Body = body // without the validation the SDK wrapped around it
	}
	return out, md, err
}

// checkCRC32WhenSent installs crc32WhenSent in place of the SDK's
// validation (nothing when the validation is disabled).
func checkCRC32WhenSent(o *dynamodb.Options) {
	o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
		sdk, ok := st.Deserialize.Get(checksumMiddlewareID)
		if !ok {
			return nil
		}
		_, err := st.Deserialize.Swap(checksumMiddlewareID, crc32WhenSent{sdk})
		return err
	})
}
