"""Silver: typed, standardized, deduplicated records with declarative data-quality rules."""
