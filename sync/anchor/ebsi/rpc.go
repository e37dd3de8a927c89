package ebsi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync/atomic"
)

// maxResponse caps a JSON-RPC response body.
const maxResponse = 4 << 20

// Request is a JSON-RPC 2.0 request as EBSI's APIs take it: jsonrpc "2.0",
// method, params (an array) and id.
type Request struct {
	JSONRPC string          `json:"jsonrpc"`
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params"`
	ID      json.RawMessage `json:"id"`
}

// Response is a JSON-RPC 2.0 response: result or error.
type Response struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   *RPCError       `json:"error,omitempty"`
}

// RPCError is a JSON-RPC error object. EBSI's Timestamp API answers a
// request it refuses with HTTP 400 and code -32600 ("Invalid Request"),
// its message naming the reason (for sendSignedTransaction, the node's).
type RPCError struct {
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data,omitempty"`
}

func (e *RPCError) Error() string { return fmt.Sprintf("JSON-RPC error %d: %s", e.Code, e.Message) }

// ErrorCode returns the JSON-RPC error code. With it RPCError is a
// go-ethereum rpc.Error, whose message evmtx.Classify reads.
func (e *RPCError) ErrorCode() int { return e.Code }

// Problem is an RFC 9457 problem document (application/problem+json), the
// body EBSI's APIs send with HTTP errors outside JSON-RPC, such as 401
// Unauthorized ("Invalid or missing JWT").
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
}

// authError is an HTTP 401 or 403: the API refused the access token.
type authError struct {
	status int
	detail string
}

func (e *authError) Error() string {
	if e.detail == "" {
		return fmt.Sprintf("HTTP %d %s", e.status, http.StatusText(e.status))
	}
	return fmt.Sprintf("HTTP %d %s: %s", e.status, http.StatusText(e.status), e.detail)
}

// rpcClient posts JSON-RPC requests.
type rpcClient struct {
	hc  *http.Client
	ids atomic.Uint64
}

// call posts method(params...) to url with the bearer token (if any) and
// decodes the result into out (if not nil). Errors: *authError for HTTP
// 401 and 403, *RPCError for a JSON-RPC error, others for transport and
// protocol failures.
func (c *rpcClient) call(ctx context.Context, url, token, method string, out any, params ...any) error {
	if params == nil {
		params = []any{}
	}
	p, err := json.Marshal(params)
	if err != nil {
		return fmt.Errorf("%s: encode params: %w", method, err)
	}
	id := c.ids.Add(1)
	body, err := json.Marshal(Request{JSONRPC: "2.0", Method: method, Params: p, ID: json.RawMessage(fmt.Sprint(id))})
	if err != nil {
		return fmt.Errorf("%s: encode request: %w", method, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return fmt.Errorf("%s: read response: %w", method, err)
	}
	if len(data) > maxResponse {
		return fmt.Errorf("%s: response exceeds %d bytes", method, maxResponse)
	}
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		return &authError{status: resp.StatusCode, detail: problemDetail(resp, data)}
	}
	var r Response
	jerr := json.Unmarshal(data, &r)
	if jerr == nil && r.Error != nil {
		return fmt.Errorf("%s: %w", method, r.Error)
	}
	if resp.StatusCode/100 != 2 {
		if d := problemDetail(resp, data); d != "" {
			return fmt.Errorf("%s: HTTP %d: %s", method, resp.StatusCode, d)
		}
		return fmt.Errorf("%s: HTTP %d", method, resp.StatusCode)
	}
	if jerr != nil {
		return fmt.Errorf("%s: response is not JSON-RPC: %w", method, jerr)
	}
	if r.JSONRPC != "2.0" || string(r.ID) != fmt.Sprint(id) {
		return fmt.Errorf("%s: response is not JSON-RPC 2.0 for request %d", method, id)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(r.Result, out); err != nil {
		return fmt.Errorf("%s: result: %w", method, err)
	}
	return nil
}

// problemDetail returns a problem document's title and detail, or a short
// excerpt of another body.
func problemDetail(resp *http.Response, data []byte) string {
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	var p Problem
	if (mt == "application/problem+json" || mt == "application/json") && json.Unmarshal(data, &p) == nil && (p.Title != "" || p.Detail != "") {
		return strings.TrimSpace(p.Title + ": " + p.Detail)
	}
	return short(strings.TrimSpace(string(data)))
}

// isAuth reports whether err is an API's refusal of the access token.
func isAuth(err error) bool {
	var a *authError
	return errors.As(err, &a)
}
