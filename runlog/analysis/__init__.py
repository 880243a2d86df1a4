"""Pure analysis over parsed data: smoothing and spike-keeping downsampling, eval blocks,
seed statistics, run/version comparison tables and config diffs."""
