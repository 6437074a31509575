"""The semantic diff rules read: old and new facts of one patch and what changed."""
