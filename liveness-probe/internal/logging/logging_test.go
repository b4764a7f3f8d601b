package logging_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/seed-6a310834/ceph-csi/liveness-probe/internal/logging"
)

func TestJSON(t *testing.T) {
	var buf bytes.Buffer
	log, err := logging.New("json", "info", &buf)
	if err != nil {
		t.Fatal(err)
	}
	log.Debug("hidden")
	log.Info("hello", zap.String("driver", "d"))
	var entry map[string]any
	if err := json.Unmarshal(bytes.TrimSpace(buf.Bytes()), &entry); err != nil {
		t.Fatalf("not one JSON line: %q: %v", buf.String(), err)
	}
	if entry["msg"] != "hello" || entry["driver"] != "d" || entry["level"] != "info" || entry["ts"] == nil {
		t.Errorf("entry = %v", entry)
	}
}

func TestConsole(t *testing.T) {
	var buf bytes.Buffer
	log, err := logging.New("console", "debug", &buf)
	if err != nil {
		t.Fatal(err)
	}
	log.Debug("hello", zap.String("driver", "d"))
	if s := buf.String(); !strings.Contains(s, "DEBUG") || !strings.Contains(s, "hello") || strings.HasPrefix(s, "{") {
		t.Errorf("console output = %q", s)
	}
}

func TestInvalid(t *testing.T) {
	if _, err := logging.New("xml", "info", &bytes.Buffer{}); err == nil {
		t.Error("format xml accepted")
	}
	if _, err := logging.New("json", "loud", &bytes.Buffer{}); err == nil {
		t.Error("level loud accepted")
	}
}
