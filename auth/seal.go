package auth

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
)

// Sealer encrypts secrets at rest with AES-256-GCM: a fresh random nonce
// per message, prepended to the ciphertext; the additional data (e.g. the
// name of what is sealed) binds a sealed value to its place.
type Sealer struct {
	aead cipher.AEAD
}

// NewSealer makes a sealer of a 32-byte key.
func NewSealer(key []byte) (*Sealer, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("key: %d bytes, want 32 (AES-256)", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead}, nil
}

// LoadKey reads a key from a file or, when file is empty, from the named
// environment variable: 32 raw bytes, or 64 hex digits, or base64 of 32
// bytes. Errors name the source, never the key.
func LoadKey(file, env string) ([]byte, error) {
	var raw []byte
	switch {
	case file != "" && env != "":
		return nil, errors.New("keyFile and keyEnv: set one of them")
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("keyFile: %w", err)
		}
		raw = b
	case env != "":
		v, ok := os.LookupEnv(env)
		if !ok || v == "" {
			return nil, fmt.Errorf("keyEnv: environment variable %s is not set", env)
		}
		raw = []byte(v)
	default:
		return nil, errors.New("keyFile or keyEnv: missing")
	}
	if len(raw) == 32 {
		return raw, nil
	}
	s := strings.TrimSpace(string(raw))
	if b, err := hex.DecodeString(s); err == nil && len(b) == 32 {
		return b, nil
	}
	if b, err := base64.StdEncoding.DecodeString(s); err == nil && len(b) == 32 {
		return b, nil
	}
	return nil, errors.New("key: not 32 bytes, 64 hex digits or base64 of 32 bytes (make one with: head -c 32 /dev/urandom | base64)")
}

// Seal encrypts plain, bound to aad.
func (s *Sealer) Seal(plain, aad []byte) ([]byte, error) {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return s.aead.Seal(nonce, nonce, plain, aad), nil
}

// Open decrypts what Seal made with the same key and aad.
func (s *Sealer) Open(sealed, aad []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n+s.aead.Overhead() {
		return nil, errors.New("sealed value too short")
	}
	plain, err := s.aead.Open(nil, sealed[:n], sealed[n:], aad)
	if err != nil {
		return nil, errors.New("sealed value does not open with this key (wrong key, or tampered)")
	}
	return plain, nil
}
