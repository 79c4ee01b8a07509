"""The embedded store: index generations in the data dir, loaded whole into memory."""
