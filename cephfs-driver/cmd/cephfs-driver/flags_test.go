package main

import (
	"context"
	"io"
	"strings"
	"testing"
)

func TestDriverFlagErrors(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr string
	}{
		{[]string{"--node-id=n1", "--default-mounter=nfs"}, "--default-mounter"},
		{[]string{"--node-id=n1", "--clone-wait=0s"}, "--clone-wait"},
	}
	for _, tc := range tests {
		err := run(context.Background(), tc.args, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("run(%q) = %v, want an error naming %s", tc.args, err, tc.wantErr)
		}
	}
}
