// Package logging builds the zap loggers used by the CSI drivers and carries a
// request-scoped logger through a context.Context.
//
// The package holds no global state: callers construct a logger with New and
// pass it explicitly, or attach it to a context with WithLogger.
package logging

import (
	"context"
	"fmt"
	"os"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Supported log output formats.
const (
	// FormatJSON writes one JSON object per line. It is the default.
	FormatJSON = "json"
	// FormatConsole writes human-readable, tab-separated lines.
	FormatConsole = "console"
)

// New returns a logger writing entries at or above level to w, encoded in the
// given format (FormatJSON, FormatConsole, or "" for FormatJSON).
// A nil w writes to standard error. Writes to w are serialized, so w need not
// be safe for concurrent use. Any other format is an error.
func New(format string, level zapcore.Level, w zapcore.WriteSyncer) (*zap.Logger, error) {
	enc, err := newEncoder(format)
	if err != nil {
		return nil, err
	}
	if w == nil {
		w = os.Stderr
	}
	out := zapcore.Lock(w)
	core := zapcore.NewCore(enc, out, level)
	return zap.New(core, zap.AddCaller(), zap.ErrorOutput(out)), nil
}

// ValidateFormat reports whether format is accepted by New.
func ValidateFormat(format string) error {
	_, err := newEncoder(format)
	return err
}

func newEncoder(format string) (zapcore.Encoder, error) {
	cfg := encoderConfig()
	switch format {
	case FormatJSON, "":
		return zapcore.NewJSONEncoder(cfg), nil
	case FormatConsole:
		cfg.EncodeLevel = zapcore.CapitalLevelEncoder
		return zapcore.NewConsoleEncoder(cfg), nil
	default:
		return nil, fmt.Errorf("unknown log format %q (want %q or %q)", format, FormatJSON, FormatConsole)
	}
}

func encoderConfig() zapcore.EncoderConfig {
	cfg := zap.NewProductionEncoderConfig()
	cfg.TimeKey = "ts"
	cfg.EncodeTime = zapcore.RFC3339NanoTimeEncoder
	cfg.EncodeDuration = zapcore.StringDurationEncoder
	return cfg
}

// loggerKey is the context key under which WithLogger stores the logger.
type loggerKey struct{}

// WithLogger returns a copy of ctx carrying logger, retrievable with FromContext.
func WithLogger(ctx context.Context, logger *zap.Logger) context.Context {
	return context.WithValue(ctx, loggerKey{}, logger)
}

// FromContext returns the logger stored in ctx by WithLogger, or a no-op
// logger when ctx carries none. It never returns nil.
func FromContext(ctx context.Context) *zap.Logger {
	if logger, ok := ctx.Value(loggerKey{}).(*zap.Logger); ok && logger != nil {
		return logger
	}
	return zap.NewNop()
}
