package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

func TestNewFormats(t *testing.T) {
	tests := []struct {
		name    string
		format  string
		wantErr bool
		check   func(t *testing.T, out string)
	}{
		{name: "json", format: FormatJSON, check: checkJSON},
		{name: "default is json", format: "", check: checkJSON},
		{name: "console", format: FormatConsole, check: checkConsole},
		{name: "unknown", format: "xml", wantErr: true},
		{name: "case sensitive", format: "JSON", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			logger, err := New(tc.format, zapcore.InfoLevel, zapcore.AddSync(&buf))
			if tc.wantErr {
				if err == nil {
					t.Fatalf("New(%q) succeeded, want error", tc.format)
				}
				if ValidateFormat(tc.format) == nil {
					t.Fatalf("ValidateFormat(%q) succeeded, want error", tc.format)
				}
				return
			}
			if err != nil {
				t.Fatalf("New(%q): %v", tc.format, err)
			}
			logger.Info("hello", zap.String("volume", "vol-1"))
			tc.check(t, buf.String())
		})
	}
}

func checkJSON(t *testing.T, out string) {
	t.Helper()
	var entry map[string]any
	if err := json.Unmarshal([]byte(out), &entry); err != nil {
		t.Fatalf("output %q is not one JSON object: %v", out, err)
	}
	for key, want := range map[string]string{"msg": "hello", "level": "info", "volume": "vol-1"} {
		if entry[key] != want {
			t.Errorf("entry[%q] = %v, want %q", key, entry[key], want)
		}
	}
	if _, ok := entry["ts"]; !ok {
		t.Errorf("entry has no ts field: %v", entry)
	}
}

func checkConsole(t *testing.T, out string) {
	t.Helper()
	if strings.HasPrefix(out, "{") {
		t.Fatalf("console output looks like JSON: %q", out)
	}
	for _, want := range []string{"INFO", "hello", `"volume": "vol-1"`} {
		if !strings.Contains(out, want) {
			t.Errorf("console output %q lacks %q", out, want)
		}
	}
}

func TestNewLevel(t *testing.T) {
	var buf bytes.Buffer
	logger, err := New(FormatJSON, zapcore.WarnLevel, zapcore.AddSync(&buf))
	if err != nil {
		t.Fatal(err)
	}
	logger.Info("dropped")
	logger.Warn("kept")
	out := buf.String()
	if strings.Contains(out, "dropped") || !strings.Contains(out, "kept") {
		t.Fatalf("level filtering wrong, output: %q", out)
	}
}

func TestNewNilWriter(t *testing.T) {
	logger, err := New(FormatJSON, zapcore.InfoLevel, nil)
	if err != nil || logger == nil {
		t.Fatalf("New with nil writer = %v, %v; want a logger", logger, err)
	}
}

func TestContext(t *testing.T) {
	if FromContext(context.Background()) == nil {
		t.Fatal("FromContext on empty context returned nil")
	}
	if FromContext(WithLogger(context.Background(), nil)) == nil {
		t.Fatal("FromContext after WithLogger(nil) returned nil")
	}

	var buf bytes.Buffer
	logger, err := New(FormatJSON, zapcore.InfoLevel, zapcore.AddSync(&buf))
	if err != nil {
		t.Fatal(err)
	}
	ctx := WithLogger(context.Background(), logger.With(zap.String("req_id", "r1")))
	FromContext(ctx).Info("from context")
	if !strings.Contains(buf.String(), `"req_id":"r1"`) {
		t.Fatalf("logger from context lost its fields: %q", buf.String())
	}
}
