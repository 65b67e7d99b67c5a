"""Edge format decoders: golden vectors, malformed variants, properties."""
