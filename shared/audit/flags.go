package audit

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/seed-6a310834/ceph-csi/shared/cliflags"
	"github.com/seed-6a310834/ceph-csi/shared/clusterconfig"
	"github.com/seed-6a310834/ceph-csi/shared/credentials"
)

// Exit codes of the audit subcommands.
const (
	// ExitClean: no orphan left (none found, or all deleted).
	ExitClean = 0
	// ExitError: the audit could not run, or a deletion failed.
	ExitError = 1
	// ExitUsage: bad command line.
	ExitUsage = 2
	// ExitOrphans: orphans were found and left in place.
	ExitOrphans = 3
)

// DefaultGrace is the default of --grace.
const DefaultGrace = time.Hour

// DefaultTimeout is the default of --timeout.
const DefaultTimeout = 10 * time.Minute

// Flags are the flags both audit subcommands take.
type Flags struct {
	ClusterConfig string
	ClusterID     string
	InstanceID    string
	SecretsDir    string
	Keyring       string
	User          string
	Grace         time.Duration
	Delete        bool
	Timeout       time.Duration
	// VolumePrefixes are extra volumeNamePrefix values (csi-vol- is
	// always included).
	VolumePrefixes multiFlag
	// SnapshotPrefixes are extra snapshotNamePrefix values (csi-snap- is
	// always included).
	SnapshotPrefixes multiFlag
}

// multiFlag is a repeatable string flag that also splits on commas.
type multiFlag []string

func (m *multiFlag) String() string { return strings.Join(*m, ",") }

func (m *multiFlag) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*m = append(*m, p)
		}
	}
	return nil
}

// RegisterFlags defines the common flags on fs. secretFields names the
// files --secrets-dir must hold (userID/userKey or adminID/adminKey), for
// the help text.
func RegisterFlags(fs *flag.FlagSet, secretFields string) *Flags {
	f := &Flags{}
	fs.StringVar(&f.ClusterConfig, "cluster-config", cliflags.DefaultClusterConfig, "path of the Ceph cluster configuration file (the driver's)")
	fs.StringVar(&f.ClusterID, "cluster-id", "", "clusterID of the entry to audit (may be omitted when the file has one entry)")
	fs.StringVar(&f.InstanceID, "instance-id", cliflags.DefaultInstanceID, "journal instance of the driver deployment to audit")
	fs.StringVar(&f.SecretsDir, "secrets-dir", "", "directory with the files "+secretFields+" (a mounted Kubernetes Secret)")
	fs.StringVar(&f.Keyring, "keyring", "", "Ceph keyring file to read the key of --id from (instead of --secrets-dir)")
	fs.StringVar(&f.User, "id", "admin", "Ceph user whose key --keyring holds")
	fs.DurationVar(&f.Grace, "grace", DefaultGrace, "orphans younger than this are listed but never deleted")
	fs.BoolVar(&f.Delete, "delete", false, "delete the eligible orphans after printing what will be removed")
	fs.DurationVar(&f.Timeout, "timeout", DefaultTimeout, "bound on the whole audit")
	fs.Var(&f.VolumePrefixes, "volume-name-prefix", "extra volumeNamePrefix of StorageClasses (repeatable; csi-vol- is always included)")
	fs.Var(&f.SnapshotPrefixes, "snapshot-name-prefix", "extra snapshot name prefix (repeatable; csi-snap- is always included)")
	return f
}

// Validate checks the common flags, naming the flag at fault.
func (f *Flags) Validate() error {
	var errs []error
	if f.ClusterConfig == "" {
		errs = append(errs, errors.New("--cluster-config: must not be empty"))
	}
	if f.InstanceID == "" {
		errs = append(errs, errors.New("--instance-id: must not be empty"))
	}
	if (f.SecretsDir == "") == (f.Keyring == "") {
		errs = append(errs, errors.New("--secrets-dir or --keyring: exactly one is required"))
	}
	if f.Grace < 0 {
		errs = append(errs, fmt.Errorf("--grace: %s must not be negative", f.Grace))
	}
	if f.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("--timeout: %s must be positive", f.Timeout))
	}
	return errors.Join(errs...)
}

// Credentials reads the credentials from --secrets-dir (files idField and
// keyField) or from --keyring.
func (f *Flags) Credentials(idField, keyField string) (*credentials.Credentials, error) {
	if f.SecretsDir != "" {
		c, err := credentials.FromDir(f.SecretsDir, idField, keyField)
		if err != nil {
			return nil, fmt.Errorf("--secrets-dir: %w", err)
		}
		return c, nil
	}
	c, err := credentials.FromKeyring(f.Keyring, f.User)
	if err != nil {
		return nil, fmt.Errorf("--keyring: %w", err)
	}
	return c, nil
}

// Cluster returns the entry of --cluster-id in --cluster-config, or the
// only entry when --cluster-id is empty.
func (f *Flags) Cluster() (*clusterconfig.Cluster, error) {
	store := clusterconfig.NewStore(f.ClusterConfig)
	if f.ClusterID != "" {
		c, err := store.Get(f.ClusterID)
		if err != nil {
			return nil, fmt.Errorf("--cluster-id: %w", err)
		}
		return c, nil
	}
	all, err := store.Clusters()
	if err != nil {
		return nil, fmt.Errorf("--cluster-config: %w", err)
	}
	if len(all) != 1 {
		return nil, fmt.Errorf("--cluster-id: required, %s has %d clusters", f.ClusterConfig, len(all))
	}
	return all[0], nil
}

// Policy returns the deletion rules of the flags at now.
func (f *Flags) Policy(now time.Time) Policy {
	return Policy{Grace: f.Grace, Now: now}
}

// SetUsage makes fs print the synopsis, the description, the flags and
// the exit codes for -h.
func SetUsage(fs *flag.FlagSet, synopsis, description string) {
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "usage: %s\n\n%s\n\nflags:\n", synopsis, description)
		fs.PrintDefaults()
		printExitCodes(w)
	}
}

func printExitCodes(w io.Writer) {
	fmt.Fprintf(w, `
exit codes:
  %d  clean: no orphan found, or every orphan found was deleted (or found healthy again)
  %d  error: the audit could not run (configuration, credentials, cluster), or a deletion failed
  %d  bad command line
  %d  orphans found and left in place (report mode, or kept: too young, in use, not ours)
`, ExitClean, ExitError, ExitUsage, ExitOrphans)
}

// Command is the subcommand name: `<driver> audit [flags]`.
const Command = "audit"

// ErrUsage marks a command-line error.
var ErrUsage = errors.New("invalid command line")

// errReported is a command-line error the flag package already printed.
var errReported = fmt.Errorf("%w", ErrUsage)

// Parse parses args into fs and validates f; errors wrap ErrUsage (and
// flag.ErrHelp for -h).
func (f *Flags) Parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %w", errReported, err) // the flag package printed it
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", ErrUsage, fs.Args())
	}
	if err := f.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrUsage, err)
	}
	return nil
}

// ExitCode prints err, unless the report already said it all, and returns
// the command's exit code.
func ExitCode(stderr io.Writer, program string, err error) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return ExitClean
	case errors.Is(err, ErrOrphansRemain):
		return ExitOrphans
	case errors.Is(err, errReported):
		return ExitUsage
	case errors.Is(err, ErrUsage):
		fmt.Fprintf(stderr, "%s %s: %v\n", program, Command, err)
		return ExitUsage
	}
	fmt.Fprintf(stderr, "%s %s: %v\n", program, Command, err)
	return ExitError
}
