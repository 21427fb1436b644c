"""The pure domain: entities and decisions (who may do what, when a promotion may move an alias, what
a task is judged on, drift and quality verdicts, when to retrain, what the platform costs, the audit
chain). No I/O, no clock, no environment: import-linter forbids I/O libraries here. Imported by
every other package; imports nothing of ours."""
