"""``c360 generate``: a deterministic synthetic world and the noisy exports it lands."""
