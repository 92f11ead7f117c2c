package tiller

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"

	anypb "github.com/golang/protobuf/ptypes/any"
	hapichart "k8s.io/helm/pkg/proto/hapi/chart"
	"sigs.k8s.io/yaml"
)

// maxArchive bounds a chart archive's unpacked size, as Helm does.
const maxArchive = 100 << 20

// LoadArchive reads a chart archive (.tgz, one top directory) into Helm
// v2's chart message, as Helm v2's chartutil.LoadArchive does: Chart.yaml
// into the metadata, values.yaml as raw values, templates/ as templates,
// charts/ (directories or archives) as dependencies, and every other file as
// a file.
func LoadArchive(b []byte) (*hapichart.Chart, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("chart archive: %w", err)
	}
	tr := tar.NewReader(zr)
	files := map[string][]byte{}
	var total int64
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("chart archive: %w", err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		name := path.Clean(strings.TrimPrefix(h.Name, "./"))
		// Drop the top directory (chart name), as Helm does.
		_, rest, ok := strings.Cut(name, "/")
		if !ok || rest == "" || strings.HasPrefix(rest, "../") {
			continue
		}
		if total += h.Size; total > maxArchive {
			return nil, fmt.Errorf("chart archive: larger than %d MiB unpacked", maxArchive>>20)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return nil, fmt.Errorf("chart archive: %s: %w", name, err)
		}
		files[rest] = data
	}
	return fromFiles(files)
}

func fromFiles(files map[string][]byte) (*hapichart.Chart, error) {
	meta, ok := files["Chart.yaml"]
	if !ok {
		return nil, errors.New("chart archive: no Chart.yaml")
	}
	ch := &hapichart.Chart{Metadata: &hapichart.Metadata{}, Values: &hapichart.Config{}}
	if err := yaml.Unmarshal(meta, ch.Metadata); err != nil {
		return nil, fmt.Errorf("chart archive: Chart.yaml: %w", err)
	}
	if ch.Metadata.GetName() == "" {
		return nil, errors.New("chart archive: Chart.yaml has no name")
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	subdirs := map[string]map[string][]byte{}
	var subdirOrder []string
	for _, n := range names {
		data := files[n]
		switch {
		case n == "Chart.yaml":
		case n == "values.yaml":
			ch.Values.Raw = string(data)
		case strings.HasPrefix(n, "templates/"):
			ch.Templates = append(ch.Templates, &hapichart.Template{Name: n, Data: data})
		case strings.HasPrefix(n, "charts/"):
			rest := strings.TrimPrefix(n, "charts/")
			if dir, inner, ok := strings.Cut(rest, "/"); ok {
				if subdirs[dir] == nil {
					subdirs[dir] = map[string][]byte{}
					subdirOrder = append(subdirOrder, dir)
				}
				subdirs[dir][inner] = data
				continue
			}
			if strings.HasSuffix(rest, ".tgz") || strings.HasSuffix(rest, ".tar.gz") {
				sub, err := LoadArchive(data)
				if err != nil {
					return nil, fmt.Errorf("subchart %s: %w", rest, err)
				}
				ch.Dependencies = append(ch.Dependencies, sub)
				continue
			}
			ch.Files = append(ch.Files, &anypb.Any{TypeUrl: n, Value: data})
		default:
			ch.Files = append(ch.Files, &anypb.Any{TypeUrl: n, Value: data})
		}
	}
	for _, dir := range subdirOrder {
		sub, err := fromFiles(subdirs[dir])
		if err != nil {
			return nil, fmt.Errorf("subchart %s: %w", dir, err)
		}
		ch.Dependencies = append(ch.Dependencies, sub)
	}
	return ch, nil
}
