"""Records schema revisions, oldest first."""
