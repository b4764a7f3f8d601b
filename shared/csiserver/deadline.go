package csiserver

import (
	"context"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seed-6a310834/ceph-csi/shared/logging"
)

// answerMargin is how long before a request's deadline the driver answers
// for a handler that has not returned: a twentieth of the time the request
// has, between 50 ms and 1 s. It is half the margin handlers that wait on
// purpose use (the CephFS clone wait), so their own answers come first.
func answerMargin(remaining time.Duration) time.Duration {
	return min(max(remaining/20, 50*time.Millisecond), time.Second)
}

// answer is a handler's result.
type answer struct {
	resp any
	err  error
}

// deadlineInterceptor answers DeadlineExceeded shortly before the request's
// deadline when the handler is still running, so that the caller gets the
// driver's answer instead of its own timeout. A Ceph call that does not
// honour its context (a mgr command while the monitor or an OSD is down)
// can block a handler until Ceph answers; the handler goes on in the
// background, keeps what it holds (its per-volume lock: retries get
// Aborted meanwhile) and its late result is logged. Requests without a
// deadline are served as they are.
func deadlineInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	deadline, ok := ctx.Deadline()
	if !ok {
		return handler(ctx, req)
	}
	done := make(chan answer, 1)
	start := time.Now()
	go func() {
		resp, err := handler(ctx, req)
		done <- answer{resp: resp, err: err}
	}()
	remaining := time.Until(deadline)
	timer := time.NewTimer(remaining - answerMargin(remaining))
	defer timer.Stop()
	select {
	case a := <-done:
		return a.resp, a.err
	case <-timer.C:
	case <-ctx.Done():
	}
	go logLateAnswer(logging.FromContext(ctx), start, done)
	if err := ctx.Err(); err != nil {
		return nil, status.FromContextError(err).Err()
	}
	return nil, status.Errorf(codes.DeadlineExceeded,
		"%s: no answer from the storage backend before the request's deadline; the operation goes on, retry later",
		info.FullMethod)
}

// logLateAnswer waits for the result of a handler whose request was
// already answered and logs it.
func logLateAnswer(logger *zap.Logger, start time.Time, done <-chan answer) {
	a := <-done
	logger.Warn("request finished after its deadline answer",
		zap.String("code", status.Code(a.err).String()), zap.Duration("duration", time.Since(start)), zap.Error(a.err))
}
