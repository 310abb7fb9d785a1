"""Cache keys (canonical documents hashed with SHA-256) and engine stores."""
