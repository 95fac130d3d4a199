"""Speed and memory measurements of the project against the seed repository's methods."""
