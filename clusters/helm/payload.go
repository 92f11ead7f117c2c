package helm

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"

	rspb "helm.sh/helm/v4/pkg/release/v1"
)

// maxPayload bounds a decompressed release. Kubernetes objects are at most
// about 1.5 MiB, so a payload that inflates far beyond that is corrupt or
// hostile and must not be allowed to exhaust memory.
const maxPayload = 64 << 20

var gzipMagic = []byte{0x1f, 0x8b, 0x08}

// decodeRelease turns the "release" field of a Helm storage object into a
// release. Helm does not export its decoder; the format is base64 of gzip of
// JSON, where the gzip step is absent in releases stored by early Helm 3
// versions.
func decodeRelease(data []byte) (*rspb.Release, error) {
	raw := make([]byte, base64.StdEncoding.DecodedLen(len(data)))
	n, err := base64.StdEncoding.Decode(raw, data)
	if err != nil {
		return nil, fmt.Errorf("decode release payload: base64: %w", err)
	}
	raw = raw[:n]
	if bytes.HasPrefix(raw, gzipMagic) {
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("decode release payload: gzip: %w", err)
		}
		defer zr.Close()
		raw, err = io.ReadAll(io.LimitReader(zr, maxPayload+1))
		if err != nil {
			return nil, fmt.Errorf("decode release payload: gzip: %w", err)
		}
		if len(raw) > maxPayload {
			return nil, fmt.Errorf("decode release payload: larger than %d bytes once decompressed", maxPayload)
		}
	}
	var rls rspb.Release
	if err := json.Unmarshal(raw, &rls); err != nil {
		return nil, fmt.Errorf("decode release payload: json: %w", err)
	}
	return &rls, nil
}
