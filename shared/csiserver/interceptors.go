package csiserver

import (
	"context"
	"fmt"
	"runtime/debug"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/kubernetes-csi/csi-lib-utils/protosanitizer"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seed-6a310834/ceph-csi/shared/logging"
)

// identityServicePrefix starts the full method names of the Identity service,
// whose frequent calls (Probe above all) are logged at debug level.
const identityServicePrefix = "/csi.v1.Identity/"

// internalErrorMessage is all a client learns about a handler panic.
const internalErrorMessage = "internal error"

// interceptors returns the server's unary interceptors, outermost first:
// request context, metrics, logging, answer before the deadline, panic
// recovery (inside, so that it also guards a handler that outlives its
// answer).
func interceptors(base *zap.Logger, m *rpcMetrics) []grpc.UnaryServerInterceptor {
	return []grpc.UnaryServerInterceptor{
		requestContextInterceptor(base),
		metricsInterceptor(m),
		loggingInterceptor,
		deadlineInterceptor,
		recoveryInterceptor,
	}
}

// requestContextInterceptor gives each request an ID and puts a logger
// carrying the req_id and method fields into its context.
func requestContextInterceptor(base *zap.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		logger := base.With(zap.String("req_id", uuid.NewString()), zap.String("method", info.FullMethod))
		return handler(logging.WithLogger(ctx, logger), req)
	}
}

// metricsInterceptor counts requests, their duration and those in flight.
func metricsInterceptor(m *rpcMetrics) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		end := m.begin(info.FullMethod)
		resp, err := handler(ctx, req)
		end(status.Code(err).String())
		return resp, err
	}
}

// loggingInterceptor logs the request and response with secrets stripped at
// debug level, and the outcome with its code and duration.
func loggingInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	logger := logging.FromContext(ctx)
	logger.Debug("request", zap.Stringer("request", protosanitizer.StripSecrets(req)))
	start := time.Now()
	resp, err := handler(ctx, req)
	logOutcome(logger, info.FullMethod, time.Since(start), resp, err)
	return resp, err
}

func logOutcome(logger *zap.Logger, method string, took time.Duration, resp any, err error) {
	code := status.Code(err)
	fields := []zap.Field{zap.String("code", code.String()), zap.Duration("duration", took)}
	if err != nil {
		logger.Log(errorLevel(code), "request failed", append(fields, zap.Error(err))...)
		return
	}
	logger.Log(successLevel(method), "request succeeded", fields...)
	logger.Debug("response", zap.Stringer("response", protosanitizer.StripSecrets(resp)))
}

// successLevel keeps the chatty Identity calls out of info-level logs.
func successLevel(method string) zapcore.Level {
	if strings.HasPrefix(method, identityServicePrefix) {
		return zapcore.DebugLevel
	}
	return zapcore.InfoLevel
}

// errorLevel logs failures the caller caused, or that it is expected to
// retry, as warnings and everything else as errors.
func errorLevel(code codes.Code) zapcore.Level {
	switch code {
	case codes.Canceled, codes.InvalidArgument, codes.NotFound, codes.AlreadyExists,
		codes.FailedPrecondition, codes.Aborted, codes.OutOfRange, codes.ResourceExhausted:
		return zapcore.WarnLevel
	default:
		return zapcore.ErrorLevel
	}
}

// recoveryInterceptor turns a handler panic into an Internal status. The
// panic value and stack are logged, never returned to the client.
func recoveryInterceptor(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	defer func() {
		if r := recover(); r != nil {
			logging.FromContext(ctx).Error("handler panicked",
				zap.String("panic", fmt.Sprint(r)),
				zap.ByteString("stack", debug.Stack()))
			resp, err = nil, status.Error(codes.Internal, internalErrorMessage)
		}
	}()
	return handler(ctx, req)
}
