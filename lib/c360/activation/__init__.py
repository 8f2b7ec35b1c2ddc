"""Activation: the contact plan, the campaign platform's export files, campaign results."""
