"""A session: its folder, its files and where it stands, read from disk alone."""
