"""The audit trail's pure core: the canonical form (`canonical`), the hash chain (`chain`), signed
checkpoints (`seals`) and verification of a whole trail (`verify`). Storage is in lakehouse.audit."""
