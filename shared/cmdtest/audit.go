package cmdtest

import (
	"bytes"
	"errors"
	"os/exec"
	"strings"
	"testing"
)

// AuditSubcommand checks the `audit` subcommand of a built driver binary
// without a cluster: -h documents the exit codes (exit 0), a missing
// required flag is a usage error naming it (exit 2), and a configuration
// that cannot be read is an error (exit 1) that never starts the driver.
func AuditSubcommand(t *testing.T, binary, requiredFlag string, required ...string) {
	t.Helper()
	dir := t.TempDir()
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"help", []string{"audit", "-h"}, 0, "exit codes"},
		{"missing " + requiredFlag, []string{"audit", "--secrets-dir", dir}, 2, requiredFlag},
		{"no credentials", append([]string{"audit"}, required...), 2, "--secrets-dir or --keyring"},
		{"unreadable configuration", append([]string{"audit", "--secrets-dir", dir, "--cluster-config", dir + "/missing.json"}, required...),
			1, "missing.json"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errs bytes.Buffer
			cmd := exec.Command(binary, tc.args...)
			cmd.Stdout, cmd.Stderr = &out, &errs
			err := cmd.Run()
			code := 0
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				code = exit.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			all := out.String() + errs.String()
			if code != tc.code || !strings.Contains(all, tc.want) {
				t.Fatalf("%s %q: exit %d, want %d and %q in:\n%s", binary, tc.args, code, tc.code, tc.want, all)
			}
			if strings.Contains(all, `"msg":"starting"`) {
				t.Fatalf("the audit started the driver:\n%s", all)
			}
		})
	}
}
