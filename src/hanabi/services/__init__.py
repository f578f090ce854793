"""The domain: plain async Python with typed results and typed errors; no Discord imports."""
