"""Talking to Sonoran CAD: the HTTP client, account look-ups, and the local sandbox."""
