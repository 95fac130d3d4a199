"""Speed and memory measurements of the project against the source post's repository's methods."""
