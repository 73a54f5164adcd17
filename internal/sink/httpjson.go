package sink

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// apiClient is c, or the client of a sink that calls an HTTP API: a 10 s timeout, and redirects
// not followed (a redirect must not carry the sink's credential to another place).
func apiClient(c *http.Client) *http.Client {
	if c != nil {
		return c
	}
	return &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// callJSON sends one request to u with header and in as its JSON body (none when nil), and
// decodes a 2xx answer into out (when not nil: an empty answer is then an error). An answer outside 2xx is failed(status, body),
// body read up to 1 MiB. Errors name the method and u without its query (RedactURL), never a
// header's value.
func callJSON(ctx context.Context, c *http.Client, method, u string, header http.Header, in, out any, failed func(status int, body []byte) error) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, RedactURL(u), err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			return fmt.Errorf("%s %s: %w", method, RedactURL(u), ue.Err)
		}
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return failed(resp.StatusCode, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: answer is not JSON: %w", method, RedactURL(u), err)
		}
	}
	return nil
}
