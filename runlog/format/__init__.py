"""The run-directory format (FORMAT.md): file names, byte-exact records, what a run directory
is, the resolve rule, untrusted-path checks, and the `TrainingRun` writer."""
