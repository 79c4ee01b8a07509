"""The leaf every layer may import: newsbot's settings (one object, read from the environment and `.env`)."""
