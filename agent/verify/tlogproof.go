package verify

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"

	"github.com/waybill-eu/waybill/agent/checkpoint"
	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/jcs"
	"github.com/waybill-eu/waybill/agent/merkle"
	"github.com/waybill-eu/waybill/agent/signer"
)

// TlogProofHeader is the first line of a c2sp.org/tlog-proof.
const TlogProofHeader = "c2sp.org/tlog-proof@v1"

// TlogProof is a parsed c2sp.org/tlog-proof: an entry's index, its inclusion
// proof and the checkpoint note it leads to, with optional extra data.
// Waybill writes the leaf bytes as the extra data, so that the proof carries
// the event it proves.
type TlogProof struct {
	Extra []byte // nil when the proof has no extra line
	Index uint64
	Proof []merkle.Hash
	Note  []byte // the signed checkpoint note, verbatim
}

// TlogProof returns the bundle's proof in the c2sp.org/tlog-proof form:
//
//	c2sp.org/tlog-proof@v1
//	extra <base64 of the leaf bytes>
//	index <Index in decimal>
//	<one base64 hash per line: the inclusion proof, from the leaf's sibling up>
//	<empty line>
//	<the checkpoint note, verbatim>
//
// Every line ends in a newline (the note's last line included). The domain's
// chain ID is not part of this form; a verifier supplies it (see
// [TlogProof.Bundle]).
func (b *Bundle) TlogProof() string {
	var s strings.Builder
	s.WriteString(TlogProofHeader + "\n")
	s.WriteString("extra " + base64.StdEncoding.EncodeToString(b.Leaf) + "\n")
	s.WriteString("index " + strconv.FormatUint(b.Index, 10) + "\n")
	for _, h := range b.Inclusion {
		s.WriteString(h.String() + "\n")
	}
	s.WriteString("\n")
	s.WriteString(b.Checkpoint.Note)
	return s.String()
}

// ParseTlogProof parses a c2sp.org/tlog-proof strictly: the header line, an
// optional "extra" line of canonical non-empty base64, an "index" line in
// canonical decimal, at most 64 canonical base64 32-byte hashes, an empty
// line, and a well-formed signed note (whose signatures it does not check).
// It is at most [MaxSize] bytes.
func ParseTlogProof(data []byte) (*TlogProof, error) {
	if len(data) > MaxSize {
		return nil, malformed("tlog-proof: %d bytes, more than the limit of %d", len(data), MaxSize)
	}
	p := new(TlogProof)
	line := 0
	next := func() (string, bool) {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			return "", false
		}
		l := string(data[:i])
		data = data[i+1:]
		line++
		return l, true
	}
	l, ok := next()
	if !ok || l != TlogProofHeader {
		return nil, malformed("tlog-proof: line 1 is not %q", TlogProofHeader)
	}
	if l, ok = next(); !ok {
		return nil, malformed("tlog-proof: ends after line 1")
	}
	if rest, isExtra := strings.CutPrefix(l, "extra "); isExtra {
		b, err := jcs.DecodeBase64("tlog-proof: line 2: extra data", rest)
		if err != nil {
			return nil, malformed("%v", err)
		}
		if len(b) == 0 {
			return nil, malformed("tlog-proof: line 2: extra data is empty")
		}
		p.Extra = b
		if l, ok = next(); !ok {
			return nil, malformed("tlog-proof: ends after line %d", line)
		}
	}
	idx, isIndex := strings.CutPrefix(l, "index ")
	if !isIndex {
		return nil, malformed("tlog-proof: line %d does not start with \"index \"", line)
	}
	if idx == "" || strings.Trim(idx, "0123456789") != "" || (len(idx) > 1 && idx[0] == '0') {
		return nil, malformed("tlog-proof: line %d: index %s is not canonical decimal", line, short(strconv.Quote(idx)))
	}
	n, err := strconv.ParseUint(idx, 10, 64)
	if err != nil {
		return nil, malformed("tlog-proof: line %d: index %s overflows", line, short(idx))
	}
	p.Index = n
	for {
		l, ok = next()
		if !ok {
			return nil, malformed("tlog-proof: no empty line before the checkpoint")
		}
		if l == "" {
			break
		}
		if len(p.Proof) == maxProof {
			return nil, malformed("tlog-proof: more than %d proof hashes", maxProof)
		}
		h, err := parseHash("tlog-proof: line "+strconv.Itoa(line)+": hash", l)
		if err != nil {
			return nil, malformed("%v", err)
		}
		p.Proof = append(p.Proof, h)
	}
	if _, err := openUnverified(data); err != nil {
		return nil, malformed("tlog-proof: checkpoint: %v", err)
	}
	p.Note = bytes.Clone(data)
	return p, nil
}

// openUnverified checks that note is a well-formed signed note whose text is
// a checkpoint, and returns the checkpoint without checking any signature.
func openUnverified(note []byte) (checkpoint.Checkpoint, error) {
	_, err := checkpoint.Open(note)
	var u *checkpoint.UnverifiedNoteError
	if !errors.As(err, &u) {
		return checkpoint.Checkpoint{}, err // malformed (Open with no verifiers never succeeds)
	}
	return checkpoint.ParseCheckpoint([]byte(u.Note.Text))
}

// Marshal returns the text form of p, the inverse of [ParseTlogProof].
func (p *TlogProof) Marshal() []byte {
	var s bytes.Buffer
	s.WriteString(TlogProofHeader + "\n")
	if p.Extra != nil {
		s.WriteString("extra " + base64.StdEncoding.EncodeToString(p.Extra) + "\n")
	}
	s.WriteString("index " + strconv.FormatUint(p.Index, 10) + "\n")
	for _, h := range p.Proof {
		s.WriteString(h.String() + "\n")
	}
	s.WriteString("\n")
	s.Write(p.Note)
	return s.Bytes()
}

// Bundle rebuilds the bundle a Waybill tlog-proof was made from, taking the
// leaf bytes from the extra data and the chain ID and fleet from d. It
// verifies nothing: call [Bundle.Verify] on the result.
func (p *TlogProof) Bundle(d signer.Domain) (*Bundle, error) {
	if p.Extra == nil {
		return nil, malformed("tlog-proof: no extra data; a Waybill tlog-proof carries the leaf there")
	}
	ev, rawSig, err := splitLeaf(p.Extra)
	if err != nil {
		return nil, malformed("tlog-proof: extra data is not an event leaf: %v", err)
	}
	sig, err := jcs.StringValue("tlog-proof: extra data: sig", rawSig)
	if err != nil {
		return nil, malformed("%v", err)
	}
	s, err := event.ParseSignature(sig)
	if err != nil {
		return nil, malformed("tlog-proof: extra data: %v", err)
	}
	c, err := openUnverified(p.Note)
	if err != nil {
		return nil, malformed("tlog-proof: checkpoint: %v", err)
	}
	return &Bundle{
		Event:      ev,
		Signature:  s,
		Leaf:       bytes.Clone(p.Extra),
		Domain:     d,
		Checkpoint: Checkpoint{Origin: c.Origin, Size: c.Size, Root: c.Root, Note: string(p.Note)},
		Index:      p.Index,
		Inclusion:  append([]merkle.Hash{}, p.Proof...),
	}, nil
}
