"""Privacy: right to erasure and pseudonymized views for analysts."""
