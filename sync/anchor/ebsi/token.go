package ebsi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"time"
)

// ErrUnauthorized is wrapped by the backend's errors when it holds no
// access token the Timestamp API accepts: the token source failed or gave
// an expired token, or the API refused the token (HTTP 401 or 403) again
// after one refresh. The anchoring loop treats it like any error other than
// its own sentinels, as "the ledger is unreachable now": it queues the
// checkpoint and retries, and never drops one.
var ErrUnauthorized = errors.New("ebsi: not authorised by the Timestamp API")

// TokenSource gives the access token that EBSI's Timestamp API requires
// for its write methods: a JWT with the scope "openid timestamp_write",
// issued by EBSI's Authorisation API (POST /authorisation/v4/token) to an
// entity presenting a verifiable presentation of its credentials, valid for
// two hours ("expires_in": 7200). See firmware-docs/EBSI.md.
//
// Building and signing that presentation is outside this package: the
// operator's wallet, or a tool holding the entity's credentials, obtains
// tokens and hands them over, for example through FileToken.
type TokenSource interface {
	// Token returns a token and the time it expires; a zero expiry means
	// unknown (the backend uses the token until the API refuses it). The
	// backend calls Token when it holds no token, when its token is about
	// to expire, and once after the API refused its token.
	Token(ctx context.Context) (token string, expiry time.Time, err error)
}

// TokenSourceFunc adapts a function to a TokenSource.
type TokenSourceFunc func(ctx context.Context) (string, time.Time, error)

// Token implements TokenSource.
func (f TokenSourceFunc) Token(ctx context.Context) (string, time.Time, error) { return f(ctx) }

// StaticToken returns a TokenSource that always gives token, expiring at
// expiry (zero: unknown). Once the token has expired, or the API refused
// it, the backend reports ErrUnauthorized until it is replaced.
func StaticToken(token string, expiry time.Time) TokenSource {
	return TokenSourceFunc(func(context.Context) (string, time.Time, error) {
		if token == "" {
			return "", time.Time{}, errors.New("ebsi: static token is empty")
		}
		return token, expiry, nil
	})
}

// maxTokenFile caps the token file FileToken reads.
const maxTokenFile = 64 << 10

// FileToken returns a TokenSource that reads the file at path each time it
// is asked for a token, so that a tool obtaining tokens from EBSI's
// Authorisation API can replace the file (atomically, by rename) as tokens
// expire. The file holds either the compact JWT alone or the Authorisation
// API's token response, {"access_token": ..., "token_type": "Bearer",
// "expires_in": 7200, ...}. The expiry is the JWT's "exp" claim; failing
// that, the file's modification time plus "expires_in"; failing both,
// unknown.
func FileToken(path string) TokenSource {
	return TokenSourceFunc(func(context.Context) (string, time.Time, error) {
		f, err := os.Open(path)
		if err != nil {
			return "", time.Time{}, fmt.Errorf("ebsi: token file: %w", err)
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return "", time.Time{}, fmt.Errorf("ebsi: token file: %w", err)
		}
		b, err := io.ReadAll(io.LimitReader(f, maxTokenFile+1))
		if err != nil {
			return "", time.Time{}, fmt.Errorf("ebsi: token file %s: %w", path, err)
		}
		if len(b) > maxTokenFile {
			return "", time.Time{}, fmt.Errorf("ebsi: token file %s exceeds %d bytes", path, maxTokenFile)
		}
		tok, exp, err := ParseToken(b, st.ModTime())
		if err != nil {
			return "", time.Time{}, fmt.Errorf("ebsi: token file %s: %w", path, err)
		}
		return tok, exp, nil
	})
}

// ParseToken reads a token file's content (see FileToken): a compact JWT,
// or a token response whose "expires_in" counts from issued. It returns
// the token and its expiry (zero if unknown).
func ParseToken(b []byte, issued time.Time) (string, time.Time, error) {
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", time.Time{}, errors.New("no token")
	}
	var expiresIn int64
	if strings.HasPrefix(s, "{") {
		var r struct {
			AccessToken string `json:"access_token"`
			TokenType   string `json:"token_type"`
			ExpiresIn   int64  `json:"expires_in"`
		}
		if err := json.Unmarshal([]byte(s), &r); err != nil {
			return "", time.Time{}, fmt.Errorf("token response: %w", err)
		}
		if r.AccessToken == "" {
			return "", time.Time{}, errors.New("token response has no access_token")
		}
		if r.TokenType != "" && !strings.EqualFold(r.TokenType, "Bearer") {
			return "", time.Time{}, fmt.Errorf("token type %q is not Bearer", short(r.TokenType))
		}
		if r.ExpiresIn < 0 {
			return "", time.Time{}, fmt.Errorf("expires_in %d is negative", r.ExpiresIn)
		}
		s, expiresIn = r.AccessToken, r.ExpiresIn
	}
	if strings.ContainsAny(s, " \t\r\n\"") {
		return "", time.Time{}, errors.New("token is not a single compact token")
	}
	if exp, ok := jwtExpiry(s); ok {
		return s, exp, nil
	}
	if expiresIn > 0 && !issued.IsZero() {
		return s, issued.Add(time.Duration(expiresIn) * time.Second), nil
	}
	return s, time.Time{}, nil
}

// jwtExpiry reads the "exp" claim (RFC 7519 §4.1.4, seconds since the
// epoch) of a compact JWT without verifying it: the API verifies tokens;
// the backend only wants to know when to ask for a new one.
func jwtExpiry(tok string) (time.Time, bool) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return time.Time{}, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return time.Time{}, false
	}
	var claims struct {
		Exp *float64 `json:"exp"`
	}
	if json.Unmarshal(payload, &claims) != nil || claims.Exp == nil || *claims.Exp <= 0 || *claims.Exp > math.MaxInt32*4 {
		return time.Time{}, false
	}
	sec, frac := math.Modf(*claims.Exp)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), true
}

// DefaultRefreshBefore is how long before its expiry the backend replaces
// a token.
const DefaultRefreshBefore = 5 * time.Minute

// token returns the token to use now: the one held while it is valid for
// at least RefreshBefore more, else a new one from the source. Errors wrap
// ErrUnauthorized.
func (b *Backend) token(ctx context.Context) (string, error) {
	now := b.opts.Now()
	b.mu.Lock()
	tok, exp := b.tok, b.tokExp
	b.mu.Unlock()
	if tok != "" && (exp.IsZero() || now.Add(b.opts.RefreshBefore).Before(exp)) {
		return tok, nil
	}
	fresh, fexp, err := b.opts.Token.Token(ctx)
	if err != nil && tok != "" && now.Before(exp) {
		// Renewal failed, but the held token is still valid: use it while
		// it lasts.
		b.opts.Logger.Warn("access token renewal failed; using the current token until it expires", "expires", exp, "err", err)
		return tok, nil
	}
	if err != nil {
		b.setAuthFailed(true)
		return "", fmt.Errorf("%w: token source: %v", ErrUnauthorized, err)
	}
	switch {
	case fresh == "":
		b.setAuthFailed(true)
		return "", fmt.Errorf("%w: token source gave an empty token", ErrUnauthorized)
	case !fexp.IsZero() && !now.Before(fexp):
		b.setAuthFailed(true)
		return "", fmt.Errorf("%w: token source gave a token that expired at %s", ErrUnauthorized, fexp.UTC().Format(time.RFC3339))
	}
	b.mu.Lock()
	refused := fresh == b.refused
	if !refused {
		b.tok, b.tokExp = fresh, fexp
	}
	b.mu.Unlock()
	if refused {
		b.setAuthFailed(true)
		return "", fmt.Errorf("%w: token source gave the token the API refused", ErrUnauthorized)
	}
	if fresh != tok {
		b.opts.Logger.Info("access token obtained", "expires", fexp)
	}
	return fresh, nil
}

// refuse forgets a token the API refused.
func (b *Backend) refuse(tok string) {
	b.mu.Lock()
	b.refused = tok
	if b.tok == tok {
		b.tok, b.tokExp = "", time.Time{}
	}
	b.mu.Unlock()
}

func (b *Backend) setAuthFailed(v bool) {
	b.mu.Lock()
	b.authFailed = v
	b.mu.Unlock()
}

// authCall calls method at url (the Timestamp API, or the Ledger API with
// Options.LedgerToken) with the access token. When
// the API refuses the token (HTTP 401 or 403) it gets a new one and tries
// once more; a second refusal returns an error wrapping ErrUnauthorized.
func (b *Backend) authCall(ctx context.Context, url, method string, out any, params ...any) error {
	for attempt := 0; ; attempt++ {
		tok, err := b.token(ctx)
		if err != nil {
			return fmt.Errorf("ebsi: %s: %w", method, err)
		}
		err = b.rpc.call(ctx, url, tok, method, out, params...)
		if !isAuth(err) {
			var rerr *RPCError
			if err == nil || errors.As(err, &rerr) {
				// The API took the token (a JSON-RPC error comes after
				// its guard).
				b.mu.Lock()
				b.authFailed, b.refused = false, ""
				b.mu.Unlock()
			}
			return err
		}
		b.refuse(tok)
		if attempt > 0 {
			b.setAuthFailed(true)
			return fmt.Errorf("ebsi: %s: %w: %v", method, ErrUnauthorized, err)
		}
		b.opts.Logger.Warn("Timestamp API refused the access token: getting a new one", "method", method, "err", err)
	}
}
