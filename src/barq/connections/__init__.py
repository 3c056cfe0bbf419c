"""Subscriptions (اشتراک): what is sold and billed, their supply state, and the meters installed on them."""
