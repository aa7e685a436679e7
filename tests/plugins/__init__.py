"""A dataset and a model added the way a user adds theirs: one file each (and a config file)."""
