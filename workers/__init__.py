"""Worker processes: each owns the memory spaces placed on it (arrays, search, write-ahead log) and nothing else."""
