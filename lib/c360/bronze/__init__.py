"""Bronze: raw source files as landed, append-only, with lineage and quarantine."""
