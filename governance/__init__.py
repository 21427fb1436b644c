"""Pure domain: entities and decisions. No I/O, no clock, no environment."""
