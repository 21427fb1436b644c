"""The audit trail's storage: the log writers and readers use (`log`), its Delta table writer
(`writer`), the local group-commit spool (`spool`), snapshot reads of the whole trail (`snapshot`),
and streamed verification (`scan`, hashing records a column at a time in `hashing`)."""
