"""Redis storage: key layout, Lua scripts, and typed reads and writes. No FastAPI or RQ here."""
