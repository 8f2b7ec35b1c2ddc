"""``c360 serve``: the read-only lookup service over gold and identity (no Spark at request
time: delta-rs reads the Delta tables, DuckDB answers the queries)."""
