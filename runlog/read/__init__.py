"""Disk to memory: episode logs tailed by byte offset, run summaries, the persistent index,
run activity and the file watcher."""
