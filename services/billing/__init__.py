"""Billing: plans (as data), what an account may use now, Stripe customers, checkout and portal, subscription
events, monthly quotas and metered API usage."""
