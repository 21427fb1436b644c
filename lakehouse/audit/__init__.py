"""The audit trail's storage: the log writers and readers use (`log`), its Delta table writer
(`writer`), the local group-commit spool (`spool`) and snapshot reads for verification (`snapshot`)."""
