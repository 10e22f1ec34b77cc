package server

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"

	"github.com/resguardo/resguardo"
)

//go:embed static
var staticFS embed.FS

// assets serves the embedded static files under names that carry a hash of
// their content (app.3f2a9c1b.css), so they can be cached for a year and a
// new release is never served a stale file.
type assets struct {
	byHashed map[string]asset  // "app.3f2a9c1b.css" → file
	hashed   map[string]string // "app.css" → "/static/app.3f2a9c1b.css"
}

type asset struct {
	body        []byte
	contentType string
}

func loadAssets() (*assets, error) {
	a := &assets{byHashed: map[string]asset{}, hashed: map[string]string{}}
	err := fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := staticFS.ReadFile(p)
		if err != nil {
			return err
		}
		name := path.Base(p)
		ext := path.Ext(name)
		sum := sha256.Sum256(body)
		hashedName := strings.TrimSuffix(name, ext) + "." + hex.EncodeToString(sum[:])[:12] + ext
		ct := mime.TypeByExtension(ext)
		if ct == "" {
			return fmt.Errorf("static %s: unknown content type", name)
		}
		a.byHashed[hashedName] = asset{body: body, contentType: ct}
		a.hashed[name] = "/static/" + hashedName
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("static assets: %w", err)
	}
	return a, nil
}

// Path returns the URL of a static file by its plain name. An unknown name
// is a programming error caught when templates are executed in tests.
func (a *assets) Path(name string) (string, error) {
	p, ok := a.hashed[name]
	if !ok {
		return "", fmt.Errorf("no static asset %q", name)
	}
	return p, nil
}

func (s *Server) handleStatic() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		f, ok := s.assets.byHashed[r.PathValue("file")]
		if !ok {
			return resguardo.Errorf(resguardo.ENotFound, "There is nothing at this address.")
		}
		w.Header().Set("Content-Type", f.contentType)
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		_, err := w.Write(f.body)
		return err
	}
}
