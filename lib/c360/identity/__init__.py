"""Identity resolution: party records -> persistent customer_id (work in progress)."""
