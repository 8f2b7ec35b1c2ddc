"""Identity resolution: party records -> persistent customer_id, links, golden records."""
